package cuda

import (
	"github.com/mtl-gpu/mtl-gpu/backend"
)

// The operations of mixture-of-experts layers and embedding tables, each
// one or two launches of the kernels of kernels/mixture.h.

func mixLaunch(dst, gates, experts backend.Mat, t backend.MixTable, maxBlocks int) *launch {
	grid, block := planar(dst.Rows, dst.Cols, maxBlocks)
	return newLaunch("mix_experts", grid, block).int(dst.Rows).int(t.Groups()).int(t.Width).
		buf(devBuffer(dst.Buf, "Mix dst"), dst.Off).int(stride(dst)).
		buf(devBuffer(gates.Buf, "Mix gates"), gates.Off).int(stride(gates)).
		buf(devBuffer(experts.Buf, "Mix experts"), experts.Off).int(stride(experts)).
		buf(devBuffer(t.Ints, "Mix table"), 0)
}

func mixGradLaunches(dGates, dExperts, dDst, gates, experts backend.Mat, t backend.MixTable, maxBlocks int) []*launch {
	tb := devBuffer(t.Ints, "MixGrad table")
	dd := devBuffer(dDst.Buf, "MixGrad dDst")
	grid, block := planar(dGates.Rows, dGates.Cols, maxBlocks)
	gl := newLaunch("mix_experts_grad_gates", grid, block).int(dDst.Rows).int(t.Groups()).int(t.Slots()).int(t.Width).
		buf(devBuffer(dGates.Buf, "MixGrad dGates"), dGates.Off).int(stride(dGates)).
		buf(dd, dDst.Off).int(stride(dDst)).
		buf(devBuffer(experts.Buf, "MixGrad experts"), experts.Off).int(stride(experts)).
		buf(tb, 0)
	grid, block = planar(dExperts.Rows, dExperts.Cols, maxBlocks)
	el := newLaunch("mix_experts_grad_experts", grid, block).int(dDst.Rows).int(t.Groups()).int(t.Slots()).int(t.NumExperts).int(t.Width).
		buf(devBuffer(dExperts.Buf, "MixGrad dExperts"), dExperts.Off).int(stride(dExperts)).
		buf(dd, dDst.Off).int(stride(dDst)).
		buf(devBuffer(gates.Buf, "MixGrad gates"), gates.Off).int(stride(gates)).
		buf(tb, 0)
	return []*launch{gl, el}
}

func softmaxGroupsLaunch(m backend.Mat, t backend.MixTable, maxBlocks int) *launch {
	grid, block := planar(m.Rows, t.Groups(), maxBlocks)
	return newLaunch("softmax_groups", grid, block).int(m.Rows).int(t.Groups()).
		buf(devBuffer(m.Buf, "SoftmaxGroups"), m.Off).int(stride(m)).
		buf(devBuffer(t.Ints, "SoftmaxGroups table"), 0)
}

func softmaxGroupsGradLaunch(grad, probs backend.Mat, t backend.MixTable, maxBlocks int) *launch {
	grid, block := planar(grad.Rows, t.Groups(), maxBlocks)
	return newLaunch("softmax_groups_grad", grid, block).int(grad.Rows).int(t.Groups()).
		buf(devBuffer(grad.Buf, "SoftmaxGroupsGrad grad"), grad.Off).int(stride(grad)).
		buf(devBuffer(probs.Buf, "SoftmaxGroupsGrad probs"), probs.Off).int(stride(probs)).
		buf(devBuffer(t.Ints, "SoftmaxGroupsGrad table"), 0)
}

func segmentSumLaunch(dst, src backend.Mat, starts *buffer, startsOff int, pos *buffer, posOff int, status *buffer, maxBlocks int) *launch {
	grid, block := planar(dst.Rows, dst.Cols, maxBlocks)
	return newLaunch("segment_sum", grid, block).int(dst.Rows).int(dst.Cols).int(src.Rows).
		buf(devBuffer(dst.Buf, "SegmentSum dst"), dst.Off).int(stride(dst)).
		buf(devBuffer(src.Buf, "SegmentSum src"), src.Off).int(stride(src)).
		buf(starts, startsOff).buf(pos, posOff).buf(status, 0)
}

func adamRowsLaunch(hp backend.Adam, param, grad, m, v backend.Mat, rows *buffer, rowsOff int, clip backend.Clip, status *buffer, maxBlocks int) *launch {
	c1, c2 := hp.Corrections()
	nb, noff := clipBuffer(clip, "AdamRows")
	grid, block := planar(grad.Rows, grad.Cols, maxBlocks)
	return newLaunch("adam_rows", grid, block).int(grad.Rows).int(grad.Cols).int(param.Rows).
		float(hp.LR).float(hp.Beta1).float(hp.Beta2).float(hp.Eps).float(hp.WeightDecay).flag(hp.Decoupled).
		float(c1).float(c2).float(clip.MaxNorm).
		buf(devBuffer(param.Buf, "AdamRows param"), param.Off).int(stride(param)).
		buf(devBuffer(grad.Buf, "AdamRows grad"), grad.Off).int(stride(grad)).
		buf(devBuffer(m.Buf, "AdamRows m"), m.Off).int(stride(m)).
		buf(devBuffer(v.Buf, "AdamRows v"), v.Off).int(stride(v)).
		buf(rows, rowsOff).buf(nb, noff).buf(status, 0)
}

func sgdRowsLaunch(hp backend.SGD, param, grad, vel backend.Mat, rows *buffer, rowsOff int, clip backend.Clip, status *buffer, maxBlocks int) *launch {
	var vb *buffer
	if hp.Momentum != 0 {
		vb = devBuffer(vel.Buf, "SGDRows vel")
	}
	nb, noff := clipBuffer(clip, "SGDRows")
	grid, block := planar(grad.Rows, grad.Cols, maxBlocks)
	return newLaunch("sgd_rows", grid, block).int(grad.Rows).int(grad.Cols).int(param.Rows).
		float(hp.LR).float(hp.Momentum).float(hp.WeightDecay).flag(hp.Nesterov).float(clip.MaxNorm).
		buf(devBuffer(param.Buf, "SGDRows param"), param.Off).int(stride(param)).
		buf(devBuffer(grad.Buf, "SGDRows grad"), grad.Off).int(stride(grad)).
		buf(vb, vel.Off).int(stride(vel)).
		buf(rows, rowsOff).buf(nb, noff).buf(status, 0)
}

// Mix computes every row's gated mixtures.
func (b *Backend) Mix(dst, gates, experts backend.Mat, t backend.MixTable) {
	backend.CheckMix("Mix", dst, gates, experts, t)
	if dst.Rows > 0 {
		b.launch(mixLaunch(dst, gates, experts, t, b.maxBlocks))
	}
}

// MixGrad computes the gradients of Mix's inputs.
func (b *Backend) MixGrad(dGates, dExperts, dDst, gates, experts backend.Mat, t backend.MixTable) {
	backend.CheckMix("MixGrad", dDst, gates, experts, t)
	backend.SameShape("MixGrad", dGates, gates)
	backend.SameShape("MixGrad", dExperts, experts)
	if dDst.Rows == 0 {
		return
	}
	for _, l := range mixGradLaunches(dGates, dExperts, dDst, gates, experts, t, b.maxBlocks) {
		b.launch(l)
	}
}

// SoftmaxGroups normalises each group of every row in place.
func (b *Backend) SoftmaxGroups(m backend.Mat, t backend.MixTable) {
	backend.CheckSoftmaxGroups("SoftmaxGroups", m, nil, t)
	if m.Rows > 0 {
		b.launch(softmaxGroupsLaunch(m, t, b.maxBlocks))
	}
}

// SoftmaxGroupsGrad back-propagates through SoftmaxGroups in place.
func (b *Backend) SoftmaxGroupsGrad(grad, probs backend.Mat, t backend.MixTable) {
	backend.CheckSoftmaxGroups("SoftmaxGroupsGrad", grad, &probs, t)
	if grad.Rows > 0 {
		b.launch(softmaxGroupsGradLaunch(grad, probs, t, b.maxBlocks))
	}
}

// SegmentSum adds the listed rows of every segment, in order. A position
// outside src is reported by the next Sync or Read.
func (b *Backend) SegmentSum(dst, src backend.Mat, starts backend.Buffer, startsOff int, pos backend.Buffer, posOff int) {
	backend.CheckSegmentSum(dst, src, starts, startsOff, pos, posOff)
	if dst.Rows == 0 || dst.Cols == 0 {
		return
	}
	b.indexed = true
	b.launch(segmentSumLaunch(dst, src, devBuffer(starts, "SegmentSum starts"), startsOff, devBuffer(pos, "SegmentSum pos"), posOff, b.status, b.maxBlocks))
}

// AdamRows applies Adam to the listed rows; they must be distinct. A row
// outside the table is reported by the next Sync or Read.
func (b *Backend) AdamRows(hp backend.Adam, param, grad, m, v backend.Mat, rows backend.Buffer, rowsOff int, clip backend.Clip) {
	backend.CheckRowsStep("AdamRows", param, grad, []backend.Mat{m, v}, rows, rowsOff, clip)
	if grad.Rows == 0 || grad.Cols == 0 {
		return
	}
	b.indexed = true
	b.launch(adamRowsLaunch(hp, param, grad, m, v, devBuffer(rows, "AdamRows rows"), rowsOff, clip, b.status, b.maxBlocks))
}

// SGDRows applies SGD to the listed rows; they must be distinct.
func (b *Backend) SGDRows(hp backend.SGD, param, grad, vel backend.Mat, rows backend.Buffer, rowsOff int, clip backend.Clip) {
	var state []backend.Mat
	if hp.Momentum != 0 {
		state = []backend.Mat{vel}
	}
	backend.CheckRowsStep("SGDRows", param, grad, state, rows, rowsOff, clip)
	if grad.Rows == 0 || grad.Cols == 0 {
		return
	}
	b.indexed = true
	b.launch(sgdRowsLaunch(hp, param, grad, vel, devBuffer(rows, "SGDRows rows"), rowsOff, clip, b.status, b.maxBlocks))
}
