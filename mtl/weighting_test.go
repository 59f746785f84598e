package mtl

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/backendtest"
)

// gramOf returns the Gram matrix of vectors.
func gramOf(vs [][]float64) []float64 {
	n := len(vs)
	g := make([]float64, n*n)
	for i := range vs {
		for j := range vs {
			for k := range vs[i] {
				g[i*n+j] += vs[i][k] * vs[j][k]
			}
		}
	}
	return g
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestPCGradHandWorked(t *testing.T) {
	// g1 = (1, 0) and g2 = (−1, 1) conflict: g1' = g1 + ½·g2 = (½, ½),
	// g2' = g2 + g1 = (0, 1); their sum (½, 3/2) is 2·g1 + 3/2·g2.
	c := pcgrad(gramOf([][]float64{{1, 0}, {-1, 1}}), 2, rand.New(rand.NewPCG(1, 1)))
	if !near(c[0], 2) || !near(c[1], 1.5) {
		t.Errorf("coefficients %v, want [2 1.5]", c)
	}
	// Gradients that agree are summed unchanged.
	c = pcgrad(gramOf([][]float64{{1, 0}, {1, 1}}), 2, rand.New(rand.NewPCG(1, 1)))
	if !near(c[0], 1) || !near(c[1], 1) {
		t.Errorf("coefficients %v, want [1 1]", c)
	}
}

// TestPCGradMatchesVectors runs PCGrad on explicit vectors, in the same
// random orders, and compares with the coefficients found from the Gram
// matrix alone.
func TestPCGradMatchesVectors(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for trial := range 20 {
		n, dim := 2+trial%4, 7
		vs := make([][]float64, n)
		for i := range vs {
			vs[i] = make([]float64, dim)
			for k := range vs[i] {
				vs[i][k] = rng.NormFloat64()
			}
		}
		c := pcgrad(gramOf(vs), n, rand.New(rand.NewPCG(uint64(trial), 9)))
		order := rand.New(rand.NewPCG(uint64(trial), 9))
		want := make([]float64, dim)
		for i := range n {
			g := slices.Clone(vs[i])
			var others []int
			for j := range n {
				if j != i {
					others = append(others, j)
				}
			}
			order.Shuffle(len(others), func(a, b int) { others[a], others[b] = others[b], others[a] })
			for _, j := range others {
				var dot, nn float64
				for k := range g {
					dot += g[k] * vs[j][k]
					nn += vs[j][k] * vs[j][k]
				}
				if dot < 0 {
					for k := range g {
						g[k] -= dot / nn * vs[j][k]
					}
				}
			}
			for k := range g {
				want[k] += g[k]
			}
		}
		for k := range dim {
			var got float64
			for i := range n {
				got += c[i] * vs[i][k]
			}
			if !near(got, want[k]) {
				t.Fatalf("trial %d: component %d is %g, PCGrad on the vectors gives %g", trial, k, got, want[k])
			}
		}
	}
}

func TestMinNorm(t *testing.T) {
	// g1 = (1, 0), g2 = (0, 2): ‖α·g1 + (1−α)·g2‖² = α² + 4(1−α)² is least at
	// α = 4/5.
	a := minNorm(gramOf([][]float64{{1, 0}, {0, 2}}), 2)
	if !near(a[0], 0.8) || !near(a[1], 0.2) {
		t.Errorf("α = %v, want [0.8 0.2]", a)
	}
	// The min-norm point of three random gradients beats every point of a
	// fine grid on the simplex.
	rng := rand.New(rand.NewPCG(2, 2))
	for range 10 {
		vs := make([][]float64, 3)
		for i := range vs {
			vs[i] = []float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
		}
		g := gramOf(vs)
		quad := func(a []float64) float64 {
			var s float64
			for i := range 3 {
				for j := range 3 {
					s += a[i] * a[j] * g[i*3+j]
				}
			}
			return s
		}
		a := minNorm(g, 3)
		if s := a[0] + a[1] + a[2]; !near(s, 1) || slices.Min(a) < 0 {
			t.Fatalf("α = %v is not in the simplex", a)
		}
		best := math.Inf(1)
		const steps = 200
		for i := 0; i <= steps; i++ {
			for j := 0; i+j <= steps; j++ {
				best = min(best, quad([]float64{float64(i) / steps, float64(j) / steps, float64(steps-i-j) / steps}))
			}
		}
		if quad(a) > best+1e-6 {
			t.Fatalf("‖Σαg‖² = %g, a grid point reaches %g", quad(a), best)
		}
	}
}

func TestUncertaintyStep(t *testing.T) {
	// At s = 0 the gradient of Σ e^{−s}·L/2 + s/2 is −L/2 + 1/2: for losses
	// 2 and 0.5 that is −0.5 and +0.25, so Adam's first step moves s by +lr
	// and −lr, and the loss weights e^{−s}/2 follow.
	u := &uncertainty{lr: 0.1}
	got := make([]float64, 2)
	if u.lossWeights(got); !slices.Equal(got, []float64{0.5, 0.5}) {
		t.Errorf("initial weights %v", got)
	}
	u.step([]float64{2, 0.5}, nil)
	// (Adam's ε makes the step a hair shorter than lr.)
	close := func(a, b float64) bool { return math.Abs(a-b) < 1e-6 }
	if !close(u.logVar[0], 0.1) || !close(u.logVar[1], -0.1) {
		t.Errorf("log-variances %v, want [0.1 -0.1]", u.logVar)
	}
	u.lossWeights(got)
	if !close(got[0], math.Exp(-0.1)/2) || !close(got[1], math.Exp(0.1)/2) {
		t.Errorf("weights %v", got)
	}
}

func TestDWA(t *testing.T) {
	d := &dwa{temp: 2}
	d.endEpoch([]float64{1, 1})
	if d.weights != nil {
		t.Fatalf("weights after one epoch: %v", d.weights)
	}
	d.endEpoch([]float64{0.5, 1})
	// r = (0.5, 1), λ = 2·softmax(r/2).
	e1, e2 := math.Exp(0.25), math.Exp(0.5)
	if !near(d.weights[0], 2*e1/(e1+e2)) || !near(d.weights[1], 2*e2/(e1+e2)) {
		t.Errorf("weights %v", d.weights)
	}
	// The task whose loss fell more gets less weight.
	if d.weights[0] >= d.weights[1] {
		t.Errorf("faster task has the larger weight: %v", d.weights)
	}
}

func TestGradNormStep(t *testing.T) {
	g := &gradNorm{alpha: 1.5, lr: 0.1}
	g.step([]float64{1, 1}, []float64{4, 0, 0, 1}) // records L(0)
	if !slices.Equal(g.weights, []float64{1, 1}) || !slices.Equal(g.initial, []float64{1, 1}) {
		t.Fatalf("after the first step: %+v", g)
	}
	// G = (2, 1), mean 1.5; L̃ = (0.5, 1), r = (2/3, 4/3); targets
	// 1.5·r^1.5 ≈ (0.82, 2.31): task 0's gradient is too large, task 1's
	// too small. Adam's first step moves w by ∓lr; the sum stays 2.
	g.step([]float64{0.5, 1}, []float64{4, 0, 0, 1})
	if math.Abs(g.weights[0]-0.9) > 1e-6 || math.Abs(g.weights[1]-1.1) > 1e-6 {
		t.Errorf("weights %v, want [0.9 1.1]", g.weights)
	}
}

func TestGramStats(t *testing.T) {
	cos, conflict := gramStats(gramOf([][]float64{{1, 0}, {-1, 1}, {0, 1}}), 3)
	want := (-1/math.Sqrt(2) + 0 + 1/math.Sqrt(2)) / 3
	if !near(cos, want) || !near(conflict, 1.0/3) {
		t.Errorf("cosine %g (want %g), conflict share %g (want 1/3)", cos, want, conflict)
	}
}

// TestTaskGradientsMatchSeparatePasses computes every task's gradient of
// the shared parameters with the batched path and, separately, with one
// ordinary backward pass per task (loss weight 1 for that task, 0 for the
// others), on the float64 reference backend; with dropout, both see the
// step's masks.
func TestTaskGradientsMatchSeparatePasses(t *testing.T) {
	uniform := Spec{Tasks: []Task{{Name: "a", Type: Multiclass, Classes: 3}, {Name: "b", Type: Multiclass, Classes: 3}, {Name: "c", Type: Multiclass, Classes: 3, Weight: 2}}}
	for _, c := range []struct {
		name    string
		spec    Spec
		inputs  int
		hidden  []int
		act     backend.Activation
		dropout float64
	}{
		{"linear", gradSpec(nil, 0), 6, []int{4}, backend.Identity, 0},
		{"linear/uniform", uniform, 6, []int{4}, backend.Identity, 0},
		{"relu/uniform", uniform, 6, []int{5}, backend.ReLU, 0},
		{"tanh/two layers", gradSpec(nil, 0), 6, []int{5, 4}, backend.Tanh, 0},
		{"relu/three layers", gradSpec(nil, 0), 7, []int{6, 5, 3}, backend.ReLU, 0},
		{"linear/dropout", gradSpec(nil, 0), 6, []int{4}, backend.Identity, 0.3},
		{"relu/uniform/dropout", uniform, 6, []int{5}, backend.ReLU, 0.3},
		{"tanh/two layers/dropout", gradSpec(nil, 0), 6, []int{5, 4}, backend.Tanh, 0.4},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := c.spec
			spec.Inputs, spec.Hidden, spec.Activation = c.inputs, c.hidden, c.act
			tr, data := referenceTrainer(t, spec, 19, 3, PCGrad, withDropout(c.dropout))
			ref := backendtest.Reference{}
			x, dz := tr.gradient(0, data.N)
			tr.taskGradients(x, dz, 0)
			tr.taskGram()
			g := ref.Values(tr.tg.g)
			gram := ref.Values(tr.tg.gram)
			offs, p := tr.lay.layerOffsets()
			nt := len(spec.Tasks)
			for task := range nt {
				w := make([]float32, nt)
				w[task] = float32(spec.Tasks[task].weight())
				ref.WriteFloat32(tr.loss.weights, 0, w)
				x, dz := tr.gradient(0, data.N)
				tr.backward(x, dz, tr.optim.grads, 0)
				grads := ref.Values(tr.optim.grads)
				for l := range tr.lay.layers() {
					kin, kout := tr.lay.widths[l], tr.lay.widths[l+1]
					for i := range kin * kout {
						if got, want := g[task*p+offs[l]+i], grads[tr.lay.weights[l]+i]; !backendtest.Within(got, want, 1e-12, 1e-9) {
							t.Fatalf("task %d, layer %d weight %d: batched %g, separate pass %g", task, l, i, got, want)
						}
					}
					for i := range kout {
						if got, want := g[task*p+offs[l]+kin*kout+i], grads[tr.lay.biases[l]+i]; !backendtest.Within(got, want, 1e-12, 1e-9) {
							t.Fatalf("task %d, layer %d bias %d: batched %g, separate pass %g", task, l, i, got, want)
						}
					}
				}
			}
			// The Gram matrix holds the inner products of the rows of G.
			for s := range nt {
				for u := range nt {
					var dot float64
					for i := range p {
						dot += g[s*p+i] * g[u*p+i]
					}
					if !backendtest.Within(gram[s*nt+u], dot, 1e-12, 1e-9) {
						t.Fatalf("gram[%d,%d] = %g, want %g", s, u, gram[s*nt+u], dot)
					}
				}
			}
			// Combining with w gives Σ w_t·g_t as the shared gradient.
			w := []float32{0.5, -2, 1.25}
			w = append(w, make([]float32, max(0, nt-3))...)[:nt]
			tr.combine(w)
			grads := ref.Values(tr.optim.grads)
			for l := range tr.lay.layers() {
				kin, kout := tr.lay.widths[l], tr.lay.widths[l+1]
				for i := range kin * kout {
					var want float64
					for task := range nt {
						want += float64(w[task]) * g[task*p+offs[l]+i]
					}
					if got := grads[tr.lay.weights[l]+i]; !backendtest.Within(got, want, 1e-12, 1e-9) {
						t.Fatalf("combined layer %d weight %d: %g, want %g", l, i, got, want)
					}
				}
			}
		})
	}
}
