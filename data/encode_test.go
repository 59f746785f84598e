package data

import (
	"context"
	"math"
	"reflect"
	"strings"
	"testing"
)

// fitted fits trainCSV with a binary, a regression target and a group.
func fitted(t testing.TB) *Schema {
	t.Helper()
	s, _, err := Fit(table(t, "train.csv", trainCSV), Options{
		Tasks:       specs(t, "y:binary", "reg:regression"),
		GroupColumn: "g",
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEncode(t *testing.T) {
	t.Parallel()
	s := fitted(t)
	// Columns in another order, an extra column, an unseen category and
	// group, a missing label.
	enc, warnings, err := encodeText(t, s, "test.csv", "extra,reg,g,y,cat,num\nq,7,s10,no,a,3\nq,,s3,yes,zz,6\nq,-1,s1,,b,1.5\n", true)
	if err != nil {
		t.Fatal(err)
	}
	sd := math.Sqrt(3.5)
	wantX := []float32{
		0, 0, 1, 0,
		float32(3 / sd), 0, 0, 0,
		float32(-1.5 / sd), 0, 0, 1,
	}
	if enc.N != 3 || enc.D != 4 || !reflect.DeepEqual(enc.X, wantX) {
		t.Errorf("N, D, X = %d, %d, %v; want 3, 4, %v", enc.N, enc.D, enc.X, wantX)
	}
	if want := []int32{1, -1, 0}; !reflect.DeepEqual(enc.Groups, want) {
		t.Errorf("Groups = %v, want %v", enc.Groups, want)
	}
	if len(enc.Labels) != 2 {
		t.Fatalf("%d label columns", len(enc.Labels))
	}
	bin, reg := enc.Labels[0], enc.Labels[1]
	if bin[0] != 0 || bin[1] != 1 || !math.IsNaN(float64(bin[2])) {
		t.Errorf("binary labels %v, want [0 1 NaN]", bin)
	}
	if reg[0] != 7 || !math.IsNaN(float64(reg[1])) || reg[2] != -1 {
		t.Errorf("regression labels %v, want [7 NaN -1]", reg)
	}
	wantWarn := []string{
		`test.csv: column "cat": 1 rows have categories unseen in training (encoded as all zeros)`,
		`test.csv: group column "g": 1 rows have groups unseen in training (predicted by the shared head of each family)`,
	}
	if !reflect.DeepEqual(warnings, wantWarn) {
		t.Errorf("warnings\n%q\nwant\n%q", warnings, wantWarn)
	}

	if got := enc.ClassIndices(0); !reflect.DeepEqual(got, []int{0, 1, -1}) {
		t.Errorf("ClassIndices = %v", got)
	}
	if got := enc.LabelValues(1); got[0] != 7 || !math.IsNaN(got[1]) || got[2] != -1 {
		t.Errorf("LabelValues = %v", got)
	}

	// Prediction does not read targets, which may be absent.
	enc, _, err = encodeText(t, s, "p.csv", "g,cat,num\ns2,?,6\n", false)
	if err != nil {
		t.Fatal(err)
	}
	if enc.Labels != nil || !reflect.DeepEqual(enc.X, []float32{float32(3 / sd), 1, 0, 0}) || enc.Groups[0] != 2 {
		t.Errorf("without targets: %+v", enc)
	}
	// ... and if present they are ignored, even when their labels are new.
	enc, _, err = encodeText(t, s, "p.csv", "g,cat,num,y,reg\ns2,?,6,maybe,abc\n", false)
	if err != nil || enc.Labels != nil {
		t.Errorf("targets present at prediction: %v, %v", enc, err)
	}
}

func TestEncodeNoGroup(t *testing.T) {
	t.Parallel()
	s, _, err := fitText(t, "t.csv", "a,y\n1,x\n2,y\n3,z\n", Options{Tasks: specs(t, "y:multiclass")})
	if err != nil {
		t.Fatal(err)
	}
	enc, _, err := encodeText(t, s, "t.csv", "a,y\n1,z\n2,x\n", true)
	if err != nil {
		t.Fatal(err)
	}
	if enc.Groups != nil || !reflect.DeepEqual(enc.Labels[0], []float32{2, 0}) {
		t.Errorf("Groups %v Labels %v", enc.Groups, enc.Labels)
	}
}

// encodeErrorCase is a file that a schema must refuse to encode.
type encodeErrorCase struct {
	name        string
	schema      *Schema
	content     string
	withTargets bool
	want        string
}

func encodeErrorCases(t testing.TB) []encodeErrorCase {
	s := fitted(t)
	impute := fitted(t)
	impute.Impute = "mean"
	return []encodeErrorCase{
		{"missing feature column", s, "g,cat,y,reg\ns1,a,no,1\n", false, `p.csv:1: column "num": feature column missing from the file`},
		{"missing group column", s, "num,cat,y,reg\n1,a,no,1\n", false, `p.csv:1: column "g": group column missing from the file`},
		{"missing target column", s, "num,cat,g,y\n1,a,s1,no\n", true, `p.csv:1: column "reg": target column missing from the file`},
		{"not a number", s, "g,num,cat\ns1,1,a\ns1,abc,a\n", false, `p.csv:3: column "num" (2): "abc" is not a number`},
		{"missing number", s, "cat,num,g\na,1,s1\nb,1,s1\na,NaN,s1\n", false, `p.csv:4: column "num" (2): missing value in a numeric column (impute "mean" replaces it with the training mean)`},
		{"infinite number", impute, "cat,num,g\na,inf,s1\n", false, `p.csv:2: column "num" (2): "inf" is not a finite number`},
		{"overflow after standardising", s, "cat,num,g\na,1e300,s1\n", false, `p.csv:2: column "num" (2): "1e300" is too large after standardising (mean 3, scale 1.87083)`},
		{"missing group value", s, "cat,num,g\na,1,s1\na,1,NA\n", false, `p.csv:3: column "g" (3): missing group value`},
		{"unseen binary label", s, "cat,num,g,y,reg\na,1,s1,no,1\na,1,s1,maybe,1\n", true, `p.csv:3: column "y" (4): label "maybe" was not seen in training (classes: "no", "yes")`},
		{"regression not a number", s, "cat,num,g,y,reg\na,1,s1,no,x1\n", true, `p.csv:2: column "reg" (5): regression target "x1" is not a number`},
		{"regression infinite", s, "cat,num,g,y,reg\na,1,s1,no,-1e999\n", true, `p.csv:2: column "reg" (5): regression target "-1e999" is not a finite number`},
		{"regression beyond float32", s, "cat,num,g,y,reg\na,1,s1,no,1e300\n", true, `p.csv:2: column "reg" (5): regression target "1e300" is out of float32 range`},
	}
}

func TestEncodeErrors(t *testing.T) {
	t.Parallel()
	tests := encodeErrorCases(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := newMemSource(t, "p.csv", tc.content, CSVOptions{})
			_, _, err := tc.schema.EncodeSource(context.Background(), src, EncodeOptions{Targets: tc.withTargets})
			wantError(t, err, tc.want)
		})
	}
}

func TestEncodeUnseenLabelMulticlass(t *testing.T) {
	t.Parallel()
	res, err := FitSource(context.Background(), newMemSource(t, "t.csv", "a,y\n1,x\n2,y\n", CSVOptions{}), Options{Tasks: specs(t, "y:multiclass")})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = res.Schema.EncodeSource(context.Background(), newMemSource(t, "e.csv", "y,a\nx,1\n\"w\nv\",2\n", CSVOptions{}), EncodeOptions{Targets: true})
	wantError(t, err, `e.csv:3: column "y" (1): label "w\nv" was not seen in training (classes: "x", "y")`)
	if !strings.Contains(err.Error(), `\n`) {
		t.Errorf("label not escaped: %v", err)
	}
}
