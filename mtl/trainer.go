package mtl

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// EpochStats reports one epoch.
type EpochStats struct {
	Epoch   int
	Seconds float64
	// TrainLoss is Σ_t λ_t·L_t over the epoch, with each L_t the mean
	// over the epoch's labelled rows; TaskTrain holds the L_t. With
	// several members, both are means over the members.
	TrainLoss float64
	TaskTrain []float64
	// ValLoss and TaskVal are the same on the validation set (NaN without
	// one).
	ValLoss float64
	TaskVal []float64
	// Weights are the task weights in use, averaged over the epoch's
	// steps: λ_t times the method's loss weight, or, for the methods that
	// combine gradients (PCGrad, MGDA), the coefficient of each task's
	// gradient of the shared layers.
	Weights []float64
	// GradCosine is the mean cosine between the tasks' gradients of the
	// shared layers and Conflict the share of task pairs whose gradients
	// point apart, averaged over the epoch's steps (NaN for methods that do
	// not compute per-task gradients).
	GradCosine, Conflict float64
	// LR is the learning rate at the end of the epoch.
	LR float64
	// Best is set when this epoch's validation loss is the best so far
	// (of any member).
	Best bool
	// Score is the mean over members of the judge's scores (see
	// Hooks.Judge), NaN without a judge.
	Score float64
	// MemberVal holds each member's validation loss (Σ_t λ_t·L_t), for a
	// model of several members; ValLoss is their mean.
	MemberVal []float64
	// Samples is the number of training rows seen in the epoch.
	Samples int
}

// Hooks are called by Fit. Any may be nil.
type Hooks struct {
	// Step is called after every optimiser step with the epoch (from 0),
	// the step within it and the epoch's number of steps. It must be
	// cheap: nothing is read from the device for it.
	Step func(epoch, step, steps int)
	// Epoch is called after every epoch, when the checkpoint is current.
	// An error stops training and is returned by Fit.
	Epoch func(EpochStats) error
	// Judge, when set, scores the parameters at the end of every epoch
	// on the validation rows, in place of the validation loss, to choose
	// each member's best epoch and to stop early: it gets a model holding
	// the current parameters of every member and returns one score per
	// member, lower is better (NaN never improves). Divergence is still
	// judged by the loss. It is not called without validation rows.
	Judge func(current *Model) ([]float64, error)
}

// Trainer trains a model on a backend. The training data, the parameters,
// their gradients and the optimiser state stay in device memory; each step
// gathers its batch on the device, and only the per-task loss sums come
// back, once per epoch.
//
// Its parts are kept by concern: the data on the device (deviceData), one
// batch's work buffers (batchBufs), the losses and their weights
// (lossBufs), the per-task gradients of the gradient methods (taskGrads,
// see taskgrad.go), the optimiser (optimiser), the weighting method
// (weighter, see weighting.go) and what an epoch accumulates (epochAcc).
type Trainer struct {
	b          backend.Backend
	cfg        Config
	model      *Model
	lay        *layout
	net        *net
	state      State
	train, val *Dataset
	nTasks     int
	members    int
	batchRows  int         // rows of the largest batch
	gradLen    int         // length of one member's gradient
	methods    []weighter  // each member's weighting method
	progress   []memberRun // each member's best epoch and early stopping
	stream     *streamSource
	dist       *dataParallel // nil unless the run is data-parallel

	data   deviceData
	tables []tableData
	batch  batchBufs
	loss   lossBufs
	tg     taskGrads
	optim  optimiser
	epoch  epochAcc
	owned  []backend.Buffer
}

// memberRun is one member's progress towards its best epoch.
type memberRun struct {
	// bestScore is the best score so far (see Hooks.Judge; the
	// validation loss without a judge) and bestVal the validation loss
	// of that epoch.
	bestScore float64
	bestVal   float64
	bestEpoch int
	stale     int
	done      bool
}

// epochAcc is what an epoch accumulates over its steps for EpochStats.
type epochAcc struct {
	weights       []float64 // sum of the steps' task weights over members
	cos, conflict float64   // sums over the steps' Gram matrices
	gramSteps     int
}

// NewTrainer prepares to train model on b with the training set train and
// an optional validation set val (nil for none). A checkpoint from an
// earlier run (nil for a fresh start) restores the parameters, optimiser
// state and progress, so that the run continues exactly where it stopped.
//
// A model of several members trains them together: every member sees the
// same batches, and its loss counts only the rows it uses (Dataset.Members),
// so that cross-validation folds and the seeds of an ensemble train in one
// pass. Each member keeps its own best parameters by its own validation
// loss, and the run stops when every member has.
func NewTrainer(b backend.Backend, model *Model, cfg Config, train, val *Dataset, ckpt *Checkpoint) (*Trainer, error) {
	return buildTrainer(b, model, cfg, train, val, ckpt, nil)
}

// buildTrainer is NewTrainer, or NewStreamTrainer with a stream (train is
// then only the shape of the largest window).
func buildTrainer(b backend.Backend, model *Model, cfg Config, train, val *Dataset, ckpt *Checkpoint, stream *streamSource) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := model.Validate(); err != nil {
		return nil, err
	}
	if stream == nil {
		if err := train.validate(model.Spec, true); err != nil {
			return nil, fmt.Errorf("training data: %w", err)
		}
	}
	if train.N == 0 {
		return nil, errors.New("training data has no rows")
	}
	if val != nil {
		if err := val.validate(model.Spec, true); err != nil {
			return nil, fmt.Errorf("validation data: %w", err)
		}
		if val.N == 0 {
			val = nil
		}
	}
	t := &Trainer{b: b, cfg: cfg, model: model, lay: newLayout(model.Spec), train: train, val: val, stream: stream,
		nTasks: len(model.Spec.Tasks), members: model.Spec.members(), batchRows: min(cfg.Batch, train.N)}
	if cfg.Weighting.usesGram() && t.lay.layers() == 0 && t.lay.moe == nil && len(t.lay.embed) == 0 {
		return nil, &NoSharedLayersError{Method: cfg.Weighting.method()}
	}
	if err := cfg.validateMembers(t.members); err != nil {
		return nil, err
	}
	if p := cfg.maxDropout(); p > 0 && t.lay.layers() == 0 && t.lay.moe == nil {
		return nil, &NoHiddenLayersError{Dropout: p}
	}
	t.optim.segs = t.lay.segments(model.Spec)
	for m := range t.members {
		var decay []float64
		for _, s := range t.optim.segs {
			decay = append(decay, segmentDecay(cfg, s, t.labelled, m))
		}
		t.optim.decay = append(t.optim.decay, decay)
	}
	if err := t.restoreState(ckpt); err != nil {
		return nil, err
	}
	t.epoch.weights = make([]float64, t.nTasks)
	if err := t.allocate(ckpt); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// labelled counts the training rows with a label for task task that
// member m uses.
func (t *Trainer) labelled(task, m int) int {
	if t.stream != nil {
		return t.stream.stream.Labelled(task)
	}
	return t.train.labelled(task, m)
}

// restoreState sets the progress, row-order generator and weighting
// methods of a fresh run or of a checkpoint's.
func (t *Trainer) restoreState(ckpt *Checkpoint) error {
	cfg := t.cfg
	t.state = State{BestVal: math.Inf(1), BestScore: math.Inf(1), BestEpoch: -1}
	t.data.rng = rand.NewPCG(cfg.Seed, streamShuffle)
	states := make([]WeightingState, t.members)
	t.progress = make([]memberRun, t.members)
	for m := range t.progress {
		t.progress[m] = memberRun{bestScore: math.Inf(1), bestVal: math.Inf(1), bestEpoch: -1}
	}
	if ckpt != nil {
		t.state = ckpt.State
		t.state.RNG = slices.Clone(ckpt.State.RNG)
		if err := t.data.rng.UnmarshalBinary(t.state.RNG); err != nil {
			return fmt.Errorf("checkpoint: row-order generator: %w", err)
		}
		if err := t.restoreMembers(ckpt.State, states); err != nil {
			return err
		}
	}
	for m := range t.members {
		w, err := newWeighter(cfg.Weighting, t.nTasks, cfg.Seed+uint64(m), states[m])
		if err != nil {
			return err
		}
		t.methods = append(t.methods, w)
	}
	return nil
}

// segmentDecay is the weight decay of a parameter segment of member m,
// given the count of each task's labelled training rows.
func segmentDecay(cfg Config, s segment, labelled func(task, m int) int, m int) float64 {
	switch s.kind {
	case segWeights, segTable:
		return cfg.member(m).WeightDecay
	case segDeviations:
		// The penalty GroupDecay·‖d‖² is on the sum of the family's row
		// losses, as in ridge regression; the loss here is their mean, so
		// it is divided by the family's labelled rows.
		decay := cfg.GroupDecay
		if s.bias {
			decay = cfg.GroupBiasDecay
		}
		return decay / float64(max(labelled(s.task, m), 1))
	}
	return 0
}

// Close releases the trainer's device memory. Closing twice is harmless.
func (t *Trainer) Close() {
	if t.net != nil {
		t.net.free()
		t.net = nil
	}
	if t.cfg.LabelSmoothing > 0 && t.loss.evalTable.Ints != nil {
		t.loss.evalTable.Free(t.b)
	}
	t.loss.evalTable = backend.LossTable{}
	if t.loss.table.Ints != nil {
		t.loss.table.Free(t.b)
		t.loss.table = backend.LossTable{}
	}
	for _, b := range t.owned {
		t.b.Free(b)
	}
	t.owned = nil
}

// stepsPerEpoch is the number of batches in an epoch; the last may be
// short.
func (t *Trainer) stepsPerEpoch() int {
	if t.stream != nil {
		if t.stream.steps > 0 {
			return t.stream.steps
		}
		return (t.stream.stream.Rows() + t.cfg.Batch - 1) / t.cfg.Batch
	}
	return (t.train.N + t.cfg.Batch - 1) / t.cfg.Batch
}

// Fit trains until the configured number of epochs, early stopping, an
// error or the cancellation of ctx. When ctx is cancelled Fit finishes the
// current step, brings the model and Checkpoint up to date with the
// progress made, and returns ctx.Err(). On return the model holds the best
// parameters so far (the latest without a validation set).
func (t *Trainer) Fit(ctx context.Context, hooks Hooks) error {
	if t.stream != nil {
		return t.fitStream(ctx, hooks)
	}
	steps := t.stepsPerEpoch()
	for !t.state.Done && t.state.Epoch < t.cfg.Epochs {
		start := time.Now()
		if t.state.EpochStep == 0 {
			t.state.RNG, _ = t.data.rng.MarshalBinary()
			t.b.Fill(t.loss.sumsVec(1), 0)
		}
		if err := t.shuffle(); err != nil {
			return err
		}
		for t.state.EpochStep < steps {
			if err := t.beforeStep(ctx); err != nil {
				return err
			}
			s := t.state.EpochStep
			if err := t.step(s, s*t.cfg.Batch, min(t.cfg.Batch, t.train.N-s*t.cfg.Batch)); err != nil {
				return err
			}
			t.state.EpochStep++
			t.state.Step++
			if hooks.Step != nil {
				hooks.Step(t.state.Epoch, s, steps)
			}
			if t.dist != nil && t.dist.stopped {
				return t.stopAgreed(ctx)
			}
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

// beforeStep stops a run whose context is cancelled before the next
// step; a data-parallel run instead carries the request in the step's
// all-reduce, and every process stops after that step.
func (t *Trainer) beforeStep(ctx context.Context) error {
	err := ctx.Err()
	if t.dist != nil {
		t.dist.stopAsk = err != nil
		return nil
	}
	if err != nil {
		return t.interrupt(err)
	}
	return nil
}

// shuffle draws the current epoch's row order from the generator state
// saved at the start of the epoch, so that a resumed epoch sees the same
// order, and uploads it.
func (t *Trainer) shuffle() error {
	if err := t.data.rng.UnmarshalBinary(t.state.RNG); err != nil {
		return fmt.Errorf("row-order generator state: %w", err)
	}
	r := rand.New(t.data.rng)
	perm := t.data.perm
	for i := range perm {
		perm[i] = int32(i)
	}
	r.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	t.b.WriteInt32(t.data.idx, 0, perm)
	for j := range t.tables {
		t.epochSegments(&t.tables[j], perm)
	}
	t.epochWeights()
	return nil
}

// interrupt records a stop in the middle of an epoch.
func (t *Trainer) interrupt(cause error) error {
	if err := t.pull(); err != nil {
		return err
	}
	return cause
}

// pull copies the current parameters to the model (when there is no
// validation set to choose the best) and checks for device errors.
func (t *Trainer) pull() error {
	if t.val == nil {
		if err := t.b.ReadFloat32(t.model.Params, t.net.params, 0); err != nil {
			return err
		}
	}
	return t.b.Sync()
}

// staticWeights returns every member's static task weights λ_t.
func (t *Trainer) staticWeights() []float64 {
	w := make([]float64, 0, t.members*t.nTasks)
	for range t.members {
		for _, task := range t.model.Spec.Tasks {
			w = append(w, task.weight())
		}
	}
	return w
}

// endEpoch reads the epoch's loss sums, evaluates the validation set,
// tracks the best parameters and advances the state.
func (t *Trainer) endEpoch(start time.Time, judge func(*Model) ([]float64, error)) (EpochStats, error) {
	n := t.members * t.nTasks
	sums := make([]float32, 2*n)
	if err := t.b.ReadFloat32(sums, t.loss.sums, 2*n); err != nil {
		return EpochStats{}, err
	}
	if t.dist != nil {
		if err := t.checksum(t.state.Epoch + 1); err != nil {
			return EpochStats{}, err
		}
	}
	st := EpochStats{Epoch: t.state.Epoch + 1, ValLoss: math.NaN(), Score: math.NaN(), Samples: t.epochRows(), LR: t.cfg.lr(t.state.Step-1, t.stepsPerEpoch()),
		GradCosine: math.NaN(), Conflict: math.NaN()}
	t.epoch.report(&st, float64(t.stepsPerEpoch()*t.members))
	static := t.staticWeights()
	per, _ := t.losses(sums, static)
	var train []float64
	st.TaskTrain, train, st.TrainLoss = t.memberMeans(per, sums, static)
	if m := diverged(train); m >= 0 {
		return st, &DivergedError{Epoch: st.Epoch, Loss: train[m], LR: t.cfg.LR * t.cfg.member(m).LRFactor}
	}
	var val, score []float64
	if t.val != nil {
		vs, err := t.evalVal()
		if err != nil {
			return st, err
		}
		vper, _ := t.losses(vs, static)
		st.TaskVal, val, st.ValLoss = t.memberMeans(vper, vs, static)
		if m := diverged(val); m >= 0 {
			return st, &DivergedError{Epoch: st.Epoch, Loss: val[m], Validation: true, LR: t.cfg.LR * t.cfg.member(m).LRFactor}
		}
		if t.members > 1 {
			st.MemberVal = val
		}
		if judge != nil {
			var err error
			if score, err = t.judge(judge); err != nil {
				return st, err
			}
			st.Score = mean(score)
		}
	}
	t.state.Epoch++
	t.state.EpochStep = 0
	t.state.EpochSums = nil
	for m := range t.members {
		t.methods[m].endEpoch(per[m*t.nTasks : (m+1)*t.nTasks])
	}
	if err := t.keepBest(&st, val, score); err != nil {
		return st, err
	}
	// Advance the row-order generator past this epoch's shuffle for the
	// next epoch.
	t.state.RNG, _ = t.data.rng.MarshalBinary()
	st.Seconds = time.Since(start).Seconds()
	return st, nil
}

// diverged returns the first member whose loss is NaN or infinite, or −1.
func diverged(losses []float64) int {
	for m, l := range losses {
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return m
		}
	}
	return -1
}

// memberMeans turns the per-member task losses (and the sums they came
// from) into each task's mean over the members that have a label for it,
// each member's weighted total, and the mean of those totals. With one
// member they are its own. A loss that is NaN although the task had labels
// makes its member's total NaN.
func (t *Trainer) memberMeans(per []float64, sums []float32, weights []float64) (tasks, members []float64, mean float64) {
	nt := t.nTasks
	tasks = make([]float64, nt)
	for i := range nt {
		var s float64
		k := 0
		for m := range t.members {
			if v := per[m*nt+i]; !math.IsNaN(v) {
				s += v
				k++
			}
		}
		tasks[i] = math.NaN()
		if k > 0 {
			tasks[i] = s / float64(k)
		}
	}
	for m := range t.members {
		var total float64
		for i := range nt {
			if j := m*nt + i; sums[2*j+1] != 0 {
				total += weights[j] * per[j]
			}
		}
		members = append(members, total)
		mean += total
	}
	return tasks, members, mean / float64(t.members)
}

// report moves the epoch's averages into st and starts a new epoch.
func (a *epochAcc) report(st *EpochStats, steps float64) {
	for i := range a.weights {
		st.Weights = append(st.Weights, a.weights[i]/steps)
		a.weights[i] = 0
	}
	if a.gramSteps > 0 {
		st.GradCosine, st.Conflict = a.cos/float64(a.gramSteps), a.conflict/float64(a.gramSteps)
	}
	a.cos, a.conflict, a.gramSteps = 0, 0, 0
}

// judge scores the current parameters of every member.
func (t *Trainer) judge(judge func(*Model) ([]float64, error)) ([]float64, error) {
	cur := &Model{Spec: t.model.Spec, Params: make([]float32, len(t.model.Params))}
	if err := t.b.ReadFloat32(cur.Params, t.net.params, 0); err != nil {
		return nil, err
	}
	score, err := judge(cur)
	if err != nil {
		return nil, err
	}
	if len(score) != t.members {
		return nil, fmt.Errorf("validation judge gave %d scores for %d members", len(score), t.members)
	}
	return score, nil
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// keepBest keeps each member's parameters at its best epoch by its score
// (its validation loss without a judge; the latest parameters without a
// validation set) and decides early stopping: a member stops improving
// after Patience epochs, the run when every member has. A member that
// has stopped keeps its best epoch, as it would trained alone, while the
// others train on.
func (t *Trainer) keepBest(st *EpochStats, val, score []float64) error {
	if t.val == nil {
		st.Best = true
		return t.pull()
	}
	if score == nil {
		score = val
	}
	p := t.lay.total
	for m := range t.members {
		pr := &t.progress[m]
		if pr.done {
			continue // it stopped: as alone, its best is final
		}
		if score[m] < pr.bestScore {
			pr.bestScore, pr.bestVal, pr.bestEpoch, pr.stale = score[m], val[m], t.state.Epoch, 0
			if err := t.b.ReadFloat32(t.model.Params[m*p:(m+1)*p], t.net.params, m*p); err != nil {
				return err
			}
			st.Best = true
			continue
		}
		pr.stale++
		if t.cfg.Patience > 0 && pr.stale >= t.cfg.Patience {
			pr.done = true
		}
	}
	t.summarise()
	return nil
}

// summarise sets the run's progress from its members': with one member
// its own; with several the mean best validation loss, the latest best
// epoch, the fewest stale epochs, and done when every member is.
func (t *Trainer) summarise() {
	s := &t.state
	s.BestVal, s.BestScore, s.BestEpoch, s.Stale, s.Done = 0, 0, -1, math.MaxInt, true
	for _, pr := range t.progress {
		s.BestVal += pr.bestVal / float64(t.members)
		s.BestScore += pr.bestScore / float64(t.members)
		s.BestEpoch = max(s.BestEpoch, pr.bestEpoch)
		s.Stale = min(s.Stale, pr.stale)
		s.Done = s.Done && pr.done
	}
}

// losses turns loss and count sums into per-task mean losses and their
// weighted total. A task without labels has loss NaN and adds nothing.
func (t *Trainer) losses(sums []float32, weights []float64) ([]float64, float64) {
	per := make([]float64, len(weights))
	var total float64
	for i := range per {
		if sums[2*i+1] == 0 {
			per[i] = math.NaN()
			continue
		}
		per[i] = float64(sums[2*i]) / float64(sums[2*i+1])
		total += weights[i] * per[i]
	}
	return per, total
}

// evalVal computes the validation loss sums on the device, without
// dropout and with the labels unsmoothed. In a data-parallel run each
// process evaluates its share of the rows, ⌊rV/N⌋…⌊(r+1)V/N⌋−1, and the
// sums are all-reduced, so that every process decides on the same sums.
func (t *Trainer) evalVal() ([]float32, error) {
	b, l, spec := t.b, t.lay, t.model.Spec
	vs := t.loss.sumsVec(2)
	b.Fill(vs, 0)
	rows := t.net.rows
	var index []backend.Buffer
	for _, td := range t.tables {
		index = append(index, td.val)
	}
	first, end := 0, t.val.N
	if t.dist != nil {
		n, r := t.dist.c.Size(), t.dist.c.Rank()
		first, end = t.val.N*r/n, t.val.N*(r+1)/n
	}
	for lo := first; lo < end; lo += rows {
		r := min(rows, end-lo)
		x := backend.Dense(t.data.xVal, lo*spec.Inputs, r, spec.Inputs)
		y := backend.Dense(t.data.yVal, lo*l.lblCols, r, l.lblCols)
		t.net.forward(t.net.rowsInput(x, index, lo), dropout{})
		b.LossGrad(t.net.out(r), y, t.loss.evalTable, t.loss.weightsVec(), backend.Dense(t.batch.dz, 0, r, t.members*l.outputs()), t.loss.sumsVec(0))
		b.Axpy(vs, 1, t.loss.sumsVec(0))
	}
	out := make([]float32, vs.Len)
	if err := b.ReadFloat32(out, t.loss.sums, vs.Off); err != nil || t.dist == nil {
		return out, err
	}
	if err := t.dist.c.SumFloat32(out); err != nil {
		return nil, fmt.Errorf("data-parallel training: validation loss sums: %w", err)
	}
	return out, nil
}

// State returns the progress of the run.
func (t *Trainer) State() State { return t.state }
