// Package inproc gathers bytes between goroutines that stand for the
// processes of a data-parallel job, so that what the processes of a job
// share (a statistics pass, say) is tested in one test process.
package inproc

import (
	"slices"
	"sync"
)

// Hub joins the members of a pretend job.
type Hub struct {
	mu      sync.Mutex
	cond    *sync.Cond
	n       int
	arrived int
	round   int
	slots   [][]byte
	done    [][]byte
}

// NewHub returns the hub of a job of n members.
func NewHub(n int) *Hub {
	h := &Hub{n: n, slots: make([][]byte, n)}
	h.cond = sync.NewCond(&h.mu)
	return h
}

// Gathers returns the number of gathers every member has finished.
func (h *Hub) Gathers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.round
}

// Member returns member r of the hub's job.
func (h *Hub) Member(r int) Member { return Member{h: h, r: r} }

// Member is one member of a hub's job; it gathers as the processes of a
// job do (data.Gatherer).
type Member struct {
	h *Hub
	r int
}

// Size returns the number of members.
func (m Member) Size() int { return m.h.n }

// Rank returns the member's place, from 0.
func (m Member) Rank() int { return m.r }

// AllGather returns, once every member has called it, the bytes each
// gave, in rank order.
func (m Member) AllGather(b []byte) ([][]byte, error) {
	h := m.h
	h.mu.Lock()
	defer h.mu.Unlock()
	h.slots[m.r] = slices.Clone(b)
	h.arrived++
	round := h.round
	if h.arrived == h.n {
		h.done, h.slots = h.slots, make([][]byte, h.n)
		h.arrived = 0
		h.round++
		h.cond.Broadcast()
	} else {
		for h.round == round {
			h.cond.Wait()
		}
	}
	return h.done, nil
}
