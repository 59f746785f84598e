package mtl_test

import (
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
	"github.com/mtl-gpu/mtl-gpu/mtl"
	"github.com/mtl-gpu/mtl-gpu/mtl/mtltest"
)

// localGroup is a process group of goroutines in one process, for tests
// without MPI: member r of a group of n is localGroup{shared, r}.
type localGroup struct {
	*groupState
	rank int
}

// groupState is what the members of a localGroup share: each collective
// call waits until all n have deposited their buffers, then the last one
// reduces them in rank order and every member copies the result.
type groupState struct {
	n    int
	mu   sync.Mutex
	cond *sync.Cond
	bufs [][]float32
	ints [][]int64
	gen  int
	// sent records every member's buffers as passed to SumFloat32.
	sent [][][]float32
}

func newLocalGroup(n int) []localGroup {
	s := &groupState{n: n, bufs: make([][]float32, n), ints: make([][]int64, n), sent: make([][][]float32, n)}
	s.cond = sync.NewCond(&s.mu)
	var g []localGroup
	for r := range n {
		g = append(g, localGroup{s, r})
	}
	return g
}

// inGroup runs process for each member of an in-process group of n, each
// on a CPU backend of its own, in goroutines, and returns the group and
// their errors.
func inGroup(n int, process func(p int, member localGroup, b backend.Backend) error) ([]localGroup, []error) {
	group := newLocalGroup(n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for p := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := cpu.New(backend.Options{BLAS: "gonum", Threads: 1})
			if err != nil {
				errs[p] = err
				return
			}
			errs[p] = process(p, group[p], b)
		}()
	}
	wg.Wait()
	return group, errs
}

// joined makes case c's trainer with cfg on b (with validation rows when
// val) and makes it member's process of a data-parallel run.
func joined(c distCase, cfg mtl.Config, val bool, b backend.Backend, member localGroup) (*mtl.Trainer, error) {
	tr, err := (&rank{b: b}).trainer(c, cfg, val, nil, false)
	if err != nil {
		return nil, err
	}
	if err := tr.Distribute(member); err != nil {
		tr.Close()
		return nil, err
	}
	return tr, nil
}

func (g localGroup) Size() int { return g.n }
func (g localGroup) Rank() int { return g.rank }

// meet deposits and waits for the others; the last arrival runs reduce.
func (g localGroup) meet(deposit, reduce func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	gen := g.gen
	deposit()
	arrived := 0
	for _, b := range g.bufs {
		if b != nil {
			arrived++
		}
	}
	for _, b := range g.ints {
		if b != nil {
			arrived++
		}
	}
	if arrived == g.n {
		reduce()
		clear(g.bufs)
		clear(g.ints)
		g.gen++
		g.cond.Broadcast()
		return
	}
	for g.gen == gen {
		g.cond.Wait()
	}
}

func (g localGroup) SumFloat32(v []float32) error {
	g.sent[g.rank] = append(g.sent[g.rank], slices.Clone(v))
	g.sum(v)
	return nil
}

// sum replaces v by its sum over the members, without recording it.
func (g localGroup) sum(v []float32) {
	g.meet(func() { g.bufs[g.rank] = v }, func() {
		sum := make([]float32, len(v))
		for _, b := range g.bufs {
			for i := range sum {
				sum[i] += b[i]
			}
		}
		for _, b := range g.bufs {
			copy(b, sum)
		}
	})
}

func (g localGroup) Bcast(buf []byte, root int) error {
	// Through the sum: the root's bytes, zeros elsewhere.
	v := make([]float32, len(buf))
	if g.rank == root {
		for i, c := range buf {
			v[i] = float32(c)
		}
	}
	g.sum(v)
	for i := range buf {
		buf[i] = byte(v[i])
	}
	return nil
}

func (g localGroup) MaxInt64(v []int64) error {
	g.meet(func() { g.ints[g.rank] = v }, func() {
		m := slices.Clone(v)
		for _, b := range g.ints {
			for i := range m {
				m[i] = max(m[i], b[i])
			}
		}
		for _, b := range g.ints {
			copy(b, m)
		}
	})
	return nil
}

// gram returns G·Gᵀ of the n rows of g.
func gram(g []float32, n int) []float64 {
	p := len(g) / n
	out := make([]float64, n*n)
	for i := range n {
		for j := range n {
			var s float64
			for k := range p {
				s += float64(g[i*p+k]) * float64(g[j*p+k])
			}
			out[i*n+j] = s
		}
	}
	return out
}

func maxRelDiff(a, b []float64) float64 {
	var d, n float64
	for i := range a {
		d = max(d, math.Abs(a[i]-b[i]))
		n = max(n, math.Abs(b[i]))
	}
	return d / n
}

// TestGramOfSummedGradients shows why the gradient methods all-reduce the
// tasks' gradients and not their Gram matrices: on two processes (an
// in-process group), the Gram matrix of the summed gradients equals one
// process's, while the sum of the processes' Gram matrices differs from it,
// and so does MGDA's combination computed from that sum.
func TestGramOfSummedGradients(t *testing.T) {
	b, err := cpu.New(backend.Options{BLAS: "gonum"})
	if err != nil {
		t.Fatal(err)
	}
	c := distCase{problem: findProblem(t, "binary"), method: mtl.MGDA}
	r := &rank{b: b}
	cfg := distConfig(c, 1)
	alone, err := r.trainer(c, cfg, false, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer alone.Close()
	_, tg1, _, err := alone.EpochGradients()
	if err != nil {
		t.Fatal(err)
	}
	var layout [2]int
	group, errs := inGroup(2, func(p int, member localGroup, b backend.Backend) error {
		tr, err := joined(c, cfg, false, b, member)
		if err != nil {
			return err
		}
		defer tr.Close()
		layout[0], layout[1] = tr.ReduceLayout()
		_, _, _, err = tr.EpochGradients()
		return err
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	nt := len(c.problem.Spec.Tasks)
	g, ng := layout[0], layout[1]
	// The first step's G of each process, as it entered the all-reduce.
	g0 := group[0].sent[0][0][g : g+ng]
	g1 := group[0].sent[1][0][g : g+ng]
	summed := make([]float32, ng)
	for i := range summed {
		summed[i] = g0[i] + g1[i]
	}
	want := gram(tg1[0], nt)
	right := gram(summed, nt)
	wrong := gram(g0, nt)
	for i, v := range gram(g1, nt) {
		wrong[i] += v
	}
	if d := maxRelDiff(right, want); d > 1e-5 {
		t.Errorf("Gram matrix of the summed gradients differs from one process's by %.3g", d)
	}
	if d := maxRelDiff(wrong, want); d < 0.05 {
		t.Errorf("the sum of the processes' Gram matrices is within %.3g of the right one: the test shows nothing", d)
	}
	wRight, wWrong := mtl.MinNorm(right, nt), mtl.MinNorm(wrong, nt)
	if d := maxRelDiff(wWrong, wRight); d < 0.01 {
		t.Errorf("MGDA's weights from the summed Gram matrices %v are within %.3g of the right ones %v", wWrong, d, wRight)
	}
	t.Logf("Gram matrix: right %v, summed per process %v; MGDA weights %v vs %v", right, wrong, wRight, wWrong)
}

func findProblem(t *testing.T, name string) (p mtltest.Problem) {
	t.Helper()
	for _, q := range mtltest.Problems() {
		if q.Name == name {
			return q
		}
	}
	t.Fatalf("no problem %q", name)
	return
}
