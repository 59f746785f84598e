package cpu

import (
	"math"
	"testing"
)

func TestExpNeg(t *testing.T) {
	worst := 0.0
	for i := 0; i <= 2000000; i++ {
		x := -745 * float64(i) / 2000000
		want := math.Exp(x)
		got := expNeg(x)
		if want == 0 || x < -708 {
			if got > 1e-300 {
				t.Fatalf("expNeg(%g) = %g, want ≈ 0", x, got)
			}
			continue
		}
		worst = max(worst, math.Abs(got-want)/want)
	}
	if worst > 1e-8 {
		t.Errorf("largest relative error %g", worst)
	}
	if expNeg(0) != 1 || expNeg(math.Inf(-1)) != 0 {
		t.Errorf("expNeg(0) = %g, expNeg(-Inf) = %g", expNeg(0), expNeg(math.Inf(-1)))
	}
}
