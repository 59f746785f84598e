package mtltest_test

import (
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
	"github.com/mtl-gpu/mtl-gpu/mtl/mtltest"
)

// TestCPUFollowsItself runs the check on the CPU backend with one thread
// and whichever BLAS is present: a different GEMM and summation split must
// stay within the tolerances device backends are held to.
func TestCPUFollowsItself(t *testing.T) {
	b, err := cpu.New(backend.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	mtltest.FollowsCPU(t, b)
}
