package mtl

import (
	"context"
	"math"
	"slices"
	"testing"
)

// TestReadWindow: a window read from blocks holds their rows in the
// window's order of blocks, every column (inputs, embedding indices,
// labels, groups, member masks), with families that share a group slice
// in the blocks sharing the window's, in data sets allocated once for the
// window.
func TestReadWindow(t *testing.T) {
	const n, inputs = 23, 3
	d := &Dataset{N: n, X: make([]float32, n*inputs), Index: [][]int32{make([]int32, n)}, Members: make([]uint64, n)}
	shared, own := make([]int32, n), make([]int32, n)
	d.Groups = [][]int32{shared, own, shared}
	for i := range n {
		for j := range inputs {
			d.X[i*inputs+j] = float32(i*10 + j)
		}
		d.Index[0][i] = int32(i % 5)
		shared[i], own[i] = int32(i%3), int32(i%4)
		d.Members[i] = uint64(1 + i%3)
	}
	d.Labels = [][]float32{make([]float32, n), make([]float32, n)}
	for i := range n {
		d.Labels[0][i], d.Labels[1][i] = float32(i), float32(math.NaN())
	}
	s := newMemStream(d, 4, 7)
	blocks := []int{3, 0, 2}
	w := streamWindow{blocks: blocks}
	var rows []int
	for _, b := range blocks {
		w.rows += s.BlockRows(b)
		for r := s.starts[b]; r < min(s.starts[b+1], n); r++ {
			rows = append(rows, r)
		}
	}
	got, err := readWindow(context.Background(), s, w)
	if err != nil {
		t.Fatal(err)
	}
	want := d.Rows(rows, inputs)
	if got.N != want.N || !slices.Equal(got.X, want.X) || !slices.Equal(got.Index[0], want.Index[0]) || !slices.Equal(got.Members, want.Members) ||
		!slices.Equal(got.Labels[0], want.Labels[0]) || len(got.Labels[1]) != len(rows) {
		t.Fatalf("window of %d rows differs from rows %v", got.N, rows)
	}
	for j := range want.Groups {
		if !slices.Equal(got.Groups[j], want.Groups[j]) {
			t.Errorf("groups of family %d differ", j)
		}
	}
	if &got.Groups[0][0] != &got.Groups[2][0] || &got.Groups[0][0] == &got.Groups[1][0] {
		t.Error("families 0 and 2 share their groups in the blocks, not in the window")
	}
	if cap(got.X) != len(rows)*inputs || cap(got.Labels[0]) != len(rows) || cap(got.Groups[1]) != len(rows) {
		t.Errorf("window allocated for %d and %d values, holds %d and %d", cap(got.X), cap(got.Labels[0]), len(got.X), len(got.Labels[0]))
	}
}
