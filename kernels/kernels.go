package kernels

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"
)

//go:generate go run ./internal/genptx -o kernels.ptx

// Dialect is a kernel language.
type Dialect int

const (
	// OpenCL is OpenCL C 1.2, built at run time by the OpenCL driver.
	OpenCL Dialect = iota
	// CUDA is CUDA C++ for clang, compiled to PTX ahead of time.
	CUDA
	// Host is C for the host CPU, for a stand-in of the CUDA driver that
	// runs the kernels with each thread of a block a fiber (see
	// prelude_host.h). Its source ends with a table of entry points (see
	// host.go).
	Host
)

// String returns "opencl", "cuda" or "host".
func (d Dialect) String() string {
	switch d {
	case OpenCL:
		return "opencl"
	case CUDA:
		return "cuda"
	case Host:
		return "host"
	}
	return fmt.Sprintf("Dialect(%d)", int(d))
}

// Tuning constants shared by the kernels (as #define lines of the same
// name in upper case with underscores) and the hosts that launch them.
const (
	// GemmTileM and GemmTileN are the rows and columns of C that one
	// work-group of gemm_tiled computes; GemmTileK is the depth of the
	// slices of A and B it stages in local memory.
	GemmTileM = 64
	GemmTileN = 64
	GemmTileK = 16
	// GemmLocalX and GemmLocalY are gemm_tiled's work-group size.
	GemmLocalX = 16
	GemmLocalY = 16
	// GemmCPURows and GemmCPUCols are the rows and contiguous columns of C
	// that one work-item of gemm_cpu computes.
	GemmCPURows = 6
	GemmCPUCols = 32
	// TransposeBlock is the side of the square blocks that one work-item
	// of transpose moves.
	TransposeBlock = 8
	// ColSumLocalX columns are summed by one work-group of
	// col_sum_blocks, each over ColSumLocalY row lanes and ColSumRows
	// rows.
	ColSumLocalX = 32
	ColSumLocalY = 8
	ColSumRows   = 64
	// ReduceLocal is the work-group size of sum_squares and sum_partials;
	// ReduceGroups bounds the number of sum_squares groups, and so the
	// partial sums that sum_partials adds.
	ReduceLocal  = 256
	ReduceGroups = 4096
	// LossLocal is the work-group size of loss_grad.
	LossLocal = 256
)

// Codes the kernels use for activations and loss kinds; they equal the
// values of backend.Activation and backend.LossKind.
const (
	actIdentity = 0
	actReLU     = 1
	actTanh     = 2

	lossSoftmax = 0
	lossSigmoid = 1
	lossSquared = 2

	// lossTaskInts is backend.LossTaskInts, lossTaskFloats
	// backend.LossTaskFloats.
	lossTaskInts   = 8
	lossTaskFloats = 2
)

// defines lists the constants every dialect sees, in order.
var defines = []struct {
	name  string
	value int
}{
	{"GEMM_TILE_M", GemmTileM},
	{"GEMM_TILE_N", GemmTileN},
	{"GEMM_TILE_K", GemmTileK},
	{"GEMM_LOCAL_X", GemmLocalX},
	{"GEMM_LOCAL_Y", GemmLocalY},
	{"GEMM_WPT_M", GemmTileM / GemmLocalY},
	{"GEMM_WPT_N", GemmTileN / GemmLocalX},
	{"GEMM_CPU_ROWS", GemmCPURows},
	{"GEMM_CPU_COLS", GemmCPUCols},
	{"TRANSPOSE_BLOCK", TransposeBlock},
	{"COLSUM_LOCAL_X", ColSumLocalX},
	{"COLSUM_LOCAL_Y", ColSumLocalY},
	{"COLSUM_ROWS", ColSumRows},
	{"REDUCE_LOCAL", ReduceLocal},
	{"REDUCE_GROUPS", ReduceGroups},
	{"LOSS_LOCAL", LossLocal},
	{"LOSS_TASK_INTS", lossTaskInts},
	{"LOSS_TASK_FLOATS", lossTaskFloats},
	{"ACT_IDENTITY", actIdentity},
	{"ACT_RELU", actReLU},
	{"ACT_TANH", actTanh},
	{"LOSS_SOFTMAX", lossSoftmax},
	{"LOSS_SIGMOID", lossSigmoid},
	{"LOSS_SQUARED", lossSquared},
	{"STATUS_GATHER", StatusGather},
	{"STATUS_SEGMENT", StatusSegment},
	{"STATUS_ROW", StatusRow},
}

// Codes a kernel writes to the status word when an index is out of range;
// the host reads the word at its next synchronisation and reports the
// code's operation.
const (
	// StatusGather: a GatherRows index outside the source.
	StatusGather = 1
	// StatusSegment: a SegmentSum position outside the source.
	StatusSegment = 2
	// StatusRow: a row of AdamRows or SGDRows outside the table.
	StatusRow = 3
)

var (
	//go:embed prelude_opencl.h
	preludeOpenCL string
	//go:embed prelude_cuda.cuh
	preludeCUDA string
	//go:embed prelude_host.h
	preludeHost string
	//go:embed cuda_maths.h
	cudaMaths string

	//go:embed common.h
	commonSource string
	//go:embed elementwise.h
	elementwiseSource string
	//go:embed reduce.h
	reduceSource string
	//go:embed loss.h
	lossSource string
	//go:embed optim.h
	optimSource string
	//go:embed mixture.h
	mixtureSource string
	//go:embed gemm_tiled.h
	gemmTiledSource string
	//go:embed gemm_cpu.h
	gemmCPUSource string

	//go:embed kernels.ptx
	ptx string
)

// bodies are the neutral kernel files in the order Source joins them.
var bodies = []string{commonSource, elementwiseSource, reduceSource, lossSource, optimSource, mixtureSource, gemmTiledSource, gemmCPUSource}

// Source returns the complete program text of every kernel in dialect d:
// the dialect's prelude (with cuda_maths.h for CUDA and Host), the tuning
// constants and the kernel files, and for Host the entry table. It panics on an unknown dialect.
func Source(d Dialect) string {
	var b strings.Builder
	switch d {
	case OpenCL:
		b.WriteString(preludeOpenCL)
	case CUDA:
		b.WriteString(preludeCUDA)
		b.WriteString(cudaMaths)
	case Host:
		b.WriteString(preludeHost)
		b.WriteString(cudaMaths)
	default:
		panic(fmt.Sprintf("kernels: unknown dialect %d", int(d)))
	}
	b.WriteString("\n#line 1 \"constants (kernels.go)\"\n")
	for _, c := range defines {
		fmt.Fprintf(&b, "#define %s %d\n", c.name, c.value)
	}
	for _, s := range bodies {
		b.WriteString(s)
		b.WriteString("\n")
	}
	if d == Host {
		writeHostEntries(&b)
	}
	return b.String()
}

// PTX returns the CUDA dialect compiled for sm_70 and later GPUs, as
// committed in kernels.ptx by go generate.
func PTX() string { return ptx }

// StatusError describes the status code a kernel left for an index out of
// range, or returns nil for 0.
func StatusError(code int32) error {
	switch code {
	case 0:
		return nil
	case StatusGather:
		return errors.New("GatherRows: an index is outside the rows of the source")
	case StatusSegment:
		return errors.New("SegmentSum: a position is outside the rows of the source")
	case StatusRow:
		return errors.New("AdamRows or SGDRows: a row is outside the table")
	}
	return fmt.Errorf("a kernel left the unknown status %d", code)
}
