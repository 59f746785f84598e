package mtl

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// MaxEpochs bounds the epochs of a run, so that a crafted or corrupt
// model file cannot make step counts overflow.
const MaxEpochs = 1_000_000

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
	// BestScore is the judge's score of the best epoch (see Hooks.Judge),
	// or BestVal for a run judged by its validation loss.
	BestScore float64 `json:"-"`
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
	BestScore float64        `json:"-"`
	BestEpoch int            `json:"best_epoch"`
	Stale     int            `json:"stale"`
	Done      bool           `json:"done"`
	Weighting WeightingState `json:"weighting"`
}

type memberStateJSON MemberState

// MarshalJSON writes BestVal as null while there is none, and BestScore
// only where it differs from BestVal.
func (s MemberState) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		memberStateJSON
		BestVal   *float64 `json:"best_val"`
		BestScore *float64 `json:"best_score,omitempty"`
	}{memberStateJSON(s), finiteOrNil(s.BestVal), scoreOrNil(s.BestScore, s.BestVal)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *MemberState) UnmarshalJSON(b []byte) error {
	var v struct {
		memberStateJSON
		BestVal   *float64 `json:"best_val"`
		BestScore *float64 `json:"best_score"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = MemberState(v.memberStateJSON)
	s.BestVal, s.BestScore = bestOf(v.BestVal, v.BestScore)
	return nil
}

// scoreOrNil returns &score, or nil when it is the validation loss or not
// finite.
func scoreOrNil(score, val float64) *float64 {
	if score == val {
		return nil
	}
	return finiteOrNil(score)
}

// bestOf reads a best validation loss and score as MarshalJSON writes
// them: a missing loss is +Inf, a missing score the loss.
func bestOf(val, score *float64) (float64, float64) {
	v := math.Inf(1)
	if val != nil {
		v = *val
	}
	if score != nil {
		return v, *score
	}
	return v, v
}

// finiteOrNil returns &v, or nil when v is not finite.
func finiteOrNil(v float64) *float64 {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return nil
	}
	return &v
}

type stateJSON State

// MarshalJSON writes BestVal as null while there is none, and BestScore
// only where it differs from BestVal.
func (s State) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		stateJSON
		BestVal   *float64 `json:"best_val"`
		BestScore *float64 `json:"best_score,omitempty"`
	}{stateJSON(s), finiteOrNil(s.BestVal), scoreOrNil(s.BestScore, s.BestVal)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *State) UnmarshalJSON(b []byte) error {
	var v struct {
		stateJSON
		BestVal   *float64 `json:"best_val"`
		BestScore *float64 `json:"best_score"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = State(v.stateJSON)
	s.BestVal, s.BestScore = bestOf(v.BestVal, v.BestScore)
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
	// Run describes what defines the run beyond the model (its data
	// sources, split and holdout), encoded by whoever trains it; the model
	// file stores it and Load returns it unchanged. Trainer.Checkpoint
	// leaves it nil.
	Run json.RawMessage
}

// optimiserStates is the number of state vectors of an optimiser.
func optimiserStates(o Optimizer) int {
	if o == SGD {
		return 1
	}
	return 2
}

// Validate checks a checkpoint read from a file against the model it
// describes: the model and configuration, every field of the progress,
// the optimiser state and the weighting method's state. A checkpoint that
// passes can be resumed without a panic; whether its step counts fit the
// training data is checked when a Trainer restores it.
func (c *Checkpoint) Validate() error {
	if c.Model == nil {
		return errors.New("no model")
	}
	if err := c.Model.Validate(); err != nil {
		return err
	}
	if err := c.Config.Validate(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if err := c.Config.validateMembers(c.Model.Spec.members()); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if c.Config.Epochs > MaxEpochs {
		return fmt.Errorf("configuration: %d epochs, more than %d", c.Config.Epochs, MaxEpochs)
	}
	n, nt := len(c.Model.Params), len(c.Model.Spec.Tasks)
	if c.Current != nil {
		if err := checkVector("current parameters", c.Current, n); err != nil {
			return err
		}
	}
	if err := c.State.validate(c.Config, nt, c.Model.Spec.members()); err != nil {
		return fmt.Errorf("progress: %w", err)
	}
	need := optimiserStates(c.Config.Optimizer)
	switch {
	case len(c.Opt) == 0 && c.State.Step > 0:
		return fmt.Errorf("optimiser state missing after %d steps", c.State.Step)
	case len(c.Opt) != 0 && len(c.Opt) != need:
		return fmt.Errorf("%d optimiser state vectors, %s keeps %d", len(c.Opt), c.Config.Optimizer, need)
	}
	for i, o := range c.Opt {
		if err := checkVector(fmt.Sprintf("optimiser state %d", i), o, n); err != nil {
			return err
		}
	}
	if err := c.State.Weighting.validate(nt); err != nil {
		return fmt.Errorf("weighting state: %w", err)
	}
	return nil
}

// checkVector checks that v has n finite values.
func checkVector(what string, v []float32, n int) error {
	if len(v) != n {
		return fmt.Errorf("%s: %d values, want %d", what, len(v), n)
	}
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("%s: value %d is %g", what, i, x)
		}
	}
	return nil
}

// validate checks the progress of a run of cfg with nt tasks and the given
// number of members.
func (s State) validate(cfg Config, nt, members int) error {
	switch {
	case s.Epoch < 0 || s.Epoch > cfg.Epochs:
		return fmt.Errorf("epoch %d outside [0, %d]", s.Epoch, cfg.Epochs)
	case s.Step < 0 || s.EpochStep < 0:
		return fmt.Errorf("negative step count (step %d, epoch step %d)", s.Step, s.EpochStep)
	case s.Step < s.Epoch+s.EpochStep:
		return fmt.Errorf("step %d is too few for %d epochs and %d steps", s.Step, s.Epoch, s.EpochStep)
	case s.BestEpoch < -1 || s.BestEpoch > s.Epoch:
		return fmt.Errorf("best epoch %d outside [-1, %d]", s.BestEpoch, s.Epoch)
	case s.Stale < 0 || s.Stale > s.Epoch:
		return fmt.Errorf("%d epochs without improvement, of %d", s.Stale, s.Epoch)
	case math.IsNaN(s.BestVal) || s.BestVal < 0 || math.IsInf(s.BestVal, -1):
		return fmt.Errorf("best validation loss %g", s.BestVal)
	case math.IsNaN(s.BestScore) || math.IsInf(s.BestScore, -1):
		return fmt.Errorf("best validation score %g", s.BestScore)
	case s.EpochStep == 0 && len(s.EpochSums) != 0, s.EpochStep > 0 && len(s.EpochSums) != 2*nt*members:
		return fmt.Errorf("%d loss sums for %d tasks of %d members at epoch step %d", len(s.EpochSums), nt, members, s.EpochStep)
	case members == 1 && len(s.Members) != 0, members > 1 && len(s.Members) != members:
		return fmt.Errorf("the progress of %d members for a model of %d", len(s.Members), members)
	}
	for m, ms := range s.Members {
		switch {
		case ms.BestEpoch < -1 || ms.BestEpoch > s.Epoch:
			return fmt.Errorf("member %d: best epoch %d outside [-1, %d]", m, ms.BestEpoch, s.Epoch)
		case ms.Stale < 0 || ms.Stale > s.Epoch:
			return fmt.Errorf("member %d: %d epochs without improvement, of %d", m, ms.Stale, s.Epoch)
		case math.IsNaN(ms.BestVal) || ms.BestVal < 0 || math.IsInf(ms.BestVal, -1):
			return fmt.Errorf("member %d: best validation loss %g", m, ms.BestVal)
		case math.IsNaN(ms.BestScore) || math.IsInf(ms.BestScore, -1):
			return fmt.Errorf("member %d: best validation score %g", m, ms.BestScore)
		}
		if err := ms.Weighting.validate(nt); err != nil {
			return fmt.Errorf("member %d: weighting state: %w", m, err)
		}
	}
	for i, v := range s.EpochSums {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || (i%2 == 1 && v < 0) {
			return fmt.Errorf("loss sum %d is %g", i, v)
		}
	}
	if s.Step > 0 || len(s.RNG) > 0 {
		if err := rand.NewPCG(0, 0).UnmarshalBinary(s.RNG); err != nil {
			return fmt.Errorf("row-order generator: %w", err)
		}
	}
	return nil
}

// validate checks that every learnt vector of a weighting method has one
// value per task (or none).
func (w WeightingState) validate(nt int) error {
	for name, v := range map[string][]float64{"weights": w.Weights, "log-variances": w.LogVar, "first moments": w.M, "second moments": w.V, "initial losses": w.Initial} {
		if len(v) != 0 && len(v) != nt {
			return fmt.Errorf("%d %s for %d tasks", len(v), name, nt)
		}
	}
	for _, h := range w.History {
		if len(h) != nt {
			return fmt.Errorf("loss history of %d tasks, want %d", len(h), nt)
		}
	}
	if w.Steps < 0 {
		return fmt.Errorf("%d steps", w.Steps)
	}
	if len(w.RNG) > 0 {
		if err := rand.NewPCG(0, 0).UnmarshalBinary(w.RNG); err != nil {
			return fmt.Errorf("task-order generator: %w", err)
		}
	}
	return nil
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
			c.State.Members = append(c.State.Members, MemberState{BestVal: pr.bestVal, BestScore: pr.bestScore, BestEpoch: pr.bestEpoch, Stale: pr.stale, Done: pr.done, Weighting: t.methods[m].save()})
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
	st, steps := ckpt.State, t.stepsPerEpoch()
	// A streamed epoch's steps depend on how its windows fall (see
	// stream.go): check the bounds every plan keeps.
	fits := st.Step == st.Epoch*steps+st.EpochStep
	if t.stream != nil {
		blocks := t.stream.stream.Blocks()
		fits = st.EpochStep <= steps+blocks && st.Step >= st.Epoch*(steps-blocks)+st.EpochStep && st.Step <= st.Epoch*(steps+blocks)+st.EpochStep
		steps += blocks
	}
	if st.EpochStep < 0 || st.EpochStep >= steps || st.Epoch < 0 || st.Epoch > MaxEpochs || !fits {
		return fmt.Errorf("checkpoint is at step %d (epoch %d, step %d in it), which does not fit epochs of %d steps: the training data or batch size differ from the run's", st.Step, st.Epoch, st.EpochStep, steps)
	}
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
		t.progress[0] = memberRun{bestScore: st.BestScore, bestVal: st.BestVal, bestEpoch: st.BestEpoch, stale: st.Stale, done: st.Done}
		weighting[0] = st.Weighting
		return nil
	}
	if len(st.Members) != t.members {
		return fmt.Errorf("checkpoint has the progress of %d members, the model has %d", len(st.Members), t.members)
	}
	for m, ms := range st.Members {
		t.progress[m] = memberRun{bestScore: ms.BestScore, bestVal: ms.BestVal, bestEpoch: ms.BestEpoch, stale: ms.Stale, done: ms.Done}
		weighting[m] = ms.Weighting
	}
	return nil
}

// Member returns member m of a checkpoint of several members as a
// checkpoint of one: its parameters, optimiser state and progress, with
// its member setting (Config.MemberSettings) made the Config's own values.
// The run's seed, steps and row order are kept, so that it resumes as a
// model of one member; it continues exactly as it would have in the
// batch when the member has no dropout or draws its masks by a
// DropoutSeed equal to the run's seed (and for the learning rate, to the
// rounding of LR times its factor).
func (c *Checkpoint) Member(m int) (*Checkpoint, error) {
	n := c.Model.Spec.members()
	if m < 0 || m >= n {
		return nil, fmt.Errorf("member %d of a model of %d", m, n)
	}
	if n == 1 {
		return c, nil
	}
	if len(c.State.Members) != n {
		return nil, fmt.Errorf("the progress of %d members for a model of %d", len(c.State.Members), n)
	}
	p := len(c.Model.Params) / n
	part := func(v []float32) []float32 {
		if v == nil {
			return nil
		}
		return slices.Clone(v[m*p : (m+1)*p])
	}
	out := &Checkpoint{Model: c.Model.Members()[m], Config: c.Config, State: c.State, Current: part(c.Current), Run: c.Run}
	out.Model.Params = slices.Clone(out.Model.Params)
	if len(c.Config.MemberSettings) == n {
		ms := c.Config.MemberSettings[m]
		out.Config.LR *= ms.LRFactor
		out.Config.WeightDecay, out.Config.Dropout = ms.WeightDecay, ms.Dropout
	}
	out.Config.MemberSettings = nil
	for _, o := range c.Opt {
		out.Opt = append(out.Opt, part(o))
	}
	ms := c.State.Members[m]
	st := &out.State
	st.RNG = slices.Clone(c.State.RNG)
	st.BestVal, st.BestScore, st.BestEpoch, st.Stale, st.Done, st.Weighting = ms.BestVal, ms.BestScore, ms.BestEpoch, ms.Stale, ms.Done, ms.Weighting
	st.Members = nil
	if c.State.EpochSums != nil {
		k := len(c.State.EpochSums) / n
		st.EpochSums = slices.Clone(c.State.EpochSums[m*k : (m+1)*k])
	}
	return out, nil
}
