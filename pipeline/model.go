package pipeline

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/internal/atomicfile"
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
	// preds holds, per task, the model's outputs (see mtl.Model.Predict).
	preds [][]float32
	// Warnings are lines about the data (unseen categories, imputed
	// values) for a log.
	Warnings []string
}

// Read encodes a data file with the model's preprocessing, ready for
// Predict. With targets, the file's target columns are read too, for
// scoring.
func (m *Model) Read(dataPath string, targets bool) (*Applied, error) {
	table, err := data.ReadFile(dataPath)
	if err != nil {
		return nil, err
	}
	enc, err := m.Schema.Encode(table, targets)
	if err != nil {
		return nil, err
	}
	return &Applied{Model: m, Rows: enc.N, table: table, enc: enc, Warnings: enc.Warnings}, nil
}

// Predict runs the model on every row, on b.
func (a *Applied) Predict(b backend.Backend) error {
	preds, err := a.Model.Checkpoint.Model.Predict(b, dataset(a.enc, len(a.Model.Schema.Targets)))
	a.preds = preds
	return err
}

// Report scores every task; a family is scored head by head, each head
// named TARGET@GROUP.
func (a *Applied) Report() metrics.Report {
	var names []string
	var scores []metrics.TaskMetrics
	for t, task := range a.Model.Checkpoint.Model.Spec.Tasks {
		for _, part := range a.parts(t) {
			names = append(names, part.name)
			scores = append(scores, a.score(t, task, part.rows))
		}
	}
	return metrics.Summarise(names, scores)
}

type rowSet struct {
	name string
	rows []int // nil: all rows
}

// parts splits the rows of task t by group, named TARGET@GROUP in the
// order of the schema's groups, then groups unseen in training by value.
func (a *Applied) parts(t int) []rowSet {
	s := a.Model.Schema
	name := s.Targets[t].Name
	if s.GroupColumn == "" {
		return []rowSet{{name: name}}
	}
	col := a.table.Column(s.GroupColumn)
	byName := map[string]*rowSet{}
	var order []string
	for i, g := range a.enc.Groups {
		key := strings.TrimSpace(a.table.Rows[i][col])
		if g >= 0 {
			key = s.Groups[g]
		}
		if byName[key] == nil {
			byName[key] = &rowSet{name: name + "@" + key, rows: []int{}}
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

// score computes task t's metrics on a set of rows.
func (a *Applied) score(t int, task mtl.Task, rows []int) metrics.TaskMetrics {
	if rows == nil {
		rows = make([]int, a.enc.N)
		for i := range rows {
			rows[i] = i
		}
	}
	labels := a.enc.Labels[t]
	p := a.preds[t]
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
		return metrics.Multiclass(y, probs, k)
	case mtl.Binary:
		y, probs := make([]float64, len(rows)), make([]float64, len(rows))
		for i, r := range rows {
			y[i], probs[i] = float64(labels[r]), float64(p[r])
		}
		return metrics.Binary(y, probs)
	}
	y, pred := make([]float64, len(rows)), make([]float64, len(rows))
	for i, r := range rows {
		y[i], pred[i] = float64(labels[r]), float64(p[r])
	}
	return metrics.Regression(y, pred)
}

// WritePredictions writes the predictions as CSV (see
// data.WritePredictions), with the keep columns passed through.
func (a *Applied) WritePredictions(w io.Writer, keep []string) error {
	var preds []data.Prediction
	for t, task := range a.Model.Checkpoint.Model.Spec.Tasks {
		tg := a.Model.Schema.Targets[t]
		p := data.Prediction{Name: tg.Name, Classes: tg.Classes}
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
	return data.WritePredictions(w, a.table, keep, preds)
}

// WritePredictionsFile writes the predictions to path atomically.
func (a *Applied) WritePredictionsFile(path string, keep []string) error {
	return atomicfile.Write(path, func(w io.Writer) error { return a.WritePredictions(w, keep) })
}

// WriteFile writes a whole output file atomically (see package
// internal/atomicfile), so that a failed run leaves no partial file.
func WriteFile(path string, write func(io.Writer) error) error {
	return atomicfile.Write(path, write)
}
