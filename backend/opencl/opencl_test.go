//go:build opencl

package opencl

import (
	"errors"
	"math"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/backendtest"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
	"github.com/mtl-gpu/mtl-gpu/mtl/mtltest"
)

// requireEnv makes a missing OpenCL device a failure instead of a skip;
// CI sets it.
const requireEnv = "MTLGPU_REQUIRE_OPENCL"

// first is the device the tests run on.
var first = backend.Device{Kind: backend.OpenCL}

// open opens opencl:0:0, or skips the test when no OpenCL device is
// present (fails when MTLGPU_REQUIRE_OPENCL=1).
func open(t testing.TB) *Backend {
	t.Helper()
	devs, err := enumerate()
	if err == nil && len(devs) == 0 {
		err = errors.New("no OpenCL devices are present")
	}
	if err != nil {
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("%v (%s=1 requires an OpenCL device)", err, requireEnv)
		}
		t.Skipf("skipping: %v (install an OpenCL driver such as PoCL, or set %s=1 to make this a failure)", err, requireEnv)
	}
	b, err := New(first)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// TestConformance runs the conformance suite with the kernels the device
// would use.
func TestConformance(t *testing.T) {
	b := open(t)
	t.Logf("%s: %s (%s), GEMM kernel %s", b.info.Device, b.info.Name, b.info.Detail, b.gemmName)
	backendtest.Run(t, b)
}

// TestConformanceOtherGEMM runs the GEMM cases with the kernel the device
// would not use, and with gemm_cpu reading a transposed B itself, so that
// every GEMM path is checked on whatever device is present.
func TestConformanceOtherGEMM(t *testing.T) {
	for _, c := range []struct {
		name       string
		kernel     string
		transposeB bool
	}{
		{"gemm_tiled", "gemm_tiled", false},
		{"gemm_cpu", "gemm_cpu", true},
		{"gemm_cpu/unstagedTransB", "gemm_cpu", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := open(t)
			b.gemmName, b.transposeB = c.kernel, c.transposeB
			backendtest.Run(t, b)
		})
	}
}

func TestDevices(t *testing.T) {
	open(t)
	devs, err := enumerate()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		info := d.info
		if info.Device.Kind != backend.OpenCL || info.Name == "" || info.Memory <= 0 || !strings.Contains(info.Detail, "OpenCL") {
			t.Errorf("incomplete listing %+v", info)
		}
		if got := info.Device.String(); !strings.HasPrefix(got, "opencl:") {
			t.Errorf("device string %q", got)
		}
	}
	if devs[0].info.Device != first {
		t.Errorf("first device is %s, want %s", devs[0].info.Device, first)
	}
	if _, err := New(backend.Device{Kind: backend.OpenCL, Index: 99}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("New(opencl:99:0) = %v, want a missing-device error", err)
	}
	if _, err := New(backend.Device{Kind: backend.CPU}); err == nil {
		t.Error("New(cpu) succeeded")
	}
}

// TestNoPlatforms runs the listing in a child process whose ICD loader
// finds no driver: that is zero devices, not an error.
func TestNoPlatforms(t *testing.T) {
	if os.Getenv("MTLGPU_OPENCL_CHILD") == "1" {
		devs, err := enumerate()
		if err != nil || len(devs) != 0 {
			t.Fatalf("without drivers: %d devices, error %v; want none and no error", len(devs), err)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoPlatforms$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MTLGPU_OPENCL_CHILD=1", "OCL_ICD_VENDORS="+t.TempDir(), "OCL_ICD_FILENAMES=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// TestBuildLog checks that a kernel that does not compile is reported with
// the compiler's log, which names the file and line of the #line directive.
func TestBuildLog(t *testing.T) {
	b := open(t)
	_, err := b.build("#line 1 \"broken.h\"\n__kernel void broken(__global float* x) { x[0] = undeclared; }\n")
	if err == nil || !strings.Contains(err.Error(), "broken.h:1") || !strings.Contains(err.Error(), "undeclared") {
		t.Errorf("build of a broken kernel: %v; want the log naming broken.h:1", err)
	}
}

// TestRequireOpenCL runs the device tests in child processes whose ICD
// loader finds no driver: they skip, unless MTLGPU_REQUIRE_OPENCL=1 makes
// that a failure.
func TestRequireOpenCL(t *testing.T) {
	if os.Getenv("MTLGPU_OPENCL_CHILD") == "1" {
		t.Skip("child process")
	}
	for _, require := range []string{"", "1"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDevices$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "MTLGPU_OPENCL_CHILD=1", "OCL_ICD_VENDORS="+t.TempDir(), "OCL_ICD_FILENAMES=", requireEnv+"="+require)
		out, err := cmd.CombinedOutput()
		switch {
		case require == "" && (err != nil || !strings.Contains(string(out), "SKIP")):
			t.Errorf("without a device and %s unset: %v, want a skip\n%s", requireEnv, err, out)
		case require == "1" && (err == nil || !strings.Contains(string(out), requireEnv+"=1 requires")):
			t.Errorf("without a device and %s=1: %v, want a failure\n%s", requireEnv, err, out)
		}
	}
}

// TestStickyError checks that a device-side failure (an index outside the
// gathered matrix) surfaces once, at the next Sync, and that the backend
// keeps working.
func TestStickyError(t *testing.T) {
	b := open(t)
	src, err := b.Upload([]float32{1, 2, 3, 4})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free(src)
	dst, _ := b.Alloc(backend.Float32, 4)
	defer b.Free(dst)
	idx, _ := b.Alloc(backend.Int32, 2)
	defer b.Free(idx)
	b.WriteInt32(idx, 0, []int32{1, 7})
	b.GatherRows(backend.Dense(dst, 0, 2, 2), backend.Dense(src, 0, 2, 2), idx, 0)
	b.Scale(backend.Whole(dst), 2)
	got := make([]float32, 4)
	if err := b.ReadFloat32(got, dst, 0); err == nil || !strings.Contains(err.Error(), "GatherRows") {
		t.Fatalf("ReadFloat32 after a bad gather: %v, want a GatherRows error", err)
	}
	if !slices.Equal(got, []float32{6, 8, 0, 0}) {
		t.Errorf("valid rows gathered as %v", got)
	}
	if err := b.Sync(); err == nil {
		t.Error("Sync did not report the error")
	}
	if err := b.Sync(); err != nil {
		t.Errorf("second Sync: %v", err)
	}
	b.WriteInt32(idx, 0, []int32{0, 1})
	b.GatherRows(backend.Dense(dst, 0, 2, 2), backend.Dense(src, 0, 2, 2), idx, 0)
	if err := b.ReadFloat32(got, dst, 0); err != nil || !slices.Equal(got, []float32{1, 2, 3, 4}) {
		t.Errorf("after recovery: %v, %v", got, err)
	}
}

func TestMisuse(t *testing.T) {
	b := open(t)
	ref, err := cpu.New(backend.Options{BLAS: "gonum"})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	foreign, _ := ref.Alloc(backend.Float32, 4)
	own, _ := b.Alloc(backend.Float32, 4)
	freed, _ := b.Alloc(backend.Float32, 4)
	b.Free(freed)
	for name, f := range map[string]func(){
		"foreign buffer": func() { b.Scale(backend.Whole(foreign), 2) },
		"freed buffer":   func() { b.Scale(backend.Vec{Buf: freed, Len: 4}, 2) },
		"shape mismatch": func() {
			b.Gemm(false, false, 1, backend.Dense(own, 0, 2, 2), backend.Dense(own, 0, 1, 4), 0, backend.Dense(own, 0, 2, 2))
		},
		"view past end":    func() { b.Fill(backend.Vec{Buf: own, Off: 2, Len: 3}, 1) },
		"write past end":   func() { b.WriteFloat32(own, 3, []float32{1, 2}) },
		"int32 into float": func() { b.WriteInt32(own, 0, []int32{1}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
	if err := b.ReadFloat32(make([]float32, 5), own, 0); err == nil {
		t.Error("reading past the end succeeded")
	}
	if err := b.Sync(); err != nil {
		t.Errorf("Sync after misuse: %v", err)
	}
}

func TestClosed(t *testing.T) {
	b := open(t)
	buf, _ := b.Alloc(backend.Float32, 3)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(); !errors.Is(err, errClosed) {
		t.Errorf("Sync after Close: %v", err)
	}
	if err := b.ReadFloat32(make([]float32, 3), buf, 0); !errors.Is(err, errClosed) {
		t.Errorf("ReadFloat32 after Close: %v", err)
	}
	if _, err := b.Alloc(backend.Float32, 3); !errors.Is(err, errClosed) {
		t.Errorf("Alloc after Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestEmpty checks zero-length buffers and views, which have no device
// memory behind them.
func TestEmpty(t *testing.T) {
	b := open(t)
	e, err := b.Alloc(backend.Float32, 0)
	if err != nil {
		t.Fatal(err)
	}
	u, err := b.Upload(nil)
	if err != nil {
		t.Fatal(err)
	}
	nsq, _ := b.Alloc(backend.Float32, 1)
	b.Fill(backend.Vec{Buf: nsq, Len: 1}, 5)
	b.SumSquares(backend.Vec{Buf: nsq, Len: 1}, backend.Whole(e))
	b.Axpy(backend.Whole(e), 2, backend.Whole(u))
	b.Gemm(false, false, 1, backend.Dense(e, 0, 0, 3), backend.Dense(e, 0, 3, 0), 0, backend.Dense(e, 0, 0, 0))
	got := make([]float32, 1)
	if err := b.ReadFloat32(got, nsq, 0); err != nil || got[0] != 0 {
		t.Errorf("SumSquares of nothing = %v, %v", got, err)
	}
	if err := b.ReadFloat32(nil, e, 0); err != nil {
		t.Error(err)
	}
	b.Free(e)
	b.Free(u)
	b.Free(nsq)
}

// TestDeterministic checks that reductions give bit-identical results when
// repeated.
func TestDeterministic(t *testing.T) {
	b := open(t)
	const rows, cols = 3001, 13
	data := make([]float32, rows*cols)
	for i := range data {
		data[i] = float32(math.Sin(float64(i)))
	}
	m, _ := b.Upload(data)
	out, _ := b.Alloc(backend.Float32, cols+1)
	run := func() []float32 {
		b.ColSum(backend.Vec{Buf: out, Len: cols}, backend.Dense(m, 0, rows, cols), 1, 0)
		b.SumSquares(backend.Vec{Buf: out, Off: cols, Len: 1}, backend.Whole(m))
		got := make([]float32, cols+1)
		if err := b.ReadFloat32(got, out, 0); err != nil {
			t.Fatal(err)
		}
		return got
	}
	first := run()
	for range 3 {
		if again := run(); !slices.Equal(again, first) {
			t.Fatalf("results differ between runs: %v and %v", first, again)
		}
	}
}

// TestTrainingFollowsCPU trains every task type on the OpenCL device and
// on the CPU backend with the same seed and data: the loss curves agree
// within mtltest.LossTol and a model saved from the device predicts the
// same on both.
func TestTrainingFollowsCPU(t *testing.T) {
	mtltest.FollowsCPU(t, open(t))
}
