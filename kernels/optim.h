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
 * SGD with momentum μ and coupled L2 decay λ on one parameter *p with the
 * clipped gradient g:
 *
 *	g ← g + λ·p
 *	v ← μ·v + g;  g ← g + μ·v (Nesterov) or g ← v   (only when μ ≠ 0)
 *	p ← p − η·g
 *
 * vel is not touched when momentum is 0.
 */
DEVICE void sgd_update(float lr, float momentum, float weight_decay, int nesterov,
	GLOBAL float* param, float g, GLOBAL float* vel)
{
	const float p = *param;
	g += weight_decay * p;
	if (momentum != 0.0f) {
		const float v = momentum * *vel + g;
		*vel = v;
		if (nesterov) {
			g += momentum * v;
		} else {
			g = v;
		}
	}
	*param = p - lr * g;
}

/* SGD on n parameters (see sgd_update), the gradient scaled by the clip factor. */
KERNEL void sgd_step(int n, float lr, float momentum, float weight_decay, int nesterov, float max_norm,
	GLOBAL float* param, int param_off,
	GLOBAL const float* grad, int grad_off,
	GLOBAL float* vel, int vel_off,
	GLOBAL const float* norm_sq, int norm_sq_off)
{
	const float s = clip_factor(norm_sq, norm_sq_off, max_norm);
	for (int i = GLOBAL_ID(0); i < n; i += GLOBAL_SIZE(0)) {
		sgd_update(lr, momentum, weight_decay, nesterov, param + param_off + i, s * grad[grad_off + i], vel + vel_off + i);
	}
}

/*
 * Adam, or AdamW when decoupled is non-zero, on one parameter *param with
 * the clipped gradient g, and the bias corrections correction1 =
 * 1/(1−β₁ᵗ) and correction2 = 1/(1−β₂ᵗ) computed by the host:
 *
 *	g ← g (+ λ·p unless decoupled);  p ← p − η·λ·p (when decoupled)
 *	m ← β₁·m + (1−β₁)·g
 *	v ← β₂·v + (1−β₂)·g²
 *	p ← p − η·(m·correction1) / (sqrt(v·correction2) + ε)
 */
DEVICE void adam_update(float lr, float beta1, float beta2, float eps, float weight_decay, int decoupled,
	float correction1, float correction2, GLOBAL float* param, float g, GLOBAL float* m, GLOBAL float* v)
{
	float p = *param;
	if (decoupled) {
		p -= lr * weight_decay * p;
	} else {
		g += weight_decay * p;
	}
	const float mi = beta1 * *m + (1.0f - beta1) * g;
	const float vi = beta2 * *v + (1.0f - beta2) * g * g;
	*m = mi;
	*v = vi;
	*param = p - lr * (mi * correction1) / (SQRT(vi * correction2) + eps);
}

/* Adam on n parameters (see adam_update), the gradient scaled by the clip factor. */
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
		adam_update(lr, beta1, beta2, eps, weight_decay, decoupled, correction1, correction2,
			param + param_off + i, s * grad[grad_off + i], m + m_off + i, v + v_off + i);
	}
}
