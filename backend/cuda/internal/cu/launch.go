package cu

import (
	"math"
	"runtime"
	"slices"
	"unsafe"
)

// Dim3 is a launch dimension: blocks per grid or threads per block.
type Dim3 struct{ X, Y, Z int }

// Count is X·Y·Z.
func (d Dim3) Count() int { return d.X * d.Y * d.Z }

// Args holds the arguments of one kernel launch, each in its own 8-byte
// slot. cuLaunchKernel reads each argument through a pointer and copies as
// many bytes as the kernel's parameter has (4 for an int or a float, 8 for
// a pointer), so a slot may be wider than its value but never narrower.
type Args struct {
	slots []uint64
	ptrs  []unsafe.Pointer
}

// Reserve makes room for n more arguments without reallocating.
func (a *Args) Reserve(n int) { a.slots = slices.Grow(a.slots, n) }

// Int appends a 32-bit int argument.
func (a *Args) Int(v int32) { a.slots = append(a.slots, uint64(uint32(v))) }

// Float appends a 32-bit float argument.
func (a *Args) Float(v float32) { a.slots = append(a.slots, uint64(math.Float32bits(v))) }

// Ptr appends a device pointer argument.
func (a *Args) Ptr(p DevicePtr) { a.slots = append(a.slots, uint64(p)) }

// Len is the number of arguments.
func (a *Args) Len() int { return len(a.slots) }

// Slots returns the argument slots, in order.
func (a *Args) Slots() []uint64 { return a.slots }

// pointers returns the kernelParams array: one pointer to each slot. The
// slots must not grow while the array is in use.
func (a *Args) pointers() []unsafe.Pointer {
	a.ptrs = slices.Grow(a.ptrs[:0], len(a.slots))
	for i := range a.slots {
		a.ptrs = append(a.ptrs, unsafe.Pointer(&a.slots[i]))
	}
	return a.ptrs
}

// LaunchKernel enqueues fn on stream s with the given geometry and
// arguments. The driver copies the arguments before it returns.
func (d *Driver) LaunchKernel(fn Function, grid, block Dim3, sharedBytes int, s Stream, args *Args) error {
	var params *unsafe.Pointer
	// The pointer array handed to C holds Go pointers to the slots, which
	// the cgo rules allow only for pinned memory.
	var pin runtime.Pinner
	defer pin.Unpin()
	if ptrs := args.pointers(); len(ptrs) > 0 {
		pin.Pin(&args.slots[0])
		params = &ptrs[0]
	}
	r := d.cuLaunchKernel(fn, uint32(grid.X), uint32(grid.Y), uint32(grid.Z),
		uint32(block.X), uint32(block.Y), uint32(block.Z), uint32(sharedBytes), s, params, nil)
	runtime.KeepAlive(args)
	return d.check("cuLaunchKernel", r)
}
