package mtl

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// kktMinNorm is the test's own exact solution of min αᵀGα on the simplex:
// it tries every support S, smallest first, solves the KKT system of the
// problem restricted to S,
//
//	G_SS·α_S = μ·1,  1ᵀ·α_S = 1,
//
// and returns the first solution that is feasible (α_S ≥ 0) and optimal
// ((G·α)_j ≥ μ for every j outside S). For a convex quadratic programme the
// KKT conditions are sufficient, so the first such α is a minimiser; a
// minimiser with an affinely independent support always exists
// (Carathéodory), so singular subsystems may be skipped.
func kktMinNorm(g []float64, n int) []float64 {
	a := make([][]float64, n+1)
	for r := range a {
		a[r] = make([]float64, n+2)
	}
	x := make([]float64, n+1)
	for size := 1; size <= n; size++ {
		var found []float64
		forSubsets(n, size, func(s []int) bool {
			m := len(s)
			// Augmented system [G_SS −1 | 0; 1ᵀ 0 | 1] in unknowns (α_S, μ).
			for r := range m {
				for c := range m {
					a[r][c] = g[s[r]*n+s[c]]
				}
				a[r][m], a[r][m+1] = -1, 0
			}
			for c := range m {
				a[m][c] = 1
			}
			a[m][m], a[m][m+1] = 0, 1
			if !gaussSolve(a[:m+1], x[:m+1]) {
				return true
			}
			for k := range m {
				if x[k] < -1e-12 {
					return true
				}
			}
			alpha := make([]float64, n)
			for k, t := range s {
				alpha[t] = max(x[k], 0)
			}
			mu := x[m]
			for j := range n {
				var gj, mag float64
				for r := range n {
					gj += g[j*n+r] * alpha[r]
					mag += math.Abs(g[j*n+r] * alpha[r])
				}
				if gj < mu-1e-11*(mag+math.Abs(mu)) {
					return true
				}
			}
			found = alpha
			return false
		})
		if found != nil {
			return found
		}
	}
	panic("kktMinNorm: no support satisfies the KKT conditions")
}

// forSubsets calls f with every size-element subset of {0, …, n−1} in
// lexicographic order until f returns false.
func forSubsets(n, size int, f func([]int) bool) {
	s := make([]int, size)
	for i := range s {
		s[i] = i
	}
	for {
		if !f(s) {
			return
		}
		i := size - 1
		for i >= 0 && s[i] == n-size+i {
			i--
		}
		if i < 0 {
			return
		}
		s[i]++
		for j := i + 1; j < size; j++ {
			s[j] = s[j-1] + 1
		}
	}
}

// gaussSolve solves the square system whose augmented rows are a (each
// row m+1 long for m unknowns) into x by elimination with partial pivoting,
// overwriting a, and reports false when the system is singular relative to
// its largest entry.
func gaussSolve(a [][]float64, x []float64) bool {
	n := len(a)
	big := 0.0
	for _, row := range a {
		for _, v := range row[:n] {
			big = max(big, math.Abs(v))
		}
	}
	for k := range n {
		p := k
		for r := k + 1; r < n; r++ {
			if math.Abs(a[r][k]) > math.Abs(a[p][k]) {
				p = r
			}
		}
		if math.Abs(a[p][k]) <= 1e-12*big {
			return false
		}
		a[k], a[p] = a[p], a[k]
		for r := k + 1; r < n; r++ {
			f := a[r][k] / a[k][k]
			for c := k; c <= n; c++ {
				a[r][c] -= f * a[k][c]
			}
		}
	}
	for k := n - 1; k >= 0; k-- {
		s := a[k][n]
		for c := k + 1; c < n; c++ {
			s -= a[k][c] * x[c]
		}
		x[k] = s / a[k][k]
	}
	return true
}

// quadForm returns αᵀGα.
func quadForm(g, alpha []float64) float64 {
	n := len(alpha)
	var s float64
	for i := range n {
		for j := range n {
			s += alpha[i] * g[i*n+j] * alpha[j]
		}
	}
	return s
}

// minNormCase is one problem: vectors, and whether its minimiser α is
// unique (affinely independent vectors on the optimal support).
type minNormCase struct {
	name   string
	vs     [][]float64
	unique bool
}

// minNormProblems are minNormCases with their exact solutions, computed
// once for the tests that share them.
var minNormProblems = sync.OnceValue(func() []minNormProblem {
	var out []minNormProblem
	for _, c := range minNormCases() {
		g := gramOf(c.vs)
		out = append(out, minNormProblem{c, g, kktMinNorm(g, len(c.vs))})
	}
	return out
})

type minNormProblem struct {
	minNormCase
	gram, exact []float64
}

// minNormCases draws random problems with n = 2…16 vectors of several
// shapes, and degenerate ones: equal, collinear and zero vectors, the
// origin inside the hull, and norms that differ by 100.
func minNormCases() []minNormCase {
	rng := rand.New(rand.NewPCG(11, 12))
	gauss := func(dim int, scale float64) []float64 {
		v := make([]float64, dim)
		for i := range v {
			v[i] = scale * rng.NormFloat64()
		}
		return v
	}
	var cases []minNormCase
	for n := 2; n <= exactSolveMax; n++ {
		trials := 8
		if n > 10 {
			trials = 3
		}
		for trial := range trials {
			dim := n + 3
			// A common direction c plus a spread σ: the larger σ, the more
			// vectors on the optimal support.
			c := gauss(dim, 1)
			sigma := []float64{0.3, 1, 3}[trial%3]
			vs := make([][]float64, n)
			for i := range vs {
				vs[i] = gauss(dim, sigma)
				for k := range vs[i] {
					vs[i][k] += c[k]
				}
			}
			cases = append(cases, minNormCase{fmt.Sprintf("n=%d/σ=%g/%d", n, sigma, trial), vs, true})
		}
		// Degenerate: two equal vectors, a collinear one, a zero one.
		base := make([][]float64, n)
		for i := range base {
			base[i] = gauss(n+3, 1)
			base[i][0] += 2
		}
		dup := slices.Clone(base)
		dup[n-1] = slices.Clone(dup[0])
		cases = append(cases, minNormCase{fmt.Sprintf("n=%d/equal", n), dup, false})
		if n >= 3 {
			col := slices.Clone(base)
			col[1] = make([]float64, n+3)
			for k := range col[1] {
				col[1][k] = 3 * col[2][k]
			}
			cases = append(cases, minNormCase{fmt.Sprintf("n=%d/collinear", n), col, false})
		}
		zero := slices.Clone(base)
		zero[n/2] = make([]float64, n+3)
		cases = append(cases, minNormCase{fmt.Sprintf("n=%d/zero", n), zero, false})
		// More vectors than dimensions around the origin: the origin is
		// inside the hull and the minimum is 0.
		flat := make([][]float64, n)
		for i := range flat {
			flat[i] = gauss(max(1, n/3), 1)
		}
		cases = append(cases, minNormCase{fmt.Sprintf("n=%d/low-rank", n), flat, false})
		// Norms from 0.1 to 10.
		wide := make([][]float64, n)
		for i := range wide {
			scale := math.Pow(10, -1+2*float64(i)/float64(n-1))
			wide[i] = gauss(n+3, scale)
			wide[i][0] += 0.5 * scale
		}
		cases = append(cases, minNormCase{fmt.Sprintf("n=%d/wide", n), wide, true})
	}
	return cases
}

// TestMinNormExact compares minNorm (Wolfe's algorithm, n ≤ 16) with the
// exact KKT solution on random and degenerate problems. Tolerances: where
// the minimiser is unique, every α_t within 10⁻⁹; always, the minimum
// αᵀGα within 10⁻¹²·max_t‖g_t‖² and the min-norm point Σα_t·g_t within
// 10⁻⁹·max_t‖g_t‖ of the exact one.
func TestMinNormExact(t *testing.T) {
	t.Parallel()
	for _, p := range minNormProblems() {
		c, g, want, n := p.minNormCase, p.gram, p.exact, len(p.vs)
		got := minNorm(g, n)
		checkMinNorm(t, c, g, got, want, 1e-12)
		if c.unique {
			for i := range n {
				if math.Abs(got[i]-want[i]) > 1e-9 {
					t.Errorf("%s: α = %v, exact %v", c.name, got, want)
					break
				}
			}
		}
	}
}

// checkMinNorm checks that got is in the simplex, that its objective is
// within relTol·max‖g‖² of want's, and that its point Σα_t·g_t is within
// 10⁻⁹·max‖g‖ (or √relTol when looser) of want's.
func checkMinNorm(t *testing.T, c minNormCase, g, got, want []float64, relTol float64) {
	t.Helper()
	n := len(c.vs)
	var sum float64
	for _, a := range got {
		if a < 0 || math.IsNaN(a) {
			t.Errorf("%s: α = %v has a negative coefficient", c.name, got)
			return
		}
		sum += a
	}
	if math.Abs(sum-1) > 1e-12 {
		t.Errorf("%s: α sums to %v", c.name, sum)
	}
	scale := 0.0
	for i := range n {
		scale = max(scale, g[i*n+i])
	}
	if d := quadForm(g, got) - quadForm(g, want); math.Abs(d) > relTol*scale {
		t.Errorf("%s: ‖Σαg‖² = %.15g, exact %.15g", c.name, quadForm(g, got), quadForm(g, want))
	}
	var dist float64
	for k := range c.vs[0] {
		var d float64
		for i := range n {
			d += (got[i] - want[i]) * c.vs[i][k]
		}
		dist += d * d
	}
	if math.Sqrt(dist) > max(1e-9, math.Sqrt(relTol))*math.Sqrt(scale) {
		t.Errorf("%s: the min-norm point is %g from the exact one", c.name, math.Sqrt(dist))
	}
}

// TestMinNormFrankWolfe checks the solver used beyond 16 tasks on the same
// problems against the exact solution, and on problems of 17 to 40 tasks
// against the KKT conditions. Tolerance: the objective within
// 10⁻¹⁰·max_t‖g_t‖² (the duality gap it stops at is 10⁻¹²·max_t‖g_t‖²).
func TestMinNormFrankWolfe(t *testing.T) {
	t.Parallel()
	for _, p := range minNormProblems() {
		checkMinNorm(t, p.minNormCase, p.gram, minNormFrankWolfe(p.gram, len(p.vs)), p.exact, 1e-10)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{17, 24, 40} {
		vs := make([][]float64, n)
		for i := range vs {
			vs[i] = make([]float64, n+5)
			for k := range vs[i] {
				vs[i][k] = rng.NormFloat64() + 0.5
			}
		}
		g := gramOf(vs)
		a := minNorm(g, n)
		var sum, aga float64
		ga := make([]float64, n)
		for i := range n {
			for j := range n {
				ga[i] += g[i*n+j] * a[j]
			}
			aga += a[i] * ga[i]
			sum += a[i]
			if a[i] < 0 {
				t.Fatalf("n=%d: α_%d = %g", n, i, a[i])
			}
		}
		scale := minNormScale(g, n)
		if math.Abs(sum-1) > 1e-12 || 2*(aga-slices.Min(ga)) > 1e-10*scale {
			t.Errorf("n=%d: Σα = %v, duality gap %g (scale %g)", n, sum, 2*(aga-slices.Min(ga)), scale)
		}
	}
}

// TestMinNormDegenerate pins the answers of the degenerate problems: a
// zero gradient is the minimum; two equal gradients share their weight;
// an all-zero Gram matrix gives a vertex. Tolerance 10⁻⁹ (near).
func TestMinNormDegenerate(t *testing.T) {
	a := minNorm(gramOf([][]float64{{1, 0}, {0, 0}, {0, 1}}), 3)
	if !slices.Equal(a, []float64{0, 1, 0}) {
		t.Errorf("with a zero gradient α = %v, want [0 1 0]", a)
	}
	// g1 = g2 = (1, 0), g3 = (0, 1): the minimum is (½, ½), reached by any
	// α with α1 + α2 = α3 = ½.
	a = minNorm(gramOf([][]float64{{1, 0}, {1, 0}, {0, 1}}), 3)
	if !near(a[0]+a[1], 0.5) || !near(a[2], 0.5) {
		t.Errorf("with two equal gradients α = %v", a)
	}
	a = minNorm(make([]float64, 9), 3)
	if s := a[0] + a[1] + a[2]; s != 1 || slices.Min(a) < 0 {
		t.Errorf("all-zero Gram matrix: α = %v", a)
	}
}

// TestMGDALeavesOutTasksWithoutLabels: a task without a label in the batch
// has a zero gradient; MGDA gives it coefficient 0 and combines the others
// by their own min-norm point, rather than stepping along the zero vector.
// With no gradient at all every coefficient is 0. Tolerance 10⁻⁹.
func TestMGDALeavesOutTasksWithoutLabels(t *testing.T) {
	// g0 = (1, 0), g1 = 0, g2 = (0, 2): the min-norm point of g0 and g2 is
	// at α = (4/5, 1/5).
	c := mgda{}.step(nil, gramOf([][]float64{{1, 0}, {0, 0}, {0, 2}}))
	if !near(c[0], 0.8) || c[1] != 0 || !near(c[2], 0.2) {
		t.Errorf("coefficients %v, want [0.8 0 0.2]", c)
	}
	c = mgda{}.step(nil, gramOf([][]float64{{0, 0}, {3, 4}}))
	if !slices.Equal(c, []float64{0, 1}) {
		t.Errorf("coefficients %v, want [0 1]", c)
	}
	c = mgda{}.step(nil, make([]float64, 4))
	if !slices.Equal(c, []float64{0, 0}) {
		t.Errorf("coefficients %v without any gradient, want [0 0]", c)
	}
}
