package mtl

import (
	"slices"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// Embedding tables in training.
//
// Forward, a batch's row of inputs is its dense features followed by one
// row of each table, gathered on the device. Backward, the gradient of a
// table is the sum, for every table row the batch used, of the input
// gradients of the batch rows that used it. The trainer works out, once
// per epoch on the host, each step's touched table rows (sorted) and, for
// each, the batch positions that used it (in order), and uploads them with
// the epoch's row order; SegmentSum then adds the positions of every
// touched row in that fixed order, so results do not depend on the thread
// count, and no float atomics are needed. The gradient of a table is kept
// compact, one row per touched table row, after the dense gradient, and the
// optimiser updates only the touched rows (AdamRows, SGDRows): a row's
// Adam moments move only in the steps that use it (lazy Adam), its bias
// corrections follow the global step, and its weight decay applies only
// when it is used.

// tableData is one table's index of the training rows and the epoch's
// segments on the device.
type tableData struct {
	index  []int32        // every training row's table row
	gather backend.Buffer // the epoch's order: index[perm[i]]
	uniq   backend.Buffer // each step's touched rows, step after step
	starts backend.Buffer // each step's segment starts (relative to the step's positions)
	pos    backend.Buffer // each step's batch positions, grouped by touched row
	// Per step: the offsets of its touched rows and segment starts, and
	// how many rows it touched.
	uniqOff, startsOff, touched []int
	val                         backend.Buffer // the validation rows' table rows
	compact                     int            // offset of the compact gradient in a member's gradient
	maxTouched                  int
}

// epochSegments works out, for one table, every step's touched rows and
// segments from the epoch's row order, and uploads them.
func (t *Trainer) epochSegments(td *tableData, perm []int32) {
	n, batch := len(perm), t.cfg.Batch
	gather := make([]int32, n)
	for i, r := range perm {
		gather[i] = td.index[r]
	}
	var uniq, starts []int32
	pos := make([]int32, 0, n)
	td.uniqOff, td.startsOff, td.touched = td.uniqOff[:0], td.startsOff[:0], td.touched[:0]
	order := make([]int32, 0, batch)
	for off := 0; off < n; off += batch {
		rows := gather[off:min(off+batch, n)]
		order = order[:0]
		for i := range rows {
			order = append(order, int32(i))
		}
		// Positions grouped by table row, each group in increasing
		// position.
		slices.SortStableFunc(order, func(a, b int32) int { return int(rows[a]) - int(rows[b]) })
		td.uniqOff = append(td.uniqOff, len(uniq))
		td.startsOff = append(td.startsOff, len(starts))
		u := 0
		for k, p := range order {
			if k == 0 || rows[p] != rows[order[k-1]] {
				uniq = append(uniq, rows[p])
				starts = append(starts, int32(k))
				u++
			}
			pos = append(pos, p)
		}
		starts = append(starts, int32(len(rows)))
		td.touched = append(td.touched, u)
	}
	t.b.WriteInt32(td.gather, 0, gather)
	t.b.WriteInt32(td.uniq, 0, uniq)
	t.b.WriteInt32(td.starts, 0, starts)
	t.b.WriteInt32(td.pos, 0, pos)
}

// batchInput gathers the rows perm[off : off+rows] as the body's input:
// the dense features, shared by every member, or, with embedding tables,
// each member's row of features and embeddings.
func (t *Trainer) batchInput(off, rows int) input {
	b, spec := t.b, t.model.Spec
	x := backend.Dense(t.batch.x, 0, rows, spec.Inputs)
	all := backend.Dense(t.data.x, 0, t.train.N, spec.Inputs)
	if len(t.tables) == 0 {
		b.GatherRows(x, all, t.data.idx, off)
		return input{x: x}
	}
	in := input{x: x, embedded: true}
	for m := range t.members {
		im, _ := t.net.inputOf(in, m)
		if spec.Inputs > 0 {
			b.GatherRows(im.Slice(0, rows, 0, spec.Inputs), all, t.data.idx, off)
		}
		for j := range t.tables {
			e := t.lay.embed[j]
			table := shift(t.lay.table(t.net.params, j), t.net.memberOff(m))
			b.GatherRows(im.Slice(0, rows, e.col, e.col+e.dim), table, t.tables[j].gather, off)
		}
	}
	return in
}

// rowsInput fills the body's input from contiguous rows: x holds their
// dense features and index, per table, the buffer of their table rows read
// from indexOff. Prediction and validation use it.
func (n *net) rowsInput(x backend.Mat, index []backend.Buffer, indexOff int) input {
	if len(n.lay.embed) == 0 {
		return input{x: x}
	}
	in := input{x: x, embedded: true}
	rows := x.Rows
	for m := range n.members {
		im, _ := n.inputOf(in, m)
		if x.Cols > 0 {
			n.b.GatherRows(im.Slice(0, rows, 0, x.Cols), x, n.arange, 0)
		}
		for j, e := range n.lay.embed {
			table := shift(n.lay.table(n.params, j), n.memberOff(m))
			n.b.GatherRows(im.Slice(0, rows, e.col, e.col+e.dim), table, index[j], indexOff)
		}
	}
	return in
}

// tableGrads sets every member's compact table gradients of step s from
// the gradient of the body's input.
//
// In a data-parallel run the gradient of this process's rows sits at
// their places in the global batch (see dInOf): the rest of the batch is
// zeroed, so that the compact gradients, laid out by the global batch's
// touched rows, sum over the processes to the global gradient.
func (t *Trainer) tableGrads(dIn backend.Buffer, grads backend.Buffer, s, rows int) {
	b, l := t.b, t.lay
	if d := t.dist; d != nil {
		for m := range t.members {
			base := m * t.batchRows * l.in
			b.Fill(backend.Vec{Buf: dIn, Off: base, Len: d.lo * l.in}, 0)
			end := (d.lo + rows) * l.in
			b.Fill(backend.Vec{Buf: dIn, Off: base + end, Len: d.rows*l.in - end}, 0)
		}
		rows = d.rows
	}
	for m := range t.members {
		din := backend.Dense(dIn, m*t.batchRows*l.in, rows, l.in)
		for j := range t.tables {
			td, e := &t.tables[j], l.embed[j]
			dst := backend.Dense(grads, m*t.gradLen+td.compact, td.touched[s], e.dim)
			b.SegmentSum(dst, din.Slice(0, rows, e.col, e.col+e.dim), td.starts, td.startsOff[s], td.pos, s*t.cfg.Batch)
		}
	}
}

// clearTableGrads zeroes every member's compact table gradients, so that
// the rows a step does not touch add nothing to the gradient norm.
func (t *Trainer) clearTableGrads(grads backend.Buffer) {
	if len(t.tables) == 0 {
		return
	}
	compact := t.gradLen - t.lay.denseLen()
	for m := range t.members {
		t.b.Fill(backend.Vec{Buf: grads, Off: m*t.gradLen + t.lay.denseLen(), Len: compact}, 0)
	}
}
