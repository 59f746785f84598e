package mtl

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"time"
	"unsafe"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// Data-parallel training.
//
// N processes (one per device, see Collective) each hold the whole model,
// its optimiser state and the training data, and draw the same row order
// from the seed, so every process knows every global batch. Process r
// computes the forward and backward pass of rows ⌊rB/N⌋ … ⌊(r+1)B/N⌋−1 of
// each global batch of B rows (Config.Batch stays the global batch), and
// the processes sum their gradients with one all-reduce per step; each
// then applies the same update to the same parameters.
//
// With a backend that sums on the device (backend.DeviceGroup: the CUDA
// backend through NCCL), the all-reduce runs on the device's stream on
// the gradient buffers themselves, and the loss weights of every step of
// an epoch are uploaded at its start: a step then adds no copy through the
// host and no wait. Only the stop flag goes through MPI, on the host.
// Otherwise the all-reduce goes through the host with MPI.
//
// The sum equals the single-process gradient because each task's loss is
// normalised by its labelled rows in the global batch, not in the
// process's share: every process counts them on the host, from the labels
// it holds, before the backward pass, and scales task t's loss weight on
// the device by n_t,local / n_t,global. The loss kernel, which divides by
// the labelled rows it sees, then yields λ_t·ℓ'/n_t,global on every row.
// The step's loss sums travel in the same all-reduce, so the methods that
// read the losses (GradNorm, uncertainty weighting) see global means, as
// do the epoch's figures.
//
// The methods that combine the tasks' gradients of the shared parameters
// (GradNorm, PCGrad, MGDA) need each task's gradient over the global
// batch: the all-reduce then carries the T rows of G (T × P values) with
// the rest of the gradient, and every process computes the Gram matrix and
// the combination from the reduced rows. Summing per-process Gram matrices
// instead would be wrong: ⟨Σ_r g_r,s, Σ_r g_r,t⟩ ≠ Σ_r ⟨g_r,s, g_r,t⟩.
//
// Embedding tables: every process works out each global batch's touched
// rows, and writes the gradient of its share of the rows into its place in
// a batch-sized input gradient that is zero elsewhere, so that the compact
// table gradients of all processes have one layout and their sum is the
// global one; the lazy optimiser then updates every row that any process
// touched.
//
// Dropout masks are keyed by the row's place in the global batch (see
// backend.Backend.Dropout's row0), so every row is dropped as in a run
// alone.
//
// A process whose share of a batch is empty (a last, short batch) still
// joins the all-reduce with a zero gradient. A stop asked of any process
// (a cancelled context: SIGTERM through mpirun or scancel) travels in the
// all-reduce too, so that every process stops after the same step. At the
// end of every epoch the processes compare a checksum of their parameters
// and optimiser state, and a mismatch stops the run.

// Collective is the group of processes of a data-parallel run, with the
// collective operations the trainer needs. Every process calls the same
// operations in the same order with buffers of the same length.
type Collective interface {
	// Size is the number of processes and Rank this one's, from 0.
	Size() int
	Rank() int
	// SumFloat32 replaces every element of v by its sum over the
	// processes. Every process must get the same result.
	SumFloat32(v []float32) error
	// MaxInt64 replaces every element of v by its maximum over the
	// processes.
	MaxInt64(v []int64) error
	// Bcast copies buf of process root into buf of every other process.
	Bcast(buf []byte, root int) error
}

// dataParallel is a trainer's share of a data-parallel run.
type dataParallel struct {
	c Collective
	// labelled holds, for every training row (of the window, streaming),
	// whether each member's task has a label there, at row·M·T + m·T + t.
	labelled []bool
	// lo is this process's first row within the current step's global
	// batch of rows rows.
	lo, rows int
	host     []float32 // the step's all-reduce, staged on the host
	stopAsk  bool      // this process was asked to stop before the step
	stopped  bool      // some process was: the run stops after the step
	// device sums on the device; via says what carries the all-reduce.
	device backend.DeviceGroup
	via    string
	// table holds the scaled loss weights of every step of the epoch,
	// made at its start from the method's weights tableWeights (nil:
	// the weights are written step by step).
	table        backend.Buffer
	tableWeights []float64
	// reduce counts the time in the step's all-reduce and steps the
	// steps, for Trainer.Communication.
	reduce time.Duration
	steps  int
	floats int
}

// DistributedError reports what a data-parallel run cannot do.
type DistributedError struct {
	What string
}

func (e *DistributedError) Error() string {
	return "data-parallel training: " + e.What
}

// ChecksumError reports processes of a data-parallel run whose parameters
// or optimiser state differ at the end of an epoch.
type ChecksumError struct {
	Epoch int
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("data-parallel training: the processes' parameters differ at the end of epoch %d (checksums disagree); the run stops", e.Epoch)
}

// Distribute makes the trainer one of c.Size() processes that train the
// same model data-parallel (see the comment above). Every process must
// build its trainer from the same model, configuration, data and
// checkpoint, and call Distribute before Fit. One process (Size 1) trains
// exactly as a trainer alone.
func (t *Trainer) Distribute(c Collective) error {
	if c == nil || c.Size() < 1 || c.Rank() < 0 || c.Rank() >= c.Size() {
		return &DistributedError{What: "the process group has no valid size and rank"}
	}
	if c.Size() == 1 {
		return nil
	}
	t.dist = &dataParallel{c: c, via: "MPI through the host"}
	t.loss.scale = make([]float64, t.members*t.nTasks)
	if t.stream == nil {
		t.dist.labelled = t.labelledMask(t.train)
		buf, err := t.b.Alloc(backend.Float32, t.stepsPerEpoch()*t.members*t.nTasks)
		if err != nil {
			return err
		}
		t.owned = append(t.owned, buf)
		t.dist.table = buf
	}
	return t.joinDeviceGroup()
}

// joinDeviceGroup makes the processes sum on their devices when every
// one's backend can (see backend.DeviceGroup), and says otherwise why
// not in Via.
func (t *Trainer) joinDeviceGroup() error {
	d := t.dist
	g, ok := t.b.(backend.DeviceGroup)
	if !ok {
		return nil
	}
	ready := g.GroupReady()
	cannot := []int64{0}
	if ready != nil {
		cannot[0] = 1
	}
	if err := d.c.MaxInt64(cannot); err != nil {
		return fmt.Errorf("data-parallel training: %w", err)
	}
	switch {
	case ready != nil:
		d.via += fmt.Sprintf(" (%v)", ready)
		return nil
	case cannot[0] != 0:
		d.via += " (another process cannot sum on its device)"
		return nil
	}
	var id []byte
	if d.c.Rank() == 0 {
		var err error
		if id, err = g.GroupID(); err != nil {
			return err
		}
	}
	n := []int64{int64(len(id))}
	if err := d.c.MaxInt64(n); err != nil {
		return fmt.Errorf("data-parallel training: %w", err)
	}
	if d.c.Rank() != 0 {
		id = make([]byte, n[0])
	}
	if err := d.c.Bcast(id, 0); err != nil {
		return fmt.Errorf("data-parallel training: %w", err)
	}
	if err := g.JoinGroup(id, d.c.Rank(), d.c.Size()); err != nil {
		return err
	}
	d.device, d.via = g, g.GroupName()+" on the device"
	return nil
}

// Via says what carries a data-parallel run's all-reduce (empty alone).
func (t *Trainer) Via() string {
	if t.dist == nil {
		return ""
	}
	return t.dist.via
}

// epochWeights works out, at the start of an epoch whose row order is
// perm, every step's share of the labelled rows, and uploads the loss
// weights of every step, scaled by those shares, as the epoch's table.
func (t *Trainer) epochWeights() {
	d := t.dist
	if d == nil || d.table == nil {
		return
	}
	lw := t.stepWeights()
	d.tableWeights = slices.Clone(lw)
	n := len(lw)
	steps := t.stepsPerEpoch()
	all := make([]float32, steps*n)
	for s := range steps {
		off := s * t.cfg.Batch
		t.shareOf(off, min(t.cfg.Batch, t.train.N-off))
		for j := range n {
			all[s*n+j] = float32(lw[j] * t.loss.scale[j])
		}
	}
	t.b.WriteFloat32(d.table, 0, all)
}

// labelledMask records, for every row of d, which member's tasks have a
// label there.
func (t *Trainer) labelledMask(d *Dataset) []bool {
	nt, M := t.nTasks, t.members
	mask := make([]bool, d.N*M*nt)
	for task := range nt {
		labels := d.Labels[task]
		for i, y := range labels {
			if math.IsNaN(float64(y)) {
				continue
			}
			for m := range M {
				mask[(i*M+m)*nt+task] = d.uses(i, m)
			}
		}
	}
	return mask
}

// share narrows the global batch perm[off : off+rows] to this process's
// rows and sets the loss weights' scale from the global batch's labelled
// rows. It returns the process's first row and row count.
func (t *Trainer) share(off, rows int) (int, int) {
	lo, n := t.shareOf(off, rows)
	t.dist.lo, t.dist.rows = lo-off, rows
	return lo, n
}

// shareOf is share without changing the step's place: it sets only the
// scale.
func (t *Trainer) shareOf(off, rows int) (int, int) {
	d := t.dist
	n, r := d.c.Size(), d.c.Rank()
	lo, hi := rows*r/n, rows*(r+1)/n
	nt := t.members * t.nTasks
	local, global := make([]int, nt), make([]int, nt)
	for i := range rows {
		row := int(t.data.perm[off+i])
		flags := d.labelled[row*nt : (row+1)*nt]
		for j, ok := range flags {
			if ok {
				global[j]++
				if i >= lo && i < hi {
					local[j]++
				}
			}
		}
	}
	for j := range t.loss.scale {
		t.loss.scale[j] = 0
		if global[j] > 0 {
			t.loss.scale[j] = float64(local[j]) / float64(global[j])
		}
	}
	return off + lo, hi - lo
}

// allReduce sums, over the processes, the step's gradient (and, for the
// gradient methods, the tasks' gradients G), its loss sums and the stop
// flag, in one all-reduce through the host.
func (t *Trainer) allReduce(taskGrads bool) error {
	if t.dist.device != nil {
		return t.deviceAllReduce(taskGrads)
	}
	d, b := t.dist, t.b
	g := t.members * t.gradLen
	ng := 0
	if taskGrads {
		ng = t.tg.g.Len()
	}
	ns := t.loss.sumsVec(0).Len
	n := g + ng + ns + 1
	if cap(d.host) < n {
		d.host = make([]float32, n)
	}
	h := d.host[:n]
	if err := b.ReadFloat32(h[:g], t.optim.grads, 0); err != nil {
		return err
	}
	if ng > 0 {
		if err := b.ReadFloat32(h[g:g+ng], t.tg.g, 0); err != nil {
			return err
		}
	}
	if err := b.ReadFloat32(h[g+ng:g+ng+ns], t.loss.sums, t.loss.sumsVec(0).Off); err != nil {
		return err
	}
	h[n-1] = 0
	if d.stopAsk {
		h[n-1] = 1
	}
	start := time.Now()
	if err := d.c.SumFloat32(h); err != nil {
		return fmt.Errorf("data-parallel training: gradient all-reduce: %w", err)
	}
	d.reduce += time.Since(start)
	d.steps++
	d.floats = n
	b.WriteFloat32(t.optim.grads, 0, h[:g])
	if ng > 0 {
		b.WriteFloat32(t.tg.g, 0, h[g:g+ng])
	}
	b.WriteFloat32(t.loss.sums, t.loss.sumsVec(0).Off, h[g+ng:g+ng+ns])
	d.stopped = h[n-1] > 0
	return nil
}

// deviceAllReduce is allReduce on the device: the gradient, the tasks'
// gradients and the loss sums are summed in place in stream order, and
// the stop flag alone goes through MPI.
func (t *Trainer) deviceAllReduce(taskGrads bool) error {
	d := t.dist
	start := time.Now()
	d.device.AllReduceSum(backend.Whole(t.optim.grads))
	n := t.optim.grads.Len() + t.loss.sumsVec(0).Len + 1
	if taskGrads {
		d.device.AllReduceSum(backend.Whole(t.tg.g))
		n += t.tg.g.Len()
	}
	d.device.AllReduceSum(t.loss.sumsVec(0))
	flag := []int64{0}
	if d.stopAsk {
		flag[0] = 1
	}
	if err := d.c.MaxInt64(flag); err != nil {
		// The others are gone: end this process's collectives too.
		d.device.AbortGroup()
		return fmt.Errorf("data-parallel training: stop flag: %w", err)
	}
	d.stopped = flag[0] > 0
	d.reduce += time.Since(start)
	d.steps++
	d.floats = n
	return nil
}

// checksum compares a hash of the parameters and the optimiser state
// across the processes at the end of epoch epoch.
func (t *Trainer) checksum(epoch int) error {
	h := fnv.New64a()
	v := make([]float32, t.members*t.lay.total)
	for _, buf := range append([]backend.Buffer{t.net.params}, t.optim.state...) {
		if err := t.b.ReadFloat32(v, buf, 0); err != nil {
			return err
		}
		h.Write(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v)))
	}
	sum := int64(h.Sum64())
	both := []int64{sum, ^sum}
	if err := t.dist.c.MaxInt64(both); err != nil {
		return fmt.Errorf("data-parallel training: checksum: %w", err)
	}
	if both[0] != ^both[1] {
		return &ChecksumError{Epoch: epoch}
	}
	return nil
}

// Communication is what a data-parallel run's all-reduce has carried.
type Communication struct {
	// Values is the number of float32 values one step's all-reduce
	// carries.
	Values int
	// Steps counts the steps so far and Reduce the time they spent in the
	// all-reduce (including the wait for the slowest process).
	Steps  int
	Reduce time.Duration
}

// Communication reports the all-reduce of a data-parallel run so far
// (zero for a trainer alone).
func (t *Trainer) Communication() Communication {
	if t.dist == nil {
		return Communication{}
	}
	return Communication{Values: t.dist.floats, Steps: t.dist.steps, Reduce: t.dist.reduce}
}

// stopAgreed returns the error that ends Fit after a step that some
// process was asked to stop at.
func (t *Trainer) stopAgreed(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return t.interrupt(err)
	}
	return t.interrupt(context.Canceled)
}
