package cuda

import (
	"fmt"
	"math"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cuda/internal/cu"
)

// rowMajorGemm returns the column-major cuBLAS product that computes the
// row-major product
//
//	C = alpha * op(A) * op(B) + beta * C
//
// with op(A) m×k and op(B) k×n. A row-major matrix with row stride ld is,
// read column by column, its transpose with leading dimension ld, so cuBLAS
// computes Cᵀ = op(B)ᵀ·op(A)ᵀ: B comes first, A second, m and n trade
// places, each operand keeps its own transpose flag, and every leading
// dimension is the row stride (at least the column count and 1, as cuBLAS
// requires even of a single row). Batch strides trade places with the
// operands.
func rowMajorGemm(transA, transB bool, m, n, k int, a, b, c backend.Mat) cu.Gemm {
	return cu.Gemm{
		TransA: operation(transB),
		TransB: operation(transA),
		M:      n,
		N:      m,
		K:      k,
		A:      devBuffer(b.Buf, "Gemm b").at(b.Off),
		LDA:    leading(b),
		B:      devBuffer(a.Buf, "Gemm a").at(a.Off),
		LDB:    leading(a),
		C:      devBuffer(c.Buf, "Gemm c").at(c.Off),
		LDC:    leading(c),
		Batch:  1,
	}
}

func operation(trans bool) cu.Operation {
	if trans {
		return cu.OpT
	}
	return cu.OpN
}

// leading is the leading dimension cuBLAS sees for a row-major view.
func leading(m backend.Mat) int { return max(m.Stride, m.Cols, 1) }

// fitsInt32 reports whether cuBLAS can take the product's sizes, which it
// passes as int.
func fitsInt32(g cu.Gemm) bool {
	for _, v := range []int{g.M, g.N, g.K, g.LDA, g.LDB, g.LDC, g.Batch} {
		if v > math.MaxInt32 {
			return false
		}
	}
	return true
}

// Gemm computes c = alpha·op(a)·op(b) + beta·c with cublasSgemm_v2.
func (b *Backend) Gemm(transA, transB bool, alpha float32, a, bm backend.Mat, beta float32, c backend.Mat) {
	m, n, k := backend.GemmDims("Gemm", transA, transB, a, bm, c)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		b.scaleMat(c, beta)
		return
	}
	g := rowMajorGemm(transA, transB, m, n, k, a, bm, c)
	b.gemm(g, alpha, beta)
}

// GemmStrided runs the batch with one cublasSgemmStridedBatched call.
func (b *Backend) GemmStrided(transA, transB bool, alpha float32, a backend.Mat, strideA int, bm backend.Mat, strideB int, beta float32, c backend.Mat, strideC int, batch int) {
	m, n, k := backend.CheckStrided(transA, transB, a, strideA, bm, strideB, c, strideC, batch)
	if m == 0 || n == 0 || batch == 0 {
		return
	}
	if k == 0 {
		for i := range batch {
			ci := c
			ci.Off += i * strideC
			b.scaleMat(ci, beta)
		}
		return
	}
	g := rowMajorGemm(transA, transB, m, n, k, a, bm, c)
	g.StrideA, g.StrideB, g.StrideC = int64(strideB), int64(strideA), int64(strideC)
	g.Batch = batch
	b.gemm(g, alpha, beta)
}

// gemm queues g on the stream.
func (b *Backend) gemm(g cu.Gemm, alpha, beta float32) {
	b.enqueue(func() {
		if !fitsInt32(g) {
			b.fail(fmt.Errorf("cuda: Gemm of %d×%d×%d (batch %d) is too large for cuBLAS", g.N, g.M, g.K, g.Batch))
			return
		}
		if g.Batch == 1 {
			b.fail(b.blas.Sgemm(b.handle, g, alpha, beta))
		} else {
			b.fail(b.blas.SgemmStridedBatched(b.handle, g, alpha, beta))
		}
	})
}

// scaleMat sets c = beta·c (c = 0 when beta is 0, whatever c held): the
// product of an empty k dimension.
func (b *Backend) scaleMat(c backend.Mat, beta float32) {
	if beta == 1 || c.Rows == 0 || c.Cols == 0 {
		return
	}
	d := devBuffer(c.Buf, "Gemm c")
	if beta == 0 {
		b.launch(fillLaunch(d, c.Off, c.Rows, c.Cols, c.Stride, 0, b.maxBlocks))
		return
	}
	if c.Rows == 1 || c.Stride == c.Cols {
		b.launch(scaleLaunch(d, c.Off, c.Rows*c.Cols, beta, b.maxBlocks))
		return
	}
	for i := range c.Rows {
		b.launch(scaleLaunch(d, c.Off+i*c.Stride, c.Cols, beta, b.maxBlocks))
	}
}
