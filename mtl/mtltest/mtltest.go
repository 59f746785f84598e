// Package mtltest checks that a backend trains like the CPU backend: the
// same model, seed and data give the same loss curve within a stated
// tolerance, and a model saved from one backend predicts the same on the
// other. It trains with AdamW and with plain SGD, with and without
// gradient clipping: SGD's step is proportional to the gradient, so an
// error that scales one (a halved bias gradient, a wrong norm) shows in the
// loss, where AdamW's normalised step hides it. Device backends run it in
// their tests next to the operation-level conformance suite of
// backend/backendtest.
package mtltest

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/backendtest"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// Tolerances of FollowsCPU. Float32 sums in a different order move the
// loss in its sixth digit; a few epochs of training amplify that a little.
const (
	// LossTol bounds the relative difference of every epoch's training and
	// validation loss, per task.
	LossTol = 2e-3
	// PredictTol bounds the difference between the predictions of one saved
	// model on the two backends (probabilities, or standardised values).
	PredictTol = 1e-4
)

// Problem is one model and data set of FollowsCPU.
type Problem struct {
	Name string
	Spec mtl.Spec
	// ClipNorm is the gradient clipping norm of the clipped run, chosen
	// so that clipping scales some of its steps (a quarter to a half on
	// the CPU backend) and leaves the others.
	ClipNorm float64
	// Dropout and LabelSmoothing are the training options of the same
	// names (mtl.Config), 0 for none.
	Dropout, LabelSmoothing float64
	// MemberSettings gives the members learning rates, weight decays and
	// dropout rates of their own (mtl.Config.MemberSettings); nil for none.
	MemberSettings []mtl.MemberSetting
}

// Problems cover every task type, a positive-class weight, task weights, a
// family of tasks, missing labels, one and two shared layers, each
// activation, the mixture-of-experts bodies, embedding tables, a model
// of several members, and dropout with label smoothing (whose masks every
// backend must draw alike), and members with learning rates, weight
// decays and dropout rates of their own.
func Problems() []Problem {
	dropoutSeed := uint64(7)
	emb := []mtl.Embedding{{Name: "user", Rows: 23, Dim: 3}, {Name: "item", Rows: 9, Dim: 2}}
	return []Problem{
		{"multiclass", mtl.Spec{Inputs: 12, Hidden: []int{16}, Activation: backend.ReLU, Tasks: []mtl.Task{
			{Name: "a", Type: mtl.Multiclass, Classes: 4}, {Name: "b", Type: mtl.Multiclass, Classes: 3, Weight: 0.5}}}, 0.7, 0, 0, nil},
		{"binary", mtl.Spec{Inputs: 12, Hidden: []int{16, 8}, Activation: backend.Tanh, Tasks: []mtl.Task{
			{Name: "a", Type: mtl.Binary, PosWeight: 3}, {Name: "b", Type: mtl.Binary}, {Name: "c", Type: mtl.Binary}}}, 0.47, 0, 0, nil},
		{"regression", mtl.Spec{Inputs: 12, Hidden: []int{8}, Activation: backend.Identity, Tasks: []mtl.Task{
			{Name: "a", Type: mtl.Regression}, {Name: "b", Type: mtl.Regression, Weight: 2}}}, 2.4, 0, 0, nil},
		{"family", mtl.Spec{Inputs: 12, Hidden: []int{16}, Activation: backend.ReLU, Tasks: []mtl.Task{
			{Name: "score", Type: mtl.Regression, Groups: 7}, {Name: "pass", Type: mtl.Binary, Groups: 7}}}, 2.0, 0, 0, nil},
		{"mmoe", mtl.Spec{Inputs: 12, Arch: mtl.MMoE, Experts: 3, Hidden: []int{8}, Activation: backend.ReLU, Tasks: []mtl.Task{
			{Name: "a", Type: mtl.Binary}, {Name: "b", Type: mtl.Regression}}}, 1.5, 0, 0, nil},
		{"ple/embeddings", mtl.Spec{Inputs: 12, Embeddings: emb, Arch: mtl.PLE, Experts: 1, TaskExperts: 1, Levels: 2, Hidden: []int{6},
			Activation: backend.Tanh, Tasks: []mtl.Task{{Name: "a", Type: mtl.Multiclass, Classes: 3}, {Name: "b", Type: mtl.Binary}}}, 0.3, 0, 0, nil},
		{"members/embeddings", mtl.Spec{Inputs: 12, Embeddings: emb, Hidden: []int{8}, Activation: backend.ReLU, Members: 2, Tasks: []mtl.Task{
			{Name: "a", Type: mtl.Multiclass, Classes: 3}, {Name: "b", Type: mtl.Regression, Groups: 7}}}, 1.5, 0, 0, nil},
		{"dropout/smoothing", mtl.Spec{Inputs: 12, Arch: mtl.PLE, Experts: 1, TaskExperts: 1, Levels: 2, Hidden: []int{8}, Activation: backend.Tanh,
			Members: 2, Tasks: []mtl.Task{{Name: "a", Type: mtl.Multiclass, Classes: 3}, {Name: "b", Type: mtl.Binary, PosWeight: 2},
				{Name: "c", Type: mtl.Regression}}}, 0.62, 0.2, 0.1, nil},
		{"members/settings", mtl.Spec{Inputs: 12, Hidden: []int{16, 8}, Activation: backend.Tanh, Members: 3, Tasks: []mtl.Task{
			{Name: "a", Type: mtl.Binary}, {Name: "b", Type: mtl.Regression}}}, 0.9, 0, 0, []mtl.MemberSetting{
			{LRFactor: 1, WeightDecay: 0, Dropout: 0}, {LRFactor: 3, WeightDecay: 0.1, Dropout: 0.3},
			{LRFactor: 0.5, WeightDecay: 1e-3, Dropout: 0.1, DropoutSeed: &dropoutSeed}}},
	}
}

// Data draws n rows for spec: inputs that predict every label through a
// random linear teacher, about a fifth of the labels missing.
func Data(spec mtl.Spec, n int, seed uint64) *mtl.Dataset {
	rng := rand.New(rand.NewPCG(seed, 77))
	d := &mtl.Dataset{N: n, X: make([]float32, n*spec.Inputs)}
	for i := range d.X {
		d.X[i] = float32(rng.NormFloat64())
	}
	groups := make([]int32, n)
	for i := range groups {
		groups[i] = int32(rng.IntN(7))
	}
	// Each embedding table's row adds an effect of its own to every label.
	effect := make([]float64, n)
	for _, e := range spec.Embeddings {
		ix := make([]int32, n)
		per := make([]float64, e.Rows)
		for r := range per {
			per[r] = rng.NormFloat64()
		}
		for i := range ix {
			ix[i] = int32(rng.IntN(e.Rows))
			effect[i] += per[ix[i]]
		}
		d.Index = append(d.Index, ix)
	}
	for _, t := range spec.Tasks {
		k := max(t.Classes, 1)
		w := make([]float64, spec.Inputs*k)
		for i := range w {
			w[i] = rng.NormFloat64() / math.Sqrt(float64(spec.Inputs))
		}
		y := make([]float32, n)
		for i := range y {
			if rng.Float64() < 0.2 {
				y[i] = float32(math.NaN())
				continue
			}
			score := make([]float64, k)
			for c := range k {
				for j := range spec.Inputs {
					score[c] += w[j*k+c] * float64(d.X[i*spec.Inputs+j])
				}
				score[c] += 0.3*float64(groups[i]) + 0.3*rng.NormFloat64() + 0.5*effect[i]
			}
			switch t.Type {
			case mtl.Multiclass:
				best := 0
				for c := range k {
					if score[c] > score[best] {
						best = c
					}
				}
				y[i] = float32(best)
			case mtl.Binary:
				y[i] = 0
				if score[0] > 0.5 {
					y[i] = 1
				}
			default:
				y[i] = float32(10 + 5*score[0])
			}
		}
		d.Labels = append(d.Labels, y)
		if t.Groups > 0 {
			d.Groups = append(d.Groups, groups)
		} else {
			d.Groups = append(d.Groups, nil)
		}
	}
	return d
}

// run trains spec on b and returns the per-epoch statistics and the
// checkpoint of the run.
func run(t *testing.T, b backend.Backend, spec mtl.Spec, cfg mtl.Config, train, val *mtl.Dataset) ([]mtl.EpochStats, *mtl.Checkpoint) {
	t.Helper()
	m, err := mtl.NewModel(spec, train, cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := mtl.NewTrainer(b, m, cfg, train, val, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var epochs []mtl.EpochStats
	if err := tr.Fit(context.Background(), mtl.Hooks{Epoch: func(s mtl.EpochStats) error { epochs = append(epochs, s); return nil }}); err != nil {
		t.Fatal(err)
	}
	ck, err := tr.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	return epochs, ck
}

// runConfig is one training configuration of FollowsCPU: changes to the
// default configuration (5 epochs of batches of 64, no early stopping).
type runConfig struct {
	name   string
	config func(*mtl.Config, Problem)
}

// runs are the configurations FollowsCPU trains each problem with: the
// default AdamW, which hardly reacts to the scale of a gradient, and plain
// SGD, which follows it (an error that scales a gradient shows in the
// loss), once without and once with gradient clipping.
func runs() []runConfig {
	sgd := func(c *mtl.Config, _ Problem) {
		c.Optimizer, c.LR, c.Momentum, c.ClipNorm = mtl.SGD, 0.1, 0, 0
	}
	return []runConfig{
		{"adamw", func(*mtl.Config, Problem) {}},
		{"sgd", sgd},
		{"sgd-clipped", func(c *mtl.Config, p Problem) { sgd(c, p); c.ClipNorm = p.ClipNorm }},
	}
}

// FollowsCPU trains every problem of Problems with AdamW, with plain SGD
// and with plain SGD and gradient clipping, each for several epochs on b
// and on the CPU backend with the same seed and data, and requires every
// epoch's per-task training and validation losses to agree within LossTol
// (relative). Each model trained on b is saved, loaded and used to predict
// a test set on both backends, which must agree within PredictTol. It also
// checks that clipping engages in the clipped run: on the CPU backend it
// must train differently from the same run without clipping.
func FollowsCPU(t *testing.T, b backend.Backend) {
	ref, err := cpu.New(backend.Options{BLAS: "gonum"})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	for _, p := range Problems() {
		train, val, test := Data(p.Spec, 600, 1), Data(p.Spec, 150, 2), Data(p.Spec, 200, 3)
		cpuRuns := map[string][]mtl.EpochStats{}
		for _, r := range runs() {
			t.Run(p.Name+"/"+r.name, func(t *testing.T) {
				cfg := mtl.DefaultConfig()
				cfg.Epochs, cfg.Batch, cfg.Patience = 5, 64, 0
				cfg.Dropout, cfg.LabelSmoothing, cfg.MemberSettings = p.Dropout, p.LabelSmoothing, p.MemberSettings
				r.config(&cfg, p)
				got, ck := run(t, b, p.Spec, cfg, train, val)
				want, _ := run(t, ref, p.Spec, cfg, train, val)
				cpuRuns[r.name] = want
				compareRuns(t, p.Spec, got, want)
				comparePredictions(t, b, ref, p.Spec, ck, test)
				t.Logf("%s/%s: %d epochs agree; final training loss %s", p.Name, r.name, len(want), lossLine(got[len(got)-1], want[len(want)-1]))
			})
		}
		clipped, plain := cpuRuns["sgd-clipped"], cpuRuns["sgd"]
		if clipped != nil && plain != nil && sameLosses(clipped, plain) {
			t.Errorf("%s: clipping at %g never engaged (the clipped run trains exactly like the unclipped one)", p.Name, p.ClipNorm)
		}
	}
}

// compareRuns requires every epoch's per-task losses to agree.
func compareRuns(t *testing.T, spec mtl.Spec, got, want []mtl.EpochStats) {
	t.Helper()
	for _, d := range LossDiffs(spec, got, want) {
		t.Error(d)
	}
}

// LossDiffs compares two runs' per-task training and validation losses,
// epoch by epoch, and describes every one that differs by more than
// LossTol (relative), or the runs' lengths when they differ; nil when
// they agree.
func LossDiffs(spec mtl.Spec, got, want []mtl.EpochStats) []string {
	if len(got) != len(want) {
		return []string{fmt.Sprintf("%d epochs, the reference %d", len(got), len(want))}
	}
	var diffs []string
	for e := range want {
		for i, task := range spec.Tasks {
			check := func(what string, g, w []float64) {
				if len(w) == 0 || math.IsNaN(g[i]) && math.IsNaN(w[i]) {
					return
				}
				if !backendtest.Within(g[i], w[i], 1e-6, LossTol) {
					diffs = append(diffs, fmt.Sprintf("epoch %d, task %s: %s loss %.7g, the reference %.7g", want[e].Epoch, task.Name, what, g[i], w[i]))
				}
			}
			check("training", got[e].TaskTrain, want[e].TaskTrain)
			check("validation", got[e].TaskVal, want[e].TaskVal)
		}
	}
	return diffs
}

// comparePredictions saves and loads the checkpoint trained on b and
// requires its predictions of test on b and on ref to agree.
func comparePredictions(t *testing.T, b, ref backend.Backend, spec mtl.Spec, ck *mtl.Checkpoint, test *mtl.Dataset) {
	t.Helper()
	var buf bytes.Buffer
	if err := mtl.Save(&buf, ck, nil); err != nil {
		t.Fatal(err)
	}
	loaded, _, err := mtl.Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := loaded.Model.Predict(b, test)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := loaded.Model.Predict(ref, test)
	if err != nil {
		t.Fatal(err)
	}
	for i, task := range spec.Tasks {
		scale := 1.0
		if task.Type == mtl.Regression {
			scale = loaded.Model.Spec.Tasks[i].Std
		}
		for j := range pg[i] {
			if d := math.Abs(float64(pg[i][j]-pw[i][j])) / scale; !(d <= PredictTol) {
				t.Fatalf("task %s, output %d: %g on this backend, %g on the CPU backend", task.Name, j, pg[i][j], pw[i][j])
			}
		}
	}
}

// sameLosses reports whether two runs have the same training losses in
// every epoch.
func sameLosses(a, b []mtl.EpochStats) bool {
	for e := range a {
		if !slices.Equal(a[e].TaskTrain, b[e].TaskTrain) {
			return false
		}
	}
	return true
}

func lossLine(g, w mtl.EpochStats) string {
	return fmt.Sprintf("%.6f (CPU %.6f)", g.TrainLoss, w.TrainLoss)
}
