//go:build (darwin || (freebsd && cgo) || linux || netbsd) && (amd64 || arm64)

// Without cgo, purego builds for FreeBSD only with extra compiler flags
// (-gcflags=github.com/ebitengine/purego/internal/fakecgo=-std), so there
// OpenBLAS needs cgo.

package cpu

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/ebitengine/purego"
	"github.com/mtl-gpu/mtl-gpu/internal/dynlib"
)

// librariesByHandle holds each library openLibrary has opened, so that two
// names of one file share one thread count; loadMu guards it.
var librariesByHandle = map[uintptr]*openblasLib{}

// openLibrary opens the first of names that dlopen loads and that has the
// entry points the backend needs. It binds them with purego, so it works
// with and without cgo. The caller holds loadMu.
func openLibrary(names []string) (*openblasLib, error) {
	// dlerror's message belongs to the thread that called dlopen.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var whys []string
	for _, name := range names {
		handle, err := purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_LOCAL)
		if err != nil {
			whys = append(whys, dynlib.Reason(name, err, "dlopen failed"))
			continue
		}
		if lib, ok := librariesByHandle[handle]; ok {
			return lib, nil
		}
		lib, err := bindLibrary(handle)
		if err != nil {
			purego.Dlclose(handle)
			whys = append(whys, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		librariesByHandle[handle] = lib
		return lib, nil
	}
	return nil, loadError(names, whys)
}

// bindLibrary binds the entry points of the library behind handle.
func bindLibrary(handle uintptr) (*openblasLib, error) {
	lib := &openblasLib{}
	required := []struct {
		name string
		fptr any
	}{
		{"cblas_sgemm", &lib.sgemm},
		{"openblas_set_num_threads", &lib.setNumThreads},
		{"openblas_get_num_threads", &lib.getNumThreads},
	}
	for _, r := range required {
		sym, err := purego.Dlsym(handle, r.name)
		if err != nil {
			return nil, fmt.Errorf("no %s", r.name)
		}
		purego.RegisterFunc(r.fptr, sym)
	}
	if sym, err := purego.Dlsym(handle, "openblas_get_config"); err == nil {
		var config func() string
		purego.RegisterFunc(&config, sym)
		// "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64"
		if f := strings.Fields(config()); len(f) >= 2 && strings.EqualFold(f[0], "OpenBLAS") {
			lib.version = f[1]
		}
	}
	if sym, err := purego.Dlsym(handle, "openblas_get_corename"); err == nil {
		var corename func() string
		purego.RegisterFunc(&corename, sym)
		lib.core = strings.TrimSpace(corename())
	}
	return lib, nil
}
