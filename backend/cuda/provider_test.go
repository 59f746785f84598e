package cuda

import (
	"errors"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cuda/internal/cu"
)

// withDriverNames points the loader at names for the duration of a test.
func withDriverNames(t testing.TB, names ...string) {
	saved := driverNames
	driverNames = names
	t.Cleanup(func() { driverNames = saved })
}

func TestDevicesWithoutDriver(t *testing.T) {
	withDriverNames(t, "libcuda-missing.so.1")
	devs, err := Devices(backend.Options{})
	if err == nil || len(devs) != 0 {
		t.Fatalf("Devices = %v, %v; want an error", devs, err)
	}
	if !errors.Is(err, cu.ErrNoDriver) || !strings.HasPrefix(err.Error(), "no NVIDIA driver found (libcuda-missing.so.1: ") {
		t.Errorf("error %q", err)
	}
	if _, err := New(0, backend.Options{}); !errors.Is(err, cu.ErrNoDriver) {
		t.Errorf("New: %v", err)
	}
}

// TestRegistered checks that the provider is registered and that, on a
// machine without a usable CUDA device, listing says why instead of
// failing, and auto moves on to the CPU.
func TestRegistered(t *testing.T) {
	var found bool
	for _, l := range backend.List(backend.Options{}) {
		if l.Kind != backend.CUDA {
			continue
		}
		found = true
		if l.Err != nil {
			t.Logf("cuda: %v", l.Err)
			if !errors.Is(l.Err, cu.ErrNoDriver) && !errors.Is(l.Err, cu.ErrNoCUBLAS) && !strings.Contains(l.Err.Error(), "did not initialise") {
				t.Errorf("unexpected listing error %v", l.Err)
			}
			_, _, err := backend.Open(backend.Device{Kind: backend.CUDA}, backend.Options{})
			if err == nil || !strings.Contains(err.Error(), l.Err.Error()) {
				t.Errorf("Open(cuda:0) = %v, want the listing error", err)
			}
		}
		for _, d := range l.Devices {
			if d.Device.Kind != backend.CUDA || !strings.Contains(d.Detail, "compute capability ") || d.Memory <= 0 || d.CPU {
				t.Errorf("listing %+v", d)
			}
		}
	}
	if !found {
		t.Fatal("the cuda provider is not registered")
	}
}

func TestMissingCUBLAS(t *testing.T) {
	if _, _, err := loadBLAS("/nonexistent/libcublas.so.12", 12040); !errors.Is(err, cu.ErrNoCUBLAS) ||
		!strings.Contains(err.Error(), "/nonexistent/libcublas.so.12") {
		t.Errorf("loadBLAS of a missing path: %v", err)
	}
}

func TestBLASDriver(t *testing.T) {
	for name, want := range map[string]int{
		"libcublas.so.13": 13000, "libcublas.so.12": 12000, "/opt/x/libcublas.so.12.4.5.8": 12000,
		"libcublas.so.11": 11000, "libcublas.so": 0, "/tmp/mycublas.so": 0, "libcublas.so.x": 0,
	} {
		if got := blasDriver(name); got != want {
			t.Errorf("blasDriver(%q) = %d, want %d", name, got, want)
		}
	}
}

// TestBLASSelection opens the stand-in with cuBLAS 13 and 12 to choose
// from: a library the driver is too old for is passed over (the stand-in's
// cuBLAS 13 would fail to make a handle), a library whose handle cannot be
// created gives way to the next, the device's details (what mtl-gpu
// devices and the log show) say which was used and why a library that
// loaded was not, and an error says why for every library.
func TestBLASSelection(t *testing.T) {
	for _, c := range []struct {
		name        string
		driver      int
		createFails int
		path        func(f *fakeLib) string
		// use is the library used, or nil when none can be.
		use func(f *fakeLib) string
		// why is what the details or the error say, in pieces
		// separated by "…".
		why  string
		list string
	}{
		{name: "driver 12.4", driver: 12040, use: (*fakeLib).lib12},
		{name: "driver 13.0", driver: 13000, use: (*fakeLib).lib13},
		{name: "driver 13.0, cuBLAS 13 fails", driver: 13000, createFails: 13, use: (*fakeLib).lib12,
			why: "libcublas.so.13: cublasCreate_v2: CUBLAS_STATUS_NOT_INITIALIZED (the library was not initialized)"},
		{name: "path whose handle fails", driver: 13000, createFails: 13, path: (*fakeLib).lib13, use: nil,
			why: "libcublas.so.13: cublasCreate_v2: CUBLAS_STATUS_NOT_INITIALIZED"},
		{name: "driver 12.4, cuBLAS 12 fails", driver: 12040, createFails: 12, use: nil,
			why: "libcublas.so.13 needs a driver for CUDA 13.0 or later; the driver supports CUDA 12.4; …" +
				"/libcublas.so.12: cublasCreate_v2: CUBLAS_STATUS_NOT_INITIALIZED"},
		{name: "driver 11.8", driver: 11080, use: nil, why: "libcublas.so.12 needs a driver for CUDA 12.0 or later; the driver supports CUDA 11.8"},
		{name: "path, driver 12.4", driver: 12040, path: (*fakeLib).lib12, use: (*fakeLib).lib12},
		{name: "path too new", driver: 12040, path: (*fakeLib).lib13, use: nil,
			why: "libcublas.so.13 needs a driver for CUDA 13.0 or later; the driver supports CUDA 12.4"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := useFake(t)
			loadMu.Lock()
			delete(blases, f.blas12)
			delete(blases, f.blas13)
			loadMu.Unlock()
			f.setting(t, "driver_version", c.driver)
			f.setting(t, "cublas_create_fails", c.createFails)
			var opts backend.Options
			if c.path != nil {
				opts.CUBLAS = c.path(f)
			}
			b, err := New(0, opts)
			if c.use == nil {
				if err == nil {
					b.Close()
					t.Fatal("opened without a usable cuBLAS")
				}
				if !errors.Is(err, cu.ErrNoCUBLAS) || !containsAll(err.Error(), c.why) {
					t.Fatalf("error %v, want cuBLAS not found because %s", err, c.why)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer func() { must(t, b.Close()) }()
			if b.blas.Library() != c.use(f) {
				t.Errorf("uses %s, want %s", b.blas.Library(), c.use(f))
			}
			detail := b.Info().Detail
			if !strings.Contains(detail, "("+c.use(f)) || !containsAll(detail, c.why) {
				t.Errorf("detail %q does not say %s is used (%s)", detail, c.use(f), c.why)
			}
			if c.why == "" && !strings.Contains(detail, "("+c.use(f)+")") {
				t.Errorf("detail %q says more than that %s is used", detail, c.use(f))
			}
			// A library the driver is too old for is not even loaded.
			loadMu.Lock()
			_, loaded := blases[f.blas13]
			loadMu.Unlock()
			if c.driver < 13000 && loaded {
				t.Error("cuBLAS 13 was loaded for a driver of CUDA 12")
			}
			// The backend works with it.
			x, err := b.Upload([]float32{1, 2, 3, 4})
			must(t, err)
			y, err := b.Alloc(backend.Float32, 4)
			must(t, err)
			b.Gemm(false, false, 1, backend.Dense(x, 0, 2, 2), backend.Dense(x, 0, 2, 2), 0, backend.Dense(y, 0, 2, 2))
			got := make([]float32, 4)
			must(t, b.ReadFloat32(got, y, 0))
			if got[0] != 7 || got[1] != 10 || got[2] != 15 || got[3] != 22 {
				t.Errorf("product %v", got)
			}
		})
	}
}

// containsAll reports whether s contains each piece of pieces, separated
// by "…", in order.
func containsAll(s, pieces string) bool {
	for _, p := range strings.Split(pieces, "…") {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return true
}

func (f *fakeLib) lib12() string { return f.blas12 }
func (f *fakeLib) lib13() string { return f.blas13 }
