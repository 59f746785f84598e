package data

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// NpySource reads a 2-D float32 or float64 NumPy .npy matrix in C order
// as a table of columns PREFIX[0]…PREFIX[d-1], one row per matrix row.
// The file is memory-mapped where the system allows it and read with
// ReadAt otherwise. NaN and ±Inf values are kept as text besides their
// value, as in a CSV file (see Column).
type NpySource struct {
	name      string
	file      *os.File
	mapped    []byte // the whole file, or nil
	data      int64  // offset of the data
	rows, dim int64
	elem      int // 4 or 8 bytes
	cols      []string
	blockRows int
}

var _ PartScanner = (*NpySource)(nil)

// OpenNpy opens a .npy file. The column names are prefix[0]…prefix[d-1];
// an empty prefix means the file's base name without ".npy".
func OpenNpy(path, prefix string, blockRows int) (*NpySource, error) {
	if prefix == "" {
		prefix = strings.TrimSuffix(filepath.Base(path), ".npy")
	}
	if blockRows <= 0 {
		blockRows = 1 << 16
	}
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, &Error{File: path, Err: pe.Err}
		}
		return nil, &Error{File: path, Err: err}
	}
	s := &NpySource{name: path, file: f, blockRows: blockRows}
	if err := s.readHeader(); err != nil {
		f.Close()
		return nil, err
	}
	s.cols = make([]string, s.dim)
	for k := range s.cols {
		s.cols[k] = fmt.Sprintf("%s[%d]", prefix, k)
	}
	s.mapped = mmapFile(f, s.data+s.rows*s.dim*int64(s.elem))
	return s, nil
}

var (
	npyDescr   = regexp.MustCompile(`'descr'\s*:\s*'([^']*)'`)
	npyFortran = regexp.MustCompile(`'fortran_order'\s*:\s*(True|False)`)
	npyShape   = regexp.MustCompile(`'shape'\s*:\s*\(([^)]*)\)`)
)

// readHeader parses the header: magic, version, length and a Python dict
// literal with descr, fortran_order and shape.
func (s *NpySource) readHeader() error {
	var pre [12]byte
	n, err := s.file.ReadAt(pre[:], 0)
	if n < 10 || !bytes.HasPrefix(pre[:], npyMagic) {
		if err != nil && err != io.EOF {
			return fileErrorf(s.name, 0, "reading: %v", err)
		}
		return fileErrorf(s.name, 0, "not a NumPy .npy file (no \\x93NUMPY magic)")
	}
	major := pre[6]
	var hlen, start int64
	switch major {
	case 1:
		hlen, start = int64(binary.LittleEndian.Uint16(pre[8:10])), 10
	case 2, 3:
		if n < 12 {
			return fileErrorf(s.name, 0, "truncated .npy header")
		}
		hlen, start = int64(binary.LittleEndian.Uint32(pre[8:12])), 12
	default:
		return fileErrorf(s.name, 0, ".npy format version %d is not supported", major)
	}
	if hlen > 1<<20 {
		return fileErrorf(s.name, 0, ".npy header of %d bytes", hlen)
	}
	hb := make([]byte, hlen)
	if _, err := s.file.ReadAt(hb, start); err != nil {
		return fileErrorf(s.name, 0, "truncated .npy header")
	}
	h := string(hb)
	s.data = start + hlen
	descr := npyDescr.FindStringSubmatch(h)
	fortran := npyFortran.FindStringSubmatch(h)
	shape := npyShape.FindStringSubmatch(h)
	if descr == nil || fortran == nil || shape == nil {
		return fileErrorf(s.name, 0, "malformed .npy header %q", strings.TrimSpace(h))
	}
	switch descr[1] {
	case "<f4", "=f4":
		s.elem = 4
	case "<f8", "=f8":
		s.elem = 8
	default:
		return fileErrorf(s.name, 0, "dtype %q: only little-endian float32 (<f4) and float64 (<f8) matrices can be read", descr[1])
	}
	if fortran[1] == "True" {
		return fileErrorf(s.name, 0, "a matrix in Fortran (column-major) order: save it in C order (numpy.ascontiguousarray)")
	}
	var dims []int64
	for _, p := range strings.Split(shape[1], ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		d, err := strconv.ParseInt(p, 10, 64)
		if err != nil || d < 0 {
			return fileErrorf(s.name, 0, "malformed shape (%s)", shape[1])
		}
		dims = append(dims, d)
	}
	if len(dims) != 2 {
		return fileErrorf(s.name, 0, "a %d-D array of shape (%s): only 2-D matrices (rows × columns) can be read", len(dims), shape[1])
	}
	s.rows, s.dim = dims[0], dims[1]
	if s.dim == 0 || s.rows == 0 {
		return fileErrorf(s.name, 0, "an empty matrix of shape (%s)", shape[1])
	}
	if s.dim > 1<<20 || s.rows > math.MaxInt64/int64(s.elem)/s.dim {
		return fileErrorf(s.name, 0, "a matrix of shape (%s) is too large", shape[1])
	}
	st, err := s.file.Stat()
	if err != nil {
		return fileErrorf(s.name, 0, "%v", err)
	}
	if want := s.data + s.rows*s.dim*int64(s.elem); st.Size() < want {
		return fileErrorf(s.name, 0, "truncated: shape (%s) needs %d bytes, the file has %d", shape[1], want, st.Size())
	}
	return nil
}

// ColumnTypes returns "float32" or "float64" for every column.
func (s *NpySource) ColumnTypes() []string {
	t := "float64"
	if s.elem == 4 {
		t = "float32"
	}
	types := make([]string, len(s.cols))
	for i := range types {
		types[i] = t
	}
	return types
}

// Name returns the path given to OpenNpy.
func (s *NpySource) Name() string { return s.name }

// Columns returns PREFIX[0]…PREFIX[d-1].
func (s *NpySource) Columns() []string { return s.cols }

// Rows returns the number of matrix rows.
func (s *NpySource) Rows() int64 { return s.rows }

// Close unmaps and closes the file.
func (s *NpySource) Close() error {
	if s.mapped != nil {
		munmap(s.mapped)
		s.mapped = nil
	}
	if s.file == nil {
		return nil
	}
	err := s.file.Close()
	s.file = nil
	return err
}

// Scan delivers blocks of rows; see Source.
func (s *NpySource) Scan(ctx context.Context, want []ColumnWant, fn func(*Block) error) error {
	checkWant(s.name, s.cols, want)
	return s.scanRows(ctx, want, 0, s.rows, fn)
}

// Splittable returns nil: any row of the matrix can be read.
func (s *NpySource) Splittable() error { return nil }

// ScanPart delivers the blocks [⌊p·B/n⌋, ⌊(p+1)·B/n⌋) of the B blocks of
// Scan, with their rows in the matrix; see PartScanner.
func (s *NpySource) ScanPart(ctx context.Context, want []ColumnWant, p, n int, fn func(*Block) error) error {
	checkWant(s.name, s.cols, want)
	checkPart(s.name, p, n)
	size := int64(s.blockRows)
	blocks := (s.rows + size - 1) / size
	lo := partStart(p, n, blocks, false) * size
	hi := min(partStart(p+1, n, blocks, false)*size, s.rows)
	return s.scanRows(ctx, want, lo, hi, fn)
}

// scanRows delivers rows [from, to) in blocks of blockRows; from is a
// multiple of blockRows, so that the blocks are those of Scan.
func (s *NpySource) scanRows(ctx context.Context, want []ColumnWant, from, to int64, fn func(*Block) error) error {
	if s.file == nil {
		return fileErrorf(s.name, 0, "closed")
	}
	blk := &Block{Cols: make([]Column, s.dim)}
	var buf []byte
	for lo := from; lo < to; lo += int64(s.blockRows) {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := int(min(int64(s.blockRows), to-lo))
		raw, err := s.rawRows(lo, n, &buf)
		if err != nil {
			return err
		}
		s.fill(blk, raw, lo, n, want)
		if err := fn(blk); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// rawRows returns the bytes of rows [lo, lo+n).
func (s *NpySource) rawRows(lo int64, n int, buf *[]byte) ([]byte, error) {
	rowBytes := s.dim * int64(s.elem)
	off := s.data + lo*rowBytes
	size := int64(n) * rowBytes
	if s.mapped != nil {
		return s.mapped[off : off+size], nil
	}
	if int64(cap(*buf)) < size {
		*buf = make([]byte, size)
	}
	b := (*buf)[:size]
	if _, err := s.file.ReadAt(b, off); err != nil {
		return nil, fileErrorf(s.name, 0, "reading rows %d to %d: %v", lo+1, lo+int64(n), err)
	}
	return b, nil
}

// fill converts rows into the columns of blk.
func (s *NpySource) fill(blk *Block, raw []byte, lo int64, n int, want []ColumnWant) {
	blk.Row, blk.N = lo, n
	d := int(s.dim)
	for k := range blk.Cols {
		col := &blk.Cols[k]
		if want[k] == Skip {
			*col = Column{}
			continue
		}
		if cap(col.Num) < n {
			col.Num = make([]float64, n)
		}
		col.Num = col.Num[:n]
		col.Codes, col.Dict = nil, nil
	}
	for i := range n {
		row := raw[i*d*s.elem : (i+1)*d*s.elem]
		for k := range d {
			if want[k] == Skip {
				continue
			}
			var v float64
			if s.elem == 4 {
				v = float64(math.Float32frombits(binary.LittleEndian.Uint32(row[k*4:])))
			} else {
				v = math.Float64frombits(binary.LittleEndian.Uint64(row[k*8:]))
			}
			blk.Cols[k].Num[i] = v
		}
	}
	var text textTable
	for k := range blk.Cols {
		col := &blk.Cols[k]
		if want[k] == Skip {
			continue
		}
		text = textTable{}
		for i, v := range col.Num {
			finite := !math.IsNaN(v) && !math.IsInf(v, 0)
			if want[k] == Auto && finite && col.Codes == nil {
				continue
			}
			if col.Codes == nil {
				col.Codes = make([]int32, i, n)
				for j := range col.Codes {
					col.Codes[j] = -1
				}
			}
			code := int32(-1)
			if want[k] == Text || !finite {
				code = text.code(strconv.AppendFloat(nil, v, 'g', -1, 8*s.elem))
			}
			col.Codes = append(col.Codes, code)
		}
		col.Dict = text.dict
		if want[k] == Text {
			col.Num = nil
		}
	}
}
