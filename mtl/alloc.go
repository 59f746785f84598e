package mtl

import (
	"math/rand/v2"
	"slices"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// The trainer's device memory, by what it holds.

// deviceData is the training and validation data on the device and the
// row order of the current epoch.
type deviceData struct {
	x, y       backend.Buffer // training inputs and label matrix
	xVal, yVal backend.Buffer
	idx        backend.Buffer // the epoch's row order
	perm       []int32
	rng        *rand.PCG // draws each epoch's row order
}

// batchBufs are one batch's inputs, labels and gradients of the logits and
// of the shared layers' outputs.
type batchBufs struct {
	x, y backend.Buffer
	dz   backend.Buffer
	dh   [2]backend.Buffer
}

// lossBufs are the loss table, the task weights of the step on the device
// (and their host copies) and the loss sums.
type lossBufs struct {
	table    backend.LossTable
	weights  backend.Buffer
	sums     backend.Buffer // [step sums | epoch sums | validation sums]
	onDevice []float32      // the weights last written to the device
	step     []float64      // this step's loss weights
	next     []float32
}

func (lb *lossBufs) sumsVec(i int) backend.Vec {
	n := lb.weights.Len()
	return backend.Vec{Buf: lb.sums, Off: 2 * n * i, Len: 2 * n}
}

func (lb *lossBufs) weightsVec() backend.Vec { return backend.Whole(lb.weights) }

// optimiser is the gradient, the optimiser's state and how each parameter
// segment decays.
type optimiser struct {
	grads  backend.Buffer
	state  []backend.Buffer // SGD: velocity; Adam: first and second moments
	normSq backend.Buffer
	segs   []segment
	decay  []float64 // weight decay of each segment
}

// taskGrads are the buffers of the per-task gradients (see taskgrad.go).
type taskGrads struct {
	g, gram, combo, ones backend.Buffer
	delta                [2]backend.Buffer
	pmat                 backend.Buffer // [Xᵀ·dZ; 1ᵀ·dZ] of the linear model
}

// allocator allocates buffers that the trainer owns, remembering the first
// error so that a run of allocations needs one check.
type allocator struct {
	t   *Trainer
	err error
}

func (a *allocator) f32(n int) backend.Buffer { return a.alloc(backend.Float32, n) }

func (a *allocator) alloc(dt backend.DType, n int) backend.Buffer {
	if a.err != nil {
		return nil
	}
	buf, err := a.t.b.Alloc(dt, max(n, 1))
	if err != nil {
		a.err = err
		return nil
	}
	a.t.owned = append(a.t.owned, buf)
	return buf
}

func (a *allocator) upload(data []float32) backend.Buffer {
	if a.err != nil {
		return nil
	}
	if len(data) == 0 {
		return a.f32(1)
	}
	buf, err := a.t.b.Upload(data)
	if err != nil {
		a.err = err
		return nil
	}
	a.t.owned = append(a.t.owned, buf)
	return buf
}

// allocate creates every device buffer and uploads the data, parameters
// and optimiser state.
func (t *Trainer) allocate(ckpt *Checkpoint) error {
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
	if t.net, err = newNet(t.b, t.model.Spec, rows, params); err != nil {
		return err
	}
	a := &allocator{t: t}
	t.allocOptimiser(a)
	t.allocBatch(a, batch, rows)
	t.allocTaskGrads(a, batch)
	t.allocLoss(a)
	if a.err != nil {
		return a.err
	}
	if ckpt != nil {
		if err := t.restore(ckpt); err != nil {
			return err
		}
	}
	t.setLossWeights()
	if t.loss.table, err = backend.NewLossTable(t.b, t.lay.lossTasks(t.model.Spec), t.lay.outputs(), t.lay.lblCols); err != nil {
		return err
	}
	t.uploadData(a)
	if a.err != nil {
		return a.err
	}
	return t.b.Sync()
}

func (t *Trainer) allocOptimiser(a *allocator) {
	t.optim.grads = a.f32(t.lay.total)
	states := 1
	if t.cfg.Optimizer != SGD {
		states = 2
	}
	for range states {
		t.optim.state = append(t.optim.state, a.f32(t.lay.total))
	}
	t.optim.normSq = a.f32(1)
}

func (t *Trainer) allocBatch(a *allocator, batch, rows int) {
	l := t.lay
	wmax := slices.Max(l.widths)
	t.batch.x = a.f32(batch * t.model.Spec.Inputs)
	t.batch.y = a.f32(batch * l.lblCols)
	t.batch.dz = a.f32(rows * l.outputs())
	t.batch.dh[0], t.batch.dh[1] = a.f32(batch*wmax), a.f32(batch*wmax)
}

func (t *Trainer) allocTaskGrads(a *allocator, batch int) {
	l := t.lay
	if t.linearShared() {
		t.tg.pmat = a.f32((t.model.Spec.Inputs + 1) * l.outputs())
	}
	if !t.cfg.Weighting.usesGram() {
		return
	}
	_, p := l.layerOffsets()
	t.tg.g = a.f32(t.nTasks * p)
	t.tg.gram = a.f32(t.nTasks * t.nTasks)
	t.tg.combo = a.f32(t.nTasks)
	if !t.linearShared() {
		wmax := slices.Max(l.widths)
		t.tg.delta[0], t.tg.delta[1] = a.f32(t.nTasks*batch*wmax), a.f32(t.nTasks*batch*wmax)
		t.tg.ones = a.f32(batch)
		if t.tg.ones != nil {
			t.b.Fill(backend.Whole(t.tg.ones), 1)
		}
	}
}

func (t *Trainer) allocLoss(a *allocator) {
	t.loss.weights = a.f32(t.nTasks)
	t.loss.sums = a.f32(6 * t.nTasks)
}

// uploadData copies the training and validation data to the device.
func (t *Trainer) uploadData(a *allocator) {
	spec, l := t.model.Spec, t.lay
	t.data.x = a.upload(t.train.X)
	t.data.y = a.upload(t.train.labelMatrix(spec, l))
	t.data.idx = a.alloc(backend.Int32, t.train.N)
	t.data.perm = make([]int32, t.train.N)
	if t.val != nil {
		t.data.xVal = a.upload(t.val.X)
		t.data.yVal = a.upload(t.val.labelMatrix(spec, l))
	}
}
