//go:build opencl

package opencl

import (
	"fmt"
	"math"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/kernels"
)

// matMem returns a matrix view's memory and offset for a kernel argument,
// and its row stride.
func (b *Backend) matMem(m backend.Mat, op string) (mem, int) {
	return mem{b.memOf(m.Buf, op), m.Off}, max(m.Stride, m.Cols, 1)
}

// vecMem returns a vector's memory and offset for a kernel argument.
func (b *Backend) vecMem(v backend.Vec, op string) mem {
	return mem{b.memOf(v.Buf, op), v.Off}
}

// Gemm computes c = alpha·op(a)·op(b) + beta·c.
func (b *Backend) Gemm(transA, transB bool, alpha float32, a, bm backend.Mat, beta float32, c backend.Mat) {
	m, n, k := backend.GemmDims("Gemm", transA, transB, a, bm, c)
	b.gemm(transA, transB, m, n, k, alpha, a, 0, bm, 0, beta, c, 0, 1)
}

// GemmStrided runs the batch of GEMMs in one launch, the batch in the
// third dimension.
func (b *Backend) GemmStrided(transA, transB bool, alpha float32, a backend.Mat, strideA int, bm backend.Mat, strideB int, beta float32, c backend.Mat, strideC int, batch int) {
	m, n, k := backend.CheckStrided(transA, transB, a, strideA, bm, strideB, c, strideC, batch)
	b.gemm(transA, transB, m, n, k, alpha, a, strideA, bm, strideB, beta, c, strideC, batch)
}

func flag(v bool) int {
	if v {
		return 1
	}
	return 0
}

func (b *Backend) gemm(transA, transB bool, m, n, k int, alpha float32, a backend.Mat, strideA int, bm backend.Mat, strideB int, beta float32, c backend.Mat, strideC int, batch int) {
	if m == 0 || n == 0 || batch == 0 {
		return
	}
	am, lda := b.matMem(a, "Gemm a")
	bmem, ldb := b.matMem(bm, "Gemm b")
	cm, ldc := b.matMem(c, "Gemm c")
	if transB && b.transposeB && k > 0 {
		if t, stride, ok := b.transposed(bmem, ldb, n, k, strideB, batch); ok {
			bmem, ldb, strideB, transB = t, n, stride, false
		}
	}
	var g geometry
	if b.gemmName == "gemm_tiled" {
		g = geometry{
			global: [3]int{ceilDiv(n, kernels.GemmTileN) * kernels.GemmLocalX, ceilDiv(m, kernels.GemmTileM) * kernels.GemmLocalY, batch},
			local:  [3]int{kernels.GemmLocalX, kernels.GemmLocalY, 1},
		}
	} else {
		g = blockedGeometry(m, n, batch)
	}
	b.launch(b.gemmName, g, flag(transA), flag(transB), m, n, k, alpha,
		am, lda, strideA, bmem, ldb, strideB, beta, cm, ldc, strideC)
}

// gemmCPULocal is the work-group shape of gemm_cpu: a CPU runtime runs a
// group on one core, so a square group of blocks shares rows of A and
// columns of B in its caches.
const gemmCPULocal = 8

// blockedGeometry launches one gemm_cpu work-item per block of C.
func blockedGeometry(m, n, batch int) geometry {
	lx, ly := gemmCPULocal, gemmCPULocal
	return geometry{
		global: [3]int{ceilDiv(ceilDiv(n, kernels.GemmCPUCols), lx) * lx, ceilDiv(ceilDiv(m, kernels.GemmCPURows), ly) * ly, batch},
		local:  [3]int{lx, ly, 1},
	}
}

// transposed copies the n×k matrices B (row stride ldb, one per batch
// element, or one shared when strideB is 0) into scratch as dense k×n
// matrices, and returns them with their batch stride.
func (b *Backend) transposed(src mem, ldb, n, k, strideB, batch int) (mem, int, bool) {
	count := batch
	if strideB == 0 {
		count = 1
	}
	size := count * k * n
	if count > math.MaxInt32/max(k*n, 1) || size > math.MaxInt32 {
		return mem{}, 0, false
	}
	scratch, err := b.scratchFor(size)
	if err != nil {
		// The kernel reads a transposed B itself, only more slowly.
		return mem{}, 0, false
	}
	dst := mem{scratch, 0}
	const block = kernels.TransposeBlock
	g := geometry{
		global: [3]int{ceilDiv(ceilDiv(k, block), 8) * 8, ceilDiv(ceilDiv(n, block), 8) * 8, count},
		local:  [3]int{8, 8, 1},
	}
	b.launch("transpose", g, n, k, count, dst, n, k*n, src, ldb, strideB)
	stride := k * n
	if strideB == 0 {
		stride = 0
	}
	return dst, stride, true
}

// GatherRows copies the indexed rows of src into dst. An index outside
// src is reported as an error by the next Sync or Read.
func (b *Backend) GatherRows(dst, src backend.Mat, idx backend.Buffer, idxOff int) {
	backend.CheckGather(dst, src, idx, idxOff)
	if dst.Rows == 0 {
		return
	}
	dm, dstride := b.matMem(dst, "GatherRows dst")
	sm, sstride := b.matMem(src, "GatherRows src")
	im := mem{b.memOf(idx, "GatherRows idx"), idxOff}
	b.launch("gather_rows", b.rowGrid(dst.Rows, dst.Cols), dst.Rows, dst.Cols, src.Rows,
		dm, dstride, sm, sstride, im, mem{b.status, 0})
	b.statusDirty = true
}

// BiasAct sets m = φ(m + bias) in place.
func (b *Backend) BiasAct(m backend.Mat, bias backend.Vec, act backend.Activation) {
	backend.CheckBiasAct(m, bias, act)
	if m.Rows == 0 || m.Cols == 0 {
		return
	}
	mm, stride := b.matMem(m, "BiasAct")
	b.launch("bias_act", b.rowGrid(m.Rows, m.Cols), m.Rows, m.Cols, int(act), flag(bias.Len > 0),
		mm, stride, b.vecMem(bias, "BiasAct bias"))
}

// ActGrad multiplies grad by φ' computed from the layer output.
func (b *Backend) ActGrad(grad, out backend.Mat, act backend.Activation) {
	backend.CheckActGrad(grad, out, act)
	if act == backend.Identity || grad.Rows == 0 || grad.Cols == 0 {
		return
	}
	gm, gstride := b.matMem(grad, "ActGrad grad")
	om, ostride := b.matMem(out, "ActGrad out")
	b.launch("act_grad", b.rowGrid(grad.Rows, grad.Cols), grad.Rows, grad.Cols, int(act), gm, gstride, om, ostride)
}

// Dropout sets dst = src ⊙ mask/q with the mask of key, in one launch.
func (b *Backend) Dropout(dst, src backend.Mat, key uint64, row0 int, p float32) {
	backend.CheckDropout(dst, src, row0, p)
	if dst.Rows == 0 || dst.Cols == 0 {
		return
	}
	dm, dstride := b.matMem(dst, "Dropout dst")
	sm, sstride := b.matMem(src, "Dropout src")
	b.launch("dropout", b.rowGrid(dst.Rows, dst.Cols), dst.Rows, dst.Cols, row0, int(int32(uint32(key))), int(int32(uint32(key>>32))),
		int(backend.DropoutThreshold(p)), backend.DropoutScale(p), dm, dstride, sm, sstride)
}

// ColSum sets dst = alpha·(column sums of m) + beta·dst: sums over blocks
// of rows into scratch memory, then the blocks' sums in order.
func (b *Backend) ColSum(dst backend.Vec, m backend.Mat, alpha, beta float32) {
	backend.CheckColSum(dst, m)
	if m.Cols == 0 {
		return
	}
	mm, stride := b.matMem(m, "ColSum m")
	blocks := ceilDiv(m.Rows, kernels.ColSumRows)
	partial := mem{b.dummy, 0}
	if blocks > 0 {
		if blocks > math.MaxInt32/m.Cols {
			panic(fmt.Sprintf("opencl: ColSum: %d×%d matrix too large", m.Rows, m.Cols))
		}
		scratch, err := b.scratchFor(blocks * m.Cols)
		if err != nil {
			b.fail("ColSum", err)
			return
		}
		partial = mem{scratch, 0}
		g := geometry{
			global: [3]int{ceilDiv(m.Cols, kernels.ColSumLocalX) * kernels.ColSumLocalX, blocks * kernels.ColSumLocalY, 1},
			local:  [3]int{kernels.ColSumLocalX, kernels.ColSumLocalY, 1},
		}
		b.launch("col_sum_blocks", g, m.Rows, m.Cols, partial, mm, stride)
	}
	b.launch("col_sum", grid1(m.Cols), blocks, m.Cols, alpha, beta, b.vecMem(dst, "ColSum dst"), partial)
}

// fillMat sets every element of a rows×cols view to v.
func (b *Backend) fillMat(m mem, stride, rows, cols int, v float32) {
	if rows == 0 || cols == 0 {
		return
	}
	b.launch("fill", grid2(rows, cols), rows, cols, v, m, stride)
}

// LossGrad zeroes grad, then evaluates each task in its own work-group.
func (b *Backend) LossGrad(logits, labels backend.Mat, table backend.LossTable, weights backend.Vec, grad backend.Mat, sums backend.Vec) {
	backend.CheckLossArgs(logits, labels, table, weights, grad, sums)
	gm, gstride := b.matMem(grad, "LossGrad grad")
	b.fillMat(gm, gstride, grad.Rows, grad.Cols, 0)
	zm, zstride := b.matMem(logits, "LossGrad logits")
	ym, ystride := b.matMem(labels, "LossGrad labels")
	nt := len(table.Tasks)
	g := geometry{global: [3]int{nt * kernels.LossLocal, 1, 1}, local: [3]int{kernels.LossLocal, 1, 1}}
	b.launch("loss_grad", g, logits.Rows, zm, zstride, ym, ystride,
		mem{b.memOf(table.Ints, "LossGrad table"), 0}, mem{b.memOf(table.Floats, "LossGrad table"), 0},
		b.vecMem(weights, "LossGrad weights"), gm, gstride, b.vecMem(sums, "LossGrad sums"))
}

// Axpy sets y = alpha·x + y.
func (b *Backend) Axpy(y backend.Vec, alpha float32, x backend.Vec) {
	backend.SameLen("Axpy", y, x)
	y.Check("Axpy y", backend.Float32)
	x.Check("Axpy x", backend.Float32)
	if y.Len == 0 {
		return
	}
	b.launch("axpy", grid1(y.Len), y.Len, alpha, b.vecMem(y, "Axpy y"), b.vecMem(x, "Axpy x"))
}

// Scale sets x = alpha·x.
func (b *Backend) Scale(x backend.Vec, alpha float32) {
	x.Check("Scale", backend.Float32)
	if x.Len == 0 {
		return
	}
	b.launch("scale", grid1(x.Len), x.Len, alpha, b.vecMem(x, "Scale"))
}

// Fill sets every element of x to v.
func (b *Backend) Fill(x backend.Vec, v float32) {
	x.Check("Fill", backend.Float32)
	b.fillMat(b.vecMem(x, "Fill"), x.Len, 1, x.Len, v)
}

// Copy sets dst = src.
func (b *Backend) Copy(dst, src backend.Vec) {
	backend.SameLen("Copy", dst, src)
	dst.Check("Copy dst", backend.Float32)
	src.Check("Copy src", backend.Float32)
	if dst.Len == 0 {
		return
	}
	b.launch("copy", grid1(dst.Len), dst.Len, b.vecMem(dst, "Copy dst"), b.vecMem(src, "Copy src"))
}

// reduceItems is about how many elements each work-item of sum_squares
// adds before the tree, up to the backend's cap on groups. A CPU runtime
// pays for every group's tree, one work-item at a time, so there the cap
// is low; it is odd for the reason given at grid1.
const (
	reduceItems     = 4
	gpuReduceGroups = kernels.ReduceGroups - 1
	cpuReduceGroups = 63
)

// SumSquares sets dst[0] = Σ x², in two passes: per-group sums, then their
// sum. The number of groups depends only on x.Len and the device type,
// so repeated runs on one device agree bit for bit.
func (b *Backend) SumSquares(dst, x backend.Vec) {
	if dst.Len != 1 {
		panic(fmt.Sprintf("opencl: SumSquares: destination of length %d", dst.Len))
	}
	dst.Check("SumSquares dst", backend.Float32)
	x.Check("SumSquares x", backend.Float32)
	groups := min(max(ceilDiv(x.Len, reduceItems*kernels.ReduceLocal), 1), b.reduceGroups)
	partial := mem{b.partial, 0}
	b.launch("sum_squares", geometry{global: [3]int{groups * kernels.ReduceLocal, 1, 1}, local: [3]int{kernels.ReduceLocal, 1, 1}},
		x.Len, partial, b.vecMem(x, "SumSquares x"))
	b.launch("sum_partials", geometry{global: [3]int{kernels.ReduceLocal, 1, 1}, local: [3]int{kernels.ReduceLocal, 1, 1}},
		groups, b.vecMem(dst, "SumSquares dst"), partial)
}

// clipArgs returns the clip threshold and the squared-norm argument of an
// optimiser step.
func (b *Backend) clipArgs(clip backend.Clip, op string) (float32, mem) {
	if clip.MaxNorm == 0 {
		return 0, mem{b.dummy, 0}
	}
	return clip.MaxNorm, b.vecMem(clip.NormSq, op+" clip")
}

// SGDStep applies one step of SGD with momentum.
func (b *Backend) SGDStep(hp backend.SGD, param, grad, vel backend.Vec, clip backend.Clip) {
	backend.CheckSGD(hp, param, grad, vel, clip)
	if param.Len == 0 {
		return
	}
	velMem := mem{b.dummy, 0}
	if hp.Momentum != 0 {
		velMem = b.vecMem(vel, "SGDStep vel")
	}
	maxNorm, normSq := b.clipArgs(clip, "SGDStep")
	b.launch("sgd_step", grid1(param.Len), param.Len, hp.LR, hp.Momentum, hp.WeightDecay, flag(hp.Nesterov), maxNorm,
		b.vecMem(param, "SGDStep param"), b.vecMem(grad, "SGDStep grad"), velMem, normSq)
}

// AdamStep applies one Adam (or AdamW) step.
func (b *Backend) AdamStep(hp backend.Adam, param, grad, m, v backend.Vec, clip backend.Clip) {
	backend.CheckAdam(param, grad, m, v, clip)
	if param.Len == 0 {
		return
	}
	c1, c2 := hp.Corrections()
	maxNorm, normSq := b.clipArgs(clip, "AdamStep")
	b.launch("adam_step", grid1(param.Len), param.Len, hp.LR, hp.Beta1, hp.Beta2, hp.Eps, hp.WeightDecay, flag(hp.Decoupled),
		c1, c2, maxNorm,
		b.vecMem(param, "AdamStep param"), b.vecMem(grad, "AdamStep grad"), b.vecMem(m, "AdamStep m"), b.vecMem(v, "AdamStep v"), normSq)
}
