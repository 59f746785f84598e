package mtl

import (
	"fmt"
	"math"
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
// files so that a resumed run continues it.
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
	// Initial holds GradNorm's first losses L_t(0), 0 for a task that has
	// had no label yet.
	Initial []float64 `json:"initial,omitempty"`
	// History holds the mean task losses of the last two epochs (DWA), −1
	// for a task that had no label in the epoch.
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

// weighter is a weighting method at work in a trainer. The trainer asks it
// for the weights of the task losses before each step, gives it what it
// asked to read after the step's forward pass, and uses the combination of
// the tasks' gradients it returns. Each method keeps its learnt state and
// saves it for checkpoints.
type weighter interface {
	// lossWeights sets out[t] to the method's multiplier of task t's loss
	// for the next step (the trainer multiplies in the static λ_t).
	lossWeights(out []float64)
	// reads says what step needs: the step's mean task losses, and the
	// Gram matrix of the tasks' gradients of the shared layers.
	reads() (losses, gram bool)
	// step is called once per optimiser step, after the forward pass, with
	// the step's mean task losses (NaN for a task without a label in the
	// batch) and the T×T Gram matrix, each nil unless reads asked for it.
	// It returns the coefficients c of the combination Σ_t c_t·g_t that
	// replaces the sum of the tasks' gradients g_t of the shared layers,
	// or nil when the loss weights apply as they are.
	step(losses, gram []float64) []float64
	// endEpoch is called with the epoch's mean task losses.
	endEpoch(losses []float64)
	// save returns the learnt state for a checkpoint.
	save() WeightingState
}

// newWeighter returns the weighter of w for n tasks, continuing the learnt
// state st (the zero value for a fresh run). seed draws PCGrad's task
// orders.
func newWeighter(w Weighting, n int, seed uint64, st WeightingState) (weighter, error) {
	st = st.clone()
	switch w.method() {
	case Uncertainty:
		return &uncertainty{logVar: st.LogVar, opt: adamState{m: st.M, v: st.V, steps: st.Steps}, lr: w.lr()}, nil
	case DWA:
		return &dwa{weights: st.Weights, history: st.History, temp: w.temp()}, nil
	case GradNorm:
		return &gradNorm{weights: st.Weights, initial: st.Initial, opt: adamState{m: st.M, v: st.V, steps: st.Steps}, alpha: w.alpha(), lr: w.lr()}, nil
	case PCGrad:
		return newPCGradWeighter(seed, st.RNG)
	case MGDA:
		return mgda{}, nil
	}
	return equal{}, nil
}

// equal weights every task by its static λ_t alone.
type equal struct{}

func (equal) lossWeights(out []float64)     { fill(out, 1) }
func (equal) reads() (bool, bool)           { return false, false }
func (equal) step(_, _ []float64) []float64 { return nil }
func (equal) endEpoch([]float64)            {}
func (equal) save() WeightingState          { return WeightingState{} }

// fill sets every element of v to x.
func fill(v []float64, x float64) {
	for i := range v {
		v[i] = x
	}
}

func ones(n int) []float64 {
	v := make([]float64, n)
	fill(v, 1)
	return v
}

// weightsOrOnes sets out to w, or to all 1 when w is nil.
func weightsOrOnes(w, out []float64) {
	if w == nil {
		fill(out, 1)
		return
	}
	copy(out, w)
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

// adamState is Adam on the learnt parameters of a weighting method.
type adamState struct {
	m, v  []float64
	steps int
}

// update applies one Adam step to params with gradient g.
func (s *adamState) update(params, g []float64, lr float64) {
	const b1, b2, eps = 0.9, 0.999, 1e-8
	if s.m == nil {
		s.m, s.v = make([]float64, len(params)), make([]float64, len(params))
	}
	s.steps++
	c1 := 1 - math.Pow(b1, float64(s.steps))
	c2 := 1 - math.Pow(b2, float64(s.steps))
	for i := range params {
		s.m[i] = b1*s.m[i] + (1-b1)*g[i]
		s.v[i] = b2*s.v[i] + (1-b2)*g[i]*g[i]
		params[i] -= lr * (s.m[i] / c1) / (math.Sqrt(s.v[i]/c2) + eps)
	}
}
