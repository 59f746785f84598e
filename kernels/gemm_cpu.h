#line 1 "gemm_cpu.h"
/*
 * Row-major general matrix multiply for CPU devices, batched over the
 * third launch dimension:
 *
 *	C_b = alpha * op(A_b) * op(B_b) + beta * C_b
 *
 * with the arguments of gemm_tiled. Each work-item computes a block of
 * GEMM_CPU_ROWS rows × GEMM_CPU_COLS contiguous columns of C in private
 * variables and uses neither local memory nor barriers: a CPU runtime runs
 * the work-items of a group one after another, so the fully unrolled inner
 * loops over the block become vector instructions within one work-item and
 * the accumulators stay in registers. Blocks inside C with op(B) = B take
 * that fast path; blocks on the edges of C, and transposed B (which the
 * host may transpose first), take a guarded scalar path.
 *
 * Launch: any local size; global size (⌈n/GEMM_CPU_COLS⌉, ⌈m/GEMM_CPU_ROWS⌉,
 * batch), rounded up to the local size.
 */
KERNEL void gemm_cpu(int trans_a, int trans_b, int m, int n, int k, float alpha,
	GLOBAL const float* a, int a_off, int lda, int stride_a,
	GLOBAL const float* b, int b_off, int ldb, int stride_b,
	float beta, GLOBAL float* c, int c_off, int ldc, int stride_c)
{
	const int col0 = GLOBAL_ID(0) * GEMM_CPU_COLS;
	const int row0 = GLOBAL_ID(1) * GEMM_CPU_ROWS;
	const int batch = GLOBAL_ID(2);
	if (row0 >= m || col0 >= n) {
		return;
	}
	a_off += batch * stride_a;
	b_off += batch * stride_b;
	c_off += batch * stride_c;
	/* Element (i, l) of op(A) is a[a_off + i*a_row + l*a_step]. */
	const int a_row = trans_a ? 1 : lda;
	const int a_step = trans_a ? lda : 1;

	float acc[GEMM_CPU_ROWS][GEMM_CPU_COLS];
#pragma unroll
	for (int i = 0; i < GEMM_CPU_ROWS; i++) {
#pragma unroll
		for (int j = 0; j < GEMM_CPU_COLS; j++) {
			acc[i][j] = 0.0f;
		}
	}
	if (!trans_b && row0 + GEMM_CPU_ROWS <= m && col0 + GEMM_CPU_COLS <= n) {
		GLOBAL const float* ap = a + a_off + row0 * a_row;
		GLOBAL const float* bp = b + b_off + col0;
		for (int l = 0; l < k; l++) {
			float b_reg[GEMM_CPU_COLS];
#pragma unroll
			for (int j = 0; j < GEMM_CPU_COLS; j++) {
				b_reg[j] = bp[j];
			}
#pragma unroll
			for (int i = 0; i < GEMM_CPU_ROWS; i++) {
				const float a_val = ap[i * a_row];
#pragma unroll
				for (int j = 0; j < GEMM_CPU_COLS; j++) {
					acc[i][j] += a_val * b_reg[j];
				}
			}
			ap += a_step;
			bp += ldb;
		}
	} else {
		/* Element (l, j) of op(B) is b[b_off + l*b_step + j*b_col]. */
		const int b_col = trans_b ? ldb : 1;
		const int b_step = trans_b ? 1 : ldb;
		const int rows = m - row0 < GEMM_CPU_ROWS ? m - row0 : GEMM_CPU_ROWS;
		const int cols = n - col0 < GEMM_CPU_COLS ? n - col0 : GEMM_CPU_COLS;
		for (int l = 0; l < k; l++) {
			for (int i = 0; i < rows; i++) {
				const float a_val = a[a_off + (row0 + i) * a_row + l * a_step];
				for (int j = 0; j < cols; j++) {
					acc[i][j] += a_val * b[b_off + l * b_step + (col0 + j) * b_col];
				}
			}
		}
	}
	/* These loops are left rolled on purpose: unrolling them lets the
	 * compiler split acc into scalars, which it then fails to vectorise. */
	for (int i = 0; i < GEMM_CPU_ROWS && row0 + i < m; i++) {
		for (int j = 0; j < GEMM_CPU_COLS && col0 + j < n; j++) {
			const int at = c_off + (row0 + i) * ldc + col0 + j;
			float r = alpha * acc[i][j];
			if (beta != 0.0f) {
				r += beta * c[at];
			}
			c[at] = r;
		}
	}
}
