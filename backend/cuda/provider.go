package cuda

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
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

// blasNames are the names cuBLAS is looked for under when no path is
// given, newest first; tests point them at stand-ins.
var blasNames = cu.BLASNames

// blasDriver returns the driver version (as cuDriverGetVersion reports
// it) that the cuBLAS library of a file name needs, from the major version
// after ".so." (libcublas.so.13 needs CUDA 13.0, a driver of branch 580 or
// later: 13000), or 0 when the name does not say.
func blasDriver(name string) int {
	_, suffix, ok := strings.Cut(filepath.Base(name), ".so.")
	if !ok {
		return 0
	}
	major, _, _ := strings.Cut(suffix, ".")
	v, err := strconv.Atoi(major)
	if err != nil || v <= 0 {
		return 0
	}
	return 1000 * v
}

// formatCUDA turns a driver version into major.minor (12040 is 12.4).
func formatCUDA(v int) string { return fmt.Sprintf("%d.%d", v/1000, v%1000/10) }

// loadBLAS returns the cuBLAS libraries to try, in order: the one at path
// when it is set, otherwise those of blasNames that load. It passes over,
// without loading them, those that the driver, of CUDA version
// driverVersion (0 when unknown), is too old for, and says why in skipped.
// When no library is left the error wraps cu.ErrNoCUBLAS and gives the
// reason for each name.
func loadBLAS(path string, driverVersion int) (libs []*cu.BLAS, skipped []string, err error) {
	loadMu.Lock()
	defer loadMu.Unlock()
	names := blasNames
	if path != "" {
		names = []string{path}
	}
	var reasons []string
	for _, name := range names {
		if need := blasDriver(name); driverVersion > 0 && need > driverVersion {
			why := fmt.Sprintf("%s needs a driver for CUDA %s or later; the driver supports CUDA %s",
				name, formatCUDA(need), formatCUDA(driverVersion))
			reasons = append(reasons, why)
			skipped = append(skipped, why)
			continue
		}
		b := blases[name]
		if b == nil {
			if b, err = cu.OpenBLAS(name); err != nil {
				var le *cu.LoadError
				if errors.As(err, &le) {
					reasons = append(reasons, le.Reasons...)
				} else {
					reasons = append(reasons, err.Error())
				}
				continue
			}
			blases[name] = b
		}
		libs = append(libs, b)
	}
	if len(libs) == 0 {
		return nil, nil, &cu.LoadError{Err: cu.ErrNoCUBLAS, Reasons: reasons}
	}
	return libs, skipped, nil
}

// blasUsed says which cuBLAS library is used and why others that loaded
// were not: "libcublas.so.12; libcublas.so.13: cublasCreate_v2: …".
func blasUsed(name string, failed []string) string {
	return strings.Join(append([]string{name}, failed...), "; ")
}

// Devices lists the CUDA devices, each with the cuBLAS library it would
// use. It fails when the driver or cuBLAS cannot be loaded (so that auto
// moves on to another backend) and returns an empty list when the driver
// finds no device.
func Devices(opts backend.Options) ([]backend.DeviceInfo, error) {
	drv, ok, err := loadDriver()
	if err != nil || !ok {
		return nil, err
	}
	version, _ := drv.Version()
	libs, _, err := loadBLAS(opts.CUBLAS, version)
	if err != nil {
		return nil, err
	}
	n, err := drv.DeviceCount()
	if err != nil {
		return nil, err
	}
	var out []backend.DeviceInfo
	for i := range n {
		info, _, err := describe(drv, i, version)
		if err != nil {
			return nil, err
		}
		info.Detail += ", cuBLAS " + libs[0].Library()
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
		detail += ", driver CUDA " + formatCUDA(driverVersion)
	}
	info := backend.DeviceInfo{
		Device: backend.Device{Kind: backend.CUDA, Index: ordinal},
		Name:   name,
		Memory: mem,
		Detail: detail,
	}
	return info, props{dev: dev, multiprocessor: attrs[2]}, nil
}
