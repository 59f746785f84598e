package data

import (
	"context"
	"fmt"
	"math"
	"strconv"
)

// ColumnWant says how a Source delivers a column in a Scan.
type ColumnWant uint8

const (
	// Skip leaves a column out: its Column in each Block is the zero
	// Column. A CSV reader does not even parse its cells.
	Skip ColumnWant = iota
	// Auto delivers numbers as float64 and, for the cells that are not
	// finite numbers, their text as codes (see Column).
	Auto
	// Text delivers every cell as trimmed text (categories, class labels,
	// groups, columns passed through to an output).
	Text
)

// String names the want as it is written in messages.
func (w ColumnWant) String() string {
	switch w {
	case Skip:
		return "skip"
	case Auto:
		return "auto"
	case Text:
		return "text"
	}
	return "ColumnWant(" + strconv.Itoa(int(w)) + ")"
}

// Block is a run of consecutive rows of a Source, column by column.
type Block struct {
	// Row is the index of the first row in the source, from 0.
	Row int64
	// N is the number of rows.
	N int
	// FirstLine is the 1-based line of the file on which the first row
	// starts, counting the header as line 1; 0 for binary sources (whose
	// errors name rows instead: "row 17").
	FirstLine int64
	// Lines holds each row's start line when the rows are not on the
	// consecutive lines FirstLine, FirstLine+1, … (a quoted field spans
	// lines, or blank lines come between rows); nil otherwise. Use Line.
	Lines []int64
	// Cols holds one Column per source column, in the order of
	// Source.Columns; the zero Column where the want was Skip.
	Cols []Column

	spare [][]int32 // code slices kept for reuse when a block is recycled
}

// Line returns the 1-based file line on which row i of the block starts,
// or 0 for a binary source.
func (b *Block) Line(i int) int64 {
	if b.Lines != nil {
		return b.Lines[i]
	}
	if b.FirstLine == 0 {
		return 0
	}
	return b.FirstLine + int64(i)
}

// Column holds the cells of one column of a Block.
//
// Cells that are not finite numbers are kept as text so that a column
// that turns out to be categorical keeps every value as a category, as the
// text reader always did: missing tokens ("", "?", "NA", "NaN"; see
// IsMissing) and non-finite numbers ("inf", "1e999") among them. When an
// Auto column holds both numbers and text, a number's original text is
// not kept: Text returns it in its shortest float64 form (strconv 'g', -1,
// but integers below 10²¹ without an exponent), so "1.50" and "1.5" become
// the same category "1.5", and "1e3" becomes "1000".
type Column struct {
	// Num (Auto only) holds each cell's value: NaN where the cell is
	// missing or text, ±Inf for a number out of range or "inf".
	Num []float64
	// Codes holds each cell's trimmed text as an index into Dict, or -1
	// where the cell is a finite number (Auto only). For Text every cell
	// has a code. For Auto, Codes is nil when every cell of the block is a
	// finite number.
	Codes []int32
	// Dict holds the distinct texts of the block, in order of first
	// appearance; it is local to the block.
	Dict []string
}

// Text returns the text of cell i: Dict[Codes[i]], or the shortest
// float64 form of Num[i] for a number of an Auto column (see formatNumber).
func (c *Column) Text(i int) string {
	if c.Codes != nil && c.Codes[i] >= 0 {
		return c.Dict[c.Codes[i]]
	}
	return formatNumber(c.Num[i])
}

// IsNumber reports whether cell i is a finite number.
func (c *Column) IsNumber(i int) bool {
	if c.Codes != nil && c.Codes[i] >= 0 {
		return false
	}
	return c.Num != nil && !math.IsNaN(c.Num[i]) && !math.IsInf(c.Num[i], 0)
}

// formatNumber is the text a number is given when its own is not kept:
// its shortest form that reads back exactly, without an exponent for an
// integer below 10²¹ in magnitude (strconv's 'g' would write 1047822 as
// "1.047822e+06", a poor name for an ID that becomes a category).
func formatNumber(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e21 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// Source is a table that can be read in blocks of rows, more than once
// unless it reads a stream (a pipe), which can be scanned once.
type Source interface {
	// Name is the path or name of the input, for messages.
	Name() string
	// Columns returns the column names (list columns expanded to
	// col[0]…col[d-1]).
	Columns() []string
	// Rows returns the number of data rows, or -1 when it is not known
	// before a full scan (CSV).
	Rows() int64
	// Scan calls fn for every block in row order (parsing ahead in
	// parallel where it can), with want[i] saying how column i is
	// delivered; len(want) must equal len(Columns()). fn owns the block
	// until it returns, and must not keep it or its slices after. Scan
	// stops at the first error of fn, of the input, or of ctx, and returns
	// it.
	Scan(ctx context.Context, want []ColumnWant, fn func(*Block) error) error
	// Close releases the input.
	Close() error
}

// checkWant panics when want does not match the columns: a programming
// error, not a condition of the data.
func checkWant(name string, cols []string, want []ColumnWant) {
	if len(want) != len(cols) {
		panic(fmt.Sprintf("data: Scan of %s with %d wants for %d columns", name, len(want), len(cols)))
	}
	for i, w := range want {
		if w > Text {
			panic(fmt.Sprintf("data: Scan of %s: column %d has want %v", name, i+1, w))
		}
	}
}

// Wants returns a want slice of n columns, all w.
func Wants(n int, w ColumnWant) []ColumnWant {
	ws := make([]ColumnWant, n)
	for i := range ws {
		ws[i] = w
	}
	return ws
}
