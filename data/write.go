package data

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"reflect"

	"github.com/parquet-go/parquet-go"
)

// ParquetWriteOptions tunes WriteParquet. The zero value gives the
// defaults.
type ParquetWriteOptions struct {
	// RowGroupRows is the number of rows of a row group. Default 131,072.
	RowGroupRows int
	// Snappy compresses with Snappy instead of Zstandard.
	Snappy bool
}

// parquetColKind is the Parquet type a column is written as.
type parquetColKind uint8

const (
	writeInt64 parquetColKind = iota
	writeDouble
	writeString
)

// WriteParquet writes the rows of src to w as a Parquet file, in two
// scans: the first decides each column's type, the second writes. A
// column whose cells are all numbers or missing values (see IsMissing) is
// numeric: INT64 when every number is an integer of at most 2⁵³ in
// magnitude, DOUBLE otherwise, with missing values as nulls. Any other
// column is written as dictionary-encoded strings, every text as it is
// (a "?" stays "?", which is also what a null reads back as). The file
// is compressed with Zstandard (or Snappy) in row groups.
func WriteParquet(ctx context.Context, w io.Writer, src Source, opts ParquetWriteOptions) error {
	if opts.RowGroupRows <= 0 {
		opts.RowGroupRows = 1 << 17
	}
	cols := src.Columns()
	kinds := make([]parquetColKind, len(cols))
	numbers := make([]bool, len(cols))
	want := Wants(len(cols), Auto)
	err := src.Scan(ctx, want, func(b *Block) error {
		for c := range b.Cols {
			if kinds[c] == writeString {
				continue
			}
			col := &b.Cols[c]
			for i, v := range col.Num {
				if col.Codes != nil && col.Codes[i] >= 0 {
					if math.IsInf(v, 0) {
						kinds[c] = writeDouble
						numbers[c] = true
						continue
					}
					if !IsMissing(col.Dict[col.Codes[i]]) {
						kinds[c] = writeString
						break
					}
					continue
				}
				numbers[c] = true
				if kinds[c] == writeInt64 && (v != math.Trunc(v) || math.Abs(v) >= 1<<53) {
					kinds[c] = writeDouble
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	group := orderedGroup{Group: parquet.Group{}, names: cols}
	for c, name := range cols {
		if !numbers[c] {
			kinds[c] = writeString
		}
		var node parquet.Node
		switch kinds[c] {
		case writeInt64:
			node = parquet.Optional(parquet.Int(64))
		case writeDouble:
			node = parquet.Optional(parquet.Leaf(parquet.DoubleType))
		default:
			node = parquet.Encoded(parquet.String(), &parquet.RLEDictionary)
		}
		group.Group[name] = node
	}
	codec := parquet.Compression(&parquet.Zstd)
	if opts.Snappy {
		codec = parquet.Compression(&parquet.Snappy)
	}
	pw := parquet.NewWriter(w, parquet.NewSchema("table", group), codec, parquet.MaxRowsPerRowGroup(int64(opts.RowGroupRows)))
	values := make([]parquet.Value, 0, 1<<16)
	inGroup := 0
	err = src.Scan(ctx, want, func(b *Block) error {
		for lo := 0; lo < b.N; {
			hi := min(b.N, lo+opts.RowGroupRows-inGroup)
			writers := pw.ColumnWriters()
			for c := range b.Cols {
				col := &b.Cols[c]
				values = values[:0]
				for i := lo; i < hi; i++ {
					values = append(values, cellValue(kinds[c], col, i).Level(0, levelOf(kinds[c], col, i), c))
				}
				if _, err := writers[c].WriteRowValues(values); err != nil {
					return err
				}
			}
			inGroup += hi - lo
			lo = hi
			if inGroup == opts.RowGroupRows {
				if err := pw.Flush(); err != nil {
					return err
				}
				inGroup = 0
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := pw.Close(); err != nil {
		return fileErrorf(src.Name(), 0, "writing Parquet: %v", err)
	}
	return nil
}

// cellValue is the Parquet value of cell i.
func cellValue(kind parquetColKind, col *Column, i int) parquet.Value {
	switch kind {
	case writeString:
		return parquet.ByteArrayValue([]byte(col.Text(i)))
	case writeInt64:
		if col.IsNumber(i) {
			return parquet.Int64Value(int64(col.Num[i]))
		}
	case writeDouble:
		if v := col.Num[i]; !math.IsNaN(v) {
			return parquet.DoubleValue(v)
		}
	}
	return parquet.Value{}
}

// levelOf is the definition level of cell i: 0 for a null.
func levelOf(kind parquetColKind, col *Column, i int) int {
	switch kind {
	case writeString:
		return 0
	case writeInt64:
		if col.IsNumber(i) {
			return 1
		}
		return 0
	}
	if math.IsNaN(col.Num[i]) {
		return 0
	}
	return 1
}

// orderedGroup is a Parquet group whose fields keep the order of the
// source's columns (parquet.Group sorts them by name).
type orderedGroup struct {
	parquet.Group
	names []string
}

// Fields returns the fields in the order of names.
func (g orderedGroup) Fields() []parquet.Field {
	fields := make([]parquet.Field, len(g.names))
	for i, n := range g.names {
		fields[i] = &namedField{Node: g.Group[n], name: n}
	}
	return fields
}

// namedField is a field of an orderedGroup.
type namedField struct {
	parquet.Node
	name string
}

// Name returns the field's name.
func (f *namedField) Name() string { return f.name }

// Value is not used: the writer is given columns, never Go values.
func (f *namedField) Value(reflect.Value) reflect.Value { return reflect.Value{} }

// WriteCSV writes the rows of src to w as CSV with a header line: each
// cell as its text (see Column.Text), numbers in their shortest form.
func WriteCSV(ctx context.Context, w io.Writer, src Source) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(src.Columns()); err != nil {
		return err
	}
	rec := make([]string, len(src.Columns()))
	err := src.Scan(ctx, Wants(len(rec), Auto), func(b *Block) error {
		for i := range b.N {
			for c := range rec {
				rec[c] = b.Cols[c].Text(i)
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("writing CSV: %w", err)
	}
	return nil
}
