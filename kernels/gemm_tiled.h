#line 1 "gemm_tiled.h"
/*
 * Row-major general matrix multiply for GPUs, batched over the third launch
 * dimension:
 *
 *	C_b = alpha * op(A_b) * op(B_b) + beta * C_b
 *
 * where op(X) is X, or its transpose when trans_x is non-zero, op(A_b) is
 * m×k, op(B_b) is k×n, and X_b starts stride_x elements after X_{b-1}.
 * When beta is 0, C is not read.
 *
 * A work-group of GEMM_LOCAL_X × GEMM_LOCAL_Y work-items computes one
 * GEMM_TILE_M × GEMM_TILE_N tile of C: work-item (x, y) holds in registers
 * the GEMM_WPT_M × GEMM_WPT_N outputs of rows y·GEMM_WPT_M + i and columns
 * x + j·GEMM_LOCAL_X, so that neighbouring work-items read and write
 * neighbouring columns. The k dimension is walked in slices of GEMM_TILE_K,
 * staged in local memory along the direction that is contiguous in global
 * memory (coalesced whatever the transposes).
 *
 * Launch: local size (GEMM_LOCAL_X, GEMM_LOCAL_Y, 1), global size
 * (⌈n/GEMM_TILE_N⌉·GEMM_LOCAL_X, ⌈m/GEMM_TILE_M⌉·GEMM_LOCAL_Y, batch).
 */
KERNEL void gemm_tiled(int trans_a, int trans_b, int m, int n, int k, float alpha,
	GLOBAL const float* a, int a_off, int lda, int stride_a,
	GLOBAL const float* b, int b_off, int ldb, int stride_b,
	float beta, GLOBAL float* c, int c_off, int ldc, int stride_c)
{
	LOCAL float a_tile[GEMM_TILE_K][GEMM_TILE_M];
	LOCAL float b_tile[GEMM_TILE_K][GEMM_TILE_N];
	const int tx = LOCAL_ID(0);
	const int ty = LOCAL_ID(1);
	const int tid = ty * GEMM_LOCAL_X + tx;
	const int row0 = GROUP_ID(1) * GEMM_TILE_M;
	const int col0 = GROUP_ID(0) * GEMM_TILE_N;
	const int batch = GROUP_ID(2);
	a_off += batch * stride_a;
	b_off += batch * stride_b;
	c_off += batch * stride_c;

	float acc[GEMM_WPT_M][GEMM_WPT_N];
#pragma unroll
	for (int i = 0; i < GEMM_WPT_M; i++) {
#pragma unroll
		for (int j = 0; j < GEMM_WPT_N; j++) {
			acc[i][j] = 0.0f;
		}
	}

	for (int k0 = 0; k0 < k; k0 += GEMM_TILE_K) {
		/* Zero-padded past the edges of the matrices. */
		for (int e = tid; e < GEMM_TILE_M * GEMM_TILE_K; e += GEMM_LOCAL_X * GEMM_LOCAL_Y) {
			int i, l;
			if (trans_a) {
				i = e % GEMM_TILE_M;
				l = e / GEMM_TILE_M;
			} else {
				l = e % GEMM_TILE_K;
				i = e / GEMM_TILE_K;
			}
			const int gi = row0 + i;
			const int gl = k0 + l;
			float v = 0.0f;
			if (gi < m && gl < k) {
				v = trans_a ? a[a_off + gl * lda + gi] : a[a_off + gi * lda + gl];
			}
			a_tile[l][i] = v;
		}
		for (int e = tid; e < GEMM_TILE_N * GEMM_TILE_K; e += GEMM_LOCAL_X * GEMM_LOCAL_Y) {
			int j, l;
			if (trans_b) {
				l = e % GEMM_TILE_K;
				j = e / GEMM_TILE_K;
			} else {
				j = e % GEMM_TILE_N;
				l = e / GEMM_TILE_N;
			}
			const int gj = col0 + j;
			const int gl = k0 + l;
			float v = 0.0f;
			if (gj < n && gl < k) {
				v = trans_b ? b[b_off + gj * ldb + gl] : b[b_off + gl * ldb + gj];
			}
			b_tile[l][j] = v;
		}
		BARRIER();
#pragma unroll
		for (int l = 0; l < GEMM_TILE_K; l++) {
			float a_reg[GEMM_WPT_M];
			float b_reg[GEMM_WPT_N];
#pragma unroll
			for (int i = 0; i < GEMM_WPT_M; i++) {
				a_reg[i] = a_tile[l][ty * GEMM_WPT_M + i];
			}
#pragma unroll
			for (int j = 0; j < GEMM_WPT_N; j++) {
				b_reg[j] = b_tile[l][tx + j * GEMM_LOCAL_X];
			}
#pragma unroll
			for (int i = 0; i < GEMM_WPT_M; i++) {
#pragma unroll
				for (int j = 0; j < GEMM_WPT_N; j++) {
					acc[i][j] += a_reg[i] * b_reg[j];
				}
			}
		}
		BARRIER();
	}

#pragma unroll
	for (int i = 0; i < GEMM_WPT_M; i++) {
		const int gi = row0 + ty * GEMM_WPT_M + i;
#pragma unroll
		for (int j = 0; j < GEMM_WPT_N; j++) {
			const int gj = col0 + tx + j * GEMM_LOCAL_X;
			if (gi < m && gj < n) {
				const int at = c_off + gi * ldc + gj;
				float r = alpha * acc[i][j];
				if (beta != 0.0f) {
					r += beta * c[at];
				}
				c[at] = r;
			}
		}
	}
}
