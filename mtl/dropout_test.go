package mtl

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/backendtest"
)

func withDropout(p float64) func(*Config) { return func(c *Config) { c.Dropout = p } }

func withSmoothing(eps float64) func(*Config) { return func(c *Config) { c.LabelSmoothing = eps } }

// dropoutSpecs are the bodies dropout applies to: shared bottoms of each
// activation (tanh keeps φ apart, ReLU and the identity drop in place; the
// linear model leaves its factored gradients), mixtures of experts, members
// and embedding tables.
func dropoutSpecs() map[string]Spec {
	specs := map[string]Spec{
		"shared/relu":            gradSpec([]int{4}, backend.ReLU),
		"shared/tanh/two layers": gradSpec([]int{4, 3}, backend.Tanh),
		"shared/linear":          gradSpecInputs(40, []int{30}, backend.Identity),
	}
	arch := archSpecs()
	for _, name := range []string{"mmoe", "mmoe/two layers", "ple/two levels", "ple/three levels, two layers", "members/shared",
		"members/mmoe/embeddings", "members/ple", "embeddings/shared"} {
		specs[name] = arch[name]
	}
	relu := arch["mmoe/two layers"]
	relu.Activation = backend.ReLU
	specs["mmoe/relu"] = relu
	return specs
}

// TestDropoutGradients checks the gradient of every parameter against
// central differences with dropout on (the masks of step 0, which the
// check's repeated passes all draw), for every kind of body.
func TestDropoutGradients(t *testing.T) {
	for name, spec := range dropoutSpecs() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			gradCheck(t, spec, withDropout(0.3))
		})
	}
}

// TestLabelSmoothingGradients checks the gradient of the smoothed loss
// against central differences, alone and with dropout, for every task type
// and families, and for members whose tasks share one loss table.
func TestLabelSmoothingGradients(t *testing.T) {
	for name, c := range map[string]struct {
		spec  Spec
		edits []func(*Config)
	}{
		"shared":                  {gradSpec([]int{4}, backend.ReLU), []func(*Config){withSmoothing(0.2)}},
		"members/mmoe/embeddings": {archSpecs()["members/mmoe/embeddings"], []func(*Config){withSmoothing(0.1)}},
		"shared/dropout":          {gradSpec([]int{4, 3}, backend.Tanh), []func(*Config){withSmoothing(0.3), withDropout(0.2)}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			gradCheck(t, c.spec, c.edits...)
		})
	}
}

// TestDropoutFollowsReference holds one step's per-task losses and
// gradient, with dropout and label smoothing, to the float64 reference
// model written from the definitions, given the step's masks: each hidden
// layer's φ output dropped where backend.DropoutKeep says for the layer's
// key, kept units scaled by 1/q, and classification targets smoothed. A
// mask applied in the wrong place (before φ, after the heads, in the
// forward pass and its backward pass alike), with the wrong scale or
// another layer's key, or a target smoothed otherwise, fails it. The
// tolerance allows for the labels, which the trainer standardises in
// float32.
func TestDropoutFollowsReference(t *testing.T) {
	for name, c := range map[string]struct {
		hidden      []int
		act         backend.Activation
		p, eps      float64
		wantDropped bool
	}{
		"relu/two layers": {[]int{5, 4}, backend.ReLU, 0.3, 0.1, true},
		"tanh/two layers": {[]int{4, 3}, backend.Tanh, 0.5, 0, true},
		"linear":          {[]int{6}, backend.Identity, 0.2, 0.25, true},
		"smoothing only":  {[]int{4}, backend.Tanh, 0, 0.3, false},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			spec := gradSpec(c.hidden, c.act)
			tr, data := referenceTrainer(t, spec, 31, 5, Equal, withDropout(c.p), withSmoothing(c.eps))
			ref := backendtest.Reference{}
			in, dz := tr.gradient(0, data.N)
			sums := ref.Values(tr.loss.sums)
			tr.backward(in, dz, tr.optim.grads, 0)
			got := paramGradients(tr, ref.Values(tr.optim.grads))

			m := newRefModel(tr.model.Spec, ref.Values(tr.net.params))
			m.smoothing = c.eps
			d := tr.dropout()
			q := 1 - float64(backend.DropoutThreshold(float32(c.p)))/(1<<24)
			dropped := 0
			if d.on() {
				m.drop = func(l, r, j int) float64 {
					if backend.DropoutKeep(d.key(0, l), uint32(r*tr.lay.widths[l+1]+j), float32(c.p)) {
						return 1 / q
					}
					dropped++
					return 0
				}
			}
			rows := make([]int, data.N)
			for i := range rows {
				rows[i] = i
			}
			want := make([]float64, len(got))
			for task := range spec.Tasks {
				loss, grad := m.taskLoss(task, data, rows)
				if n := sums[2*task+1]; !backendtest.Within(sums[2*task]/n, loss, 1e-9, 1e-6) {
					t.Errorf("task %d: loss %.12g, reference %.12g", task, sums[2*task]/n, loss)
				}
				for i, g := range grad {
					want[i] += spec.Tasks[task].weight() * g
				}
			}
			for i := range want {
				if !backendtest.Within(got[i], want[i], 1e-9, 1e-6) {
					t.Fatalf("parameter %d: gradient %.12g, reference %.12g", i, got[i], want[i])
				}
			}
			if (dropped > 0) != c.wantDropped {
				t.Errorf("the masks dropped %d units", dropped)
			}
		})
	}
}

// readMat reads a view of a buffer of the trainer's backend.
func readMat(t *testing.T, b backend.Backend, m backend.Mat) []float32 {
	t.Helper()
	all := make([]float32, m.Off+m.Span())
	if err := b.ReadFloat32(all, m.Buf, 0); err != nil {
		t.Fatal(err)
	}
	out := make([]float32, 0, m.Rows*m.Cols)
	for i := range m.Rows {
		out = append(out, all[m.Off+i*m.Stride:m.Off+i*m.Stride+m.Cols]...)
	}
	return out
}

// dropStats compares a layer's dropped output with its φ output: every
// element must be 0 or φ·1/(1−p), and about p of the elements whose φ is
// not 0 dropped. It returns, per element, 1 when dropped, 0 when kept and
// −1 when φ is 0 and the element cannot tell.
func dropStats(t *testing.T, what string, dropped, phi []float32, p float64) []int8 {
	t.Helper()
	scale := float64(backend.DropoutScale(float32(p)))
	mask := make([]int8, len(dropped))
	var n, k float64
	for i, v := range dropped {
		mask[i] = -1
		if phi[i] == 0 {
			continue
		}
		n++
		mask[i] = 0
		if v == 0 {
			mask[i] = 1
			k++
		} else if want := float64(phi[i]) * scale; math.Abs(float64(v)-want) > 1e-6*math.Abs(want) {
			t.Fatalf("%s: element %d is %g, φ·1/(1−p) = %g", what, i, v, want)
		}
	}
	if sd := math.Sqrt(p * (1 - p) / n); math.Abs(k/n-p) > 4*sd {
		t.Errorf("%s: dropped %.4f of %g units at rate %g", what, k/n, n, p)
	}
	return mask
}

// sameShare returns the share of the elements both masks can tell where
// they agree.
func sameShare(a, b []int8) float64 {
	var n, same float64
	for i := range a {
		if a[i] >= 0 && b[i] >= 0 {
			n++
			if a[i] == b[i] {
				same++
			}
		}
	}
	return same / n
}

// dropTrainer is a CPU trainer whose batch is the first rows of data in
// order.
func dropTrainer(t *testing.T, spec Spec, rows int, p float64) *Trainer {
	t.Helper()
	data := randomData(spec, rows, rand.New(rand.NewPCG(4, 4)))
	cfg := DefaultConfig()
	cfg.Batch, cfg.Dropout = rows, p
	tr := newTrainer(t, cpuBackend(t), spec, cfg, data, nil)
	for i := range tr.data.perm {
		tr.data.perm[i] = int32(i)
	}
	tr.b.WriteInt32(tr.data.idx, 0, tr.data.perm)
	for j := range tr.tables {
		tr.epochSegments(&tr.tables[j], tr.data.perm)
	}
	return tr
}

// TestDropoutDrops looks at the hidden layers of a training step on the
// CPU backend: each keeps its φ outputs scaled by 1/(1−p) and drops about
// p of them; two members, and two steps, draw masks as unrelated as two
// independent draws (they agree on a share p² + (1−p)² of the units); the
// same step draws the same masks again; and prediction drops nothing.
func TestDropoutDrops(t *testing.T) {
	const p, rows = 0.25, 300
	agree := p*p + (1-p)*(1-p)
	t.Run("relu", func(t *testing.T) {
		spec := gradSpecInputs(9, []int{64}, backend.ReLU)
		spec.Members = 2
		tr := dropTrainer(t, spec, rows, p)
		layer := func(m int) []float32 {
			h, sh := tr.net.act(input{}, 1, rows)
			return readMat(t, tr.b, shift(h, m*sh))
		}
		in, _ := tr.gradient(0, rows)
		dropped := [][]float32{layer(0), layer(1)}
		tr.net.forward(in, dropout{}) // as prediction and validation run it
		phi := [][]float32{layer(0), layer(1)}
		if slices.Equal(dropped[0], phi[0]) {
			t.Fatal("the training pass dropped nothing")
		}
		m0 := dropStats(t, "member 0", dropped[0], phi[0], p)
		m1 := dropStats(t, "member 1", dropped[1], phi[1], p)
		if s := sameShare(m0, m1); math.Abs(s-agree) > 0.02 {
			t.Errorf("members' masks agree on %.3f of the units, independent masks on %.3f", s, agree)
		}
		tr.state.Step = 1
		tr.net.forward(in, tr.dropout())
		next := dropStats(t, "step 1", layer(0), phi[0], p)
		if s := sameShare(m0, next); math.Abs(s-agree) > 0.02 {
			t.Errorf("steps 0 and 1 draw masks that agree on %.3f of the units, independent masks on %.3f", s, agree)
		}
		tr.state.Step = 0
		tr.net.forward(in, tr.dropout())
		if !slices.Equal(layer(0), dropped[0]) {
			t.Error("step 0's pass again drew another mask")
		}
	})
	t.Run("tanh/two layers", func(t *testing.T) {
		spec := gradSpecInputs(9, []int{40, 40}, backend.Tanh)
		tr := dropTrainer(t, spec, rows, p)
		tr.gradient(0, rows)
		var masks [][]int8
		for l := 1; l <= 2; l++ {
			h, _ := tr.net.act(input{}, l, rows)
			phi, _ := tr.net.actPhi(input{}, l, rows, tr.dropout())
			masks = append(masks, dropStats(t, "layer", readMat(t, tr.b, h), readMat(t, tr.b, phi), p))
		}
		if s := sameShare(masks[0], masks[1]); math.Abs(s-agree) > 0.03 {
			t.Errorf("layers' masks agree on %.3f of the units, independent masks on %.3f", s, agree)
		}
	})
	t.Run("ple", func(t *testing.T) {
		spec := archSpecs()["ple/three levels, two layers"]
		spec.Hidden = []int{24, 16}
		tr := dropTrainer(t, spec, rows, p)
		tr.gradient(0, rows)
		for l := range tr.lay.moe.levels {
			for i := range tr.lay.moe.widths {
				dropStats(t, "expert layer", readMat(t, tr.b, tr.net.hidden(0, l, i, rows)), readMat(t, tr.b, tr.net.hiddenPhi(0, l, i, rows, tr.dropout())), p)
			}
		}
	})
}

// TestDropoutLeavesValidationAndPrediction checks that a model trained with
// dropout and label smoothing is judged and used without either: the
// validation loss is the same bit for bit as a trainer's without them on
// the same parameters, and predictions are repeatable and those of the
// plain forward pass (no mask, no scale).
func TestDropoutLeavesValidationAndPrediction(t *testing.T) {
	spec, cfg, data, val := smallRun(t)
	spec.Hidden, spec.Activation = []int{16, 8}, backend.Tanh
	cfg.Epochs, cfg.Dropout, cfg.LabelSmoothing = 2, 0.4, 0.2
	b := cpuBackend(t)
	tr := newTrainer(t, b, spec, cfg, data, val)
	fitEpochs(t, tr)
	model := tr.model
	vals := func(c Config) []float32 {
		tr, err := NewTrainer(b, model, c, data, val, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		sums, err := tr.evalVal()
		if err != nil {
			t.Fatal(err)
		}
		return sums
	}
	plain := cfg
	plain.Dropout, plain.LabelSmoothing = 0, 0
	with, without := vals(cfg), vals(plain)
	if !slices.Equal(with, without) {
		t.Errorf("validation sums %v with dropout and smoothing, %v without", with, without)
	}
	if !slices.Equal(vals(cfg), with) {
		t.Error("the validation loss changed from one evaluation to the next")
	}
	// The best epoch's reported validation loss is the unsmoothed one.
	w := tr.staticWeights()
	if _, v := tr.losses(without, w); math.Abs(v-tr.State().BestVal) > 1e-9*v {
		t.Errorf("best validation loss %g, the model's loss without dropout or smoothing %g", tr.State().BestVal, v)
	}
	p1, p2 := predict(t, b, model, val), predict(t, b, model, val)
	for task := range p1 {
		if !slices.Equal(p1[task], p2[task]) {
			t.Fatalf("task %d: predictions differ from one call to the next", task)
		}
	}
	// The multiclass task's probabilities are the plain forward pass's.
	ref := newRefModel(model.Spec, f64s(model.Params))
	k := model.Spec.Tasks[0].Classes
	for r := range val.N {
		x := make([]float64, spec.Inputs)
		for j := range x {
			x[j] = float64(val.X[r*spec.Inputs+j])
		}
		hs, _ := ref.forward(x, r)
		cols, _ := ref.headCols(0, -1)
		var z []float64
		for _, c := range cols {
			z = append(z, ref.logit(c, hs[len(hs)-1]))
		}
		mx := slices.Max(z)
		var s float64
		for _, v := range z {
			s += math.Exp(v - mx)
		}
		for j := range k {
			if want := math.Exp(z[j]-mx) / s; math.Abs(float64(p1[0][r*k+j])-want) > 1e-5 {
				t.Fatalf("row %d class %d: predicted %g, plain forward pass %g", r, j, p1[0][r*k+j], want)
			}
		}
	}
}

func f64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// TestDropoutDeterministicAndResumes trains with dropout and label
// smoothing: the same seed gives the same model, another seed another, and
// a run interrupted in the middle of an epoch, saved, loaded and resumed,
// ends with the very parameters of an uninterrupted one (the masks follow
// the step, which the checkpoint keeps), for a shared bottom of each kind,
// a mixture of experts and members.
func TestDropoutDeterministicAndResumes(t *testing.T) {
	for name, spec := range map[string]Spec{
		"relu":            gradSpec([]int{16}, backend.ReLU),
		"tanh/two layers": gradSpec([]int{12, 8}, backend.Tanh),
		"mmoe":            archSpecs()["mmoe/two layers"],
		"members/ple":     archSpecs()["members/ple"],
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, cfg, data, val := smallRun(t)
			cfg.Dropout, cfg.LabelSmoothing = 0.3, 0.1
			b := cpuBackend(t)
			a := train(t, b, spec, cfg, data, val)
			if c := train(t, b, spec, cfg, data, val); !slices.Equal(a.Params, c.Params) {
				t.Fatal("two runs with the same seed and data differ")
			}
			plain := cfg
			plain.Dropout = 0
			if d := train(t, b, spec, plain, data, val); slices.Equal(a.Params, d.Params) {
				t.Fatal("dropout changed nothing")
			}
			cfg.Seed++
			if d := train(t, b, spec, cfg, data, val); slices.Equal(a.Params, d.Params) {
				t.Fatal("a different seed gave the same parameters")
			}
			if !resumeMatches(t, spec, cfg, data, val, true) {
				t.Error("resumed run differs from the uninterrupted one")
			}
		})
	}
}

// TestDropoutNeedsHiddenLayers: a model whose heads read the inputs has no
// units to drop, and dropout is refused by name.
func TestDropoutNeedsHiddenLayers(t *testing.T) {
	for _, spec := range []Spec{gradSpec(nil, backend.Identity), archSpecs()["embeddings/heads on inputs"]} {
		data := randomData(spec, 20, rand.New(rand.NewPCG(1, 1)))
		m, err := NewModel(spec, data, 1)
		if err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.Dropout = 0.1
		_, err = NewTrainer(cpuBackend(t), m, cfg, data, nil, nil)
		var nh *NoHiddenLayersError
		if !errors.As(err, &nh) || !strings.Contains(err.Error(), "dropout 0.1") {
			t.Errorf("got %v, want a NoHiddenLayersError naming dropout 0.1", err)
		}
		cfg.Dropout, cfg.LabelSmoothing = 0, 0.1
		tr, err := NewTrainer(cpuBackend(t), m, cfg, data, nil, nil)
		if err != nil {
			t.Fatalf("label smoothing without hidden layers: %v", err)
		}
		tr.Close()
	}
}

// TestTaskGradientsSeeTheStepsMasks checks, with dropout, that the tasks'
// gradients of the shared parameters that the gradient methods combine add
// up to the gradient of the ordinary backward pass: both the batched path
// of a shared bottom and the per-task passes of the other bodies draw the
// forward pass's masks.
func TestTaskGradientsSeeTheStepsMasks(t *testing.T) {
	for name, spec := range map[string]Spec{
		"shared/relu":             gradSpec([]int{5, 4}, backend.ReLU),
		"shared/tanh":             gradSpec([]int{4, 3}, backend.Tanh),
		"mmoe":                    archSpecs()["mmoe/two layers"],
		"members/mmoe/embeddings": archSpecs()["members/mmoe/embeddings"],
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tr, data := referenceTrainer(t, spec, 19, 3, MGDA, withDropout(0.4))
			ref := backendtest.Reference{}
			in, dz := tr.gradient(0, data.N)
			tr.backward(in, dz, tr.optim.grads, 0)
			full := ref.Values(tr.optim.grads)
			tr.taskGradients(in, dz, 0)
			tr.taskGram()
			ones := make([]float32, tr.members*tr.nTasks)
			for i := range ones {
				ones[i] = 1
			}
			tr.combine(ones)
			sum := ref.Values(tr.optim.grads)
			for i := range full {
				if !backendtest.Within(sum[i], full[i], 1e-12, 1e-9) {
					t.Fatalf("gradient %d: the tasks' gradients add up to %.12g, the backward pass gives %.12g", i, sum[i], full[i])
				}
			}
		})
	}
}
