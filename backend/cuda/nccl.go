package cuda

import (
	"errors"
	"fmt"
	"time"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cuda/internal/cu"
)

// Data-parallel training across GPUs: the backend is a
// backend.DeviceGroup through NCCL (libnccl.so.2, loaded at run time like
// cuBLAS). The communicator is made on the owner thread, with the
// device's context current, and the all-reduce is queued on the backend's
// stream like a kernel, on its device buffers: it adds no wait and no copy
// through the host to a step.

var _ backend.GroupWatcher = (*Backend)(nil)

// ncclNames are the names NCCL is loaded by (the tests point them at a
// stand-in).
var ncclNames = cu.NCCLNames

// GroupReady loads NCCL, once; its error says why it could not.
func (b *Backend) GroupReady() error {
	if b.nccl != nil {
		return nil
	}
	n, err := cu.OpenNCCL(ncclNames...)
	if err != nil {
		return err
	}
	b.nccl = n
	return nil
}

// GroupName says which NCCL carries the group.
func (b *Backend) GroupName() string {
	if b.nccl == nil {
		return "NCCL (not loaded)"
	}
	v, err := b.nccl.Version()
	if err != nil {
		return "NCCL (" + b.nccl.Library() + ")"
	}
	return fmt.Sprintf("NCCL %d.%d.%d", v/10000, v/100%100, v%100)
}

// GroupID makes an NCCL unique ID.
func (b *Backend) GroupID() ([]byte, error) {
	if err := b.GroupReady(); err != nil {
		return nil, err
	}
	id, err := b.nccl.UniqueID()
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), id.Internal[:]...), nil
}

// JoinGroup makes the backend's NCCL communicator (ncclCommInitRank) on
// its device. A backend joins one group in its life: a later call with
// the same rank and size (the next trainer of the same processes) keeps
// it.
func (b *Backend) JoinGroup(id []byte, rank, size int) error {
	if err := b.GroupReady(); err != nil {
		return err
	}
	var uid cu.UniqueID
	if len(id) != len(uid.Internal) {
		return fmt.Errorf("cuda: an NCCL unique ID has %d bytes, got %d", len(uid.Internal), len(id))
	}
	if b.closed {
		return errClosed
	}
	copy(uid.Internal[:], id)
	return b.run.call(func() error {
		if b.comm != 0 {
			if b.commRank != rank || b.commSize != size {
				return fmt.Errorf("cuda: the backend is rank %d of a group of %d already", b.commRank, b.commSize)
			}
			return nil
		}
		c, err := b.nccl.InitRank(size, uid, rank)
		if err != nil {
			return err
		}
		b.comm, b.commRank, b.commSize = c, rank, size
		b.commHandle.Store(uint64(c))
		return nil
	})
}

// AllReduceSum queues ncclAllReduce of v, in place, on the stream.
func (b *Backend) AllReduceSum(v backend.Vec) {
	v.Check("AllReduceSum", backend.Float32)
	if v.Len == 0 {
		return
	}
	p := devBuffer(v.Buf, "AllReduceSum").at(v.Off)
	b.enqueue(func() {
		switch {
		case b.comm == 0:
			b.fail(errors.New("cuda: AllReduceSum before JoinGroup"))
		case b.commAborted.Load():
			b.fail(errors.New("cuda: AllReduceSum after the NCCL group was aborted"))
		default:
			b.fail(b.nccl.AllReduceSum(p, p, v.Len, b.comm, b.stream))
		}
	})
}

// AbortGroup aborts the communicator (ncclCommAbort) from the calling
// goroutine, which need not be the owner thread: the owner may be waiting
// for a collective that will never finish. The communicator is gone
// after it: later collectives fail, and Close does not destroy it.
func (b *Backend) AbortGroup() {
	c := cu.Comm(b.commHandle.Load())
	if b.nccl != nil && c != 0 && b.commAborted.CompareAndSwap(false, true) {
		_ = b.nccl.Abort(c)
	}
}

// leaveGroup destroys the communicator at Close, on the owner thread.
func (b *Backend) leaveGroup() error {
	if b.comm == 0 || b.commAborted.Load() {
		return nil
	}
	err := b.nccl.Destroy(b.comm)
	b.comm = 0
	b.commHandle.Store(0)
	return err
}

// SetGroupTimeout bounds how long the host waits for the stream while the
// backend is in a group (0: for ever). A collective that never finishes
// (a process stopped, a network failed) would hang the wait: a watchdog
// aborts the communicator after d, or as soon as NCCL reports an error
// of its own (ncclCommGetAsyncError), and the wait returns the reason.
func (b *Backend) SetGroupTimeout(d time.Duration) { b.groupTimeout = d }

// syncWatched waits for the stream on the owner thread, under the
// watchdog of a group (watchGroup); the reason the watchdog aborted the
// group comes before the wait's own error.
func (b *Backend) syncWatched() error {
	stop := b.watchGroup()
	err := b.drv.StreamSynchronize(b.stream)
	cause := stop()
	switch {
	case cause == nil:
		return err
	case err == nil:
		return cause
	}
	return fmt.Errorf("%w; then %w", cause, err)
}

// groupPoll is how often the watchdog asks NCCL for its errors.
const groupPoll = 100 * time.Millisecond

// watchGroup starts the watchdog of one wait of the owner thread, when the
// backend is in a group; stop ends it and returns why it aborted the
// group, or nil.
func (b *Backend) watchGroup() (stop func() error) {
	c := cu.Comm(b.commHandle.Load())
	if c == 0 || b.commAborted.Load() {
		return func() error { return nil }
	}
	done, over := make(chan struct{}), make(chan error, 1)
	go func() {
		tick := time.NewTicker(groupPoll)
		defer tick.Stop()
		var deadline <-chan time.Time
		if b.groupTimeout > 0 {
			t := time.NewTimer(b.groupTimeout)
			defer t.Stop()
			deadline = t.C
		}
		var why error
		defer func() { over <- why }()
		for {
			select {
			case <-done:
				return
			case <-deadline:
				why = fmt.Errorf("cuda: the device waited more than %v for an NCCL collective (another process stopped answering, or the network between the GPUs failed): the group was aborted", b.groupTimeout)
			case <-tick.C:
				if err := b.nccl.AsyncError(c); err != nil {
					why = fmt.Errorf("cuda: NCCL failed (%w): the group was aborted", err)
				}
			}
			if why != nil {
				b.AbortGroup()
				return
			}
		}
	}()
	return func() error {
		close(done)
		return <-over
	}
}
