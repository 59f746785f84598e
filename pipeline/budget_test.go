package pipeline

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/mtl"
	"github.com/mtl-gpu/mtl-gpu/stream"
)

// TestBudgetRule: the batch size, epochs and patience the rule gives for
// tables from tens of rows to millions, and options that replace it.
func TestBudgetRule(t *testing.T) {
	for _, c := range []struct {
		rows, batch, epochs, patience int
	}{
		{12, 16, 2000, 400},         // 1 step an epoch: the 2,000-step floor
		{100, 16, 286, 58},          // 7 steps an epoch
		{720, 32, 87, 18},           // √720 ≈ 27 → 32; 23 steps an epoch
		{29_305, 128, 40, 8},        // adult: 229 steps an epoch, 40 epochs
		{1_000_000, 512, 21, 8},     // the 40,000-step ceiling
		{50_000_000, 512, 1, 8},     // more rows than the ceiling's batches
		{0, 16, 2000, 400},          // no rows: the floor, not a division by zero
		{1 << 18, 512, 40, 8},       // √ = 512 exactly
		{(1 << 18) - 1, 512, 40, 8}, // rounding of log2 √n
	} {
		o := DefaultOptions()
		cfg := o.Train
		b, err := o.budget(c.rows, &cfg)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Batch != c.batch || cfg.Epochs != c.epochs || cfg.Patience != c.patience {
			t.Errorf("%d rows: batch %d, %d epochs, patience %d; want %d, %d, %d", c.rows, cfg.Batch, cfg.Epochs, cfg.Patience, c.batch, c.epochs, c.patience)
		}
		if b.Rows != c.rows || b.Steps != defaultSteps(c.rows, c.batch) || strings.Join(b.Rule, ",") != "batch,steps,epochs,patience" {
			t.Errorf("%d rows: recorded %+v", c.rows, b)
		}
	}
	// Options given replace their rule, and only theirs.
	o := DefaultOptions()
	o.Steps = 500
	cfg := o.Train
	cfg.Batch = 10
	b, _ := o.budget(1000, &cfg)
	if cfg.Batch != 10 || cfg.Epochs != 5 || cfg.Patience != 8 || b.Steps != 500 || strings.Join(b.Rule, ",") != "epochs,patience" {
		t.Errorf("--steps 500 --batch 10 on 1,000 rows: batch %d, %d epochs, patience %d, recorded %+v", cfg.Batch, cfg.Epochs, cfg.Patience, b)
	}
	cfg = o.Train
	cfg.Epochs, cfg.Patience = 3, 0
	if _, err := o.budget(1000, &cfg); err == nil {
		t.Error("--steps and --epochs together accepted")
	}
	o.Steps = 0
	b, _ = o.budget(1000, &cfg)
	if cfg.Epochs != 3 || cfg.Patience != 0 || b.Steps != 0 {
		t.Errorf("--epochs 3 --patience 0: %d epochs, patience %d, %d steps", cfg.Epochs, cfg.Patience, b.Steps)
	}
}

// TestAutoValidation: the validation share and the folds chosen by
// default for the number of rows, and what turns the folds off.
func TestAutoValidation(t *testing.T) {
	for n, want := range map[int]float64{100: 0.2, 5000: 0.2, 7000: 1000.0 / 7000, 10_000: 0.1, 500_000: 0.1} {
		if got := autoValSplit(n); math.Abs(got-want) > 1e-12 {
			t.Errorf("%d rows: validation share %g, want %g", n, got, want)
		}
	}
	for _, c := range []struct {
		name   string
		change func(*Options)
		rows   int
		cv     int
		split  float64
	}{
		{"small", func(*Options) {}, 4999, CVFolds, 0.2},
		{"tiny", func(*Options) {}, 9, 0, 0.2},
		{"two a fold", func(*Options) {}, 10, CVFolds, 0.2},
		{"large", func(*Options) {}, 5000, 0, 0.2},
		{"split given", func(o *Options) { o.ValSplit = 0.3 }, 100, 0, 0.3},
		{"ensemble", func(o *Options) { o.Ensemble = 3 }, 100, 0, 0.2},
		{"width search", func(o *Options) { o.AutoWidth = true }, 100, 0, 0.2},
		{"streamed", func(o *Options) { o.Memory.Mode = stream.Always }, 100, 0, 0.2},
		{"validation file", func(o *Options) { o.ValData = "v.csv" }, 100, 0, 0},
		{"folds given", func(o *Options) { o.CV = 3 }, 100, 3, 0.2},
	} {
		o := DefaultOptions()
		c.change(&o)
		o.resolveAuto(c.rows)
		if o.CV != c.cv || o.ValSplit != c.split {
			t.Errorf("%s, %d rows: --cv %d, --val-split %g; want %d, %g", c.name, c.rows, o.CV, o.ValSplit, c.cv, c.split)
		}
	}
}

// TestDefaultRunSmallTable: with every default, a small table is
// cross-fitted in 5 folds with the batch and budget of the rule, the run
// records them, and it warns that a fold's few rows choose the epoch.
func TestDefaultRunSmallTable(t *testing.T) {
	dir := t.TempDir()
	o := DefaultOptions()
	o.Data, o.Out = writeCSV(t, dir, 150, 9), filepath.Join(dir, "m.mtl")
	o.Tasks = []string{"y:binary", "kind:multiclass"}
	r, err := Prepare(o)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Spec.Members != CVFolds || r.Record.CV == nil || r.Record.CV.Folds != CVFolds {
		t.Fatalf("%d members, record %+v; want %d folds", r.Spec.Members, r.Record.CV, CVFolds)
	}
	if r.Config.Batch != 16 || r.Config.Epochs != 2000/10 || r.Record.Budget == nil || r.Record.Budget.Steps != 2000 {
		t.Errorf("batch %d, %d epochs, budget %+v", r.Config.Batch, r.Config.Epochs, r.Record.Budget)
	}
	warned := strings.Join(r.Warnings, "\n")
	if !strings.Contains(warned, `labelled rows of a fold choose the best epoch for`) || !strings.Contains(warned, `"y"`) || !strings.Contains(warned, `"kind"`) {
		t.Errorf("warnings: %q", warned)
	}
	// The same table with 400 validation rows and a fixed split: no
	// warning, no folds.
	o.Data = writeCSV(t, dir, 2000, 9)
	o.ValSplit = 0.2
	r2, err := Prepare(o)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if r2.Spec.Members > 1 || r2.Val == nil || r2.Val.N != 400 || strings.Contains(strings.Join(r2.Warnings, "\n"), "choose the best epoch") {
		t.Errorf("%d members, %v validation rows, warnings %q", r2.Spec.Members, r2.Val, r2.Warnings)
	}
}

// TestMetricChoosesEpoch: --metric auc keeps the epoch with the best
// validation AUC (as the per-epoch metrics measure it), with 1 − AUC as
// its score, and the run records the metric.
func TestMetricChoosesEpoch(t *testing.T) {
	dir := t.TempDir()
	data := writeCSV(t, dir, 600, 11)
	run := func(metric string) (*Run, []EpochStats) {
		o := options(data, filepath.Join(dir, metric+".mtl"))
		o.Tasks = []string{"y:binary"}
		o.Metric, o.Train.Epochs, o.Train.Patience, o.Train.LR = metric, 30, 0, 0.03
		r, err := Prepare(o)
		if err != nil {
			t.Fatal(err)
		}
		var epochs []EpochStats
		if _, err := r.Fit(context.Background(), cpuBackend(t), Progress{Epoch: func(s EpochStats) { epochs = append(epochs, s) }}); err != nil {
			t.Fatal(err)
		}
		return r, epochs
	}
	r, epochs := run(MetricAUC)
	if r.Record.Metric != MetricAUC {
		t.Errorf("recorded metric %q", r.Record.Metric)
	}
	best, at := -1.0, 0
	for _, e := range epochs {
		if auc := e.Metrics[0].Value; auc > best {
			best, at = auc, e.Epoch
		}
	}
	m, err := LoadModel(r.Out)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Checkpoint.State.BestEpoch; got != at {
		t.Errorf("best epoch %d, the best validation AUC (%.4f) was at epoch %d", got, best, at)
	}
	if got := m.Checkpoint.State.BestScore; math.Abs(got-(1-best)) > 1e-12 {
		t.Errorf("best score %g, want 1 − %g", got, best)
	}
	if math.Abs(epochs[at-1].Score-(1-best)) > 1e-12 {
		t.Errorf("epoch %d scored %g", at, epochs[at-1].Score)
	}
	rl, _ := run(MetricLoss)
	if rl.Record.Metric != "" {
		t.Errorf("loss recorded as %q", rl.Record.Metric)
	}
}

// TestMetricScores: each metric's score of a task, and the loss where the
// metric is undefined.
func TestMetricScores(t *testing.T) {
	bin := mtl.Task{Type: mtl.Binary, Classes: 1}
	y, p := []float64{0, 1, 1, 0}, []float64{0.2, 0.9, 0.4, 0.6}
	logloss := -(math.Log(0.8) + math.Log(0.9) + math.Log(0.4) + math.Log(0.4)) / 4
	reg := mtl.Task{Type: mtl.Regression, Classes: 1, Std: 2}
	ry, rp := []float64{1, 2, 3}, []float64{1, 2, 5}
	for _, c := range []struct {
		metric string
		task   mtl.Task
		y, p   []float64
		want   float64
	}{
		{MetricAUC, bin, y, p, 1 - 0.75},
		{MetricAccuracy, bin, y, p, 1 - 0.5},
		{MetricLogLoss, bin, y, p, logloss},
		{MetricRMSE, bin, y, p, logloss},
		{MetricAUC, bin, []float64{1, 1}, []float64{0.3, 0.8}, -(math.Log(0.3) + math.Log(0.8)) / 2},
		{MetricRMSE, reg, ry, rp, math.Sqrt(4.0/3) / 2},
		{MetricR2, reg, ry, rp, 1 - (1 - 4.0/2)},
		{MetricAUC, reg, ry, rp, 4.0 / 3 / 4},
	} {
		if got := metricScore(c.metric, c.task, c.y, c.p); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s of a %s task: %g, want %g", c.metric, c.task.Type, got, c.want)
		}
	}
}
