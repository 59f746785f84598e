package data

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// CSVOptions tunes a CSV reader. The zero value gives the defaults.
type CSVOptions struct {
	// ChunkSize is the number of bytes of text in a block: a block ends
	// with the row that crosses ChunkSize bytes from its start. Blocks do
	// not depend on Threads. Default 4 MiB.
	ChunkSize int
	// MaxRowBytes bounds the length of a row (with its quoted newlines);
	// a longer one is an error that names its line. Default 16 MiB.
	MaxRowBytes int
	// Threads is the number of goroutines that parse blocks, besides the
	// one that reads and splits the text. Default runtime.GOMAXPROCS(0).
	Threads int
}

const (
	defaultChunkSize   = 4 << 20
	defaultMaxRowBytes = 16 << 20
)

func (o CSVOptions) withDefaults() CSVOptions {
	if o.ChunkSize <= 0 {
		o.ChunkSize = defaultChunkSize
	}
	if o.MaxRowBytes <= 0 {
		o.MaxRowBytes = defaultMaxRowBytes
	}
	if o.Threads <= 0 {
		o.Threads = runtime.GOMAXPROCS(0)
	}
	return o
}

// csvFormat is what the first bytes of a text file decide.
type csvFormat struct {
	delim byte
	lazy  bool // bare quotes are text (tab-separated files)
	crEOL bool // lines end in a lone CR (old Mac files)
}

// CSVSource reads a delimited text file with a header line in blocks, in
// parallel. It follows the format of Read: gzip by magic bytes (a ".gz"
// name without them is an error), tab-separated by name or by a header
// with tabs and no commas, RFC 4180 quoting (bare quotes accepted in
// tab-separated files), a leading byte order mark dropped, blank and
// white-space-only lines skipped, every row as wide as the header.
// Besides, a header with neither commas nor tabs but semicolons or
// vertical bars chooses that delimiter, and a file whose lines end in a
// lone carriage return is read line by line.
//
// The text is cut into chunks of CSVOptions.ChunkSize bytes at row ends
// (outside quoted fields) by one goroutine, while others parse the chunks
// into blocks; the blocks are the same whatever the number of threads.
type CSVSource struct {
	name   string
	opts   CSVOptions
	header []string
	format csvFormat
	hdrEnd int64 // line of the last line of the header row
	gzip   bool  // the text is gzip-compressed

	file    *os.File // nil when reading an io.Reader
	pending *csvStream
	scanned bool // a scan started: a stream cannot be read again

	mu   sync.Mutex
	rows int64 // -1 until a scan has read every row
}

var _ PartScanner = (*CSVSource)(nil)

// csvStream is decompressed text positioned after the header row.
type csvStream struct {
	r       io.Reader
	pending []byte // text read after the header row
	line    int64  // line of the first byte of pending
	start   int64  // bytes of text before pending: BOM, blank lines, header
	closer  io.Closer
}

// OpenCSV opens a CSV or TSV file (plain or gzip) and reads its header.
func OpenCSV(path string, opts CSVOptions) (*CSVSource, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, &Error{File: path, Err: pe.Err}
		}
		return nil, &Error{File: path, Err: err}
	}
	s, err := newCSVSource(f, path, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	s.file = f
	return s, nil
}

// NewCSVReader reads a CSV or TSV stream (plain or gzip) from r, which
// can be scanned once; name is used in messages and to choose the format
// as in Read.
func NewCSVReader(r io.Reader, name string, opts CSVOptions) (*CSVSource, error) {
	return newCSVSource(r, name, opts)
}

func newCSVSource(r io.Reader, name string, opts CSVOptions) (*CSVSource, error) {
	s := &CSVSource{name: name, opts: opts.withDefaults(), rows: -1}
	header, format, hdrEnd, st, err := openCSVStream(r, name, s.opts)
	if err != nil {
		return nil, err
	}
	s.header, s.format, s.hdrEnd, s.pending = header, format, hdrEnd, st
	s.gzip = st.closer != nil
	return s, nil
}

// Name returns the file name given to OpenCSV or NewCSVReader.
func (s *CSVSource) Name() string { return s.name }

// Columns returns the header, trimmed.
func (s *CSVSource) Columns() []string { return s.header }

// Delimiter returns the field delimiter chosen for the file.
func (s *CSVSource) Delimiter() byte { return s.format.delim }

// Rows returns the number of data rows once a scan has read them all,
// and -1 before.
func (s *CSVSource) Rows() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rows
}

// Close closes the file.
func (s *CSVSource) Close() error {
	if s.pending != nil && s.pending.closer != nil {
		s.pending.closer.Close()
	}
	s.pending = nil
	if s.file != nil {
		err := s.file.Close()
		s.file = nil
		return err
	}
	return nil
}

// stream returns the text after the header for a new scan.
func (s *CSVSource) stream() (*csvStream, error) {
	if s.pending != nil {
		st := s.pending
		s.pending = nil
		s.scanned = true
		return st, nil
	}
	if s.file == nil {
		if s.scanned {
			return nil, fileErrorf(s.name, 0, "a stream (pipe) can be read only once")
		}
		return nil, fileErrorf(s.name, 0, "closed")
	}
	if st, err := s.file.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fileErrorf(s.name, 0, "not a regular file (a pipe?): it can be read only once")
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return nil, fileErrorf(s.name, 0, "rewinding: %v", err)
	}
	header, format, _, st, err := openCSVStream(s.file, s.name, s.opts)
	if err != nil {
		return nil, err
	}
	if format != s.format || !equalStrings(header, s.header) {
		if st.closer != nil {
			st.closer.Close()
		}
		return nil, fileErrorf(s.name, 1, "the header changed since the file was opened")
	}
	return st, nil
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// npyMagic starts every NumPy .npy file; parquetMagic every Parquet file.
var (
	npyMagic     = []byte("\x93NUMPY")
	parquetMagic = []byte("PAR1")
)

// openCSVStream decides the format of a text file from its first bytes
// and reads its header row.
func openCSVStream(raw io.Reader, name string, opts CSVOptions) (header []string, format csvFormat, hdrEnd int64, st *csvStream, err error) {
	br := bufio.NewReaderSize(raw, 64<<10)
	magic, _ := br.Peek(len(npyMagic))
	base := strings.ToLower(filepath.Base(name))
	st = &csvStream{}
	var text io.Reader
	switch {
	case bytes.HasPrefix(magic, npyMagic):
		return nil, format, 0, nil, fileErrorf(name, 0, "a NumPy .npy file, not delimited text: read it as NumPy")
	case bytes.HasPrefix(magic, parquetMagic):
		return nil, format, 0, nil, fileErrorf(name, 0, "a Parquet file, not delimited text: read it as Parquet")
	case bytes.HasPrefix(magic, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, format, 0, nil, fileErrorf(name, 0, "reading gzip data: %v", err)
		}
		st.closer = zr
		text = zr
	case strings.HasSuffix(base, ".gz") && len(magic) > 0:
		return nil, format, 0, nil, fileErrorf(name, 0, "name ends in .gz but the content is not gzip-compressed")
	default:
		text = br
	}
	fail := func(e error) ([]string, csvFormat, int64, *csvStream, error) {
		if st.closer != nil {
			st.closer.Close()
		}
		return nil, csvFormat{}, 0, nil, e
	}
	base = strings.TrimSuffix(base, ".gz")

	// The text read with the header is the start of the first chunk:
	// reading much more than a chunk would make every chunk carry the
	// rest. The first line is read whole (up to headerPeek) to choose the
	// delimiter.
	peek := min(headerPeek, max(opts.ChunkSize, 64<<10))
	buf := make([]byte, 0, peek+64<<10)
	buf, eof, rerr := readAtLeast(text, buf, peek)
	for rerr == nil && !eof && len(buf) < headerPeek && bytes.IndexAny(buf, "\r\n") < 0 {
		buf, eof, rerr = readAtLeast(text, buf, min(2*len(buf), headerPeek))
	}
	if rerr != nil {
		return fail(fileErrorf(name, 0, "reading: %v", rerr))
	}
	if bytes.HasPrefix(buf, utf8BOM) {
		buf = buf[len(utf8BOM):]
		st.start = int64(len(utf8BOM))
	}
	if len(bytes.TrimSpace(buf)) == 0 && eof {
		return fail(fileErrorf(name, 0, "empty file (no header line)"))
	}

	// A lone CR as the first line end marks a file of old Mac line ends:
	// its CRs are read as newlines.
	if i := bytes.IndexAny(buf, "\r\n"); i >= 0 && buf[i] == '\r' && i+1 < len(buf) && buf[i+1] != '\n' {
		format.crEOL = true
		crToLF(buf)
		text = crReader{text}
	}

	// Blank lines before the header are skipped, as encoding/csv does.
	line := int64(1)
	p := 0
	for {
		switch {
		case p < len(buf) && buf[p] == '\n':
			p++
			line++
			continue
		case p+1 < len(buf) && buf[p] == '\r' && buf[p+1] == '\n':
			p += 2
			line++
			continue
		}
		break
	}
	buf = buf[p:]
	first := buf
	if i := bytes.IndexByte(buf, '\n'); i >= 0 {
		first = buf[:i]
	}
	format.delim = ','
	switch {
	case isTabSeparated(base, first):
		format.delim, format.lazy = '\t', true
	case bytes.IndexByte(first, ',') < 0:
		if semi, bar := bytes.Count(first, []byte{';'}), bytes.Count(first, []byte{'|'}); semi > 0 || bar > 0 {
			format.delim = ';'
			if bar > semi {
				format.delim = '|'
			}
		}
	}

	// Find the end of the header row, reading on if it is long.
	var end int
	for {
		end, _ = findRowEnd(buf, 0, format)
		if end >= 0 || eof {
			break
		}
		if len(buf) > opts.MaxRowBytes {
			return fail(rowTooLong(name, line, opts.MaxRowBytes))
		}
		buf, eof, rerr = readAtLeast(text, buf, 2*len(buf))
		if rerr != nil {
			return fail(fileErrorf(name, 0, "reading: %v", rerr))
		}
	}
	if end < 0 {
		end = len(buf)
	}
	if end > opts.MaxRowBytes {
		return fail(rowTooLong(name, line, opts.MaxRowBytes))
	}
	var p2 csvParser
	p2.init(name, format, nil, opts.MaxRowBytes)
	fields, _, perr := p2.record(buf[:end], 0, line)
	if perr != nil {
		return fail(perr)
	}
	lines := int64(bytes.Count(buf[:end], []byte{'\n'}))
	header = make([]string, len(fields))
	seen := make(map[string]int, len(fields))
	for i, f := range fields {
		h := strings.TrimSpace(string(f))
		if h == "" {
			return fail(errorf(name, int(line), "", i, "empty column name"))
		}
		if j, dup := seen[h]; dup {
			return fail(errorf(name, int(line), h, i, "duplicate column name (also column %d)", j+1))
		}
		seen[h] = i
		header[i] = h
	}
	st.r = text
	st.pending = buf[end:]
	st.line = line + lines
	st.start += int64(p + end)
	if eof {
		st.r = nil
	}
	return header, format, line, st, nil
}

// rowTooLong is the error for a row past CSVOptions.MaxRowBytes.
func rowTooLong(name string, line int64, limit int) error {
	return fileErrorf(name, int(line), "a row longer than %d bytes (not a text table, or a quote never closed?)", limit)
}

// readAtLeast reads from r onto buf until it holds n bytes or r ends. It
// reads no more than n: a buffer recycled with a larger capacity would
// otherwise fill up, and what a chunk leaves over is carried into the
// next, so that chunks, and the buffers in flight, would grow well past
// the chunk size.
func readAtLeast(r io.Reader, buf []byte, n int) ([]byte, bool, error) {
	if r == nil {
		return buf, true, nil
	}
	if cap(buf) < n {
		nb := make([]byte, len(buf), n+n/4)
		copy(nb, buf)
		buf = nb
	}
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		k, err := r.Read(buf[len(buf):max(min(cap(buf), n), len(buf)+1)])
		buf = buf[:len(buf)+k]
		if err == io.EOF {
			return buf, true, nil
		}
		if err != nil {
			return buf, false, err
		}
	}
	return buf, false, nil
}

// crReader turns every CR into a newline.
type crReader struct{ r io.Reader }

func (c crReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	crToLF(p[:n])
	return n, err
}

func crToLF(b []byte) {
	for {
		i := bytes.IndexByte(b, '\r')
		if i < 0 {
			return
		}
		b[i] = '\n'
		b = b[i+1:]
	}
}

// findRowEnd returns the index just past the first newline at or after
// target that ends a row, with the quoting rules of encoding/csv, for b
// starting at a row start; -1 when b holds none (read on, or at the end of
// the input take all of b). rowStart is where the row that is open at
// target begins (for messages about long rows).
//
// Without quotes in b this is two vectorised byte searches. With quotes
// it walks from quoted field to quoted field: a quote opens a field only
// at a field start (after a delimiter or a newline); inside, `""` is a
// quote, and a quote followed by a delimiter or a line end closes it; any
// other quote is text in lazy mode and an error otherwise, which the
// parser reports (the walk then reads on as if the field had closed: the
// chunks after an error are never used).
func findRowEnd(b []byte, target int, f csvFormat) (end, rowStart int) {
	pos := 0
	for {
		q := nextOpeningQuote(b, pos, f.delim)
		lim := len(b)
		if q >= 0 {
			lim = q
		}
		if pos < min(lim, target) {
			if k := bytes.LastIndexByte(b[pos:min(lim, target)], '\n'); k >= 0 {
				rowStart = pos + k + 1
			}
		}
		if from := max(pos, target); from < lim {
			if i := bytes.IndexByte(b[from:lim], '\n'); i >= 0 {
				return from + i + 1, rowStart
			}
		}
		if q < 0 {
			return -1, rowStart
		}
		// Skip the quoted field that opens at q.
		i := q + 1
	field:
		for {
			j := bytes.IndexByte(b[i:], '"')
			if j < 0 || i+j+1 >= len(b) {
				return -1, rowStart
			}
			k := i + j
			switch c := b[k+1]; {
			case c == '"':
				i = k + 2
			case c == f.delim:
				pos = k + 2
				break field
			case c == '\n' || (c == '\r' && k+2 < len(b) && b[k+2] == '\n'):
				e := k + 2
				if c == '\r' {
					e++
				}
				if e-1 >= target {
					return e, rowStart
				}
				pos, rowStart = e, e
				break field
			case c == '\r' && k+2 >= len(b):
				return -1, rowStart
			case f.lazy:
				i = k + 1
			default:
				pos = k + 1
				break field
			}
		}
	}
}

// nextOpeningQuote returns the index of the first quote at or after pos
// that starts a field (at 0, or after a delimiter or a newline), or -1.
func nextOpeningQuote(b []byte, pos int, delim byte) int {
	for pos < len(b) {
		j := bytes.IndexByte(b[pos:], '"')
		if j < 0 {
			return -1
		}
		q := pos + j
		if q == 0 || b[q-1] == delim || b[q-1] == '\n' {
			return q
		}
		pos = q + 1
	}
	return -1
}

// ErrStop may be returned by a Scan callback to end the scan early
// without an error: Scan then returns nil.
var ErrStop = errors.New("stop scanning")

// Scan reads the file in blocks; see Source.
func (s *CSVSource) Scan(ctx context.Context, want []ColumnWant, fn func(*Block) error) error {
	checkWant(s.name, s.header, want)
	st, err := s.stream()
	if err != nil {
		return err
	}
	if st.closer != nil {
		defer st.closer.Close()
	}
	rows, err := scanCSV(ctx, s.name, s.format, s.header, s.opts, st, allChunks, want, fn)
	if errors.Is(err, ErrStop) {
		return nil
	}
	if err != nil {
		return err
	}
	if rows == 0 {
		return fileErrorf(s.name, int(s.hdrEnd), "header but no data rows")
	}
	s.mu.Lock()
	s.rows = rows
	s.mu.Unlock()
	return nil
}

// Splittable says why the file cannot be scanned in parts, or nil. A
// stream or a pipe can be read only once. A gzip file is not cut into
// parts either: the text of a part is found only by decompressing all the
// text before it, and the size of the text, which places the parts, only
// by decompressing it all, so every process would decompress the whole
// file up to twice, while decompressing it once, on one goroutine,
// already bounds how fast a Scan of it runs.
func (s *CSVSource) Splittable() error {
	_, err := s.fileSize()
	return err
}

// fileSize returns the size of a file that can be scanned in parts, or
// the error of Splittable.
func (s *CSVSource) fileSize() (int64, error) {
	switch {
	case s.file == nil && (s.pending != nil || s.scanned):
		return 0, fileErrorf(s.name, 0, "a stream (pipe) can be read only once, not in parts")
	case s.file == nil:
		return 0, fileErrorf(s.name, 0, "closed")
	case s.gzip:
		return 0, fileErrorf(s.name, 0, "gzip-compressed text cannot be read in parts without decompressing it whole; decompress it (or convert it to Parquet) to share its reading between processes")
	}
	st, err := s.file.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return 0, fileErrorf(s.name, 0, "not a regular file (a pipe?): it can be read only once, not in parts")
	}
	return st.Size(), nil
}

// ScanPart scans part p of n of the file; see PartScanner. The S bytes
// of text after the header row are cut into chunks as Scan cuts them, by
// one walk from the start of the text that counts their lines; part p
// parses the chunks that start at an offset in [p·S/n, (p+1)·S/n) of that
// text, and reads no further. Block.Row counts from the part's first row.
// The errors of the walk before the part (a row too long) are the
// file's, and returned too. Unlike Scan, a part without rows is no error,
// and the scan does not tell Rows the number of rows.
func (s *CSVSource) ScanPart(ctx context.Context, want []ColumnWant, p, n int, fn func(*Block) error) error {
	checkWant(s.name, s.header, want)
	checkPart(s.name, p, n)
	size, err := s.fileSize()
	if err != nil {
		return err
	}
	st, err := s.stream()
	if err != nil {
		return err
	}
	if st.closer != nil {
		defer st.closer.Close()
	}
	size = max(size-st.start, 0)
	part := chunkRange{from: partStart(p, n, size, true), to: partStart(p+1, n, size, true)}
	_, err = scanCSV(ctx, s.name, s.format, s.header, s.opts, st, part, want, fn)
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// chunkRange selects the chunks of a scan that are parsed: those whose
// first byte lies at an offset in [from, to) of the text after the header
// row. The chunks before are cut, to count their lines, but not parsed;
// the text after the last is not read.
type chunkRange struct{ from, to int64 }

// allChunks selects every chunk.
var allChunks = chunkRange{0, math.MaxInt64}

// csvJob is one chunk of text on its way to a block.
type csvJob struct {
	text      []byte
	firstLine int64
	blk       *Block
	err       error
	done      chan struct{}
}

// scanCSV runs the pipeline: one goroutine cuts the text into chunks,
// opts.Threads goroutines parse those in part, and the caller's goroutine
// hands the blocks to fn in order. It returns the number of rows
// delivered.
func scanCSV(ctx context.Context, name string, format csvFormat, header []string, opts CSVOptions,
	st *csvStream, part chunkRange, want []ColumnWant, fn func(*Block) error) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	threads := opts.Threads
	jobs := make(chan *csvJob, threads)
	order := make(chan *csvJob, threads+2)
	// Buffers of text and blocks are recycled: at most cap(order) +
	// threads + 2 of each exist at once.
	textPool := make(chan []byte, cap(order)+threads+2)
	blockPool := make(chan *Block, cap(order)+threads+2)
	var wg sync.WaitGroup

	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(order)
		defer close(jobs)
		ch := chunker{r: st.r, buf: st.pending, line: st.line, format: format, opts: opts, name: name, pool: textPool}
		for ch.off < part.to {
			off := ch.off
			text, line, err := ch.next()
			if err == io.EOF {
				return
			}
			if err == nil && off < part.from {
				select {
				case textPool <- text[:0]:
				default:
				}
				if ctx.Err() != nil {
					return
				}
				continue
			}
			j := &csvJob{text: text, firstLine: line, err: err, done: make(chan struct{})}
			if err != nil {
				close(j.done)
			}
			select {
			case order <- j:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var p csvParser
			p.init(name, format, want, opts.MaxRowBytes)
			for j := range jobs {
				var blk *Block
				select {
				case blk = <-blockPool:
				default:
					blk = &Block{}
				}
				j.err = p.parse(j.text, j.firstLine, blk)
				j.blk = blk
				select {
				case textPool <- j.text[:0]:
				default:
				}
				j.text = nil
				close(j.done)
			}
		}()
	}

	finish := func(err error) (int64, error) {
		cancel()
		for range order {
		}
		wg.Wait()
		return 0, err
	}
	var rows int64
	for j := range order {
		select {
		case <-j.done:
		case <-ctx.Done():
			return finish(ctx.Err())
		}
		if j.err != nil {
			return finish(j.err)
		}
		if j.blk.N == 0 {
			continue
		}
		j.blk.Row = rows
		rows += int64(j.blk.N)
		if err := fn(j.blk); err != nil {
			_, err = finish(err)
			return rows, err
		}
		select {
		case blockPool <- j.blk:
		default:
		}
		if err := ctx.Err(); err != nil {
			return finish(err)
		}
	}
	wg.Wait()
	return rows, ctx.Err()
}

// chunker cuts text into chunks of whole rows.
type chunker struct {
	r      io.Reader // nil once it has ended
	buf    []byte    // text read and not yet handed out
	line   int64     // line of buf[0]
	off    int64     // offset of buf[0] in the text after the header row
	format csvFormat
	opts   CSVOptions
	name   string
	pool   chan []byte
}

// next returns the next chunk and the line of its first byte, or io.EOF.
func (c *chunker) next() ([]byte, int64, error) {
	size := c.opts.ChunkSize
	var chunk []byte
	select {
	case chunk = <-c.pool:
	default:
		chunk = make([]byte, 0, size+size/4)
	}
	chunk = append(chunk[:0], c.buf...)
	eof := c.r == nil
	var err error
	if !eof {
		chunk, eof, err = readAtLeast(c.r, chunk, size)
		if err != nil {
			return nil, 0, fileErrorf(c.name, 0, "reading after line %d: %v", c.line, err)
		}
	}
	for {
		end, rowStart := findRowEnd(chunk, min(size, len(chunk)), c.format)
		if end >= 0 {
			if end-rowStart > c.opts.MaxRowBytes {
				return nil, 0, rowTooLong(c.name, c.line+int64(bytes.Count(chunk[:rowStart], []byte{'\n'})), c.opts.MaxRowBytes)
			}
			return c.cut(chunk, end, eof), c.advance(chunk, end), nil
		}
		if eof {
			if len(chunk) == 0 {
				return nil, 0, io.EOF
			}
			if len(chunk)-rowStart > c.opts.MaxRowBytes {
				return nil, 0, rowTooLong(c.name, c.line+int64(bytes.Count(chunk[:rowStart], []byte{'\n'})), c.opts.MaxRowBytes)
			}
			return c.cut(chunk, len(chunk), true), c.advance(chunk, len(chunk)), nil
		}
		if len(chunk)-rowStart > c.opts.MaxRowBytes {
			return nil, 0, rowTooLong(c.name, c.line+int64(bytes.Count(chunk[:rowStart], []byte{'\n'})), c.opts.MaxRowBytes)
		}
		chunk, eof, err = readAtLeast(c.r, chunk, len(chunk)+max(size, len(chunk)/2))
		if err != nil {
			return nil, 0, fileErrorf(c.name, 0, "reading after line %d: %v", c.line, err)
		}
	}
}

// cut keeps the text after end for the next chunk and returns the chunk.
func (c *chunker) cut(chunk []byte, end int, eof bool) []byte {
	c.buf = append(c.buf[:0], chunk[end:]...)
	c.off += int64(end)
	if eof {
		c.r = nil
	}
	return chunk[:end]
}

// advance counts the lines of the chunk and returns the chunk's first line.
func (c *chunker) advance(chunk []byte, end int) int64 {
	first := c.line
	c.line += int64(bytes.Count(chunk[:end], []byte{'\n'}))
	return first
}

// gzipMagic starts every gzip stream.
var gzipMagic = []byte{0x1f, 0x8b}

// utf8BOM is the byte order mark some spreadsheet programs write first.
var utf8BOM = []byte{0xef, 0xbb, 0xbf}

// headerPeek is how much of the file is inspected to choose the delimiter.
const headerPeek = 1 << 20

// isTabSeparated decides the delimiter from the file name and the first
// line.
func isTabSeparated(base string, head []byte) bool {
	if strings.HasSuffix(base, ".tsv") || strings.HasSuffix(base, ".tab") {
		return true
	}
	first := head
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		first = head[:i]
	}
	return bytes.IndexByte(first, '\t') >= 0 && bytes.IndexByte(first, ',') < 0
}
