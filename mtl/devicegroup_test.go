package mtl_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
	"github.com/mtl-gpu/mtl-gpu/mtl"
	"github.com/mtl-gpu/mtl-gpu/mtl/mtltest"
)

// groupCPU is the CPU backend as a backend.DeviceGroup over an in-process
// group, standing in for a GPU with NCCL: it counts the copies between
// host and "device" and the waits that the trainer asks for.
type groupCPU struct {
	backend.Backend
	group  localGroup
	joined bool
	// copies and syncs count the trainer's reads, writes and Syncs.
	copies, syncs int
}

func (b *groupCPU) GroupReady() error { return nil }
func (b *groupCPU) GroupName() string { return "in-process group" }
func (b *groupCPU) AbortGroup()       {}

func (b *groupCPU) GroupID() ([]byte, error) { return []byte("group-of-two"), nil }

func (b *groupCPU) JoinGroup(id []byte, rank, size int) error {
	if string(id) != "group-of-two" || rank != b.group.Rank() || size != b.group.Size() {
		return errors.New("joined with the wrong identifier, rank or size")
	}
	b.joined = true
	return nil
}

// AllReduceSum sums v through the in-process group (the copies are the
// stand-in's, not counted).
func (b *groupCPU) AllReduceSum(v backend.Vec) {
	host := make([]float32, v.Len)
	if err := b.Backend.ReadFloat32(host, v.Buf, v.Off); err != nil {
		panic(err)
	}
	_ = b.group.SumFloat32(host)
	b.Backend.WriteFloat32(v.Buf, v.Off, host)
}

func (b *groupCPU) ReadFloat32(dst []float32, src backend.Buffer, off int) error {
	b.copies++
	return b.Backend.ReadFloat32(dst, src, off)
}

func (b *groupCPU) ReadInt32(dst []int32, src backend.Buffer, off int) error {
	b.copies++
	return b.Backend.ReadInt32(dst, src, off)
}

func (b *groupCPU) WriteFloat32(dst backend.Buffer, off int, src []float32) {
	b.copies++
	b.Backend.WriteFloat32(dst, off, src)
}

func (b *groupCPU) WriteInt32(dst backend.Buffer, off int, src []int32) {
	b.copies++
	b.Backend.WriteInt32(dst, off, src)
}

func (b *groupCPU) Sync() error {
	b.syncs++
	return b.Backend.Sync()
}

// TestDeviceGroup trains on two processes (goroutines) whose backend sums
// on the device: the run takes that path, follows one process alone, and
// a step adds no copy between host and device and no wait, for a method
// whose weights stay fixed within an epoch.
func TestDeviceGroup(t *testing.T) {
	for _, name := range []string{"members/embeddings", "dropout/smoothing"} {
		t.Run(name, func(t *testing.T) {
			c := distCase{problem: findProblem(t, name), method: mtl.Equal}
			cfg := distConfig(c, 3)
			ref, err := cpu.New(backend.Options{BLAS: "gonum"})
			if err != nil {
				t.Fatal(err)
			}
			alone := (&rank{b: ref}).fit(c, cfg, nil, false)
			if alone == nil {
				t.Fatal("the run alone failed")
			}
			runs := make([][]mtl.EpochStats, 2)
			perStep := make([][2]int, 2)
			via := make([]string, 2)
			_, errs := inGroup(2, func(p int, member localGroup, b0 backend.Backend) error {
				b := &groupCPU{Backend: b0, group: member}
				tr, err := joined(c, cfg, true, b, member)
				if err != nil {
					return err
				}
				defer tr.Close()
				via[p] = tr.Via()
				var first [2]int
				return tr.Fit(context.Background(), mtl.Hooks{
					Step: func(epoch, step, steps int) {
						switch {
						case epoch == 1 && step == 0:
							first = [2]int{b.copies, b.syncs}
						case epoch == 1 && step == steps-1:
							perStep[p] = [2]int{b.copies - first[0], b.syncs - first[1]}
						}
					},
					Epoch: func(s mtl.EpochStats) error { runs[p] = append(runs[p], s); return nil },
				})
			})
			for p := range 2 {
				if errs[p] != nil {
					t.Fatalf("process %d: %v", p, errs[p])
				}
				if via[p] != "in-process group on the device" {
					t.Errorf("process %d sums by %q", p, via[p])
				}
				if perStep[p] != [2]int{} {
					t.Errorf("process %d: the steps of an epoch after its first made %d copies and %d waits, want none", p, perStep[p][0], perStep[p][1])
				}
				for _, d := range mtltest.LossDiffs(c.problem.Spec, runs[p], alone.epochs) {
					t.Errorf("process %d: %s", p, d)
				}
			}
		})
	}
}

// TestChecksumStopsDivergedProcesses starts two processes (an in-process
// group) from different parameters: both must stop at the end of the
// first epoch with a *ChecksumError.
func TestChecksumStopsDivergedProcesses(t *testing.T) {
	c := distCase{problem: findProblem(t, "binary"), method: mtl.Equal}
	epochs := make([]int, 2)
	_, errs := inGroup(2, func(p int, member localGroup, b backend.Backend) error {
		cfg := distConfig(c, 3)
		cfg.Seed += uint64(p) // process 1 starts from other parameters
		tr, err := joined(c, cfg, false, b, member)
		if err != nil {
			return err
		}
		defer tr.Close()
		return tr.Fit(context.Background(), mtl.Hooks{Epoch: func(mtl.EpochStats) error { epochs[p]++; return nil }})
	})
	for p := range 2 {
		var ce *mtl.ChecksumError
		if !errors.As(errs[p], &ce) || ce.Epoch != 1 || epochs[p] != 0 {
			t.Errorf("process %d: %v after %d epochs, want a checksum error at the end of epoch 1", p, errs[p], epochs[p])
		}
	}
}

// TestStreamedDataParallel trains from a stream of uneven blocks, two
// blocks to a window, on two processes (an in-process group): the losses
// follow a streamed run alone, for bodies with families, tables, members
// and dropout, with a plain and a gradient method.
func TestStreamedDataParallel(t *testing.T) {
	ref, err := cpu.New(backend.Options{BLAS: "gonum"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"family", "members/embeddings", "dropout/smoothing"} {
		for _, method := range []mtl.Method{mtl.Equal, mtl.PCGrad} {
			c := distCase{problem: findProblem(t, name), method: method}
			t.Run(c.name(), func(t *testing.T) {
				cfg := distConfig(c, 3)
				fit := func(b backend.Backend, group mtl.Collective) ([]mtl.EpochStats, error) {
					train, val := distData(c.problem.Spec, distRows, 1, true), distData(c.problem.Spec, 60, 2, true)
					model, err := mtl.NewModel(c.problem.Spec, train, cfg.Seed)
					if err != nil {
						return nil, err
					}
					tr, err := mtl.NewStreamTrainer(b, model, cfg, mtl.NewMemStream(train, 23, 37, 11), 2, val, nil)
					if err != nil {
						return nil, err
					}
					defer tr.Close()
					if group != nil {
						if err := tr.Distribute(group); err != nil {
							return nil, err
						}
					}
					var epochs []mtl.EpochStats
					err = tr.Fit(context.Background(), mtl.Hooks{Epoch: func(s mtl.EpochStats) error { epochs = append(epochs, s); return nil }})
					return epochs, err
				}
				alone, err := fit(ref, nil)
				if err != nil {
					t.Fatal(err)
				}
				runs := make([][]mtl.EpochStats, 2)
				_, errs := inGroup(2, func(p int, member localGroup, b backend.Backend) (err error) {
					runs[p], err = fit(b, member)
					return err
				})
				for p := range 2 {
					if errs[p] != nil {
						t.Fatalf("process %d: %v", p, errs[p])
					}
					for _, d := range mtltest.LossDiffs(c.problem.Spec, runs[p], alone) {
						t.Errorf("process %d: %s", p, d)
					}
				}
			})
		}
	}
}

// lossRows counts the rows of the logits its backend computes losses of.
type lossRows struct {
	backend.Backend
	rows int
}

func (b *lossRows) LossGrad(logits, labels backend.Mat, table backend.LossTable, weights backend.Vec, grad backend.Mat, sums backend.Vec) {
	b.rows += logits.Rows
	b.Backend.LossGrad(logits, labels, table, weights, grad, sums)
}

// TestValidationShared: the processes of a run share the validation
// rows: each computes the losses of its share (with its share of the
// training rows, the rows of all processes together are one process's),
// and the all-reduced sums give every process the validation losses of
// one process alone.
func TestValidationShared(t *testing.T) {
	c := distCase{problem: findProblem(t, "members/embeddings"), method: mtl.Equal}
	cfg := distConfig(c, 2)
	ref, err := cpu.New(backend.Options{BLAS: "gonum"})
	if err != nil {
		t.Fatal(err)
	}
	one := &lossRows{Backend: ref}
	alone := (&rank{b: one}).fit(c, cfg, nil, false)
	if alone == nil {
		t.Fatal("the run alone failed")
	}
	for _, n := range []int{2, 3} {
		rows := make([]int, n)
		runs := make([][]mtl.EpochStats, n)
		_, errs := inGroup(n, func(p int, member localGroup, b0 backend.Backend) error {
			b := &lossRows{Backend: b0}
			tr, err := joined(c, cfg, true, b, member)
			if err != nil {
				return err
			}
			defer tr.Close()
			err = tr.Fit(context.Background(), mtl.Hooks{Epoch: func(s mtl.EpochStats) error { runs[p] = append(runs[p], s); return nil }})
			rows[p] = b.rows
			return err
		})
		total := 0
		for p := range n {
			if errs[p] != nil {
				t.Fatalf("%d processes, process %d: %v", n, p, errs[p])
			}
			total += rows[p]
			for e, s := range runs[p] {
				if d := math.Abs(s.ValLoss - alone.epochs[e].ValLoss); !(d <= 1e-5*math.Abs(alone.epochs[e].ValLoss)) {
					t.Errorf("%d processes, process %d, epoch %d: validation loss %v, alone %v", n, p, e+1, s.ValLoss, alone.epochs[e].ValLoss)
				}
				if s.ValLoss != runs[0][e].ValLoss {
					t.Errorf("%d processes: process %d's validation loss %v, process 0's %v", n, p, s.ValLoss, runs[0][e].ValLoss)
				}
			}
		}
		if total != one.rows || rows[0] >= one.rows*2/3 {
			t.Errorf("%d processes computed the losses of %v rows, %d in all; one process alone %d", n, rows, total, one.rows)
		}
	}
}
