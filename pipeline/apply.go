package pipeline

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/internal/atomicfile"
	"github.com/mtl-gpu/mtl-gpu/internal/suggest"
	"github.com/mtl-gpu/mtl-gpu/metrics"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// applyBatch is the number of rows encoded, predicted and scored or
// written at once by Evaluate and PredictFile: a multiple of the rows the
// model predicts per forward pass, so that every row is predicted in the
// same pass as when a whole file is predicted at once.
const applyBatch = 4 * 4096

// Device gives the backend a model runs on. Evaluate and PredictTo call
// it once, when the first rows are encoded, so that a file refused at its
// first rows or columns opens no device; the caller closes the backend.
type Device func() (backend.Backend, error)

// On is the Device of a backend already open.
func On(b backend.Backend) Device { return func() (backend.Backend, error) { return b, nil } }

// Evaluation is a model scored on a labelled file.
type Evaluation struct {
	Report metrics.Report
	// Rows is the number of rows read.
	Rows int64
	// Warnings are lines about the data (unseen categories, classes and
	// groups, imputed values) for a log.
	Warnings []string
}

// Evaluate scores the model on a labelled file, on dev. It streams the file
// (encoding, predicting and scoring a batch of rows at a time), in memory
// that does not grow with the file but for one score per labelled row of
// each binary task (its AUC). A label of a class the model never saw is
// scored as an error in accuracy and left out of the other metrics (see
// metrics.TaskMetrics.CountUnseen), with a warning giving the count. A
// column the model needs and the file lacks is an error that suggests the
// nearest column.
func (m *Model) Evaluate(ctx context.Context, dev Device, in DataInput) (*Evaluation, error) {
	sc := newScorer(m.Schema, m.Checkpoint.Model.Spec)
	ev := &Evaluation{}
	unseen := make([]int, len(m.Schema.Targets))
	warnings, err := m.apply(ctx, dev, in, true, nil, func(bt *batch, preds [][]float32) error {
		ev.Rows += int64(bt.n)
		for t, marks := range bt.unseenN() {
			for _, u := range marks {
				if u {
					unseen[t]++
				}
			}
		}
		sc.add(bt.labelsN(), preds, bt.groupsN(), func(i int) string { return bt.groupText[i] }, bt.unseenN())
		return nil
	})
	if err != nil {
		return nil, err
	}
	for t, n := range unseen {
		if n > 0 {
			tg := m.Schema.Targets[t]
			ev.Warnings = append(ev.Warnings, fmt.Sprintf("%s: column %q: %d rows have classes unseen in training (classes: %s); they count as errors in accuracy and are left out of the other metrics",
				in.Path, tg.Name, n, strings.Join(tg.Classes, ", ")))
		}
	}
	ev.Warnings = append(ev.Warnings, warnings...)
	ev.Report = sc.report()
	return ev, nil
}

// PredictTo writes the model's predictions for a data file to w as CSV,
// as they are made (see PredictionWriter): the keep columns passed
// through (trimmed), then, in the model's task order, each task's
// prediction and, for classification, its class probabilities. A kept
// column that is a task's target stays as it is, and that task's
// prediction column is named TASK:pred (its probability columns keep
// their names, TASK:p(CLASS)). It streams the file as Evaluate does, in
// memory that does not grow with it, and returns the number of rows and
// the warnings about the data.
func (m *Model) PredictTo(ctx context.Context, dev Device, in DataInput, w io.Writer, keep []string) (int64, []string, error) {
	pw, err := m.newPredictionWriter(w, keep)
	if err != nil {
		return 0, nil, err
	}
	var rows int64
	warnings, err := m.apply(ctx, dev, in, false, keep, func(bt *batch, preds [][]float32) error {
		rows += int64(bt.n)
		return pw.write(bt.n, bt.keep, preds)
	})
	if err != nil {
		return 0, nil, err
	}
	return rows, warnings, pw.flush()
}

// PredictFile writes the predictions (see PredictTo) to path atomically,
// or to stdout when path is "-". Errors about the data are returned as
// they are, not as errors of writing path.
func (m *Model) PredictFile(ctx context.Context, dev Device, in DataInput, path string, keep []string, stdout io.Writer) (rows int64, warnings []string, err error) {
	var inner error
	write := func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<16)
		rows, warnings, inner = m.PredictTo(ctx, dev, in, bw, keep)
		if inner != nil {
			return inner
		}
		return bw.Flush()
	}
	if path == "-" {
		err = write(stdout)
	} else {
		err = atomicfile.Write(path, write)
	}
	if inner != nil {
		return rows, warnings, inner
	}
	return rows, warnings, err
}

// batch is a run of encoded rows on their way to the model, with what
// scoring and writing need of their text.
type batch struct {
	n, d      int
	x         []float32
	index     [][]int32
	labels    [][]float32
	groups    []int32
	groupText []string   // the text of an unseen group, "" otherwise
	unseen    [][]bool   // per target: a class unseen in training
	keep      [][]string // per kept column, per row
}

func (bt *batch) labelsN() [][]float32 {
	out := make([][]float32, len(bt.labels))
	for t, l := range bt.labels {
		out[t] = l[:bt.n]
	}
	return out
}

func (bt *batch) groupsN() []int32 {
	if bt.groups == nil {
		return nil
	}
	return bt.groups[:bt.n]
}

func (bt *batch) unseenN() [][]bool {
	out := make([][]bool, len(bt.unseen))
	for t, u := range bt.unseen {
		if u != nil {
			out[t] = u[:bt.n]
		}
	}
	return out
}

// dataset is the batch as the model takes it.
func (bt *batch) dataset(tasks int) *mtl.Dataset {
	d := &mtl.Dataset{N: bt.n, X: bt.x[:bt.n*bt.d]}
	for _, ix := range bt.index {
		d.Index = append(d.Index, ix[:bt.n])
	}
	for range tasks {
		d.Groups = append(d.Groups, bt.groupsN())
	}
	return d
}

// applier reads a file's encoded blocks into batches.
type applier struct {
	m       *Model
	targets bool
	bt      *batch
	nKeep   int   // user's kept columns, first in EncodedBlock.Keep
	groupAt int   // position of the group column in Keep, or -1
	classAt []int // per target: position of its column in Keep, or -1
	classes []map[string]bool
}

// apply streams a data file through the model: every batch of rows is
// encoded (with its labels when targets), predicted on dev and handed to fn
// with the model's outputs. It returns the encoder's warnings.
func (m *Model) apply(ctx context.Context, dev Device, in DataInput, targets bool, keep []string, fn func(*batch, [][]float32) error) ([]string, error) {
	src, err := in.open()
	if err != nil {
		return nil, err
	}
	defer src.Close()
	if err := m.checkColumns(src, in, targets, keep); err != nil {
		return nil, err
	}
	ap, names := m.newApplier(targets, keep)
	model := m.Checkpoint.Model
	var b backend.Backend
	flush := func() error {
		if ap.bt.n == 0 {
			return nil
		}
		if b == nil {
			var err error
			if b, err = dev(); err != nil {
				return err
			}
		}
		preds, err := model.Predict(b, ap.bt.dataset(len(m.Schema.Targets)))
		if err != nil {
			return err
		}
		if err := fn(ap.bt, preds); err != nil {
			return err
		}
		ap.bt.n = 0
		return nil
	}
	warnings, err := m.Schema.EncodeBlocks(ctx, src, data.EncodeOptions{Targets: targets, MaskUnseen: targets, Keep: names}, func(eb *data.EncodedBlock) error {
		for off := 0; off < eb.N; {
			off += ap.take(eb, off)
			if ap.bt.n == applyBatch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return warnings, flush()
}

// newApplier sets up the batch and the columns to keep as text: the
// user's, then the group column (to name unseen groups) and the class
// targets (to find unseen classes) when scoring.
func (m *Model) newApplier(targets bool, keep []string) (*applier, []string) {
	s := m.Schema
	names := slices.Clone(keep)
	ap := &applier{m: m, targets: targets, nKeep: len(keep), groupAt: -1}
	if s.GroupColumn != "" {
		ap.groupAt = len(names)
		names = append(names, s.GroupColumn)
	}
	bt := &batch{d: s.Dim(), x: make([]float32, applyBatch*s.Dim())}
	for range s.Embeddings() {
		bt.index = append(bt.index, make([]int32, applyBatch))
	}
	if s.GroupColumn != "" {
		bt.groups, bt.groupText = make([]int32, applyBatch), make([]string, applyBatch)
	}
	for range keep {
		bt.keep = append(bt.keep, make([]string, applyBatch))
	}
	if targets {
		for _, tg := range s.Targets {
			bt.labels = append(bt.labels, make([]float32, applyBatch))
			at := -1
			var classes map[string]bool
			var marks []bool
			if tg.Type != data.Regression {
				at = len(names)
				names = append(names, tg.Name)
				classes = map[string]bool{}
				for _, c := range tg.Classes {
					classes[c] = true
				}
				marks = make([]bool, applyBatch)
			}
			ap.classAt = append(ap.classAt, at)
			ap.classes = append(ap.classes, classes)
			bt.unseen = append(bt.unseen, marks)
		}
	}
	ap.bt = bt
	return ap, names
}

// take copies rows of an encoded block from off into the batch, as many
// as fit, and returns how many.
func (ap *applier) take(eb *data.EncodedBlock, off int) int {
	bt := ap.bt
	k := min(applyBatch-bt.n, eb.N-off)
	at := bt.n
	copy(bt.x[at*bt.d:(at+k)*bt.d], eb.X[off*bt.d:(off+k)*bt.d])
	for j := range bt.index {
		copy(bt.index[j][at:at+k], eb.Index[j][off:off+k])
	}
	for t := range bt.labels {
		copy(bt.labels[t][at:at+k], eb.Labels[t][off:off+k])
	}
	for j := range bt.keep {
		col := &eb.Keep[j]
		for i := range k {
			bt.keep[j][at+i] = col.Text(off + i)
		}
	}
	if bt.groups != nil {
		copy(bt.groups[at:at+k], eb.Groups[off:off+k])
		col := &eb.Keep[ap.groupAt]
		for i := range k {
			bt.groupText[at+i] = ""
			if eb.Groups[off+i] < 0 {
				bt.groupText[at+i] = col.Text(off + i)
			}
		}
	}
	for t, c := range ap.classAt {
		if c < 0 {
			continue
		}
		col := &eb.Keep[c]
		for i := range k {
			label := col.Text(off + i)
			bt.unseen[t][at+i] = !data.IsMissing(label) && !ap.classes[t][label]
		}
	}
	bt.n += k
	return k
}

// checkColumns refuses a data file without a column the model needs (or
// a column to keep), naming the nearest column the file has, or, for the
// columns of a NumPy feature file the model was trained with, the
// --features it needs.
func (m *Model) checkColumns(src data.Source, in DataInput, targets bool, keep []string) error {
	type need struct{ column, role string }
	var needs []need
	for _, f := range m.Schema.Features {
		needs = append(needs, need{f.Name, "feature"})
	}
	if m.Schema.GroupColumn != "" {
		needs = append(needs, need{m.Schema.GroupColumn, "group"})
	}
	if targets {
		for _, tg := range m.Schema.Targets {
			needs = append(needs, need{tg.Name, "target"})
		}
	}
	for _, k := range keep {
		needs = append(needs, need{k, "keep"})
	}
	header := src.Columns()
	for _, n := range needs {
		if slices.Contains(header, n.column) {
			continue
		}
		if n.role == "keep" {
			return &data.Error{File: src.Name(), Line: 1, Column: n.column, Err: fmt.Errorf("column to keep is missing from the file%s", suggest.Hint(n.column, header, "%q"))}
		}
		if f, ok := m.featureFileOf(n.column); ok {
			return optionErrorf("features", "", "the model reads %s[0] … from a NumPy file (trained with --features %s), and %s has no column %q: give --features FILE.npy:%s", f.Prefix, f, in.Path, n.column, f.Prefix)
		}
		return &data.Error{File: src.Name(), Line: 1, Column: n.column, Err: fmt.Errorf("%s column missing from the file%s", n.role, suggest.Hint(n.column, header, "%q"))}
	}
	return nil
}

// featureFileOf returns the feature file the model's run read a column
// from, when its record says so.
func (m *Model) featureFileOf(column string) (FeatureFile, bool) {
	rec, err := readRecord(m.Path, m.Checkpoint.Run)
	if err != nil || rec == nil {
		return FeatureFile{}, false
	}
	for _, s := range rec.Sources {
		if s.Role == "features" && strings.HasPrefix(column, s.Prefix+"[") {
			return FeatureFile{Path: s.Path, Prefix: s.Prefix}, true
		}
	}
	return FeatureFile{}, false
}

// predictionWriter writes a model's predictions block by block: the
// columns kept from the input, then each task's (see PredictTo).
type predictionWriter struct {
	m     *Model
	pw    *data.PredictionWriter
	heads []data.Prediction
	cols  []data.Column
}

// newPredictionWriter writes the header of the predictions of the model
// with the keep columns passed through.
func (m *Model) newPredictionWriter(w io.Writer, keep []string) (*predictionWriter, error) {
	var heads []data.Prediction
	renamed := map[string]string{}
	for _, tg := range m.Schema.Targets {
		p := data.Prediction{Name: tg.Name, Classes: tg.Classes, Float64: tg.Offset != 0}
		if slices.Contains(keep, tg.Name) {
			p.Name = tg.Name + ":pred"
			renamed[p.Name] = tg.Name
		}
		heads = append(heads, p)
	}
	if len(renamed) > 0 {
		hw, err := newHeaderWriter(w, keep, heads, renamed)
		if err != nil {
			return nil, err
		}
		w = hw
	}
	pw, err := data.NewPredictionWriter(w, keep, heads)
	if err != nil {
		return nil, err
	}
	return &predictionWriter{m: m, pw: pw, heads: heads, cols: make([]data.Column, len(keep))}, nil
}

// write writes n rows: the kept texts and the model's outputs (see
// mtl.Model.Predict), a regression value with its target's offset added
// back.
func (p *predictionWriter) write(n int, keep [][]string, preds [][]float32) error {
	out := make([]data.Prediction, len(p.heads))
	for t, task := range p.m.Checkpoint.Model.Spec.Tasks {
		out[t] = p.heads[t]
		vals := make([]float64, len(preds[t]))
		offset := p.m.Schema.Targets[t].Offset
		for i, v := range preds[t] {
			vals[i] = float64(v)
		}
		if task.Type == mtl.Regression {
			for i := range vals {
				vals[i] += offset
			}
			out[t].Values = vals
		} else {
			out[t].Probs = vals
		}
	}
	for j := range p.cols {
		codes := make([]int32, n)
		for i := range codes {
			codes[i] = int32(i)
		}
		p.cols[j] = data.Column{Codes: codes, Dict: keep[j][:n]}
	}
	return p.pw.Write(n, p.cols, out)
}

func (p *predictionWriter) flush() error { return p.pw.Flush() }
