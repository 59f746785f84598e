package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// The grid that Run.ChooseWidth searches: one shared layer of each width,
// with each weight decay.
var (
	AutoWidths = []int{16, 64, 256}
	AutoDecays = []float64{1e-3, 1e-2, 1e-1}
)

// WidthCandidate is one point of the grid and how it did.
type WidthCandidate struct {
	Width       int
	WeightDecay float64
	// BestVal is its best validation loss, reached within Epochs epochs.
	BestVal float64
	Epochs  int
	// Chosen marks the best candidate.
	Chosen bool
}

// ChooseWidth trains one model per grid point on the training rows,
// scores each by its best validation loss, and sets the run's shared
// width and weight decay to those of the best. It returns the grid. When
// ctx is cancelled it saves the best candidate so far (the one being
// trained, if no other has finished or it is ahead) to the run's model
// file, as Fit does when interrupted, and returns an *InterruptedError:
// --resume continues that candidate.
func (r *Run) ChooseWidth(ctx context.Context, b backend.Backend) ([]WidthCandidate, error) {
	if r.Val == nil {
		return nil, optionErrorf("hidden", "auto", "choosing the width by validation loss needs validation rows")
	}
	if err := r.acquire(); err != nil {
		return nil, err
	}
	var grid []WidthCandidate
	var bestCk *mtl.Checkpoint
	best := -1
	for _, w := range AutoWidths {
		for _, d := range AutoDecays {
			cfg := r.Config
			cfg.WeightDecay = d
			r.Spec.Hidden = []int{w}
			st, ck, err := r.fitCandidate(ctx, b, cfg)
			interrupted := errors.Is(err, context.Canceled)
			if err != nil && !interrupted {
				return nil, fmt.Errorf("choosing the width: width %d, weight decay %g: %w", w, d, err)
			}
			grid = append(grid, WidthCandidate{Width: w, WeightDecay: d, BestVal: st.BestVal, Epochs: st.Epoch})
			if best < 0 || st.BestVal < grid[best].BestVal {
				best, bestCk = len(grid)-1, ck
			}
			if interrupted {
				return grid, r.saveChoice(grid[best], bestCk, err)
			}
		}
	}
	grid[best].Chosen = true
	r.Spec.Hidden = []int{grid[best].Width}
	r.Config.WeightDecay = grid[best].WeightDecay
	return grid, nil
}

// saveChoice saves the best candidate of an interrupted search as the
// run's model, and returns the *InterruptedError that says so.
func (r *Run) saveChoice(c WidthCandidate, ck *mtl.Checkpoint, cause error) error {
	r.Spec.Hidden = []int{c.Width}
	r.Config.WeightDecay = c.WeightDecay
	ie := &InterruptedError{Epoch: ck.State.Epoch + 1, Step: ck.State.EpochStep, Out: r.Out, Err: cause,
		Candidate: fmt.Sprintf("width %d, weight decay %g, %d epochs", c.Width, c.WeightDecay, ck.State.Epoch)}
	if !r.mayWrite(ck.State.BestVal, r.constantLoss(ck.Model)) {
		return ie
	}
	if err := r.saveCheckpoint(ck); err != nil {
		return fmt.Errorf("interrupted, and the best candidate could not be saved: %w", err)
	}
	ie.Saved = true
	return ie
}

// fitCandidate trains a fresh model of the run with cfg, without saving,
// and returns its final state and checkpoint (also when interrupted).
func (r *Run) fitCandidate(ctx context.Context, b backend.Backend, cfg mtl.Config) (mtl.State, *mtl.Checkpoint, error) {
	tr, _, err := r.trainer(b, cfg)
	if err != nil {
		return mtl.State{}, nil, err
	}
	defer tr.Close()
	err = tr.Fit(ctx, mtl.Hooks{})
	if err != nil && !errors.Is(err, context.Canceled) {
		return tr.State(), nil, err
	}
	ck, cerr := tr.Checkpoint()
	if cerr != nil {
		return tr.State(), nil, cerr
	}
	return tr.State(), ck, err
}
