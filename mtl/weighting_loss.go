package mtl

import (
	"math"
	"slices"
)

// The methods that weight the task losses from the losses alone.

// uncertainty learns a log-variance s_t per task: the loss
//
//	Σ_t e^{−s_t}·L_t/2 + s_t/2
//
// has ∂/∂s_t = −e^{−s_t}·L_t/2 + 1/2, descended by Adam at every step.
type uncertainty struct {
	logVar []float64
	opt    adamState
	lr     float64
}

func (u *uncertainty) lossWeights(out []float64) {
	for i := range out {
		out[i] = 0.5
		if u.logVar != nil {
			out[i] = math.Exp(-u.logVar[i]) / 2
		}
	}
}

func (u *uncertainty) reads() (bool, bool) { return true, false }

func (u *uncertainty) step(losses, _ []float64) []float64 {
	if u.logVar == nil {
		u.logVar = make([]float64, len(losses))
	}
	g := make([]float64, len(losses))
	for i, l := range losses {
		if !math.IsNaN(l) {
			g[i] = -math.Exp(-u.logVar[i])*l/2 + 0.5
		}
	}
	u.opt.update(u.logVar, g, u.lr)
	return nil
}

func (u *uncertainty) endEpoch([]float64) {}

func (u *uncertainty) save() WeightingState {
	return WeightingState{LogVar: slices.Clone(u.logVar), M: slices.Clone(u.opt.m), V: slices.Clone(u.opt.v), Steps: u.opt.steps}
}

// dwa sets the weights of each epoch from the last two epochs' mean
// losses: λ_t = T·softmax_t(r_t/τ), r_t = L_t(e−1)/L_t(e−2). Until two
// epochs have passed the weights are 1, and r_t is 1 while either loss is
// undefined (an epoch without a label for the task, kept in the history
// as −1, since a checkpoint cannot hold NaN).
type dwa struct {
	weights []float64
	history [][]float64
	temp    float64
}

func (d *dwa) lossWeights(out []float64)     { weightsOrOnes(d.weights, out) }
func (d *dwa) reads() (bool, bool)           { return false, false }
func (d *dwa) step(_, _ []float64) []float64 { return nil }
func (d *dwa) save() WeightingState {
	return WeightingState{Weights: slices.Clone(d.weights), History: cloneRows(d.history)}
}
func cloneRows(rows [][]float64) (out [][]float64) {
	for _, r := range rows {
		out = append(out, slices.Clone(r))
	}
	return out
}

func (d *dwa) endEpoch(losses []float64) {
	rec := slices.Clone(losses)
	for i, l := range rec {
		if math.IsNaN(l) {
			rec[i] = -1
		}
	}
	d.history = append(d.history, rec)
	if len(d.history) > 2 {
		d.history = d.history[len(d.history)-2:]
	}
	n := len(losses)
	if len(d.history) < 2 {
		d.weights = nil
		return
	}
	prev, last := d.history[0], d.history[1]
	r := make([]float64, n)
	mx := math.Inf(-1)
	for i := range r {
		r[i] = 1
		if prev[i] > 0 && last[i] >= 0 {
			r[i] = last[i] / prev[i]
		}
		r[i] /= d.temp
		mx = max(mx, r[i])
	}
	var sum float64
	for i := range r {
		r[i] = math.Exp(r[i] - mx)
		sum += r[i]
	}
	d.weights = make([]float64, n)
	for i := range r {
		d.weights[i] = float64(n) * r[i] / sum
	}
}
