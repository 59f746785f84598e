package mtl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// memStream serves a data set in blocks of the given sizes, in turn.
type memStream struct {
	d      *Dataset
	starts []int
}

func newMemStream(d *Dataset, sizes ...int) *memStream {
	s := &memStream{d: d}
	at := 0
	for at < d.N {
		s.starts = append(s.starts, at)
		at += sizes[len(s.starts)%len(sizes)]
	}
	s.starts = append(s.starts, d.N)
	return s
}

func (s *memStream) Rows() int           { return s.d.N }
func (s *memStream) Blocks() int         { return len(s.starts) - 1 }
func (s *memStream) BlockRows(i int) int { return min(s.starts[i+1], s.d.N) - s.starts[i] }
func (s *memStream) Labelled(t int) int  { return s.d.labelled(t, 0) }

func (s *memStream) Block(ctx context.Context, i int) (*Dataset, error) {
	var rows []int
	for r := s.starts[i]; r < min(s.starts[i+1], s.d.N); r++ {
		rows = append(rows, r)
	}
	return s.d.Rows(rows, len(s.d.X)/max(s.d.N, 1)), ctx.Err()
}

// streamRun trains model from a stream of data in blocks, window blocks
// at a time, and returns the trainer and the epochs' statistics.
func streamRun(ctx context.Context, t *testing.T, model *Model, cfg Config, data, val *Dataset, window int, ckpt *Checkpoint, step func(epoch, step, steps int)) (*Trainer, []EpochStats, error) {
	t.Helper()
	tr, err := NewStreamTrainer(cpuBackend(t), model, cfg, newMemStream(data, 23, 37, 11), window, val, ckpt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	var epochs []EpochStats
	err = tr.Fit(ctx, Hooks{Step: step, Epoch: func(s EpochStats) error { epochs = append(epochs, s); return nil }})
	return tr, epochs, err
}

// TestStreamTraining trains every kind of model from a stream of blocks
// of uneven sizes: the loss falls, every epoch sees every row once, the
// same seed gives the same parameters, and a run interrupted in the middle
// of an epoch resumes to the very parameters of an uninterrupted one.
func TestStreamTraining(t *testing.T) {
	specs := map[string]Spec{"shared": gradSpec([]int{8}, 2)}
	for _, name := range []string{"mmoe", "embeddings/shared", "members/mmoe/embeddings"} {
		specs[name] = archSpecs()[name]
	}
	for name, spec := range specs {
		for _, window := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/window %d", name, window), func(t *testing.T) {
				t.Parallel()
				data, val := archData(spec, 4)
				cfg := DefaultConfig()
				cfg.Epochs, cfg.Batch, cfg.Patience = 4, 16, 0
				fresh := func() *Model {
					m, err := NewModel(spec, data, cfg.Seed)
					if err != nil {
						t.Fatal(err)
					}
					return m
				}
				tr, epochs, err := streamRun(context.Background(), t, fresh(), cfg, data, val, window, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !(epochs[len(epochs)-1].TrainLoss < epochs[0].TrainLoss) {
					t.Errorf("train loss went from %g to %g", epochs[0].TrainLoss, epochs[len(epochs)-1].TrainLoss)
				}
				seen := 0
				tr2, _, err := streamRun(context.Background(), t, fresh(), cfg, data, val, window, nil, func(epoch, step, steps int) {
					if epoch == 0 {
						seen++
					}
				})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(tr2.model.Params, tr.model.Params) {
					t.Fatal("the same seed gave other parameters")
				}
				if want := tr2.stepsPerEpoch(); seen != want {
					t.Errorf("the first epoch took %d steps, the plan has %d", seen, want)
				}
				// Interrupted in the third epoch, saved, loaded, resumed.
				ctx, cancel := context.WithCancel(context.Background())
				tr3, _, err := streamRun(ctx, t, fresh(), cfg, data, val, window, nil, func(epoch, step, steps int) {
					if epoch == 2 && step == 5 {
						cancel()
					}
				})
				cancel()
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("interrupted run: %v", err)
				}
				ck, err := tr3.Checkpoint()
				if err != nil {
					t.Fatal(err)
				}
				ck = roundTrip(t, ck)
				tr4, _, err := streamRun(context.Background(), t, ck.Model, ck.Config, data, val, window, ck, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(tr4.model.Params, tr.model.Params) {
					t.Error("the resumed run differs from the uninterrupted one")
				}
			})
		}
	}
}
