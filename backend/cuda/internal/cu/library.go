package cu

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mtl-gpu/mtl-gpu/internal/dynlib"
)

// ErrNoDriver is wrapped by the error of OpenDriver when no name of the
// driver library could be loaded.
var ErrNoDriver = errors.New("no NVIDIA driver found")

// ErrNoCUBLAS is wrapped by the error of OpenBLAS when no name of the
// cuBLAS library could be loaded.
var ErrNoCUBLAS = errors.New("cuBLAS not found")

// LoadError says why none of the names of a library could be loaded:
// "no NVIDIA driver found (libcuda.so.1: cannot open shared object file:
// No such file or directory)".
type LoadError struct {
	// Err is ErrNoDriver, ErrNoCUBLAS or ErrNoNCCL.
	Err error
	// Reasons has one line per name tried, each starting with the name.
	Reasons []string
}

// Error returns the kind of library followed by every reason.
func (e *LoadError) Error() string {
	return e.Err.Error() + " (" + strings.Join(e.Reasons, "; ") + ")"
}

// Unwrap returns ErrNoDriver, ErrNoCUBLAS or ErrNoNCCL.
func (e *LoadError) Unwrap() error { return e.Err }

// library is an opened shared library.
type library struct {
	// name is the name it was opened by.
	name   string
	handle uintptr
}

// symbol is one function of a library and the Go function variable that
// calls it.
type symbol struct {
	name string
	// fptr points at a Go func variable whose signature matches the C
	// function.
	fptr any
	// optional symbols may be missing (newer functions).
	optional bool
}

// openLibrary returns the first of names that loads and has every
// required symbol, bound into its fptr. kind is the error it wraps when
// none does.
func openLibrary(kind error, names []string, symbols []symbol) (*library, error) {
	var reasons []string
	for _, name := range names {
		handle, err := dynlib.Open(name, false)
		if err != nil {
			reasons = append(reasons, dynlib.Reason(name, err, "cannot be loaded"))
			continue
		}
		lib := &library{name: name, handle: handle}
		if err := lib.bind(symbols); err != nil {
			dynlib.Close(handle)
			reasons = append(reasons, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		return lib, nil
	}
	if len(names) == 0 {
		reasons = append(reasons, "no library name to try")
	}
	return nil, &LoadError{Err: kind, Reasons: reasons}
}

// bind looks up every symbol and binds the required ones; it fails on the
// first required symbol that is missing.
func (l *library) bind(symbols []symbol) error {
	for _, s := range symbols {
		addr, err := dynlib.Sym(l.handle, s.name)
		if err != nil || addr == 0 {
			if s.optional {
				continue
			}
			return fmt.Errorf("no %s (library too old?)", s.name)
		}
		dynlib.Register(s.fptr, addr)
	}
	return nil
}
