// Package memtest measures the memory a test's code takes: the process's
// resident bytes from /proc/self/status, and the peak of the Go heap
// sampled while the code runs. The tests of the data path, the stream and
// the pipeline hold their memory bounds with it.
package memtest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ProcStatus reads a field of /proc/self/status (VmRSS, VmHWM) in bytes.
// It skips the test where there is no such file.
func ProcStatus(t testing.TB, field string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// SamplePeakHeap samples the bytes of heap objects (live, and dead but
// not yet swept) every millisecond until the returned function is
// called, which returns the largest sample.
func SamplePeakHeap() func() uint64 {
	done := make(chan struct{})
	result := make(chan uint64)
	go func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-done:
				result <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		return <-result
	}
}

// The memory of a run measured in a process of its own: the test starts
// its own binary again running only itself (Child), with a variable that
// makes it the measured run, which ends by logging what it measured
// (Measured); Child reads that line back.

// Measured logs, at the end of a measured run, the line Child reads: the
// resident bytes at the start (VmRSS, taken by the run before its work),
// the peak so far (VmHWM) and size, the bytes of the data the run was
// measured against.
func Measured(t testing.TB, start, size int64) {
	t.Helper()
	t.Logf("memory: start %d peak %d encoded %d", start, ProcStatus(t, "VmHWM"), size)
}

// Child runs the test named test of this binary alone, verbosely, in a
// process of its own with env added, and returns what its Measured line
// says. It fails the test when the run fails or measures nothing.
func Child(t testing.TB, test string, env ...string) (start, peak, size int64) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if i := strings.Index(line, "memory: "); i >= 0 {
			fmt.Sscanf(line[i:], "memory: start %d peak %d encoded %d", &start, &peak, &size)
		}
	}
	if peak == 0 {
		t.Fatalf("no measure in the child's output:\n%s", out)
	}
	return start, peak, size
}
