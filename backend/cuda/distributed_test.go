package cuda

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
	"github.com/mtl-gpu/mtl-gpu/internal/mpi"
	"github.com/mtl-gpu/mtl-gpu/internal/mpitest"
	"github.com/mtl-gpu/mtl-gpu/mtl"
	"github.com/mtl-gpu/mtl-gpu/mtl/mtltest"
)

// Data-parallel training on the CUDA backend, each process on its own
// stand-in device: the trainer's all-reduce goes through the host (MPI),
// and every process must train as the CPU backend alone.

// rankVar makes the test binary a process of the data-parallel job
// instead of running the tests; driverVar and blasVar name the stand-in's
// libraries, built once by the test.
const (
	rankVar   = "MTLGPU_CUDA_RANK"
	driverVar = "MTLGPU_CUDA_FAKE_DRIVER"
	blasVar   = "MTLGPU_CUDA_FAKE_BLAS"
)

// rankProblems are the problems the processes train: a plain shared
// bottom and a mixture of experts with a gradient method.
var rankProblems = map[string]mtl.Method{"binary": mtl.GradNorm, "mmoe": mtl.PCGrad, "family": mtl.Equal}

// runRank trains each problem for 5 epochs on 2 processes and compares
// the losses with the CPU backend's alone; it prints "rank R ok NAME" or
// "rank R FAIL ..." lines and returns the exit status.
func runRank() int {
	driverNames, blasNames = []string{os.Getenv(driverVar)}, []string{os.Getenv(blasVar)}
	lib, err := mpi.Open()
	if err != nil {
		fmt.Println("rank ? FAIL", err)
		return 1
	}
	w, err := lib.Init()
	if err != nil {
		fmt.Println("rank ? FAIL", err)
		return 1
	}
	fail := func(format string, a ...any) int {
		fmt.Printf("rank %d FAIL %s\n", w.Rank(), fmt.Sprintf(format, a...))
		_ = w.Abort(1)
		return 1
	}
	dev, err := New(0, backend.Options{})
	if err != nil {
		return fail("opening the stand-in: %v", err)
	}
	defer dev.Close()
	ref, err := cpu.New(backend.Options{BLAS: "gonum", Threads: 1})
	if err != nil {
		return fail("%v", err)
	}
	for _, p := range mtltest.Problems() {
		method, ok := rankProblems[p.Name]
		if !ok {
			continue
		}
		cfg := mtl.DefaultConfig()
		cfg.Epochs, cfg.Batch, cfg.Patience = 5, 45, 0
		cfg.Weighting.Method = method
		train, val := mtltest.Data(p.Spec, 301, 1), mtltest.Data(p.Spec, 80, 2)
		fit := func(b backend.Backend, group mtl.Collective) ([]mtl.EpochStats, error) {
			m, err := mtl.NewModel(p.Spec, train, cfg.Seed)
			if err != nil {
				return nil, err
			}
			tr, err := mtl.NewTrainer(b, m, cfg, train, val, nil)
			if err != nil {
				return nil, err
			}
			defer tr.Close()
			if group != nil {
				if err := tr.Distribute(group); err != nil {
					return nil, err
				}
			}
			var epochs []mtl.EpochStats
			err = tr.Fit(context.Background(), mtl.Hooks{Epoch: func(s mtl.EpochStats) error { epochs = append(epochs, s); return nil }})
			return epochs, err
		}
		got, err := fit(dev, w)
		if err != nil {
			return fail("%s on the stand-in: %v", p.Name, err)
		}
		want, err := fit(ref, nil)
		if err != nil {
			return fail("%s on the CPU: %v", p.Name, err)
		}
		if d := mtltest.LossDiffs(p.Spec, got, want); d != nil {
			return fail("%s: %s", p.Name, strings.Join(d, "; "))
		}
		fmt.Printf("rank %d ok %s\n", w.Rank(), p.Name)
	}
	if err := w.Finalize(); err != nil {
		fmt.Printf("rank %d FAIL finalize: %v\n", w.Rank(), err)
		return 1
	}
	return 0
}

// TestDataParallelOnStandIn trains on 2 processes, each with its own
// stand-in device, under mpirun: 5 epochs of losses must follow the CPU
// backend alone within mtltest's tolerance.
func TestDataParallelOnStandIn(t *testing.T) {
	mpirun := mpitest.Mpirun(t)
	if _, err := mpi.Open(); err != nil {
		mpitest.Skip(t, "Open MPI cannot be loaded: "+err.Error())
	}
	f := useFake(t)
	out, err := mpitest.Job{Procs: 2, Env: []string{rankVar + "=1", driverVar + "=" + f.driver, blasVar + "=" + f.blas12}}.Run(t, mpirun)
	if err != nil {
		t.Fatalf("mpirun: %v; output:\n%s", err, out)
	}
	for r := range 2 {
		for name := range rankProblems {
			if want := fmt.Sprintf("rank %d ok %s", r, name); len(mpitest.Lines(out, want)) != 1 {
				t.Errorf("no line %q; output:\n%s", want, out)
			}
		}
	}
}
