package main

// The backends this binary offers; each registers itself from its init.
// CUDA is always compiled in (the driver is loaded at run time); OpenCL is
// compiled in with -tags opencl, and without it the opencl backend says how
// to get it.
import (
	_ "github.com/mtl-gpu/mtl-gpu/backend/cpu"
	_ "github.com/mtl-gpu/mtl-gpu/backend/cuda"
	_ "github.com/mtl-gpu/mtl-gpu/backend/opencl"
)
