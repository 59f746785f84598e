package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

func optionErr(t *testing.T, err error, option string) {
	t.Helper()
	var oe *OptionError
	if !errors.As(err, &oe) || oe.Option != option {
		t.Errorf("got %v, want an error about option %q", err, option)
	}
}

// TestOutputsAreNotInputs: no output may be one of the run's inputs, even
// through a symbolic link, and a model or log never lands on a file that
// is not one unless forced.
func TestOutputsAreNotInputs(t *testing.T) {
	dir := t.TempDir()
	data := writeCSV(t, dir, 50, 1)
	link := filepath.Join(dir, "link.csv")
	os.Symlink(data, link)
	notModel := filepath.Join(dir, "notes.txt")
	os.WriteFile(notModel, []byte("my notes\n"), 0o644)
	for _, c := range []struct {
		name   string
		change func(*Options)
		option string
	}{
		{"out is the data", func(o *Options) { o.Out = data }, "out"},
		{"out links to the data", func(o *Options) { o.Out = link }, "out"},
		{"log is the data", func(o *Options) { o.Log = data }, "log"},
		{"log is the out", func(o *Options) { o.Log = o.Out }, "log"},
		{"out is not a model", func(o *Options) { o.Out = notModel }, "out"},
		{"log is not a log", func(o *Options) { o.Log = notModel }, "log"},
	} {
		o := options(data, filepath.Join(dir, "m.mtl"))
		c.change(&o)
		_, err := Prepare(o)
		optionErr(t, err, c.option)
	}
	if got, _ := os.ReadFile(notModel); string(got) != "my notes\n" {
		t.Errorf("notes changed: %q", got)
	}
	o := options(data, notModel)
	o.Force = true
	if _, err := Prepare(o); err != nil {
		t.Errorf("--force with a file that is not a model: %v", err)
	}
	optionErr(t, CheckOutput("out", data, Input{"data", link}), "out")
	if err := CheckOutput("out", "-", Input{"data", data}); err != nil {
		t.Errorf("standard output: %v", err)
	}
}

// TestNumbersValidated: every number is checked up front and named by its
// option; NaN never passes for a default.
func TestNumbersValidated(t *testing.T) {
	dir := t.TempDir()
	data := writeCSV(t, dir, 50, 1)
	nan := math.NaN()
	for option, change := range map[string]func(*Options){
		"dwa-temperature": func(o *Options) { o.Train.Weighting.Temperature = 0 },
		"gradnorm-alpha":  func(o *Options) { o.Train.Weighting.Alpha = nan },
		"momentum":        func(o *Options) { o.Train.Momentum = nan },
		"val-split":       func(o *Options) { o.ValSplit = nan },
		"lr":              func(o *Options) { o.Train.LR = math.Inf(1) },
		"weight-decay":    func(o *Options) { o.Train.WeightDecay = nan },
		"clip":            func(o *Options) { o.Train.ClipNorm = -1 },
		"dropout":         func(o *Options) { o.Train.Dropout = 1 },
		"label-smoothing": func(o *Options) { o.Train.LabelSmoothing = nan },
		"warmup":          func(o *Options) { o.Train.Schedule.Warmup = nan },
		"gamma":           func(o *Options) { o.Train.Schedule.Gamma = 0 },
		"epochs":          func(o *Options) { o.Train.Epochs = mtl.MaxEpochs + 1 },
		"batch":           func(o *Options) { o.Train.Batch = -1 },
		"patience":        func(o *Options) { o.Train.Patience = -2 },
		"steps":           func(o *Options) { o.Steps = -1 },
		"group-decay":     func(o *Options) { o.Train.GroupDecay = nan },
		"impute":          func(o *Options) { o.Impute = "median" },
	} {
		o := options(data, filepath.Join(dir, "m.mtl"))
		change(&o)
		_, err := Prepare(o)
		optionErr(t, err, option)
	}
	if _, _, err := ParseHidden("0"); err == nil {
		t.Error("--hidden 0 accepted")
	}
	if w, _, err := ParseHidden("None"); err != nil || w != nil {
		t.Errorf("--hidden None: %v, %v", w, err)
	}
	o := options(data, filepath.Join(dir, "m.mtl"))
	o.Ignore = []string{"y"}
	_, err := Prepare(o)
	optionErr(t, err, "ignore")
	// Dropout needs hidden layers to drop units of.
	o = options(data, filepath.Join(dir, "m.mtl"))
	o.Hidden, o.Train.Dropout = nil, 0.2
	_, err = Prepare(o)
	optionErr(t, err, "dropout")
}

// TestNamesForgiven: enum values in any case, and a near miss suggests the
// value meant, as does a column name.
func TestNamesForgiven(t *testing.T) {
	if opt, err := ParseOptimizer("Adam"); err != nil || opt != mtl.Adam {
		t.Errorf("Adam: %v, %v", opt, err)
	}
	if m, err := ParseMethods("Equal, PCGrad"); err != nil || !slices.Equal(m, []mtl.Method{mtl.Equal, mtl.PCGrad}) {
		t.Errorf("Equal, PCGrad: %v, %v", m, err)
	}
	if k, err := ParseSchedule("COSINE"); err != nil || k != mtl.Cosine {
		t.Errorf("COSINE: %v, %v", k, err)
	}
	if _, err := ParseActivation("ReLU"); err != nil {
		t.Errorf("ReLU: %v", err)
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{second(ParseOptimizer("adamm")), `did you mean adam?`},
		{second(ParseMethod("uncertainity")), `did you mean uncertainty?`},
		{second(ParseSchedule("cosin")), `did you mean cosine?`},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%v: want %q", c.err, c.want)
		}
	}
	dir := t.TempDir()
	o := options(writeCSV(t, dir, 50, 1), filepath.Join(dir, "m.mtl"))
	o.Tasks = []string{"y:binary", "knid:multiclass"}
	_, err := Prepare(o)
	if optionErr(t, err, "task"); err == nil || !strings.Contains(err.Error(), `did you mean "kind"?`) {
		t.Errorf("misspelt column: %v", err)
	}
	o.Tasks = []string{"y:binray"}
	if _, err := Prepare(o); err == nil || !strings.Contains(err.Error(), "did you mean binary?") {
		t.Errorf("misspelt type: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

// TestDemoNeedsNoDataOptions: options that describe a data file's columns
// without --data are an error, not a silent demonstration.
func TestDemoNeedsNoDataOptions(t *testing.T) {
	for _, change := range []func(*Options){
		func(o *Options) { o.Tasks = []string{"y:binary"} },
		func(o *Options) { o.GroupColumn = "site" },
		func(o *Options) { o.Ignore = []string{"x"} },
		func(o *Options) { o.Categorical = []string{"x"} },
		func(o *Options) { o.Impute = "mean" },
		func(o *Options) { o.Features = []FeatureFile{{Path: "f.npy", Prefix: "f"}} },
		func(o *Options) { o.ValData = "val.csv" },
		func(o *Options) { o.Embed = []string{"x:4"} },
		func(o *Options) { o.Given = []string{"onehot-max"} },
	} {
		o := DefaultOptions()
		o.Out = filepath.Join(t.TempDir(), "m.mtl")
		change(&o)
		_, err := Prepare(o)
		optionErr(t, err, "data")
	}
}

// TestResumeUsesRecord: a run interrupted and resumed with none of its
// data options given (not --data, not --val-split) continues on the
// recorded data with the recorded split and ends where the uninterrupted
// run ends; a moved file is accepted by its content, a changed or missing
// one refused, and options that cannot change are reported as ignored.
func TestResumeUsesRecord(t *testing.T) {
	dir := t.TempDir()
	data := writeCSV(t, dir, 300, 2)
	b := cpuBackend(t)
	straight := options(data, filepath.Join(dir, "straight.mtl"))
	straight.ValSplit = 0.3
	r, err := Prepare(straight)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Fit(context.Background(), b, Progress{}); err != nil {
		t.Fatal(err)
	}
	stopped := straight
	stopped.Out = filepath.Join(dir, "stopped.mtl")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if r, err = Prepare(stopped); err != nil {
		t.Fatal(err)
	}
	_, err = r.Fit(ctx, b, Progress{Step: func(epoch, step, steps int) {
		if epoch == 1 && step == 0 {
			cancel()
		}
	}})
	var ie *InterruptedError
	if !errors.As(err, &ie) || !ie.Saved {
		t.Fatalf("interrupted run: %v", err)
	}
	// Move the data: the record's path is gone, --data finds it by content.
	moved := filepath.Join(dir, "moved.csv")
	os.Rename(data, moved)
	resume := DefaultOptions()
	resume.Resume = stopped.Out
	_, err = Prepare(resume)
	if optionErr(t, err, "data"); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("resume with the data gone: %v", err)
	}
	resume.Data, resume.Given = moved, []string{"data", "lr", "batch", "epochs"}
	resume.Train.Epochs = 4
	if r, err = Prepare(resume); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.IgnoredOptions, []string{"batch", "lr"}) || r.Config.Epochs != 4 || r.Val == nil || r.Val.N != 90 {
		t.Fatalf("ignored %v, epochs %d, validation rows %v", r.IgnoredOptions, r.Config.Epochs, r.Val)
	}
	if _, err := r.Fit(context.Background(), b, Progress{}); err != nil {
		t.Fatal(err)
	}
	a, _ := LoadModel(straight.Out)
	c, _ := LoadModel(stopped.Out)
	if !slices.Equal(a.Checkpoint.Model.Params, c.Checkpoint.Model.Params) {
		t.Error("the resumed run ends elsewhere than the uninterrupted one")
	}
	// The record now names the new place; a changed file is refused.
	rec, _ := readRecord(stopped.Out, c.Checkpoint.Run)
	if rec == nil || rec.Sources[0].Path != moved || rec.ValSplit != 0.3 {
		t.Fatalf("record %+v", rec)
	}
	os.WriteFile(moved, append(must(os.ReadFile(moved)), []byte("0.1,0.2,red,s1,1,a\n")...), 0o644)
	resume = DefaultOptions()
	resume.Resume = stopped.Out
	_, err = Prepare(resume)
	if optionErr(t, err, "data"); err == nil || !strings.Contains(err.Error(), "changed") {
		t.Errorf("resume on changed data: %v", err)
	}
	resume.Data = writeCSV(t, t.TempDir(), 300, 9)
	_, err = Prepare(resume)
	if optionErr(t, err, "data"); err == nil || !strings.Contains(err.Error(), "is not the run's data") {
		t.Errorf("resume on other data: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestResumeDemo: the demonstration resumed without options trains on the
// same rows as it did, not on its held-out quarter.
func TestResumeDemo(t *testing.T) {
	dir := t.TempDir()
	o := DefaultOptions()
	o.Out = filepath.Join(dir, "school.mtl")
	o.Train.Epochs = 1
	first, err := Prepare(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Fit(context.Background(), cpuBackend(t), Progress{}); err != nil {
		t.Fatal(err)
	}
	resume := DefaultOptions()
	resume.Resume = o.Out
	r, err := Prepare(resume)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Demo || r.Test == nil || r.Train.N != first.Train.N || r.Val.N != first.Val.N || !slices.Equal(r.Train.X[:100], first.Train.X[:100]) {
		t.Errorf("resumed demonstration: demo %v, %d training and %d validation rows; the run had %d and %d", r.Demo, r.Train.N, r.Val.N, first.Train.N, first.Val.N)
	}
}

// TestNoBetterThanConstant: a run whose best validation loss is not below
// the constant predictor's has diverged, whatever the optimiser; it leaves
// an earlier model as it was unless forced.
func TestNoBetterThanConstant(t *testing.T) {
	dir := t.TempDir()
	data := writeCSV(t, dir, 300, 3)
	b := cpuBackend(t)
	good := options(data, filepath.Join(dir, "m.mtl"))
	r, err := Prepare(good)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Fit(context.Background(), b, Progress{})
	if err != nil {
		t.Fatal(err)
	}
	if !(res.ConstantLoss > 0) || !(res.State.BestVal < res.ConstantLoss) {
		t.Fatalf("good run: best %g, constant %g", res.State.BestVal, res.ConstantLoss)
	}
	before := must(os.ReadFile(good.Out))
	bad := good
	bad.Train.LR = 100
	r, err = Prepare(bad)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Fit(context.Background(), b, Progress{})
	var nb *NoBetterError
	if !errors.As(err, &nb) || nb.Saved || !errors.Is(err, mtl.ErrDiverged) || !(nb.Best >= nb.Constant) {
		t.Fatalf("AdamW at lr 100: %v", err)
	}
	if !bytes.Equal(before, must(os.ReadFile(good.Out))) {
		t.Error("the diverged run replaced the earlier model")
	}
	bad.Force = true
	r, _ = Prepare(bad)
	if _, err = r.Fit(context.Background(), b, Progress{}); !errors.As(err, &nb) || !nb.Saved {
		t.Fatalf("forced: %v", err)
	}
	if bytes.Equal(before, must(os.ReadFile(good.Out))) {
		t.Error("--force did not write the model")
	}
}

// TestConstantLoss checks the constant predictor's loss by hand.
func TestConstantLoss(t *testing.T) {
	nan := float32(math.NaN())
	spec := mtl.Spec{Tasks: []mtl.Task{
		{Name: "m", Type: mtl.Multiclass, Classes: 3},
		{Name: "b", Type: mtl.Binary, Classes: 1, Weight: 2},
		{Name: "r", Type: mtl.Regression, Classes: 1, Mean: 1, Std: 2},
	}}
	train := &mtl.Dataset{Labels: [][]float32{{0, 0, 1, nan}, {1, 0, 0, 0}, {1, 3, 5, nan}}}
	eval := &mtl.Dataset{Labels: [][]float32{{0, 2}, {1, nan}, {3, 7}}}
	// multiclass: add-one frequencies 3/6, 2/6, 1/6; eval classes 0 and 2.
	m := -(math.Log(3.0/6) + math.Log(1.0/6)) / 2
	// binary: p = 1/4, one positive row.
	bl := -math.Log(0.25)
	// regression: train mean 3 standardises to 1; eval 3 and 7 to 1 and 3.
	rl := (0.0 + 4.0) / 2
	if got, want := constantLoss(spec, train, eval, 0), m+2*bl+rl; math.Abs(got-want) > 1e-12 {
		t.Errorf("constant loss %v, want %v", got, want)
	}
	// With the labels smoothed by ε = 0.3, as the training loss smooths
	// them: the multiclass target (0.8, 0.1, 0.1) and the binary label 1
	// become 0.85.
	const eps = 0.3
	ms := -((0.8*math.Log(3.0/6) + 0.1*math.Log(2.0/6) + 0.1*math.Log(1.0/6)) +
		(0.1*math.Log(3.0/6) + 0.1*math.Log(2.0/6) + 0.8*math.Log(1.0/6))) / 2
	bs := -(0.85*math.Log(0.25) + 0.15*math.Log(0.75))
	if got, want := constantLoss(spec, train, eval, eps), ms+2*bs+rl; math.Abs(got-want) > 1e-12 {
		t.Errorf("constant loss with smoothing %v, want %v", got, want)
	}
}

// TestChooseWidthInterrupted: Ctrl-C while choosing the width saves the
// best candidate so far, which --resume continues.
func TestChooseWidthInterrupted(t *testing.T) {
	dir := t.TempDir()
	o := options(writeCSV(t, dir, 200, 4), filepath.Join(dir, "m.mtl"))
	o.AutoWidth, o.Train.Epochs = true, 2
	r, err := Prepare(o)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The candidates of one width train together: each width's batch of
	// rung 0 takes 1 epoch of 2 steps and a validation pass. Cancel in the
	// second step of the second width's.
	cancelling := &cancellingBackend{Backend: cpuBackend(t), after: 5, cancel: cancel}
	rec, err := r.Tune(ctx, cancelling)
	var ie *InterruptedError
	if !errors.As(err, &ie) || !ie.Saved || ie.Candidate == "" || rec == nil || !finite(rec.Trials[1].Score) {
		t.Fatalf("interrupted search: %v, %+v", err, rec)
	}
	m, err := LoadModel(o.Out)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(AutoWidths, m.Checkpoint.Model.Spec.Hidden[0]) || !strings.Contains(ie.Error(), "best candidate so far") {
		t.Errorf("saved %v: %v", m.Checkpoint.Model.Spec.Hidden, ie)
	}
}

// TestTaskOrderAndKeep: the tasks follow --task order in the model and
// in every output, and a kept target column stands beside its
// prediction, named TASK:pred.
func TestTaskOrderAndKeep(t *testing.T) {
	dir := t.TempDir()
	data := writeCSV(t, dir, 200, 5)
	o := options(data, filepath.Join(dir, "m.mtl"))
	o.Tasks = []string{"kind:multiclass", "y:binary"}
	r, err := Prepare(o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Spec.Tasks[0].Name != "kind" {
		t.Fatalf("tasks %v", r.Spec.Tasks)
	}
	b := cpuBackend(t)
	if _, err := r.Fit(context.Background(), b, Progress{}); err != nil {
		t.Fatal(err)
	}
	m, _ := LoadModel(o.Out)
	if rep := evaluate(t, b, m, data).Report; !slices.Equal(rep.Order, []string{"kind", "y"}) {
		t.Errorf("report order %v", rep.Order)
	}
	var out bytes.Buffer
	if _, _, err := m.PredictTo(context.Background(), On(b), DataInput{Path: data}, &out, []string{"y", "site"}); err != nil {
		t.Fatal(err)
	}
	header := strings.SplitN(out.String(), "\n", 2)[0]
	if header != "y,site,kind,kind:p(a),kind:p(b),kind:p(c),y:pred,y:p(0),y:p(1)" {
		t.Errorf("header %q", header)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 201 || strings.Count(lines[1], ",") != 8 {
		t.Errorf("%d lines, first %q", len(lines), lines[1])
	}
	if _, _, err := m.PredictTo(context.Background(), On(b), DataInput{Path: data}, &out, []string{"sitee"}); err == nil || !strings.Contains(err.Error(), `did you mean "site"?`) {
		t.Errorf("misspelt keep column: %v", err)
	}
}

// TestUnseenClassesScored: eval on a file with a class the model never
// saw scores the file, counting those rows as errors in accuracy with a
// warning, and says nothing of group index -1.
func TestUnseenClassesScored(t *testing.T) {
	dir := t.TempDir()
	data := writeCSV(t, dir, 200, 6)
	o := options(data, filepath.Join(dir, "m.mtl"))
	o.GroupColumn = "site"
	r, err := Prepare(o)
	if err != nil {
		t.Fatal(err)
	}
	b := cpuBackend(t)
	if _, err := r.Fit(context.Background(), b, Progress{}); err != nil {
		t.Fatal(err)
	}
	raw := string(must(os.ReadFile(data)))
	lines := strings.Split(strings.TrimSpace(raw), "\n")
	for i := 1; i <= 3; i++ {
		f := strings.Split(lines[i], ",")
		f[5] = "zzz"
		if i == 3 {
			f[3] = "s99"
		}
		lines[i] = strings.Join(f, ",")
	}
	evalFile := filepath.Join(dir, "eval.csv")
	os.WriteFile(evalFile, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	m, _ := LoadModel(o.Out)
	ev := evaluate(t, b, m, evalFile)
	warnings := strings.Join(ev.Warnings, "\n")
	if !strings.Contains(warnings, `column "kind": 3 rows have classes unseen in training`) || strings.Contains(warnings, "-1") {
		t.Errorf("warnings: %s", warnings)
	}
	rep := ev.Report
	kind := rep.Tasks["kind"]
	full := evaluate(t, b, m, data).Report.Tasks["kind"]
	acc, _ := kind.Get("accuracy")
	if kind.Unseen != 3 || kind.N != full.N || acc > 1-3.0/float64(kind.N)+1e-9 {
		t.Errorf("kind: %d unseen of %d, accuracy %v", kind.Unseen, kind.N, acc)
	}
	if loss, _ := kind.Get("log_loss"); math.IsNaN(loss) || math.IsInf(loss, 0) {
		t.Errorf("log loss %v", loss)
	}
}

// TestDescribe: info's description of a model file.
func TestDescribe(t *testing.T) {
	dir := t.TempDir()
	o := options(writeCSV(t, dir, 200, 7), filepath.Join(dir, "m.mtl"))
	o.GroupColumn = "site"
	r, _ := Prepare(o)
	if _, err := r.Fit(context.Background(), cpuBackend(t), Progress{}); err != nil {
		t.Fatal(err)
	}
	d, err := Describe(o.Out)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Tasks) != 2 || d.Tasks[0].Name != "y" || d.Tasks[0].Positive != "1" || d.Tasks[1].Groups != 4 || len(d.Tasks[1].Classes) != 3 {
		t.Errorf("tasks %+v", d.Tasks)
	}
	if d.Inputs.Columns != 3 || len(d.Inputs.Categorical) != 1 || d.Inputs.GroupColumn != "site" || d.Architecture.Hidden[0] != 64 {
		t.Errorf("inputs %+v, architecture %+v", d.Inputs, d.Architecture)
	}
	if d.Training.Epochs != 4 || !d.Training.Finished || d.Metrics.BestValLoss == nil || d.Metrics.ConstantLoss == nil || len(d.Metrics.Validation) != 2 {
		t.Errorf("training %+v, metrics %+v", d.Training, d.Metrics)
	}
	if d.Data == nil || d.Data.Sources[0].Fingerprint == nil || d.Data.ValSplit != 0.1 {
		t.Errorf("data %+v", d.Data)
	}
	text := d.Text()
	for _, want := range []string{"tasks", "kind", "inputs", "architecture", "training", "metrics", "data.csv", "validation: 0.1"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if _, err := json.Marshal(d); err != nil {
		t.Error(err)
	}
}

// cancellingBackend cancels a context at its after-th loss evaluation.
type cancellingBackend struct {
	backend.Backend
	calls, after int
	cancel       func()
}

func (c *cancellingBackend) LossGrad(logits, labels backend.Mat, table backend.LossTable, weights backend.Vec, grad backend.Mat, sums backend.Vec) {
	if c.calls++; c.calls == c.after {
		c.cancel()
	}
	c.Backend.LossGrad(logits, labels, table, weights, grad, sums)
}
