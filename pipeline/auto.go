package pipeline

import (
	"context"
	"errors"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// The grid that --hidden auto (Options.AutoWidth) searches by Run.Tune
// (AutoSpace): one shared layer of each width, with each weight decay.
var (
	AutoWidths = []int{16, 64, 256}
	AutoDecays = []float64{1e-3, 1e-2, 1e-1}
)

// fitCandidate trains a fresh model of the run with cfg, judged by judge
// (nil: by the validation loss), without saving, and returns its final
// state and checkpoint (also when interrupted).
func (r *Run) fitCandidate(ctx context.Context, b backend.Backend, cfg mtl.Config, judge func(*mtl.Model) ([]float64, error)) (mtl.State, *mtl.Checkpoint, error) {
	tr, _, err := r.trainer(b, cfg)
	if err != nil {
		return mtl.State{}, nil, err
	}
	defer tr.Close()
	err = tr.Fit(ctx, mtl.Hooks{Judge: judge})
	if err != nil && !errors.Is(err, context.Canceled) {
		return tr.State(), nil, err
	}
	ck, cerr := tr.Checkpoint()
	if cerr != nil {
		return tr.State(), nil, cerr
	}
	return tr.State(), ck, err
}
