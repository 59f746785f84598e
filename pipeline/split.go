package pipeline

import (
	"math"
	"math/rand/v2"
)

// split divides the rows 0..n-1 at random into a part of about frac of
// them and the rest, from seed. With groups, each group is split on its
// own, so that every group with two rows or more is on both sides.
func split(n int, frac float64, seed uint64, groups []int32) (rest, part []int) {
	rng := rand.New(rand.NewPCG(seed, 0x73706c74))
	byGroup := map[int32][]int{}
	var order []int32
	for i := range n {
		g := int32(0)
		if groups != nil {
			g = groups[i]
		}
		if _, ok := byGroup[g]; !ok {
			order = append(order, g)
		}
		byGroup[g] = append(byGroup[g], i)
	}
	for _, g := range order {
		rows := byGroup[g]
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		k := int(math.Round(frac * float64(len(rows))))
		if len(rows) >= 2 {
			k = min(max(k, 1), len(rows)-1)
		} else {
			k = 0
		}
		part = append(part, rows[:k]...)
		rest = append(rest, rows[k:]...)
	}
	return rest, part
}
