//go:build !(linux && (amd64 || arm64))

package dynlib

import (
	"fmt"
	"runtime"
)

// Open reports that this platform loads no library at run time: the
// bindings load them only on Linux on amd64 and arm64.
func Open(name string, global bool) (uintptr, error) {
	return 0, fmt.Errorf("%s: not supported on %s/%s", name, runtime.GOOS, runtime.GOARCH)
}

// Sym reports that this platform loads no library at run time.
func Sym(handle uintptr, name string) (uintptr, error) {
	return 0, fmt.Errorf("%s: not supported on %s/%s", name, runtime.GOOS, runtime.GOARCH)
}

// Close does nothing: no library was opened.
func Close(handle uintptr) {}

// Register is never reached: Open fails first.
func Register(fptr any, addr uintptr) {}
