#line 1 "prelude_cuda.cuh"
/*
 * CUDA C++ dialect of the neutral kernel macros, for clang without the CUDA
 * headers or libdevice: the special registers and the approximate
 * exponential and logarithm are clang's NVVM builtins. The same names are
 * defined, with the same arity, in prelude_opencl.h.
 */

/* Qualifiers. Kernels are extern "C" so that their PTX names are unmangled. */
#define KERNEL extern "C" __attribute__((global))
#define GLOBAL
#define LOCAL __attribute__((shared))
#define LOCAL_PTR
#define DEVICE static __attribute__((device)) inline

/* Work-item geometry, as int. */
#define LOCAL_ID(n) ((int)((n) == 0 ? __nvvm_read_ptx_sreg_tid_x() : (n) == 1 ? __nvvm_read_ptx_sreg_tid_y() : __nvvm_read_ptx_sreg_tid_z()))
#define LOCAL_SIZE(n) ((int)((n) == 0 ? __nvvm_read_ptx_sreg_ntid_x() : (n) == 1 ? __nvvm_read_ptx_sreg_ntid_y() : __nvvm_read_ptx_sreg_ntid_z()))
#define GROUP_ID(n) ((int)((n) == 0 ? __nvvm_read_ptx_sreg_ctaid_x() : (n) == 1 ? __nvvm_read_ptx_sreg_ctaid_y() : __nvvm_read_ptx_sreg_ctaid_z()))
#define NUM_GROUPS(n) ((int)((n) == 0 ? __nvvm_read_ptx_sreg_nctaid_x() : (n) == 1 ? __nvvm_read_ptx_sreg_nctaid_y() : __nvvm_read_ptx_sreg_nctaid_z()))
#define GLOBAL_ID(n) (GROUP_ID(n) * LOCAL_SIZE(n) + LOCAL_ID(n))
#define GLOBAL_SIZE(n) (NUM_GROUPS(n) * LOCAL_SIZE(n))
#define BARRIER() (__syncthreads())

/*
 * Single-precision maths. ex2.approx and lg2.approx have a relative error
 * near 2^-22; exp and log scale their argument and result by log2(e) and
 * ln(2).
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
