package pipeline

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"strings"

	"github.com/mtl-gpu/mtl-gpu/data"
)

// RowError is a bad value in rows given as strings (see ReadRows). Row is
// the 0-based row, or −1 for a column missing from all of them.
type RowError struct {
	Row    int
	Column string
	Err    error
}

func (e *RowError) Error() string {
	if e.Row < 0 {
		return fmt.Sprintf("column %q: %v", e.Column, e.Err)
	}
	if e.Column == "" {
		return fmt.Sprintf("row %d: %v", e.Row, e.Err)
	}
	return fmt.Sprintf("row %d: column %q: %v", e.Row, e.Column, e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

// ReadRows encodes rows given as strings, one cell per column of header,
// with the model's preprocessing, as a file's rows are encoded: a numeric
// cell is parsed as a number, and an empty one is missing. A bad cell is
// a *RowError naming the row and column. There must be a row.
func (m *Model) ReadRows(header []string, rows [][]string) (*Applied, error) {
	if len(rows) == 0 {
		return nil, errors.New("no rows to predict")
	}
	src := &rowsSource{header: header, rows: rows}
	encs, warnings, err := m.Schema.EncodeSource(context.Background(), src, data.EncodeOptions{})
	if err != nil {
		var de *data.Error
		if errors.As(err, &de) {
			return nil, &RowError{Row: max(de.Line-2, -1), Column: de.Column, Err: de.Err}
		}
		return nil, err
	}
	enc := encs[0]
	return &Applied{Model: m, Rows: enc.N, d: dataset(enc, len(m.Schema.Targets)), Warnings: warnings}, nil
}

// rowsSource is rows of strings as a source of one block, every cell as
// trimmed text (numbers are parsed from it), row i on line i+2.
type rowsSource struct {
	header []string
	rows   [][]string
}

var _ data.Source = (*rowsSource)(nil)

func (s *rowsSource) Name() string      { return "rows" }
func (s *rowsSource) Columns() []string { return s.header }
func (s *rowsSource) Rows() int64       { return int64(len(s.rows)) }
func (s *rowsSource) Close() error      { return nil }

func (s *rowsSource) Scan(ctx context.Context, want []data.ColumnWant, fn func(*data.Block) error) error {
	b := &data.Block{N: len(s.rows), FirstLine: 2, Cols: make([]data.Column, len(s.header))}
	for c, w := range want {
		if w == data.Skip {
			continue
		}
		col := data.Column{Codes: make([]int32, len(s.rows))}
		index := map[string]int32{}
		for i, row := range s.rows {
			text := strings.TrimSpace(row[c])
			k, ok := index[text]
			if !ok {
				k = int32(len(col.Dict))
				index[text] = k
				col.Dict = append(col.Dict, text)
			}
			col.Codes[i] = k
		}
		b.Cols[c] = col
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return fn(b)
}

// PredictionTable is predictions as predict writes them: the columns, and
// per row the cells.
type PredictionTable struct {
	Columns []string
	// Numeric says which columns hold numbers (probabilities and values)
	// rather than class labels.
	Numeric []bool
	Rows    [][]string
}

// PredictionTable returns the predictions, after Predict, exactly as
// WritePredictions writes them.
func (a *Applied) PredictionTable() (*PredictionTable, error) {
	var buf bytes.Buffer
	if err := a.WritePredictions(&buf); err != nil {
		return nil, err
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		return nil, err
	}
	label := map[string]bool{}
	for _, tg := range a.Model.Schema.Targets {
		label[tg.Name] = tg.Type != data.Regression
	}
	pt := &PredictionTable{Columns: recs[0], Rows: recs[1:]}
	for _, c := range pt.Columns {
		pt.Numeric = append(pt.Numeric, !label[c])
	}
	return pt, nil
}
