package data

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
)

// EncodeOptions says what EncodeSource and EncodeBlocks encode.
type EncodeOptions struct {
	// Targets reads and encodes the targets (training, evaluation): every
	// target column must be present and a label not seen in training is
	// an error. Without it (prediction) target columns are not read.
	Targets bool
	// Parts, for EncodeSource, holds the part of every row of the source
	// (from 0), or −1 to leave the row out: each part's rows are written
	// straight into their own Encoded, in file order, so that a training
	// and a validation part never copy the matrix. nil puts every row in
	// part 0. Its length must be the number of rows.
	Parts []int8
	// NumParts is the number of parts; 0 means one more than the largest
	// of Parts (1 when Parts is nil).
	NumParts int
	// Positions, for EncodeSource with Parts, holds the position of every
	// row within its part, so that a part's rows are written in any order
	// (a shuffled split, say) without a copy; the positions of each part
	// must be 0, 1, … up to its row count, each once. nil writes each
	// part's rows in file order.
	Positions []int32
	// MaskUnseen encodes a class label not seen in training as a missing
	// label (NaN) instead of returning an error, so that evaluation can
	// count such rows (their texts are those of Keep, say) and score the
	// others.
	MaskUnseen bool
	// Keep names columns that EncodeBlocks delivers as text in every
	// EncodedBlock, to pass through to an output (see PredictionWriter).
	Keep []string
}

// EncodedBlock is the encoding of one block of rows of a source, handed
// out by EncodeBlocks.
type EncodedBlock struct {
	// Encoded holds the block's rows (its Warnings are empty: EncodeBlocks
	// returns them at the end).
	Encoded
	// Row is the index in the source of the block's first row.
	Row int64
	// Keep holds the text of the columns of EncodeOptions.Keep, in that
	// order (Column.Text gives a cell).
	Keep []Column
}

// EncodeSource turns a source into numbers in one pass, writing each row
// straight into its part (see EncodeOptions.Parts), and returns one
// Encoded per part and the warnings of the pass (imputed values, unseen
// categories and groups, counted over every encoded row); the Encoded
// themselves carry no warnings. An error is the first bad cell (in row
// order) of the first column in schema order
// (features, then the group column, then the targets) that has one, named
// by file, line (or row) and column. Columns are found by name, so their
// order may differ from the training file and extra columns are ignored.
func (s *Schema) EncodeSource(ctx context.Context, src Source, opts EncodeOptions) ([]*Encoded, []string, error) {
	e, err := s.newEncoder(src, opts)
	if err != nil {
		return nil, nil, err
	}
	if e.stop < len(e.slots) {
		return nil, nil, e.missingColumn(ctx)
	}
	nparts := opts.NumParts
	if nparts <= 0 {
		nparts = 1
		for _, p := range opts.Parts {
			nparts = max(nparts, int(p)+1)
		}
	}
	rows := src.Rows()
	counts := make([]int, nparts)
	if opts.Positions != nil && len(opts.Positions) != len(opts.Parts) {
		panic(fmt.Sprintf("data: EncodeSource: %d positions for %d parts", len(opts.Positions), len(opts.Parts)))
	}
	if opts.Parts != nil {
		if rows >= 0 && int64(len(opts.Parts)) != rows {
			return nil, nil, fileErrorf(e.file, 0, "%d parts given for %d rows", len(opts.Parts), rows)
		}
		for _, p := range opts.Parts {
			if int(p) >= nparts {
				panic(fmt.Sprintf("data: EncodeSource: part %d of %d", p, nparts))
			}
			if p >= 0 {
				counts[p]++
			}
		}
	} else if rows >= 0 {
		counts[0] = int(rows)
	}
	outs := make([]*Encoded, nparts)
	for p := range outs {
		outs[p] = e.newEncoded(counts[p])
	}
	var dst []rowDst
	var seen int64
	err = src.Scan(ctx, e.want, func(b *Block) error {
		dst = dst[:0]
		if opts.Parts == nil && rows < 0 {
			e.extend(outs[0], b.N)
		}
		for i := range b.N {
			row := b.Row + int64(i)
			p := int8(0)
			if opts.Parts != nil {
				if row >= int64(len(opts.Parts)) {
					return fileErrorf(e.file, 0, "%d parts given for more rows", len(opts.Parts))
				}
				p = opts.Parts[row]
			}
			if p < 0 {
				dst = append(dst, rowDst{})
				continue
			}
			enc := outs[p]
			r := enc.N
			if opts.Positions != nil {
				r = int(opts.Positions[row])
				if r < 0 || r >= counts[p] {
					panic(fmt.Sprintf("data: EncodeSource: row %d at position %d of a part of %d rows", row, r, counts[p]))
				}
			}
			dst = append(dst, rowDst{enc: enc, r: r})
			enc.N++
		}
		seen += int64(b.N)
		e.block(b, dst)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if opts.Parts != nil && seen != int64(len(opts.Parts)) {
		return nil, nil, fileErrorf(e.file, 0, "%d parts given for %d rows", len(opts.Parts), seen)
	}
	if err := e.firstError(ctx, len(e.slots), true); err != nil {
		return nil, nil, err
	}
	for _, enc := range outs {
		e.trim(enc)
	}
	return outs, e.warnings(), nil
}

// EncodeBlocks encodes a source block by block, in memory that does not
// grow with the file: fn gets each block's rows encoded (and the columns
// of opts.Keep), and must not keep the EncodedBlock or its slices after it
// returns. The values are those of EncodeSource. A bad cell stops the pass
// after the block that holds it, with the error EncodeSource would give
// for the rows read so far. opts.Parts is not used: EncodedBlock.Row
// places the rows. It returns the warnings of the whole pass.
func (s *Schema) EncodeBlocks(ctx context.Context, src Source, opts EncodeOptions, fn func(*EncodedBlock) error) ([]string, error) {
	be, err := s.NewBlockEncoder(ctx, src, opts)
	if err != nil {
		return nil, err
	}
	err = src.Scan(ctx, be.Want(), func(b *Block) error {
		eb, bad := be.encode(b)
		if bad {
			return errStopEncoding
		}
		return fn(eb)
	})
	if err != nil && !errors.Is(err, errStopEncoding) {
		return nil, err
	}
	// The scan is over: the text of a bad number can be read again.
	if err := be.e.firstError(ctx, len(be.e.slots), true); err != nil {
		return nil, err
	}
	return be.Warnings(), nil
}

// BlockEncoder encodes blocks of a source one at a time, in any order: a
// streaming trainer reads the blocks of a cache (CacheSource.ReadBlock)
// in a shuffled order and encodes each.
type BlockEncoder struct {
	e   *encoder
	eb  EncodedBlock
	dst []rowDst
}

// NewBlockEncoder prepares the encoding of blocks of src (read with the
// wants of Want). A column the schema needs that src lacks is an error,
// found here (after a pass over src when a column before it in schema
// order has a bad cell, as EncodeSource would report that first).
func (s *Schema) NewBlockEncoder(ctx context.Context, src Source, opts EncodeOptions) (*BlockEncoder, error) {
	e, err := s.newEncoder(src, opts)
	if err != nil {
		return nil, err
	}
	if e.stop < len(e.slots) {
		return nil, e.missingColumn(ctx)
	}
	return &BlockEncoder{e: e, eb: EncodedBlock{Keep: make([]Column, len(e.keep))}}, nil
}

// Want returns how the blocks must be read: Text for the columns of
// categorical and embedded features, the group, class targets and kept
// columns, Auto for numeric features and regression targets, Skip for the
// rest. A column read Auto where Text is wanted (from a cache written
// with other wants) is taken as Column.Text gives its cells.
func (be *BlockEncoder) Want() []ColumnWant { return be.e.want }

// Encode encodes a block. The result is valid until the next call. A bad
// cell is an error that names it: the first, in row order, of the first
// column in schema order that has one in the block. (A number too large
// for float32 is named by its shortest form: unlike EncodeSource, Encode
// does not read the source again for the text as written.)
func (be *BlockEncoder) Encode(b *Block) (*EncodedBlock, error) {
	eb, bad := be.encode(b)
	if bad {
		return nil, be.e.firstError(context.Background(), len(be.e.slots), false)
	}
	return eb, nil
}

// encode encodes a block; bad reports a bad cell.
func (be *BlockEncoder) encode(b *Block) (eb *EncodedBlock, bad bool) {
	e := be.e
	enc := &be.eb.Encoded
	e.reuse(enc, b.N)
	be.dst = be.dst[:0]
	for i := range b.N {
		be.dst = append(be.dst, rowDst{enc: enc, r: i})
	}
	e.block(b, be.dst)
	if e.anyError() {
		return nil, true
	}
	be.eb.Row = b.Row
	for j, c := range e.keep {
		be.eb.Keep[j] = b.Cols[c]
	}
	return &be.eb, false
}

// Warnings returns the warnings about the blocks encoded so far.
func (be *BlockEncoder) Warnings() []string { return be.e.warnings() }

// errStopEncoding ends a scan of EncodeBlocks at a bad cell.
var errStopEncoding = errors.New("stop encoding")

// slotKind is how a column is encoded.
type slotKind uint8

const (
	slotNumeric slotKind = iota
	slotCategorical
	slotEmbedded
	slotGroup
	slotClass
	slotRegression
)

// slot is one column of an encoding pass, in the order of Encode's
// checks.
type slot struct {
	kind  slotKind
	name  string
	role  string // "feature", "group" or "target", for messages
	col   int    // source column, -1 when missing
	feat  Feature
	tg    Target
	off   int              // first column in X (numeric, categorical)
	out   int              // index into Encoded.Index or Encoded.Labels
	index map[string]int32 // categories, groups or classes
	rows  *embedRows
	coder *numericCoder
	count int // imputed values, unseen categories or groups
	err   *cellErr
}

// cellErr is the first bad cell of a slot.
type cellErr struct {
	at     place
	text   string
	reread bool    // a number whose text must be read again from the source
	num    float64 // its value
	msg    func(text string) string
}

// rowDst is where a row of a block goes: row r of enc, or nowhere.
type rowDst struct {
	enc *Encoded
	r   int
}

// encoder is the plan and state of an encoding pass.
type encoder struct {
	s      *Schema
	src    Source
	file   string
	header []string
	d      int
	want   []ColumnWant
	slots  []*slot
	stop   int   // slots[stop] is the first with a missing column, or len(slots)
	keep   []int // source columns of EncodeOptions.Keep
	nIndex int
	nLabel int
	cells  cellCache
	ids    []int32
	// maskUnseen encodes an unseen class label as missing.
	maskUnseen bool
}

func (s *Schema) newEncoder(src Source, opts EncodeOptions) (*encoder, error) {
	e := &encoder{s: s, src: src, file: src.Name(), header: src.Columns(), d: s.Dim(), maskUnseen: opts.MaskUnseen}
	colOf := make(map[string]int, len(e.header))
	for i, h := range e.header {
		if _, dup := colOf[h]; !dup {
			colOf[h] = i
		}
	}
	find := func(name string) int {
		if c, ok := colOf[name]; ok {
			return c
		}
		return -1
	}
	off := 0
	for _, f := range s.Features {
		sl := &slot{name: f.Name, role: "feature", col: find(f.Name), feat: f, off: off}
		switch f.Kind {
		case Numeric:
			sl.kind = slotNumeric
			sl.coder = newNumericCoder(f)
		case Categorical:
			sl.kind = slotCategorical
			sl.index = indexOf(f.Categories)
		case Embedded:
			sl.kind = slotEmbedded
			sl.rows = newEmbedRows(f)
			sl.out = e.nIndex
			e.nIndex++
		}
		off += f.Width()
		e.slots = append(e.slots, sl)
	}
	if s.GroupColumn != "" {
		e.slots = append(e.slots, &slot{kind: slotGroup, name: s.GroupColumn, role: "group", col: find(s.GroupColumn), index: indexOf(s.Groups)})
	}
	if opts.Targets {
		for t, tg := range s.Targets {
			sl := &slot{kind: slotClass, name: tg.Name, role: "target", col: find(tg.Name), tg: tg, out: t}
			if tg.Type == Regression {
				sl.kind = slotRegression
			} else {
				sl.index = indexOf(tg.Classes)
			}
			e.slots = append(e.slots, sl)
		}
		e.nLabel = len(s.Targets)
	}
	e.stop = len(e.slots)
	for i, sl := range e.slots {
		if sl.col < 0 {
			e.stop = i
			break
		}
	}
	e.want = make([]ColumnWant, len(e.header))
	for _, sl := range e.slots[:e.stop] {
		w := Text
		if sl.kind == slotNumeric || sl.kind == slotRegression {
			w = Auto
		}
		e.want[sl.col] = w
	}
	fixWants(src, e.want)
	if e.stop == len(e.slots) {
		for _, name := range opts.Keep {
			c := find(name)
			if c < 0 {
				return nil, &Error{File: e.file, Line: 1, Column: name, Err: fmt.Errorf("column to keep is missing from the file")}
			}
			e.keep = append(e.keep, c)
			if e.want[c] == Skip || e.want[c] == Auto {
				e.want[c] = Text // numbers are parsed from the text
			}
		}
		fixWants(src, e.want)
	}
	return e, nil
}

// indexOf maps each value to its position.
func indexOf(values []string) map[string]int32 {
	m := make(map[string]int32, len(values))
	for i, v := range values {
		m[v] = int32(i)
	}
	return m
}

// missingColumn returns the error of the first slot with a missing
// column, unless a slot before it has a bad cell, which Encode would have
// found first.
func (e *encoder) missingColumn(ctx context.Context) error {
	if e.stop > 0 {
		var dst []rowDst
		enc := &Encoded{D: e.d}
		err := e.src.Scan(ctx, e.want, func(b *Block) error {
			e.reuse(enc, b.N)
			dst = dst[:0]
			for i := range b.N {
				dst = append(dst, rowDst{enc: enc, r: i})
			}
			e.block(b, dst)
			return nil
		})
		if err != nil {
			return err
		}
		if err := e.firstError(ctx, e.stop, true); err != nil {
			return err
		}
	}
	sl := e.slots[e.stop]
	return &Error{File: e.file, Line: 1, Column: sl.name, Err: fmt.Errorf("%s column missing from the file", sl.role)}
}

// newEncoded allocates the output for n rows (N is 0 until rows come).
func (e *encoder) newEncoded(n int) *Encoded {
	enc := &Encoded{D: e.d, X: make([]float32, 0, n*e.d)}
	for range e.nIndex {
		enc.Index = append(enc.Index, make([]int32, 0, n))
	}
	for range e.nLabel {
		enc.Labels = append(enc.Labels, make([]float32, 0, n))
	}
	if e.s.GroupColumn != "" {
		enc.Groups = make([]int32, 0, n)
	}
	e.extend(enc, n)
	return enc
}

// extend adds n zero rows to the slices of enc (not to N).
func (e *encoder) extend(enc *Encoded, n int) {
	grow := func(x []float32, k int) []float32 {
		x = slices.Grow(x, k)
		l := len(x)
		x = x[:l+k]
		clear(x[l:])
		return x
	}
	enc.X = grow(enc.X, n*e.d)
	for j := range enc.Index {
		enc.Index[j] = slices.Grow(enc.Index[j], n)[:len(enc.Index[j])+n]
	}
	for j := range enc.Labels {
		enc.Labels[j] = slices.Grow(enc.Labels[j], n)[:len(enc.Labels[j])+n]
	}
	if enc.Groups != nil || e.s.GroupColumn != "" {
		enc.Groups = slices.Grow(enc.Groups, n)[:len(enc.Groups)+n]
	}
}

// reuse sizes a block output, reused from block to block, for n rows:
// X zeroed, N set.
func (e *encoder) reuse(enc *Encoded, n int) {
	index, labels, groups := enc.Index, enc.Labels, enc.Groups
	*enc = Encoded{N: n, D: e.d, X: enc.X[:0]}
	if e.nIndex > 0 {
		for len(index) < e.nIndex {
			index = append(index, nil)
		}
		enc.Index = index[:e.nIndex]
		for j := range enc.Index {
			enc.Index[j] = enc.Index[j][:0]
		}
	}
	if e.nLabel > 0 {
		for len(labels) < e.nLabel {
			labels = append(labels, nil)
		}
		enc.Labels = labels[:e.nLabel]
		for j := range enc.Labels {
			enc.Labels[j] = enc.Labels[j][:0]
		}
	}
	if e.s.GroupColumn != "" {
		enc.Groups = groups[:0]
	}
	e.extend(enc, n)
}

// trim drops the unused capacity of an output that grew.
func (e *encoder) trim(enc *Encoded) {
	if len(enc.Index) == 0 {
		enc.Index = nil
	}
	if len(enc.Labels) == 0 || e.nLabel == 0 {
		enc.Labels = nil
	}
}

// block encodes the slots before e.stop of one block into dst.
func (e *encoder) block(b *Block, dst []rowDst) {
	for _, sl := range e.slots[:e.stop] {
		col := &b.Cols[sl.col]
		switch sl.kind {
		case slotNumeric, slotRegression:
			e.number(sl, b, col, dst)
		default:
			e.text(sl, b, col, dst)
		}
	}
}

// fail records a bad cell of a slot, unless it has one already.
func (sl *slot) fail(at place, text string, msg func(string) string) {
	if sl.err == nil {
		sl.err = &cellErr{at: at, text: text, msg: msg}
	}
}

// failNumber records a bad number whose text the block may not hold.
func (sl *slot) failNumber(b *Block, col *Column, i int, v float64, msg func(string) string) {
	if sl.err != nil {
		return
	}
	if col.Codes != nil && col.Codes[i] >= 0 {
		sl.fail(at(b, i), col.Dict[col.Codes[i]], msg)
		return
	}
	sl.err = &cellErr{at: at(b, i), reread: true, num: v, msg: msg}
}

// number encodes a numeric feature or a regression target.
func (e *encoder) number(sl *slot, b *Block, col *Column, dst []rowDst) {
	var cells *cellCache
	if col.Codes != nil {
		cells = e.cells.of(col)
	}
	impute := e.s.Impute == "mean"
	mean, scale := sl.feat.Mean, sl.feat.Scale
	offset := sl.tg.Offset
	nan := float32(math.NaN())
	regression := sl.kind == slotRegression
	for i, to := range dst {
		if to.enc == nil {
			continue
		}
		var v float64
		if col.Codes == nil || col.Codes[i] < 0 {
			v = col.Num[i]
		} else {
			k := col.Codes[i]
			text := col.Dict[k]
			switch kind := cells.kind[k]; {
			case kind == cellNumber:
				v = cells.value[k]
			case kind == cellMissing && regression:
				to.enc.Labels[sl.out][to.r] = nan
				continue
			case kind == cellMissing && impute:
				sl.count++
				sl.coder.imputed(to.enc.X[to.r*e.d+sl.off:])
				continue
			case kind == cellMissing:
				sl.fail(at(b, i), text, func(string) string {
					return "missing value in a numeric column (impute \"mean\" replaces it with the training mean)"
				})
				continue
			case kind == cellNonFinite && regression:
				sl.fail(at(b, i), text, func(t string) string { return fmt.Sprintf("regression target %q is not a finite number", t) })
				continue
			case kind == cellNonFinite:
				sl.fail(at(b, i), text, func(t string) string { return fmt.Sprintf("%q is not a finite number", t) })
				continue
			case regression:
				sl.fail(at(b, i), text, func(t string) string { return fmt.Sprintf("regression target %q is not a number", t) })
				continue
			default:
				sl.fail(at(b, i), text, func(t string) string { return fmt.Sprintf("%q is not a number", t) })
				continue
			}
		}
		if regression {
			y := float32(v - offset)
			if math.IsInf(float64(y), 0) {
				sl.failNumber(b, col, i, v, func(t string) string { return fmt.Sprintf("regression target %q is out of float32 range", t) })
				continue
			}
			to.enc.Labels[sl.out][to.r] = y
			continue
		}
		if !sl.coder.encode(v, to.enc.X[to.r*e.d+sl.off:]) {
			sl.failNumber(b, col, i, v, func(t string) string {
				return fmt.Sprintf("%q is too large after standardising (mean %.6g, scale %.6g)", t, mean, scale)
			})
		}
	}
}

// text encodes a column read as text: categorical, embedded, the group or
// a class target.
func (e *encoder) text(sl *slot, b *Block, col *Column, dst []rowDst) {
	// Resolve each text of the block once.
	if cap(e.ids) < len(col.Dict) {
		e.ids = make([]int32, len(col.Dict))
	}
	ids := e.ids[:len(col.Dict)]
	var missing []bool
	if sl.kind == slotGroup || sl.kind == slotClass {
		missing = make([]bool, len(col.Dict))
	}
	for k, v := range col.Dict {
		switch sl.kind {
		case slotEmbedded:
			ids[k] = sl.rows.row(v)
		default:
			id, ok := sl.index[v]
			if !ok {
				id = -1
			}
			ids[k] = id
			if missing != nil {
				missing[k] = IsMissing(v)
			}
		}
	}
	nan := float32(math.NaN())
	for i, to := range dst {
		if to.enc == nil {
			continue
		}
		if col.Codes == nil || col.Codes[i] < 0 {
			// A number of a column read as Auto: its shortest text.
			e.textOfNumber(sl, b, col, i, to)
			continue
		}
		k := col.Codes[i]
		id := ids[k]
		switch sl.kind {
		case slotCategorical:
			if id < 0 {
				sl.count++
				continue
			}
			to.enc.X[to.r*e.d+sl.off+int(id)] = 1
		case slotEmbedded:
			if id == 0 && sl.feat.Buckets == 0 {
				sl.count++
			}
			to.enc.Index[sl.out][to.r] = id
		case slotGroup:
			if missing[k] {
				sl.fail(at(b, i), col.Dict[k], func(string) string { return "missing group value" })
				continue
			}
			if id < 0 {
				sl.count++
			}
			to.enc.Groups[to.r] = id
		case slotClass:
			if missing[k] {
				to.enc.Labels[sl.out][to.r] = nan
				continue
			}
			if id < 0 && e.maskUnseen {
				to.enc.Labels[sl.out][to.r] = nan
				continue
			}
			if id < 0 {
				classes := sl.tg.Classes
				sl.fail(at(b, i), col.Dict[k], func(t string) string {
					return fmt.Sprintf("label %q was not seen in training (classes: %s)", t, listLabels(classes))
				})
				continue
			}
			to.enc.Labels[sl.out][to.r] = float32(id)
		}
	}
}

// anyError reports whether a slot has a bad cell.
func (e *encoder) anyError() bool {
	for _, sl := range e.slots[:e.stop] {
		if sl.err != nil {
			return true
		}
	}
	return false
}

// firstError returns the error of the first of slots[:n] with a bad cell,
// reading the cell's text again, when reread allows, where the pass did
// not keep it.
func (e *encoder) firstError(ctx context.Context, n int, reread bool) error {
	for _, sl := range e.slots[:min(n, e.stop)] {
		ce := sl.err
		if ce == nil {
			continue
		}
		text := ce.text
		switch {
		case ce.reread && reread:
			text = e.reread(ctx, sl.col, ce.at.row, ce.num)
		case ce.reread:
			text = formatNumber(ce.num)
		}
		return errorAt(e.file, ce.at, sl.name, sl.col, "%s", ce.msg(text))
	}
	return nil
}

// reread returns the text of a cell as the source delivers it as text, or
// the shortest form of its value when the source cannot be read again.
func (e *encoder) reread(ctx context.Context, col int, row int64, v float64) string {
	want := make([]ColumnWant, len(e.header))
	want[col] = Text
	text, found := "", false
	err := e.src.Scan(ctx, want, func(b *Block) error {
		if row < b.Row+int64(b.N) {
			c := &b.Cols[col]
			text, found = c.Dict[c.Codes[row-b.Row]], true
			return ErrStop
		}
		return nil
	})
	if err != nil || !found {
		return formatNumber(v)
	}
	return text
}

// warnings are the warnings of the pass, in slot order.
func (e *encoder) warnings() []string {
	var out []string
	for _, sl := range e.slots[:e.stop] {
		if sl.count == 0 {
			continue
		}
		switch sl.kind {
		case slotNumeric:
			out = append(out, fmt.Sprintf("%s: column %q: %d missing values replaced by the training mean", e.file, sl.name, sl.count))
		case slotCategorical:
			out = append(out, fmt.Sprintf("%s: column %q: %d rows have categories unseen in training (encoded as all zeros)", e.file, sl.name, sl.count))
		case slotEmbedded:
			out = append(out, embedWarning(e.file, sl.feat, sl.count))
		case slotGroup:
			out = append(out, fmt.Sprintf("%s: group column %q: %d rows have groups unseen in training (predicted by the shared head of each family)", e.file, sl.name, sl.count))
		}
	}
	return out
}

// textOfNumber encodes cell i of a text slot delivered as a number (a
// column read Auto), by the text Column.Text gives it.
func (e *encoder) textOfNumber(sl *slot, b *Block, col *Column, i int, to rowDst) {
	v := formatNumber(col.Num[i])
	var id int32
	if sl.kind == slotEmbedded {
		id = sl.rows.row(v)
	} else {
		k, ok := sl.index[v]
		id = k
		if !ok {
			id = -1
		}
	}
	switch sl.kind {
	case slotCategorical:
		if id < 0 {
			sl.count++
			return
		}
		to.enc.X[to.r*e.d+sl.off+int(id)] = 1
	case slotEmbedded:
		if id == 0 && sl.feat.Buckets == 0 {
			sl.count++
		}
		to.enc.Index[sl.out][to.r] = id
	case slotGroup:
		if id < 0 {
			sl.count++
		}
		to.enc.Groups[to.r] = id
	case slotClass:
		if id < 0 && e.maskUnseen {
			to.enc.Labels[sl.out][to.r] = float32(math.NaN())
			return
		}
		if id < 0 {
			classes := sl.tg.Classes
			sl.fail(at(b, i), v, func(t string) string {
				return fmt.Sprintf("label %q was not seen in training (classes: %s)", t, listLabels(classes))
			})
			return
		}
		to.enc.Labels[sl.out][to.r] = float32(id)
	}
}
