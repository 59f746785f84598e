package mtl

import (
	"context"
	"errors"
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

// cancelStream cancels a context when a block is read for the calls-th
// time, and fails that read as a reader cancelled in its midst does.
type cancelStream struct {
	*memStream
	calls  int
	cancel context.CancelFunc
}

func (s *cancelStream) Block(ctx context.Context, i int) (*Dataset, error) {
	if s.calls--; s.calls == 0 {
		s.cancel()
		return nil, ctx.Err()
	}
	return s.memStream.Block(ctx, i)
}

// TestStreamInterruptedWhileReading: a run without validation rows whose
// context is cancelled while the next window is read stops as an
// interrupted run, and resumed from its checkpoint reaches the very
// parameters of an uninterrupted run.
func TestStreamInterruptedWhileReading(t *testing.T) {
	spec := gradSpec([]int{8}, 2)
	data, _ := archData(spec, 5)
	cfg := DefaultConfig()
	cfg.Epochs, cfg.Batch, cfg.Patience = 3, 16, 0
	fresh := func() *Model {
		m, err := NewModel(spec, data, cfg.Seed)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	full, _, err := streamRun(context.Background(), t, fresh(), cfg, data, nil, 2, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &cancelStream{memStream: newMemStream(data, 23, 37, 11), calls: 2*newMemStream(data, 23, 37, 11).Blocks() + 3, cancel: cancel}
	tr, err := NewStreamTrainer(cpuBackend(t), fresh(), cfg, s, 2, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Fit(ctx, Hooks{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("run cancelled while reading: %v", err)
	}
	ck, err := tr.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if ck.State.Epoch != 2 || ck.State.EpochStep == 0 {
		t.Fatalf("stopped at epoch %d, step %d; want inside the third epoch", ck.State.Epoch, ck.State.EpochStep)
	}
	ck = roundTrip(t, ck)
	resumed, _, err := streamRun(context.Background(), t, ck.Model, ck.Config, data, nil, 2, ck, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(resumed.model.Params, full.model.Params) {
		t.Error("the run resumed from a stop while reading differs from the uninterrupted one")
	}
}
