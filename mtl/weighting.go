package mtl

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// Method names a way of combining the task losses and gradients.
type Method string

const (
	// Equal sums the task losses with their static weights λ_t.
	Equal Method = "equal"
	// Uncertainty learns a log-variance s_t per task and weights its loss
	// by e^{−s_t}/2, adding s_t/2 (Kendall, Gal and Cipolla 2018).
	Uncertainty Method = "uncertainty"
	// DWA sets each epoch's weights from how fast each loss fell over the
	// two epochs before (dynamic weight average, Liu et al. 2019).
	DWA Method = "dwa"
	// GradNorm learns weights that balance the norms of the tasks'
	// gradients of the shared layers against their relative training rates
	// (Chen et al. 2018).
	GradNorm Method = "gradnorm"
	// PCGrad projects each task's gradient of the shared layers off the
	// gradients it conflicts with before summing (Yu et al. 2020).
	PCGrad Method = "pcgrad"
	// MGDA steps along the minimum-norm convex combination of the tasks'
	// gradients of the shared layers (Sener and Koltun 2018).
	MGDA Method = "mgda"
)

// Methods lists every weighting method.
var Methods = []Method{Equal, Uncertainty, DWA, GradNorm, PCGrad, MGDA}

// ParseMethod returns the method named s.
func ParseMethod(s string) (Method, error) {
	for _, m := range Methods {
		if string(m) == s {
			return m, nil
		}
	}
	names := make([]string, len(Methods))
	for i, m := range Methods {
		names[i] = string(m)
	}
	return "", fmt.Errorf("unknown weighting %q (want %s)", s, strings.Join(names, ", "))
}

// Weighting chooses how task losses and gradients are combined. A task
// family counts as one task for every method.
type Weighting struct {
	Method Method `json:"method"`
	// Alpha is GradNorm's asymmetry α: the larger, the more strongly tasks
	// that train slowly are favoured. 0 means 1.5.
	Alpha float64 `json:"alpha,omitempty"`
	// Temperature is DWA's softmax temperature; 0 means 2.
	Temperature float64 `json:"temperature,omitempty"`
	// LR is the learning rate of learned weights (Uncertainty, GradNorm);
	// 0 means 0.025.
	LR float64 `json:"lr,omitempty"`
}

func (w Weighting) method() Method {
	if w.Method == "" {
		return Equal
	}
	return w.Method
}

func (w Weighting) validate() error {
	if _, err := ParseMethod(string(w.method())); err != nil {
		return err
	}
	if w.Alpha < 0 || w.Temperature < 0 || w.LR < 0 {
		return fmt.Errorf("weighting parameters must be ≥ 0")
	}
	return nil
}

// usesGram reports whether the method needs the tasks' gradients of the
// shared layers (and their Gram matrix) at every step.
func (w Weighting) usesGram() bool {
	switch w.method() {
	case GradNorm, PCGrad, MGDA:
		return true
	}
	return false
}

// combines reports whether the method replaces the sum of the tasks'
// gradients of the shared layers by another combination of them.
func (w Weighting) combines() bool {
	m := w.method()
	return m == PCGrad || m == MGDA
}

// stepLosses reports whether the method reads the task losses of every
// step.
func (w Weighting) stepLosses() bool {
	m := w.method()
	return m == Uncertainty || m == GradNorm
}

func (w Weighting) alpha() float64 { return orDefault(w.Alpha, 1.5) }
func (w Weighting) temp() float64  { return orDefault(w.Temperature, 2) }
func (w Weighting) lr() float64    { return orDefault(w.LR, 0.025) }

func orDefault(v, d float64) float64 {
	if v == 0 {
		return d
	}
	return v
}

// WeightingState is the learnt state of a weighting method, saved in model
// files so that --resume continues it.
type WeightingState struct {
	// Weights are the current multipliers of the task losses (DWA,
	// GradNorm); nil means all 1.
	Weights []float64 `json:"weights,omitempty"`
	// LogVar are Uncertainty's s_t.
	LogVar []float64 `json:"log_var,omitempty"`
	// M and V are the Adam moments of the learnt parameters, Steps their
	// step count.
	M     []float64 `json:"m,omitempty"`
	V     []float64 `json:"v,omitempty"`
	Steps int       `json:"steps,omitempty"`
	// Initial holds GradNorm's first losses L_t(0).
	Initial []float64 `json:"initial,omitempty"`
	// History holds the mean task losses of the last two epochs (DWA).
	History [][]float64 `json:"history,omitempty"`
	// RNG is the state of PCGrad's task-order generator.
	RNG []byte `json:"rng,omitempty"`
}

// clone returns a deep copy.
func (s WeightingState) clone() WeightingState {
	c := s
	c.Weights = slices.Clone(s.Weights)
	c.LogVar = slices.Clone(s.LogVar)
	c.M, c.V = slices.Clone(s.M), slices.Clone(s.V)
	c.Initial = slices.Clone(s.Initial)
	c.History = nil
	for _, h := range s.History {
		c.History = append(c.History, slices.Clone(h))
	}
	c.RNG = slices.Clone(s.RNG)
	return c
}

// lossWeights sets out to the multipliers of the task losses for the next
// step (1 for methods that do not weight losses).
func (s *WeightingState) lossWeights(w Weighting, out []float64) []float64 {
	for i := range out {
		out[i] = 1
		switch {
		case w.method() == Uncertainty && s.LogVar != nil:
			out[i] = math.Exp(-s.LogVar[i]) / 2
		case w.method() == Uncertainty:
			out[i] = 0.5
		case s.Weights != nil:
			out[i] = s.Weights[i]
		}
	}
	return out
}

// adam applies one Adam step to params with gradient g.
func (s *WeightingState) adam(params, g []float64, lr float64) {
	const b1, b2, eps = 0.9, 0.999, 1e-8
	if s.M == nil {
		s.M, s.V = make([]float64, len(params)), make([]float64, len(params))
	}
	s.Steps++
	c1 := 1 - math.Pow(b1, float64(s.Steps))
	c2 := 1 - math.Pow(b2, float64(s.Steps))
	for i := range params {
		s.M[i] = b1*s.M[i] + (1-b1)*g[i]
		s.V[i] = b2*s.V[i] + (1-b2)*g[i]*g[i]
		params[i] -= lr * (s.M[i] / c1) / (math.Sqrt(s.V[i]/c2) + eps)
	}
}

// uncertaintyStep updates the log-variances from the step's task losses:
// the loss Σ_t e^{−s_t}·L_t/2 + s_t/2 has ∂/∂s_t = −e^{−s_t}·L_t/2 + 1/2.
func (s *WeightingState) uncertaintyStep(losses []float64, lr float64) {
	if s.LogVar == nil {
		s.LogVar = make([]float64, len(losses))
	}
	g := make([]float64, len(losses))
	for i, l := range losses {
		if !math.IsNaN(l) {
			g[i] = -math.Exp(-s.LogVar[i])*l/2 + 0.5
		}
	}
	s.adam(s.LogVar, g, lr)
}

// dwaEpoch sets the weights of the next epoch from the last two epochs'
// mean losses: λ_t = T·softmax_t(r_t/τ), r_t = L_t(e−1)/L_t(e−2). Until
// two epochs have passed the weights are 1.
func (s *WeightingState) dwaEpoch(losses []float64, temp float64) {
	s.History = append(s.History, append([]float64(nil), losses...))
	if len(s.History) > 2 {
		s.History = s.History[len(s.History)-2:]
	}
	n := len(losses)
	if len(s.History) < 2 {
		s.Weights = nil
		return
	}
	prev, last := s.History[0], s.History[1]
	r := make([]float64, n)
	mx := math.Inf(-1)
	for i := range r {
		r[i] = 1
		if prev[i] > 0 && !math.IsNaN(last[i]) && !math.IsNaN(prev[i]) {
			r[i] = last[i] / prev[i]
		}
		r[i] /= temp
		mx = max(mx, r[i])
	}
	var sum float64
	for i := range r {
		r[i] = math.Exp(r[i] - mx)
		sum += r[i]
	}
	s.Weights = make([]float64, n)
	for i := range r {
		s.Weights[i] = float64(n) * r[i] / sum
	}
}

// gradNormStep updates GradNorm's weights. gram is the Gram matrix of the
// tasks' gradients of the shared layers for the weighted losses w_t·L_t
// (so G_t = √gram_tt = w_t·‖∇L_t‖), losses the step's task losses. With
// L̃_t = L_t/L_t(0) and r_t = L̃_t / mean(L̃), GradNorm pulls each G_t
// towards mean(G)·r_t^α by descending Σ_t |G_t − target_t| in w (the
// target held constant), then renormalises Σ w_t = T.
func (s *WeightingState) gradNormStep(gram, losses []float64, alpha, lr float64) {
	n := len(losses)
	if s.Weights == nil {
		s.Weights = ones(n)
	}
	if s.Initial == nil {
		s.Initial = append([]float64(nil), losses...)
		return
	}
	g := make([]float64, n)
	var meanG, meanR float64
	rel := make([]float64, n)
	for i := range n {
		g[i] = math.Sqrt(max(gram[i*n+i], 0))
		meanG += g[i] / float64(n)
		rel[i] = 1
		if s.Initial[i] > 0 && !math.IsNaN(losses[i]) {
			rel[i] = losses[i] / s.Initial[i]
		}
		meanR += rel[i] / float64(n)
	}
	grad := make([]float64, n)
	for i := range n {
		target := meanG * math.Pow(rel[i]/meanR, alpha)
		if s.Weights[i] > 0 {
			grad[i] = sign(g[i]-target) * g[i] / s.Weights[i]
		}
	}
	s.adam(s.Weights, grad, lr)
	var sum float64
	for i := range s.Weights {
		s.Weights[i] = max(s.Weights[i], 1e-3)
		sum += s.Weights[i]
	}
	for i := range s.Weights {
		s.Weights[i] *= float64(n) / sum
	}
}

func sign(v float64) float64 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

func ones(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = 1
	}
	return v
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
