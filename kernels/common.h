#line 1 "common.h"
/* Helpers shared by the kernels of both dialects. */

/*
 * tanh(x) through exp(−2|x|), with its odd Taylor series near 0 where
 * 1 − e would cancel. Both dialects use it: CUDA has no libdevice here,
 * and CPU OpenCL runtimes call a scalar library tanh several times slower
 * than their exp.
 */
DEVICE float mtl_tanhf(float x)
{
	const float ax = FABS(x);
	if (ax < 0.0625f) {
		const float x2 = x * x;
		return x * (1.0f + x2 * (-0.33333333f + x2 * (0.13333333f + x2 * -0.053968254f)));
	}
	float r = 1.0f;
	if (ax < 9.0f) {
		const float e = EXP(-2.0f * ax);
		r = (1.0f - e) / (1.0f + e);
	}
	return x < 0.0f ? -r : r;
}
