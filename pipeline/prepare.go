package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/internal/atomicfile"
	"github.com/mtl-gpu/mtl-gpu/internal/suggest"
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
	// Demo is set for the built-in School demonstration (and its resumed
	// runs).
	Demo bool
	// Out is the model file the run writes.
	Out string
	// Warnings are lines about allowed but doubtful input, for a log.
	Warnings []string
	// IgnoredOptions lists, when resuming, the options given that the run
	// does not take: the model's own values are used.
	IgnoredOptions []string
	// Record is what defines the run besides its model: data source,
	// split and holdout. The model file stores it.
	Record Record

	meta json.RawMessage // the schema as the model file stores it
	// A cross-validated run keeps its training table and encoding and
	// each row's fold, to score the rows out of fold.
	table    *data.Table
	enc      *data.Encoded
	folds    []int8
	dataPath string // the file to read; "" for the built-in data
	// protect is set when Out held a model before the run and it may only
	// be replaced by a run that beats the constant predictor.
	protect bool
	lock    *atomicfile.Lock
}

// Prepare reads and encodes the data and works out the model, without
// touching any device or writing any file. For the built-in data it holds
// out a quarter of each school before anything is learnt. When resuming it
// reads the data source the model file records (or Options.Data, when its
// content is the same), with the recorded split and holdout.
func Prepare(o Options) (*Run, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	r := &Run{Options: o, Out: o.Out, Config: o.Train, dataPath: o.Data}
	var err error
	switch {
	case o.Resume != "":
		err = r.resume()
	case o.Data == "":
		err = r.demo()
	case len(o.Tasks) == 0:
		err = ErrNoTasks
	case r.Out == "":
		err = ErrNoOut
	}
	if err != nil {
		return nil, err
	}
	if err := r.checkOutputs(); err != nil {
		return nil, err
	}
	table, test, err := r.read()
	if err != nil {
		return nil, err
	}
	if r.Checkpoint == nil {
		r.Options.resolveAuto(len(table.Rows))
		if err := r.fitSchema(table); err != nil {
			return nil, err
		}
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
	if r.Checkpoint == nil {
		if err := r.newSpec(enc); err != nil {
			return nil, err
		}
	}
	all := dataset(enc, len(r.Schema.Targets))
	if r.Options.CV > 1 || r.Record.CV != nil {
		r.table = table
		r.crossFit(all, enc)
	} else {
		r.splitRows(all, enc)
	}
	if r.Checkpoint == nil {
		if r.Record.Budget, err = r.Options.budget(r.Train.N, &r.Config); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// demo sets up the built-in demonstration: the School data, its target
// and group column, and a quarter of every school held out. Options that
// describe a data file's columns make no sense without one.
func (r *Run) demo() error {
	o := &r.Options
	var given []string
	for name, set := range map[string]bool{
		"task": len(o.Tasks) > 0, "group-column": o.GroupColumn != "" || o.given("group-column"), "ignore": len(o.Ignore) > 0,
		"categorical": len(o.Categorical) > 0, "impute": o.Impute != "", "features": o.given("features"),
	} {
		if set {
			given = append(given, "--"+name)
		}
	}
	if len(given) > 0 {
		slices.Sort(given)
		return optionErrorf("data", "", "is required with %s (without --data, train runs the built-in demonstration on the School data)", strings.Join(given, ", "))
	}
	r.Demo = true
	o.Tasks, o.GroupColumn = []string{demoTarget}, demoGroup
	if r.Out == "" {
		r.Out = DemoOut
	}
	r.Record.Sources = []Source{demoSource()}
	r.Record.Holdout = &Holdout{Fraction: demoHoldout, GroupColumn: demoGroup, Seed: o.Train.Seed}
	return nil
}

// resume loads the run to continue: its schema, architecture,
// configuration and record, applying the options that may change and
// listing those it ignores.
func (r *Run) resume() error {
	o := &r.Options
	if r.Out == "" {
		r.Out = o.Resume
	}
	m, err := LoadModel(o.Resume)
	if err != nil {
		return err
	}
	ck := m.Checkpoint
	r.Checkpoint, r.Schema, r.Spec, r.Config = ck, m.Schema, ck.Model.Spec, ck.Config
	for _, name := range o.Given {
		if !slices.Contains(ResumeApplies, name) && !slices.Contains(r.IgnoredOptions, name) {
			r.IgnoredOptions = append(r.IgnoredOptions, name)
		}
	}
	if len(o.Tasks) > 0 && !slices.Contains(r.IgnoredOptions, "task") {
		r.IgnoredOptions = append(r.IgnoredOptions, "task")
	}
	slices.Sort(r.IgnoredOptions)
	if o.given("epochs") {
		if o.Train.Epochs < ck.State.Epoch {
			return optionErrorf("epochs", fmt.Sprint(o.Train.Epochs), "the run has already trained %d epochs", ck.State.Epoch)
		}
		r.Config.Epochs = o.Train.Epochs
	}
	if o.given("patience") {
		r.Config.Patience = o.Train.Patience
	}
	if o.given("epochs") || o.given("patience") {
		ck.State.Done = r.Config.Patience > 0 && ck.State.Stale >= r.Config.Patience
	}
	rec, err := readRecord(o.Resume, ck.Run)
	if err != nil {
		return err
	}
	if rec == nil {
		return r.resumeUnrecorded()
	}
	r.Record = *rec
	r.Demo = rec.Holdout != nil && rec.Sources[0].Builtin != ""
	src := &r.Record.Sources[0]
	if r.dataPath, err = r.locate(*src); err != nil {
		return err
	}
	if r.dataPath != "" {
		src.Path, src.Builtin = absPath(r.dataPath), ""
	}
	return nil
}

// resumeUnrecorded resumes a model file written before runs were
// recorded: the data and split are taken from the options, as then.
func (r *Run) resumeUnrecorded() error {
	o := r.Options
	if o.Data == "" {
		return optionErrorf("data", "", "%s does not record its data source (an older mtl-gpu wrote it): give --data", o.Resume)
	}
	src, err := fileSource("data", o.Data)
	if err != nil {
		return err
	}
	split := o.ValSplit
	if split == AutoValSplit {
		split = legacyValSplit
	}
	r.Record = Record{Sources: []Source{src}, ValSplit: split, SplitSeed: r.Config.Seed + 1}
	r.Warnings = append(r.Warnings, fmt.Sprintf("%s does not record its validation split (an older mtl-gpu wrote it): using %g", o.Resume, split))
	return nil
}

// locate finds the data of a resumed run: the file given, when its
// content is the one recorded (the data moved), else the recorded file,
// when it is still there and unchanged. "" is the built-in data.
func (r *Run) locate(src Source) (string, error) {
	given := r.Options.Data
	if given == "" && src.Builtin != "" {
		return "", nil
	}
	path := given
	if path == "" {
		path = src.Path
	}
	found, err := fileSource("data", path)
	if err != nil {
		return "", err
	}
	switch {
	case !exists(path) && given == "":
		return "", optionErrorf("data", "", "the run's data %s is missing; if it moved, give --data NEWPATH", src)
	case !exists(path):
		return path, nil // the reader says what is wrong with it
	case src.Fingerprint == nil && given == "":
		return "", optionErrorf("data", "", "the run read its data from %s, which cannot be read again (a pipe?): give --data", src)
	case src.Fingerprint == nil || found.Fingerprint == nil:
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s: cannot check that this is the run's data (it is read once, as from a pipe)", path))
	case *found.Fingerprint != *src.Fingerprint && given != "":
		return "", optionErrorf("data", given, "is not the run's data: its content differs from %s (recorded %v, found %v)", src, *src.Fingerprint, *found.Fingerprint)
	case *found.Fingerprint != *src.Fingerprint:
		return "", optionErrorf("data", "", "the run's data %s has changed since the run was saved (recorded %v, now %v); give --data with the original content", src, *src.Fingerprint, *found.Fingerprint)
	}
	return path, nil
}

// checkOutputs refuses outputs that are inputs, a model file that would
// replace a file that is not a model, and a log that would be appended to
// a file that is not a log (both unless Force), and decides whether an
// existing model at Out is protected.
func (r *Run) checkOutputs() error {
	o := r.Options
	dataIn := Input{Option: "data", Path: r.dataPath}
	if err := CheckOutput("out", r.Out, dataIn); err != nil {
		return err
	}
	if o.Log != "" {
		for _, other := range []Input{dataIn, {Option: "resume", Path: o.Resume}, {Option: "out", Path: r.Out}} {
			if other.Path != "" && samePath(o.Log, other.Path) {
				return optionErrorf("log", o.Log, "is --%s: the log needs a file of its own", other.Option)
			}
		}
	}
	resuming := o.Resume != "" && samePath(r.Out, o.Resume)
	if !resuming {
		if err := checkModelOut(r.Out, o.Force); err != nil {
			return err
		}
	}
	r.protect = !o.Force && !resuming && exists(r.Out)
	return checkLogOut(o.Log, o.Force)
}

// read reads the training table; for the demonstration (or any recorded
// holdout) it splits off the held-out rows.
func (r *Run) read() (table, test *data.Table, err error) {
	if r.dataPath == "" {
		table, err = readDemo()
	} else {
		if r.Checkpoint == nil {
			src, err := fileSource("data", r.dataPath)
			if err != nil {
				return nil, nil, err
			}
			r.Record.Sources = []Source{src}
		}
		table, err = data.ReadFile(r.dataPath)
	}
	if err != nil {
		return nil, nil, err
	}
	if h := r.Record.Holdout; h != nil {
		return holdOut(table, h.GroupColumn, 1-h.Fraction, h.Seed)
	}
	return table, nil, nil
}

// splitRows sets the training and validation rows: for a new run from the
// options (recorded), when resuming as recorded.
func (r *Run) splitRows(all *mtl.Dataset, enc *data.Encoded) {
	rec := &r.Record
	if r.Checkpoint == nil {
		rec.ValSplit, rec.SplitSeed, rec.SplitBy = r.Options.ValSplit, r.Config.Seed+1, "rows"
		if enc.Groups != nil {
			rec.SplitBy = "group:" + r.Schema.GroupColumn
		}
	}
	if rec.ValSplit == 0 {
		r.Train = all
		return
	}
	var groups []int32
	if rec.SplitBy != "rows" {
		groups = enc.Groups
	}
	trainRows, valRows := split(all.N, rec.ValSplit, rec.SplitSeed, groups)
	r.Train, r.Val = all.Rows(trainRows, enc.D), all.Rows(valRows, enc.D)
}

// fitSchema learns the schema of a new run from the training table, with
// the targets in the order of the task specs.
func (r *Run) fitSchema(table *data.Table) error {
	o := r.Options
	opts, err := o.dataOptions()
	if err != nil {
		return err
	}
	if err := checkColumns(table, o, opts); err != nil {
		return err
	}
	schema, warnings, err := data.Fit(table, opts)
	if err != nil {
		return err
	}
	for _, p := range o.Ignore {
		for _, tg := range schema.Targets {
			if matches(p, tg.Name) {
				return optionErrorf("ignore", p, "names the task column %q: a column is a task or ignored, not both", tg.Name)
			}
		}
	}
	orderTargets(schema, opts.Tasks)
	r.Schema, r.Warnings = schema, append(r.Warnings, warnings...)
	return nil
}

// matches reports whether a column pattern names a column, as package data
// matches them: by its name, or as a glob.
func matches(pattern, column string) bool {
	ok, _ := path.Match(pattern, column)
	return pattern == column || ok
}

// orderTargets puts the targets in the order of the task specs that name
// them (file order among the columns of one glob).
func orderTargets(s *data.Schema, specs []data.TaskSpec) {
	rank := func(name string) int {
		for i, sp := range specs {
			if matches(sp.Pattern, name) {
				return i
			}
		}
		return len(specs)
	}
	slices.SortStableFunc(s.Targets, func(a, b data.Target) int { return rank(a.Name) - rank(b.Name) })
}

// checkColumns refuses a column name (not a glob) that the table does not
// have, suggesting the nearest one.
func checkColumns(t *data.Table, o Options, opts data.Options) error {
	type named struct{ option, value, column string }
	var names []named
	for i, ts := range opts.Tasks {
		names = append(names, named{"task", o.Tasks[i], ts.Pattern})
	}
	for _, p := range o.Ignore {
		names = append(names, named{"ignore", p, p})
	}
	for _, p := range o.Categorical {
		names = append(names, named{"categorical", p, p})
	}
	if o.GroupColumn != "" {
		names = append(names, named{"group-column", o.GroupColumn, o.GroupColumn})
	}
	for _, n := range names {
		if strings.ContainsAny(n.column, `*?[\`) || t.Column(n.column) >= 0 {
			continue
		}
		return optionErrorf(n.option, n.value, "%s has no column %q%s", t.Path, n.column, suggest.Hint(n.column, t.Header, "%q"))
	}
	return nil
}

// newSpec decides the architecture of a new run.
func (r *Run) newSpec(enc *data.Encoded) error {
	o := r.Options
	r.Spec = mtl.Spec{Inputs: enc.D, Hidden: o.Hidden, Activation: o.Activation, Tasks: specTasks(r.Schema)}
	o.applyArch(&r.Spec)
	return posWeights(r.Spec.Tasks, enc.Labels, o.PosWeight)
}

// Close releases what the run holds (the lock of its model file).
func (r *Run) Close() {
	r.lock.Release()
	r.lock = nil
}
