package mtl

import "math"

// The minimum-norm point of the convex hull of the tasks' gradients, the
// direction MGDA steps along:
//
//	α* = argmin ‖Σ_t α_t g_t‖² = αᵀ·G·α   over α ≥ 0, Σ_t α_t = 1,
//
// found from the Gram matrix G alone. Up to exactSolveMax tasks it is solved
// exactly by Wolfe's min-norm-point algorithm, an active-set method that
// ends on the optimal support after finitely many steps; beyond that by
// Frank–Wolfe iterations with away steps, until the duality gap is
// negligible.

// exactSolveMax is the largest number of tasks solved exactly.
const exactSolveMax = 16

// minNorm returns α in the probability simplex minimising αᵀ·gram·α for
// the n×n Gram matrix gram of n vectors. When several α reach the minimum
// (two equal gradients, say) it returns one of them.
func minNorm(gram []float64, n int) []float64 {
	g := make([]float64, n*n)
	for i := range n {
		for j := range n {
			g[i*n+j] = (gram[i*n+j] + gram[j*n+i]) / 2
		}
	}
	if n <= exactSolveMax {
		return minNormWolfe(g, n)
	}
	return minNormFrankWolfe(g, n)
}

// minNormScale returns the largest squared norm max_t G_tt (at least 0),
// the scale of the tolerances.
func minNormScale(g []float64, n int) float64 {
	s := 0.0
	for t := range n {
		s = max(s, g[t*n+t])
	}
	return s
}

// minNormWolfe is Wolfe's (1976) min-norm-point algorithm on a Gram
// matrix. It keeps a corral S, a set of affinely independent vectors, and
// x = Σ_{s∈S} λ_s g_s with λ > 0 the point of least norm in their affine
// hull. A major cycle adds the vector j that minimises ⟨x, g_j⟩; when
// ⟨x, g_j⟩ ≥ ‖x‖² for every j, x is optimal (these are the KKT conditions
// of the problem). A minor cycle finds the least-norm point y of the affine
// hull of S; if y has a coefficient ≤ 0 it moves x towards y until a
// coefficient reaches 0 and drops that vector.
//
// A vector in the affine hull of S satisfies ⟨x, g_j⟩ = ‖x‖² and is never
// added, so S stays affinely independent and each affine problem has a
// unique solution even when G is singular (equal or collinear gradients).
func minNormWolfe(g []float64, n int) []float64 {
	alpha := make([]float64, n)
	// x starts at the vector of least norm.
	first := 0
	for t := range n {
		if g[t*n+t] < g[first*n+first] {
			first = t
		}
	}
	corral, lambda := []int{first}, []float64{1}
	gx := make([]float64, n)  // ⟨x, g_j⟩
	mag := make([]float64, n) // Σ_s λ_s·|⟨g_s, g_j⟩|, the scale of its rounding error
	inCorral := make([]bool, n)
	inCorral[first] = true
	for range 50 * n {
		var xx float64
		for j := range n {
			gx[j], mag[j] = 0, 0
			for k, s := range corral {
				gx[j] += lambda[k] * g[s*n+j]
				mag[j] += lambda[k] * math.Abs(g[s*n+j])
			}
		}
		for k, s := range corral {
			xx += lambda[k] * gx[s]
		}
		// The vector that most decreases the norm, if any does by more
		// than rounding.
		j, best := -1, 0.0
		for t := range n {
			if d := xx - gx[t]; d > 1e-12*(mag[t]+xx) && d > best && !inCorral[t] {
				j, best = t, d
			}
		}
		if j < 0 {
			break
		}
		corral, lambda = append(corral, j), append(lambda, 0)
		inCorral[j] = true
		for len(corral) > 0 {
			mu, ok := affineMinimum(g, n, corral)
			if !ok {
				// A corral dependent to working precision: stop at the
				// current point, feasible and no worse than the last.
				return spread(alpha, corral, lambda)
			}
			theta, drop := 1.0, -1
			for k := range mu {
				if mu[k] <= 0 && lambda[k]-mu[k] > 0 {
					if th := lambda[k] / (lambda[k] - mu[k]); th < theta {
						theta, drop = th, k
					}
				}
			}
			if drop < 0 {
				lambda = mu
				break
			}
			keptC, keptL := corral[:0], lambda[:0]
			for k, s := range corral {
				l := (1-theta)*lambda[k] + theta*mu[k]
				if k == drop || l <= 0 {
					inCorral[s] = false
					continue
				}
				keptC, keptL = append(keptC, s), append(keptL, l)
			}
			corral, lambda = keptC, keptL
		}
	}
	return spread(alpha, corral, lambda)
}

// spread writes the corral's coefficients into alpha, normalised to sum 1.
func spread(alpha []float64, corral []int, lambda []float64) []float64 {
	var sum float64
	for _, l := range lambda {
		sum += l
	}
	for k, s := range corral {
		alpha[s] = lambda[k] / sum
	}
	return alpha
}

// affineMinimum returns the coefficients μ (Σ μ = 1) of the least-norm
// point of the affine hull of the vectors in corral, solving
//
//	[G_SS 1] [μ]   [0]
//	[1ᵀ   0] [ν] = [1]
//
// by Gaussian elimination with partial pivoting. ok is false when the
// system is singular to working precision.
func affineMinimum(g []float64, n int, corral []int) (mu []float64, ok bool) {
	m := len(corral)
	w := m + 1
	a := make([]float64, w*(w+1)) // augmented [K | rhs]
	for r, s := range corral {
		for c, u := range corral {
			a[r*(w+1)+c] = g[s*n+u]
		}
		a[r*(w+1)+m] = 1
		a[m*(w+1)+r] = 1
	}
	a[m*(w+1)+w] = 1
	scale := 0.0
	for _, v := range a {
		scale = max(scale, math.Abs(v))
	}
	for col := range w {
		p := col
		for r := col + 1; r < w; r++ {
			if math.Abs(a[r*(w+1)+col]) > math.Abs(a[p*(w+1)+col]) {
				p = r
			}
		}
		if math.Abs(a[p*(w+1)+col]) <= 1e-14*scale {
			return nil, false
		}
		if p != col {
			for c := range w + 1 {
				a[p*(w+1)+c], a[col*(w+1)+c] = a[col*(w+1)+c], a[p*(w+1)+c]
			}
		}
		for r := col + 1; r < w; r++ {
			f := a[r*(w+1)+col] / a[col*(w+1)+col]
			if f == 0 {
				continue
			}
			for c := col; c <= w; c++ {
				a[r*(w+1)+c] -= f * a[col*(w+1)+c]
			}
		}
	}
	x := make([]float64, w)
	for r := w - 1; r >= 0; r-- {
		s := a[r*(w+1)+w]
		for c := r + 1; c < w; c++ {
			s -= a[r*(w+1)+c] * x[c]
		}
		x[r] = s / a[r*(w+1)+r]
	}
	return x[:m], true
}

// minNormFrankWolfe minimises αᵀGα on the simplex by Frank–Wolfe
// iterations with away steps and exact line search, the solver of Sener
// and Koltun (2018) with the away steps that make it converge linearly on
// a polytope. It stops when the duality gap 2·(αᵀGα − min_t (Gα)_t), a
// bound on the distance to the optimum, falls below 10⁻¹²·max_t G_tt, or
// after an iteration limit that only a degenerate problem reaches. Each
// iteration updates G·α in O(n), recomputing it exactly every n steps.
func minNormFrankWolfe(g []float64, n int) []float64 {
	alpha := make([]float64, n)
	tol := 1e-12 * minNormScale(g, n)
	first := 0
	for t := range n {
		if g[t*n+t] < g[first*n+first] {
			first = t
		}
	}
	alpha[first] = 1
	ga := make([]float64, n) // G·α
	for it := range 1000 * n {
		if it%n == 0 {
			for t := range n {
				ga[t] = 0
				for r := range n {
					ga[t] += g[t*n+r] * alpha[r]
				}
			}
		}
		var aga float64
		s, v := 0, -1 // Frank–Wolfe and away vertices
		for t := range n {
			aga += alpha[t] * ga[t]
			if ga[t] < ga[s] {
				s = t
			}
			if alpha[t] > 0 && (v < 0 || ga[t] > ga[v]) {
				v = t
			}
		}
		gapFW, gapAway := aga-ga[s], ga[v]-aga
		if 2*gapFW <= tol {
			break
		}
		if gapFW >= gapAway || alpha[v] >= 1 {
			// Towards vertex s: α ← (1−γ)·α + γ·e_s.
			curv := g[s*n+s] - 2*ga[s] + aga
			gamma := 1.0
			if curv > 0 {
				gamma = min(gapFW/curv, 1)
			}
			for t := range n {
				alpha[t] *= 1 - gamma
				ga[t] = (1-gamma)*ga[t] + gamma*g[t*n+s]
			}
			alpha[s] += gamma
			continue
		}
		// Away from vertex v: α ← (1+γ)·α − γ·e_v, γ ≤ α_v/(1−α_v).
		limit := alpha[v] / (1 - alpha[v])
		curv := aga - 2*ga[v] + g[v*n+v]
		gamma := limit
		if curv > 0 {
			gamma = min(gapAway/curv, limit)
		}
		for t := range n {
			alpha[t] *= 1 + gamma
			ga[t] = (1+gamma)*ga[t] - gamma*g[t*n+v]
		}
		alpha[v] -= gamma
		if gamma == limit {
			alpha[v] = 0
		}
	}
	return alpha
}
