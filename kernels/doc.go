// Package kernels holds the device kernels of mtl-gpu, written once in the
// common subset of OpenCL C 1.2 and CUDA C++.
//
// Each kernel source (*.h) uses only neutral macros: KERNEL, GLOBAL, LOCAL,
// LOCAL_PTR and DEVICE for qualifiers; GLOBAL_ID(n), GLOBAL_SIZE(n),
// LOCAL_ID(n), LOCAL_SIZE(n), GROUP_ID(n), NUM_GROUPS(n) and BARRIER() for
// the launch geometry; EXP, LOG, LOG1P, TANH, SQRT, FMAX, FMIN and FABS for
// maths. Two short preludes define them, one per dialect
// (prelude_opencl.h, prelude_cuda.cuh), after the fashion of OpenMM's
// common.cl and common.cu. Source joins a prelude, the tuning constants of
// this package (as #define lines) and the kernel files.
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
// reductions add partial sums in fixed trees in local memory, without
// atomics, so that results are deterministic.
//
// The CUDA dialect is compiled ahead of time into kernels.ptx by
//
//	go generate ./kernels
//
// which runs clang (no NVIDIA toolkit needed) and records a hash of the
// source in the file's header; PTX returns the embedded result, and a test
// fails when it no longer matches the source.
package kernels
