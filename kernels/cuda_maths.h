#line 1 "cuda_maths.h"
/*
 * Single-precision maths of the CUDA dialect, which the host dialect
 * shares so that the stand-in computes as a GPU does: clang's NVVM builtins
 * (defined on the host by prelude_host.h), no CUDA headers, no libdevice.
 * ex2.approx and lg2.approx have a relative error near 2^-22; exp and log
 * scale their argument and result by log2(e) and ln(2). The same names
 * are defined, with the same arity, in prelude_opencl.h.
 */
#define EXP(x) (__nvvm_ex2_approx_f((x) * 1.4426950408889634f))
#define LOG(x) (__nvvm_lg2_approx_f(x) * 0.6931471805599453f)
#define LOG1P(x) (mtl_log1pf(x))
/* mtl_tanhf is in common.h. */
#define TANH(x) (mtl_tanhf(x))
#define SQRT(x) (__nvvm_sqrt_rn_f(x))
#define FMAX(x, y) (__builtin_fmaxf((x), (y)))
#define FMIN(x, y) (__builtin_fminf((x), (y)))
#define FABS(x) (__builtin_fabsf(x))

/* log(1 + x), accurate for small x: the rounding of 1 + x is undone by
 * the factor x / (u - 1). */
DEVICE float mtl_log1pf(float x)
{
	float u = 1.0f + x;
	if (u == 1.0f) {
		return x;
	}
	return LOG(u) * (x / (u - 1.0f));
}
