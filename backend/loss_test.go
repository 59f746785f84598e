package backend

import (
	"math"
	"strings"
	"testing"
)

func TestValidateTasks(t *testing.T) {
	soft := LossTask{Kind: Softmax, Col: 0, Classes: 3, LabelCol: 0, MaskCol: 1, GroupCol: -1, PosWeight: 1}
	sig := LossTask{Kind: Sigmoid, Col: 3, Classes: 1, LabelCol: 2, MaskCol: 3, GroupCol: -1, PosWeight: 2}
	fam := LossTask{Kind: Squared, Col: 4, Classes: 1, DevCol: 5, Groups: 3, LabelCol: 4, MaskCol: 5, GroupCol: 6, PosWeight: 1}
	if err := ValidateTasks([]LossTask{soft, sig, fam}, 8, 7); err != nil {
		t.Fatalf("valid tasks: %v", err)
	}
	with := func(f func(*LossTask)) []LossTask {
		bad := fam
		f(&bad)
		return []LossTask{soft, sig, bad}
	}
	for _, c := range []struct {
		tasks []LossTask
		want  string
	}{
		{nil, "no tasks"},
		{with(func(t *LossTask) { t.Col = 3 }), "both read logit column 3"},
		{with(func(t *LossTask) { t.DevCol = 2 }), "both read logit column 2"},
		{with(func(t *LossTask) { t.DevCol = 6 }), "deviation columns [6, 9) outside 8"},
		{with(func(t *LossTask) { t.Kind = Softmax }), "softmax needs at least 2 classes"},
		{with(func(t *LossTask) { t.Classes = 2 }), "exactly one output"},
		{with(func(t *LossTask) { t.GroupCol = 7 }), "group column 7 outside 7"},
		{with(func(t *LossTask) { t.MaskCol = -1 }), "mask column -1"},
		{with(func(t *LossTask) { t.PosWeight = 0 }), "positive-class weight"},
		{with(func(t *LossTask) { t.Smoothing = 1 }), "label smoothing must be in [0, 1)"},
		{with(func(t *LossTask) { t.Smoothing = float32(math.NaN()) }), "label smoothing must be in [0, 1)"},
		{with(func(t *LossTask) { t.Kind = 9 }), "unknown loss kind"},
	} {
		err := ValidateTasks(c.tasks, 8, 7)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error containing %q", err, c.want)
		}
	}
}

func TestMatViews(t *testing.T) {
	buf := fakeBuffer(100)
	m := Dense(buf, 4, 6, 8)
	s := m.Slice(1, 3, 2, 5)
	if s.Off != 4+8+2 || s.Rows != 2 || s.Cols != 3 || s.Stride != 8 || s.Span() != 8+3 {
		t.Errorf("slice %+v", s)
	}
	m.Check("test", Float32)
	mustPanic(t, "exceeds buffer of 100", func() { Dense(buf, 60, 6, 8).Check("test", Float32) })
	mustPanic(t, "out of range", func() { m.Slice(0, 7, 0, 1) })
	mustPanic(t, "float32 buffer where int32", func() { m.Check("test", Int32) })
	v := Whole(buf).Slice(10, 30)
	if mv := v.AsMat(4, 5); mv.Off != 10 || mv.Stride != 5 {
		t.Errorf("AsMat %+v", mv)
	}
	mustPanic(t, "AsMat", func() { v.AsMat(3, 3) })
}

type fakeBuffer int

func (f fakeBuffer) Len() int     { return int(f) }
func (f fakeBuffer) DType() DType { return Float32 }

func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), want) {
			t.Errorf("panic %v, want one containing %q", r, want)
		}
	}()
	f()
}

func TestAdamCorrections(t *testing.T) {
	hp := Adam{Beta1: 0.9, Beta2: 0.999, Step: 2}
	c1, c2 := hp.Corrections()
	b1, b2 := float64(hp.Beta1), float64(hp.Beta2)
	if c1 != float32(1/(1-b1*b1)) || c2 != float32(1/(1-b2*b2)) || c1 < 5.26 || c1 > 5.27 {
		t.Errorf("corrections %g, %g", c1, c2)
	}
}
