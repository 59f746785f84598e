package cuda

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ebitengine/purego"
	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cuda/internal/cu"
	"github.com/mtl-gpu/mtl-gpu/kernels"
	"github.com/mtl-gpu/mtl-gpu/mtl/mtltest"
)

// The stand-in driver (testdata/fakecuda.c, linked with the host build of
// the kernels) and the cuBLAS stand-ins (testdata/fakecublas.c, one per
// major version) are built once per test binary, with the C compiler of
// the machine, into a temporary directory.
var (
	fakeOnce  sync.Once
	fakeBuilt *fakeLib
	fakeErr   error
	// fakeMissing is true when the stand-in cannot be built for want of a
	// compiler or of its sources, which only skips the tests.
	fakeMissing bool
)

// requireCC makes the tests on the stand-in fail instead of skipping when
// it cannot be built for want of a C compiler.
var requireCC = os.Getenv("MTLGPU_REQUIRE_CC") == "1"

// fakeLib is the built stand-in and its test hooks.
type fakeLib struct {
	dir    string
	driver string
	// blas12 and blas13 are cuBLAS stand-ins of major versions 12 and 13,
	// nccl the NCCL stand-in.
	blas12, blas13, nccl string

	get   func(name string) int64
	set   func(name string, value int64) int32
	reset func()
}

func TestMain(m *testing.M) {
	if os.Getenv(stallVar) != "" {
		os.Exit(runStalled())
	}
	if mtltest.IsRank() {
		os.Exit(runRank())
	}
	code := m.Run()
	if fakeBuilt != nil {
		os.RemoveAll(fakeBuilt.dir)
	}
	os.Exit(code)
}

// cCompiler returns the C compiler: $CC, cc, gcc or clang.
func cCompiler() (string, error) {
	for _, name := range []string{os.Getenv("CC"), "cc", "gcc", "clang"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no C compiler ($CC, cc, gcc or clang) to build the stand-in driver")
}

// buildFake compiles the stand-ins and binds the hooks.
func buildFake() (*fakeLib, error) {
	fakeOnce.Do(func() { fakeBuilt, fakeErr = compileFake() })
	return fakeBuilt, fakeErr
}

func compileFake() (f *fakeLib, err error) {
	cc, err := cCompiler()
	if err != nil {
		fakeMissing = true
		return nil, err
	}
	src, err := filepath.Abs("testdata")
	if err != nil {
		return nil, err
	}
	// Stat tells the test cache which files the results depend on.
	for _, name := range []string{"fakecuda.c", "fakecublas.c", "fakenccl.c"} {
		if _, err := os.Stat(filepath.Join(src, name)); err != nil {
			fakeMissing = true
			return nil, fmt.Errorf("no sources of the stand-in driver here: %v", err)
		}
	}
	dir, err := os.MkdirTemp("", "fakecuda")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	f = &fakeLib{
		dir:    dir,
		driver: filepath.Join(dir, "libfakecuda.so"),
		blas12: filepath.Join(dir, "libcublas.so.12"),
		blas13: filepath.Join(dir, "libcublas.so.13"),
		nccl:   filepath.Join(dir, "libnccl.so.2"),
	}
	host := filepath.Join(dir, "kernels_host.c")
	if err := os.WriteFile(host, []byte(kernels.Source(kernels.Host)), 0o644); err != nil {
		return nil, err
	}
	// Without _FORTIFY_SOURCE, whose longjmp refuses to switch fibers.
	warn := []string{"-std=gnu11", "-O2", "-U_FORTIFY_SOURCE", "-fPIC", "-shared", "-Wall", "-Wno-unknown-pragmas",
		"-Werror=implicit-function-declaration", "-Werror=incompatible-pointer-types", "-Werror=int-conversion"}
	builds := [][]string{
		append(warn, "-o", f.driver, filepath.Join(src, "fakecuda.c"), host, "-lm", "-lpthread"),
		append(warn, "-DFAKE_CUBLAS_MAJOR=12", "-o", f.blas12, filepath.Join(src, "fakecublas.c"), "-L"+dir, "-lfakecuda", "-Wl,-rpath,$ORIGIN"),
		append(warn, "-DFAKE_CUBLAS_MAJOR=13", "-o", f.blas13, filepath.Join(src, "fakecublas.c"), "-L"+dir, "-lfakecuda", "-Wl,-rpath,$ORIGIN"),
		append(warn, "-o", f.nccl, filepath.Join(src, "fakenccl.c"), "-L"+dir, "-lfakecuda", "-Wl,-rpath,$ORIGIN", "-lpthread", "-lrt"),
	}
	for _, args := range builds {
		out, err := exec.Command(cc, args...).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("building the stand-in driver: %s %v: %v\n%s", cc, args, err, out)
		}
	}
	handle, err := purego.Dlopen(f.driver, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return nil, fmt.Errorf("loading the stand-in driver: %v", err)
	}
	purego.RegisterLibFunc(&f.get, handle, "fake_get")
	purego.RegisterLibFunc(&f.set, handle, "fake_set")
	purego.RegisterLibFunc(&f.reset, handle, "fake_reset")
	return f, nil
}

// useFake points the loader at the stand-in driver and its two cuBLAS
// libraries for the rest of the test, and resets the stand-in when the
// test ends. Without a C compiler it skips the test (fails it with
// MTLGPU_REQUIRE_CC=1); a stand-in that does not build (a kernel that does
// not compile for the host, say) fails it.
func useFake(t testing.TB) *fakeLib {
	t.Helper()
	f, err := buildFake()
	if err != nil {
		if fakeMissing && !requireCC {
			t.Skipf("%v (set MTLGPU_REQUIRE_CC=1 to fail instead)", err)
		}
		t.Fatal(err)
	}
	f.reset()
	t.Cleanup(f.reset)
	withDriverNames(t, f.driver)
	withBLASNames(t, f.blas13, f.blas12)
	if _, _, err := loadDriver(); err != nil {
		t.Fatalf("the stand-in driver does not load: %v", err)
	}
	return f
}

// value reads one of the stand-in's counters or settings.
func (f *fakeLib) value(t testing.TB, name string) int {
	t.Helper()
	v := f.get(name)
	if v < 0 {
		t.Fatalf("the stand-in has no counter %s", name)
	}
	return int(v)
}

// setting changes one of the stand-in's settings.
func (f *fakeLib) setting(t testing.TB, name string, v int) {
	t.Helper()
	if f.set(name, int64(v)) != 0 {
		t.Fatalf("the stand-in has no setting %s", name)
	}
}

// openFake opens the stand-in's device; when the test ends it closes it and
// checks that everything was released and that every driver call came
// with the context current.
func openFake(t *testing.T, opts backend.Options) *Backend {
	t.Helper()
	b, _ := openFakeLib(t, opts)
	return b
}

// openFakeLib is openFake that also returns the stand-in.
func openFakeLib(t *testing.T, opts backend.Options) (*Backend, *fakeLib) {
	t.Helper()
	f := useFake(t)
	b, err := New(0, opts)
	if err != nil {
		t.Fatalf("opening the stand-in device: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		for _, name := range []string{"live_device", "live_host", "context_refs", "live_streams", "live_handles",
			"live_modules", "no_context_calls"} {
			if n := f.value(t, name); n != 0 {
				t.Errorf("after Close: %s = %d", name, n)
			}
		}
	})
	return b, f
}

// withBLASNames points the cuBLAS search at names for the duration of a
// test.
func withBLASNames(t testing.TB, names ...string) {
	saved := blasNames
	blasNames = names
	t.Cleanup(func() { blasNames = saved })
}

func TestFakeDevices(t *testing.T) {
	f := useFake(t)
	devs, err := Devices(backend.Options{})
	if err != nil || len(devs) != 1 {
		t.Fatalf("Devices = %v, %v", devs, err)
	}
	want := backend.DeviceInfo{
		Device: backend.Device{Kind: backend.CUDA},
		Name:   "Fake GPU",
		Memory: 16 << 30,
		Detail: "compute capability 7.0, 4 multiprocessors, driver CUDA 12.4, cuBLAS " + f.blas12,
	}
	if devs[0] != want {
		t.Errorf("listing %+v\nwant %+v", devs[0], want)
	}
	if _, err := New(1, backend.Options{}); err == nil {
		t.Error("cuda:1 opened on a machine with one device")
	}
}

func TestFakeInfo(t *testing.T) {
	b, f := openFakeLib(t, backend.Options{})
	info := b.Info()
	if info.Device.String() != "cuda:0" || info.Name != "Fake GPU" {
		t.Errorf("info %+v", info)
	}
	want := "compute capability 7.0, 4 multiprocessors, driver CUDA 12.4, cuBLAS 12.4.1 (" + f.blas12 + "), stream-ordered allocation"
	if info.Detail != want {
		t.Errorf("detail %q\nwant %q", info.Detail, want)
	}
}

// TestFakeErrors checks that failed calls come back as errors that name
// the function, the code and the driver's description, and that an error
// that is not a device fault leaves the backend working.
func TestFakeErrors(t *testing.T) {
	b := openFake(t, backend.Options{})
	_, err := b.Alloc(backend.Float32, fakeOddBytes/4)
	if err == nil || err.Error() != fmt.Sprintf("cuda: Alloc of %d float32 elements: cuMemAllocAsync: CUDA_ERROR_FAKE (a fake error)", fakeOddBytes/4) {
		t.Errorf("odd allocation: %v", err)
	}
	must(t, b.Sync())
	// A wrong argument to cuBLAS is reported with the status's name, once.
	b.gemm(cu.Gemm{TransA: cu.OpN, TransB: cu.OpN, M: 4, N: 1, K: 1, LDA: 1, LDB: 1, LDC: 4, Batch: 1}, 1, 0)
	if err := b.Sync(); err == nil || err.Error() != "cublasSgemm_v2: CUBLAS_STATUS_INVALID_VALUE (an invalid numeric value was used as an argument)" {
		t.Errorf("Sync after a bad GEMM: %v", err)
	}
	must(t, b.Sync())
	buf, err := b.Upload([]float32{1, 2, 3})
	must(t, err)
	b.Scale(backend.Whole(buf), 2)
	got := make([]float32, 3)
	must(t, b.ReadFloat32(got, buf, 0))
	if got[0] != 2 || got[1] != 4 || got[2] != 6 {
		t.Errorf("after a recovered error: %v", got)
	}
}

// fakeOddBytes is an allocation size the stand-in refuses with a code the
// backend's table does not name.
const fakeOddBytes = 0x7e57_0000
