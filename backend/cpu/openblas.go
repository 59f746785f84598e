package cpu

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"gonum.org/v1/gonum/blas"
)

// CBLAS enumerations, as in cblas.h.
const (
	cblasRowMajor = 101
	cblasNoTrans  = 111
	cblasTrans    = 112
)

// openblasNames lists the library names loadOpenBLAS passes to dlopen, in
// the order it tries them.
var openblasNames = defaultOpenBLASNames()

func defaultOpenBLASNames() []string {
	if runtime.GOOS == "darwin" {
		return []string{
			"libopenblas.0.dylib",
			"libopenblas.dylib",
			"/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
			"/usr/local/opt/openblas/lib/libopenblas.dylib",
		}
	}
	return []string{"libopenblas.so.0", "libopenblas.so"}
}

// openblasLib is one OpenBLAS loaded into the process: its entry points and
// what it says about itself. OpenBLAS keeps one thread count for the whole
// process, so GEMMs go through mu one at a time, each after setting that
// count to its backend's own: two backends never oversubscribe the cores
// with two multi-threaded GEMMs at once.
type openblasLib struct {
	// version is the release ("0.3.21") and core the kernel set OpenBLAS
	// chose for this CPU ("Haswell"); either may be empty when the library
	// does not say.
	version, core string

	sgemm         func(order, transA, transB, m, n, k int32, alpha float32, a unsafe.Pointer, lda int32, b unsafe.Pointer, ldb int32, beta float32, c unsafe.Pointer, ldc int32)
	setNumThreads func(n int32)
	getNumThreads func() int32

	mu sync.Mutex
	// threads is the count last passed to setNumThreads, or 0 before the
	// first.
	threads int32
}

// setThreads makes n the library's thread count; l.mu must be held.
func (l *openblasLib) setThreads(n int32) {
	if l.threads != n {
		l.setNumThreads(n)
		l.threads = n
	}
}

// loadResult is the cached outcome of loading one list of names.
type loadResult struct {
	lib *openblasLib
	err error
}

var (
	// loadMu guards loaded and the libraries that openLibrary keeps.
	loadMu sync.Mutex
	// loaded caches the result of each list of names, so that a library is
	// opened, and a failure reported, once per process.
	loaded = map[string]loadResult{}
)

// loadOpenBLAS opens OpenBLAS at run time, trying the names in
// openblasNames in turn, and returns a matrix multiply that runs on
// threads threads. The library is loaded once per process; when it cannot
// be, the error, cached too, has the form
//
//	openblas: cannot load libopenblas.so.0 or libopenblas.so: <why for each name>
func loadOpenBLAS(threads int) (blasImpl, error) {
	return loadOpenBLASFrom(openblasNames, threads)
}

// loadOpenBLASFrom is loadOpenBLAS with the list of library names given.
func loadOpenBLASFrom(names []string, threads int) (blasImpl, error) {
	lib, err := cachedLibrary(names)
	if err != nil {
		return nil, err
	}
	return newOpenBLAS(lib, threads), nil
}

func cachedLibrary(names []string) (*openblasLib, error) {
	key := strings.Join(names, "\x00")
	loadMu.Lock()
	defer loadMu.Unlock()
	r, ok := loaded[key]
	if !ok {
		r.lib, r.err = openLibrary(names)
		loaded[key] = r
	}
	return r.lib, r.err
}

// loadError reports that none of names could be loaded; whys[i] says why
// names[i] could not.
func loadError(names, whys []string) error {
	if len(names) == 0 {
		return errors.New("openblas: no library names to try")
	}
	list := strings.Join(names, " or ")
	if len(names) > 2 {
		list = strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	}
	return fmt.Errorf("openblas: cannot load %s: %s", list, strings.Join(whys, "; "))
}

// openBLAS is OpenBLAS's cblas_sgemm as one backend uses it: with that
// backend's thread count.
type openBLAS struct {
	lib     *openblasLib
	threads int32
	name    string
}

func newOpenBLAS(lib *openblasLib, threads int) *openBLAS {
	n := int32(min(max(threads, 1), math.MaxInt32))
	lib.mu.Lock()
	lib.setThreads(n)
	// OpenBLAS caps the count at the number it was built for.
	actual := lib.getNumThreads()
	lib.mu.Unlock()
	name := "openblas"
	if lib.version != "" {
		name += " " + lib.version
	}
	if lib.core != "" {
		name += " " + lib.core
	}
	unit := "threads"
	if actual == 1 {
		unit = "thread"
	}
	name += fmt.Sprintf(", %d %s", actual, unit)
	return &openBLAS{lib: lib, threads: n, name: name}
}

// Name says "openblas", the release, the CPU kernels OpenBLAS chose and its
// thread count, e.g. "openblas 0.3.21 Haswell, 2 threads" or
// "openblas 0.3.21 Haswell, 1 thread".
func (o *openBLAS) Name() string { return o.name }

// Sgemm computes
//
//	C = alpha * op(A) * op(B) + beta * C
//
// on row-major matrices with cblas_sgemm. It checks its arguments and
// panics on bad ones with gonum's messages; empty products, k == 0,
// alpha == 0 and dimensions beyond cblas's 32-bit integers go to gonum's
// Sgemm, so that every result that does not multiply matrices is exactly
// gonum's.
func (o *openBLAS) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m <= 0 || n <= 0 || k <= 0 || alpha == 0 || !fitsInt32(m, n, k, lda, ldb, ldc) {
		pureGo{}.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	checkSgemm(tA, tB, m, n, k, a, lda, b, ldb, c, ldc)
	// The checks above guarantee that a, b and c are not empty.
	l := o.lib
	l.mu.Lock()
	defer l.mu.Unlock()
	l.setThreads(o.threads)
	l.sgemm(cblasRowMajor, cblasTranspose(tA), cblasTranspose(tB), int32(m), int32(n), int32(k),
		alpha, unsafe.Pointer(&a[0]), int32(lda), unsafe.Pointer(&b[0]), int32(ldb),
		beta, unsafe.Pointer(&c[0]), int32(ldc))
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	runtime.KeepAlive(c)
}

func cblasTranspose(t blas.Transpose) int32 {
	if t == blas.NoTrans {
		return cblasNoTrans
	}
	return cblasTrans
}

func fitsInt32(v ...int) bool {
	for _, x := range v {
		if x > math.MaxInt32 {
			return false
		}
	}
	return true
}

// Messages of gonum's Sgemm panics (gonum.org/v1/gonum/blas/gonum).
const (
	errBadTranspose = "blas: illegal transpose"
	errMLT0         = "blas: m < 0"
	errNLT0         = "blas: n < 0"
	errKLT0         = "blas: k < 0"
	errBadLdA       = "blas: bad leading dimension of A"
	errBadLdB       = "blas: bad leading dimension of B"
	errBadLdC       = "blas: bad leading dimension of C"
	errShortA       = "blas: insufficient length of a"
	errShortB       = "blas: insufficient length of b"
	errShortC       = "blas: insufficient length of c"
)

// checkSgemm panics, in the order and with the messages of gonum's Sgemm,
// when the arguments of a row-major Sgemm are invalid.
func checkSgemm(tA, tB blas.Transpose, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	for _, t := range []blas.Transpose{tA, tB} {
		if t != blas.NoTrans && t != blas.Trans && t != blas.ConjTrans {
			panic(errBadTranspose)
		}
	}
	switch {
	case m < 0:
		panic(errMLT0)
	case n < 0:
		panic(errNLT0)
	case k < 0:
		panic(errKLT0)
	}
	aTrans, bTrans := tA != blas.NoTrans, tB != blas.NoTrans
	aRows, aCols := m, k
	if aTrans {
		aRows, aCols = k, m
	}
	bRows, bCols := k, n
	if bTrans {
		bRows, bCols = n, k
	}
	switch {
	case lda < max(1, aCols):
		panic(errBadLdA)
	case ldb < max(1, bCols):
		panic(errBadLdB)
	case ldc < max(1, n):
		panic(errBadLdC)
	}
	if m == 0 || n == 0 {
		return
	}
	switch {
	case len(a) < (aRows-1)*lda+aCols:
		panic(errShortA)
	case len(b) < (bRows-1)*ldb+bCols:
		panic(errShortB)
	case len(c) < (m-1)*ldc+n:
		panic(errShortC)
	}
}
