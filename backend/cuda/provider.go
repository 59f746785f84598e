package cuda

import (
	"fmt"
	"strings"
	"sync"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cuda/internal/cu"
)

func init() {
	backend.Register(backend.Provider{
		Kind:    backend.CUDA,
		Devices: Devices,
		Open: func(d backend.Device, opts backend.Options) (backend.Backend, error) {
			return New(d.Index, opts)
		},
	})
}

// driverNames are the names the driver is loaded by; tests point them at
// libraries that do not exist.
var driverNames = cu.DriverNames

var (
	loadMu sync.Mutex
	// drivers and blases hold the libraries loaded so far, by the names
	// they were looked for under.
	drivers = map[string]*cu.Driver{}
	blases  = map[string]*cu.BLAS{}
)

// loadDriver loads and initialises the driver. When no driver library
// loads, the error says "no NVIDIA driver found (…)"; when the driver
// finds no device, ok is false and err nil.
func loadDriver() (drv *cu.Driver, ok bool, err error) {
	loadMu.Lock()
	defer loadMu.Unlock()
	key := strings.Join(driverNames, "\x00")
	drv = drivers[key]
	if drv == nil {
		if drv, err = cu.OpenDriver(driverNames...); err != nil {
			return nil, false, err
		}
		drivers[key] = drv
	}
	if err := drv.Init(); err != nil {
		if cu.IsResult(err, cu.ErrorNoDevice) {
			return drv, false, nil
		}
		return nil, false, fmt.Errorf("the NVIDIA driver (%s) did not initialise: %w", drv.Library(), err)
	}
	return drv, true, nil
}

// loadBLAS loads cuBLAS from path, or from the usual names when path is
// empty.
func loadBLAS(path string) (*cu.BLAS, error) {
	loadMu.Lock()
	defer loadMu.Unlock()
	if b := blases[path]; b != nil {
		return b, nil
	}
	var names []string
	if path != "" {
		names = []string{path}
	}
	b, err := cu.OpenBLAS(names...)
	if err != nil {
		return nil, err
	}
	blases[path] = b
	return b, nil
}

// Devices lists the CUDA devices. It fails when the driver or cuBLAS
// cannot be loaded (so that auto moves on to another backend) and returns
// an empty list when the driver finds no device.
func Devices(opts backend.Options) ([]backend.DeviceInfo, error) {
	drv, ok, err := loadDriver()
	if err != nil || !ok {
		return nil, err
	}
	if _, err := loadBLAS(opts.CUBLAS); err != nil {
		return nil, err
	}
	n, err := drv.DeviceCount()
	if err != nil {
		return nil, err
	}
	version, _ := drv.Version()
	var out []backend.DeviceInfo
	for i := range n {
		info, _, err := describe(drv, i, version)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// props are the device properties the backend uses.
type props struct {
	dev            cu.Device
	multiprocessor int
}

// describe returns the listing of device ordinal and its properties.
func describe(drv *cu.Driver, ordinal, driverVersion int) (backend.DeviceInfo, props, error) {
	fail := func(err error) (backend.DeviceInfo, props, error) {
		return backend.DeviceInfo{}, props{}, fmt.Errorf("cuda:%d: %w", ordinal, err)
	}
	dev, err := drv.DeviceGet(ordinal)
	if err != nil {
		return fail(err)
	}
	name, err := drv.DeviceName(dev)
	if err != nil {
		return fail(err)
	}
	mem, err := drv.DeviceTotalMem(dev)
	if err != nil {
		return fail(err)
	}
	var attrs [3]int
	for i, a := range []cu.Attribute{cu.AttrComputeCapabilityMajor, cu.AttrComputeCapabilityMinor, cu.AttrMultiprocessorCount} {
		if attrs[i], err = drv.DeviceAttribute(a, dev); err != nil {
			return fail(err)
		}
	}
	detail := fmt.Sprintf("compute capability %d.%d, %d multiprocessors", attrs[0], attrs[1], attrs[2])
	if driverVersion > 0 {
		detail += fmt.Sprintf(", driver CUDA %d.%d", driverVersion/1000, driverVersion%1000/10)
	}
	info := backend.DeviceInfo{
		Device: backend.Device{Kind: backend.CUDA, Index: ordinal},
		Name:   name,
		Memory: mem,
		Detail: detail,
	}
	return info, props{dev: dev, multiprocessor: attrs[2]}, nil
}
