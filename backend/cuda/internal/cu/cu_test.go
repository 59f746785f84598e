package cu

import (
	"errors"
	"math"
	"strings"
	"testing"
	"unsafe"

	"github.com/mtl-gpu/mtl-gpu/internal/dynlib"
)

func TestOpenDriverMissing(t *testing.T) {
	_, err := OpenDriver("libcuda-missing.so.1", "/nonexistent/libcuda.so.1")
	if err == nil {
		t.Fatal("OpenDriver of missing libraries succeeded")
	}
	if !errors.Is(err, ErrNoDriver) {
		t.Errorf("error %v does not wrap ErrNoDriver", err)
	}
	var le *LoadError
	if !errors.As(err, &le) || len(le.Reasons) != 2 {
		t.Fatalf("error %#v is not a LoadError with two reasons", err)
	}
	msg := err.Error()
	for _, want := range []string{"no NVIDIA driver found (", "libcuda-missing.so.1", "/nonexistent/libcuda.so.1", "; "} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if !strings.HasSuffix(msg, ")") {
		t.Errorf("error %q does not end with the closing parenthesis", msg)
	}
}

func TestOpenBLASMissing(t *testing.T) {
	_, err := OpenBLAS("libcublas-missing.so.12")
	if !errors.Is(err, ErrNoCUBLAS) || errors.Is(err, ErrNoDriver) {
		t.Fatalf("error %v does not wrap (only) ErrNoCUBLAS", err)
	}
	if !strings.HasPrefix(err.Error(), "cuBLAS not found (libcublas-missing.so.12") {
		t.Errorf("error %q", err)
	}
}

// TestOpenLibraryMissingSymbol opens a library that exists (the C
// library, on platforms with dlopen) but lacks the driver's functions.
func TestOpenLibraryMissingSymbol(t *testing.T) {
	if _, err := dynlib.Open("libc.so.6", false); err != nil {
		t.Skipf("no libc.so.6 to open: %v", err)
	}
	var f func() Result
	_, err := openLibrary(ErrNoDriver, []string{"libc.so.6"}, []symbol{{"cuNoSuchFunction", &f, false}})
	if err == nil || !strings.Contains(err.Error(), "libc.so.6: no cuNoSuchFunction") {
		t.Fatalf("error %v does not name the missing symbol", err)
	}
	if f != nil {
		t.Error("a missing symbol was bound")
	}
	lib, err := openLibrary(ErrNoDriver, []string{"libc.so.6"}, []symbol{{"cuNoSuchFunction", &f, true}})
	if err != nil || lib.name != "libc.so.6" {
		t.Fatalf("a missing optional symbol failed the load: %v", err)
	}
}

func TestNoLibraryNames(t *testing.T) {
	_, err := openLibrary(ErrNoCUBLAS, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "no library name") {
		t.Fatalf("error %v", err)
	}
}

func TestResultNames(t *testing.T) {
	for _, c := range []struct {
		r    Result
		want string
	}{
		{0, "CUDA_SUCCESS"},
		{1, "CUDA_ERROR_INVALID_VALUE"},
		{2, "CUDA_ERROR_OUT_OF_MEMORY"},
		{34, "CUDA_ERROR_STUB_LIBRARY"},
		{100, "CUDA_ERROR_NO_DEVICE"},
		{209, "CUDA_ERROR_NO_BINARY_FOR_GPU"},
		{218, "CUDA_ERROR_INVALID_PTX"},
		{222, "CUDA_ERROR_UNSUPPORTED_PTX_VERSION"},
		{700, "CUDA_ERROR_ILLEGAL_ADDRESS"},
		{701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES"},
		{719, "CUDA_ERROR_LAUNCH_FAILED"},
		{999, "CUDA_ERROR_UNKNOWN"},
		{12345, "CUresult(12345)"},
	} {
		if got := c.r.Name(); got != c.want {
			t.Errorf("Result(%d).Name() = %q, want %q", c.r, got, c.want)
		}
	}
	for code, name := range resultNames {
		if !strings.HasPrefix(name, "CUDA_") {
			t.Errorf("code %d has name %q", code, name)
		}
	}
}

func TestStatusNames(t *testing.T) {
	for _, c := range []struct {
		s    Status
		want string
	}{
		{0, "CUBLAS_STATUS_SUCCESS"},
		{1, "CUBLAS_STATUS_NOT_INITIALIZED"},
		{3, "CUBLAS_STATUS_ALLOC_FAILED"},
		{7, "CUBLAS_STATUS_INVALID_VALUE"},
		{8, "CUBLAS_STATUS_ARCH_MISMATCH"},
		{13, "CUBLAS_STATUS_EXECUTION_FAILED"},
		{14, "CUBLAS_STATUS_INTERNAL_ERROR"},
		{15, "CUBLAS_STATUS_NOT_SUPPORTED"},
		{99, "cublasStatus_t(99)"},
	} {
		if got := c.s.Name(); got != c.want {
			t.Errorf("Status(%d).Name() = %q, want %q", c.s, got, c.want)
		}
	}
}

func TestCheck(t *testing.T) {
	var d *Driver // not loaded: names come from the table alone
	if err := d.check("cuInit", Success); err != nil {
		t.Fatalf("success gave %v", err)
	}
	err := d.check("cuMemAlloc_v2", ErrorOutOfMemory)
	if got, want := err.Error(), "cuMemAlloc_v2: CUDA_ERROR_OUT_OF_MEMORY"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	if !IsResult(err, ErrorOutOfMemory) || IsResult(err, ErrorNoDevice) {
		t.Error("IsResult does not tell the code")
	}
	if wrapped := errors.Join(errors.New("context"), err); !IsResult(wrapped, ErrorOutOfMemory) {
		t.Error("IsResult does not see through wrapping")
	}

	var b *BLAS
	if err := b.check("cublasSgemm_v2", 0); err != nil {
		t.Fatalf("success gave %v", err)
	}
	berr := b.check("cublasSgemm_v2", 7)
	if got, want := berr.Error(), "cublasSgemm_v2: CUBLAS_STATUS_INVALID_VALUE"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	// A cuBLAS status of 2 is not CUDA_ERROR_OUT_OF_MEMORY.
	if IsResult(b.check("cublasCreate_v2", 2), ErrorOutOfMemory) {
		t.Error("a cuBLAS status was taken for a CUresult")
	}

	withLog := &Error{Func: "cuModuleLoadDataEx", Code: 218, Name: "CUDA_ERROR_INVALID_PTX", Text: "a PTX JIT compilation failed", Log: "ptxas fatal"}
	if got, want := withLog.Error(), "cuModuleLoadDataEx: CUDA_ERROR_INVALID_PTX (a PTX JIT compilation failed)\nptxas fatal"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
}

func TestArgsSlots(t *testing.T) {
	var a Args
	a.Int(-3)
	a.Float(1.5)
	a.Ptr(0x7f00_1234_5678)
	a.Int(math.MaxInt32)
	a.Float(float32(math.Inf(-1)))
	want := []uint64{
		0xffff_fffd,
		uint64(math.Float32bits(1.5)),
		0x7f00_1234_5678,
		0x7fff_ffff,
		uint64(math.Float32bits(float32(math.Inf(-1)))),
	}
	if a.Len() != len(want) {
		t.Fatalf("%d slots, want %d", a.Len(), len(want))
	}
	for i, w := range want {
		if a.Slots()[i] != w {
			t.Errorf("slot %d = %#x, want %#x", i, a.Slots()[i], w)
		}
	}
	// Each pointer of the parameter array points at its own slot, and the
	// first 4 bytes of a slot (what the driver reads for an int or a
	// float, little-endian) are the value.
	ptrs := a.pointers()
	if len(ptrs) != len(want) {
		t.Fatalf("%d pointers for %d slots", len(ptrs), len(want))
	}
	for i, p := range ptrs {
		if p != unsafe.Pointer(&a.Slots()[i]) {
			t.Errorf("pointer %d does not point at slot %d", i, i)
		}
		if i > 0 && uintptr(p)-uintptr(ptrs[i-1]) != 8 {
			t.Errorf("slots %d and %d are not 8 bytes apart", i-1, i)
		}
	}
	if got := *(*int32)(ptrs[0]); got != -3 {
		t.Errorf("int read through its pointer = %d", got)
	}
	if got := *(*float32)(ptrs[1]); got != 1.5 {
		t.Errorf("float read through its pointer = %g", got)
	}
	if got := *(*uint64)(ptrs[2]); got != 0x7f00_1234_5678 {
		t.Errorf("pointer read through its pointer = %#x", got)
	}
}

func TestSticky(t *testing.T) {
	d := (*Driver)(nil)
	for _, r := range []Result{700, 702, 710, 714, 715, 716, 717, 718, 719} {
		if !r.Sticky() || !IsSticky(d.check("cuStreamSynchronize", r)) {
			t.Errorf("%d (%s) is not sticky", r, r.Name())
		}
	}
	for _, r := range []Result{1, 2, 201, 400, 701, 709, 720, 999} {
		if r.Sticky() || IsSticky(d.check("cuLaunchKernel", r)) {
			t.Errorf("%d (%s) is sticky", r, r.Name())
		}
	}
	// A cuBLAS status of 13 is not a CUresult of 700-something.
	if IsSticky((*BLAS)(nil).check("cublasSgemm_v2", 13)) || IsSticky(nil) {
		t.Error("IsSticky of a cuBLAS error or nil")
	}
}

func TestGoString(t *testing.T) {
	b := []byte("CUDA_ERROR_ASSERT\x00garbage")
	if got := goString(&b[0]); got != "CUDA_ERROR_ASSERT" {
		t.Errorf("goString = %q", got)
	}
	if goString(nil) != "" {
		t.Error("goString(nil) is not empty")
	}
}
