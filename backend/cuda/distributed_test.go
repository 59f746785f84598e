package cuda

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ebitengine/purego"
	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/internal/mpi"
	"github.com/mtl-gpu/mtl-gpu/internal/mpitest"
	"github.com/mtl-gpu/mtl-gpu/mtl/mtltest"
)

// Data-parallel training on the CUDA backend, each process on a stand-in
// device of its own (see mtltest.FollowsCPUDataParallel): through the host
// with MPI, and on the device with the NCCL stand-in.

// The variables that name the stand-in's libraries, built once by the
// test, for the processes of the job; ncclVar is empty for a job without
// NCCL.
const (
	driverVar = "MTLGPU_CUDA_FAKE_DRIVER"
	blasVar   = "MTLGPU_CUDA_FAKE_BLAS"
	ncclVar   = "MTLGPU_CUDA_FAKE_NCCL"
)

// stallVar makes the test binary a process of TestStalledCollective's job.
const stallVar = "MTLGPU_CUDA_STALL"

// runStalled is one process of a job of two whose rank 1 joins the NCCL
// group and then never all-reduces: rank 0 all-reduces with a group
// timeout of a second, waits, and reports how long the wait took and its
// error.
func runStalled() int {
	driverNames, blasNames, ncclNames = []string{os.Getenv(driverVar)}, []string{os.Getenv(blasVar)}, []string{os.Getenv(ncclVar)}
	w, fail, err := mtltest.StartRank()
	if err != nil {
		return 1
	}
	b, err := New(w.LocalRank(), backend.Options{})
	if err != nil {
		return fail("%v", err)
	}
	b.SetGroupTimeout(time.Second)
	id := make([]byte, 128)
	if w.Rank() == 0 {
		if id, err = b.GroupID(); err != nil {
			return fail("%v", err)
		}
	}
	if err := w.Bcast(id, 0); err != nil {
		return fail("%v", err)
	}
	if err := b.JoinGroup(id, w.Rank(), w.Size()); err != nil {
		return fail("%v", err)
	}
	if w.Rank() == 0 {
		buf, err := b.Upload([]float32{1, 2, 3})
		if err != nil {
			return fail("%v", err)
		}
		start := time.Now()
		b.AllReduceSum(backend.Vec{Buf: buf, Len: 3})
		err = b.Sync()
		fmt.Printf("rank 0 waited %.1f s: %v\n", time.Since(start).Seconds(), err)
	}
	// Rank 1 waits here, in MPI, for rank 0 to be done.
	if err := w.Barrier(); err != nil {
		return fail("%v", err)
	}
	b.Close()
	if err := w.Finalize(); err != nil {
		return fail("%v", err)
	}
	return 0
}

// TestStalledCollective: a process whose NCCL collective never finishes,
// because the other process never makes its part, does not hang. The
// watchdog of the wait aborts the group after the group timeout (the
// stand-in's own wait would last a minute), and the wait returns why.
func TestStalledCollective(t *testing.T) {
	f := useFake(t)
	mpirun := mpitest.Mpirun(t)
	if _, err := mpi.Open(); err != nil {
		mpitest.Skip(t, "Open MPI cannot be loaded: "+err.Error())
	}
	job := mpitest.Job{Procs: 2, Timeout: 40 * time.Second, Env: []string{stallVar + "=1", driverVar + "=" + f.driver,
		blasVar + "=" + f.blas12, ncclVar + "=" + f.nccl, "FAKE_CUDA_DEVICES=2", "FAKE_NCCL_TIMEOUT=60"}}
	out, err := job.Run(t, mpirun)
	if err != nil {
		t.Fatalf("mpirun: %v; output:\n%s", err, out)
	}
	lines := mpitest.Lines(out, "rank 0 waited ")
	if len(lines) != 1 {
		t.Fatalf("no report of rank 0's wait; output:\n%s", out)
	}
	var secs float64
	if _, err := fmt.Sscanf(lines[0], "rank 0 waited %g s:", &secs); err != nil || secs < 0.9 || secs > 10 {
		t.Errorf("rank 0 waited %v s (want about 1 s): %s", secs, lines[0])
	}
	if !strings.Contains(lines[0], "the device waited more than 1s for an NCCL collective") {
		t.Errorf("the error does not say why the group was aborted: %s", lines[0])
	}
}

// runRank is one process of the job, on the stand-in device of its local
// rank; the stand-in's count of waits shows whether a step waited.
func runRank() int {
	driver := os.Getenv(driverVar)
	driverNames, blasNames = []string{driver}, []string{os.Getenv(blasVar)}
	if nccl := os.Getenv(ncclVar); nccl != "" {
		ncclNames = []string{nccl}
	} else {
		ncclNames = []string{"libnccl-absent.so.2"}
	}
	var get func(name string) int64
	if h, err := purego.Dlopen(driver, purego.RTLD_NOW|purego.RTLD_LOCAL); err == nil {
		purego.RegisterLibFunc(&get, h, "fake_get")
	}
	waits := func() int { return int(get("waits")) }
	return mtltest.DataParallelRank(func(local int) (backend.Backend, error) { return New(local, backend.Options{}) }, waits)
}

// TestDataParallelOnStandIn trains on 2 processes under mpirun, each on
// its own device of the stand-in (which offers two): through the host
// without NCCL, and through the NCCL stand-in on the devices' streams,
// where a step must not wait; 5 epochs of losses must follow the CPU
// backend alone within mtltest's tolerance.
func TestDataParallelOnStandIn(t *testing.T) {
	f := useFake(t)
	env := []string{driverVar + "=" + f.driver, blasVar + "=" + f.blas12, "FAKE_CUDA_DEVICES=2"}
	t.Run("host", func(t *testing.T) {
		mtltest.FollowsCPUDataParallel(t, 2, "MPI through the host (NCCL not found", env...)
	})
	t.Run("nccl", func(t *testing.T) {
		mtltest.FollowsCPUDataParallel(t, 2, "NCCL 2.23.4 on the device", append(env, ncclVar+"="+f.nccl)...)
	})
}

// TestGroupOfOne drives the NCCL binding in one process on the stand-in: a
// group of one sums to the values themselves, in stream order; joining
// again as the same rank keeps the group and as another fails; after
// AbortGroup a collective fails the device; and before any of it a missing
// library says why.
func TestGroupOfOne(t *testing.T) {
	b, f := openFakeLib(t, backend.Options{})
	saved := ncclNames
	t.Cleanup(func() { ncclNames = saved })
	ncclNames = []string{"libnccl-absent.so.2"}
	if err := b.GroupReady(); err == nil || !strings.Contains(err.Error(), "NCCL not found (libnccl-absent.so.2") {
		t.Fatalf("GroupReady without NCCL: %v", err)
	}
	ncclNames = []string{f.nccl}
	id, err := b.GroupID()
	if err != nil || len(id) != 128 {
		t.Fatalf("GroupID = %d bytes, %v", len(id), err)
	}
	if err := b.JoinGroup(id, 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := b.JoinGroup(id, 0, 1); err != nil {
		t.Errorf("joining again as the same rank: %v", err)
	}
	if err := b.JoinGroup(id, 1, 2); err == nil {
		t.Error("joining again as another rank succeeded")
	}
	if got := b.GroupName(); got != "NCCL 2.23.4" {
		t.Errorf("GroupName = %q", got)
	}
	h, err := purego.Dlopen(f.nccl, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		t.Fatal(err)
	}
	var counter func(name string) int64
	purego.RegisterLibFunc(&counter, h, "fakenccl_get")
	want := []float32{1, -2, 3.5, 4, 5}
	buf, err := b.Upload(append([]float32{9}, want...))
	if err != nil {
		t.Fatal(err)
	}
	before := counter("allreduces_run")
	b.AllReduceSum(backend.Vec{Buf: buf, Off: 1, Len: len(want)})
	if counter("allreduces_run") != before {
		t.Error("the all-reduce ran before the host waited for the stream")
	}
	got := make([]float32, len(want)+1)
	if err := b.ReadFloat32(got, buf, 0); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got[1:], want) || got[0] != 9 || counter("allreduces_run") != before+1 {
		t.Errorf("after the all-reduce of a group of one: %v (%d ran)", got, counter("allreduces_run")-before)
	}
	b.AbortGroup()
	b.AllReduceSum(backend.Vec{Buf: buf, Off: 1, Len: len(want)})
	if err := b.Sync(); err == nil {
		t.Error("a collective after AbortGroup did not fail")
	}
	b.Free(buf)
}

// TestNCCLStandInItself builds and runs the stand-in's own C test
// (testdata/fakenccl_test.c): three forked processes on three stand-in
// devices sum in rank order, in stream order, across chunks, and fail
// rather than hang when one aborts, times out or disagrees on a count.
func TestNCCLStandInItself(t *testing.T) {
	f := useFake(t)
	cc, err := cCompiler()
	if err != nil {
		t.Fatal(err)
	}
	src, err := filepath.Abs(filepath.Join("testdata", "fakenccl_test.c"))
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(t.TempDir(), "fakenccl_test")
	build := exec.Command(cc, "-std=gnu11", "-O2", "-Wall", "-o", exe, src, "-L"+f.dir, "-l:libnccl.so.2", "-lfakecuda",
		"-Wl,-rpath,"+f.dir, "-lpthread", "-lrt", "-lm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the stand-in's test: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, exe).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("the NCCL stand-in's test: %v\n%s", err, out)
	}
}
