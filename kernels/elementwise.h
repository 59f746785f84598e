#line 1 "elementwise.h"
/*
 * Element-wise kernels. Each walks its range with grid-stride loops, so any
 * launch size covers any range: a vector of n elements in dimension 0, a
 * rows×cols matrix with columns in dimension 0 and rows in dimension 1.
 */

/* y = alpha·x + y. */
KERNEL void axpy(int n, float alpha, GLOBAL float* y, int y_off, GLOBAL const float* x, int x_off)
{
	for (int i = GLOBAL_ID(0); i < n; i += GLOBAL_SIZE(0)) {
		y[y_off + i] += alpha * x[x_off + i];
	}
}

/* x = alpha·x. */
KERNEL void scale(int n, float alpha, GLOBAL float* x, int x_off)
{
	for (int i = GLOBAL_ID(0); i < n; i += GLOBAL_SIZE(0)) {
		x[x_off + i] *= alpha;
	}
}

/* dst = src, for ranges that do not overlap. */
KERNEL void copy(int n, GLOBAL float* dst, int dst_off, GLOBAL const float* src, int src_off)
{
	for (int i = GLOBAL_ID(0); i < n; i += GLOBAL_SIZE(0)) {
		dst[dst_off + i] = src[src_off + i];
	}
}

/* Every element of the rows×cols matrix x is set to value; a vector is one
 * row. */
KERNEL void fill(int rows, int cols, float value, GLOBAL float* x, int x_off, int x_stride)
{
	for (int r = GLOBAL_ID(1); r < rows; r += GLOBAL_SIZE(1)) {
		for (int j = GLOBAL_ID(0); j < cols; j += GLOBAL_SIZE(0)) {
			x[x_off + r * x_stride + j] = value;
		}
	}
}

/*
 * dst_b = src_bᵀ for each of the batch matrices b: src_b is rows×cols and
 * starts src_batch elements after src_{b-1}; dst_b is cols×rows. Each
 * work-item moves TRANSPOSE_BLOCK × TRANSPOSE_BLOCK blocks, reading rows
 * of src and writing rows of dst; GEMM on CPU devices uses it to lay a
 * transposed B out along its rows, and there a work-item that moves whole
 * blocks costs far less than one per element.
 *
 * Launch: any local size; blocks over the columns of src in dimension 0,
 * over its rows in dimension 1, batch matrices in dimension 2, all
 * grid-stride.
 */
KERNEL void transpose(int rows, int cols, int batch,
	GLOBAL float* dst, int dst_off, int dst_stride, int dst_batch,
	GLOBAL const float* src, int src_off, int src_stride, int src_batch)
{
	for (int z = GLOBAL_ID(2); z < batch; z += GLOBAL_SIZE(2)) {
		const int d = dst_off + z * dst_batch;
		const int s = src_off + z * src_batch;
		for (int r0 = GLOBAL_ID(1) * TRANSPOSE_BLOCK; r0 < rows; r0 += GLOBAL_SIZE(1) * TRANSPOSE_BLOCK) {
			for (int c0 = GLOBAL_ID(0) * TRANSPOSE_BLOCK; c0 < cols; c0 += GLOBAL_SIZE(0) * TRANSPOSE_BLOCK) {
				if (r0 + TRANSPOSE_BLOCK <= rows && c0 + TRANSPOSE_BLOCK <= cols) {
					float block[TRANSPOSE_BLOCK][TRANSPOSE_BLOCK];
#pragma unroll
					for (int i = 0; i < TRANSPOSE_BLOCK; i++) {
#pragma unroll
						for (int j = 0; j < TRANSPOSE_BLOCK; j++) {
							block[i][j] = src[s + (r0 + i) * src_stride + c0 + j];
						}
					}
#pragma unroll
					for (int j = 0; j < TRANSPOSE_BLOCK; j++) {
#pragma unroll
						for (int i = 0; i < TRANSPOSE_BLOCK; i++) {
							dst[d + (c0 + j) * dst_stride + r0 + i] = block[i][j];
						}
					}
				} else {
					for (int i = 0; i < TRANSPOSE_BLOCK && r0 + i < rows; i++) {
						for (int j = 0; j < TRANSPOSE_BLOCK && c0 + j < cols; j++) {
							dst[d + (c0 + j) * dst_stride + r0 + i] = src[s + (r0 + i) * src_stride + c0 + j];
						}
					}
				}
			}
		}
	}
}

/*
 * Row i of the rows×cols matrix dst becomes row idx[idx_off + i] of src,
 * which has src_rows rows. An index outside [0, src_rows) leaves the row
 * unchanged and sets status[status_off] to 1.
 */
KERNEL void gather_rows(int rows, int cols, int src_rows,
	GLOBAL float* dst, int dst_off, int dst_stride,
	GLOBAL const float* src, int src_off, int src_stride,
	GLOBAL const int* idx, int idx_off,
	GLOBAL int* status, int status_off)
{
	for (int r = GLOBAL_ID(1); r < rows; r += GLOBAL_SIZE(1)) {
		const int from = idx[idx_off + r];
		if (from < 0 || from >= src_rows) {
			status[status_off] = STATUS_GATHER;
			continue;
		}
		for (int j = GLOBAL_ID(0); j < cols; j += GLOBAL_SIZE(0)) {
			dst[dst_off + r * dst_stride + j] = src[src_off + from * src_stride + j];
		}
	}
}

/* φ(v) for the activation codes ACT_IDENTITY, ACT_RELU and ACT_TANH. */
DEVICE float activate(float v, int act)
{
	if (act == ACT_RELU) {
		return v > 0.0f ? v : 0.0f;
	}
	if (act == ACT_TANH) {
		return TANH(v);
	}
	return v;
}

/* m[r, j] = φ(m[r, j] + bias[j]); the bias is skipped when has_bias is 0. */
KERNEL void bias_act(int rows, int cols, int act, int has_bias,
	GLOBAL float* m, int m_off, int m_stride,
	GLOBAL const float* bias, int bias_off)
{
	for (int r = GLOBAL_ID(1); r < rows; r += GLOBAL_SIZE(1)) {
		for (int j = GLOBAL_ID(0); j < cols; j += GLOBAL_SIZE(0)) {
			const int at = m_off + r * m_stride + j;
			float v = m[at];
			if (has_bias) {
				v += bias[bias_off + j];
			}
			m[at] = activate(v, act);
		}
	}
}

/* grad[r, j] *= φ'(·), written through the layer output out = φ(·):
 * 1 when out > 0 for ReLU (else 0), 1 − out² for tanh. */
KERNEL void act_grad(int rows, int cols, int act,
	GLOBAL float* grad, int grad_off, int grad_stride,
	GLOBAL const float* out, int out_off, int out_stride)
{
	for (int r = GLOBAL_ID(1); r < rows; r += GLOBAL_SIZE(1)) {
		for (int j = GLOBAL_ID(0); j < cols; j += GLOBAL_SIZE(0)) {
			const int at = grad_off + r * grad_stride + j;
			const float o = out[out_off + r * out_stride + j];
			if (act == ACT_RELU) {
				if (!(o > 0.0f)) {
					grad[at] = 0.0f;
				}
			} else if (act == ACT_TANH) {
				grad[at] *= 1.0f - o * o;
			}
		}
	}
}

/*
 * The dropout mask of backend/dropout.go: element index is kept when the
 * top 24 bits of its hash under the key (key_hi·2³² + key_lo, passed as
 * two ints holding the words' bits) reach threshold.
 */
DEVICE unsigned int dropout_hash(unsigned int index, unsigned int key_lo, unsigned int key_hi)
{
	return mtl_fmix32(mtl_fmix32(index ^ key_lo) ^ key_hi);
}

/* dst[r, j] = src[r, j]·scale where the mask keeps element
 * (row0 + r)·cols + j, and 0 elsewhere; dst may be src (in place). */
KERNEL void dropout(int rows, int cols, int row0, int key_lo, int key_hi, int threshold, float scale,
	GLOBAL float* dst, int dst_off, int dst_stride,
	GLOBAL const float* src, int src_off, int src_stride)
{
	for (int r = GLOBAL_ID(1); r < rows; r += GLOBAL_SIZE(1)) {
		for (int j = GLOBAL_ID(0); j < cols; j += GLOBAL_SIZE(0)) {
			const unsigned int index = (unsigned int)(row0 + r) * (unsigned int)cols + (unsigned int)j;
			const unsigned int h = dropout_hash(index, (unsigned int)key_lo, (unsigned int)key_hi);
			const float v = src[src_off + r * src_stride + j];
			dst[dst_off + r * dst_stride + j] = (h >> 8) >= (unsigned int)threshold ? v * scale : 0.0f;
		}
	}
}
