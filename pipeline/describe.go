package pipeline

import (
	"github.com/mtl-gpu/mtl-gpu/data"
)

// Description says what a model file holds and how to call it: its
// architecture, the input columns it reads and the tasks it predicts with
// the columns predict writes for each. It is what `serve` answers at
// /v1/model and what a model's JSON description prints; its field names
// are stable.
type Description struct {
	// File is the model file.
	File string `json:"file"`
	// Architecture names how the shared layers are built ("shared"),
	// Hidden their widths and Activation their φ.
	Architecture string `json:"architecture"`
	Hidden       []int  `json:"hidden"`
	Activation   string `json:"activation"`
	// Parameters counts the model's parameters and Epochs the epochs
	// trained.
	Parameters int `json:"parameters"`
	Epochs     int `json:"epochs"`
	// Inputs lists the columns a row must have: the features in training
	// order, then the group column of task families.
	Inputs []InputDescription `json:"inputs"`
	// Impute is "mean" when a missing numeric value is the training mean;
	// otherwise it is an error.
	Impute string `json:"impute,omitempty"`
	// Tasks lists the tasks in output order.
	Tasks []TaskDescription `json:"tasks"`
}

// InputDescription is one input column.
type InputDescription struct {
	Name string `json:"name"`
	// Kind is "numeric", "categorical" or "group".
	Kind string `json:"kind"`
	// Categories lists the values seen in training of a categorical
	// column, or the groups of the group column; any other value is
	// allowed (all zeros, or the shared head).
	Categories []string `json:"categories,omitempty"`
	// Mean and Scale standardise a numeric column: (x − mean)/scale.
	Mean  *float64 `json:"mean,omitempty"`
	Scale *float64 `json:"scale,omitempty"`
}

// TaskDescription is one task, or one family of tasks with a head per
// group.
type TaskDescription struct {
	Name string `json:"name"`
	// Type is "multiclass", "binary" or "regression".
	Type string `json:"type"`
	// Classes lists the class labels in probability order (for binary
	// targets, the negative class first).
	Classes []string `json:"classes,omitempty"`
	// Groups is the number of group heads of a family, 0 for a plain
	// task.
	Groups int `json:"groups,omitempty"`
	// Columns are the prediction columns: the task's name (the predicted
	// class, or the value), then NAME:p(CLASS) per class.
	Columns []string `json:"columns"`
}

// Describe describes the model.
func (m *Model) Describe() Description {
	s, model := m.Schema, m.Checkpoint.Model
	d := Description{
		File:         m.Path,
		Architecture: string(model.Parts().Architecture),
		Hidden:       append([]int{}, model.Spec.Hidden...),
		Activation:   model.Spec.Activation.String(),
		Parameters:   model.NumParams(),
		Epochs:       m.Checkpoint.State.Epoch,
		Impute:       s.Impute,
	}
	for _, f := range s.Features {
		in := InputDescription{Name: f.Name, Kind: f.Kind.String()}
		if f.Kind == data.Categorical {
			in.Categories = f.Categories
		} else {
			in.Mean, in.Scale = &f.Mean, &f.Scale
		}
		d.Inputs = append(d.Inputs, in)
	}
	if s.GroupColumn != "" {
		d.Inputs = append(d.Inputs, InputDescription{Name: s.GroupColumn, Kind: "group", Categories: s.Groups})
	}
	for t, tg := range s.Targets {
		td := TaskDescription{Name: tg.Name, Type: tg.Type.String(), Classes: tg.Classes, Groups: model.Spec.Tasks[t].Groups, Columns: []string{tg.Name}}
		if tg.Type != data.Regression {
			for _, c := range tg.Classes {
				td.Columns = append(td.Columns, tg.Name+":p("+c+")")
			}
		}
		d.Tasks = append(d.Tasks, td)
	}
	return d
}
