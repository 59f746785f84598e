package cuda

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cuda/internal/cu"
)

// The fake driver (testdata/fakecuda.c) is built once per test binary, with
// the C compiler of the machine, into a temporary directory.
var (
	fakeOnce sync.Once
	fakeDir  string
	fakeLib  string
	fakeErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fakeDir != "" {
		os.RemoveAll(fakeDir)
	}
	os.Exit(code)
}

// buildFake compiles the fake driver and returns its path.
func buildFake() (string, error) {
	fakeOnce.Do(func() {
		var cc string
		for _, name := range []string{os.Getenv("CC"), "cc", "gcc", "clang"} {
			if name == "" {
				continue
			}
			if p, err := exec.LookPath(name); err == nil {
				cc = p
				break
			}
		}
		if cc == "" {
			fakeErr = fmt.Errorf("no C compiler to build the fake driver")
			return
		}
		src, err := filepath.Abs(filepath.Join("testdata", "fakecuda.c"))
		if err != nil {
			fakeErr = err
			return
		}
		if fakeDir, err = os.MkdirTemp("", "fakecuda"); err != nil {
			fakeErr = err
			return
		}
		lib := filepath.Join(fakeDir, "libfakecuda.so")
		out, err := exec.Command(cc, "-shared", "-fPIC", "-O2", "-o", lib, src, "-lm", "-lpthread").CombinedOutput()
		if err != nil {
			fakeErr = fmt.Errorf("building the fake driver: %v\n%s", err, out)
			return
		}
		fakeLib = lib
	})
	return fakeLib, fakeErr
}

// Counters the fake driver reports through cuDeviceGetAttribute.
const (
	fakeLiveDevice cu.Attribute = 1000001 + iota
	fakeLiveHost
	fakeContextRefs
	fakeLiveStreams
	fakeLiveHandles
	fakeLiveModules
	fakeNoContextCalls
	fakeLaunches
	fakeGemms
)

// fakeOddBytes is an allocation size the fake refuses with a code the
// backend's table does not name.
const fakeOddBytes = 0x7e57_0000_0000

// useFake points the loader at the fake driver for the rest of the test and
// returns the options that load its cuBLAS; it skips the test when the fake
// cannot be built or loaded here.
func useFake(t testing.TB) backend.Options {
	t.Helper()
	lib, err := buildFake()
	if err != nil {
		t.Skip(err)
	}
	withDriverNames(t, lib)
	if _, _, err := loadDriver(); err != nil {
		t.Skipf("the fake driver does not load here: %v", err)
	}
	return backend.Options{CUBLAS: lib}
}

// fakeCounter reads one of the fake's counters.
func fakeCounter(t testing.TB, c cu.Attribute) int {
	t.Helper()
	drv, _, err := loadDriver()
	if err != nil {
		t.Fatal(err)
	}
	v, err := drv.DeviceAttribute(c, 0)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// openFake opens the fake device; when the test ends it closes it and
// checks that everything was released and that every driver call came
// with the context current.
func openFake(t *testing.T, opts backend.Options) *Backend {
	t.Helper()
	lib := useFake(t)
	opts.CUBLAS = lib.CUBLAS
	b, err := New(0, opts)
	if err != nil {
		t.Fatalf("opening the fake device: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		for _, c := range []struct {
			name string
			attr cu.Attribute
		}{
			{"device allocations", fakeLiveDevice},
			{"host allocations", fakeLiveHost},
			{"context references", fakeContextRefs},
			{"streams", fakeLiveStreams},
			{"cuBLAS handles", fakeLiveHandles},
			{"modules", fakeLiveModules},
			{"calls without a current context", fakeNoContextCalls},
		} {
			if n := fakeCounter(t, c.attr); n != 0 {
				t.Errorf("after Close: %d %s", n, c.name)
			}
		}
	})
	return b
}

func TestFakeDevices(t *testing.T) {
	opts := useFake(t)
	devs, err := Devices(opts)
	if err != nil || len(devs) != 1 {
		t.Fatalf("Devices = %v, %v", devs, err)
	}
	want := backend.DeviceInfo{
		Device: backend.Device{Kind: backend.CUDA},
		Name:   "Fake GPU",
		Memory: 16 << 30,
		Detail: "compute capability 7.0, 4 multiprocessors, driver CUDA 12.4",
	}
	if devs[0] != want {
		t.Errorf("listing %+v\nwant %+v", devs[0], want)
	}
	if _, err := New(1, opts); err == nil {
		t.Error("cuda:1 opened on a machine with one device")
	}
}

func TestFakeInfo(t *testing.T) {
	b := openFake(t, backend.Options{})
	info := b.Info()
	if info.Device.String() != "cuda:0" || info.Name != "Fake GPU" {
		t.Errorf("info %+v", info)
	}
	want := "compute capability 7.0, 4 multiprocessors, driver CUDA 12.4, cuBLAS 12.4.1 (" + useFake(t).CUBLAS + ")"
	if info.Detail != want {
		t.Errorf("detail %q\nwant %q", info.Detail, want)
	}
}

// TestFakeErrors checks that failed calls come back as errors that name
// the function, the code and the driver's description.
func TestFakeErrors(t *testing.T) {
	b := openFake(t, backend.Options{})
	_, err := b.Alloc(backend.Float32, fakeOddBytes/4)
	if err == nil || err.Error() != fmt.Sprintf("cuda: Alloc of %d float32 elements: cuMemAlloc_v2: CUDA_ERROR_FAKE (a fake error)", fakeOddBytes/4) {
		t.Errorf("odd allocation: %v", err)
	}
	_, err = b.Alloc(backend.Float32, 1<<40)
	if !cu.IsResult(err, cu.ErrorOutOfMemory) {
		t.Errorf("huge allocation: %v", err)
	}
	// A kernel that touches freed memory fails asynchronously: the next
	// Read reports it (and keeps it), Sync reports and clears it.
	buf, err := b.Alloc(backend.Float32, 10)
	must(t, err)
	other, err := b.Alloc(backend.Float32, 10)
	must(t, err)
	b.Free(buf)
	b.Fill(backend.Whole(buf), 1)
	const want = "cuStreamSynchronize: CUDA_ERROR_ILLEGAL_ADDRESS (an illegal memory access was encountered)"
	for _, what := range []string{"Read", "Sync"} {
		var err error
		if what == "Read" {
			err = b.ReadFloat32(make([]float32, 10), other, 0)
		} else {
			err = b.Sync()
		}
		if err == nil || err.Error() != want {
			t.Errorf("%s after a failed launch: %v, want %q", what, err, want)
		}
	}
	must(t, b.Sync())
	// A wrong argument to cuBLAS is reported with the status's name.
	b.gemm(cu.Gemm{TransA: cu.OpN, TransB: cu.OpN, M: 4, N: 1, K: 1, LDA: 1, LDB: 1, LDC: 4, Batch: 1}, 1, 0)
	if err := b.Sync(); err == nil || err.Error() != "cublasSgemm_v2: CUBLAS_STATUS_INVALID_VALUE (an invalid numeric value was used as an argument)" {
		t.Errorf("Sync after a bad GEMM: %v", err)
	}
}

func TestFakeConformance(t *testing.T) {
	b := openFake(t, backend.Options{})
	runConformance(t, b)
	if fakeCounter(t, fakeLaunches) == 0 || fakeCounter(t, fakeGemms) == 0 {
		t.Error("the conformance suite launched no kernel or no GEMM")
	}
}
