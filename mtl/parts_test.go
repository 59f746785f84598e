package mtl

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// TestPartsReproducePredict runs the forward pass in float64 from Parts
// alone and checks it against Predict, for two shared layers, every task
// type and families with seen and unseen groups: a layout that Parts
// reads wrongly (a swapped matrix, an offset off by one) shows here.
func TestPartsReproducePredict(t *testing.T) {
	for _, act := range []backend.Activation{backend.Identity, backend.ReLU, backend.Tanh} {
		spec := partsSpec(act)
		spec.Hidden = []int{4, 3}
		p := checkParts(t, act.String(), spec, uint64(act))
		if p.Architecture != SharedBottom || p.Activation != act || len(p.Shared) != 2 || p.Levels != nil {
			t.Fatalf("parts: architecture %q, activation %v, %d shared layers, %d levels", p.Architecture, p.Activation, len(p.Shared), len(p.Levels))
		}
	}
}

// TestPartsReproducePredictMixtures checks Parts against Predict for the
// mixture-of-experts bodies (MMoE; PLE of one and two levels, with and
// without shared experts) and for embedding tables, whose vectors follow
// the dense inputs.
func TestPartsReproducePredictMixtures(t *testing.T) {
	cases := []struct {
		name                        string
		arch                        Arch
		experts, taskExperts, level int
		embed                       bool
		levels                      int // of Parts
	}{
		{name: "mmoe", arch: MMoE, experts: 3, levels: 1},
		{name: "mmoe, embeddings", arch: MMoE, experts: 2, embed: true, levels: 1},
		{name: "ple one level", arch: PLE, experts: 1, taskExperts: 2, level: 1, levels: 1},
		{name: "ple two levels, embeddings", arch: PLE, experts: 2, taskExperts: 1, level: 2, embed: true, levels: 2},
		{name: "ple three levels, no shared experts", arch: PLE, taskExperts: 2, level: 3, levels: 3},
		{name: "shared bottom, embeddings", arch: SharedBottom, embed: true},
	}
	for i, c := range cases {
		spec := partsSpec(backend.Tanh)
		spec.Arch, spec.Hidden, spec.Experts, spec.TaskExperts, spec.Levels = c.arch, []int{4, 3}, c.experts, c.taskExperts, c.level
		if c.embed {
			spec.Embeddings = []Embedding{{Name: "city", Rows: 6, Dim: 3}, {Name: "shop", Rows: 4, Dim: 2}}
		}
		p := checkParts(t, c.name, spec, uint64(10+i))
		if p.Architecture != c.arch || len(p.Levels) != c.levels || len(p.Tables) != len(spec.Embeddings) {
			t.Errorf("%s: architecture %q, %d levels, %d tables", c.name, p.Architecture, len(p.Levels), len(p.Tables))
		}
	}
}

// partsSpec is a model of every task type, two of them families.
func partsSpec(act backend.Activation) Spec {
	return Spec{Inputs: 5, Activation: act, Tasks: []Task{
		{Name: "kind", Type: Multiclass, Classes: 3, Groups: 4},
		{Name: "flag", Type: Binary, Classes: 1},
		{Name: "size", Type: Regression, Classes: 1, Groups: 4, Mean: 7, Std: 2.5},
	}}
}

// checkParts draws a model of spec and rows, and checks Predict against
// the forward pass computed from Parts in float64; it returns the parts.
func checkParts(t *testing.T, name string, spec Spec, seed uint64) Parts {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, seed))
	m := &Model{Spec: spec, Params: make([]float32, newLayout(spec).total)}
	for i := range m.Params {
		m.Params[i] = float32(rng.NormFloat64())
	}
	const n = 9
	d := &Dataset{N: n, X: make([]float32, n*spec.Inputs)}
	for i := range d.X {
		d.X[i] = float32(rng.NormFloat64())
	}
	for _, e := range spec.Embeddings {
		ix := make([]int32, n)
		for i := range ix {
			ix[i] = int32(rng.IntN(e.Rows))
		}
		d.Index = append(d.Index, ix)
	}
	groups := []int32{0, 1, 2, 3, -1, 2, 1, -1, 0}
	d.Groups = [][]int32{groups, nil, groups}
	want := predict(t, cpuBackend(t), m, d)

	p := m.Parts()
	act := spec.Activation
	phi := func(s float64) float64 {
		switch act {
		case backend.ReLU:
			return max(s, 0)
		case backend.Tanh:
			return math.Tanh(s)
		}
		return s
	}
	dense := func(h []float64, l Dense) []float64 {
		if len(h) != l.In {
			t.Fatalf("%s: a layer of %d inputs reads %d", name, l.In, len(h))
		}
		out := make([]float64, l.Out)
		for o := range l.Out {
			s := float64(l.Bias[o])
			for j := range l.In {
				s += h[j] * float64(l.W[j*l.Out+o])
			}
			out[o] = s
		}
		return out
	}
	layer := func(h []float64, l Dense) []float64 {
		out := dense(h, l)
		for o := range out {
			out[o] = phi(out[o])
		}
		return out
	}
	for i := range n {
		x := make([]float64, spec.Inputs)
		for j := range x {
			x[j] = float64(d.X[i*spec.Inputs+j])
		}
		for j, tb := range p.Tables {
			r := int(d.Index[j][i])
			for k := range tb.Dim {
				x = append(x, float64(tb.Data[r*tb.Dim+k]))
			}
		}
		// reps[t] is the representation task t's head reads.
		reps := make([][]float64, len(spec.Tasks))
		if len(p.Levels) == 0 {
			h := x
			for _, l := range p.Shared {
				h = layer(h, l)
			}
			for t := range reps {
				reps[t] = h
			}
		}
		var below [][]float64
		for l, lv := range p.Levels {
			in := func(q int) []float64 {
				if l == 0 {
					return x
				}
				return below[q]
			}
			hs := make([][]float64, len(lv.Experts))
			for e, ex := range lv.Experts {
				h := in(ex.Input)
				for _, ly := range ex.Layers {
					h = layer(h, ly)
				}
				hs[e] = h
			}
			mix := make([][]float64, len(lv.Gates))
			for q, g := range lv.Gates {
				logits := dense(in(g.Input), g.Dense)
				top := logits[0]
				for _, v := range logits {
					top = max(top, v)
				}
				var sum float64
				for s := range logits {
					logits[s] = math.Exp(logits[s] - top)
					sum += logits[s]
				}
				mix[q] = make([]float64, len(hs[g.Experts[0]]))
				for s, e := range g.Experts {
					for j, v := range hs[e] {
						mix[q][j] += logits[s] / sum * v
					}
				}
			}
			below = mix
		}
		if len(p.Levels) > 0 {
			copy(reps, below)
		}
		for ti, task := range spec.Tasks {
			rep := reps[ti]
			k := len(rep)
			logit := func(c int) float64 {
				z := float64(p.HeadBias[c])
				for j := range k {
					z += rep[j] * float64(p.Heads[c*k+j])
				}
				return z
			}
			out := task.Outputs()
			lg := make([]float64, out)
			for j := range out {
				lg[j] = logit(p.Col[ti] + j)
				if task.Groups > 0 && groups[i] >= 0 {
					lg[j] += logit(p.DevCol[ti] + int(groups[i])*out + j)
				}
			}
			got := make([]float64, out)
			switch task.Type {
			case Multiclass:
				var s float64
				for j := range out {
					s += math.Exp(lg[j])
				}
				for j := range out {
					got[j] = math.Exp(lg[j]) / s
				}
			case Binary:
				got[0] = 1 / (1 + math.Exp(-lg[0]))
			case Regression:
				got[0] = lg[0]*task.Std + task.Mean
			}
			for j := range out {
				w := float64(want[ti][i*out+j])
				if math.Abs(got[j]-w) > 1e-4*max(1, math.Abs(w)) {
					t.Errorf("%s: row %d task %s output %d: from parts %g, Predict %g", name, i, task.Name, j, got[j], w)
				}
			}
		}
	}
	return p
}
