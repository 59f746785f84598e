//go:build linux && (amd64 || arm64)

package cu

import (
	"runtime"

	"github.com/ebitengine/purego"
)

// dlopen opens a shared library by name or path, resolving every symbol
// now and keeping them out of the global namespace.
func dlopen(name string) (uintptr, error) {
	// dlerror's message belongs to the thread that called dlopen.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_LOCAL)
}

// dlsym returns the address of a symbol of an opened library.
func dlsym(handle uintptr, name string) (uintptr, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return purego.Dlsym(handle, name)
}

// dlclose releases a library that turned out not to be usable.
func dlclose(handle uintptr) { _ = purego.Dlclose(handle) }

// register makes the Go function *fptr call the C function at addr.
func register(fptr any, addr uintptr) { purego.RegisterFunc(fptr, addr) }
