//go:build !(linux && (amd64 || arm64))

package mpi

import (
	"fmt"
	"runtime"
)

// dlopen reports that this platform has no MPI binding: Open MPI is
// loaded only on Linux on amd64 and arm64.
func dlopen(name string, global bool) (uintptr, error) {
	return 0, fmt.Errorf("%s: not supported on %s/%s", name, runtime.GOOS, runtime.GOARCH)
}

func dlsym(handle uintptr, name string) (uintptr, error) {
	return 0, fmt.Errorf("%s: not supported on %s/%s", name, runtime.GOOS, runtime.GOARCH)
}

func dlclose(handle uintptr) {}

// register is never reached: dlopen fails first.
func register(fptr any, addr uintptr) {}
