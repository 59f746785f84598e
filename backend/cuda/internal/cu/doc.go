// Package cu is a small binding of the CUDA driver API and of cuBLAS, loaded
// at run time: it opens libcuda.so.1 and libcublas with dlopen (through
// purego, so it needs neither cgo nor the CUDA toolkit to build) and binds
// only the functions the CUDA backend calls.
//
// One concern per file: library.go opens shared libraries and binds
// symbols, driver.go declares the driver functions, result.go turns
// CUresult and cublasStatus_t codes into errors that carry their names,
// context.go, memory.go, module.go and launch.go wrap the driver calls of
// each kind, and cublas.go the cuBLAS calls.
//
// Every call returns an error value; nothing here panics on a failed call,
// prints or exits, so a program can fall back to another device when the
// driver is missing. The binding is not safe for concurrent use of one
// context: the CUDA backend calls it from one goroutine locked to an OS
// thread, on which its context is current.
//
// Kernel arguments are passed to cuLaunchKernel through an array of
// pointers, one per argument, each pointing at its own 8-byte slot (Args),
// so a 4-byte int or float is never read as 8 bytes.
package cu
