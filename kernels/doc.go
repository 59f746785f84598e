// Package kernels holds the device kernels of mtl-gpu, written once in the
// common subset of OpenCL C 1.2 and CUDA C++.
//
// Each kernel source (*.h) uses only neutral macros: KERNEL, GLOBAL, LOCAL,
// LOCAL_PTR and DEVICE for qualifiers; GLOBAL_ID(n), GLOBAL_SIZE(n),
// LOCAL_ID(n), LOCAL_SIZE(n), GROUP_ID(n), NUM_GROUPS(n) and BARRIER() for
// the launch geometry; EXP, LOG, LOG1P, TANH, SQRT, FMAX, FMIN and FABS for
// maths. Short preludes define them, one per dialect (prelude_opencl.h,
// prelude_cuda.cuh), after the fashion of OpenMM's common.cl and common.cu;
// the CUDA maths are in cuda_maths.h. Source joins a prelude, the tuning
// constants of this package (as #define lines) and the kernel files.
//
// A third dialect, Host, compiles the same files as C for the CPU
// (prelude_host.h, with cuda_maths.h over host versions of the NVVM
// builtins), followed by a table of entry points made from Kernels. The
// CUDA backend's tests link it into a stand-in driver that runs each thread
// of a block as a fiber, BARRIER as a switch to the next fiber, so that the
// kernels of the PTX are checked, through the backend's own launches, on
// machines without a GPU.
//
// Every kernel takes only 32-bit ints, floats and buffers, and every buffer
// is followed by an int element offset, because an OpenCL buffer cannot be
// offset on the host:
//
//	KERNEL void axpy(int n, float alpha, GLOBAL float* y, int y_off, GLOBAL const float* x, int x_off)
//
// Kernels lists each kernel with its arguments, which a test checks
// against the sources, and the work-group size it needs, if any. Element-
// wise kernels use grid-stride loops and accept any launch size;
// reductions add partial sums with one helper, tree_sum (common.h), in
// fixed trees in local memory, without atomics, so that results are
// deterministic.
//
// Indices are 32-bit ints. A host keeps every buffer under 2³¹ elements
// and every int argument, plus the largest global size of its launch,
// within int32: a grid-stride loop steps by at most one dimension's global
// size, so no index a kernel computes overflows.
//
// The CUDA dialect is compiled ahead of time into kernels.ptx by
//
//	go generate ./kernels
//
// which runs clang (no NVIDIA toolkit needed) and records a hash of the
// source in the file's header; PTX returns the embedded result, and a test
// fails when it no longer matches the source.
package kernels
