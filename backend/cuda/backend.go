package cuda

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cuda/internal/cu"
	"github.com/mtl-gpu/mtl-gpu/kernels"
)

// Backend runs every operation on one NVIDIA GPU. See the package
// documentation for how it uses threads, streams and errors.
type Backend struct {
	info backend.DeviceInfo
	drv  *cu.Driver
	blas *cu.BLAS
	run  *owner
	// maxBlocks bounds the blocks of a grid-stride launch.
	maxBlocks int

	// The fields below are set up on the owner thread and used there only,
	// except that the caller passes status's address to gather_rows.
	dev    cu.Device
	ctx    cu.Context
	stream cu.Stream
	handle cu.Handle
	module cu.Module
	funcs  map[string]cu.Function
	// err is the first error since the last Sync.
	err error
	// status is a device word that gather_rows sets to 1 when an index is
	// out of range.
	status *buffer

	// The fields below are used by the caller only.
	closed bool
	// scratch holds the partial sums of reductions; it only grows (see
	// scratchFor). The owner thread frees it at Close.
	scratch *buffer
	// live holds every buffer not yet freed, for Close.
	live map[*buffer]struct{}
	// staging is page-locked host memory: the caller copies small writes
	// into its first stagingBytes (stagingUsed of them are taken); the
	// owner thread reads the gather status into the word after them.
	staging     unsafe.Pointer
	stagingUsed int
	// gathered is true when a GatherRows ran since the status was last
	// checked.
	gathered bool
}

var _ backend.Backend = (*Backend)(nil)

// stagingBytes is the size of the page-locked staging memory for writes;
// writes up to stagingBytes/4 go through it.
const stagingBytes = 16 << 20

// stagingAlign aligns the regions of staging memory.
const stagingAlign = 256

var errClosed = errors.New("cuda: backend is closed")

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
	blas, err := loadBLAS(opts.CUBLAS)
	if err != nil {
		return nil, err
	}
	n, err := drv.DeviceCount()
	if err != nil {
		return nil, err
	}
	if ordinal < 0 || ordinal >= n {
		return nil, fmt.Errorf("cuda:%d does not exist (%d CUDA devices)", ordinal, n)
	}
	version, _ := drv.Version()
	info, p, err := describe(drv, ordinal, version)
	if err != nil {
		return nil, err
	}
	b := &Backend{
		info:      info,
		drv:       drv,
		blas:      blas,
		dev:       p.dev,
		maxBlocks: maxBlocksFor(p.multiprocessor),
		live:      map[*buffer]struct{}{},
	}
	var blasVersion int
	b.run, err = startOwner(func() error {
		var err error
		blasVersion, err = b.setup(opts.TF32)
		if err != nil {
			b.teardown()
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cuda:%d: %w", ordinal, err)
	}
	b.info.Detail += fmt.Sprintf(", cuBLAS %s (%s)", formatBLASVersion(blasVersion), blas.Library())
	if opts.TF32 {
		b.info.Detail += ", TF32 on"
	}
	return b, nil
}

// setup runs on the owner thread: it makes the primary context current
// and creates the stream, the cuBLAS handle, the module and the scratch
// memory. It returns cuBLAS's version.
func (b *Backend) setup(tf32 bool) (int, error) {
	var err error
	if b.ctx, err = b.drv.PrimaryCtxRetain(b.dev); err != nil {
		return 0, err
	}
	if err = b.drv.CtxSetCurrent(b.ctx); err != nil {
		return 0, err
	}
	if b.stream, err = b.drv.StreamCreate(cu.StreamNonBlocking); err != nil {
		return 0, err
	}
	if b.handle, err = b.blas.Create(); err != nil {
		return 0, err
	}
	if err = b.blas.SetStream(b.handle, b.stream); err != nil {
		return 0, err
	}
	mode := cu.DefaultMath
	if tf32 {
		mode = cu.TF32TensorOpMath
	}
	if err = b.blas.SetMathMode(b.handle, mode); err != nil {
		return 0, err
	}
	version, err := b.blas.Version(b.handle)
	if err != nil {
		return 0, err
	}
	if b.module, err = b.drv.ModuleLoadData([]byte(kernels.PTX())); err != nil {
		return 0, fmt.Errorf("loading the kernels: %w", err)
	}
	b.funcs = map[string]cu.Function{}
	for _, k := range kernels.Kernels() {
		f, err := b.drv.ModuleGetFunction(b.module, k.Name)
		if err != nil {
			return 0, err
		}
		b.funcs[k.Name] = f
	}
	if b.staging, err = b.drv.MemHostAlloc(stagingBytes + stagingAlign); err != nil {
		return 0, err
	}
	if b.status, err = b.allocDevice(backend.Int32, 1); err != nil {
		return 0, err
	}
	if b.scratch, err = b.allocDevice(backend.Float32, kernels.ReduceGroups); err != nil {
		return 0, err
	}
	return version, b.drv.StreamSynchronize(b.stream)
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
	if b.stream != 0 {
		keep(b.drv.StreamSynchronize(b.stream))
	}
	for _, buf := range []*buffer{b.status, b.scratch} {
		if buf != nil && buf.ptr != 0 {
			keep(b.drv.MemFree(buf.ptr))
		}
	}
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

// fail keeps err as the sticky error unless one is already kept. It runs
// on the owner thread.
func (b *Backend) fail(err error) {
	if err != nil && b.err == nil {
		b.err = err
	}
}

// enqueue queues an asynchronous operation. After Close it does nothing:
// the next Sync or Read reports the closed backend.
func (b *Backend) enqueue(f func()) {
	if b.closed {
		return
	}
	b.run.enqueue(f)
}

// finish runs on the owner thread: it waits for the stream and, when
// gathered, checks and clears the gather status.
func (b *Backend) finish(gathered bool) {
	err := b.drv.StreamSynchronize(b.stream)
	b.fail(err)
	if !gathered || err != nil {
		return
	}
	word := unsafe.Add(b.staging, stagingBytes)
	*(*int32)(word) = 0
	if err := b.drv.MemcpyDtoHAsync(word, b.status.ptr, 4, b.stream); err != nil {
		b.fail(err)
		return
	}
	if err := b.drv.StreamSynchronize(b.stream); err != nil {
		b.fail(err)
		return
	}
	if *(*int32)(word) != 0 {
		b.fail(errors.New("cuda: GatherRows: an index is outside the rows of the source"))
		b.fail(b.drv.MemsetD32Async(b.status.ptr, 0, 1, b.stream))
	}
}

// wait runs f on the owner thread after all queued work and a stream
// synchronisation; f sees the sticky error in b.err. Afterwards all
// staging memory is free again.
func (b *Backend) wait(f func() error) error {
	if b.closed {
		return errClosed
	}
	gathered := b.gathered
	b.gathered = false
	err := b.run.call(func() error {
		b.finish(gathered)
		return f()
	})
	b.stagingUsed = 0
	return err
}

// Sync waits for all queued work and returns the first error since the
// last Sync, which it clears.
func (b *Backend) Sync() error {
	return b.wait(func() error {
		err := b.err
		b.err = nil
		return err
	})
}

// Close waits for queued work, frees every buffer and every resource of
// the backend, and returns the sticky error, if any, with any error of
// releasing them. Closing twice returns nil.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	live := b.live
	b.live = nil
	err := b.wait(func() error {
		errs := []error{b.err}
		for buf := range live {
			if buf.ptr != 0 {
				errs = append(errs, b.drv.MemFree(buf.ptr))
			}
		}
		errs = append(errs, b.teardown())
		return errors.Join(errs...)
	})
	b.closed = true
	b.run.stop()
	return err
}
