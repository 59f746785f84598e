//go:build linux && (amd64 || arm64)

package mpi

import (
	"runtime"

	"github.com/ebitengine/purego"
)

// dlopen opens a shared library by name or path, resolving every symbol
// now. global makes its symbols visible to the libraries it opens later:
// Open MPI loads its components with dlopen, and they resolve symbols of
// libmpi and libopen-pal that way (mpi4py opens libmpi RTLD_GLOBAL for the
// same reason).
func dlopen(name string, global bool) (uintptr, error) {
	mode := purego.RTLD_NOW | purego.RTLD_LOCAL
	if global {
		mode = purego.RTLD_NOW | purego.RTLD_GLOBAL
	}
	// dlerror's message belongs to the thread that called dlopen.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return purego.Dlopen(name, mode)
}

// dlsym returns the address of a symbol of an opened library: a function,
// or one of the global objects whose addresses are Open MPI's handles.
func dlsym(handle uintptr, name string) (uintptr, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return purego.Dlsym(handle, name)
}

// dlclose releases a library that turned out not to be usable.
func dlclose(handle uintptr) { _ = purego.Dlclose(handle) }

// register makes the Go function *fptr call the C function at addr.
func register(fptr any, addr uintptr) { purego.RegisterFunc(fptr, addr) }
