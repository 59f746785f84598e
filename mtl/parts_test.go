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
		spec := Spec{Inputs: 5, Hidden: []int{4, 3}, Activation: act, Tasks: []Task{
			{Name: "kind", Type: Multiclass, Classes: 3, Groups: 4},
			{Name: "flag", Type: Binary, Classes: 1},
			{Name: "size", Type: Regression, Classes: 1, Groups: 4, Mean: 7, Std: 2.5},
		}}
		rng := rand.New(rand.NewPCG(3, uint64(act)))
		m := &Model{Spec: spec, Params: make([]float32, newLayout(spec).total)}
		for i := range m.Params {
			m.Params[i] = float32(rng.NormFloat64())
		}
		const n = 9
		d := &Dataset{N: n, X: make([]float32, n*spec.Inputs)}
		for i := range d.X {
			d.X[i] = float32(rng.NormFloat64())
		}
		groups := []int32{0, 1, 2, 3, -1, 2, 1, -1, 0}
		d.Groups = [][]int32{groups, nil, groups}
		want := predict(t, cpuBackend(t), m, d)

		p := m.Parts()
		if p.Architecture != SharedBottom || p.Activation != act || len(p.Shared) != 2 {
			t.Fatalf("parts: architecture %q, activation %v, %d shared layers", p.Architecture, p.Activation, len(p.Shared))
		}
		for i := range n {
			h := make([]float64, spec.Inputs)
			for j := range h {
				h[j] = float64(d.X[i*spec.Inputs+j])
			}
			for _, l := range p.Shared {
				next := make([]float64, l.Out)
				for o := range l.Out {
					s := float64(l.Bias[o])
					for j := range l.In {
						s += h[j] * float64(l.W[j*l.Out+o])
					}
					switch act {
					case backend.ReLU:
						s = max(s, 0)
					case backend.Tanh:
						s = math.Tanh(s)
					}
					next[o] = s
				}
				h = next
			}
			k := len(h)
			z := make([]float64, len(p.HeadBias))
			for c := range z {
				z[c] = float64(p.HeadBias[c])
				for j := range k {
					z[c] += h[j] * float64(p.Heads[c*k+j])
				}
			}
			for ti, task := range spec.Tasks {
				out := task.Outputs()
				logit := make([]float64, out)
				for j := range out {
					logit[j] = z[p.Col[ti]+j]
					if task.Groups > 0 && groups[i] >= 0 {
						logit[j] += z[p.DevCol[ti]+int(groups[i])*out+j]
					}
				}
				got := make([]float64, out)
				switch task.Type {
				case Multiclass:
					var s float64
					for j := range out {
						s += math.Exp(logit[j])
					}
					for j := range out {
						got[j] = math.Exp(logit[j]) / s
					}
				case Binary:
					got[0] = 1 / (1 + math.Exp(-logit[0]))
				case Regression:
					got[0] = logit[0]*task.Std + task.Mean
				}
				for j := range out {
					w := float64(want[ti][i*out+j])
					if math.Abs(got[j]-w) > 1e-4*max(1, math.Abs(w)) {
						t.Errorf("%v: row %d task %s output %d: from parts %g, Predict %g", act, i, task.Name, j, got[j], w)
					}
				}
			}
		}
	}
}
