package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/mtl-gpu/mtl-gpu/data"
)

// FeatureFile is a NumPy matrix (.npy, float32 or float64, rows ×
// columns) whose rows are joined one to one to the rows of a data file:
// its columns are the inputs PREFIX[0] … PREFIX[d−1].
type FeatureFile struct {
	Path   string `json:"path"`
	Prefix string `json:"prefix"`
}

// ParseFeatureFile reads FILE.npy[:PREFIX]. The prefix, read from the
// right so that the path may hold ':', defaults to the file's base name
// without ".npy".
func ParseFeatureFile(s string) (FeatureFile, error) {
	path, prefix := s, ""
	if i := strings.LastIndexByte(s, ':'); i >= 0 && !strings.ContainsAny(s[i+1:], `/\`) {
		path, prefix = s[:i], strings.TrimSpace(s[i+1:])
		if prefix == "" {
			return FeatureFile{}, optionErrorf("features", s, "empty prefix after ':' (want FILE.npy or FILE.npy:PREFIX)")
		}
	}
	if path == "" {
		return FeatureFile{}, optionErrorf("features", s, "no file (want FILE.npy or FILE.npy:PREFIX)")
	}
	if prefix == "" {
		prefix = strings.TrimSuffix(filepath.Base(path), ".npy")
	}
	if strings.ContainsAny(prefix, "[]") {
		return FeatureFile{}, optionErrorf("features", s, "prefix %q holds a bracket; its columns are named PREFIX[0], PREFIX[1], …", prefix)
	}
	return FeatureFile{Path: path, Prefix: prefix}, nil
}

// String writes the feature file as ParseFeatureFile reads it.
func (f FeatureFile) String() string { return f.Path + ":" + f.Prefix }

// DataInput is a data file to read: CSV or TSV (plain or gzip), or
// Parquet (by its name or its first bytes), with NumPy feature files
// joined to it row by row.
type DataInput struct {
	Path     string
	Features []FeatureFile
	// MaxRowBytes bounds a row of a text file, quoted newlines included
	// (0: the reader's default, 16 MiB).
	MaxRowBytes int
	// ChunkSize is the bytes of text in a block of a text file (0: 1 MiB).
	// A streamed run's blocks are made of these chunks.
	ChunkSize int
}

// parquetMagic starts (and ends) every Parquet file.
var parquetMagic = []byte("PAR1")

// isParquet reports whether a file is Parquet: by its name, or by the
// first four bytes of a regular file (those of a pipe would be lost to
// its reader).
func isParquet(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".parquet", ".pq":
		return true
	}
	if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [4]byte
	n, _ := io.ReadFull(f, magic[:])
	return n == 4 && bytes.Equal(magic[:], parquetMagic)
}

// textChunk is the bytes of text in a block of a text file, and
// parquetBlock the rows of a block of a Parquet file. A few blocks are in
// flight at once, per thread, whatever the file's size: smaller than the
// readers' defaults, they keep that memory small beside the encoded data
// (a variable, so that tests can make it smaller still).
var (
	textChunk    = 1 << 20
	parquetBlock = 1 << 14
)

// openFile opens a data file as a source, by its format, a text file in
// chunks of chunk bytes (0: textChunk).
func openFile(path string, maxRowBytes, chunk int) (data.Source, error) {
	if isParquet(path) {
		return data.OpenParquet(path, data.ParquetOptions{BlockRows: parquetBlock})
	}
	if chunk <= 0 {
		chunk = textChunk
	}
	return data.OpenCSV(path, data.CSVOptions{MaxRowBytes: maxRowBytes, ChunkSize: chunk})
}

// open opens the data file and its feature files, joined. A feature file
// whose row count differs from the data's is an error that names both.
func (in DataInput) open() (data.Source, error) {
	src, err := openFile(in.Path, in.MaxRowBytes, in.ChunkSize)
	if err != nil {
		return nil, err
	}
	return joinFeatures(src, in.Features)
}

// joinFeatures joins feature files to a source; it closes src on error.
func joinFeatures(src data.Source, features []FeatureFile) (data.Source, error) {
	if len(features) == 0 {
		return src, nil
	}
	extra := make([]data.Source, 0, len(features))
	closeAll := func() {
		src.Close()
		for _, e := range extra {
			e.Close()
		}
	}
	for _, f := range features {
		npy, err := data.OpenNpy(f.Path, f.Prefix, 0)
		if err != nil {
			closeAll()
			return nil, err
		}
		extra = append(extra, npy)
	}
	j, err := data.Join(src, extra...)
	if err != nil {
		closeAll()
		return nil, err
	}
	return j, nil
}

// reopenSource is a source read afresh for every scan from a function
// that opens it (the built-in data, a stream held in memory).
type reopenSource struct {
	name string
	cols []string
	open func() (data.Source, error)

	mu   sync.Mutex
	rows int64
}

var _ data.Source = (*reopenSource)(nil)

func newReopenSource(open func() (data.Source, error)) (*reopenSource, error) {
	s, err := open()
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return &reopenSource{name: s.Name(), cols: s.Columns(), open: open, rows: s.Rows()}, nil
}

func (s *reopenSource) Name() string      { return s.name }
func (s *reopenSource) Columns() []string { return s.cols }
func (s *reopenSource) Close() error      { return nil }

func (s *reopenSource) Rows() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rows
}

func (s *reopenSource) Scan(ctx context.Context, want []data.ColumnWant, fn func(*data.Block) error) error {
	src, err := s.open()
	if err != nil {
		return err
	}
	defer src.Close()
	if err := src.Scan(ctx, want, fn); err != nil {
		return err
	}
	if n := src.Rows(); n >= 0 {
		s.mu.Lock()
		s.rows = n
		s.mu.Unlock()
	}
	return nil
}

// countRows returns the number of rows of a source, scanning it (no
// column parsed) when it does not know.
func countRows(ctx context.Context, src data.Source) (int64, error) {
	if n := src.Rows(); n >= 0 {
		return n, nil
	}
	var n int64
	err := src.Scan(ctx, data.Wants(len(src.Columns()), data.Skip), func(b *data.Block) error {
		n += int64(b.N)
		return nil
	})
	return n, err
}

// columnIndex returns the position of a column of a source, or -1.
func columnIndex(src data.Source, name string) int {
	for i, c := range src.Columns() {
		if c == name {
			return i
		}
	}
	return -1
}

// scanTexts calls fn with the trimmed text of the named columns of every
// row, in row order; a column missing from the source is an error that
// names it as role.
func scanTexts(ctx context.Context, src data.Source, names, roles []string, fn func(row int64, texts []string)) error {
	want := make([]data.ColumnWant, len(src.Columns()))
	cols := make([]int, len(names))
	for i, name := range names {
		c := columnIndex(src, name)
		if c < 0 {
			return &data.Error{File: src.Name(), Line: 1, Column: name, Err: fmt.Errorf("%s column missing from the file", roles[i])}
		}
		cols[i], want[c] = c, data.Text
	}
	texts := make([]string, len(names))
	return src.Scan(ctx, want, func(b *data.Block) error {
		for i := range b.N {
			for j, c := range cols {
				texts[j] = b.Cols[c].Text(i)
			}
			fn(b.Row+int64(i), texts)
		}
		return nil
	})
}
