package mtltest

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
)

// Data-parallel training on a device backend: the backend's test binary,
// started by FollowsCPUDataParallel as the processes of an MPI job, trains
// data-parallel on its device in each process (DataParallelRank), and
// every process compares the losses with the CPU backend's alone.

// RankVar is the variable that makes a test binary a process of
// FollowsCPUDataParallel's job; its TestMain then returns
// DataParallelRank's status instead of running the tests.
const RankVar = "MTLGPU_DATA_PARALLEL_RANK"

// parallelProblems are the problems the processes train, with a
// weighting each: a plain shared bottom with GradNorm, a mixture of
// experts with PCGrad, a task family, and embedding tables with members.
var parallelProblems = map[string]mtl.Method{"binary": mtl.GradNorm, "mmoe": mtl.PCGrad, "family": mtl.Equal, "members/embeddings": mtl.Equal}

// StartRank starts MPI in a process of a test's job. fail prints
// "rank R FAIL message" for the test to find in the job's output, aborts
// the job and returns the exit status 1. When MPI does not start,
// StartRank prints "rank ? FAIL" with the error and returns it.
func StartRank() (w *mpi.World, fail func(format string, a ...any) int, err error) {
	if w, err = mpi.Start(); err != nil {
		fmt.Println("rank ? FAIL", err)
		return nil, nil, err
	}
	return w, func(format string, a ...any) int {
		fmt.Printf("rank %d FAIL %s\n", w.Rank(), fmt.Sprintf(format, a...))
		_ = w.Abort(1)
		return 1
	}, nil
}

// DataParallelRank is one process of the job: it opens its device with
// open (given its rank on the node), trains each problem for 5 epochs
// data-parallel with the other processes and alone on the CPU backend,
// and prints "rank R ok NAME via WHAT" or "rank R FAIL ..." lines. It
// returns the exit status.
//
// waits, when not nil, counts the device's waits for its queued work:
// where the all-reduce runs on the device, the steps of an epoch with
// fixed task weights must then add none.
func DataParallelRank(open func(localRank int) (backend.Backend, error), waits func() int) int {
	w, fail, err := StartRank()
	if err != nil {
		return 1
	}
	dev, err := open(w.LocalRank())
	if err != nil {
		return fail("opening the device: %v", err)
	}
	defer dev.Close()
	ref, err := cpu.New(backend.Options{BLAS: "gonum", Threads: 1})
	if err != nil {
		return fail("%v", err)
	}
	for _, p := range Problems() {
		method, ok := parallelProblems[p.Name]
		if !ok {
			continue
		}
		cfg := mtl.DefaultConfig()
		cfg.Epochs, cfg.Batch, cfg.Patience = 5, 45, 0
		cfg.Weighting.Method = method
		train, val := Data(p.Spec, 301, 1), Data(p.Spec, 80, 2)
		var via string
		stepWaits := -1
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
				via = tr.Via()
			}
			var epochs []mtl.EpochStats
			first := 0
			count := group != nil && waits != nil && strings.HasSuffix(via, "on the device") && method == mtl.Equal
			err = tr.Fit(context.Background(), mtl.Hooks{
				Step: func(epoch, step, steps int) {
					switch {
					case !count || epoch != 1:
					case step == 0:
						first = waits()
					case step == steps-1:
						stepWaits = waits() - first
					}
				},
				Epoch: func(s mtl.EpochStats) error { epochs = append(epochs, s); return nil },
			})
			return epochs, err
		}
		got, err := fit(dev, w)
		if err != nil {
			return fail("%s on the device: %v", p.Name, err)
		}
		want, err := fit(ref, nil)
		if err != nil {
			return fail("%s on the CPU: %v", p.Name, err)
		}
		if d := LossDiffs(p.Spec, got, want); d != nil {
			return fail("%s: %s", p.Name, strings.Join(d, "; "))
		}
		if stepWaits > 0 {
			return fail("%s: the steps of an epoch waited %d times for the device", p.Name, stepWaits)
		}
		fmt.Printf("rank %d ok %s via %s\n", w.Rank(), p.Name, via)
	}
	if err := w.Finalize(); err != nil {
		fmt.Printf("rank %d FAIL finalize: %v\n", w.Rank(), err)
		return 1
	}
	return 0
}

// FollowsCPUDataParallel runs this test binary as procs processes under
// mpirun, with env added (the TestMain must hand RankVar's processes to
// DataParallelRank), and requires every process to report every problem
// trained within LossTol of the CPU backend, its all-reduce carried as
// via says. It skips without mpirun or Open MPI (fails with
// MTLGPU_REQUIRE_MPI=1).
func FollowsCPUDataParallel(t *testing.T, procs int, via string, env ...string) {
	t.Helper()
	mpirun := mpitest.Mpirun(t)
	if _, err := mpi.Open(); err != nil {
		mpitest.Skip(t, "Open MPI cannot be loaded: "+err.Error())
	}
	job := mpitest.Job{Procs: procs, Env: append([]string{RankVar + "=1"}, env...)}
	out, err := job.Run(t, mpirun)
	if err != nil {
		t.Fatalf("mpirun: %v; output:\n%s", err, out)
	}
	for r := range procs {
		for name := range parallelProblems {
			if want := fmt.Sprintf("rank %d ok %s via %s", r, name, via); len(mpitest.Lines(out, want)) != 1 {
				t.Errorf("no line %q; output:\n%s", want, out)
			}
		}
	}
}

// IsRank reports whether this test binary runs as a process of
// FollowsCPUDataParallel's job.
func IsRank() bool { return os.Getenv(RankVar) != "" }
