package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mtl-gpu/mtl-gpu/internal/testdata"
	"github.com/mtl-gpu/mtl-gpu/mtl"
	"github.com/mtl-gpu/mtl-gpu/pipeline"
)

// buildTags are the tags the test binary was built with; the binary under
// test is built with the same.
var buildTags string

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mtl-gpu-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "mtl-gpu")
	args := []string{"build", "-o", binary}
	if buildTags != "" {
		args = append(args, "-tags", buildTags)
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building mtl-gpu: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func sharedFile(t *testing.T, name string) string {
	t.Helper()
	abs, err := filepath.Abs(testdata.File(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

type result struct {
	code           int
	stdout, stderr string
}

// mtlgpu runs the binary in dir with args.
func mtlgpu(t *testing.T, dir string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

func ok(t *testing.T, r result) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit status %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"", "train", "eval", "predict", "devices", "bench", "compare", "plot", "export", "serve", "convert", "inspect"} {
		args := strings.Fields(cmd + " --help")
		r := mtlgpu(t, t.TempDir(), args...)
		ok(t, r)
		if !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("%s --help prints no usage: %q", cmd, r.stdout)
		}
	}
}

// TestDemo is the newcomer's first command: train on the built-in data.
func TestDemo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := mtlgpu(t, dir, "train", "--quiet")
	ok(t, r)
	m := regexp.MustCompile(`held-out explained variance ([0-9.]+)%.*model saved to school.mtl`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("unexpected output %q", r.stdout)
	}
	if ev, _ := strconv.ParseFloat(m[1], 64); ev < 30 {
		t.Errorf("held-out explained variance %.1f%%; single-task ridge reaches 32%%, pooled ridge with school intercepts 37%%", ev)
	}
	if strings.TrimSpace(r.stderr) != "" {
		t.Errorf("--quiet printed %q", r.stderr)
	}
	if _, _, err := mtl.LoadFile(filepath.Join(dir, "school.mtl")); err != nil {
		t.Error(err)
	}
}

var emotionTasks = []string{"amazed-suprised", "happy-pleased", "relaxing-calm", "quiet-still", "sad-lonely", "angry-aggresive"}

func taskFlags(specs ...string) []string {
	var out []string
	for _, s := range specs {
		out = append(out, "--task", s)
	}
	return out
}

type report struct {
	Tasks   map[string]map[string]any `json:"tasks"`
	Overall map[string]*float64       `json:"overall"`
}

func evalJSON(t *testing.T, dir, model, file string) report {
	t.Helper()
	r := mtlgpu(t, dir, "eval", "--model", model, "--data", file, "--json")
	ok(t, r)
	var rep report
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("eval --json output is not JSON: %v\n%s", err, r.stdout)
	}
	if dec.More() {
		t.Fatalf("eval --json printed more than one JSON object: %s", r.stdout)
	}
	return rep
}

func metric(t *testing.T, rep report, task, name string) float64 {
	t.Helper()
	v, ok := rep.Tasks[task][name].(float64)
	if !ok {
		t.Fatalf("task %q has no metric %q: %v", task, name, rep.Tasks[task])
	}
	return v
}

// TestEmotions trains six binary tasks with default flags and scores them
// on the official test split; binary relevance with logistic regression
// has Hamming loss 0.221 and mean AUC 0.825 there, the defaults 0.849 over
// 5 seeds.
func TestEmotions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var specs []string
	for _, n := range emotionTasks {
		specs = append(specs, n+":binary")
	}
	ok(t, mtlgpu(t, dir, append([]string{"train", "--data", sharedFile(t, "emotions/emotions_train.csv"), "--out", "m.mtl", "--log", "log.jsonl"}, taskFlags(specs...)...)...))
	rep := evalJSON(t, dir, "m.mtl", sharedFile(t, "emotions/emotions_test.csv"))
	if len(rep.Tasks) != 6 {
		t.Fatalf("%d tasks in the report", len(rep.Tasks))
	}
	for _, n := range emotionTasks {
		if tt := rep.Tasks[n]["type"]; tt != "binary" || rep.Tasks[n]["n"] != 202.0 {
			t.Errorf("task %s: type %v, n %v", n, tt, rep.Tasks[n]["n"])
		}
	}
	// With every label present, the Hamming loss is 1 − the mean accuracy.
	auc, ham := *rep.Overall["binary_mean_auc"], 1-*rep.Overall["binary_mean_accuracy"]
	t.Logf("emotions: mean AUC %.4f, Hamming loss %.4f", auc, ham)
	if auc < 0.835 || ham > 0.235 {
		t.Errorf("mean AUC %.4f, Hamming loss %.4f", auc, ham)
	}
	checkLog(t, filepath.Join(dir, "log.jsonl"), emotionTasks)
}

// checkLog reads a --log file: one JSON object per epoch with the
// documented keys.
func checkLog(t *testing.T, path string, tasks []string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	for i, line := range lines {
		var e struct {
			Epoch     int                        `json:"epoch"`
			Seconds   float64                    `json:"seconds"`
			TrainLoss *float64                   `json:"train_loss"`
			ValLoss   *float64                   `json:"val_loss"`
			Tasks     map[string]map[string]*any `json:"tasks"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line %d: %v", i+1, err)
		}
		if e.Epoch != i+1 || e.TrainLoss == nil || e.ValLoss == nil || e.Seconds <= 0 {
			t.Errorf("log line %d: %s", i+1, line)
		}
		for _, n := range tasks {
			for _, k := range []string{"train_loss", "val_loss", "weight"} {
				if v, ok := e.Tasks[n][k]; !ok || v == nil {
					t.Errorf("log line %d: task %s has no %s", i+1, n, k)
				}
			}
		}
	}
}

// TestAdult trains a binary and two multiclass tasks with categorical
// inputs and default flags. Logistic regression on the same inputs
// reaches accuracies 0.829, 0.680 and 0.605; HistGB an income AUC of
// 0.8965 and accuracy of 0.854, the defaults 0.8875 and 0.848 over 5
// seeds.
func TestAdult(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok(t, mtlgpu(t, dir, append([]string{"train", "--quiet", "--data", sharedFile(t, "adult/adult_train.csv.gz"), "--out", "adult.mtl"},
		taskFlags("income_gt_50k:binary", "marital_status:multiclass", "relationship:multiclass")...)...))
	rep := evalJSON(t, dir, "adult.mtl", sharedFile(t, "adult/adult_test.csv.gz"))
	income, marital, rel := metric(t, rep, "income_gt_50k", "accuracy"), metric(t, rep, "marital_status", "accuracy"), metric(t, rep, "relationship", "accuracy")
	t.Logf("adult: income accuracy %.4f AUC %.4f, marital status %.4f, relationship %.4f", income, metric(t, rep, "income_gt_50k", "auc"), marital, rel)
	if income < 0.84 || marital < 0.67 || rel < 0.60 {
		t.Errorf("accuracies %.4f, %.4f, %.4f", income, marital, rel)
	}
	if auc := metric(t, rep, "income_gt_50k", "auc"); auc < 0.88 {
		t.Errorf("income AUC %.4f, want at least 0.88", auc)
	}
	// The same rows written as Parquet by DuckDB (a null for "?") score the
	// same, number for number.
	csvEval := mtlgpu(t, dir, "eval", "--model", "adult.mtl", "--data", sharedFile(t, "adult/adult_test.csv.gz"), "--json")
	pqEval := mtlgpu(t, dir, "eval", "--model", "adult.mtl", "--data", sharedFile(t, "parquet-interop/adult_test.duckdb.parquet"), "--json")
	if ok(t, pqEval); pqEval.stdout != csvEval.stdout {
		t.Errorf("eval of the Parquet test file:\n%s\nof the CSV file:\n%s", pqEval.stdout, csvEval.stdout)
	}

	// Predictions give labels back as written and one probability per class.
	r := mtlgpu(t, dir, "predict", "--model", "adult.mtl", "--data", sharedFile(t, "adult/adult_test.csv.gz"), "--keep", "age,sex", "--out", "pred.csv")
	ok(t, r)
	raw, err := os.ReadFile(filepath.Join(dir, "pred.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 16282 {
		t.Fatalf("%d lines of predictions, want a header and 16281 rows", len(lines))
	}
	header := strings.Split(lines[0], ",")
	for _, want := range []string{"age", "sex", "income_gt_50k", "income_gt_50k:p(1)", "marital_status", "marital_status:p(Never-married)", "relationship:p(Husband)"} {
		if !slices.Contains(header, want) {
			t.Errorf("prediction header %v lacks %q", header, want)
		}
	}
	first := strings.Split(lines[1], ",")
	col := slices.Index(header, "relationship")
	if !slices.Contains([]string{"Husband", "Not-in-family", "Own-child", "Unmarried", "Wife", "Other-relative"}, first[col]) {
		t.Errorf("relationship predicted as %q", first[col])
	}
}

// TestSchoolFamily trains the School data with a group column and scores
// it head by head.
func TestSchoolFamily(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok(t, mtlgpu(t, dir, "train", "--quiet", "--data", sharedFile(t, "school/school.csv"), "--task", "exam_score:regression",
		"--group-column", "school_id", "--out", "s.mtl", "--epochs", "5"))
	rep := evalJSON(t, dir, "s.mtl", sharedFile(t, "school/school.csv"))
	// The family is one task, with a head per school listed under it.
	groups, _ := rep.Tasks["exam_score"]["groups"].(map[string]any)
	if len(rep.Tasks) != 1 || len(groups) != 139 {
		t.Errorf("%d tasks (%v), %d groups; want one task with one group per school", len(rep.Tasks), keys(rep.Tasks), len(groups))
	}
	if _, ok := groups["17"].(map[string]any)["r2"]; !ok {
		t.Errorf("no R² for school 17 in %v", groups["17"])
	}
	if r2 := metric(t, rep, "exam_score", "r2"); r2 < 0.3 || *rep.Overall["regression_mean_r2"] != r2 {
		t.Errorf("R² over all rows %v, overall %v", r2, *rep.Overall["regression_mean_r2"])
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestBadInput: each mistake gives one line naming the file, line and
// column or the flag, a non-zero exit status, and no model file.
func TestBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.csv", "a,b,y\n1,2,x\n3,4,z\n5,6,x\n")
	ok(t, mtlgpu(t, dir, "train", "--data", good, "--task", "y:multiclass", "--out", "good.mtl", "--epochs", "20", "--val-split", "0"))
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"train", "--data", "nope.csv", "--task", "y:binary", "--out", "m.mtl"}, "nope.csv"},
		{"empty file", []string{"train", "--data", write("empty.csv", ""), "--task", "y:binary", "--out", "m.mtl"}, "empty.csv"},
		{"ragged row", []string{"train", "--data", write("ragged.csv", "a,b,y\n1,2,1\n3,1\n"), "--task", "y:binary", "--out", "m.mtl"}, "ragged.csv:3"},
		{"non-numeric value", []string{"eval", "--model", "good.mtl", "--data", write("nonnum.csv", "a,b,y\n1,2,x\nabc,4,z\n")}, `nonnum.csv:3: column "a"`},
		{"unknown column pattern", []string{"train", "--data", good, "--task", "y:multiclass", "--categorical", "zz", "--out", "m.mtl"}, "zz"},
		{"pattern matches nothing", []string{"train", "--data", good, "--task", "label*:binary", "--out", "m.mtl"}, "label*"},
		{"feature and target", []string{"train", "--data", good, "--task", "y:multiclass", "--categorical", "y", "--out", "m.mtl"}, `"y"`},
		{"missing numeric feature", []string{"train", "--data", write("hole.csv", "a,b,y\n1,,1\n3,4,0\n"), "--task", "y:binary", "--out", "m.mtl"}, `hole.csv:2: column "b"`},
		{"infinite feature", []string{"train", "--data", write("inf.csv", "a,b,y\n1,inf,1\n3,4,0\n"), "--task", "y:binary", "--out", "m.mtl"}, `inf.csv:2: column "b"`},
		{"bad task spec", []string{"train", "--data", good, "--task", "y:ordinal", "--out", "m.mtl"}, "--task"},
		{"no such device", []string{"train", "--data", good, "--task", "y:multiclass", "--out", "m.mtl", "--val-split", "0", "--device", "opencl:7:7"}, "--device"},
		{"invalid device", []string{"train", "--data", good, "--task", "y:multiclass", "--out", "m.mtl", "--val-split", "0", "--device", "gpu"}, "--device"},
		{"bad hidden", []string{"train", "--data", good, "--task", "y:multiclass", "--out", "m.mtl", "--hidden", "x"}, "--hidden"},
		{"dropout of 1", []string{"train", "--data", good, "--task", "y:multiclass", "--out", "m.mtl", "--dropout", "1"}, "--dropout 1"},
		{"dropout without hidden layers", []string{"train", "--data", good, "--task", "y:multiclass", "--out", "m.mtl", "--hidden", "none", "--dropout", "0.2"}, "--dropout 0.2"},
		{"negative label smoothing", []string{"train", "--data", good, "--task", "y:multiclass", "--out", "m.mtl", "--label-smoothing", "-0.1"}, "--label-smoothing"},
		{"feature missing at predict", []string{"predict", "--model", "good.mtl", "--data", write("nofeature.csv", "a,y\n1,x\n"), "--out", "p.csv"}, `"b"`},
		{"not a model", []string{"eval", "--model", good, "--data", good}, "good.csv"},
		{"missing model", []string{"predict", "--model", "none.mtl", "--data", good, "--out", "p.csv"}, "none.mtl"},
	}
	for _, c := range cases {
		r := mtlgpu(t, dir, c.args...)
		msg := strings.TrimSpace(r.stderr)
		if r.code == 0 {
			t.Errorf("%s: exit status 0", c.name)
			continue
		}
		if strings.Count(msg, "\n") != 0 || !strings.HasPrefix(msg, "mtl-gpu: ") {
			t.Errorf("%s: error is not one line: %q", c.name, msg)
		}
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s: error %q does not name %q", c.name, msg, c.want)
		}
		for _, f := range []string{"m.mtl", "p.csv"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				t.Errorf("%s: %s was written", c.name, f)
				os.Remove(filepath.Join(dir, f))
			}
		}
	}
}

// TestDivergence: a learning rate that blows the loss up stops with advice,
// and the model file from an earlier good run is left as it was.
func TestDivergence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := sharedFile(t, "seed_example/seed_train.csv")
	ok(t, mtlgpu(t, dir, "train", "--quiet", "--data", file, "--task", "y:multiclass", "--out", "m.mtl", "--epochs", "2"))
	before, _ := os.ReadFile(filepath.Join(dir, "m.mtl"))
	r := mtlgpu(t, dir, "train", "--quiet", "--data", file, "--task", "y:multiclass", "--out", "m.mtl", "--optimizer", "sgd", "--lr", "1e30", "--momentum", "0")
	if r.code == 0 || !strings.Contains(r.stderr, "lower learning rate") {
		t.Fatalf("diverging run: status %d, %q", r.code, r.stderr)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "m.mtl"))
	if !bytes.Equal(before, after) {
		t.Error("the diverging run changed the model file")
	}
}

// TestInterruptAndResume interrupts a run with SIGINT, resumes it, and
// requires the parameters of a run that was never interrupted.
func TestInterruptAndResume(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := sharedFile(t, "adult/adult_train.csv.gz")
	args := append([]string{"train", "--data", file, "--epochs", "4", "--patience", "0", "--device", "cpu", "--blas", "gonum"},
		taskFlags("income_gt_50k:binary", "relationship:multiclass")...)
	ok(t, mtlgpu(t, dir, append(args, "--out", "straight.mtl")...))

	cmd := exec.Command(binary, append(args, "--out", "stopped.mtl")...)
	cmd.Dir = dir
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(stderr.String(), "epoch=1 ") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("interrupted run: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "--resume stopped.mtl") {
		t.Errorf("no advice to resume in %q", stderr.String())
	}
	ok(t, mtlgpu(t, dir, "train", "--resume", "stopped.mtl", "--data", file, "--device", "cpu", "--blas", "gonum"))
	a, _, err := mtl.LoadFile(filepath.Join(dir, "straight.mtl"))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := mtl.LoadFile(filepath.Join(dir, "stopped.mtl"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Model.Params, b.Model.Params) || a.State.Epoch != b.State.Epoch {
		t.Errorf("the resumed run differs from the uninterrupted one (epochs %d and %d)", a.State.Epoch, b.State.Epoch)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func (s *syncBuffer) lock() {
	if s.mu == nil {
		s.mu = make(chan struct{}, 1)
	}
	s.mu <- struct{}{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.lock()
	defer func() { <-s.mu }()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.lock()
	defer func() { <-s.mu }()
	return s.buf.String()
}

func TestDevices(t *testing.T) {
	t.Parallel()
	r := mtlgpu(t, t.TempDir(), "devices")
	ok(t, r)
	if !regexp.MustCompile(`(?m)^cpu\s.*BLAS (openblas|gonum)`).MatchString(r.stdout) {
		t.Errorf("devices does not list the CPU and its BLAS:\n%s", r.stdout)
	}
	// CUDA is in every build: listed with its devices, or saying why there
	// are none, never crashing.
	if !regexp.MustCompile(`(?m)^cuda(:\d+\s|\s+-\s+-\s+no NVIDIA driver found)`).MatchString(r.stdout) {
		t.Errorf("devices does not account for CUDA:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, "no NVIDIA driver found") {
		r := mtlgpu(t, t.TempDir(), "train", "--device", "cuda:0", "--epochs", "1")
		if r.code == 0 || !strings.Contains(r.stderr, "--device cuda:0") || !strings.Contains(r.stderr, "no NVIDIA driver found") {
			t.Errorf("training on cuda:0 without a driver: status %d, %q", r.code, r.stderr)
		}
	}
}

func TestPosWeightAuto(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok(t, mtlgpu(t, dir, append([]string{"train", "--quiet", "--data", sharedFile(t, "emotions/emotions_train.csv"), "--out", "m.mtl", "--epochs", "1", "--pos-weight", "auto"},
		taskFlags("amazed-suprised:binary", "quiet-still:binary")...)...))
	ck, _, err := mtl.LoadFile(filepath.Join(dir, "m.mtl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range ck.Model.Spec.Tasks {
		if !(task.PosWeight > 1) || math.IsInf(task.PosWeight, 0) {
			t.Errorf("task %s: positive weight %g for a minority positive class", task.Name, task.PosWeight)
		}
	}
}

// TestCompareSchool: with 10% of each school for training, one model per
// school cannot learn much, and the multi-task model gains clearly.
func TestCompareSchool(t *testing.T) {
	t.Parallel()
	r := mtlgpu(t, t.TempDir(), "compare", "--quiet", "--data", sharedFile(t, "school/school.csv"), "--task", "exam_score:regression",
		"--group-column", "school_id", "--train-fraction", "0.1", "--weighting", "equal,uncertainty", "--seeds", "2", "--json")
	ok(t, r)
	var res struct {
		Seeds int `json:"seeds"`
		Tasks map[string]struct {
			Metric  string `json:"metric"`
			Results map[string]struct {
				Mean   float64   `json:"mean"`
				Std    float64   `json:"std"`
				Values []float64 `json:"values"`
			} `json:"results"`
		} `json:"tasks"`
		DeltaM   map[string]struct{ Mean float64 } `json:"delta_m"`
		MeanRank map[string]float64                `json:"mean_rank"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	task := res.Tasks["exam_score"]
	single, equal := task.Results["single-task"], task.Results["equal"]
	t.Logf("School, 10%% training rows: explained variance single-task %.3f ± %.3f, multi-task %.3f ± %.3f", single.Mean, single.Std, equal.Mean, equal.Std)
	if task.Metric != "explained_variance" || len(equal.Values) != 2 {
		t.Fatalf("unexpected result %+v", task)
	}
	if equal.Mean < 0.28 || equal.Mean < single.Mean+0.15 {
		t.Errorf("multi-task %.3f against single-task %.3f: no clear gain", equal.Mean, single.Mean)
	}
	if res.DeltaM["equal"].Mean >= 0 || res.MeanRank["single-task"] != 3 {
		t.Errorf("Δm %v, ranks %v", res.DeltaM, res.MeanRank)
	}
}

// TestWeightingLogAndPlot trains with a gradient method, checks the log
// keys it adds and draws the log.
func TestWeightingLogAndPlot(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ok(t, mtlgpu(t, dir, append([]string{"train", "--quiet", "--data", sharedFile(t, "emotions/emotions_train.csv"), "--out", "m.mtl", "--epochs", "4",
		"--weighting", "pcgrad", "--log", "log.jsonl"}, taskFlags("amazed-suprised:binary", "quiet-still:binary", "sad-lonely:binary")...)...))
	raw, _ := os.ReadFile(filepath.Join(dir, "log.jsonl"))
	for i, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		cos, ok1 := e["grad_cosine_mean"].(float64)
		share, ok2 := e["conflict_share"].(float64)
		if !ok1 || !ok2 || cos < -1 || cos > 1 || share < 0 || share > 1 {
			t.Errorf("line %d: grad_cosine_mean %v, conflict_share %v", i+1, e["grad_cosine_mean"], e["conflict_share"])
		}
		if _, ok := e["tasks"].(map[string]any)["quiet-still"].(map[string]any)["val_auc"].(float64); !ok {
			t.Errorf("line %d has no validation AUC for quiet-still", i+1)
		}
	}
	ok(t, mtlgpu(t, dir, "plot", "--log", "log.jsonl", "--out", "curves.png"))
	png, err := os.ReadFile(filepath.Join(dir, "curves.png"))
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 10000 {
		t.Errorf("curves.png is not a drawn PNG (%d bytes, %v)", len(png), err)
	}
	r := mtlgpu(t, dir, "plot", "--log", "m.mtl", "--out", "x.png")
	if r.code == 0 || !strings.Contains(r.stderr, "m.mtl:1") {
		t.Errorf("plotting a model file: %d %q", r.code, r.stderr)
	}
}

// TestHiddenAuto chooses the shared width by validation and saves the
// chosen model.
func TestHiddenAuto(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := mtlgpu(t, dir, "train", "--data", sharedFile(t, "seed_example/seed_train.csv"), "--task", "y:multiclass", "--out", "m.mtl", "--hidden", "auto", "--epochs", "5")
	ok(t, r)
	if !strings.Contains(r.stderr, "← chosen") || strings.Count(r.stderr, "\n  ") < 9 {
		t.Errorf("no grid report in %q", r.stderr)
	}
	ck, _, err := mtl.LoadFile(filepath.Join(dir, "m.mtl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ck.Model.Spec.Hidden) != 1 || !slices.Contains(pipeline.AutoWidths, ck.Model.Spec.Hidden[0]) || !slices.Contains(pipeline.AutoDecays, ck.Config.WeightDecay) {
		t.Errorf("saved model has hidden %v and weight decay %g", ck.Model.Spec.Hidden, ck.Config.WeightDecay)
	}
}

// TestTune searches four configurations by successive halving, prints
// the leaderboard best first, saves the survivor trained to the run's
// budget with the search recorded, and the model evaluates.
func TestTune(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := mtlgpu(t, dir, "train", "--data", sharedFile(t, "seed_example/seed_train.csv"), "--task", "y:multiclass", "--out", "m.mtl",
		"--tune", "4", "--epochs", "6", "--metric", "accuracy", "--seed", "3")
	ok(t, r)
	header := regexp.MustCompile(`(?m)^ *trial +hidden +lr +weight decay +dropout +rung +epochs +1 − accuracy *$`).FindStringIndex(r.stderr)
	if header == nil {
		t.Fatalf("no leaderboard in %s", r.stderr)
	}
	rows := regexp.MustCompile(`(?m)^ +([1-4]) +[0-9,]+ +[0-9.e-]+ +[0-9.e-]+ +[0-9.]+ +([12])/3 +[0-9]+ +([0-9.]+)(.*)$`).FindAllStringSubmatch(r.stderr[header[1]:], -1)
	if len(rows) != 4 || !strings.Contains(rows[0][4], "← chosen: trains to 6 epochs") || rows[0][2] != "2" || rows[2][2] != "1" || rows[3][2] != "1" {
		t.Errorf("leaderboard rows %q in %s", rows, r.stderr)
	}
	info := mtlgpu(t, dir, "info", "m.mtl")
	ok(t, info)
	if !strings.Contains(info.stdout, "successive halving of 4 trials (η = 3, 3 rungs, the last of 6 epochs) by 1 − accuracy") ||
		!strings.Contains(info.stdout, "chosen: trial "+rows[0][1]) || !strings.Contains(info.stdout, "6 of 6 epochs") && !strings.Contains(info.stdout, "stopped early") {
		t.Errorf("info says %s", info.stdout)
	}
	rep := evalJSON(t, dir, "m.mtl", sharedFile(t, "seed_example/seed_test.csv"))
	if acc := metric(t, rep, "y", "accuracy"); acc < 0.5 {
		t.Errorf("the tuned model's test accuracy is %g", acc)
	}
	bad := mtlgpu(t, dir, "train", "--data", sharedFile(t, "seed_example/seed_train.csv"), "--task", "y:multiclass", "--out", "n.mtl", "--tune=1")
	if bad.code != 2 || !strings.Contains(bad.stderr, "--tune 1: must be at least 2 trials") {
		t.Errorf("--tune=1: %d %s", bad.code, bad.stderr)
	}
}
