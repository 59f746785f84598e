//go:build opencl

package opencl

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/jgillich/go-opencl/cl"
	"github.com/mtl-gpu/mtl-gpu/backend"
)

// buffer is device memory of one backend. A buffer of no elements has no
// memory object.
type buffer struct {
	mem   *cl.MemObject
	n     int
	dtype backend.DType
	owner *Backend
	freed bool
}

// Len is the number of elements.
func (buf *buffer) Len() int { return buf.n }

// DType is the element type.
func (buf *buffer) DType() backend.DType { return buf.dtype }

// own returns buf as a buffer of this backend, or panics with a message
// naming op: a buffer of another backend, or a freed one, is a programming
// error.
func (b *Backend) own(buf backend.Buffer, op string) *buffer {
	ob, ok := buf.(*buffer)
	if !ok || ob.owner != b {
		panic(fmt.Sprintf("opencl: %s: %T is not a buffer of this backend", op, buf))
	}
	if ob.freed {
		panic(fmt.Sprintf("opencl: %s: buffer used after Free", op))
	}
	return ob
}

// memOf returns the memory object behind buf for a kernel argument: the
// dummy buffer for a nil or empty buffer, which the kernel will not read.
func (b *Backend) memOf(buf backend.Buffer, op string) *cl.MemObject {
	if buf == nil {
		return b.dummy
	}
	ob := b.own(buf, op)
	if ob.mem == nil {
		return b.dummy
	}
	return ob.mem
}

// checkSize rejects sizes that kernels cannot index with 32-bit ints.
func checkSize(n int) error {
	if n < 0 || n > math.MaxInt32 {
		return fmt.Errorf("opencl: buffer of %d elements (at most %d)", n, math.MaxInt32)
	}
	return nil
}

// Alloc returns a zeroed buffer of n elements.
func (b *Backend) Alloc(dt backend.DType, n int) (backend.Buffer, error) {
	if b.closed {
		return nil, errClosed
	}
	if err := checkSize(n); err != nil {
		return nil, err
	}
	if dt != backend.Float32 && dt != backend.Int32 {
		return nil, fmt.Errorf("opencl: Alloc of unknown type %v", dt)
	}
	buf := &buffer{n: n, dtype: dt, owner: b}
	if n == 0 {
		return buf, nil
	}
	mem, err := b.context.CreateEmptyBuffer(cl.MemReadWrite, 4*n)
	if err != nil {
		return nil, fmt.Errorf("opencl: Alloc of %d elements: %w", n, err)
	}
	buf.mem = mem
	var zero uint32
	b.fail("Alloc", done(b.queue.EnqueueFillBuffer(mem, unsafe.Pointer(&zero), 4, 0, 4*n, nil)))
	return buf, nil
}

// Upload returns a float32 buffer holding a copy of src.
func (b *Backend) Upload(src []float32) (backend.Buffer, error) {
	if b.closed {
		return nil, errClosed
	}
	if err := checkSize(len(src)); err != nil {
		return nil, err
	}
	buf := &buffer{n: len(src), dtype: backend.Float32, owner: b}
	if len(src) == 0 {
		return buf, nil
	}
	mem, err := b.context.CreateBufferUnsafe(cl.MemReadWrite|cl.MemCopyHostPtr, 4*len(src), unsafe.Pointer(&src[0]))
	if err != nil {
		return nil, fmt.Errorf("opencl: Upload of %d elements: %w", len(src), err)
	}
	buf.mem = mem
	return buf, nil
}

// Free releases the buffer's device memory once the work already enqueued
// is done with it. Freeing nil is a no-op.
func (b *Backend) Free(buf backend.Buffer) {
	if buf == nil {
		return
	}
	ob, ok := buf.(*buffer)
	if !ok || ob.owner != b {
		panic(fmt.Sprintf("opencl: Free: %T is not a buffer of this backend", buf))
	}
	if ob.mem != nil {
		ob.mem.Release()
		ob.mem = nil
	}
	ob.freed = true
}

// write copies n elements at src into dst at element off, blocking until
// the data is copied.
func (b *Backend) write(op string, dst backend.Buffer, dt backend.DType, off, n int, src unsafe.Pointer) {
	d := b.own(dst, op)
	if d.dtype != dt {
		panic(fmt.Sprintf("opencl: %s into a %s buffer", op, d.dtype))
	}
	if off < 0 || off+n > d.n {
		panic(fmt.Sprintf("opencl: %s of %d at %d into %d", op, n, off, d.n))
	}
	if n == 0 || b.closed {
		return
	}
	b.fail(op, done(b.queue.EnqueueWriteBuffer(d.mem, true, 4*off, 4*n, src, nil)))
}

// WriteFloat32 copies src into dst starting at element off.
func (b *Backend) WriteFloat32(dst backend.Buffer, off int, src []float32) {
	var p unsafe.Pointer
	if len(src) > 0 {
		p = unsafe.Pointer(&src[0])
	}
	b.write("WriteFloat32", dst, backend.Float32, off, len(src), p)
}

// WriteInt32 copies src into dst starting at element off.
func (b *Backend) WriteInt32(dst backend.Buffer, off int, src []int32) {
	var p unsafe.Pointer
	if len(src) > 0 {
		p = unsafe.Pointer(&src[0])
	}
	b.write("WriteInt32", dst, backend.Int32, off, len(src), p)
}

// read waits for the queue and copies n elements of src from element off
// to dst. It returns the pending error, if any, without clearing it.
func (b *Backend) read(op string, src backend.Buffer, dt backend.DType, off, n int, dst unsafe.Pointer) error {
	if b.closed {
		return errClosed
	}
	s := b.own(src, op)
	if s.dtype != dt {
		panic(fmt.Sprintf("opencl: %s from a %s buffer", op, s.dtype))
	}
	if off < 0 || off+n > s.n {
		return fmt.Errorf("opencl: %s of %d at %d from buffer of %d", op, n, off, s.n)
	}
	if n > 0 {
		b.fail(op, done(b.queue.EnqueueReadBuffer(s.mem, true, 4*off, 4*n, dst, nil)))
	}
	b.finish(op)
	return b.err
}

// ReadFloat32 waits for all enqueued work and copies len(dst) elements of
// src, starting at element off, into dst.
func (b *Backend) ReadFloat32(dst []float32, src backend.Buffer, off int) error {
	var p unsafe.Pointer
	if len(dst) > 0 {
		p = unsafe.Pointer(&dst[0])
	}
	return b.read("ReadFloat32", src, backend.Float32, off, len(dst), p)
}

// ReadInt32 waits for all enqueued work and copies len(dst) elements of
// src, starting at element off, into dst.
func (b *Backend) ReadInt32(dst []int32, src backend.Buffer, off int) error {
	var p unsafe.Pointer
	if len(dst) > 0 {
		p = unsafe.Pointer(&dst[0])
	}
	return b.read("ReadInt32", src, backend.Int32, off, len(dst), p)
}
