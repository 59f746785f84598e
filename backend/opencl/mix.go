//go:build opencl

package opencl

import (
	"github.com/mtl-gpu/mtl-gpu/backend"
)

// The operations of mixture-of-experts layers and embedding tables, each
// one launch of a kernel of kernels/mixture.h.

// Mix computes every row's gated mixtures.
func (b *Backend) Mix(dst, gates, experts backend.Mat, t backend.MixTable) {
	backend.CheckMix("Mix", dst, gates, experts, t)
	if dst.Rows == 0 {
		return
	}
	dm, ds := b.matMem(dst, "Mix dst")
	gm, gs := b.matMem(gates, "Mix gates")
	xm, xs := b.matMem(experts, "Mix experts")
	b.launch("mix_experts", b.rowGrid(dst.Rows, dst.Cols), dst.Rows, t.Groups(), t.Width, dm, ds, gm, gs, xm, xs, mem{b.memOf(t.Ints, "Mix table"), 0})
}

// MixGrad computes the gradients of Mix's inputs.
func (b *Backend) MixGrad(dGates, dExperts, dDst, gates, experts backend.Mat, t backend.MixTable) {
	backend.CheckMix("MixGrad", dDst, gates, experts, t)
	backend.SameShape("MixGrad", dGates, gates)
	backend.SameShape("MixGrad", dExperts, experts)
	if dDst.Rows == 0 {
		return
	}
	tm := mem{b.memOf(t.Ints, "MixGrad table"), 0}
	dd, dds := b.matMem(dDst, "MixGrad dDst")
	dg, dgs := b.matMem(dGates, "MixGrad dGates")
	dx, dxs := b.matMem(dExperts, "MixGrad dExperts")
	gm, gs := b.matMem(gates, "MixGrad gates")
	xm, xs := b.matMem(experts, "MixGrad experts")
	b.launch("mix_experts_grad_gates", b.rowGrid(dGates.Rows, dGates.Cols), dDst.Rows, t.Groups(), t.Slots(), t.Width, dg, dgs, dd, dds, xm, xs, tm)
	b.launch("mix_experts_grad_experts", b.rowGrid(dExperts.Rows, dExperts.Cols), dDst.Rows, t.Groups(), t.Slots(), t.NumExperts, t.Width, dx, dxs, dd, dds, gm, gs, tm)
}

// SoftmaxGroups normalises each group of every row in place.
func (b *Backend) SoftmaxGroups(m backend.Mat, t backend.MixTable) {
	backend.CheckSoftmaxGroups("SoftmaxGroups", m, nil, t)
	if m.Rows == 0 {
		return
	}
	mm, ms := b.matMem(m, "SoftmaxGroups")
	b.launch("softmax_groups", b.rowGrid(m.Rows, t.Groups()), m.Rows, t.Groups(), mm, ms, mem{b.memOf(t.Ints, "SoftmaxGroups table"), 0})
}

// SoftmaxGroupsGrad back-propagates through SoftmaxGroups in place.
func (b *Backend) SoftmaxGroupsGrad(grad, probs backend.Mat, t backend.MixTable) {
	backend.CheckSoftmaxGroups("SoftmaxGroupsGrad", grad, &probs, t)
	if grad.Rows == 0 {
		return
	}
	gm, gs := b.matMem(grad, "SoftmaxGroupsGrad grad")
	pm, ps := b.matMem(probs, "SoftmaxGroupsGrad probs")
	b.launch("softmax_groups_grad", b.rowGrid(grad.Rows, t.Groups()), grad.Rows, t.Groups(), gm, gs, pm, ps, mem{b.memOf(t.Ints, "SoftmaxGroupsGrad table"), 0})
}

// SegmentSum adds the listed rows of every segment, in order. A position
// outside src is reported by the next Sync or Read.
func (b *Backend) SegmentSum(dst, src backend.Mat, starts backend.Buffer, startsOff int, pos backend.Buffer, posOff int) {
	backend.CheckSegmentSum(dst, src, starts, startsOff, pos, posOff)
	if dst.Rows == 0 || dst.Cols == 0 {
		return
	}
	dm, ds := b.matMem(dst, "SegmentSum dst")
	sm, ss := b.matMem(src, "SegmentSum src")
	b.launch("segment_sum", b.rowGrid(dst.Rows, dst.Cols), dst.Rows, dst.Cols, src.Rows, dm, ds, sm, ss,
		mem{b.memOf(starts, "SegmentSum starts"), startsOff}, mem{b.memOf(pos, "SegmentSum pos"), posOff}, mem{b.status, 0})
	b.statusDirty = true
}

// AdamRows applies Adam to the listed rows; they must be distinct. A row
// outside the table is reported by the next Sync or Read.
func (b *Backend) AdamRows(hp backend.Adam, param, grad, m, v backend.Mat, rows backend.Buffer, rowsOff int, clip backend.Clip) {
	backend.CheckRowsStep("AdamRows", param, grad, []backend.Mat{m, v}, rows, rowsOff, clip)
	if grad.Rows == 0 || grad.Cols == 0 {
		return
	}
	c1, c2 := hp.Corrections()
	maxNorm, normSq := b.clipArgs(clip, "AdamRows")
	pm, ps := b.matMem(param, "AdamRows param")
	gm, gs := b.matMem(grad, "AdamRows grad")
	mm, ms := b.matMem(m, "AdamRows m")
	vm, vs := b.matMem(v, "AdamRows v")
	b.launch("adam_rows", b.rowGrid(grad.Rows, grad.Cols), grad.Rows, grad.Cols, param.Rows,
		hp.LR, hp.Beta1, hp.Beta2, hp.Eps, hp.WeightDecay, flag(hp.Decoupled), c1, c2, maxNorm,
		pm, ps, gm, gs, mm, ms, vm, vs, mem{b.memOf(rows, "AdamRows rows"), rowsOff}, normSq, mem{b.status, 0})
	b.statusDirty = true
}

// SGDRows applies SGD to the listed rows; they must be distinct.
func (b *Backend) SGDRows(hp backend.SGD, param, grad, vel backend.Mat, rows backend.Buffer, rowsOff int, clip backend.Clip) {
	var state []backend.Mat
	velMem, vs := mem{b.dummy, 0}, 1
	if hp.Momentum != 0 {
		state = []backend.Mat{vel}
		velMem, vs = b.matMem(vel, "SGDRows vel")
	}
	backend.CheckRowsStep("SGDRows", param, grad, state, rows, rowsOff, clip)
	if grad.Rows == 0 || grad.Cols == 0 {
		return
	}
	maxNorm, normSq := b.clipArgs(clip, "SGDRows")
	pm, ps := b.matMem(param, "SGDRows param")
	gm, gs := b.matMem(grad, "SGDRows grad")
	b.launch("sgd_rows", b.rowGrid(grad.Rows, grad.Cols), grad.Rows, grad.Cols, param.Rows,
		hp.LR, hp.Momentum, hp.WeightDecay, flag(hp.Nesterov), maxNorm,
		pm, ps, gm, gs, velMem, vs, mem{b.memOf(rows, "SGDRows rows"), rowsOff}, normSq, mem{b.status, 0})
	b.statusDirty = true
}
