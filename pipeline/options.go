package pipeline

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// Options define a training run.
type Options struct {
	// Data is the training file (CSV or TSV, optionally gzip); empty for
	// the built-in School data, when not resuming.
	Data string
	// Tasks are the targets as PATTERN:TYPE[:WEIGHT] (see
	// data.ParseTaskSpec).
	Tasks []string
	// GroupColumn splits every target into a family with one head per
	// group. For the built-in data it defaults to the school unless
	// GroupColumnSet says it was given (possibly empty).
	GroupColumn    string
	GroupColumnSet bool
	// Ignore and Categorical are column names or globs.
	Ignore, Categorical []string
	// Impute is "" or "mean".
	Impute string
	// Hidden lists the widths of the shared layers; AutoWidth chooses one
	// width and the weight decay by validation instead (Run.ChooseWidth).
	Hidden    []int
	AutoWidth bool
	// Activation is the shared layers' φ.
	Activation backend.Activation
	// PosWeight is the binary tasks' positive-class weight: "" or "none",
	// "auto" (negatives/positives in the training rows) or a number.
	PosWeight string
	// ValSplit is the fraction of training rows held out for validation
	// and early stopping, in [0, 1).
	ValSplit float64
	// Train is the training configuration (optimiser, schedule, weighting,
	// seed and so on).
	Train mtl.Config
	// Resume continues the run saved in this model file; its architecture,
	// preprocessing and configuration are used, except Train.Epochs when
	// EpochsSet.
	Resume    string
	EpochsSet bool
	// Out is the model file to write (by default school.mtl for the
	// built-in data, or Resume when resuming).
	Out string
	// Log, when set, receives one JSON line per epoch (package runlog).
	Log string
}

// DefaultOptions returns the options of a run with every default: one
// shared ReLU layer of 64 and 10% of the rows for validation.
func DefaultOptions() Options {
	return Options{Hidden: []int{64}, Activation: backend.ReLU, ValSplit: 0.1, Train: mtl.DefaultConfig()}
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

// validate checks the options that do not need the data.
func (o *Options) validate() error {
	if err := o.Train.Validate(); err != nil {
		return &OptionError{Option: "config", Err: err}
	}
	if !(o.ValSplit >= 0 && o.ValSplit < 1) {
		return optionErrorf("val-split", fmt.Sprint(o.ValSplit), "must be in [0, 1)")
	}
	if o.AutoWidth && o.ValSplit == 0 {
		return optionErrorf("hidden", "auto", "choosing the width by validation loss needs a validation split above 0")
	}
	if _, err := parsePosWeight(o.PosWeight); err != nil {
		return err
	}
	return nil
}

// dataOptions parses the task specs and says which columns are what.
func (o *Options) dataOptions() (data.Options, error) {
	opts := data.Options{GroupColumn: o.GroupColumn, Ignore: o.Ignore, Categorical: o.Categorical, Impute: o.Impute}
	for _, s := range o.Tasks {
		ts, err := data.ParseTaskSpec(s)
		if err != nil {
			return opts, &OptionError{Option: "task", Value: s, Err: err}
		}
		opts.Tasks = append(opts.Tasks, ts)
	}
	return opts, nil
}

// ParseHidden reads the widths of the shared layers: comma-separated
// widths, "0" or "none" for heads on the inputs, or "auto" (auto is true)
// to choose one width by validation.
func ParseHidden(s string) (widths []int, auto bool, err error) {
	s = strings.TrimSpace(s)
	switch s {
	case "auto":
		return nil, true, nil
	case "0", "none", "":
		return nil, false, nil
	}
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 1<<20 {
			return nil, false, &OptionError{Option: "hidden", Value: s, Err: fmt.Errorf("%q is not a layer width (want e.g. 64 or 256,128, none or auto)", f)}
		}
		widths = append(widths, n)
	}
	return widths, false, nil
}

// ParseActivation reads an activation name (identity, linear, relu, tanh).
func ParseActivation(s string) (backend.Activation, error) {
	act, err := backend.ParseActivation(s)
	if err != nil {
		return 0, &OptionError{Option: "activation", Err: err}
	}
	return act, nil
}

// ParseMethods reads a comma-separated list of weighting methods.
func ParseMethods(list string) ([]mtl.Method, error) {
	var ms []mtl.Method
	for _, s := range strings.Split(list, ",") {
		m, err := mtl.ParseMethod(strings.TrimSpace(s))
		if err != nil {
			return nil, &OptionError{Option: "weighting", Err: err}
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// ParseMethod reads one weighting method.
func ParseMethod(s string) (mtl.Method, error) {
	m, err := mtl.ParseMethod(s)
	if err != nil {
		return "", &OptionError{Option: "weighting", Err: err}
	}
	return m, nil
}

// Optimizer returns the optimiser named s (sgd, adam, adamw); the
// configuration's validation rejects other names.
func Optimizer(s string) mtl.Optimizer { return mtl.Optimizer(s) }

// Schedule returns the learning-rate schedule named s (constant, step,
// cosine); the configuration's validation rejects other names.
func Schedule(s string) mtl.ScheduleKind { return mtl.ScheduleKind(s) }

// parsePosWeight reads a positive-class weight: 0 for none, -1 for auto,
// or the number.
func parsePosWeight(s string) (float64, error) {
	switch s {
	case "", "none", "1":
		return 0, nil
	case "auto":
		return -1, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) {
		return 0, optionErrorf("pos-weight", s, "not auto, none or a positive number")
	}
	return v, nil
}
