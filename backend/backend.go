package backend

import (
	"fmt"
	"math"
)

// DType is the element type of a Buffer.
type DType uint8

const (
	// Float32 buffers hold IEEE-754 single-precision values.
	Float32 DType = iota
	// Int32 buffers hold signed 32-bit integers (row indices, task tables).
	Int32
)

// String returns "float32" or "int32".
func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Int32:
		return "int32"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Size is the number of bytes of one element.
func (d DType) Size() int { return 4 }

// Buffer is an array of elements in a backend's memory. Only the backend
// that allocated a buffer may use it.
type Buffer interface {
	// Len is the number of elements.
	Len() int
	// DType is the element type.
	DType() DType
}

// Mat is a row-major matrix view into a buffer: element (i, j) is at
// Off + i*Stride + j.
type Mat struct {
	Buf        Buffer
	Off        int
	Rows, Cols int
	Stride     int
}

// Dense returns the rows×cols matrix that starts at element off of buf and
// whose rows are contiguous.
func Dense(buf Buffer, off, rows, cols int) Mat {
	return Mat{Buf: buf, Off: off, Rows: rows, Cols: cols, Stride: cols}
}

// Slice returns the view of rows [r0, r1) and columns [c0, c1) of m.
func (m Mat) Slice(r0, r1, c0, c1 int) Mat {
	if r0 < 0 || r1 < r0 || r1 > m.Rows || c0 < 0 || c1 < c0 || c1 > m.Cols {
		panic(fmt.Sprintf("backend: Mat.Slice [%d:%d, %d:%d] out of range for %d×%d", r0, r1, c0, c1, m.Rows, m.Cols))
	}
	return Mat{Buf: m.Buf, Off: m.Off + r0*m.Stride + c0, Rows: r1 - r0, Cols: c1 - c0, Stride: m.Stride}
}

// Rowsn returns the first n rows of m.
func (m Mat) Rowsn(n int) Mat { return m.Slice(0, n, 0, m.Cols) }

// Span is the number of buffer elements from the first to one past the last
// element of m, or 0 for an empty matrix.
func (m Mat) Span() int {
	if m.Rows == 0 || m.Cols == 0 {
		return 0
	}
	return (m.Rows-1)*m.Stride + m.Cols
}

// valid reports whether m is a valid view of a dt buffer.
func (m Mat) valid(dt DType) bool {
	return m.Buf != nil && m.Buf.DType() == dt && m.Rows >= 0 && m.Cols >= 0 && m.Off >= 0 &&
		(m.Rows <= 1 || m.Stride >= m.Cols) && m.Off+m.Span() <= m.Buf.Len()
}

// checkPart is Check for the operand part of op, building the message only
// when it panics.
func (m Mat) checkPart(op, part string, dt DType) {
	if !m.valid(dt) {
		m.Check(op+" "+part, dt)
	}
}

// Check panics with a message naming op when m is not a valid view.
func (m Mat) Check(op string, dt DType) {
	if m.Buf == nil {
		panic(fmt.Sprintf("backend: %s: nil buffer", op))
	}
	if m.Buf.DType() != dt {
		panic(fmt.Sprintf("backend: %s: %s buffer where %s is needed", op, m.Buf.DType(), dt))
	}
	if m.Rows < 0 || m.Cols < 0 || m.Off < 0 || (m.Rows > 1 && m.Stride < m.Cols) {
		panic(fmt.Sprintf("backend: %s: invalid view %d×%d offset %d stride %d", op, m.Rows, m.Cols, m.Off, m.Stride))
	}
	if m.Off+m.Span() > m.Buf.Len() {
		panic(fmt.Sprintf("backend: %s: view %d×%d at offset %d stride %d exceeds buffer of %d", op, m.Rows, m.Cols, m.Off, m.Stride, m.Buf.Len()))
	}
}

// Vec is a contiguous range of a buffer.
type Vec struct {
	Buf Buffer
	Off int
	Len int
}

// Whole returns the vector of all of buf's elements.
func Whole(buf Buffer) Vec { return Vec{Buf: buf, Len: buf.Len()} }

// Slice returns elements [i, j) of v.
func (v Vec) Slice(i, j int) Vec {
	if i < 0 || j < i || j > v.Len {
		panic(fmt.Sprintf("backend: Vec.Slice [%d:%d] out of range for length %d", i, j, v.Len))
	}
	return Vec{Buf: v.Buf, Off: v.Off + i, Len: j - i}
}

// AsMat views v as a rows×cols matrix; rows*cols must equal v.Len.
func (v Vec) AsMat(rows, cols int) Mat {
	if rows*cols != v.Len {
		panic(fmt.Sprintf("backend: Vec.AsMat %d×%d of vector of length %d", rows, cols, v.Len))
	}
	return Dense(v.Buf, v.Off, rows, cols)
}

// checkPart is Check for the operand part of op, building the message only
// when it panics.
func (v Vec) checkPart(op, part string, dt DType) {
	if v.Buf == nil || v.Buf.DType() != dt || v.Off < 0 || v.Len < 0 || v.Off+v.Len > v.Buf.Len() {
		v.Check(op+" "+part, dt)
	}
}

// Check panics with a message naming op when v is not a valid range.
func (v Vec) Check(op string, dt DType) {
	if v.Buf == nil {
		panic(fmt.Sprintf("backend: %s: nil buffer", op))
	}
	if v.Buf.DType() != dt {
		panic(fmt.Sprintf("backend: %s: %s buffer where %s is needed", op, v.Buf.DType(), dt))
	}
	if v.Off < 0 || v.Len < 0 || v.Off+v.Len > v.Buf.Len() {
		panic(fmt.Sprintf("backend: %s: range [%d, %d) exceeds buffer of %d", op, v.Off, v.Off+v.Len, v.Buf.Len()))
	}
}

// Activation is the nonlinearity φ of a shared layer.
type Activation int32

const (
	// Identity is φ(x) = x.
	Identity Activation = iota
	// ReLU is φ(x) = max(x, 0).
	ReLU
	// Tanh is φ(x) = tanh(x).
	Tanh
)

var activationNames = [...]string{"identity", "relu", "tanh"}

// String returns the activation's name as used on the command line.
func (a Activation) String() string {
	if a >= 0 && int(a) < len(activationNames) {
		return activationNames[a]
	}
	return fmt.Sprintf("Activation(%d)", int32(a))
}

// ParseActivation returns the activation named s ("identity", "linear",
// "relu" or "tanh").
func ParseActivation(s string) (Activation, error) {
	if s == "linear" {
		return Identity, nil
	}
	for i, n := range activationNames {
		if n == s {
			return Activation(i), nil
		}
	}
	return 0, fmt.Errorf("unknown activation %q (want identity, relu or tanh)", s)
}

// Clip asks an optimiser step to scale the gradient by min(1, MaxNorm/‖g‖),
// where ‖g‖² is the single element NormSq, computed on the device by
// SumSquares. A zero MaxNorm disables clipping.
type Clip struct {
	NormSq  Vec
	MaxNorm float32
}

// SGD holds the hyper-parameters of one step of stochastic gradient descent
// with momentum μ, learning rate η and classic (coupled) L2 decay λ:
//
//	g ← clip·g + λ·p
//	v ← μ·v + g
//	p ← p − η·(g + μ·v)   (Nesterov)
//	p ← p − η·v           (otherwise)
type SGD struct {
	LR, Momentum, WeightDecay float32
	Nesterov                  bool
}

// Adam holds the hyper-parameters of one Adam step. Step counts from 1 and
// gives the bias corrections. With Decoupled the decay is AdamW's
// p ← p − η·λ·p; otherwise λ·p is added to the gradient (classic L2).
//
//	m ← β₁·m + (1−β₁)·g
//	v ← β₂·v + (1−β₂)·g²
//	p ← p − η·(m/(1−β₁ᵗ)) / (sqrt(v/(1−β₂ᵗ)) + ε)
type Adam struct {
	LR, Beta1, Beta2, Eps, WeightDecay float32
	Decoupled                          bool
	Step                               int
}

// Corrections returns the bias corrections 1/(1−β₁ᵗ) and 1/(1−β₂ᵗ) of the
// step, computed in float64; every backend passes them to its step so that
// all compute them alike.
func (hp Adam) Corrections() (float32, float32) {
	t := float64(max(hp.Step, 1))
	return float32(1 / (1 - math.Pow(float64(hp.Beta1), t))), float32(1 / (1 - math.Pow(float64(hp.Beta2), t)))
}

// DeviceInfo describes a device for listings.
type DeviceInfo struct {
	// Device is the canonical device string, e.g. "cuda:0".
	Device Device
	// Name is the device's own name ("NVIDIA H200", "pthread-…").
	Name string
	// Memory is the device memory in bytes, or 0 when unknown.
	Memory int64
	// Detail is a short free-form description (compute capability, BLAS,
	// threads, OpenCL version).
	Detail string
	// CPU is true for devices that run on the host's cores (the CPU backend,
	// OpenCL CPU devices such as PoCL).
	CPU bool
}

// Backend is a device that runs the training step. All methods except
// Sync, Read* and Close may run asynchronously; their errors are sticky:
// the first one is returned by every Read* until Sync returns it and
// clears it (Close returns it too). A Backend is not safe for concurrent
// use.
type Backend interface {
	// Info describes the device.
	Info() DeviceInfo
	// Close releases every resource of the backend; buffers become invalid.
	Close() error

	// Alloc returns a zeroed buffer of n elements.
	Alloc(dt DType, n int) (Buffer, error)
	// Upload returns a float32 buffer holding src. A backend that computes
	// in host memory may keep src itself as the buffer's storage, so the
	// caller must not modify src while the buffer is in use.
	Upload(src []float32) (Buffer, error)
	// Free releases a buffer. Freeing nil is a no-op.
	Free(b Buffer)
	// WriteFloat32 copies src into dst starting at element off. src may be
	// reused as soon as the call returns.
	WriteFloat32(dst Buffer, off int, src []float32)
	// WriteInt32 copies src into dst starting at element off. src may be
	// reused as soon as the call returns.
	WriteInt32(dst Buffer, off int, src []int32)
	// ReadFloat32 waits for all enqueued work and copies len(dst) elements
	// of src, starting at element off, into dst.
	ReadFloat32(dst []float32, src Buffer, off int) error
	// ReadInt32 is ReadFloat32 for int32 buffers.
	ReadInt32(dst []int32, src Buffer, off int) error
	// Sync waits for all enqueued work and returns the first error of any
	// operation since the last Sync.
	Sync() error

	// Gemm computes c = alpha·op(a)·op(b) + beta·c, with op(x) = xᵀ when
	// the transpose flag is set. When beta is 0, c is not read.
	Gemm(transA, transB bool, alpha float32, a, b Mat, beta float32, c Mat)
	// GemmStrided runs batch GEMMs; the i-th uses a, b and c moved by
	// i·strideA, i·strideB and i·strideC elements. A stride of 0 shares
	// the operand across the batch.
	GemmStrided(transA, transB bool, alpha float32, a Mat, strideA int, b Mat, strideB int, beta float32, c Mat, strideC int, batch int)
	// GatherRows sets row i of dst to row idx[idxOff+i] of src, for
	// i < dst.Rows; idx is an Int32 buffer. An index outside src is a
	// programming error: backends that can see it at once panic, device
	// backends leave the row unchanged and report it at the next Sync.
	GatherRows(dst, src Mat, idx Buffer, idxOff int)
	// BiasAct sets m[i,j] = φ(m[i,j] + bias[j]) in place. An empty bias
	// (Len 0) adds nothing.
	BiasAct(m Mat, bias Vec, act Activation)
	// ActGrad multiplies grad element-wise by φ'(·) evaluated through the
	// layer's output out = φ(pre-activation).
	ActGrad(grad, out Mat, act Activation)
	// Dropout sets dst = src ⊙ mask / q, the mask of key at rate p (see
	// dropout.go): element (i, j) is kept, and scaled by 1/q, when
	// DropoutKeep(key, (row0+i)·Cols + j, p), and set to 0 otherwise. The
	// same key gives the same mask on every backend. row0 places the
	// operand's rows in a taller one whose mask it takes: a process of a
	// data-parallel run passes its rows' place in the global batch. dst
	// may be src itself (in place); otherwise the two must not overlap.
	// Applied to a gradient with the key of the forward pass, it is its own
	// backward pass.
	Dropout(dst, src Mat, key uint64, row0 int, p float32)
	// ColSum sets dst[j] = alpha·Σ_i m[i,j] + beta·dst[j]; dst.Len must be
	// m.Cols. When beta is 0, dst is not read.
	ColSum(dst Vec, m Mat, alpha, beta float32)
	// LossGrad evaluates every task of table on the rows of logits and
	// labels. It writes the gradient of Σ_t weights[t]·L_t with respect to
	// the logits into grad (same shape as logits; columns that no task
	// reads are set to zero) and, for each task t, sums[2t] = Σ_i ℓ_t,i and
	// sums[2t+1] = n_t over the rows labelled for t. A task's Smoothing
	// applies to both (see LossTask).
	LossGrad(logits, labels Mat, table LossTable, weights Vec, grad Mat, sums Vec)
	// Axpy sets y = alpha·x + y.
	Axpy(y Vec, alpha float32, x Vec)
	// Scale sets x = alpha·x.
	Scale(x Vec, alpha float32)
	// Fill sets every element of x to v.
	Fill(x Vec, v float32)
	// Copy sets dst = src; the ranges must have equal length and must not
	// overlap.
	Copy(dst, src Vec)
	// SumSquares sets dst[0] = Σ x_i². The sum is deterministic.
	SumSquares(dst Vec, x Vec)
	// SGDStep applies one SGD step to param with gradient grad and
	// velocity vel.
	SGDStep(hp SGD, param, grad, vel Vec, clip Clip)
	// AdamStep applies one Adam step to param with gradient grad and
	// moments m and v.
	AdamStep(hp Adam, param, grad, m, v Vec, clip Clip)

	// Mix computes the gated mixtures of t (see MixTable) for every row:
	// dst[i, q·W + j] = Σ_{s ∈ group q} gates[i, s]·experts[i, e(s)·W + j].
	Mix(dst, gates, experts Mat, t MixTable)
	// MixGrad sets the gradients of Mix's inputs from the gradient dDst of
	// its output: dGates[i, s] = Σ_j dDst[i, q(s)·W + j]·experts[i, e(s)·W + j]
	// and dExperts[i, e·W + j] = Σ_{s: e(s) = e} gates[i, s]·dDst[i, q(s)·W + j],
	// each sum taken in increasing order of j or s.
	MixGrad(dGates, dExperts, dDst, gates, experts Mat, t MixTable)
	// SoftmaxGroups replaces, in every row of m, the slots of each group of
	// t by their softmax.
	SoftmaxGroups(m Mat, t MixTable)
	// SoftmaxGroupsGrad turns the gradient with respect to the softmax
	// outputs probs into the gradient with respect to its inputs, in place:
	// grad[i, s] = probs[i, s]·(grad[i, s] − Σ_{s' in s's group} probs[i, s']·grad[i, s']).
	SoftmaxGroupsGrad(grad, probs Mat, t MixTable)
	// SegmentSum sets row u of dst, for u < dst.Rows, to the sum of the
	// rows pos[posOff + k] of src for k from starts[startsOff + u] to
	// starts[startsOff + u + 1] − 1, added in that order (see sparse.go).
	SegmentSum(dst, src Mat, starts Buffer, startsOff int, pos Buffer, posOff int)
	// AdamRows applies one Adam step to the rows rows[rowsOff + u] of param
	// and of its moments m and v, u < grad.Rows, with gradient row u of
	// grad; other rows are left as they are (lazy Adam: the moments of a
	// row move only when the row is used, and the bias corrections follow
	// hp.Step). Clipping scales grad as AdamStep does.
	AdamRows(hp Adam, param, grad, m, v Mat, rows Buffer, rowsOff int, clip Clip)
	// SGDRows is AdamRows for SGD with velocity vel.
	SGDRows(hp SGD, param, grad, vel Mat, rows Buffer, rowsOff int, clip Clip)
}
