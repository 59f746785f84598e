//go:build opencl

package stream

import (
	"context"
	"math"
	"os"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/opencl"
	"github.com/mtl-gpu/mtl-gpu/mtl"
	"github.com/mtl-gpu/mtl-gpu/mtl/mtltest"
)

// TestStreamedTrainingOpenCL trains from a stream on opencl:0:0 (PoCL on
// a machine without a GPU), where every window is copied to the device's
// buffers, and checks that each epoch's losses follow those of the same
// streamed run on the CPU backend within mtltest.LossTol.
func TestStreamedTrainingOpenCL(t *testing.T) {
	dev, err := opencl.New(backend.Device{Kind: backend.OpenCL})
	if err != nil {
		if os.Getenv("MTLGPU_REQUIRE_OPENCL") == "1" {
			t.Fatal(err)
		}
		t.Skipf("no OpenCL device: %v", err)
	}
	defer dev.Close()
	path := tempPath(t, "t.csv")
	genCSV(t, path, 3000, 5, 9)
	const budget = 4 << 20
	_, d := fitStream(t, openCSV(t, path, budget), FitOptions{Mode: Always, Budget: Budget{Bytes: budget}},
		Options{ValFraction: 0.2, SplitSeed: 2, ByGroup: true, Layout: Layout{BlockRows: 400, Window: 2}}, nil)
	spec := specOf(d.schema, 16)
	cfg := trainConfig()
	cfg.Epochs = 3
	losses := func(b backend.Backend) []mtl.EpochStats {
		model, err := mtl.NewModelFromStats(spec, d.LabelStats(), cfg.Seed)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := mtl.NewStreamTrainer(b, model, cfg, d, d.Window(), d.Val, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		var epochs []mtl.EpochStats
		if err := tr.Fit(context.Background(), mtl.Hooks{Epoch: func(s mtl.EpochStats) error { epochs = append(epochs, s); return nil }}); err != nil {
			t.Fatal(err)
		}
		return epochs
	}
	want, got := losses(cpuBackend(t)), losses(dev)
	for e := range want {
		for task := range want[e].TaskTrain {
			for _, pair := range [][2]float64{{got[e].TaskTrain[task], want[e].TaskTrain[task]}, {got[e].TaskVal[task], want[e].TaskVal[task]}} {
				if math.Abs(pair[0]-pair[1]) > mtltest.LossTol*math.Abs(pair[1]) {
					t.Errorf("epoch %d, task %d: loss %g on OpenCL, %g on the CPU", e+1, task, pair[0], pair[1])
				}
			}
		}
	}
	t.Logf("last epoch: validation loss %g on OpenCL, %g on the CPU", got[len(got)-1].ValLoss, want[len(want)-1].ValLoss)
}
