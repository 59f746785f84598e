package pipeline

import (
	"fmt"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// Description is what a model file says about its model, for people
// (Text) and programs (it marshals to JSON; `info --json` prints it and
// `serve` answers it at /v1/model): tasks with the columns predict writes
// for each, inputs with how each is encoded, architecture, training state,
// metrics and, when recorded, the data it was trained on. Its field names
// are stable.
type Description struct {
	Path         string              `json:"path"`
	Tasks        []TaskDescription   `json:"tasks"`
	Inputs       InputsDescription   `json:"inputs"`
	Architecture ArchitectureSummary `json:"architecture"`
	Training     TrainingState       `json:"training"`
	Metrics      MetricsSummary      `json:"metrics"`
	// Data is the run's record (sources, split, holdout); nil for a file
	// written before runs were recorded.
	Data *Record `json:"data,omitempty"`
}

// TaskDescription describes one task, or one family of tasks with a head
// per group.
type TaskDescription struct {
	Name   string  `json:"name"`
	Type   string  `json:"type"`
	Weight float64 `json:"weight"`
	// Columns are the prediction columns: the task's name (the predicted
	// class, or the value), then NAME:p(CLASS) per class.
	Columns []string `json:"columns"`
	// Classes are the class labels of a classification task as written
	// in training; Positive is a binary task's positive class.
	Classes  []string `json:"classes,omitempty"`
	Positive string   `json:"positive_class,omitempty"`
	// PosWeight is a binary task's positive-class weight (1 when none).
	PosWeight float64 `json:"pos_weight,omitempty"`
	// Groups is the number of groups of a family (one head each).
	Groups int `json:"groups,omitempty"`
	// Mean and Std are a regression target's training mean and standard
	// deviation.
	Mean *float64 `json:"mean,omitempty"`
	Std  *float64 `json:"std,omitempty"`
}

// InputsDescription describes the input columns.
type InputsDescription struct {
	// Columns is the number of input columns and Encoded the width of the
	// encoded input.
	Columns     int                `json:"columns"`
	Encoded     int                `json:"encoded"`
	Numeric     []string           `json:"numeric"`
	Categorical []CategoricalInput `json:"categorical"`
	// Embedded lists the categorical columns learnt as embedding tables.
	Embedded    []EmbeddedInput `json:"embedded"`
	GroupColumn string          `json:"group_column,omitempty"`
	Impute      string          `json:"impute,omitempty"`
	// List gives every column a row must have, in training order, then
	// the group column of task families, with how each is encoded.
	List []InputDescription `json:"list"`
}

// InputDescription is one input column.
type InputDescription struct {
	Name string `json:"name"`
	// Kind is "numeric", "categorical", "embedded" or "group".
	Kind string `json:"kind"`
	// Categories lists the values seen in training of a categorical
	// column, or the groups of the group column; any other value is
	// allowed (all zeros, or the shared head). An embedded column's
	// vocabulary is not listed: any value is allowed (an unseen one takes
	// the "other" row 0 of its table).
	Categories []string `json:"categories,omitempty"`
	// Rows and Dim are an embedded column's table: rows × width; Buckets
	// is its number of hash buckets when it is hashed (no vocabulary).
	Rows    int `json:"rows,omitempty"`
	Dim     int `json:"dim,omitempty"`
	Buckets int `json:"hash_buckets,omitempty"`
	// Mean and Scale standardise a numeric column: (x − mean)/scale (see
	// data.Feature: under robust, Scale divides x − median instead).
	Mean  *float64 `json:"mean,omitempty"`
	Scale *float64 `json:"scale,omitempty"`
	// Encoding is a numeric column's encoding (standard, robust,
	// quantile or ple; see data.NumericMethod) and Width the number of
	// encoded inputs it makes.
	Encoding string `json:"encoding,omitempty"`
	Width    int    `json:"width,omitempty"`
}

// CategoricalInput is a one-hot encoded input column.
type CategoricalInput struct {
	Name       string `json:"name"`
	Categories int    `json:"categories"`
}

// EmbeddedInput is a categorical input column learnt as an embedding
// table of Rows vectors of width Dim: row 0 for values unseen or rare in
// training, then one per value of its vocabulary (Values of them), or,
// hashed (Hashed), a row per hash bucket.
type EmbeddedInput struct {
	Name   string `json:"name"`
	Rows   int    `json:"rows"`
	Dim    int    `json:"dim"`
	Values int    `json:"values"`
	Hashed bool   `json:"hashed"`
}

// ArchitectureSummary describes the network.
type ArchitectureSummary struct {
	// Name is the body: shared, mmoe or ple.
	Name   string `json:"name"`
	Inputs int    `json:"inputs"`
	// EmbeddingWidth is the width the embedding tables add to a row.
	EmbeddingWidth int    `json:"embedding_width,omitempty"`
	Hidden         []int  `json:"hidden"`
	Activation     string `json:"activation"`
	Parameters     int    `json:"parameters"`
}

// TrainingState describes the configuration and progress of the run.
type TrainingState struct {
	Optimizer   string  `json:"optimizer"`
	LR          float64 `json:"lr"`
	Batch       int     `json:"batch"`
	Schedule    string  `json:"schedule"`
	WeightDecay float64 `json:"weight_decay"`
	Weighting   string  `json:"weighting"`
	Seed        uint64  `json:"seed"`
	// Epochs of EpochBudget are done; Step counts optimiser steps and
	// EpochStep those of an unfinished epoch (0 at a boundary).
	Epochs      int `json:"epochs"`
	EpochBudget int `json:"epoch_budget"`
	Step        int `json:"step"`
	EpochStep   int `json:"epoch_step"`
	// BestEpoch is the epoch of the best validation loss (0 without
	// validation); StoppedEarly is set when patience ended the run.
	BestEpoch    int  `json:"best_epoch"`
	StoppedEarly bool `json:"stopped_early"`
	// Finished is set when --resume has nothing left to train.
	Finished bool `json:"finished"`
}

// MetricsSummary holds the run's figures of merit as recorded.
type MetricsSummary struct {
	// BestValLoss is the best validation loss (nil without validation)
	// and ConstantLoss that of the constant predictor it had to beat.
	BestValLoss  *float64 `json:"best_val_loss"`
	ConstantLoss *float64 `json:"constant_predictor_loss"`
	// Validation holds each task's headline metric at the best epoch.
	Validation []TaskMetric `json:"validation"`
}

// Describe reads a model file and describes it.
func Describe(path string) (*Description, error) {
	m, err := LoadModel(path)
	if err != nil {
		return nil, err
	}
	rec, err := readRecord(path, m.Checkpoint.Run)
	if err != nil {
		return nil, err
	}
	d := m.Describe()
	d.Data = rec
	if rec != nil {
		d.Metrics.ConstantLoss = rec.ConstantLoss
		d.Metrics.Validation = append(d.Metrics.Validation, rec.Best...)
	}
	return &d, nil
}

// Describe describes the model, all but the record of its data (see the
// function Describe).
func (m *Model) Describe() Description {
	ck, s := m.Checkpoint, m.Schema
	d := Description{Path: m.Path}
	for i, task := range ck.Model.Spec.Tasks {
		d.Tasks = append(d.Tasks, describeTask(task, s.Targets[i]))
	}
	d.Inputs = describeInputs(s)
	spec, cfg, st := ck.Model.Spec, ck.Config, ck.State
	// The body's name from the spec: Parts would copy every parameter.
	arch := spec.Arch
	if arch == "" {
		arch = mtl.SharedBottom
	}
	d.Architecture = ArchitectureSummary{Name: string(arch), Inputs: spec.Inputs, EmbeddingWidth: spec.InputWidth() - spec.Inputs,
		Hidden: append([]int{}, spec.Hidden...), Activation: spec.Activation.String(), Parameters: ck.Model.NumParams()}
	d.Training = TrainingState{Optimizer: string(cfg.Optimizer), LR: cfg.LR, Batch: cfg.Batch, Schedule: string(cfg.Schedule.Kind),
		WeightDecay: cfg.WeightDecay, Weighting: string(cfg.Weighting.Method), Seed: cfg.Seed,
		Epochs: st.Epoch, EpochBudget: cfg.Epochs, Step: st.Step, EpochStep: st.EpochStep, BestEpoch: max(st.BestEpoch, 0),
		StoppedEarly: st.Done, Finished: st.Done || (st.Epoch >= cfg.Epochs && st.EpochStep == 0)}
	if !math.IsInf(st.BestVal, 0) {
		v := st.BestVal
		d.Metrics.BestValLoss = &v
	}
	d.Metrics.Validation = []TaskMetric{}
	return d
}

// describeInputs describes the input columns.
func describeInputs(s *data.Schema) InputsDescription {
	in := InputsDescription{Columns: len(s.Features), Encoded: s.Dim(), GroupColumn: s.GroupColumn, Impute: s.Impute,
		Numeric: []string{}, Categorical: []CategoricalInput{}, Embedded: []EmbeddedInput{}}
	for _, f := range s.Features {
		col := InputDescription{Name: f.Name, Kind: f.Kind.String()}
		switch f.Kind {
		case data.Categorical:
			in.Categorical = append(in.Categorical, CategoricalInput{f.Name, len(f.Categories)})
			col.Categories = f.Categories
		case data.Embedded:
			in.Embedded = append(in.Embedded, EmbeddedInput{Name: f.Name, Rows: f.Rows(), Dim: f.Dim, Values: len(f.Categories), Hashed: f.Buckets > 0})
			col.Rows, col.Dim, col.Buckets = f.Rows(), f.Dim, f.Buckets
		default:
			in.Numeric = append(in.Numeric, f.Name)
			col.Mean, col.Scale = &f.Mean, &f.Scale
			col.Encoding, col.Width = string(f.Method()), f.Width()
		}
		in.List = append(in.List, col)
	}
	if s.GroupColumn != "" {
		in.List = append(in.List, InputDescription{Name: s.GroupColumn, Kind: "group", Categories: s.Groups})
	}
	return in
}

func describeTask(task mtl.Task, tg data.Target) TaskDescription {
	td := TaskDescription{Name: task.Name, Type: task.Type.String(), Weight: task.Weight, Groups: task.Groups, Columns: []string{task.Name}}
	if task.Type != mtl.Regression {
		for _, c := range tg.Classes {
			td.Columns = append(td.Columns, task.Name+":p("+c+")")
		}
	}
	if td.Weight == 0 {
		td.Weight = 1
	}
	switch task.Type {
	case mtl.Multiclass:
		td.Classes = tg.Classes
	case mtl.Binary:
		td.Classes, td.Positive, td.PosWeight = tg.Classes, tg.Positive, task.PosWeight
		if td.PosWeight == 0 {
			td.PosWeight = 1
		}
	default:
		mean, std := task.Mean, task.Std
		td.Mean, td.Std = &mean, &std
	}
	return td
}

// Text formats the description for people.
func (d *Description) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "model %s\n\ntasks\n", d.Path)
	tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
	for _, t := range d.Tasks {
		fmt.Fprintf(tw, "  %s\t%s\tweight %g\t%s\n", t.Name, t.Type, t.Weight, taskDetail(t))
	}
	tw.Flush()
	in := d.Inputs
	fmt.Fprintf(&b, "\ninputs\n  %d columns (%d numeric, %d categorical", in.Columns, len(in.Numeric), len(in.Categorical))
	if len(in.Embedded) > 0 {
		fmt.Fprintf(&b, ", %d embedded", len(in.Embedded))
	}
	fmt.Fprintf(&b, "), %d encoded inputs", in.Encoded)
	if in.Impute != "" {
		fmt.Fprintf(&b, ", missing numbers imputed by the %s", in.Impute)
	}
	b.WriteString("\n")
	if len(in.Numeric) > 0 {
		fmt.Fprintf(&b, "  numeric%s: %s\n", encodingText(in.List), abbreviate(in.Numeric, 12))
	}
	if len(in.Categorical) > 0 {
		var cats []string
		for _, c := range in.Categorical {
			cats = append(cats, fmt.Sprintf("%s (%d)", c.Name, c.Categories))
		}
		fmt.Fprintf(&b, "  categorical: %s\n", abbreviate(cats, 12))
	}
	if len(in.Embedded) > 0 {
		var embs []string
		for _, e := range in.Embedded {
			what := fmt.Sprintf("%d values + other", e.Values)
			if e.Hashed {
				what = "hashed"
			}
			embs = append(embs, fmt.Sprintf("%s (%d×%d, %s)", e.Name, e.Rows, e.Dim, what))
		}
		fmt.Fprintf(&b, "  embedded: %s\n", abbreviate(embs, 12))
	}
	if in.GroupColumn != "" {
		fmt.Fprintf(&b, "  group column: %s\n", in.GroupColumn)
	}
	a := d.Architecture
	inputs := fmt.Sprintf("%d inputs", a.Inputs)
	if a.EmbeddingWidth > 0 {
		inputs += fmt.Sprintf(" and %d embedding dimensions", a.EmbeddingWidth)
	}
	fmt.Fprintf(&b, "\narchitecture\n  %s → %s %s (%s) → one head per task; %d parameters\n", inputs, a.Name, hiddenText(a.Hidden), a.Activation, a.Parameters)
	t := d.Training
	fmt.Fprintf(&b, "\ntraining\n  %s, learning rate %g, batch %d, %s schedule, weight decay %g, weighting %s, seed %d\n",
		t.Optimizer, t.LR, t.Batch, t.Schedule, t.WeightDecay, t.Weighting, t.Seed)
	fmt.Fprintf(&b, "  %d of %d epochs (%d steps)", t.Epochs, t.EpochBudget, t.Step)
	switch {
	case t.EpochStep > 0:
		fmt.Fprintf(&b, ", interrupted %d steps into epoch %d: --resume continues it", t.EpochStep, t.Epochs+1)
	case t.StoppedEarly:
		b.WriteString(", stopped early (no better validation loss within the patience)")
	case t.Finished:
		b.WriteString(", finished")
	default:
		b.WriteString(": --resume continues it")
	}
	b.WriteString("\n")
	d.metricsText(&b)
	d.tuneText(&b)
	d.dataText(&b)
	return b.String()
}

func (d *Description) metricsText(b *strings.Builder) {
	m := d.Metrics
	b.WriteString("\nmetrics\n")
	if m.BestValLoss != nil {
		fmt.Fprintf(b, "  best validation loss %.5g at epoch %d", *m.BestValLoss, d.Training.BestEpoch)
	} else {
		b.WriteString("  no validation rows")
	}
	if m.ConstantLoss != nil {
		fmt.Fprintf(b, " (a constant prediction: %.5g)", *m.ConstantLoss)
	}
	b.WriteString("\n")
	for _, v := range m.Validation {
		fmt.Fprintf(b, "  %s: validation %s %.4f\n", v.Task, v.Metric, v.Value)
	}
}

func (d *Description) dataText(b *strings.Builder) {
	if d.Data == nil {
		b.WriteString("\ndata\n  not recorded (an older mtl-gpu wrote this file)\n")
		return
	}
	b.WriteString("\ndata\n")
	for _, s := range d.Data.Sources {
		fmt.Fprintf(b, "  %s: %s", s.Role, s)
		if s.Fingerprint != nil {
			fmt.Fprintf(b, " (%v)", *s.Fingerprint)
		}
		b.WriteString("\n")
	}
	if h := d.Data.Holdout; h != nil {
		fmt.Fprintf(b, "  held out for testing: %g of each %s (seed %d)\n", h.Fraction, h.GroupColumn, h.Seed)
	}
	if d.Data.ValSplit > 0 {
		fmt.Fprintf(b, "  validation: %g of the training rows, by %s (seed %d)\n", d.Data.ValSplit, d.Data.SplitBy, d.Data.SplitSeed)
	} else {
		b.WriteString("  validation: none\n")
	}
	if m := d.Data.Memory; m != nil {
		fmt.Fprintf(b, "  training rows: %s\n", m)
	}
}

func taskDetail(t TaskDescription) string {
	switch {
	case t.Type == "binary":
		s := fmt.Sprintf("classes %s, positive %q", strings.Join(t.Classes, ", "), t.Positive)
		if t.PosWeight != 1 {
			s += fmt.Sprintf(", positive weight %.4g", t.PosWeight)
		}
		return s + groupsText(t.Groups)
	case t.Type == "multiclass":
		return fmt.Sprintf("%d classes: %s", len(t.Classes), abbreviate(t.Classes, 8)) + groupsText(t.Groups)
	case t.Mean != nil:
		return fmt.Sprintf("mean %.4g, standard deviation %.4g", *t.Mean, *t.Std) + groupsText(t.Groups)
	}
	return groupsText(t.Groups)
}

func groupsText(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("; a family of %d group heads", n)
}

func hiddenText(h []int) string {
	if len(h) == 0 {
		return "nothing (linear heads on the inputs)"
	}
	var parts []string
	for _, w := range h {
		parts = append(parts, fmt.Sprint(w))
	}
	return "layers of " + strings.Join(parts, ", ")
}

// abbreviate lists up to n items and counts the rest.
func abbreviate(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
}

// encodingText names the encoding of the numeric inputs, " (robust)" say,
// unless it is standardising.
func encodingText(list []InputDescription) string {
	for _, in := range list {
		if in.Encoding != "" && in.Encoding != string(data.Standard) {
			return " (" + in.Encoding + ")"
		}
	}
	return ""
}
