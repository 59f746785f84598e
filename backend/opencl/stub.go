//go:build !opencl

package opencl

import "github.com/mtl-gpu/mtl-gpu/backend"

// built is false when the OpenCL implementation is not compiled in.
const built = false

func init() {
	backend.Register(backend.Provider{
		Kind: backend.OpenCL,
		Devices: func(backend.Options) ([]backend.DeviceInfo, error) {
			return nil, errNotBuilt
		},
		Open: func(backend.Device, backend.Options) (backend.Backend, error) {
			return nil, errNotBuilt
		},
	})
}
