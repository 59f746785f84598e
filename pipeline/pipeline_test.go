package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

func cpuBackend(t testing.TB) backend.Backend {
	t.Helper()
	b, err := cpu.New(backend.Options{Threads: 2, BLAS: "gonum"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// writeCSV writes a learnable table: two numeric inputs, a categorical
// one, a group, a binary and a multiclass target (some labels missing).
func writeCSV(t testing.TB, dir string, rows int, seed uint64) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	b.WriteString("x1,x2,colour,site,y,kind\n")
	for range rows {
		x1, x2 := rng.NormFloat64(), rng.NormFloat64()
		colour := []string{"red", "green", "blue"}[rng.IntN(3)]
		site := fmt.Sprintf("s%d", rng.IntN(4))
		y := "0"
		if x1+0.5*x2+0.3*rng.NormFloat64() > 0 {
			y = "1"
		}
		if rng.Float64() < 0.1 {
			y = ""
		}
		kind := "a"
		switch {
		case x2 > 0.5:
			kind = "b"
		case colour == "red":
			kind = "c"
		}
		fmt.Fprintf(&b, "%.4f,%.4f,%s,%s,%s,%s\n", x1, x2, colour, site, y, kind)
	}
	p := filepath.Join(dir, "data.csv")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// evaluate scores a model on a labelled file.
func evaluate(t testing.TB, b backend.Backend, m *Model, path string) *Evaluation {
	t.Helper()
	ev, err := m.Evaluate(context.Background(), On(b), DataInput{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// options are the options of most tests: a fixed validation split and
// batch, no folds, 4 epochs (budget_test.go covers the rules that set
// them by default).
func options(data, out string) Options {
	o := DefaultOptions()
	o.Data, o.Out = data, out
	o.Tasks = []string{"y:binary", "kind:multiclass"}
	o.ValSplit, o.CV = 0.1, 0
	o.Train.Epochs, o.Train.Batch = 4, 128
	return o
}

func TestPrepareDemo(t *testing.T) {
	o := DefaultOptions()
	r, err := Prepare(o)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Demo || r.Out != DemoOut || r.Schema.GroupColumn != "school_id" || len(r.Spec.Tasks) != 1 || r.Spec.Tasks[0].Groups != 139 {
		t.Fatalf("demo run: demo %v, out %q, group %q, tasks %+v", r.Demo, r.Out, r.Schema.GroupColumn, r.Spec.Tasks)
	}
	// A quarter of every school is held out before anything is learnt;
	// the rest is split into training and validation rows.
	if n := r.Train.N + r.Val.N + r.Test.N; n != 15362 {
		t.Fatalf("%d rows in all, want 15,362", n)
	}
	if frac := float64(r.Test.N) / 15362; math.Abs(frac-0.25) > 0.01 {
		t.Errorf("held out %.3f of the rows", frac)
	}
	seen := map[int32]bool{}
	for _, g := range r.Test.Groups[0] {
		seen[g] = true
	}
	if len(seen) != 139 {
		t.Errorf("held-out rows cover %d schools, want all 139", len(seen))
	}
}

func TestSplitByGroup(t *testing.T) {
	groups := []int32{0, 0, 0, 0, 1, 1, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3}
	rest, part := split(len(groups), 0.3, 7, groups)
	if len(rest)+len(part) != len(groups) {
		t.Fatalf("rows lost: %d + %d", len(rest), len(part))
	}
	count := func(rows []int) map[int32]int {
		c := map[int32]int{}
		for _, r := range rows {
			c[groups[r]]++
		}
		return c
	}
	cr, cp := count(rest), count(part)
	// Every group of two rows or more is on both sides; a single row stays
	// for training; a group gets round(0.3·n) of its rows.
	want := map[int32][2]int{0: {3, 1}, 1: {1, 1}, 2: {1, 0}, 3: {7, 3}}
	for g, w := range want {
		if cr[g] != w[0] || cp[g] != w[1] {
			t.Errorf("group %d: %d and %d rows, want %v", g, cr[g], cp[g], w)
		}
	}
	// The same seed gives the same split.
	rest2, part2 := split(len(groups), 0.3, 7, groups)
	if !slices.Equal(rest, rest2) || !slices.Equal(part, part2) {
		t.Error("split is not reproducible")
	}
}

func TestPrepareErrors(t *testing.T) {
	dir := t.TempDir()
	data := writeCSV(t, dir, 50, 1)
	for _, c := range []struct {
		name   string
		change func(*Options)
		option string
		is     error
	}{
		{"validation split", func(o *Options) { o.ValSplit = 1 }, "val-split", nil},
		{"task spec", func(o *Options) { o.Tasks = []string{"y:ordinal"} }, "task", nil},
		{"positive weight", func(o *Options) { o.PosWeight = "-2" }, "pos-weight", nil},
		{"learning rate", func(o *Options) { o.Train.LR = -1 }, "lr", nil},
		{"configuration", func(o *Options) { o.Train.Beta1 = 2 }, "config", nil},
		{"auto without validation", func(o *Options) { o.AutoWidth, o.ValSplit = true, 0 }, "hidden", nil},
		{"no task", func(o *Options) { o.Tasks = nil }, "", ErrNoTasks},
		{"no output", func(o *Options) { o.Out = "" }, "", ErrNoOut},
	} {
		o := options(data, filepath.Join(dir, "m.mtl"))
		c.change(&o)
		_, err := Prepare(o)
		var oe *OptionError
		switch {
		case c.is != nil && !errors.Is(err, c.is):
			t.Errorf("%s: got %v, want %v", c.name, err, c.is)
		case c.is == nil && (!errors.As(err, &oe) || oe.Option != c.option):
			t.Errorf("%s: got %v, want an error about option %q", c.name, err, c.option)
		}
	}
}

// TestFitInterruptResume trains a run straight through, and the same run
// interrupted in its third epoch and resumed from its model file: both end
// with the same parameters, and every epoch saved the file.
func TestFitInterruptResume(t *testing.T) {
	dir := t.TempDir()
	data := writeCSV(t, dir, 300, 2)
	b := cpuBackend(t)
	straight := options(data, filepath.Join(dir, "straight.mtl"))
	r, err := Prepare(straight)
	if err != nil {
		t.Fatal(err)
	}
	saved := 0
	res, err := r.Fit(context.Background(), b, Progress{Epoch: func(s EpochStats) {
		if _, err := os.Stat(straight.Out); err == nil {
			saved++
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if saved != 4 || res.State.Epoch != 4 || !math.IsNaN(res.HeldOut) {
		t.Fatalf("%d epochs saved, state %+v", saved, res.State)
	}

	stopped := options(data, filepath.Join(dir, "stopped.mtl"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err = Prepare(stopped)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Fit(ctx, b, Progress{Step: func(epoch, step, steps int) {
		if epoch == 2 && step == 1 {
			cancel()
		}
	}})
	var ie *InterruptedError
	if !errors.As(err, &ie) || ie.Epoch != 3 || ie.Out != stopped.Out || !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run returned %v", err)
	}
	resume := DefaultOptions()
	resume.Data, resume.Resume = data, stopped.Out
	if r, err = Prepare(resume); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Fit(context.Background(), b, Progress{}); err != nil {
		t.Fatal(err)
	}
	a, err := LoadModel(straight.Out)
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadModel(stopped.Out)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Checkpoint.Model.Params, c.Checkpoint.Model.Params) {
		t.Error("the resumed run ends elsewhere than the uninterrupted one")
	}
}

func TestApplyReportAndPredictions(t *testing.T) {
	dir := t.TempDir()
	data := writeCSV(t, dir, 400, 3)
	b := cpuBackend(t)
	o := options(data, filepath.Join(dir, "m.mtl"))
	o.GroupColumn, o.Train.Epochs = "site", 20
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
	rep := evaluate(t, b, m, data).Report
	// A family is one task over all its rows, with its groups under it.
	if !slices.Equal(rep.Order, []string{"y", "kind"}) || rep.Tasks["y"].N != 370 || len(rep.Tasks["y"].Groups) != 4 {
		t.Fatalf("report has tasks %v (y: %d rows, %d groups), want y and kind with 4 groups each", rep.Order, rep.Tasks["y"].N, len(rep.Tasks["y"].Groups))
	}
	if g := rep.Tasks["y"].Groups[1]; g.Group != "s1" {
		t.Errorf("second group of y is %q", g.Group)
	} else if v, ok := g.Metrics.Get("auc"); !ok || v < 0.8 {
		t.Errorf("AUC of y in s1 is %v", v)
	}
	var out bytes.Buffer
	if _, _, err := m.PredictTo(context.Background(), On(b), DataInput{Path: data}, &out, []string{"site"}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 401 || lines[0] != "site,y,y:p(0),y:p(1),kind,kind:p(a),kind:p(b),kind:p(c)" {
		t.Errorf("%d lines, header %q", len(lines), lines[0])
	}
}

// TestChooseWidth: --hidden auto searches every point of its grid by
// successive halving and takes the survivor's width and weight decay.
func TestChooseWidth(t *testing.T) {
	dir := t.TempDir()
	o := options(writeCSV(t, dir, 200, 4), filepath.Join(dir, "m.mtl"))
	o.AutoWidth, o.Train.Epochs = true, 2
	r, err := Prepare(o)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Tunes() {
		t.Fatal("a new run with AutoWidth does not choose its width")
	}
	rec, err := r.Tune(context.Background(), cpuBackend(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Trials) != len(AutoWidths)*len(AutoDecays) {
		t.Fatalf("%d candidates", len(rec.Trials))
	}
	var last []Trial
	for _, tr := range rec.Trials {
		if tr.Rung == rec.Rungs-2 || tr.Chosen {
			last = append(last, tr)
		}
	}
	best := slices.MinFunc(last, func(a, b Trial) int { return cmpFloat(a.Score, b.Score) })
	if !best.Chosen || r.Spec.Hidden[0] != best.Hidden[0] || r.Config.WeightDecay != best.WeightDecay {
		t.Errorf("chose %v and %g; the best is %+v", r.Spec.Hidden, r.Config.WeightDecay, best)
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestCompare(t *testing.T) {
	dir := t.TempDir()
	o := CompareOptions{Options: options(writeCSV(t, dir, 300, 5), ""), Methods: []mtl.Method{mtl.Equal, mtl.PCGrad}, Seeds: 2, TrainFraction: 0.7}
	o.Train.Epochs = 3
	cp, err := PrepareCompare(o)
	if err != nil {
		t.Fatal(err)
	}
	var done []string
	res, err := cp.Run(context.Background(), cpuBackend(t), func(m string, seed int) { done = append(done, fmt.Sprint(m, seed)) })
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 6 || len(res.values[SingleTask][0]) != 2 || len(res.values["pcgrad"][1]) != 2 {
		t.Fatalf("progress %v, values %v", done, res.values)
	}
	if !strings.Contains(res.Table(), "Δm%") {
		t.Errorf("table:\n%s", res.Table())
	}
	if _, err := PrepareCompare(CompareOptions{Options: o.Options, Methods: o.Methods, Seeds: 0}); err == nil {
		t.Error("zero seeds accepted")
	}
}

// TestCompareArchs: every method is trained on every architecture, the
// rows are named ARCH/METHOD, and the bodies differ (a mixture of experts
// is not a shared bottom under another name).
func TestCompareArchs(t *testing.T) {
	dir := t.TempDir()
	archs, err := ParseArchs("shared,MMoE,ple")
	if err != nil || !slices.Equal(archs, []mtl.Arch{mtl.SharedBottom, mtl.MMoE, mtl.PLE}) {
		t.Fatalf("archs %v, %v", archs, err)
	}
	if _, err := ParseArchs("shared,mmoe,shared"); err == nil {
		t.Error("an architecture named twice accepted")
	}
	o := CompareOptions{Options: options(writeCSV(t, dir, 300, 5), ""), Methods: []mtl.Method{mtl.Equal, mtl.PCGrad}, Archs: archs, Seeds: 1, TrainFraction: 0.7}
	o.Train.Epochs, o.Experts = 3, 2
	o.Arch = mtl.PLE
	cp, err := PrepareCompare(o)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cp.Run(context.Background(), cpuBackend(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{SingleTask, "shared/equal", "shared/pcgrad", "mmoe/equal", "mmoe/pcgrad", "ple/equal", "ple/pcgrad"}
	if !slices.Equal(res.methods, want) {
		t.Fatalf("rows %v, want %v", res.methods, want)
	}
	for _, m := range want[1:] {
		if len(res.values[m][0]) != 1 {
			t.Errorf("%s: values %v", m, res.values[m])
		}
	}
	if res.values["shared/equal"][0][0] == res.values["mmoe/equal"][0][0] && res.values["mmoe/equal"][0][0] == res.values["ple/equal"][0][0] {
		t.Errorf("the three bodies score alike: %v", res.values)
	}
	if !strings.Contains(res.Table(), "mmoe/pcgrad") {
		t.Errorf("table:\n%s", res.Table())
	}
}

func TestPosWeights(t *testing.T) {
	nan := float32(math.NaN())
	tasks := []mtl.Task{{Name: "a", Type: mtl.Binary}, {Name: "b", Type: mtl.Regression}}
	labels := [][]float32{{1, 0, 0, 0, nan}, {1, 2, 3, 4, 5}}
	more := [][]float32{{1, 1, 0, 0}, {1, 2, 3, 4}}
	if err := posWeights(tasks, "auto", labels); err != nil || tasks[0].PosWeight != 3 || tasks[1].PosWeight != 0 {
		t.Errorf("auto: %v, %+v", err, tasks)
	}
	// Counted over every set given (training and validation rows).
	if err := posWeights(tasks, "auto", labels, more); err != nil || tasks[0].PosWeight != 5.0/3 {
		t.Errorf("auto over two sets: %v, %+v", err, tasks)
	}
	if err := posWeights(tasks, "2.5", labels); err != nil || tasks[0].PosWeight != 2.5 {
		t.Errorf("2.5: %v, %+v", err, tasks)
	}
	var oe *OptionError
	if err := posWeights(tasks, "x", labels); !errors.As(err, &oe) || oe.Option != "pos-weight" {
		t.Errorf("x: %v", err)
	}
}

// TestRegressionOffset: a target of 1e9 plus noise of about 1 is centred
// on its training mean before it is rounded to float32, and every
// prediction gets the mean back in float64: eval's RMSE is the noise's
// and predict writes values to the unit. Rounded to float32 without the
// offset, every label would be 1e9 (a spacing of 64) and nothing would be
// learnt.
func TestRegressionOffset(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, rows int, seed uint64) string {
		rng := rand.New(rand.NewPCG(seed, 9))
		var b bytes.Buffer
		b.WriteString("x,y\n")
		for range rows {
			x := rng.NormFloat64()
			fmt.Fprintf(&b, "%.4f,%.4f\n", x, 1e9+3*x+0.3*rng.NormFloat64())
		}
		p := filepath.Join(dir, name)
		os.WriteFile(p, b.Bytes(), 0o644)
		return p
	}
	train, test := write("train.csv", 2000, 1), write("test.csv", 300, 2)
	o := options(train, filepath.Join(dir, "m.mtl"))
	o.Tasks, o.Train.Epochs = []string{"y:regression"}, 20
	r, err := Prepare(o)
	if err != nil {
		t.Fatal(err)
	}
	if off := r.Schema.Targets[0].Offset; math.Abs(off-1e9) > 1 {
		t.Fatalf("offset %v", off)
	}
	b := cpuBackend(t)
	if _, err := r.Fit(context.Background(), b, Progress{}); err != nil {
		t.Fatal(err)
	}
	m := must(LoadModel(o.Out))
	rep := evaluate(t, b, m, test).Report
	if rmse, _ := rep.Tasks["y"].Get("rmse"); !(rmse < 0.6) {
		t.Errorf("RMSE %v, want near the noise's 0.3", rmse)
	}
	var out bytes.Buffer
	if _, _, err := m.PredictTo(context.Background(), On(b), DataInput{Path: test}, &out, []string{"y"}); err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(strings.TrimSpace(out.String()), "\n")[1:] {
		f := strings.Split(line, ",")
		y, _ := strconv.ParseFloat(f[0], 64)
		p, _ := strconv.ParseFloat(f[1], 64)
		if math.Abs(p-y) > 3 {
			t.Fatalf("row %d: predicted %s for %s", i, f[1], f[0])
		}
	}
}
