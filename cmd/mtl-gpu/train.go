package main

import (
	"fmt"
	"math"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/mtl-gpu/mtl-gpu/pipeline"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// trainFlags are the flags of a training run as typed.
type trainFlags struct {
	opts                                    pipeline.Options
	in                                      inputFlags
	hidden, activation, optimizer, schedule string
	weighting, arch, expertHidden           string
	valSplit, cv                            string
	memory                                  memoryFlags
}

func (a *app) trainCommand() *cobra.Command {
	f := &trainFlags{opts: pipeline.DefaultOptions()}
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

The model is saved to --out at the end of an epoch (at most every 5 seconds;
the best by validation when there are validation rows), at the end, and
when interrupted; --resume continues a
saved run exactly where it stopped, on the data and split it records (give
--data only if the file moved).

The training rows are held in memory when they fit the memory budget
(--max-memory, by default half the memory), and streamed from the data file
block by block when they do not; --stream and --no-stream decide instead.
The choice is printed and recorded in the model, and --resume continues the
same way, with the same blocks. With --resume, --epochs and --patience may
change; other training options are ignored, and said to be.

--out never overwrites the data, and never a file that is not an mtl-gpu
model unless --force. A run whose best validation loss (training loss
without validation) is not below that of a constant prediction (class
frequencies, target means) has diverged: it exits with status 3 and leaves
an existing --out as it was unless --force.`,
		Args: f.tuneArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.parseTrain(cmd, args); err != nil {
				return err
			}
			return a.train(cmd, f.opts)
		},
	}
	fl := cmd.Flags()
	f.in.register(fl, "training data (default: the built-in School data)")
	fl.StringArrayVar(&f.opts.Tasks, "task", nil, "target as PATTERN:TYPE[:WEIGHT], TYPE multiclass, binary or regression (repeatable)")
	fl.StringVar(&f.opts.Out, "out", "", "model file to write (default "+pipeline.DemoOut+" for the built-in data)")
	fl.StringVar(&f.opts.ValData, "val-data", "", "validation rows from this file (the columns of --data) instead of --val-split")
	f.register(fl)
	fl.StringVar(&f.weighting, "weighting", "equal", "how task losses and gradients combine: equal, uncertainty, dwa, gradnorm, pcgrad or mgda")
	fl.StringVar(&f.opts.Resume, "resume", "", "continue training the run saved in this model file (a tuned run: its chosen configuration; the search is not repeated)")
	f.registerTune(fl)
	fl.StringVar(&f.opts.Log, "log", "", "append one JSON line per epoch to this file")
	fl.BoolVar(&f.opts.Force, "force", false, "replace --out even if it is not a model, or with a model no better than a constant; append --log to any file")
	f.memory.register(fl)
	return cmd
}

// register adds the flags that describe the data's tasks, the model and
// its training, shared by train and compare.
func (f *trainFlags) register(fl *pflag.FlagSet) {
	o, c := &f.opts, &f.opts.Train
	fl.StringVar(&o.GroupColumn, "group-column", "", "column that splits every target into a family with one head per group")
	fl.StringSliceVar(&o.Ignore, "ignore", nil, "columns (or globs) that are neither features nor targets")
	fl.StringSliceVar(&o.Categorical, "categorical", nil, "columns (or globs) to one-hot encode even if numeric")
	fl.StringVar(&o.Impute, "impute", "", `"mean" to replace missing numeric features by the training mean (default: error)`)
	fl.StringVar(&o.Numeric, "numeric", pipeline.DefaultNumeric, "encoding of numeric features: standard, robust, quantile, ple[:BINS] or robust+ple[:BINS] (BINS by default 2^round(log2(√rows/2)) within [4, 64])")
	fl.StringVar(&f.hidden, "hidden", "64", "widths of the shared layers, e.g. 64 or 256,128; none for linear heads on the inputs; auto to choose width and weight decay by validation")
	fl.StringVar(&f.activation, "activation", "relu", "activation of the shared layers: relu, tanh or identity")
	fl.IntVar(&c.Epochs, "epochs", c.Epochs, "number of passes over the training data (auto: enough for --steps)")
	fl.IntVar(&c.Batch, "batch", c.Batch, "rows per optimiser step (auto: 2^round(log2 √rows) within [16, 512])")
	fl.Float64Var(&c.LR, "lr", c.LR, "learning rate")
	fl.StringVar(&f.optimizer, "optimizer", string(c.Optimizer), "sgd, adam or adamw")
	fl.Float64Var(&c.Momentum, "momentum", c.Momentum, "SGD momentum")
	fl.BoolVar(&c.Nesterov, "nesterov", false, "Nesterov momentum for SGD")
	fl.Float64Var(&c.WeightDecay, "weight-decay", c.WeightDecay, "L2 decay of the weights (decoupled for adamw)")
	fl.Float64Var(&c.GroupDecay, "group-decay", c.GroupDecay, "shrinkage of each group's head towards its family's shared head")
	fl.StringVar(&f.schedule, "schedule", string(c.Schedule.Kind), "learning-rate schedule: constant, step or cosine")
	fl.Float64Var(&c.Schedule.Warmup, "warmup", c.Schedule.Warmup, "epochs of linear learning-rate warm-up")
	fl.IntVar(&c.Schedule.StepEvery, "step-every", c.Schedule.StepEvery, "step schedule: epochs between decays")
	fl.Float64Var(&c.Schedule.Gamma, "gamma", c.Schedule.Gamma, "step schedule: decay factor")
	fl.Float64Var(&c.ClipNorm, "clip", 0, "clip the gradient norm to this value (0: off)")
	fl.Float64Var(&c.Dropout, "dropout", 0, "in training, drop each unit of the hidden layers (shared, or the experts') with probability `P` (0: off)")
	fl.Float64Var(&c.LabelSmoothing, "label-smoothing", c.LabelSmoothing, "train classification tasks towards (1−`E`)·label + E/classes (binary: E/2); validation, early stopping and metrics use the labels (0: off)")
	fl.Uint64Var(&c.Seed, "seed", 0, "random seed (initial weights, row order, splits)")
	fl.StringVar(&f.valSplit, "val-split", "auto", "fraction of training rows held out for validation and early stopping (0: none); auto: 20%, at most 1,000 rows but at least 10%")
	fl.IntVar(&o.Steps, "steps", 0, "optimiser steps (0: 40 epochs, within [2000, 40000]); --epochs overrides it")
	fl.StringVar(&o.Metric, "metric", "loss", "what chooses the best epoch on the validation rows, averaged over tasks: loss, auc, accuracy, logloss, rmse or r2 (tasks where it is undefined use their loss)")
	fl.IntVar(&c.Patience, "patience", c.Patience, "stop after this many epochs without a better validation loss (0: never; auto: max(8, epochs/5))")
	fl.Float64Var(&c.Weighting.Alpha, "gradnorm-alpha", 1.5, "GradNorm's asymmetry α")
	fl.Float64Var(&c.Weighting.Temperature, "dwa-temperature", 2, "DWA's softmax temperature")
	fl.StringVar(&o.PosWeight, "pos-weight", "none", "binary tasks: weight of positive rows, auto (negatives/positives) or a number")
	fl.Float64Var(&c.GroupBiasDecay, "group-bias-decay", c.GroupBiasDecay, "shrinkage of each group's intercept towards its family's")
	f.registerModel(fl)
	for _, name := range []string{"epochs", "batch", "patience"} {
		fl.Lookup(name).DefValue = "auto" // 0 (AutoPatience): by the budget rule
	}
	f.registerEmbed(fl)
}

// registerEmbed adds the flags that make categorical columns embeddings.
func (f *trainFlags) registerEmbed(fl *pflag.FlagSet) {
	o := &f.opts
	fl.IntVar(&o.OneHotMax, "onehot-max", 64, "categorical columns with more distinct training values become embeddings (-1: only those named by --embed or --hash-buckets)")
	fl.IntVar(&o.MinCount, "min-count", 1, "training rows a value of an embedded column needs for a row of its own; rarer and unseen values share row 0")
	fl.IntVar(&o.EmbedDimMax, "embed-dim-max", 64, "largest default embedding width, round(1.6·rows^0.56)")
	fl.StringArrayVar(&o.Embed, "embed", nil, "COLUMN:WIDTH: embed the column (or glob) with vectors of WIDTH (repeatable)")
	fl.StringArrayVar(&o.HashBuckets, "hash-buckets", nil, "COLUMN:N: embed the column hashed into N rows (MurmurHash3), no vocabulary; N alone: every embedded column (repeatable)")
}

// registerModel adds the flags that choose the model's body and its
// members.
func (f *trainFlags) registerModel(fl *pflag.FlagSet) {
	o := &f.opts
	fl.StringVar(&f.arch, "arch", "shared", "model body: shared (a shared bottom, --hidden), mmoe (a mixture of experts with a gate per task) or ple (progressive layered extraction)")
	fl.IntVar(&o.Experts, "experts", 0, fmt.Sprintf("mmoe: experts; ple: shared experts per level (default %d)", pipeline.DefaultExperts))
	fl.IntVar(&o.TaskExperts, "task-experts", 0, fmt.Sprintf("ple: experts of each task per level (default %d)", pipeline.DefaultTaskExperts))
	fl.IntVar(&o.Levels, "levels", 0, fmt.Sprintf("ple: levels of experts (default %d)", pipeline.DefaultLevels))
	fl.StringVar(&f.expertHidden, "expert-hidden", "", fmt.Sprintf("mmoe, ple: widths of each expert's layers (default %v)", pipeline.DefaultExpertHidden))
	fl.IntVar(&o.Ensemble, "ensemble", 0, "train this many members from consecutive seeds together and average them")
	fl.StringVar(&f.cv, "cv", "auto", "K-fold cross-fitting: one member per fold, out-of-fold metrics, the members averaged; auto: 5 folds under 5,000 rows unless --val-split, --ensemble, --tune or --hidden auto is given; 0: none")
}

// parse completes the options from the flags given as strings, and notes
// which of the command's own flags were given.
func (f *trainFlags) parse(cmd *cobra.Command) error {
	o := &f.opts
	var err error
	if o.Train.Weighting.Method, err = pipeline.ParseMethod(f.weighting); err != nil {
		return err
	}
	if o.Train.Optimizer, err = pipeline.ParseOptimizer(f.optimizer); err != nil {
		return err
	}
	if o.Train.Schedule.Kind, err = pipeline.ParseSchedule(f.schedule); err != nil {
		return err
	}
	if o.Hidden, o.AutoWidth, err = pipeline.ParseHidden(f.hidden); err != nil {
		return err
	}
	if o.Activation, err = pipeline.ParseActivation(f.activation); err != nil {
		return err
	}
	if o.ValSplit, err = pipeline.ParseValSplit(f.valSplit); err != nil {
		return err
	}
	if o.CV, err = pipeline.ParseCV(f.cv); err != nil {
		return err
	}
	if o.Arch, err = pipeline.ParseArch(f.arch); err != nil {
		return err
	}
	if f.expertHidden != "" {
		if o.ExpertHidden, err = pipeline.ParseWidths("expert-hidden", f.expertHidden); err != nil {
			return err
		}
	}
	o.Data, o.MaxRowBytes = f.in.data, f.in.maxRowBytes
	if o.Features, err = f.in.featureFiles(); err != nil {
		return err
	}
	o.Given = nil
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		if cmd.LocalFlags().Lookup(fl.Name) != nil {
			o.Given = append(o.Given, fl.Name)
		}
	})
	return nil
}

func (a *app) train(cmd *cobra.Command, o pipeline.Options) (err error) {
	c, err := a.join(&o)
	defer func() { err = c.leave(a, err) }()
	if err != nil {
		return err
	}
	if c != nil {
		o.Group = c.world
	}
	// The device comes first: whether its buffers are host memory counts
	// in deciding whether the training rows fit in memory. What auto chose
	// is said once the data is read, so that an error in it is said alone.
	b, logDevice, err := a.openDeviceQuietly()
	if err != nil {
		return err
	}
	defer b.Close()
	o.Memory.DeviceIsHost = b.Info().CPU
	r, err := pipeline.Prepare(o)
	if err != nil {
		return err
	}
	defer r.Close()
	logDevice()
	// What reading and encoding needed besides the encoded rows goes back
	// to the system before training adds its own. A streamed run's blocks
	// are sized for a heap the collector keeps within its budget.
	debug.FreeOSMemory()
	if r.MemoryLimit > 0 {
		debug.SetMemoryLimit(r.MemoryLimit)
	}
	if len(r.IgnoredOptions) > 0 {
		a.log.Warn(fmt.Sprintf("with --resume the model's own settings are used: --%s ignored (--epochs and --patience may change)", strings.Join(r.IgnoredOptions, ", --")))
	}
	a.warn(r.Warnings)
	a.logMemory(r)
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if r.Tunes() {
		rec, err := r.Tune(ctx, b)
		a.printBoard(rec)
		if err != nil {
			return err
		}
	}
	var prog *progress
	res, err := r.Fit(ctx, b, pipeline.Progress{
		Start: func(s pipeline.Summary) { prog = a.startProgress(s) },
		Step:  func(e, s, n int) { prog.step(e, s, n) },
		Epoch: func(s pipeline.EpochStats) { prog.epoch(s) },
	})
	prog.done()
	if err != nil {
		return err
	}
	prog.finish(res)
	return a.printTrained(r, res)
}

// logMemory says whether the run holds its training rows in memory or
// streams them, and why, and how data-parallel processes shared the
// statistics pass.
func (a *app) logMemory(r *pipeline.Run) {
	if r.FirstPass != "" {
		a.log.Info(r.FirstPass)
	}
	switch {
	case r.Streaming != "":
		a.log.Info(r.Memory, "stream", r.Streaming)
	case r.Memory != "":
		a.log.Info(r.Memory)
	}
}

// warn logs the library's warnings.
func (a *app) warn(lines []string) {
	for _, w := range lines {
		a.log.Warn(w)
	}
}

// printBoard shows the trials of --tune or --hidden auto on standard
// error, best first.
func (a *app) printBoard(rec *pipeline.TuneRecord) {
	if a.quiet || rec == nil {
		return
	}
	tw := tabwriter.NewWriter(a.stderr, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "trial\thidden\tlr\tweight decay\tdropout\trung\tepochs\t%s\t\t\n", rec.Score)
	for _, t := range rec.Leaderboard() {
		mark := ""
		switch {
		case t.Chosen && rec.Interrupted:
			mark = "← best so far, saved"
		case t.Chosen:
			mark = fmt.Sprintf("← chosen: trains to %d epochs", rec.Epochs)
		}
		score := fmt.Sprintf("%.5f", t.Score)
		if math.IsNaN(t.Score) {
			score = "not trained"
		}
		fmt.Fprintf(tw, "%d\t%s\t%g\t%g\t%g\t%d/%d\t%d\t%s\t%s\t\n", t.Index+1, pipeline.WidthsText(t.Hidden), t.LR, t.WeightDecay, t.Dropout,
			t.Rung+1, rec.Rungs, t.Epochs, score, mark)
	}
	tw.Flush()
}

// registerTune adds --tune, whose number of trials may be left out.
func (f *trainFlags) registerTune(fl *pflag.FlagSet) {
	fl.IntVar(&f.opts.Tune, "tune", 0, fmt.Sprintf("search width {64,128,256,512} × depth {1,2} × dropout {0,0.1,0.2} × weight decay {0,1e-3,1e-2,0.1} × lr {⅓,1,3}×--lr by successive halving (η=%d) over `TRIALS` (the run's own settings first, the others drawn by --seed), judged as --metric on the validation rows, then train the best to the full budget", pipeline.TuneEta))
	fl.Lookup("tune").NoOptDefVal = fmt.Sprint(pipeline.DefaultTuneTrials)
}

// parseTrain completes the options of train from its flags and the
// number of trials that followed --tune.
func (f *trainFlags) parseTrain(cmd *cobra.Command, args []string) error {
	if err := f.takeTrials(cmd, args); err != nil {
		return err
	}
	if err := f.parse(cmd); err != nil {
		return err
	}
	return f.memory.options(&f.opts.Memory)
}

// tuneArgs accepts, after --tune without =, its number of trials:
// --tune 16 as well as --tune=16.
func (f *trainFlags) tuneArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 1 && f.bareTune(cmd) {
		if _, err := strconv.Atoi(args[0]); err == nil {
			return nil
		}
	}
	return cobra.NoArgs(cmd, args)
}

// bareTune reports whether --tune was given with its default number of
// trials, as it is when the number follows it without =.
func (f *trainFlags) bareTune(cmd *cobra.Command) bool {
	fl := cmd.Flags().Lookup("tune")
	return fl.Changed && fl.Value.String() == fl.NoOptDefVal
}

// takeTrials reads the number of trials that followed --tune.
func (f *trainFlags) takeTrials(cmd *cobra.Command, args []string) error {
	if len(args) == 0 || !f.bareTune(cmd) {
		return nil
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return usageError("--tune %s: want a number of trials", args[0])
	}
	f.opts.Tune = n
	return nil
}

// printTrained prints the outcome of a run on standard output.
func (a *app) printTrained(r *pipeline.Run, res *pipeline.Result) error {
	st := res.State
	if r.Demo {
		_, err := fmt.Fprintf(a.stdout, "held-out explained variance %.1f%% (%d students, 25%% of each of %d schools), %d epochs in %.1f s; model saved to %s\n",
			100*res.HeldOut, res.TestRows, res.Groups, st.Epoch, res.Seconds, r.Out)
		return err
	}
	msg := fmt.Sprintf("trained %d epochs in %.1f s, train loss %.4f", st.Epoch, res.Seconds, res.Last.TrainLoss)
	if r.Val != nil {
		msg += fmt.Sprintf(", best validation loss %.4f at epoch %d", st.BestVal, st.BestEpoch)
	}
	if _, err := fmt.Fprintf(a.stdout, "%s; model saved to %s\n", msg, r.Out); err != nil || res.OutOfFold == nil {
		return err
	}
	_, err := fmt.Fprintf(a.stdout, "out-of-fold metrics (each row scored by the member that did not learn from it):\n%s", res.OutOfFold.Table())
	return err
}
