package cpu_test

import (
	"math/rand/v2"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
)

// BenchmarkLossGrad is the loss of the reference workload's batch: 1,024
// rows, 8 softmax tasks of 10 classes.
func BenchmarkLossGrad(b *testing.B) {
	for _, threads := range []int{1, 2} {
		b.Run(map[int]string{1: "1thread", 2: "2threads"}[threads], func(b *testing.B) {
			be, err := cpu.New(backend.Options{BLAS: "gonum", Threads: threads})
			if err != nil {
				b.Fatal(err)
			}
			defer be.Close()
			const rows, tasks, k = 1024, 8, 10
			rng := rand.New(rand.NewPCG(1, 1))
			z := make([]float32, rows*tasks*k)
			for i := range z {
				z[i] = float32(rng.NormFloat64())
			}
			y := make([]float32, rows*2*tasks)
			var lt []backend.LossTask
			for t := range tasks {
				lt = append(lt, backend.LossTask{Kind: backend.Softmax, Col: t * k, Classes: k, LabelCol: 2 * t, MaskCol: 2*t + 1, GroupCol: -1, PosWeight: 1})
				for i := range rows {
					y[i*2*tasks+2*t] = float32(rng.IntN(k))
					y[i*2*tasks+2*t+1] = 1
				}
			}
			zb, _ := be.Upload(z)
			yb, _ := be.Upload(y)
			gb, _ := be.Alloc(backend.Float32, len(z))
			w, _ := be.Upload([]float32{1, 1, 1, 1, 1, 1, 1, 1})
			s, _ := be.Alloc(backend.Float32, 2*tasks)
			tab, err := backend.NewLossTable(be, lt, tasks*k, 2*tasks)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				be.LossGrad(backend.Dense(zb, 0, rows, tasks*k), backend.Dense(yb, 0, rows, 2*tasks), tab, backend.Whole(w), backend.Dense(gb, 0, rows, tasks*k), backend.Whole(s))
			}
		})
	}
}

// BenchmarkDropout masks the reference workload's hidden layer (1,024 rows
// of 256) in place, next to BiasAct with ReLU on the same matrix, the
// element-wise operation it follows.
func BenchmarkDropout(b *testing.B) {
	be, err := cpu.New(backend.Options{BLAS: "gonum", Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	const rows, cols = 1024, 256
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	buf, _ := be.Upload(x)
	bias, _ := be.Alloc(backend.Float32, cols)
	m := backend.Dense(buf, 0, rows, cols)
	b.Run("Dropout", func(b *testing.B) {
		for b.Loop() {
			be.Dropout(m, m, 0x243f6a8885a308d3, 0, 0.1)
		}
	})
	b.Run("BiasAct", func(b *testing.B) {
		for b.Loop() {
			be.BiasAct(m, backend.Whole(bias), backend.ReLU)
		}
	})
}

// BenchmarkMoE runs the element-wise and mixture operations of the MMoE
// reference workload's step (bench --arch mmoe): 1,024 rows, 8 experts of
// 256, a gate of 8 slots for each of 8 tasks, on 1 and 2 threads. The
// matrices hold normal values, so ReLU's sign is a coin toss per element.
func BenchmarkMoE(b *testing.B) {
	const rows, experts, width, tasks = 1024, 8, 256, 8
	for _, threads := range []int{1, 2} {
		be, err := cpu.New(backend.Options{BLAS: "gonum", Threads: threads})
		if err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		normal := func(n int) backend.Buffer {
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(rng.NormFloat64())
			}
			buf, err := be.Upload(v)
			if err != nil {
				b.Fatal(err)
			}
			return buf
		}
		var starts, slots []int
		for t := range tasks {
			starts = append(starts, t*experts)
			for e := range experts {
				slots = append(slots, e)
			}
		}
		starts = append(starts, len(slots))
		tab, err := backend.NewMixTable(be, starts, slots, experts, width)
		if err != nil {
			b.Fatal(err)
		}
		h := backend.Dense(normal(rows*experts*width), 0, rows, experts*width)
		dh := backend.Dense(normal(rows*experts*width), 0, rows, experts*width)
		out := backend.Dense(normal(rows*experts*width), 0, rows, experts*width)
		bias := backend.Whole(normal(experts * width))
		gates := backend.Dense(normal(rows*len(slots)), 0, rows, len(slots))
		dGates := backend.Dense(normal(rows*len(slots)), 0, rows, len(slots))
		mix := backend.Dense(normal(rows*tasks*width), 0, rows, tasks*width)
		dMix := backend.Dense(normal(rows*tasks*width), 0, rows, tasks*width)
		name := map[int]string{1: "1thread", 2: "2threads"}[threads]
		b.Run("Mix/"+name, func(b *testing.B) {
			for b.Loop() {
				be.Mix(mix, gates, h, tab)
			}
		})
		b.Run("MixGrad/"+name, func(b *testing.B) {
			for b.Loop() {
				be.MixGrad(dGates, dh, dMix, gates, h, tab)
			}
		})
		b.Run("BiasAct/"+name, func(b *testing.B) {
			for b.Loop() {
				be.Copy(backend.Whole(out.Buf), backend.Whole(dh.Buf))
				be.BiasAct(out, bias, backend.ReLU)
			}
		})
		b.Run("ActGrad/"+name, func(b *testing.B) {
			for b.Loop() {
				be.Copy(backend.Whole(out.Buf), backend.Whole(h.Buf))
				be.ActGrad(out, dh, backend.ReLU)
			}
		})
		b.Run("Copy/"+name, func(b *testing.B) {
			for b.Loop() {
				be.Copy(backend.Whole(out.Buf), backend.Whole(h.Buf))
			}
		})
		be.Close()
	}
}
