package cu

// BLASNames are the names OpenBLAS tries by default, newest first.
var BLASNames = []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"}

// Handle is a cublasHandle_t.
type Handle uintptr

// Operation is a cublasOperation_t.
type Operation int32

// The operations of a GEMM operand.
const (
	OpN Operation = 0 // CUBLAS_OP_N: the operand as stored
	OpT Operation = 1 // CUBLAS_OP_T: its transpose
)

// MathMode is a cublasMath_t.
type MathMode int32

// The math modes the backend sets.
const (
	// DefaultMath computes float32 GEMMs in float32.
	DefaultMath MathMode = 0
	// TF32TensorOpMath lets float32 GEMMs round their inputs to TF32 and
	// use tensor cores.
	TF32TensorOpMath MathMode = 3
)

// pointerModeHost is CUBLAS_POINTER_MODE_HOST: alpha and beta are read
// from host memory before the call returns.
const pointerModeHost int32 = 0

// BLAS is the loaded cuBLAS library; its fields are the C functions it
// binds.
type BLAS struct {
	lib *library

	cublasCreate          func(h *Handle) Status
	cublasDestroy         func(h Handle) Status
	cublasGetVersion      func(h Handle, version *int32) Status
	cublasSetStream       func(h Handle, s Stream) Status
	cublasSetMathMode     func(h Handle, mode MathMode) Status
	cublasSetPointerMode  func(h Handle, mode int32) Status
	cublasGetStatusString func(s Status) string

	cublasSgemm func(h Handle, transa, transb Operation, m, n, k int32,
		alpha *float32, a DevicePtr, lda int32, b DevicePtr, ldb int32,
		beta *float32, c DevicePtr, ldc int32) Status
	cublasSgemmStridedBatched func(h Handle, transa, transb Operation, m, n, k int32,
		alpha *float32, a DevicePtr, lda int32, strideA int64, b DevicePtr, ldb int32, strideB int64,
		beta *float32, c DevicePtr, ldc int32, strideC int64, batch int32) Status
}

// OpenBLAS loads the first of names (BLASNames when empty) that has every
// function the binding needs. When none loads, the error is a *LoadError
// that wraps ErrNoCUBLAS.
func OpenBLAS(names ...string) (*BLAS, error) {
	if len(names) == 0 {
		names = BLASNames
	}
	b := &BLAS{}
	lib, err := openLibrary(ErrNoCUBLAS, names, []symbol{
		{"cublasCreate_v2", &b.cublasCreate, false},
		{"cublasDestroy_v2", &b.cublasDestroy, false},
		{"cublasGetVersion_v2", &b.cublasGetVersion, false},
		{"cublasSetStream_v2", &b.cublasSetStream, false},
		{"cublasSetMathMode", &b.cublasSetMathMode, false},
		{"cublasSetPointerMode_v2", &b.cublasSetPointerMode, false},
		{"cublasGetStatusString", &b.cublasGetStatusString, true},
		{"cublasSgemm_v2", &b.cublasSgemm, false},
		{"cublasSgemmStridedBatched", &b.cublasSgemmStridedBatched, false},
	})
	if err != nil {
		return nil, err
	}
	b.lib = lib
	return b, nil
}

// Library is the name cuBLAS was loaded by.
func (b *BLAS) Library() string { return b.lib.name }

func (b *BLAS) statusString(s Status) string {
	if b.cublasGetStatusString == nil {
		return ""
	}
	return b.cublasGetStatusString(s)
}

// Create creates a handle in the current context, with alpha and beta
// read from host memory.
func (b *BLAS) Create() (Handle, error) {
	var h Handle
	if err := b.check("cublasCreate_v2", b.cublasCreate(&h)); err != nil {
		return 0, err
	}
	if err := b.check("cublasSetPointerMode_v2", b.cublasSetPointerMode(h, pointerModeHost)); err != nil {
		b.cublasDestroy(h)
		return 0, err
	}
	return h, nil
}

// Destroy releases a handle.
func (b *BLAS) Destroy(h Handle) error {
	return b.check("cublasDestroy_v2", b.cublasDestroy(h))
}

// Version returns cuBLAS's version as 10000·major + 100·minor + patch.
func (b *BLAS) Version(h Handle) (int, error) {
	var v int32
	err := b.check("cublasGetVersion_v2", b.cublasGetVersion(h, &v))
	return int(v), err
}

// SetStream makes the handle's calls run on stream s.
func (b *BLAS) SetStream(h Handle, s Stream) error {
	return b.check("cublasSetStream_v2", b.cublasSetStream(h, s))
}

// SetMathMode chooses whether float32 GEMMs may use TF32 tensor cores.
func (b *BLAS) SetMathMode(h Handle, mode MathMode) error {
	return b.check("cublasSetMathMode", b.cublasSetMathMode(h, mode))
}

// Gemm is one column-major product for Sgemm and SgemmStridedBatched:
//
//	C = alpha * op(A) * op(B) + beta * C
//
// with op(A) m×k, op(B) k×n and C m×n, each stored column by column with
// leading dimension LDA, LDB, LDC. For the batched call, the i-th product
// uses the matrices StrideA, StrideB, StrideC elements further on.
type Gemm struct {
	TransA, TransB            Operation
	M, N, K                   int
	A, B, C                   DevicePtr
	LDA, LDB, LDC             int
	StrideA, StrideB, StrideC int64
	Batch                     int
}

// Sgemm enqueues g on the handle's stream. alpha and beta are read before
// it returns.
func (b *BLAS) Sgemm(h Handle, g Gemm, alpha, beta float32) error {
	return b.check("cublasSgemm_v2", b.cublasSgemm(h, g.TransA, g.TransB, int32(g.M), int32(g.N), int32(g.K),
		&alpha, g.A, int32(g.LDA), g.B, int32(g.LDB), &beta, g.C, int32(g.LDC)))
}

// SgemmStridedBatched enqueues the g.Batch products of g on the handle's
// stream.
func (b *BLAS) SgemmStridedBatched(h Handle, g Gemm, alpha, beta float32) error {
	return b.check("cublasSgemmStridedBatched", b.cublasSgemmStridedBatched(h, g.TransA, g.TransB,
		int32(g.M), int32(g.N), int32(g.K), &alpha, g.A, int32(g.LDA), g.StrideA, g.B, int32(g.LDB), g.StrideB,
		&beta, g.C, int32(g.LDC), g.StrideC, int32(g.Batch)))
}
