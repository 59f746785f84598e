package cu

import (
	"fmt"
	"strings"
)

// Attribute is a CUdevice_attribute.
type Attribute int32

// The device attributes the backend reads.
const (
	AttrMultiprocessorCount    Attribute = 16
	AttrComputeCapabilityMajor Attribute = 75
	AttrComputeCapabilityMinor Attribute = 76
	AttrMemoryPoolsSupported   Attribute = 115
)

// StreamNonBlocking is CU_STREAM_NON_BLOCKING: the stream does not
// synchronise with the legacy default stream.
const StreamNonBlocking uint32 = 1

// Init initialises the driver (cuInit(0)). It may be called more than
// once. Without a GPU it fails with CUDA_ERROR_NO_DEVICE.
func (d *Driver) Init() error { return d.check("cuInit", d.cuInit(0)) }

// Version returns the CUDA version the driver supports, as
// 1000·major + 10·minor (12040 for 12.4).
func (d *Driver) Version() (int, error) {
	var v int32
	err := d.check("cuDriverGetVersion", d.cuDriverGetVersion(&v))
	return int(v), err
}

// DeviceCount returns the number of CUDA devices.
func (d *Driver) DeviceCount() (int, error) {
	var n int32
	err := d.check("cuDeviceGetCount", d.cuDeviceGetCount(&n))
	return int(n), err
}

// DeviceGet returns the device of an ordinal.
func (d *Driver) DeviceGet(ordinal int) (Device, error) {
	var dev Device
	err := d.check("cuDeviceGet", d.cuDeviceGet(&dev, int32(ordinal)))
	return dev, err
}

// DeviceName returns the device's name ("NVIDIA H200").
func (d *Driver) DeviceName(dev Device) (string, error) {
	buf := make([]byte, 256)
	if err := d.check("cuDeviceGetName", d.cuDeviceGetName(&buf[0], int32(len(buf)), dev)); err != nil {
		return "", err
	}
	name, _, _ := strings.Cut(string(buf), "\x00")
	return name, nil
}

// DeviceTotalMem returns the device's memory in bytes.
func (d *Driver) DeviceTotalMem(dev Device) (int64, error) {
	var n uintptr
	err := d.check("cuDeviceTotalMem_v2", d.cuDeviceTotalMem(&n, dev))
	return int64(n), err
}

// DeviceAttribute returns one attribute of the device.
func (d *Driver) DeviceAttribute(attr Attribute, dev Device) (int, error) {
	var v int32
	err := d.check("cuDeviceGetAttribute", d.cuDeviceGetAttribute(&v, attr, dev))
	if err != nil {
		return 0, fmt.Errorf("attribute %d: %w", attr, err)
	}
	return int(v), nil
}

// PrimaryCtxRetain returns the device's primary context, the one the CUDA
// runtime (and so cuBLAS) uses, creating it on first use.
func (d *Driver) PrimaryCtxRetain(dev Device) (Context, error) {
	var c Context
	err := d.check("cuDevicePrimaryCtxRetain", d.cuDevicePrimaryCtxRetain(&c, dev))
	return c, err
}

// PrimaryCtxRelease releases a reference PrimaryCtxRetain took.
func (d *Driver) PrimaryCtxRelease(dev Device) error {
	return d.check("cuDevicePrimaryCtxRelease_v2", d.cuDevicePrimaryCtxRelease(dev))
}

// CtxSetCurrent binds a context to the calling OS thread; 0 unbinds it.
func (d *Driver) CtxSetCurrent(c Context) error {
	return d.check("cuCtxSetCurrent", d.cuCtxSetCurrent(c))
}

// StreamCreate creates a stream in the current context.
func (d *Driver) StreamCreate(flags uint32) (Stream, error) {
	var s Stream
	err := d.check("cuStreamCreate", d.cuStreamCreate(&s, flags))
	return s, err
}

// StreamDestroy destroys a stream once its work is done.
func (d *Driver) StreamDestroy(s Stream) error {
	return d.check("cuStreamDestroy_v2", d.cuStreamDestroy(s))
}

// StreamSynchronize waits for the work of a stream; it returns the error
// of any earlier asynchronous operation that failed.
func (d *Driver) StreamSynchronize(s Stream) error {
	return d.check("cuStreamSynchronize", d.cuStreamSynchronize(s))
}
