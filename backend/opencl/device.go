//go:build opencl

package opencl

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jgillich/go-opencl/cl"
	"github.com/mtl-gpu/mtl-gpu/backend"
)

// platformNotFound is CL_PLATFORM_NOT_FOUND_KHR, which the ICD loader
// returns when no OpenCL driver is installed.
const platformNotFound = -1001

// device is one OpenCL device with the description a listing shows.
type device struct {
	info backend.DeviceInfo
	cl   *cl.Device
}

// enumerate lists every device of every platform, numbered as opencl:P:D.
// No installed driver means no devices, not an error.
func enumerate() (devs []device, err error) {
	defer recoverInfo(&err)
	platforms, err := cl.GetPlatforms()
	var code cl.ErrOther
	if errors.As(err, &code) && code == platformNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opencl: listing platforms: %w", err)
	}
	for p, platform := range platforms {
		found, err := platform.GetDevices(cl.DeviceTypeAll)
		if errors.Is(err, cl.ErrDeviceNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("opencl: listing devices of platform %d (%s): %w", p, platform.Name(), err)
		}
		for d, dev := range found {
			devs = append(devs, device{cl: dev, info: describe(p, d, platform, dev)})
		}
	}
	return devs, nil
}

// describe makes the listing entry of device d of platform p.
func describe(p, d int, platform *cl.Platform, dev *cl.Device) backend.DeviceInfo {
	return backend.DeviceInfo{
		Device: backend.Device{Kind: backend.OpenCL, Index: p, Sub: d},
		Name:   strings.TrimSpace(dev.Name()),
		Memory: dev.GlobalMemSize(),
		Detail: fmt.Sprintf("%s, %s, %d compute units, platform %s",
			strings.TrimSpace(dev.Version()), dev.Type(), dev.MaxComputeUnits(), strings.TrimSpace(platform.Name())),
		CPU: dev.Type()&cl.DeviceTypeCPU != 0,
	}
}

// recoverInfo turns a panic of the OpenCL binding, whose information
// queries panic when the driver fails them, into an error.
func recoverInfo(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("opencl: querying the driver: %v", r)
	}
}

func init() {
	backend.Register(backend.Provider{
		Kind: backend.OpenCL,
		Devices: func(backend.Options) ([]backend.DeviceInfo, error) {
			devs, err := enumerate()
			if err != nil {
				return nil, err
			}
			infos := make([]backend.DeviceInfo, len(devs))
			for i, d := range devs {
				infos[i] = d.info
			}
			return infos, nil
		},
		Open: func(d backend.Device, _ backend.Options) (backend.Backend, error) {
			return New(d)
		},
	})
}
