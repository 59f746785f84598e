package mtl

import (
	"github.com/mtl-gpu/mtl-gpu/backend"
)

// backward computes the gradient of every parameter of every member from
// dZ into grads (member m's gradient at m·gradLen; see alloc.go), for the
// batch of step s:
//
//	∂[A; D] = dZᵀ·H_L        ∂[b; e] = 1ᵀ·dZ
//	dH_L    = dZ·[A; D]
//	dP_l    = dH_l ⊙ φ'(H_l)
//	∂W_l    = H_{l−1}ᵀ·dP_l   ∂c_l = 1ᵀ·dP_l
//	dH_{l−1} = dP_l·W_lᵀ
//
// for a shared bottom (see moe.go for the other bodies), with each dH_l
// passed back through the step's dropout mask first (see dropout.go), then
// the compact gradients of the embedding tables from the gradient of the
// input.
func (t *Trainer) backward(in input, dz backend.Mat, grads backend.Buffer, s int) {
	rows := dz.Rows
	var dIn backend.Buffer
	if len(t.tables) > 0 {
		dIn = t.batch.dIn
	}
	d := t.dropout()
	if t.lay.moe != nil {
		t.moeBackwardAll(in, dz, grads, dIn, d)
	} else {
		t.sharedBackward(in, dz, grads, dIn, d)
	}
	if dIn != nil {
		t.clearTableGrads(grads)
		t.tableGrads(dIn, grads, s, rows)
	}
}

// memberDz returns member m's columns of dZ.
func (t *Trainer) memberDz(dz backend.Mat, m int) backend.Mat {
	c := t.lay.outputs()
	return dz.Slice(0, dz.Rows, m*c, (m+1)*c)
}

// headBiasGrads sets every member's ∂[b; e] = 1ᵀ·dZ.
func (t *Trainer) headBiasGrads(dz backend.Mat, grads backend.Buffer) {
	for m := range t.members {
		t.b.ColSum(shiftVec(t.lay.headBiasVec(grads), m*t.gradLen), t.memberDz(dz, m), 1, 0)
	}
}

// dInOf returns member m's rows of the input gradient, and the stride
// between members'.
//
// In a data-parallel run, the rows sit at their places in the global
// batch (see tableGrads).
func (t *Trainer) dInOf(dIn backend.Buffer, rows int) (backend.Mat, int) {
	first := 0
	if t.dist != nil {
		first = t.dist.lo
	}
	return backend.Dense(dIn, first*t.lay.in, rows, t.lay.in), t.batchRows * t.lay.in
}

// sharedBackward is backward for a shared bottom.
func (t *Trainer) sharedBackward(in input, dz backend.Mat, grads backend.Buffer, dIn backend.Buffer, d dropout) {
	b, l, n := t.b, t.lay, t.net
	p, g := l.total, t.gradLen
	rows := dz.Rows
	c := l.outputs()
	top, st := n.act(in, l.layers(), rows)
	n.gemm(true, false, t.memberDz(dz, 0), c, top, st, 0, l.headMat(grads), g)
	t.headBiasGrads(dz, grads)
	layers := l.layers()
	if layers == 0 {
		if dIn != nil {
			din, sd := t.dInOf(dIn, rows)
			n.gemm(false, false, t.memberDz(dz, 0), c, l.headMat(n.params), p, 0, din, sd)
		}
		return
	}
	if t.members == 1 && dIn == nil && t.linearShared() && t.reassociate(rows) {
		// With one linear shared layer, ∂W = Xᵀ·(dZ·[A; D]) equals
		// (Xᵀ·dZ)·[A; D], which costs less when the outputs are fewer
		// than the shared width; ∂c = (1ᵀ·dZ)·[A; D] reuses ∂b.
		d := l.widths[0]
		pm := backend.Dense(t.tg.pmat, 0, d, c)
		b.Gemm(true, false, 1, in.x, dz, 0, pm)
		b.Gemm(false, false, 1, pm, l.headMat(n.params), 0, l.weight(grads, 0))
		b.Gemm(false, false, 1, backend.Dense(grads, l.headBias, 1, c), l.headMat(n.params), 0, backend.Dense(grads, l.biases[0], 1, l.last()))
		return
	}
	dhStride := func(w int) int { return t.batchRows * w }
	dh := backend.Dense(t.batch.dh[0], 0, rows, l.last())
	n.gemm(false, false, t.memberDz(dz, 0), c, l.headMat(n.params), p, 0, dh, dhStride(l.last()))
	for i := layers - 1; i >= 0; i-- {
		a, sa := n.actPhi(in, i+1, rows, d)
		for m := range t.members {
			dm := shift(dh, m*dhStride(dh.Cols))
			d.backward(b, dm, m, i)
			b.ActGrad(dm, shift(a, m*sa), n.spec.Activation)
		}
		prevAct, sp := n.act(in, i, rows)
		n.gemm(true, false, prevAct, sp, dh, dhStride(dh.Cols), 0, l.weight(grads, i), g)
		for m := range t.members {
			b.ColSum(shiftVec(l.bias(grads, i), m*g), shift(dh, m*dhStride(dh.Cols)), 1, 0)
		}
		switch {
		case i > 0:
			prev := backend.Dense(t.batch.dh[(layers-i)%2], 0, rows, l.widths[i])
			n.gemm(false, true, dh, dhStride(dh.Cols), l.weight(n.params, i), p, 0, prev, dhStride(prev.Cols))
			dh = prev
		case dIn != nil:
			din, sd := t.dInOf(dIn, rows)
			n.gemm(false, true, dh, dhStride(dh.Cols), l.weight(n.params, 0), p, 0, din, sd)
		}
	}
}

// moeBackwardAll is backward for the mixture-of-experts bodies, member by
// member.
func (t *Trainer) moeBackwardAll(in input, dz backend.Mat, grads backend.Buffer, dIn backend.Buffer, d dropout) {
	t.headBiasGrads(dz, grads)
	rows := dz.Rows
	for m := range t.members {
		var din *backend.Mat
		if dIn != nil {
			d, sd := t.dInOf(dIn, rows)
			d = shift(d, m*sd)
			din = &d
		}
		t.net.moeHeadsBackward(m, t.memberDz(dz, m), grads, m*t.gradLen, t.batch.moe)
		t.net.moeBackward(in, m, grads, m*t.gradLen, t.batch.moe, din, d)
	}
}

// reassociate reports whether (Xᵀ·dZ)·A is cheaper than Xᵀ·(dZ·A) for a
// batch of rows.
func (t *Trainer) reassociate(rows int) bool {
	d, c, k := t.lay.widths[0], t.lay.outputs(), t.lay.last()
	return d*rows*c+d*c*k < rows*c*k+d*rows*k
}
