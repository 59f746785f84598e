package cuda

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/backendtest"
	"github.com/mtl-gpu/mtl-gpu/kernels"
	"github.com/mtl-gpu/mtl-gpu/mtl/mtltest"
)

// requireCUDA makes the tests that need a GPU fail instead of skipping
// when cuda:0 cannot be opened.
var requireCUDA = os.Getenv("MTLGPU_REQUIRE_CUDA") == "1"

// openDevice opens cuda:0, or skips the test (fails with
// MTLGPU_REQUIRE_CUDA=1) when it cannot. MTLGPU_CUBLAS names the cuBLAS
// library to load, as for mtl-gpu.
func openDevice(t *testing.T, opts backend.Options) *Backend {
	t.Helper()
	if opts.CUBLAS == "" {
		opts.CUBLAS = os.Getenv("MTLGPU_CUBLAS")
	}
	b, err := New(0, opts)
	if err != nil {
		if requireCUDA {
			t.Fatalf("no CUDA device: %v", err)
		}
		t.Skipf("no CUDA device: %v (set MTLGPU_REQUIRE_CUDA=1 to fail instead)", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	t.Logf("%s: %s (%s)", b.Info().Device, b.Info().Name, b.Info().Detail)
	return b
}

// opener opens a device for a test: cuda:0 or the stand-in driver.
type opener func(t *testing.T, opts backend.Options) *Backend

// onBoth runs a test on cuda:0, when there is one, and on the stand-in
// driver.
func onBoth(t *testing.T, test func(t *testing.T, open opener)) {
	t.Run("cuda:0", func(t *testing.T) { test(t, openDevice) })
	t.Run("fake", func(t *testing.T) { test(t, openFake) })
}

// TestConformance holds the backend to the CPU backend on every operation,
// on cuda:0 and on the stand-in, where the real kernels run on the host.
func TestConformance(t *testing.T) {
	onBoth(t, func(t *testing.T, open opener) {
		backendtest.Run(t, open(t, backend.Options{}))
	})
}

// TestTrainingFollowsCPU trains every task type on cuda:0 and on the
// stand-in and requires every epoch's losses to follow the CPU backend.
func TestTrainingFollowsCPU(t *testing.T) {
	onBoth(t, func(t *testing.T, open opener) {
		mtltest.FollowsCPU(t, open(t, backend.Options{}))
	})
}

// TestJIT loads the kernels' PTX with the driver's verbose JIT log, which
// it records (on a GPU: the registers and spills of every kernel), and
// checks that each kernel of the table is in the module.
func TestJIT(t *testing.T) {
	onBoth(t, func(t *testing.T, open opener) {
		b := open(t, backend.Options{})
		err := b.run.call(func() error {
			m, log, err := b.drv.ModuleLoadData([]byte(kernels.PTX()))
			t.Logf("JIT log of the kernels on %s (%s):\n%s", b.Info().Device, b.Info().Name, log)
			if err != nil {
				return err
			}
			defer b.drv.ModuleUnload(m)
			if log == "" {
				t.Error("the driver wrote no JIT log")
			}
			for _, k := range kernels.Kernels() {
				if _, err := b.drv.ModuleGetFunction(m, k.Name); err != nil {
					t.Errorf("kernel %s: %v", k.Name, err)
				}
			}
			return nil
		})
		must(t, err)
	})
}

// TestStickyError checks that an asynchronous failure that is not a device
// fault (an index outside the source of GatherRows) is reported once, by
// the next Sync, and that the backend goes on working.
func TestStickyError(t *testing.T) { onBoth(t, testStickyError) }

func testStickyError(t *testing.T, open opener) {
	b := open(t, backend.Options{})
	src, err := b.Upload([]float32{1, 2, 3, 4})
	must(t, err)
	idx, err := b.Alloc(backend.Int32, 2)
	must(t, err)
	dst, err := b.Alloc(backend.Float32, 4)
	must(t, err)
	b.WriteInt32(idx, 0, []int32{1, 7})
	b.GatherRows(backend.Dense(dst, 0, 2, 2), backend.Dense(src, 0, 2, 2), idx, 0)
	err = b.Sync()
	if err == nil || !strings.Contains(err.Error(), "GatherRows") {
		t.Fatalf("Sync after a bad index = %v", err)
	}
	if err := b.Sync(); err != nil {
		t.Fatalf("second Sync = %v, want nil", err)
	}
	// The first index past the rows, and -1, are caught too, even where
	// the buffer goes on after the source.
	big, err := b.Upload([]float32{1, 2, 3, 4, 5, 6})
	must(t, err)
	for _, bad := range [][]int32{{1, 2}, {-1, 0}} {
		b.WriteInt32(idx, 0, bad)
		b.GatherRows(backend.Dense(dst, 0, 2, 2), backend.Dense(big, 0, 2, 2), idx, 0)
		if err := b.Sync(); err == nil || !strings.Contains(err.Error(), "GatherRows") {
			t.Errorf("Sync after indices %v of 2 rows = %v", bad, err)
		}
	}
	b.WriteInt32(idx, 0, []int32{1, 0})
	b.GatherRows(backend.Dense(dst, 0, 2, 2), backend.Dense(src, 0, 2, 2), idx, 0)
	got := make([]float32, 4)
	must(t, b.ReadFloat32(got, dst, 0))
	if !slices.Equal(got, []float32{3, 4, 1, 2}) {
		t.Errorf("gathered %v", got)
	}
}

// TestStaging writes more than the staging memory holds, in small and
// large writes, then reads everything back.
func TestStaging(t *testing.T) { onBoth(t, testStaging) }

func testStaging(t *testing.T, open opener) {
	b := open(t, backend.Options{})
	const n = 3 * stagingBytes / 4 / 2
	buf, err := b.Alloc(backend.Float32, n)
	must(t, err)
	want := make([]float32, n)
	chunk := make([]float32, 100003)
	for off := 0; off < n; off += len(chunk) {
		k := min(len(chunk), n-off)
		for i := range k {
			chunk[i] = float32(off + i)
		}
		b.WriteFloat32(buf, off, chunk[:k])
		copy(want[off:], chunk[:k])
		chunk[0] = -1 // src may be reused as soon as the call returns
	}
	big := make([]float32, stagingBytes/4+5)
	for i := range big {
		big[i] = float32(-i)
	}
	b.WriteFloat32(buf, 7, big)
	copy(want[7:], big)
	got := make([]float32, n)
	must(t, b.ReadFloat32(got, buf, 0))
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("element %d = %g, want %g", i, got[i], want[i])
		}
	}
}

// TestTF32 opens the device with TF32 allowed and checks a product to
// TF32's precision.
func TestTF32(t *testing.T) { onBoth(t, testTF32) }

func testTF32(t *testing.T, open opener) {
	b := open(t, backend.Options{TF32: true})
	if !strings.Contains(b.Info().Detail, "TF32 on") {
		t.Errorf("detail %q does not mention TF32", b.Info().Detail)
	}
	const n = 64
	a := make([]float32, n*n)
	for i := range a {
		a[i] = float32(i%7) / 7
	}
	ab, err := b.Upload(a)
	must(t, err)
	cb, err := b.Alloc(backend.Float32, n*n)
	must(t, err)
	b.Gemm(false, true, 1, backend.Dense(ab, 0, n, n), backend.Dense(ab, 0, n, n), 0, backend.Dense(cb, 0, n, n))
	c := make([]float32, n*n)
	must(t, b.ReadFloat32(c, cb, 0))
	for i := range n {
		for j := range n {
			var s float64
			for l := range n {
				s += float64(a[i*n+l]) * float64(a[j*n+l])
			}
			if math.Abs(float64(c[i*n+j])-s) > 1e-2*math.Max(1, s) {
				t.Fatalf("c[%d,%d] = %g, want %g", i, j, c[i*n+j], s)
			}
		}
	}
}

// TestClosed checks that a closed backend says so and that closing twice
// is harmless.
func TestClosed(t *testing.T) { onBoth(t, testClosed) }

func testClosed(t *testing.T, open opener) {
	b := open(t, backend.Options{})
	buf, err := b.Alloc(backend.Float32, 3)
	must(t, err)
	must(t, b.Close())
	if err := b.Sync(); !errors.Is(err, errClosed) {
		t.Errorf("Sync after Close = %v", err)
	}
	if err := b.ReadFloat32(make([]float32, 3), buf, 0); !errors.Is(err, errClosed) {
		t.Errorf("ReadFloat32 after Close = %v", err)
	}
	if _, err := b.Alloc(backend.Float32, 1); !errors.Is(err, errClosed) {
		t.Errorf("Alloc after Close = %v", err)
	}
	b.Fill(backend.Whole(buf), 1) // ignored
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestHostBuilds checks that every kernel of the table has a host build in
// the stand-in, with the parameters of its PTX entry, and that a PTX entry
// without one fails to load with a log that names it.
func TestHostBuilds(t *testing.T) {
	b := openFake(t, backend.Options{})
	err := b.run.call(func() error {
		m, log, err := b.drv.ModuleLoadData([]byte(kernels.PTX()))
		if err != nil {
			return err
		}
		must(t, b.drv.ModuleUnload(m))
		for _, k := range kernels.Kernels() {
			if want := fmt.Sprintf("fakecuda: %s: %d parameters, host build\n", k.Name, len(k.Args)); !strings.Contains(log+"\n", want) {
				t.Errorf("the stand-in has no host build of %s: log\n%s", k.Name, log)
			}
		}
		extra := strings.Replace(kernels.PTX(), ".entry axpy(", ".entry axpy_unbuilt(", 1)
		if _, _, err := b.drv.ModuleLoadData([]byte(extra)); err == nil || !strings.Contains(err.Error(), "kernel axpy_unbuilt of the PTX has no host build") {
			t.Errorf("loading a kernel without a host build: %v", err)
		}
		return nil
	})
	must(t, err)
}
