package pipeline

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// TestReadRowsPredictsAsTheFile checks that rows given as strings are
// predicted exactly as the same rows read from a file, in another column
// order, and that a bad cell or a missing column is a *RowError naming
// it; and that the description lists the inputs and prediction columns.
func TestReadRowsPredictsAsTheFile(t *testing.T) {
	dir := t.TempDir()
	file := writeCSV(t, dir, 200, 5)
	b := cpuBackend(t)
	o := options(file, filepath.Join(dir, "m.mtl"))
	o.GroupColumn = "site"
	r, err := Prepare(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Fit(context.Background(), b, Progress{}); err != nil {
		t.Fatal(err)
	}
	m, err := LoadModel(o.Out)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, _, err := m.PredictTo(context.Background(), On(b), DataInput{Path: file}, &buf, nil); err != nil {
		t.Fatal(err)
	}
	want, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(bytes.NewReader(must(os.ReadFile(file)))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	header := []string{"site", "colour", "x2", "x1"} // another order, no targets
	var rows [][]string
	for _, rec := range records[1:] {
		var cells []string
		for _, h := range header {
			cells = append(cells, rec[slices.Index(records[0], h)])
		}
		rows = append(rows, cells)
	}
	got := predictionTable(t, b, func() (*Applied, error) { return m.ReadRows(header, rows) })
	if !slices.Equal(got.Columns, want[0]) || !slices.EqualFunc(got.Rows, want[1:], slices.Equal) {
		t.Errorf("rows given as strings predict differently from the file")
	}
	if !slices.Equal(got.Numeric, []bool{false, true, true, false, true, true, true}) {
		t.Errorf("columns %q numeric %v", got.Columns, got.Numeric)
	}

	rows[3] = slices.Clone(rows[3])
	rows[3][2] = "abc"
	var re *RowError
	if _, err := m.ReadRows(header, rows); !errors.As(err, &re) || re.Row != 3 || re.Column != "x2" {
		t.Errorf("a bad number in row 3: %v", err)
	}
	if _, err := m.ReadRows(header[1:], [][]string{rows[0][1:]}); !errors.As(err, &re) || re.Row != -1 || re.Column != "site" {
		t.Errorf("a missing column: %v", err)
	}

	d := m.Describe()
	js, _ := json.Marshal(d.Inputs.List)
	if in := d.Inputs.List; len(in) != 4 || in[3].Kind != "group" || in[2].Kind != "categorical" || in[0].Mean == nil {
		t.Errorf("inputs %s", js)
	}
	if len(d.Tasks) != 2 || !slices.Equal(d.Tasks[0].Columns, []string{"y", "y:p(0)", "y:p(1)"}) || d.Tasks[1].Groups != 4 || d.Architecture.Name != "shared" {
		t.Errorf("description %+v", d)
	}
}

func predictionTable(t *testing.T, b backend.Backend, read func() (*Applied, error)) *PredictionTable {
	t.Helper()
	ap, err := read()
	if err != nil {
		t.Fatal(err)
	}
	if err := ap.Predict(b); err != nil {
		t.Fatal(err)
	}
	pt, err := ap.PredictionTable()
	if err != nil {
		t.Fatal(err)
	}
	return pt
}
