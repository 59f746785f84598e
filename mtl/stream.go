package mtl

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// Stream is training data read block by block, for data larger than
// memory: the trainer holds a window of a few blocks at a time.
type Stream interface {
	// Rows is the number of training rows and Blocks the number of
	// blocks; BlockRows(i) is the number of rows of block i.
	Rows() int
	Blocks() int
	BlockRows(i int) int
	// Labelled is the number of rows with a label for task t (it sets the
	// shrinkage of task families).
	Labelled(t int) int
	// Block reads and encodes block i. It may be called from another
	// goroutine than the trainer's, one call at a time.
	Block(ctx context.Context, i int) (*Dataset, error)
}

// Streaming training.
//
// Each epoch draws, from the row-order generator, an order of the blocks,
// cuts it into windows of Window consecutive blocks, and gives each window
// a seed of its own. A window's rows are shuffled with its seed and cut
// into batches (a window's last batch may be short). While one window
// trains, the next is read and encoded on another goroutine, block by
// block into one data set sized for the window; it is then copied to the
// device, where the current window's buffers are reused, and its host
// copy let go before the reader starts on the window after. So the host
// holds one window and a block, besides the device's buffers. The
// same seed gives the same batches whatever the timing, and a run resumed
// in the middle of an epoch re-draws the epoch's plan and reads only the
// windows it has still to train.

// streamWindow is one window of an epoch's plan.
type streamWindow struct {
	blocks     []int
	rows       int
	steps      int
	firstStep  int
	shuffleKey uint64
}

// NewStreamTrainer prepares to train model on b from a stream of training
// blocks, window blocks at a time, with an optional validation set held
// in memory (nil for none). A checkpoint restores a run as NewTrainer
// does. Models of several members train from a stream too, all members on
// every row.
func NewStreamTrainer(b backend.Backend, model *Model, cfg Config, stream Stream, window int, val *Dataset, ckpt *Checkpoint) (*Trainer, error) {
	if stream.Blocks() < 1 || stream.Rows() < 1 {
		return nil, errors.New("training data has no rows")
	}
	window = min(max(window, 1), stream.Blocks())
	widest := 0
	for i := range stream.Blocks() {
		widest = max(widest, stream.BlockRows(i))
	}
	// A shape of the largest window, to size the device buffers: the rows
	// are filled in by each window.
	shape := &Dataset{N: widest * window}
	t, err := buildTrainer(b, model, cfg, shape, val, ckpt, &streamSource{stream: stream, window: window})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// streamSource is a trainer's stream and its window size.
type streamSource struct {
	stream Stream
	window int
	// plan is the current epoch's windows and steps its number of steps.
	plan  []streamWindow
	steps int
}

// planEpoch draws the current epoch's windows from the generator state at
// the start of the epoch.
func (t *Trainer) planEpoch() error {
	if err := t.data.rng.UnmarshalBinary(t.state.RNG); err != nil {
		return fmt.Errorf("row-order generator state: %w", err)
	}
	r := rand.New(t.data.rng)
	s := t.stream
	order := r.Perm(s.stream.Blocks())
	s.plan, s.steps = s.plan[:0], 0
	for lo := 0; lo < len(order); lo += s.window {
		w := streamWindow{blocks: order[lo:min(lo+s.window, len(order))], firstStep: s.steps, shuffleKey: r.Uint64()}
		for _, b := range w.blocks {
			w.rows += s.stream.BlockRows(b)
		}
		w.steps = (w.rows + t.cfg.Batch - 1) / t.cfg.Batch
		s.steps += w.steps
		s.plan = append(s.plan, w)
	}
	return nil
}

// readWindow reads a window's blocks into one data set, sized for the
// window before the first block is read: each block is copied in and let
// go, so that the window's rows are held once, and one block besides.
func readWindow(ctx context.Context, s Stream, w streamWindow) (*Dataset, error) {
	var out *window
	for _, b := range w.blocks {
		d, err := s.Block(ctx, b)
		if err != nil {
			return nil, err
		}
		if d.N != s.BlockRows(b) {
			return nil, fmt.Errorf("block %d has %d rows, the stream said %d", b, d.N, s.BlockRows(b))
		}
		if len(w.blocks) == 1 {
			return d, nil
		}
		if out == nil {
			out = newWindow(d, w.rows)
		}
		if err := out.add(d); err != nil {
			return nil, fmt.Errorf("block %d: %w", b, err)
		}
	}
	return out.d, nil
}

// window is a window's data set as its blocks are copied in.
type window struct {
	d *Dataset
	// alias[j] is the family whose group slice family j shares (j itself
	// when it has its own).
	alias []int
}

// newWindow returns an empty window with room for n rows of the columns
// of its first block d. Families that share a group slice in d share the
// window's.
func newWindow(d *Dataset, n int) *window {
	inputs := len(d.X) / max(d.N, 1)
	w := &window{d: &Dataset{X: make([]float32, 0, n*inputs)}}
	for range d.Index {
		w.d.Index = append(w.d.Index, make([]int32, 0, n))
	}
	for range d.Labels {
		w.d.Labels = append(w.d.Labels, make([]float32, 0, n))
	}
	first := map[*int32]int{}
	for j, g := range d.Groups {
		w.alias = append(w.alias, j)
		if g == nil {
			w.d.Groups = append(w.d.Groups, nil)
			continue
		}
		if cap(g) > 0 {
			if k, ok := first[&g[:1][0]]; ok {
				w.alias[j] = k
				w.d.Groups = append(w.d.Groups, nil)
				continue
			}
			first[&g[:1][0]] = j
		}
		w.d.Groups = append(w.d.Groups, make([]int32, 0, n))
	}
	if d.Members != nil {
		w.d.Members = make([]uint64, 0, n)
	}
	return w
}

// add appends the rows of a block with the columns of the window's first.
func (w *window) add(d *Dataset) error {
	out := w.d
	if len(d.Index) != len(out.Index) || len(d.Labels) != len(out.Labels) || len(d.Groups) != len(out.Groups) || (d.Members == nil) != (out.Members == nil) {
		return errors.New("its columns differ from those of the window's first block")
	}
	out.X = append(out.X, d.X...)
	for j := range out.Index {
		out.Index[j] = append(out.Index[j], d.Index[j]...)
	}
	for j := range out.Labels {
		out.Labels[j] = append(out.Labels[j], d.Labels[j]...)
	}
	for j, k := range w.alias {
		if k == j && d.Groups[j] != nil {
			out.Groups[j] = append(out.Groups[j], d.Groups[j]...)
		}
	}
	for j, k := range w.alias {
		if k != j {
			out.Groups[j] = out.Groups[k]
		}
	}
	out.Members = append(out.Members, d.Members...)
	out.N += d.N
	return nil
}

// fitStream is Fit for a streaming trainer.
func (t *Trainer) fitStream(ctx context.Context, hooks Hooks) error {
	for !t.state.Done && t.state.Epoch < t.cfg.Epochs {
		start := time.Now()
		if t.state.EpochStep == 0 {
			t.state.RNG, _ = t.data.rng.MarshalBinary()
			t.b.Fill(t.loss.sumsVec(1), 0)
		}
		if err := t.planEpoch(); err != nil {
			return err
		}
		if err := t.streamEpoch(ctx, hooks); err != nil {
			return err
		}
		stats, err := t.endEpoch(start, hooks.Judge)
		if err != nil {
			return err
		}
		if hooks.Epoch != nil {
			if err := hooks.Epoch(stats); err != nil {
				return err
			}
		}
	}
	return nil
}

// loaded is a window read by the prefetching goroutine.
type loaded struct {
	data *Dataset
	err  error
}

// streamEpoch trains the windows of the current epoch from the step the
// state is at, reading each next window while the current one trains.
// The reader starts on the next window once the current one is on the
// device, whose host copy is then let go: the host holds one window (and
// a block being read), besides the device's buffers.
func (t *Trainer) streamEpoch(ctx context.Context, hooks Hooks) error {
	s := t.stream
	first := 0
	for first+1 < len(s.plan) && s.plan[first+1].firstStep <= t.state.EpochStep {
		first++
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	windows := make(chan loaded)
	loadedOne := make(chan struct{}, 1)
	go func() {
		defer close(windows)
		for i, w := range s.plan[first:] {
			if i > 0 {
				select {
				case <-loadedOne:
				case <-rctx.Done():
					return
				}
			}
			d, err := readWindow(rctx, s.stream, w)
			select {
			case windows <- loaded{d, err}:
			case <-rctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for wi := first; wi < len(s.plan); wi++ {
		w := s.plan[wi]
		ld, ok := <-windows
		switch {
		case ctx.Err() != nil && (!ok || ld.err != nil):
			return t.interrupt(ctx.Err())
		case !ok:
			return errors.New("the stream's reader stopped before the end of the epoch")
		case ld.err != nil:
			return ld.err
		}
		if err := t.loadWindow(ld.data, w); err != nil {
			return err
		}
		ld = loaded{}
		loadedOne <- struct{}{}
		for t.state.EpochStep < w.firstStep+w.steps {
			if err := t.beforeStep(ctx); err != nil {
				return err
			}
			ls := t.state.EpochStep - w.firstStep
			if err := t.step(ls, ls*t.cfg.Batch, min(t.cfg.Batch, w.rows-ls*t.cfg.Batch)); err != nil {
				return err
			}
			t.state.EpochStep++
			t.state.Step++
			if hooks.Step != nil {
				hooks.Step(t.state.Epoch, t.state.EpochStep-1, s.steps)
			}
			if t.dist != nil && t.dist.stopped {
				return t.stopAgreed(ctx)
			}
		}
	}
	return nil
}

// epochRows is the number of training rows an epoch sees.
func (t *Trainer) epochRows() int {
	if t.stream != nil {
		return t.stream.stream.Rows()
	}
	return t.train.N
}

// loadWindow copies a window to the device: its inputs, labels and row
// order, and its embedding segments.
func (t *Trainer) loadWindow(d *Dataset, w streamWindow) error {
	if err := d.validate(t.model.Spec, true); err != nil {
		return fmt.Errorf("training data: %w", err)
	}
	spec := t.model.Spec
	if len(d.X) > 0 {
		t.b.WriteFloat32(t.data.x, 0, d.X)
	}
	t.b.WriteFloat32(t.data.y, 0, d.labelMatrix(spec, t.lay))
	perm := t.data.perm[:d.N]
	for i := range perm {
		perm[i] = int32(i)
	}
	r := rand.New(rand.NewPCG(w.shuffleKey, streamShuffle))
	r.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	t.b.WriteInt32(t.data.idx, 0, perm)
	for j := range t.tables {
		t.tables[j].index = d.Index[j]
		t.epochSegments(&t.tables[j], perm)
		t.tables[j].index = nil
	}
	if t.dist != nil {
		t.dist.labelled = t.labelledMask(d)
	}
	// The rows are on the device: the trainer keeps only their number.
	t.train = &Dataset{N: d.N}
	return nil
}
