package cuda

import (
	"fmt"
	"math"
	"runtime"
	"unsafe"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cuda/internal/cu"
)

// maxElements is the most elements a buffer may have: the kernels index
// in 32 bits.
const maxElements = math.MaxInt32

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

// at is the device address of element i, computed in 64 bits.
func (b *buffer) at(i int) cu.DevicePtr { return b.ptr + 4*cu.DevicePtr(i) }

// devBuffer returns buf as a buffer of this package; anything else is a
// programming error.
func devBuffer(buf backend.Buffer, op string) *buffer {
	d, ok := buf.(*buffer)
	if !ok {
		panic(fmt.Sprintf("cuda: %s: %T is not a CUDA buffer", op, buf))
	}
	return d
}

// memAlloc allocates device memory on the owner thread, in stream order
// when the device has memory pools.
func (b *Backend) memAlloc(bytes int) (cu.DevicePtr, error) {
	if b.pools {
		return b.drv.MemAllocAsync(bytes, b.stream)
	}
	return b.drv.MemAlloc(bytes)
}

// memFree frees device memory on the owner thread once the work queued
// before is done, without waiting for it: in stream order with memory
// pools, otherwise at the next synchronisation (releaseDeferred).
func (b *Backend) memFree(p cu.DevicePtr) error {
	if b.pools {
		return b.drv.MemFreeAsync(p, b.stream)
	}
	b.deferred = append(b.deferred, p)
	return nil
}

// releaseDeferred frees the memory memFree deferred. It runs on the owner
// thread right after a stream synchronisation, when no work uses it any
// more (cuMemFree would otherwise wait for the device).
func (b *Backend) releaseDeferred() error {
	var first error
	for _, p := range b.deferred {
		if err := b.drv.MemFree(p); err != nil && first == nil {
			first = err
		}
	}
	b.deferred = b.deferred[:0]
	return first
}

// allocDevice allocates n zeroed elements on the owner thread. When the
// device is out of memory and freed memory waits for a synchronisation,
// it synchronises, frees it and tries again.
func (b *Backend) allocDevice(dt backend.DType, n int) (*buffer, error) {
	buf := &buffer{n: n, dt: dt}
	if n == 0 {
		return buf, nil
	}
	p, err := b.memAlloc(4 * n)
	if cu.IsResult(err, cu.ErrorOutOfMemory) && len(b.deferred) > 0 {
		b.fail(b.drv.StreamSynchronize(b.stream))
		b.fail(b.releaseDeferred())
		p, err = b.memAlloc(4 * n)
	}
	if err != nil {
		return nil, err
	}
	if err := b.drv.MemsetD32Async(p, 0, n, b.stream); err != nil {
		b.memFree(p)
		return nil, err
	}
	buf.ptr = p
	return buf, nil
}

// Alloc returns a zeroed buffer of at most 2³¹−1 elements. It waits for
// the owner thread to take the queued work before it, not for the device.
func (b *Backend) Alloc(dt backend.DType, n int) (backend.Buffer, error) {
	if n < 0 {
		return nil, fmt.Errorf("cuda: Alloc of %d elements", n)
	}
	if n > maxElements {
		return nil, fmt.Errorf("cuda: Alloc of %d elements: a buffer holds at most %d (2³¹−1), as the kernels index in 32 bits", n, maxElements)
	}
	if dt != backend.Float32 && dt != backend.Int32 {
		return nil, fmt.Errorf("cuda: Alloc of unknown type %v", dt)
	}
	if b.closed {
		return nil, errClosed
	}
	var buf *buffer
	err := b.run.call(func() error {
		if b.fault != nil {
			return b.fault
		}
		var err error
		buf, err = b.allocDevice(dt, n)
		if cu.IsSticky(err) {
			b.fail(err)
			return b.fault
		}
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

// Free releases a buffer once the work queued before it is done, without
// waiting for it. Freeing nil, or a buffer twice, does nothing.
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
	b.enqueue(func() { b.fail(b.memFree(ptr)) })
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

// write copies n bytes from host memory at src to dst. A small write
// that fits in what is left of the staging memory is copied there and
// the call returns at once; otherwise the driver copies from src itself,
// which it stages before cuMemcpyHtoDAsync returns (the rule for pageable
// memory), so the call waits for the owner thread but not for the device.
// Either way src may be reused when write returns.
func (b *Backend) write(dst cu.DevicePtr, src unsafe.Pointer, n int) {
	if b.closed {
		return
	}
	if at, ok := stagingRegion(b.stagingUsed, n); ok && n <= stagingBytes/4 {
		b.stagingUsed = at + n
		host := unsafe.Add(b.staging, at)
		copy(unsafe.Slice((*byte)(host), n), unsafe.Slice((*byte)(src), n))
		b.enqueue(func() {
			b.fail(b.drv.MemcpyHtoDAsync(dst, host, n, b.stream))
		})
		return
	}
	b.run.call(func() error {
		if b.fault == nil {
			var pin runtime.Pinner
			pin.Pin(src)
			defer pin.Unpin()
			b.fail(b.drv.MemcpyHtoDAsync(dst, src, n, b.stream))
		}
		return nil
	})
}

// stagingRegion returns where a write of n bytes goes when used bytes of
// staging memory are taken, and false when it does not fit.
func stagingRegion(used, n int) (int, bool) {
	at := (used + stagingAlign - 1) / stagingAlign * stagingAlign
	return at, at+n <= stagingBytes
}

// ReadFloat32 waits for all queued work and copies len(dst) elements of
// src, from element off on, into dst. It returns the kept error, if any.
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

// read copies n elements with one wait for the stream: through the
// staging memory when they fit (the stream copies into it after the
// copies out of it that writes queued), otherwise straight into dst,
// which the driver does before cuMemcpyDtoHAsync returns (the rule for
// pageable memory).
func (b *Backend) read(dst unsafe.Pointer, n int, src *buffer, off int, op string) error {
	if off < 0 || off+n > src.n {
		return fmt.Errorf("cuda: %s of %d at %d from buffer of %d", op, n, off, src.n)
	}
	if n == 0 {
		return b.wait(nil, nil, false)
	}
	bytes := 4 * n
	if bytes <= stagingBytes {
		return b.wait(func() error {
			return b.drv.MemcpyDtoHAsync(b.staging, src.at(off), bytes, b.stream)
		}, func() {
			copy(unsafe.Slice((*byte)(dst), bytes), unsafe.Slice((*byte)(b.staging), bytes))
		}, false)
	}
	return b.wait(func() error {
		var pin runtime.Pinner
		pin.Pin(dst)
		defer pin.Unpin()
		return b.drv.MemcpyDtoHAsync(dst, src.at(off), bytes, b.stream)
	}, nil, false)
}

// scratchFor returns a device buffer of at least n float32 elements for
// partial sums, growing the backend's scratch buffer when it is too small.
// Operations use it in stream order, so one buffer serves them all; the
// old one is freed after the work queued before, without waiting. It
// returns nil when the allocation fails, which the next Sync reports.
func (b *Backend) scratchFor(n int) *buffer {
	if b.scratch != nil && b.scratch.n >= n {
		return b.scratch
	}
	size := n
	if b.scratch != nil {
		size = min(max(n, 2*b.scratch.n), maxElements)
	}
	var grown *buffer
	err := b.run.call(func() error {
		if b.fault != nil {
			return b.fault
		}
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
		b.enqueue(func() { b.fail(b.memFree(old.ptr)) })
	}
	b.scratch = grown
	return grown
}
