package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/internal/testdata"
)

// featureData writes the same rows three ways: full.csv with every column
// (the feature columns f[0] and f[1] last), base.csv without the f
// columns, and f.npy with them (float64, as parsed from full.csv).
func featureData(t *testing.T, dir, prefix string, rows int, seed uint64) (full, base, npy string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 3))
	var fb, bb bytes.Buffer
	fb.WriteString("x1,colour,y,kind,f[0],f[1]\n")
	bb.WriteString("x1,colour,y,kind\n")
	var values []float64
	for range rows {
		x1, f0, f1 := rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()
		colour := []string{"red", "green", "blue"}[rng.IntN(3)]
		y := "0"
		if x1+f0-f1+0.3*rng.NormFloat64() > 0 {
			y = "1"
		}
		kind := "a"
		if f1 > 0.3 {
			kind = "b"
		}
		row := fmt.Sprintf("%.4f,%s,%s,%s", x1, colour, y, kind)
		bb.WriteString(row + "\n")
		fmt.Fprintf(&fb, "%s,%s,%s\n", row, strconv.FormatFloat(f0, 'g', -1, 64), strconv.FormatFloat(f1, 'g', -1, 64))
		values = append(values, f0, f1)
	}
	full, base, npy = filepath.Join(dir, prefix+"full.csv"), filepath.Join(dir, prefix+"base.csv"), filepath.Join(dir, prefix+"f.npy")
	for path, b := range map[string][]byte{full: fb.Bytes(), base: bb.Bytes()} {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	testdata.WriteNpy(t, npy, "<f8", fmt.Sprintf("%d, 2", rows), values)
	return full, base, npy
}

// TestFormatsTrainAlike: the same rows as CSV, as Parquet, and as CSV with
// a NumPy feature file joined give the same schema and the same model, bit
// for bit; eval with the feature file scores as the full file does; a
// model trained with features asks for them by name; a feature file of
// another length is refused naming both files.
func TestFormatsTrainAlike(t *testing.T) {
	dir := t.TempDir()
	full, base, npy := featureData(t, dir, "", 300, 1)
	fullTest, baseTest, npyTest := featureData(t, dir, "test-", 120, 2)
	pq := filepath.Join(dir, "full.parquet")
	if n, err := Convert(context.Background(), DataInput{Path: full}, pq, ConvertOptions{RowGroupRows: 64}); err != nil || n != 300 {
		t.Fatalf("convert: %d rows, %v", n, err)
	}
	b := cpuBackend(t)
	train := func(name string, in DataInput) *Model {
		t.Helper()
		o := options(in.Path, filepath.Join(dir, name+".mtl"))
		o.Features = in.Features
		r, err := Prepare(o)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := r.Fit(context.Background(), b, Progress{}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return must(LoadModel(o.Out))
	}
	features := []FeatureFile{{Path: npy, Prefix: "f"}}
	csvModel := train("csv", DataInput{Path: full})
	for name, m := range map[string]*Model{
		"parquet":  train("parquet", DataInput{Path: pq}),
		"features": train("features", DataInput{Path: base, Features: features}),
	} {
		if fmt.Sprint(m.Schema) != fmt.Sprint(csvModel.Schema) {
			t.Errorf("%s: schema %+v, from CSV %+v", name, m.Schema, csvModel.Schema)
		}
		if !slices.Equal(m.Checkpoint.Model.Params, csvModel.Checkpoint.Model.Params) {
			t.Errorf("%s: the model differs from the one trained on the CSV file", name)
		}
	}
	fm := must(LoadModel(filepath.Join(dir, "features.mtl")))
	want := evaluate(t, b, fm, fullTest).Report
	got, err := fm.Evaluate(context.Background(), On(b), DataInput{Path: baseTest, Features: []FeatureFile{{Path: npyTest, Prefix: "f"}}})
	if err != nil {
		t.Fatal(err)
	}
	if g, w := must(json.Marshal(got.Report)), must(json.Marshal(want)); !bytes.Equal(g, w) {
		t.Errorf("eval with the feature file:\n%s\nwith the full file:\n%s", g, w)
	}
	var oe *OptionError
	_, err = fm.Evaluate(context.Background(), On(b), DataInput{Path: baseTest})
	if !errors.As(err, &oe) || oe.Option != "features" || !strings.Contains(err.Error(), "f.npy:f") {
		t.Errorf("eval without the feature file: %v", err)
	}
	_, err = fm.Evaluate(context.Background(), On(b), DataInput{Path: baseTest, Features: features})
	if err == nil || !strings.Contains(err.Error(), "300 rows") || !strings.Contains(err.Error(), "test-base.csv") {
		t.Errorf("a feature file of 300 rows for 120: %v", err)
	}
}

// TestValData: validation rows from a file of their own, recorded and
// read again on resume; a validation file with a validation split, cross
// validation or feature files is refused.
func TestValData(t *testing.T) {
	dir := t.TempDir()
	train, val := writeCSV(t, dir, 300, 1), writeCSV(t, t.TempDir(), 70, 2)
	o := options(train, filepath.Join(dir, "m.mtl"))
	o.ValData, o.Train.Epochs = val, 2
	r, err := Prepare(o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Train.N != 300 || r.Val == nil || r.Val.N != 70 || r.Record.ValSplit != 0 || len(r.Record.Sources) != 2 || r.Record.Sources[1].Role != "validation" {
		t.Fatalf("%d training rows, validation %v, record %+v", r.Train.N, r.Val, r.Record)
	}
	if _, err := r.Fit(context.Background(), cpuBackend(t), Progress{}); err != nil {
		t.Fatal(err)
	}
	resume := DefaultOptions()
	resume.Resume = o.Out
	if rr, err := Prepare(resume); err != nil || rr.Val == nil || rr.Val.N != 70 || !slices.Equal(rr.Val.X, r.Val.X) {
		t.Fatalf("resumed: %v", err)
	}
	moved := filepath.Join(dir, "moved.csv")
	os.Rename(val, moved)
	var oe *OptionError
	if _, err := Prepare(resume); !errors.As(err, &oe) || oe.Option != "val-data" || !strings.Contains(err.Error(), "missing") {
		t.Errorf("resume with the validation file gone: %v", err)
	}
	resume.ValData = moved
	if _, err := Prepare(resume); err != nil {
		t.Errorf("resume with the validation file moved: %v", err)
	}
	for name, change := range map[string]func(*Options){
		"val-split": func(o *Options) { o.Given = []string{"val-split"} },
		"cv":        func(o *Options) { o.CV = 3 },
		"features":  func(o *Options) { o.Features = []FeatureFile{{Path: "x.npy", Prefix: "x"}} },
	} {
		bad := o
		bad.ValData, bad.Out = moved, filepath.Join(dir, "bad.mtl")
		change(&bad)
		if _, err := Prepare(bad); !errors.As(err, &oe) || oe.Option != "val-data" {
			t.Errorf("val-data with %s: %v", name, err)
		}
	}
}

// TestMaxRowBytes: a row longer than the bound is an error naming its
// line.
func TestMaxRowBytes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "long.csv")
	os.WriteFile(path, []byte("x,c,y\n1,a,0\n2,"+strings.Repeat("b", 5000)+",1\n3,a,0\n"), 0o644)
	o := options(path, filepath.Join(dir, "m.mtl"))
	o.Tasks = []string{"y:binary"}
	o.MaxRowBytes = 1000
	if _, err := Prepare(o); err == nil || !strings.Contains(err.Error(), "long.csv:3: a row longer than 1000 bytes") {
		t.Errorf("long row: %v", err)
	}
	o.MaxRowBytes = 0
	if _, err := Prepare(o); err != nil {
		t.Errorf("default bound: %v", err)
	}
}

func TestParseFeatureFile(t *testing.T) {
	for _, tc := range []struct {
		in, path, prefix, err string
	}{
		{in: "emb.npy", path: "emb.npy", prefix: "emb"},
		{in: "dir/emb.npy:vec", path: "dir/emb.npy", prefix: "vec"},
		{in: "c:/a:b/emb.npy", path: "c:/a:b/emb.npy", prefix: "emb"},
		{in: "emb.npy:", err: "empty prefix"},
		{in: ":p", err: "no file"},
		{in: "e.npy:a[1]", err: "bracket"},
	} {
		f, err := ParseFeatureFile(tc.in)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want an error with %q", tc.in, err, tc.err)
			}
		case err != nil || f.Path != tc.path || f.Prefix != tc.prefix:
			t.Errorf("%q: %+v, %v", tc.in, f, err)
		}
	}
}
