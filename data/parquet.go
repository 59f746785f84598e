package data

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding"
	"github.com/parquet-go/parquet-go/format"
)

// ParquetOptions tunes a Parquet reader. The zero value gives the
// defaults.
type ParquetOptions struct {
	// Threads is the number of goroutines that decode the columns of a
	// row group. Default runtime.GOMAXPROCS(0).
	Threads int
	// BlockRows bounds the rows of a block: a larger row group is
	// delivered in several blocks. Default 65,536.
	BlockRows int
}

// ParquetSource reads a Parquet file with a flat schema, row group by row
// group, decoding the columns of a row group in parallel while the
// previous one is handed out.
//
// Numbers (bool as 0/1, int32/64, unsigned, float, double, float16,
// decimals) are delivered as float64; dates as days since 1970-01-01 and
// timestamps (int96 included) as seconds since 1970-01-01 UTC. Strings,
// binary and other byte arrays are text, delivered as codes (Num is all
// NaN when such a column is scanned as Auto); a column with a dictionary
// is read through it. With want Text a numeric column gives the text of
// its numbers (integers in full, "true" and "false" for booleans).
//
// A null is a missing value: an empty cell in a numeric column (Num NaN,
// text "") and the missing token "?" in a text column, so that a column
// written from a CSV file with "?" for missing reads as that file did.
//
// A list of numbers with the same length d in every row (an embedding)
// becomes d columns named NAME[0]…NAME[d-1]. Any other nested column is
// an error that names it. Page checksums are verified where the writer
// stored them.
type ParquetSource struct {
	name   string
	file   *os.File
	pf     *parquet.File
	opts   ParquetOptions
	cols   []string
	leaves []*pqLeaf
	colOf  []pqColRef // per source column
	rows   int64
}

var _ PartScanner = (*ParquetSource)(nil)

// pqColRef places a source column in the file.
type pqColRef struct {
	leaf int // index into leaves
	elem int // position in a list column, or -1
}

// pqKind is how the values of a leaf column become numbers or text.
type pqKind uint8

const (
	pqBool pqKind = iota
	pqInt32
	pqUint32
	pqInt64
	pqUint64
	pqFloat
	pqDouble
	pqFloat16
	pqInt96
	pqDecimalBytes // big-endian two's complement (FIXED_LEN_BYTE_ARRAY or BYTE_ARRAY decimal)
	pqText
)

// pqLeaf is one column chunk of each row group.
type pqLeaf struct {
	name     string // the source column name (the list's name for a list)
	index    int    // column chunk index
	firstCol int    // first source column
	kind     pqKind
	scale    float64 // values are divided by it (timestamps, decimals)
	integral bool    // integer values whose text is exact without scaling
	maxDef   int
	list     bool
	dim      int    // list length
	listDef  int    // definition level at which a list element slot exists
	typ      string // the type as the schema names it, for messages and Inspect
}

// OpenParquet opens a Parquet file and reads its schema.
func OpenParquet(path string, opts ParquetOptions) (*ParquetSource, error) {
	if opts.Threads <= 0 {
		opts.Threads = runtime.GOMAXPROCS(0)
	}
	if opts.BlockRows <= 0 {
		opts.BlockRows = 1 << 16
	}
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, &Error{File: path, Err: pe.Err}
		}
		return nil, &Error{File: path, Err: err}
	}
	s, err := openParquet(f, path, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

func openParquet(f *os.File, path string, opts ParquetOptions) (s *ParquetSource, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fileErrorf(path, 0, "not a readable Parquet file: %v", r)
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return nil, fileErrorf(path, 0, "%v", err)
	}
	pf, err := parquet.OpenFile(f, st.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fileErrorf(path, 0, "not a readable Parquet file: %v", err)
	}
	s = &ParquetSource{name: path, file: f, pf: pf, opts: opts, rows: pf.NumRows()}
	if err := s.readSchema(); err != nil {
		return nil, err
	}
	seen := make(map[string]int, len(s.cols))
	for i, c := range s.cols {
		if c == "" {
			return nil, errorf(path, 0, "", i, "empty column name")
		}
		if j, dup := seen[c]; dup {
			return nil, errorf(path, 0, c, i, "duplicate column name (also column %d)", j+1)
		}
		seen[c] = i
	}
	if len(s.cols) == 0 {
		return nil, fileErrorf(path, 0, "no columns")
	}
	// The deprecated LZ4 codec (Hadoop's framing) cannot be decoded; say so
	// before any data is read.
	for _, rg := range pf.Metadata().RowGroups {
		for j, cc := range rg.Columns {
			if cc.MetaData.Codec != format.Lz4 {
				continue
			}
			for _, l := range s.leaves {
				if l.index == j {
					return nil, errorf(path, 0, l.name, l.firstCol,
						"compressed with the deprecated Hadoop LZ4 codec, which cannot be read: write the file with LZ4_RAW, ZSTD or SNAPPY compression")
				}
			}
		}
	}
	return s, nil
}

// readSchema walks the schema elements (a depth-first list) and makes a
// source column of each flat leaf and each list of numbers.
func (s *ParquetSource) readSchema() error {
	elems := s.pf.Metadata().Schema
	if len(elems) == 0 {
		return fileErrorf(s.name, 0, "no schema")
	}
	pos := 1
	leafIndex := 0
	// skip returns the position after the subtree at i and its leaves.
	var skip func(i int) (int, int)
	skip = func(i int) (int, int) {
		n := int(elems[i].NumChildren.V)
		if !elems[i].NumChildren.Valid || n == 0 {
			return i + 1, 1
		}
		j, leaves := i+1, 0
		for range n {
			var l int
			if j >= len(elems) {
				return j, leaves
			}
			j, l = skip(j)
			leaves += l
		}
		return j, leaves
	}
	for range int(elems[0].NumChildren.V) {
		if pos >= len(elems) {
			return fileErrorf(s.name, 0, "malformed schema")
		}
		e := &elems[pos]
		col := len(s.cols)
		rep := e.RepetitionType.V
		def := 0
		if rep != format.Required {
			def = 1
		}
		isGroup := e.NumChildren.Valid && e.NumChildren.V > 0
		switch {
		case !isGroup && rep != format.Repeated:
			kind, scale, integral, err := leafKind(e)
			if err != nil {
				return errorf(s.name, 0, e.Name, col, "%v", err)
			}
			s.leaves = append(s.leaves, &pqLeaf{name: e.Name, index: leafIndex, firstCol: col, kind: kind, scale: scale, integral: integral, maxDef: def, typ: typeName(e)})
			s.cols = append(s.cols, e.Name)
			s.colOf = append(s.colOf, pqColRef{leaf: len(s.leaves) - 1, elem: -1})
			pos++
			leafIndex++
			continue
		default:
			leafElem, maxDef, listDef, ok := listLeaf(elems, pos)
			next, leaves := skip(pos)
			if !ok {
				return errorf(s.name, 0, e.Name, col, "a nested column (%s), not a table column: only flat columns and lists of numbers can be read", describeGroup(elems, pos))
			}
			kind, scale, integral, err := leafKind(leafElem)
			if err != nil || kind == pqText || kind == pqDecimalBytes {
				return errorf(s.name, 0, e.Name, col, "a list of %s, not of numbers: only flat columns and lists of numbers can be read", typeName(leafElem))
			}
			leaf := &pqLeaf{name: e.Name, index: leafIndex, firstCol: col, kind: kind, scale: scale, integral: integral, typ: "list of " + typeName(leafElem),
				maxDef: maxDef, list: true, listDef: listDef}
			dim, err := s.listDim(leaf)
			if err != nil {
				return err
			}
			leaf.dim = dim
			s.leaves = append(s.leaves, leaf)
			for k := range dim {
				s.cols = append(s.cols, fmt.Sprintf("%s[%d]", e.Name, k))
				s.colOf = append(s.colOf, pqColRef{leaf: len(s.leaves) - 1, elem: k})
			}
			pos = next
			leafIndex += leaves
		}
	}
	return nil
}

// listLeaf recognises a list of primitives at elems[i]: the three-level
// LIST (group → repeated group → leaf), the two-level form (group →
// repeated leaf) or a bare repeated leaf. It returns the leaf, its maximum
// definition level and the level at which an element slot exists.
func listLeaf(elems []format.SchemaElement, i int) (leaf *format.SchemaElement, maxDef, listDef int, ok bool) {
	e := &elems[i]
	level := func(x *format.SchemaElement) int {
		if x.RepetitionType.V == format.Required {
			return 0
		}
		return 1
	}
	children := func(x *format.SchemaElement) int {
		if !x.NumChildren.Valid {
			return 0
		}
		return int(x.NumChildren.V)
	}
	if children(e) == 0 {
		if e.RepetitionType.V == format.Repeated {
			return e, 1, 1, true
		}
		return nil, 0, 0, false
	}
	if e.RepetitionType.V == format.Repeated || children(e) != 1 || i+1 >= len(elems) {
		return nil, 0, 0, false
	}
	mid := &elems[i+1]
	if mid.RepetitionType.V != format.Repeated {
		return nil, 0, 0, false
	}
	d := level(e) + 1
	if children(mid) == 0 {
		return mid, d, d, true
	}
	if children(mid) != 1 || i+2 >= len(elems) || children(&elems[i+2]) != 0 || elems[i+2].RepetitionType.V == format.Repeated {
		return nil, 0, 0, false
	}
	return &elems[i+2], d + level(&elems[i+2]), d, true
}

// describeGroup says what a nested column is, for messages.
func describeGroup(elems []format.SchemaElement, i int) string {
	e := &elems[i]
	if lt := e.LogicalType.Value; lt != nil {
		return lt.String()
	}
	if e.RepetitionType.V == format.Repeated {
		return "a repeated group"
	}
	return "a group"
}

// typeName names the type of a leaf for messages: its logical type, the
// logical type its converted type stands for, or its physical type.
func typeName(e *format.SchemaElement) string {
	if lt := e.LogicalType.Value; lt != nil {
		return lt.String()
	}
	if conv, ok := e.ConvertedType.Get(); ok {
		switch conv {
		case deprecated.UTF8:
			return "STRING"
		case deprecated.Enum:
			return "ENUM"
		case deprecated.Json:
			return "JSON"
		case deprecated.Date:
			return "DATE"
		case deprecated.Decimal:
			return "DECIMAL"
		case deprecated.TimestampMillis, deprecated.TimestampMicros:
			return "TIMESTAMP"
		}
	}
	if e.Type.Valid {
		return e.Type.V.String()
	}
	return "groups"
}

// leafKind decides how a leaf's values are read.
func leafKind(e *format.SchemaElement) (kind pqKind, scale float64, integral bool, err error) {
	if !e.Type.Valid {
		return 0, 0, false, fmt.Errorf("a column without a type")
	}
	scale = 1
	lt := e.LogicalType.Value
	conv, hasConv := e.ConvertedType.Get()
	decimalScale := -1
	switch t := lt.(type) {
	case *format.DecimalType:
		decimalScale = int(t.Scale)
	case *format.TimestampType:
		switch t.Unit.Value.(type) {
		case *format.MilliSeconds:
			scale = 1e3
		case *format.MicroSeconds:
			scale = 1e6
		case *format.NanoSeconds:
			scale = 1e9
		}
	case *format.TimeType:
		switch t.Unit.Value.(type) {
		case *format.MilliSeconds:
			scale = 1e3
		case *format.MicroSeconds:
			scale = 1e6
		case *format.NanoSeconds:
			scale = 1e9
		}
	}
	if lt == nil && hasConv {
		switch conv {
		case deprecated.Decimal:
			decimalScale = int(e.Scale.V)
		case deprecated.TimestampMillis, deprecated.TimeMillis:
			scale = 1e3
		case deprecated.TimestampMicros, deprecated.TimeMicros:
			scale = 1e6
		}
	}
	if decimalScale > 0 {
		scale = math.Pow10(decimalScale)
	}
	unsigned := false
	if it, ok := lt.(*format.IntType); ok && !it.IsSigned {
		unsigned = true
	}
	if lt == nil && hasConv && (conv == deprecated.Uint8 || conv == deprecated.Uint16 || conv == deprecated.Uint32 || conv == deprecated.Uint64) {
		unsigned = true
	}
	switch e.Type.V {
	case format.Boolean:
		return pqBool, 1, true, nil
	case format.Int32:
		if unsigned {
			return pqUint32, scale, scale == 1, nil
		}
		return pqInt32, scale, scale == 1, nil
	case format.Int64:
		if unsigned {
			return pqUint64, scale, scale == 1, nil
		}
		return pqInt64, scale, scale == 1, nil
	case format.Int96:
		return pqInt96, 1, false, nil
	case format.Float:
		return pqFloat, 1, false, nil
	case format.Double:
		return pqDouble, 1, false, nil
	case format.FixedLenByteArray:
		if _, ok := lt.(*format.Float16Type); ok {
			if e.TypeLength.V != 2 {
				return 0, 0, false, fmt.Errorf("float16 of %d bytes", e.TypeLength.V)
			}
			return pqFloat16, 1, false, nil
		}
		if decimalScale >= 0 {
			return pqDecimalBytes, scale, false, nil
		}
		return pqText, 1, false, nil
	case format.ByteArray:
		if decimalScale >= 0 {
			return pqDecimalBytes, scale, false, nil
		}
		return pqText, 1, false, nil
	}
	return 0, 0, false, fmt.Errorf("unknown physical type %v", e.Type.V)
}

// listDim reads the first row of a list column to learn its length.
func (s *ParquetSource) listDim(l *pqLeaf) (dim int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errorf(s.name, 0, l.name, l.firstCol, "reading: %v", r)
		}
	}()
	for _, rg := range s.pf.RowGroups() {
		if rg.NumRows() == 0 {
			continue
		}
		pages := rg.ColumnChunks()[l.index].Pages()
		defer pages.Close()
		p, err := pages.ReadPage()
		if err != nil {
			return 0, errorf(s.name, 0, l.name, l.firstCol, "reading: %v", err)
		}
		defer parquet.Release(p)
		reps := p.RepetitionLevels()
		defs := p.DefinitionLevels()
		n := 0
		for i := range reps {
			if i > 0 && reps[i] == 0 {
				break
			}
			if len(defs) == 0 || int(defs[i]) >= l.listDef {
				n++
			}
		}
		if n == 0 {
			return 0, errorf(s.name, 0, l.name, l.firstCol, "the first row's list is empty or null: the length of an embedding column must show in its first row")
		}
		return n, nil
	}
	return 0, errorf(s.name, 0, l.name, l.firstCol, "no rows to learn the list's length from")
}

// Name returns the path given to OpenParquet.
func (s *ParquetSource) Name() string { return s.name }

// Columns returns the column names, lists expanded.
func (s *ParquetSource) Columns() []string { return s.cols }

// Rows returns the number of rows the file's footer gives.
func (s *ParquetSource) Rows() int64 { return s.rows }

// ColumnTypes returns the type of each column as the file's schema names
// it: the logical type where there is one (STRING, DATE, TIMESTAMP(…)),
// else the physical type (INT64, DOUBLE, …); "list of …" for the columns
// of a list.
func (s *ParquetSource) ColumnTypes() []string {
	types := make([]string, len(s.cols))
	for c, ref := range s.colOf {
		types[c] = s.leaves[ref.leaf].typ
	}
	return types
}

// RowGroups returns the number of row groups.
func (s *ParquetSource) RowGroups() int { return len(s.pf.RowGroups()) }

// Close closes the file.
func (s *ParquetSource) Close() error {
	if s.file == nil {
		return nil
	}
	err := s.file.Close()
	s.file = nil
	return err
}

// pqGroup is a decoded row group.
type pqGroup struct {
	row  int64
	cols []Column
	n    int
	err  error
}

// Scan reads the file row group by row group; see Source.
func (s *ParquetSource) Scan(ctx context.Context, want []ColumnWant, fn func(*Block) error) error {
	checkWant(s.name, s.cols, want)
	return s.scanGroups(ctx, want, 0, len(s.pf.RowGroups()), fn)
}

// Splittable returns nil: the footer says where every row group is.
func (s *ParquetSource) Splittable() error { return nil }

// ScanPart reads row groups [⌊p·G/n⌋, ⌊(p+1)·G/n⌋) of the G row groups,
// with their rows in the file; see PartScanner.
func (s *ParquetSource) ScanPart(ctx context.Context, want []ColumnWant, p, n int, fn func(*Block) error) error {
	checkWant(s.name, s.cols, want)
	checkPart(s.name, p, n)
	g := int64(len(s.pf.RowGroups()))
	return s.scanGroups(ctx, want, int(partStart(p, n, g, false)), int(partStart(p+1, n, g, false)), fn)
}

// scanGroups reads row groups [first, end) in blocks of at most
// BlockRows rows, decoding the next group while one is handed out.
func (s *ParquetSource) scanGroups(ctx context.Context, want []ColumnWant, first, end int, fn func(*Block) error) error {
	if s.file == nil {
		return fileErrorf(s.name, 0, "closed")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rowGroups := s.pf.RowGroups()
	groups := make(chan *pqGroup) // the next row group decoded while this one is read
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(groups)
		row := s.groupRow(first)
		for i := first; i < end; i++ {
			rg := rowGroups[i]
			g := s.decodeGroup(ctx, rg, i, row, want)
			row += rg.NumRows()
			select {
			case groups <- g:
			case <-ctx.Done():
				return
			}
			if g.err != nil {
				return
			}
		}
	}()
	finish := func(err error) error {
		cancel()
		for range groups {
		}
		wg.Wait()
		if errors.Is(err, ErrStop) {
			return nil
		}
		return err
	}
	blk := &Block{Cols: make([]Column, len(s.cols))}
	for g := range groups {
		if g.err != nil {
			return finish(g.err)
		}
		for lo := 0; lo < g.n; lo += s.opts.BlockRows {
			hi := min(lo+s.opts.BlockRows, g.n)
			blk.Row, blk.N = g.row+int64(lo), hi-lo
			for c := range blk.Cols {
				src := &g.cols[c]
				col := Column{Dict: src.Dict}
				if src.Num != nil {
					col.Num = src.Num[lo:hi:hi]
				}
				if src.Codes != nil {
					col.Codes = src.Codes[lo:hi:hi]
				}
				blk.Cols[c] = col
			}
			if err := fn(blk); err != nil {
				return finish(err)
			}
			if err := ctx.Err(); err != nil {
				return finish(err)
			}
		}
	}
	wg.Wait()
	return ctx.Err()
}

// RowGroupRows returns the number of rows of row group i (from 0).
func (s *ParquetSource) RowGroupRows(i int) int64 { return s.pf.RowGroups()[i].NumRows() }

// ReadRowGroup reads row group i (from 0) as one block, with want as in
// Scan, decoding its columns in parallel: a streaming trainer reads the
// row groups in a shuffled order.
func (s *ParquetSource) ReadRowGroup(ctx context.Context, i int, want []ColumnWant) (*Block, error) {
	checkWant(s.name, s.cols, want)
	if s.file == nil {
		return nil, fileErrorf(s.name, 0, "closed")
	}
	groups := s.pf.RowGroups()
	if i < 0 || i >= len(groups) {
		panic(fmt.Sprintf("data: row group %d of a file of %d", i, len(groups)))
	}
	g := s.decodeGroup(ctx, groups[i], i, s.groupRow(i), want)
	if g.err != nil {
		return nil, g.err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &Block{Row: g.row, N: g.n, Cols: g.cols}, nil
}

// groupRow returns the index of the first row of row group i.
func (s *ParquetSource) groupRow(i int) int64 {
	var row int64
	for _, rg := range s.pf.RowGroups()[:i] {
		row += rg.NumRows()
	}
	return row
}

// decodeGroup decodes the wanted columns of one row group, several leaves
// at once.
func (s *ParquetSource) decodeGroup(ctx context.Context, rg parquet.RowGroup, index int, row int64, want []ColumnWant) *pqGroup {
	n64 := rg.NumRows()
	g := &pqGroup{row: row, n: int(n64), cols: make([]Column, len(s.cols))}
	if int64(g.n) != n64 || n64 < 0 {
		g.err = fileErrorf(s.name, 0, "row group %d has %d rows", index+1, n64)
		return g
	}
	var todo []*pqLeaf
	for _, l := range s.leaves {
		w := s.leafWants(l, want)
		for _, x := range w {
			if x != Skip {
				todo = append(todo, l)
				break
			}
		}
	}
	var next atomic.Int64
	errs := make([]error, len(todo))
	var wg sync.WaitGroup
	for range min(s.opts.Threads, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(todo) || ctx.Err() != nil {
					return
				}
				l := todo[i]
				errs[i] = s.decodeLeaf(rg, row, l, s.leafWants(l, want), g.cols[l.firstCol:l.firstCol+max(l.dim, 1)], g.n)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			g.err = err
			break
		}
	}
	return g
}

// leafWants returns the wants of the source columns of a leaf.
func (s *ParquetSource) leafWants(l *pqLeaf, want []ColumnWant) []ColumnWant {
	return want[l.firstCol : l.firstCol+max(l.dim, 1)]
}

// textTable gives block-local codes to texts.
type textTable struct {
	dict []string
	m    map[string]int32
}

func (t *textTable) code(b []byte) int32 {
	if t.m == nil {
		t.m = make(map[string]int32)
	}
	if k, ok := t.m[string(b)]; ok {
		return k
	}
	s := string(b)
	k := int32(len(t.dict))
	t.m[s] = k
	t.dict = append(t.dict, s)
	return k
}

// leafReader turns pages of one leaf into numbers and codes.
type leafReader struct {
	l        *pqLeaf
	wantText bool // codes for numbers (a Text want on a numeric column)
	text     textTable
	nums     []float64 // the page's non-null values (numeric kinds)
	codes    []int32   // the page's non-null values' codes (text kinds, or wantText)
	scratch  []byte
	values   []parquet.Value
	// The column chunk's dictionary, decoded once.
	dict      parquet.Dictionary
	dictNums  []float64
	dictCodes []int32
}

// decodeLeaf reads the column chunk of leaf l into out (one Column per
// source column of the leaf).
func (s *ParquetSource) decodeLeaf(rg parquet.RowGroup, row int64, l *pqLeaf, want []ColumnWant, out []Column, n int) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errorf(s.name, 0, l.name, l.firstCol, "reading rows from %d: malformed data (%v)", row+1, r)
		}
	}()
	lr := &leafReader{l: l}
	for _, w := range want {
		if w == Text && l.kind != pqText {
			lr.wantText = true
		}
	}
	numeric := l.kind != pqText
	for k, w := range want {
		switch {
		case w == Skip:
		case w == Auto:
			out[k].Num = make([]float64, 0, n)
			if !numeric {
				out[k].Codes = make([]int32, 0, n)
			}
		case w == Text:
			out[k].Codes = make([]int32, 0, n)
		}
	}
	missing := "" // the text of a null
	if !numeric {
		missing = "?"
	}
	nullCode := int32(-1)
	rowsDone := 0
	elem := 0 // position within the current list row
	pages := rg.ColumnChunks()[l.index].Pages()
	defer pages.Close()
	for {
		p, err := pages.ReadPage()
		if err == io.EOF {
			break
		}
		if err != nil {
			return errorf(s.name, 0, l.name, l.firstCol, "reading rows from %d: %v", row+1, err)
		}
		if err := lr.page(p); err != nil {
			parquet.Release(p)
			return errorf(s.name, 0, l.name, l.firstCol, "reading rows from %d: %v", row+1, err)
		}
		defs := p.DefinitionLevels()
		reps := p.RepetitionLevels()
		nv := int(p.NumValues())
		vi := 0 // next non-null value
		for i := range nv {
			present := len(defs) == 0 || int(defs[i]) == l.maxDef
			k := 0
			if l.list {
				if reps[i] == 0 {
					if rowsDone > 0 && elem != l.dim && elem != -1 {
						parquet.Release(p)
						return errorf(s.name, 0, l.name, l.firstCol, "row %d: a list of %d values, the first row's has %d", row+int64(rowsDone), elem, l.dim)
					}
					rowsDone++
					elem = 0
				}
				if len(defs) > 0 && int(defs[i]) < l.listDef {
					// An empty or null list: all of its columns are missing.
					if elem != 0 {
						parquet.Release(p)
						return errorf(s.name, 0, l.name, l.firstCol, "row %d: malformed list", row+int64(rowsDone))
					}
					for kk := range l.dim {
						s.addNull(lr, &out[kk], want[kk], missing, &nullCode)
					}
					elem = -1
					continue
				}
				if elem < 0 || elem >= l.dim {
					parquet.Release(p)
					return errorf(s.name, 0, l.name, l.firstCol, "row %d: a list longer than the first row's (%d values)", row+int64(rowsDone), l.dim)
				}
				k = elem
				elem++
			} else {
				rowsDone++
			}
			if !present {
				s.addNull(lr, &out[k], want[k], missing, &nullCode)
				continue
			}
			col := &out[k]
			switch want[k] {
			case Skip:
			case Auto:
				if numeric {
					v := lr.nums[vi]
					col.Num = append(col.Num, v)
					if col.Codes != nil || math.IsNaN(v) || math.IsInf(v, 0) {
						lr.autoCode(col, v, lr.codeOfIndex(vi))
					}
				} else {
					col.Num = append(col.Num, math.NaN())
					col.Codes = append(col.Codes, lr.codes[vi])
				}
			case Text:
				col.Codes = append(col.Codes, lr.codes[vi])
			}
			vi++
		}
		parquet.Release(p)
	}
	if l.list && rowsDone > 0 && elem != l.dim && elem != -1 {
		return errorf(s.name, 0, l.name, l.firstCol, "row %d: a list of %d values, the first row's has %d", row+int64(rowsDone), elem, l.dim)
	}
	if rowsDone != n {
		return errorf(s.name, 0, l.name, l.firstCol, "the row group from row %d holds %d values for %d rows", row+1, rowsDone, n)
	}
	for k := range out {
		if want[k] == Skip {
			continue
		}
		out[k].Dict = lr.text.dict
		if out[k].Dict == nil {
			out[k].Dict = []string{}
		}
	}
	return nil
}

// codeOfIndex returns the code of non-null value vi when codes are made
// for numbers (a Text want), or -1.
func (lr *leafReader) codeOfIndex(vi int) int32 {
	if lr.wantText {
		return lr.codes[vi]
	}
	return -1
}

// autoCode adds the code of number v to an Auto column: -1 for a finite
// number, the number's text for NaN and ±Inf (which Auto keeps as text).
func (lr *leafReader) autoCode(col *Column, v float64, code int32) {
	if col.Codes == nil {
		col.Codes = make([]int32, len(col.Num)-1, cap(col.Num))
		for i := range col.Codes {
			col.Codes[i] = -1
		}
	}
	switch {
	case !math.IsNaN(v) && !math.IsInf(v, 0):
		code = -1
	case code < 0:
		code = lr.text.code(strconv.AppendFloat(lr.scratch[:0], v, 'g', -1, 64))
	}
	col.Codes = append(col.Codes, code)
}

// addNull adds a missing cell: NaN and the text of a null.
func (s *ParquetSource) addNull(lr *leafReader, col *Column, w ColumnWant, missing string, nullCode *int32) {
	if w == Skip {
		return
	}
	if *nullCode < 0 {
		*nullCode = lr.text.code([]byte(missing))
	}
	if w == Auto {
		col.Num = append(col.Num, math.NaN())
		if col.Codes == nil {
			col.Codes = make([]int32, len(col.Num)-1, cap(col.Num))
			for i := range col.Codes {
				col.Codes[i] = -1
			}
		}
	}
	col.Codes = append(col.Codes, *nullCode)
}

// page decodes the non-null values of a page into lr.nums (numeric kinds)
// and lr.codes (text kinds, or numbers when wantText).
func (lr *leafReader) page(p parquet.Page) error {
	lr.nums, lr.codes = lr.nums[:0], lr.codes[:0]
	l := lr.l
	if d := p.Dictionary(); d != nil {
		if d != lr.dict {
			if err := lr.loadDict(d); err != nil {
				return err
			}
		}
		for _, i := range pageData(p).Int32() {
			if i < 0 || int(i) >= len(lr.dictCodes) {
				return fmt.Errorf("dictionary index %d out of range (%d values)", i, len(lr.dictCodes))
			}
			if l.kind != pqText {
				lr.nums = append(lr.nums, lr.dictNums[i])
			}
			if lr.dictCodes[i] >= 0 {
				lr.codes = append(lr.codes, lr.dictCodes[i])
			} else {
				lr.codes = append(lr.codes, -1)
			}
		}
		return nil
	}
	switch l.kind {
	case pqDouble:
		if !lr.wantText {
			lr.nums = append(lr.nums, pageData(p).Double()...)
			return nil
		}
	case pqInt64:
		if !lr.wantText {
			for _, v := range pageData(p).Int64() {
				lr.nums = append(lr.nums, float64(v)/l.scale)
			}
			return nil
		}
	case pqInt32:
		if !lr.wantText {
			for _, v := range pageData(p).Int32() {
				lr.nums = append(lr.nums, float64(v)/l.scale)
			}
			return nil
		}
	case pqFloat:
		if !lr.wantText {
			for _, v := range pageData(p).Float() {
				lr.nums = append(lr.nums, float64(v))
			}
			return nil
		}
	case pqText:
		data, offsets := pageData(p).ByteArray()
		if p.Type().Kind() == parquet.ByteArray && len(offsets) > 0 {
			for i := 0; i+1 < len(offsets); i++ {
				lr.codes = append(lr.codes, lr.text.code(trimCell(data[offsets[i]:offsets[i+1]])))
			}
			return nil
		}
	}
	// Every other case goes value by value.
	vr := p.Values()
	if cap(lr.values) < 1024 {
		lr.values = make([]parquet.Value, 1024)
	}
	for {
		k, err := vr.ReadValues(lr.values[:cap(lr.values)])
		for _, v := range lr.values[:k] {
			if v.IsNull() {
				continue
			}
			lr.value(v)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// value adds one non-null value.
func (lr *leafReader) value(v parquet.Value) {
	l := lr.l
	if l.kind == pqText {
		lr.codes = append(lr.codes, lr.text.code(trimCell(v.ByteArray())))
		return
	}
	x, text := lr.number(v)
	lr.nums = append(lr.nums, x)
	if lr.wantText {
		lr.codes = append(lr.codes, lr.text.code(text))
	}
}

// number converts a value of a numeric kind, with its text when wantText.
func (lr *leafReader) number(v parquet.Value) (float64, []byte) {
	l := lr.l
	b := lr.scratch[:0]
	var x float64
	switch l.kind {
	case pqBool:
		x = 0
		if v.Boolean() {
			x = 1
		}
		if lr.wantText {
			b = strconv.AppendBool(b, v.Boolean())
		}
	case pqInt32, pqInt64:
		i := v.Int64()
		if l.kind == pqInt32 {
			i = int64(v.Int32())
		}
		x = float64(i) / l.scale
		if lr.wantText && l.integral {
			b = strconv.AppendInt(b, i, 10)
		}
	case pqUint32, pqUint64:
		u := uint64(v.Int64())
		if l.kind == pqUint32 {
			u = uint64(uint32(v.Int32()))
		}
		x = float64(u) / l.scale
		if lr.wantText && l.integral {
			b = strconv.AppendUint(b, u, 10)
		}
	case pqFloat:
		x = float64(v.Float())
		if lr.wantText {
			b = strconv.AppendFloat(b, x, 'g', -1, 32)
		}
	case pqDouble:
		x = v.Double()
	case pqFloat16:
		x = float16(binary.LittleEndian.Uint16(v.ByteArray()))
	case pqInt96:
		x = int96Seconds(v.Int96())
	case pqDecimalBytes:
		x = decimalBytes(v.ByteArray()) / l.scale
	}
	if lr.wantText && len(b) == 0 {
		b = strconv.AppendFloat(b, x, 'g', -1, 64)
	}
	lr.scratch = b
	return x, b
}

// loadDict decodes a column chunk's dictionary once.
func (lr *leafReader) loadDict(d parquet.Dictionary) error {
	lr.dict = d
	n := d.Len()
	lr.dictNums = lr.dictNums[:0]
	lr.dictCodes = lr.dictCodes[:0]
	dp := d.Page()
	if lr.l.kind == pqText && dp.Type().Kind() == parquet.ByteArray {
		data, offsets := pageData(dp).ByteArray()
		if len(offsets) < n+1 {
			return fmt.Errorf("malformed dictionary")
		}
		for i := range n {
			lr.dictCodes = append(lr.dictCodes, lr.text.code(trimCell(data[offsets[i]:offsets[i+1]])))
		}
		return nil
	}
	for i := range n {
		v := d.Index(int32(i))
		if lr.l.kind == pqText {
			lr.dictCodes = append(lr.dictCodes, lr.text.code(trimCell(v.ByteArray())))
			continue
		}
		x, text := lr.number(v)
		lr.dictNums = append(lr.dictNums, x)
		code := int32(-1)
		if lr.wantText {
			code = lr.text.code(text)
		}
		lr.dictCodes = append(lr.dictCodes, code)
	}
	return nil
}

// float16 converts an IEEE 754 half-precision number.
func float16(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * frac * math.Pow(2, -24)
	case 0x1f:
		if frac != 0 {
			return math.NaN()
		}
		return sign * math.Inf(1)
	}
	return sign * (1 + frac/1024) * math.Pow(2, float64(exp-15))
}

// int96Seconds converts an int96 timestamp (nanoseconds of the day, then
// the Julian day) to seconds since 1970-01-01 UTC.
func int96Seconds(v deprecated.Int96) float64 {
	nanos := uint64(v[0]) | uint64(v[1])<<32
	day := int64(v[2])
	const unixEpochJulianDay = 2440588
	return float64(day-unixEpochJulianDay)*86400 + float64(nanos)/1e9
}

// decimalBytes converts a big-endian two's complement integer.
func decimalBytes(b []byte) float64 {
	if len(b) == 0 {
		return 0
	}
	neg := b[0]&0x80 != 0
	x := 0.0
	for _, c := range b {
		if neg {
			c = ^c
		}
		x = x*256 + float64(c)
	}
	if neg {
		return -(x + 1)
	}
	return x
}

// pageData returns the values of a page, addressable.
func pageData(p parquet.Page) *encoding.Values {
	d := p.Data()
	return &d
}
