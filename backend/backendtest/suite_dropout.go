package backendtest

import (
	"fmt"
	"math"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// Dropout and label smoothing.

func init() {
	cases = append(cases,
		testCase{"Dropout", caseDropout},
		testCase{"Dropout/rate", caseDropoutRate},
		testCase{"LossGrad/smoothing", caseLossSmoothing},
	)
}

// nonZero returns a rows×cols view of values whose magnitude is in
// [0.5, 2), either sign, so that a zero in the output is a dropped element.
func (e *env) nonZero(name string, rows, cols int, padded, input bool) view {
	v := e.mat(name, rows, cols, 0.5, 2, padded, input)
	for i := range rows {
		for j := range cols {
			k := v.off + i*v.stride + j
			if e.rng.IntN(2) == 0 {
				v.p.init[k] = -v.p.init[k]
			}
		}
	}
	e.got.WriteFloat32(v.p.got, 0, v.p.init)
	e.want.WriteFloat32(v.p.want, 0, v.p.init)
	return v
}

// checkMask requires the elements of dst that backend.DropoutKeep drops to
// be 0 on the backend under test, and the others not, so that every
// backend draws the very mask the documented hash gives.
func (e *env) checkMask(dst view, key uint64, row0 int, p float32) {
	e.t.Helper()
	got := e.read(e.got, dst.p.got)
	for i := range dst.rows {
		for j := range dst.cols {
			keep := backend.DropoutKeep(key, uint32((row0+i)*dst.cols+j), p)
			if v := got[dst.off+i*dst.stride+j]; (v != 0) != keep {
				e.t.Fatalf("element (%d, %d) is %g; the mask of key %#x at rate %g keeps it: %v", i, j, v, key, p, keep)
			}
		}
	}
}

func caseDropout(e *env) {
	for _, p := range []float32{0, 0.1, 0.5, 0.9} {
		for _, s := range [][2]int{{1, 1}, {7, 17}, {1030, 33}} {
			for _, c := range []struct {
				inPlace bool
				row0    int
			}{{false, 0}, {true, 0}, {false, 13}, {true, 13}} {
				inPlace, row0 := c.inPlace, c.row0
				// row0: the rows of a taller operand, from its row 13.
				e.t.Run(fmt.Sprintf("p=%g/%dx%d/inPlace=%v/row0=%d", p, s[0], s[1], inPlace, row0), func(t *testing.T) {
					sub := &env{t: t, got: e.got, want: e.want, rng: e.rng}
					defer sub.free()
					key := sub.rng.Uint64()
					src := sub.nonZero("src", s[0], s[1], true, !inPlace)
					dst := src
					if !inPlace {
						// Another offset and stride: the mask follows the
						// element's place in the operand, not the buffer.
						dst = sub.mat("dst", s[0], s[1], -1, 1, false, false)
					}
					sub.got.Dropout(dst.g(), src.g(), key, row0, p)
					sub.want.Dropout(dst.w(), src.w(), key, row0, p)
					sub.check(dst.p, tight)
					sub.checkMask(dst, key, row0, p)
				})
			}
		}
	}
}

// caseDropoutRate checks, on 100,000 elements, that the share of dropped
// elements is p within four standard deviations, that kept elements are
// scaled by 1/(1−p), that a mask applied again with its key (as the
// backward pass does) drops nothing more, and that masks of neighbouring
// keys are independent: they share the kept elements of two independent
// draws, (1−p)².
func caseDropoutRate(e *env) {
	const rows, cols = 1000, 100
	for _, p := range []float32{0.1, 0.5} {
		e.t.Run(fmt.Sprint(p), func(t *testing.T) {
			sub := &env{t: t, got: e.got, want: e.want, rng: e.rng}
			defer sub.free()
			src := sub.nonZero("src", rows, cols, false, true)
			a := sub.mat("a", rows, cols, 0, 1, false, false)
			b := sub.mat("b", rows, cols, 0, 1, false, false)
			const key = 0x243f6a8885a308d3
			sub.got.Dropout(a.g(), src.g(), key, 0, p)
			sub.got.Dropout(b.g(), src.g(), key+1, 0, p)
			av, bv := sub.read(sub.got, a.p.got), sub.read(sub.got, b.p.got)
			n := float64(rows * cols)
			sd := math.Sqrt(float64(p) * (1 - float64(p)) / n)
			var dropped, both float64
			for i, x := range src.p.init[:rows*cols] {
				if av[i] == 0 {
					dropped++
				} else if want := x / (1 - p); math.Abs(float64(av[i]-want)) > 1e-6*math.Abs(float64(want)) {
					t.Fatalf("element %d kept as %g, want %g·1/(1−%g) = %g", i, av[i], x, p, want)
				}
				if av[i] != 0 && bv[i] != 0 {
					both++
				}
			}
			if share := dropped / n; math.Abs(share-float64(p)) > 4*sd {
				t.Errorf("dropped %.4f of the elements at rate %g", share, p)
			}
			q := 1 - float64(p)
			if share := both / n; math.Abs(share-q*q) > 4*math.Sqrt(q*q*(1-q*q)/n) {
				t.Errorf("keys %#x and %#x both keep %.4f of the elements, independent masks %.4f", uint64(key), uint64(key+1), share, q*q)
			}
			// The mask again, in place, with the same key: what it kept it
			// keeps (scaled once more), what it dropped stays 0.
			sub.got.Dropout(a.g(), a.g(), key, 0, p)
			again := sub.read(sub.got, a.p.got)
			for i := range rows * cols {
				if (again[i] == 0) != (av[i] == 0) {
					t.Fatalf("element %d: %g after the same mask twice, %g after once", i, again[i], av[i])
				}
			}
		})
	}
}

// caseLossSmoothing runs the loss with label smoothing on every task (the
// squared-error tasks ignore it).
func caseLossSmoothing(e *env) {
	for _, rows := range []int{7, 1030} {
		e.t.Run(fmt.Sprint(rows), func(t *testing.T) {
			sub := &env{t: t, got: e.got, want: e.want, rng: e.rng}
			defer sub.free()
			s := sub.lossSetup(rows, true)
			for i := range s.tasks {
				s.tasks[i].Smoothing = []float32{0.1, 0.3, 0.05}[i%3]
			}
			sub.runLoss(s)
		})
	}
}
