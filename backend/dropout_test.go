package backend

import (
	"math"
	"testing"
)

// TestDropoutHash pins the hash of dropout masks to values computed by an
// independent implementation of MurmurHash3's finaliser: a changed hash
// would give a resumed run other masks than the run it continues.
func TestDropoutHash(t *testing.T) {
	if got := fmix32(1); got != 0x514e28b7 {
		t.Errorf("fmix32(1) = %#x, want MurmurHash3's 0x514e28b7", got)
	}
	for _, c := range []struct {
		key   uint64
		index uint32
		want  uint32
	}{
		{0, 0, 0},
		{0, 1, 0x2fef5c8f},
		{0x243f6a8885a308d3, 0, 0xab5f10c6},
		{0x243f6a8885a308d3, 12345, 0xdeabe9b7},
		{math.MaxUint64, math.MaxUint32, 0x81f16f39},
	} {
		if got := DropoutHash(c.key, c.index); got != c.want {
			t.Errorf("DropoutHash(%#x, %d) = %#x, want %#x", c.key, c.index, got, c.want)
		}
	}
}

func TestDropoutThresholdAndScale(t *testing.T) {
	for _, c := range []struct {
		p         float32
		threshold uint32
		scale     float32
	}{
		{0, 0, 1},
		{0.5, 1 << 23, 2},
		{0.75, 3 << 22, 4},
		{0.1, 1677722, float32(16777216.0 / (16777216 - 1677722))},
	} {
		if got := DropoutThreshold(c.p); got != c.threshold {
			t.Errorf("DropoutThreshold(%g) = %d, want %d", c.p, got, c.threshold)
		}
		if got := DropoutScale(c.p); got != c.scale {
			t.Errorf("DropoutScale(%g) = %g, want %g", c.p, got, c.scale)
		}
		if math.Abs(float64(DropoutScale(c.p))*(1-float64(c.p))-1) > 1e-6 {
			t.Errorf("DropoutScale(%g) = %g is not 1/(1−p)", c.p, DropoutScale(c.p))
		}
	}
	// Rate 0 keeps every element, even one whose hash is 0.
	if !DropoutKeep(0, 0, 0) {
		t.Error("rate 0 drops an element")
	}
}

func TestCheckDropout(t *testing.T) {
	m := Dense(fakeBuffer(20), 0, 4, 5)
	mustPanic(t, "rate 1 outside [0, 1)", func() { CheckDropout(m, m, 0, 1) })
	mustPanic(t, "rate -0.1 outside [0, 1)", func() { CheckDropout(m, m, 0, -0.1) })
	mustPanic(t, "rate NaN outside [0, 1)", func() { CheckDropout(m, m, 0, float32(math.NaN())) })
	mustPanic(t, "shapes 4×5 and 5×4 differ", func() { CheckDropout(m, Dense(fakeBuffer(20), 0, 5, 4), 0, 0.1) })
	mustPanic(t, "first row -1 < 0", func() { CheckDropout(m, m, -1, 0.5) })
	mustPanic(t, "4×5 elements from row 858993459 do not have 32-bit indices", func() { CheckDropout(m, m, math.MaxUint32/5, 0.5) })
	CheckDropout(m, m, 3, 0.5)
}
