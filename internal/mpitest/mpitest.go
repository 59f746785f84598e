// Package mpitest runs a test binary as the processes of an Open MPI job,
// for the tests of data-parallel code: the test starts mpirun on its own
// executable with a variable that makes each process run one mode of the
// test's child code (see the test's TestMain) instead of the tests.
//
// Tests that need mpirun skip without it, or fail when MTLGPU_REQUIRE_MPI
// is 1 (as make test sets it, where the dependencies are installed).
package mpitest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Require is the variable that turns a skip for a missing MPI into a
// failure.
const Require = "MTLGPU_REQUIRE_MPI"

// Skip skips the test for why, or fails it when MTLGPU_REQUIRE_MPI=1.
func Skip(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(Require) == "1" {
		t.Fatalf("%s, and %s=1", why, Require)
	}
	t.Skipf("skipping: %s (set %s=1 to fail instead)", why, Require)
}

// Mpirun returns the path of mpirun, or skips the test (see Skip).
func Mpirun(t testing.TB) string {
	t.Helper()
	mpirun, err := exec.LookPath("mpirun")
	if err != nil {
		Skip(t, "no mpirun on PATH (Debian: apt-get install openmpi-bin libopenmpi-dev)")
	}
	return mpirun
}

// Env is what every job needs besides the child's mode: mpirun refuses
// to run as root without the first two, and containers often forbid the
// ptrace-based single copy of the shared-memory transport (copying
// through the shared buffer works everywhere).
var Env = []string{
	"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1",
	"OMPI_MCA_btl_vader_single_copy_mechanism=none",
}

// Job is one mpirun of the test binary (or of another program).
type Job struct {
	// Exe is the program to run; empty means the test binary itself.
	Exe string
	// Dir is the processes' working folder; empty means the test's.
	Dir string
	// Procs is the number of processes (oversubscribed: the machine may
	// have fewer cores).
	Procs int
	// Options are mpirun's options beyond -np and --oversubscribe; Args
	// the arguments of every process.
	Options, Args []string
	// Env is added to the test's environment, after Env.
	Env []string
	// Timeout bounds the job; 0 means 2 minutes.
	Timeout time.Duration
	// Start, when set, is called with the started mpirun, for a test that
	// signals it.
	Start func(*exec.Cmd)
}

// Run starts the job on this test binary and returns its combined output
// and mpirun's error. A job that runs past its timeout fails the test.
func (j Job) Run(t testing.TB, mpirun string) (string, error) {
	t.Helper()
	exe := j.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			t.Fatal(err)
		}
	}
	timeout := j.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := append([]string{"-np", fmt.Sprint(j.Procs), "--oversubscribe"}, j.Options...)
	args = append(append(args, exe), j.Args...)
	cmd := exec.CommandContext(ctx, mpirun, args...)
	cmd.Env = append(append(os.Environ(), Env...), j.Env...)
	cmd.Dir = j.Dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if j.Start != nil {
		j.Start(cmd)
	}
	err := cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("mpirun did not finish in %v; output:\n%s", timeout, out.String())
	}
	return out.String(), err
}

// Lines returns the lines of out that start with prefix, trimmed.
func Lines(out, prefix string) []string {
	var lines []string
	for _, line := range strings.Split(out, "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, prefix) {
			lines = append(lines, line)
		}
	}
	return lines
}
