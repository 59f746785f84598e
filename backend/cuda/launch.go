package cuda

import (
	"fmt"
	"math"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cuda/internal/cu"
	"github.com/mtl-gpu/mtl-gpu/kernels"
)

// blockThreads is the block size of element-wise launches.
const blockThreads = 256

// maxGridY is the driver's limit on grid dimensions Y and Z.
const maxGridY = 65535

// launch is one kernel launch, planned on the caller's side: which kernel,
// its geometry and its arguments.
type launch struct {
	kernel      string
	grid, block cu.Dim3
	args        cu.Args
	// kinds are the kinds of args, in order, to compare with the kernel
	// table.
	kinds []kernels.ArgKind
	// ints are the int arguments before they were narrowed to 32 bits.
	ints []intArg
}

// intArg is an int argument: its position and its value.
type intArg struct {
	index int
	value int
}

// maxKernelArgs is room for the arguments of the largest kernel.
const maxKernelArgs = 24

func newLaunch(kernel string, grid, block cu.Dim3) *launch {
	l := &launch{kernel: kernel, grid: grid, block: block, kinds: make([]kernels.ArgKind, 0, maxKernelArgs)}
	l.args.Reserve(maxKernelArgs)
	return l
}

// int appends an int argument; validate checks its range.
func (l *launch) int(v int) *launch {
	l.ints = append(l.ints, intArg{len(l.kinds), v})
	l.args.Int(int32(v))
	l.kinds = append(l.kinds, kernels.Int)
	return l
}

// bits appends an int argument holding the bit pattern v, which is no
// index: validate leaves it alone.
func (l *launch) bits(v uint32) *launch {
	l.args.Int(int32(v))
	l.kinds = append(l.kinds, kernels.Int)
	return l
}

// flag appends an int argument that is 1 when v is true.
func (l *launch) flag(v bool) *launch {
	if v {
		return l.int(1)
	}
	return l.int(0)
}

// float appends a float argument.
func (l *launch) float(v float32) *launch {
	l.args.Float(v)
	l.kinds = append(l.kinds, kernels.Float)
	return l
}

// buf appends a buffer argument at element off and its offset argument:
// the offset is added to the pointer here, so the kernel's offset is 0.
// A nil buffer passes a null pointer as a float buffer, for arguments the
// kernel does not read.
func (l *launch) buf(b *buffer, off int) *launch {
	kind := kernels.FloatBuffer
	var p cu.DevicePtr
	if b != nil {
		p = b.at(off)
		if b.dt == backend.Int32 {
			kind = kernels.IntBuffer
		}
	}
	l.args.Ptr(p)
	l.kinds = append(l.kinds, kind)
	return l.int(0)
}

// validate checks what the driver cannot see: that every int argument
// fits in 32 bits with room to spare for the launch's largest global size
// (threads in one dimension). A kernel's indices stay below one of its int
// arguments plus one step of a grid-stride loop, so then none of them
// overflows.
func (l *launch) validate() error {
	span := max(l.grid.X*l.block.X, l.grid.Y*l.block.Y, l.grid.Z*l.block.Z)
	for _, a := range l.ints {
		if a.value >= math.MinInt32 && a.value <= math.MaxInt32-span {
			continue
		}
		name := fmt.Sprint("argument ", a.index)
		if k, ok := kernels.Lookup(l.kernel); ok && a.index < len(k.Args) {
			name = k.Args[a.index].Name
		}
		return fmt.Errorf("cuda: kernel %s: %s = %d is outside the 32-bit range its indices need (at most %d with %d threads in a dimension)",
			l.kernel, name, a.value, math.MaxInt32-span, span)
	}
	return nil
}

// linear is the geometry of a grid-stride loop over n elements: blocks of
// blockThreads threads, one thread per element up to maxBlocks blocks.
func linear(n, maxBlocks int) (grid, block cu.Dim3) {
	blocks := min(max(ceilDiv(n, blockThreads), 1), max(maxBlocks, 1))
	return cu.Dim3{X: blocks, Y: 1, Z: 1}, cu.Dim3{X: blockThreads, Y: 1, Z: 1}
}

// planar is the geometry of a grid-stride loop over a rows×cols matrix,
// columns in dimension X: a block is as wide as the columns (a warp at
// least, blockThreads at most) and blockThreads threads in all, and the
// grid has at most maxBlocks blocks.
func planar(rows, cols, maxBlocks int) (grid, block cu.Dim3) {
	bx := 32
	for bx < cols && bx < blockThreads {
		bx *= 2
	}
	by := blockThreads / bx
	maxBlocks = max(maxBlocks, 1)
	gx := min(max(ceilDiv(cols, bx), 1), maxBlocks)
	gy := min(max(ceilDiv(rows, by), 1), max(maxBlocks/gx, 1), maxGridY)
	return cu.Dim3{X: gx, Y: gy, Z: 1}, cu.Dim3{X: bx, Y: by, Z: 1}
}

// reduceGroups is the number of work-groups of sum_squares for n
// elements: one element per thread up to kernels.ReduceGroups groups. It
// depends on n alone, so the order of additions, and the sum, does too.
func reduceGroups(n int) int {
	return min(max(ceilDiv(n, kernels.ReduceLocal), 1), kernels.ReduceGroups)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// launch queues l on the stream; an argument out of range is the error of
// the next Sync instead.
func (b *Backend) launch(l *launch) {
	if err := l.validate(); err != nil {
		b.enqueue(func() { b.fail(err) })
		return
	}
	b.enqueue(func() {
		f, ok := b.funcs[l.kernel]
		if !ok {
			b.fail(fmt.Errorf("cuda: no kernel %s in the module", l.kernel))
			return
		}
		if err := b.drv.LaunchKernel(f, l.grid, l.block, 0, b.stream, &l.args); err != nil {
			b.fail(fmt.Errorf("%s: %w", l.kernel, err))
		}
	})
}
