package main

import (
	"bytes"
	"compress/gzip"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/mtl"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The School data set (ILEA exam scores, 139 schools), as redistributed by
// the MALSAR toolbox; see README.md for its source and terms.
//
//go:embed demo/school.csv.gz
var schoolCSV []byte

const (
	demoName    = "school.csv (built-in School data)"
	demoOut     = "school.mtl"
	demoTarget  = "exam_score:regression"
	demoGroup   = "school_id"
	demoHoldout = 0.25
)

// readDemo returns the built-in School table.
func readDemo() (*data.Table, error) {
	zr, err := gzip.NewReader(bytes.NewReader(schoolCSV))
	if err != nil {
		return nil, err
	}
	return data.Read(zr, demoName)
}

type trainFlags struct {
	dataPath, out, resume, logPath string
	tasks                          []string
	groupCol, impute               string
	ignore, categorical            []string
	hidden, activation             string
	posWeight                      string
	valSplit                       float64
	schedule, weighting            string
	optimizer                      string
	cfg                            mtl.Config
}

func (a *app) trainCommand() *cobra.Command {
	f := &trainFlags{cfg: mtl.DefaultConfig()}
	cmd := &cobra.Command{
		Use:   "train --data FILE --task SPEC [--task SPEC ...] --out MODEL [options]",
		Short: "Train a multi-task model",
		Long: `train fits one model for every task: shared layers over the input columns and
one head per task. With no --data it trains on a built-in copy of the School
data set (139 schools, exam score regression, one head per school), holds out
25% of each school and prints the held-out explained variance.

A task is PATTERN:TYPE[:WEIGHT]: PATTERN is a column name or a glob (Class*),
every column it matches becomes a task of TYPE (multiclass, binary or
regression) with loss weight WEIGHT (default 1). Every other column is an
input feature, except those given to --ignore and the --group-column.
Empty, ?, NA and NaN target cells are missing labels.

The model is saved to --out at the end of every epoch (the best by validation
loss when --val-split is set) and when interrupted; --resume continues a
saved run exactly where it stopped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.train(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dataPath, "data", "", "training data, CSV or TSV with a header, optionally .gz (default: the built-in School data)")
	fl.StringArrayVar(&f.tasks, "task", nil, "target as PATTERN:TYPE[:WEIGHT], TYPE multiclass, binary or regression (repeatable)")
	fl.StringVar(&f.out, "out", "", "model file to write (default "+demoOut+" for the built-in data)")
	f.register(fl)
	fl.StringVar(&f.weighting, "weighting", "equal", "how task losses and gradients combine: equal, uncertainty, dwa, gradnorm, pcgrad or mgda")
	fl.StringVar(&f.resume, "resume", "", "continue training the run saved in this model file")
	fl.StringVar(&f.logPath, "log", "", "write one JSON line per epoch to this file")
	return cmd
}

// register adds the flags that describe the data's tasks, the model and
// its training, shared by train and compare.
func (f *trainFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.groupCol, "group-column", "", "column that splits every target into a family with one head per group")
	fl.StringSliceVar(&f.ignore, "ignore", nil, "columns (or globs) that are neither features nor targets")
	fl.StringSliceVar(&f.categorical, "categorical", nil, "columns (or globs) to one-hot encode even if numeric")
	fl.StringVar(&f.impute, "impute", "", `"mean" to replace missing numeric features by the training mean (default: error)`)
	fl.StringVar(&f.hidden, "hidden", "64", "widths of the shared layers, e.g. 64 or 256,128; none for linear heads on the inputs; auto to choose width and weight decay by validation")
	fl.StringVar(&f.activation, "activation", "relu", "activation of the shared layers: relu, tanh or identity")
	fl.IntVar(&f.cfg.Epochs, "epochs", f.cfg.Epochs, "number of passes over the training data")
	fl.IntVar(&f.cfg.Batch, "batch", f.cfg.Batch, "rows per optimiser step")
	fl.Float64Var(&f.cfg.LR, "lr", f.cfg.LR, "learning rate")
	fl.StringVar(&f.optimizer, "optimizer", string(f.cfg.Optimizer), "sgd, adam or adamw")
	fl.Float64Var(&f.cfg.Momentum, "momentum", f.cfg.Momentum, "SGD momentum")
	fl.BoolVar(&f.cfg.Nesterov, "nesterov", false, "Nesterov momentum for SGD")
	fl.Float64Var(&f.cfg.WeightDecay, "weight-decay", f.cfg.WeightDecay, "L2 decay of the weights (decoupled for adamw)")
	fl.Float64Var(&f.cfg.GroupDecay, "group-decay", f.cfg.GroupDecay, "shrinkage of each group's head towards its family's shared head")
	fl.StringVar(&f.schedule, "schedule", string(f.cfg.Schedule.Kind), "learning-rate schedule: constant, step or cosine")
	fl.Float64Var(&f.cfg.Schedule.Warmup, "warmup", f.cfg.Schedule.Warmup, "epochs of linear learning-rate warm-up")
	fl.IntVar(&f.cfg.Schedule.StepEvery, "step-every", f.cfg.Schedule.StepEvery, "step schedule: epochs between decays")
	fl.Float64Var(&f.cfg.Schedule.Gamma, "gamma", f.cfg.Schedule.Gamma, "step schedule: decay factor")
	fl.Float64Var(&f.cfg.ClipNorm, "clip", 0, "clip the gradient norm to this value (0: off)")
	fl.Uint64Var(&f.cfg.Seed, "seed", 0, "random seed (initial weights, row order, splits)")
	fl.Float64Var(&f.valSplit, "val-split", 0.1, "fraction of training rows held out for validation and early stopping (0: none)")
	fl.IntVar(&f.cfg.Patience, "patience", f.cfg.Patience, "stop after this many epochs without a better validation loss (0: never)")
	fl.Float64Var(&f.cfg.Weighting.Alpha, "gradnorm-alpha", 1.5, "GradNorm's asymmetry α")
	fl.Float64Var(&f.cfg.Weighting.Temperature, "dwa-temperature", 2, "DWA's softmax temperature")
	fl.StringVar(&f.posWeight, "pos-weight", "none", "binary tasks: weight of positive rows, auto (negatives/positives) or a number")
	fl.Float64Var(&f.cfg.GroupBiasDecay, "group-bias-decay", f.cfg.GroupBiasDecay, "shrinkage of each group's intercept towards its family's")
}

// dataOptions reads the flags that say which columns are what.
func (f *trainFlags) dataOptions() (data.Options, error) {
	opts := data.Options{GroupColumn: f.groupCol, Ignore: f.ignore, Categorical: f.categorical, Impute: f.impute}
	for _, s := range f.tasks {
		ts, err := data.ParseTaskSpec(s)
		if err != nil {
			return opts, usageError("--task %s: %v", s, err)
		}
		opts.Tasks = append(opts.Tasks, ts)
	}
	return opts, nil
}

// config completes and checks the training configuration.
func (f *trainFlags) config() error {
	f.cfg.Optimizer = mtl.Optimizer(f.optimizer)
	f.cfg.Schedule.Kind = mtl.ScheduleKind(f.schedule)
	if err := f.cfg.Validate(); err != nil {
		return usageError("%v", err)
	}
	if f.valSplit < 0 || f.valSplit >= 1 {
		return usageError("--val-split must be in [0, 1), got %g", f.valSplit)
	}
	return nil
}

// act reads --activation.
func (f *trainFlags) act() (backend.Activation, error) {
	act, err := backend.ParseActivation(f.activation)
	if err != nil {
		return 0, usageError("--activation: %v", err)
	}
	return act, nil
}

// parseMethods reads a comma-separated list of weighting methods.
func parseMethods(list string) ([]mtl.Method, error) {
	var ms []mtl.Method
	for _, s := range strings.Split(list, ",") {
		m, err := mtl.ParseMethod(strings.TrimSpace(s))
		if err != nil {
			return nil, usageError("--weighting: %v", err)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// trainRun is everything a training run works with.
type trainRun struct {
	f       *trainFlags
	schema  *data.Schema
	meta    json.RawMessage
	spec    mtl.Spec
	train   *mtl.Dataset
	val     *mtl.Dataset
	test    *mtl.Dataset // the demo's held-out rows
	ckpt    *mtl.Checkpoint
	out     string
	demo    bool
	auto    bool // --hidden auto
	logFile *os.File
}

func (a *app) train(cmd *cobra.Command, f *trainFlags) error {
	r, err := a.prepare(cmd, f)
	if err != nil {
		return err
	}
	b, err := a.openDevice()
	if err != nil {
		return err
	}
	defer b.Close()
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := f.cfg
	if r.ckpt != nil {
		cfg = r.ckpt.Config
		if cmd.Flags().Changed("epochs") {
			cfg.Epochs = f.cfg.Epochs
		}
	}
	if r.auto {
		if r.spec.Hidden, cfg.WeightDecay, err = a.chooseWidth(ctx, b, r, cfg); err != nil {
			return err
		}
	}
	if f.logPath != "" {
		if r.logFile, err = os.OpenFile(f.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			return fmt.Errorf("--log: %w", err)
		}
		defer r.logFile.Close()
	}
	start := time.Now()
	tr, model, last, err := a.fit(ctx, b, r, cfg, true)
	if tr != nil {
		defer tr.Close()
	}
	switch {
	case errors.Is(err, context.Canceled):
		if serr := r.save(tr); serr != nil {
			return fmt.Errorf("interrupted, and the model could not be saved: %w", serr)
		}
		return &exitError{code: 130, err: fmt.Errorf("interrupted at epoch %d, step %d: saved to %s (continue with --resume %s)",
			tr.State().Epoch+1, tr.State().EpochStep, r.out, r.out)}
	case err != nil:
		return err
	}
	if err := r.save(tr); err != nil {
		return err
	}
	st := tr.State()
	elapsed := time.Since(start).Seconds()
	if r.demo {
		ev, err := heldOutEV(b, model, r.test)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "held-out explained variance %.1f%% (%d students, 25%% of each of %d schools), %d epochs in %.1f s; model saved to %s\n",
			100*ev, r.test.N, len(r.schema.Groups), st.Epoch, elapsed, r.out)
		return nil
	}
	msg := fmt.Sprintf("trained %d epochs in %.1f s, train loss %.4f", st.Epoch, elapsed, last.TrainLoss)
	if r.val != nil {
		msg += fmt.Sprintf(", best validation loss %.4f at epoch %d", st.BestVal, st.BestEpoch)
	}
	fmt.Fprintf(a.stdout, "%s; model saved to %s\n", msg, r.out)
	return nil
}

// save writes the trainer's checkpoint to the run's model file.
func (r *trainRun) save(tr *mtl.Trainer) error {
	ck, err := tr.Checkpoint()
	if err != nil {
		return err
	}
	return mtl.SaveFile(r.out, ck, r.meta)
}

// fit trains the run's model (or resumes its checkpoint) with cfg. With
// keep, every epoch is shown, logged and saved; without, it trains
// silently (a candidate of --hidden auto). It returns the trainer even
// when training fails, so that an interrupted run can be saved.
func (a *app) fit(ctx context.Context, b backend.Backend, r *trainRun, cfg mtl.Config, keep bool) (*mtl.Trainer, *mtl.Model, mtl.EpochStats, error) {
	var last mtl.EpochStats
	model, ckpt := (*mtl.Model)(nil), r.ckpt
	var err error
	if ckpt != nil {
		model = ckpt.Model
	} else if model, err = mtl.NewModel(r.spec, r.train, cfg.Seed); err != nil {
		return nil, nil, last, err
	}
	tr, err := mtl.NewTrainer(b, model, cfg, r.train, r.val, ckpt)
	if err != nil {
		return nil, nil, last, err
	}
	if !keep {
		return tr, model, last, tr.Fit(ctx, mtl.Hooks{Epoch: func(s mtl.EpochStats) error { last = s; return nil }})
	}
	a.log.Info("training", "device", b.Info().Device, "rows", r.train.N, "validation_rows", valRows(r.val),
		"inputs", model.Spec.Inputs, "hidden", fmt.Sprint(model.Spec.Hidden), "tasks", len(model.Spec.Tasks),
		"parameters", model.NumParams(), "epochs", cfg.Epochs, "weighting", cfg.Weighting.Method)
	prog := a.newProgress(cfg.Epochs)
	err = tr.Fit(ctx, mtl.Hooks{
		Step: prog.step,
		Epoch: func(s mtl.EpochStats) error {
			last = s
			prog.epoch(s)
			ck, err := tr.Checkpoint()
			if err != nil {
				return err
			}
			if err := a.logEpoch(b, r, s, ck); err != nil {
				return err
			}
			return mtl.SaveFile(r.out, ck, r.meta)
		},
	})
	prog.done()
	return tr, model, last, err
}

func valRows(d *mtl.Dataset) int {
	if d == nil {
		return 0
	}
	return d.N
}

// prepare reads and encodes the data and works out the model, without
// touching any device or file other than the input.
func (a *app) prepare(cmd *cobra.Command, f *trainFlags) (*trainRun, error) {
	r := &trainRun{f: f, out: f.out}
	method, err := mtl.ParseMethod(f.weighting)
	if err != nil {
		return nil, usageError("--weighting: %v", err)
	}
	f.cfg.Weighting.Method = method
	if err := f.config(); err != nil {
		return nil, err
	}
	var table, testTable *data.Table
	if f.dataPath == "" {
		r.demo = f.resume == ""
		if table, err = readDemo(); err != nil {
			return nil, err
		}
	} else if table, err = data.ReadFile(f.dataPath); err != nil {
		return nil, err
	}
	if r.demo {
		if len(f.tasks) == 0 {
			f.tasks = []string{demoTarget}
		}
		if f.groupCol == "" && !cmd.Flags().Changed("group-column") {
			f.groupCol = demoGroup
		}
		if r.out == "" {
			r.out = demoOut
		}
		// Hold out 25% of each school, drawn from the seed, before anything
		// is learnt from the data.
		if table, testTable, err = holdOut(table, f.groupCol, 1-demoHoldout, f.cfg.Seed); err != nil {
			return nil, err
		}
	}
	if f.resume != "" {
		if r.out == "" {
			r.out = f.resume
		}
		ck, schema, err := loadModel(f.resume)
		if err != nil {
			return nil, err
		}
		r.ckpt, r.schema, r.spec = ck, schema, ck.Model.Spec
		if len(f.tasks) > 0 {
			a.log.Warn("--task is ignored with --resume: the model's tasks are used")
		}
	} else {
		if len(f.tasks) == 0 {
			return nil, usageError("--task is required with --data (e.g. --task label:multiclass)")
		}
		if r.out == "" {
			return nil, usageError("--out is required with --data")
		}
		opts, err := f.dataOptions()
		if err != nil {
			return nil, err
		}
		schema, warnings, err := data.Fit(table, opts)
		if err != nil {
			return nil, err
		}
		for _, w := range warnings {
			a.log.Warn(w)
		}
		r.schema = schema
	}
	if r.meta, err = json.Marshal(r.schema); err != nil {
		return nil, err
	}
	if testTable != nil {
		enc, err := r.schema.Encode(testTable, true)
		if err != nil {
			return nil, err
		}
		r.test = dataset(enc, len(r.schema.Targets))
	}
	enc, err := r.schema.Encode(table, true)
	if err != nil {
		return nil, err
	}
	for _, w := range enc.Warnings {
		a.log.Warn(w)
	}
	all := dataset(enc, len(r.schema.Targets))
	if r.ckpt == nil {
		var hidden []int
		if f.hidden == "auto" {
			if f.valSplit == 0 {
				return nil, usageError("--hidden auto chooses by validation loss: it needs --val-split > 0")
			}
			r.auto = true
		} else if hidden, err = parseHidden(f.hidden); err != nil {
			return nil, usageError("--hidden: %v", err)
		}
		act, err := f.act()
		if err != nil {
			return nil, err
		}
		r.spec = mtl.Spec{Inputs: enc.D, Hidden: hidden, Activation: act, Tasks: specTasks(r.schema)}
		if err := posWeights(r.spec.Tasks, enc.Labels, f.posWeight); err != nil {
			return nil, err
		}
	}
	seed := f.cfg.Seed
	if r.ckpt != nil {
		seed = r.ckpt.Config.Seed
	}
	if f.valSplit > 0 {
		trainRows, valRows := split(all.N, f.valSplit, seed+1, enc.Groups)
		r.train, r.val = all.Rows(trainRows, enc.D), all.Rows(valRows, enc.D)
	} else {
		r.train = all
	}
	return r, nil
}

// heldOutEV is the pooled explained variance 1 − SSE/SST of a single
// regression target on d.
func heldOutEV(b backend.Backend, m *mtl.Model, d *mtl.Dataset) (float64, error) {
	p, err := m.Predict(b, d)
	if err != nil {
		return 0, err
	}
	var n, mean float64
	for _, y := range d.Labels[0] {
		if !math.IsNaN(float64(y)) {
			n++
			mean += float64(y)
		}
	}
	mean /= n
	var sse, sst float64
	for i, y := range d.Labels[0] {
		if !math.IsNaN(float64(y)) {
			sse += math.Pow(float64(y)-float64(p[0][i]), 2)
			sst += math.Pow(float64(y)-mean, 2)
		}
	}
	return 1 - sse/sst, nil
}

// logEpoch writes one JSON line per epoch to --log: the losses, each
// task's weight and, with a validation set, each task's validation metric
// (accuracy, AUC or RMSE) for the parameters at the end of the epoch.
func (a *app) logEpoch(b backend.Backend, r *trainRun, s mtl.EpochStats, ck *mtl.Checkpoint) error {
	if r.logFile == nil {
		return nil
	}
	tasks := map[string]map[string]any{}
	for i, t := range r.spec.Tasks {
		tasks[t.Name] = map[string]any{
			"train_loss": jsonFloat(s.TaskTrain[i]),
			"val_loss":   jsonFloat(at(s.TaskVal, i)),
			"weight":     s.Weights[i],
		}
	}
	if r.val != nil {
		params := ck.Model.Params
		if ck.Current != nil {
			params = ck.Current
		}
		m := &mtl.Model{Spec: ck.Model.Spec, Params: params}
		preds, err := m.Predict(b, r.val)
		if err != nil {
			return err
		}
		for i, t := range r.spec.Tasks {
			name, v := primaryMetric(t, r.val.Labels[i], preds[i])
			tasks[t.Name]["val_"+name] = jsonFloat(v)
		}
	}
	line := map[string]any{
		"epoch":      s.Epoch,
		"seconds":    s.Seconds,
		"train_loss": jsonFloat(s.TrainLoss),
		"val_loss":   jsonFloat(s.ValLoss),
		"lr":         s.LR,
		"tasks":      tasks,
	}
	if !math.IsNaN(s.GradCosine) {
		line["grad_cosine_mean"] = s.GradCosine
		line["conflict_share"] = s.Conflict
	}
	enc, err := json.Marshal(line)
	if err != nil {
		return err
	}
	_, err = r.logFile.Write(append(enc, '\n'))
	return err
}

func at(v []float64, i int) float64 {
	if i < len(v) {
		return v[i]
	}
	return math.NaN()
}

// jsonFloat is nil (JSON null) for NaN and infinities.
func jsonFloat(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}
