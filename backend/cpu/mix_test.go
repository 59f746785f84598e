package cpu_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// TestMixSumsInOrder: Mix and MixGrad add their terms in the order the
// interface states (slots in increasing order; columns in increasing
// order for a gate's gradient), so that the CPU's results are exactly
// those of the plain float32 loops, whatever blocking the kernels use to
// go faster. Layouts: MMoE (every group reads every expert), PLE (groups
// of 5 and 7 slots over task and shared experts, not multiples of a
// block) and a single expert.
func TestMixSumsInOrder(t *testing.T) {
	b := open(t, backend.Options{BLAS: "gonum", Threads: 2})
	layouts := []struct {
		name          string
		starts, slots []int
		experts       int
	}{
		{"mmoe", []int{0, 8, 16, 24}, []int{0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7}, 8},
		{"ple", []int{0, 5, 10, 17}, []int{0, 1, 4, 5, 6, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6}, 7},
		{"one", []int{0, 1}, []int{0}, 1},
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for _, l := range layouts {
		const rows, w = 37, 19
		groups, ns := len(l.starts)-1, len(l.slots)
		normal := func(n int) []float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(rng.NormFloat64())
			}
			return v
		}
		g, x, dd := normal(rows*ns), normal(rows*l.experts*w), normal(rows*groups*w)
		upload := func(v []float32) backend.Buffer {
			buf, err := b.Upload(append([]float32(nil), v...))
			if err != nil {
				t.Fatal(err)
			}
			return buf
		}
		tab, err := backend.NewMixTable(b, l.starts, l.slots, l.experts, w)
		if err != nil {
			t.Fatal(err)
		}
		gm, xm := backend.Dense(upload(g), 0, rows, ns), backend.Dense(upload(x), 0, rows, l.experts*w)
		ddm := backend.Dense(upload(dd), 0, rows, groups*w)
		mix, _ := b.Alloc(backend.Float32, rows*groups*w)
		dg, _ := b.Alloc(backend.Float32, rows*ns)
		dx, _ := b.Alloc(backend.Float32, rows*l.experts*w)
		b.Mix(backend.Dense(mix, 0, rows, groups*w), gm, xm, tab)
		b.MixGrad(backend.Dense(dg, 0, rows, ns), backend.Dense(dx, 0, rows, l.experts*w), ddm, gm, xm, tab)
		got := func(buf backend.Buffer) []float32 {
			v := make([]float32, buf.Len())
			if err := b.ReadFloat32(v, buf, 0); err != nil {
				t.Fatal(err)
			}
			return v
		}
		gotMix, gotDG, gotDX := got(mix), got(dg), got(dx)
		for i := range rows {
			for q := range groups {
				for j := range w {
					var want float32
					for s := l.starts[q]; s < l.starts[q+1]; s++ {
						want += g[i*ns+s] * x[(i*l.experts+l.slots[s])*w+j]
					}
					if v := gotMix[(i*groups+q)*w+j]; v != want {
						t.Fatalf("%s: Mix[%d, %d·w+%d] = %v, want %v", l.name, i, q, j, v, want)
					}
				}
				for s := l.starts[q]; s < l.starts[q+1]; s++ {
					var want float32
					for j := range w {
						want += dd[(i*groups+q)*w+j] * x[(i*l.experts+l.slots[s])*w+j]
					}
					if v := gotDG[i*ns+s]; v != want {
						t.Fatalf("%s: dGates[%d, %d] = %v, want %v", l.name, i, s, v, want)
					}
				}
			}
			for e := range l.experts {
				for j := range w {
					var want float32
					for q := range groups {
						for s := l.starts[q]; s < l.starts[q+1]; s++ {
							if l.slots[s] == e {
								want += g[i*ns+s] * dd[(i*groups+q)*w+j]
							}
						}
					}
					if v := gotDX[(i*l.experts+e)*w+j]; v != want {
						t.Fatalf("%s: dExperts[%d, %d·w+%d] = %v, want %v", l.name, i, e, j, v, want)
					}
				}
			}
		}
	}
}

// TestMixZeroGateKeepsNaN: a gate of exactly 0 still multiplies its
// expert's row, so that an infinite element gives NaN as the plain loop
// does, rather than being skipped as a zero scale is by BLAS's axpy.
func TestMixZeroGateKeepsNaN(t *testing.T) {
	b := open(t, backend.Options{BLAS: "gonum", Threads: 1})
	const w = 9
	inf := float32(math.Inf(1))
	upload := func(v []float32) backend.Buffer {
		buf, err := b.Upload(v)
		if err != nil {
			t.Fatal(err)
		}
		return buf
	}
	tab, err := backend.NewMixTable(b, []int{0, 2}, []int{0, 1}, 2, w)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 2*w)
	dd := make([]float32, w)
	for j := range w {
		x[j], x[w+j], dd[j] = 1, 1, 1
	}
	x[w+3] = inf // expert 1, gated by 0
	dd[5] = inf
	gm := backend.Dense(upload([]float32{1, 0}), 0, 1, 2)
	xm := backend.Dense(upload(x), 0, 1, 2*w)
	mix, _ := b.Alloc(backend.Float32, w)
	dg, _ := b.Alloc(backend.Float32, 2)
	dx, _ := b.Alloc(backend.Float32, 2*w)
	b.Mix(backend.Dense(mix, 0, 1, w), gm, xm, tab)
	b.MixGrad(backend.Dense(dg, 0, 1, 2), backend.Dense(dx, 0, 1, 2*w), backend.Dense(upload(dd), 0, 1, w), gm, xm, tab)
	read := func(buf backend.Buffer) []float32 {
		v := make([]float32, buf.Len())
		if err := b.ReadFloat32(v, buf, 0); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := read(mix); !math.IsNaN(float64(v[3])) || v[2] != 1 {
		t.Errorf("Mix with gate 0 on an infinite element: %v, want NaN at 3 and 1 elsewhere", v)
	}
	if v := read(dx); !math.IsNaN(float64(v[w+5])) || v[w+4] != 0 || v[5] != inf {
		t.Errorf("MixGrad dExperts with gate 0 on an infinite gradient: %v, want NaN at w+5, 0 at w+4, +Inf at 5", v)
	}
}
