package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/internal/testdata"
)

// TestFormatErrors: bad Parquet and NumPy inputs, and a missing column,
// each give one line naming the file and the column or the flag, a
// non-zero status and no output.
func TestFormatErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 1))
	var b bytes.Buffer
	b.WriteString("a,y\n")
	for range 40 {
		a, y := rng.NormFloat64(), 0
		if a > 0 {
			y = 1
		}
		fmt.Fprintf(&b, "%.3f,%d\n", a, y)
	}
	data := writeFile(t, dir, "d.csv", b.String())
	values := make([]float64, 40*3)
	testdata.WriteNpy(t, filepath.Join(dir, "cube.npy"), "<f8", "10, 4, 3", values)
	testdata.WriteNpy(t, filepath.Join(dir, "short.npy"), "<f8", "30, 4", values)
	testdata.WriteNpy(t, filepath.Join(dir, "f.npy"), "<f4", "40, 3", values)
	writeFile(t, dir, "torn.parquet", "PAR1 not really a parquet file PAR1")
	corrupt := sharedFile(t, "parquet-interop/datapage_v1-corrupt-checksum.parquet")
	nested := sharedFile(t, "parquet-interop/list_columns.parquet")
	plain := sharedFile(t, "parquet-interop/alltypes_plain.parquet")
	ok(t, mtlgpu(t, dir, "train", "--quiet", "--data", data, "--task", "y:binary", "--features", "f.npy", "--out", "f.mtl", "--epochs", "1"))
	train := func(more ...string) []string {
		return append([]string{"train", "--data", data, "--task", "y:binary", "--out", "m.mtl", "--epochs", "1"}, more...)
	}
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"npy of three dimensions", train("--features", "cube.npy"), 1, `cube.npy: a 3-D array of shape (10, 4, 3)`},
		{"npy of other rows", train("--features", "short.npy:s"), 1, `short.npy: 30 rows, but ` + data + ` has more (at least 40)`},
		{"npy missing", train("--features", "none.npy"), 1, `none.npy`},
		{"bad features spec", train("--features", "f.npy:"), 2, `--features f.npy:: empty prefix`},
		{"torn parquet", []string{"train", "--data", "torn.parquet", "--task", "y:binary", "--out", "m.mtl"}, 1, `torn.parquet: not a readable Parquet file`},
		{"corrupt parquet", []string{"inspect", corrupt}, 1, `datapage_v1-corrupt-checksum.parquet: column "a" (1): reading rows from 1: crc32 checksum mismatch`},
		{"nested column", []string{"train", "--data", nested, "--task", "int64_list:binary", "--out", "m.mtl"}, 1, `list_columns.parquet: column "utf8_list" (4): a list of STRING`},
		{"missing column", []string{"eval", "--model", "f.mtl", "--data", plain}, 1, `alltypes_plain.parquet:1: column "a": feature column missing from the file`},
		{"features of another prefix", []string{"eval", "--model", "f.mtl", "--data", data, "--features", "f.npy:g"}, 2, `has no column "f[0]": give --features FILE.npy:f`},
		{"features not given", []string{"predict", "--model", "f.mtl", "--data", data, "--out", "p.csv"}, 2, `--features: the model reads f[0] … from a NumPy file (trained with --features ` + filepath.Join(dir, "f.npy") + `:f)`},
		{"long row", train("--max-row-bytes", "5"), 1, `d.csv:2: a row longer than 5 bytes`},
		{"bad max-row-bytes", train("--max-row-bytes", "-1"), 2, `--max-row-bytes -1`},
	} {
		r := mtlgpu(t, dir, c.args...)
		msg := strings.TrimSpace(r.stderr)
		if lines := strings.Split(msg, "\n"); len(lines) > 1 && strings.Contains(lines[0], "level=INFO") {
			msg = lines[len(lines)-1] // the device chosen, logged before the data was read
		}
		if r.code != c.code || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "mtl-gpu: ") || !strings.Contains(msg, c.want) {
			t.Errorf("%s: status %d (want %d), error %q (want one line with %q)", c.name, r.code, c.code, msg, c.want)
		}
		for _, f := range []string{"m.mtl", "p.csv"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				t.Errorf("%s: %s was written", c.name, f)
				os.Remove(filepath.Join(dir, f))
			}
		}
	}
	// With the feature file, the same model predicts.
	ok(t, mtlgpu(t, dir, "predict", "--model", "f.mtl", "--data", data, "--features", "f.npy", "--out", "p.csv"))
}

// TestConvertAndInspect: a CSV file converted to Parquet trains the same
// model, reads back as the same CSV, and is inspected with the kinds
// train gives its columns.
func TestConvertAndInspect(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(2, 2))
	var b bytes.Buffer
	b.WriteString("id,colour,x,y\n")
	ids, xs := map[int]bool{}, map[float64]bool{}
	for i := range 300 {
		id, x := rng.IntN(100), float64(rng.IntN(4000)-2000)/8
		ids[id], xs[x] = true, true
		fmt.Fprintf(&b, "u%d,%s,%s,%d\n", id, []string{"red", "green", "?"}[i%3], strconv.FormatFloat(x, 'g', -1, 64), i%2)
	}
	writeFile(t, dir, "d.csv", b.String())
	ok(t, mtlgpu(t, dir, "convert", "--quiet", "d.csv", "d.parquet"))
	ok(t, mtlgpu(t, dir, "convert", "--quiet", "d.parquet", "back.csv"))
	if got := string(readFile(t, filepath.Join(dir, "back.csv"))); got != b.String() {
		t.Errorf("CSV → Parquet → CSV changed the file:\n%.200s\nwant\n%.200s", got, b.String())
	}
	r := mtlgpu(t, dir, "inspect", "d.parquet", "--task", "y:binary", "--json")
	ok(t, r)
	var ins struct {
		Format  string `json:"format"`
		Rows    int    `json:"rows"`
		Columns []struct {
			Name, Type, Kind string
			Missing          int
			Distinct         int
		} `json:"columns"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &ins); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, r.stdout)
	}
	want := fmt.Sprintf("id STRING embedded 0 %d; colour STRING categorical 100 2; x DOUBLE numeric 0 %d; y INT64 label 0 2", len(ids), len(xs))
	var got []string
	for _, c := range ins.Columns {
		got = append(got, fmt.Sprintf("%s %s %s %d %d", c.Name, c.Type, c.Kind, c.Missing, c.Distinct))
	}
	if ins.Format != "parquet" || ins.Rows != 300 || strings.Join(got, "; ") != want {
		t.Errorf("inspect: %s, %d rows, %s; want %s", ins.Format, ins.Rows, strings.Join(got, "; "), want)
	}
	r = mtlgpu(t, dir, "inspect", "d.csv")
	ok(t, r)
	if !strings.Contains(r.stdout, "d.csv: text, 300 rows, 4 columns") || !strings.Contains(r.stdout, "kinds: embedded 1, categorical 1, numeric 2") {
		t.Errorf("inspect:\n%s", r.stdout)
	}
	failsWith(t, "convert to an unknown format", mtlgpu(t, dir, "convert", "d.csv", "d.txt"), 2, "--out d.txt: the name says no format")
	failsWith(t, "convert onto itself", mtlgpu(t, dir, "convert", "d.csv", "d.csv"), 2, "refusing to overwrite an input")
	failsWith(t, "inspect a missing column", mtlgpu(t, dir, "inspect", "d.csv", "--task", "z:binary"), 2, `--task z:binary: d.csv has no column "z"`)
}

// TestEmbeddingFlags: train's embedding flags make embedding tables, which
// info shows, and bad values are usage errors naming the flag.
func TestEmbeddingFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 3))
	var b bytes.Buffer
	b.WriteString("user,item,zip,x,y\n")
	for range 600 {
		x := rng.NormFloat64()
		y := 0
		if x+0.5*rng.NormFloat64() > 0 {
			y = 1
		}
		fmt.Fprintf(&b, "u%d,it%d,%d,%.3f,%d\n", rng.IntN(80), rng.IntN(30), 10000+rng.IntN(20), x, y)
	}
	writeFile(t, dir, "d.csv", b.String())
	ok(t, mtlgpu(t, dir, "train", "--quiet", "--data", "d.csv", "--task", "y:binary", "--out", "m.mtl", "--epochs", "1",
		"--min-count", "3", "--embed", "item:5", "--hash-buckets", "zip:7", "--categorical", "zip", "--onehot-max", "50"))
	r := mtlgpu(t, dir, "info", "m.mtl", "--json")
	ok(t, r)
	var d struct {
		Inputs struct {
			Embedded []struct {
				Name      string
				Rows, Dim int
				Hashed    bool
			} `json:"embedded"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range d.Inputs.Embedded {
		got = append(got, fmt.Sprintf("%s %d×%d %v", e.Name, e.Rows, e.Dim, e.Hashed))
	}
	if len(got) != 3 || !strings.HasPrefix(got[0], "user ") || got[1] != "item 31×5 false" || got[2] != "zip 7×5 true" {
		t.Errorf("embedded inputs %q", got)
	}
	r = mtlgpu(t, dir, "info", "m.mtl")
	ok(t, r)
	if !strings.Contains(r.stdout, "embedded: user (") || !strings.Contains(r.stdout, "zip (7×5, hashed)") {
		t.Errorf("info:\n%s", r.stdout)
	}
	train := func(flag, value string) []string {
		return []string{"train", "--data", "d.csv", "--task", "y:binary", "--out", "bad.mtl", flag, value}
	}
	failsWith(t, "embed without a width", mtlgpu(t, dir, train("--embed", "item")...), 2, "--embed item:")
	failsWith(t, "embed of a missing column", mtlgpu(t, dir, train("--embed", "iten:4")...), 2, `--embed iten:4: d.csv has no column "iten"; did you mean "item"?`)
	failsWith(t, "zero hash buckets", mtlgpu(t, dir, train("--hash-buckets", "0")...), 2, "--hash-buckets 0")
	failsWith(t, "onehot-max below -1", mtlgpu(t, dir, train("--onehot-max", "-5")...), 2, "--onehot-max -5")
}
