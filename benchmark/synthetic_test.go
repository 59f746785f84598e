package benchmark

import (
	"context"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// synthLoss trains spec's architecture on the problem and returns the
// mean test MSE over both tasks, in units of each target's variance.
func synthLoss(t testing.TB, b backend.Backend, arch mtl.Spec, s Synthetic, rows int, seed uint64) float64 {
	t.Helper()
	spec, train, test := s.Generate(rows, 4000, seed)
	spec.Arch, spec.Hidden, spec.Experts, spec.Activation = arch.Arch, arch.Hidden, arch.Experts, backend.ReLU
	spec.TaskExperts, spec.Levels = arch.TaskExperts, arch.Levels
	cfg := mtl.DefaultConfig()
	cfg.Epochs, cfg.Patience, cfg.Seed = 30, 0, seed
	m, err := mtl.NewModel(spec, train, seed)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := mtl.NewTrainer(b, m, cfg, train, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Fit(context.Background(), mtl.Hooks{}); err != nil {
		t.Fatal(err)
	}
	p, err := m.Predict(b, test)
	if err != nil {
		t.Fatal(err)
	}
	var loss float64
	for task := range 2 {
		var mean, v, sse float64
		for _, y := range test.Labels[task] {
			mean += float64(y) / float64(test.N)
		}
		for i, y := range test.Labels[task] {
			v += (float64(y) - mean) * (float64(y) - mean)
			sse += (float64(y) - float64(p[task][i])) * (float64(y) - float64(p[task][i]))
		}
		loss += sse / v / 2
	}
	return loss
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
