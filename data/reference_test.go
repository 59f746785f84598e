package data

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// The table path: a file read whole into a Table of strings, Fit learning
// a Schema from it, Encode encoding it and WritePredictions writing
// predictions next to its columns. The block path (OpenCSV, FitSource,
// EncodeSource, PredictionWriter) replaced it; it stays here, in tests
// only, as the reference the block path is checked against: it is short,
// reads with encoding/csv and holds everything in memory, so that what it
// computes is easy to trust.

// refEncoded is what the reference Encode returns: the encoding, and the
// warnings of the pass.
type refEncoded struct {
	*Encoded
	// Warnings holds one line per column with imputed values or unseen
	// categories, and one for rows of unseen groups.
	Warnings []string
}

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

// Fit learns a Schema from a training table. It returns warnings about
// things that are allowed but probably unintended (a multiclass target
// with one class, a constant numeric column, a column that is categorical
// because of a few non-numbers, a very wide categorical column); they are
// single lines meant for a log. Counting missing values and unseen
// categories is left to Encode.
//
// Columns are matched by the patterns of Options: a pattern that is the
// name of a column matches that column only; otherwise it is a path.Match
// glob. A pattern that matches no column is an error, as is a column
// matched by two task specs, a target or group column listed in
// Categorical, a group column that is also a target, and a table with no
// target or no feature left. Every error names the file and, where there
// is one, the line and column.
func Fit(t *Table, opts Options) (*Schema, []string, error) {
	file := t.Path
	if opts.Impute != "" && opts.Impute != "mean" {
		return nil, nil, fileErrorf(file, 0, "unknown impute method %q (want \"\" or \"mean\")", opts.Impute)
	}
	if len(opts.Tasks) == 0 {
		return nil, nil, fileErrorf(file, 0, "no task given (want at least one PATTERN:TYPE)")
	}
	if len(t.Header) == 0 || len(t.Rows) == 0 {
		return nil, nil, fileErrorf(file, 0, "table has no columns or no rows")
	}

	roles, err := resolveRoles(file, t.Header, opts)
	if err != nil {
		return nil, nil, err
	}
	specOf, group, ignored, forced := roles.specOf, roles.group, roles.ignored, roles.forced

	s := &Schema{Version: SchemaVersion, GroupColumn: opts.GroupColumn, Impute: opts.Impute}
	var warnings []string
	for c := range t.Header {
		if specOf[c] != 0 || c == group || ignored[c] {
			continue
		}
		f, warn, err := fitFeature(t, c, forced[c], opts.Impute)
		if err != nil {
			return nil, nil, err
		}
		s.Features = append(s.Features, f)
		warnings = append(warnings, warn...)
	}
	if len(s.Features) == 0 {
		return nil, nil, fileErrorf(file, 1, "no feature column left after targets, group column and ignored columns")
	}

	for _, c := range roles.targetOrder() {
		tg, warn, err := fitTarget(t, c, opts.Tasks[specOf[c]-1])
		if err != nil {
			return nil, nil, err
		}
		s.Targets = append(s.Targets, tg)
		warnings = append(warnings, warn...)
	}

	if group >= 0 {
		seen := map[string]bool{}
		for i, row := range t.Rows {
			v := strings.TrimSpace(row[group])
			if IsMissing(v) {
				return nil, nil, errorf(file, t.Lines[i], t.Header[group], group, "missing group value")
			}
			if !seen[v] {
				seen[v] = true
				s.Groups = append(s.Groups, v)
			}
		}
		sortValues(s.Groups)
	}
	return s, warnings, nil
}

// fitFeature decides the kind of column c and learns its encoding.
func fitFeature(t *Table, c int, forced bool, impute string) (Feature, []string, error) {
	var st featureStats
	st.rows = len(t.Rows)
	for i, row := range t.Rows {
		kind, v := parseCell(row[c])
		st.add(kind, v, row[c], place{line: int64(t.Lines[i])})
	}
	if !st.categorical(forced) {
		return st.numeric(t.Path, t.Header[c], c, impute)
	}
	seen := map[string]bool{}
	var cats []string
	for _, row := range t.Rows {
		v := strings.TrimSpace(row[c])
		if !seen[v] {
			seen[v] = true
			cats = append(cats, v)
		}
	}
	sortValues(cats)
	f := Feature{Name: t.Header[c], Kind: Categorical, Categories: cats}
	return f, st.categoricalWarnings(t.Path, f.Name, forced, len(cats)), nil
}

// fitTarget learns the classes of target column c.
func fitTarget(t *Table, c int, spec TaskSpec) (Target, []string, error) {
	st := targetStats{rows: len(t.Rows)}
	seen := map[string]bool{}
	for i, row := range t.Rows {
		cell := row[c]
		if IsMissing(cell) {
			continue
		}
		st.labelled++
		if spec.Type == Regression {
			kind, _ := parseCell(cell)
			st.addBad(kind, cell, place{line: int64(t.Lines[i])})
			continue
		}
		v := strings.TrimSpace(cell)
		if !seen[v] {
			seen[v] = true
			st.labels = append(st.labels, v)
		}
	}
	return st.finish(t.Path, t.Header[c], c, spec)
}

// Encode turns a table into numbers. Columns are found by name, so their
// order may differ from the training table and extra columns are ignored;
// a missing feature column or group column is an error. With withTargets
// (evaluation, training) every target column must be present and a label
// not seen in training is an error; without it (prediction) target
// columns are not read.
//
// A numeric cell that is not a number or not finite is an error, and so is
// a missing one unless the schema imputes the mean, which encodes as 0.
// A category not seen in training encodes as all zeros. Each of these
// errors names the file, line and column.
func (s *Schema) Encode(t *Table, withTargets bool) (*refEncoded, error) {
	file := t.Path
	col := func(name, role string) (int, error) {
		c := t.Column(name)
		if c < 0 {
			return -1, &Error{File: file, Line: 1, Column: name, Err: fmt.Errorf("%s column missing from the file", role)}
		}
		return c, nil
	}

	n, d := len(t.Rows), s.Dim()
	e := &refEncoded{Encoded: &Encoded{N: n, D: d, X: make([]float32, n*d)}}

	offset := 0
	for _, f := range s.Features {
		c, err := col(f.Name, "feature")
		if err != nil {
			return nil, err
		}
		var warn string
		switch f.Kind {
		case Categorical:
			warn = encodeCategorical(t, c, f, e.X[offset:], d)
		case Embedded:
			var index []int32
			index, warn = encodeEmbedded(t, c, f)
			e.Index = append(e.Index, index)
		default:
			warn, err = encodeNumeric(t, c, f, s.Impute == "mean", e.X[offset:], d)
			if err != nil {
				return nil, err
			}
		}
		if warn != "" {
			e.Warnings = append(e.Warnings, warn)
		}
		offset += f.Width()
	}

	if s.GroupColumn != "" {
		c, err := col(s.GroupColumn, "group")
		if err != nil {
			return nil, err
		}
		index := make(map[string]int32, len(s.Groups))
		for g, v := range s.Groups {
			index[v] = int32(g)
		}
		e.Groups = make([]int32, n)
		unseen := 0
		for i, row := range t.Rows {
			v := strings.TrimSpace(row[c])
			if IsMissing(v) {
				return nil, errorf(file, t.Lines[i], s.GroupColumn, c, "missing group value")
			}
			g, ok := index[v]
			if !ok {
				g = -1
				unseen++
			}
			e.Groups[i] = g
		}
		if unseen > 0 {
			e.Warnings = append(e.Warnings, fmt.Sprintf("%s: group column %q: %d rows have groups unseen in training (predicted by the shared head of each family)", file, s.GroupColumn, unseen))
		}
	}

	if withTargets {
		e.Labels = make([][]float32, len(s.Targets))
		for ti, tg := range s.Targets {
			c, err := col(tg.Name, "target")
			if err != nil {
				return nil, err
			}
			if e.Labels[ti], err = encodeLabels(t, c, tg); err != nil {
				return nil, err
			}
		}
	}
	return e, nil
}

// encodeNumeric writes column c standardised into x (row stride d).
func encodeNumeric(t *Table, c int, f Feature, impute bool, x []float32, d int) (string, error) {
	imputed := 0
	for i, row := range t.Rows {
		kind, v := parseCell(row[c])
		switch kind {
		case cellNumber:
			z := float32((v - f.Mean) / f.Scale)
			if math.IsInf(float64(z), 0) {
				return "", errorf(t.Path, t.Lines[i], f.Name, c, "%q is too large after standardising (mean %.6g, scale %.6g)", strings.TrimSpace(row[c]), f.Mean, f.Scale)
			}
			x[i*d] = z
		case cellMissing:
			if !impute {
				return "", errorf(t.Path, t.Lines[i], f.Name, c, "missing value in a numeric column (impute \"mean\" replaces it with the training mean)")
			}
			imputed++
			x[i*d] = 0
			if f.Indicator {
				x[i*d+1] = 1
			}
		case cellNonFinite:
			return "", errorf(t.Path, t.Lines[i], f.Name, c, "%q is not a finite number", strings.TrimSpace(row[c]))
		default:
			return "", errorf(t.Path, t.Lines[i], f.Name, c, "%q is not a number", strings.TrimSpace(row[c]))
		}
	}
	if imputed > 0 {
		return fmt.Sprintf("%s: column %q: %d missing values replaced by the training mean", t.Path, f.Name, imputed), nil
	}
	return "", nil
}

// encodeCategorical writes column c one-hot into x (row stride d).
func encodeCategorical(t *Table, c int, f Feature, x []float32, d int) string {
	index := make(map[string]int, len(f.Categories))
	for k, v := range f.Categories {
		index[v] = k
	}
	unseen := 0
	for i, row := range t.Rows {
		k, ok := index[strings.TrimSpace(row[c])]
		if !ok {
			unseen++
			continue
		}
		x[i*d+k] = 1
	}
	if unseen > 0 {
		return fmt.Sprintf("%s: column %q: %d rows have categories unseen in training (encoded as all zeros)", t.Path, f.Name, unseen)
	}
	return ""
}

// encodeEmbedded returns the table rows of column c.
func encodeEmbedded(t *Table, c int, f Feature) ([]int32, string) {
	index := make([]int32, len(t.Rows))
	rows := newEmbedRows(f)
	unseen := 0
	for i, row := range t.Rows {
		index[i] = rows.row(strings.TrimSpace(row[c]))
		if index[i] == 0 && f.Buckets == 0 {
			unseen++
		}
	}
	return index, embedWarning(t.Path, f, unseen)
}

// encodeLabels reads target column c.
func encodeLabels(t *Table, c int, tg Target) ([]float32, error) {
	out := make([]float32, len(t.Rows))
	nan := float32(math.NaN())
	var index map[string]int
	if tg.Type != Regression {
		index = make(map[string]int, len(tg.Classes))
		for k, v := range tg.Classes {
			index[v] = k
		}
	}
	for i, row := range t.Rows {
		cell := row[c]
		if IsMissing(cell) {
			out[i] = nan
			continue
		}
		if tg.Type == Regression {
			kind, v := parseCell(cell)
			switch {
			case kind == cellNonFinite:
				return nil, errorf(t.Path, t.Lines[i], tg.Name, c, "regression target %q is not a finite number", strings.TrimSpace(cell))
			case kind != cellNumber:
				return nil, errorf(t.Path, t.Lines[i], tg.Name, c, "regression target %q is not a number", strings.TrimSpace(cell))
			case math.IsInf(float64(float32(v-tg.Offset)), 0):
				return nil, errorf(t.Path, t.Lines[i], tg.Name, c, "regression target %q is out of float32 range", strings.TrimSpace(cell))
			}
			out[i] = float32(v - tg.Offset)
			continue
		}
		label := strings.TrimSpace(cell)
		k, ok := index[label]
		if !ok {
			return nil, errorf(t.Path, t.Lines[i], tg.Name, c, "label %q was not seen in training (classes: %s)", label, listLabels(tg.Classes))
		}
		out[i] = float32(k)
	}
	return out, nil
}

// WritePredictions writes a CSV file with a header: first the keep columns
// of t passed through as written, then for every prediction its column
// (the class label as written, or the value) and, for classification, one
// probability column per class named NAME:p(CLASS). The keep columns must
// exist in t and the output column names must all differ.
func WritePredictions(w io.Writer, t *Table, keep []string, preds []Prediction) error {
	keepCols := make([]int, len(keep))
	for i, name := range keep {
		c := t.Column(name)
		if c < 0 {
			return &Error{File: t.Path, Line: 1, Column: name, Err: fmt.Errorf("column to keep is missing from the file")}
		}
		keepCols[i] = c
	}
	pw, err := NewPredictionWriter(w, keep, preds)
	if err != nil {
		return err
	}
	err = pw.write(len(t.Rows), func(j, i int) string { return t.Rows[i][keepCols[j]] }, preds)
	if err != nil {
		return err
	}
	return pw.Flush()
}
