//go:build !((darwin || (freebsd && cgo) || linux || netbsd) && (amd64 || arm64))

package cpu

import (
	"fmt"
	"runtime"
	"strings"
)

// openLibrary reports that this platform cannot load OpenBLAS at run time:
// the binding passes float arguments in registers, which is done only for
// amd64 and arm64 on systems with dlopen (and, on FreeBSD, with cgo).
func openLibrary(names []string) (*openblasLib, error) {
	return nil, fmt.Errorf("openblas: cannot load %s: not supported on %s/%s", strings.Join(names, " or "), runtime.GOOS, runtime.GOARCH)
}
