package cuda

import (
	"os"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/mtl/mtltest"
)

// Data-parallel training on the CUDA backend, each process on its own
// stand-in device (see mtltest.FollowsCPUDataParallel).

// driverVar and blasVar name the stand-in's libraries, built once by the
// test, for the processes of the job.
const (
	driverVar = "MTLGPU_CUDA_FAKE_DRIVER"
	blasVar   = "MTLGPU_CUDA_FAKE_BLAS"
)

// runRank is one process of the job, on the stand-in.
func runRank() int {
	driverNames, blasNames = []string{os.Getenv(driverVar)}, []string{os.Getenv(blasVar)}
	return mtltest.DataParallelRank(func(int) (backend.Backend, error) { return New(0, backend.Options{}) })
}

// TestDataParallelOnStandIn trains on 2 processes, each with its own
// stand-in device, under mpirun, the all-reduce through the host: 5 epochs
// of losses must follow the CPU backend alone within mtltest's tolerance.
func TestDataParallelOnStandIn(t *testing.T) {
	f := useFake(t)
	mtltest.FollowsCPUDataParallel(t, 2, "MPI through the host (NCCL not found", driverVar+"="+f.driver, blasVar+"="+f.blas12)
}
