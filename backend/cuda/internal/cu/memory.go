package cu

import "unsafe"

// MemAlloc allocates bytes of device memory in the current context.
func (d *Driver) MemAlloc(bytes int) (DevicePtr, error) {
	var p DevicePtr
	err := d.check("cuMemAlloc_v2", d.cuMemAlloc(&p, uintptr(bytes)))
	return p, err
}

// MemFree frees device memory from MemAlloc.
func (d *Driver) MemFree(p DevicePtr) error {
	return d.check("cuMemFree_v2", d.cuMemFree(p))
}

// MemsetD32Async sets count 32-bit words at p to value, in stream order.
func (d *Driver) MemsetD32Async(p DevicePtr, value uint32, count int, s Stream) error {
	return d.check("cuMemsetD32Async", d.cuMemsetD32Async(p, value, uintptr(count), s))
}

// MemcpyHtoDAsync copies bytes from host memory at src to dst in stream
// order. From pinned memory (MemHostAlloc) the copy runs after the call
// returns, so src must stay unchanged until the stream reaches it.
func (d *Driver) MemcpyHtoDAsync(dst DevicePtr, src unsafe.Pointer, bytes int, s Stream) error {
	return d.check("cuMemcpyHtoDAsync_v2", d.cuMemcpyHtoDAsync(dst, src, uintptr(bytes), s))
}

// MemcpyDtoHAsync copies bytes from src to host memory at dst in stream
// order; dst holds them once the stream is synchronised.
func (d *Driver) MemcpyDtoHAsync(dst unsafe.Pointer, src DevicePtr, bytes int, s Stream) error {
	return d.check("cuMemcpyDtoHAsync_v2", d.cuMemcpyDtoHAsync(dst, src, uintptr(bytes), s))
}

// MemHostAlloc allocates bytes of page-locked host memory, which the
// device reads by DMA, so that copies from it are truly asynchronous.
func (d *Driver) MemHostAlloc(bytes int) (unsafe.Pointer, error) {
	var p unsafe.Pointer
	err := d.check("cuMemHostAlloc", d.cuMemHostAlloc(&p, uintptr(bytes), 0))
	return p, err
}

// MemFreeHost frees memory from MemHostAlloc.
func (d *Driver) MemFreeHost(p unsafe.Pointer) error {
	return d.check("cuMemFreeHost", d.cuMemFreeHost(p))
}
