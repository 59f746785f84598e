package stream

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/internal/memtest"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// memoryChild is the environment variable that makes TestPeakMemory the
// run it measures, in a process of its own.
const memoryChild = "MTLGPU_STREAM_MEMORY_CHILD"

// TestPeakMemory streams a CSV file five times the memory budget through
// the first pass, the encoding pass and a training epoch, in a process of
// its own (as the command would run it, with the runtime's memory limit
// at the budget), and checks that its peak resident memory grew by no
// more than the budget and 12 MiB from where it started (the runtime's
// and the backend's own memory: the command allows 100 MB). Holding the
// encoded file, or the file, would take several times that. The
// validation rows are held in memory (twice with the CPU backend): a
// validation split of 2% keeps them to a fraction of the budget.
func TestPeakMemory(t *testing.T) {
	if path := os.Getenv(memoryChild); path != "" {
		memoryRun(t, path)
		return
	}
	if runtime.GOOS != "linux" {
		t.Skip("measures /proc/self/status")
	}
	t.Parallel()
	const budget = 8 << 20
	path := tempPath(t, "big.csv")
	size := genCSV(t, path, 280_000, 30, 6)
	if size < 5*budget {
		t.Fatalf("the file has %d bytes, less than five budgets", size)
	}
	start, peak, encoded := memtest.Child(t, "TestPeakMemory", memoryChild+"="+path, fmt.Sprintf("MTLGPU_STREAM_BUDGET=%d", budget))
	grew, allowed := peak-start, int64(budget+12<<20)
	t.Logf("file %s, encoded %s, budget %s: resident memory %s at the start, %s at the peak (+%s)",
		FormatSize(size), FormatSize(encoded), FormatSize(budget), FormatSize(start), FormatSize(peak), FormatSize(grew))
	if encoded < 2*allowed {
		t.Fatalf("the encoded file (%s) is too small for the test to tell streaming from holding it", FormatSize(encoded))
	}
	if grew > allowed {
		t.Errorf("resident memory grew by %s, more than the budget of %s and 12 MiB", FormatSize(grew), FormatSize(budget))
	}
}

// memoryRun is the measured run.
func memoryRun(t *testing.T, path string) {
	budget, err := strconv.ParseInt(os.Getenv("MTLGPU_STREAM_BUDGET"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	start := memtest.ProcStatus(t, "VmRSS")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	debug.SetMemoryLimit(int64(ms.Sys) + budget)
	b := cpuBackend(t)
	cfg := mtl.DefaultConfig()
	cfg.Epochs, cfg.Batch = 1, 256
	_, d := fitStream(t, openCSV(t, path, budget), FitOptions{Mode: Always, Budget: Budget{Bytes: budget}, CachePath: path + ".cache"},
		Options{ValFraction: 0.02, SplitSeed: 1, ByGroup: true}, func(s *data.Schema) mtl.Spec { return specOf(s, 16) })
	t.Log(d.Describe())
	spec := specOf(d.schema, 16)
	model, err := mtl.NewModelFromStats(spec, d.LabelStats(), cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := mtl.NewStreamTrainer(b, model, cfg, d, d.Window(), d.Val, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Fit(context.Background(), mtl.Hooks{}); err != nil {
		t.Fatal(err)
	}
	encoded := int64(d.Rows()+d.Val.N) * encodedRowBytes(d.schema)
	memtest.Measured(t, start, encoded)
}
