#line 1 "optim.h"
/*
 * Optimiser steps, element-wise over n parameters with a grid-stride loop.
 * Both scale the gradient by the clip factor min(1, max_norm/‖g‖), read
 * from the squared norm norm_sq[norm_sq_off] that sum_squares left on the
 * device; a max_norm of 0 disables clipping and norm_sq is not read.
 */

DEVICE float clip_factor(GLOBAL const float* norm_sq, int norm_sq_off, float max_norm)
{
	if (max_norm == 0.0f) {
		return 1.0f;
	}
	const float norm = SQRT(norm_sq[norm_sq_off]);
	return norm > max_norm ? max_norm / norm : 1.0f;
}

/*
 * SGD with momentum μ and coupled L2 decay λ:
 *
 *	g ← clip·g + λ·p
 *	v ← μ·v + g;  g ← g + μ·v (Nesterov) or g ← v   (only when μ ≠ 0)
 *	p ← p − η·g
 *
 * vel is not touched when momentum is 0.
 */
KERNEL void sgd_step(int n, float lr, float momentum, float weight_decay, int nesterov, float max_norm,
	GLOBAL float* param, int param_off,
	GLOBAL const float* grad, int grad_off,
	GLOBAL float* vel, int vel_off,
	GLOBAL const float* norm_sq, int norm_sq_off)
{
	const float s = clip_factor(norm_sq, norm_sq_off, max_norm);
	for (int i = GLOBAL_ID(0); i < n; i += GLOBAL_SIZE(0)) {
		const float p = param[param_off + i];
		float g = s * grad[grad_off + i] + weight_decay * p;
		if (momentum != 0.0f) {
			const float v = momentum * vel[vel_off + i] + g;
			vel[vel_off + i] = v;
			if (nesterov) {
				g += momentum * v;
			} else {
				g = v;
			}
		}
		param[param_off + i] = p - lr * g;
	}
}

/*
 * Adam, or AdamW when decoupled is non-zero, with the bias corrections
 * correction1 = 1/(1−β₁ᵗ) and correction2 = 1/(1−β₂ᵗ) computed by the host:
 *
 *	g ← clip·g (+ λ·p unless decoupled);  p ← p − η·λ·p (when decoupled)
 *	m ← β₁·m + (1−β₁)·g
 *	v ← β₂·v + (1−β₂)·g²
 *	p ← p − η·(m·correction1) / (sqrt(v·correction2) + ε)
 */
KERNEL void adam_step(int n, float lr, float beta1, float beta2, float eps, float weight_decay, int decoupled,
	float correction1, float correction2, float max_norm,
	GLOBAL float* param, int param_off,
	GLOBAL const float* grad, int grad_off,
	GLOBAL float* m, int m_off,
	GLOBAL float* v, int v_off,
	GLOBAL const float* norm_sq, int norm_sq_off)
{
	const float s = clip_factor(norm_sq, norm_sq_off, max_norm);
	for (int i = GLOBAL_ID(0); i < n; i += GLOBAL_SIZE(0)) {
		float p = param[param_off + i];
		float g = s * grad[grad_off + i];
		if (decoupled) {
			p -= lr * weight_decay * p;
		} else {
			g += weight_decay * p;
		}
		const float mi = beta1 * m[m_off + i] + (1.0f - beta1) * g;
		const float vi = beta2 * v[v_off + i] + (1.0f - beta2) * g * g;
		m[m_off + i] = mi;
		v[v_off + i] = vi;
		param[param_off + i] = p - lr * (mi * correction1) / (SQRT(vi * correction2) + eps);
	}
}
