package pipeline

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/internal/suggest"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// Options define a training run.
type Options struct {
	// Data is the training file (CSV or TSV, optionally gzip); empty for
	// the built-in School data on a new run, or for the data source the
	// model file records when resuming.
	Data string
	// Tasks are the targets as PATTERN:TYPE[:WEIGHT] (see
	// data.ParseTaskSpec). The model's tasks, and every output, follow
	// their order.
	Tasks []string
	// GroupColumn splits every target into a family with one head per
	// group. The built-in data uses the school.
	GroupColumn string
	// Ignore and Categorical are column names or globs.
	Ignore, Categorical []string
	// Impute is "" or "mean".
	Impute string
	// Numeric is the encoding of numeric inputs (see
	// data.ParseNumericEncoding); DefaultOptions sets DefaultNumeric,
	// empty is data.DefaultNumeric.
	Numeric string
	// Hidden lists the widths of the shared layers; AutoWidth chooses one
	// width and the weight decay by validation instead (Run.ChooseWidth).
	Hidden    []int
	AutoWidth bool
	// Tune searches the configuration (shared layers, learning rate,
	// weight decay, dropout) by successive halving over this many trials
	// before training the best (Run.Tune; 0: no search). The run's own
	// configuration is the first trial.
	Tune int
	// Activation is the shared layers' φ.
	Activation backend.Activation
	// Arch is the model's body (see mtl.Arch; empty means a shared
	// bottom). A mixture of experts has Experts experts (MMoE), or Experts
	// shared and TaskExperts per task on each of Levels levels (PLE), each
	// an MLP of the widths ExpertHidden.
	Arch         mtl.Arch
	Experts      int
	TaskExperts  int
	Levels       int
	ExpertHidden []int
	// Ensemble trains this many members from consecutive seeds together
	// and averages their predictions; CV trains one member per fold of
	// K-fold cross-fitting instead (each member learns from the other
	// folds and stops early on its own), reports out-of-fold metrics and
	// averages the members too. 0 or 1 means a single model; CV may be
	// AutoCV (see budget.go).
	Ensemble, CV int
	// PosWeight is the binary tasks' positive-class weight: "" or "none",
	// "auto" (negatives/positives in the training rows) or a number.
	PosWeight string
	// ValSplit is the fraction of training rows held out for validation
	// and early stopping, in [0, 1), or AutoValSplit (see budget.go).
	ValSplit float64
	// Metric chooses the best epoch on the validation rows, averaged over
	// the tasks: one of Metrics ("" is MetricLoss; see judge.go).
	Metric string
	// Steps is the run's budget in optimiser steps; 0 follows the rule of
	// budget.go, as do the batch size, epochs and patience unless Given.
	Steps int
	// Train is the training configuration (optimiser, schedule, weighting,
	// seed and so on).
	Train mtl.Config
	// Resume continues the run saved in this model file, with the
	// architecture, preprocessing, configuration, data source, split and
	// holdout it records. Of the options named in Given, those that can
	// safely change (see ResumeApplies) are applied; the others are
	// ignored and listed in Run.IgnoredOptions.
	Resume string
	// Given names the options set explicitly (by their flag names, e.g.
	// "lr", "epochs"), as a command line knows them.
	Given []string
	// Out is the model file to write (by default school.mtl for the
	// built-in data, or Resume when resuming). An existing file that is
	// not a model is refused unless Force; an existing model is left as it
	// was when the run does not beat the constant predictor (see
	// NoBetterError), unless Force.
	Out   string
	Force bool
	// Log, when set, receives one JSON line per epoch (package runlog).
	Log string
	// Group, when set, is the process group of a data-parallel run (see
	// mtl.Trainer.Distribute): every process prepares the same run and
	// trains its share of each batch; only rank 0 writes the model file
	// and the log.
	Group mtl.Collective

	// Features are NumPy matrices joined to Data row by row (see
	// FeatureFile); their columns are inputs like any other.
	Features []FeatureFile
	// ValData, when set, is a file of validation rows with the columns of
	// Data, instead of a split of Data (ValSplit is then not used).
	ValData string
	// MaxRowBytes bounds a row of a text file (0: the reader's default,
	// 16 MiB).
	MaxRowBytes int
	// OneHotMax, MinCount, EmbedDimMax, Embed (COLUMN:WIDTH) and
	// HashBuckets (COLUMN:N, or N for every embedded column) make
	// categorical columns embeddings (see data.Options). OneHotMax 0
	// means the default, −1 never by cardinality.
	OneHotMax, MinCount, EmbedDimMax int
	Embed, HashBuckets               []string

	// Memory says whether the training rows are held in memory or
	// streamed from the data file, and the memory budget that decides.
	Memory MemoryOptions
}

// ResumeApplies lists the options a resumed run takes from the command
// line: those that cannot change the meaning of the run so far.
var ResumeApplies = []string{"epochs", "patience", "data", "out", "log", "force", "resume", "features", "val-data", "max-row-bytes", "keep-cache"}

// DataOptions lists the options that describe a data file's columns;
// without a data file they are an error rather than a reason to run the
// built-in demonstration.
var DataOptions = []string{"task", "group-column", "ignore", "categorical", "impute", "features",
	"val-data", "onehot-max", "min-count", "embed-dim-max", "embed", "hash-buckets"}

// given reports whether the option was set explicitly.
func (o *Options) given(name string) bool { return slices.Contains(o.Given, name) }

// DefaultOptions returns the options of a run with every default: one
// shared ReLU layer of 64, robust+PLE inputs (DefaultNumeric), label
// smoothing DefaultLabelSmoothing, and the batch size, budget, validation
// rows and folds that suit the number of rows (see budget.go).
func DefaultOptions() Options {
	o := Options{Hidden: []int{64}, Activation: backend.ReLU, ValSplit: AutoValSplit, CV: AutoCV, Numeric: DefaultNumeric, Train: mtl.DefaultConfig()}
	o.Train.Epochs, o.Train.Batch, o.Train.Patience = 0, 0, AutoPatience
	o.Train.LabelSmoothing = DefaultLabelSmoothing
	o.Train.Weighting.Alpha, o.Train.Weighting.Temperature = 1.5, 2
	return o
}

// OptionError reports an option that is invalid. Option is the option's
// name as the command line spells it without dashes ("hidden", "task").
type OptionError struct {
	Option string
	Value  string
	Err    error
}

func (e *OptionError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %v", e.Option, e.Err)
	}
	return fmt.Sprintf("%s %s: %v", e.Option, e.Value, e.Err)
}

func (e *OptionError) Unwrap() error { return e.Err }

func optionErrorf(option, value, format string, a ...any) error {
	return &OptionError{Option: option, Value: value, Err: fmt.Errorf(format, a...)}
}

// validate checks the options that do not need the data: every number
// finite and in its range, with the error naming the option.
func (o *Options) validate() error {
	c := o.Train
	for _, check := range []struct {
		option string
		value  float64
		ok     bool
		want   string
	}{
		{"epochs", float64(c.Epochs), c.Epochs >= 0 && c.Epochs <= mtl.MaxEpochs, fmt.Sprintf("at least 1 and at most %d (0: by --steps)", mtl.MaxEpochs)},
		{"batch", float64(c.Batch), c.Batch >= 0 && c.Batch <= 1<<24, "at least 1 (0: by the number of rows)"},
		{"lr", c.LR, finite(c.LR) && c.LR > 0, "a number above 0"},
		{"momentum", c.Momentum, finite(c.Momentum) && c.Momentum >= 0 && c.Momentum < 1, "in [0, 1)"},
		{"weight-decay", c.WeightDecay, finite(c.WeightDecay) && c.WeightDecay >= 0, "a number ≥ 0"},
		{"group-decay", c.GroupDecay, finite(c.GroupDecay) && c.GroupDecay >= 0, "a number ≥ 0"},
		{"group-bias-decay", c.GroupBiasDecay, finite(c.GroupBiasDecay) && c.GroupBiasDecay >= 0, "a number ≥ 0"},
		{"warmup", c.Schedule.Warmup, finite(c.Schedule.Warmup) && c.Schedule.Warmup >= 0, "a number of epochs ≥ 0"},
		{"step-every", float64(c.Schedule.StepEvery), c.Schedule.StepEvery >= 1, "at least 1"},
		{"gamma", c.Schedule.Gamma, finite(c.Schedule.Gamma) && c.Schedule.Gamma > 0, "a number above 0"},
		{"clip", c.ClipNorm, finite(c.ClipNorm) && c.ClipNorm >= 0, "a number ≥ 0 (0: off)"},
		{"dropout", c.Dropout, c.Dropout >= 0 && c.Dropout < 1, "in [0, 1) (0: off)"},
		{"label-smoothing", c.LabelSmoothing, c.LabelSmoothing >= 0 && c.LabelSmoothing < 1, "in [0, 1) (0: off)"},
		{"patience", float64(c.Patience), c.Patience >= AutoPatience, "at least 0 (0: never stop early; -1: by the epochs)"},
		{"gradnorm-alpha", c.Weighting.Alpha, finite(c.Weighting.Alpha) && c.Weighting.Alpha >= 0, "a number ≥ 0"},
		{"dwa-temperature", c.Weighting.Temperature, finite(c.Weighting.Temperature) && c.Weighting.Temperature > 0, "a number above 0"},
		{"val-split", o.ValSplit, o.ValSplit == AutoValSplit || finite(o.ValSplit) && o.ValSplit >= 0 && o.ValSplit < 1, "in [0, 1) or auto"},
		{"steps", float64(o.Steps), o.Steps >= 0 && o.Steps <= 1<<40, "at least 1 (0: by the number of rows)"},
	} {
		if !check.ok {
			return optionErrorf(check.option, fmt.Sprint(check.value), "must be %s", check.want)
		}
	}
	if o.Metric != "" {
		m, err := parseEnum("metric", o.Metric, Metrics)
		if err != nil {
			return err
		}
		o.Metric = m
	}
	if o.Impute != "" {
		impute, err := parseEnum("impute", o.Impute, []string{"mean"})
		if err != nil {
			return err
		}
		o.Impute = impute
	}
	if _, err := o.numeric(); err != nil {
		return err
	}
	if err := withBudget(o.Train).Validate(); err != nil {
		return &OptionError{Option: "config", Err: err}
	}
	if c.Dropout > 0 && len(o.Hidden) == 0 && !o.AutoWidth && (o.Arch == "" || o.Arch == mtl.SharedBottom) {
		return optionErrorf("dropout", fmt.Sprint(c.Dropout), "drops units of hidden layers, and with --hidden none the model has none")
	}
	if o.AutoWidth && o.ValSplit == 0 {
		return optionErrorf("hidden", "auto", "choosing the width by validation loss needs a validation split above 0")
	}
	if err := o.validateTune(); err != nil {
		return err
	}
	if err := o.validateArch(); err != nil {
		return err
	}
	if _, err := parsePosWeight(o.PosWeight); err != nil {
		return err
	}
	if err := o.Memory.validate(); err != nil {
		return err
	}
	return o.validateData()
}

// validateTune checks a search of the configuration against the rest.
func (o *Options) validateTune() error {
	if o.Tune == 0 {
		return nil
	}
	value := fmt.Sprint(o.Tune)
	switch {
	case o.Tune < 2 || o.Tune > 1<<16:
		return optionErrorf("tune", value, "must be at least 2 trials (at most %d)", 1<<16)
	case o.AutoWidth:
		return optionErrorf("tune", value, "searches the width too: give --tune or --hidden auto, not both")
	case o.Arch != "" && o.Arch != mtl.SharedBottom:
		return optionErrorf("tune", value, "searches the shared layers of a shared bottom; for --arch %s give --expert-hidden", o.Arch)
	case o.ValSplit == 0 && o.ValData == "" && o.CV <= 1:
		return optionErrorf("tune", value, "judges trials on validation rows: it needs a validation split above 0, --val-data or --cv")
	}
	return nil
}

// validateData checks the options about reading the data and embedding
// its categorical columns.
func (o *Options) validateData() error {
	for _, check := range []struct {
		option string
		value  int
		ok     bool
		want   string
	}{
		{"onehot-max", o.OneHotMax, o.OneHotMax >= -1, "a number of values ≥ 1 (-1: never by cardinality)"},
		{"min-count", o.MinCount, o.MinCount >= 0, "a number of rows ≥ 1"},
		{"embed-dim-max", o.EmbedDimMax, o.EmbedDimMax >= 0, "a width ≥ 1"},
		{"max-row-bytes", o.MaxRowBytes, o.MaxRowBytes >= 0, "a number of bytes ≥ 1"},
	} {
		if !check.ok {
			return optionErrorf(check.option, fmt.Sprint(check.value), "must be %s", check.want)
		}
	}
	var opts data.Options
	return o.embedOptions(&opts)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// parseEnum finds value among names without regard to case, or returns an
// *OptionError that lists the names and suggests the nearest.
func parseEnum(option, value string, names []string) (string, error) {
	v := strings.ToLower(strings.TrimSpace(value))
	for _, n := range names {
		if v == n {
			return n, nil
		}
	}
	return "", optionErrorf(option, value, "unknown value (want %s)%s", listWords(names), suggest.Hint(v, names, "%s"))
}

// listWords writes "a, b or c".
func listWords(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// dataOptions parses the task specs and says which columns are what.
func (o *Options) dataOptions() (data.Options, error) {
	opts := data.Options{GroupColumn: o.GroupColumn, Ignore: o.Ignore, Categorical: o.Categorical, Impute: o.Impute}
	var err error
	if opts.Numeric, err = o.numeric(); err != nil {
		return opts, err
	}
	for _, s := range o.Tasks {
		ts, err := data.ParseTaskSpec(s)
		if err != nil {
			parts := strings.Split(s, ":")
			hint := suggest.Hint(strings.ToLower(strings.TrimSpace(parts[len(parts)-1])), []string{"multiclass", "binary", "regression"}, "%s")
			return opts, &OptionError{Option: "task", Value: s, Err: fmt.Errorf("%v%s", err, hint)}
		}
		opts.Tasks = append(opts.Tasks, ts)
	}
	return opts, o.embedOptions(&opts)
}

// embedOptions parses the options that make categorical columns
// embeddings into opts.
func (o *Options) embedOptions(opts *data.Options) error {
	opts.OneHotMax, opts.MinCount, opts.EmbedDimMax = o.OneHotMax, o.MinCount, o.EmbedDimMax
	for _, list := range []struct {
		option string
		specs  []string
		into   *[]data.ColumnSize
	}{{"embed", o.Embed, &opts.Embed}, {"hash-buckets", o.HashBuckets, &opts.HashBuckets}} {
		for _, s := range list.specs {
			cs, err := data.ParseColumnSize(s)
			if err == nil && list.option == "embed" && cs.Pattern == "" {
				err = fmt.Errorf("no column (want COLUMN:WIDTH)")
			}
			if err != nil {
				return &OptionError{Option: list.option, Value: s, Err: err}
			}
			*list.into = append(*list.into, cs)
		}
	}
	return nil
}

// DefaultLabelSmoothing is the label smoothing of DefaultOptions. Over 3
// seeds on the shared data sets (benchmark/cmd/defaults) 0.1 raises the
// seed example's accuracy (0.878 against 0.870), emotions' mean AUC
// (0.853 against 0.849), wine's cultivar accuracy (0.970 against 0.963)
// and digits' binary accuracies (0.990 against 0.985 for is_even), and
// moves adult, breast cancer and diabetes by less than their spread over
// seeds; regression tasks are not smoothed. Dropout 0.1, a width of 256,
// two layers of 128, weight decay 0.1 and a constant learning rate each
// won no more than they lost.
const DefaultLabelSmoothing = 0.1

// DefaultNumeric is the encoding of numeric inputs of DefaultOptions:
// robust scaling beside PLE bins (data.RobustPLE). Over 5 seeds on the
// shared data sets (benchmark/cmd/defaults) it beats standardisation on
// the seed example (accuracy 0.865 against 0.833), adult (income AUC
// 0.888 against 0.871), emotions (0.849 against 0.839), diabetes, wine's
// proline and digits, and loses on wine's cultivar (0.960 against 0.982)
// and breast cancer (0.972 against 0.983), about one test row each; PLE
// bins alone, robust scaling alone and the quantile map each lose more.
// Options.Numeric empty is the standardisation (data.DefaultNumeric).
const DefaultNumeric = "robust+ple"

// numeric parses the encoding of numeric inputs.
func (o *Options) numeric() (data.NumericEncoding, error) {
	if strings.TrimSpace(o.Numeric) == "" {
		return data.NumericEncoding{}, nil
	}
	enc, err := data.ParseNumericEncoding(o.Numeric)
	if err != nil {
		name, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(o.Numeric)), ":")
		return enc, &OptionError{Option: "numeric", Value: o.Numeric, Err: fmt.Errorf("%v%s", err, suggest.Hint(name, []string{"standard", "robust", "quantile", "ple"}, "%s"))}
	}
	return enc, nil
}

// ParseHidden reads the widths of the shared layers: comma-separated
// widths of at least 1, "none" for heads on the inputs, or "auto" (auto
// is true) to choose one width by validation.
func ParseHidden(s string) (widths []int, auto bool, err error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "auto":
		return nil, true, nil
	case "none":
		return nil, false, nil
	}
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 1<<20 {
			return nil, false, &OptionError{Option: "hidden", Value: s, Err: fmt.Errorf("%q is not a layer width of at least 1 (want e.g. 64 or 256,128, none for no shared layer, or auto)", f)}
		}
		widths = append(widths, n)
	}
	return widths, false, nil
}

// ParseActivation reads an activation name (identity, linear, relu, tanh),
// in any case.
func ParseActivation(s string) (backend.Activation, error) {
	name, err := parseEnum("activation", s, []string{"relu", "tanh", "identity", "linear"})
	if err != nil {
		return 0, err
	}
	return backend.ParseActivation(name)
}

// methodNames lists the weighting methods.
func methodNames() []string {
	var names []string
	for _, m := range mtl.Methods {
		names = append(names, string(m))
	}
	return names
}

// ParseMethods reads a comma-separated list of weighting methods, in any
// case.
func ParseMethods(list string) ([]mtl.Method, error) {
	var ms []mtl.Method
	for _, s := range strings.Split(list, ",") {
		m, err := ParseMethod(s)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// ParseMethod reads one weighting method, in any case.
func ParseMethod(s string) (mtl.Method, error) {
	name, err := parseEnum("weighting", s, methodNames())
	return mtl.Method(name), err
}

// ParseOptimizer reads an optimiser name (sgd, adam, adamw), in any case.
func ParseOptimizer(s string) (mtl.Optimizer, error) {
	name, err := parseEnum("optimizer", s, []string{string(mtl.SGD), string(mtl.Adam), string(mtl.AdamW)})
	return mtl.Optimizer(name), err
}

// ParseSchedule reads a learning-rate schedule (constant, step, cosine),
// in any case.
func ParseSchedule(s string) (mtl.ScheduleKind, error) {
	name, err := parseEnum("schedule", s, []string{string(mtl.Constant), string(mtl.Step), string(mtl.Cosine)})
	return mtl.ScheduleKind(name), err
}

// parsePosWeight reads a positive-class weight: 0 for none, -1 for auto,
// or the number.
func parsePosWeight(s string) (float64, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "none", "1":
		return 0, nil
	case "auto":
		return -1, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) {
		return 0, optionErrorf("pos-weight", s, "not auto, none or a positive number%s", suggest.Hint(strings.ToLower(s), []string{"auto", "none"}, "%s"))
	}
	return v, nil
}

// withBudget returns c with the values the budget rule fills in (0
// epochs and batch, AutoPatience) set to valid placeholders, to check the
// rest.
func withBudget(c mtl.Config) mtl.Config {
	v := c
	v.Epochs, v.Batch = max(v.Epochs, 1), max(v.Batch, 1)
	if v.Patience == AutoPatience {
		v.Patience = 0
	}
	return v
}
