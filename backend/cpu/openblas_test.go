package cpu_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/backendtest"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
	"gonum.org/v1/gonum/blas"
)

// requireOpenBLAS is set in CI, where OpenBLAS is installed: there a
// backend that cannot load it fails the test instead of skipping it.
var requireOpenBLAS = os.Getenv("MTLGPU_REQUIRE_OPENBLAS") == "1"

// skipWithoutOpenBLAS skips tb, or fails it when OpenBLAS is required,
// because err says OpenBLAS could not be loaded.
func skipWithoutOpenBLAS(tb testing.TB, err error) {
	tb.Helper()
	if requireOpenBLAS {
		tb.Fatalf("MTLGPU_REQUIRE_OPENBLAS=1 but OpenBLAS cannot be loaded: %v", err)
	}
	tb.Skipf("OpenBLAS is not installed (set MTLGPU_REQUIRE_OPENBLAS=1 to fail instead): %v", err)
}

// openBLASBackend opens a CPU backend with the named BLAS, skipping tb when
// that is OpenBLAS and it cannot be loaded.
func openBLASBackend(tb testing.TB, blasName string, threads int) *cpu.Backend {
	tb.Helper()
	b, err := cpu.New(backend.Options{BLAS: blasName, Threads: threads})
	if err != nil {
		if blasName == "openblas" {
			skipWithoutOpenBLAS(tb, err)
		}
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

// loadOpenBLAS returns OpenBLAS's Sgemm on threads threads, skipping tb
// when it cannot be loaded.
func loadOpenBLAS(tb testing.TB, threads int) cpu.BLAS {
	tb.Helper()
	impl, err := cpu.LoadOpenBLAS(threads)
	if err != nil {
		skipWithoutOpenBLAS(tb, err)
	}
	return impl
}

// TestOpenBLASConformance runs the conformance suite on the CPU backend
// with OpenBLAS, against the CPU backend with gonum.
func TestOpenBLASConformance(t *testing.T) {
	for _, threads := range []int{0, 1} {
		t.Run(fmt.Sprintf("threads=%d", threads), func(t *testing.T) {
			b := openBLASBackend(t, "openblas", threads)
			t.Logf("BLAS: %s", b.BLASName())
			backendtest.Run(t, b)
		})
	}
}

// TestOpenBLASAgainstReference holds the OpenBLAS backend to plain float64
// loops too.
func TestOpenBLASAgainstReference(t *testing.T) {
	backendtest.Compare(t, openBLASBackend(t, "openblas", 0), backendtest.Reference{})
}

func TestOpenBLASName(t *testing.T) {
	for _, threads := range []int{1, 2, 3} {
		suffix := fmt.Sprintf(", %d threads", threads)
		if threads == 1 {
			suffix = ", 1 thread"
		}
		name := openBLASBackend(t, "openblas", threads).BLASName()
		if !strings.HasPrefix(name, "openblas ") || !strings.HasSuffix(name, suffix) {
			t.Errorf("Threads %d: BLASName %q, want \"openblas <version> <core>%s\"", threads, name, suffix)
		}
	}
	if name := openBLASBackend(t, "auto", 1).BLASName(); !strings.HasPrefix(name, "openblas") {
		t.Errorf("auto chose %q although OpenBLAS loads", name)
	}
}

// missingNames are library names that no system has.
var missingNames = []string{"libmtlgpu-missing-openblas.so.0", "libmtlgpu-missing-openblas.so"}

func TestOpenBLASLoadError(t *testing.T) {
	impl, err := cpu.LoadOpenBLASFrom(missingNames, 2)
	if err == nil {
		t.Fatalf("loaded %s from %v", impl.Name(), missingNames)
	}
	if impl != nil {
		t.Errorf("non-nil implementation %#v with error %v", impl, err)
	}
	msg := err.Error()
	t.Log(msg)
	want := "openblas: cannot load " + strings.Join(missingNames, " or ") + ": "
	if !strings.HasPrefix(msg, want) {
		t.Errorf("error %q, want it to start with %q", msg, want)
	}
	whys := strings.Split(strings.TrimPrefix(msg, want), "; ")
	if len(whys) != len(missingNames) {
		t.Fatalf("error %q gives %d reasons for %d names", msg, len(whys), len(missingNames))
	}
	for i, name := range missingNames {
		why, ok := strings.CutPrefix(whys[i], name+": ")
		if !ok || strings.TrimSpace(why) == "" {
			t.Errorf("error %q does not say why %s did not load", msg, name)
		}
	}
	if _, again := cpu.LoadOpenBLASFrom(missingNames, 2); again != err {
		t.Errorf("second load gave %v, want the cached %v", again, err)
	}
	if _, err := cpu.LoadOpenBLASFrom(nil, 2); err == nil {
		t.Error("loaded OpenBLAS from no names")
	}
}

func TestDefaultOpenBLASNames(t *testing.T) {
	names := cpu.OpenBLASNames()
	if len(names) == 0 {
		t.Fatal("no library names")
	}
	if _, err := cpu.LoadOpenBLAS(1); err != nil && !strings.Contains(err.Error(), names[0]) {
		t.Errorf("error %q does not name %s", err, names[0])
	}
}

// TestOpenBLASMissing checks what the backend does when no OpenBLAS loads:
// asking for it is an error, auto falls back to gonum.
func TestOpenBLASMissing(t *testing.T) {
	cpu.SetOpenBLASNames(t, missingNames)
	b, err := cpu.New(backend.Options{BLAS: "openblas"})
	if err == nil {
		b.Close()
		t.Fatalf("BLAS openblas opened %s with no library", b.BLASName())
	}
	if !strings.Contains(err.Error(), missingNames[0]) {
		t.Errorf("error %q does not name %s", err, missingNames[0])
	}
	for _, choice := range []string{"", "auto"} {
		b, err := cpu.New(backend.Options{BLAS: choice})
		if err != nil {
			t.Fatalf("BLAS %q: %v", choice, err)
		}
		if name := b.BLASName(); name != "gonum" {
			t.Errorf("BLAS %q without OpenBLAS chose %q, want gonum", choice, name)
		}
		b.Close()
	}
}

// sgemmCall is one set of Sgemm arguments.
type sgemmCall struct {
	name        string
	tA, tB      blas.Transpose
	m, n, k     int
	alpha, beta float32
	lda, ldb    int
	ldc         int
	lenA, lenB  int
	lenC        int
	nanA, nanC  bool
}

func (s sgemmCall) run(impl cpu.BLAS) (c []float32, panicked any) {
	rng := rand.New(rand.NewPCG(3, 4))
	fill := func(n int, nan bool) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.Float64()*2 - 1)
			if nan && i%3 == 0 {
				x[i] = float32(math.NaN())
			}
		}
		return x
	}
	a, b, c := fill(s.lenA, s.nanA), fill(s.lenB, false), fill(s.lenC, s.nanC)
	defer func() { panicked = recover() }()
	impl.Sgemm(s.tA, s.tB, s.m, s.n, s.k, s.alpha, a, s.lda, b, s.ldb, s.beta, c, s.ldc)
	return c, nil
}

// TestOpenBLASEdgeCasesMatchGonum checks that the calls that multiply
// nothing, and bad arguments, behave exactly as with gonum.
func TestOpenBLASEdgeCasesMatchGonum(t *testing.T) {
	ob := loadOpenBLAS(t, 2)
	nt, tr := blas.NoTrans, blas.Trans
	calls := []sgemmCall{
		{name: "k=0 beta=0", tA: nt, tB: nt, m: 3, n: 4, k: 0, alpha: 1, beta: 0, lda: 1, ldb: 4, ldc: 4, lenC: 12, nanC: true},
		{name: "k=0 beta=0.5", tA: nt, tB: tr, m: 3, n: 4, k: 0, alpha: 1, beta: 0.5, lda: 1, ldb: 1, ldc: 5, lenC: 14},
		{name: "k=0 beta=1", tA: tr, tB: nt, m: 3, n: 4, k: 0, alpha: 1, beta: 1, lda: 3, ldb: 4, ldc: 4, lenC: 12, nanC: true},
		{name: "alpha=0 beta=0", tA: nt, tB: nt, m: 3, n: 4, k: 2, alpha: 0, beta: 0, lda: 2, ldb: 4, ldc: 4, lenA: 6, lenB: 8, lenC: 12, nanA: true, nanC: true},
		{name: "alpha=0 beta=-2", tA: nt, tB: nt, m: 3, n: 4, k: 2, alpha: 0, beta: -2, lda: 2, ldb: 4, ldc: 4, lenA: 6, lenB: 8, lenC: 12, nanA: true},
		{name: "m=0", tA: nt, tB: nt, m: 0, n: 4, k: 2, alpha: 1, beta: 0, lda: 2, ldb: 4, ldc: 4, lenB: 8},
		{name: "n=0", tA: nt, tB: nt, m: 3, n: 0, k: 2, alpha: 1, beta: 0, lda: 2, ldb: 1, ldc: 1, lenA: 6},
		{name: "beta=0 overwrites NaN", tA: nt, tB: nt, m: 3, n: 4, k: 2, alpha: 1, beta: 0, lda: 2, ldb: 4, ldc: 4, lenA: 6, lenB: 8, lenC: 12, nanC: true},
		{name: "bad tA", tA: 'x', tB: nt, m: 3, n: 4, k: 2, alpha: 1, lda: 2, ldb: 4, ldc: 4, lenA: 6, lenB: 8, lenC: 12},
		{name: "bad tB", tA: nt, tB: 'x', m: 3, n: 4, k: 2, alpha: 1, lda: 2, ldb: 4, ldc: 4, lenA: 6, lenB: 8, lenC: 12},
		{name: "m<0", tA: nt, tB: nt, m: -1, n: 4, k: 2, alpha: 1, lda: 2, ldb: 4, ldc: 4, lenB: 8},
		{name: "n<0", tA: nt, tB: nt, m: 3, n: -1, k: 2, alpha: 1, lda: 2, ldb: 4, ldc: 4, lenA: 6},
		{name: "k<0", tA: nt, tB: nt, m: 3, n: 4, k: -1, alpha: 1, lda: 2, ldb: 4, ldc: 4, lenC: 12},
		{name: "bad lda", tA: nt, tB: nt, m: 3, n: 4, k: 2, alpha: 1, lda: 1, ldb: 4, ldc: 4, lenA: 6, lenB: 8, lenC: 12},
		{name: "bad lda trans", tA: tr, tB: nt, m: 3, n: 4, k: 2, alpha: 1, lda: 2, ldb: 4, ldc: 4, lenA: 6, lenB: 8, lenC: 12},
		{name: "bad ldb", tA: nt, tB: nt, m: 3, n: 4, k: 2, alpha: 1, lda: 2, ldb: 3, ldc: 4, lenA: 6, lenB: 8, lenC: 12},
		{name: "bad ldb trans", tA: nt, tB: tr, m: 3, n: 4, k: 2, alpha: 1, lda: 2, ldb: 1, ldc: 4, lenA: 6, lenB: 8, lenC: 12},
		{name: "bad ldc", tA: nt, tB: nt, m: 3, n: 4, k: 2, alpha: 1, lda: 2, ldb: 4, ldc: 3, lenA: 6, lenB: 8, lenC: 12},
		{name: "short a", tA: nt, tB: nt, m: 3, n: 4, k: 2, alpha: 1, lda: 2, ldb: 4, ldc: 4, lenA: 5, lenB: 8, lenC: 12},
		{name: "short b", tA: nt, tB: tr, m: 3, n: 4, k: 2, alpha: 1, lda: 2, ldb: 2, ldc: 4, lenA: 6, lenB: 7, lenC: 12},
		{name: "short c", tA: nt, tB: nt, m: 3, n: 4, k: 2, alpha: 1, lda: 2, ldb: 4, ldc: 5, lenA: 6, lenB: 8, lenC: 13},
		{name: "short a alpha=0", tA: nt, tB: nt, m: 3, n: 4, k: 2, alpha: 0, lda: 2, ldb: 4, ldc: 4, lenA: 5, lenB: 8, lenC: 12},
	}
	for _, s := range calls {
		t.Run(s.name, func(t *testing.T) {
			want, wantPanic := s.run(cpu.Gonum())
			got, gotPanic := s.run(ob)
			if gotPanic != wantPanic {
				t.Fatalf("panic %v, gonum panics %v", gotPanic, wantPanic)
			}
			if !slices.Equal(bits(got), bits(want)) {
				t.Errorf("c = %v, gonum gives %v", got, want)
			}
		})
	}
}

func bits(x []float32) []uint32 {
	out := make([]uint32, len(x))
	for i, v := range x {
		out[i] = math.Float32bits(v)
	}
	return out
}

// gemmInputs returns seeded operands of an m×n×k product with the given
// transposes, each with a padded leading dimension.
func gemmInputs(tA, tB blas.Transpose, m, n, k int) (a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	rng := rand.New(rand.NewPCG(uint64(m), uint64(n*k)))
	dense := func(rows, cols int) ([]float32, int) {
		ld := cols + 3
		x := make([]float32, (rows-1)*ld+cols)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		return x, ld
	}
	if tA == blas.NoTrans {
		a, lda = dense(m, k)
	} else {
		a, lda = dense(k, m)
	}
	if tB == blas.NoTrans {
		b, ldb = dense(k, n)
	} else {
		b, ldb = dense(n, k)
	}
	c, ldc = dense(m, n)
	return a, lda, b, ldb, c, ldc
}

// TestOpenBLASDeterministic checks that OpenBLAS gives bit-identical
// products from run to run with a fixed thread count, and logs whether the
// products also agree across thread counts.
func TestOpenBLASDeterministic(t *testing.T) {
	shapes := [][3]int{{300, 200, 500}, {1024, 80, 256}, {80, 256, 1024}}
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		for _, tA := range []blas.Transpose{blas.NoTrans, blas.Trans} {
			a, lda, b, ldb, c0, ldc := gemmInputs(tA, blas.NoTrans, m, n, k)
			product := func(impl cpu.BLAS) []uint32 {
				c := slices.Clone(c0)
				impl.Sgemm(tA, blas.NoTrans, m, n, k, 1.25, a, lda, b, ldb, 0.5, c, ldc)
				return bits(c)
			}
			var first []uint32
			for _, threads := range []int{1, 2, 4} {
				impl := loadOpenBLAS(t, threads)
				want := product(impl)
				for run := range 5 {
					if got := product(impl); !slices.Equal(got, want) {
						t.Fatalf("%dx%dx%d tA=%c, %d threads: run %d differs from run 0", m, n, k, tA, threads, run+1)
					}
				}
				if first == nil {
					first = want
				} else if !slices.Equal(first, want) {
					t.Logf("%dx%dx%d tA=%c: %d threads differ from 1 thread in the last bits", m, n, k, tA, threads)
				}
			}
		}
	}
}

// TestOpenBLASBackendsWithOwnThreads runs backends with different thread
// counts side by side: each GEMM must be right whatever the other backends
// set OpenBLAS's process-wide thread count to.
func TestOpenBLASBackendsWithOwnThreads(t *testing.T) {
	const m, n, k = 257, 129, 300
	a, lda, b, ldb, c0, ldc := gemmInputs(blas.NoTrans, blas.Trans, m, n, k)
	want := slices.Clone(c0)
	cpu.Gonum().Sgemm(blas.NoTrans, blas.Trans, m, n, k, 1, a, lda, b, ldb, 0, want, ldc)
	impls := []cpu.BLAS{loadOpenBLAS(t, 1), loadOpenBLAS(t, 2), loadOpenBLAS(t, 3)}
	var wg sync.WaitGroup
	errs := make(chan string, len(impls))
	for _, impl := range impls {
		wg.Go(func() {
			for range 20 {
				c := slices.Clone(c0)
				impl.Sgemm(blas.NoTrans, blas.Trans, m, n, k, 1, a, lda, b, ldb, 0, c, ldc)
				for i := range m {
					for j := range n {
						g, w := c[i*ldc+j], want[i*ldc+j]
						if math.Abs(float64(g-w)) > 1e-4*float64(k) {
							errs <- fmt.Sprintf("%s: c[%d,%d] = %v, gonum gives %v", impl.Name(), i, j, g, w)
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// sgemmShapes are the products BenchmarkSgemm times: a large square one and
// those of one training step with batch 1024, 512 inputs, 256 hidden units
// and 80 outputs.
var sgemmShapes = []struct {
	name    string
	tA, tB  bool
	m, n, k int
}{
	{"square/2048x2048x2048", false, false, 2048, 2048, 2048},
	{"XW/1024x512x256", false, false, 1024, 256, 512},
	{"HAt/1024x256x80", false, true, 1024, 80, 256},
	{"dZtH/80x1024x256", true, false, 80, 256, 1024},
	{"dZA/1024x80x256", false, false, 1024, 256, 80},
	{"XtdH/512x1024x256", true, false, 512, 256, 1024},
}

// BenchmarkSgemm times the backend's Gemm with gonum and with OpenBLAS on
// each shape (named m×k×n, as the product reads) and reports GFLOP/s.
func BenchmarkSgemm(b *testing.B) {
	for _, s := range sgemmShapes {
		for _, impl := range []string{"gonum", "openblas"} {
			b.Run(s.name+"/"+impl, func(b *testing.B) {
				be := openBLASBackend(b, impl, 0)
				ar, ac := s.m, s.k
				if s.tA {
					ar, ac = s.k, s.m
				}
				br, bc := s.k, s.n
				if s.tB {
					br, bc = s.n, s.k
				}
				rng := rand.New(rand.NewPCG(1, 2))
				upload := func(rows, cols int) backend.Mat {
					x := make([]float32, rows*cols)
					for i := range x {
						x[i] = float32(rng.Float64()*2 - 1)
					}
					buf, err := be.Upload(x)
					if err != nil {
						b.Fatal(err)
					}
					return backend.Dense(buf, 0, rows, cols)
				}
				am, bm, cm := upload(ar, ac), upload(br, bc), upload(s.m, s.n)
				for b.Loop() {
					be.Gemm(s.tA, s.tB, 1, am, bm, 0, cm)
				}
				if err := be.Sync(); err != nil {
					b.Fatal(err)
				}
				flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
