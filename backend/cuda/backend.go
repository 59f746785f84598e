package cuda

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cuda/internal/cu"
	"github.com/mtl-gpu/mtl-gpu/kernels"
)

// Backend runs every operation on one NVIDIA GPU. See the package
// documentation for how it uses threads, streams, memory and errors.
type Backend struct {
	info backend.DeviceInfo
	drv  *cu.Driver
	run  *owner
	// maxBlocks bounds the blocks of a grid-stride launch.
	maxBlocks int

	// The fields below are set up on the owner thread and used there only,
	// except that the caller passes status's address to gather_rows.
	dev    cu.Device
	ctx    cu.Context
	stream cu.Stream
	blas   *cu.BLAS
	handle cu.Handle
	module cu.Module
	funcs  map[string]cu.Function
	// pools is true when device memory is allocated and freed in stream
	// order (cuMemAllocAsync); otherwise freed memory waits in deferred
	// for the next synchronisation.
	pools    bool
	deferred []cu.DevicePtr
	// err is the first error since the last Sync.
	err error
	// fault is the device fault that made the context unusable, for good.
	fault error
	// status is a device word that gather_rows sets to 1 when an index is
	// out of range.
	status *buffer
	// nccl and comm carry the all-reduce of a data-parallel run (see
	// nccl.go); comm is made and destroyed on the owner thread.
	nccl               *cu.NCCL
	comm               cu.Comm
	commRank, commSize int
	// commHandle is comm for AbortGroup, which any goroutine may call,
	// and commAborted says that it did.
	commHandle  atomic.Uint64
	commAborted atomic.Bool
	// groupTimeout bounds a wait for the stream while it may hold a
	// collective (SetGroupTimeout); 0 waits for ever.
	groupTimeout time.Duration

	// The fields below are used by the caller only.
	closed bool
	// scratch holds the partial sums of reductions; it only grows (see
	// scratchFor). The owner thread frees it at Close.
	scratch *buffer
	// live holds every buffer not yet freed, for Close.
	live map[*buffer]struct{}
	// staging is page-locked host memory: the caller copies small writes
	// into its first stagingBytes (stagingUsed of them are taken), reads
	// come back through it, and the owner thread reads the gather status
	// into the word after them.
	staging     unsafe.Pointer
	stagingUsed int
	// indexed is true when a kernel that checks its indices (GatherRows,
	// SegmentSum, the row-wise steps) ran since the status was last
	// checked.
	indexed bool
}

var _ backend.Backend = (*Backend)(nil)

// stagingBytes is the size of the page-locked staging memory for writes
// and reads; writes up to stagingBytes/4 go through it.
const stagingBytes = 16 << 20

// stagingAlign aligns the regions of staging memory.
const stagingAlign = 256

var errClosed = errors.New("cuda: backend is closed")

// ErrDeviceFault is wrapped by every error of a backend whose GPU faulted
// (an illegal address, a launch timeout, a device-side assert, an illegal
// instruction, a failed launch: the sticky errors of cuda.h). The CUDA
// context of the process cannot be used again: Sync and reads keep
// returning the error, Close frees nothing on the device, and only a new
// process can use the GPU.
var ErrDeviceFault = errors.New("the GPU faulted")

// faultError is the error of a faulted backend.
type faultError struct {
	dev   backend.Device
	cause error
}

func (e *faultError) Error() string {
	return fmt.Sprintf("%s: %v (%v); the CUDA context of this process cannot be used again: "+
		"restart the process (mtl-gpu train --resume MODEL continues from the model saved at the end of the last finished epoch)",
		e.dev, ErrDeviceFault, e.cause)
}

func (e *faultError) Unwrap() []error { return []error{ErrDeviceFault, e.cause} }

// New opens CUDA device ordinal: it loads the driver and cuBLAS, starts
// the thread that owns the device's context, and loads the kernels.
func New(ordinal int, opts backend.Options) (*Backend, error) {
	drv, ok, err := loadDriver()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("cuda: the NVIDIA driver found no device")
	}
	n, err := drv.DeviceCount()
	if err != nil {
		return nil, err
	}
	if ordinal < 0 || ordinal >= n {
		return nil, fmt.Errorf("cuda:%d does not exist (%d CUDA devices)", ordinal, n)
	}
	version, _ := drv.Version()
	blases, skipped, err := loadBLAS(opts.CUBLAS, version)
	if err != nil {
		return nil, err
	}
	info, p, err := describe(drv, ordinal, version)
	if err != nil {
		return nil, err
	}
	b := &Backend{
		info:      info,
		drv:       drv,
		dev:       p.dev,
		maxBlocks: maxBlocksFor(p.multiprocessor),
		live:      map[*buffer]struct{}{},
	}
	var blasVersion int
	var failed []string
	b.run, err = startOwner(func() error {
		var err error
		blasVersion, failed, err = b.setup(blases, version, opts.TF32)
		if err != nil && b.blas == nil {
			// No library made a handle: say why for each name.
			err = &cu.LoadError{Err: cu.ErrNoCUBLAS, Reasons: append(skipped, failed...)}
		}
		if err != nil {
			b.teardown()
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cuda:%d: %w", ordinal, err)
	}
	b.info.Detail += fmt.Sprintf(", cuBLAS %s (%s)", formatBLASVersion(blasVersion), blasUsed(b.blas.Library(), failed))
	if b.pools {
		b.info.Detail += ", stream-ordered allocation"
	}
	if opts.TF32 {
		b.info.Detail += ", TF32 on"
	}
	return b, nil
}

// setup runs on the owner thread: it makes the primary context current
// and creates the stream, the cuBLAS handle (with the first of blases
// that creates one), the module and the scratch memory. It returns
// cuBLAS's version and why earlier libraries of blases could not make a
// handle.
func (b *Backend) setup(blases []*cu.BLAS, driverVersion int, tf32 bool) (int, []string, error) {
	var err error
	if b.ctx, err = b.drv.PrimaryCtxRetain(b.dev); err != nil {
		return 0, nil, err
	}
	if err = b.drv.CtxSetCurrent(b.ctx); err != nil {
		return 0, nil, err
	}
	if b.stream, err = b.drv.StreamCreate(cu.StreamNonBlocking); err != nil {
		return 0, nil, err
	}
	var failed []string
	for _, lib := range blases {
		h, err := lib.Create()
		if err == nil {
			b.blas, b.handle = lib, h
			break
		}
		failed = append(failed, fmt.Sprintf("%s: %v", lib.Library(), err))
	}
	if b.blas == nil {
		return 0, failed, &cu.LoadError{Err: cu.ErrNoCUBLAS, Reasons: failed}
	}
	if err = b.blas.SetStream(b.handle, b.stream); err != nil {
		return 0, failed, err
	}
	mode := cu.DefaultMath
	if tf32 {
		mode = cu.TF32TensorOpMath
	}
	if err = b.blas.SetMathMode(b.handle, mode); err != nil {
		return 0, failed, err
	}
	version, err := b.blas.Version(b.handle)
	if err != nil {
		return 0, failed, err
	}
	if b.module, _, err = b.drv.ModuleLoadData([]byte(kernels.PTX())); err != nil {
		return 0, failed, fmt.Errorf("loading the kernels: %w", err)
	}
	b.funcs = map[string]cu.Function{}
	for _, k := range kernels.Kernels() {
		f, err := b.drv.ModuleGetFunction(b.module, k.Name)
		if err != nil {
			return 0, failed, err
		}
		b.funcs[k.Name] = f
	}
	b.pools = b.setupPools(driverVersion)
	if b.staging, err = b.drv.MemHostAlloc(stagingBytes + stagingAlign); err != nil {
		return 0, failed, err
	}
	if b.status, err = b.allocDevice(backend.Int32, 1); err != nil {
		return 0, failed, err
	}
	if b.scratch, err = b.allocDevice(backend.Float32, kernels.ReduceGroups); err != nil {
		return 0, failed, err
	}
	return version, failed, b.drv.StreamSynchronize(b.stream)
}

// memPoolsDriver is the first driver version with stream-ordered
// allocation, CUDA 11.2.
const memPoolsDriver = 11020

// setupPools reports whether device memory can be allocated in stream
// order: the driver and the device support memory pools, and the device's
// default pool keeps freed memory for reuse instead of returning it to
// the system at every synchronisation. Otherwise memory is allocated with
// cuMemAlloc and freed at synchronisations.
func (b *Backend) setupPools(driverVersion int) bool {
	if driverVersion < memPoolsDriver || !b.drv.HasMemPools() {
		return false
	}
	if ok, err := b.drv.DeviceAttribute(cu.AttrMemoryPoolsSupported, b.dev); err != nil || ok != 1 {
		return false
	}
	pool, err := b.drv.DefaultMemPool(b.dev)
	if err != nil {
		return false
	}
	return b.drv.SetMemPoolReleaseThreshold(pool, math.MaxUint64) == nil
}

// teardown releases what setup created, on the owner thread, and returns
// the first error.
func (b *Backend) teardown() error {
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	keep(b.leaveGroup())
	for _, buf := range []*buffer{b.status, b.scratch} {
		if buf != nil && buf.ptr != 0 {
			keep(b.memFree(buf.ptr))
		}
	}
	if b.stream != 0 {
		err := b.drv.StreamSynchronize(b.stream)
		b.fail(err)
		keep(err)
	}
	keep(b.releaseDeferred())
	if b.staging != nil {
		keep(b.drv.MemFreeHost(b.staging))
		b.staging = nil
	}
	if b.module != 0 {
		keep(b.drv.ModuleUnload(b.module))
		b.module = 0
	}
	if b.handle != 0 {
		keep(b.blas.Destroy(b.handle))
		b.handle = 0
	}
	if b.stream != 0 {
		keep(b.drv.StreamDestroy(b.stream))
		b.stream = 0
	}
	if b.ctx != 0 {
		keep(b.drv.CtxSetCurrent(0))
		keep(b.drv.PrimaryCtxRelease(b.dev))
		b.ctx = 0
	}
	return errors.Join(errs...)
}

// formatBLASVersion turns cublasGetVersion's number into major.minor.patch:
// cuBLAS 11.9 and later count 10000 per major version (120405 is
// 12.4.5), earlier ones 1000 (11605 is 11.6.5).
func formatBLASVersion(v int) string {
	unit := 10000
	if v < 100000 {
		unit = 1000
	}
	return fmt.Sprintf("%d.%d.%d", v/unit, v%unit/100, v%100)
}

// maxBlocksFor is the most blocks a grid-stride launch uses on a device
// with the given number of multiprocessors: enough to keep each of them
// busy with several resident blocks.
func maxBlocksFor(multiprocessors int) int {
	return max(multiprocessors, 1) * 16
}

// Info describes the device.
func (b *Backend) Info() backend.DeviceInfo { return b.info }

// fail keeps err as the error of the next Sync unless one is already
// kept, and a device fault for good. It runs on the owner thread.
func (b *Backend) fail(err error) {
	if err == nil {
		return
	}
	if b.fault == nil && cu.IsSticky(err) {
		b.fault = &faultError{dev: b.info.Device, cause: err}
	}
	if b.err == nil {
		b.err = err
	}
}

// failed returns the fault, if any, or else the kept error. It runs on
// the owner thread.
func (b *Backend) failed() error {
	if b.fault != nil {
		return b.fault
	}
	return b.err
}

// enqueue queues an asynchronous operation. After Close it does nothing:
// the next Sync or Read reports the closed backend. After a fault the
// operation is dropped on the owner thread.
func (b *Backend) enqueue(f func()) {
	if b.closed {
		return
	}
	b.run.enqueue(func() {
		if b.fault == nil {
			f()
		}
	})
}

// wait runs on the owner thread after all queued work. It queues copyOut
// (a copy of results into host memory, or nil) and the check of the
// gather status, waits for the stream once, checks the status, frees the
// memory freed since the last wait, and returns the fault or the kept
// error, which clear then forgets unless it is a fault. When there is no
// error, done (or nil) runs on the caller's side. Afterwards all staging
// memory is free again.
func (b *Backend) wait(copyOut func() error, done func(), clear bool) error {
	if b.closed {
		return errClosed
	}
	indexed := b.indexed
	b.indexed = false
	err := b.run.call(func() error {
		if b.fault != nil {
			return b.fault
		}
		word := (*int32)(unsafe.Add(b.staging, stagingBytes))
		if indexed {
			*word = 0
			b.fail(b.drv.MemcpyDtoHAsync(unsafe.Pointer(word), b.status.ptr, 4, b.stream))
		}
		if copyOut != nil && b.err == nil {
			b.fail(copyOut())
		}
		b.fail(b.syncWatched())
		if indexed && b.fault == nil && *word != 0 {
			b.fail(fmt.Errorf("cuda: %w", kernels.StatusError(*word)))
			b.fail(b.drv.MemsetD32Async(b.status.ptr, 0, 1, b.stream))
		}
		if b.fault == nil {
			b.fail(b.releaseDeferred())
		}
		err := b.failed()
		if clear && b.fault == nil {
			b.err = nil
		}
		return err
	})
	b.stagingUsed = 0
	if err == nil && done != nil {
		done()
	}
	return err
}

// Sync waits for all queued work and returns the first error since the
// last Sync, which it clears, unless the device faulted: then it returns
// the fault, at every call (see ErrDeviceFault).
func (b *Backend) Sync() error { return b.wait(nil, nil, true) }

// Close waits for queued work, frees every buffer and every resource of
// the backend, and returns the kept error, if any, with any error of
// releasing them. After a device fault it frees nothing on the device
// (the context is unusable) and returns the fault. Closing twice returns
// nil.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	live := b.live
	b.live = nil
	err := b.run.call(func() error {
		if b.fault == nil {
			b.fail(b.syncWatched())
		}
		if b.fault != nil {
			return b.fault
		}
		errs := []error{b.err}
		for buf := range live {
			if buf.ptr != 0 {
				errs = append(errs, b.memFree(buf.ptr))
			}
		}
		errs = append(errs, b.teardown())
		if b.fault != nil {
			return b.fault
		}
		return errors.Join(errs...)
	})
	b.closed = true
	b.run.stop()
	return err
}
