package pipeline

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"

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
// with the model's preprocessing, as Read encodes the rows of a file: a
// numeric cell is parsed as a number, and an empty one is missing. A bad
// cell is a *RowError naming the row and column. There must be a row.
func (m *Model) ReadRows(header []string, rows [][]string) (*Applied, error) {
	if len(rows) == 0 {
		return nil, errors.New("no rows to predict")
	}
	lines := make([]int, len(rows))
	for i := range lines {
		lines[i] = i + 2 // the header is line 1
	}
	table := &data.Table{Path: "rows", Header: header, Rows: rows, Lines: lines}
	enc, err := m.Schema.Encode(table, false)
	if err != nil {
		var de *data.Error
		if errors.As(err, &de) {
			return nil, &RowError{Row: max(de.Line-2, -1), Column: de.Column, Err: de.Err}
		}
		return nil, err
	}
	return &Applied{Model: m, Rows: enc.N, table: table, enc: enc, Warnings: enc.Warnings}, nil
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
	if err := a.WritePredictions(&buf, nil); err != nil {
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
