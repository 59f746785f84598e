package data

import (
	"context"
	"fmt"
	"math/bits"
)

// A PartScanner is a Source whose statistics pass can be shared by the
// processes of a data-parallel job: each scans one part of the rows, and
// the parts, taken in order, are exactly the rows and blocks of Scan.
type PartScanner interface {
	Source
	// Splittable says why the source cannot be scanned in parts (a
	// stream that can be read only once), or nil when it can.
	Splittable() error
	// ScanPart is Scan over part p of n (0 ≤ p < n): the blocks of Scan
	// whose rows fall in the part, in order, with the same lines. A part
	// may be empty (fn is not called). Where the source knows where the
	// part's rows are without reading the parts before it (a binary
	// file), Block.Row is the row's index in the source; in a text file,
	// whose rows are found by reading the text before them, Block.Row
	// counts from the part's first row, and the block's lines (which
	// messages name) are the file's.
	//
	// ScanPart returns the error of Splittable when there is one. It
	// panics when p or n is out of range, a programming error.
	ScanPart(ctx context.Context, want []ColumnWant, p, n int, fn func(*Block) error) error
}

// checkPart panics when p is not a part of n: a programming error, not a
// condition of the data.
func checkPart(name string, p, n int) {
	if n < 1 || p < 0 || p >= n {
		panic(fmt.Sprintf("data: ScanPart of %s: part %d of %d", name, p, n))
	}
}

// partStart returns where part p of n of total things starts, ⌊p·total/n⌋,
// without overflow; part p is [partStart(p, n, total), partStart(p+1, n,
// total)). With ceil it returns ⌈p·total/n⌉ instead, the first integer
// offset at or after the real p·total/n.
func partStart(p, n int, total int64, ceil bool) int64 {
	hi, lo := bits.Mul64(uint64(p), uint64(total))
	q, r := bits.Div64(hi, lo, uint64(n)) // p ≤ n, so the quotient fits
	if ceil && r != 0 {
		q++
	}
	return int64(q)
}

// Part returns part p of n of src as a Source of its own, for code that
// reads a Source: its Scan is ScanPart, its Rows is -1 (the part's rows
// are known once scanned) and Close leaves src open.
func Part(src PartScanner, p, n int) Source {
	checkPart(src.Name(), p, n)
	return partSource{src: src, p: p, n: n}
}

type partSource struct {
	src  PartScanner
	p, n int
}

func (s partSource) Name() string      { return s.src.Name() }
func (s partSource) Columns() []string { return s.src.Columns() }
func (s partSource) Rows() int64       { return -1 }
func (s partSource) Close() error      { return nil }
func (s partSource) Scan(ctx context.Context, want []ColumnWant, fn func(*Block) error) error {
	return s.src.ScanPart(ctx, want, s.p, s.n, fn)
}
