package data

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// table reads content as a file called name, failing the test on error.
// fitText fits a file of the given name and content with FitSource.
func fitText(t testing.TB, name, content string, opts Options) (*Schema, []string, error) {
	t.Helper()
	res, err := FitSource(context.Background(), newMemSource(t, name, content, CSVOptions{}), opts)
	if err != nil {
		return nil, nil, err
	}
	return res.Schema, res.Warnings, nil
}

// encodeText encodes a file of the given name and content with
// EncodeSource.
func encodeText(t testing.TB, s *Schema, name, content string, targets bool) (*Encoded, []string, error) {
	t.Helper()
	parts, warnings, err := s.EncodeSource(context.Background(), newMemSource(t, name, content, CSVOptions{}), EncodeOptions{Targets: targets})
	if err != nil {
		return nil, nil, err
	}
	return parts[0], warnings, nil
}

// table reads a file of the given name and content with the reference
// reader.
func table(t testing.TB, name, content string) *Table {
	t.Helper()
	tab, err := Read(strings.NewReader(content), name)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// specs parses task specs, failing the test on error.
func specs(t testing.TB, ss ...string) []TaskSpec {
	t.Helper()
	out := make([]TaskSpec, len(ss))
	for i, s := range ss {
		spec, err := ParseTaskSpec(s)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = spec
	}
	return out
}

const trainCSV = `num,cat,y,g,reg
1,b,yes,s2,1.5
2,a,no,s1,2.5
3,?,yes,s10,
6,b,,s2,4
`

func TestFit(t *testing.T) {
	t.Parallel()
	s, warnings, err := fitText(t, "train.csv", trainCSV, Options{
		Tasks:       specs(t, "y:binary:2", "reg:regression"),
		GroupColumn: "g",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %q", warnings)
	}
	want := &Schema{
		Version: SchemaVersion,
		Features: []Feature{
			{Name: "num", Kind: Numeric, Mean: 3, Scale: math.Sqrt(3.5)},
			{Name: "cat", Kind: Categorical, Categories: []string{"?", "a", "b"}},
		},
		Targets: []Target{
			{Name: "y", Type: Binary, Weight: 2, Classes: []string{"no", "yes"}, Positive: "yes"},
			{Name: "reg", Type: Regression, Weight: 1, Offset: 8.0 / 3}, // the mean of 1.5, 2.5 and 4
		},
		GroupColumn: "g",
		Groups:      []string{"s1", "s10", "s2"},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("Fit =\n%+v\nwant\n%+v", s, want)
	}
	if err := s.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if s.Dim() != 4 {
		t.Errorf("Dim = %d, want 4", s.Dim())
	}
	if got, want := s.EncodedNames(), []string{"num", "cat=?", "cat=a", "cat=b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("EncodedNames = %q, want %q", got, want)
	}
	if got := s.HeadName(1, 2); got != "reg@s2" {
		t.Errorf("HeadName(1, 2) = %q", got)
	}
	if got := s.HeadName(0, -1); got != "y" {
		t.Errorf("HeadName(0, -1) = %q", got)
	}

	// The schema survives JSON, with stable names.
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"version":4`, `"features":`, `"kind":"categorical"`, `"targets":`, `"type":"binary"`, `"positive":"yes"`, `"group_column":"g"`, `"groups":`, `"offset":`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON %s lacks %s", b, key)
		}
	}
	var back Schema
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, s) {
		t.Errorf("JSON round trip:\n%+v\nwant\n%+v", back, s)
	}
}

// rolesCSV is the file of the roleCases.
const rolesCSV = "id,x*,xy,b1,a,b2,c\n1,2,3,0,1,x,5\n2,3,4,1,0,y,6\n"

// roleCase is a set of options and the features and targets they make of
// rolesCSV.
type roleCase struct {
	name     string
	opts     Options
	features []string
	targets  []string
}

func roleCases(t testing.TB) []roleCase {
	return []roleCase{
		{
			name:     "targets in spec order, a glob's in file order",
			opts:     Options{Tasks: specs(t, "c:regression", "b*:multiclass")},
			features: []string{"id", "x*", "xy", "a"},
			targets:  []string{"c", "b1", "b2"},
		},
		{
			name:     "exact name wins over glob",
			opts:     Options{Tasks: specs(t, "x*:regression")},
			features: []string{"id", "xy", "b1", "a", "b2", "c"},
			targets:  []string{"x*"},
		},
		{
			name:     "ignore by name and glob, target in ignore is fine",
			opts:     Options{Tasks: specs(t, "a:binary"), Ignore: []string{"id", "b?", "a"}},
			features: []string{"x*", "xy", "c"},
			targets:  []string{"a"},
		},
		{
			name:     "group column is not a feature",
			opts:     Options{Tasks: specs(t, "c:regression"), GroupColumn: "id"},
			features: []string{"x*", "xy", "b1", "a", "b2"},
			targets:  []string{"c"},
		},
	}
}

func TestFitColumnRoles(t *testing.T) {
	t.Parallel()
	tests := roleCases(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, _, err := fitText(t, "roles.csv", rolesCSV, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var features, targets []string
			for _, f := range s.Features {
				features = append(features, f.Name)
			}
			for _, tg := range s.Targets {
				targets = append(targets, tg.Name)
			}
			if !reflect.DeepEqual(features, tc.features) || !reflect.DeepEqual(targets, tc.targets) {
				t.Errorf("features %q targets %q; want %q and %q", features, targets, tc.features, tc.targets)
			}
		})
	}
}

// classCase is a target column of given labels and the classes Fit
// must find.
type classCase struct {
	name    string
	typ     string
	labels  []string
	classes []string
	warn    string
}

// csv returns the file of a classCase: a feature x and the target y.
func (tc classCase) csv() string {
	csv := "x,y\n"
	for i, l := range tc.labels {
		csv += string(rune('0'+i%10)) + "," + l + "\n"
	}
	return csv
}

var classCases = []classCase{
	{"numeric sort", "multiclass", []string{"10", "9", "2", "9", ""}, []string{"2", "9", "10"}, ""},
	{"numeric ties by string", "multiclass", []string{"1.0", "1", "0"}, []string{"0", "1", "1.0"}, ""},
	{"string sort", "multiclass", []string{"b", "B", "a", "10"}, []string{"10", "B", "a", "b"}, ""},
	{"trimmed", "multiclass", []string{" a", "a ", "b"}, []string{"a", "b"}, ""},
	{"one class", "multiclass", []string{"a", "a", "NA"}, []string{"a"}, `multiclass target "y" has a single class "a"`},
	{"binary 0/1", "binary", []string{"1", "0"}, []string{"0", "1"}, ""},
	{"binary -1/1", "binary", []string{"1", "-1"}, []string{"-1", "1"}, ""},
	{"binary 2/10 numeric", "binary", []string{"10", "2"}, []string{"2", "10"}, ""},
	{"binary strings larger positive", "binary", []string{"spam", "ham"}, []string{"ham", "spam"}, ""},
	{"binary no/YES", "binary", []string{"no", "YES"}, []string{"no", "YES"}, ""},
	{"binary false/TRUE", "binary", []string{"TRUE", "false"}, []string{"false", "TRUE"}, ""},
	{"binary lone 0", "binary", []string{"0", "0"}, []string{"0", "1"}, `binary target "y" has the single label "0"`},
	{"binary lone Yes", "binary", []string{"Yes"}, []string{"No", "Yes"}, `single label "Yes"`},
	{"binary lone FALSE", "binary", []string{"FALSE", "?"}, []string{"FALSE", "TRUE"}, `single label "FALSE"`},
}

func TestFitClasses(t *testing.T) {
	t.Parallel()
	tests := classCases
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, warnings, err := fitText(t, "c.csv", tc.csv(), Options{Tasks: specs(t, "y:"+tc.typ)})
			if err != nil {
				t.Fatal(err)
			}
			tg := s.Targets[0]
			if !reflect.DeepEqual(tg.Classes, tc.classes) {
				t.Errorf("classes %q, want %q", tg.Classes, tc.classes)
			}
			if tc.typ == "binary" && tg.Positive != tc.classes[1] {
				t.Errorf("positive %q, want %q", tg.Positive, tc.classes[1])
			}
			if err := s.Validate(); err != nil {
				t.Error(err)
			}
			got := strings.Join(warnings, "\n")
			if (tc.warn == "") != (got == "") || !strings.Contains(got, tc.warn) {
				t.Errorf("warnings %q, want %q", got, tc.warn)
			}
		})
	}
}

func TestFitFeatureKinds(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("mostly,const,forced,y\n")
	for i := 0; i < 20; i++ {
		v := string(rune('0' + i%10))
		if i == 13 {
			v = "n/a"
		}
		b.WriteString(v + ",7," + []string{"10", "9", "1"}[i%3] + ",1\n")
	}
	s, warnings, err := fitText(t, "k.csv", b.String(), Options{Tasks: specs(t, "y:regression"), Categorical: []string{"forced"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Features[0].Kind != Categorical || s.Features[1].Kind != Numeric || s.Features[2].Kind != Categorical {
		t.Errorf("kinds %v %v %v", s.Features[0].Kind, s.Features[1].Kind, s.Features[2].Kind)
	}
	if got := s.Features[1]; got.Mean != 7 || got.Scale != 1 {
		t.Errorf("constant column: mean %v scale %v", got.Mean, got.Scale)
	}
	if got, want := s.Features[2].Categories, []string{"1", "9", "10"}; !reflect.DeepEqual(got, want) {
		t.Errorf("forced categories %q, want %q", got, want)
	}
	wants := []string{
		`k.csv: column "mostly" is categorical because 1 of 20 values are not numbers (the first, "n/a", on line 15)`,
		`k.csv: numeric column "const" is constant in the training data (7)`,
	}
	if !reflect.DeepEqual(warnings, wants) {
		t.Errorf("warnings\n%q\nwant\n%q", warnings, wants)
	}
}

func TestFitImpute(t *testing.T) {
	t.Parallel()
	const content = "a,y\n1,0\nNA,1\n3,0\n?,1\n"
	s, _, err := fitText(t, "i.csv", content, Options{Tasks: specs(t, "y:binary"), Impute: "mean"})
	if err != nil {
		t.Fatal(err)
	}
	if f := s.Features[0]; f.Kind != Numeric || f.Mean != 2 || f.Scale != 1 || s.Impute != "mean" || !f.Indicator {
		t.Errorf("feature %+v impute %q", f, s.Impute)
	}
	if names := s.EncodedNames(); !reflect.DeepEqual(names, []string{"a", "a[missing]"}) {
		t.Errorf("encoded names %q", names)
	}
	enc, warnings, err := encodeText(t, s, "i.csv", content, true)
	if err != nil {
		t.Fatal(err)
	}
	// The imputed mean, standardised, is 0; the indicator beside it says
	// which rows were missing.
	if want := []float32{-1, 0, 0, 1, 1, 0, 0, 1}; !reflect.DeepEqual(enc.X, want) {
		t.Errorf("X = %v, want %v", enc.X, want)
	}
	if want := []string{`i.csv: column "a": 2 missing values replaced by the training mean`}; !reflect.DeepEqual(warnings, want) {
		t.Errorf("warnings %q, want %q", warnings, want)
	}
}

// wantError checks that err is a one-line *Error with the given text.
func wantError(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	if err.Error() != want {
		t.Errorf("error\n%s\nwant\n%s", err, want)
	}
	var de *Error
	if !errors.As(err, &de) {
		t.Errorf("error %T is not *Error", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error has more than one line")
	}
}

// fitErrorCase is a file and options that Fit must refuse with an error.
type fitErrorCase struct {
	name    string
	content string
	opts    Options
	want    string
}

func fitErrorCases(t testing.TB) []fitErrorCase {
	const csv = "g,a,y,z\n1,1,p,1.5\n2,2,q,2\n"
	return []fitErrorCase{
		{"no task", csv, Options{}, "f.csv: no task given (want at least one PATTERN:TYPE)"},
		{"unknown impute", csv, Options{Tasks: specs(t, "y:binary"), Impute: "median"}, `f.csv: unknown impute method "median" (want "" or "mean")`},
		{"bad weight", csv, Options{Tasks: []TaskSpec{{Pattern: "y", Type: Binary, Weight: -2}}}, `f.csv: task "y:binary:-2": weight -2 is not a positive finite number`},
		{"pattern matches nothing", csv, Options{Tasks: specs(t, "label*:binary")}, `f.csv:1: task "label*:binary" matches no column`},
		{"bad glob", csv, Options{Tasks: specs(t, "[y:binary")}, `f.csv:1: task "[y:binary": no column has this name and it is not a valid glob`},
		{"column matched twice", csv, Options{Tasks: specs(t, "y:binary", "?:multiclass")}, `f.csv:1: column "y" (3): matched by two task specs, "y:binary" and "?:multiclass"`},
		{"group column missing", csv, Options{Tasks: specs(t, "y:binary"), GroupColumn: "school"}, `f.csv:1: group column "school" not found`},
		{"group is a target", csv, Options{Tasks: specs(t, "z:regression", "g:multiclass"), GroupColumn: "g"}, `f.csv:1: column "g" (1): the group column cannot also be a target (task "g:multiclass")`},
		{"target listed categorical", csv, Options{Tasks: specs(t, "y:binary"), Categorical: []string{"a", "y"}}, `f.csv:1: column "y" (3): listed as categorical but it is a target (task "y:binary")`},
		{"group listed categorical", csv, Options{Tasks: specs(t, "y:binary"), GroupColumn: "g", Categorical: []string{"g"}}, `f.csv:1: column "g" (1): listed as categorical but it is the group column`},
		{"ignore matches nothing", csv, Options{Tasks: specs(t, "y:binary"), Ignore: []string{"id"}}, `f.csv:1: ignore pattern "id" matches no column`},
		{"categorical matches nothing", csv, Options{Tasks: specs(t, "y:binary"), Categorical: []string{"c*"}}, `f.csv:1: categorical pattern "c*" matches no column`},
		{"no features left", csv, Options{Tasks: specs(t, "y:binary", "z:regression"), Ignore: []string{"a"}, GroupColumn: "g"}, `f.csv:1: no feature column left after targets, group column and ignored columns`},
		{"missing numeric", "a,y\n1,0\n,1\nNA,0\n", Options{Tasks: specs(t, "y:binary")}, `f.csv:3: column "a" (1): missing value in a numeric column (2 in all; impute "mean" replaces them with the training mean)`},
		{"inf feature", "y,a\n0,1\n1,-inf\n", Options{Tasks: specs(t, "y:binary")}, `f.csv:3: column "a" (2): "-inf" is not a finite number`},
		{"huge feature", "y,a\n0,1e999\n1,2\n", Options{Tasks: specs(t, "y:binary")}, `f.csv:2: column "a" (2): "1e999" is not a finite number`},
		{"all missing feature", "y,a\n0,?\n1,\n", Options{Tasks: specs(t, "y:binary")}, `f.csv: column "a" (2): no values in the training data (all 2 are missing); ignore the column`},
		{"too large to standardise", "y,a\n0,1e308\n1,-1e308\n", Options{Tasks: specs(t, "y:binary")}, `f.csv: column "a" (2): values too large to standardise`},
		{"binary with three labels", "a,y\n1,cat\n2,dog\n3,emu\n4,cat\n", Options{Tasks: specs(t, "y:binary")}, `f.csv: column "y" (2): binary target has 3 labels: "cat", "dog", "emu"`},
		{"binary with one unknown label", "a,y\n1,cat\n2,cat\n", Options{Tasks: specs(t, "y:binary")}, `f.csv: column "y" (2): binary target has the single label "cat" in the training data, so its positive class is unknown`},
		{"target all missing", "a,y\n1,\n2,NA\n", Options{Tasks: specs(t, "y:multiclass")}, `f.csv: column "y" (2): target has no labels in the training data (all 2 missing)`},
		{"regression not a number", "a,y\n1,2\n2,abc\n", Options{Tasks: specs(t, "y:regression")}, `f.csv:3: column "y" (2): regression target "abc" is not a number`},
		{"regression infinite", "a,y\n1,Infinity\n2,1\n", Options{Tasks: specs(t, "y:regression")}, `f.csv:2: column "y" (2): regression target "Infinity" is not a finite number`},
		{"missing group value", "g,a,y\n1,1,2\n ,2,3\n", Options{Tasks: specs(t, "y:regression"), GroupColumn: "g"}, `f.csv:3: column "g" (1): missing group value`},
	}
}

func TestFitErrors(t *testing.T) {
	t.Parallel()
	tests := fitErrorCases(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := FitSource(context.Background(), newMemSource(t, "f.csv", tc.content, CSVOptions{}), tc.opts)
			wantError(t, err, tc.want)
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	good := func() *Schema {
		return &Schema{
			Version: SchemaVersion,
			Features: []Feature{
				{Name: "a", Kind: Numeric, Mean: 1, Scale: 2},
				{Name: "b", Kind: Categorical, Categories: []string{"x", "y"}},
				{Name: "v", Kind: Embedded, Categories: []string{"p", "q"}, Dim: 2},
				{Name: "h", Kind: Embedded, Buckets: 8, Dim: 3},
			},
			Targets: []Target{
				{Name: "c", Type: Binary, Weight: 1, Classes: []string{"0", "1"}, Positive: "1"},
				{Name: "d", Type: Multiclass, Weight: 1, Classes: []string{"p"}},
				{Name: "e", Type: Regression, Weight: 0.5, Offset: 1e9},
			},
			GroupColumn: "g",
			Groups:      []string{"1", "2"},
		}
	}
	if err := good().Validate(); err != nil {
		t.Fatalf("good schema: %v", err)
	}
	tests := []struct {
		name  string
		spoil func(*Schema)
		want  string
	}{
		{"version", func(s *Schema) { s.Version = 5 }, "schema version 5 is not supported (want 1 to 4)"},
		{"indicator without imputing", func(s *Schema) { s.Features[0].Indicator = true }, `schema: feature "a" has a missing-value indicator in a version 4 schema that does not impute`},
		{"indicator in version 3", func(s *Schema) { s.Features[0].Indicator, s.Impute, s.Version = true, "mean", 3 },
			`schema: feature "a" has a missing-value indicator in a version 3 schema that does not impute`},
		{"no features", func(s *Schema) { s.Features = nil }, "schema has no features"},
		{"no targets", func(s *Schema) { s.Targets = nil }, "schema has no targets"},
		{"impute", func(s *Schema) { s.Impute = "zero" }, `schema: unknown impute method "zero"`},
		{"duplicate name", func(s *Schema) { s.Targets[2].Name = "a" }, `schema: column "a" is both a feature and a target`},
		{"group is a feature", func(s *Schema) { s.GroupColumn = "b" }, `schema: column "b" is both a feature and the group column`},
		{"empty name", func(s *Schema) { s.Features[0].Name = "" }, "schema: a feature with an empty name"},
		{"zero scale", func(s *Schema) { s.Features[0].Scale = 0 }, `schema: feature "a" has scale 0 (want positive and finite)`},
		{"NaN mean", func(s *Schema) { s.Features[0].Mean = math.NaN() }, `schema: feature "a" has mean NaN`},
		{"numeric with categories", func(s *Schema) { s.Features[0].Categories = []string{"x"} }, `schema: numeric feature "a" has categories`},
		{"no categories", func(s *Schema) { s.Features[1].Categories = nil }, `schema: feature "b" has no categories`},
		{"repeated category", func(s *Schema) { s.Features[1].Categories = []string{"x", "x"} }, `schema: feature "b" lists "x" twice in categories`},
		{"unknown kind", func(s *Schema) { s.Features[1].Kind = 5 }, `schema: feature "b" has unknown kind 5`},
		{"embedded in version 1", func(s *Schema) { s.Version = 1; s.Targets[2].Offset = 0 }, `schema: embedded feature "v" in a version 1 schema`},
		{"embedded without width", func(s *Schema) { s.Features[2].Dim = 0 }, `schema: embedded feature "v" has width 0`},
		{"embedded with vocabulary and buckets", func(s *Schema) { s.Features[3].Categories = []string{"a"} }, `schema: embedded feature "h" has 8 hash buckets and 1 categories (want a positive count or a vocabulary)`},
		{"embedded negative buckets", func(s *Schema) { s.Features[3].Buckets = -1 }, `schema: embedded feature "h" has -1 hash buckets and 0 categories (want a positive count or a vocabulary)`},
		{"embedded repeated value", func(s *Schema) { s.Features[2].Categories = []string{"p", "p"} }, `schema: feature "v" lists "p" twice in categories`},
		{"embedded with a scale", func(s *Schema) { s.Features[2].Scale = 1 }, `schema: embedded feature "v" has a mean or scale`},
		{"categorical with width", func(s *Schema) { s.Features[1].Dim = 4 }, `schema: categorical feature "b" has an embedding width or hash buckets`},
		{"numeric with buckets", func(s *Schema) { s.Features[0].Buckets = 4 }, `schema: numeric feature "a" has an embedding width or hash buckets`},
		{"offset of a class target", func(s *Schema) { s.Targets[0].Offset = 1 }, `schema: target "c" has offset 1 (want a finite offset of a regression target, version 2)`},
		{"infinite offset", func(s *Schema) { s.Targets[2].Offset = math.Inf(1) }, `schema: target "e" has offset +Inf (want a finite offset of a regression target, version 2)`},
		{"offset in version 1", func(s *Schema) { s.Version = 1; s.Features = s.Features[:2] }, `schema: target "e" has offset 1e+09 (want a finite offset of a regression target, version 2)`},
		{"weight", func(s *Schema) { s.Targets[0].Weight = 0 }, `schema: target "c" has weight 0 (want positive and finite)`},
		{"binary positive", func(s *Schema) { s.Targets[0].Positive = "0" }, `schema: binary target "c" needs two classes with the positive one second`},
		{"binary one class", func(s *Schema) { s.Targets[0].Classes = []string{"1"} }, `schema: binary target "c" needs two classes with the positive one second`},
		{"multiclass no classes", func(s *Schema) { s.Targets[1].Classes = nil }, `schema: target "d" has no classes`},
		{"regression classes", func(s *Schema) { s.Targets[2].Classes = []string{"a"} }, `schema: regression target "e" has classes`},
		{"unknown type", func(s *Schema) { s.Targets[2].Type = 9 }, `schema: target "e" has unknown type 9`},
		{"no groups", func(s *Schema) { s.Groups = nil }, `schema: group column "g" has no groups`},
		{"groups without column", func(s *Schema) { s.GroupColumn = "" }, "schema: groups without a group column"},
	}
	for _, tc := range tests {
		s := good()
		tc.spoil(s)
		err := s.Validate()
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: Validate = %v, want %q", tc.name, err, tc.want)
		}
	}
	var s Schema
	if err := json.Unmarshal([]byte(`{"version":1,"features":[{"name":"a","kind":"ordinal"}]}`), &s); err == nil {
		t.Error("unknown feature kind in JSON did not fail")
	}
}
