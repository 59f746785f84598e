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
// gradients of the shared layers (see minnorm.go). A task whose gradient is
// zero, because the batch has no label for it, is left out of the step's
// problem with coefficient 0: its vertex, the origin, would otherwise be
// the minimum-norm point and stop the shared layers for every task.
type mgda struct{}

func (mgda) lossWeights(out []float64) { fill(out, 1) }
func (mgda) reads() (bool, bool)       { return false, true }
func (mgda) endEpoch([]float64)        {}
func (mgda) save() WeightingState      { return WeightingState{} }

func (mgda) step(_, gram []float64) []float64 {
	n := int(math.Sqrt(float64(len(gram))))
	var live []int
	for t := range n {
		if gram[t*n+t] > 0 {
			live = append(live, t)
		}
	}
	out := make([]float64, n)
	if len(live) == 0 {
		return out
	}
	sub := make([]float64, len(live)*len(live))
	for a, s := range live {
		for b, t := range live {
			sub[a*len(live)+b] = gram[s*n+t]
		}
	}
	for a, c := range minNorm(sub, len(live)) {
		out[live[a]] = c
	}
	return out
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
