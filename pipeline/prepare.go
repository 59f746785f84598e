package pipeline

import (
	"encoding/json"
	"errors"

	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// ErrNoTasks is returned by Prepare for a new run on a data file without
// task specs, and ErrNoOut for one without a model file to write.
var (
	ErrNoTasks = errors.New("no task given (want at least one PATTERN:TYPE, e.g. label:multiclass)")
	ErrNoOut   = errors.New("no model file to write")
)

// Run is a prepared training run: its data read, encoded and split, its
// architecture and configuration decided, and, when resuming, the
// checkpoint to continue.
type Run struct {
	// Options are the options the run was prepared from.
	Options Options
	// Schema says how raw columns become model inputs and labels; it is
	// stored in the model file.
	Schema *data.Schema
	// Spec is the architecture and Config the training configuration.
	Spec   mtl.Spec
	Config mtl.Config
	// Train and Val are the training and validation rows (Val nil
	// without a validation split); Test holds the demonstration's
	// held-out rows.
	Train, Val, Test *mtl.Dataset
	// Checkpoint is the run being resumed, or nil.
	Checkpoint *mtl.Checkpoint
	// Demo is set for the built-in School demonstration.
	Demo bool
	// Out is the model file the run writes.
	Out string
	// Warnings are lines about allowed but doubtful input, for a log.
	Warnings []string
	// IgnoredTasks is set when resuming with task specs, which the saved
	// model's tasks replace.
	IgnoredTasks bool

	meta json.RawMessage // the schema as the model file stores it
}

// Prepare reads and encodes the data and works out the model, without
// touching any device or file other than the inputs. For the built-in
// data it holds out a quarter of each school before anything is learnt.
func Prepare(o Options) (*Run, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	r := &Run{Options: o, Out: o.Out, Config: o.Train}
	table, test, err := r.read()
	if err != nil {
		return nil, err
	}
	if o.Resume != "" {
		err = r.resume()
	} else {
		err = r.fitSchema(table)
	}
	if err != nil {
		return nil, err
	}
	if r.meta, err = json.Marshal(r.Schema); err != nil {
		return nil, err
	}
	if test != nil {
		enc, err := r.Schema.Encode(test, true)
		if err != nil {
			return nil, err
		}
		r.Test = dataset(enc, len(r.Schema.Targets))
	}
	enc, err := r.Schema.Encode(table, true)
	if err != nil {
		return nil, err
	}
	r.Warnings = append(r.Warnings, enc.Warnings...)
	all := dataset(enc, len(r.Schema.Targets))
	if r.Checkpoint == nil {
		if err := r.newSpec(enc); err != nil {
			return nil, err
		}
	}
	if o.ValSplit > 0 {
		trainRows, valRows := split(all.N, o.ValSplit, r.Config.Seed+1, enc.Groups)
		r.Train, r.Val = all.Rows(trainRows, enc.D), all.Rows(valRows, enc.D)
	} else {
		r.Train = all
	}
	return r, nil
}

// read reads the training table; for the demonstration it fills in the
// demonstration's options and splits off the held-out rows.
func (r *Run) read() (table, test *data.Table, err error) {
	o := &r.Options
	if o.Data != "" {
		table, err = data.ReadFile(o.Data)
		return table, nil, err
	}
	if table, err = readDemo(); err != nil {
		return nil, nil, err
	}
	if o.Resume != "" {
		return table, nil, nil
	}
	r.Demo = true
	if len(o.Tasks) == 0 {
		o.Tasks = []string{demoTarget}
	}
	if !o.GroupColumnSet {
		o.GroupColumn = demoGroup
	}
	if r.Out == "" {
		r.Out = DemoOut
	}
	return holdOut(table, o.GroupColumn, 1-demoHoldout, o.Train.Seed)
}

// resume loads the run to continue: its schema, architecture and
// configuration.
func (r *Run) resume() error {
	o := r.Options
	if r.Out == "" {
		r.Out = o.Resume
	}
	m, err := LoadModel(o.Resume)
	if err != nil {
		return err
	}
	r.Checkpoint, r.Schema, r.Spec = m.Checkpoint, m.Schema, m.Checkpoint.Model.Spec
	r.Config = m.Checkpoint.Config
	if o.EpochsSet {
		r.Config.Epochs = o.Train.Epochs
	}
	r.IgnoredTasks = len(o.Tasks) > 0
	return nil
}

// fitSchema learns the schema of a new run from the training table.
func (r *Run) fitSchema(table *data.Table) error {
	o := r.Options
	if len(o.Tasks) == 0 {
		return ErrNoTasks
	}
	if r.Out == "" {
		return ErrNoOut
	}
	opts, err := o.dataOptions()
	if err != nil {
		return err
	}
	schema, warnings, err := data.Fit(table, opts)
	if err != nil {
		return err
	}
	r.Schema, r.Warnings = schema, append(r.Warnings, warnings...)
	return nil
}

// newSpec decides the architecture of a new run.
func (r *Run) newSpec(enc *data.Encoded) error {
	o := r.Options
	r.Spec = mtl.Spec{Inputs: enc.D, Hidden: o.Hidden, Activation: o.Activation, Tasks: specTasks(r.Schema)}
	return posWeights(r.Spec.Tasks, enc.Labels, o.PosWeight)
}
