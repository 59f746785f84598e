#line 1 "prelude_host.h"
/*
 * Host C dialect of the neutral kernel macros: the kernels compiled for the
 * CPU, so that a stand-in CUDA driver (the CUDA backend's tests) runs the
 * very kernels of the PTX, launched as the backend launches them. With
 * cuda_maths.h, it defines the names of prelude_opencl.h, with the same
 * arity.
 *
 * The stand-in runs each thread of a block as a fiber and the blocks of a
 * grid one after another, all on one OS thread. It sets mtl_host_self to
 * the geometry of the fiber it resumes; BARRIER() hands control back to it
 * until every thread of the block has reached the same barrier. LOCAL
 * arrays are static, so the threads of a block share them, and live in the
 * section mtl_local, which the stand-in fills with garbage before each
 * block, as shared memory starts undefined on a GPU.
 *
 * The maths are the CUDA dialect's (cuda_maths.h, which follows this
 * prelude), over host versions of the NVVM builtins they call.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

/* What the stand-in provides. */
struct mtl_host_thread {
	int local_id[3], local_size[3], group_id[3], num_groups[3];
};
extern const struct mtl_host_thread* mtl_host_self;
void mtl_host_barrier(const char* file, int line);

/* Qualifiers. */
#define KERNEL static
#define GLOBAL
#define LOCAL static __attribute__((section("mtl_local")))
#define LOCAL_PTR
#define DEVICE static inline

/* Work-item geometry, as int. */
#define LOCAL_ID(n) (mtl_host_self->local_id[(n)])
#define LOCAL_SIZE(n) (mtl_host_self->local_size[(n)])
#define GROUP_ID(n) (mtl_host_self->group_id[(n)])
#define NUM_GROUPS(n) (mtl_host_self->num_groups[(n)])
#define GLOBAL_ID(n) (GROUP_ID(n) * LOCAL_SIZE(n) + LOCAL_ID(n))
#define GLOBAL_SIZE(n) (NUM_GROUPS(n) * LOCAL_SIZE(n))
#define BARRIER() (mtl_host_barrier(__FILE__, __LINE__))

/* The NVVM builtins of cuda_maths.h, on the host. */
static inline float __nvvm_ex2_approx_f(float x) { return exp2f(x); }
static inline float __nvvm_lg2_approx_f(float x) { return log2f(x); }
static inline float __nvvm_sqrt_rn_f(float x) { return sqrtf(x); }
