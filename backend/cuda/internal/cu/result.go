package cu

import (
	"errors"
	"fmt"
)

// Result is a CUresult, the status code of a driver call.
type Result int32

// The CUresult codes the binding tests for.
const (
	Success           Result = 0
	ErrorInvalidValue Result = 1
	ErrorOutOfMemory  Result = 2
	ErrorNoDevice     Result = 100
	ErrorNotReady     Result = 600
)

// resultNames are the names of the common CUresult codes, from cuda.h.
// Codes not listed are named by cuGetErrorName when the driver is loaded.
var resultNames = map[Result]string{
	0:   "CUDA_SUCCESS",
	1:   "CUDA_ERROR_INVALID_VALUE",
	2:   "CUDA_ERROR_OUT_OF_MEMORY",
	3:   "CUDA_ERROR_NOT_INITIALIZED",
	4:   "CUDA_ERROR_DEINITIALIZED",
	5:   "CUDA_ERROR_PROFILER_DISABLED",
	34:  "CUDA_ERROR_STUB_LIBRARY",
	46:  "CUDA_ERROR_DEVICE_UNAVAILABLE",
	100: "CUDA_ERROR_NO_DEVICE",
	101: "CUDA_ERROR_INVALID_DEVICE",
	102: "CUDA_ERROR_DEVICE_NOT_LICENSED",
	200: "CUDA_ERROR_INVALID_IMAGE",
	201: "CUDA_ERROR_INVALID_CONTEXT",
	205: "CUDA_ERROR_MAP_FAILED",
	209: "CUDA_ERROR_NO_BINARY_FOR_GPU",
	214: "CUDA_ERROR_ECC_UNCORRECTABLE",
	216: "CUDA_ERROR_CONTEXT_ALREADY_IN_USE",
	218: "CUDA_ERROR_INVALID_PTX",
	221: "CUDA_ERROR_JIT_COMPILER_NOT_FOUND",
	222: "CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
	223: "CUDA_ERROR_JIT_COMPILATION_DISABLED",
	300: "CUDA_ERROR_INVALID_SOURCE",
	301: "CUDA_ERROR_FILE_NOT_FOUND",
	302: "CUDA_ERROR_SHARED_OBJECT_SYMBOL_NOT_FOUND",
	303: "CUDA_ERROR_SHARED_OBJECT_INIT_FAILED",
	304: "CUDA_ERROR_OPERATING_SYSTEM",
	400: "CUDA_ERROR_INVALID_HANDLE",
	401: "CUDA_ERROR_ILLEGAL_STATE",
	500: "CUDA_ERROR_NOT_FOUND",
	600: "CUDA_ERROR_NOT_READY",
	700: "CUDA_ERROR_ILLEGAL_ADDRESS",
	701: "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
	702: "CUDA_ERROR_LAUNCH_TIMEOUT",
	708: "CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE",
	709: "CUDA_ERROR_CONTEXT_IS_DESTROYED",
	710: "CUDA_ERROR_ASSERT",
	714: "CUDA_ERROR_HARDWARE_STACK_ERROR",
	715: "CUDA_ERROR_ILLEGAL_INSTRUCTION",
	716: "CUDA_ERROR_MISALIGNED_ADDRESS",
	717: "CUDA_ERROR_INVALID_ADDRESS_SPACE",
	718: "CUDA_ERROR_INVALID_PC",
	719: "CUDA_ERROR_LAUNCH_FAILED",
	720: "CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE",
	800: "CUDA_ERROR_NOT_PERMITTED",
	801: "CUDA_ERROR_NOT_SUPPORTED",
	802: "CUDA_ERROR_SYSTEM_NOT_READY",
	803: "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH",
	804: "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE",
	999: "CUDA_ERROR_UNKNOWN",
}

// Name returns the code's name from the table, or "CUresult(N)".
func (r Result) Name() string {
	if n, ok := resultNames[r]; ok {
		return n
	}
	return fmt.Sprintf("CUresult(%d)", int32(r))
}

// Sticky reports whether r is one of the errors after which, as cuda.h
// says, the process is in an inconsistent state and every later call in
// the context returns the same error: an illegal address (700), a launch
// timeout (702), a device-side assert (710), a hardware stack error (714),
// an illegal instruction (715), a misaligned address (716), an invalid
// address space (717), an invalid program counter (718) or a failed launch
// (719). Only a new process can use the device again.
func (r Result) Sticky() bool {
	switch r {
	case 700, 702, 710, 714, 715, 716, 717, 718, 719:
		return true
	}
	return false
}

// IsSticky reports whether err is, or wraps, a failed driver call whose
// code is Sticky.
func IsSticky(err error) bool {
	var e *Error
	return errors.As(err, &e) && !e.BLAS && Result(e.Code).Sticky()
}

// Status is a cublasStatus_t, the status code of a cuBLAS call.
type Status int32

// statusNames are the names of every cublasStatus_t code, from
// cublas_api.h.
var statusNames = map[Status]string{
	0:  "CUBLAS_STATUS_SUCCESS",
	1:  "CUBLAS_STATUS_NOT_INITIALIZED",
	3:  "CUBLAS_STATUS_ALLOC_FAILED",
	7:  "CUBLAS_STATUS_INVALID_VALUE",
	8:  "CUBLAS_STATUS_ARCH_MISMATCH",
	11: "CUBLAS_STATUS_MAPPING_ERROR",
	13: "CUBLAS_STATUS_EXECUTION_FAILED",
	14: "CUBLAS_STATUS_INTERNAL_ERROR",
	15: "CUBLAS_STATUS_NOT_SUPPORTED",
	16: "CUBLAS_STATUS_LICENSE_ERROR",
}

// Name returns the status's name, or "cublasStatus_t(N)".
func (s Status) Name() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("cublasStatus_t(%d)", int32(s))
}

// Error is a failed driver or cuBLAS call.
type Error struct {
	// Func is the C function that failed, e.g. "cuMemAlloc_v2".
	Func string
	// Code is the CUresult or cublasStatus_t it returned.
	Code int32
	// Name is the code's name, e.g. "CUDA_ERROR_OUT_OF_MEMORY".
	Name string
	// Text is the driver's description of the code, or empty.
	Text string
	// Log is what the PTX compiler said, for a module that did not load.
	Log string
	// BLAS is true for a cuBLAS status, false for a CUresult.
	BLAS bool
}

// Error returns "func: NAME (text)", followed by the compiler log if any.
func (e *Error) Error() string {
	s := e.Func + ": " + e.Name
	if e.Text != "" {
		s += " (" + e.Text + ")"
	}
	if e.Log != "" {
		s += "\n" + e.Log
	}
	return s
}

// IsResult reports whether err is, or wraps, a failed driver call that
// returned r.
func IsResult(err error, r Result) bool {
	var e *Error
	return errors.As(err, &e) && !e.BLAS && e.Code == int32(r)
}

// check returns nil for CUDA_SUCCESS and an *Error naming call and code
// otherwise. d may be nil; the driver then cannot name codes the table
// lacks or describe them.
func (d *Driver) check(call string, r Result) error {
	if r == Success {
		return nil
	}
	e := &Error{Func: call, Code: int32(r), Name: r.Name()}
	if d != nil {
		if _, known := resultNames[r]; !known {
			if n := d.errorName(r); n != "" {
				e.Name = n
			}
		}
		e.Text = d.errorString(r)
	}
	return e
}

// check returns nil for CUBLAS_STATUS_SUCCESS and an *Error naming call
// and status otherwise.
func (b *BLAS) check(call string, s Status) error {
	if s == 0 {
		return nil
	}
	e := &Error{Func: call, Code: int32(s), Name: s.Name(), BLAS: true}
	if b != nil {
		e.Text = b.statusString(s)
	}
	return e
}
