package data

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// memSource is a CSV file held in memory that can be scanned as often as
// a file can, under the name it is given, in blocks of CSVOptions.
type memSource struct {
	name    string
	content []byte
	opts    CSVOptions
	header  []string
	rows    int64
}

func newMemSource(t testing.TB, name, content string, opts CSVOptions) *memSource {
	t.Helper()
	s := &memSource{name: name, content: []byte(content), opts: opts, rows: -1}
	r, err := NewCSVReader(bytes.NewReader(s.content), name, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.header = r.Columns()
	return s
}

func (s *memSource) Name() string      { return s.name }
func (s *memSource) Columns() []string { return s.header }
func (s *memSource) Rows() int64       { return s.rows }
func (s *memSource) Close() error      { return nil }
func (s *memSource) Scan(ctx context.Context, want []ColumnWant, fn func(*Block) error) error {
	r, err := NewCSVReader(bytes.NewReader(s.content), s.name, s.opts)
	if err != nil {
		return err
	}
	if err := r.Scan(ctx, want, fn); err != nil {
		return err
	}
	s.rows = r.Rows()
	return nil
}

// csvVariants are the block sizes and thread counts the new path reads
// each file with: one block, and blocks of a few rows in parallel.
var csvVariants = []CSVOptions{{}, {ChunkSize: 40, Threads: 3}, {ChunkSize: 1, Threads: 2}}

// withoutOffsets returns a copy of s with the regression offsets cleared,
// and the offsets.
func withoutOffsets(s *Schema) (*Schema, []float64) {
	c := *s
	c.Targets = slices.Clone(s.Targets)
	var offs []float64
	for i := range c.Targets {
		offs = append(offs, c.Targets[i].Offset)
		c.Targets[i].Offset = 0
	}
	return &c, offs
}

// sameFit checks that FitSource on the file gives what Fit gives on its
// table: the same schema (every number bit for bit), warnings and error.
// It returns the new path's result with the last variant.
func sameFit(t *testing.T, name, content string, opts Options) *FitResult {
	t.Helper()
	var oldSchema *Schema
	var oldWarn []string
	var oldErr error
	tab, err := Read(strings.NewReader(content), name)
	if err != nil {
		oldErr = err
	} else {
		oldSchema, oldWarn, oldErr = Fit(tab, opts)
	}
	var last *FitResult
	for _, v := range csvVariants {
		res, err := FitSource(context.Background(), newMemSource(t, name, content, v), opts)
		if (err == nil) != (oldErr == nil) || (err != nil && err.Error() != oldErr.Error()) {
			t.Fatalf("%+v: FitSource error\n%v\nFit error\n%v", v, err, oldErr)
		}
		if err != nil {
			continue
		}
		got, _ := withoutOffsets(res.Schema)
		if !reflect.DeepEqual(got, oldSchema) {
			t.Fatalf("%+v: FitSource schema\n%+v\nFit schema\n%+v", v, got, oldSchema)
		}
		if !slices.Equal(res.Warnings, oldWarn) {
			t.Fatalf("%+v: FitSource warnings\n%q\nFit warnings\n%q", v, res.Warnings, oldWarn)
		}
		if err := res.Schema.Validate(); err != nil {
			t.Fatalf("%+v: %v", v, err)
		}
		checkSplitInfo(t, tab, res, nil)
		last = res
	}
	return last
}

// checkSplitInfo checks the per-row groups, strata and regression offsets
// of a FitResult against the table, whose rows are those of the source;
// include is the row filter (nil for all).
func checkSplitInfo(t *testing.T, tab *Table, res *FitResult, include func(int64) bool) {
	t.Helper()
	s := res.Schema
	if res.Rows != int64(len(tab.Rows)) {
		t.Fatalf("Rows %d, want %d", res.Rows, len(tab.Rows))
	}
	if s.GroupColumn == "" && res.Groups != nil || s.GroupColumn != "" && len(res.Groups) != len(tab.Rows) {
		t.Fatalf("%d group indices for %d rows", len(res.Groups), len(tab.Rows))
	}
	for i, g := range res.Groups {
		v := strings.TrimSpace(tab.Rows[i][tab.Column(s.GroupColumn)])
		want := int32(slices.Index(s.Groups, v))
		if g != want {
			t.Fatalf("row %d: group %d, want %d (%q)", i, g, want, v)
		}
	}
	first := -1
	for k, tg := range s.Targets {
		if tg.Type != Regression && first < 0 {
			first = k
		}
		if tg.Type != Regression {
			continue
		}
		// The offset is the mean of the included labels.
		var sum, n float64
		c := tab.Column(tg.Name)
		for i, row := range tab.Rows {
			if kind, v := parseCell(row[c]); kind == cellNumber && (include == nil || include(int64(i))) {
				sum += v
				n++
			}
		}
		if mean := sum / n; math.Abs(tg.Offset-mean) > 1e-9*(1+math.Abs(mean)) {
			t.Fatalf("target %q: offset %v, mean %v", tg.Name, tg.Offset, mean)
		}
	}
	if first < 0 {
		if res.Strata != nil {
			t.Fatalf("strata without a classification target")
		}
		return
	}
	if len(res.Strata) != len(tab.Rows) {
		t.Fatalf("%d strata for %d rows", len(res.Strata), len(tab.Rows))
	}
	tg := s.Targets[first]
	c := tab.Column(tg.Name)
	for i, k := range res.Strata {
		v := strings.TrimSpace(tab.Rows[i][c])
		want := int32(slices.Index(tg.Classes, v))
		if IsMissing(v) {
			want = -1
		}
		if k != want {
			t.Fatalf("row %d: stratum %d, want %d (%q)", i, k, want, v)
		}
	}
}

// fitCase is a small CSV file and the options to fit it with.
type fitCase struct {
	name, file, content string
	opts                Options
}

// fitCases are the files and options on which FitSource must agree with
// Fit, errors included.
func fitCases(t *testing.T) []fitCase {
	var cases []fitCase
	add := func(name, file, content string, opts Options) {
		cases = append(cases, fitCase{name, file, content, opts})
	}
	add("train", "train.csv", trainCSV, Options{Tasks: specs(t, "y:binary:2", "reg:regression"), GroupColumn: "g"})
	for _, rc := range roleCases(t) {
		add("roles/"+rc.name, "roles.csv", rolesCSV, rc.opts)
	}
	for _, cc := range classCases {
		add("classes/"+cc.name, "c.csv", cc.csv(), Options{Tasks: specs(t, "y:"+cc.typ)})
	}
	var kinds strings.Builder
	kinds.WriteString("mostly,const,forced,y\n")
	for i := range 20 {
		v := string(rune('0' + i%10))
		if i == 13 {
			v = "n/a"
		}
		kinds.WriteString(v + ",7," + []string{"10", "9", "1"}[i%3] + ",1\n")
	}
	add("kinds", "k.csv", kinds.String(), Options{Tasks: specs(t, "y:regression"), Categorical: []string{"forced"}})
	add("impute", "i.csv", "a,y\n1,0\nNA,1\n3,0\n?,1\n", Options{Tasks: specs(t, "y:binary"), Impute: "mean"})
	for _, ec := range fitErrorCases(t) {
		add("errors/"+ec.name, "f.csv", ec.content, ec.opts)
	}
	// Numbers as written in a column made categorical by a text, on any
	// line; quoted fields across lines; blank lines; CRLF.
	add("mixed spellings", "m.csv", "a,b,y\n1.50,x,1\n007,y,2\n\n1.5,\"z\nw\",3\nn/a,x,4\r\n+3,1e3,5\n", Options{Tasks: specs(t, "y:regression")})
	add("mixed late text", "m.csv", "a,y\n1,1\n2,2\n3,3\n4,4\n5,5\n6,6\n7,7\n8,8\n9,9\n10,10\n1e1,11\nx,12\n", Options{Tasks: specs(t, "y:multiclass")})
	add("non-finite among text", "m.csv", "a,b,y\ninf,u,1\nabc,v,0\n-1e999,w,1\nNaN,v,0\n", Options{Tasks: specs(t, "y:binary")})
	add("regression error after blank lines", "r.csv", "a,y\n1,2\n\n\n2,\"x\"\n", Options{Tasks: specs(t, "y:regression")})
	add("missing after quoted newline", "q.csv", "a,b,y\n\"1\n2\",1,0\n3,,1\n", Options{Tasks: specs(t, "y:binary")})
	add("group with strata", "g.csv", "g,a,y,z\ns2,1,b,1\ns1,2,a,\ns10,3,,2\ns2,4,c,3\n", Options{Tasks: specs(t, "z:regression", "y:multiclass"), GroupColumn: "g"})
	// The strata are the classes of the first classification task in
	// spec order, not in file order.
	add("strata in spec order", "o.csv", "a,y1,y2\n1,0,c\n2,1,d\n3,1,c\n4,0,e\n", Options{Tasks: specs(t, "y2:multiclass", "y1:binary")})
	return cases
}

func TestFitSourceMatchesFit(t *testing.T) {
	t.Parallel()
	for _, tc := range fitCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sameFit(t, tc.file, tc.content, tc.opts)
		})
	}
}

// sharedFitCases are the shared data sets with the tasks of their READMEs.
var sharedFitCases = []struct {
	file  string
	tasks []string
	group string
}{
	{"adult/adult_train.csv.gz", []string{"income_gt_50k:binary", "marital_status:multiclass:0.5", "relationship:multiclass:0.5"}, ""},
	{"adult/adult_test.csv.gz", []string{"income_gt_50k:binary", "relationship:multiclass"}, ""},
	{"emotions/emotions_train.csv", []string{"amazed-suprised:binary", "happy-pleased:binary", "relaxing-calm:binary", "quiet-still:binary", "sad-lonely:binary", "angry-aggresive:binary"}, ""},
	{"school/school.csv", []string{"exam_score:regression"}, "school_id"},
	{"seed_example/seed_train.csv", []string{"y:multiclass"}, ""},
	{"sklearn/wine_train.csv", []string{"cultivar:multiclass", "proline:regression"}, ""},
	{"sklearn/breast_cancer_train.csv", []string{"benign:binary", "mean_radius:regression"}, ""},
	{"sklearn/diabetes_train.csv", []string{"progression:regression", "above_median:binary"}, ""},
	{"sklearn/digits_train.csv", []string{"digit:multiclass", "is_even:binary", "gt4:binary"}, ""},
	{"sklearn/linnerud_train.csv", []string{"Weight:regression", "Waist:regression", "Pulse:regression"}, ""},
}

func TestFitSourceMatchesFitOnSharedData(t *testing.T) {
	t.Parallel()
	dir := sharedData(t)
	for _, sc := range sharedFitCases {
		t.Run(sc.file, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, sc.file)
			opts := Options{Tasks: specs(t, sc.tasks...), GroupColumn: sc.group}
			tab, err := ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want, wantWarn, err := Fit(tab, opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range []CSVOptions{{}, {ChunkSize: 1 << 12, Threads: 3}} {
				src, err := OpenCSV(path, v)
				if err != nil {
					t.Fatal(err)
				}
				res, err := FitSource(context.Background(), src, opts)
				src.Close()
				if err != nil {
					t.Fatal(err)
				}
				got, _ := withoutOffsets(res.Schema)
				if !reflect.DeepEqual(got, want) || !slices.Equal(res.Warnings, wantWarn) {
					t.Fatalf("%+v: schema or warnings differ:\n%+v\n%q\nwant\n%+v\n%q", v, got, res.Warnings, want, wantWarn)
				}
				checkSplitInfo(t, tab, res, nil)
			}
		})
	}
}

func TestFitSourceParquetMatchesCSV(t *testing.T) {
	t.Parallel()
	dir := sharedData(t)
	opts := Options{Tasks: specs(t, "income_gt_50k:binary", "marital_status:multiclass:0.5", "relationship:multiclass:0.5")}
	tab := readShared(t, "adult/adult_train.csv.gz")
	want, _, err := Fit(tab, opts)
	if err != nil {
		t.Fatal(err)
	}
	src, err := OpenParquet(filepath.Join(dir, "parquet-interop/adult_train.duckdb.parquet"), ParquetOptions{BlockRows: 5000})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	res, err := FitSource(context.Background(), src, opts)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := withoutOffsets(res.Schema)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Parquet schema\n%+v\nCSV schema\n%+v", got, want)
	}
	checkSplitInfo(t, tab, res, nil)
}

func TestFitSourceInclude(t *testing.T) {
	t.Parallel()
	// The school file: a group column, a regression target; and a
	// multiclass target of the schools' shares of band-1 pupils.
	tab := readShared(t, "school/school.csv")
	rng := rand.New(rand.NewPCG(3, 4))
	keep := make([]bool, len(tab.Rows))
	sub := &Table{Path: tab.Path, Header: tab.Header}
	for i := range keep {
		keep[i] = rng.Float64() < 0.7
		if keep[i] {
			sub.Rows = append(sub.Rows, tab.Rows[i])
			sub.Lines = append(sub.Lines, tab.Lines[i])
		}
	}
	include := func(r int64) bool { return keep[r] }
	for _, opts := range []Options{
		{Tasks: specs(t, "exam_score:regression"), GroupColumn: "school_id"},
		{Tasks: specs(t, "exam_score:regression", "school_pct_vr_band1:multiclass"), Categorical: []string{"school_id"}, OneHotMax: -1},
	} {
		want, wantWarn, err := Fit(sub, opts)
		if err != nil {
			t.Fatal(err)
		}
		src, err := OpenCSV(tab.Path, CSVOptions{ChunkSize: 1 << 14})
		if err != nil {
			t.Fatal(err)
		}
		opts.Include = include
		res, err := FitSource(context.Background(), src, opts)
		src.Close()
		if err != nil {
			t.Fatal(err)
		}
		got, _ := withoutOffsets(res.Schema)
		if !reflect.DeepEqual(got, want) || !slices.Equal(res.Warnings, wantWarn) {
			t.Fatalf("with Include:\n%+v\n%q\nFit of the included rows:\n%+v\n%q", got, res.Warnings, want, wantWarn)
		}
		if res.Included != int64(len(sub.Rows)) || res.Rows != int64(len(tab.Rows)) {
			t.Errorf("Included %d of %d, want %d of %d", res.Included, res.Rows, len(sub.Rows), len(tab.Rows))
		}
		checkSplitInfo(t, tab, res, include)
	}

	// An excluded row is not checked: its error is not Fit's.
	content := "a,y\n1,0\nabc,1\n2,1\n"
	src := newMemSource(t, "x.csv", content, CSVOptions{})
	opts := Options{Tasks: specs(t, "y:binary"), Include: func(r int64) bool { return r != 1 }}
	res, err := FitSource(context.Background(), src, opts)
	if err != nil {
		t.Fatal(err)
	}
	if f := res.Schema.Features[0]; f.Kind != Numeric || f.Mean != 1.5 {
		t.Errorf("feature %+v, want numeric with mean 1.5", f)
	}
	opts.Include = func(int64) bool { return false }
	_, err = FitSource(context.Background(), src, opts)
	wantError(t, err, "x.csv: no rows to learn from: the row filter excludes all 3")
}

func TestFitSourceStreamWithMixedColumn(t *testing.T) {
	t.Parallel()
	content := "a,y\n1.50,0\nx,1\n"
	opts := Options{Tasks: specs(t, "y:binary")}
	r, err := NewCSVReader(strings.NewReader(content), "pipe.csv", CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = FitSource(context.Background(), r, opts)
	wantError(t, err, `pipe.csv: column "a" (1): categorical because of texts among its numbers, which must be read again to keep the numbers as written, and reading again failed (a stream (pipe) can be read only once): list the column as categorical`)
	// Listed as categorical, it is read once, as written.
	r, err = NewCSVReader(strings.NewReader(content), "pipe.csv", CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	opts.Categorical = []string{"a"}
	res, err := FitSource(context.Background(), r, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Schema.Features[0].Categories; !slices.Equal(got, []string{"1.50", "x"}) {
		t.Errorf("categories %q", got)
	}
}

// The mean and variance of a regression target far from zero survive: the
// labels are centred on the offset before they are rounded to float32.
func TestRegressionOffsetKeepsVariance(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	b.WriteString("x,y\n")
	var ys []float64
	for i := range 2000 {
		y := 1e9 + rng.NormFloat64()
		ys = append(ys, y)
		fmt.Fprintf(&b, "%d,%.6f\n", i%7, y)
	}
	path := filepath.Join(t.TempDir(), "big.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := OpenCSV(path, CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	res, err := FitSource(context.Background(), src, Options{Tasks: specs(t, "y:regression")})
	if err != nil {
		t.Fatal(err)
	}
	parts, _, err := res.Schema.EncodeSource(context.Background(), src, EncodeOptions{Targets: true})
	if err != nil {
		t.Fatal(err)
	}
	labels := parts[0].Labels[0]
	distinct := map[float32]bool{}
	var sd, sdWant float64
	off := res.Schema.Targets[0].Offset
	for i, v := range labels {
		distinct[v] = true
		if d := float64(v) + off - ys[i]; math.Abs(d) > 1e-6 {
			t.Fatalf("row %d: label %v + offset %v = %v, want %v", i, v, off, float64(v)+off, ys[i])
		}
		sd += float64(v) * float64(v)
		d := ys[i] - 1e9
		sdWant += d * d
	}
	if len(distinct) < 1900 {
		t.Errorf("%d distinct labels of 2000", len(distinct))
	}
	if r := math.Sqrt(sd / sdWant); math.Abs(r-1) > 0.01 {
		t.Errorf("spread of the labels %.4f of the target's", r)
	}
}

// In a binary file an error names the row, not a line.
func TestFitSourceErrorNamesRowInParquet(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	csv := newMemSource(t, "g.csv", "g,a,y\ns1,1,0\ns2,2,1\n?,3,1\n", CSVOptions{})
	path := filepath.Join(dir, "g.parquet")
	writeParquetFile(t, path, csv, ParquetWriteOptions{})
	pq, err := OpenParquet(path, ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pq.Close()
	_, err = FitSource(context.Background(), pq, Options{Tasks: specs(t, "y:binary"), GroupColumn: "g"})
	wantError(t, err, path+`: column "g" (1): row 3: missing group value`)
}
