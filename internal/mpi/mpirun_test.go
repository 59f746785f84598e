package mpi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// childMode is the variable that makes the test binary a rank of an MPI
// job, in the mode it names, instead of running the tests.
const childMode = "MTLGPU_MPI_TEST_CHILD"

// abortCode is the exit status the abort mode's rank asks MPI_Abort for.
const abortCode = 7

// worldSize is how many ranks the tests start.
const worldSize = 3

func TestMain(m *testing.M) {
	if mode := os.Getenv(childMode); mode != "" {
		os.Exit(runChild(mode))
	}
	os.Exit(m.Run())
}

// skipWithoutMPI skips the test for why, or fails it when
// MTLGPU_REQUIRE_MPI=1.
func skipWithoutMPI(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("MTLGPU_REQUIRE_MPI") == "1" {
		t.Fatalf("%s, and MTLGPU_REQUIRE_MPI=1", why)
	}
	t.Skipf("skipping: %s (set MTLGPU_REQUIRE_MPI=1 to fail instead)", why)
}

// openOrSkip loads Open MPI, or skips the test (see skipWithoutMPI).
func openOrSkip(t *testing.T) *Library {
	t.Helper()
	lib, err := Open()
	if err != nil {
		skipWithoutMPI(t, fmt.Sprintf("Open MPI cannot be loaded (Debian: apt-get install openmpi-bin libopenmpi-dev): %v", err))
	}
	return lib
}

// mpirunOrSkip returns the path of mpirun, having checked that Open MPI
// loads, or skips the test (see skipWithoutMPI).
func mpirunOrSkip(t *testing.T) string {
	t.Helper()
	mpirun, err := exec.LookPath("mpirun")
	if err != nil {
		skipWithoutMPI(t, "no mpirun on PATH (Debian: apt-get install openmpi-bin libopenmpi-dev)")
	}
	openOrSkip(t)
	return mpirun
}

// TestLibraryBeforeInit checks what the loaded library says before MPI
// starts, in this process, which no launcher started.
func TestLibraryBeforeInit(t *testing.T) {
	lib := openOrSkip(t)
	if v := lib.Version(); !strings.HasPrefix(v, "Open MPI v") {
		t.Errorf("Version() = %q, want Open MPI's", v)
	}
	if ok, err := lib.Initialized(); ok || err != nil {
		t.Errorf("Initialized() before Init = %v, %v", ok, err)
	}
	if ok, err := lib.Finalized(); ok || err != nil {
		t.Errorf("Finalized() before Init = %v, %v", ok, err)
	}
	if err := lib.Abort(1); err == nil || err.Error() != "MPI_Abort: MPI is not initialised" {
		t.Errorf("Abort before Init: %v", err)
	}
	// Every handle was found, and they are distinct objects.
	seen := map[uintptr]string{}
	for _, o := range lib.objects() {
		if other, dup := seen[*o.addr]; dup || *o.addr == 0 {
			t.Errorf("%s at %#x, as %s", o.name, *o.addr, other)
		}
		seen[*o.addr] = o.name
	}
	// Open MPI aborts a process that calls MPI_Error_string before
	// MPI_Init: a failure then is named by its code alone.
	if got := lib.check("MPI_Init_thread", 8); got == nil || got.Error() != "MPI_Init_thread: MPI error 8" {
		t.Errorf("a failure before Init: %v", got)
	}
}

// runUnderMpirun starts this test binary as worldSize ranks in mode and
// returns mpirun's combined output and error.
func runUnderMpirun(t *testing.T, mpirun, mode string) (string, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, mpirun, "-np", fmt.Sprint(worldSize), "--oversubscribe", exe)
	cmd.Env = append(os.Environ(),
		childMode+"="+mode,
		// mpirun refuses to run as root without both.
		"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1",
		// Containers often forbid the ptrace-based single copy of the
		// shared-memory transport; copying through the shared buffer
		// works everywhere.
		"OMPI_MCA_btl_vader_single_copy_mechanism=none",
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("mpirun did not finish in 60 s; output:\n%s", out.String())
	}
	return out.String(), err
}

// TestCollectivesUnderMpirun runs three ranks that check their size, rank
// and local rank and the results of every collective against values
// computed here; each says "ok" only when all its checks pass.
func TestCollectivesUnderMpirun(t *testing.T) {
	mpirun := mpirunOrSkip(t)
	start := time.Now()
	out, err := runUnderMpirun(t, mpirun, "collectives")
	if err != nil {
		t.Fatalf("mpirun: %v; output:\n%s", err, out)
	}
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^rank (\d) of 3 \(local \d of 3\): ok$`).FindAllStringSubmatch(out, -1) {
		seen[m[1]] = true
	}
	if len(seen) != worldSize {
		t.Fatalf("want ok from ranks 0, 1 and 2, got %v; output:\n%s", seen, out)
	}
	t.Logf("%d ranks under mpirun passed every check in %.1f s", worldSize, time.Since(start).Seconds())
}

// TestAbortUnderMpirun has rank 1 call Abort while the others wait in a
// Barrier: the job must end, with the code rank 1 gave.
func TestAbortUnderMpirun(t *testing.T) {
	mpirun := mpirunOrSkip(t)
	out, err := runUnderMpirun(t, mpirun, "abort")
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("mpirun: want exit status %d, got %v; output:\n%s", abortCode, err, out)
	}
	if exit.ExitCode() != abortCode {
		t.Fatalf("mpirun exit status %d, want %d; output:\n%s", exit.ExitCode(), abortCode, out)
	}
	if strings.Contains(out, "passed the barrier") {
		t.Fatalf("a rank passed the barrier although rank 1 aborted; output:\n%s", out)
	}
}
