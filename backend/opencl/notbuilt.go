package opencl

import "errors"

// errNotBuilt is what a binary built without the opencl tag reports for
// every OpenCL device.
var errNotBuilt = errors.New("opencl: this binary was built without OpenCL support; rebuild it with -tags opencl (e.g. make build)")
