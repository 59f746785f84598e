package main

// The backends this binary offers; each registers itself from its init.
// OpenCL is compiled in with -tags opencl; without it, the opencl backend
// says how to get it.
import (
	_ "github.com/mtl-gpu/mtl-gpu/backend/cpu"
	_ "github.com/mtl-gpu/mtl-gpu/backend/opencl"
)
