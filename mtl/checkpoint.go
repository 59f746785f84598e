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
	// Members holds each member's progress and weighting state, for a
	// model of several members; the fields above then summarise them
	// (see Trainer).
	Members []MemberState `json:"members,omitempty"`
}

// MemberState is one member's progress towards its best epoch and the
// learnt state of its weighting method.
type MemberState struct {
	BestVal   float64        `json:"-"`
	BestEpoch int            `json:"best_epoch"`
	Stale     int            `json:"stale"`
	Done      bool           `json:"done"`
	Weighting WeightingState `json:"weighting"`
}

type memberStateJSON MemberState

// MarshalJSON writes BestVal as null while there is none.
func (s MemberState) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		memberStateJSON
		BestVal *float64 `json:"best_val"`
	}{memberStateJSON(s), finiteOrNil(s.BestVal)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *MemberState) UnmarshalJSON(b []byte) error {
	var v struct {
		memberStateJSON
		BestVal *float64 `json:"best_val"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = MemberState(v.memberStateJSON)
	s.BestVal = math.Inf(1)
	if v.BestVal != nil {
		s.BestVal = *v.BestVal
	}
	return nil
}

// finiteOrNil returns &v, or nil when v is not finite.
func finiteOrNil(v float64) *float64 {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return nil
	}
	return &v
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
	c.State.Members = nil
	if t.members == 1 {
		c.State.Weighting = t.methods[0].save()
	} else {
		c.State.Weighting = WeightingState{}
		for m, pr := range t.progress {
			c.State.Members = append(c.State.Members, MemberState{BestVal: pr.bestVal, BestEpoch: pr.bestEpoch, Stale: pr.stale, Done: pr.done, Weighting: t.methods[m].save()})
		}
	}
	cur := make([]float32, t.members*t.lay.total)
	if err := t.b.ReadFloat32(cur, t.net.params, 0); err != nil {
		return nil, err
	}
	if !slices.Equal(cur, t.model.Params) {
		c.Current = cur
	}
	for _, o := range t.optim.state {
		s := make([]float32, t.members*t.lay.total)
		if err := t.b.ReadFloat32(s, o, 0); err != nil {
			return nil, err
		}
		c.Opt = append(c.Opt, s)
	}
	if t.state.EpochStep > 0 {
		n := t.members * t.nTasks
		c.State.EpochSums = make([]float32, 2*n)
		if err := t.b.ReadFloat32(c.State.EpochSums, t.loss.sums, 2*n); err != nil {
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
			if len(s) != t.members*t.lay.total {
				return fmt.Errorf("checkpoint optimiser state has %d values, want %d", len(s), t.members*t.lay.total)
			}
			t.b.WriteFloat32(t.optim.state[i], 0, s)
		}
	}
	if n := t.members * t.nTasks; len(ckpt.State.EpochSums) == 2*n {
		t.b.WriteFloat32(t.loss.sums, 2*n, ckpt.State.EpochSums)
	}
	return nil
}

// restoreMembers sets each member's progress and weighting state from a
// checkpoint's state: its own for one member, the Members list for
// several.
func (t *Trainer) restoreMembers(st State, weighting []WeightingState) error {
	if t.members == 1 {
		t.progress[0] = memberRun{bestVal: st.BestVal, bestEpoch: st.BestEpoch, stale: st.Stale, done: st.Done}
		weighting[0] = st.Weighting
		return nil
	}
	if len(st.Members) != t.members {
		return fmt.Errorf("checkpoint has the progress of %d members, the model has %d", len(st.Members), t.members)
	}
	for m, ms := range st.Members {
		t.progress[m] = memberRun{bestVal: ms.BestVal, bestEpoch: ms.BestEpoch, stale: ms.Stale, done: ms.Done}
		weighting[m] = ms.Weighting
	}
	return nil
}
