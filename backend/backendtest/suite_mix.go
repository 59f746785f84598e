package backendtest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// The operations of mixture-of-experts layers and embedding tables.

func init() {
	cases = append(cases,
		testCase{"Mix", caseMix},
		testCase{"MixGrad", caseMixGrad},
		testCase{"SoftmaxGroups", caseSoftmaxGroups},
		testCase{"SegmentSum", caseSegmentSum},
		testCase{"AdamRows", caseAdamRows},
		testCase{"SGDRows", caseSGDRows},
	)
}

// mixLayout is a mixture to test: MMoE's (every group reads every expert)
// and PLE's (task groups read their own experts and the shared ones, and a
// shared group reads all).
type mixLayout struct {
	name            string
	starts, experts []int
	numExperts      int
}

func mixLayouts() []mixLayout {
	mmoe := mixLayout{name: "mmoe", numExperts: 4}
	for q := range 3 {
		mmoe.starts = append(mmoe.starts, q*4)
		mmoe.experts = append(mmoe.experts, 0, 1, 2, 3)
	}
	mmoe.starts = append(mmoe.starts, 12)
	// PLE: 2 tasks with 2 experts each (0-1, 2-3) and 3 shared (4-6).
	ple := mixLayout{name: "ple", numExperts: 7, starts: []int{0, 5, 10, 17},
		experts: []int{0, 1, 4, 5, 6, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6}}
	one := mixLayout{name: "one", numExperts: 1, starts: []int{0, 1}, experts: []int{0}}
	return []mixLayout{mmoe, ple, one}
}

// tables uploads a mixture to both backends.
func (e *env) tables(l mixLayout, width int) [2]backend.MixTable {
	var t [2]backend.MixTable
	var err error
	t[0], err = backend.NewMixTable(e.got, l.starts, l.experts, l.numExperts, width)
	e.must(err)
	t[1], err = backend.NewMixTable(e.want, l.starts, l.experts, l.numExperts, width)
	e.must(err)
	e.t.Cleanup(func() { t[0].Free(e.got); t[1].Free(e.want) })
	return t
}

func (e *env) mixCases(run func(sub *env, l mixLayout, rows, width int)) {
	for _, l := range mixLayouts() {
		for _, s := range [][2]int{{1, 1}, {7, 5}, {1030, 17}} {
			rows, width := s[0], s[1]
			e.t.Run(fmt.Sprintf("%s/%dx%d", l.name, rows, width), func(t *testing.T) {
				sub := &env{t: t, got: e.got, want: e.want, rng: e.rng}
				defer sub.free()
				run(sub, l, rows, width)
			})
		}
	}
}

func caseMix(e *env) {
	e.mixCases(func(e *env, l mixLayout, rows, width int) {
		t := e.tables(l, width)
		gates := e.mat("gates", rows, len(l.experts), 0, 1, true, true)
		experts := e.mat("experts", rows, l.numExperts*width, -2, 2, false, true)
		dst := e.mat("dst", rows, (len(l.starts)-1)*width, -1, 1, true, false)
		e.got.Mix(dst.g(), gates.g(), experts.g(), t[0])
		e.want.Mix(dst.w(), gates.w(), experts.w(), t[1])
		e.check(dst.p, tight)
	})
}

func caseMixGrad(e *env) {
	e.mixCases(func(e *env, l mixLayout, rows, width int) {
		t := e.tables(l, width)
		gates := e.mat("gates", rows, len(l.experts), 0, 1, true, true)
		experts := e.mat("experts", rows, l.numExperts*width, -2, 2, false, true)
		dDst := e.mat("dDst", rows, (len(l.starts)-1)*width, -1, 1, false, true)
		dGates := e.mat("dGates", rows, len(l.experts), -1, 1, false, false)
		dExperts := e.mat("dExperts", rows, l.numExperts*width, -1, 1, true, false)
		e.got.MixGrad(dGates.g(), dExperts.g(), dDst.g(), gates.g(), experts.g(), t[0])
		e.want.MixGrad(dGates.w(), dExperts.w(), dDst.w(), gates.w(), experts.w(), t[1])
		e.check(dGates.p, Tol{Abs: 1e-5, Rel: 1e-5})
		e.check(dExperts.p, Tol{Abs: 1e-5, Rel: 1e-5})
	})
}

// caseSoftmaxGroups checks the softmax of each group and its gradient,
// with logits large enough that a softmax without its maximum subtracted
// overflows.
func caseSoftmaxGroups(e *env) {
	e.mixCases(func(e *env, l mixLayout, rows, _ int) {
		t := e.tables(l, 1)
		m := e.mat("logits", rows, len(l.experts), -30, 30, true, false)
		m.p.init[m.off] = 120
		e.got.WriteFloat32(m.p.got, m.off, []float32{120})
		e.want.WriteFloat32(m.p.want, m.off, []float32{120})
		e.got.SoftmaxGroups(m.g(), t[0])
		e.want.SoftmaxGroups(m.w(), t[1])
		e.check(m.p, loose)
		// The gradient, through the probabilities just computed (read back
		// from the reference side and given to both).
		probs := e.mat("probs", rows, len(l.experts), 0, 1, false, true)
		pw := e.read(e.want, m.p.want)
		var pv []float32
		for i := range rows {
			pv = append(pv, pw[m.off+i*m.stride:m.off+i*m.stride+m.cols]...)
		}
		e.got.WriteFloat32(probs.p.got, probs.off, pv)
		e.want.WriteFloat32(probs.p.want, probs.off, pv)
		copy(probs.p.init[probs.off:], pv)
		grad := e.mat("grad", rows, len(l.experts), -1, 1, true, false)
		e.got.SoftmaxGroupsGrad(grad.g(), probs.g(), t[0])
		e.want.SoftmaxGroupsGrad(grad.w(), probs.w(), t[1])
		e.check(grad.p, Tol{Abs: 1e-6, Rel: 1e-5})
	})
}

// segments draws the batch rows that use each of rows touched table rows:
// every batch position once, grouped by table row in increasing order of
// position, as a trainer would build them.
func (e *env) segments(batch, touched int) (starts, pos []int32) {
	owner := make([]int, batch)
	for i := range owner {
		owner[i] = e.rng.IntN(touched)
	}
	owner[0] = touched - 1 // the last segment is never empty
	starts = append(starts, 0)
	for u := range touched {
		for i, o := range owner {
			if o == u {
				pos = append(pos, int32(i))
			}
		}
		starts = append(starts, int32(len(pos)))
	}
	return starts, pos
}

func caseSegmentSum(e *env) {
	for _, s := range [][3]int{{1, 1, 1}, {17, 5, 3}, {1030, 200, 17}} {
		batch, touched, cols := s[0], s[1], s[2]
		e.t.Run(fmt.Sprintf("%dx%d/%d", batch, cols, touched), func(t *testing.T) {
			sub := &env{t: t, got: e.got, want: e.want, rng: e.rng}
			defer sub.free()
			starts, pos := sub.segments(batch, touched)
			// Read at offsets, as a trainer reads one step's segments out
			// of an epoch's.
			sp := sub.int32s("starts", append([]int32{-9, -9}, starts...))
			pp := sub.int32s("pos", append([]int32{-9, -9, -9}, pos...))
			src := sub.mat("src", batch, cols, -1, 1, true, true)
			dst := sub.mat("dst", touched, cols, -1, 1, true, false)
			sub.got.SegmentSum(dst.g(), src.g(), sp.got, 2, pp.got, 3)
			sub.want.SegmentSum(dst.w(), src.w(), sp.want, 2, pp.want, 3)
			sub.check(dst.p, Tol{Abs: 1e-6 * float64(batch), Rel: 1e-6})
		})
	}
}

// rowsSetup makes a table of 300×cols parameters (and states), a gradient
// for the listed distinct rows, and clipping at a norm the gradient
// exceeds.
func (e *env) rowsSetup(cols, states int) (param *pair, mats [][2]backend.Mat, state []*pair, rows *pair, clip [2]backend.Clip) {
	const tableRows = 300
	touched := []int32{299, 0, 17, 150, 151, 42}
	p := e.mat("param", tableRows, cols, -1, 1, true, false)
	g := e.mat("grad", len(touched), cols, -1, 1, true, true)
	mats = append(mats, [2]backend.Mat{p.g(), p.w()}, [2]backend.Mat{g.g(), g.w()})
	for range states {
		s := e.mat("state", tableRows, cols, 0, 0.1, true, false)
		mats = append(mats, [2]backend.Mat{s.g(), s.w()})
		state = append(state, s.p)
	}
	rows = e.int32s("rows", append([]int32{-1}, touched...))
	// The gradient's norm, over its whole buffer (sentinels included) so
	// that both sides compute it the same way and it is large.
	_, ng, nw := e.vec("normsq", 1, 0, 1, false)
	e.got.SumSquares(ng, backend.Whole(g.p.got))
	e.want.SumSquares(nw, backend.Whole(g.p.want))
	clip = [2]backend.Clip{{NormSq: ng, MaxNorm: 0.5}, {NormSq: nw, MaxNorm: 0.5}}
	return p.p, mats, state, rows, clip
}

func caseAdamRows(e *env) {
	for _, hp := range []backend.Adam{
		{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8},
		{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Decoupled: true},
		{LR: 3e-3, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, WeightDecay: 0.1},
	} {
		for _, clipped := range []bool{false, true} {
			e.t.Run(fmt.Sprintf("%+v/clip=%v", hp, clipped), func(t *testing.T) {
				sub := &env{t: t, got: e.got, want: e.want, rng: e.rng}
				defer sub.free()
				p, m, state, rows, clip := sub.rowsSetup(7, 2)
				if !clipped {
					clip[0].MaxNorm, clip[1].MaxNorm = 0, 0
				}
				for step := 4; step <= 6; step++ {
					hp.Step = step
					sub.got.AdamRows(hp, m[0][0], m[1][0], m[2][0], m[3][0], rows.got, 1, clip[0])
					sub.want.AdamRows(hp, m[0][1], m[1][1], m[2][1], m[3][1], rows.want, 1, clip[1])
				}
				sub.check(p, loose)
				for _, s := range state {
					sub.check(s, loose)
				}
				sub.untouched(p, m[0][0], []int32{299, 0, 17, 150, 151, 42})
			})
		}
	}
}

func caseSGDRows(e *env) {
	for _, hp := range []backend.SGD{
		{LR: 0.1},
		{LR: 0.05, Momentum: 0.9, WeightDecay: 1e-2},
		{LR: 0.05, Momentum: 0.9, WeightDecay: 1e-3, Nesterov: true},
	} {
		for _, clipped := range []bool{false, true} {
			e.t.Run(fmt.Sprintf("%+v/clip=%v", hp, clipped), func(t *testing.T) {
				sub := &env{t: t, got: e.got, want: e.want, rng: e.rng}
				defer sub.free()
				p, m, state, rows, clip := sub.rowsSetup(5, 1)
				if !clipped {
					clip[0].MaxNorm, clip[1].MaxNorm = 0, 0
				}
				for range 3 {
					sub.got.SGDRows(hp, m[0][0], m[1][0], m[2][0], rows.got, 1, clip[0])
					sub.want.SGDRows(hp, m[0][1], m[1][1], m[2][1], rows.want, 1, clip[1])
				}
				sub.check(p, tight)
				sub.check(state[0], tight)
				sub.untouched(p, m[0][0], []int32{299, 0, 17, 150, 151, 42})
			})
		}
	}
}

// untouched checks that the rows of a table the step did not list are
// bit-identical to what they were on the backend under test.
func (e *env) untouched(p *pair, m backend.Mat, touched []int32) {
	e.t.Helper()
	got := e.read(e.got, p.got)
	for r := range m.Rows {
		if slices.Contains(touched, int32(r)) {
			continue
		}
		for j := range m.Cols {
			i := m.Off + r*m.Stride + j
			if got[i] != p.init[i] {
				e.t.Fatalf("row %d was not listed and changed: %g, was %g", r, got[i], p.init[i])
			}
		}
	}
}
