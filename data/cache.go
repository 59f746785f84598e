package data

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"slices"
)

// The block cache is a file of our own that holds the blocks of a scan as
// they were delivered, so that later passes over a text file never parse
// it again. All numbers are little-endian:
//
//	header  "MTLGPUCB", version uint32 (1), columns uint32,
//	        per column: name (uint32 length, bytes), want uint8
//	blocks  per block: row int64, n uint32, first line int64,
//	        lines flag uint8 (then n × int64), then per column that is
//	        not skipped: flags uint8 (1 Num, 2 Codes), n × float64,
//	        n × int32, dictionary (uint32 count, then each text as
//	        uint32 length and bytes)
//	index   per block: offset int64, length int64, CRC-32 (IEEE) uint32
//	footer  blocks uint32, index offset int64, header length int64,
//	        "MTLGPUCE"
//
// A file that does not end with the footer (a writer that died) or whose
// block does not match its checksum is refused.
const (
	cacheMagic    = "MTLGPUCB"
	cacheEndMagic = "MTLGPUCE"
	cacheVersion  = 1
	cacheFooter   = 4 + 8 + 8 + 8
)

// CacheWriter writes the blocks of a scan to a cache file.
type CacheWriter struct {
	path   string
	f      *os.File
	w      *bufio.Writer
	want   []ColumnWant
	offset int64
	head   int64
	index  []cacheEntry
	buf    []byte
	err    error
}

type cacheEntry struct {
	offset, length int64
	crc            uint32
}

// NewCacheWriter creates a cache file for blocks of the given columns,
// delivered with the given wants.
func NewCacheWriter(path string, columns []string, want []ColumnWant) (*CacheWriter, error) {
	checkWant(path, columns, want)
	f, err := os.Create(path)
	if err != nil {
		return nil, &Error{File: path, Err: err}
	}
	c := &CacheWriter{path: path, f: f, w: bufio.NewWriterSize(f, 1<<20), want: want}
	b := append([]byte(cacheMagic), 0, 0, 0, 0, 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[8:], cacheVersion)
	binary.LittleEndian.PutUint32(b[12:], uint32(len(columns)))
	for i, name := range columns {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(name)))
		b = append(b, name...)
		b = append(b, byte(want[i]))
	}
	if _, err := c.w.Write(b); err != nil {
		f.Close()
		return nil, &Error{File: path, Err: err}
	}
	c.offset = int64(len(b))
	c.head = c.offset
	return c, nil
}

// Write appends a block; it must have been delivered with the writer's
// wants.
func (c *CacheWriter) Write(blk *Block) error {
	if c.err != nil {
		return c.err
	}
	b := c.buf[:0]
	b = binary.LittleEndian.AppendUint64(b, uint64(blk.Row))
	b = binary.LittleEndian.AppendUint32(b, uint32(blk.N))
	b = binary.LittleEndian.AppendUint64(b, uint64(blk.FirstLine))
	if blk.Lines != nil {
		b = append(b, 1)
		for _, l := range blk.Lines[:blk.N] {
			b = binary.LittleEndian.AppendUint64(b, uint64(l))
		}
	} else {
		b = append(b, 0)
	}
	for k, w := range c.want {
		if w == Skip {
			continue
		}
		col := &blk.Cols[k]
		var flags byte
		if col.Num != nil {
			flags |= 1
		}
		if col.Codes != nil {
			flags |= 2
		}
		b = append(b, flags)
		if col.Num != nil {
			for _, v := range col.Num[:blk.N] {
				b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
			}
		}
		if col.Codes != nil {
			for _, x := range col.Codes[:blk.N] {
				b = binary.LittleEndian.AppendUint32(b, uint32(x))
			}
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(len(col.Dict)))
		for _, s := range col.Dict {
			b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
			b = append(b, s...)
		}
	}
	c.buf = b
	if _, err := c.w.Write(b); err != nil {
		c.err = &Error{File: c.path, Err: err}
		return c.err
	}
	c.index = append(c.index, cacheEntry{offset: c.offset, length: int64(len(b)), crc: crc32.ChecksumIEEE(b)})
	c.offset += int64(len(b))
	return nil
}

// Close writes the index and closes the file.
func (c *CacheWriter) Close() error {
	if c.f == nil {
		return c.err
	}
	defer func() { c.f = nil }()
	if c.err != nil {
		c.f.Close()
		return c.err
	}
	var b []byte
	for _, e := range c.index {
		b = binary.LittleEndian.AppendUint64(b, uint64(e.offset))
		b = binary.LittleEndian.AppendUint64(b, uint64(e.length))
		b = binary.LittleEndian.AppendUint32(b, e.crc)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(c.index)))
	b = binary.LittleEndian.AppendUint64(b, uint64(c.offset))
	b = binary.LittleEndian.AppendUint64(b, uint64(c.head))
	b = append(b, cacheEndMagic...)
	_, err := c.w.Write(b)
	if err == nil {
		err = c.w.Flush()
	}
	if cerr := c.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &Error{File: c.path, Err: err}
	}
	return nil
}

// WriteCache scans src once, writing its blocks to a cache file at path
// while passing each to fn (which may be nil).
func WriteCache(ctx context.Context, path string, src Source, want []ColumnWant, fn func(*Block) error) error {
	c, err := NewCacheWriter(path, src.Columns(), want)
	if err != nil {
		return err
	}
	err = src.Scan(ctx, want, func(b *Block) error {
		if err := c.Write(b); err != nil {
			return err
		}
		if fn != nil {
			return fn(b)
		}
		return nil
	})
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// CacheSource reads a cache file: as a Source, and block by block in any
// order.
type CacheSource struct {
	name  string
	f     *os.File
	cols  []string
	want  []ColumnWant
	index []cacheEntry
	rows  int64
	nrows []int // per block

	// Of the caches of parts read as one (OpenCacheParts), nil else:
	parts []*CacheSource // in part order
	from  []int          // each part's first block
	part  []int          // each block's part
	row   []int64        // each block's first row
}

var _ PartScanner = (*CacheSource)(nil)

// OpenCache opens a cache file written by CacheWriter.
func OpenCache(path string) (*CacheSource, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, &Error{File: path, Err: pe.Err}
		}
		return nil, &Error{File: path, Err: err}
	}
	s := &CacheSource{name: path, f: f}
	if err := s.readIndex(); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

func (s *CacheSource) readIndex() error {
	bad := func(why string) error { return fileErrorf(s.name, 0, "not a complete block cache (%s)", why) }
	st, err := s.f.Stat()
	if err != nil {
		return fileErrorf(s.name, 0, "%v", err)
	}
	size := st.Size()
	if size < 16+cacheFooter {
		return bad("too short")
	}
	head := make([]byte, 16)
	if _, err := s.f.ReadAt(head, 0); err != nil || string(head[:8]) != cacheMagic {
		return bad("no magic")
	}
	if v := binary.LittleEndian.Uint32(head[8:]); v != cacheVersion {
		return fileErrorf(s.name, 0, "block cache version %d, this reader knows %d", v, cacheVersion)
	}
	foot := make([]byte, cacheFooter)
	if _, err := s.f.ReadAt(foot, size-cacheFooter); err != nil || string(foot[20:]) != cacheEndMagic {
		return bad("truncated: no end marker")
	}
	nblocks := int64(binary.LittleEndian.Uint32(foot))
	indexAt := int64(binary.LittleEndian.Uint64(foot[4:]))
	headLen := int64(binary.LittleEndian.Uint64(foot[12:]))
	if indexAt < 16 || headLen < 16 || headLen > indexAt || indexAt+nblocks*20 != size-cacheFooter {
		return bad("inconsistent footer")
	}
	hb := make([]byte, headLen)
	if _, err := s.f.ReadAt(hb, 0); err != nil {
		return bad("short header")
	}
	ncols := int(binary.LittleEndian.Uint32(hb[12:]))
	p := 16
	for range ncols {
		if p+4 > len(hb) {
			return bad("short header")
		}
		l := int(binary.LittleEndian.Uint32(hb[p:]))
		p += 4
		if l < 0 || p+l+1 > len(hb) {
			return bad("short header")
		}
		s.cols = append(s.cols, string(hb[p:p+l]))
		w := ColumnWant(hb[p+l])
		if w > Text {
			return bad("unknown want")
		}
		s.want = append(s.want, w)
		p += l + 1
	}
	ib := make([]byte, nblocks*20)
	if _, err := s.f.ReadAt(ib, indexAt); err != nil {
		return bad("short index")
	}
	for i := range int(nblocks) {
		e := cacheEntry{
			offset: int64(binary.LittleEndian.Uint64(ib[20*i:])),
			length: int64(binary.LittleEndian.Uint64(ib[20*i+8:])),
			crc:    binary.LittleEndian.Uint32(ib[20*i+16:]),
		}
		if e.offset < headLen || e.length < 21 || e.offset+e.length > indexAt {
			return bad("index out of range")
		}
		s.index = append(s.index, e)
	}
	for i := range s.index {
		b := make([]byte, 12)
		if _, err := s.f.ReadAt(b, s.index[i].offset); err != nil {
			return bad("short block")
		}
		n := int(binary.LittleEndian.Uint32(b[8:]))
		s.rows += int64(n)
		s.nrows = append(s.nrows, n)
	}
	return nil
}

// Name returns the cache file's path.
func (s *CacheSource) Name() string { return s.name }

// Columns returns the columns of the cached source.
func (s *CacheSource) Columns() []string { return s.cols }

// Wants returns the wants the blocks were cached with; a column can be
// read with its own want or Skip.
func (s *CacheSource) Wants() []ColumnWant { return s.want }

// Rows returns the number of cached rows.
func (s *CacheSource) Rows() int64 { return s.rows }

// Blocks returns the number of cached blocks.
func (s *CacheSource) Blocks() int { return len(s.index) }

// BlockRows returns the number of rows of block i (from 0).
func (s *CacheSource) BlockRows(i int) int { return s.nrows[i] }

// Close closes the file.
func (s *CacheSource) Close() error {
	if s.parts != nil {
		var errs []error
		for _, p := range s.parts {
			errs = append(errs, p.Close())
		}
		s.parts, s.f = nil, nil
		return errors.Join(errs...)
	}
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// Scan delivers the cached blocks in order; see Source.
func (s *CacheSource) Scan(ctx context.Context, want []ColumnWant, fn func(*Block) error) error {
	checkWant(s.name, s.cols, want)
	return s.scanBlocks(ctx, want, 0, len(s.index), fn)
}

// Splittable returns nil: any block of a cache can be read.
func (s *CacheSource) Splittable() error { return nil }

// ScanPart delivers blocks [⌊p·B/n⌋, ⌊(p+1)·B/n⌋) of the B cached blocks,
// with their rows and lines as Scan gives them; see PartScanner.
func (s *CacheSource) ScanPart(ctx context.Context, want []ColumnWant, p, n int, fn func(*Block) error) error {
	checkWant(s.name, s.cols, want)
	checkPart(s.name, p, n)
	b := int64(len(s.index))
	return s.scanBlocks(ctx, want, int(partStart(p, n, b, false)), int(partStart(p+1, n, b, false)), fn)
}

// scanBlocks delivers blocks [lo, hi) in order.
func (s *CacheSource) scanBlocks(ctx context.Context, want []ColumnWant, lo, hi int, fn func(*Block) error) error {
	if s.f == nil {
		return fileErrorf(s.name, 0, "closed")
	}
	for i := lo; i < hi; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := s.ReadBlock(i, want)
		if err != nil {
			return err
		}
		if err := fn(b); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// ReadBlock reads block i (from 0) with the given wants: each column's
// cached want, or Skip.
func (s *CacheSource) ReadBlock(i int, want []ColumnWant) (*Block, error) {
	checkWant(s.name, s.cols, want)
	for k, w := range want {
		if w != Skip && w != s.want[k] {
			return nil, errorf(s.name, 0, s.cols[k], k, "cached as %v, asked for as %v", s.want[k], w)
		}
	}
	if s.f == nil {
		return nil, fileErrorf(s.name, 0, "closed")
	}
	if i < 0 || i >= len(s.index) {
		panic(fmt.Sprintf("data: block %d of a cache of %d", i, len(s.index)))
	}
	if s.parts != nil {
		k := s.part[i]
		blk, err := s.parts[k].ReadBlock(i-s.from[k], want)
		if err != nil {
			return nil, err
		}
		blk.Row = s.row[i]
		return blk, nil
	}
	e := s.index[i]
	b := make([]byte, e.length)
	if _, err := s.f.ReadAt(b, e.offset); err != nil {
		return nil, fileErrorf(s.name, 0, "reading block %d: %v", i+1, err)
	}
	if crc32.ChecksumIEEE(b) != e.crc {
		return nil, fileErrorf(s.name, 0, "block %d is corrupt (checksum mismatch)", i+1)
	}
	blk, err := decodeCacheBlock(b, s.want, want)
	if err != nil {
		return nil, fileErrorf(s.name, 0, "block %d: %v", i+1, err)
	}
	return blk, nil
}

// decodeCacheBlock parses one block record.
func decodeCacheBlock(b []byte, cached, want []ColumnWant) (*Block, error) {
	r := cacheReader{b: b}
	blk := &Block{Cols: make([]Column, len(cached))}
	blk.Row = int64(r.u64())
	n := int(r.u32())
	blk.N = n
	blk.FirstLine = int64(r.u64())
	if n < 0 || n > len(b) {
		return nil, errors.New("bad row count")
	}
	if r.u8() == 1 {
		blk.Lines = make([]int64, n)
		for i := range blk.Lines {
			blk.Lines[i] = int64(r.u64())
		}
	}
	for k, w := range cached {
		if w == Skip {
			continue
		}
		flags := r.u8()
		var col Column
		if flags&1 != 0 {
			col.Num = make([]float64, n)
			for i := range col.Num {
				col.Num[i] = math.Float64frombits(r.u64())
			}
		}
		if flags&2 != 0 {
			col.Codes = make([]int32, n)
			for i := range col.Codes {
				col.Codes[i] = int32(r.u32())
			}
		}
		nd := int(r.u32())
		if nd < 0 || nd > len(b) {
			return nil, errors.New("bad dictionary")
		}
		col.Dict = make([]string, nd)
		for j := range col.Dict {
			col.Dict[j] = r.str()
		}
		if r.err {
			return nil, errors.New("truncated block")
		}
		for _, c := range col.Codes {
			if c < -1 || int(c) >= nd {
				return nil, errors.New("code out of range")
			}
		}
		if want[k] != Skip {
			blk.Cols[k] = col
		}
	}
	if r.err || r.p != len(b) {
		return nil, errors.New("malformed block")
	}
	return blk, nil
}

// cacheReader reads little-endian fields, noting a short buffer.
type cacheReader struct {
	b   []byte
	p   int
	err bool
}

func (r *cacheReader) take(n int) []byte {
	if r.err || n < 0 || r.p+n > len(r.b) {
		r.err = true
		return make([]byte, 8) // enough for any fixed-size field; texts read empty
	}
	x := r.b[r.p : r.p+n]
	r.p += n
	return x
}
func (r *cacheReader) u8() byte    { return r.take(1)[0] }
func (r *cacheReader) u32() uint32 { return binary.LittleEndian.Uint32(r.take(4)) }
func (r *cacheReader) u64() uint64 { return binary.LittleEndian.Uint64(r.take(8)) }
func (r *cacheReader) str() string {
	n := int(r.u32())
	b := r.take(n)
	if r.err {
		return ""
	}
	return string(b)
}

// OpenCacheParts opens the caches that the parts of a scan (ScanPart)
// were written to, given in part order, as one cache: its blocks are the
// parts' blocks in order, their rows counted across the parts (a text
// file's part counts its rows from its own first row). Errors name the
// part's file. One path is OpenCache.
func OpenCacheParts(paths []string) (*CacheSource, error) {
	if len(paths) == 1 {
		return OpenCache(paths[0])
	}
	all := &CacheSource{}
	for k, path := range paths {
		c, err := OpenCache(path)
		if err != nil {
			all.Close()
			return nil, err
		}
		all.parts = append(all.parts, c)
		all.from = append(all.from, len(all.index))
		if k == 0 {
			all.name, all.f, all.cols, all.want = c.name, c.f, c.cols, c.want
		} else if !slices.Equal(c.cols, all.cols) || !slices.Equal(c.want, all.want) {
			all.Close()
			return nil, fileErrorf(path, 0, "not a part of the cache of %s: other columns, or columns read otherwise", paths[0])
		}
		for b, e := range c.index {
			all.index = append(all.index, e)
			all.nrows = append(all.nrows, c.nrows[b])
			all.part = append(all.part, k)
			all.row = append(all.row, all.rows)
			all.rows += int64(c.nrows[b])
		}
	}
	return all, nil
}
