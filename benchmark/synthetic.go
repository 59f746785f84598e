package benchmark

import (
	"context"
	"math"
	"math/rand/v2"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// Synthetic is the controlled-correlation problem of the MMoE paper (Ma et
// al., KDD 2018, §4): two regression tasks on standard-normal inputs x ∈ R^d
// whose weight vectors w₁ and w₂ have cosine ρ,
//
//	w₁ = c·u₁,  w₂ = c·(ρ·u₁ + √(1−ρ²)·u₂)      u₁ ⊥ u₂, unit vectors
//	y_t = w_tᵀx + Σ_{i=1}^{m} sin(α_i·w_tᵀx + β_i) + ε_t
//
// with m = 10 sinusoids whose α_i, β_i are drawn once per data set and
// ε_t ~ N(0, 0.01). The lower ρ, the less the tasks' labels agree; the paper
// shows a shared bottom degrading much more than MMoE as ρ falls from 1.
type Synthetic struct {
	// Inputs is d, Scale c, Rho the cosine ρ.
	Inputs int
	Scale  float64
	Rho    float64
	// Sinusoids is m.
	Sinusoids int
}

// PaperSynthetic returns the paper's settings for a correlation ρ: d = 100,
// c = 1, m = 10.
func PaperSynthetic(rho float64) Synthetic {
	return Synthetic{Inputs: 100, Scale: 1, Rho: rho, Sinusoids: 10}
}

// Generate draws a training set of n rows and a test set of test rows from
// one draw of the problem's parameters (seed), and returns the two-task
// regression spec they fit.
func (s Synthetic) Generate(n, test int, seed uint64) (mtl.Spec, *mtl.Dataset, *mtl.Dataset) {
	rng := rand.New(rand.NewPCG(seed, 0x6d6d6f65))
	d := s.Inputs
	// Two orthonormal vectors by Gram–Schmidt.
	u1, u2 := make([]float64, d), make([]float64, d)
	for i := range u1 {
		u1[i], u2[i] = rng.NormFloat64(), rng.NormFloat64()
	}
	normalise(u1)
	var dot float64
	for i := range u1 {
		dot += u1[i] * u2[i]
	}
	for i := range u2 {
		u2[i] -= dot * u1[i]
	}
	normalise(u2)
	w := [2][]float64{make([]float64, d), make([]float64, d)}
	for i := range w[0] {
		w[0][i] = s.Scale * u1[i]
		w[1][i] = s.Scale * (s.Rho*u1[i] + math.Sqrt(1-s.Rho*s.Rho)*u2[i])
	}
	alpha, beta := make([]float64, s.Sinusoids), make([]float64, s.Sinusoids)
	for i := range alpha {
		alpha[i], beta[i] = rng.NormFloat64(), rng.NormFloat64()
	}
	draw := func(rows int) *mtl.Dataset {
		ds := &mtl.Dataset{N: rows, X: make([]float32, rows*d), Labels: [][]float32{make([]float32, rows), make([]float32, rows)}, Groups: [][]int32{nil, nil}}
		x := make([]float64, d)
		for r := range rows {
			for i := range x {
				x[i] = rng.NormFloat64()
				ds.X[r*d+i] = float32(x[i])
			}
			for t := range 2 {
				var z float64
				for i := range x {
					z += w[t][i] * x[i]
				}
				y := z
				for i := range alpha {
					y += math.Sin(alpha[i]*z + beta[i])
				}
				ds.Labels[t][r] = float32(y + 0.1*rng.NormFloat64())
			}
		}
		return ds
	}
	spec := mtl.Spec{Inputs: d, Tasks: []mtl.Task{{Name: "y1", Type: mtl.Regression}, {Name: "y2", Type: mtl.Regression}}}
	return spec, draw(n), draw(test)
}

// SyntheticLoss is a model's loss on the test set of a synthetic problem.
type SyntheticLoss struct {
	// MSE is each task's mean squared error, in the targets' units (the
	// paper's loss).
	MSE [2]float64
	// Variance is each task's target variance on the test set, so that
	// MSE/Variance is the fraction of it left unexplained.
	Variance [2]float64
}

// Mean is the mean of the tasks' MSE.
func (l SyntheticLoss) Mean() float64 { return (l.MSE[0] + l.MSE[1]) / 2 }

// Unexplained is the mean over tasks of MSE/Variance.
func (l SyntheticLoss) Unexplained() float64 {
	return (l.MSE[0]/l.Variance[0] + l.MSE[1]/l.Variance[1]) / 2
}

// Train generates the problem of seed (rows training and test test rows),
// trains a model whose body is body's (Arch, Hidden, Experts, TaskExperts,
// Levels; ReLU layers) with cfg on b, from weights drawn from seed, and
// returns its loss on the test rows after the last epoch.
func (s Synthetic) Train(ctx context.Context, b backend.Backend, body mtl.Spec, cfg mtl.Config, rows, test int, seed uint64) (SyntheticLoss, error) {
	spec, train, held := s.Generate(rows, test, seed)
	spec.Arch, spec.Hidden, spec.Experts, spec.Activation = body.Arch, body.Hidden, body.Experts, backend.ReLU
	spec.TaskExperts, spec.Levels = body.TaskExperts, body.Levels
	cfg.Seed = seed
	m, err := mtl.NewModel(spec, train, seed)
	if err != nil {
		return SyntheticLoss{}, err
	}
	tr, err := mtl.NewTrainer(b, m, cfg, train, nil, nil)
	if err != nil {
		return SyntheticLoss{}, err
	}
	err = tr.Fit(ctx, mtl.Hooks{})
	tr.Close()
	if err != nil {
		return SyntheticLoss{}, err
	}
	p, err := m.Predict(b, held)
	if err != nil {
		return SyntheticLoss{}, err
	}
	var loss SyntheticLoss
	for task := range 2 {
		var mean, v, sse float64
		for _, y := range held.Labels[task] {
			mean += float64(y)
		}
		mean /= float64(held.N)
		for i, y := range held.Labels[task] {
			v += (float64(y) - mean) * (float64(y) - mean)
			sse += (float64(y) - float64(p[task][i])) * (float64(y) - float64(p[task][i]))
		}
		loss.MSE[task], loss.Variance[task] = sse/float64(held.N), v/float64(held.N)
	}
	return loss, nil
}

func normalise(v []float64) {
	var s float64
	for _, x := range v {
		s += x * x
	}
	s = math.Sqrt(s)
	for i := range v {
		v[i] /= s
	}
}
