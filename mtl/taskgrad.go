package mtl

import (
	"github.com/mtl-gpu/mtl-gpu/backend"
)

// Per-task gradients of the shared layers.
//
// The gradient methods (GradNorm, PCGrad, MGDA) need, at every step, each
// task's own gradient g_t of the shared parameters and their Gram matrix
// ⟨g_s, g_t⟩. They are computed here from the one forward pass and the one
// loss evaluation of the step, with batched GEMMs on the device rather than
// T backward passes.
//
// Each task's gradient is stored as one row of G (T×P), laid out layer by
// layer as [∂W_l; ∂c_l], a (d_{l−1}+1)×d_l block per shared layer. With
// δ_t the gradient of task t alone at the top shared layer,
//
//	δ_t = dZ[:, cols_t] · [A; D][cols_t, :]
//
// (the task's own logit columns, and for a family its deviations too), a
// layer gives ∂W_l = H_{l−1}ᵀ·δ_t and ∂c_l = 1ᵀ·δ_t for all tasks as two
// strided-batched GEMMs, and the signals of all tasks move down a layer
// together as one GEMM over the T·B stacked rows:
//
//	δ_t ← (δ_t ⊙ φ'(H_l)) · W_lᵀ
//
// With dropout, each δ_t first passes back through the layer's mask of
// the step, the one the forward pass drew (see dropout.go).
//
// For the linear shared-subspace model (one shared layer, identity φ) the
// gradient factors through the heads: g_t = [X 1]ᵀ·dZ[:, cols_t]·A_t, so
// P = [Xᵀ·dZ; 1ᵀ·dZ] is one d×C GEMM and every g_t = P[:, cols_t]·A_t is a
// small GEMM of inner size C_t: the T gradients cost little more than the
// ordinary backward pass.
//
// The Gram matrix is G·Gᵀ. A method that combines the gradients in its own
// way gives coefficients w, and the shared parameters' gradient is wᵀ·G.
//
// That batched path serves a single shared bottom without embedding
// tables. The other models (mixtures of experts, embedding tables, several
// members) take the general path: one ordinary backward pass per task,
// from the logits' gradient of that task alone (loss weights that are the
// task's and zero elsewhere), each copying the gradient of the shared
// parameters (the body's and the tables') into its row of G; every
// member's Gram matrix is then its rows' G·Gᵀ. It costs T backward passes
// and is exact.

// layerOffsets returns the offset of each shared layer's block within a
// row of G and the row length P.
func (l *layout) layerOffsets() ([]int, int) {
	var offs []int
	p := 0
	for i := range l.layers() {
		offs = append(offs, p)
		p += (l.widths[i] + 1) * l.widths[i+1]
	}
	return offs, p
}

// linearShared reports whether the model is the linear shared-subspace
// model, exactly one shared layer with the identity activation, trained
// without dropout: then its gradient factors through the heads (a dropout
// mask between the layer and the heads does not).
func (t *Trainer) linearShared() bool {
	return t.lay.layers() == 1 && t.model.Spec.Activation == backend.Identity && t.cfg.maxDropout() == 0
}

// uniformHeads reports whether every task is a plain head with the same
// number of outputs, so that per-task products are one strided batch.
func (t *Trainer) uniformHeads() bool {
	k := t.model.Spec.Tasks[0].outputs()
	for _, task := range t.model.Spec.Tasks {
		if task.Groups > 0 || task.outputs() != k {
			return false
		}
	}
	return true
}

// perTask sets, for every task t, dst_t = src[:, cols_t]·heads[cols_t, :],
// where dst_t is dst moved by t·strideDst elements.
func (t *Trainer) perTask(src, heads, dst backend.Mat, strideDst int) {
	b, l := t.b, t.lay
	if t.uniformHeads() {
		k := t.model.Spec.Tasks[0].outputs()
		b.GemmStrided(false, false, 1, src.Slice(0, src.Rows, 0, k), k, heads.Slice(0, k, 0, heads.Cols), k*heads.Stride, 0, dst, strideDst, t.nTasks)
		return
	}
	for i, task := range t.model.Spec.Tasks {
		k := task.outputs()
		d := dst
		d.Off += i * strideDst
		b.Gemm(false, false, 1, src.Slice(0, src.Rows, l.cols[i], l.cols[i]+k), heads.Slice(l.cols[i], l.cols[i]+k, 0, heads.Cols), 0, d)
		if task.Groups > 0 {
			n := task.Groups * k
			b.Gemm(false, false, 1, src.Slice(0, src.Rows, l.devCol[i], l.devCol[i]+n), heads.Slice(l.devCol[i], l.devCol[i]+n, 0, heads.Cols), 1, d)
		}
	}
}

// taskGradients computes the heads' gradients as usual and every task's
// gradient of the shared parameters into G.
func (t *Trainer) taskGradients(in input, dz backend.Mat, s int) {
	if !t.stackedTaskGrads() {
		t.taskGradientsByPass(in, dz, s)
		return
	}
	b, l, n := t.b, t.lay, t.net
	x := in.x
	rows, nt := x.Rows, t.nTasks
	offs, p := l.layerOffsets()
	heads := l.headMat(n.params)
	top, _ := n.act(in, l.layers(), rows)
	b.Gemm(true, false, 1, dz, top, 0, l.headMat(t.optim.grads))
	b.ColSum(l.headBiasVec(t.optim.grads), dz, 1, 0)
	if t.linearShared() {
		d, c := l.widths[0], l.outputs()
		pm := backend.Dense(t.tg.pmat, 0, d+1, c)
		b.Gemm(true, false, 1, x, dz, 0, pm.Slice(0, d, 0, c))
		b.Copy(backend.Vec{Buf: t.tg.pmat, Off: d * c, Len: c}, l.headBiasVec(t.optim.grads))
		t.perTask(pm, heads, backend.Dense(t.tg.g, 0, d+1, l.last()), p)
	} else {
		k := l.last()
		cur := 0
		t.perTask(dz, heads, backend.Dense(t.tg.delta[cur], 0, rows, k), rows*k)
		d := t.dropout()
		for i := l.layers() - 1; i >= 0; i-- {
			kin, kout := l.widths[i], l.widths[i+1]
			out, _ := n.actPhi(in, i+1, rows, d)
			for task := range nt {
				delta := backend.Dense(t.tg.delta[cur], task*rows*kout, rows, kout)
				d.backward(b, delta, 0, i)
				b.ActGrad(delta, out, n.spec.Activation)
			}
			first := backend.Dense(t.tg.delta[cur], 0, rows, kout)
			prev, _ := n.act(in, i, rows)
			b.GemmStrided(true, false, 1, prev, 0, first, rows*kout, 0, backend.Dense(t.tg.g, offs[i], kin, kout), p, nt)
			ones := backend.Dense(t.tg.ones, 0, rows, 1)
			b.GemmStrided(true, false, 1, ones, 0, first, rows*kout, 0, backend.Dense(t.tg.g, offs[i]+kin*kout, 1, kout), p, nt)
			if i > 0 {
				next := 1 - cur
				b.Gemm(false, true, 1, backend.Dense(t.tg.delta[cur], 0, nt*rows, kout), l.weight(n.params, i), 0, backend.Dense(t.tg.delta[next], 0, nt*rows, kin))
				cur = next
			}
		}
	}
}

// taskGram computes every member's Gram matrix G·Gᵀ of its rows of G.
func (t *Trainer) taskGram() {
	nt := t.nTasks
	p := t.sharedLen()
	if t.stackedTaskGrads() {
		_, p = t.lay.layerOffsets()
	}
	for m := range t.members {
		g := backend.Dense(t.tg.g, m*nt*p, nt, p)
		t.b.Gemm(false, true, 1, g, g, 0, backend.Dense(t.tg.gram, m*nt*nt, nt, nt))
	}
}

// stackedTaskGrads reports whether the batched path computes the per-task
// gradients: a single shared bottom of one member without embedding
// tables.
func (t *Trainer) stackedTaskGrads() bool {
	return t.members == 1 && t.lay.moe == nil && len(t.lay.embed) == 0
}

// sharedRanges are the ranges of a member's gradient that hold the shared
// parameters' gradient, in the order of a row of G in the general path:
// the body's weights, the body's biases and the tables' compact
// gradients.
func (t *Trainer) sharedRanges() [][2]int {
	l := t.lay
	ranges := [][2]int{{0, l.heads}, {l.heads + l.outputs()*l.last(), l.headBias}, {l.denseLen(), t.gradLen}}
	out := ranges[:0]
	for _, r := range ranges {
		if r[1] > r[0] {
			out = append(out, r)
		}
	}
	return out
}

// sharedLen is the length of a row of G in the general path.
func (t *Trainer) sharedLen() int {
	n := 0
	for _, r := range t.sharedRanges() {
		n += r[1] - r[0]
	}
	return n
}

// taskGradientsByPass is the general path: the ordinary backward pass of
// the whole loss for the heads, then one pass per task for the rows of G.
// Row (m, task) of G is member m's gradient of task's loss, at
// (m·T + task)·sharedLen.
func (t *Trainer) taskGradientsByPass(in input, dz backend.Mat, s int) {
	b, nt, M := t.b, t.nTasks, t.members
	t.backward(in, dz, t.optim.grads, s)
	sl := t.sharedLen()
	y := backend.Dense(t.batch.y, 0, dz.Rows, t.lay.lblCols)
	w := make([]float32, M*nt)
	for task := range nt {
		clear(w)
		for m := range M {
			w[m*nt+task] = float32(t.loss.onDeviceWeight(m*nt + task))
		}
		b.WriteFloat32(t.tg.scratchW, 0, w)
		b.LossGrad(t.net.out(dz.Rows), y, t.loss.table, backend.Whole(t.tg.scratchW), dz, t.loss.sumsVec(3))
		t.backward(in, dz, t.tg.scratch, s)
		for m := range M {
			off := (m*nt + task) * sl
			for _, r := range t.sharedRanges() {
				b.Copy(backend.Vec{Buf: t.tg.g, Off: off, Len: r[1] - r[0]}, backend.Vec{Buf: t.tg.scratch, Off: m*t.gradLen + r[0], Len: r[1] - r[0]})
				off += r[1] - r[0]
			}
		}
	}
}

// combine sets the shared parameters' gradient of every member to
// Σ_t w_t·g_t = wᵀ·G, w holding each member's coefficients in turn.
func (t *Trainer) combine(w []float32) {
	b, l := t.b, t.lay
	b.WriteFloat32(t.tg.combo, 0, w)
	nt := t.nTasks
	if !t.stackedTaskGrads() {
		sl := t.sharedLen()
		for m := range t.members {
			cv := backend.Dense(t.tg.combo, m*nt, 1, nt)
			off := 0
			for _, r := range t.sharedRanges() {
				n := r[1] - r[0]
				b.Gemm(false, false, 1, cv, backend.Mat{Buf: t.tg.g, Off: m*nt*sl + off, Rows: nt, Cols: n, Stride: sl}, 0, backend.Dense(t.optim.grads, m*t.gradLen+r[0], 1, n))
				off += n
			}
		}
		return
	}
	offs, p := l.layerOffsets()
	cv := backend.Dense(t.tg.combo, 0, 1, nt)
	for i := range l.layers() {
		kin, kout := l.widths[i], l.widths[i+1]
		b.Gemm(false, false, 1, cv, backend.Mat{Buf: t.tg.g, Off: offs[i], Rows: nt, Cols: kin * kout, Stride: p}, 0, backend.Dense(t.optim.grads, l.weights[i], 1, kin*kout))
		b.Gemm(false, false, 1, cv, backend.Mat{Buf: t.tg.g, Off: offs[i] + kin*kout, Rows: nt, Cols: kout, Stride: p}, 0, backend.Dense(t.optim.grads, l.biases[i], 1, kout))
	}
}
