package mpi

import (
	"errors"
	"fmt"
)

// maxErrorString is MPI_MAX_ERROR_STRING of Open MPI's mpi.h.
const maxErrorString = 256

// Error is a failed MPI call.
type Error struct {
	// Func is the C function that failed, e.g. "MPI_Allreduce".
	Func string
	// Code is the error code it returned.
	Code int
	// Text is MPI_Error_string's description of the code, such as
	// "MPI_ERR_ROOT: invalid root", or empty when MPI could not say.
	Text string
}

// Error returns "func: text (MPI error code)".
func (e *Error) Error() string {
	if e.Text == "" {
		return fmt.Sprintf("%s: MPI error %d", e.Func, e.Code)
	}
	return fmt.Sprintf("%s: %s (MPI error %d)", e.Func, e.Text, e.Code)
}

// IsCode reports whether err is, or wraps, a failed MPI call that returned
// code.
func IsCode(err error, code int) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// check returns nil for MPI_SUCCESS and an *Error naming call, code and
// MPI_Error_string's text otherwise.
func (l *Library) check(call string, code int32) error {
	if code == 0 {
		return nil
	}
	return &Error{Func: call, Code: int(code), Text: l.errorString(code)}
}

// errorString returns MPI_Error_string's text for code, or empty. Open
// MPI aborts the process when MPI_Error_string is called before MPI_Init,
// so outside MPI's lifetime the text stays empty.
func (l *Library) errorString(code int32) string {
	if l == nil || l.mpiErrorString == nil {
		return ""
	}
	var initialized, finalized int32
	if l.mpiInitialized(&initialized) != 0 || initialized == 0 ||
		l.mpiFinalized(&finalized) != 0 || finalized != 0 {
		return ""
	}
	buf := make([]byte, maxErrorString+1)
	var n int32
	if l.mpiErrorString(code, &buf[0], &n) != 0 || n <= 0 || int(n) > len(buf) {
		return ""
	}
	return firstLine(string(buf[:n]))
}
