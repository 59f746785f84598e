package mtl

import (
	"math"
	"slices"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// One optimiser step: the batch's forward pass and loss, the gradient of
// every parameter (combined across tasks as the weighting method says) and
// the update.

// setLossWeights writes the loss weights of the next step to the device
// when they changed: each task's λ_t times the method's loss weight.
func (t *Trainer) setLossWeights() []float64 {
	lb := &t.loss
	if lb.step == nil {
		lb.step, lb.next = make([]float64, t.nTasks), make([]float32, t.nTasks)
	}
	t.method.lossWeights(lb.step)
	changed := lb.onDevice == nil
	for i, task := range t.model.Spec.Tasks {
		lb.step[i] *= task.weight()
		lb.next[i] = float32(lb.step[i])
		changed = changed || lb.next[i] != lb.onDevice[i]
	}
	if changed {
		t.b.WriteFloat32(lb.weights, 0, lb.next)
		lb.onDevice = slices.Clone(lb.next)
	}
	return lb.step
}

// step runs one optimiser step on the rows perm[off : off+rows].
func (t *Trainer) step(off, rows int) error {
	lw := t.setLossWeights()
	x, dz := t.gradient(off, rows)
	readLosses, readGram := t.method.reads()
	var losses []float64
	if readLosses {
		sums := make([]float32, 2*t.nTasks)
		if err := t.b.ReadFloat32(sums, t.loss.sums, 0); err != nil {
			return err
		}
		losses, _ = t.losses(sums, ones(t.nTasks))
	}
	if !readGram {
		t.backward(x, dz)
		t.method.step(losses, nil)
		t.epoch.add(lw)
		t.update()
		return nil
	}
	t.taskGradients(x, dz)
	gram, err := t.readGram()
	if err != nil {
		return err
	}
	combo := t.method.step(losses, gram)
	if combo == nil {
		t.epoch.add(lw)
		combo = ones(t.nTasks)
	} else {
		t.epoch.add(combo)
	}
	w := make([]float32, t.nTasks)
	for i := range combo {
		w[i] = float32(combo[i])
	}
	t.combine(w)
	t.update()
	return nil
}

// add counts one step's task weights.
func (a *epochAcc) add(w []float64) {
	for i := range w {
		a.weights[i] += w[i]
	}
}

// readGram reads the Gram matrix of the step's task gradients and counts
// its statistics for the epoch.
func (t *Trainer) readGram() ([]float64, error) {
	g32 := make([]float32, t.nTasks*t.nTasks)
	if err := t.b.ReadFloat32(g32, t.tg.gram, 0); err != nil {
		return nil, err
	}
	gram := make([]float64, len(g32))
	for i, v := range g32 {
		gram[i] = float64(v)
	}
	cos, conflict := gramStats(gram, t.nTasks)
	if !math.IsNaN(cos) {
		t.epoch.cos += cos
		t.epoch.conflict += conflict
		t.epoch.gramSteps++
	}
	return gram, nil
}

// gradient gathers the rows perm[off : off+rows], runs the forward pass
// and the loss, and returns the batch's inputs and the logits' gradient.
func (t *Trainer) gradient(off, rows int) (x, dz backend.Mat) {
	b, l, spec := t.b, t.lay, t.model.Spec
	x = backend.Dense(t.batch.x, 0, rows, spec.Inputs)
	y := backend.Dense(t.batch.y, 0, rows, l.lblCols)
	b.GatherRows(x, backend.Dense(t.data.x, 0, t.train.N, spec.Inputs), t.data.idx, off)
	b.GatherRows(y, backend.Dense(t.data.y, 0, t.train.N, l.lblCols), t.data.idx, off)
	t.net.forward(x)
	dz = backend.Dense(t.batch.dz, 0, rows, l.outputs())
	b.LossGrad(t.net.out(rows), y, t.loss.table, t.loss.weightsVec(), dz, t.loss.sumsVec(0))
	b.Axpy(t.loss.sumsVec(1), 1, t.loss.sumsVec(0))
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
	b, l, n, grads := t.b, t.lay, t.net, t.optim.grads
	rows := x.Rows
	b.Gemm(true, false, 1, dz, n.top(x), 0, l.headMat(grads))
	b.ColSum(l.headBiasVec(grads), dz, 1, 0)
	layers := l.layers()
	if layers == 0 {
		return
	}
	if t.linearShared() && t.reassociate(rows) {
		// With one linear shared layer, ∂W = Xᵀ·(dZ·[A; D]) equals
		// (Xᵀ·dZ)·[A; D], which costs less when the outputs are fewer
		// than the shared width; ∂c = (1ᵀ·dZ)·[A; D] reuses ∂b.
		d, c := l.widths[0], l.outputs()
		pm := backend.Dense(t.tg.pmat, 0, d, c)
		b.Gemm(true, false, 1, x, dz, 0, pm)
		b.Gemm(false, false, 1, pm, l.headMat(n.params), 0, l.weight(grads, 0))
		b.Gemm(false, false, 1, backend.Dense(grads, l.headBias, 1, c), l.headMat(n.params), 0, backend.Dense(grads, l.biases[0], 1, l.last()))
		return
	}
	dh := backend.Dense(t.batch.dh[0], 0, rows, l.last())
	b.Gemm(false, false, 1, dz, l.headMat(n.params), 0, dh)
	for i := layers - 1; i >= 0; i-- {
		b.ActGrad(dh, n.act(x, i+1, rows), n.spec.Activation)
		b.Gemm(true, false, 1, n.act(x, i, rows), dh, 0, l.weight(grads, i))
		b.ColSum(l.bias(grads, i), dh, 1, 0)
		if i > 0 {
			prev := backend.Dense(t.batch.dh[(layers-i)%2], 0, rows, l.widths[i])
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
	b, cfg, o := t.b, t.cfg, &t.optim
	clip := backend.Clip{}
	if cfg.ClipNorm > 0 {
		clip = backend.Clip{NormSq: backend.Whole(o.normSq), MaxNorm: float32(cfg.ClipNorm)}
		b.SumSquares(clip.NormSq, backend.Whole(o.grads).Slice(0, t.lay.total))
	}
	lr := cfg.lr(t.state.Step, t.stepsPerEpoch())
	for i, s := range o.segs {
		decay := o.decay[i]
		v := func(buf backend.Buffer) backend.Vec { return backend.Vec{Buf: buf, Off: s.off, Len: s.n} }
		p, g := v(t.net.params), v(o.grads)
		if cfg.Optimizer == SGD {
			hp := backend.SGD{LR: float32(lr), Momentum: float32(cfg.Momentum), WeightDecay: float32(decay), Nesterov: cfg.Nesterov}
			b.SGDStep(hp, p, g, v(o.state[0]), clip)
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
		b.AdamStep(hp, p, g, v(o.state[0]), v(o.state[1]), clip)
	}
}
