#line 1 "common.h"
/* Helpers shared by the kernels of every dialect. */

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

/*
 * The work-group tree sum, the one way kernels add values across the
 * work-items of a group. lanes work-items (a power of two) take part, lane
 * 0 ≤ lane < lanes each bringing v; lane l uses the local float at
 * part[l·stride]. The values are added in a fixed tree,
 *
 *	part[l] += part[l + span]   for span = lanes/2, lanes/4, …, 1 and l < span
 *
 * so the sum depends only on the values and their lanes, never on timing.
 * Every lane gets the sum. Every work-item of the group must call it (it
 * waits at barriers), and part may be used again as soon as it returns:
 * several independent sums side by side (one per column, say) pass part
 * at different offsets with a stride.
 */
DEVICE float tree_sum(LOCAL_PTR float* part, int lane, int lanes, int stride, float v)
{
	part[lane * stride] = v;
	BARRIER();
	for (int span = lanes / 2; span > 0; span /= 2) {
		if (lane < span) {
			part[lane * stride] += part[(lane + span) * stride];
		}
		BARRIER();
	}
	const float s = part[0];
	BARRIER();
	return s;
}

/*
 * MurmurHash3's 32-bit finaliser, a bijection in which every input bit
 * affects every output bit; the hash of dropout masks (elementwise.h).
 */
DEVICE unsigned int mtl_fmix32(unsigned int h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}
