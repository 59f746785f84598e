package data

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// ParquetWriteOptions tunes WriteParquet. The zero value gives the
// defaults.
type ParquetWriteOptions struct {
	// RowGroupRows is the number of rows of a row group. Default 131,072.
	RowGroupRows int
	// Zstd compresses with Zstandard (its fastest level: files about a
	// quarter smaller, written more slowly) instead of Snappy.
	Zstd bool
	// Threads is the number of goroutines that encode and compress the
	// columns of a row group. Default runtime.GOMAXPROCS(0).
	Threads int
}

// parquetColKind is the Parquet type a column is written as.
type parquetColKind uint8

const (
	writeInt64 parquetColKind = iota
	writeDouble
	writeString
)

// rewinder is an output that can be truncated and written again, such as
// an *os.File.
type rewinder interface {
	io.WriteSeeker
	Truncate(size int64) error
}

// errTypeChanged says that a column's type, decided from the first rows,
// does not hold for a later row.
var errTypeChanged = errors.New("a column's type changed")

// WriteParquet writes the rows of src to w as a Parquet file. A column
// whose cells are all numbers or missing values (see IsMissing) is
// numeric: INT64 when every number is an integer of at most 2⁵³ in
// magnitude, DOUBLE otherwise, with missing values as nulls. Any other
// column is written as dictionary-encoded strings, every text as the
// source gives it as text (a "?" stays "?", which is also what a null
// reads back as). The file is compressed with Snappy (or Zstandard) in
// row groups; the columns of a row group are encoded and compressed in
// parallel while the next row group is read.
//
// When w can be rewound (an *os.File) the types are decided from the
// first row group and the file is written in one more pass over src; if
// a later row contradicts them (a text in a numeric column, a fraction in
// an integer one), w is truncated and written again with the types of a
// whole first pass, which is what other writers always take.
func WriteParquet(ctx context.Context, w io.Writer, src Source, opts ParquetWriteOptions) error {
	if opts.RowGroupRows <= 0 {
		opts.RowGroupRows = 1 << 17
	}
	if opts.Threads <= 0 {
		opts.Threads = runtime.GOMAXPROCS(0)
	}
	if rw, ok := w.(rewinder); ok {
		if start, err := rw.Seek(0, io.SeekCurrent); err == nil {
			types, err := parquetTypes(ctx, src, int64(opts.RowGroupRows))
			if err != nil {
				return err
			}
			err = writeParquet(ctx, w, src, types, opts)
			if !errors.Is(err, errTypeChanged) {
				return err
			}
			if err := rw.Truncate(start); err != nil {
				return fileErrorf(src.Name(), 0, "writing Parquet again: %v", err)
			}
			if _, err := rw.Seek(start, io.SeekStart); err != nil {
				return fileErrorf(src.Name(), 0, "writing Parquet again: %v", err)
			}
		}
	}
	types, err := parquetTypes(ctx, src, -1)
	if err != nil {
		return err
	}
	err = writeParquet(ctx, w, src, types, opts)
	if errors.Is(err, errTypeChanged) {
		return fileErrorf(src.Name(), 0, "the input changed while it was written as Parquet")
	}
	return err
}

// pqColType is the type decided for a column, and whether it is only a
// guess because its rows so far held no value at all.
type pqColType struct {
	kind  parquetColKind
	empty bool
}

// parquetTypes decides the column types from the first limit rows (all
// rows when limit < 0).
func parquetTypes(ctx context.Context, src Source, limit int64) ([]pqColType, error) {
	n := len(src.Columns())
	text := make([]bool, n)
	numbers := make([]bool, n)
	fraction := make([]bool, n)
	var cells cellCache
	var rows int64
	err := src.Scan(ctx, Wants(n, Auto), func(b *Block) error {
		m := b.N
		if limit >= 0 {
			m = int(min(int64(m), limit-rows))
		}
		for c := range b.Cols {
			if text[c] {
				continue
			}
			col := &b.Cols[c]
			if col.Codes != nil {
				cells.of(col)
			}
			for i, v := range col.Num[:m] {
				if col.Codes != nil && col.Codes[i] >= 0 {
					k := col.Codes[i]
					switch cells.kind[k] {
					case cellMissing:
						continue
					case cellText:
						text[c] = true
					case cellNonFinite:
						numbers[c], fraction[c] = true, true
						continue
					}
					if text[c] {
						break
					}
					v = cells.value[k]
				}
				numbers[c] = true
				if v != math.Trunc(v) || math.Abs(v) >= 1<<53 {
					fraction[c] = true
				}
			}
		}
		rows += int64(m)
		if limit >= 0 && rows >= limit {
			return ErrStop
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	types := make([]pqColType, n)
	for c := range types {
		switch {
		case text[c]:
			types[c].kind = writeString
		case !numbers[c]:
			types[c] = pqColType{kind: writeString, empty: limit >= 0}
		case fraction[c]:
			types[c].kind = writeDouble
		default:
			types[c].kind = writeInt64
		}
	}
	return types, nil
}

// pqColumn holds the values of one column of a row group.
type pqColumn struct {
	kind    parquetColKind
	present []bool // numeric: one per row
	nulls   int
	ints    []int64
	floats  []float64
	// Strings: the row group's dictionary and each row's index.
	dict      map[string]int32
	dictVals  []string
	dictBytes int
	idx       []int32
}

func (c *pqColumn) reset() {
	c.present, c.ints, c.floats, c.idx = c.present[:0], c.ints[:0], c.floats[:0], c.idx[:0]
	c.nulls, c.dictBytes = 0, 0
	clear(c.dict)
	c.dictVals = c.dictVals[:0]
}

// pqGroupBuf is a row group being filled or written.
type pqGroupBuf struct {
	cols []pqColumn
	rows int
}

// pqChunk is a column chunk encoded and compressed, ready to be written.
type pqChunk struct {
	bytes         []byte
	dictLen       int // bytes of the dictionary page (header included), 0 for none
	uncompressed  int64
	nulls         int64
	values        int64
	encodings     []format.Encoding
	err           error
	scratch, comp []byte
}

// writeParquet writes src with the given types; it returns errTypeChanged
// (with nothing useful written) when a row does not fit them.
func writeParquet(ctx context.Context, w io.Writer, src Source, types []pqColType, opts ParquetWriteOptions) error {
	names := src.Columns()
	want := make([]ColumnWant, len(names))
	for c, t := range types {
		want[c] = Auto
		if t.kind == writeString {
			want[c] = Text
		}
	}
	fw := &pqFileWriter{w: w, types: types, names: names, opts: opts}
	if err := fw.start(); err != nil {
		return err
	}
	bufs := make(chan *pqGroupBuf, 2)
	for range 2 {
		g := &pqGroupBuf{cols: make([]pqColumn, len(types))}
		for c := range g.cols {
			g.cols[c].kind = types[c].kind
			g.cols[c].dict = map[string]int32{}
		}
		bufs <- g
	}
	// One goroutine writes full row groups while the scan fills the next.
	full := make(chan *pqGroupBuf, 1)
	var mu sync.Mutex
	var werr error
	writeErr := func() error {
		mu.Lock()
		defer mu.Unlock()
		return werr
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for g := range full {
			if writeErr() == nil {
				err := fw.writeGroup(g)
				mu.Lock()
				werr = err
				mu.Unlock()
			}
			g.rows = 0
			for c := range g.cols {
				g.cols[c].reset()
			}
			bufs <- g
		}
	}()
	cur := <-bufs
	var cells cellCache
	var ids []int32
	err := src.Scan(ctx, want, func(b *Block) error {
		for lo := 0; lo < b.N; {
			hi := min(b.N, lo+opts.RowGroupRows-cur.rows)
			for c := range cur.cols {
				col := &b.Cols[c]
				pc := &cur.cols[c]
				if pc.kind == writeString {
					if types[c].empty && hasValue(col, lo, hi) {
						return errTypeChanged
					}
					if cap(ids) < len(col.Dict) {
						ids = make([]int32, len(col.Dict))
					}
					ids = ids[:len(col.Dict)]
					for k := range ids {
						ids[k] = -1
					}
					for _, k := range col.Codes[lo:hi] {
						if ids[k] < 0 {
							ids[k] = pc.code(col.Dict[k])
						}
						pc.idx = append(pc.idx, ids[k])
					}
					continue
				}
				if col.Codes != nil {
					cells.of(col)
				}
				for i := lo; i < hi; i++ {
					v := col.Num[i]
					if col.Codes != nil && col.Codes[i] >= 0 {
						k := col.Codes[i]
						switch cells.kind[k] {
						case cellMissing:
							pc.present = append(pc.present, false)
							pc.nulls++
							continue
						case cellText:
							return errTypeChanged
						}
						if cells.kind[k] == cellNumber {
							v = cells.value[k]
						}
					}
					pc.present = append(pc.present, true)
					if pc.kind == writeDouble {
						pc.floats = append(pc.floats, v)
						continue
					}
					if v != math.Trunc(v) || math.Abs(v) >= 1<<53 {
						return errTypeChanged
					}
					pc.ints = append(pc.ints, int64(v))
				}
			}
			cur.rows += hi - lo
			lo = hi
			if cur.rows == opts.RowGroupRows {
				if err := writeErr(); err != nil {
					return err
				}
				full <- cur
				cur = <-bufs
			}
		}
		return nil
	})
	if err == nil && cur.rows > 0 {
		full <- cur
	}
	close(full)
	wg.Wait()
	if err != nil {
		return err
	}
	if err := writeErr(); err != nil {
		return err
	}
	return fw.finish()
}

// hasValue reports whether a text column has a cell that is not missing
// in rows [lo, hi).
func hasValue(col *Column, lo, hi int) bool {
	for _, k := range col.Codes[lo:hi] {
		if !IsMissing(col.Dict[k]) {
			return true
		}
	}
	return false
}

// code returns the index of text v in the column's dictionary.
func (c *pqColumn) code(v string) int32 {
	if k, ok := c.dict[v]; ok {
		return k
	}
	k := int32(len(c.dictVals))
	c.dict[v] = k
	c.dictVals = append(c.dictVals, v)
	c.dictBytes += 4 + len(v)
	return k
}

// pqFileWriter writes the pages and the footer of a Parquet file.
type pqFileWriter struct {
	w      io.Writer
	types  []pqColType
	names  []string
	opts   ParquetWriteOptions
	offset int64
	groups []format.RowGroup
	rows   int64
	chunks []pqChunk
	zstd   []*zstd.Encoder
}

func (fw *pqFileWriter) write(b []byte) error {
	n, err := fw.w.Write(b)
	fw.offset += int64(n)
	return err
}

func (fw *pqFileWriter) start() error {
	fw.chunks = make([]pqChunk, len(fw.types))
	return fw.write([]byte("PAR1"))
}

func (fw *pqFileWriter) codec() format.CompressionCodec {
	if fw.opts.Zstd {
		return format.Zstd
	}
	return format.Snappy
}

// writeGroup encodes the columns of a row group in parallel and writes
// them in order.
func (fw *pqFileWriter) writeGroup(g *pqGroupBuf) error {
	threads := min(fw.opts.Threads, len(g.cols))
	if fw.opts.Zstd {
		for len(fw.zstd) < threads {
			enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
			if err != nil {
				return err
			}
			fw.zstd = append(fw.zstd, enc)
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for t := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var enc *zstd.Encoder
			if fw.opts.Zstd {
				enc = fw.zstd[t]
			}
			for {
				c := int(next.Add(1) - 1)
				if c >= len(g.cols) {
					return
				}
				fw.chunks[c].encode(&g.cols[c], g.rows, enc)
			}
		}()
	}
	wg.Wait()
	rg := format.RowGroup{NumRows: int64(g.rows), FileOffset: fw.offset}
	for c := range g.cols {
		ch := &fw.chunks[c]
		if ch.err != nil {
			return fmt.Errorf("column %q: encoding a Parquet page: %w", fw.names[c], ch.err)
		}
		start := fw.offset
		if err := fw.write(ch.bytes); err != nil {
			return err
		}
		md := format.ColumnMetaData{
			Type:                  fw.physical(c),
			Encoding:              thrift.Slice[format.Encoding](ch.encodings),
			PathInSchema:          thrift.Slice[string]{fw.names[c]},
			Codec:                 fw.codec(),
			NumValues:             ch.values,
			TotalUncompressedSize: ch.uncompressed,
			TotalCompressedSize:   int64(len(ch.bytes)),
			DataPageOffset:        start + int64(ch.dictLen),
			Statistics:            format.Statistics{NullCount: ch.nulls},
		}
		if ch.dictLen > 0 {
			md.DictionaryPageOffset = start
		}
		rg.Columns = append(rg.Columns, format.ColumnChunk{FileOffset: start, MetaData: md})
		rg.TotalByteSize += ch.uncompressed
		rg.TotalCompressedSize += int64(len(ch.bytes))
	}
	fw.groups = append(fw.groups, rg)
	fw.rows += int64(g.rows)
	return nil
}

func (fw *pqFileWriter) physical(c int) format.Type {
	switch fw.types[c].kind {
	case writeInt64:
		return format.Int64
	case writeDouble:
		return format.Double
	}
	return format.ByteArray
}

// finish writes the footer.
func (fw *pqFileWriter) finish() error {
	schema := []format.SchemaElement{{Name: "table", NumChildren: thrift.New(int32(len(fw.names)))}}
	for c, name := range fw.names {
		e := format.SchemaElement{Name: name, Type: thrift.New(fw.physical(c)), RepetitionType: thrift.New(format.Optional)}
		if fw.types[c].kind == writeString {
			e.RepetitionType = thrift.New(format.Required)
			e.ConvertedType = thrift.New(deprecated.UTF8)
			e.LogicalType = format.LogicalType{Value: &format.StringType{}}
		}
		schema = append(schema, e)
	}
	md := format.FileMetaData{Version: 1, Schema: schema, NumRows: fw.rows, RowGroups: fw.groups, CreatedBy: "mtl-gpu"}
	b, err := thrift.Marshal(new(thrift.CompactProtocol), &md)
	if err != nil {
		return err
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(b)))
	b = append(b, "PAR1"...)
	return fw.write(b)
}

// encode makes the pages of one column chunk: for strings a dictionary
// page and a data page of RLE_DICTIONARY indices, for numbers a data page
// of definition levels and PLAIN values; every page body compressed.
func (ch *pqChunk) encode(c *pqColumn, rows int, enc *zstd.Encoder) {
	ch.bytes, ch.err = ch.bytes[:0], nil
	ch.dictLen, ch.uncompressed, ch.values, ch.nulls = 0, 0, int64(rows), int64(c.nulls)
	body := ch.scratch[:0]
	if c.kind == writeString {
		for _, v := range c.dictVals {
			body = binary.LittleEndian.AppendUint32(body, uint32(len(v)))
			body = append(body, v...)
		}
		ch.page(format.PageHeader{Type: format.DictionaryPage, DictionaryPageHeader: thrift.New(format.DictionaryPageHeader{
			NumValues: int32(len(c.dictVals)), Encoding: format.Plain})}, body, enc)
		ch.dictLen = len(ch.bytes)
		width := max(1, bits.Len32(uint32(max(len(c.dictVals)-1, 0))))
		body = append(body[:0], byte(width))
		body = appendBitPacked(body, c.idx, width)
		ch.page(format.PageHeader{Type: format.DataPage, DataPageHeader: thrift.New(format.DataPageHeader{
			NumValues: int32(rows), Encoding: format.RLEDictionary, DefinitionLevelEncoding: format.RLE,
			RepetitionLevelEncoding: format.RLE, Statistics: format.Statistics{NullCount: 0}})}, body, enc)
		ch.encodings = []format.Encoding{format.Plain, format.RLE, format.RLEDictionary}
	} else {
		body = append(body, 0, 0, 0, 0)
		body = appendLevels(body, c.present)
		binary.LittleEndian.PutUint32(body, uint32(len(body)-4))
		if c.kind == writeInt64 {
			for _, v := range c.ints {
				body = binary.LittleEndian.AppendUint64(body, uint64(v))
			}
		} else {
			for _, v := range c.floats {
				body = binary.LittleEndian.AppendUint64(body, math.Float64bits(v))
			}
		}
		ch.page(format.PageHeader{Type: format.DataPage, DataPageHeader: thrift.New(format.DataPageHeader{
			NumValues: int32(rows), Encoding: format.Plain, DefinitionLevelEncoding: format.RLE,
			RepetitionLevelEncoding: format.RLE, Statistics: format.Statistics{NullCount: int64(c.nulls)}})}, body, enc)
		ch.encodings = []format.Encoding{format.Plain, format.RLE}
	}
	ch.scratch = body
}

// page appends a page: its header, then its body compressed.
func (ch *pqChunk) page(h format.PageHeader, body []byte, enc *zstd.Encoder) {
	if enc != nil {
		ch.comp = enc.EncodeAll(body, ch.comp[:0])
	} else {
		ch.comp = s2.EncodeSnappy(ch.comp[:cap(ch.comp)], body)
	}
	h.UncompressedPageSize = int32(len(body))
	h.CompressedPageSize = int32(len(ch.comp))
	head, err := thrift.Marshal(new(thrift.CompactProtocol), &h)
	if err != nil {
		ch.err = err
		return
	}
	ch.bytes = append(ch.bytes, head...)
	ch.bytes = append(ch.bytes, ch.comp...)
	ch.uncompressed += int64(len(head) + len(body))
}

// appendLevels appends definition levels of bit width 1 in the RLE /
// bit-packing hybrid encoding: runs of 8 or more equal levels as RLE
// runs, the rest bit-packed in groups of 8.
func appendLevels(b []byte, present []bool) []byte {
	n := len(present)
	for i := 0; i < n; {
		// A run of equal levels long enough to pay for an RLE header,
		// starting at a multiple of 8 so that packed groups stay aligned.
		j := i
		for j < n && present[j] == present[i] {
			j++
		}
		if j-i >= 8 {
			b = binary.AppendUvarint(b, uint64(j-i)<<1)
			if present[i] {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
			i = j
			continue
		}
		// Bit-pack groups of 8 until a long run starts at a group edge.
		start := i
		for i < n {
			end := min(i+8, n)
			k := i
			for k < n && present[k] == present[i] {
				k++
			}
			if k-i >= 8 && i > start {
				break
			}
			i = end
		}
		groups := (i - start + 7) / 8
		b = binary.AppendUvarint(b, uint64(groups)<<1|1)
		for g := range groups {
			var x byte
			for bit := range 8 {
				if r := start + 8*g + bit; r < i && present[r] {
					x |= 1 << bit
				}
			}
			b = append(b, x)
		}
	}
	return b
}

// appendBitPacked appends values of the given bit width as one bit-packed
// run of the RLE / bit-packing hybrid encoding (groups of 8 values, the
// last padded with zeros).
func appendBitPacked(b []byte, values []int32, width int) []byte {
	if len(values) == 0 {
		return b
	}
	groups := (len(values) + 7) / 8
	b = binary.AppendUvarint(b, uint64(groups)<<1|1)
	var acc uint64
	nbits := 0
	for i := range groups * 8 {
		var v uint64
		if i < len(values) {
			v = uint64(uint32(values[i]))
		}
		acc |= v << nbits
		nbits += width
		for nbits >= 8 {
			b = append(b, byte(acc))
			acc >>= 8
			nbits -= 8
		}
	}
	if nbits > 0 {
		b = append(b, byte(acc))
	}
	return b
}
