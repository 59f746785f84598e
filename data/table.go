package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Table is a delimited text file held in memory as strings: the header and
// the data rows, every row as wide as the header.
type Table struct {
	// Path is the file name used in messages.
	Path string
	// Header holds the column names, trimmed of surrounding white space.
	Header []string
	// Rows holds the data rows; the cells are as written (not trimmed).
	Rows [][]string
	// Lines[i] is the 1-based line of the file on which Rows[i] starts,
	// counting the header as line 1 (or later, after leading blank lines).
	Lines []int
}

// Column returns the 0-based position of the named column, or -1.
func (t *Table) Column(name string) int {
	for i, h := range t.Header {
		if h == name {
			return i
		}
	}
	return -1
}

// ReadFile reads a CSV or TSV file with a header line, gzip-compressed or
// not. See Read for the format.
func ReadFile(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			// Keep errors.Is(err, fs.ErrNotExist) working while naming the
			// file only once.
			return nil, &Error{File: path, Err: pe.Err}
		}
		return nil, &Error{File: path, Err: err}
	}
	defer f.Close()
	return Read(f, path)
}

// gzipMagic starts every gzip stream.
var gzipMagic = []byte{0x1f, 0x8b}

// utf8BOM is the byte order mark some spreadsheet programs write first.
var utf8BOM = []byte{0xef, 0xbb, 0xbf}

// headerPeek is how much of the file is inspected to choose the delimiter.
const headerPeek = 1 << 20

// Read reads a table from r; name is used in messages and to choose the
// format.
//
// The input is gzip-compressed when it starts with the gzip magic bytes; a
// name ending in ".gz" that does not is an error. It is tab-separated when
// the name (without ".gz") ends in ".tsv" or ".tab", or when the header
// line has tabs and no commas; otherwise it is comma-separated. Quoting
// follows RFC 4180 (tab-separated files also accept bare quotes inside
// fields). A leading UTF-8 byte order mark is dropped, blank lines are
// skipped, and every row must have as many fields as the header.
//
// It is an error for the input to be empty, to have a header but no data
// row, or to repeat or leave empty a column name.
func Read(r io.Reader, name string) (*Table, error) {
	br := bufio.NewReaderSize(r, headerPeek)
	magic, _ := br.Peek(len(gzipMagic))
	base := strings.ToLower(filepath.Base(name))
	var src *bufio.Reader
	switch {
	case bytes.Equal(magic, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fileErrorf(name, 0, "reading gzip data: %v", err)
		}
		defer zr.Close()
		src = bufio.NewReaderSize(zr, headerPeek)
	case strings.HasSuffix(base, ".gz") && len(magic) > 0:
		return nil, fileErrorf(name, 0, "name ends in .gz but the content is not gzip-compressed")
	default:
		src = br
	}
	base = strings.TrimSuffix(base, ".gz")

	if bom, _ := src.Peek(len(utf8BOM)); bytes.Equal(bom, utf8BOM) {
		_, _ = src.Discard(len(utf8BOM))
	}
	head, err := src.Peek(headerPeek)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, fileErrorf(name, 0, "reading: %v", err)
	}
	if len(bytes.TrimSpace(head)) == 0 {
		return nil, fileErrorf(name, 0, "empty file (no header line)")
	}

	cr := csv.NewReader(src)
	cr.FieldsPerRecord = -1 // checked here, to report the line and counts
	if isTabSeparated(base, head) {
		cr.Comma = '\t'
		cr.LazyQuotes = true
	}

	header, err := cr.Read()
	if err != nil {
		return nil, csvError(name, err, 0)
	}
	// Blank lines before the header are skipped, so it may start after
	// line 1.
	headerLine, _ := cr.FieldPos(0)
	t := &Table{Path: name, Header: make([]string, len(header))}
	seen := make(map[string]int, len(header))
	for i, h := range header {
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, errorf(name, headerLine, "", i, "empty column name")
		}
		if j, dup := seen[h]; dup {
			return nil, errorf(name, headerLine, h, i, "duplicate column name (also column %d)", j+1)
		}
		seen[h] = i
		t.Header[i] = h
	}

	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			last := 1
			if n := len(t.Lines); n > 0 {
				last = t.Lines[n-1]
			}
			return nil, csvError(name, err, last)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != len(t.Header) {
			if len(rec) == 1 && len(t.Header) > 1 && strings.TrimSpace(rec[0]) == "" {
				continue // a line of white space only
			}
			return nil, fileErrorf(name, line, "row has %d fields, the header has %d", len(rec), len(t.Header))
		}
		t.Rows = append(t.Rows, rec)
		t.Lines = append(t.Lines, line)
	}
	if len(t.Rows) == 0 {
		return nil, fileErrorf(name, headerLine, "header but no data rows")
	}
	return t, nil
}

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

// csvError turns an error of encoding/csv (or of the stream under it) into
// an *Error that names the line; last is the last line read well (0 for
// none).
func csvError(name string, err error, last int) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		msg := fmt.Sprintf("malformed row (byte %d of the line): %v", pe.Column, pe.Err)
		if pe.StartLine != pe.Line {
			msg += fmt.Sprintf(" (the row starts on line %d)", pe.StartLine)
		}
		return &Error{File: name, Line: pe.Line, Err: errors.New(msg)}
	}
	if last > 0 {
		return fileErrorf(name, 0, "reading after line %d: %v", last, err)
	}
	return fileErrorf(name, 0, "reading: %v", err)
}
