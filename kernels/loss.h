#line 1 "loss.h"
/*
 * The fused multi-task loss. Work-group t evaluates task t of the table
 * (LOSS_TASK_INTS ints per task: kind, col, classes, dev_col, groups,
 * label_col, mask_col, group_col; LOSS_TASK_FLOATS floats per task:
 * pos_weight for sigmoid tasks, smoothing ε for softmax and sigmoid tasks)
 * over all rows, in two passes:
 *
 *	n_t = Σ_i mask_i                          (count pass)
 *	grad[i, ·] = weights[t]/n_t · mask_i · ∂ℓ_t,i/∂z   (gradient pass)
 *	sums[2t] = Σ_i mask_i·ℓ_t,i,  sums[2t+1] = Σ_i mask_i
 *
 * where the gradient pass counts only rows with a valid label. With label
 * smoothing a softmax row of class c has the target q_j = (1−ε)·[j = c] +
 * ε/C, so ℓ = log Σ_j e^(z_j) − Σ_j q_j·z_j and ∂ℓ/∂z_j = p_j − q_j; a
 * sigmoid row's label y becomes y·(1−ε) + ε/2. A family
 * row of group g reads and writes both the task's shared logits and the
 * group's deviation logits; a group outside [0, groups) uses the shared
 * logits alone. Columns of grad that belong to no task must be zeroed
 * beforehand (fill); tasks must not share logit columns.
 *
 * Launch: local size LOSS_LOCAL, one work-group per task.
 */

/* log(1 + eˣ) without overflow. */
DEVICE float softplus(float x)
{
	return FMAX(x, 0.0f) + LOG1P(EXP(-FABS(x)));
}

DEVICE float sigmoid(float x)
{
	if (x >= 0.0f) {
		return 1.0f / (1.0f + EXP(-x));
	}
	const float e = EXP(x);
	return e / (1.0f + e);
}

KERNEL void loss_grad(int rows,
	GLOBAL const float* z, int z_off, int z_stride,
	GLOBAL const float* y, int y_off, int y_stride,
	GLOBAL const int* tasks, int tasks_off,
	GLOBAL const float* task_floats, int task_floats_off,
	GLOBAL const float* weights, int weights_off,
	GLOBAL float* grad, int grad_off, int grad_stride,
	GLOBAL float* sums, int sums_off)
{
	LOCAL float part[LOSS_LOCAL];
	const int t = GROUP_ID(0);
	const int lid = LOCAL_ID(0);
	GLOBAL const int* task = tasks + tasks_off + t * LOSS_TASK_INTS;
	const int kind = task[0];
	const int col = task[1];
	const int classes = task[2];
	const int dev_col = task[3];
	const int groups = task[4];
	const int label_col = task[5];
	const int mask_col = task[6];
	const int group_col = task[7];
	const float pw = task_floats[task_floats_off + t * LOSS_TASK_FLOATS];
	const float eps = task_floats[task_floats_off + t * LOSS_TASK_FLOATS + 1];

	float count = 0.0f;
	for (int i = lid; i < rows; i += LOSS_LOCAL) {
		count += y[y_off + i * y_stride + mask_col];
	}
	count = tree_sum(part, lid, LOSS_LOCAL, 1, count);
	const float scale = count > 0.0f ? weights[weights_off + t] / count : 0.0f;

	float loss_sum = 0.0f;
	float mask_sum = 0.0f;
	for (int i = lid; i < rows; i += LOSS_LOCAL) {
		GLOBAL const float* yi = y + y_off + i * y_stride;
		const float mask = yi[mask_col];
		if (mask == 0.0f) {
			continue;
		}
		GLOBAL const float* zi = z + z_off + i * z_stride;
		GLOBAL float* gi = grad + grad_off + i * grad_stride;
		int dev = -1;
		if (groups > 0) {
			const int g = (int)yi[group_col];
			if (g >= 0 && g < groups) {
				dev = dev_col + g * classes;
			}
		}
		const float label = yi[label_col];
		const float s = scale * mask;
		float loss;
		if (kind == LOSS_SOFTMAX) {
			if (!(label >= 0.0f) || label >= (float)classes) {
				continue;
			}
			const int c = (int)label;
			float zmax = zi[col] + (dev >= 0 ? zi[dev] : 0.0f);
			for (int j = 1; j < classes; j++) {
				zmax = FMAX(zmax, zi[col + j] + (dev >= 0 ? zi[dev + j] : 0.0f));
			}
			float total = 0.0f;
			for (int j = 0; j < classes; j++) {
				total += EXP(zi[col + j] + (dev >= 0 ? zi[dev + j] : 0.0f) - zmax);
			}
			const float uniform = eps / (float)classes;
			float spread = 0.0f; /* Σ_j (z_j − zmax), for the smoothed target */
			for (int j = 0; j < classes; j++) {
				const float zj = zi[col + j] + (dev >= 0 ? zi[dev + j] : 0.0f) - zmax;
				float p = EXP(zj) / total;
				if (eps > 0.0f) {
					p -= uniform;
					spread += zj;
				}
				if (j == c) {
					p -= 1.0f - eps;
				}
				gi[col + j] = s * p;
				if (dev >= 0) {
					gi[dev + j] = s * p;
				}
			}
			const float zc = zi[col + c] + (dev >= 0 ? zi[dev + c] : 0.0f);
			loss = LOG(total) - (zc - zmax);
			if (eps > 0.0f) {
				loss = LOG(total) - (1.0f - eps) * (zc - zmax) - uniform * spread;
			}
		} else {
			const float x = zi[col] + (dev >= 0 ? zi[dev] : 0.0f);
			float d;
			if (kind == LOSS_SIGMOID) {
				const float y = eps > 0.0f ? label * (1.0f - eps) + 0.5f * eps : label;
				loss = pw * y * softplus(-x) + (1.0f - y) * softplus(x);
				d = (pw * y + 1.0f - y) * sigmoid(x) - pw * y;
			} else {
				const float diff = x - label;
				loss = diff * diff;
				d = 2.0f * diff;
			}
			gi[col] = s * d;
			if (dev >= 0) {
				gi[dev] = s * d;
			}
		}
		loss_sum += mask * loss;
		mask_sum += mask;
	}
	loss_sum = tree_sum(part, lid, LOSS_LOCAL, 1, loss_sum);
	mask_sum = tree_sum(part, lid, LOSS_LOCAL, 1, mask_sum);
	if (lid == 0) {
		sums[sums_off + 2 * t] = loss_sum;
		sums[sums_off + 2 * t + 1] = mask_sum;
	}
}
