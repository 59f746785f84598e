package mtl

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// smallRun is a quick problem with every task type and a family.
func smallRun(t testing.TB) (Spec, Config, *Dataset, *Dataset) {
	spec := gradSpec([]int{16}, backend.ReLU)
	rng := rand.New(rand.NewPCG(1, 2))
	data := randomData(spec, 300, rng)
	val := randomData(spec, 60, rng)
	cfg := DefaultConfig()
	cfg.Epochs, cfg.Batch, cfg.Patience = 6, 32, 0
	cfg.ClipNorm = 5
	return spec, cfg, data, val
}

func TestDeterministic(t *testing.T) {
	spec, cfg, data, val := smallRun(t)
	b := cpuBackend(t)
	a := train(t, b, spec, cfg, data, val)
	c := train(t, b, spec, cfg, data, val)
	if !slices.Equal(a.Params, c.Params) {
		t.Fatal("two runs with the same seed and data differ")
	}
	cfg.Seed++
	d := train(t, b, spec, cfg, data, val)
	if slices.Equal(a.Params, d.Params) {
		t.Fatal("a different seed gave the same parameters")
	}
}

var errStop = errors.New("stop")

// roundTrip saves a checkpoint to a file and loads it back.
func roundTrip(t *testing.T, c *Checkpoint) *Checkpoint {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.mtl")
	if err := SaveFile(path, c, []byte(`{"x":1}`)); err != nil {
		t.Fatal(err)
	}
	got, meta, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(meta) != `{"x":1}` {
		t.Fatalf("metadata %s", meta)
	}
	return got
}

// TestResumeBitIdentical interrupts runs at an epoch boundary and in the
// middle of an epoch, saves, loads and resumes them, and requires the very
// parameters of an uninterrupted run, for each optimiser, with and without
// a validation set.
func TestResumeBitIdentical(t *testing.T) {
	for _, opt := range []Optimizer{SGD, Adam, AdamW} {
		for _, withVal := range []bool{false, true} {
			for _, mid := range []bool{false, true} {
				spec, cfg, data, val := smallRun(t)
				cfg.Optimizer = opt
				cfg.Nesterov = true
				if !withVal {
					val = nil
				}
				if !resumeMatches(t, spec, cfg, data, val, mid) {
					t.Errorf("%s val=%v mid=%v: resumed run differs from the uninterrupted one", opt, withVal, mid)
				}
			}
		}
	}
}

// TestWeightingMethods trains with every weighting method: the loss falls,
// the weights are reported, and a run interrupted in the middle of an epoch
// resumes to the very parameters of an uninterrupted one (the learnt
// weights and PCGrad's task order are part of the checkpoint).
func TestWeightingMethods(t *testing.T) {
	for _, m := range Methods {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			spec, cfg, data, val := smallRun(t)
			cfg.Weighting = Weighting{Method: m}
			epochs := fitEpochs(t, newTrainer(t, cpuBackend(t), spec, cfg, data, val))
			first, last := epochs[0], epochs[len(epochs)-1]
			if !(last.TrainLoss < first.TrainLoss) {
				t.Errorf("train loss went from %g to %g", first.TrainLoss, last.TrainLoss)
			}
			gradMethod := cfg.Weighting.usesGram()
			for _, e := range epochs {
				if len(e.Weights) != len(spec.Tasks) || slices.ContainsFunc(e.Weights, func(w float64) bool { return math.IsNaN(w) || w < 0 }) {
					t.Fatalf("epoch %d weights %v", e.Epoch, e.Weights)
				}
				if gradMethod == math.IsNaN(e.GradCosine) || gradMethod == math.IsNaN(e.Conflict) {
					t.Fatalf("epoch %d: cosine %g, conflict %g", e.Epoch, e.GradCosine, e.Conflict)
				}
			}
			if m == DWA && slices.Equal(last.Weights, first.Weights) {
				t.Errorf("DWA weights never moved from %v", first.Weights)
			}
			if !resumeMatches(t, spec, cfg, data, val, true) {
				t.Error("resumed run differs from the uninterrupted one")
			}
		})
	}
}

// resumeMatches trains once straight through and once interrupted (after
// two epochs, or in the middle of the fourth), saved, loaded and resumed,
// and reports whether both end with the same parameters.
func resumeMatches(t *testing.T, spec Spec, cfg Config, data, val *Dataset, mid bool) bool {
	t.Helper()
	b := cpuBackend(t)
	want := train(t, b, spec, cfg, data, val)
	tr := newTrainer(t, b, spec, cfg, data, val)
	ctx, cancel := context.WithCancel(context.Background())
	hooks := Hooks{Epoch: func(s EpochStats) error {
		if !mid && s.Epoch == 2 {
			return errStop
		}
		return nil
	}}
	if mid {
		hooks.Step = func(epoch, step, steps int) {
			if epoch == 3 && step == 4 {
				cancel()
			}
		}
	}
	err := tr.Fit(ctx, hooks)
	cancel()
	if !errors.Is(err, errStop) && !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	ck, err := tr.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	tr.Close()
	ck = roundTrip(t, ck)
	if mid && ck.State.EpochStep == 0 {
		t.Fatal("mid-epoch checkpoint says it is at an epoch boundary")
	}
	tr2, err := NewTrainer(b, ck.Model, ck.Config, data, val, ck)
	if err != nil {
		t.Fatal(err)
	}
	defer tr2.Close()
	if err := tr2.Fit(context.Background(), Hooks{}); err != nil {
		t.Fatal(err)
	}
	return slices.Equal(ck.Model.Params, want.Params)
}

func TestEarlyStoppingKeepsBest(t *testing.T) {
	spec, cfg, data, val := smallRun(t)
	cfg.Epochs, cfg.Patience, cfg.LR = 60, 3, 3e-2
	b := cpuBackend(t)
	tr := newTrainer(t, b, spec, cfg, data, val)
	m := tr.model
	epochs := fitEpochs(t, tr)
	st := tr.State()
	if !st.Done || len(epochs) >= 60 {
		t.Fatalf("no early stop after %d epochs (random labels cannot be learnt)", len(epochs))
	}
	if len(epochs)-st.BestEpoch != 3 {
		t.Errorf("stopped %d epochs after the best, patience is 3", len(epochs)-st.BestEpoch)
	}
	best := math.Inf(1)
	for _, e := range epochs {
		best = min(best, e.ValLoss)
	}
	if best != st.BestVal {
		t.Errorf("best validation loss %g, state says %g", best, st.BestVal)
	}
	// The model holds the best epoch's parameters: its validation loss is
	// the best one.
	tr2, err := NewTrainer(b, m, cfg, data, val, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr2.Close()
	sums, err := tr2.evalVal()
	if err != nil {
		t.Fatal(err)
	}
	var w []float64
	for _, task := range spec.Tasks {
		w = append(w, task.weight())
	}
	if _, v := tr2.losses(sums, w); math.Abs(v-best) > 1e-6*best {
		t.Errorf("the model's validation loss is %g, the best epoch's %g", v, best)
	}
}

func TestDivergenceKeepsLastGoodModel(t *testing.T) {
	spec, cfg, data, _ := smallRun(t)
	cfg.Optimizer, cfg.LR, cfg.Momentum, cfg.ClipNorm = SGD, 1e12, 0, 0
	tr := newTrainer(t, cpuBackend(t), spec, cfg, data, nil)
	m := tr.model
	before := slices.Clone(m.Params)
	err := tr.Fit(context.Background(), Hooks{})
	if !errors.Is(err, ErrDiverged) {
		t.Fatalf("got %v, want ErrDiverged", err)
	}
	var de *DivergedError
	if !errors.As(err, &de) || de.Epoch != 1 || de.LR != 1e12 || !math.IsNaN(de.Loss) && !math.IsInf(de.Loss, 0) {
		t.Errorf("error %#v does not report the epoch, loss and learning rate", err)
	}
	if !slices.Equal(m.Params, before) {
		t.Error("the model's parameters changed although no epoch finished well")
	}
	if err := m.Validate(); err != nil {
		t.Errorf("model left invalid: %v", err)
	}
}

// TestMissingTask: a task with no label in the whole training set adds
// nothing and leaves everything finite.
func TestMissingTask(t *testing.T) {
	spec, cfg, data, _ := smallRun(t)
	for i := range data.Labels[1] {
		data.Labels[1][i] = float32(math.NaN())
	}
	tr := newTrainer(t, cpuBackend(t), spec, cfg, data, nil)
	m := tr.model
	epochs := fitEpochs(t, tr)
	last := epochs[len(epochs)-1]
	if !math.IsNaN(last.TaskTrain[1]) || math.IsNaN(last.TrainLoss) {
		t.Errorf("task losses %v, total %g", last.TaskTrain, last.TrainLoss)
	}
	if err := m.Validate(); err != nil {
		t.Error(err)
	}
}

// TestFamilySharesStrength: groups share a slope and differ in intercept;
// group 0 has two training rows. The family head predicts group 0 far
// better than a model of group 0 alone, and an unseen group gets the
// shared head's prediction.
func TestFamilySharesStrength(t *testing.T) {
	const groups, d = 10, 4
	rng := rand.New(rand.NewPCG(4, 4))
	w := []float64{1, -2, 0.5, 1.5}
	gen := func(perGroup func(g int) int) *Dataset {
		ds := &Dataset{Labels: [][]float32{nil}, Groups: [][]int32{nil}}
		for g := range groups {
			for range perGroup(g) {
				y := 0.3 * float64(g)
				for j := range d {
					x := rng.NormFloat64()
					ds.X = append(ds.X, float32(x))
					y += w[j] * x
				}
				ds.Labels[0] = append(ds.Labels[0], float32(y+0.3*rng.NormFloat64()))
				ds.Groups[0] = append(ds.Groups[0], int32(g))
				ds.N++
			}
		}
		return ds
	}
	trainSet := gen(func(g int) int { return map[bool]int{true: 2, false: 40}[g == 0] })
	testSet := gen(func(g int) int { return map[bool]int{true: 200, false: 0}[g == 0] })
	spec := Spec{Inputs: d, Tasks: []Task{{Name: "y", Type: Regression, Groups: groups}}}
	cfg := DefaultConfig()
	cfg.Epochs, cfg.Patience, cfg.Batch = 200, 0, 32
	// Intercepts here differ by far more than the noise: shrink them with
	// the strength of one row of evidence.
	cfg.GroupBiasDecay = 1
	b := cpuBackend(t)
	fam := train(t, b, spec, cfg, trainSet, nil)
	famMSE := mse(predict(t, b, fam, testSet)[0], testSet.Labels[0])

	alone := trainSet.Rows([]int{0, 1}, d)
	soloSpec := Spec{Inputs: d, Tasks: []Task{{Name: "y", Type: Regression}}}
	solo := train(t, b, soloSpec, cfg, alone, nil)
	soloMSE := mse(predict(t, b, solo, testSet)[0], testSet.Labels[0])
	t.Logf("group with 2 rows: family MSE %.3f, alone %.3f", famMSE, soloMSE)
	if !(famMSE < 1 && famMSE < 0.2*soloMSE) {
		t.Errorf("family MSE %.3f, group alone %.3f", famMSE, soloMSE)
	}

	// An unseen group (−1) is predicted by the shared head: changing every
	// deviation leaves its prediction unchanged.
	unseen := &Dataset{N: 1, X: []float32{1, 1, 1, 1}, Groups: [][]int32{{-1}}}
	p1 := predict(t, b, fam, unseen)[0][0]
	l := newLayout(fam.Spec)
	mod := &Model{Spec: fam.Spec, Params: slices.Clone(fam.Params)}
	for i := l.heads + l.mainCols*d; i < l.headBias; i++ {
		mod.Params[i] += 1
	}
	for i := l.headBias + l.mainCols; i < l.total; i++ {
		mod.Params[i] += 1
	}
	if p2 := predict(t, b, mod, unseen)[0][0]; p2 != p1 {
		t.Errorf("unseen group prediction moved from %g to %g with the deviations", p1, p2)
	}
	seen := &Dataset{N: 1, X: []float32{1, 1, 1, 1}, Groups: [][]int32{{3}}}
	if predict(t, b, mod, seen)[0][0] == predict(t, b, fam, seen)[0][0] {
		t.Error("a seen group's prediction ignores its deviation")
	}
}
