package benchmark

import (
	"context"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// TestStepGemms: the GEMM-only reference replays exactly the GEMMs of a
// training step. A shared ReLU bottom makes five (X·W, H·Aᵀ, dZᵀ·H, dZ·A,
// Xᵀ·dH); MMoE makes one for all the experts and one for all the gates
// forward and backward, and three per task head, so a loop over experts
// changes the count.
func TestStepGemms(t *testing.T) {
	b, err := cpu.New(backend.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	small := Workload{Name: "small", Samples: 512, Features: 24, Hidden: 16, Activation: backend.ReLU, Tasks: 3, Classes: 4, Batch: 128, LR: 0.05, Momentum: 0.9}
	mmoe, err := small.WithArch(mtl.MMoE)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := small.WithArch("moe"); err == nil {
		t.Error("an unknown body was accepted")
	}
	bt, d, tc := float64(small.Batch), float64(small.Features), float64(small.Tasks*small.Classes)
	k, e, nt := float64(mmoe.Hidden), float64(mmoe.Experts), float64(mmoe.Tasks)
	kShared := float64(small.Hidden)
	for _, c := range []struct {
		w     Workload
		gemms int
		flops float64
	}{
		{small, 5, 2 * bt * (2*d*kShared + 3*kShared*tc)},
		{mmoe, 3*small.Tasks + 4, 2 * bt * (2*d*e*k + 2*d*nt*e + 3*k*tc)},
	} {
		res, err := Run(context.Background(), b, c.w, mtl.Equal, c.w.Data(1), 1, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.StepGemms != c.gemms || res.StepFlops != c.flops {
			t.Errorf("%s: %d GEMMs of %g flops a step, want %d of %g", c.w.Name, res.StepGemms, res.StepFlops, c.gemms, c.flops)
		}
		if !(res.GemmOnlySamplesPerSec > 0) || !(res.LossAfter < res.LossBefore) {
			t.Errorf("%s: GEMMs alone %g samples/s, loss %g → %g", c.w.Name, res.GemmOnlySamplesPerSec, res.LossBefore, res.LossAfter)
		}
	}
}

// TestReplayStrided: a strided batch is recorded with its batch and
// strides and replayed as one strided call over buffers large enough for
// its last member.
func TestReplayStrided(t *testing.T) {
	b, err := cpu.New(backend.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	buf, err := b.Alloc(backend.Float32, (5+8+5)*24)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free(buf)
	rec := &gemmRecorder{Backend: b, recording: true}
	// Three experts side by side: (5×8)·(8×8) → 5×8 each, strides of 8.
	x := backend.Mat{Buf: buf, Rows: 5, Cols: 8, Stride: 24}
	w := backend.Mat{Buf: buf, Off: 5 * 24, Rows: 8, Cols: 8, Stride: 24}
	out := backend.Mat{Buf: buf, Off: 13 * 24, Rows: 5, Cols: 8, Stride: 24}
	rec.GemmStrided(false, false, 1, x, 8, w, 8, 0, out, 8, 3)
	rec.recording = false
	rec.Gemm(false, false, 1, x, w, 0, out)
	if len(rec.calls) != 1 {
		t.Fatalf("recorded %d calls, want the strided one", len(rec.calls))
	}
	g := rec.calls[0]
	if !g.strided || g.batch != 3 || g.strideA != 8 || g.a.Buf != nil || g.flops() != 3*2*5*8*8 {
		t.Errorf("recorded %+v (%g flops)", g, g.flops())
	}
	if rate, err := gemmOnly(b, rec.calls, 2); err != nil || !(rate > 0) {
		t.Errorf("replay: %g steps/s, %v", rate, err)
	}
}
