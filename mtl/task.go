package mtl

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// TaskType is the kind of target a task predicts.
type TaskType int

const (
	// Multiclass predicts one of Classes classes with softmax cross-entropy.
	Multiclass TaskType = iota
	// Binary predicts a 0/1 label with sigmoid cross-entropy. A multilabel
	// problem is several binary tasks.
	Binary
	// Regression predicts a real value with squared error; the target is
	// standardised inside the model and predictions are mapped back.
	Regression
)

var taskTypeNames = [...]string{"multiclass", "binary", "regression"}

// String returns "multiclass", "binary" or "regression".
func (t TaskType) String() string {
	if t >= 0 && int(t) < len(taskTypeNames) {
		return taskTypeNames[t]
	}
	return fmt.Sprintf("TaskType(%d)", int(t))
}

// ParseTaskType returns the type named s.
func ParseTaskType(s string) (TaskType, error) {
	for i, n := range taskTypeNames {
		if n == s {
			return TaskType(i), nil
		}
	}
	return 0, fmt.Errorf("unknown task type %q (want multiclass, binary or regression)", s)
}

// MarshalText writes the type's name.
func (t TaskType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText parses a type's name.
func (t *TaskType) UnmarshalText(b []byte) error {
	v, err := ParseTaskType(string(b))
	*t = v
	return err
}

// Task is one prediction target of the model.
//
// A task with Groups > 0 is a task family: one target split by a group
// (one head per school, say). Its loss is the mean over all its labelled
// rows, whichever group each is in, and the head of group g is the family's
// shared head plus a deviation of its own, shrunk towards zero by
// Config.GroupDecay (the regularised multi-task learning of Evgeniou and
// Pontil). A group with few rows borrows strength from the others, and a
// row of a group unseen in training (group index −1) uses the shared head.
type Task struct {
	Name string   `json:"name"`
	Type TaskType `json:"type"`
	// Classes is the number of classes of a Multiclass task (at least 2);
	// it is 1 for Binary and Regression tasks.
	Classes int `json:"classes"`
	// Weight is the task's weight λ_t in the total loss; 0 means 1.
	Weight float64 `json:"weight"`
	// PosWeight multiplies the loss of positive rows of a Binary task; 0
	// means 1.
	PosWeight float64 `json:"pos_weight,omitempty"`
	// Groups is the number of groups of a task family, 0 for a plain task.
	Groups int `json:"groups,omitempty"`
	// Mean and Std standardise a Regression target: the model predicts
	// (y − Mean)/Std. They are fitted from the training labels when a
	// model is created.
	Mean float64 `json:"mean,omitempty"`
	Std  float64 `json:"std,omitempty"`
}

func (t Task) weight() float64 {
	if t.Weight == 0 {
		return 1
	}
	return t.Weight
}

func (t Task) posWeight() float64 {
	if t.PosWeight == 0 {
		return 1
	}
	return t.PosWeight
}

// outputs is the number of logits of one head.
func (t Task) outputs() int {
	if t.Type == Multiclass {
		return t.Classes
	}
	return 1
}

func (t Task) lossKind() backend.LossKind {
	switch t.Type {
	case Multiclass:
		return backend.Softmax
	case Binary:
		return backend.Sigmoid
	}
	return backend.Squared
}

func (t Task) validate() error {
	switch {
	case t.Name == "":
		return fmt.Errorf("task without a name")
	case t.Type < Multiclass || t.Type > Regression:
		return fmt.Errorf("task %q: unknown type %d", t.Name, t.Type)
	case t.Type == Multiclass && t.Classes < 2:
		return fmt.Errorf("task %q: a multiclass task needs at least 2 classes, has %d", t.Name, t.Classes)
	case t.Type != Multiclass && t.Classes != 1 && t.Classes != 0:
		return fmt.Errorf("task %q: a %s task has one output, not %d classes", t.Name, t.Type, t.Classes)
	case t.Weight < 0 || math.IsNaN(t.Weight) || math.IsInf(t.Weight, 0):
		return fmt.Errorf("task %q: weight %g is not a finite number ≥ 0", t.Name, t.Weight)
	case t.PosWeight < 0 || math.IsNaN(t.PosWeight) || math.IsInf(t.PosWeight, 0):
		return fmt.Errorf("task %q: positive-class weight %g is not a finite number ≥ 0", t.Name, t.PosWeight)
	case t.Groups < 0:
		return fmt.Errorf("task %q: negative group count", t.Name)
	case t.Type == Regression && (t.Std < 0 || math.IsNaN(t.Std) || math.IsNaN(t.Mean)):
		return fmt.Errorf("task %q: invalid standardisation mean %g, std %g", t.Name, t.Mean, t.Std)
	}
	return nil
}

// Spec is the architecture of a model: inputs, shared layers and tasks.
type Spec struct {
	// Inputs is the width d of an input row.
	Inputs int `json:"inputs"`
	// Hidden lists the widths of the shared layers; empty means the heads
	// read the inputs directly (one linear model per task).
	Hidden []int `json:"hidden"`
	// Activation is φ, applied after every shared layer.
	Activation backend.Activation `json:"-"`
	// Tasks are the heads, in output order.
	Tasks []Task `json:"tasks"`
}

// specJSON stores the activation by name.
type specJSON struct {
	Inputs     int    `json:"inputs"`
	Hidden     []int  `json:"hidden"`
	Activation string `json:"activation"`
	Tasks      []Task `json:"tasks"`
}

// MarshalJSON writes the activation by name.
func (s Spec) MarshalJSON() ([]byte, error) {
	return json.Marshal(specJSON{s.Inputs, s.Hidden, s.Activation.String(), s.Tasks})
}

// UnmarshalJSON reads a Spec written by MarshalJSON.
func (s *Spec) UnmarshalJSON(b []byte) error {
	var j specJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	act, err := backend.ParseActivation(j.Activation)
	if err != nil {
		return err
	}
	*s = Spec{Inputs: j.Inputs, Hidden: j.Hidden, Activation: act, Tasks: j.Tasks}
	return nil
}

// Validate checks the spec.
func (s Spec) Validate() error {
	if s.Inputs < 1 {
		return fmt.Errorf("model needs at least one input, has %d", s.Inputs)
	}
	for i, h := range s.Hidden {
		if h < 1 {
			return fmt.Errorf("shared layer %d has width %d", i+1, h)
		}
	}
	if s.Activation < backend.Identity || s.Activation > backend.Tanh {
		return fmt.Errorf("unknown activation %d", s.Activation)
	}
	if len(s.Tasks) == 0 {
		return fmt.Errorf("model has no tasks")
	}
	seen := map[string]bool{}
	for _, t := range s.Tasks {
		if err := t.validate(); err != nil {
			return err
		}
		if seen[t.Name] {
			return fmt.Errorf("two tasks are named %q", t.Name)
		}
		seen[t.Name] = true
	}
	return nil
}
