package pipeline

import (
	"context"
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
	"github.com/mtl-gpu/mtl-gpu/stream"
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
	// without validation rows); Test holds the demonstration's held-out
	// rows.
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
	// Memory is one line that says whether the run streams its training
	// rows or holds them in memory, and why; Streaming describes a
	// streamed run's blocks ("" in memory). Both are for a log.
	Memory, Streaming string
	// FirstPass says, in a data-parallel run, whether its processes
	// shared the pass that learnt the schema; empty otherwise.
	FirstPass string
	// MemoryLimit is, for a streamed run, the memory budget its blocks
	// were sized for: a command sets the runtime's soft memory limit to it
	// (runtime/debug.SetMemoryLimit), which the sizes assume. 0 for a run
	// in memory.
	MemoryLimit int64

	meta json.RawMessage // the schema as the model file stores it
	// A cross-validated run keeps each row's fold, to score the rows out
	// of fold.
	folds []int8
	input DataInput // the data to read; Path "" for the built-in data
	// valPath is a file of validation rows, or "".
	valPath string
	// protect is set when Out held a model before the run and it may only
	// be replaced by a run that beats the constant predictor.
	protect bool
	lock    *atomicfile.Lock
	// budget is a new run's memory budget. A streamed run reads its
	// training rows from streamed, made from fitted, which reads src.
	budget   stream.Budget
	streamed *stream.Data
	fitted   *stream.Fitted
	src      data.Source
}

// Prepare reads, fits and encodes the data and works out the model,
// without touching any device or writing any file but a block cache. It
// reads the data file in passes and never holds it as text: a first pass
// fits the schema (stream.Fit), which also gives each row's group and
// stratum, from which the validation split or the folds are drawn. It
// then decides whether the training rows fit the memory budget
// (Options.Memory): if so a second pass writes every training and
// validation row straight into its own matrix (EncodeSource); if not, or
// when asked, the run streams them from the file block by block (package
// stream: a text file through a block cache written beside the model
// file in the first pass), with the validation rows in memory. The
// decision is recorded. For the built-in data it holds out a quarter of
// each school before anything is learnt. When resuming it reads the data
// source the model file records (or Options.Data, when its content is the
// same), with the recorded split, holdout and, for a streamed run, its
// blocks. A streamed run reads its file until Close.
func Prepare(o Options) (*Run, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	r := &Run{Options: o, Out: o.Out, Config: o.Train, valPath: o.ValData,
		input: DataInput{Path: o.Data, Features: o.Features, MaxRowBytes: o.MaxRowBytes}}
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
	case o.ValData != "" && o.given("val-split"):
		err = optionErrorf("val-data", o.ValData, "and --val-split both give validation rows: choose one")
	case o.ValData != "" && o.CV > 1:
		err = optionErrorf("val-data", o.ValData, "and --cv both give validation rows: choose one")
	case o.ValData != "" && len(o.Features) > 0:
		err = optionErrorf("val-data", o.ValData, "cannot be joined to --features, which are joined to --data row by row: put the validation rows in --data and use --val-split")
	}
	if err != nil {
		return nil, err
	}
	if err := r.checkOutputs(); err != nil {
		return nil, err
	}
	if err := r.checkStreaming(); err != nil {
		return nil, err
	}
	if r.Checkpoint == nil && r.input.Path != "" {
		if err := r.recordSources(); err != nil {
			return nil, err
		}
		r.budget = o.memoryBudget()
	}
	if o.Memory.KeepCache && r.input.Path != "" {
		// The cache kept is OUT.cache: another run writing the same model
		// file must not write it too.
		if err := r.acquire(); err != nil {
			return nil, err
		}
	}
	r.input.ChunkSize = r.chunkSize()
	src, err := r.openData()
	if err != nil {
		r.Close()
		return nil, err
	}
	if err := r.load(context.Background(), src); err != nil {
		r.Close()
		src.Close()
		return nil, err
	}
	if r.streamed != nil {
		r.src = src // read again every epoch
	} else {
		src.Close()
	}
	return r, nil
}

// openData opens the run's data: the built-in School data, or its file
// with its feature files joined.
func (r *Run) openData() (data.Source, error) {
	if r.input.Path == "" {
		return demoData()
	}
	return r.input.open()
}

// recordSources fingerprints the files of a new run for its record.
func (r *Run) recordSources() error {
	src, err := fileSource("data", r.input.Path)
	if err != nil {
		return err
	}
	r.Record.Sources = []Source{src}
	for _, f := range r.input.Features {
		fs, err := fileSource("features", f.Path)
		if err != nil {
			return err
		}
		fs.Prefix = f.Prefix
		r.Record.Sources = append(r.Record.Sources, fs)
	}
	if r.valPath != "" {
		vs, err := fileSource("validation", r.valPath)
		if err != nil {
			return err
		}
		r.Record.Sources = append(r.Record.Sources, vs)
	}
	return nil
}

// demo sets up the built-in demonstration: the School data, its target
// and group column, and a quarter of every school held out. Options that
// describe a data file's columns make no sense without one.
func (r *Run) demo() error {
	o := &r.Options
	var given []string
	for name, set := range map[string]bool{
		"task": len(o.Tasks) > 0, "group-column": o.GroupColumn != "" || o.given("group-column"), "ignore": len(o.Ignore) > 0,
		"categorical": len(o.Categorical) > 0, "impute": o.Impute != "", "features": o.given("features") || len(o.Features) > 0,
		"val-data": o.ValData != "", "embed": len(o.Embed) > 0, "hash-buckets": len(o.HashBuckets) > 0,
		"onehot-max": o.given("onehot-max"), "min-count": o.given("min-count"), "embed-dim-max": o.given("embed-dim-max"),
		"stream": o.Memory.Mode == stream.Always,
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
	r.input.Features, r.valPath = nil, ""
	for i := range r.Record.Sources {
		src := &r.Record.Sources[i]
		given, option := r.givenFor(*src)
		path, err := r.locate(*src, given, option)
		if err != nil {
			return err
		}
		if path != "" {
			src.Path, src.Builtin = absPath(path), ""
		}
		switch src.Role {
		case "features":
			r.input.Features = append(r.input.Features, FeatureFile{Path: path, Prefix: src.Prefix})
		case "validation":
			r.valPath = path
		default:
			r.input.Path = path
		}
	}
	return nil
}

// givenFor returns the file the options give for a recorded source, and
// the option that gives it.
func (r *Run) givenFor(src Source) (given, option string) {
	switch src.Role {
	case "features":
		for _, f := range r.Options.Features {
			if f.Prefix == src.Prefix {
				return f.Path, "features"
			}
		}
		return "", "features"
	case "validation":
		return r.Options.ValData, "val-data"
	}
	return r.Options.Data, "data"
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

// locate finds a file of a resumed run: the file given (by option), when
// its content is the one recorded (the data moved), else the recorded
// file, when it is still there and unchanged. "" is the built-in data.
func (r *Run) locate(src Source, given, option string) (string, error) {
	if given == "" && src.Builtin != "" {
		return "", nil
	}
	path := given
	if path == "" {
		path = src.Path
	}
	found, err := fileSource(src.Role, path)
	if err != nil {
		return "", err
	}
	switch {
	case !exists(path) && given == "":
		return "", optionErrorf(option, "", "the run's %s %s is missing; if it moved, give --%s NEWPATH", src.Role, src, option)
	case !exists(path):
		return path, nil // the reader says what is wrong with it
	case src.Fingerprint == nil && given == "":
		return "", optionErrorf(option, "", "the run read its %s from %s, which cannot be read again (a pipe?): give --%s", src.Role, src, option)
	case src.Fingerprint == nil || found.Fingerprint == nil:
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s: cannot check that this is the run's %s (it is read once, as from a pipe)", path, src.Role))
	case *found.Fingerprint != *src.Fingerprint && given != "":
		return "", optionErrorf(option, given, "is not the run's %s: its content differs from %s (recorded %v, found %v)", src.Role, src, *src.Fingerprint, *found.Fingerprint)
	case *found.Fingerprint != *src.Fingerprint:
		return "", optionErrorf(option, "", "the run's %s %s has changed since the run was saved (recorded %v, now %v); give --%s with the original content", src.Role, src, *src.Fingerprint, *found.Fingerprint, option)
	}
	return path, nil
}

// checkOutputs refuses outputs that are inputs, a model file that would
// replace a file that is not a model, and a log that would be appended to
// a file that is not a log (both unless Force), and decides whether an
// existing model at Out is protected.
func (r *Run) checkOutputs() error {
	o := r.Options
	inputs := []Input{{Option: "data", Path: r.input.Path}, {Option: "val-data", Path: r.valPath}}
	for _, f := range r.input.Features {
		inputs = append(inputs, Input{Option: "features", Path: f.Path})
	}
	if err := CheckOutput("out", r.Out, inputs...); err != nil {
		return err
	}
	if o.Log != "" {
		for _, other := range append(inputs, Input{Option: "resume", Path: o.Resume}, Input{Option: "out", Path: r.Out}) {
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

// fitSchema learns the schema of a new run in one pass over its data,
// from the rows include lets in (nil: every row), with the targets in the
// order of the task specs.
func (r *Run) fitSchema(ctx context.Context, src data.Source, include []bool) (*data.FitResult, error) {
	opts, err := r.fitDataOptions(src, include)
	if err != nil {
		return nil, err
	}
	res, err := data.FitSource(ctx, src, opts)
	if err != nil {
		return nil, err
	}
	return res, r.takeFit(res)
}

// fitDataOptions returns the options of a new run's first pass over src,
// from the rows include lets in (nil: every row), after checking that the
// columns named are there.
func (r *Run) fitDataOptions(src data.Source, include []bool) (data.Options, error) {
	o := r.Options
	opts, err := o.dataOptions()
	if err != nil {
		return opts, err
	}
	if err := checkColumns(src, o, opts); err != nil {
		return opts, err
	}
	if include != nil {
		opts.Include = func(row int64) bool { return row < int64(len(include)) && include[row] }
	}
	if r.Options.Group != nil {
		opts.Split = gatherer{r.Options.Group}
	}
	return opts, nil
}

// takeFit takes the schema of the first pass, refusing a task column that
// is also ignored.
func (r *Run) takeFit(res *data.FitResult) error {
	for _, p := range r.Options.Ignore {
		for _, tg := range res.Schema.Targets {
			if matches(p, tg.Name) {
				return optionErrorf("ignore", p, "names the task column %q: a column is a task or ignored, not both", tg.Name)
			}
		}
	}
	r.Schema, r.Warnings = res.Schema, append(r.Warnings, res.Warnings...)
	r.FirstPass = describeFirstPass(res, r.Options.Group)
	return nil
}

// matches reports whether a column pattern names a column, as package data
// matches them: by its name, or as a glob.
func matches(pattern, column string) bool {
	ok, _ := path.Match(pattern, column)
	return pattern == column || ok
}

// checkColumns refuses a column name (not a glob) that the data does not
// have, suggesting the nearest one.
func checkColumns(src data.Source, o Options, opts data.Options) error {
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
	for i, cs := range opts.Embed {
		names = append(names, named{"embed", o.Embed[i], cs.Pattern})
	}
	for i, cs := range opts.HashBuckets {
		if cs.Pattern != "" {
			names = append(names, named{"hash-buckets", o.HashBuckets[i], cs.Pattern})
		}
	}
	if o.GroupColumn != "" {
		names = append(names, named{"group-column", o.GroupColumn, o.GroupColumn})
	}
	header := src.Columns()
	for _, n := range names {
		if strings.ContainsAny(n.column, `*?[\`) || slices.Contains(header, n.column) {
			continue
		}
		return optionErrorf(n.option, n.value, "%s has no column %q%s", src.Name(), n.column, suggest.Hint(n.column, header, "%q"))
	}
	return nil
}

// newSpec decides the architecture of a new run, without the
// positive-class weights, which count the labels (see posWeights).
func (r *Run) newSpec() {
	o := r.Options
	r.Spec = mtl.Spec{Inputs: r.Schema.Dim(), Embeddings: specEmbeddings(r.Schema), Hidden: o.Hidden, Activation: o.Activation, Tasks: specTasks(r.Schema)}
	o.applyArch(&r.Spec)
}

// Close releases what the run holds: the lock of its model file and, when
// it streams, its data file and block cache (removed unless kept).
func (r *Run) Close() {
	r.release()
	r.closeData()
}

// release releases the lock of the model file.
func (r *Run) release() {
	r.lock.Release()
	r.lock = nil
}
