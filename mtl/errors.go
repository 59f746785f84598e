package mtl

import (
	"errors"
	"fmt"
)

// ErrDiverged is the error every *DivergedError matches with errors.Is.
var ErrDiverged = errors.New("training diverged")

// DivergedError reports a training run whose loss became NaN or infinite.
// The model keeps the parameters of the last good epoch.
type DivergedError struct {
	// Epoch is the 1-based epoch in which the loss diverged.
	Epoch int
	// Loss is the offending loss and Validation says whether it was the
	// validation loss rather than the training loss.
	Loss       float64
	Validation bool
	// LR is the configured learning rate.
	LR float64
}

func (e *DivergedError) Error() string {
	which := "loss"
	if e.Validation {
		which = "validation loss"
	}
	return fmt.Sprintf("training diverged at epoch %d (%s %g, learning rate %g)", e.Epoch, which, e.Loss, e.LR)
}

// Is makes errors.Is(err, ErrDiverged) true.
func (e *DivergedError) Is(target error) bool { return target == ErrDiverged }

// NoSharedLayersError reports a weighting method that combines the tasks'
// gradients of the shared layers used with a model that has none.
type NoSharedLayersError struct {
	Method Method
}

func (e *NoSharedLayersError) Error() string {
	return fmt.Sprintf("weighting %s combines the tasks' gradients of the shared layers, and the model has no shared layer", e.Method)
}

// NoHiddenLayersError reports dropout asked of a model without hidden
// layers (heads on the inputs), which has no units to drop.
type NoHiddenLayersError struct {
	Dropout float64
}

func (e *NoHiddenLayersError) Error() string {
	return fmt.Sprintf("dropout %g drops units of hidden layers, and the model has none (its heads read the inputs)", e.Dropout)
}
