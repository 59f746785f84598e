//go:build opencl

package opencl

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/jgillich/go-opencl/cl"
	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/kernels"
)

// built is true when the OpenCL implementation is compiled in.
const built = true

// buildOptions select the OpenCL C version the kernels are written in.
const buildOptions = "-cl-std=CL1.2"

// Backend runs every operation as a kernel on one OpenCL device. It is not
// safe for concurrent use.
type Backend struct {
	info     backend.DeviceInfo
	device   *cl.Device
	context  *cl.Context
	queue    *cl.CommandQueue
	program  *cl.Program
	kernels  map[string]*kernel
	gemmName string
	// reduceGroups caps the work-groups of sum_squares.
	reduceGroups int
	// transposeB makes Gemm transpose a transposed B into scratch first,
	// so that gemm_cpu reads op(B) along rows.
	transposeB bool

	// dummy is bound to buffer arguments that a launch does not read.
	dummy *cl.MemObject
	// partial holds the per-group sums of SumSquares.
	partial *cl.MemObject
	// status is set to 1 by gather_rows on an index out of range;
	// statusDirty says a gather ran since it was last read.
	status      *cl.MemObject
	statusDirty bool
	// scratch holds transposed B operands; scratchLen is its length in
	// elements.
	scratch    *cl.MemObject
	scratchLen int

	// err is the first error since the last Sync.
	err    error
	closed bool
}

var _ backend.Backend = (*Backend)(nil)

var errClosed = errors.New("opencl: backend is closed")

// New opens device d (opencl:P:D): it creates a context and an in-order
// queue, and builds the kernels.
func New(d backend.Device) (*Backend, error) {
	if d.Kind != backend.OpenCL {
		return nil, fmt.Errorf("opencl: %s is not an OpenCL device", d)
	}
	devs, err := enumerate()
	if err != nil {
		return nil, err
	}
	var dev *device
	for i := range devs {
		if devs[i].info.Device == d {
			dev = &devs[i]
		}
	}
	if dev == nil {
		return nil, fmt.Errorf("opencl: device %s does not exist (%d OpenCL devices)", d, len(devs))
	}
	b := &Backend{info: dev.info, device: dev.cl, kernels: map[string]*kernel{}}
	if err := b.init(); err != nil {
		b.release()
		return nil, fmt.Errorf("opencl: %s (%s): %w", d, dev.info.Name, err)
	}
	return b, nil
}

// init creates the context, queue, program, kernels and scratch buffers.
func (b *Backend) init() (err error) {
	defer recoverInfo(&err)
	b.gemmName, b.reduceGroups = "gemm_tiled", gpuReduceGroups
	if b.info.CPU {
		b.gemmName, b.transposeB, b.reduceGroups = "gemm_cpu", true, cpuReduceGroups
	}
	if b.context, err = cl.CreateContext([]*cl.Device{b.device}); err != nil {
		return fmt.Errorf("creating a context: %w", err)
	}
	if b.queue, err = b.context.CreateCommandQueue(b.device, 0); err != nil {
		return fmt.Errorf("creating a queue: %w", err)
	}
	if b.program, err = b.build(kernels.Source(kernels.OpenCL)); err != nil {
		return err
	}
	for _, spec := range kernels.Kernels() {
		k, err := b.program.CreateKernel(spec.Name)
		if err != nil {
			return fmt.Errorf("kernel %s: %w", spec.Name, err)
		}
		b.kernels[spec.Name] = &kernel{cl: k, spec: spec}
		if need := spec.Local[0] * max(spec.Local[1], 1) * max(spec.Local[2], 1); need > 0 {
			most, err := k.WorkGroupSize(b.device)
			if err != nil {
				return fmt.Errorf("kernel %s: work-group size: %w", spec.Name, err)
			}
			if most < need {
				return fmt.Errorf("kernel %s needs work-groups of %d work-items; the device allows %d", spec.Name, need, most)
			}
		}
	}
	if b.dummy, err = b.context.CreateEmptyBuffer(cl.MemReadWrite, 16); err != nil {
		return err
	}
	if b.partial, err = b.context.CreateEmptyBuffer(cl.MemReadWrite, 4*kernels.ReduceGroups); err != nil {
		return err
	}
	var zero int32
	if b.status, err = b.context.CreateBufferUnsafe(cl.MemReadWrite|cl.MemCopyHostPtr, 4, unsafe.Pointer(&zero)); err != nil {
		return err
	}
	return nil
}

// build compiles source for the device; the error of a failed build holds
// the compiler's log.
func (b *Backend) build(source string) (*cl.Program, error) {
	program, err := b.context.CreateProgramWithSource([]string{source})
	if err != nil {
		return nil, fmt.Errorf("creating the program: %w", err)
	}
	if err := program.BuildProgram(nil, buildOptions); err != nil {
		program.Release()
		return nil, fmt.Errorf("building the kernels: %w", err)
	}
	return program, nil
}

// Info describes the device.
func (b *Backend) Info() backend.DeviceInfo { return b.info }

// fail records err as the sticky error unless one is already pending.
func (b *Backend) fail(op string, err error) {
	if err != nil && b.err == nil {
		b.err = fmt.Errorf("opencl: %s: %w", op, err)
	}
}

// finish waits for the queue and checks the gather status.
func (b *Backend) finish(op string) {
	b.fail(op, b.queue.Finish())
	if !b.statusDirty {
		return
	}
	b.statusDirty = false
	var status int32
	err := done(b.queue.EnqueueReadBuffer(b.status, true, 0, 4, unsafe.Pointer(&status), nil))
	b.fail(op, err)
	if err == nil && status != 0 {
		b.fail("kernel", kernels.StatusError(status))
		status = 0
		b.fail(op, done(b.queue.EnqueueWriteBuffer(b.status, true, 0, 4, unsafe.Pointer(&status), nil)))
	}
}

// done releases the event of an enqueued command, which the backend never
// waits on (the queue is in order), and returns the error of enqueueing it.
func done(ev *cl.Event, err error) error {
	if ev != nil {
		ev.Release()
	}
	return err
}

// Sync waits for all enqueued work and returns the first error since the
// last Sync.
func (b *Backend) Sync() error {
	if b.closed {
		return errClosed
	}
	b.finish("Sync")
	err := b.err
	b.err = nil
	return err
}

// Close waits for enqueued work, releases every resource and returns the
// pending error, if any. Buffers become invalid.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	b.finish("Close")
	err := b.err
	b.release()
	b.closed = true
	return err
}

// release frees what init created.
func (b *Backend) release() {
	for _, k := range b.kernels {
		k.cl.Release()
	}
	b.kernels = nil
	for _, m := range []*cl.MemObject{b.dummy, b.partial, b.status, b.scratch} {
		if m != nil {
			m.Release()
		}
	}
	b.dummy, b.partial, b.status, b.scratch = nil, nil, nil, nil
	if b.program != nil {
		b.program.Release()
	}
	if b.queue != nil {
		b.queue.Release()
	}
	if b.context != nil {
		b.context.Release()
	}
	b.program, b.queue, b.context = nil, nil, nil
}

// scratchFor returns a scratch buffer of at least n elements.
func (b *Backend) scratchFor(n int) (*cl.MemObject, error) {
	if n <= b.scratchLen {
		return b.scratch, nil
	}
	if b.scratch != nil {
		// Kernels already enqueued keep the old memory alive until they
		// finish.
		b.scratch.Release()
		b.scratch, b.scratchLen = nil, 0
	}
	m, err := b.context.CreateEmptyBuffer(cl.MemReadWrite, 4*n)
	if err != nil {
		return nil, err
	}
	b.scratch, b.scratchLen = m, n
	return m, nil
}
