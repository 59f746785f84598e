// Package backend defines the small set of device operations the mtl-gpu
// trainer needs, the device strings that name a device ("auto", "cpu",
// "cuda:0", "opencl:0:1"), and the registry through which backend packages
// offer their devices.
//
// A Backend owns buffers of float32 or int32 elements in its own memory.
// Matrices are row-major views into buffers (Mat), vectors are contiguous
// ranges (Vec). Operations are enqueued in order and may run asynchronously;
// a device error is sticky and is returned by the next Sync or Read, much as
// bufio.Writer reports a failed write at Flush. Misuse of shapes (a view that
// does not fit its buffer, mismatched dimensions) is a programming error and
// panics with a message that names the operation.
//
// The general matrix multiply follows blas32 semantics on row-major data:
//
//	C = alpha * op(A) * op(B) + beta * C
//
// where op(X) is X or Xᵀ. The fused loss operation reads a block of logit
// columns per task together with the label and mask columns, and writes the
// gradient of
//
//	L = Σ_t λ_t · (1/n_t) Σ_{i labelled for t} ℓ_t(z_i, y_i)
//
// with respect to the logits, where n_t is the number of rows of the batch
// that carry a label for task t, along with the per-task sums Σ ℓ and n_t.
//
// Backend packages call Register from their init function; programs choose
// one with Open and a device string. The trainer (package mtl) depends only
// on this package, never on an implementation.
package backend
