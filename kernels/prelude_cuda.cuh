#line 1 "prelude_cuda.cuh"
/*
 * CUDA C++ dialect of the neutral kernel macros, for clang without the CUDA
 * headers or libdevice: the special registers are clang's NVVM builtins.
 * With cuda_maths.h, it defines the names of prelude_opencl.h, with the
 * same arity.
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

/* The maths macros are in cuda_maths.h, which the host dialect shares. */
