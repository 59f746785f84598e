package cuda

import (
	"context"
	"fmt"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/mtl"
	"github.com/mtl-gpu/mtl-gpu/mtl/mtltest"
)

// readCounter is a backend that counts the calls that wait for results:
// reads and Sync.
type readCounter struct {
	*Backend
	reads int
}

func (r *readCounter) ReadFloat32(dst []float32, src backend.Buffer, off int) error {
	r.reads++
	return r.Backend.ReadFloat32(dst, src, off)
}

func (r *readCounter) ReadInt32(dst []int32, src backend.Buffer, off int) error {
	r.reads++
	return r.Backend.ReadInt32(dst, src, off)
}

func (r *readCounter) Sync() error {
	r.reads++
	return r.Backend.Sync()
}

// TestTrainingWaits trains on the stand-in, which counts every wait for
// the device (cuStreamSynchronize, and cuMemFree or a copy into pageable
// memory that had to wait for queued work), and requires each training
// step to wait exactly as often as it reads results: never with equal
// weighting, once per step for PCGrad, which reads the Gram matrix of the
// task gradients. It does so with stream-ordered allocation and without
// (memory freed at synchronisations), and frees and grows memory during
// training as a trainer that rebuilds its buffers would.
func TestTrainingWaits(t *testing.T) {
	for _, pools := range []bool{true, false} {
		for _, method := range []mtl.Method{mtl.Equal, mtl.PCGrad} {
			t.Run(fmt.Sprintf("pools=%v/%v", pools, method), func(t *testing.T) {
				f := useFake(t)
				f.setting(t, "memory_pools", map[bool]int{true: 1, false: 0}[pools])
				b, err := New(0, backend.Options{})
				must(t, err)
				defer func() { must(t, b.Close()) }()
				if b.pools != pools {
					t.Fatalf("stream-ordered allocation %v, want %v", b.pools, pools)
				}
				rc := &readCounter{Backend: b}
				p := mtltest.Problems()[0]
				train, val := mtltest.Data(p.Spec, 400, 1), mtltest.Data(p.Spec, 100, 2)
				cfg := mtl.DefaultConfig()
				cfg.Epochs, cfg.Batch, cfg.Patience = 2, 64, 0
				cfg.Weighting.Method = method
				m, err := mtl.NewModel(p.Spec, train, cfg.Seed)
				must(t, err)
				tr, err := mtl.NewTrainer(rc, m, cfg, train, val, nil)
				must(t, err)
				defer tr.Close()
				waits, reads, steps := f.value(t, "waits"), rc.reads, 0
				// A buffer freed, and the reductions' scratch memory grown,
				// between steps: neither may wait for the device.
				extra, err := b.Alloc(backend.Float32, 1000)
				must(t, err)
				err = tr.Fit(context.Background(), mtl.Hooks{Step: func(epoch, step, stepsPerEpoch int) {
					steps++
					if step == 2 {
						b.Free(extra)
						b.scratchFor(2 * b.scratch.n)
					}
					w, r := f.value(t, "waits")-waits, rc.reads-reads
					if w != r {
						t.Errorf("epoch %d step %d: %d waits for the device, %d reads", epoch, step, w, r)
					}
					if method == mtl.Equal && r != 0 || method == mtl.PCGrad && r != 1 {
						t.Errorf("epoch %d step %d: %d reads", epoch, step, r)
					}
					waits, reads = f.value(t, "waits"), rc.reads
				}, Epoch: func(mtl.EpochStats) error {
					waits, reads = f.value(t, "waits"), rc.reads
					return nil
				}})
				must(t, err)
				if steps < 10 {
					t.Fatalf("%d steps", steps)
				}
				if pools && (f.value(t, "async_frees") == 0 || f.value(t, "mem_frees") != 0) {
					t.Errorf("with memory pools: %d stream-ordered frees, %d cuMemFree", f.value(t, "async_frees"), f.value(t, "mem_frees"))
				}
			})
		}
	}
}
