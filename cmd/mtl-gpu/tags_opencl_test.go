//go:build opencl

package main

import (
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/mtl"
)

func init() { buildTags = "opencl" }

// TestOpenCLDevice trains the School demonstration on the first OpenCL
// device (PoCL in CI) and on the CPU: the held-out explained variance
// agrees, and either model file loads for the other device.
func TestOpenCLDevice(t *testing.T) {
	t.Parallel()
	r := mtlgpu(t, t.TempDir(), "devices")
	ok(t, r)
	if !regexp.MustCompile(`(?m)^opencl:0:0\s`).MatchString(r.stdout) {
		t.Fatalf("devices does not list opencl:0:0:\n%s", r.stdout)
	}
	ev := func(device string) (string, string) {
		dir := t.TempDir()
		r := mtlgpu(t, dir, "train", "--quiet", "--device", device, "--epochs", "5")
		ok(t, r)
		m := regexp.MustCompile(`explained variance ([0-9.]+)%`).FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("unexpected output %q", r.stdout)
		}
		return m[1], filepath.Join(dir, "school.mtl")
	}
	cl, clModel := ev("opencl:0:0")
	cpu, _ := ev("cpu")
	if cl != cpu {
		t.Errorf("held-out explained variance %s%% on OpenCL, %s%% on the CPU", cl, cpu)
	}
	if _, _, err := mtl.LoadFile(clModel); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(clModel)
	ok(t, mtlgpu(t, dir, "predict", "--model", clModel, "--data", sharedFile(t, "school/school.csv"), "--device", "cpu", "--out", "cpu.csv"))
	ok(t, mtlgpu(t, dir, "predict", "--model", clModel, "--data", sharedFile(t, "school/school.csv"), "--device", "opencl:0:0", "--out", "cl.csv"))
	a, _ := os.ReadFile(filepath.Join(dir, "cpu.csv"))
	b, _ := os.ReadFile(filepath.Join(dir, "cl.csv"))
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	if len(la) != len(lb) || len(la) < 15000 {
		t.Fatalf("%d and %d lines of predictions", len(la), len(lb))
	}
	for i := 1; i < len(la)-1; i++ {
		x, _ := strconv.ParseFloat(la[i], 64)
		y, _ := strconv.ParseFloat(lb[i], 64)
		if math.Abs(x-y) > 1e-3 {
			t.Fatalf("line %d: %g predicted on the CPU, %g on OpenCL", i+1, x, y)
		}
	}
}
