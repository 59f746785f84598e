package cuda

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cuda/internal/cu"
	"github.com/mtl-gpu/mtl-gpu/mtl"
	"github.com/mtl-gpu/mtl-gpu/mtl/mtltest"
)

// openFaulting opens the stand-in's device for a test that makes it fault:
// when the test ends, Close must return the fault without freeing any
// device memory; then the stand-in is reset, as a new process would be.
func openFaulting(t *testing.T) (*Backend, *fakeLib) {
	t.Helper()
	f := useFake(t)
	b, err := New(0, backend.Options{})
	if err != nil {
		t.Fatalf("opening the stand-in device: %v", err)
	}
	t.Cleanup(func() {
		frees := f.value(t, "mem_frees") + f.value(t, "async_frees")
		live := f.value(t, "live_device")
		err := b.Close()
		if !errors.Is(err, ErrDeviceFault) {
			t.Errorf("Close after a fault = %v, want the fault", err)
		}
		if n := f.value(t, "mem_frees") + f.value(t, "async_frees"); n != frees {
			t.Errorf("Close after a fault freed device memory %d times", n-frees)
		}
		if n := f.value(t, "live_device"); n != live {
			t.Errorf("Close after a fault: %d device allocations, before %d", n, live)
		}
		if err := b.Sync(); !errors.Is(err, errClosed) {
			t.Errorf("Sync after Close = %v", err)
		}
	})
	return b, f
}

// checkFault checks that err is the fault of a backend: it wraps
// ErrDeviceFault and the driver's sticky error of code, and tells the user
// to restart and resume.
func checkFault(t *testing.T, what string, err error, code cu.Result) {
	t.Helper()
	if !errors.Is(err, ErrDeviceFault) || !cu.IsResult(err, code) {
		t.Fatalf("%s = %v, want a device fault with %s", what, err, code.Name())
	}
	for _, want := range []string{"cuda:0: the GPU faulted", code.Name(), "restart the process", "--resume"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %q does not say %q", what, err, want)
		}
	}
}

// TestFaultIsSticky makes a kernel touch freed memory: an illegal address
// (700), which leaves the context unusable. Every Sync and read returns the
// fault, allocations fail, later work is dropped, and the stand-in driver
// itself returns the error to every call that needs the context.
func TestFaultIsSticky(t *testing.T) {
	b, f := openFaulting(t)
	buf, err := b.Alloc(backend.Float32, 10)
	must(t, err)
	other, err := b.Upload([]float32{1, 2, 3})
	must(t, err)
	b.Free(buf)
	b.Fill(backend.Whole(buf), 1)
	checkFault(t, "Read after a kernel touched freed memory", b.ReadFloat32(make([]float32, 3), other, 0), 700)
	for i := range 3 {
		checkFault(t, fmt.Sprintf("Sync %d after the fault", i+1), b.Sync(), 700)
	}
	checkFault(t, "Read after Syncs", b.ReadFloat32(make([]float32, 3), other, 0), 700)
	if _, err := b.Alloc(backend.Float32, 4); !errors.Is(err, ErrDeviceFault) {
		t.Errorf("Alloc after the fault = %v", err)
	}
	launches := f.value(t, "launches")
	b.Scale(backend.Whole(other), 2)
	b.Gemm(false, false, 1, backend.Dense(other, 0, 1, 1), backend.Dense(other, 1, 1, 1), 0, backend.Dense(other, 2, 1, 1))
	b.Free(other)
	checkFault(t, "Sync after more work", b.Sync(), 700)
	if n := f.value(t, "launches"); n != launches {
		t.Errorf("%d kernels launched after the fault", n-launches)
	}
	// The stand-in behaves as the driver: the context is gone for good.
	must(t, b.run.call(func() error {
		if _, err := b.drv.MemAlloc(16); !cu.IsResult(err, 700) {
			t.Errorf("the stand-in's cuMemAlloc after the fault = %v", err)
		}
		if err := b.drv.StreamSynchronize(b.stream); !cu.IsResult(err, 700) {
			t.Errorf("the stand-in's cuStreamSynchronize after the fault = %v", err)
		}
		return nil
	}))
}

// TestStickyCodes injects each sticky error of cuda.h into a kernel and
// checks that the backend treats it as a fault, as it does an illegal
// address.
func TestStickyCodes(t *testing.T) {
	for _, code := range []cu.Result{700, 702, 710, 714, 715, 716, 717, 718, 719} {
		t.Run(fmt.Sprint(int(code)), func(t *testing.T) {
			if !code.Sticky() {
				t.Fatalf("%d is not sticky", code)
			}
			b, f := openFaulting(t)
			x, err := b.Upload([]float32{1, 2})
			must(t, err)
			f.setting(t, "fault_code", int(code))
			f.setting(t, "fault_at_launch", 2)
			b.Scale(backend.Whole(x), 2)
			b.Scale(backend.Whole(x), 2) // faults
			b.Scale(backend.Whole(x), 2)
			checkFault(t, "Sync", b.Sync(), code)
			checkFault(t, "Sync again", b.Sync(), code)
		})
	}
	for _, code := range []cu.Result{0, 1, 2, 201, 400, 701, 999} {
		if code.Sticky() {
			t.Errorf("%d is sticky", code)
		}
	}
}

// TestFaultKeepsModel trains on the stand-in, saving the model at the end
// of every epoch as mtl-gpu train does, and makes a kernel of the second
// epoch fault. Training stops with the fault, nothing can be read back to
// save, and the file of the first epoch is left as it was.
func TestFaultKeepsModel(t *testing.T) {
	b, f := openFaulting(t)
	p := mtltest.Problems()[0]
	train := mtltest.Data(p.Spec, 300, 1)
	cfg := mtl.DefaultConfig()
	cfg.Epochs, cfg.Batch, cfg.Patience = 3, 64, 0
	m, err := mtl.NewModel(p.Spec, train, cfg.Seed)
	must(t, err)
	tr, err := mtl.NewTrainer(b, m, cfg, train, nil, nil)
	must(t, err)
	defer tr.Close()
	file := filepath.Join(t.TempDir(), "model.mtl")
	var saved []byte
	err = tr.Fit(context.Background(), mtl.Hooks{Epoch: func(s mtl.EpochStats) error {
		ck, err := tr.Checkpoint()
		if err != nil {
			return err
		}
		if err := mtl.SaveFile(file, ck, nil); err != nil {
			return err
		}
		if saved, err = os.ReadFile(file); err != nil {
			return err
		}
		// Fault in the middle of the next epoch.
		f.setting(t, "fault_at_launch", f.value(t, "launches")/2)
		return nil
	}})
	checkFault(t, "Fit", err, 700)
	if _, err := tr.Checkpoint(); !errors.Is(err, ErrDeviceFault) {
		t.Errorf("Checkpoint after the fault = %v", err)
	}
	now, err := os.ReadFile(file)
	must(t, err)
	if saved == nil || !bytes.Equal(now, saved) {
		t.Fatal("the model saved at the end of the first epoch changed")
	}
	ck, _, err := mtl.LoadFile(file)
	must(t, err)
	if ck.State.Epoch != 1 {
		t.Errorf("the saved model is at epoch %d, want 1", ck.State.Epoch)
	}
}
