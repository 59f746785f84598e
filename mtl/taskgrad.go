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
// For the linear shared-subspace model (one shared layer, identity φ) the
// gradient factors through the heads: g_t = [X 1]ᵀ·dZ[:, cols_t]·A_t, so
// P = [Xᵀ·dZ; 1ᵀ·dZ] is one d×C GEMM and every g_t = P[:, cols_t]·A_t is a
// small GEMM of inner size C_t: the T gradients cost little more than the
// ordinary backward pass.
//
// The Gram matrix is G·Gᵀ. A method that combines the gradients in its own
// way gives coefficients w, and the shared parameters' gradient is wᵀ·G.

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
// model: exactly one shared layer with the identity activation.
func (t *Trainer) linearShared() bool {
	return t.lay.layers() == 1 && t.model.Spec.Activation == backend.Identity
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

// taskGradients computes the heads' gradients as usual, every task's
// gradient of the shared parameters into G and their Gram matrix.
func (t *Trainer) taskGradients(x, dz backend.Mat) {
	b, l, n := t.b, t.lay, t.net
	rows, nt := x.Rows, t.nTasks
	offs, p := l.layerOffsets()
	heads := l.headMat(n.params)
	b.Gemm(true, false, 1, dz, n.top(x), 0, l.headMat(t.optim.grads))
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
		for i := l.layers() - 1; i >= 0; i-- {
			kin, kout := l.widths[i], l.widths[i+1]
			for task := range nt {
				b.ActGrad(backend.Dense(t.tg.delta[cur], task*rows*kout, rows, kout), n.act(x, i+1, rows), n.spec.Activation)
			}
			first := backend.Dense(t.tg.delta[cur], 0, rows, kout)
			b.GemmStrided(true, false, 1, n.act(x, i, rows), 0, first, rows*kout, 0, backend.Dense(t.tg.g, offs[i], kin, kout), p, nt)
			ones := backend.Dense(t.tg.ones, 0, rows, 1)
			b.GemmStrided(true, false, 1, ones, 0, first, rows*kout, 0, backend.Dense(t.tg.g, offs[i]+kin*kout, 1, kout), p, nt)
			if i > 0 {
				next := 1 - cur
				b.Gemm(false, true, 1, backend.Dense(t.tg.delta[cur], 0, nt*rows, kout), l.weight(n.params, i), 0, backend.Dense(t.tg.delta[next], 0, nt*rows, kin))
				cur = next
			}
		}
	}
	g := backend.Dense(t.tg.g, 0, nt, p)
	b.Gemm(false, true, 1, g, g, 0, backend.Dense(t.tg.gram, 0, nt, nt))
}

// combine sets the shared parameters' gradient to Σ_t w_t·g_t = wᵀ·G.
func (t *Trainer) combine(w []float32) {
	b, l := t.b, t.lay
	offs, p := l.layerOffsets()
	b.WriteFloat32(t.tg.combo, 0, w)
	cv := backend.Dense(t.tg.combo, 0, 1, t.nTasks)
	for i := range l.layers() {
		kin, kout := l.widths[i], l.widths[i+1]
		b.Gemm(false, false, 1, cv, backend.Mat{Buf: t.tg.g, Off: offs[i], Rows: t.nTasks, Cols: kin * kout, Stride: p}, 0, backend.Dense(t.optim.grads, l.weights[i], 1, kin*kout))
		b.Gemm(false, false, 1, cv, backend.Mat{Buf: t.tg.g, Off: offs[i] + kin*kout, Rows: t.nTasks, Cols: kout, Stride: p}, 0, backend.Dense(t.optim.grads, l.biases[i], 1, kout))
	}
}
