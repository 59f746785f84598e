#line 1 "prelude_opencl.h"
/*
 * OpenCL C 1.2 dialect of the neutral kernel macros. The same names are
 * defined, with the same arity, in prelude_cuda.cuh.
 */

/* Qualifiers. */
#define KERNEL __kernel
#define GLOBAL __global
#define LOCAL __local
#define LOCAL_PTR __local
#define DEVICE static inline

/* Work-item geometry, as int. */
#define GLOBAL_ID(n) ((int)get_global_id(n))
#define GLOBAL_SIZE(n) ((int)get_global_size(n))
#define LOCAL_ID(n) ((int)get_local_id(n))
#define LOCAL_SIZE(n) ((int)get_local_size(n))
#define GROUP_ID(n) ((int)get_group_id(n))
#define NUM_GROUPS(n) ((int)get_num_groups(n))
#define BARRIER() (barrier(CLK_LOCAL_MEM_FENCE))

/* Single-precision maths. */
#define EXP(x) (exp(x))
#define LOG(x) (log(x))
#define LOG1P(x) (log1p(x))
/* mtl_tanhf is in common.h. */
#define TANH(x) (mtl_tanhf(x))
#define SQRT(x) (sqrt(x))
#define FMAX(x, y) (fmax((x), (y)))
#define FMIN(x, y) (fmin((x), (y)))
#define FABS(x) (fabs(x))
