package mtl

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/backendtest"
)

// gradSpec has every task type, task weights, a positive-class weight and
// two task families, so that one check covers every loss, the heads and
// the deviations.
func gradSpec(hidden []int, act backend.Activation) Spec {
	return gradSpecInputs(5, hidden, act)
}

func gradSpecInputs(inputs int, hidden []int, act backend.Activation) Spec {
	return Spec{
		Inputs: inputs, Hidden: hidden, Activation: act,
		Tasks: []Task{
			{Name: "class", Type: Multiclass, Classes: 3, Weight: 0.7},
			{Name: "flag", Type: Binary, Weight: 1.3, PosWeight: 2.5},
			{Name: "value", Type: Regression},
			{Name: "score", Type: Regression, Groups: 4, Weight: 0.5},
			{Name: "pass", Type: Multiclass, Classes: 2, Groups: 3},
		},
	}
}

// randomData draws n rows for spec with about a quarter of the labels
// missing and some rows in groups unseen in training.
func randomData(spec Spec, n int, rng *rand.Rand) *Dataset {
	d := &Dataset{N: n, X: make([]float32, n*spec.Inputs)}
	for i := range d.X {
		d.X[i] = float32(rng.NormFloat64())
	}
	for _, t := range spec.Tasks {
		y := make([]float32, n)
		var g []int32
		if t.Groups > 0 {
			g = make([]int32, n)
		}
		for i := range y {
			switch {
			case rng.Float64() < 0.25:
				y[i] = float32(math.NaN())
			case t.Type == Multiclass:
				y[i] = float32(rng.IntN(t.Classes))
			case t.Type == Binary:
				y[i] = float32(rng.IntN(2))
			default:
				y[i] = float32(3 + 2*rng.NormFloat64())
			}
			if g != nil {
				g[i] = int32(rng.IntN(t.Groups+1) - 1)
			}
		}
		d.Labels = append(d.Labels, y)
		d.Groups = append(d.Groups, g)
	}
	for _, e := range spec.Embeddings {
		ix := make([]int32, n)
		for i := range ix {
			ix[i] = int32(rng.IntN(e.Rows))
		}
		d.Index = append(d.Index, ix)
	}
	if spec.members() > 1 {
		d.Members = make([]uint64, n)
		for i := range d.Members {
			d.Members[i] = rng.Uint64() | 1<<(i%spec.members())
		}
	}
	return d
}

// TestGradientFiniteDifferences checks the gradient of every parameter of
// the loss against central differences, computed in float64 on the
// reference backend, for each activation, with one and two shared layers
// and with heads on the inputs.
func TestGradientFiniteDifferences(t *testing.T) {
	for _, hidden := range [][]int{nil, {4}, {4, 3}} {
		for _, act := range []backend.Activation{backend.Identity, backend.ReLU, backend.Tanh} {
			if len(hidden) == 0 && act != backend.Identity {
				continue
			}
			t.Run(fmt.Sprintf("%v/%s", hidden, act), func(t *testing.T) {
				t.Parallel()
				gradCheck(t, gradSpec(hidden, act))
			})
		}
	}
	// Many inputs and a wide linear layer: the backward pass takes the
	// cheaper association (Xᵀ·dZ)·A.
	t.Run("linear/reassociated", func(t *testing.T) {
		t.Parallel()
		spec := gradSpecInputs(40, []int{30}, backend.Identity)
		tr := &Trainer{lay: newLayout(spec), model: &Model{Spec: spec}}
		if !tr.linearShared() || !tr.reassociate(23) {
			t.Fatal("this shape does not take the reassociated path")
		}
		gradCheck(t, spec)
	})
}

// referenceTrainer prepares a trainer on the float64 reference backend
// over rows random rows of spec, the whole set as one batch in order, with
// every parameter moved off its initial value so that no gradient term
// vanishes by construction. edits change the default configuration.
func referenceTrainer(t *testing.T, spec Spec, rows int, seed uint64, method Method, edits ...func(*Config)) (*Trainer, *Dataset) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed+4))
	data := randomData(spec, rows, rng)
	m, err := NewModel(spec, data, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Params {
		m.Params[i] += float32(0.3 * rng.NormFloat64())
	}
	cfg := DefaultConfig()
	cfg.Batch = data.N
	cfg.Weighting = Weighting{Method: method}
	for _, edit := range edits {
		edit(&cfg)
	}
	tr, err := NewTrainer(backendtest.Reference{}, m, cfg, data, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	for i := range tr.data.perm {
		tr.data.perm[i] = int32(i)
	}
	tr.b.WriteInt32(tr.data.idx, 0, tr.data.perm)
	for j := range tr.tables {
		tr.epochSegments(&tr.tables[j], tr.data.perm)
	}
	tr.setLossWeights(0)
	return tr, data
}

// gradCheck compares the gradient of every parameter of spec's loss with
// central differences, on a trainer made with the configuration edits.
func gradCheck(t *testing.T, spec Spec, edits ...func(*Config)) {
	tr, data := referenceTrainer(t, spec, 23, 7, Equal, edits...)
	ref := backendtest.Reference{}
	nt := len(spec.Tasks)
	loss := func() float64 {
		in, dz := tr.gradient(0, data.N)
		tr.backward(in, dz, tr.optim.grads, 0)
		sums := ref.Values(tr.loss.sums)
		var l float64
		for m := range tr.members {
			for i, task := range spec.Tasks {
				j := m*nt + i
				if sums[2*j+1] > 0 {
					l += task.weight() * sums[2*j] / sums[2*j+1]
				}
			}
		}
		return l
	}
	loss()
	grad := paramGradients(tr, ref.Values(tr.optim.grads))
	params := ref.Values(tr.net.params)
	const h = 1e-6
	checked := 0
	for i := range params {
		p := params[i]
		ref.SetValues(tr.net.params, i, []float64{p + h})
		up := loss()
		ref.SetValues(tr.net.params, i, []float64{p - h})
		down := loss()
		ref.SetValues(tr.net.params, i, []float64{p})
		fd := (up - down) / (2 * h)
		if !backendtest.Within(grad[i], fd, 1e-6, 1e-4) {
			t.Errorf("parameter %d: gradient %.9g, finite difference %.9g", i, grad[i], fd)
		}
		if grad[i] != 0 {
			checked++
		}
	}
	// Most parameters must have a gradient (a ReLU may silence a few, and
	// a batch leaves some rows of an embedding table untouched).
	if checked < len(params)/2 {
		t.Errorf("only %d of %d gradients are non-zero", checked, len(params))
	}
}

// paramGradients lays the trainer's gradient out like its parameters:
// each member's dense gradient in place, and the compact gradients of the
// embedding tables (step 0's touched rows) scattered to their rows.
func paramGradients(tr *Trainer, grads []float64) []float64 {
	l := tr.lay
	out := make([]float64, tr.members*l.total)
	for m := range tr.members {
		copy(out[m*l.total:m*l.total+l.denseLen()], grads[m*tr.gradLen:m*tr.gradLen+l.denseLen()])
		for j, td := range tr.tables {
			uniq := make([]int32, td.touched[0])
			if err := (backendtest.Reference{}).ReadInt32(uniq, td.uniq, td.uniqOff[0]); err != nil {
				panic(err)
			}
			e := l.embed[j]
			for u, r := range uniq {
				src := grads[m*tr.gradLen+td.compact+u*e.dim:]
				copy(out[m*l.total+e.off+int(r)*e.dim:m*l.total+e.off+(int(r)+1)*e.dim], src[:e.dim])
			}
		}
	}
	return out
}
