#line 1 "reduce.h"
/*
 * Reductions. Each work-item first sums a fixed, strided subset of the
 * elements in order, then the work-group adds the partial sums with
 * tree_sum (common.h), and a second kernel adds the groups' sums. The
 * grouping depends only on the launch geometry, which the host derives from
 * the sizes alone, so the results are deterministic; no kernel uses
 * atomics.
 */

/*
 * Column sums in two passes. First, work-group (g, b) sums rows
 * [b·COLSUM_ROWS, (b+1)·COLSUM_ROWS) of the COLSUM_LOCAL_X columns from
 * g·COLSUM_LOCAL_X of the rows×cols matrix m, each column over
 * COLSUM_LOCAL_Y row lanes and a tree_sum, into partial[partial_off + b·cols + j].
 *
 * Launch: local size (COLSUM_LOCAL_X, COLSUM_LOCAL_Y), global size
 * (⌈cols/COLSUM_LOCAL_X⌉·COLSUM_LOCAL_X, ⌈rows/COLSUM_ROWS⌉·COLSUM_LOCAL_Y).
 */
KERNEL void col_sum_blocks(int rows, int cols,
	GLOBAL float* partial, int partial_off,
	GLOBAL const float* m, int m_off, int m_stride)
{
	LOCAL float part[COLSUM_LOCAL_Y * COLSUM_LOCAL_X];
	const int lx = LOCAL_ID(0);
	const int ly = LOCAL_ID(1);
	const int j = GROUP_ID(0) * COLSUM_LOCAL_X + lx;
	const int block = GROUP_ID(1);
	const int end = (block + 1) * COLSUM_ROWS < rows ? (block + 1) * COLSUM_ROWS : rows;
	float s = 0.0f;
	if (j < cols) {
		for (int r = block * COLSUM_ROWS + ly; r < end; r += COLSUM_LOCAL_Y) {
			s += m[m_off + r * m_stride + j];
		}
	}
	/* One tree per column lx, over the row lanes ly. */
	s = tree_sum(part + lx, ly, COLSUM_LOCAL_Y, COLSUM_LOCAL_X, s);
	if (ly == 0 && j < cols) {
		partial[partial_off + block * cols + j] = s;
	}
}

/*
 * Second pass: dst[j] = alpha·Σ_b partial[partial_off + b·cols + j] +
 * beta·dst[j], adding the blocks in order; dst is not read when beta is 0.
 *
 * Launch: any size, columns in dimension 0 (grid-stride).
 */
KERNEL void col_sum(int blocks, int cols, float alpha, float beta,
	GLOBAL float* dst, int dst_off,
	GLOBAL const float* partial, int partial_off)
{
	for (int j = GLOBAL_ID(0); j < cols; j += GLOBAL_SIZE(0)) {
		float s = 0.0f;
		for (int b = 0; b < blocks; b++) {
			s += partial[partial_off + b * cols + j];
		}
		float r = alpha * s;
		if (beta != 0.0f) {
			r += beta * dst[dst_off + j];
		}
		dst[dst_off + j] = r;
	}
}

/*
 * First pass of Σ x_i²: work-group g writes the sum of its work-items'
 * shares to partial[partial_off + g].
 *
 * Launch: local size REDUCE_LOCAL, any number of groups up to
 * REDUCE_GROUPS.
 */
KERNEL void sum_squares(int n, GLOBAL float* partial, int partial_off, GLOBAL const float* x, int x_off)
{
	LOCAL float part[REDUCE_LOCAL];
	const int lid = LOCAL_ID(0);
	float s = 0.0f;
	for (int i = GLOBAL_ID(0); i < n; i += GLOBAL_SIZE(0)) {
		const float v = x[x_off + i];
		s += v * v;
	}
	s = tree_sum(part, lid, REDUCE_LOCAL, 1, s);
	if (lid == 0) {
		partial[partial_off + GROUP_ID(0)] = s;
	}
}

/*
 * Second pass: dst[dst_off] = Σ partial[partial_off + i] for i < n.
 *
 * Launch: one work-group of REDUCE_LOCAL work-items.
 */
KERNEL void sum_partials(int n, GLOBAL float* dst, int dst_off, GLOBAL const float* partial, int partial_off)
{
	LOCAL float part[REDUCE_LOCAL];
	const int lid = LOCAL_ID(0);
	float s = 0.0f;
	for (int i = lid; i < n; i += REDUCE_LOCAL) {
		s += partial[partial_off + i];
	}
	s = tree_sum(part, lid, REDUCE_LOCAL, 1, s);
	if (lid == 0) {
		dst[dst_off] = s;
	}
}
