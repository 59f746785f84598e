//go:build opencl

package opencl

import (
	"fmt"
	"math"

	"github.com/jgillich/go-opencl/cl"
	"github.com/mtl-gpu/mtl-gpu/kernels"
)

// kernel is a kernel object, created once per backend, with its entry in
// the kernel table.
type kernel struct {
	cl   *cl.Kernel
	spec kernels.Kernel
}

// mem is a buffer argument: the memory object and the element offset
// that follows it in every kernel signature.
type mem struct {
	obj *cl.MemObject
	off int
}

// geometry is the global and local size of a launch.
type geometry struct {
	global, local [3]int
}

// launch sets the arguments of kernel name and enqueues it. args follow
// the kernel table: a mem for each buffer and its offset, an int for each
// Int, a float32 for each Float; a mismatch is a programming error and
// panics. Errors of the driver are sticky.
func (b *Backend) launch(name string, g geometry, args ...any) {
	if b.closed {
		return
	}
	k := b.kernels[name]
	if k == nil {
		panic("opencl: no kernel " + name)
	}
	spec := k.spec.Args
	i := 0
	for _, a := range args {
		if i >= len(spec) {
			panic(fmt.Sprintf("opencl: %s: %d arguments, want %d", name, len(args), len(spec)))
		}
		arg := spec[i].Name
		var err error
		switch v := a.(type) {
		case mem:
			if !spec[i].Kind.IsBuffer() {
				panic(fmt.Sprintf("opencl: %s: buffer for argument %s (%s)", name, spec[i].Name, spec[i].Kind))
			}
			err = k.cl.SetArgBuffer(i, v.obj)
			if err == nil {
				err = k.cl.SetArgInt32(i+1, int32Arg(name, spec[i+1].Name, v.off))
			}
			i += 2
		case int:
			if spec[i].Kind != kernels.Int {
				panic(fmt.Sprintf("opencl: %s: int for argument %s (%s)", name, spec[i].Name, spec[i].Kind))
			}
			err = k.cl.SetArgInt32(i, int32Arg(name, spec[i].Name, v))
			i++
		case float32:
			if spec[i].Kind != kernels.Float {
				panic(fmt.Sprintf("opencl: %s: float for argument %s (%s)", name, spec[i].Name, spec[i].Kind))
			}
			err = k.cl.SetArgFloat32(i, v)
			i++
		default:
			panic(fmt.Sprintf("opencl: %s: argument %s of type %T", name, spec[i].Name, a))
		}
		if err != nil {
			b.fail(name, fmt.Errorf("setting argument %s: %w", arg, err))
			return
		}
	}
	if i != len(spec) {
		panic(fmt.Sprintf("opencl: %s: arguments end at %d of %d", name, i, len(spec)))
	}
	global, local := g.global[:], g.local[:]
	if g.local == ([3]int{}) {
		local = nil
	}
	b.fail(name, done(b.queue.EnqueueNDRangeKernel(k.cl, nil, global, local, nil)))
}

// int32Arg converts an int argument, which the backend's size checks keep
// within 32 bits.
func int32Arg(kernel, arg string, v int) int32 {
	if v < math.MinInt32 || v > math.MaxInt32 {
		panic(fmt.Sprintf("opencl: %s: argument %s = %d does not fit 32 bits", kernel, arg, v))
	}
	return int32(v)
}

// ceilDiv is ⌈a/b⌉ for a ≥ 0, b > 0.
func ceilDiv(a, b int) int { return (a + b - 1) / b }

// Launch sizes of the grid-stride kernels: a launch covers its range in
// about elemItems passes, up to the caps. The caps are odd so that, past
// them, the consecutive elements of a work-item, one launch width apart,
// are not a power of two bytes apart: a CPU runtime runs a work-item
// through all its passes before the next, and addresses a power of two
// apart share cache sets and evict each other.
const (
	elemLocal     = 256
	elemItems     = 2
	elemMaxGroups = 65535
	matMaxGroupsX = 1023
	matMaxGroupsY = 65535
)

// grid1 covers n elements with a grid-stride launch.
func grid1(n int) geometry {
	groups := min(max(ceilDiv(n, elemItems*elemLocal), 1), elemMaxGroups)
	return geometry{global: [3]int{groups * elemLocal, 1, 1}, local: [3]int{elemLocal, 1, 1}}
}

// grid2 covers a rows×cols matrix with a grid-stride launch, one element
// per work-item up to the caps: columns in dimension 0, rows in dimension
// 1.
// rowGrid is the geometry of a row-wise operation on this device: grid2 on
// a GPU, where neighbouring work-items must touch neighbouring elements;
// one work-item per row on a CPU device, where each work-item runs as a
// loop and should walk its row contiguously (which the compiler
// vectorises).
func (b *Backend) rowGrid(rows, cols int) geometry {
	if !b.info.CPU {
		return grid2(rows, cols)
	}
	ly := elemLocal
	gy := min(max(ceilDiv(rows, ly), 1), matMaxGroupsY)
	return geometry{global: [3]int{1, gy * ly, 1}, local: [3]int{1, ly, 1}}
}

func grid2(rows, cols int) geometry {
	lx := 1
	for lx < cols && lx < 32 {
		lx *= 2
	}
	ly := elemLocal / lx
	gx := min(max(ceilDiv(cols, lx), 1), matMaxGroupsX)
	gy := min(max(ceilDiv(rows, ly), 1), matMaxGroupsY)
	return geometry{global: [3]int{gx * lx, gy * ly, 1}, local: [3]int{lx, ly, 1}}
}
