package mtl

import (
	"math"
	"slices"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// One optimiser step: the batch's forward pass and loss, the gradient of
// every parameter (combined across tasks as each member's weighting method
// says) and the update.

// stepWeights sets the loss weights of the next step on the host: each
// member's task λ_t times its method's loss weight, member after member.
func (t *Trainer) stepWeights() []float64 {
	lb, nt := &t.loss, t.nTasks
	if lb.step == nil {
		lb.step, lb.next = make([]float64, t.members*nt), make([]float32, t.members*nt)
	}
	for m := range t.members {
		w := lb.step[m*nt : (m+1)*nt]
		t.methods[m].lossWeights(w)
		for i, task := range t.model.Spec.Tasks {
			w[i] *= task.weight()
		}
	}
	return lb.step
}

// setLossWeights sets the loss weights of step s and makes them the ones
// the loss reads on the device, writing them there only when they changed.
// A data-parallel run scales them by this process's share of each task's
// labelled rows; it finds them in the epoch's table (see epochWeights)
// while the method's weights stay those the table was made with. It
// returns the unscaled weights.
func (t *Trainer) setLossWeights(s int) []float64 {
	lb := &t.loss
	lw := t.stepWeights()
	if d := t.dist; d != nil && d.table != nil && slices.Equal(lw, d.tableWeights) {
		n := len(lw)
		lb.current = backend.Vec{Buf: d.table, Off: s * n, Len: n}
		return lw
	}
	changed := lb.onDevice == nil
	for j := range lw {
		lb.next[j] = float32(lb.onDeviceWeight(j))
		changed = changed || lb.next[j] != lb.onDevice[j]
	}
	if changed {
		t.b.WriteFloat32(lb.weights, 0, lb.next)
		lb.onDevice = slices.Clone(lb.next)
	}
	lb.current = lb.weightsVec()
	return lw
}

// onDeviceWeight is the loss weight of member×task j that the device
// uses: the step's weight, scaled in a data-parallel run by the share of
// the global batch's labelled rows that this process holds.
func (lb *lossBufs) onDeviceWeight(j int) float64 {
	if lb.scale == nil {
		return lb.step[j]
	}
	return lb.step[j] * lb.scale[j]
}

// step runs optimiser step s of the epoch on the rows perm[off : off+rows]
// (of a data-parallel run, on this process's share of them).
func (t *Trainer) step(s, off, rows int) error {
	if t.dist != nil {
		off, rows = t.share(off, rows)
	}
	lw := t.setLossWeights(s)
	readLosses, readGram := t.methods[0].reads()
	if rows > 0 {
		in, dz := t.gradient(off, rows)
		if readGram {
			t.taskGradients(in, dz, s)
		} else {
			t.backward(in, dz, t.optim.grads, s)
		}
	} else {
		t.emptyStep(readGram)
	}
	if t.dist != nil {
		if err := t.allReduce(readGram); err != nil {
			return err
		}
	}
	t.b.Axpy(t.loss.sumsVec(1), 1, t.loss.sumsVec(0))
	var losses []float64
	if readLosses {
		sums := make([]float32, 2*t.members*t.nTasks)
		if err := t.b.ReadFloat32(sums, t.loss.sums, 0); err != nil {
			return err
		}
		losses, _ = t.losses(sums, ones(t.members*t.nTasks))
	}
	if !readGram {
		for m := range t.members {
			t.methods[m].step(memberSlice(losses, m, t.nTasks), nil)
		}
		t.epoch.add(lw)
	} else if err := t.combineTasks(lw, losses); err != nil {
		return err
	}
	t.update(s)
	return nil
}

// emptyStep is the gradient of a process with no rows in the step's
// global batch: zero, as are its loss sums.
func (t *Trainer) emptyStep(taskGrads bool) {
	t.b.Fill(backend.Whole(t.optim.grads), 0)
	if taskGrads {
		t.b.Fill(backend.Whole(t.tg.g), 0)
	}
	t.b.Fill(t.loss.sumsVec(0), 0)
}

// memberSlice returns member m's n values of v (nil stays nil).
func memberSlice(v []float64, m, n int) []float64 {
	if v == nil {
		return nil
	}
	return v[m*n : (m+1)*n]
}

// combineTasks computes the Gram matrices of the tasks' gradients of the
// shared parameters (see taskGradients), lets each member's method combine
// them, and sets the shared parameters' gradient to the combination.
func (t *Trainer) combineTasks(lw, losses []float64) error {
	nt := t.nTasks
	t.taskGram()
	grams, err := t.readGram()
	if err != nil {
		return err
	}
	w := make([]float32, t.members*nt)
	for m := range t.members {
		combo := t.methods[m].step(memberSlice(losses, m, nt), grams[m])
		if combo == nil {
			t.epoch.add(lw[m*nt : (m+1)*nt])
			combo = ones(nt)
		} else {
			t.epoch.add(combo)
		}
		for i := range combo {
			w[m*nt+i] = float32(combo[i])
		}
	}
	t.combine(w)
	return nil
}

// add counts one step's task weights of one member (weights of several
// members are counted in turn and averaged over members at the epoch's
// end).
func (a *epochAcc) add(w []float64) {
	for i := range w {
		a.weights[i%len(a.weights)] += w[i]
	}
}

// readGram reads each member's Gram matrix of the step's task gradients
// and counts its statistics for the epoch.
func (t *Trainer) readGram() ([][]float64, error) {
	nt := t.nTasks
	g32 := make([]float32, t.members*nt*nt)
	if err := t.b.ReadFloat32(g32, t.tg.gram, 0); err != nil {
		return nil, err
	}
	var grams [][]float64
	for m := range t.members {
		gram := make([]float64, nt*nt)
		for i := range gram {
			gram[i] = float64(g32[m*nt*nt+i])
		}
		cos, conflict := gramStats(gram, nt)
		if !math.IsNaN(cos) {
			t.epoch.cos += cos
			t.epoch.conflict += conflict
			t.epoch.gramSteps++
		}
		grams = append(grams, gram)
	}
	return grams, nil
}

// gradient gathers the rows perm[off : off+rows], runs the forward pass
// and the loss, and returns the batch's input and the logits' gradient.
func (t *Trainer) gradient(off, rows int) (input, backend.Mat) {
	b, l := t.b, t.lay
	y := backend.Dense(t.batch.y, 0, rows, l.lblCols)
	in := t.batchInput(off, rows)
	b.GatherRows(y, backend.Dense(t.data.y, 0, t.train.N, l.lblCols), t.data.idx, off)
	t.net.forward(in, t.dropout())
	dz := backend.Dense(t.batch.dz, 0, rows, t.members*l.outputs())
	b.LossGrad(t.net.out(rows), y, t.loss.table, t.loss.current, dz, t.loss.sumsVec(0))
	return in, dz
}

// update applies one optimiser step to every member's parameters, with
// each member's learning rate (the scheduled rate times its factor, see
// Config.MemberSettings) and weight decay, and its gradient norm clipped
// over all of its parameters: the
// dense segments in place, the embedding tables on the rows step s
// touched.
func (t *Trainer) update(s int) {
	b, cfg, o := t.b, t.cfg, &t.optim
	g, p := t.gradLen, t.lay.total
	scheduled := cfg.lr(t.state.Step, t.stepsPerEpoch())
	for m := range t.members {
		lr := scheduled * cfg.member(m).LRFactor
		clip := backend.Clip{}
		if cfg.ClipNorm > 0 {
			clip = backend.Clip{NormSq: backend.Vec{Buf: o.normSq, Off: m, Len: 1}, MaxNorm: float32(cfg.ClipNorm)}
			b.SumSquares(clip.NormSq, backend.Vec{Buf: o.grads, Off: m * g, Len: g})
		}
		for i, seg := range o.segs {
			decay := o.decay[m][i]
			if seg.kind == segTable {
				t.updateTable(m, seg.task, s, lr, decay, clip)
				continue
			}
			pv := func(buf backend.Buffer) backend.Vec { return backend.Vec{Buf: buf, Off: m*p + seg.off, Len: seg.n} }
			param, grad := pv(t.net.params), backend.Vec{Buf: o.grads, Off: m*g + seg.off, Len: seg.n}
			if cfg.Optimizer == SGD {
				b.SGDStep(t.sgd(lr, decay), param, grad, pv(o.state[0]), clip)
				continue
			}
			b.AdamStep(t.adam(lr, decay, seg.kind), param, grad, pv(o.state[0]), pv(o.state[1]), clip)
		}
	}
}

func (t *Trainer) sgd(lr, decay float64) backend.SGD {
	cfg := t.cfg
	return backend.SGD{LR: float32(lr), Momentum: float32(cfg.Momentum), WeightDecay: float32(decay), Nesterov: cfg.Nesterov}
}

// adam returns the hyper-parameters of an Adam step. Deviations always
// take classic L2, whatever the optimiser: added to the gradient, it makes
// their fixed point the ridge solution, shrunk in proportion to how little
// data a group has. Decoupled decay would shrink every group alike.
func (t *Trainer) adam(lr, decay float64, kind segKind) backend.Adam {
	cfg := t.cfg
	return backend.Adam{
		LR: float32(lr), Beta1: float32(cfg.Beta1), Beta2: float32(cfg.Beta2), Eps: float32(cfg.Eps),
		WeightDecay: float32(decay), Decoupled: cfg.Optimizer == AdamW && kind != segDeviations, Step: t.state.Step + 1,
	}
}

// updateTable updates the rows of member m's table j that step s touched.
func (t *Trainer) updateTable(m, j, s int, lr, decay float64, clip backend.Clip) {
	o, td := &t.optim, &t.tables[j]
	off := m * t.lay.total
	table := shift(t.lay.table(t.net.params, j), off)
	grad := backend.Dense(o.grads, m*t.gradLen+td.compact, td.touched[s], table.Cols)
	state := func(i int) backend.Mat { return shift(t.lay.table(o.state[i], j), off) }
	if t.cfg.Optimizer == SGD {
		t.b.SGDRows(t.sgd(lr, decay), table, grad, state(0), td.uniq, td.uniqOff[s], clip)
		return
	}
	t.b.AdamRows(t.adam(lr, decay, segTable), table, grad, state(0), state(1), td.uniq, td.uniqOff[s], clip)
}
