package mtl

import (
	"math/rand/v2"
	"slices"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// The trainer's device memory, by what it holds.
//
// Gradients: member m's gradient starts at m·gradLen. Its dense part (every
// parameter before the embedding tables) has the layout of the parameters;
// the compact gradients of the tables follow, table j's as up to
// maxTouched rows, one per table row a step touches.

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
// of the body's activations.
type batchBufs struct {
	x, y backend.Buffer
	dz   backend.Buffer
	dh   [2]backend.Buffer // shared bottom, members × batch × widest layer
	dIn  backend.Buffer    // members × batch × input width, with embedding tables
	moe  *moeBackBufs      // mixture of experts, one member at a time
}

// lossBufs are the loss tables (training's, with the labels smoothed, and
// validation's, the same table without smoothing), the task weights of the
// step on the device (and their host copies) and the loss sums. Weights
// and sums cover every member's tasks, member after member.
type lossBufs struct {
	table     backend.LossTable
	evalTable backend.LossTable
	weights   backend.Buffer
	sums      backend.Buffer // [step | epoch | validation | scratch] sums
	onDevice  []float32      // the weights last written to the device
	step      []float64      // this step's loss weights
	scale     []float64      // data-parallel: each weight's share of the labelled rows (nil alone)
	current   backend.Vec    // the weights the step's loss reads
	next      []float32
}

// sumsVec returns section i of the sums: 0 the step's, 1 the epoch's, 2
// the validation set's, 3 scratch.
func (lb *lossBufs) sumsVec(i int) backend.Vec {
	n := lb.weights.Len()
	return backend.Vec{Buf: lb.sums, Off: 2 * n * i, Len: 2 * n}
}

func (lb *lossBufs) weightsVec() backend.Vec { return backend.Whole(lb.weights) }

// optimiser is the gradient, the optimiser's state and how each parameter
// segment decays.
type optimiser struct {
	grads  backend.Buffer
	state  []backend.Buffer // SGD: velocity; Adam: first and second moments (members × total)
	normSq backend.Buffer   // one squared gradient norm per member
	segs   []segment
	decay  [][]float64 // weight decay of each segment, per member
}

// taskGrads are the buffers of the per-task gradients (see taskgrad.go).
type taskGrads struct {
	g, gram, combo, ones backend.Buffer
	delta                [2]backend.Buffer
	pmat                 backend.Buffer // [Xᵀ·dZ; 1ᵀ·dZ] of the linear model
	scratch              backend.Buffer // one backward pass's gradient (generic path)
	scratchW             backend.Buffer // loss weights of one task
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

func (a *allocator) ints(data []int32) backend.Buffer {
	buf := a.alloc(backend.Int32, len(data))
	if buf != nil && len(data) > 0 {
		a.t.b.WriteInt32(buf, 0, data)
	}
	return buf
}

// allocate creates every device buffer and uploads the data, parameters
// and optimiser state.
func (t *Trainer) allocate(ckpt *Checkpoint) error {
	// The forward pass and the logits' gradient also serve the validation
	// set, in chunks of up to predictRows; the rest is for one batch.
	batch := t.batchRows
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
	if keepsPhi(t.cfg.maxDropout(), t.model.Spec.Activation) {
		if err := t.net.keepPhi(); err != nil {
			return err
		}
	}
	a := &allocator{t: t}
	t.planTables()
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
	t.setLossWeights(0)
	if err := t.allocLossTables(); err != nil {
		return err
	}
	t.uploadData(a)
	if a.err != nil {
		return a.err
	}
	return t.b.Sync()
}

// allocLossTables uploads the training loss table, with the labels
// smoothed by LabelSmoothing, and validation's without.
func (t *Trainer) allocLossTables() error {
	logits, labels := t.members*t.lay.outputs(), t.lay.lblCols
	var err error
	if t.loss.table, err = backend.NewLossTable(t.b, t.lay.lossTasks(t.model.Spec, float32(t.cfg.LabelSmoothing)), logits, labels); err != nil {
		return err
	}
	t.loss.evalTable = t.loss.table
	if t.cfg.LabelSmoothing > 0 {
		t.loss.evalTable, err = backend.NewLossTable(t.b, t.lay.lossTasks(t.model.Spec, 0), logits, labels)
	}
	return err
}

// planTables sizes the compact gradients of the embedding tables: a step
// touches at most a batch's rows of a table, and at most all of them.
func (t *Trainer) planTables() {
	off := t.lay.denseLen()
	t.tables = nil
	for j, e := range t.lay.embed {
		td := tableData{compact: off, maxTouched: min(t.batchRows, e.rows)}
		if t.stream == nil {
			td.index = t.train.Index[j]
		}
		off += td.maxTouched * e.dim
		t.tables = append(t.tables, td)
	}
	t.gradLen = off
}

func (t *Trainer) allocOptimiser(a *allocator) {
	M := t.members
	t.optim.grads = a.f32(M * t.gradLen)
	states := 1
	if t.cfg.Optimizer != SGD {
		states = 2
	}
	for range states {
		t.optim.state = append(t.optim.state, a.f32(M*t.lay.total))
	}
	t.optim.normSq = a.f32(M)
}

func (t *Trainer) allocBatch(a *allocator, batch, rows int) {
	l, M := t.lay, t.members
	wmax := slices.Max(append([]int{l.in}, l.widths...))
	t.batch.x = a.f32(batch * t.model.Spec.Inputs)
	t.batch.y = a.f32(batch * l.lblCols)
	t.batch.dz = a.f32(rows * M * l.outputs())
	if l.moe == nil {
		t.batch.dh[0], t.batch.dh[1] = a.f32(M*batch*wmax), a.f32(M*batch*wmax)
	}
	if len(l.embed) > 0 {
		t.batch.dIn = a.f32(M * batch * l.in)
	}
	if mo := l.moe; mo != nil {
		bb := &moeBackBufs{}
		for _, lv := range mo.levels {
			var hid []backend.Buffer
			for _, w := range mo.widths {
				hid = append(hid, a.f32(batch*lv.numExperts*w))
			}
			bb.hidden = append(bb.hidden, hid)
			bb.gates = append(bb.gates, a.f32(batch*lv.slots()))
			bb.mix = append(bb.mix, a.f32(batch*lv.groups()*mo.rep))
		}
		t.batch.moe = bb
	}
}

func (t *Trainer) allocTaskGrads(a *allocator, batch int) {
	l := t.lay
	if t.linearShared() {
		t.tg.pmat = a.f32((t.model.Spec.Inputs + 1) * l.outputs())
	}
	if !t.cfg.Weighting.usesGram() {
		return
	}
	nt := t.nTasks
	if t.stackedTaskGrads() {
		_, p := l.layerOffsets()
		t.tg.g = a.f32(nt * p)
		if !t.linearShared() {
			wmax := slices.Max(l.widths)
			t.tg.delta[0], t.tg.delta[1] = a.f32(nt*batch*wmax), a.f32(nt*batch*wmax)
			t.tg.ones = a.f32(batch)
			if t.tg.ones != nil {
				t.b.Fill(backend.Whole(t.tg.ones), 1)
			}
		}
	} else {
		t.tg.g = a.f32(t.members * nt * t.sharedLen())
		t.tg.scratch = a.f32(t.members * t.gradLen)
		t.tg.scratchW = a.f32(t.members * nt)
	}
	t.tg.gram = a.f32(t.members * nt * nt)
	t.tg.combo = a.f32(t.members * nt)
}

func (t *Trainer) allocLoss(a *allocator) {
	n := t.members * t.nTasks
	t.loss.weights = a.f32(n)
	t.loss.sums = a.f32(8 * n)
}

// uploadData copies the training and validation data to the device.
func (t *Trainer) uploadData(a *allocator) {
	spec, l := t.model.Spec, t.lay
	if t.stream != nil {
		// A window at a time (see stream.go).
		t.data.x = a.f32(t.train.N * spec.Inputs)
		t.data.y = a.f32(t.train.N * l.lblCols)
	} else {
		t.data.x = a.upload(t.train.X)
		t.data.y = a.upload(t.train.labelMatrix(spec, l))
	}
	t.data.idx = a.alloc(backend.Int32, t.train.N)
	t.data.perm = make([]int32, t.train.N)
	steps := (t.train.N + t.cfg.Batch - 1) / t.cfg.Batch
	for j := range t.tables {
		td := &t.tables[j]
		td.gather = a.alloc(backend.Int32, t.train.N)
		td.uniq = a.alloc(backend.Int32, t.train.N)
		td.starts = a.alloc(backend.Int32, t.train.N+steps)
		td.pos = a.alloc(backend.Int32, t.train.N)
	}
	if t.val != nil {
		t.data.xVal = a.upload(t.val.X)
		t.data.yVal = a.upload(t.val.labelMatrix(spec, l))
		for j := range t.tables {
			t.tables[j].val = a.ints(t.val.Index[j])
		}
	}
}
