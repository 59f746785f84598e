// Package opencl runs the mtl-gpu training step on an OpenCL device: a GPU
// from any vendor, or a CPU through a runtime such as PoCL.
//
// The package registers the "opencl:P:D" devices (platform P, device D)
// from its init function. The implementation needs cgo and the OpenCL ICD
// loader and is compiled only with the build tag opencl:
//
//	go build -tags opencl ./cmd/mtl-gpu
//
// Without the tag the package still registers the device family, but
// listing or opening a device returns an error that says how to rebuild.
//
// A Backend owns one context and one in-order command queue. The kernels
// of package kernels are built once per backend, in their OpenCL dialect,
// and every operation is a kernel launch on the queue; nothing is read
// back except by ReadFloat32 and ReadInt32. Writes to buffers block until
// the data is copied. Errors of enqueued work are sticky: the first is
// kept and returned by the next Sync, Read or Close. Misuse of shapes
// panics through the backend.Check helpers, as on the CPU backend.
//
// The general matrix multiply has two kernels: gemm_tiled, which stages
// tiles of A and B in local memory for GPUs, and gemm_cpu, which keeps a
// block of C per work-item in registers so that a CPU runtime vectorises it;
// the backend picks by device type. On CPU devices a transposed B is first
// transposed into scratch memory so that gemm_cpu reads it contiguously.
package opencl
