package data

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseNumericEncoding(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]NumericEncoding{
		"standard": {Method: Standard}, "Robust": {Method: Robust}, " quantile ": {Method: Quantile},
		"ple": {Method: PLE}, "PLE:8": {Method: PLE, Bins: 8}, "ple:1": {Method: PLE, Bins: 1},
	} {
		got, err := ParseNumericEncoding(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v, %v; want %+v", in, got, err, want)
		}
		back, err := ParseNumericEncoding(got.String())
		if err != nil || back.resolved() != got.resolved() {
			t.Errorf("%q: String %q reads back as %+v, %v", in, got.String(), back, err)
		}
	}
	for _, in := range []string{"", "pel", "ple:0", "ple:-3", "ple:x", "ple:1025", "robust:4", "standard:"} {
		if got, err := ParseNumericEncoding(in); err == nil {
			t.Errorf("%q: %+v, want an error", in, got)
		}
	}
	if s := (NumericEncoding{}).String(); s != string(DefaultNumeric.Method) && s != DefaultNumeric.String() {
		t.Errorf("the zero encoding is %q, want the default %q", s, DefaultNumeric)
	}
	if s := (NumericEncoding{Method: PLE}).String(); s != "ple" {
		t.Errorf("ple without bins is %q", s)
	}
	for n, want := range map[int]int{0: 4, 20: 4, 133: 8, 331: 8, 800: 16, 1347: 16, 29_305: 64, 1_000_000: 64} {
		if got := AutoPLEBins(n); got != want {
			t.Errorf("%d values: %d bins, want %d", n, got, want)
		}
	}
	for _, c := range []struct{ rows, cols, want int }{
		{30_000, 6, 64}, {1347, 64, 64}, {80_000, 30, 32}, {200_000, 30, 16}, {1_000_000, 40, 0}, {1_000_000, 4, 32}, {0, 0, 64},
	} {
		if got := PLEBinsWithin(c.rows, c.cols); got != c.want {
			t.Errorf("%d rows of %d columns: %d bins within the budget, want %d", c.rows, c.cols, got, c.want)
		}
	}
}

// TestPLEBudget: automatic bins stay within the budget's bins, robust+ple
// falls back to robust scaling when no bins fit, and bins given by the
// encoding are kept.
func TestPLEBudget(t *testing.T) {
	var st featureStats
	st.sample = newNumericSample()
	for i := range 10_000 {
		st.addNumber(float64(i % 997))
		st.numbers++
	}
	for _, c := range []struct {
		enc     NumericEncoding
		maxBins int
		method  NumericMethod
		bins    int
	}{
		{NumericEncoding{Method: RobustPLE}, 64, RobustPLE, 64},
		{NumericEncoding{Method: RobustPLE}, 8, RobustPLE, 8},
		{NumericEncoding{Method: RobustPLE}, 0, Robust, 0},
		{NumericEncoding{Method: PLE}, 0, PLE, MinPLEBins},
		{NumericEncoding{Method: PLE, Bins: 48}, 0, PLE, 48},
	} {
		f, err := st.fitEncoding(Feature{Name: "x", Scale: 1}, c.enc, c.maxBins, "f.csv", 0)
		if err != nil {
			t.Fatal(err)
		}
		if f.Encoding != c.method || max(len(f.Edges)-1, 0) != c.bins {
			t.Errorf("%v within %d bins: %s with %d bins, want %s with %d", c.enc, c.maxBins, f.Encoding, len(f.Edges)-1, c.method, c.bins)
		}
	}
}

// column writes a CSV of one numeric column x (and a target y) from values
// as written.
func column(values ...string) string {
	var b strings.Builder
	b.WriteString("x,y\n")
	for i, v := range values {
		fmt.Fprintf(&b, "%s,%d\n", v, i%2)
	}
	return b.String()
}

// numbers writes float values as CSV cells.
func numbers(vs ...float64) []string {
	var out []string
	for _, v := range vs {
		out = append(out, fmt.Sprint(v))
	}
	return out
}

// fitNumeric learns the schema of a CSV with FitSource and the given
// encoding (and imputation), on every CSV variant, checking that each
// gives the same schema, which it returns with its warnings.
func fitNumeric(t *testing.T, content string, enc NumericEncoding, impute string) *Schema {
	t.Helper()
	var first *Schema
	for _, v := range csvVariants {
		res, err := FitSource(context.Background(), newMemSource(t, "n.csv", content, v), Options{Tasks: specs(t, "y:binary"), Numeric: enc, Impute: impute})
		if err != nil {
			t.Fatal(err)
		}
		if err := res.Schema.Validate(); err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = res.Schema
		} else if !reflect.DeepEqual(res.Schema, first) {
			t.Fatalf("%+v: schema\n%+v\ndiffers from\n%+v", v, res.Schema, first)
		}
	}
	return first
}

// encodeNumeric encodes a CSV with EncodeSource and returns the rows of X
// and the warnings; it checks that EncodeBlocks gives the same bits.
func encodeRows(t *testing.T, s *Schema, content string) ([][]float32, []string) {
	t.Helper()
	src := newMemSource(t, "e.csv", content, CSVOptions{ChunkSize: 16, Threads: 2})
	parts, warnings, err := s.EncodeSource(context.Background(), src, EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	enc := parts[0]
	checkSameEncoded(t, "EncodeBlocks", concatBlocks(t, s, src, EncodeOptions{}, warnings), enc)
	var rows [][]float32
	for i := range enc.N {
		rows = append(rows, enc.X[i*enc.D:(i+1)*enc.D])
	}
	return rows, warnings
}

// near reports whether float32 encodings are within a float32 rounding of
// the values computed by hand.
func near(got []float32, want []float64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if math.Abs(float64(got[i])-want[i]) > 1e-6*(1+math.Abs(want[i])) {
			return false
		}
	}
	return true
}

// checkEncodes checks the encodings of values (as CSV cells) against the
// values computed by hand, one row each.
func checkEncodes(t *testing.T, s *Schema, cells []string, want [][]float64) {
	t.Helper()
	rows, _ := encodeRows(t, s, column(cells...))
	for i, row := range rows {
		if !near(row, want[i]) {
			t.Errorf("%s %s: x = %s encodes as %v, want %v", s.Features[0].Method(), s.Features[0].Name, cells[i], row, want[i])
		}
	}
}

// Normal quantiles computed elsewhere (Python's
// statistics.NormalDist().inv_cdf).
const (
	phiInvQuarter = -0.6744897501960817  // Φ⁻¹(0.25)
	phiInvThird   = -0.43072729929545744 // Φ⁻¹(1/3)
	phiInvBound   = 5.199337582290662    // Φ⁻¹(1 − 10⁻⁷)
)

func TestNormalQuantile(t *testing.T) {
	t.Parallel()
	for p, want := range map[float64]float64{0.25: phiInvQuarter, 1.0 / 3: phiInvThird, 1 - 1e-7: phiInvBound, 1e-7: -5.199337582192817, 0.5: 0} {
		if got := normalQuantile(p); math.Abs(got-want) > 1e-10 {
			t.Errorf("Φ⁻¹(%v) = %v, want %v", p, got, want)
		}
	}
}

// TestRobustValues checks RealMLP's robust scaling and smooth clipping
// against values worked out by hand: the median and interquartile range;
// half the range when the quartiles coincide; scale 1 for a constant
// column.
func TestRobustValues(t *testing.T) {
	t.Parallel()
	clip := func(u float64) float64 { return u / math.Sqrt(1+u*u/9) }

	// Sorted 1 2 3 4 100: median 3, quartiles 2 and 4.
	s := fitNumeric(t, column("4", "100", "1", "3", "2"), NumericEncoding{Method: Robust}, "")
	if f := s.Features[0]; f.Encoding != Robust || f.Center != 3 || f.Scale != 2 || f.Mean != 22 || f.Edges != nil {
		t.Fatalf("robust feature %+v", f)
	}
	checkEncodes(t, s, []string{"3", "1", "100", "-1e300", "1e300"}, [][]float64{{0}, {clip(-1)}, {clip(48.5)}, {-3}, {3}})
	if got := clip(48.5); math.Abs(got-2.9942772) > 1e-7 {
		t.Fatalf("smooth clip of 48.5 = %v", got)
	}

	// Sorted −2 0 0 0 0 0 0 10: the quartiles are both 0, so the scale
	// is half the range, 6.
	s = fitNumeric(t, column("0", "0", "10", "0", "-2", "0", "0", "0"), NumericEncoding{Method: Robust}, "")
	if f := s.Features[0]; f.Center != 0 || f.Scale != 6 {
		t.Fatalf("robust feature with equal quartiles %+v", f)
	}
	checkEncodes(t, s, []string{"10", "-2", "3"}, [][]float64{{clip(10.0 / 6)}, {clip(-2.0 / 6)}, {clip(0.5)}})

	// A constant column keeps scale 1, as standardising does.
	s = fitNumeric(t, column("5", "5", "5"), NumericEncoding{Method: Robust}, "")
	if f := s.Features[0]; f.Center != 5 || f.Scale != 1 {
		t.Fatalf("constant robust feature %+v", f)
	}
	checkEncodes(t, s, []string{"5", "6"}, [][]float64{{0}, {clip(1)}})
}

// TestQuantileValues checks the quantile encoding against values worked
// out by hand: the knots, their normal scores at the middle of their
// levels, the linear interpolation between them, the bounds outside.
func TestQuantileValues(t *testing.T) {
	t.Parallel()
	// Five values: levels 0, ¼, ½, ¾, 1, one value each.
	s := fitNumeric(t, column("3", "0", "4", "1", "2"), NumericEncoding{Method: Quantile}, "")
	f := s.Features[0]
	if !slices.Equal(f.Edges, []float64{0, 1, 2, 3, 4}) || !near32(f.Scores, []float64{-phiInvBound, phiInvQuarter, 0, -phiInvQuarter, phiInvBound}) {
		t.Fatalf("quantile feature %+v", f)
	}
	checkEncodes(t, s, []string{"2", "2.5", "1", "0.5", "-7", "9"}, [][]float64{
		{0}, {-phiInvQuarter / 2}, {phiInvQuarter}, {(-phiInvBound + phiInvQuarter) / 2}, {-phiInvBound}, {phiInvBound},
	})

	// Ties: 0 0 0 1 at levels 0, ⅓, ⅔, 1; the value 0 is the quantile at
	// levels 0 to ⅔ and scores Φ⁻¹(⅓).
	s = fitNumeric(t, column("0", "1", "0", "0"), NumericEncoding{Method: Quantile}, "")
	f = s.Features[0]
	if !slices.Equal(f.Edges, []float64{0, 1}) || !near32(f.Scores, []float64{phiInvThird, phiInvBound}) {
		t.Fatalf("quantile feature with ties %+v", f)
	}
	checkEncodes(t, s, []string{"0", "0.5", "1"}, [][]float64{{phiInvThird}, {(phiInvThird + phiInvBound) / 2}, {phiInvBound}})

	// A constant column scores 0 everywhere.
	s = fitNumeric(t, column("7", "7"), NumericEncoding{Method: Quantile}, "")
	if f := s.Features[0]; !slices.Equal(f.Edges, []float64{7, 8}) || !slices.Equal(f.Scores, []float64{0, 0}) {
		t.Fatalf("constant quantile feature %+v", f)
	}
	checkEncodes(t, s, []string{"7", "100"}, [][]float64{{0}, {0}})

	// More values than levels: QuantileLevels knots at most, the scores
	// of evenly spread values close to the normal quantiles.
	var vals []float64
	for i := range 3001 {
		vals = append(vals, float64(i))
	}
	s = fitNumeric(t, column(numbers(vals...)...), NumericEncoding{Method: Quantile}, "")
	f = s.Features[0]
	if len(f.Edges) != QuantileLevels || f.Edges[0] != 0 || f.Edges[len(f.Edges)-1] != 3000 {
		t.Fatalf("%d knots from %v to %v, want %d from 0 to 3000", len(f.Edges), f.Edges[0], f.Edges[len(f.Edges)-1], QuantileLevels)
	}
	checkEncodes(t, s, []string{"750", "1500"}, [][]float64{{phiInvQuarter}, {0}})
}

// near32 is near for float64 values.
func near32(got, want []float64) bool {
	g := make([]float32, len(got))
	for i, v := range got {
		g[i] = float32(v)
	}
	return near(g, want)
}

// TestPLEValues checks the piecewise-linear encoding against values
// worked out by hand: quantile edges, each column clip((x − eᵢ)/(eᵢ₊₁ −
// eᵢ), 0, 1), fewer bins for fewer distinct values, one for a binary
// column, the distinct values topping up edges that repeated values
// collapse, and the names of the columns.
func TestPLEValues(t *testing.T) {
	t.Parallel()
	var ints []float64
	for i := range 11 {
		ints = append(ints, float64(i))
	}
	// 0 … 10 in 4 bins: edges at the quartiles.
	s := fitNumeric(t, column(numbers(ints...)...), NumericEncoding{Method: PLE, Bins: 4}, "")
	if f := s.Features[0]; !slices.Equal(f.Edges, []float64{0, 2.5, 5, 7.5, 10}) || f.Width() != 4 || s.Dim() != 4 {
		t.Fatalf("ple feature %+v", f)
	}
	if got := s.EncodedNames(); !slices.Equal(got, []string{"x[ple0]", "x[ple1]", "x[ple2]", "x[ple3]"}) {
		t.Errorf("names %q", got)
	}
	checkEncodes(t, s, []string{"3", "0", "-1", "12", "7.5", "9"}, [][]float64{
		{1, 0.2, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}, {1, 1, 1, 1}, {1, 1, 1, 0}, {1, 1, 1, 0.6},
	})

	// Three distinct values and 4 bins: the values are the edges.
	s = fitNumeric(t, column("2", "1", "5", "2"), NumericEncoding{Method: PLE, Bins: 4}, "")
	if f := s.Features[0]; !slices.Equal(f.Edges, []float64{1, 2, 5}) {
		t.Fatalf("ple feature of few values %+v", f)
	}
	checkEncodes(t, s, []string{"3", "1.5"}, [][]float64{{1, 1.0 / 3}, {0.5, 0}})

	// A binary column is one column, the value itself.
	s = fitNumeric(t, column("0", "1", "1", "0", "1"), NumericEncoding{Method: PLE}, "")
	if f := s.Features[0]; !slices.Equal(f.Edges, []float64{0, 1}) || s.Dim() != 1 {
		t.Fatalf("binary ple feature %+v", f)
	}
	checkEncodes(t, s, []string{"0", "1"}, [][]float64{{0}, {1}})

	// A constant column is one bin of width 1.
	s = fitNumeric(t, column("7", "7", "7"), NumericEncoding{Method: PLE}, "")
	if f := s.Features[0]; !slices.Equal(f.Edges, []float64{7, 8}) {
		t.Fatalf("constant ple feature %+v", f)
	}
	checkEncodes(t, s, []string{"7", "7.25"}, [][]float64{{0}, {0.25}})

	// 60 zeros then 1 … 40, in 4 bins: the quartiles are 0, 0, 0, 15.25
	// and 40, three edges once repeats go. The distinct values 0 … 40 at
	// levels k = 4 (0, 10, 20, 30, 40) would make six edges; at k = 3
	// (0, 40/3, 80/3, 40) they make five, four bins.
	var skewed []float64
	for i := range 100 {
		skewed = append(skewed, float64(max(0, i-59)))
	}
	s = fitNumeric(t, column(numbers(skewed...)...), NumericEncoding{Method: PLE, Bins: 4}, "")
	want := []float64{0, 40.0 / 3, 15.25, 80.0 / 3, 40}
	if f := s.Features[0]; !near32(f.Edges, want) {
		t.Fatalf("ple edges topped up %v, want %v", f.Edges, want)
	}
	checkEncodes(t, s, []string{"0", "14"}, [][]float64{{0, 0, 0, 0}, {1, (14 - 40.0/3) / (15.25 - 40.0/3), 0, 0}})
}

// TestPLEEdges checks the edges on columns whose quantiles repeat: always
// strictly increasing, at most the bins asked for, as many as the
// distinct values allow, and from the column's own range.
func TestPLEEdges(t *testing.T) {
	t.Parallel()
	// capital_gain-like: 92% zeros, the rest spread over many values.
	var gains []float64
	for i := range 1000 {
		v := 0.0
		if i%25 < 2 {
			v = float64(100 + i*37%5000)
		}
		gains = append(gains, v)
	}
	for _, tc := range []struct {
		name   string
		values []float64
		bins   int
		want   int // edges
	}{
		{"zeros and a tail", gains, 32, 33},
		{"zeros and a tail, 8 bins", gains, 8, 9},
		{"two values", []float64{3, 3, 3, 9}, 32, 2},
		{"few values", []float64{1, 1, 1, 1, 2, 3, 3, 4}, 2, 3},
		{"one bin", []float64{5, 1, 2, 3, 9}, 1, 2},
	} {
		sorted := slices.Sorted(slices.Values(tc.values))
		edges := pleEdges(sorted, tc.bins)
		if len(edges) != tc.want || edges[0] != sorted[0] || edges[len(edges)-1] != sorted[len(sorted)-1] {
			t.Errorf("%s: edges %v, want %d from %v to %v", tc.name, edges, tc.want, sorted[0], sorted[len(sorted)-1])
		}
		for i := 1; i < len(edges); i++ {
			if !(edges[i] > edges[i-1]) {
				t.Errorf("%s: edges %v not strictly increasing", tc.name, edges)
			}
		}
	}
}

// TestNumericImputed checks that a missing value imputed by the training
// mean encodes as the mean does under every encoding, with 1 in the
// indicator column after it (0 for the measured mean), and is an error
// without imputation, as for standardising.
func TestNumericImputed(t *testing.T) {
	t.Parallel()
	content := column("0", "2", "NA", "4", "?")
	for _, m := range NumericMethods {
		s := fitNumeric(t, content, NumericEncoding{Method: m}, "mean")
		f := s.Features[0]
		if f.Mean != 2 || f.Method() != m || !f.Indicator {
			t.Fatalf("%s: feature %+v", m, f)
		}
		rows, warnings := encodeRows(t, s, content)
		mean, _ := encodeRows(t, s, column("2"))
		w := f.Width() - 1 // the indicator's column
		if mean[0][w] != 0 || rows[2][w] != 1 || rows[4][w] != 1 || rows[1][w] != 0 {
			t.Errorf("%s: indicators %v, %v of missing values, %v of the mean, %v of a number", m, rows[2][w], rows[4][w], mean[0][w], rows[1][w])
		}
		if !sameBits(rows[2][:w], mean[0][:w]) || !sameBits(rows[4][:w], mean[0][:w]) {
			t.Errorf("%s: a missing value encodes as %v and %v, the mean as %v", m, rows[2], rows[4], mean[0])
		}
		if len(warnings) != 1 || !strings.Contains(warnings[0], "2 missing values replaced by the training mean") {
			t.Errorf("%s: warnings %q", m, warnings)
		}
		_, err := FitSource(context.Background(), newMemSource(t, "n.csv", content, CSVOptions{}), Options{Tasks: specs(t, "y:binary"), Numeric: NumericEncoding{Method: m}})
		wantError(t, err, `n.csv:4: column "x" (1): missing value in a numeric column (2 in all; impute "mean" replaces them with the training mean)`)
	}
	// The PLE of the mean, 2, on the edges 0 2 4.
	s := fitNumeric(t, content, NumericEncoding{Method: PLE}, "mean")
	rows, _ := encodeRows(t, s, content)
	if !near(rows[2], []float64{1, 0, 1}) {
		t.Errorf("ple of the imputed mean %v, want [1 0] and the indicator 1", rows[2])
	}
}

// TestNumericIncludeAndErrors: the statistics come from the included rows
// only, and a bad encoding is an error.
func TestNumericIncludeAndErrors(t *testing.T) {
	t.Parallel()
	content := column("1", "2", "1000", "3", "4", "5000", "5")
	notBig := func(row int64) bool { return row != 2 && row != 5 }
	for _, m := range []NumericMethod{Robust, Quantile, PLE} {
		res, err := FitSource(context.Background(), newMemSource(t, "n.csv", content, CSVOptions{}), Options{Tasks: specs(t, "y:binary"), Numeric: NumericEncoding{Method: m}, Include: notBig})
		if err != nil {
			t.Fatal(err)
		}
		f := res.Schema.Features[0]
		switch m {
		case Robust:
			if f.Center != 3 || f.Scale != 2 {
				t.Errorf("robust on included rows: %+v", f)
			}
		default:
			if f.Edges[0] != 1 || f.Edges[len(f.Edges)-1] != 5 {
				t.Errorf("%s on included rows: edges %v", m, f.Edges)
			}
		}
	}
	for _, enc := range []NumericEncoding{{Method: "median"}, {Method: PLE, Bins: -1}, {Method: PLE, Bins: MaxPLEBins + 1}, {Method: Robust, Bins: 3}} {
		_, err := FitSource(context.Background(), newMemSource(t, "n.csv", content, CSVOptions{}), Options{Tasks: specs(t, "y:binary"), Numeric: enc})
		if err == nil || !strings.HasPrefix(err.Error(), "n.csv: ") {
			t.Errorf("%+v: %v, want an error naming the file", enc, err)
		}
	}
}

// TestNumericSampleDeterministic: a column longer than the sample gets
// the same schema from every read of it (any chunking, any thread count,
// again and again), from a sample that draws on all of its rows.
func TestNumericSampleDeterministic(t *testing.T) {
	t.Parallel()
	n := QuantileSample + QuantileSample/2
	var b strings.Builder
	b.WriteString("x,y\n")
	for i := range n {
		// The first QuantileSample rows below 10⁵, the rest above 10⁶.
		v := i
		if i >= QuantileSample {
			v = 1_000_000 + i
		}
		fmt.Fprintf(&b, "%d,%d\n", v, i%2)
	}
	content := b.String()
	variants := []CSVOptions{{}, {ChunkSize: 1 << 16, Threads: 2}, {ChunkSize: 1 << 12, Threads: 3}, {}}
	for _, m := range []NumericMethod{Quantile, PLE} {
		var first *Schema
		for _, v := range variants {
			res, err := FitSource(context.Background(), newMemSource(t, "big.csv", content, v), Options{Tasks: specs(t, "y:binary"), Numeric: NumericEncoding{Method: m}})
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = res.Schema
				continue
			}
			if !reflect.DeepEqual(res.Schema, first) {
				t.Fatalf("%s: %+v: a second read gives another schema", m, v)
			}
		}
		// A third of the sample comes from the last rows: the quantile
		// at ¾ lies among them.
		edges := first.Features[0].Edges
		at := func(p float64) float64 {
			for i, e := range edges {
				if float64(i)/float64(len(edges)-1) >= p {
					return e
				}
			}
			return edges[len(edges)-1]
		}
		if at(0.75) < 1_000_000 || at(0.5) > 1_000_000 || edges[len(edges)-1] < 1_000_000+float64(n)*0.99 {
			t.Errorf("%s: the sample does not draw on all rows: edges %v", m, edges)
		}
	}
}

// TestNumericSchemaRoundTrip: a schema with every encoding survives JSON
// and Validate as version 3; a version 2 schema (no encoding) still reads
// and standardises; Validate refuses a spoilt encoding.
func TestNumericSchemaRoundTrip(t *testing.T) {
	t.Parallel()
	var cols []string
	var b strings.Builder
	for _, m := range NumericMethods {
		cols = append(cols, string(m))
	}
	b.WriteString(strings.Join(cols, ",") + ",y\n")
	for i := range 40 {
		for range cols {
			fmt.Fprintf(&b, "%d,", i*i%17)
		}
		fmt.Fprintf(&b, "%d\n", i%2)
	}
	res, err := FitSource(context.Background(), newMemSource(t, "r.csv", b.String(), CSVOptions{}), Options{Tasks: specs(t, "y:binary"), Numeric: NumericEncoding{Method: PLE, Bins: 5}})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Schema
	// One schema with a feature of each encoding.
	for i, m := range NumericMethods {
		fit := fitNumeric(t, column(numbers(1, 4, 9, 16, 2, 2, 2)...), NumericEncoding{Method: m}, "")
		f := fit.Features[0]
		f.Name = string(m)
		s.Features[i] = f
	}
	js, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"version":4`, `"encoding":"robust"`, `"center":`, `"encoding":"quantile"`, `"scores":`, `"encoding":"ple"`, `"edges":`} {
		if !strings.Contains(string(js), key) {
			t.Errorf("JSON %s lacks %s", js, key)
		}
	}
	if strings.Contains(string(js), `"encoding":"standard"`) {
		t.Errorf("JSON %s names the standard encoding, which older schemas leave out", js)
	}
	var back Schema
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, s) || back.Validate() != nil {
		t.Fatalf("round trip:\n%+v\nwant\n%+v (%v)", back, s, back.Validate())
	}

	// A version 2 schema: standardised.
	var old Schema
	if err := json.Unmarshal([]byte(`{"version":2,"features":[{"name":"x","kind":"numeric","mean":2,"scale":4}],"targets":[{"name":"y","type":"binary","weight":1,"classes":["0","1"],"positive":"1"}]}`), &old); err != nil {
		t.Fatal(err)
	}
	if err := old.Validate(); err != nil {
		t.Fatal(err)
	}
	checkEncodes(t, &old, []string{"10", "0"}, [][]float64{{2}, {-0.5}})

	good := func() *Schema {
		var c Schema
		if err := json.Unmarshal(js, &c); err != nil {
			t.Fatal(err)
		}
		return &c
	}
	feat := func(s *Schema, m NumericMethod) *Feature { return &s.Features[slices.Index(NumericMethods, m)] }
	for _, tc := range []struct {
		name  string
		spoil func(*Schema)
		want  string
	}{
		{"unknown encoding", func(s *Schema) { feat(s, Robust).Encoding = "median" }, `schema: feature "robust" has unknown numeric encoding "median"`},
		{"robust in version 2", func(s *Schema) { s.Version = 2 }, `schema: feature "robust" is encoded by robust in a version 2 schema`},
		{"standard with a centre", func(s *Schema) { feat(s, Standard).Center = 1 }, `schema: standard feature "standard" has centre 1`},
		{"infinite centre", func(s *Schema) { feat(s, Robust).Center = math.Inf(1) }, `schema: robust feature "robust" has centre +Inf`},
		{"robust with edges", func(s *Schema) { feat(s, Robust).Edges = []float64{1, 2} }, `schema: robust feature "robust" has bin edges or scores`},
		{"one edge", func(s *Schema) { feat(s, PLE).Edges = []float64{1} }, `schema: ple feature "ple" has 1 edges (want at least 2)`},
		{"repeated edge", func(s *Schema) { feat(s, PLE).Edges = []float64{1, 2, 2} }, `schema: ple feature "ple": edge 2 (2) is not finite or not above the one before`},
		{"NaN edge", func(s *Schema) { feat(s, PLE).Edges[0] = math.NaN() }, `schema: ple feature "ple": edge 0 (NaN) is not finite or not above the one before`},
		{"ple with scores", func(s *Schema) { f := feat(s, PLE); f.Scores = make([]float64, len(f.Edges)) }, `schema: ple feature "ple" has scores`},
		{"scores short", func(s *Schema) { f := feat(s, Quantile); f.Scores = f.Scores[1:] }, `schema: quantile feature "quantile" has 4 scores for 5 knots`},
		{"scores falling", func(s *Schema) { f := feat(s, Quantile); f.Scores[2] = -10 }, `schema: quantile feature "quantile": score 2 (-10) is not finite or below the one before`},
		{"categorical with an encoding", func(s *Schema) {
			s.Features[0] = Feature{Name: "c", Kind: Categorical, Categories: []string{"a"}, Encoding: PLE}
		}, `schema: categorical feature "c" has a numeric encoding`},
	} {
		s := good()
		tc.spoil(s)
		if err := s.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("%s: Validate = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestNumericEncodersAgreeOnSharedData: on the shared data sets, under
// every encoding, EncodeSource, EncodeBlocks and a BlockEncoder fed the
// blocks of a cache in reverse order give the same bits, and every value
// lies in its encoding's range.
func TestNumericEncodersAgreeOnSharedData(t *testing.T) {
	t.Parallel()
	dir := sharedData(t)
	for _, tc := range sharedFitCases[:4] {
		for _, m := range []NumericMethod{Robust, Quantile, PLE} {
			t.Run(tc.file+"/"+string(m), func(t *testing.T) {
				t.Parallel()
				checkEncodersAgree(t, filepath.Join(dir, tc.file), tc.tasks, tc.group, m)
			})
		}
	}
}

func checkEncodersAgree(t *testing.T, path string, tasks []string, group string, m NumericMethod) {
	src, err := OpenCSV(path, CSVOptions{ChunkSize: 1 << 16, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx := context.Background()
	res, err := FitSource(ctx, src, Options{Tasks: specs(t, tasks...), GroupColumn: group, Numeric: NumericEncoding{Method: m}, Impute: "mean"})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Schema
	parts, warnings, err := s.EncodeSource(ctx, src, EncodeOptions{Targets: true})
	if err != nil {
		t.Fatal(err)
	}
	all := parts[0]
	checkSameEncoded(t, "EncodeBlocks", concatBlocks(t, s, src, EncodeOptions{Targets: true}, warnings), all)

	// Every value in range, and each numeric feature encoded by m.
	lo, hi := map[NumericMethod]float32{Robust: -3, Quantile: -5.2, PLE: 0}[m], map[NumericMethod]float32{Robust: 3, Quantile: 5.2, PLE: 1}[m]
	off := 0
	for _, f := range s.Features {
		if f.Kind == Numeric {
			if f.Method() != m {
				t.Fatalf("feature %q encoded by %s", f.Name, f.Method())
			}
			for i := range all.N {
				for j := range f.Width() {
					if v := all.X[i*all.D+off+j]; !(v >= lo && v <= hi) {
						t.Fatalf("feature %q row %d: %v outside [%v, %v]", f.Name, i, v, lo, hi)
					}
				}
			}
		}
		off += f.Width()
	}

	// Blocks of a cache encoded in reverse order.
	be, err := s.NewBlockEncoder(ctx, src, EncodeOptions{Targets: true})
	if err != nil {
		t.Fatal(err)
	}
	cacheFile := filepath.Join(t.TempDir(), "c.cache")
	if err := WriteCache(ctx, cacheFile, src, be.Want(), nil); err != nil {
		t.Fatal(err)
	}
	cache, err := OpenCache(cacheFile)
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	if be, err = s.NewBlockEncoder(ctx, cache, EncodeOptions{Targets: true}); err != nil {
		t.Fatal(err)
	}
	if cache.Blocks() < 2 {
		t.Fatalf("%d blocks", cache.Blocks())
	}
	for k := cache.Blocks() - 1; k >= 0; k-- {
		blk, err := cache.ReadBlock(k, cache.Wants())
		if err != nil {
			t.Fatal(err)
		}
		eb, err := be.Encode(blk)
		if err != nil {
			t.Fatal(err)
		}
		if want := all.X[int(eb.Row)*all.D : (int(eb.Row)+eb.N)*all.D]; !sameBits(eb.X, want) {
			t.Fatalf("block %d encodes other bits than EncodeSource", k)
		}
	}
}
