package trainset

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// splitStream is the stream of the generator that draws the split.
const splitStream = 0x73706c74

// Split divides the rows 0..n-1 at random into a part of about frac of
// them and the rest, from seed. With groups (one value per row), each
// group is split on its own, so that every group with two rows or more is
// on both sides: the groups are taken in the order of their first rows,
// each group's rows are shuffled, and the first
//
//	k = min(max(round(frac · rows), 1), rows − 1)
//
// of them (none of a group of one row) go to the part. Both slices list
// the rows group after group, each group's in its shuffled order.
func Split(n int, frac float64, seed uint64, groups []int32) (rest, part []int) {
	eachGroup(n, frac, seed, groups, func(rows []int32, k int) {
		for _, r := range rows[:k] {
			part = append(part, int(r))
		}
		for _, r := range rows[k:] {
			rest = append(rest, int(r))
		}
	})
	return rest, part
}

// Parts is Split as one byte a row, 1 for a row of the part and 0 for
// the rest, with the part's rows in Split's order (for a set that must
// list them as Split does). It needs about 5 bytes a row, where Split
// needs about 24.
func Parts(n int, frac float64, seed uint64, groups []int32) (parts []int8, part []int32) {
	parts = make([]int8, n)
	eachGroup(n, frac, seed, groups, func(rows []int32, k int) {
		for _, r := range rows[:k] {
			parts[r] = 1
		}
		part = append(part, rows[:k]...)
	})
	return parts, part
}

// eachGroup shuffles each group's rows, group after group with one random
// stream, and calls fn with them and how many of the first go to the
// part.
func eachGroup(n int, frac float64, seed uint64, groups []int32, fn func(rows []int32, k int)) {
	order, ends := groupOrder(n, groups)
	rng := rand.New(rand.NewPCG(seed, splitStream))
	lo := 0
	for _, hi := range ends {
		rows := order[lo:hi]
		fn(rows, shuffleGroup(rng, rows, frac))
		lo = hi
	}
}

// shuffleGroup shuffles a group's rows and returns how many go to the
// part.
func shuffleGroup(rng *rand.Rand, rows []int32, frac float64) int {
	rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	if len(rows) < 2 {
		return 0
	}
	k := int(math.Round(frac * float64(len(rows))))
	return min(max(k, 1), len(rows)-1)
}

// groupOrder lists the rows 0..n-1 group after group, in the order of
// each group's first row and ascending within a group; group i is
// order[ends[i-1]:ends[i]].
func groupOrder(n int, groups []int32) (order []int32, ends []int) {
	if n > math.MaxInt32 {
		panic(fmt.Sprintf("trainset: split of %d rows", n))
	}
	if groups != nil && len(groups) < n {
		panic(fmt.Sprintf("trainset: split of %d rows with %d groups", n, len(groups)))
	}
	order = make([]int32, n)
	if groups == nil {
		for i := range order {
			order[i] = int32(i)
		}
		if n == 0 {
			return order, nil
		}
		return order, []int{n}
	}
	// Number the groups by first appearance, counting their rows.
	slot := newSlots(groups[:n])
	var counts []int
	for _, g := range groups[:n] {
		s := slot.of(g)
		if s == len(counts) {
			counts = append(counts, 0)
		}
		counts[s]++
	}
	ends = make([]int, len(counts))
	next := make([]int, len(counts))
	at := 0
	for s, c := range counts {
		next[s] = at
		at += c
		ends[s] = at
	}
	for i, g := range groups[:n] {
		s := slot.of(g)
		order[next[s]] = int32(i)
		next[s]++
	}
	return order, ends
}

// slots numbers group values by first appearance: through a table when
// the values span a small range, else a map.
type slots struct {
	lo    int32
	table []int32 // value − lo → slot + 1, 0 for none yet
	m     map[int32]int
	n     int
}

func newSlots(groups []int32) *slots {
	s := &slots{}
	if len(groups) == 0 {
		return s
	}
	lo, hi := groups[0], groups[0]
	for _, g := range groups {
		lo, hi = min(lo, g), max(hi, g)
	}
	if span := int64(hi) - int64(lo) + 1; span <= int64(len(groups))+1<<16 {
		s.lo, s.table = lo, make([]int32, span)
	} else {
		s.m = map[int32]int{}
	}
	return s
}

// of returns the slot of group value g, giving it the next one when new.
func (s *slots) of(g int32) int {
	if s.table != nil {
		k := &s.table[g-s.lo]
		if *k == 0 {
			s.n++
			*k = int32(s.n)
		}
		return int(*k - 1)
	}
	k, ok := s.m[g]
	if !ok {
		k = s.n
		s.m[g] = k
		s.n++
	}
	return k
}
