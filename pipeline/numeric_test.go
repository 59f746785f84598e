package pipeline

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// TestNumericEncodings: Options.Numeric reaches the schema, the model file
// keeps it as trained, rows given as strings predict as the file does,
// the description names it, and a bad value is an option error that
// suggests the name meant.
func TestNumericEncodings(t *testing.T) {
	dir := t.TempDir()
	file := writeCSV(t, dir, 200, 3)
	b := cpuBackend(t)
	for _, tc := range []struct {
		numeric string
		method  data.NumericMethod
		width   int // encoded inputs of x1 and x2
	}{
		{"", data.DefaultNumeric.Method, 2},
		{"Robust", data.Robust, 2},
		{"quantile", data.Quantile, 2},
		{"ple:4", data.PLE, 8},
	} {
		o := options(file, filepath.Join(dir, "m.mtl"))
		o.Numeric, o.Force = tc.numeric, true
		r, err := Prepare(o)
		if err != nil {
			t.Fatal(err)
		}
		width := 0
		for _, f := range r.Schema.Features {
			if f.Kind == data.Numeric {
				width += f.Width()
			}
		}
		if width != tc.width {
			t.Errorf("%q: %d numeric inputs, want %d", tc.numeric, width, tc.width)
		}
		if _, err := r.Fit(context.Background(), b, Progress{}); err != nil {
			t.Fatal(err)
		}
		m, err := LoadModel(o.Out)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(m.Schema, r.Schema) {
			t.Errorf("%q: the model file's schema differs from the run's", tc.numeric)
		}
		for _, f := range m.Schema.Features {
			if f.Kind == data.Numeric && f.Method() != tc.method {
				t.Errorf("%q: feature %q encoded by %s, want %s", tc.numeric, f.Name, f.Method(), tc.method)
			}
		}
		want := filePredictions(t, b, m, file)
		records, err := csv.NewReader(bytes.NewReader(must(os.ReadFile(file)))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		got := predictionTable(t, b, func() (*Applied, error) { return m.ReadRows(records[0], records[1:]) })
		if !slices.EqualFunc(got.Rows, want[1:], slices.Equal) {
			t.Errorf("%q: rows given as strings predict differently from the file", tc.numeric)
		}
		d := m.Describe()
		if in := d.Inputs.List[0]; in.Encoding != string(tc.method) || in.Width != tc.width/2 {
			t.Errorf("%q: input described as %+v", tc.numeric, in)
		}
		if text := d.Text(); (tc.method != data.Standard) != strings.Contains(text, "numeric ("+string(tc.method)+"): x1, x2") {
			t.Errorf("%q: description\n%s", tc.numeric, text)
		}
	}
	o := options(file, filepath.Join(dir, "bad.mtl"))
	o.Numeric = "pel"
	_, err := Prepare(o)
	optionErr(t, err, "numeric")
	if err == nil || !strings.Contains(err.Error(), `"ple"`) && !strings.Contains(err.Error(), "ple?") {
		t.Errorf("no suggestion in %v", err)
	}
}

// TestSchemaVersion2ModelLoads: a model file whose preprocessing is a
// version 2 schema (written before the numeric encodings) loads and
// predicts as the same model written now; a PLE feature in a version 2
// schema is refused.
func TestSchemaVersion2ModelLoads(t *testing.T) {
	dir := t.TempDir()
	file := writeCSV(t, dir, 200, 4)
	b := cpuBackend(t)
	for _, numeric := range []string{"standard", "ple"} {
		o := options(file, filepath.Join(dir, numeric+".mtl"))
		o.Numeric = numeric
		r, err := Prepare(o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Fit(context.Background(), b, Progress{}); err != nil {
			t.Fatal(err)
		}
		ck, meta, err := mtl.LoadFile(o.Out)
		if err != nil {
			t.Fatal(err)
		}
		var schema map[string]any
		if err := json.Unmarshal(meta, &schema); err != nil {
			t.Fatal(err)
		}
		if schema["version"] != float64(data.SchemaVersion) {
			t.Fatalf("%s: schema version %v, want %d", numeric, schema["version"], data.SchemaVersion)
		}
		schema["version"] = 2
		old, err := json.Marshal(schema)
		if err != nil {
			t.Fatal(err)
		}
		oldFile := filepath.Join(dir, numeric+"-v2.mtl")
		if err := mtl.SaveFile(oldFile, ck, old); err != nil {
			t.Fatal(err)
		}
		m, err := LoadModel(oldFile)
		if numeric == "ple" {
			if !errors.Is(err, mtl.ErrNotModel) || !strings.Contains(err.Error(), "version 2") {
				t.Errorf("a PLE feature in a version 2 schema: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		now, err := LoadModel(o.Out)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(filePredictions(t, b, m, file), filePredictions(t, b, now, file), slices.Equal) {
			t.Errorf("the version 2 model predicts differently")
		}
	}
}

// filePredictions are predict's output rows for a file, header first.
func filePredictions(t *testing.T, b backend.Backend, m *Model, file string) [][]string {
	t.Helper()
	var buf bytes.Buffer
	if _, _, err := m.PredictTo(context.Background(), On(b), DataInput{Path: file}, &buf, nil); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
