package cu

import "unsafe"

// DriverNames are the names OpenDriver tries by default: the driver's
// soname, which the NVIDIA driver installs (the unversioned libcuda.so
// comes only with the toolkit, often as a stub).
var DriverNames = []string{"libcuda.so.1"}

// Handles of driver objects, as the driver API passes them.
type (
	// Device is a CUdevice, an ordinal-like handle.
	Device int32
	// Context is a CUcontext.
	Context uintptr
	// Stream is a CUstream.
	Stream uintptr
	// Module is a CUmodule.
	Module uintptr
	// Function is a CUfunction, a kernel of a module.
	Function uintptr
	// MemPool is a CUmemoryPool, a device's pool for stream-ordered
	// allocation.
	MemPool uintptr
	// DevicePtr is a CUdeviceptr, an address in device memory.
	DevicePtr uint64
)

// Driver is the loaded CUDA driver library. Its fields are the C functions
// it binds; the methods in context.go, memory.go, module.go and launch.go
// call them and turn their CUresult into an error.
type Driver struct {
	lib *library

	// Initialisation and devices.
	cuInit               func(flags uint32) Result
	cuDriverGetVersion   func(version *int32) Result
	cuDeviceGetCount     func(count *int32) Result
	cuDeviceGet          func(dev *Device, ordinal int32) Result
	cuDeviceGetName      func(name *byte, length int32, dev Device) Result
	cuDeviceTotalMem     func(bytes *uintptr, dev Device) Result
	cuDeviceGetAttribute func(value *int32, attr Attribute, dev Device) Result

	// Contexts and streams.
	cuDevicePrimaryCtxRetain  func(ctx *Context, dev Device) Result
	cuDevicePrimaryCtxRelease func(dev Device) Result
	cuCtxSetCurrent           func(ctx Context) Result
	cuStreamCreate            func(stream *Stream, flags uint32) Result
	cuStreamDestroy           func(stream Stream) Result
	cuStreamSynchronize       func(stream Stream) Result

	// Memory.
	cuMemAlloc        func(ptr *DevicePtr, bytes uintptr) Result
	cuMemFree         func(ptr DevicePtr) Result
	cuMemsetD32Async  func(ptr DevicePtr, value uint32, count uintptr, stream Stream) Result
	cuMemcpyHtoDAsync func(dst DevicePtr, src unsafe.Pointer, bytes uintptr, stream Stream) Result
	cuMemcpyDtoHAsync func(dst unsafe.Pointer, src DevicePtr, bytes uintptr, stream Stream) Result
	cuMemHostAlloc    func(ptr *unsafe.Pointer, bytes uintptr, flags uint32) Result
	cuMemFreeHost     func(ptr unsafe.Pointer) Result

	// Stream-ordered allocation (CUDA 11.2); nil in older drivers.
	cuMemAllocAsync           func(ptr *DevicePtr, bytes uintptr, stream Stream) Result
	cuMemFreeAsync            func(ptr DevicePtr, stream Stream) Result
	cuDeviceGetDefaultMemPool func(pool *MemPool, dev Device) Result
	cuMemPoolSetAttribute     func(pool MemPool, attr int32, value unsafe.Pointer) Result

	// Modules and launches.
	cuModuleLoadDataEx  func(module *Module, image unsafe.Pointer, numOptions uint32, options *int32, values *uintptr) Result
	cuModuleUnload      func(module Module) Result
	cuModuleGetFunction func(fn *Function, module Module, name string) Result
	cuLaunchKernel      func(fn Function, gridX, gridY, gridZ, blockX, blockY, blockZ, sharedBytes uint32, stream Stream, params *unsafe.Pointer, extra *unsafe.Pointer) Result

	// Errors.
	cuGetErrorName   func(r Result, name **byte) Result
	cuGetErrorString func(r Result, text **byte) Result
}

// OpenDriver loads the first of names (DriverNames when empty) that has
// every function the binding needs. It does not initialise the driver
// (see Init). When none loads, the error is a *LoadError that wraps
// ErrNoDriver: "no NVIDIA driver found (libcuda.so.1: …)".
func OpenDriver(names ...string) (*Driver, error) {
	if len(names) == 0 {
		names = DriverNames
	}
	d := &Driver{}
	// The _v2 names are the entry points of the 64-bit API that cuda.h
	// maps the plain names to; the plain ones keep 32-bit sizes.
	lib, err := openLibrary(ErrNoDriver, names, []symbol{
		{"cuInit", &d.cuInit, false},
		{"cuDriverGetVersion", &d.cuDriverGetVersion, false},
		{"cuDeviceGetCount", &d.cuDeviceGetCount, false},
		{"cuDeviceGet", &d.cuDeviceGet, false},
		{"cuDeviceGetName", &d.cuDeviceGetName, false},
		{"cuDeviceTotalMem_v2", &d.cuDeviceTotalMem, false},
		{"cuDeviceGetAttribute", &d.cuDeviceGetAttribute, false},
		{"cuDevicePrimaryCtxRetain", &d.cuDevicePrimaryCtxRetain, false},
		{"cuDevicePrimaryCtxRelease_v2", &d.cuDevicePrimaryCtxRelease, false},
		{"cuCtxSetCurrent", &d.cuCtxSetCurrent, false},
		{"cuStreamCreate", &d.cuStreamCreate, false},
		{"cuStreamDestroy_v2", &d.cuStreamDestroy, false},
		{"cuStreamSynchronize", &d.cuStreamSynchronize, false},
		{"cuMemAlloc_v2", &d.cuMemAlloc, false},
		{"cuMemFree_v2", &d.cuMemFree, false},
		{"cuMemsetD32Async", &d.cuMemsetD32Async, false},
		{"cuMemcpyHtoDAsync_v2", &d.cuMemcpyHtoDAsync, false},
		{"cuMemcpyDtoHAsync_v2", &d.cuMemcpyDtoHAsync, false},
		{"cuMemHostAlloc", &d.cuMemHostAlloc, false},
		{"cuMemFreeHost", &d.cuMemFreeHost, false},
		{"cuMemAllocAsync", &d.cuMemAllocAsync, true},
		{"cuMemFreeAsync", &d.cuMemFreeAsync, true},
		{"cuDeviceGetDefaultMemPool", &d.cuDeviceGetDefaultMemPool, true},
		{"cuMemPoolSetAttribute", &d.cuMemPoolSetAttribute, true},
		{"cuModuleLoadDataEx", &d.cuModuleLoadDataEx, false},
		{"cuModuleUnload", &d.cuModuleUnload, false},
		{"cuModuleGetFunction", &d.cuModuleGetFunction, false},
		{"cuLaunchKernel", &d.cuLaunchKernel, false},
		{"cuGetErrorName", &d.cuGetErrorName, true},
		{"cuGetErrorString", &d.cuGetErrorString, true},
	})
	if err != nil {
		return nil, err
	}
	d.lib = lib
	return d, nil
}

// Library is the name the driver was loaded by.
func (d *Driver) Library() string { return d.lib.name }

// errorName is the driver's name for r, or "" when it has none.
func (d *Driver) errorName(r Result) string {
	if d.cuGetErrorName == nil {
		return ""
	}
	var s *byte
	if d.cuGetErrorName(r, &s) != Success {
		return ""
	}
	return goString(s)
}

// errorString is the driver's description of r, or "" when it has none.
func (d *Driver) errorString(r Result) string {
	if d.cuGetErrorString == nil {
		return ""
	}
	var s *byte
	if d.cuGetErrorString(r, &s) != Success {
		return ""
	}
	return goString(s)
}

// goString copies a NUL-terminated C string that the library owns.
func goString(p *byte) string {
	if p == nil {
		return ""
	}
	var b []byte
	for i := 0; i < 4096; i++ {
		c := *(*byte)(unsafe.Add(unsafe.Pointer(p), i))
		if c == 0 {
			break
		}
		b = append(b, c)
	}
	return string(b)
}
