package mpi

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// threadFunneled is MPI_THREAD_FUNNELED of mpi.h: only the thread that
// initialised MPI calls it.
const threadFunneled = 1

// commTypeShared is MPI_COMM_TYPE_SHARED of Open MPI's mpi.h: processes
// that can share memory, that is, on one node.
const commTypeShared = 0

// inPlace is MPI_IN_PLACE of Open MPI's mpi.h, ((void *) 1).
const inPlace uintptr = 1

// maxCount is the most elements one MPI call moves: counts are C ints.
// Longer buffers go in pieces. A variable so that tests can make pieces
// small.
var maxCount = math.MaxInt32

// ErrFinalized is returned by a call on a World after Finalize.
var ErrFinalized = errors.New("MPI is finalised")

// Op is a reduction operation of Allreduce.
type Op int

// The reductions Allreduce applies element by element across ranks.
const (
	// Sum adds (MPI_SUM).
	Sum Op = iota
	// Max takes the largest (MPI_MAX).
	Max
)

// String returns "sum" or "max".
func (op Op) String() string {
	switch op {
	case Sum:
		return "sum"
	case Max:
		return "max"
	}
	return fmt.Sprintf("Op(%d)", int(op))
}

// World is MPI started in this process: MPI_COMM_WORLD, with this
// process's rank in it and on its node. Every method but Abort is a
// collective call: each rank makes the same calls in the same order.
//
// MPI is initialised with MPI_THREAD_FUNNELED: one goroutine, locked to the
// OS thread that called MPI_Init_thread, makes every MPI call, and the
// methods hand their work to it. They may be called from any goroutine,
// and calls from several goroutines at once are carried out one at a time,
// but in no fixed order, which collective calls need: a program makes them
// from one goroutine.
type World struct {
	lib *Library
	// calls carries work to the goroutine that owns MPI.
	calls chan func()
	// mu guards finalized against the closing of calls.
	mu        sync.RWMutex
	finalized bool

	// timeout bounds every collective call (0: none); stuck is the
	// error of a call that ran past it, which every later call returns.
	timeout time.Duration
	stuck   atomic.Pointer[TimeoutError]
	// beat sends and hears the heartbeats that name a silent rank (nil
	// until StartHeartbeat).
	beat *heartbeat

	size, rank           int
	localSize, localRank int
	// local is the communicator of the ranks on this node.
	local uintptr
}

// Init starts MPI (MPI_Init_thread asking for MPI_THREAD_FUNNELED), makes
// MPI calls return their errors rather than end the job (MPI_ERRORS_RETURN
// on MPI_COMM_WORLD), and finds this process's rank and the world's size
// (MPI_Comm_rank, MPI_Comm_size) and its rank among the processes on its
// node (MPI_Comm_split_type with MPI_COMM_TYPE_SHARED). MPI can be
// initialised once per process: Init fails when it already was, also
// after Finalize.
//
// If MPI started but a later step failed, MPI stays initialised and the
// error says so; the caller should then Abort.
func (l *Library) Init() (*World, error) {
	if done, err := l.Initialized(); err != nil {
		return nil, err
	} else if done {
		if fin, _ := l.Finalized(); fin {
			return nil, errors.New("MPI_Init_thread: MPI was finalised in this process and cannot start again")
		}
		return nil, errors.New("MPI_Init_thread: MPI is already initialised in this process")
	}
	w := &World{lib: l, calls: make(chan func())}
	started := make(chan error)
	go w.own(started)
	if err := <-started; err != nil {
		return nil, err
	}
	return w, nil
}

// Start loads Open MPI by its usual names (Open) and starts it (Init).
func Start() (*World, error) {
	lib, err := Open()
	if err != nil {
		return nil, err
	}
	return lib.Init()
}

// own is the goroutine that owns MPI: it locks itself to its OS thread,
// initialises MPI there, reports how that went on started, and then runs
// the work of every call until Finalize closes calls.
func (w *World) own(started chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := w.start(); err != nil {
		started <- err
		return
	}
	started <- nil
	for work := range w.calls {
		work()
	}
}

// start initialises MPI and fills in the ranks and sizes.
func (w *World) start() error {
	l := w.lib
	var provided int32
	if err := l.check("MPI_Init_thread", l.mpiInitThread(0, 0, threadFunneled, &provided)); err != nil {
		return err
	}
	if provided < threadFunneled {
		return fmt.Errorf("MPI_Init_thread: %s provides thread level %d, below MPI_THREAD_FUNNELED (%d) (MPI stays initialised)", l.name, provided, threadFunneled)
	}
	if err := w.query(); err != nil {
		return fmt.Errorf("%w (MPI stays initialised)", err)
	}
	return nil
}

// query sets MPI_ERRORS_RETURN and finds the ranks and sizes.
func (w *World) query() error {
	l := w.lib
	if err := l.check("MPI_Comm_set_errhandler", l.mpiCommSetErrhandler(l.commWorld, l.errorsReturn)); err != nil {
		return err
	}
	var size, rank int32
	if err := l.check("MPI_Comm_size", l.mpiCommSize(l.commWorld, &size)); err != nil {
		return err
	}
	if err := l.check("MPI_Comm_rank", l.mpiCommRank(l.commWorld, &rank)); err != nil {
		return err
	}
	var local uintptr
	if err := l.check("MPI_Comm_split_type", l.mpiCommSplitType(l.commWorld, commTypeShared, rank, l.infoNull, &local)); err != nil {
		return err
	}
	var localSize, localRank int32
	if err := l.check("MPI_Comm_size", l.mpiCommSize(local, &localSize)); err != nil {
		return err
	}
	if err := l.check("MPI_Comm_rank", l.mpiCommRank(local, &localRank)); err != nil {
		return err
	}
	w.size, w.rank = int(size), int(rank)
	w.localSize, w.localRank = int(localSize), int(localRank)
	w.local = local
	return nil
}

// do runs work on the goroutine that owns MPI and returns its error, or a
// *TimeoutError when it runs past the world's timeout.
func (w *World) do(op string, work func() error) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.finalized {
		return ErrFinalized
	}
	if err := w.stuck.Load(); err != nil {
		return err
	}
	done := make(chan error, 1)
	w.calls <- func() { done <- work() }
	if w.timeout <= 0 {
		return <-done
	}
	timer := time.NewTimer(w.timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		// The owner goroutine stays in the call; nothing more can be
		// asked of it.
		err := &TimeoutError{Op: op, After: w.timeout, Rank: w.rank, Silent: w.beat.silent(w.rank)}
		w.stuck.Store(err)
		return err
	}
}

// TimeoutError reports a collective call that did not finish within the
// world's timeout (SetTimeout): some other process stopped answering, or
// died without ending the job. MPI cannot be used afterwards; the process
// should exit, and mpirun then ends the others.
type TimeoutError struct {
	Op    string
	After time.Duration
	Rank  int
	// Silent are the ranks this one had not heard from (see
	// StartHeartbeat) when it gave up: the ones that stopped or died.
	Silent []int
}

func (e *TimeoutError) Error() string {
	msg := fmt.Sprintf("%s: rank %d waited %v without an answer from every other process", e.Op, e.Rank, e.After)
	switch len(e.Silent) {
	case 0:
		return msg + " (one stopped answering or died)"
	case 1:
		return msg + fmt.Sprintf(": rank %d stopped answering (no heartbeat), or died", e.Silent[0])
	}
	return msg + fmt.Sprintf(": ranks %v stopped answering (no heartbeat), or died", e.Silent)
}

// SetTimeout bounds every later collective call: one that does not finish
// within d returns a *TimeoutError, and so does every call after it. Zero
// (the default) waits for ever. Call it before the collective calls, from
// the goroutine that makes them.
func (w *World) SetTimeout(d time.Duration) { w.timeout = d }

// SumFloat32 is AllreduceFloat32 with Sum (the trainer's all-reduce).
func (w *World) SumFloat32(v []float32) error { return w.AllreduceFloat32(v, Sum) }

// MaxInt64 is AllreduceInt64 with Max.
func (w *World) MaxInt64(v []int64) error { return w.AllreduceInt64(v, Max) }

// Library returns the library MPI runs on.
func (w *World) Library() *Library { return w.lib }

// Size returns the number of processes in MPI_COMM_WORLD (MPI_Comm_size).
func (w *World) Size() int { return w.size }

// Rank returns this process's rank in MPI_COMM_WORLD, from 0 to Size()-1
// (MPI_Comm_rank).
func (w *World) Rank() int { return w.rank }

// LocalSize returns the number of processes on this node, the ones that
// can share memory with this one.
func (w *World) LocalSize() int { return w.localSize }

// LocalRank returns this process's rank among the processes on its node,
// from 0 to LocalSize()-1, ordered as their world ranks: the index of the
// device it should use when each node runs one process per device.
func (w *World) LocalRank() int { return w.localRank }

// Barrier returns when every rank has called it (MPI_Barrier).
func (w *World) Barrier() error {
	return w.do("MPI_Barrier", func() error {
		return w.lib.check("MPI_Barrier", w.lib.mpiBarrier(w.lib.commWorld))
	})
}

// Bcast copies buf of rank root into buf of every other rank (MPI_Bcast).
// Every rank passes a buffer of the same length.
func (w *World) Bcast(buf []byte, root int) error {
	if root < 0 || root >= w.size {
		return fmt.Errorf("MPI_Bcast: root %d is not a rank of a world of %d", root, w.size)
	}
	return w.bcast(buf, root)
}

// bcast is Bcast without the check of root.
func (w *World) bcast(buf []byte, root int) error {
	if len(buf) == 0 {
		return nil
	}
	return w.do("MPI_Bcast", func() error {
		for start := 0; start < len(buf); start += maxCount {
			n := min(len(buf)-start, maxCount)
			rc := w.lib.mpiBcast(unsafe.Pointer(&buf[start]), int32(n), w.lib.typeByte, int32(root), w.lib.commWorld)
			if err := w.lib.check("MPI_Bcast", rc); err != nil {
				return err
			}
		}
		runtime.KeepAlive(buf)
		return nil
	})
}

// AllreduceFloat32 replaces each element of buf by its op across ranks,
// the same on every rank (MPI_Allreduce of MPI_FLOAT with MPI_IN_PLACE).
// Every rank passes a buffer of the same length.
func (w *World) AllreduceFloat32(buf []float32, op Op) error {
	if len(buf) == 0 {
		return nil
	}
	return w.allreduce("MPI_FLOAT", unsafe.Pointer(&buf[0]), len(buf), 4, w.lib.typeFloat32, op)
}

// AllreduceFloat64 replaces each element of buf by its op across ranks
// (MPI_Allreduce of MPI_DOUBLE with MPI_IN_PLACE).
func (w *World) AllreduceFloat64(buf []float64, op Op) error {
	if len(buf) == 0 {
		return nil
	}
	return w.allreduce("MPI_DOUBLE", unsafe.Pointer(&buf[0]), len(buf), 8, w.lib.typeFloat64, op)
}

// AllreduceInt64 replaces each element of buf by its op across ranks
// (MPI_Allreduce of MPI_INT64_T with MPI_IN_PLACE).
func (w *World) AllreduceInt64(buf []int64, op Op) error {
	if len(buf) == 0 {
		return nil
	}
	return w.allreduce("MPI_INT64_T", unsafe.Pointer(&buf[0]), len(buf), 8, w.lib.typeInt64, op)
}

// allreduce reduces n elements of elemSize bytes at data in place, in
// pieces of at most maxCount elements.
func (w *World) allreduce(typeName string, data unsafe.Pointer, n, elemSize int, datatype uintptr, op Op) error {
	var opHandle uintptr
	switch op {
	case Sum:
		opHandle = w.lib.opSum
	case Max:
		opHandle = w.lib.opMax
	default:
		return fmt.Errorf("MPI_Allreduce: unknown reduction %v", op)
	}
	return w.do("MPI_Allreduce", func() error {
		for start := 0; start < n; start += maxCount {
			count := min(n-start, maxCount)
			piece := unsafe.Add(data, start*elemSize)
			rc := w.lib.mpiAllreduce(inPlace, piece, int32(count), datatype, opHandle, w.lib.commWorld)
			if err := w.lib.check("MPI_Allreduce", rc); err != nil {
				return fmt.Errorf("%s of %d %s: %w", op, n, typeName, err)
			}
		}
		runtime.KeepAlive(data)
		return nil
	})
}

// Finalize frees the node's communicator and ends MPI in this process
// (MPI_Finalize), after which every method returns ErrFinalized. Every rank
// calls it before it exits.
func (w *World) Finalize() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finalized {
		return ErrFinalized
	}
	if err := w.stuck.Load(); err != nil {
		return err
	}
	w.beat.close()
	w.beat = nil
	done := make(chan error, 1)
	w.calls <- func() {
		err := w.lib.check("MPI_Comm_free", w.lib.mpiCommFree(&w.local))
		done <- errors.Join(err, w.lib.check("MPI_Finalize", w.lib.mpiFinalize()))
	}
	err := <-done
	w.finalized = true
	close(w.calls)
	return err
}

// Abort ends every process of the world with errorCode as the exit status
// mpirun reports (MPI_Abort on MPI_COMM_WORLD). It is not a collective
// call: any rank may call it, from any goroutine, also while another
// goroutine is blocked in a collective call. It returns only when MPI could
// not abort.
func (w *World) Abort(errorCode int) error { return w.lib.Abort(errorCode) }
