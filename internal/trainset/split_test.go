package trainset

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/data"
)

// referenceSplit is the split as pipeline first wrote it, with a map of
// each group's rows: Split must give exactly its rows, in its order.
func referenceSplit(n int, frac float64, seed uint64, groups []int32) (rest, part []int) {
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

// TestSplitIsTheReference compares Split and Parts with the reference on
// rows without groups, with few and many groups (singletons among them),
// with −1 and sparse group values that take the map.
func TestSplitIsTheReference(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	gen := map[string]func(n int) []int32{
		"no groups": func(int) []int32 { return nil },
		"few groups": func(n int) []int32 {
			g := make([]int32, n)
			for i := range g {
				g[i] = int32(rng.IntN(5)) - 1
			}
			return g
		},
		"many small groups": func(n int) []int32 {
			g := make([]int32, n)
			for i := range g {
				g[i] = int32(rng.IntN(n/2 + 1))
			}
			return g
		},
		"sparse values": func(n int) []int32 {
			g := make([]int32, n)
			for i := range g {
				g[i] = int32(rng.IntN(7)) * 400_000_000
			}
			return g
		},
	}
	for name, groups := range gen {
		for _, n := range []int{0, 1, 2, 17, 1000} {
			for _, frac := range []float64{0, 0.1, 0.5, 0.97} {
				t.Run(fmt.Sprintf("%s/%d/%g", name, n, frac), func(t *testing.T) {
					g := groups(n)
					wantRest, wantPart := referenceSplit(n, frac, 42, g)
					rest, part := Split(n, frac, 42, g)
					if !slices.Equal(rest, wantRest) || !slices.Equal(part, wantPart) {
						t.Fatalf("split\nrest %v part %v\nwant rest %v part %v", rest, part, wantRest, wantPart)
					}
					parts, order := Parts(n, frac, 42, g)
					var got []int
					for i, p := range parts {
						if p == 1 {
							got = append(got, i)
						}
					}
					want := slices.Clone(wantPart)
					slices.Sort(want)
					if !slices.Equal(got, want) {
						t.Fatalf("parts hold out %v, want %v", got, want)
					}
					if len(order) != len(wantPart) {
						t.Fatalf("%d rows in the part's order, want %d", len(order), len(wantPart))
					}
					for j, r := range order {
						if int(r) != wantPart[j] {
							t.Fatalf("the part's order %v, want %v", order, wantPart)
						}
					}
				})
			}
		}
	}
}

// TestSplitByGroup checks the rule itself: every group of two rows or
// more on both sides, singletons in the rest, and another seed another
// split.
func TestSplitByGroup(t *testing.T) {
	t.Parallel()
	groups := []int32{3, 3, 3, 3, 1, 1, 7, 3, 1, 1, 1, 1}
	rest, part := Split(len(groups), 0.25, 9, groups)
	side := map[int32][2]int{}
	for _, r := range rest {
		s := side[groups[r]]
		s[0]++
		side[groups[r]] = s
	}
	for _, r := range part {
		s := side[groups[r]]
		s[1]++
		side[groups[r]] = s
	}
	if side[3] != [2]int{4, 1} || side[1] != [2]int{4, 2} || side[7] != [2]int{1, 0} {
		t.Errorf("rows per side by group: %v", side)
	}
	differs := false
	for seed := range uint64(8) {
		_, other := Split(len(groups), 0.25, 10+seed, groups)
		differs = differs || !slices.Equal(other, part)
	}
	if !differs {
		t.Error("eight other seeds gave the same split")
	}
}

// TestDataset checks that the trainer's form shares the encoded slices
// and gives every task the group column.
func TestDataset(t *testing.T) {
	t.Parallel()
	enc := &data.Encoded{N: 2, D: 1, X: []float32{1, 2}, Index: [][]int32{{0, 3}},
		Labels: [][]float32{{0, 1}, {1, 0}}, Groups: []int32{0, -1}}
	d := Dataset(enc, 2)
	if d.N != 2 || &d.X[0] != &enc.X[0] || &d.Index[0][0] != &enc.Index[0][0] || &d.Labels[1][0] != &enc.Labels[1][0] {
		t.Fatalf("dataset %+v does not share the encoded rows", d)
	}
	if len(d.Groups) != 2 || &d.Groups[0][0] != &enc.Groups[0] || &d.Groups[1][0] != &enc.Groups[0] {
		t.Fatalf("groups %v, want the group column for each task", d.Groups)
	}
	if d := Dataset(&data.Encoded{N: 1, D: 1, X: []float32{1}}, 2); d.Groups[0] != nil || d.Index != nil {
		t.Fatalf("without a group column: %+v", d)
	}
}
