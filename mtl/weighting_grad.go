package mtl

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// The methods that read the tasks' gradients of the shared layers through
// their Gram matrix (see taskgrad.go).

// gradNorm learns loss weights w that balance the tasks' gradient norms.
// gram is the Gram matrix of the tasks' gradients of the shared layers for
// the weighted losses w_t·L_t (so G_t = √gram_tt = w_t·‖∇L_t‖). With
// L̃_t = L_t/L_t(0) and r_t = L̃_t / mean(L̃), GradNorm pulls each G_t
// towards mean(G)·r_t^α by descending Σ_t |G_t − target_t| in w (the
// target held constant), then renormalises Σ w_t = T. The tasks' gradients
// are summed as usual.
//
// L_t(0) is the task's first defined loss: a task without a label in the
// first batch has its L_t(0) recorded at the first batch that has one, and
// until then (and whenever its loss is undefined) r_t counts as 1. An
// initial loss of 0 means none recorded yet.
type gradNorm struct {
	weights, initial []float64
	opt              adamState
	alpha, lr        float64
}

func (g *gradNorm) lossWeights(out []float64) { weightsOrOnes(g.weights, out) }
func (g *gradNorm) reads() (bool, bool)       { return true, true }
func (g *gradNorm) endEpoch([]float64)        {}

func (g *gradNorm) save() WeightingState {
	return WeightingState{Weights: slices.Clone(g.weights), Initial: slices.Clone(g.initial), M: slices.Clone(g.opt.m), V: slices.Clone(g.opt.v), Steps: g.opt.steps}
}

func (g *gradNorm) step(losses, gram []float64) []float64 {
	n := len(losses)
	if g.weights == nil {
		g.weights = ones(n)
	}
	first := g.initial == nil
	if first {
		g.initial = make([]float64, n)
	}
	for i, l := range losses {
		if g.initial[i] <= 0 && !math.IsNaN(l) {
			g.initial[i] = l
		}
	}
	if first {
		return nil
	}
	norms := make([]float64, n)
	var meanG, meanR float64
	rel := make([]float64, n)
	for i := range n {
		norms[i] = math.Sqrt(max(gram[i*n+i], 0))
		meanG += norms[i] / float64(n)
		rel[i] = 1
		if g.initial[i] > 0 && !math.IsNaN(losses[i]) {
			rel[i] = losses[i] / g.initial[i]
		}
		meanR += rel[i] / float64(n)
	}
	grad := make([]float64, n)
	for i := range n {
		target := meanG * math.Pow(rel[i]/meanR, g.alpha)
		if g.weights[i] > 0 {
			grad[i] = sign(norms[i]-target) * norms[i] / g.weights[i]
		}
	}
	g.opt.update(g.weights, grad, g.lr)
	var sum float64
	for i := range g.weights {
		g.weights[i] = max(g.weights[i], 1e-3)
		sum += g.weights[i]
	}
	for i := range g.weights {
		g.weights[i] *= float64(n) / sum
	}
	return nil
}

// pcgradWeighter combines the tasks' gradients by PCGrad, drawing each
// step's task orders from one generator whose state checkpoints keep.
type pcgradWeighter struct {
	src *rand.PCG
	rng *rand.Rand
}

func newPCGradWeighter(seed uint64, state []byte) (*pcgradWeighter, error) {
	p := &pcgradWeighter{src: rand.NewPCG(seed, streamPCGrad)}
	if state != nil {
		if err := p.src.UnmarshalBinary(state); err != nil {
			return nil, fmt.Errorf("checkpoint: task-order generator: %w", err)
		}
	}
	p.rng = rand.New(p.src)
	return p, nil
}

func (p *pcgradWeighter) lossWeights(out []float64) { fill(out, 1) }
func (p *pcgradWeighter) reads() (bool, bool)       { return false, true }
func (p *pcgradWeighter) endEpoch([]float64)        {}

func (p *pcgradWeighter) step(_, gram []float64) []float64 {
	return pcgrad(gram, int(math.Sqrt(float64(len(gram)))), p.rng)
}

func (p *pcgradWeighter) save() WeightingState {
	st, _ := p.src.MarshalBinary()
	return WeightingState{RNG: st}
}

// mgda steps along the minimum-norm point of the convex hull of the tasks'
// gradients.
type mgda struct{}

func (mgda) lossWeights(out []float64) { fill(out, 1) }
func (mgda) reads() (bool, bool)       { return false, true }
func (mgda) endEpoch([]float64)        {}
func (mgda) save() WeightingState      { return WeightingState{} }

func (mgda) step(_, gram []float64) []float64 {
	return minNorm(gram, int(math.Sqrt(float64(len(gram)))))
}

// pcgrad returns the coefficients c such that Σ_s c_s·g_s is PCGrad's
// combined gradient, working on the Gram matrix gram (n×n) of the task
// gradients g_s alone. Each task's gradient starts as itself and, for every
// other task j in a fresh random order, loses its projection on g_j when
// the two point apart: g_i ← g_i − (g_i·g_j / ‖g_j‖²)·g_j. Every g_i stays
// a combination Σ_r C_ir g_r, so g_i·g_j = Σ_r C_ir·gram_rj.
func pcgrad(gram []float64, n int, rng *rand.Rand) []float64 {
	out := make([]float64, n)
	coef := make([]float64, n)
	order := make([]int, 0, n)
	for i := range n {
		clear(coef)
		coef[i] = 1
		order = order[:0]
		for j := range n {
			if j != i {
				order = append(order, j)
			}
		}
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		for _, j := range order {
			gjj := gram[j*n+j]
			if gjj <= 0 {
				continue
			}
			var dot float64
			for r := range n {
				dot += coef[r] * gram[r*n+j]
			}
			if dot < 0 {
				coef[j] -= dot / gjj
			}
		}
		for r := range n {
			out[r] += coef[r]
		}
	}
	return out
}

// minNorm returns α in the probability simplex minimising ‖Σ_t α_t g_t‖² =
// αᵀ·gram·α, by Frank–Wolfe iterations with exact line search, the solver of
// Sener and Koltun (2018).
func minNorm(gram []float64, n int) []float64 {
	alpha := make([]float64, n)
	if n == 1 {
		alpha[0] = 1
		return alpha
	}
	// Start from the best pair.
	best, bi, bj, bg := math.Inf(1), 0, 1, 0.0
	for i := range n {
		for j := i + 1; j < n; j++ {
			g, v := lineMin(gram[i*n+i], gram[i*n+j], gram[j*n+j])
			if v < best {
				best, bi, bj, bg = v, i, j, g
			}
		}
	}
	alpha[bi], alpha[bj] = 1-bg, bg
	ga := make([]float64, n)
	for range 250 {
		for t := range n {
			ga[t] = 0
			for r := range n {
				ga[t] += gram[t*n+r] * alpha[r]
			}
		}
		t := 0
		for r := range n {
			if ga[r] < ga[t] {
				t = r
			}
		}
		var aga float64
		for r := range n {
			aga += alpha[r] * ga[r]
		}
		g, _ := lineMin(aga, ga[t], gram[t*n+t])
		if g*math.Abs(1-alpha[t]) < 1e-7 {
			break
		}
		for r := range n {
			alpha[r] *= 1 - g
		}
		alpha[t] += g
	}
	return alpha
}

// lineMin minimises ‖(1−γ)·u + γ·v‖² over γ ∈ [0, 1] given u·u, u·v and
// v·v, returning γ and the minimum.
func lineMin(uu, uv, vv float64) (float64, float64) {
	den := uu + vv - 2*uv
	g := 0.0
	if den > 0 {
		g = min(max((uu-uv)/den, 0), 1)
	} else if vv < uu {
		g = 1
	}
	return g, (1-g)*(1-g)*uu + 2*g*(1-g)*uv + g*g*vv
}

// gramStats returns the mean cosine between the task gradients and the
// share of task pairs whose gradients point apart (negative cosine).
func gramStats(gram []float64, n int) (cosMean, conflict float64) {
	pairs := 0
	for i := range n {
		for j := i + 1; j < n; j++ {
			d := math.Sqrt(gram[i*n+i] * gram[j*n+j])
			if d == 0 {
				continue
			}
			c := gram[i*n+j] / d
			cosMean += c
			if c < 0 {
				conflict++
			}
			pairs++
		}
	}
	if pairs == 0 {
		return math.NaN(), math.NaN()
	}
	return cosMean / float64(pairs), conflict / float64(pairs)
}
