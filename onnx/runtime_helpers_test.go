package onnx_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/internal/testdata"
	"github.com/mtl-gpu/mtl-gpu/onnx"
	"github.com/mtl-gpu/mtl-gpu/pipeline"
)

// The environment: where ONNX Runtime for Node.js is installed (the npm
// prefix holding node_modules/onnxruntime-node; by default out/onnxruntime
// of the repository, where make onnx-check installs it), and whether a
// missing runtime or checker fails the test instead of skipping it.
const (
	runtimeEnv = "MTLGPU_ONNXRUNTIME"
	requireEnv = "MTLGPU_REQUIRE_ONNX"
	python     = "/usr/bin/python3"
)

// missing skips the test, or fails it under MTLGPU_REQUIRE_ONNX=1.
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv(requireEnv) == "1" {
		t.Fatalf(format+" ("+requireEnv+"=1)", args...)
	}
	t.Skipf(format, args...)
}

// runtimeDir returns the npm prefix of onnxruntime-node, or skips.
func runtimeDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(runtimeEnv)
	if dir == "" {
		root, err := filepath.Abs("..")
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, "out", "onnxruntime")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "onnxruntime-node", "package.json")); err != nil {
		missing(t, "ONNX Runtime for Node.js not found in %s (make onnx-check installs it with npm, or set %s)", dir, runtimeEnv)
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing(t, "node not found")
	}
	return dir
}

// checkFiles validates ONNX files with onnx.checker in Debian's
// python3-onnx, or skips when it is not installed.
func checkFiles(t *testing.T, files ...string) {
	t.Helper()
	if err := exec.Command(python, "-c", "import onnx").Run(); err != nil {
		missing(t, "%s cannot import onnx (apt install python3-onnx)", python)
	}
	out, err := exec.Command(python, append([]string{"testdata/check.py"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("onnx.checker: %v\n%s", err, out)
	}
	for _, f := range files {
		if !strings.Contains(string(out), f+": ir 8 opsets {'ai.onnx': 17, 'ai.onnx.ml': 3}") {
			t.Errorf("onnx.checker did not report %s as IR 8, opset 17, ai.onnx.ml 3:\n%s", f, out)
		}
	}
}

// feed is one input tensor as run.js takes it.
type feed struct {
	Type string `json:"type"`
	Data []any  `json:"data"`
	// Dims is the shape of a block, [N, D] (nil: [N, 1]).
	Dims []int `json:"dims,omitempty"`
}

type job struct {
	Model string          `json:"model"`
	Feeds map[string]feed `json:"feeds"`
}

type tensor struct {
	Type string `json:"type"`
	Dims []int  `json:"dims"`
	Data []any  `json:"data"`
}

type session struct {
	Inputs  []string          `json:"inputs"`
	Names   []string          `json:"names"`
	Outputs map[string]tensor `json:"outputs"`
}

// runAll runs every job in one ONNX Runtime process.
func runAll(t *testing.T, jobs []job) []session {
	t.Helper()
	dir := runtimeDir(t)
	b, err := json.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	jobFile := filepath.Join(t.TempDir(), "jobs.json")
	if err := os.WriteFile(jobFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "testdata/run.js", jobFile)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ONNX Runtime: %v\n%s", err, stderr.String())
	}
	var res []session
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("ONNX Runtime output: %v", err)
	}
	if len(res) != len(jobs) {
		t.Fatalf("%d results for %d models", len(res), len(jobs))
	}
	return res
}

// feeds turns a data file into the graph's inputs as a caller would: a
// numeric cell parsed as a number (NaN when missing), any other trimmed;
// a block's row is the file's columns PREFIX[0] … PREFIX[D−1].
func feeds(t *testing.T, s *data.Schema, blocks []string, path string) map[string]feed {
	t.Helper()
	header, rows := testdata.ReadCSV(t, path)
	out := map[string]feed{}
	for _, in := range onnx.Inputs(s, blocks...) {
		names := []string{in.Name}
		f := feed{Type: in.Tensor}
		if in.Kind == "block" {
			names = nil
			for i := range in.Columns {
				names = append(names, fmt.Sprintf("%s[%d]", in.Name, i))
			}
			f.Dims = []int{len(rows), in.Columns}
		}
		var cols []int
		for _, name := range names {
			c := slices.Index(header, name)
			if c < 0 {
				t.Fatalf("%s: no column %q", path, name)
			}
			cols = append(cols, c)
		}
		for _, row := range rows {
			for _, c := range cols {
				cell := strings.TrimSpace(row[c])
				switch {
				case in.Tensor == "string":
					f.Data = append(f.Data, cell)
				case data.IsMissing(cell):
					f.Data = append(f.Data, nil)
				default:
					v, err := strconv.ParseFloat(cell, 64)
					if err != nil {
						t.Fatalf("%s: column %q: %v", path, header[c], err)
					}
					f.Data = append(f.Data, v)
				}
			}
		}
		out[in.Name] = f
	}
	return out
}

func cpuBackend(t *testing.T) backend.Backend {
	t.Helper()
	b, err := cpu.New(backend.Options{Threads: 2, BLAS: "gonum"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// train trains a model as mtl-gpu train does and loads its file. These
// tests check that an export computes what predict computes, whatever the
// model learnt: a run that does not beat the constant predictor is saved
// and used all the same.
func train(t *testing.T, b backend.Backend, o pipeline.Options) *pipeline.Model {
	t.Helper()
	r, err := pipeline.Prepare(o)
	if err != nil {
		t.Fatal(err)
	}
	var nb *pipeline.NoBetterError
	if _, err := r.Fit(context.Background(), b, pipeline.Progress{}); err != nil && !(errors.As(err, &nb) && nb.Saved) {
		t.Fatal(err)
	}
	m, err := pipeline.LoadModel(o.Out)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// predictions is a predictions file as predict writes it.
type predictions struct {
	col  map[string]int
	rows [][]string
}

func (p *predictions) get(t *testing.T, row int, column string) string {
	t.Helper()
	c, ok := p.col[column]
	if !ok {
		t.Fatalf("predictions have no column %q", column)
	}
	return p.rows[row][c]
}

func (p *predictions) float(t *testing.T, row int, column string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(p.get(t, row, column), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// predict runs the model on a data file as mtl-gpu predict does and reads
// back what it writes.
func predict(t *testing.T, b backend.Backend, m *pipeline.Model, path string) *predictions {
	t.Helper()
	return predictInput(t, b, m, pipeline.DataInput{Path: path})
}

// predictInput is predict on a data file with its feature files.
func predictInput(t *testing.T, b backend.Backend, m *pipeline.Model, in pipeline.DataInput) *predictions {
	t.Helper()
	var buf bytes.Buffer
	if _, _, err := m.PredictTo(context.Background(), pipeline.On(b), in, &buf, nil); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	p := &predictions{col: map[string]int{}, rows: recs[1:]}
	for i, h := range recs[0] {
		p.col[h] = i
	}
	return p
}

// close is the agreement asked of every output: relative error at most
// 1e-5, or absolute at most 1e-6 near zero.
func close(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	d := math.Abs(a - b)
	return d <= 1e-6 || d <= 1e-5*max(math.Abs(a), math.Abs(b))
}

// number reads a tensor element (null is NaN).
func number(v any) float64 {
	if f, ok := v.(float64); ok {
		return f
	}
	return math.NaN()
}

// compare checks every output of one session against predict's file:
// probabilities and values within close, labels equal except where the
// two classes' probabilities are within close of each other (a tie).
func compare(t *testing.T, name string, s *data.Schema, blocks []string, want *predictions, got session) {
	t.Helper()
	n := len(want.rows)
	var wantInputs []string
	for _, in := range onnx.Inputs(s, blocks...) {
		wantInputs = append(wantInputs, in.Name)
	}
	if fmt.Sprint(got.Inputs) != fmt.Sprint(wantInputs) {
		t.Errorf("%s: graph inputs %q, want %q", name, got.Inputs, wantInputs)
	}
	// worst is the largest error of any probability or value relative to
	// what close and the spread allow at 1e-5: relative to the larger of
	// the two, to 0.1 near zero, and to the spread of a regression.
	worst := 0.0
	rel := func(w, g, scale float64) {
		worst = max(worst, math.Abs(w-g)/max(math.Abs(w), math.Abs(g), scale))
	}
	bad := 0
	fail := func(format string, args ...any) {
		bad++
		if bad <= 8 {
			t.Errorf(name+": "+format, args...)
		}
	}
	for _, o := range onnx.Outputs(s) {
		if o.Value != "" {
			v := got.Outputs[o.Value]
			if fmt.Sprint(v.Dims) != fmt.Sprint([]int{n, 1}) || v.Type != "float64" {
				t.Fatalf("%s: output %q is %s %v, want float64 [%d 1]", name, o.Value, v.Type, v.Dims, n)
			}
			// A value near 0 in a target of a larger spread carries the
			// rounding of that spread: it is held to 1e-5 of the spread.
			spread := 0.0
			for i := range n {
				spread = max(spread, math.Abs(want.float(t, i, o.Task)))
			}
			for i := range n {
				w, g := want.float(t, i, o.Task), number(v.Data[i])
				rel(w, g, max(0.1, spread))
				if !close(w, g) && !(math.Abs(w-g) <= 1e-5*spread) {
					fail("row %d: %s = %.9g, predict %.9g", i, o.Value, g, w)
				}
			}
			continue
		}
		k := len(o.Classes)
		probs, labels := got.Outputs[o.Probabilities], got.Outputs[o.Label]
		if fmt.Sprint(probs.Dims) != fmt.Sprint([]int{n, k}) || probs.Type != "float32" {
			t.Fatalf("%s: output %q is %s %v, want float32 [%d %d]", name, o.Probabilities, probs.Type, probs.Dims, n, k)
		}
		if fmt.Sprint(labels.Dims) != fmt.Sprint([]int{n}) || labels.Type != "string" {
			t.Fatalf("%s: output %q is %s %v, want string [%d]", name, o.Label, labels.Type, labels.Dims, n)
		}
		for i := range n {
			for c, class := range o.Classes {
				col := o.Task + ":p(" + class + ")"
				w, g := want.float(t, i, col), number(probs.Data[i*k+c])
				rel(w, g, 0.1)
				if !close(w, g) {
					fail("row %d: %s[%d] = %.9g, predict's %s %.9g", i, o.Probabilities, c, g, col, w)
				}
			}
			w, g := want.get(t, i, o.Task), labels.Data[i].(string)
			if w != g && !close(want.float(t, i, o.Task+":p("+w+")"), want.float(t, i, o.Task+":p("+g+")")) {
				fail("row %d: %s = %q, predict %q", i, o.Label, g, w)
			}
		}
	}
	if bad > 8 {
		t.Errorf("%s: %d disagreements in all", name, bad)
	}
	t.Logf("%s: largest relative error %.2g", name, worst)
}
