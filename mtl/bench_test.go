package mtl

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
)

// BenchmarkStep times one training step of the reference shape (batch
// 1,024, 512 inputs, a 256-wide shared layer, 8 tasks of 10 classes) on the
// CPU backend and reports its allocations.
func BenchmarkStep(b *testing.B) {
	for _, act := range []backend.Activation{backend.Identity, backend.ReLU} {
		for _, m := range []Method{Equal, PCGrad} {
			b.Run(fmt.Sprintf("%s/%s", act, m), func(b *testing.B) {
				cfg := DefaultConfig()
				cfg.Weighting.Method = m
				benchSteps(b, act, cfg)
			})
		}
	}
}

// BenchmarkStepDropout times the reference step with dropout at 0.1 and
// without, for ReLU (dropped in place) and tanh (φ kept apart): the cost of
// dropout is the ratio of the two.
func BenchmarkStepDropout(b *testing.B) {
	for _, act := range []backend.Activation{backend.ReLU, backend.Tanh} {
		for _, p := range []float64{0, 0.1} {
			b.Run(fmt.Sprintf("%s/dropout=%g", act, p), func(b *testing.B) {
				cfg := DefaultConfig()
				cfg.Dropout = p
				benchSteps(b, act, cfg)
			})
		}
	}
}

// benchSteps times steps of the reference shape with φ act and cfg's
// weighting and dropout, with SGD at batch 1,024.
func benchSteps(b *testing.B, act backend.Activation, cfg Config) {
	be, err := cpu.New(backend.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	spec := Spec{Inputs: 512, Hidden: []int{256}, Activation: act}
	for t := range 8 {
		spec.Tasks = append(spec.Tasks, Task{Name: fmt.Sprint(t), Type: Multiclass, Classes: 10})
	}
	rng := rand.New(rand.NewPCG(1, 1))
	d := &Dataset{N: 4096, X: make([]float32, 4096*512)}
	for i := range d.X {
		d.X[i] = float32(rng.NormFloat64())
	}
	for range spec.Tasks {
		y := make([]float32, d.N)
		for i := range y {
			y[i] = float32(rng.IntN(10))
		}
		d.Labels = append(d.Labels, y)
		d.Groups = append(d.Groups, nil)
	}
	cfg.Batch, cfg.Optimizer, cfg.LR = 1024, SGD, 0.01
	model, err := NewModel(spec, d, 1)
	if err != nil {
		b.Fatal(err)
	}
	tr, err := NewTrainer(be, model, cfg, d, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	tr.state.RNG, _ = tr.data.rng.MarshalBinary()
	if err := tr.shuffle(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := tr.step(i%4, i%4*1024, 1024); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N*1024)/b.Elapsed().Seconds(), "rows/s")
}
