package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/internal/memtest"
	"github.com/mtl-gpu/mtl-gpu/stream"
)

// streamedMemoryChild names, in the environment, the data file of the run
// TestStreamedRunMemory measures in a process of its own.
const streamedMemoryChild = "MTLGPU_PIPELINE_STREAM_MEMORY"

// TestStreamedRunMemory trains, streamed, on a file whose encoded rows
// are several times the memory budget, in a process of its own set up as
// the command sets itself up (the collector at 10%, the runtime's memory
// limit at the budget): Prepare's passes and an epoch of training make
// its resident memory grow by no more than the budget and 12 MiB (the
// runtime's and the backend's own). Holding the encoded rows, let alone
// the text, would take more.
func TestStreamedRunMemory(t *testing.T) {
	if path := os.Getenv(streamedMemoryChild); path != "" {
		streamedMemoryRun(t, path)
		return
	}
	if runtime.GOOS != "linux" {
		t.Skip("measures /proc/self/status")
	}
	const budget, margin = 6 << 20, 12 << 20
	path, size := wideCSV(t, t.TempDir(), 200_000, 30, 21)
	start, peak, encoded := memtest.Child(t, "TestStreamedRunMemory", streamedMemoryChild+"="+path, fmt.Sprintf("MTLGPU_PIPELINE_STREAM_BUDGET=%d", budget))
	grew := peak - start
	t.Logf("file %s, encoded %s, budget %s: resident memory %s at the start, %s at the peak (+%s)",
		stream.FormatSize(size), stream.FormatSize(encoded), stream.FormatSize(budget), stream.FormatSize(start), stream.FormatSize(peak), stream.FormatSize(grew))
	if encoded < 4*budget || encoded < budget+margin {
		t.Fatalf("the encoded rows (%s) are too few for the test to tell streaming from holding them", stream.FormatSize(encoded))
	}
	if grew > budget+margin {
		t.Errorf("resident memory grew by %s, more than the budget of %s and %s", stream.FormatSize(grew), stream.FormatSize(budget), stream.FormatSize(margin))
	}
}

// streamedMemoryRun is the measured run.
func streamedMemoryRun(t *testing.T, path string) {
	budget, err := strconv.ParseInt(os.Getenv("MTLGPU_PIPELINE_STREAM_BUDGET"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	debug.SetGCPercent(10)
	b := cpuBackend(t)
	runtime.GC()
	start := memtest.ProcStatus(t, "VmRSS")
	o := options(path, filepath.Join(filepath.Dir(path), "m.mtl"))
	o.Tasks, o.Train.Epochs, o.Train.Batch, o.ValSplit = []string{"y:binary", "k:multiclass", "r:regression"}, 1, 256, 0.02
	o.Memory = MemoryOptions{Mode: stream.Always, Budget: stream.Budget{Bytes: budget}, DeviceIsHost: true}
	o.Numeric = "standard" // one input a column: the budget is sized for it
	r, err := Prepare(o)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	debug.SetMemoryLimit(r.MemoryLimit)
	t.Log(r.Streaming)
	if _, err := r.Fit(context.Background(), b, Progress{}); err != nil && !isNoBetter(err) {
		t.Fatal(err)
	}
	rowBytes := int64(4 * (30 + 3))
	memtest.Measured(t, start, int64(r.TrainRows()+r.Val.N)*rowBytes)
}
