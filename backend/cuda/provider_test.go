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
	if _, err := loadBLAS("/nonexistent/libcublas.so.12"); !errors.Is(err, cu.ErrNoCUBLAS) ||
		!strings.Contains(err.Error(), "/nonexistent/libcublas.so.12") {
		t.Errorf("loadBLAS of a missing path: %v", err)
	}
}
