#line 1 "mixture.h"
/*
 * Mixtures of experts and embedding tables (see package backend's Mix,
 * SoftmaxGroups, SegmentSum and the row-wise optimiser steps). A mixture
 * table is the int array starts[0 … groups] (the first gate slot of each
 * group, then the number of slots) followed by experts[0 … slots−1] (the
 * expert each slot weights). Every sum runs in a fixed order (increasing
 * slot, column or position), whatever the geometry.
 */

/* The group of a gate slot. */
DEVICE int slot_group(GLOBAL const int* table, int table_off, int groups, int s)
{
	int q = 0;
	while (q + 1 < groups && table[table_off + q + 1] <= s) {
		q++;
	}
	return q;
}

/* dst[r, q·width + j] = Σ_{s in group q} gates[r, s]·experts[r, e(s)·width + j]. */
KERNEL void mix_experts(int rows, int groups, int width,
	GLOBAL float* dst, int dst_off, int dst_stride,
	GLOBAL const float* gates, int gates_off, int gates_stride,
	GLOBAL const float* experts, int experts_off, int experts_stride,
	GLOBAL const int* table, int table_off)
{
	const int cols = groups * width;
	for (int r = GLOBAL_ID(1); r < rows; r += GLOBAL_SIZE(1)) {
		for (int c = GLOBAL_ID(0); c < cols; c += GLOBAL_SIZE(0)) {
			const int q = c / width;
			const int j = c - q * width;
			float s = 0.0f;
			for (int k = table[table_off + q]; k < table[table_off + q + 1]; k++) {
				const int e = table[table_off + groups + 1 + k];
				s += gates[gates_off + r * gates_stride + k] * experts[experts_off + r * experts_stride + e * width + j];
			}
			dst[dst_off + r * dst_stride + c] = s;
		}
	}
}

/* dgates[r, s] = Σ_j ddst[r, q(s)·width + j]·experts[r, e(s)·width + j]. */
KERNEL void mix_experts_grad_gates(int rows, int groups, int slots, int width,
	GLOBAL float* dgates, int dgates_off, int dgates_stride,
	GLOBAL const float* ddst, int ddst_off, int ddst_stride,
	GLOBAL const float* experts, int experts_off, int experts_stride,
	GLOBAL const int* table, int table_off)
{
	for (int r = GLOBAL_ID(1); r < rows; r += GLOBAL_SIZE(1)) {
		for (int s = GLOBAL_ID(0); s < slots; s += GLOBAL_SIZE(0)) {
			const int q = slot_group(table, table_off, groups, s);
			const int e = table[table_off + groups + 1 + s];
			float sum = 0.0f;
			for (int j = 0; j < width; j++) {
				sum += ddst[ddst_off + r * ddst_stride + q * width + j] * experts[experts_off + r * experts_stride + e * width + j];
			}
			dgates[dgates_off + r * dgates_stride + s] = sum;
		}
	}
}

/* dexperts[r, e·width + j] = Σ_{s: e(s) = e} gates[r, s]·ddst[r, q(s)·width + j]. */
KERNEL void mix_experts_grad_experts(int rows, int groups, int slots, int num_experts, int width,
	GLOBAL float* dexperts, int dexperts_off, int dexperts_stride,
	GLOBAL const float* ddst, int ddst_off, int ddst_stride,
	GLOBAL const float* gates, int gates_off, int gates_stride,
	GLOBAL const int* table, int table_off)
{
	const int cols = num_experts * width;
	for (int r = GLOBAL_ID(1); r < rows; r += GLOBAL_SIZE(1)) {
		for (int c = GLOBAL_ID(0); c < cols; c += GLOBAL_SIZE(0)) {
			const int e = c / width;
			const int j = c - e * width;
			float sum = 0.0f;
			int q = 0;
			for (int s = 0; s < slots; s++) {
				while (table[table_off + q + 1] <= s) {
					q++;
				}
				if (table[table_off + groups + 1 + s] == e) {
					sum += gates[gates_off + r * gates_stride + s] * ddst[ddst_off + r * ddst_stride + q * width + j];
				}
			}
			dexperts[dexperts_off + r * dexperts_stride + c] = sum;
		}
	}
}

/* Each group's slots of every row replaced by their softmax. */
KERNEL void softmax_groups(int rows, int groups,
	GLOBAL float* m, int m_off, int m_stride,
	GLOBAL const int* table, int table_off)
{
	for (int r = GLOBAL_ID(1); r < rows; r += GLOBAL_SIZE(1)) {
		for (int q = GLOBAL_ID(0); q < groups; q += GLOBAL_SIZE(0)) {
			GLOBAL float* row = m + m_off + r * m_stride;
			const int lo = table[table_off + q], hi = table[table_off + q + 1];
			float mx = row[lo];
			for (int s = lo + 1; s < hi; s++) {
				mx = FMAX(mx, row[s]);
			}
			float sum = 0.0f;
			for (int s = lo; s < hi; s++) {
				const float e = EXP(row[s] - mx);
				row[s] = e;
				sum += e;
			}
			for (int s = lo; s < hi; s++) {
				row[s] /= sum;
			}
		}
	}
}

/* grad[r, s] = probs[r, s]·(grad[r, s] − Σ_{s' in s's group} probs[r, s']·grad[r, s']). */
KERNEL void softmax_groups_grad(int rows, int groups,
	GLOBAL float* grad, int grad_off, int grad_stride,
	GLOBAL const float* probs, int probs_off, int probs_stride,
	GLOBAL const int* table, int table_off)
{
	for (int r = GLOBAL_ID(1); r < rows; r += GLOBAL_SIZE(1)) {
		for (int q = GLOBAL_ID(0); q < groups; q += GLOBAL_SIZE(0)) {
			GLOBAL float* g = grad + grad_off + r * grad_stride;
			GLOBAL const float* p = probs + probs_off + r * probs_stride;
			const int lo = table[table_off + q], hi = table[table_off + q + 1];
			float dot = 0.0f;
			for (int s = lo; s < hi; s++) {
				dot += p[s] * g[s];
			}
			for (int s = lo; s < hi; s++) {
				g[s] = p[s] * (g[s] - dot);
			}
		}
	}
}

/*
 * Row u of dst is the sum, in order, of the rows pos[pos_off + k] of src for
 * k from starts[starts_off + u] to starts[starts_off + u + 1] − 1. A
 * position outside src sets status to STATUS_SEGMENT.
 */
KERNEL void segment_sum(int segs, int cols, int src_rows,
	GLOBAL float* dst, int dst_off, int dst_stride,
	GLOBAL const float* src, int src_off, int src_stride,
	GLOBAL const int* starts, int starts_off,
	GLOBAL const int* pos, int pos_off,
	GLOBAL int* status, int status_off)
{
	for (int u = GLOBAL_ID(1); u < segs; u += GLOBAL_SIZE(1)) {
		const int lo = starts[starts_off + u], hi = starts[starts_off + u + 1];
		for (int j = GLOBAL_ID(0); j < cols; j += GLOBAL_SIZE(0)) {
			float s = 0.0f;
			for (int k = lo; k < hi; k++) {
				const int p = pos[pos_off + k];
				if (p < 0 || p >= src_rows) {
					status[status_off] = STATUS_SEGMENT;
					continue;
				}
				s += src[src_off + p * src_stride + j];
			}
			dst[dst_off + u * dst_stride + j] = s;
		}
	}
}

/*
 * Adam (see adam_update) on the rows rows[rows_off + u] of a table, u <
 * n, with gradient row u of grad. A row outside the table sets status to
 * STATUS_ROW.
 */
KERNEL void adam_rows(int n, int cols, int table_rows,
	float lr, float beta1, float beta2, float eps, float weight_decay, int decoupled,
	float correction1, float correction2, float max_norm,
	GLOBAL float* param, int param_off, int param_stride,
	GLOBAL const float* grad, int grad_off, int grad_stride,
	GLOBAL float* m, int m_off, int m_stride,
	GLOBAL float* v, int v_off, int v_stride,
	GLOBAL const int* rows, int rows_off,
	GLOBAL const float* norm_sq, int norm_sq_off,
	GLOBAL int* status, int status_off)
{
	const float s = clip_factor(norm_sq, norm_sq_off, max_norm);
	for (int u = GLOBAL_ID(1); u < n; u += GLOBAL_SIZE(1)) {
		const int row = rows[rows_off + u];
		if (row < 0 || row >= table_rows) {
			status[status_off] = STATUS_ROW;
			continue;
		}
		for (int j = GLOBAL_ID(0); j < cols; j += GLOBAL_SIZE(0)) {
			adam_update(lr, beta1, beta2, eps, weight_decay, decoupled, correction1, correction2,
				param + param_off + row * param_stride + j, s * grad[grad_off + u * grad_stride + j],
				m + m_off + row * m_stride + j, v + v_off + row * v_stride + j);
		}
	}
}

/* SGD (see sgd_update) on the listed rows of a table, as adam_rows. */
KERNEL void sgd_rows(int n, int cols, int table_rows,
	float lr, float momentum, float weight_decay, int nesterov, float max_norm,
	GLOBAL float* param, int param_off, int param_stride,
	GLOBAL const float* grad, int grad_off, int grad_stride,
	GLOBAL float* vel, int vel_off, int vel_stride,
	GLOBAL const int* rows, int rows_off,
	GLOBAL const float* norm_sq, int norm_sq_off,
	GLOBAL int* status, int status_off)
{
	const float s = clip_factor(norm_sq, norm_sq_off, max_norm);
	for (int u = GLOBAL_ID(1); u < n; u += GLOBAL_SIZE(1)) {
		const int row = rows[rows_off + u];
		if (row < 0 || row >= table_rows) {
			status[status_off] = STATUS_ROW;
			continue;
		}
		for (int j = GLOBAL_ID(0); j < cols; j += GLOBAL_SIZE(0)) {
			sgd_update(lr, momentum, weight_decay, nesterov, param + param_off + row * param_stride + j,
				s * grad[grad_off + u * grad_stride + j], vel + vel_off + row * vel_stride + j);
		}
	}
}
