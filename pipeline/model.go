package pipeline

import (
	"bufio"
	"encoding/json"
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

// Model is a model file: the checkpoint of a training run and the schema
// that encodes raw data for it.
type Model struct {
	Path       string
	Checkpoint *mtl.Checkpoint
	Schema     *data.Schema
}

// LoadModel reads a model file and checks that its schema fits its
// architecture.
func LoadModel(path string) (*Model, error) {
	ck, meta, err := mtl.LoadFile(path)
	if err != nil {
		return nil, err
	}
	var s data.Schema
	if err := json.Unmarshal(meta, &s); err != nil {
		return nil, fmt.Errorf("%s: %w: preprocessing: %v", path, mtl.ErrNotModel, err)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, mtl.ErrNotModel, err)
	}
	if s.Dim() != ck.Model.Spec.Inputs || len(s.Targets) != len(ck.Model.Spec.Tasks) {
		return nil, fmt.Errorf("%s: %w: preprocessing does not fit the architecture", path, mtl.ErrNotModel)
	}
	return &Model{Path: path, Checkpoint: ck, Schema: &s}, nil
}

// Applied is a model run on a data file.
type Applied struct {
	Model *Model
	// Rows is the number of rows scored.
	Rows  int
	table *data.Table
	enc   *data.Encoded
	// unseen marks, per target, the rows whose label is a class the model
	// never saw (nil when there is none, or without targets).
	unseen [][]bool
	// preds holds, per task, the model's outputs (see mtl.Model.Predict).
	preds [][]float32
	// Warnings are lines about the data (unseen categories, classes and
	// groups, imputed values) for a log.
	Warnings []string
}

// Read encodes a data file with the model's preprocessing, ready for
// Predict. With targets, the file's target columns are read too, for
// scoring; a label of a class the model never saw is scored as an error
// (see Report) and counted in a warning. A column the model needs and the
// file lacks is an error that suggests the nearest column.
func (m *Model) Read(dataPath string, targets bool) (*Applied, error) {
	table, err := data.ReadFile(dataPath)
	if err != nil {
		return nil, err
	}
	if err := m.checkColumns(table, targets); err != nil {
		return nil, err
	}
	a := &Applied{Model: m, table: table}
	if targets {
		a.table, a.unseen = m.maskUnseen(table)
		for t, rows := range a.unseen {
			if n := count(rows); n > 0 {
				a.Warnings = append(a.Warnings, fmt.Sprintf("%s: column %q: %d rows have classes unseen in training (classes: %s); they count as errors in accuracy and are left out of the other metrics",
					table.Path, m.Schema.Targets[t].Name, n, strings.Join(m.Schema.Targets[t].Classes, ", ")))
			}
		}
	}
	enc, err := m.Schema.Encode(a.table, targets)
	if err != nil {
		return nil, err
	}
	a.Rows, a.enc = enc.N, enc
	a.Warnings = append(a.Warnings, enc.Warnings...)
	return a, nil
}

// checkColumns refuses a file without a column the model needs, naming
// the nearest column the file has.
func (m *Model) checkColumns(t *data.Table, targets bool) error {
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
	for _, n := range needs {
		if t.Column(n.column) < 0 {
			return &data.Error{File: t.Path, Line: 1, Column: n.column, Err: fmt.Errorf("%s column missing from the file%s", n.role, suggest.Hint(n.column, t.Header, "%q"))}
		}
	}
	return nil
}

// maskUnseen returns the table with every label of a class the model
// never saw made missing, and those rows marked per target.
func (m *Model) maskUnseen(t *data.Table) (*data.Table, [][]bool) {
	out := *t
	out.Rows = slices.Clone(t.Rows)
	unseen := make([][]bool, len(m.Schema.Targets))
	for ti, tg := range m.Schema.Targets {
		if tg.Type == data.Regression {
			continue
		}
		c := t.Column(tg.Name)
		for i, row := range out.Rows {
			cell := row[c]
			if data.IsMissing(cell) || slices.Contains(tg.Classes, strings.TrimSpace(cell)) {
				continue
			}
			if unseen[ti] == nil {
				unseen[ti] = make([]bool, len(t.Rows))
			}
			unseen[ti][i] = true
			row = slices.Clone(row)
			row[c] = ""
			out.Rows[i] = row
		}
	}
	return &out, unseen
}

func count(marks []bool) int {
	n := 0
	for _, m := range marks {
		if m {
			n++
		}
	}
	return n
}

// Predict runs the model on every row, on b.
func (a *Applied) Predict(b backend.Backend) error {
	preds, err := a.Model.Checkpoint.Model.Predict(b, dataset(a.enc, len(a.Model.Schema.Targets)))
	a.preds = preds
	return err
}

// Report scores every task, in the model's task order. A family (a target
// split by a group column) is one task scored over all of its rows, with
// the metrics of each group's rows listed under it.
func (a *Applied) Report() metrics.Report {
	var names []string
	var scores []metrics.TaskMetrics
	for t, task := range a.Model.Checkpoint.Model.Spec.Tasks {
		m := a.score(t, task, nil)
		if a.Model.Schema.GroupColumn != "" {
			m.Groups = []metrics.GroupMetrics{}
			for _, part := range a.parts() {
				m.Groups = append(m.Groups, metrics.GroupMetrics{Group: part.name, Metrics: a.score(t, task, part.rows)})
			}
		}
		names = append(names, task.Name)
		scores = append(scores, m)
	}
	return metrics.Summarise(names, scores)
}

type rowSet struct {
	name string
	rows []int
}

// parts splits the rows by group, in the order of the schema's groups,
// then groups unseen in training by value.
func (a *Applied) parts() []rowSet {
	s := a.Model.Schema
	col := a.table.Column(s.GroupColumn)
	byName := map[string]*rowSet{}
	var order []string
	for i, g := range a.enc.Groups {
		key := strings.TrimSpace(a.table.Rows[i][col])
		if g >= 0 {
			key = s.Groups[g]
		}
		if byName[key] == nil {
			byName[key] = &rowSet{name: key, rows: []int{}}
			order = append(order, key)
		}
		byName[key].rows = append(byName[key].rows, i)
	}
	var out []rowSet
	for _, g := range s.Groups {
		if set := byName[g]; set != nil {
			out = append(out, *set)
			delete(byName, g)
		}
	}
	for _, k := range order {
		if set := byName[k]; set != nil {
			out = append(out, *set)
		}
	}
	return out
}

// score computes task t's metrics on a set of rows (nil: all rows).
func (a *Applied) score(t int, task mtl.Task, rows []int) metrics.TaskMetrics {
	if rows == nil {
		rows = make([]int, a.enc.N)
		for i := range rows {
			rows[i] = i
		}
	}
	labels := a.enc.Labels[t]
	p := a.preds[t]
	var m metrics.TaskMetrics
	switch task.Type {
	case mtl.Multiclass:
		k := task.Classes
		y := make([]int, len(rows))
		probs := make([]float64, 0, len(rows)*k)
		for i, r := range rows {
			y[i] = -1
			if v := labels[r]; v == v {
				y[i] = int(v)
			}
			for c := range k {
				probs = append(probs, float64(p[r*k+c]))
			}
		}
		m = metrics.Multiclass(y, probs, k)
	case mtl.Binary:
		y, probs := make([]float64, len(rows)), make([]float64, len(rows))
		for i, r := range rows {
			y[i], probs[i] = float64(labels[r]), float64(p[r])
		}
		m = metrics.Binary(y, probs)
	default:
		y, pred := make([]float64, len(rows)), make([]float64, len(rows))
		for i, r := range rows {
			y[i], pred[i] = float64(labels[r]), float64(p[r])
		}
		return metrics.Regression(y, pred)
	}
	if t < len(a.unseen) && a.unseen[t] != nil {
		n := 0
		for _, r := range rows {
			if a.unseen[t][r] {
				n++
			}
		}
		m.CountUnseen(n)
	}
	return m
}

// WritePredictions writes the predictions as CSV (see
// data.WritePredictions), with the keep columns passed through, in the
// model's task order. A kept column that is a task's target stays as it
// is, and that task's prediction column is named TASK:pred (its
// probability columns keep their names, TASK:p(CLASS)).
func (a *Applied) WritePredictions(w io.Writer, keep []string) error {
	if err := a.checkKeep(keep); err != nil {
		return err
	}
	var preds []data.Prediction
	renamed := map[string]string{}
	for t, task := range a.Model.Checkpoint.Model.Spec.Tasks {
		tg := a.Model.Schema.Targets[t]
		p := data.Prediction{Name: tg.Name, Classes: tg.Classes}
		if slices.Contains(keep, tg.Name) {
			p.Name = tg.Name + ":pred"
			renamed[p.Name] = tg.Name
		}
		vals := make([]float64, len(a.preds[t]))
		for i, v := range a.preds[t] {
			vals[i] = float64(v)
		}
		if task.Type == mtl.Regression {
			p.Values = vals
		} else {
			p.Probs = vals
		}
		preds = append(preds, p)
	}
	if len(renamed) == 0 {
		return data.WritePredictions(w, a.table, keep, preds)
	}
	hw, err := newHeaderWriter(w, keep, preds, renamed)
	if err != nil {
		return err
	}
	return data.WritePredictions(hw, a.table, keep, preds)
}

// checkKeep refuses a column to keep that the file lacks, naming the
// nearest.
func (a *Applied) checkKeep(keep []string) error {
	for _, k := range keep {
		if a.table.Column(k) < 0 {
			return &data.Error{File: a.table.Path, Line: 1, Column: k, Err: fmt.Errorf("column to keep is missing from the file%s", suggest.Hint(k, a.table.Header, "%q"))}
		}
	}
	return nil
}

// WritePredictionsFile writes the predictions to path atomically, or to
// stdout when path is "-".
func (a *Applied) WritePredictionsFile(path string, keep []string, stdout io.Writer) error {
	if path == "-" {
		bw := bufio.NewWriterSize(stdout, 1<<16)
		if err := a.WritePredictions(bw, keep); err != nil {
			return err
		}
		return bw.Flush()
	}
	return atomicfile.Write(path, func(w io.Writer) error { return a.WritePredictions(w, keep) })
}

// WriteFile writes a whole output file atomically (see package
// internal/atomicfile), so that a failed run leaves no partial file.
func WriteFile(path string, write func(io.Writer) error) error {
	return atomicfile.Write(path, write)
}
