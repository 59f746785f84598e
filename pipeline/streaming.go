package pipeline

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/mtl"
	"github.com/mtl-gpu/mtl-gpu/stream"
)

// MemoryOptions say how a run holds its training rows: in memory, or
// streamed from the data file block by block (see package stream).
type MemoryOptions struct {
	// Mode is stream.Auto (stream when the rows would not fit Budget),
	// stream.Always or stream.Never (rows that would not fit are then an
	// error).
	Mode stream.Mode
	// Budget is the memory the run may take; an amount of 0 means
	// stream.DefaultBudget(). A streamed run's blocks are sized for it.
	Budget stream.Budget
	// KeepCache leaves the block cache of a streamed text file (OUT.cache,
	// beside the model file) when the run ends.
	KeepCache bool
	// Window is the number of blocks whose rows a streamed run shuffles
	// together (0: stream.DefaultWindow).
	Window int
	// DeviceIsHost says that the device's buffers are in host memory (the
	// CPU backend, an OpenCL CPU device): the estimate counts them.
	DeviceIsHost bool
}

// validate checks the memory options.
func (m MemoryOptions) validate() error {
	switch {
	case m.Mode > stream.Never:
		return optionErrorf("stream", m.Mode.String(), "unknown mode")
	case m.Budget.Bytes < 0:
		return optionErrorf("max-memory", fmt.Sprint(m.Budget.Bytes), "must be a number of bytes above 0")
	case m.Window < 0 || m.Window > 1<<20:
		return optionErrorf("shuffle-window", fmt.Sprint(m.Window), "must be a number of blocks of at least 1")
	}
	return nil
}

// MemoryRecord says how a run held its training rows.
type MemoryRecord struct {
	// Streamed is set when the training rows were streamed from the data
	// file; Layout then says how it was cut into blocks, which a resumed
	// run reads the same.
	Streamed bool           `json:"streamed"`
	Layout   *stream.Layout `json:"layout,omitempty"`
	// Budget is the memory budget that decided, in bytes, and BudgetFrom
	// where it came from.
	Budget     int64  `json:"budget"`
	BudgetFrom string `json:"budget_from,omitempty"`
	// Reason is the line the run printed to say which and why.
	Reason string `json:"reason"`
}

// String describes the record in a line, for info.
func (m *MemoryRecord) String() string {
	budget := stream.Budget{Bytes: m.Budget, From: m.BudgetFrom}.String()
	if !m.Streamed {
		return "held in memory, within a memory budget of " + budget
	}
	s := "streamed from the data file"
	if l := m.Layout; l != nil {
		s += fmt.Sprintf(" in blocks of up to %d rows, %d blocks shuffled together", l.BlockRows, l.Window)
		if l.ChunkSize > 0 {
			s += ", text read in chunks of " + stream.FormatSize(int64(l.ChunkSize))
		}
	}
	return s + ", for a memory budget of " + budget
}

// Streamed reports whether the run streams its training rows from the
// data file (Train is then nil) rather than holding them in memory.
func (r *Run) Streamed() bool { return r.streamed != nil }

// TrainRows returns the number of training rows.
func (r *Run) TrainRows() int {
	if r.streamed != nil {
		return r.streamed.Rows()
	}
	return r.Train.N
}

// memoryBudget returns the budget of a new run.
func (o *Options) memoryBudget() stream.Budget {
	if b := o.Memory.Budget; b.Bytes > 0 {
		return b
	}
	return stream.DefaultBudget()
}

// checkStreaming refuses, before anything is read, a block cache to keep
// that would replace an input, and a run that asks to stream with options
// that keep the rows in memory.
func (r *Run) checkStreaming() error {
	o := r.Options
	if o.Memory.KeepCache {
		inputs := []Input{{Option: "data", Path: r.input.Path}, {Option: "val-data", Path: r.valPath}}
		for _, f := range r.input.Features {
			inputs = append(inputs, Input{Option: "features", Path: f.Path})
		}
		if err := CheckOutput("keep-cache", r.cachePath(), inputs...); err != nil {
			return err
		}
	}
	if o.Memory.Mode != stream.Always || o.Resume != "" {
		return nil
	}
	if o.CV > 1 {
		return optionErrorf("cv", fmt.Sprint(o.CV), "cannot be streamed: every row validates a member, so a cross-fitted run holds them all in memory")
	}
	return nil
}

// cannotStream says why a new run's options keep its rows in memory, or
// nil.
func (r *Run) cannotStream() error {
	if r.Options.CV > 1 {
		return fmt.Errorf("a cross-fitted run (cv %d) holds every row in memory, since every row validates a member", r.Options.CV)
	}
	return nil
}

// chunkSize returns the text chunk the run reads its data file in: the
// recorded one of a resumed streamed run; for a new run that may stream,
// that of its budget (stream.ChunkSize), but no more than textChunk;
// textChunk otherwise. A streamed run's blocks are made of these chunks.
func (r *Run) chunkSize() int {
	if r.Checkpoint != nil {
		if m := r.Record.Memory; m != nil && m.Streamed && m.Layout != nil && m.Layout.ChunkSize > 0 {
			return m.Layout.ChunkSize
		}
		return textChunk
	}
	if r.Options.Memory.Mode == stream.Never || r.input.Path == "" {
		return textChunk
	}
	return min(stream.ChunkSize(r.budget.Bytes), textChunk)
}

// cachePath returns where a streamed text file's block cache goes: beside
// the model file, OUT.cache when it is kept, else a name of the process's
// own (and, in a data-parallel run, of its rank, since processes on
// several nodes may share a process ID and the folder).
func (r *Run) cachePath() string {
	if r.Options.Memory.KeepCache {
		return r.Out + ".cache"
	}
	dir, base := filepath.Split(r.Out)
	if g := r.Options.Group; g != nil {
		return filepath.Join(dir, fmt.Sprintf(".%s.rank%d.%d.cache", base, g.Rank(), os.Getpid()))
	}
	return filepath.Join(dir, fmt.Sprintf(".%s.%d.cache", base, os.Getpid()))
}

// streamFitOptions returns the stream's options for the first pass. The
// processes of a data-parallel run share the block cache: each writes
// its part's beside the model file, under the job's name (every process
// calls it at the same point: the name is broadcast).
func (r *Run) streamFitOptions(mode stream.Mode, budget stream.Budget) (stream.FitOptions, error) {
	fo := stream.FitOptions{Mode: mode, Budget: budget, CachePath: r.cachePath(), KeepCache: r.Options.Memory.KeepCache, ChunkSize: r.input.ChunkSize}
	if g := r.Options.Group; g != nil && g.Size() > 1 {
		id, err := jobID(g)
		if err != nil {
			return fo, err
		}
		dir, base := filepath.Split(r.Out)
		fo.PartCache = func(p int) string { return filepath.Join(dir, fmt.Sprintf(".%s.%s.part%d.cache", base, id, p)) }
		fo.Split = gatherer{g}
	}
	return fo, nil
}

// firstPass makes a new run's first pass over its data (stream.Fit): the
// schema, each row's group and stratum and, when the run may stream a
// text file, its block cache.
func (r *Run) firstPass(ctx context.Context, src data.Source) (*stream.Fitted, error) {
	opts, err := r.fitDataOptions(src, nil)
	if err != nil {
		return nil, err
	}
	mode := r.Options.Memory.Mode
	if r.cannotStream() != nil {
		mode = stream.Never // no cache for a run that will not read it
	}
	fo, err := r.streamFitOptions(mode, r.budget)
	if err != nil {
		return nil, err
	}
	f, err := stream.Fit(ctx, src, opts, fo)
	if err != nil {
		return nil, err
	}
	if err := r.takeFit(f.FitResult); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// decide decides whether a new run streams, from the first pass and the
// architecture, and records the decision.
func (r *Run) decide(f *stream.Fitted) (stream.Need, bool, error) {
	spec := r.Spec
	if spec.Arch == "" {
		spec.Hidden = r.largestHidden()
	}
	// The batch the budget rule will choose for about this many training
	// rows (settle sets it once they are drawn) sizes the activations.
	cfg := r.Config
	if _, err := r.Options.budget(int(float64(f.FitResult.Rows)*(1-r.Options.ValSplit)), &cfg); err != nil {
		return stream.Need{}, false, err
	}
	need := stream.Estimate(f.FitResult, spec, cfg, r.Options.Memory.DeviceIsHost)
	why := f.Streamable()
	if why == nil {
		why = r.cannotStream()
	}
	d, err := stream.Decide(need, r.budget, r.Options.Memory.Mode, why)
	if err != nil {
		return need, false, err
	}
	r.Record.Memory = &MemoryRecord{Streamed: d.Stream, Budget: d.Budget.Bytes, BudgetFrom: d.Budget.From, Reason: d.Reason}
	r.Memory = d.Reason
	return need, d.Stream, nil
}

// resumeStream prepares a resumed run that streamed to stream again, with
// the blocks it recorded, whatever the memory of this machine.
func (r *Run) resumeStream(src data.Source, keys rowKeys) (stream.Need, bool, error) {
	m := r.Record.Memory
	if m == nil || !m.Streamed {
		r.Memory = "training in memory, as the run did"
		return stream.Need{}, false, nil
	}
	if m.Layout == nil {
		return stream.Need{}, false, fmt.Errorf("%s: the run streamed its data but did not record its blocks", r.Options.Resume)
	}
	// The recorded layout fixes the blocks: the budget is only checked
	// against them, which the run did when it chose them. The runtime's
	// memory limit is the recorded budget.
	unchecked := stream.Budget{Bytes: math.MaxInt64 / 4, From: "the layout recorded"}
	res := &data.FitResult{Schema: r.Schema, Rows: int64(keys.rows), Groups: keys.groups}
	fo, err := r.streamFitOptions(stream.Always, unchecked)
	if err != nil {
		return stream.Need{}, false, err
	}
	f, err := stream.Reopen(src, res, fo)
	if err != nil {
		return stream.Need{}, false, err
	}
	r.fitted = f
	r.Memory = "streaming the training data, as the run did: " + m.String()
	return stream.Estimate(res, r.Spec, r.Config, r.Options.Memory.DeviceIsHost), true, nil
}

// loadStream prepares a streamed run's data: the training rows block by
// block, the validation rows in memory (those of the split, or of the
// validation file), and, for a new run, the positive-class weights.
func (r *Run) loadStream(ctx context.Context, need stream.Need) error {
	rec := &r.Record
	o := stream.Options{ValFraction: rec.ValSplit, SplitSeed: rec.SplitSeed, ByGroup: rec.SplitBy != "rows", Need: need,
		Layout: stream.Layout{Window: r.Options.Memory.Window}}
	if rec.Memory.Layout != nil {
		o.Layout = *rec.Memory.Layout
	}
	d, err := r.fitted.Stream(ctx, o)
	if err != nil {
		return err
	}
	layout := d.Layout()
	rec.Memory.Layout = &layout
	r.streamed, r.Streaming, r.MemoryLimit = d, d.Describe(), rec.Memory.Budget
	r.Warnings = append(r.Warnings, d.Warnings...)
	r.Val = d.Val
	if r.valPath != "" {
		if r.Val, err = r.encodeFile(ctx, DataInput{Path: r.valPath, MaxRowBytes: r.input.MaxRowBytes}); err != nil {
			return err
		}
	}
	if err := r.settle(); err != nil || r.Checkpoint != nil {
		return err
	}
	stats := d.LabelStats()
	return posWeightsBy(r.Spec.Tasks, r.Options.PosWeight, func(t int) (pos, neg float64) {
		if c := stats[t].Counts; len(c) == 2 {
			neg, pos = float64(c[0]), float64(c[1])
		}
		if r.Val != nil && r.valPath == "" {
			p, n := countBinary(r.Val.Labels[t])
			pos, neg = pos+p, neg+n
		}
		return pos, neg
	})
}

// trainingFits fits the constant predictor to the training labels: those
// held in memory, or a streamed run's label statistics.
func (r *Run) trainingFits(spec mtl.Spec) []labelFit {
	if r.streamed != nil {
		return summariseStats(spec, r.streamed.LabelStats(), r.streamed.Labelled)
	}
	return summariseLabels(spec, r.Train)
}

// closeData closes what a streamed run reads: its block cache (removed
// unless kept) and its data file.
func (r *Run) closeData() {
	if r.fitted != nil {
		r.fitted.Close()
		r.fitted = nil
	}
	if r.src != nil {
		r.src.Close()
		r.src = nil
	}
	r.streamed = nil
}
