package cuda

import (
	"fmt"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cuda/internal/cu"
	"github.com/mtl-gpu/mtl-gpu/kernels"
)

// The functions named *Launch plan the launches of each operation from
// its operands alone; the methods check the operands, plan and queue.

// vecBuffer checks v and returns its buffer.
func vecBuffer(v backend.Vec, op string) *buffer {
	v.Check(op, backend.Float32)
	return devBuffer(v.Buf, op)
}

// stride is the row stride a kernel is given for m. A single row, whose
// Stride may be anything, gets its width.
func stride(m backend.Mat) int {
	if m.Rows <= 1 {
		return m.Cols
	}
	return m.Stride
}

// fillLaunch sets the rows×cols matrix at element off of x, rows
// rowStride apart, to value.
func fillLaunch(x *buffer, off, rows, cols, rowStride int, value float32, maxBlocks int) *launch {
	grid, block := planar(rows, cols, maxBlocks)
	return newLaunch("fill", grid, block).int(rows).int(cols).float(value).buf(x, off).
		int(stride(backend.Mat{Rows: rows, Cols: cols, Stride: rowStride}))
}

func scaleLaunch(x *buffer, off, n int, alpha float32, maxBlocks int) *launch {
	grid, block := linear(n, maxBlocks)
	return newLaunch("scale", grid, block).int(n).float(alpha).buf(x, off)
}

func axpyLaunch(y backend.Vec, alpha float32, x backend.Vec, maxBlocks int) *launch {
	grid, block := linear(y.Len, maxBlocks)
	return newLaunch("axpy", grid, block).int(y.Len).float(alpha).
		buf(devBuffer(y.Buf, "Axpy y"), y.Off).buf(devBuffer(x.Buf, "Axpy x"), x.Off)
}

func copyLaunch(dst, src backend.Vec, maxBlocks int) *launch {
	grid, block := linear(dst.Len, maxBlocks)
	return newLaunch("copy", grid, block).int(dst.Len).
		buf(devBuffer(dst.Buf, "Copy dst"), dst.Off).buf(devBuffer(src.Buf, "Copy src"), src.Off)
}

func gatherLaunch(dst, src backend.Mat, idx *buffer, idxOff int, status *buffer, maxBlocks int) *launch {
	grid, block := planar(dst.Rows, dst.Cols, maxBlocks)
	return newLaunch("gather_rows", grid, block).int(dst.Rows).int(dst.Cols).int(src.Rows).
		buf(devBuffer(dst.Buf, "GatherRows dst"), dst.Off).int(stride(dst)).
		buf(devBuffer(src.Buf, "GatherRows src"), src.Off).int(stride(src)).
		buf(idx, idxOff).buf(status, 0)
}

func biasActLaunch(m backend.Mat, bias backend.Vec, act backend.Activation, maxBlocks int) *launch {
	grid, block := planar(m.Rows, m.Cols, maxBlocks)
	var bb *buffer
	if bias.Len > 0 {
		bb = devBuffer(bias.Buf, "BiasAct bias")
	}
	return newLaunch("bias_act", grid, block).int(m.Rows).int(m.Cols).int(int(act)).flag(bb != nil).
		buf(devBuffer(m.Buf, "BiasAct"), m.Off).int(stride(m)).buf(bb, bias.Off)
}

func actGradLaunch(grad, out backend.Mat, act backend.Activation, maxBlocks int) *launch {
	grid, block := planar(grad.Rows, grad.Cols, maxBlocks)
	return newLaunch("act_grad", grid, block).int(grad.Rows).int(grad.Cols).int(int(act)).
		buf(devBuffer(grad.Buf, "ActGrad grad"), grad.Off).int(stride(grad)).
		buf(devBuffer(out.Buf, "ActGrad out"), out.Off).int(stride(out))
}

func dropoutLaunch(dst, src backend.Mat, key uint64, row0 int, p float32, maxBlocks int) *launch {
	grid, block := planar(dst.Rows, dst.Cols, maxBlocks)
	return newLaunch("dropout", grid, block).int(dst.Rows).int(dst.Cols).int(row0).
		bits(uint32(key)).bits(uint32(key>>32)).int(int(backend.DropoutThreshold(p))).float(backend.DropoutScale(p)).
		buf(devBuffer(dst.Buf, "Dropout dst"), dst.Off).int(stride(dst)).
		buf(devBuffer(src.Buf, "Dropout src"), src.Off).int(stride(src))
}

// colSumBlocks is the number of blocks of kernels.ColSumRows rows that
// col_sum_blocks sums separately for a matrix of rows rows; the partial
// sums take colSumBlocks·cols elements.
func colSumBlocks(rows int) int { return max(ceilDiv(rows, kernels.ColSumRows), 1) }

// colSumLaunches are the two passes of ColSum: col_sum_blocks writes the
// sum of each block of rows to partial, in launches of at most maxGridY
// blocks (one block per group in dimension Y), then col_sum adds the
// blocks in order.
func colSumLaunches(dst backend.Vec, m backend.Mat, alpha, beta float32, partial *buffer, maxBlocks int) []*launch {
	md := devBuffer(m.Buf, "ColSum m")
	blocks := colSumBlocks(m.Rows)
	block := cu.Dim3{X: kernels.ColSumLocalX, Y: kernels.ColSumLocalY, Z: 1}
	var out []*launch
	for b0 := 0; b0 < blocks; b0 += maxGridY {
		nb := min(blocks-b0, maxGridY)
		r0 := b0 * kernels.ColSumRows
		rows := min(m.Rows-r0, nb*kernels.ColSumRows)
		grid := cu.Dim3{X: ceilDiv(m.Cols, kernels.ColSumLocalX), Y: nb, Z: 1}
		out = append(out, newLaunch("col_sum_blocks", grid, block).int(max(rows, 0)).int(m.Cols).
			buf(partial, b0*m.Cols).buf(md, m.Off+r0*m.Stride).int(stride(m)))
	}
	grid, lblock := linear(m.Cols, maxBlocks)
	return append(out, newLaunch("col_sum", grid, lblock).int(blocks).int(m.Cols).float(alpha).float(beta).
		buf(devBuffer(dst.Buf, "ColSum dst"), dst.Off).buf(partial, 0))
}

// sumSquaresLaunches are the two passes of Σ x²: reduceGroups(n) partial
// sums into partial, then their sum into dst.
func sumSquaresLaunches(dst, x backend.Vec, partial *buffer) []*launch {
	groups := reduceGroups(x.Len)
	block := cu.Dim3{X: kernels.ReduceLocal, Y: 1, Z: 1}
	first := newLaunch("sum_squares", cu.Dim3{X: groups, Y: 1, Z: 1}, block).int(x.Len).
		buf(partial, 0).buf(devBuffer(x.Buf, "SumSquares x"), x.Off)
	second := newLaunch("sum_partials", cu.Dim3{X: 1, Y: 1, Z: 1}, block).int(groups).
		buf(devBuffer(dst.Buf, "SumSquares dst"), dst.Off).buf(partial, 0)
	return []*launch{first, second}
}

// lossLaunches zero the gradient (loss_grad writes only the columns of
// labelled rows) and run one work-group per task.
func lossLaunches(logits, labels backend.Mat, table backend.LossTable, weights backend.Vec, grad backend.Mat, sums backend.Vec, maxBlocks int) []*launch {
	g := devBuffer(grad.Buf, "LossGrad grad")
	var out []*launch
	if grad.Rows > 0 && grad.Cols > 0 {
		out = append(out, fillLaunch(g, grad.Off, grad.Rows, grad.Cols, grad.Stride, 0, maxBlocks))
	}
	grid := cu.Dim3{X: len(table.Tasks), Y: 1, Z: 1}
	block := cu.Dim3{X: kernels.LossLocal, Y: 1, Z: 1}
	l := newLaunch("loss_grad", grid, block).int(logits.Rows).
		buf(devBuffer(logits.Buf, "LossGrad logits"), logits.Off).int(stride(logits)).
		buf(devBuffer(labels.Buf, "LossGrad labels"), labels.Off).int(stride(labels)).
		buf(devBuffer(table.Ints, "LossGrad table"), 0).
		buf(devBuffer(table.Floats, "LossGrad table"), 0).
		buf(devBuffer(weights.Buf, "LossGrad weights"), weights.Off).
		buf(g, grad.Off).int(stride(grad)).
		buf(devBuffer(sums.Buf, "LossGrad sums"), sums.Off)
	return append(out, l)
}

// clipBuffer is the buffer of the squared norm a step reads, or nil when
// clipping is off.
func clipBuffer(clip backend.Clip, op string) (*buffer, int) {
	if clip.MaxNorm == 0 {
		return nil, 0
	}
	return devBuffer(clip.NormSq.Buf, op+" clip"), clip.NormSq.Off
}

func sgdLaunch(hp backend.SGD, param, grad, vel backend.Vec, clip backend.Clip, maxBlocks int) *launch {
	grid, block := linear(param.Len, maxBlocks)
	var vb *buffer
	if hp.Momentum != 0 {
		vb = devBuffer(vel.Buf, "SGDStep vel")
	}
	nb, noff := clipBuffer(clip, "SGDStep")
	return newLaunch("sgd_step", grid, block).int(param.Len).
		float(hp.LR).float(hp.Momentum).float(hp.WeightDecay).flag(hp.Nesterov).float(clip.MaxNorm).
		buf(devBuffer(param.Buf, "SGDStep param"), param.Off).
		buf(devBuffer(grad.Buf, "SGDStep grad"), grad.Off).
		buf(vb, vel.Off).buf(nb, noff)
}

func adamLaunch(hp backend.Adam, param, grad, m, v backend.Vec, clip backend.Clip, maxBlocks int) *launch {
	grid, block := linear(param.Len, maxBlocks)
	c1, c2 := hp.Corrections()
	nb, noff := clipBuffer(clip, "AdamStep")
	return newLaunch("adam_step", grid, block).int(param.Len).
		float(hp.LR).float(hp.Beta1).float(hp.Beta2).float(hp.Eps).float(hp.WeightDecay).flag(hp.Decoupled).
		float(c1).float(c2).float(clip.MaxNorm).
		buf(devBuffer(param.Buf, "AdamStep param"), param.Off).
		buf(devBuffer(grad.Buf, "AdamStep grad"), grad.Off).
		buf(devBuffer(m.Buf, "AdamStep m"), m.Off).
		buf(devBuffer(v.Buf, "AdamStep v"), v.Off).
		buf(nb, noff)
}

// GatherRows copies the indexed rows of src into dst. An index outside
// the rows of src is reported by the next Sync or Read.
func (b *Backend) GatherRows(dst, src backend.Mat, idx backend.Buffer, idxOff int) {
	backend.CheckGather(dst, src, idx, idxOff)
	if dst.Rows == 0 || dst.Cols == 0 {
		return
	}
	b.indexed = true
	b.launch(gatherLaunch(dst, src, devBuffer(idx, "GatherRows idx"), idxOff, b.status, b.maxBlocks))
}

// BiasAct sets m = φ(m + bias).
func (b *Backend) BiasAct(m backend.Mat, bias backend.Vec, act backend.Activation) {
	backend.CheckBiasAct(m, bias, act)
	if m.Rows == 0 || m.Cols == 0 {
		return
	}
	b.launch(biasActLaunch(m, bias, act, b.maxBlocks))
}

// ActGrad multiplies grad by φ' computed from the layer output.
func (b *Backend) ActGrad(grad, out backend.Mat, act backend.Activation) {
	backend.CheckActGrad(grad, out, act)
	if act == backend.Identity || grad.Rows == 0 || grad.Cols == 0 {
		return
	}
	b.launch(actGradLaunch(grad, out, act, b.maxBlocks))
}

// Dropout sets dst = src ⊙ mask/q with the mask of key.
func (b *Backend) Dropout(dst, src backend.Mat, key uint64, row0 int, p float32) {
	backend.CheckDropout(dst, src, row0, p)
	if dst.Rows > 0 && dst.Cols > 0 {
		b.launch(dropoutLaunch(dst, src, key, row0, p, b.maxBlocks))
	}
}

// ColSum sets dst = alpha·(column sums of m) + beta·dst.
func (b *Backend) ColSum(dst backend.Vec, m backend.Mat, alpha, beta float32) {
	backend.CheckColSum(dst, m)
	if m.Cols == 0 {
		return
	}
	partial := b.scratchFor(colSumBlocks(m.Rows) * m.Cols)
	if partial == nil {
		return
	}
	for _, l := range colSumLaunches(dst, m, alpha, beta, partial, b.maxBlocks) {
		b.launch(l)
	}
}

// LossGrad evaluates every task's loss and gradient.
func (b *Backend) LossGrad(logits, labels backend.Mat, table backend.LossTable, weights backend.Vec, grad backend.Mat, sums backend.Vec) {
	backend.CheckLossArgs(logits, labels, table, weights, grad, sums)
	for _, l := range lossLaunches(logits, labels, table, weights, grad, sums, b.maxBlocks) {
		b.launch(l)
	}
}

// Axpy sets y = alpha·x + y.
func (b *Backend) Axpy(y backend.Vec, alpha float32, x backend.Vec) {
	backend.SameLen("Axpy", y, x)
	vecBuffer(y, "Axpy y")
	vecBuffer(x, "Axpy x")
	if y.Len > 0 {
		b.launch(axpyLaunch(y, alpha, x, b.maxBlocks))
	}
}

// Scale sets x = alpha·x.
func (b *Backend) Scale(x backend.Vec, alpha float32) {
	d := vecBuffer(x, "Scale")
	if x.Len > 0 {
		b.launch(scaleLaunch(d, x.Off, x.Len, alpha, b.maxBlocks))
	}
}

// Fill sets every element of x to v.
func (b *Backend) Fill(x backend.Vec, v float32) {
	d := vecBuffer(x, "Fill")
	if x.Len > 0 {
		b.launch(fillLaunch(d, x.Off, 1, x.Len, x.Len, v, b.maxBlocks))
	}
}

// Copy sets dst = src.
func (b *Backend) Copy(dst, src backend.Vec) {
	backend.SameLen("Copy", dst, src)
	vecBuffer(dst, "Copy dst")
	vecBuffer(src, "Copy src")
	if dst.Len > 0 {
		b.launch(copyLaunch(dst, src, b.maxBlocks))
	}
}

// SumSquares sets dst[0] = Σ x², in two deterministic passes.
func (b *Backend) SumSquares(dst, x backend.Vec) {
	if dst.Len != 1 {
		panic(fmt.Sprintf("cuda: SumSquares: destination of length %d", dst.Len))
	}
	vecBuffer(dst, "SumSquares dst")
	vecBuffer(x, "SumSquares x")
	partial := b.scratchFor(kernels.ReduceGroups)
	if partial == nil {
		return
	}
	for _, l := range sumSquaresLaunches(dst, x, partial) {
		b.launch(l)
	}
}

// SGDStep applies one step of SGD with momentum.
func (b *Backend) SGDStep(hp backend.SGD, param, grad, vel backend.Vec, clip backend.Clip) {
	backend.CheckSGD(hp, param, grad, vel, clip)
	if param.Len > 0 {
		b.launch(sgdLaunch(hp, param, grad, vel, clip, b.maxBlocks))
	}
}

// AdamStep applies one Adam (or AdamW) step.
func (b *Backend) AdamStep(hp backend.Adam, param, grad, m, v backend.Vec, clip backend.Clip) {
	backend.CheckAdam(param, grad, m, v, clip)
	if param.Len > 0 {
		b.launch(adamLaunch(hp, param, grad, m, v, clip, b.maxBlocks))
	}
}
