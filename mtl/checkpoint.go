package mtl

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
)

// State is the progress of a training run: everything besides the
// parameters that a resumed run needs to continue exactly where the saved
// one stopped.
type State struct {
	// Epoch is the number of completed epochs.
	Epoch int `json:"epoch"`
	// Step is the number of optimiser steps taken.
	Step int `json:"step"`
	// EpochStep is the number of steps taken in the current, unfinished
	// epoch (0 at an epoch boundary).
	EpochStep int `json:"epoch_step"`
	// RNG is the state of the row-order generator at the start of the
	// current epoch.
	RNG []byte `json:"rng"`
	// EpochSums are the loss and label-count sums of the unfinished epoch.
	EpochSums []float32 `json:"epoch_sums,omitempty"`
	// BestVal is the best validation loss so far (+Inf without one) and
	// BestEpoch the epoch that reached it; Stale counts the epochs since.
	BestVal   float64 `json:"-"`
	BestEpoch int     `json:"best_epoch"`
	Stale     int     `json:"stale"`
	// Done is set when early stopping ended the run.
	Done bool `json:"done"`
	// Weighting is the learnt state of the weighting method.
	Weighting WeightingState `json:"weighting"`
}

type stateJSON State

// MarshalJSON writes BestVal as null while there is none.
func (s State) MarshalJSON() ([]byte, error) {
	var best *float64
	if !math.IsInf(s.BestVal, 0) && !math.IsNaN(s.BestVal) {
		best = &s.BestVal
	}
	return json.Marshal(struct {
		stateJSON
		BestVal *float64 `json:"best_val"`
	}{stateJSON(s), best})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *State) UnmarshalJSON(b []byte) error {
	var v struct {
		stateJSON
		BestVal *float64 `json:"best_val"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = State(v.stateJSON)
	s.BestVal = math.Inf(1)
	if v.BestVal != nil {
		s.BestVal = *v.BestVal
	}
	return nil
}

// Checkpoint is a training run as a model file stores it: the model to use
// (the best by validation loss when there is a validation set), and the
// current parameters and optimiser state to resume from.
type Checkpoint struct {
	Model  *Model
	Config Config
	State  State
	// Current holds the parameters at the point of the run, when they
	// differ from Model.Params (nil otherwise).
	Current []float32
	// Opt holds the optimiser state vectors (SGD: velocity; Adam: first
	// and second moments), each as long as the parameters.
	Opt [][]float32
}

// Checkpoint returns the run as a model file stores it. It reads the
// current parameters and optimiser state from the device.
func (t *Trainer) Checkpoint() (*Checkpoint, error) {
	c := &Checkpoint{Model: t.model, Config: t.cfg, State: t.state}
	c.State.RNG = slices.Clone(t.state.RNG)
	c.State.Weighting = t.method.save()
	cur := make([]float32, t.lay.total)
	if err := t.b.ReadFloat32(cur, t.net.params, 0); err != nil {
		return nil, err
	}
	if !slices.Equal(cur, t.model.Params) {
		c.Current = cur
	}
	for _, o := range t.optim.state {
		s := make([]float32, t.lay.total)
		if err := t.b.ReadFloat32(s, o, 0); err != nil {
			return nil, err
		}
		c.Opt = append(c.Opt, s)
	}
	if t.state.EpochStep > 0 {
		c.State.EpochSums = make([]float32, 2*t.nTasks)
		if err := t.b.ReadFloat32(c.State.EpochSums, t.loss.sums, 2*t.nTasks); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// restore writes a checkpoint's optimiser state and unfinished epoch's
// sums to the device.
func (t *Trainer) restore(ckpt *Checkpoint) error {
	if len(ckpt.Opt) > 0 {
		if len(ckpt.Opt) != len(t.optim.state) {
			return fmt.Errorf("checkpoint has %d optimiser state vectors, %s needs %d", len(ckpt.Opt), t.cfg.Optimizer, len(t.optim.state))
		}
		for i, s := range ckpt.Opt {
			if len(s) != t.lay.total {
				return fmt.Errorf("checkpoint optimiser state has %d values, want %d", len(s), t.lay.total)
			}
			t.b.WriteFloat32(t.optim.state[i], 0, s)
		}
	}
	if len(ckpt.State.EpochSums) == 2*t.nTasks {
		t.b.WriteFloat32(t.loss.sums, 2*t.nTasks, ckpt.State.EpochSums)
	}
	return nil
}
