package main

import (
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mtl-gpu/mtl-gpu/internal/mpi"
	"github.com/mtl-gpu/mtl-gpu/internal/mpitest"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// mpirunOrSkip returns mpirun's path, having checked that Open MPI loads.
func mpirunOrSkip(t *testing.T) string {
	t.Helper()
	mpirun := mpitest.Mpirun(t)
	if _, err := mpi.Open(); err != nil {
		mpitest.Skip(t, "Open MPI cannot be loaded: "+err.Error())
	}
	return mpirun
}

// underMpirun runs mtl-gpu as procs processes of an MPI job in dir.
func underMpirun(t *testing.T, mpirun string, procs int, dir string, job mpitest.Job, args ...string) result {
	t.Helper()
	job.Procs, job.Exe, job.Dir, job.Args = procs, binary, dir, args
	out, err := job.Run(t, mpirun)
	r := result{stdout: out}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

var heldOutRE = regexp.MustCompile(`held-out explained variance ([0-9.]+)%`)

// TestTrainUnderMpirun trains the demonstration on 2 processes: one
// process speaks and writes the model, which learns what a run alone
// learns and resumes in one process.
func TestTrainUnderMpirun(t *testing.T) {
	mpirun := mpirunOrSkip(t)
	dir := t.TempDir()
	args := []string{"train", "--epochs", "4", "--patience", "0", "--seed", "3"}
	r := underMpirun(t, mpirun, 2, dir, mpitest.Job{}, append(args, "--out", "dp.mtl")...)
	ok(t, r)
	if n := strings.Count(r.stdout, "data-parallel training: 2 processes under Open MPI"); n != 1 {
		t.Errorf("%d lines say what the run found, want 1 (rank 0's); output:\n%s", n, r.stdout)
	}
	if !strings.Contains(r.stdout, "statistics pass not shared: each of 2 processes read every row (rows held out of the statistics are chosen by their row number)") {
		t.Errorf("the run does not say that the built-in data, whose test rows are held out, is read by every process; output:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, `allreduce="MPI through the host"`) {
		t.Errorf("the training line does not say what carries the all-reduce; output:\n%s", r.stdout)
	}
	if n := strings.Count(r.stdout, "model saved to dp.mtl"); n != 1 {
		t.Errorf("%d processes said they saved the model, want 1; output:\n%s", n, r.stdout)
	}
	alone := mtlgpu(t, dir, append(args, "--out", "one.mtl")...)
	ok(t, alone)
	dp, one := heldOutRE.FindStringSubmatch(r.stdout), heldOutRE.FindStringSubmatch(alone.stdout)
	if dp == nil || one == nil || dp[1] != one[1] {
		t.Errorf("held-out explained variance on 2 processes %v, alone %v", dp, one)
	}
	a, b, d := twoModels(t, dir)
	if a.State.Epoch != b.State.Epoch || a.State.BestEpoch != b.State.BestEpoch {
		t.Errorf("2 processes: epoch %d (best %d), alone %d (%d)", a.State.Epoch, a.State.BestEpoch, b.State.Epoch, b.State.BestEpoch)
	}
	if !(d < 1e-3) {
		t.Errorf("parameters on 2 processes differ from alone by %.3g (relative)", d)
	}
	// Resumed in one process, as any model.
	ok(t, mtlgpu(t, dir, "train", "--resume", "dp.mtl", "--epochs", "6", "--quiet"))
}

// TestCrossValidationUnderMpirun trains the default 5 folds of a small
// table on 2 processes, each fold judged by its accuracy on the
// validation rows that the processes share: the out-of-fold report is
// the one-process run's.
func TestCrossValidationUnderMpirun(t *testing.T) {
	mpirun := mpirunOrSkip(t)
	dir := t.TempDir()
	args := []string{"train", "--data", sharedFile(t, "sklearn/wine_train.csv"), "--task", "cultivar:multiclass",
		"--task", "proline:regression", "--epochs", "20", "--seed", "2", "--metric", "accuracy"}
	r := underMpirun(t, mpirun, 2, dir, mpitest.Job{}, append(args, "--out", "dp.mtl")...)
	ok(t, r)
	alone := mtlgpu(t, dir, append(args, "--out", "one.mtl")...)
	ok(t, alone)
	report := regexp.MustCompile(`(?m)^(cultivar|proline) .*$`)
	got, want := report.FindAllString(r.stdout, -1), report.FindAllString(alone.stdout, -1)
	if len(want) == 0 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("out-of-fold report on 2 processes:\n%s\nalone:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestStreamUnderMpirun streams the training rows on 2 processes, which
// share the first pass: each writes the block cache of its part of the
// file and reads both parts, and removes its own, with half the node's
// --max-memory each: the model is the one a streamed run alone trains
// with that half.
func TestStreamUnderMpirun(t *testing.T) {
	mpirun := mpirunOrSkip(t)
	dir := t.TempDir()
	args := []string{"train", "--data", sharedFile(t, "seed_example/seed_train.csv"), "--task", "y:multiclass", "--epochs", "3",
		"--stream", "--shuffle-window", "2", "--seed", "5"}
	r := underMpirun(t, mpirun, 2, dir, mpitest.Job{}, append(args, "--max-memory", "8M", "--out", "dp.mtl")...)
	ok(t, r)
	if !strings.Contains(r.stdout, "memory budget of 4 MiB (--max-memory, shared by 2 processes on this node)") {
		t.Errorf("the run does not say it streams within half the budget; output:\n%s", r.stdout)
	}
	if n := strings.Count(r.stdout, "statistics pass shared: each of 2 processes read its part of the rows"); n != 1 {
		t.Errorf("%d lines say the processes shared the first pass, want 1; output:\n%s", n, r.stdout)
	}
	ok(t, mtlgpu(t, dir, append(args, "--max-memory", "4M", "--out", "one.mtl")...))
	a, b, d := twoModels(t, dir)
	if !(d < 1e-3) || a.State.BestEpoch != b.State.BestEpoch {
		t.Errorf("streamed on 2 processes: parameters %.3g (relative) from alone, best epoch %d vs %d", d, a.State.BestEpoch, b.State.BestEpoch)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*cache")); len(left) > 0 {
		t.Errorf("block caches left behind: %v", left)
	}
	// Resumed on 2 processes, which write the block cache again, each its
	// part's, and alone: the same model again.
	ok(t, underMpirun(t, mpirun, 2, dir, mpitest.Job{}, "train", "--resume", "dp.mtl", "--epochs", "5", "--quiet"))
	ok(t, mtlgpu(t, dir, "train", "--resume", "one.mtl", "--epochs", "5", "--quiet"))
	a, b, d = twoModels(t, dir)
	if !(d < 1e-3) || a.State.Epoch != 5 || b.State.Epoch != 5 {
		t.Errorf("resumed on 2 processes: parameters %.3g (relative) from alone, epochs %d and %d", d, a.State.Epoch, b.State.Epoch)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*cache")); len(left) > 0 {
		t.Errorf("block caches left behind by the resumed run: %v", left)
	}
}

// twoModels loads the model trained on several processes (dp.mtl) and
// alone (one.mtl) in dir, and returns them with ‖a−b‖/‖b‖ of their
// parameters.
func twoModels(t *testing.T, dir string) (a, b *mtl.Checkpoint, rel float64) {
	t.Helper()
	a, _, err := mtl.LoadFile(filepath.Join(dir, "dp.mtl"))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err = mtl.LoadFile(filepath.Join(dir, "one.mtl"))
	if err != nil {
		t.Fatal(err)
	}
	var d, n float64
	for i, w := range b.Model.Params {
		g := float64(a.Model.Params[i])
		d += (g - float64(w)) * (g - float64(w))
		n += float64(w) * float64(w)
	}
	rel = math.Sqrt(d / n)
	t.Logf("parameters on 2 processes differ from alone by %.3g (relative)", rel)
	return a, b, rel
}

// TestRefusedUnderMpirun checks what a launcher may not start: the
// commands that run in one process, the configuration search, a kept
// block cache, and a process given torchrun's variables without an MPI
// launcher.
func TestRefusedUnderMpirun(t *testing.T) {
	mpirun := mpirunOrSkip(t)
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", "--model", "m.mtl", "--data", "d.csv"}, "mtl-gpu eval runs in one process, but Open MPI started this one"},
		{[]string{"predict", "--model", "m.mtl", "--data", "d.csv", "--out", "p.csv"}, "mtl-gpu predict runs in one process"},
		{[]string{"serve", "--model", "m.mtl"}, "mtl-gpu serve runs in one process"},
		{[]string{"train", "--tune", "4"}, "--tune and --hidden auto search in one process"},
		{[]string{"train", "--stream", "--keep-cache", "--out", "s.mtl"}, "--keep-cache: every process of a data-parallel run streams from a block cache of its own"},
		{[]string{"train", "--distributed", "sometimes"}, "--distributed sometimes: unknown value"},
		// No GPU here: fewer devices than processes.
		{[]string{"train", "--device", "cuda:local"}, "--device cuda:local: this node runs 2 processes, one per device, but has 0 such devices"},
	} {
		r := underMpirun(t, mpirun, 2, dir, mpitest.Job{}, c.args...)
		if r.code == 0 || !strings.Contains(r.stdout, c.want) {
			t.Errorf("mpirun -np 2 mtl-gpu %s: exit %d, want an error saying %q; output:\n%s", strings.Join(c.args, " "), r.code, c.want, r.stdout)
		}
	}
	r := mtlgpu(t, dir, "train", "--device", "cuda:local")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--device cuda:local picks the device by the process's rank on its node") {
		t.Errorf("--device cuda:local without a launcher: exit %d, stderr %q", r.code, r.stderr)
	}
	t.Setenv("RANK", "1")
	t.Setenv("WORLD_SIZE", "2")
	r = mtlgpu(t, dir, "train", "--epochs", "1")
	if r.code == 0 || !strings.Contains(r.stderr, "RANK=1 and WORLD_SIZE=2 are set, but no MPI launcher started this process") {
		t.Errorf("train with torchrun's variables: exit %d, stderr %q", r.code, r.stderr)
	}
	ok(t, mtlgpu(t, dir, "train", "--epochs", "1", "--distributed", "off", "--quiet"))
}

// TestSIGTERMUnderMpirun stops a run of 2 processes with SIGTERM to
// mpirun: rank 0 saves the model where every process stopped, and the run
// resumes from there.
func TestSIGTERMUnderMpirun(t *testing.T) {
	mpirun := mpirunOrSkip(t)
	dir := t.TempDir()
	job := mpitest.Job{Env: []string{"OMPI_MCA_odls_base_sigkill_timeout=5"}, Start: func(cmd *exec.Cmd) {
		time.Sleep(3 * time.Second)
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}}
	r := underMpirun(t, mpirun, 2, dir, job, "train", "--epochs", "100000", "--patience", "0", "--out", "stop.mtl")
	if r.code == 0 || !strings.Contains(r.stdout, "interrupted at epoch") {
		t.Fatalf("exit %d; output:\n%s", r.code, r.stdout)
	}
	ck, _, err := mtl.LoadFile(filepath.Join(dir, "stop.mtl"))
	if err != nil {
		t.Fatal(err)
	}
	if ck.State.Step == 0 {
		t.Errorf("saved before any step")
	}
	t.Logf("stopped at epoch %d, step %d", ck.State.Epoch+1, ck.State.EpochStep)
	ok(t, mtlgpu(t, dir, "train", "--resume", "stop.mtl", "--epochs", strconv.Itoa(ck.State.Epoch+2), "--quiet"))
}

// TestStoppedProcessUnderMpirun stops one of 2 training processes with
// SIGSTOP: the other exits non-zero within --collective-timeout and 10 s,
// naming the silent rank, and the model file saved before stays whole.
func TestStoppedProcessUnderMpirun(t *testing.T) {
	mpirun := mpirunOrSkip(t)
	dir := t.TempDir()
	var stopped time.Time
	job := mpitest.Job{Start: func(cmd *exec.Cmd) {
		time.Sleep(4 * time.Second)
		kids := childProcesses(t, cmd.Process.Pid)
		if len(kids) != 2 {
			t.Errorf("mpirun has %d child processes, want the 2 ranks", len(kids))
			return
		}
		stopped = time.Now()
		_ = syscall.Kill(kids[1], syscall.SIGSTOP)
	}}
	r := underMpirun(t, mpirun, 2, dir, job, "train", "--epochs", "100000", "--patience", "0", "--collective-timeout", "2s", "--out", "stop.mtl")
	took := time.Since(stopped)
	if r.code == 0 || !regexp.MustCompile(`rank [01] stopped answering \(no heartbeat\)`).MatchString(r.stdout) {
		t.Fatalf("exit %d, want an error naming the stopped rank; output:\n%s", r.code, r.stdout)
	}
	if took > 12*time.Second {
		t.Errorf("the job ended %.1f s after a process stopped, more than the 2 s timeout and 10 s", took.Seconds())
	}
	if _, _, err := mtl.LoadFile(filepath.Join(dir, "stop.mtl")); err != nil {
		t.Errorf("the model saved before the stop: %v", err)
	}
	t.Logf("ended %.1f s after the stop", took.Seconds())
}

// childProcesses returns the processes whose parent is pid, in the order
// of their process IDs.
func childProcesses(t *testing.T, pid int) []int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var kids []int
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split
		// after its closing parenthesis.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			if k, err := strconv.Atoi(strings.Fields(string(b))[0]); err == nil {
				kids = append(kids, k)
			}
		}
	}
	slices.Sort(kids)
	return kids
}
