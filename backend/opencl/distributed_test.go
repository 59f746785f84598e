//go:build opencl

package opencl

import (
	"os"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/mtl/mtltest"
)

func TestMain(m *testing.M) {
	if mtltest.IsRank() {
		os.Exit(mtltest.DataParallelRank(func(int) (backend.Backend, error) { return New(first) }, nil))
	}
	os.Exit(m.Run())
}

// TestDataParallel trains on 2 processes under mpirun, each on the first
// OpenCL device, the all-reduce through the host: 5 epochs of losses must
// follow the CPU backend alone within mtltest's tolerance.
func TestDataParallel(t *testing.T) {
	open(t) // skips (or fails) without a device
	mtltest.FollowsCPUDataParallel(t, 2, "MPI through the host")
}
