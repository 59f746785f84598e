package backend

import "fmt"

// Operations for embedding tables, which a batch touches only in a few
// rows. The backward pass of a gather sums, for every table row the batch
// used, the gradients of the batch rows that used it: the caller gives the
// touched rows as segments (row u of the result gathers batch positions
// pos[starts[u]] … pos[starts[u+1]−1]), sorted so that every backend adds
// them in the same order and results do not depend on the thread count.
// The optimiser then updates only the touched rows.

// CheckSegmentSum checks the operands of SegmentSum.
func CheckSegmentSum(dst, src Mat, starts Buffer, startsOff int, pos Buffer, posOff int) {
	dst.Check("SegmentSum dst", Float32)
	src.Check("SegmentSum src", Float32)
	if dst.Cols != src.Cols {
		panic(fmt.Sprintf("backend: SegmentSum: %d columns from %d", dst.Cols, src.Cols))
	}
	checkInts("SegmentSum starts", starts, startsOff, dst.Rows+1)
	if pos == nil || pos.DType() != Int32 || posOff < 0 || posOff > pos.Len() {
		panic(fmt.Sprintf("backend: SegmentSum: positions offset %d outside an int32 buffer", posOff))
	}
}

// CheckRowsStep checks the operands of AdamRows and SGDRows: the state
// matrices are shaped like param, grad has a row per updated row.
func CheckRowsStep(op string, param, grad Mat, state []Mat, rows Buffer, rowsOff int, clip Clip) {
	param.Check(op+" param", Float32)
	grad.Check(op+" grad", Float32)
	if grad.Cols != param.Cols {
		panic(fmt.Sprintf("backend: %s: gradient of %d columns for %d", op, grad.Cols, param.Cols))
	}
	for _, s := range state {
		s.Check(op+" state", Float32)
		SameShape(op, param, s)
	}
	checkInts(op+" rows", rows, rowsOff, grad.Rows)
	if clip.MaxNorm != 0 {
		clip.NormSq.checkPart(op, "clip", Float32)
		if clip.NormSq.Len != 1 {
			panic(fmt.Sprintf("backend: %s: clip norm vector of length %d", op, clip.NormSq.Len))
		}
	}
}

func checkInts(what string, b Buffer, off, n int) {
	if b == nil || b.DType() != Int32 {
		panic(fmt.Sprintf("backend: %s: not an int32 buffer", what))
	}
	if off < 0 || n < 0 || off+n > b.Len() {
		panic(fmt.Sprintf("backend: %s: [%d, %d) outside %d", what, off, off+n, b.Len()))
	}
}
