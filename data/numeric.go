package data

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// NumericMethod names how a numeric feature becomes model inputs (see the
// package documentation, Numeric features).
type NumericMethod string

// The numeric encodings.
const (
	// Standard is (x − mean)/std: one input.
	Standard NumericMethod = "standard"
	// Robust is RealMLP's robust scaling and smooth clipping (Holzmüller
	// et al. 2024): u = (x − median)/IQR, then u/√(1 + (u/3)²): one
	// input in (−3, 3).
	Robust NumericMethod = "robust"
	// Quantile maps x through the column's empirical distribution to a
	// standard normal score, as scikit-learn's QuantileTransformer with
	// a normal output does: one input in [−5.2, 5.2].
	Quantile NumericMethod = "quantile"
	// PLE is the piecewise-linear encoding of Gorishniy et al. 2022 over
	// quantile bins: one input in [0, 1] per bin.
	PLE NumericMethod = "ple"
	// RobustPLE is the column robustly scaled (as Robust) followed by its
	// PLE bins: 1 + K inputs. The bins let the network bend the column's
	// effect where its values fall (a threshold on capital gains); the
	// scaled column keeps a straight trend one weight away, which the
	// bins alone can only spell by weights agreeing across every bin.
	RobustPLE NumericMethod = "robust+ple"
)

// NumericMethods lists the numeric encodings.
var NumericMethods = []NumericMethod{Standard, Robust, Quantile, PLE, RobustPLE}

// binned reports whether m makes PLE bins.
func (m NumericMethod) binned() bool { return m == PLE || m == RobustPLE }

// Sizes of the numeric encodings.
const (
	// MinPLEBins and MaxAutoPLEBins bound the bins of a PLE column when
	// the encoding does not give them (see AutoPLEBins).
	MinPLEBins     = 4
	MaxAutoPLEBins = 64
	// MaxPLEBins is the most bins a PLE column may ask for.
	MaxPLEBins = 1024
	// PLEBudget bounds, in bytes, the float32 matrix that numeric columns
	// binned by automatic PLE bins encode: a table of many rows and
	// numeric columns gets fewer bins (see PLEBinsWithin), so that the
	// default encoding never multiplies the encoded data of a large table
	// by the 65 inputs a column of 64 bins takes.
	PLEBudget = 512 << 20
	// QuantileLevels is the number of evenly spaced levels, 0 to 1, at
	// which the quantile encoding takes the column's quantiles (fewer for
	// a column of fewer training values), as QuantileTransformer's
	// n_quantiles.
	QuantileLevels = 1000
	// QuantileSample is the size of the sample of each numeric column
	// that the quantiles are taken from: every value of a column with at
	// most this many training values, else a uniform reservoir sample.
	QuantileSample = 100_000
)

// DefaultNumeric is the encoding of numeric features when Options.Numeric
// is the zero value: the plain standardisation, the transform every
// reader of a schema knows. The trainer chooses its own default by
// evidence (pipeline.DefaultNumeric).
var DefaultNumeric = NumericEncoding{Method: Standard}

// NumericEncoding is how FitSource encodes numeric features: a method and,
// for PLE, the most bins per column.
type NumericEncoding struct {
	// Method is the encoding; empty means DefaultNumeric.
	Method NumericMethod
	// Bins is, for PLE, the most bins (inputs) per column, between 1 and
	// MaxPLEBins; 0 means AutoPLEBins of the column's training values.
	// Other methods take none.
	Bins int
}

// ParseNumericEncoding reads a numeric encoding as written on a command
// line, in any case: standard, robust, quantile, ple or ple:BINS. Its
// errors do not repeat the text.
func ParseNumericEncoding(s string) (NumericEncoding, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	name, bins, hasBins := strings.Cut(v, ":")
	e := NumericEncoding{Method: NumericMethod(name)}
	if !slices.Contains(NumericMethods, e.Method) {
		return NumericEncoding{}, fmt.Errorf("unknown numeric encoding (want standard, robust, quantile, ple[:BINS] or robust+ple[:BINS])")
	}
	if hasBins {
		n, err := strconv.Atoi(bins)
		if !e.Method.binned() || err != nil || n < 1 || n > MaxPLEBins {
			return NumericEncoding{}, fmt.Errorf("want ple:BINS or robust+ple:BINS with BINS from 1 to %d", MaxPLEBins)
		}
		e.Bins = n
	}
	return e, nil
}

// String writes the encoding as ParseNumericEncoding reads it.
func (e NumericEncoding) String() string {
	e = e.resolved()
	if e.Method.binned() && e.Bins > 0 {
		return fmt.Sprintf("%s:%d", e.Method, e.Bins)
	}
	return string(e.Method)
}

// AutoPLEBins is the number of bins of a PLE column of n training values
// when the encoding does not give it: 2^round(log₂(√n / 2)), within
// [MinPLEBins, MaxAutoPLEBins]. A bin needs rows to place its slope: on
// the shared data sets (benchmark/cmd/defaults, 5 seeds) more bins help
// the largest table, adult (income AUC 0.880, 0.882, 0.884, 0.887 for 8,
// 16, 32 and 64 bins), and fewer the smallest (diabetes progression R²
// 0.489 with 8 bins, 0.451 with 32). So 133 rows get 8 bins, 800 get 16,
// 30,000 get 64.
func AutoPLEBins(n int) int {
	if n < 1 {
		return MinPLEBins
	}
	b := 1 << int(max(math.Round(math.Log2(math.Sqrt(float64(n))/2)), 0))
	return min(max(b, MinPLEBins), MaxAutoPLEBins)
}

// PLEBinsWithin is the most automatic PLE bins each of cols numeric
// columns of rows training rows may take within PLEBudget: the largest
// power of two K with rows·cols·(1+K)·4 bytes ≤ PLEBudget, at most
// MaxAutoPLEBins; 0 when not even MinPLEBins fit. Adult's 30,000 rows of 6
// numeric columns keep 64 bins (47 MB); 1,000,000 rows of 40 columns get
// none.
func PLEBinsWithin(rows, cols int) int {
	if rows < 1 || cols < 1 {
		return MaxAutoPLEBins
	}
	k := MaxAutoPLEBins
	for k >= MinPLEBins && float64(rows)*float64(cols)*float64(1+k)*4 > PLEBudget {
		k /= 2
	}
	if k < MinPLEBins {
		return 0
	}
	return k
}

// resolved fills in the defaults.
func (e NumericEncoding) resolved() NumericEncoding {
	if e.Method == "" {
		e = DefaultNumeric
	}
	return e
}

// check reports an encoding FitSource cannot apply.
func (e NumericEncoding) check() error {
	r := e.resolved()
	switch {
	case !slices.Contains(NumericMethods, r.Method):
		return fmt.Errorf("unknown numeric encoding %q (want standard, robust, quantile, ple or robust+ple)", e.Method)
	case r.Method.binned() && (r.Bins < 0 || r.Bins > MaxPLEBins):
		return fmt.Errorf("numeric encoding %s with %d bins (want 1 to %d)", r.Method, e.Bins, MaxPLEBins)
	case !r.Method.binned() && r.Bins != 0:
		return fmt.Errorf("numeric encoding %s takes no bins (%d given)", r.Method, e.Bins)
	}
	return nil
}

// sampled reports whether the encoding learns from a sample of each
// column.
func (e NumericEncoding) sampled() bool { return e.resolved().Method != Standard }

// Method returns the numeric encoding of a numeric feature: Encoding, or
// Standard when that is empty.
func (f Feature) Method() NumericMethod {
	if f.Encoding == "" {
		return Standard
	}
	return f.Encoding
}

// numericSample is a column's training values as the quantiles need them:
// a uniform sample of at most QuantileSample values (Vitter's Algorithm
// R, every value kept until the sample is full) and the exact minimum and
// maximum. Its random stream is the same fixed PCG stream for every column
// and every run, so that the sample, and the schema, depend only on the
// column's values in row order.
type numericSample struct {
	values   []float64
	seen     uint64
	rng      rand.PCG
	min, max float64
}

// sampleSeed seeds every column's random stream.
const sampleSeed1, sampleSeed2 = 0x6d746c2d677075, 0x71756e74696c65

func newNumericSample() *numericSample {
	s := &numericSample{min: math.Inf(1), max: math.Inf(-1)}
	s.rng.Seed(sampleSeed1, sampleSeed2)
	return s
}

// add takes in the next training value.
func (s *numericSample) add(v float64) {
	s.seen++
	s.min, s.max = min(s.min, v), max(s.max, v)
	if len(s.values) < QuantileSample {
		s.values = append(s.values, v)
		return
	}
	// A uniform draw in [0, seen): the high word of a 64×64-bit product.
	j, _ := bits.Mul64(s.rng.Uint64(), s.seen)
	if j < QuantileSample {
		s.values[j] = v
	}
}

// addNumber counts a number of the column: its moments and, when the
// encoding needs them, its sample.
func (st *featureStats) addNumber(v float64) {
	st.moments.add(v)
	if st.sample != nil {
		st.sample.add(v)
	}
}

// fitEncoding completes a numeric feature, its mean and scale learnt, with
// the parameters of the encoding, from the column's sample. Automatic PLE
// bins take at most maxBins (PLEBinsWithin); when that is 0, robust+ple
// falls back to its robust scaling alone and ple to MinPLEBins.
func (st *featureStats) fitEncoding(f Feature, enc NumericEncoding, maxBins int, file string, c int) (Feature, error) {
	enc = enc.resolved()
	if enc.Method.binned() && enc.Bins == 0 {
		enc.Bins = min(AutoPLEBins(st.numbers), maxBins)
		if enc.Bins == 0 && enc.Method == RobustPLE {
			enc.Method = Robust
		}
		enc.Bins = max(enc.Bins, MinPLEBins)
	}
	if enc.Method == Standard {
		return f, nil
	}
	sorted := st.sample.values
	slices.Sort(sorted)
	f.Encoding = enc.Method
	switch enc.Method {
	case Robust:
		f.Center, f.Scale = robustScaling(sorted, st.sample.min, st.sample.max)
	case Quantile:
		f.Edges, f.Scores = normalScores(sorted)
	case PLE, RobustPLE:
		if enc.Method == RobustPLE {
			f.Center, f.Scale = robustScaling(sorted, st.sample.min, st.sample.max)
		}
		f.Edges = pleEdges(sorted, enc.Bins)
	}
	for i, e := range f.Edges {
		if math.IsInf(e, 0) || (i > 0 && math.IsInf(e-f.Edges[i-1], 0)) {
			return f, errorf(file, 0, f.Name, c, "values too large to encode by %s", enc.Method)
		}
	}
	return f, nil
}

// quantile is the p-quantile of sorted values, interpolated linearly
// between the two nearest ranks as numpy.quantile does by default: at
// rank h = p·(n−1), x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]).
func quantile(sorted []float64, p float64) float64 {
	n := len(sorted)
	h := p * float64(n-1)
	lo := int(math.Floor(h))
	if lo >= n-1 {
		return sorted[n-1]
	}
	lo = max(lo, 0)
	a, b := sorted[lo], sorted[lo+1]
	frac := h - float64(lo)
	if frac <= 0 || a == b {
		return a
	}
	q := a + frac*(b-a)
	if math.IsInf(q, 0) || math.IsNaN(q) {
		q = a*(1-frac) + b*frac
	}
	return min(max(q, a), b)
}

// quantiles returns the quantiles of sorted values at the k+1 levels
// 0, 1/k, …, 1.
func quantiles(sorted []float64, k int) []float64 {
	out := make([]float64, k+1)
	for i := range out {
		out[i] = quantile(sorted, float64(i)/float64(k))
	}
	return out
}

// constantStep is the width of the one bin (or segment) of a column that
// is constant at c: 1, or a relative 2⁻²⁰ where c is too large for 1 to
// count.
func constantStep(c float64) float64 { return max(1, math.Abs(c)*0x1p-20) }

// robustScaling returns RealMLP's centre and scale: the median and the
// interquartile range, or, when the quartiles coincide, half the range
// (min and max of every training value), or 1 for a constant column.
func robustScaling(sorted []float64, lo, hi float64) (center, scale float64) {
	center = quantile(sorted, 0.5)
	scale = quantile(sorted, 0.75) - quantile(sorted, 0.25)
	if scale == 0 {
		scale = 0.5 * (hi - lo)
	}
	if !(scale > 0) || math.IsInf(scale, 0) {
		scale = 1
	}
	return center, scale
}

// smoothClip is RealMLP's smooth clipping to (−3, 3): u/√(1 + (u/3)²),
// with u first clamped to ±10¹⁵⁰ so that the square cannot overflow.
// The product is rounded before the sum, as ONNX Runtime computes it.
func smoothClip(u float64) float64 {
	u = min(max(u, -1e150), 1e150)
	t := u / 3
	return u / math.Sqrt(1+float64(t*t))
}

// Bounds of the quantile encoding's levels: scikit-learn's
// BOUNDS_THRESHOLD, so that the scores lie within ±Φ⁻¹(1 − 10⁻⁷) ≈ ±5.2.
const quantileBound = 1e-7

// normalScores returns the knots and scores of the quantile encoding: the
// quantiles of the sample at QuantileLevels evenly spaced levels r (fewer
// for a small sample), each distinct quantile once, and its normal score
// Φ⁻¹(r̄), r̄ being the mean of the lowest and highest level at which it
// is the quantile (clamped to [10⁻⁷, 1 − 10⁻⁷]). A value shared by many
// rows thus maps to the middle of its rows' ranks, where
// QuantileTransformer averages its two interpolations. A constant column
// c has the knots c and c + constantStep(c), both scored 0.
func normalScores(sorted []float64) (knots, scores []float64) {
	levels := min(QuantileLevels, len(sorted))
	if levels < 2 || sorted[0] == sorted[len(sorted)-1] {
		c := sorted[0]
		return []float64{c, c + constantStep(c)}, []float64{0, 0}
	}
	q := quantiles(sorted, levels-1)
	level := func(j int) float64 { return float64(j) / float64(levels-1) }
	for j := 0; j < len(q); {
		k := j
		for k+1 < len(q) && q[k+1] == q[j] {
			k++
		}
		r := min(max((level(j)+level(k))/2, quantileBound), 1-quantileBound)
		knots = append(knots, q[j])
		scores = append(scores, normalQuantile(r))
		j = k + 1
	}
	return knots, scores
}

// normalQuantile is Φ⁻¹(p), the standard normal quantile function.
func normalQuantile(p float64) float64 { return -math.Sqrt2 * math.Erfcinv(2*p) }

// pleEdges returns the bin edges of a PLE column of at most bins bins:
//
//   - a column of at most bins+1 distinct values: those values, one bin
//     between each two neighbours (one bin for a binary column);
//   - a constant column c: c and c + constantStep(c);
//   - otherwise the quantiles of the values at levels 0, 1/bins, …, 1,
//     each once. When repeated values make fewer than bins bins of
//     these, the quantiles of the distinct values top them up: at levels
//     0, 1/k, …, 1 for the largest k ≤ bins that keeps the union at most
//     bins+1 edges.
func pleEdges(sorted []float64, bins int) []float64 {
	distinct := slices.Compact(slices.Clone(sorted))
	switch {
	case len(distinct) == 1:
		c := distinct[0]
		return []float64{c, c + constantStep(c)}
	case len(distinct) <= bins+1:
		return distinct
	}
	edges := slices.Compact(quantiles(sorted, bins))
	if len(edges) == bins+1 {
		return edges
	}
	for k := bins; k >= 1; k-- {
		union := append(slices.Clone(edges), quantiles(distinct, k)...)
		slices.Sort(union)
		union = slices.Compact(union)
		if len(union) <= bins+1 {
			return union
		}
	}
	return edges
}

// numericCoder encodes the values of one numeric feature.
type numericCoder struct {
	method              coderMethod
	mean, center, scale float64
	// indicator is the index in x of the missing-value indicator, after
	// the encoded columns; −1 without one.
	indicator int
	// edges are the bin edges (PLE) or knots (quantile), widths the
	// differences of neighbours; scores and rises are the quantile
	// encoding's score at each knot and the differences of neighbours.
	edges, widths, scores, rises []float64
}

// coderMethod is a NumericMethod as a number, cheap to switch on per
// cell.
type coderMethod uint8

const (
	coderStandard coderMethod = iota
	coderRobust
	coderQuantile
	coderPLE
	coderRobustPLE
)

func newNumericCoder(f Feature) *numericCoder {
	c := &numericCoder{mean: f.Mean, center: f.Center, scale: f.Scale, edges: f.Edges, scores: f.Scores, indicator: -1}
	if f.Indicator {
		c.indicator = f.Width() - 1
	}
	switch f.Method() {
	case Robust:
		c.method = coderRobust
	case Quantile:
		c.method = coderQuantile
	case PLE:
		c.method = coderPLE
	case RobustPLE:
		c.method = coderRobustPLE
	}
	for i := 1; i < len(f.Edges); i++ {
		c.widths = append(c.widths, f.Edges[i]-f.Edges[i-1])
	}
	for i := 1; i < len(f.Scores); i++ {
		c.rises = append(c.rises, f.Scores[i]-f.Scores[i-1])
	}
	return c
}

// encode writes the encoding of v into x (the feature's Width values). It
// reports false when v standardises beyond the range of float32; the
// other encodings are bounded.
func (c *numericCoder) encode(v float64, x []float32) bool {
	if c.indicator >= 0 {
		x[c.indicator] = 0
	}
	switch c.method {
	case coderRobust:
		x[0] = float32(smoothClip((v - c.center) / c.scale))
	case coderQuantile:
		x[0] = float32(c.interpolate(v))
	case coderPLE:
		c.bins(v, x)
	case coderRobustPLE:
		x[0] = float32(smoothClip((v - c.center) / c.scale))
		c.bins(v, x[1:])
	default:
		z := float32((v - c.mean) / c.scale)
		if math.IsInf(float64(z), 0) {
			return false
		}
		x[0] = z
	}
	return true
}

// bins writes v's PLE bins into x.
func (c *numericCoder) bins(v float64, x []float32) {
	for i, w := range c.widths {
		x[i] = float32(min(max((v-c.edges[i])/w, 0), 1))
	}
}

// imputed writes the encoding of a missing value imputed by the training
// mean: 0 when standardised, as ever, else the mean encoded; and 1 in the
// indicator.
func (c *numericCoder) imputed(x []float32) {
	if c.method == coderStandard {
		clear(x[:1])
	} else {
		c.encode(c.mean, x)
	}
	if c.indicator >= 0 {
		x[c.indicator] = 1
	}
}

// interpolate is the quantile encoding of v: on segment i, the last whose
// left knot is at most v (the first segment below the knots, the last
// above them), scores[i] + t·rises[i] with t = (v − edges[i])/widths[i]
// clamped to [0, 1].
func (c *numericCoder) interpolate(v float64) float64 {
	m := len(c.widths)
	i := sort.Search(m-1, func(j int) bool { return c.edges[j+1] > v })
	t := min(max((v-c.edges[i])/c.widths[i], 0), 1)
	return c.scores[i] + float64(t*c.rises[i])
}

// checkEncoding checks the encoding of a numeric feature read from a model
// file (of the given schema version): a known method, version 3 for any
// but Standard, and its parameters: a finite Center for Robust; at least
// two finite, strictly increasing Edges a finite distance apart for PLE
// and Quantile, and for Quantile as many finite, non-decreasing Scores;
// nothing the method does not use.
func (f Feature) checkEncoding(version int) error {
	m := f.Method()
	if !slices.Contains(NumericMethods, m) {
		return fmt.Errorf("schema: feature %q has unknown numeric encoding %q", f.Name, f.Encoding)
	}
	if m != Standard && version < 3 {
		return fmt.Errorf("schema: feature %q is encoded by %s in a version %d schema", f.Name, m, version)
	}
	if f.Center != 0 && m != Robust && m != RobustPLE || math.IsNaN(f.Center) || math.IsInf(f.Center, 0) {
		return fmt.Errorf("schema: %s feature %q has centre %v", m, f.Name, f.Center)
	}
	wantEdges := m.binned() || m == Quantile
	if !wantEdges {
		if f.Edges != nil || f.Scores != nil {
			return fmt.Errorf("schema: %s feature %q has bin edges or scores", m, f.Name)
		}
		return nil
	}
	if len(f.Edges) < 2 {
		return fmt.Errorf("schema: %s feature %q has %d edges (want at least 2)", m, f.Name, len(f.Edges))
	}
	for i, e := range f.Edges {
		if math.IsNaN(e) || math.IsInf(e, 0) || i > 0 && (!(e > f.Edges[i-1]) || math.IsInf(e-f.Edges[i-1], 0)) {
			return fmt.Errorf("schema: %s feature %q: edge %d (%v) is not finite or not above the one before", m, f.Name, i, e)
		}
	}
	if m.binned() {
		if f.Scores != nil {
			return fmt.Errorf("schema: %s feature %q has scores", m, f.Name)
		}
		return nil
	}
	if len(f.Scores) != len(f.Edges) {
		return fmt.Errorf("schema: quantile feature %q has %d scores for %d knots", f.Name, len(f.Scores), len(f.Edges))
	}
	for i, v := range f.Scores {
		if math.IsNaN(v) || math.IsInf(v, 0) || i > 0 && (v < f.Scores[i-1] || math.IsInf(v-f.Scores[i-1], 0)) {
			return fmt.Errorf("schema: quantile feature %q: score %d (%v) is not finite or below the one before", f.Name, i, v)
		}
	}
	return nil
}
