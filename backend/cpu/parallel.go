package cpu

import "sync"

// pool runs parts of an operation on a fixed set of worker goroutines. The
// calling goroutine takes the first part itself. A pool is used by one
// backend, and a backend by one goroutine at a time.
type pool struct {
	workers int
	jobs    chan job
	wg      sync.WaitGroup
}

type job struct {
	fn     func(lo, hi int)
	lo, hi int
}

func newPool(workers int) *pool {
	p := &pool{workers: max(workers, 1), jobs: make(chan job)}
	for range p.workers - 1 {
		go func() {
			for j := range p.jobs {
				j.fn(j.lo, j.hi)
				p.wg.Done()
			}
		}()
	}
	return p
}

func (p *pool) size() int { return p.workers }

func (p *pool) close() { close(p.jobs) }

// parallel calls fn on disjoint ranges that cover [0, n), each at least
// grain long (except a lone short range), at most one per worker. fn must
// give the same result however [0, n) is split.
func (p *pool) parallel(n, grain int, fn func(lo, hi int)) {
	parts := min(p.workers, (n+grain-1)/max(grain, 1))
	if parts <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	p.wg.Add(parts - 1)
	for i := 1; i < parts; i++ {
		p.jobs <- job{fn: fn, lo: i * n / parts, hi: (i + 1) * n / parts}
	}
	fn(0, n/parts)
	p.wg.Wait()
}

// reduceChunk is the fixed length of the row ranges that reductions sum
// separately before adding the partial sums in order, so that a sum does
// not depend on the number of threads.
const reduceChunk = 256

// chunks returns the number of reduceChunk-long ranges covering n.
func chunks(n int) int { return (n + reduceChunk - 1) / reduceChunk }
