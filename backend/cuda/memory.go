package cuda

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cuda/internal/cu"
)

// buffer is an array of 4-byte elements in device memory. An empty buffer
// has no memory (ptr 0).
type buffer struct {
	ptr cu.DevicePtr
	n   int
	dt  backend.DType
}

// Len is the number of elements.
func (b *buffer) Len() int { return b.n }

// DType is the element type.
func (b *buffer) DType() backend.DType { return b.dt }

// at is the device address of element i.
func (b *buffer) at(i int) cu.DevicePtr { return b.ptr + cu.DevicePtr(4*i) }

// devBuffer returns buf as a buffer of this package; anything else is a
// programming error.
func devBuffer(buf backend.Buffer, op string) *buffer {
	d, ok := buf.(*buffer)
	if !ok {
		panic(fmt.Sprintf("cuda: %s: %T is not a CUDA buffer", op, buf))
	}
	return d
}

// allocDevice allocates n zeroed elements on the owner thread.
func (b *Backend) allocDevice(dt backend.DType, n int) (*buffer, error) {
	buf := &buffer{n: n, dt: dt}
	if n == 0 {
		return buf, nil
	}
	p, err := b.drv.MemAlloc(4 * n)
	if err != nil {
		return nil, err
	}
	if err := b.drv.MemsetD32Async(p, 0, n, b.stream); err != nil {
		b.drv.MemFree(p)
		return nil, err
	}
	buf.ptr = p
	return buf, nil
}

// Alloc returns a zeroed buffer. It waits for the queued work before it,
// not for the device.
func (b *Backend) Alloc(dt backend.DType, n int) (backend.Buffer, error) {
	if n < 0 {
		return nil, fmt.Errorf("cuda: Alloc of %d elements", n)
	}
	if dt != backend.Float32 && dt != backend.Int32 {
		return nil, fmt.Errorf("cuda: Alloc of unknown type %v", dt)
	}
	if b.closed {
		return nil, errClosed
	}
	var buf *buffer
	err := b.run.call(func() error {
		var err error
		buf, err = b.allocDevice(dt, n)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cuda: Alloc of %d %s elements: %w", n, dt, err)
	}
	b.live[buf] = struct{}{}
	return buf, nil
}

// Upload returns a new float32 buffer holding a copy of src.
func (b *Backend) Upload(src []float32) (backend.Buffer, error) {
	buf, err := b.Alloc(backend.Float32, len(src))
	if err != nil {
		return nil, err
	}
	b.WriteFloat32(buf, 0, src)
	return buf, nil
}

// Free releases a buffer once the work queued before it is done. Freeing
// nil, or a buffer twice, does nothing.
func (b *Backend) Free(buf backend.Buffer) {
	if buf == nil {
		return
	}
	d := devBuffer(buf, "Free")
	if _, ok := b.live[d]; !ok {
		return
	}
	delete(b.live, d)
	if d.ptr == 0 {
		return
	}
	ptr := d.ptr
	b.enqueue(func() {
		// Work queued earlier may still read the memory.
		b.fail(b.drv.StreamSynchronize(b.stream))
		b.fail(b.drv.MemFree(ptr))
	})
}

// WriteFloat32 copies src into dst from element off on.
func (b *Backend) WriteFloat32(dst backend.Buffer, off int, src []float32) {
	d := devBuffer(dst, "WriteFloat32")
	checkWrite("WriteFloat32", d, backend.Float32, off, len(src))
	if len(src) > 0 {
		b.write(d.at(off), unsafe.Pointer(&src[0]), 4*len(src))
	}
}

// WriteInt32 copies src into dst from element off on.
func (b *Backend) WriteInt32(dst backend.Buffer, off int, src []int32) {
	d := devBuffer(dst, "WriteInt32")
	checkWrite("WriteInt32", d, backend.Int32, off, len(src))
	if len(src) > 0 {
		b.write(d.at(off), unsafe.Pointer(&src[0]), 4*len(src))
	}
}

func checkWrite(op string, d *buffer, dt backend.DType, off, n int) {
	if d.dt != dt {
		panic(fmt.Sprintf("cuda: %s into a %s buffer", op, d.dt))
	}
	if off < 0 || off+n > d.n {
		panic(fmt.Sprintf("cuda: %s of %d at %d into %d", op, n, off, d.n))
	}
}

// write copies n bytes from host memory at src to dst. When src is small
// it is copied into staging memory and the call returns at once;
// otherwise the device copies from src itself and the call waits for the
// copy. Either way src may be reused when write returns.
func (b *Backend) write(dst cu.DevicePtr, src unsafe.Pointer, n int) {
	if b.closed {
		return
	}
	if n > stagingBytes/4 {
		b.run.call(func() error {
			var pin runtime.Pinner
			pin.Pin(src)
			defer pin.Unpin()
			b.fail(b.drv.MemcpyHtoDAsync(dst, src, n, b.stream))
			b.fail(b.drv.StreamSynchronize(b.stream))
			return nil
		})
		return
	}
	at, ok := stagingRegion(b.stagingUsed, n)
	if !ok {
		b.drain()
		at, _ = stagingRegion(0, n)
	}
	b.stagingUsed = at + n
	host := unsafe.Add(b.staging, at)
	copy(unsafe.Slice((*byte)(host), n), unsafe.Slice((*byte)(src), n))
	b.run.enqueue(func() {
		b.fail(b.drv.MemcpyHtoDAsync(dst, host, n, b.stream))
	})
}

// stagingRegion returns where a write of n bytes goes when used bytes of
// staging memory are taken, and false when it does not fit.
func stagingRegion(used, n int) (int, bool) {
	at := (used + stagingAlign - 1) / stagingAlign * stagingAlign
	return at, at+n <= stagingBytes
}

// drain waits until every copy out of staging memory is done, so that all
// of it can be reused.
func (b *Backend) drain() {
	b.run.call(func() error {
		b.fail(b.drv.StreamSynchronize(b.stream))
		return nil
	})
	b.stagingUsed = 0
}

// ReadFloat32 waits for all queued work and copies len(dst) elements of
// src, from element off on, into dst. It returns the sticky error, if any.
func (b *Backend) ReadFloat32(dst []float32, src backend.Buffer, off int) error {
	s := devBuffer(src, "ReadFloat32")
	if s.dt != backend.Float32 {
		return fmt.Errorf("cuda: ReadFloat32 from a %s buffer", s.dt)
	}
	return b.read(unsafe.Pointer(unsafe.SliceData(dst)), len(dst), s, off, "ReadFloat32")
}

// ReadInt32 is ReadFloat32 for int32 buffers.
func (b *Backend) ReadInt32(dst []int32, src backend.Buffer, off int) error {
	s := devBuffer(src, "ReadInt32")
	if s.dt != backend.Int32 {
		return fmt.Errorf("cuda: ReadInt32 from a %s buffer", s.dt)
	}
	return b.read(unsafe.Pointer(unsafe.SliceData(dst)), len(dst), s, off, "ReadInt32")
}

func (b *Backend) read(dst unsafe.Pointer, n int, src *buffer, off int, op string) error {
	if off < 0 || off+n > src.n {
		return fmt.Errorf("cuda: %s of %d at %d from buffer of %d", op, n, off, src.n)
	}
	return b.wait(func() error {
		if n > 0 && b.err == nil {
			var pin runtime.Pinner
			pin.Pin(dst)
			defer pin.Unpin()
			b.fail(b.drv.MemcpyDtoHAsync(dst, src.at(off), 4*n, b.stream))
			b.fail(b.drv.StreamSynchronize(b.stream))
		}
		return b.err
	})
}

// scratchFor returns a device buffer of at least n float32 elements for
// partial sums, growing the backend's scratch buffer when it is too small.
// Operations use it in stream order, so one buffer serves them all; the
// old one is freed after the work queued before. It returns nil when the
// allocation fails, which the next Sync reports.
func (b *Backend) scratchFor(n int) *buffer {
	if b.scratch != nil && b.scratch.n >= n {
		return b.scratch
	}
	size := n
	if b.scratch != nil {
		size = max(n, 2*b.scratch.n)
	}
	var grown *buffer
	err := b.run.call(func() error {
		buf, err := b.allocDevice(backend.Float32, size)
		if err != nil {
			b.fail(fmt.Errorf("cuda: scratch memory of %d elements: %w", size, err))
			return err
		}
		grown = buf
		return nil
	})
	if err != nil {
		return nil
	}
	if old := b.scratch; old != nil && old.ptr != 0 {
		b.enqueue(func() {
			b.fail(b.drv.StreamSynchronize(b.stream))
			b.fail(b.drv.MemFree(old.ptr))
		})
	}
	b.scratch = grown
	return grown
}
