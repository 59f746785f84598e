package pipeline

import (
	"context"
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
// width and weight decay to those of the best. It returns the grid.
func (r *Run) ChooseWidth(ctx context.Context, b backend.Backend) ([]WidthCandidate, error) {
	if r.Val == nil {
		return nil, optionErrorf("hidden", "auto", "choosing the width by validation loss needs validation rows")
	}
	var grid []WidthCandidate
	best := -1
	for _, w := range AutoWidths {
		for _, d := range AutoDecays {
			cfg := r.Config
			cfg.WeightDecay = d
			r.Spec.Hidden = []int{w}
			st, err := r.fitQuiet(ctx, b, cfg)
			if err != nil {
				return nil, fmt.Errorf("choosing the width: width %d, weight decay %g: %w", w, d, err)
			}
			grid = append(grid, WidthCandidate{Width: w, WeightDecay: d, BestVal: st.BestVal, Epochs: st.Epoch})
			if best < 0 || st.BestVal < grid[best].BestVal {
				best = len(grid) - 1
			}
		}
	}
	grid[best].Chosen = true
	r.Spec.Hidden = []int{grid[best].Width}
	r.Config.WeightDecay = grid[best].WeightDecay
	return grid, nil
}

// fitQuiet trains a fresh model of the run with cfg, without saving, and
// returns its final state.
func (r *Run) fitQuiet(ctx context.Context, b backend.Backend, cfg mtl.Config) (mtl.State, error) {
	tr, _, err := r.trainer(b, cfg)
	if err != nil {
		return mtl.State{}, err
	}
	defer tr.Close()
	err = tr.Fit(ctx, mtl.Hooks{})
	return tr.State(), err
}
