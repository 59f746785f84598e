package cuda

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cuda/internal/cu"
	"github.com/mtl-gpu/mtl-gpu/kernels"
)

func TestLinear(t *testing.T) {
	for _, c := range []struct{ n, maxBlocks, blocks int }{
		{0, 100, 1},
		{1, 100, 1},
		{256, 100, 1},
		{257, 100, 2},
		{100003, 100, 100},
		{100003, 1000, 391},
		{5, 0, 1},
	} {
		grid, block := linear(c.n, c.maxBlocks)
		if grid != (cu.Dim3{X: c.blocks, Y: 1, Z: 1}) || block != (cu.Dim3{X: blockThreads, Y: 1, Z: 1}) {
			t.Errorf("linear(%d, %d) = %v, %v; want %d blocks of %d", c.n, c.maxBlocks, grid, block, c.blocks, blockThreads)
		}
	}
}

func TestPlanar(t *testing.T) {
	for _, c := range []struct {
		rows, cols, maxBlocks int
		grid, block           cu.Dim3
	}{
		{1, 1, 100, cu.Dim3{X: 1, Y: 1, Z: 1}, cu.Dim3{X: 32, Y: 8, Z: 1}},
		{7, 17, 100, cu.Dim3{X: 1, Y: 1, Z: 1}, cu.Dim3{X: 32, Y: 8, Z: 1}},
		{1030, 33, 2112, cu.Dim3{X: 1, Y: 258, Z: 1}, cu.Dim3{X: 64, Y: 4, Z: 1}},
		{1024, 512, 2112, cu.Dim3{X: 2, Y: 1024, Z: 1}, cu.Dim3{X: 256, Y: 1, Z: 1}},
		{1 << 20, 8, 1 << 20, cu.Dim3{X: 1, Y: maxGridY, Z: 1}, cu.Dim3{X: 32, Y: 8, Z: 1}},
		{3, 1 << 20, 100, cu.Dim3{X: 100, Y: 1, Z: 1}, cu.Dim3{X: 256, Y: 1, Z: 1}},
		{0, 0, 100, cu.Dim3{X: 1, Y: 1, Z: 1}, cu.Dim3{X: 32, Y: 8, Z: 1}},
	} {
		grid, block := planar(c.rows, c.cols, c.maxBlocks)
		if grid != c.grid || block != c.block {
			t.Errorf("planar(%d, %d, %d) = %v, %v; want %v, %v", c.rows, c.cols, c.maxBlocks, grid, block, c.grid, c.block)
		}
	}
	// Whatever the sizes: whole warps, blockThreads threads, at most
	// maxBlocks blocks and within the driver's limits.
	for _, rows := range []int{0, 1, 5, 1000, 1 << 22} {
		for _, cols := range []int{0, 1, 31, 32, 33, 255, 257, 100000} {
			for _, mb := range []int{1, 64, 2112} {
				grid, block := planar(rows, cols, mb)
				if block.Count() != blockThreads || block.X%32 != 0 {
					t.Errorf("planar(%d, %d, %d): block %v", rows, cols, mb, block)
				}
				if grid.Count() > mb || grid.Y > maxGridY || grid.X < 1 || grid.Y < 1 {
					t.Errorf("planar(%d, %d, %d): grid %v", rows, cols, mb, grid)
				}
				// No thread is idle in X that a narrower block would have
				// kept: the block is the narrowest power of two ≥ cols.
				if cols > 32 && block.X/2 >= cols {
					t.Errorf("planar(%d, %d, %d): block %v wider than the columns", rows, cols, mb, block)
				}
			}
		}
	}
}

func TestReduceGroups(t *testing.T) {
	local, most := kernels.ReduceLocal, kernels.ReduceGroups
	for _, c := range []struct{ n, groups int }{
		{0, 1}, {1, 1}, {local, 1}, {local + 1, 2}, {3*local - 1, 3},
		{most * local, most}, {most*local + 1, most}, {1 << 30, most},
	} {
		if got := reduceGroups(c.n); got != c.groups {
			t.Errorf("reduceGroups(%d) = %d, want %d", c.n, got, c.groups)
		}
	}
}

func TestStagingRegion(t *testing.T) {
	for _, c := range []struct {
		used, n, at int
		ok          bool
	}{
		{0, 4, 0, true},
		{4, 4, stagingAlign, true},
		{stagingAlign, 100, stagingAlign, true},
		{stagingAlign + 1, 100, 2 * stagingAlign, true},
		{stagingBytes - stagingAlign, stagingAlign, stagingBytes - stagingAlign, true},
		{stagingBytes - stagingAlign, stagingAlign + 4, stagingBytes - stagingAlign, false},
		{stagingBytes - 4, 4, stagingBytes, false},
		{0, stagingBytes / 4, 0, true},
	} {
		at, ok := stagingRegion(c.used, c.n)
		if at != c.at || ok != c.ok {
			t.Errorf("stagingRegion(%d, %d) = %d, %v; want %d, %v", c.used, c.n, at, ok, c.at, c.ok)
		}
	}
}

// fakeBuffers make buffers with distinct addresses and no memory behind
// them, for planning launches.
type fakeBuffers struct{ next cu.DevicePtr }

func (f *fakeBuffers) make(dt backend.DType, n int) *buffer {
	f.next += 0x1_0000_0000
	return &buffer{ptr: f.next, n: n, dt: dt}
}

func (f *fakeBuffers) vec(n int) backend.Vec {
	return backend.Vec{Buf: f.make(backend.Float32, n+3), Off: 3, Len: n}
}

func (f *fakeBuffers) mat(rows, cols int) backend.Mat {
	return backend.Mat{Buf: f.make(backend.Float32, 2+rows*(cols+1)), Off: 2, Rows: rows, Cols: cols, Stride: cols + 1}
}

// plans returns the launches of every operation on fake buffers, as the
// methods would queue them.
func plans() map[string][]*launch {
	var f fakeBuffers
	const mb = 2112
	x, y := f.vec(1000), f.vec(1000)
	m, out := f.mat(33, 17), f.mat(33, 17)
	status := f.make(backend.Int32, 1)
	partial := f.make(backend.Float32, max(kernels.ReduceGroups, colSumBlocks(33)*17))
	idx := f.make(backend.Int32, 40)
	logits, labels, grad := f.mat(9, 8), f.mat(9, 4), f.mat(9, 8)
	tasks := []backend.LossTask{{Kind: backend.Softmax, Col: 0, Classes: 3, LabelCol: 0, MaskCol: 1, PosWeight: 1},
		{Kind: backend.Sigmoid, Col: 3, Classes: 1, LabelCol: 2, MaskCol: 3, PosWeight: 2}}
	table := backend.LossTable{Tasks: tasks, Ints: f.make(backend.Int32, 16), Floats: f.make(backend.Float32, 2)}
	clip := backend.Clip{NormSq: f.vec(1), MaxNorm: 1}
	// Two groups of width 4 over three experts, reading 5 slots.
	mix := backend.MixTable{Starts: []int{0, 3, 5}, Experts: []int{0, 1, 2, 1, 2}, NumExperts: 3, Width: 4, Ints: f.make(backend.Int32, 8)}
	gates, experts := f.mat(9, 5), f.mat(9, 3*4)
	return map[string][]*launch{
		"Fill":       {fillLaunch(devBuffer(x.Buf, ""), x.Off, 1, x.Len, x.Len, 2, mb)},
		"Scale":      {scaleLaunch(devBuffer(x.Buf, ""), x.Off, x.Len, 2, mb)},
		"Axpy":       {axpyLaunch(y, 0.5, x, mb)},
		"Copy":       {copyLaunch(y, x, mb)},
		"GatherRows": {gatherLaunch(f.mat(20, 17), m, idx, 7, status, mb)},
		"BiasAct":    {biasActLaunch(m, f.vec(17), backend.Tanh, mb)},
		"BiasAct/no": {biasActLaunch(m, backend.Vec{}, backend.ReLU, mb)},
		"ActGrad":    {actGradLaunch(m, out, backend.ReLU, mb)},
		"Dropout":    {dropoutLaunch(out, m, 0xfedcba9876543210, 5, 0.25, mb)},
		"ColSum":     colSumLaunches(f.vec(17), m, 1, 0.5, partial, mb),
		"SumSquares": sumSquaresLaunches(f.vec(1), x, partial),
		"LossGrad":   lossLaunches(logits, labels, table, f.vec(2), grad, f.vec(4), mb),
		"SGDStep":    {sgdLaunch(backend.SGD{LR: 0.1, Momentum: 0.9, Nesterov: true}, x, y, f.vec(1000), clip, mb)},
		"SGDStep/no": {sgdLaunch(backend.SGD{LR: 0.1}, x, y, backend.Vec{}, backend.Clip{}, mb)},
		"AdamStep":   {adamLaunch(backend.Adam{LR: 0.1, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, Step: 3, Decoupled: true}, x, y, f.vec(1000), f.vec(1000), clip, mb)},

		"Mix":               {mixLaunch(f.mat(9, 2*4), gates, experts, mix, mb)},
		"MixGrad":           mixGradLaunches(gates, experts, f.mat(9, 2*4), gates, experts, mix, mb),
		"SoftmaxGroups":     {softmaxGroupsLaunch(gates, mix, mb)},
		"SoftmaxGroupsGrad": {softmaxGroupsGradLaunch(gates, gates, mix, mb)},
		"SegmentSum":        {segmentSumLaunch(f.mat(5, 17), m, idx, 3, idx, 9, status, mb)},
		"AdamRows":          {adamRowsLaunch(backend.Adam{LR: 0.1, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, Step: 3}, m, f.mat(5, 17), out, m, idx, 2, clip, status, mb)},
		"SGDRows":           {sgdRowsLaunch(backend.SGD{LR: 0.1, Momentum: 0.9}, m, f.mat(5, 17), out, idx, 2, clip, status, mb)},
	}
}

// TestLaunchesMatchKernelTable checks every planned launch against the
// kernel table: argument count and kinds, the work-group size a kernel
// requires, and offsets folded into pointers.
func TestLaunchesMatchKernelTable(t *testing.T) {
	used := map[string]bool{}
	for op, ls := range plans() {
		for _, l := range ls {
			used[l.kernel] = true
			if err := checkLaunch(l); err != nil {
				t.Errorf("%s: %v", op, err)
			}
			if l.args.Len() != len(l.kinds) {
				t.Errorf("%s: %d slots for %d kinds", op, l.args.Len(), len(l.kinds))
			}
			for i, k := range l.kinds {
				if k.IsBuffer() && l.args.Slots()[i+1] != 0 {
					t.Errorf("%s: %s argument %d: offset %d, want 0 (folded into the pointer)", op, l.kernel, i, l.args.Slots()[i+1])
				}
			}
			if l.grid.Count() < 1 || l.block.Count() < 1 || l.block.Count() > 1024 {
				t.Errorf("%s: %s: geometry %v × %v", op, l.kernel, l.grid, l.block)
			}
		}
	}
	// Every kernel but the GEMMs (cuBLAS does those) and the transpose is
	// launched by some operation.
	for _, k := range kernels.Kernels() {
		if !used[k.Name] && !slices.Contains([]string{"gemm_tiled", "gemm_cpu", "transpose"}, k.Name) {
			t.Errorf("no operation launches kernel %s", k.Name)
		}
	}
	// A mismatch is caught.
	bad := newLaunch("axpy", cu.Dim3{X: 1, Y: 1, Z: 1}, cu.Dim3{X: 1, Y: 1, Z: 1}).int(1).int(2)
	if checkLaunch(bad) == nil {
		t.Error("a launch with the wrong arguments passed the check")
	}
}

func TestLaunchArguments(t *testing.T) {
	var f fakeBuffers
	y, x := f.vec(10), f.vec(10)
	l := axpyLaunch(y, -0.25, x, 2112)
	want := []uint64{
		10,
		uint64(math.Float32bits(-0.25)),
		uint64(devBuffer(y.Buf, "").ptr) + 4*3, 0,
		uint64(devBuffer(x.Buf, "").ptr) + 4*3, 0,
	}
	if !slices.Equal(l.args.Slots(), want) {
		t.Errorf("axpy slots %#x, want %#x", l.args.Slots(), want)
	}
	// An empty bias passes a null pointer and has_bias 0; a nil momentum
	// buffer and clip likewise.
	b := biasActLaunch(f.mat(2, 3), backend.Vec{}, backend.ReLU, 10)
	if s := b.args.Slots(); s[2] != uint64(backend.ReLU) || s[3] != 0 || s[7] != 0 {
		t.Errorf("bias_act without bias: slots %v", s)
	}
	s := sgdLaunch(backend.SGD{LR: 1}, x, y, backend.Vec{}, backend.Clip{}, 10).args.Slots()
	if s[4] != 0 || s[11] != 0 || s[13] != 0 {
		t.Errorf("sgd_step without momentum or clip: slots %v", s)
	}
	// A dropout key is two words of bits, passed whole: they are no
	// indices, so a word near the top of the int32 range is no error.
	d := dropoutLaunch(f.mat(3, 4), f.mat(3, 4), 0x7fffffff_7ffffff0, 5, 0.25, 10)
	if err := d.validate(); err != nil {
		t.Errorf("dropout with a large key: %v", err)
	}
	if s := d.args.Slots(); s[2] != 5 || s[3] != 0x7ffffff0 || s[4] != 0x7fffffff || s[5] != uint64(backend.DropoutThreshold(0.25)) ||
		s[6] != uint64(math.Float32bits(backend.DropoutScale(0.25))) {
		t.Errorf("dropout slots %#x", s)
	}
	// The Adam step carries the bias corrections of its step.
	a := adamLaunch(backend.Adam{LR: 1, Beta1: 0.5, Beta2: 0.75, Step: 2}, x, y, x, y, backend.Clip{}, 10).args.Slots()
	if c1, c2 := math.Float32frombits(uint32(a[7])), math.Float32frombits(uint32(a[8])); c1 != 1/(1-0.25) || math.Abs(float64(c2)-1/(1-0.5625)) > 1e-6 {
		t.Errorf("adam corrections %g, %g", c1, c2)
	}
}

// TestColSumChunks checks that a matrix with more blocks of rows than a
// grid has groups in Y is summed in several col_sum_blocks launches that
// together cover every row once, and one col_sum over all blocks.
func TestColSumChunks(t *testing.T) {
	var f fakeBuffers
	const cols, extra = 3, 100
	rows := maxGridY*kernels.ColSumRows + extra
	m := backend.Mat{Buf: f.make(backend.Float32, 5+rows*4), Off: 5, Rows: rows, Cols: cols, Stride: 4}
	blocks := colSumBlocks(rows)
	partial := f.make(backend.Float32, blocks*cols)
	dst := f.vec(cols)
	ls := colSumLaunches(dst, m, 1, 0, partial, 2112)
	if len(ls) != 3 {
		t.Fatalf("%d launches, want 3", len(ls))
	}
	mptr := uint64(devBuffer(m.Buf, "").ptr)
	for i, c := range []struct{ rows, blocks, row0 int }{
		{maxGridY * kernels.ColSumRows, maxGridY, 0},
		{extra, ceilDiv(extra, kernels.ColSumRows), maxGridY * kernels.ColSumRows},
	} {
		l := ls[i]
		s := l.args.Slots()
		if l.kernel != "col_sum_blocks" || s[0] != uint64(c.rows) || l.grid.Y != c.blocks ||
			s[2] != uint64(partial.at(cols*i*maxGridY)) || s[4] != mptr+4*uint64(m.Off+c.row0*m.Stride) {
			t.Errorf("launch %d: %s %v grid %v", i, l.kernel, s, l.grid)
		}
	}
	if last := ls[2]; last.kernel != "col_sum" || last.args.Slots()[0] != uint64(blocks) {
		t.Errorf("last launch %s %v", last.kernel, last.args.Slots())
	}
	if got := colSumBlocks(0); got != 1 {
		t.Errorf("colSumBlocks(0) = %d", got)
	}
}

// checkLaunch compares the arguments of l with the kernel table.
func checkLaunch(l *launch) error {
	k, ok := kernels.Lookup(l.kernel)
	if !ok {
		return fmt.Errorf("no kernel %q in the kernel table", l.kernel)
	}
	if len(k.Args) != len(l.kinds) {
		return fmt.Errorf("kernel %s takes %d arguments, launch passes %d", l.kernel, len(k.Args), len(l.kinds))
	}
	for i, a := range k.Args {
		if a.Kind != l.kinds[i] {
			return fmt.Errorf("kernel %s argument %d (%s) is %s, launch passes %s", l.kernel, i, a.Name, a.Kind, l.kinds[i])
		}
	}
	if k.Local != [3]int{} && k.Local != [3]int{l.block.X, l.block.Y, l.block.Z} {
		return fmt.Errorf("kernel %s needs blocks of %v, launch uses %v", l.kernel, k.Local, l.block)
	}
	return nil
}
