package serve

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/internal/testdata"
	"github.com/mtl-gpu/mtl-gpu/pipeline"
)

func cpuBackend(t *testing.T) backend.Backend {
	t.Helper()
	b, err := cpu.New(backend.Options{Threads: 2, BLAS: "gonum"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// trainFile trains a model as mtl-gpu train does and returns its file.
func trainFile(t *testing.T, b backend.Backend, o pipeline.Options) string {
	t.Helper()
	r, err := pipeline.Prepare(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Fit(context.Background(), b, pipeline.Progress{}); err != nil {
		t.Fatal(err)
	}
	return o.Out
}

// adultModel trains a small model on adult: a binary and a multiclass
// task, numeric and categorical inputs.
func adultModel(t *testing.T, b backend.Backend, dir string) string {
	t.Helper()
	o := pipeline.DefaultOptions()
	o.Data, o.Out = testdata.File(t, "adult/adult_train.csv.gz"), filepath.Join(dir, "adult.mtl")
	o.Tasks = []string{"income_gt_50k:binary", "relationship:multiclass"}
	o.Ignore = []string{"marital_status"}
	o.Train.Epochs = 1
	return trainFile(t, b, o)
}

// familyModel trains a model with a group column and imputed numbers on
// generated data, and returns its file and the data file.
func familyModel(t *testing.T, b backend.Backend, dir string) (string, string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var buf bytes.Buffer
	buf.WriteString("x,colour,site,y\n")
	for i := range 300 {
		x := rng.NormFloat64()
		xs := strconv.FormatFloat(x, 'f', 4, 64)
		if i%10 == 5 {
			xs = ""
		}
		site := rng.IntN(3)
		fmt.Fprintf(&buf, "%s,%s,%d,%.3f\n", xs, []string{"red", "blue"}[rng.IntN(2)], site, 2*x+float64(site)+0.1*rng.NormFloat64())
	}
	file := filepath.Join(dir, "family.csv")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	o := pipeline.DefaultOptions()
	o.Data, o.Out, o.Tasks, o.Impute = file, filepath.Join(dir, "family.mtl"), []string{"y:regression"}, "mean"
	o.GroupColumn, o.Train.Epochs = "site", 2
	// Standardised, unclipped: a large enough number overflows float32
	// after encoding, an error the requests below must get.
	o.Numeric = "standard"
	return trainFile(t, b, o), file
}

// start serves a model file with httptest and returns the server's URL.
func start(t *testing.T, b backend.Backend, path string, o Options) (*Server, string) {
	t.Helper()
	s, err := New(path, b, o)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	return s, hs.URL
}

// want is predict's output for a data file: its columns and cells.
func want(t *testing.T, b backend.Backend, model, file string) *pipeline.PredictionTable {
	t.Helper()
	m, err := pipeline.LoadModel(model)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, _, err := m.PredictTo(context.Background(), pipeline.On(b), pipeline.DataInput{Path: file}, &buf, nil); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	label := map[string]bool{}
	for _, tg := range m.Schema.Targets {
		label[tg.Name] = tg.Type != data.Regression
	}
	pt := &pipeline.PredictionTable{Columns: recs[0], Rows: recs[1:]}
	for _, c := range pt.Columns {
		pt.Numeric = append(pt.Numeric, !label[c])
	}
	return pt
}

// jsonRows turns rows of a data file into request objects: numeric
// columns as JSON numbers (null when missing), the others as strings.
func jsonRows(t *testing.T, model, file string, rows []int) []map[string]any {
	t.Helper()
	m, err := pipeline.LoadModel(model)
	if err != nil {
		t.Fatal(err)
	}
	header, records := testdata.ReadCSV(t, file)
	var out []map[string]any
	for _, r := range rows {
		obj := map[string]any{}
		for _, in := range m.Describe().Inputs.List {
			cell := strings.TrimSpace(records[r][slices.Index(header, in.Name)])
			switch {
			case in.Kind != "numeric":
				obj[in.Name] = cell
			case data.IsMissing(cell):
				obj[in.Name] = nil
			default:
				obj[in.Name] = json.Number(cell)
			}
		}
		out = append(out, obj)
	}
	return out
}

// post sends a body to /v1/predict and returns the status and body.
func post(t *testing.T, url string, body []byte) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url+"/v1/predict", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// checkAnswer checks that an answer holds, for each requested row, the
// columns and cells predict wrote for it.
func checkAnswer(t *testing.T, body []byte, w *pipeline.PredictionTable, rows []int) {
	t.Helper()
	var got struct {
		Predictions []map[string]any `json:"predictions"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("answer %.200s: %v", body, err)
	}
	if len(got.Predictions) != len(rows) {
		t.Fatalf("%d predictions for %d rows", len(got.Predictions), len(rows))
	}
	for i, r := range rows {
		p := got.Predictions[i]
		if len(p) != len(w.Columns) {
			t.Fatalf("row %d: %d columns, want %d", i, len(p), len(w.Columns))
		}
		for j, c := range w.Columns {
			var cell string
			switch v := p[c].(type) {
			case json.Number:
				cell = v.String()
			case string:
				cell = v
			}
			if w.Numeric[j] != (p[c] != nil && fmt.Sprintf("%T", p[c]) == "json.Number") || cell != w.Rows[r][j] {
				t.Fatalf("row %d (file row %d): %s = %#v, predict wrote %q", i, r, c, p[c], w.Rows[r][j])
			}
		}
	}
}

// metric reads one value from /metrics.
func metric(t *testing.T, url, name string) int {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\d+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("/metrics has no %s:\n%s", name, b)
	}
	v, _ := strconv.Atoi(string(m[1]))
	return v
}

// TestAnswersEqualPredict posts every adult test row in one request and a
// family model's rows (imputed numbers, groups) and checks each answer
// cell by cell against what predict writes for the same rows.
func TestAnswersEqualPredict(t *testing.T) {
	b := cpuBackend(t)
	dir := t.TempDir()
	adult := adultModel(t, b, dir)
	test := testdata.File(t, "adult/adult_test.csv.gz")
	_, url := start(t, b, adult, DefaultOptions())
	w := want(t, b, adult, test)
	all := make([]int, len(w.Rows))
	for i := range all {
		all[i] = i
	}
	body, _ := json.Marshal(jsonRows(t, adult, test, all))
	code, got := post(t, url, body)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, got)
	}
	checkAnswer(t, got, w, all)

	family, file := familyModel(t, b, dir)
	_, url = start(t, b, family, DefaultOptions())
	w = want(t, b, family, file)
	rows := []int{0, 5, 9, 17, 42, 299}
	body, _ = json.Marshal(jsonRows(t, family, file, rows))
	if !bytes.Contains(body, []byte(`"x":null`)) {
		t.Fatalf("no missing number among the rows: %s", body)
	}
	code, got = post(t, url, body)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, got)
	}
	checkAnswer(t, got, w, rows)
}

// TestBadRequests sends each kind of bad request and checks its 400 and
// that the message names the row and column; the server answers a good
// request afterwards.
func TestBadRequests(t *testing.T) {
	b := cpuBackend(t)
	dir := t.TempDir()
	model, file := familyModel(t, b, dir)
	o := DefaultOptions()
	o.MaxBody = 4096
	_, url := start(t, b, model, o)
	good := `{"x": 0.5, "colour": "red", "site": "1"}`
	cases := []struct{ body, want string }{
		{`[` + good + `,`, "invalid JSON"},
		{`{"x": 1}`, "want a JSON array of rows"},
		{`null`, "want a JSON array of rows"},
		{`[` + good + `, 7]`, "row 1: want an object keyed by column name, got a number"},
		{`[` + good + `, {"x": 1, "site": "1"}]`, `row 1: column "colour": missing`},
		{`[{"x": "1.5", "colour": "red", "site": "1"}]`, `row 0: column "x": want a number or null, got a string`},
		{`[` + good + `, ` + good + `, {"x": 1, "colour": true, "site": "1"}]`, `row 2: column "colour": want a string, got a boolean`},
		{`[{"x": 1, "colour": {"a": 1}, "site": "1"}]`, `row 0: column "colour": want a string, got an object`},
		{`[{"x": [1], "colour": "red", "site": "1"}]`, `row 0: column "x": want a number or null, got an array`},
		{`[{"x": 1e999, "colour": "red", "site": "1"}]`, `row 0: column "x": 1e999 is not a finite number`},
		{`[{"x": 1e300, "colour": "red", "site": "1"}]`, `row 0: column "x": "1e300" is too large after standardising`},
		{`[{"x": 1, "colour": "red", "site": null}]`, `row 0: column "site": the group is missing`},
		{`[` + strings.Repeat(good+",", 100) + good + `]`, "the request body is over the limit of 4096 bytes"},
	}
	for _, c := range cases {
		code, got := post(t, url, []byte(c.body))
		var msg struct{ Error string }
		if err := json.Unmarshal(got, &msg); err != nil || code != http.StatusBadRequest || !strings.Contains(msg.Error, c.want) {
			t.Errorf("%.60s: status %d, %s; want 400 with %q", c.body, code, got, c.want)
		}
	}
	// Without imputation a missing number is an error too.
	adult := adultModel(t, b, dir)
	_, adultURL := start(t, b, adult, DefaultOptions())
	rows := jsonRows(t, adult, testdata.File(t, "adult/adult_test.csv.gz"), []int{0})
	rows[0]["age"] = nil
	body, _ := json.Marshal(rows)
	if code, got := post(t, adultURL, body); code != http.StatusBadRequest || !strings.Contains(string(got), `row 0: column \"age\": missing value`) {
		t.Errorf("a missing age without imputation: %d %s", code, got)
	}
	resp, err := http.Get(url + "/v1/predict")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/predict: status %d", resp.StatusCode)
	}
	w := want(t, b, model, file)
	body, _ = json.Marshal(jsonRows(t, model, file, []int{3}))
	code, got := post(t, url, body)
	if code != http.StatusOK {
		t.Fatalf("a good request after the bad ones: %d %s", code, got)
	}
	checkAnswer(t, got, w, []int{3})
	if n := metric(t, url, `mtlgpu_http_requests_total{handler="/v1/predict",code="400"}`); n != len(cases) {
		t.Errorf("/metrics counts %d answers 400, want %d", n, len(cases))
	}
	for _, name := range []string{`mtlgpu_http_request_duration_seconds_count{handler="/v1/predict"}`, `mtlgpu_http_request_duration_seconds_bucket{handler="/v1/predict",le="+Inf"}`} {
		if n := metric(t, url, name); n != len(cases)+1 {
			t.Errorf("%s = %d, want %d", name, n, len(cases)+1)
		}
	}
	resp, err = http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	health, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(health) != "{\"status\":\"ok\"}\n" {
		t.Errorf("/healthz: %d %q", resp.StatusCode, health)
	}
}

// TestConcurrentClientsShareBatches sends requests from many clients at
// once, one of them with a row that fails in the model's preprocessing,
// and checks that every other client gets its own rows' predictions,
// that the bad one gets its 400, and that the requests shared batches.
func TestConcurrentClientsShareBatches(t *testing.T) {
	b := cpuBackend(t)
	dir := t.TempDir()
	model, file := familyModel(t, b, dir)
	o := DefaultOptions()
	o.MaxWait = 100 * time.Millisecond
	_, url := start(t, b, model, o)
	w := want(t, b, model, file)
	const clients = 24
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows := []int{c, c + 100, c + 200}[:1+c%3]
			reqRows := jsonRows(t, model, file, rows)
			if c == 7 {
				reqRows[0]["x"] = json.Number("1e300")
			}
			body, _ := json.Marshal(reqRows)
			code, got := post(t, url, body)
			if c == 7 {
				if code != http.StatusBadRequest || !strings.Contains(string(got), `row 0: column \"x\"`) {
					t.Errorf("client %d: %d %s", c, code, got)
				}
				return
			}
			if code != http.StatusOK {
				t.Errorf("client %d: %d %s", c, code, got)
				return
			}
			checkAnswer(t, got, w, rows)
		}()
	}
	wg.Wait()
	requests := metric(t, url, "mtlgpu_batched_requests_total")
	batches := metric(t, url, "mtlgpu_batches_total")
	// Client 7's row fails before the forward pass, and its batch runs
	// again without it.
	if requests != clients-1 || batches >= requests/2 {
		t.Errorf("%d requests in %d batches: they did not share forward passes", requests, batches)
	}
	t.Logf("%d requests answered in %d batches", requests, batches)
}

// TestNoBatchingWithMaxBatchOne runs every request on its own.
func TestNoBatchingWithMaxBatchOne(t *testing.T) {
	b := cpuBackend(t)
	model, file := familyModel(t, b, t.TempDir())
	o := DefaultOptions()
	o.MaxBatch, o.MaxWait = 1, 50*time.Millisecond
	_, url := start(t, b, model, o)
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, _ := json.Marshal(jsonRows(t, model, file, []int{c}))
			if code, got := post(t, url, body); code != http.StatusOK {
				t.Errorf("%d %s", code, got)
			}
		}()
	}
	wg.Wait()
	if batches := metric(t, url, "mtlgpu_batches_total"); batches != 8 {
		t.Errorf("8 one-row requests in %d batches with a batch of at most 1 row", batches)
	}
}

// TestReload swaps in another model and keeps it when a later file is
// corrupt.
func TestReload(t *testing.T) {
	b := cpuBackend(t)
	dir := t.TempDir()
	model, _ := familyModel(t, b, dir)
	adult := adultModel(t, b, dir)
	served := filepath.Join(dir, "served.mtl")
	copyFile(t, model, served)
	s, url := start(t, b, served, DefaultOptions())
	tasks := func() []string {
		resp, err := http.Get(url + "/v1/model")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var d pipeline.Description
		if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, task := range d.Tasks {
			names = append(names, task.Name)
		}
		return names
	}
	if got := tasks(); !slices.Equal(got, []string{"y"}) {
		t.Fatalf("tasks %v", got)
	}
	copyFile(t, adult, served)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := tasks(); !slices.Equal(got, []string{"income_gt_50k", "relationship"}) {
		t.Errorf("after reloading: tasks %v", got)
	}
	if err := os.WriteFile(served, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err == nil {
		t.Error("reloading a corrupt file succeeded")
	}
	if got := tasks(); !slices.Equal(got, []string{"income_gt_50k", "relationship"}) {
		t.Errorf("after a failed reload: tasks %v", got)
	}
	rows := jsonRows(t, adult, testdata.File(t, "adult/adult_test.csv.gz"), []int{0, 1})
	body, _ := json.Marshal(rows)
	if code, got := post(t, url, body); code != http.StatusOK {
		t.Errorf("after a failed reload: %d %s", code, got)
	}
	if metric(t, url, `mtlgpu_model_reloads_total{result="ok"}`) != 1 || metric(t, url, `mtlgpu_model_reloads_total{result="error"}`) != 1 {
		t.Error("/metrics does not count one good and one failed reload")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
