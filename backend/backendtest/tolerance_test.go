package backendtest

import (
	"math"
	"testing"
)

func TestWithin(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	for _, c := range []struct {
		got, want, abs, rel float64
		ok                  bool
	}{
		{1, 1, 0, 0, true},
		{1, 1.1, 0.2, 0, true},
		{1, 1.3, 0.2, 0, false},
		// The relative tolerance scales with the larger operand, whichever
		// side it is on: a version that took one operand twice would fail
		// one of these two.
		{1, 2, 0, 0.6, true},
		{2, 1, 0, 0.6, true},
		{1, 2, 0, 0.4, false},
		{2, 1, 0, 0.4, false},
		{-1, 1, 0, 1, false}, // |diff| 2 > 1·1
		{-1, 1, 0, 2, true},
		{0, 1e-9, 1e-8, 0, true},
		{0, 1e-7, 1e-8, 0, false},
		{nan, nan, 1, 1, false},
		{nan, 0, 1, 1, false},
		{inf, inf, 0, 0, true},
		{inf, -inf, 1, 1, false},
		{inf, 1e308, 1, 1, false},
	} {
		if got := Within(c.got, c.want, c.abs, c.rel); got != c.ok {
			t.Errorf("Within(%g, %g, %g, %g) = %v, want %v", c.got, c.want, c.abs, c.rel, got, c.ok)
		}
	}
}

func TestMismatches(t *testing.T) {
	if m := Mismatches([]float32{1, 2, 3}, []float32{1, 2, 3}, exact); m != "" {
		t.Errorf("equal slices: %q", m)
	}
	if m := Mismatches([]float32{1, 2.5, 3}, []float32{1, 2, 3}, Tol{Abs: 0.1}); m == "" {
		t.Error("a difference of 0.5 passed an absolute tolerance of 0.1")
	}
	if m := Mismatches([]float32{1, 2.5}, []float32{1, 2}, Tol{Bound: []float64{0, 0.6}}); m != "" {
		t.Errorf("per-element bound 0.6 rejected a difference of 0.5: %q", m)
	}
	if m := Mismatches([]float32{1, 2.5}, []float32{1, 2}, Tol{Abs: 1, Bound: []float64{1, 0.1}}); m == "" {
		t.Error("per-element bound did not replace the absolute tolerance")
	}
	if m := Mismatches([]float32{1}, []float32{1, 2}, exact); m == "" {
		t.Error("different lengths passed")
	}
}

func TestNormErr(t *testing.T) {
	if e := NormErr([]float32{3, 4}, []float32{3, 4}); e != 0 {
		t.Errorf("NormErr of equal = %g", e)
	}
	if e := NormErr([]float32{3, 4.5}, []float32{3, 4}); math.Abs(e-0.1) > 1e-12 {
		t.Errorf("NormErr = %g, want 0.1", e)
	}
	if e := NormErr([]float32{0.5}, []float32{0}); e != 0.5 {
		t.Errorf("NormErr against zero = %g, want 0.5", e)
	}
}
