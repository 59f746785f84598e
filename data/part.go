package data

import "context"

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
	ScanPart(ctx context.Context, want []ColumnWant, p, n int, fn func(*Block) error) error
}
