package mpi

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtl-gpu/mtl-gpu/internal/mpitest"
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

// openOrSkip loads Open MPI, or skips the test (see mpitest.Skip).
func openOrSkip(t *testing.T) *Library {
	t.Helper()
	lib, err := Open()
	if err != nil {
		mpitest.Skip(t, fmt.Sprintf("Open MPI cannot be loaded (Debian: apt-get install openmpi-bin libopenmpi-dev): %v", err))
	}
	return lib
}

// mpirunOrSkip returns the path of mpirun, having checked that Open MPI
// loads, or skips the test (see mpitest.Skip).
func mpirunOrSkip(t *testing.T) string {
	t.Helper()
	mpirun := mpitest.Mpirun(t)
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

// runUnderMpirun starts this test binary as worldSize ranks in mode, with
// mpirun's options and variables added to its own, and returns mpirun's
// combined output and error.
func runUnderMpirun(t *testing.T, mpirun, mode string, options []string, env ...string) (string, error) {
	t.Helper()
	job := mpitest.Job{Procs: worldSize, Options: options, Env: append(env, childMode+"="+mode), Timeout: 60 * time.Second}
	return job.Run(t, mpirun)
}

// TestCollectivesUnderMpirun runs three ranks that check their size, rank
// and local rank and the results of every collective against values
// computed here; each says "ok" only when all its checks pass.
func TestCollectivesUnderMpirun(t *testing.T) {
	mpirun := mpirunOrSkip(t)
	start := time.Now()
	out, err := runUnderMpirun(t, mpirun, "collectives", nil)
	if err != nil {
		t.Fatalf("mpirun: %v; output:\n%s", err, out)
	}
	// One node: each rank's local rank is its world rank.
	checkRanksOK(t, out, "rank 0 of 3 (local 0 of 3): ok", "rank 1 of 3 (local 1 of 3): ok", "rank 2 of 3 (local 2 of 3): ok")
	t.Logf("%d ranks under mpirun passed every check in %.1f s", worldSize, time.Since(start).Seconds())
}

// checkRanksOK checks that out has each of the lines want.
func checkRanksOK(t *testing.T, out string, want ...string) {
	t.Helper()
	lines := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		lines[strings.TrimSpace(line)] = true
	}
	for _, w := range want {
		if !lines[w] {
			t.Errorf("no line %q in mpirun's output:\n%s", w, out)
		}
	}
}

// fakeSSH is a stand-in for ssh that runs the command it is given here,
// whatever the host, so that mpirun can start "nodes" on this machine.
// Each node's daemon gets its own session directory under
// $FAKESSH_TMPDIR: sharing mpirun's, the two race to create it.
const fakeSSH = `#!/bin/sh
while [ $# -gt 0 ]; do case "$1" in -*) shift;; *) break;; esac; done
host=$1
shift
mkdir -p "$FAKESSH_TMPDIR/$host" || exit 1
export OMPI_MCA_orte_tmpdir_base="$FAKESSH_TMPDIR/$host" PRTE_MCA_prte_tmpdir_base="$FAKESSH_TMPDIR/$host"
exec /bin/sh -c "$*"
`

// TestTwoNodesUnderMpirun places ranks 0 and 1 on one node and rank 2 on
// another, two daemons on this machine that mpirun reaches through
// fakeSSH: each rank's local rank and size must follow the nodes, not the
// world (rank 2 is local rank 0 of 1), and the collectives cross them over
// TCP on the loopback interface.
func TestTwoNodesUnderMpirun(t *testing.T) {
	mpirun := mpirunOrSkip(t)
	dir := t.TempDir()
	ssh := filepath.Join(dir, "fakessh")
	if err := os.WriteFile(ssh, []byte(fakeSSH), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := runUnderMpirun(t, mpirun, "collectives", []string{"--host", "nodea:2,nodeb:1"},
		// Open MPI 4 (ORTE) and 5 (PRRTE) name the agent differently.
		"OMPI_MCA_plm_rsh_agent="+ssh, "PRTE_MCA_plm_ssh_agent="+ssh, "FAKESSH_TMPDIR="+dir,
		"OMPI_MCA_btl_tcp_if_include=lo")
	if err != nil {
		t.Fatalf("mpirun: %v; output:\n%s", err, out)
	}
	checkRanksOK(t, out, "rank 0 of 3 (local 0 of 2): ok", "rank 1 of 3 (local 1 of 2): ok", "rank 2 of 3 (local 0 of 1): ok")
}

// TestAbortUnderMpirun has rank 1 call Abort while its own MPI goroutine
// waits in a barrier and the other ranks sleep outside MPI: the job must
// end at once, with the code rank 1 gave.
func TestAbortUnderMpirun(t *testing.T) {
	mpirun := mpirunOrSkip(t)
	out, err := runUnderMpirun(t, mpirun, "abort", nil)
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("mpirun: want exit status %d, got %v; output:\n%s", abortCode, err, out)
	}
	if exit.ExitCode() != abortCode {
		t.Fatalf("mpirun exit status %d, want %d; output:\n%s", exit.ExitCode(), abortCode, out)
	}
	if strings.Contains(out, "outlived the abort") || strings.Contains(out, "Abort returned") || strings.Contains(out, "other ranks returned") {
		t.Fatalf("a rank went on after rank 1 aborted; output:\n%s", out)
	}
}
