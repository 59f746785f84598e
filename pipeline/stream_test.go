package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/mtl"
	"github.com/mtl-gpu/mtl-gpu/stream"
)

// streamOptions are the options of a run on data that streams it with a
// budget of a few MiB (which makes text chunks of 16 KiB), two blocks
// shuffled together.
func streamOptions(data, out string) Options {
	o := options(data, out)
	o.GroupColumn = "site"
	o.Train.Epochs, o.Train.Batch = 3, 64
	o.Memory = MemoryOptions{Mode: stream.Always, Budget: stream.Budget{Bytes: 4 << 20, From: "test"}, Window: 2, DeviceIsHost: true}
	return o
}

// prepared prepares a run, closing it at the end of the test.
func prepared(t *testing.T, o Options) *Run {
	t.Helper()
	r, err := Prepare(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// sameParams reports whether two model files hold the same parameters,
// bit for bit.
func sameParams(t *testing.T, a, b string) bool {
	t.Helper()
	ma, mb := must(LoadModel(a)).Checkpoint, must(LoadModel(b)).Checkpoint
	return slices.Equal(ma.Model.Params, mb.Model.Params) && slices.Equal(ma.Current, mb.Current) && ma.State.Step == mb.State.Step
}

// TestStreamedResumeIsExact: a streamed run is recorded as such, with its
// blocks; interrupted in the middle of an epoch it saves, and resumed (the
// options asking for memory instead are ignored) it streams again with
// the recorded blocks, to the very model of the uninterrupted run. A
// second uninterrupted run gives that model too.
func TestStreamedResumeIsExact(t *testing.T) {
	dir := t.TempDir()
	t.Cleanup(func() { // after the runs are closed
		if left, _ := filepath.Glob(filepath.Join(dir, "*.cache")); len(left) > 0 {
			t.Errorf("block caches left behind: %v", left)
		}
	})
	data := writeCSV(t, dir, 5000, 11)
	b := cpuBackend(t)
	full := streamOptions(data, filepath.Join(dir, "full.mtl"))
	r := prepared(t, full)
	if !r.Streamed() || r.Train != nil || r.Val == nil || r.TrainRows()+r.Val.N != 5000 {
		t.Fatalf("streamed %v, %d training rows", r.Streamed(), r.TrainRows())
	}
	if !strings.Contains(r.Memory, "streaming the training data, as asked") || !strings.Contains(r.Streaming, "blocks") {
		t.Errorf("memory lines %q, %q", r.Memory, r.Streaming)
	}
	if _, err := r.Fit(context.Background(), b, Progress{}); err != nil {
		t.Fatal(err)
	}
	rec := must(Describe(full.Out)).Data.Memory
	if rec == nil || !rec.Streamed || rec.Layout == nil || rec.Layout.Window != 2 || rec.Layout.ChunkSize != 16<<10 || rec.Budget != 4<<20 {
		t.Fatalf("recorded %+v", rec)
	}
	if r.streamed.Blocks() < 6 {
		t.Fatalf("%d blocks: too few to test the windows", r.streamed.Blocks())
	}

	again := full
	again.Out = filepath.Join(dir, "again.mtl")
	if _, err := prepared(t, again).Fit(context.Background(), b, Progress{}); err != nil {
		t.Fatal(err)
	}
	if !sameParams(t, full.Out, again.Out) {
		t.Fatal("the same options gave another model")
	}

	cut := full
	cut.Out = filepath.Join(dir, "cut.mtl")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := prepared(t, cut).Fit(ctx, b, Progress{Step: func(epoch, step, steps int) {
		if epoch == 1 && step == steps/2 {
			cancel()
		}
	}})
	var ie *InterruptedError
	if !errors.As(err, &ie) || !ie.Saved || ie.Step == 0 {
		t.Fatalf("interrupted run: %v", err)
	}
	res := DefaultOptions()
	res.Resume = cut.Out
	res.Memory = MemoryOptions{Mode: stream.Never, Budget: stream.Budget{Bytes: 1 << 40}, Window: 3}
	res.Given = []string{"no-stream", "max-memory", "shuffle-window"}
	r = prepared(t, res)
	if !r.Streamed() || !strings.Contains(r.Memory, "as the run did") || len(r.IgnoredOptions) != 3 {
		t.Fatalf("resumed: streamed %v, %q, ignored %v", r.Streamed(), r.Memory, r.IgnoredOptions)
	}
	if _, err := r.Fit(context.Background(), b, Progress{}); err != nil {
		t.Fatal(err)
	}
	if !sameParams(t, full.Out, cut.Out) {
		t.Fatal("the resumed run differs from the uninterrupted one")
	}
	if m := must(Describe(cut.Out)).Data.Memory; *m.Layout != *rec.Layout {
		t.Errorf("resumed run recorded %+v, the run %+v", m.Layout, rec.Layout)
	}
}

// TestStreamedRunsEveryKind trains every kind of model from a stream:
// each weighting, a mixture of experts, progressive layered extraction,
// embeddings, an ensemble, task families, the width chosen by
// validation, a validation file, the positive-class weight counted, no
// validation rows, and a Parquet file. Each learns (it beats the constant
// prediction) and records that it streamed; the block cache is kept when
// asked.
func TestStreamedRunsEveryKind(t *testing.T) {
	dir := t.TempDir()
	data := writeCSV(t, dir, 1500, 12)
	val := writeCSV(t, t.TempDir(), 200, 13)
	pq := filepath.Join(dir, "data.parquet")
	if _, err := Convert(context.Background(), DataInput{Path: data}, pq, ConvertOptions{RowGroupRows: 256}); err != nil {
		t.Fatal(err)
	}
	b := cpuBackend(t)
	cases := map[string]func(o *Options){
		"mmoe":       func(o *Options) { o.Arch = mtl.MMoE },
		"ple":        func(o *Options) { o.Arch, o.Memory.Budget.Bytes = mtl.PLE, 16<<20 },
		"embeddings": func(o *Options) { o.Embed = []string{"colour:2"} },
		"ensemble":   func(o *Options) { o.Ensemble = 2 },
		"hidden auto": func(o *Options) {
			o.AutoWidth, o.Train.Epochs = true, 1
		},
		"val-data":      func(o *Options) { o.ValData = val },
		"pos-weight":    func(o *Options) { o.PosWeight = "auto" },
		"no validation": func(o *Options) { o.ValSplit = 0 },
		"parquet":       func(o *Options) { o.Data = pq },
		"keep cache":    func(o *Options) { o.Memory.KeepCache = true },
		"no group":      func(o *Options) { o.GroupColumn = "" },
		"window of one": func(o *Options) { o.Memory.Window = 1 },
	}
	for _, m := range mtl.Methods {
		cases["weighting "+string(m)] = func(o *Options) { o.Train.Weighting.Method = m }
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			o := streamOptions(data, filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".mtl"))
			o.Train.Epochs = 2
			edit(&o)
			r := prepared(t, o)
			if !r.Streamed() {
				t.Fatalf("not streamed: %s", r.Memory)
			}
			if r.ChoosesWidth() {
				if _, err := r.ChooseWidth(context.Background(), b); err != nil {
					t.Fatal(err)
				}
			}
			res, err := r.Fit(context.Background(), b, Progress{})
			if err != nil {
				t.Fatal(err)
			}
			if !(res.ConstantLoss > 0) {
				t.Errorf("constant loss %g", res.ConstantLoss)
			}
			m := must(Describe(o.Out))
			if m.Data.Memory == nil || !m.Data.Memory.Streamed {
				t.Errorf("recorded %+v", m.Data.Memory)
			}
			r.Close()
			_, err = os.Stat(o.Out + ".cache")
			if kept := err == nil; kept != o.Memory.KeepCache {
				t.Errorf("block cache kept: %v", kept)
			}
		})
	}
}

// TestStreamedAsInMemory: a streamed run and a run in memory on the same
// file hold out the same validation rows, give the binary task the same
// positive-class weight and judge divergence by the same constant
// prediction (from the label statistics of the stream, also without
// validation rows); a streamed run that learns nothing is a
// NoBetterError.
func TestStreamedAsInMemory(t *testing.T) {
	dir := t.TempDir()
	data := writeCSV(t, dir, 2000, 14)
	b := cpuBackend(t)
	for _, frac := range []float64{0.2, 0} {
		o := streamOptions(data, filepath.Join(dir, fmt.Sprintf("s%g.mtl", frac)))
		o.ValSplit, o.PosWeight = frac, "auto"
		s := prepared(t, o)
		o.Memory.Mode, o.Out = stream.Never, filepath.Join(dir, fmt.Sprintf("m%g.mtl", frac))
		m := prepared(t, o)
		if !s.Streamed() || m.Streamed() || !strings.Contains(m.Memory, "training in memory") {
			t.Fatalf("streamed %v and %v (%s)", s.Streamed(), m.Streamed(), m.Memory)
		}
		if frac > 0 {
			if s.Val.N != m.Val.N || !slices.Equal(s.Val.X, m.Val.X) || !slices.Equal(s.Val.Groups[0], m.Val.Groups[0]) {
				t.Fatal("the validation rows differ")
			}
		}
		if w := s.Spec.Tasks[0].PosWeight; w == 0 || w != m.Spec.Tasks[0].PosWeight {
			t.Errorf("positive-class weight %g streamed, %g in memory", w, m.Spec.Tasks[0].PosWeight)
		}
		model := must(mtl.NewModel(m.Spec, m.Train, 1))
		cs, cm := s.constantLoss(model), m.constantLoss(model)
		if !(cm > 0) || math.Abs(cs-cm) > 1e-9*cm {
			t.Errorf("validation %g: constant loss %.12g streamed, %.12g in memory", frac, cs, cm)
		}
	}
	o := streamOptions(data, filepath.Join(dir, "bad.mtl"))
	o.Train.LR = 100
	_, err := prepared(t, o).Fit(context.Background(), b, Progress{})
	var nb *NoBetterError
	if !errors.As(err, &nb) || !(nb.Best >= nb.Constant) {
		t.Fatalf("streamed run at lr 100: %v", err)
	}
}

// TestBudgetDecides: without --stream or --no-stream, the rows are
// streamed when they would not fit the budget, and held in memory when
// they would.
func TestBudgetDecides(t *testing.T) {
	dir := t.TempDir()
	data := writeCSV(t, dir, 30000, 16)
	o := streamOptions(data, filepath.Join(dir, "m.mtl"))
	o.Memory.Mode = stream.Auto
	for budget, streamed := range map[int64]bool{2 << 20: true, 64 << 20: false} {
		o.Memory.Budget.Bytes = budget
		r := prepared(t, o)
		if r.Streamed() != streamed || strings.Contains(r.Memory, "as asked") {
			t.Errorf("budget %s: streamed %v: %s", stream.FormatSize(budget), r.Streamed(), r.Memory)
		}
		r.Close()
	}
}

// TestStreamingRefused: what cannot stream is refused by name, and data
// that would not fit is an error with the amounts when streaming is off.
func TestStreamingRefused(t *testing.T) {
	dir := t.TempDir()
	data := writeCSV(t, dir, 400, 15)
	var oe *OptionError
	o := streamOptions(data, filepath.Join(dir, "m.mtl"))
	o.CV = 3
	if _, err := Prepare(o); !errors.As(err, &oe) || oe.Option != "cv" || !strings.Contains(err.Error(), "cannot be streamed") {
		t.Errorf("cv 3, streamed: %v", err)
	}
	o.Memory.Mode, o.Memory.Budget.Bytes = stream.Auto, 20<<10
	if _, err := Prepare(o); err == nil || !strings.Contains(err.Error(), "cross-fitted") || !strings.Contains(err.Error(), "more than the memory budget of 20 KiB") {
		t.Errorf("cv 3, too large for memory: %v", err)
	}
	o = streamOptions(data, filepath.Join(dir, "m.mtl"))
	o.Memory.Mode, o.Memory.Budget.Bytes = stream.Never, 20<<10
	if _, err := Prepare(o); err == nil || !strings.Contains(err.Error(), "the 400 rows encoded") || !strings.Contains(err.Error(), "streaming is off") {
		t.Errorf("too large, streaming off: %v", err)
	}
	// The cache kept, OUT.cache, would be the data.
	o = streamOptions(filepath.Join(dir, "d.mtl.cache"), filepath.Join(dir, "d.mtl"))
	o.Memory.KeepCache = true
	if err := os.Rename(data, o.Data); err != nil {
		t.Fatal(err)
	}
	if _, err := Prepare(o); !errors.As(err, &oe) || oe.Option != "keep-cache" || !strings.Contains(err.Error(), "refusing to overwrite an input") {
		t.Errorf("keeping the cache over the data: %v", err)
	}
	demo := DefaultOptions()
	demo.Memory.Mode = stream.Always
	if _, err := Prepare(demo); !errors.As(err, &oe) || oe.Option != "data" || !strings.Contains(err.Error(), "--stream") {
		t.Errorf("demonstration, streamed: %v", err)
	}
	co := CompareOptions{Options: streamOptions(data, ""), Seeds: 1, TrainFraction: 0.5, Methods: []mtl.Method{mtl.Equal}}
	if _, err := PrepareCompare(co); !errors.As(err, &oe) || oe.Option != "stream" {
		t.Errorf("compare, streamed: %v", err)
	}
}

// TestConstantSelfLoss: the constant prediction's loss on the training
// rows, from their label statistics alone (as a streamed run without
// validation rows has them), is its loss computed on the rows.
func TestConstantSelfLoss(t *testing.T) {
	nan := float32(math.NaN())
	spec := mtl.Spec{Tasks: []mtl.Task{
		{Name: "m", Type: mtl.Multiclass, Classes: 3},
		{Name: "b", Type: mtl.Binary, Classes: 1, Weight: 2, PosWeight: 1.5},
		{Name: "r", Type: mtl.Regression, Classes: 1, Mean: 3, Std: 2},
	}}
	train := &mtl.Dataset{N: 5, Labels: [][]float32{{0, 0, 1, nan, 2}, {1, 0, 0, 0, nan}, {1, 3, 5, nan, 4}}}
	stats := train.LabelStats(spec)
	labelled := func(t int) int {
		n := 0
		for _, y := range train.Labels[t] {
			if !math.IsNaN(float64(y)) {
				n++
			}
		}
		return n
	}
	for _, eps := range []float64{0, 0.1} {
		got, want := constantSelfLoss(spec, summariseStats(spec, stats, labelled), eps), constantLoss(spec, train, train, eps)
		if !(want > 0) || math.Abs(got-want) > 1e-9 {
			t.Errorf("label smoothing %g: constant loss from the statistics %.12g, on the rows %.12g", eps, got, want)
		}
	}
}
