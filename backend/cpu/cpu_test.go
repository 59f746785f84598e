package cpu_test

import (
	"math"
	"slices"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/backendtest"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
)

func open(t *testing.T, opts backend.Options) *cpu.Backend {
	t.Helper()
	b, err := cpu.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestAgainstReference holds the CPU backend, the reference of every other
// backend, to plain float64 loops.
func TestAgainstReference(t *testing.T) {
	backendtest.Compare(t, open(t, backend.Options{BLAS: "gonum"}), backendtest.Reference{})
}

// TestSingleThreadAgainstReference runs the same checks with one thread, so
// that the sequential paths of every operation are covered too.
func TestSingleThreadAgainstReference(t *testing.T) {
	backendtest.Compare(t, open(t, backend.Options{BLAS: "gonum", Threads: 1}), backendtest.Reference{})
}

// TestThreadCountInvariant checks that reductions give bit-identical
// results whatever the number of threads.
func TestThreadCountInvariant(t *testing.T) {
	run := func(threads int) []float32 {
		b := open(t, backend.Options{BLAS: "gonum", Threads: threads})
		const rows, cols = 5000, 13
		data := make([]float32, rows*cols)
		for i := range data {
			data[i] = float32(math.Sin(float64(i)*0.7)) * 1e3
		}
		m, _ := b.Upload(data)
		out, _ := b.Alloc(backend.Float32, cols+1)
		b.ColSum(backend.Vec{Buf: out, Len: cols}, backend.Dense(m, 0, rows, cols), 1, 0)
		b.SumSquares(backend.Vec{Buf: out, Off: cols, Len: 1}, backend.Whole(m))
		res := make([]float32, cols+1)
		if err := b.ReadFloat32(res, out, 0); err != nil {
			t.Fatal(err)
		}
		return res
	}
	one := run(1)
	for _, n := range []int{2, 3, 8} {
		if got := run(n); !slices.Equal(got, one) {
			t.Fatalf("%d threads: %v, one thread: %v", n, got, one)
		}
	}
}

// TestSoftmaxStable feeds logits far outside exp's range: the loss must be
// finite and exact.
func TestSoftmaxStable(t *testing.T) {
	b := open(t, backend.Options{BLAS: "gonum"})
	tasks := []backend.LossTask{
		{Kind: backend.Softmax, Col: 0, Classes: 2, LabelCol: 0, MaskCol: 1, GroupCol: -1, PosWeight: 1},
		{Kind: backend.Sigmoid, Col: 2, Classes: 1, LabelCol: 2, MaskCol: 3, GroupCol: -1, PosWeight: 1},
	}
	tab, err := backend.NewLossTable(b, tasks, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	z, _ := b.Upload([]float32{1000, 0, -900})
	y, _ := b.Upload([]float32{1, 1, 1, 1})
	w, _ := b.Upload([]float32{1, 1})
	g, _ := b.Alloc(backend.Float32, 3)
	s, _ := b.Alloc(backend.Float32, 4)
	b.LossGrad(backend.Dense(z, 0, 1, 3), backend.Dense(y, 0, 1, 4), tab, backend.Whole(w), backend.Dense(g, 0, 1, 3), backend.Whole(s))
	sums := make([]float32, 4)
	grad := make([]float32, 3)
	if err := b.ReadFloat32(sums, s, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.ReadFloat32(grad, g, 0); err != nil {
		t.Fatal(err)
	}
	if sums[0] != 1000 || sums[2] != 900 {
		t.Errorf("losses %v, want 1000 and 900", sums)
	}
	if !slices.Equal(grad, []float32{1, -1, -1}) {
		t.Errorf("gradient %v, want [1 -1 -1]", grad)
	}
}

func TestUnknownBLAS(t *testing.T) {
	if _, err := cpu.New(backend.Options{BLAS: "mkl"}); err == nil {
		t.Fatal("BLAS mkl accepted")
	}
}
