// Package cuda is the mtl-gpu backend for NVIDIA GPUs. It registers the
// "cuda:N" devices from its init function; a program that imports it
// (cmd/mtl-gpu does, with a blank import) can then open them by name or
// through "auto".
//
// The driver (libcuda.so.1) and cuBLAS are loaded at run time by the small
// binding in internal/cu, so the package builds without cgo and without
// the CUDA toolkit, and a binary that contains it still starts where there
// is no GPU: Devices then reports "no NVIDIA driver found (…)" and auto
// moves on to the next backend.
//
// # Threads and errors
//
// A Backend owns one CUDA context (the device's primary context, which
// cuBLAS shares), one non-blocking stream, one cuBLAS handle and the module
// of the shared kernels. One goroutine, locked to its OS thread, makes
// every driver call: the methods send it closures in order. Operations that
// may run asynchronously return as soon as their closure is queued; Sync,
// ReadFloat32 and ReadInt32 wait for it and for the stream, once. The first
// error of an asynchronous operation (an index outside the rows of
// GatherRows, a GEMM cuBLAS refused) is kept and returned by the next
// Sync, Read or Close, as bufio.Writer keeps a failed write for Flush; Sync
// clears it and the backend goes on working.
//
// A device fault is different. After an illegal address, a launch timeout,
// a device-side assert, an illegal instruction or a failed launch (the
// errors cuda.h calls sticky: 700, 702, 710, 714–719), every call in the
// context returns the same error and only a new process can use the GPU.
// The backend then drops queued work, Sync and every read return an error
// that wraps ErrDeviceFault and says to restart the process, and Close
// frees nothing on the device. Nothing can be read back, so a model file
// saved at the end of the last finished epoch stays as it was.
//
// # Memory
//
// Buffers hold at most 2³¹−1 elements, because the kernels index in 32
// bits; Alloc refuses more with an error, and each launch checks that its
// int arguments, plus its largest global size, fit in 32 bits (see package
// kernels). Where the driver and device support memory pools (CUDA 11.2
// and later), device memory is allocated and freed in stream order
// (cuMemAllocAsync, cuMemFreeAsync) from the device's default pool, which
// keeps freed memory for reuse. Otherwise Free only notes the memory, and
// it is freed with cuMemFree right after the next synchronisation, when the
// device no longer uses it (or when an allocation runs out of memory).
// Either way, Free and the growth of the scratch memory of reductions never
// wait for the device: a training loop waits only where it reads results.
//
// Small writes are copied into page-locked staging memory and return at
// once; the copy to the device runs in stream order. A region of staging is
// reused only after a stream synchronisation that follows the copies out of
// it. Writes larger than a quarter of the staging memory, or that no longer
// fit in it, are copied by the driver from the caller's slice, which it
// stages before returning. Reads come back through the staging memory when
// they fit in it.
//
// # cuBLAS
//
// cuBLAS is looked for as libcublas.so.13, .12, .11 and libcublas.so, or
// at the path of Options.CUBLAS. A library the driver is too old for (the
// major version in its name against cuDriverGetVersion: libcublas.so.13
// needs CUDA 13.0, a driver of branch 580) is passed over, and so is one
// whose handle cannot be created; the device's details name the library
// used and why others were not.
//
// # Matrix products
//
// Gemm and GemmStrided call cublasSgemm_v2 and cublasSgemmStridedBatched
// on the backend's stream. cuBLAS is column-major; a row-major m×n matrix
// with row stride ld is, read column by column, its n×m transpose with
// leading dimension ld. So the row-major product
//
//	C = alpha * op(A) * op(B) + beta * C
//
// is computed as the column-major product
//
//	Cᵀ = alpha * op(B)ᵀ * op(A)ᵀ + beta * Cᵀ
//
// by swapping the operands and m with n and keeping each operand's
// transpose flag. Float32 products are computed in float32 unless
// Options.TF32 lets cuBLAS use TF32 tensor cores.
//
// # Other operations
//
// Every other operation launches a kernel of package kernels from its
// committed PTX, which the driver compiles for the device when the backend
// opens. Each argument travels in its own 8-byte slot. Element-wise
// kernels use grid-stride loops over at most a few blocks per
// multiprocessor; reductions use a fixed number of work-groups derived from
// the sizes alone and add their partial sums in fixed trees, so every
// result is deterministic. Buffer offsets are added to the device pointer
// on the host, so each kernel's offset argument is 0.
//
// # Testing without a GPU
//
// The tests run the backend on a stand-in driver and cuBLAS
// (testdata/fakecuda.c, testdata/fakecublas.c), built with the machine's C
// compiler. The stand-in is linked with the host dialect of package
// kernels, the same kernel files as the PTX, and runs each block's threads
// as fibers with BARRIER as a switch between them, so the conformance
// suite and training checks exercise the backend's launches, argument
// slots, staging and GEMM operand swap on the real kernels. It also faults
// as a GPU does and counts every wait for the device.
package cuda
