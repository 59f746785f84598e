package pipeline

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/mtl-gpu/mtl-gpu/data"
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

// subTable returns the rows of t in the given order.
func subTable(t *data.Table, rows []int) *data.Table {
	s := &data.Table{Path: t.Path, Header: t.Header}
	for _, r := range rows {
		s.Rows = append(s.Rows, t.Rows[r])
		s.Lines = append(s.Lines, t.Lines[r])
	}
	return s
}

// holdOut splits a table at random, by group when there is a group
// column, keeping frac of each group's rows for training.
func holdOut(t *data.Table, groupCol string, frac float64, seed uint64) (*data.Table, *data.Table, error) {
	var groups []int32
	if groupCol != "" {
		c := t.Column(groupCol)
		if c < 0 {
			return nil, nil, &data.Error{File: t.Path, Line: 1, Column: groupCol, Err: fmt.Errorf("group column missing from the file")}
		}
		ids := map[string]int32{}
		for _, row := range t.Rows {
			v := strings.TrimSpace(row[c])
			if _, ok := ids[v]; !ok {
				ids[v] = int32(len(ids))
			}
			groups = append(groups, ids[v])
		}
	}
	held, train := split(len(t.Rows), frac, seed, groups)
	return subTable(t, train), subTable(t, held), nil
}
