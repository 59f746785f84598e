package cu

import "unsafe"

// MemAlloc allocates bytes of device memory in the current context.
func (d *Driver) MemAlloc(bytes int) (DevicePtr, error) {
	var p DevicePtr
	err := d.check("cuMemAlloc_v2", d.cuMemAlloc(&p, uintptr(bytes)))
	return p, err
}

// MemFree frees device memory from MemAlloc. It waits for the work
// queued on the device, as cudaFree does.
func (d *Driver) MemFree(p DevicePtr) error {
	return d.check("cuMemFree_v2", d.cuMemFree(p))
}

// HasMemPools reports whether the driver has the functions of
// stream-ordered allocation (CUDA 11.2 and later). Whether a device
// supports them is its attribute AttrMemoryPoolsSupported.
func (d *Driver) HasMemPools() bool {
	return d.cuMemAllocAsync != nil && d.cuMemFreeAsync != nil &&
		d.cuDeviceGetDefaultMemPool != nil && d.cuMemPoolSetAttribute != nil
}

// errNoMemPools is the error of the stream-ordered functions in a driver
// without them.
var errNoMemPools = &Error{Func: "cuMemAllocAsync", Code: 801, Name: "CUDA_ERROR_NOT_SUPPORTED", Text: "the driver has no stream-ordered allocation"}

// MemAllocAsync allocates bytes from the device's default pool in stream
// order: work queued on s after the call may use the memory.
func (d *Driver) MemAllocAsync(bytes int, s Stream) (DevicePtr, error) {
	if !d.HasMemPools() {
		return 0, errNoMemPools
	}
	var p DevicePtr
	err := d.check("cuMemAllocAsync", d.cuMemAllocAsync(&p, uintptr(bytes), s))
	return p, err
}

// MemFreeAsync returns memory from MemAllocAsync to its pool once the
// work queued on s before the call is done; the call does not wait.
func (d *Driver) MemFreeAsync(p DevicePtr, s Stream) error {
	if !d.HasMemPools() {
		return errNoMemPools
	}
	return d.check("cuMemFreeAsync", d.cuMemFreeAsync(p, s))
}

// DefaultMemPool returns the device's default pool, the one MemAllocAsync
// allocates from.
func (d *Driver) DefaultMemPool(dev Device) (MemPool, error) {
	if !d.HasMemPools() {
		return 0, errNoMemPools
	}
	var p MemPool
	err := d.check("cuDeviceGetDefaultMemPool", d.cuDeviceGetDefaultMemPool(&p, dev))
	return p, err
}

// memPoolAttrReleaseThreshold is CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, a
// cuuint64_t.
const memPoolAttrReleaseThreshold int32 = 4

// SetMemPoolReleaseThreshold sets how many bytes of freed memory the pool
// keeps for reuse when the host synchronises, instead of returning them
// to the system (0, the default, returns all of it at every
// synchronisation).
func (d *Driver) SetMemPoolReleaseThreshold(p MemPool, bytes uint64) error {
	if !d.HasMemPools() {
		return errNoMemPools
	}
	v := bytes
	return d.check("cuMemPoolSetAttribute", d.cuMemPoolSetAttribute(p, memPoolAttrReleaseThreshold, unsafe.Pointer(&v)))
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
