package mtl

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// Training with labels missing from most batches, for every method.

// TestGradNormInitialLossWhenFirstDefined: a task without a label in the
// first batch gets L_t(0) from the first batch that has one, and the state
// never holds NaN.
func TestGradNormInitialLossWhenFirstDefined(t *testing.T) {
	nan := math.NaN()
	g := &gradNorm{alpha: 1.5, lr: 0.1}
	g.step([]float64{2, nan, 1}, make([]float64, 9))
	if !slices.Equal(g.initial, []float64{2, 0, 1}) {
		t.Fatalf("L(0) after the first step: %v", g.initial)
	}
	g.step([]float64{1.5, nan, 0.5}, []float64{1, 0, 0, 0, 0, 0, 0, 0, 1})
	g.step([]float64{1, 3, 0.5}, []float64{1, 0, 0, 0, 1, 0, 0, 0, 1})
	if !slices.Equal(g.initial, []float64{2, 3, 1}) {
		t.Fatalf("L(0) after the third step: %v", g.initial)
	}
	st := g.save()
	for _, v := range slices.Concat(st.Weights, st.Initial, st.M, st.V) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("state %+v holds %g", st, v)
		}
	}
}

// TestMissingLabelsEveryMethod trains every method with batches of one row
// on data where task 3 (a family) has no label at all and each other task
// is 90% unlabelled, so every batch lacks some task and most lack all. The
// run is interrupted mid-epoch: its checkpoint holds no NaN, saves, loads
// and resumes to the very parameters of an uninterrupted run.
func TestMissingLabelsEveryMethod(t *testing.T) {
	spec := gradSpec([]int{4}, backend.ReLU)
	rng := rand.New(rand.NewPCG(51, 52))
	data := randomData(spec, 30, rng)
	for task := range spec.Tasks {
		for i := range data.Labels[task] {
			if task == 3 || rng.Float64() < 0.9 {
				data.Labels[task][i] = float32(math.NaN())
			}
		}
	}
	for _, m := range Methods {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			cfg := DefaultConfig()
			cfg.Epochs, cfg.Batch, cfg.Patience = 4, 1, 0
			cfg.Weighting = Weighting{Method: m}
			b := cpuBackend(t)
			want := train(t, b, spec, cfg, data, nil)
			tr := newTrainer(t, b, spec, cfg, data, nil)
			ctx, cancel := contextCancelAt(2, 7)
			err := tr.Fit(ctx, Hooks{Step: cancel})
			if err == nil {
				t.Fatal("the run was not interrupted")
			}
			ck, err := tr.Checkpoint()
			if err != nil {
				t.Fatal(err)
			}
			if v := firstNaN(ck); v != "" {
				t.Fatalf("checkpoint holds NaN: %s", v)
			}
			ck = roundTrip(t, ck)
			tr2, err := NewTrainer(b, ck.Model, ck.Config, data, nil, ck)
			if err != nil {
				t.Fatal(err)
			}
			defer tr2.Close()
			if err := tr2.Fit(t.Context(), Hooks{}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ck.Model.Params, want.Params) {
				t.Error("resumed run differs from the uninterrupted one")
			}
			if err := ck.Model.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

// contextCancelAt returns a context and a step hook that cancels it after
// the given step of the given epoch (both from 0).
func contextCancelAt(epoch, step int) (context.Context, func(e, s, steps int)) {
	ctx, cancel := context.WithCancel(context.Background())
	return ctx, func(e, s, _ int) {
		if e == epoch && s == step {
			cancel()
		}
	}
}

// firstNaN describes the first NaN or infinity in a checkpoint's numbers,
// or returns "".
func firstNaN(c *Checkpoint) string {
	w := c.State.Weighting
	named := map[string][]float64{"weights": w.Weights, "log_var": w.LogVar, "m": w.M, "v": w.V, "initial": w.Initial}
	for i, h := range w.History {
		named[fmt.Sprintf("history[%d]", i)] = h
	}
	f32 := map[string][]float32{"params": c.Model.Params, "current": c.Current, "epoch_sums": c.State.EpochSums}
	for i, o := range c.Opt {
		f32[fmt.Sprintf("opt[%d]", i)] = o
	}
	for name, v := range f32 {
		for _, x := range v {
			named[name] = append(named[name], float64(x))
		}
	}
	for name, v := range named {
		for i, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Sprintf("%s[%d] = %g", name, i, x)
			}
		}
	}
	return ""
}
