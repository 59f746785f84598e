package backendtest

import (
	"fmt"
	"math"
	"strings"
)

// Within reports whether got and want agree to an absolute tolerance abs or
// a relative tolerance rel of the larger magnitude of the two:
//
//	|got − want| ≤ max(abs, rel·max(|got|, |want|))
//
// It is symmetric in got and want. NaN agrees with nothing; an infinity
// agrees only with the same infinity.
func Within(got, want, abs, rel float64) bool {
	if math.IsNaN(got) || math.IsNaN(want) {
		return false
	}
	if math.IsInf(got, 0) || math.IsInf(want, 0) {
		return got == want
	}
	d := math.Abs(got - want)
	return d <= abs || d <= rel*math.Max(math.Abs(got), math.Abs(want))
}

// Tol is an element-wise tolerance for Within; Bound, when set, replaces
// Abs element by element (for results whose rounding error scales with a
// known magnitude, such as the Σ|a||b| of a dot product).
type Tol struct {
	Abs, Rel float64
	Bound    []float64
}

// Mismatches compares two equally long slices and returns a description of
// the first few elements outside tol, or "" when all agree.
func Mismatches(got, want []float32, tol Tol) string {
	if len(got) != len(want) {
		return fmt.Sprintf("length %d, want %d", len(got), len(want))
	}
	var b strings.Builder
	bad := 0
	for i := range got {
		abs := tol.Abs
		if tol.Bound != nil {
			abs = tol.Bound[i]
		}
		if Within(float64(got[i]), float64(want[i]), abs, tol.Rel) {
			continue
		}
		if bad < 5 {
			fmt.Fprintf(&b, " [%d] got %g want %g (diff %.3g);", i, got[i], want[i], math.Abs(float64(got[i])-float64(want[i])))
		}
		bad++
	}
	if bad == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d elements differ:%s", bad, len(got), b.String())
}

// NormErr is the normalised error ‖got − want‖₂ / ‖want‖₂ (or the absolute
// norm of the difference when want is zero), the measure ggml's backend
// tests report.
func NormErr(got, want []float32) float64 {
	var num, den float64
	for i := range got {
		d := float64(got[i]) - float64(want[i])
		num += d * d
		den += float64(want[i]) * float64(want[i])
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}
