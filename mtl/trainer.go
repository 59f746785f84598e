package mtl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// ErrDiverged is returned (wrapped) when the training loss becomes NaN or
// infinite. The model keeps the parameters of the last good epoch.
var ErrDiverged = errors.New("training diverged")

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

// EpochStats reports one epoch.
type EpochStats struct {
	Epoch   int
	Seconds float64
	// TrainLoss is Σ_t λ_t·L_t over the epoch, with each L_t the mean
	// over the epoch's labelled rows; TaskTrain holds the L_t.
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
	// Best is set when this epoch's validation loss is the best so far.
	Best bool
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
}

// Trainer trains a model on a backend. The training data, the parameters,
// their gradients and the optimiser state stay in device memory; each step
// gathers its batch on the device, and only the per-task loss sums come
// back, once per epoch.
type Trainer struct {
	b     backend.Backend
	cfg   Config
	model *Model
	lay   *layout
	net   *net
	state State

	train, val *Dataset
	nTasks     int

	grads   backend.Buffer
	opt     []backend.Buffer
	xAll    backend.Buffer
	yAll    backend.Buffer
	xVal    backend.Buffer
	yVal    backend.Buffer
	idx     backend.Buffer
	xb, yb  backend.Buffer
	dz      backend.Buffer
	dh      [2]backend.Buffer
	table   backend.LossTable
	weights backend.Buffer
	sums    backend.Buffer // [step sums | epoch sums | val sums]
	normSq  backend.Buffer
	rng     *rand.PCG
	perm    []int32
	segs    []segment
	decay   []float64 // weight decay of each segment

	// Per-task gradients (see taskgrad.go).
	taskG, gram, combo, ones backend.Buffer
	delta                    [2]backend.Buffer
	pmat                     backend.Buffer // [Xᵀ·dZ; 1ᵀ·dZ] of the linear model
	pcgRNG                   *rand.PCG      // PCGrad's task orders (saved in checkpoints)
	pcgRand                  *rand.Rand     // draws from pcgRNG
	lossW                    []float32      // loss weights on the device
	lw                       []float64      // this step's loss weights
	next                     []float32
	epochW                   []float64 // sum of the epoch's weights
	epochCos, epochConflict  float64
	gramSteps                int
	owned                    []backend.Buffer
}

// NewTrainer prepares to train model on b with the training set train and
// an optional validation set val (nil for none). A checkpoint from an
// earlier run (nil for a fresh start) restores the parameters, optimiser
// state and progress, so that the run continues exactly where it stopped.
func NewTrainer(b backend.Backend, model *Model, cfg Config, train, val *Dataset, ckpt *Checkpoint) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := model.Validate(); err != nil {
		return nil, err
	}
	if err := train.validate(model.Spec, true); err != nil {
		return nil, fmt.Errorf("training data: %w", err)
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
	t := &Trainer{b: b, cfg: cfg, model: model, lay: newLayout(model.Spec), train: train, val: val, nTasks: len(model.Spec.Tasks)}
	if cfg.Weighting.usesGram() && t.lay.layers() == 0 {
		return nil, fmt.Errorf("weighting %s combines the tasks' gradients of the shared layers: the model needs at least one (--hidden)", cfg.Weighting.method())
	}
	t.segs = t.lay.segments(model.Spec)
	for _, s := range t.segs {
		decay := 0.0
		switch s.kind {
		case segWeights:
			decay = cfg.WeightDecay
		case segDeviations:
			// The penalty GroupDecay·‖d‖² is on the sum of the family's
			// row losses, as in ridge regression; the loss here is their
			// mean, so it is divided by the family's labelled rows.
			decay = cfg.GroupDecay
			if s.bias {
				decay = cfg.GroupBiasDecay
			}
			decay /= float64(max(train.labelled(s.task), 1))
		}
		t.decay = append(t.decay, decay)
	}
	t.state = State{BestVal: math.Inf(1), BestEpoch: -1}
	t.rng = rand.NewPCG(cfg.Seed, streamShuffle)
	t.pcgRNG = rand.NewPCG(cfg.Seed, streamPCGrad)
	t.pcgRand = rand.New(t.pcgRNG)
	if ckpt != nil {
		t.state = ckpt.State
		t.state.RNG = slices.Clone(ckpt.State.RNG)
		if err := t.rng.UnmarshalBinary(t.state.RNG); err != nil {
			return nil, fmt.Errorf("checkpoint: row-order generator: %w", err)
		}
		if r := ckpt.State.Weighting.RNG; r != nil {
			if err := t.pcgRNG.UnmarshalBinary(r); err != nil {
				return nil, fmt.Errorf("checkpoint: task-order generator: %w", err)
			}
		}
	}
	t.epochW = make([]float64, t.nTasks)
	if err := t.allocate(ckpt); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

func (t *Trainer) alloc(dt backend.DType, n int) (backend.Buffer, error) {
	buf, err := t.b.Alloc(dt, max(n, 1))
	if err != nil {
		return nil, err
	}
	t.owned = append(t.owned, buf)
	return buf, nil
}

func (t *Trainer) upload(data []float32) (backend.Buffer, error) {
	if len(data) == 0 {
		return t.alloc(backend.Float32, 1)
	}
	buf, err := t.b.Upload(data)
	if err != nil {
		return nil, err
	}
	t.owned = append(t.owned, buf)
	return buf, nil
}

// allocate creates every device buffer and uploads the data, parameters
// and optimiser state.
func (t *Trainer) allocate(ckpt *Checkpoint) error {
	spec, l := t.model.Spec, t.lay
	// The forward pass and the logits' gradient also serve the validation
	// set, in chunks of up to predictRows; the rest is for one batch.
	batch := min(t.cfg.Batch, t.train.N)
	rows := batch
	if t.val != nil {
		rows = max(rows, min(t.val.N, predictRows))
	}
	params := t.model.Params
	if ckpt != nil && ckpt.Current != nil {
		params = ckpt.Current
	}
	var err error
	if t.net, err = newNet(t.b, spec, rows, params); err != nil {
		return err
	}
	f := func(n int) backend.Buffer {
		if err != nil {
			return nil
		}
		var buf backend.Buffer
		buf, err = t.alloc(backend.Float32, n)
		return buf
	}
	t.grads = f(l.total)
	states := 1
	if t.cfg.Optimizer != SGD {
		states = 2
	}
	for range states {
		t.opt = append(t.opt, f(l.total))
	}
	d, c := spec.Inputs, l.outputs()
	t.xb = f(batch * d)
	t.yb = f(batch * l.lblCols)
	t.dz = f(rows * c)
	wmax := slices.Max(l.widths)
	t.dh[0], t.dh[1] = f(batch*wmax), f(batch*wmax)
	t.weights = f(t.nTasks)
	if t.linearShared() {
		t.pmat = f((spec.Inputs + 1) * c)
	}
	if t.cfg.Weighting.usesGram() {
		_, p := l.layerOffsets()
		t.taskG = f(t.nTasks * p)
		t.gram = f(t.nTasks * t.nTasks)
		t.combo = f(t.nTasks)
		if !t.linearShared() {
			t.delta[0], t.delta[1] = f(t.nTasks*batch*wmax), f(t.nTasks*batch*wmax)
			t.ones = f(batch)
		}
	}
	t.sums = f(6 * t.nTasks)
	t.normSq = f(1)
	if err != nil {
		return err
	}
	if ckpt != nil && len(ckpt.Opt) > 0 {
		if len(ckpt.Opt) != states {
			return fmt.Errorf("checkpoint has %d optimiser state vectors, %s needs %d", len(ckpt.Opt), t.cfg.Optimizer, states)
		}
		for i, s := range ckpt.Opt {
			if len(s) != l.total {
				return fmt.Errorf("checkpoint optimiser state has %d values, want %d", len(s), l.total)
			}
			t.b.WriteFloat32(t.opt[i], 0, s)
		}
	}
	if ckpt != nil && len(ckpt.State.EpochSums) == 2*t.nTasks {
		t.b.WriteFloat32(t.sums, 2*t.nTasks, ckpt.State.EpochSums)
	}
	if t.ones != nil {
		t.b.Fill(backend.Whole(t.ones), 1)
	}
	t.setLossWeights()
	if t.table, err = backend.NewLossTable(t.b, l.lossTasks(spec), c, l.lblCols); err != nil {
		return err
	}
	if t.xAll, err = t.upload(t.train.X); err != nil {
		return err
	}
	if t.yAll, err = t.upload(t.train.labelMatrix(spec, l)); err != nil {
		return err
	}
	if t.idx, err = t.alloc(backend.Int32, t.train.N); err != nil {
		return err
	}
	t.perm = make([]int32, t.train.N)
	if t.val != nil {
		if t.xVal, err = t.upload(t.val.X); err != nil {
			return err
		}
		if t.yVal, err = t.upload(t.val.labelMatrix(spec, l)); err != nil {
			return err
		}
	}
	return t.b.Sync()
}

// Close releases the trainer's device memory. Closing twice is harmless.
func (t *Trainer) Close() {
	if t.net != nil {
		t.net.free()
		t.net = nil
	}
	if t.table.Ints != nil {
		t.table.Free(t.b)
		t.table = backend.LossTable{}
	}
	for _, b := range t.owned {
		t.b.Free(b)
	}
	t.owned = nil
}

// stepsPerEpoch is the number of batches in an epoch; the last may be
// short.
func (t *Trainer) stepsPerEpoch() int { return (t.train.N + t.cfg.Batch - 1) / t.cfg.Batch }

func (t *Trainer) sumsVec(i int) backend.Vec {
	return backend.Vec{Buf: t.sums, Off: 2 * t.nTasks * i, Len: 2 * t.nTasks}
}

// Fit trains until the configured number of epochs, early stopping, an
// error or the cancellation of ctx. When ctx is cancelled Fit finishes the
// current step, brings the model and Checkpoint up to date with the
// progress made, and returns ctx.Err(). On return the model holds the best
// parameters so far (the latest without a validation set).
func (t *Trainer) Fit(ctx context.Context, hooks Hooks) error {
	steps := t.stepsPerEpoch()
	for !t.state.Done && t.state.Epoch < t.cfg.Epochs {
		start := time.Now()
		if t.state.EpochStep == 0 {
			t.state.RNG, _ = t.rng.MarshalBinary()
			t.b.Fill(t.sumsVec(1), 0)
		}
		if err := t.shuffle(); err != nil {
			return err
		}
		for t.state.EpochStep < steps {
			if err := ctx.Err(); err != nil {
				return t.interrupt(err)
			}
			s := t.state.EpochStep
			if err := t.step(s*t.cfg.Batch, min(t.cfg.Batch, t.train.N-s*t.cfg.Batch)); err != nil {
				return err
			}
			t.state.EpochStep++
			t.state.Step++
			if hooks.Step != nil {
				hooks.Step(t.state.Epoch, s, steps)
			}
		}
		stats, err := t.endEpoch(start)
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

// shuffle draws the current epoch's row order from the generator state
// saved at the start of the epoch, so that a resumed epoch sees the same
// order, and uploads it.
func (t *Trainer) shuffle() error {
	if err := t.rng.UnmarshalBinary(t.state.RNG); err != nil {
		return fmt.Errorf("row-order generator state: %w", err)
	}
	r := rand.New(t.rng)
	for i := range t.perm {
		t.perm[i] = int32(i)
	}
	r.Shuffle(len(t.perm), func(i, j int) { t.perm[i], t.perm[j] = t.perm[j], t.perm[i] })
	t.b.WriteInt32(t.idx, 0, t.perm)
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

// setLossWeights writes the loss weights of the next step to the device
// when they changed: each task's λ_t times the method's loss weight.
func (t *Trainer) setLossWeights() []float64 {
	if t.lw == nil {
		t.lw, t.next = make([]float64, t.nTasks), make([]float32, t.nTasks)
	}
	lw := t.state.Weighting.lossWeights(t.cfg.Weighting, t.lw)
	changed := t.lossW == nil
	for i, task := range t.model.Spec.Tasks {
		lw[i] *= task.weight()
		t.next[i] = float32(lw[i])
		changed = changed || t.next[i] != t.lossW[i]
	}
	if changed {
		t.b.WriteFloat32(t.weights, 0, t.next)
		t.lossW = slices.Clone(t.next)
	}
	return lw
}

// step runs one optimiser step on the rows perm[off : off+rows].
func (t *Trainer) step(off, rows int) error {
	wt := t.cfg.Weighting
	lw := t.setLossWeights()
	x, dz := t.gradient(off, rows)
	var losses []float64
	if wt.stepLosses() {
		sums := make([]float32, 2*t.nTasks)
		if err := t.b.ReadFloat32(sums, t.sums, 0); err != nil {
			return err
		}
		losses, _ = t.losses(sums, ones(t.nTasks))
	}
	if !wt.usesGram() {
		t.backward(x, dz)
		if wt.method() == Uncertainty {
			t.state.Weighting.uncertaintyStep(losses, wt.lr())
		}
		for i := range lw {
			t.epochW[i] += lw[i]
		}
		t.update()
		return nil
	}
	t.taskGradients(x, dz)
	g32 := make([]float32, t.nTasks*t.nTasks)
	if err := t.b.ReadFloat32(g32, t.gram, 0); err != nil {
		return err
	}
	gram := make([]float64, len(g32))
	for i, v := range g32 {
		gram[i] = float64(v)
	}
	cos, conflict := gramStats(gram, t.nTasks)
	if !math.IsNaN(cos) {
		t.epochCos += cos
		t.epochConflict += conflict
		t.gramSteps++
	}
	combo := ones(t.nTasks)
	switch wt.method() {
	case PCGrad:
		combo = pcgrad(gram, t.nTasks, t.pcgRand)
	case MGDA:
		combo = minNorm(gram, t.nTasks)
	case GradNorm:
		t.state.Weighting.gradNormStep(gram, losses, wt.alpha(), wt.lr())
	}
	w := make([]float32, t.nTasks)
	for i := range combo {
		w[i] = float32(combo[i])
		if wt.combines() {
			t.epochW[i] += combo[i]
		} else {
			t.epochW[i] += lw[i]
		}
	}
	t.combine(w)
	t.update()
	return nil
}

// gradient gathers the rows perm[off : off+rows], runs the forward pass
// and the loss, and returns the batch's inputs and the logits' gradient.
func (t *Trainer) gradient(off, rows int) (x, dz backend.Mat) {
	b, l, spec := t.b, t.lay, t.model.Spec
	x = backend.Dense(t.xb, 0, rows, spec.Inputs)
	y := backend.Dense(t.yb, 0, rows, l.lblCols)
	b.GatherRows(x, backend.Dense(t.xAll, 0, t.train.N, spec.Inputs), t.idx, off)
	b.GatherRows(y, backend.Dense(t.yAll, 0, t.train.N, l.lblCols), t.idx, off)
	t.net.forward(x)
	dz = backend.Dense(t.dz, 0, rows, l.outputs())
	b.LossGrad(t.net.out(rows), y, t.table, backend.Whole(t.weights).Slice(0, t.nTasks), dz, t.sumsVec(0))
	b.Axpy(t.sumsVec(1), 1, t.sumsVec(0))
	return x, dz
}

// backward computes the gradient of every parameter from dZ:
//
//	∂[A; D] = dZᵀ·H_L        ∂[b; e] = 1ᵀ·dZ
//	dH_L    = dZ·[A; D]
//	dP_l    = dH_l ⊙ φ'(H_l)
//	∂W_l    = H_{l−1}ᵀ·dP_l   ∂c_l = 1ᵀ·dP_l
//	dH_{l−1} = dP_l·W_lᵀ
func (t *Trainer) backward(x, dz backend.Mat) {
	b, l, n := t.b, t.lay, t.net
	rows := x.Rows
	b.Gemm(true, false, 1, dz, n.top(x), 0, l.headMat(t.grads))
	b.ColSum(l.headBiasVec(t.grads), dz, 1, 0)
	layers := l.layers()
	if layers == 0 {
		return
	}
	if t.linearShared() && t.reassociate(rows) {
		// With one linear shared layer, ∂W = Xᵀ·(dZ·[A; D]) equals
		// (Xᵀ·dZ)·[A; D], which costs less when the outputs are fewer
		// than the shared width; ∂c = (1ᵀ·dZ)·[A; D] reuses ∂b.
		d, c := l.widths[0], l.outputs()
		pm := backend.Dense(t.pmat, 0, d, c)
		b.Gemm(true, false, 1, x, dz, 0, pm)
		b.Gemm(false, false, 1, pm, l.headMat(n.params), 0, l.weight(t.grads, 0))
		b.Gemm(false, false, 1, backend.Dense(t.grads, l.headBias, 1, c), l.headMat(n.params), 0, backend.Dense(t.grads, l.biases[0], 1, l.last()))
		return
	}
	dh := backend.Dense(t.dh[0], 0, rows, l.last())
	b.Gemm(false, false, 1, dz, l.headMat(n.params), 0, dh)
	for i := layers - 1; i >= 0; i-- {
		b.ActGrad(dh, n.act(x, i+1, rows), n.spec.Activation)
		b.Gemm(true, false, 1, n.act(x, i, rows), dh, 0, l.weight(t.grads, i))
		b.ColSum(l.bias(t.grads, i), dh, 1, 0)
		if i > 0 {
			prev := backend.Dense(t.dh[(layers-i)%2], 0, rows, l.widths[i])
			b.Gemm(false, true, 1, dh, l.weight(n.params, i), 0, prev)
			dh = prev
		}
	}
}

// reassociate reports whether (Xᵀ·dZ)·A is cheaper than Xᵀ·(dZ·A) for a
// batch of rows.
func (t *Trainer) reassociate(rows int) bool {
	d, c, k := t.lay.widths[0], t.lay.outputs(), t.lay.last()
	return d*rows*c+d*c*k < rows*c*k+d*rows*k
}

// update applies one optimiser step to every parameter segment, with the
// gradient norm clipped over all of them.
func (t *Trainer) update() {
	b, cfg := t.b, t.cfg
	clip := backend.Clip{}
	if cfg.ClipNorm > 0 {
		clip = backend.Clip{NormSq: backend.Whole(t.normSq), MaxNorm: float32(cfg.ClipNorm)}
		b.SumSquares(clip.NormSq, backend.Whole(t.grads).Slice(0, t.lay.total))
	}
	lr := cfg.lr(t.state.Step, t.stepsPerEpoch())
	for i, s := range t.segs {
		decay := t.decay[i]
		v := func(buf backend.Buffer) backend.Vec { return backend.Vec{Buf: buf, Off: s.off, Len: s.n} }
		p, g := v(t.net.params), v(t.grads)
		if cfg.Optimizer == SGD {
			hp := backend.SGD{LR: float32(lr), Momentum: float32(cfg.Momentum), WeightDecay: float32(decay), Nesterov: cfg.Nesterov}
			b.SGDStep(hp, p, g, v(t.opt[0]), clip)
			continue
		}
		// Deviations always take classic L2, whatever the optimiser: added
		// to the gradient, it makes their fixed point the ridge solution,
		// shrunk in proportion to how little data a group has. Decoupled
		// decay would shrink every group alike.
		hp := backend.Adam{
			LR: float32(lr), Beta1: float32(cfg.Beta1), Beta2: float32(cfg.Beta2), Eps: float32(cfg.Eps),
			WeightDecay: float32(decay), Decoupled: cfg.Optimizer == AdamW && s.kind != segDeviations, Step: t.state.Step + 1,
		}
		b.AdamStep(hp, p, g, v(t.opt[0]), v(t.opt[1]), clip)
	}
}

// endEpoch reads the epoch's loss sums, evaluates the validation set,
// tracks the best parameters and advances the state.
func (t *Trainer) endEpoch(start time.Time) (EpochStats, error) {
	nt := t.nTasks
	sums := make([]float32, 2*nt)
	if err := t.b.ReadFloat32(sums, t.sums, 2*nt); err != nil {
		return EpochStats{}, err
	}
	st := EpochStats{Epoch: t.state.Epoch + 1, ValLoss: math.NaN(), Samples: t.train.N, LR: t.cfg.lr(t.state.Step-1, t.stepsPerEpoch()),
		GradCosine: math.NaN(), Conflict: math.NaN()}
	steps := float64(t.stepsPerEpoch())
	for i := range t.epochW {
		st.Weights = append(st.Weights, t.epochW[i]/steps)
		t.epochW[i] = 0
	}
	if t.gramSteps > 0 {
		st.GradCosine, st.Conflict = t.epochCos/float64(t.gramSteps), t.epochConflict/float64(t.gramSteps)
	}
	t.epochCos, t.epochConflict, t.gramSteps = 0, 0, 0
	static := make([]float64, t.nTasks)
	for i, task := range t.model.Spec.Tasks {
		static[i] = task.weight()
	}
	st.TaskTrain, st.TrainLoss = t.losses(sums, static)
	if math.IsNaN(st.TrainLoss) || math.IsInf(st.TrainLoss, 0) {
		return st, fmt.Errorf("%w at epoch %d (loss %g): try a lower learning rate (--lr, now %g)", ErrDiverged, st.Epoch, st.TrainLoss, t.cfg.LR)
	}
	if t.val != nil {
		vs, err := t.evalVal()
		if err != nil {
			return st, err
		}
		st.TaskVal, st.ValLoss = t.losses(vs, static)
		if math.IsNaN(st.ValLoss) || math.IsInf(st.ValLoss, 0) {
			return st, fmt.Errorf("%w at epoch %d (validation loss %g): try a lower learning rate (--lr, now %g)", ErrDiverged, st.Epoch, st.ValLoss, t.cfg.LR)
		}
	}
	t.state.Epoch++
	t.state.EpochStep = 0
	t.state.EpochSums = nil
	if t.cfg.Weighting.method() == DWA {
		t.state.Weighting.dwaEpoch(st.TaskTrain, t.cfg.Weighting.temp())
	}
	if t.val == nil {
		if err := t.pull(); err != nil {
			return st, err
		}
		st.Best = true
	} else if st.ValLoss < t.state.BestVal {
		t.state.BestVal, t.state.BestEpoch, t.state.Stale = st.ValLoss, t.state.Epoch, 0
		if err := t.b.ReadFloat32(t.model.Params, t.net.params, 0); err != nil {
			return st, err
		}
		st.Best = true
	} else {
		t.state.Stale++
		if t.cfg.Patience > 0 && t.state.Stale >= t.cfg.Patience {
			t.state.Done = true
		}
	}
	// Advance the row-order generator past this epoch's shuffle for the
	// next epoch.
	t.state.RNG, _ = t.rng.MarshalBinary()
	st.Seconds = time.Since(start).Seconds()
	return st, nil
}

// losses turns loss and count sums into per-task mean losses and their
// weighted total. A task without labels has loss NaN and adds nothing.
func (t *Trainer) losses(sums []float32, weights []float64) ([]float64, float64) {
	per := make([]float64, t.nTasks)
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

// evalVal computes the validation loss sums on the device.
func (t *Trainer) evalVal() ([]float32, error) {
	b, l, spec := t.b, t.lay, t.model.Spec
	vs := t.sumsVec(2)
	b.Fill(vs, 0)
	rows := t.net.rows
	for lo := 0; lo < t.val.N; lo += rows {
		r := min(rows, t.val.N-lo)
		x := backend.Dense(t.xVal, lo*spec.Inputs, r, spec.Inputs)
		y := backend.Dense(t.yVal, lo*l.lblCols, r, l.lblCols)
		t.net.forward(x)
		b.LossGrad(t.net.out(r), y, t.table, backend.Whole(t.weights).Slice(0, t.nTasks), backend.Dense(t.dz, 0, r, l.outputs()), t.sumsVec(0))
		b.Axpy(vs, 1, t.sumsVec(0))
	}
	out := make([]float32, 2*t.nTasks)
	return out, b.ReadFloat32(out, t.sums, vs.Off)
}

// Checkpoint returns the run as a model file stores it. It reads the
// current parameters and optimiser state from the device.
func (t *Trainer) Checkpoint() (*Checkpoint, error) {
	c := &Checkpoint{Model: t.model, Config: t.cfg, State: t.state}
	c.State.RNG = slices.Clone(t.state.RNG)
	c.State.Weighting = t.state.Weighting.clone()
	if t.cfg.Weighting.method() == PCGrad {
		c.State.Weighting.RNG, _ = t.pcgRNG.MarshalBinary()
	}
	cur := make([]float32, t.lay.total)
	if err := t.b.ReadFloat32(cur, t.net.params, 0); err != nil {
		return nil, err
	}
	if !slices.Equal(cur, t.model.Params) {
		c.Current = cur
	}
	for _, o := range t.opt {
		s := make([]float32, t.lay.total)
		if err := t.b.ReadFloat32(s, o, 0); err != nil {
			return nil, err
		}
		c.Opt = append(c.Opt, s)
	}
	if t.state.EpochStep > 0 {
		c.State.EpochSums = make([]float32, 2*t.nTasks)
		if err := t.b.ReadFloat32(c.State.EpochSums, t.sums, 2*t.nTasks); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// State returns the progress of the run.
func (t *Trainer) State() State { return t.state }
