//go:build linux && (amd64 || arm64)

package dynlib

import (
	"runtime"

	"github.com/ebitengine/purego"
)

// Open opens a shared library by name or path, resolving every symbol
// now. Its symbols stay out of the global namespace unless global is set,
// which makes them visible to the libraries it opens later (Open MPI's
// components resolve symbols of libmpi that way).
func Open(name string, global bool) (uintptr, error) {
	mode := purego.RTLD_NOW | purego.RTLD_LOCAL
	if global {
		mode = purego.RTLD_NOW | purego.RTLD_GLOBAL
	}
	// dlerror's message belongs to the thread that called dlopen.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return purego.Dlopen(name, mode)
}

// Sym returns the address of a symbol of an opened library: a function,
// or a global object.
func Sym(handle uintptr, name string) (uintptr, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return purego.Dlsym(handle, name)
}

// Close releases a library that turned out not to be usable.
func Close(handle uintptr) { _ = purego.Dlclose(handle) }

// Register makes the Go function *fptr call the C function at addr.
func Register(fptr any, addr uintptr) { purego.RegisterFunc(fptr, addr) }
