package benchmark

import (
	"context"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// synthLoss trains arch's body on the problem for 30 epochs and returns
// the mean test MSE over both tasks, in units of each target's variance.
func synthLoss(t testing.TB, b backend.Backend, arch mtl.Spec, s Synthetic, rows int, seed uint64) float64 {
	t.Helper()
	cfg := mtl.DefaultConfig()
	cfg.Epochs, cfg.Patience = 30, 0
	loss, err := s.Train(context.Background(), b, arch, cfg, rows, 4000, seed)
	if err != nil {
		t.Fatal(err)
	}
	return loss.Unexplained()
}

// TestMixturesBeatSharedBottom is the learning test of the mixture-of-
// experts bodies on the MMoE paper's problem with weakly related tasks
// (ρ = 0.5): MMoE and PLE reach a clearly lower test loss than a shared
// bottom of as many hidden units.
func TestMixturesBeatSharedBottom(t *testing.T) {
	b, err := cpu.New(backend.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s := PaperSynthetic(0.5)
	shared := synthLoss(t, b, mtl.Spec{Hidden: []int{128}}, s, 6000, 1)
	mmoe := synthLoss(t, b, mtl.Spec{Arch: mtl.MMoE, Experts: 8, Hidden: []int{16}}, s, 6000, 1)
	ple := synthLoss(t, b, mtl.Spec{Arch: mtl.PLE, Experts: 4, TaskExperts: 2, Levels: 1, Hidden: []int{16}}, s, 6000, 1)
	t.Logf("test loss (fraction of variance) at ρ = 0.5: shared bottom %.4f, MMoE %.4f, PLE %.4f", shared, mmoe, ple)
	if !(mmoe < 0.8*shared) || !(ple < 0.8*shared) {
		t.Errorf("shared bottom %.4f, MMoE %.4f, PLE %.4f: the mixtures do not beat the shared bottom", shared, mmoe, ple)
	}
}
