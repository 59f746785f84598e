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

// Arch names the body of a model: what lies between its inputs and the
// task heads.
type Arch string

const (
	// SharedBottom is one stack of shared layers that every head reads.
	SharedBottom Arch = "shared"
	// MMoE is a multi-gate mixture of experts (Ma et al., KDD 2018):
	// Experts parallel MLPs on the input, and one softmax gate per task
	// that mixes their outputs into the representation its head reads.
	MMoE Arch = "mmoe"
	// PLE is progressive layered extraction (Tang et al., RecSys 2020):
	// Levels of experts, each level with TaskExperts experts of every task
	// and Experts shared ones; task t's gate mixes its own experts and the
	// shared ones, and below the last level a shared gate mixes all of them
	// into the shared experts' input of the next level.
	PLE Arch = "ple"
)

// Archs lists every architecture.
var Archs = []Arch{SharedBottom, MMoE, PLE}

// ParseArch returns the architecture named s.
func ParseArch(s string) (Arch, error) {
	for _, a := range Archs {
		if string(a) == s {
			return a, nil
		}
	}
	return "", fmt.Errorf("unknown architecture %q (want shared, mmoe or ple)", s)
}

// Embedding is a learned table for one categorical input: row r is the
// vector of the column's r-th value (see package data for the mapping of
// values to rows). The vectors of every table are concatenated after the
// dense inputs.
type Embedding struct {
	Name string `json:"name"`
	Rows int    `json:"rows"`
	Dim  int    `json:"dim"`
}

// Spec is the architecture of a model: inputs, body and tasks.
type Spec struct {
	// Inputs is the number of dense inputs of a row.
	Inputs int `json:"inputs"`
	// Embeddings are the tables of the categorical inputs learnt as
	// embeddings; their vectors follow the dense inputs.
	Embeddings []Embedding `json:"embeddings,omitempty"`
	// Arch is the body; empty means SharedBottom.
	Arch Arch `json:"arch,omitempty"`
	// Hidden lists the widths of the shared layers (SharedBottom; empty
	// means the heads read the inputs directly), or of each expert's
	// layers (MMoE, PLE; the last width is the representation's).
	Hidden []int `json:"hidden"`
	// Experts is the number of experts (MMoE) or of shared experts per
	// level (PLE); TaskExperts the number of each task's own experts per
	// level and Levels the number of levels (PLE).
	Experts     int `json:"experts,omitempty"`
	TaskExperts int `json:"task_experts,omitempty"`
	Levels      int `json:"levels,omitempty"`
	// Activation is φ, applied after every shared or expert layer.
	Activation backend.Activation `json:"-"`
	// Tasks are the heads, in output order.
	Tasks []Task `json:"tasks"`
	// Members is the number of parameter sets trained together and
	// averaged in predictions (an ensemble, or cross-validation folds); 0
	// means 1.
	Members int `json:"members,omitempty"`
}

// arch returns the body, SharedBottom when unset.
func (s Spec) arch() Arch {
	if s.Arch == "" {
		return SharedBottom
	}
	return s.Arch
}

// members returns the number of members, at least 1.
func (s Spec) members() int { return max(s.Members, 1) }

// InputWidth is the width of a row as the body reads it: the dense inputs
// and every embedding.
func (s Spec) InputWidth() int {
	w := s.Inputs
	for _, e := range s.Embeddings {
		w += e.Dim
	}
	return w
}

// specJSON stores the activation by name.
type specJSON struct {
	Inputs      int         `json:"inputs"`
	Embeddings  []Embedding `json:"embeddings,omitempty"`
	Arch        Arch        `json:"arch,omitempty"`
	Hidden      []int       `json:"hidden"`
	Experts     int         `json:"experts,omitempty"`
	TaskExperts int         `json:"task_experts,omitempty"`
	Levels      int         `json:"levels,omitempty"`
	Activation  string      `json:"activation"`
	Tasks       []Task      `json:"tasks"`
	Members     int         `json:"members,omitempty"`
}

// MarshalJSON writes the activation by name.
func (s Spec) MarshalJSON() ([]byte, error) {
	return json.Marshal(specJSON{s.Inputs, s.Embeddings, s.Arch, s.Hidden, s.Experts, s.TaskExperts, s.Levels, s.Activation.String(), s.Tasks, s.Members})
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
	*s = Spec{Inputs: j.Inputs, Embeddings: j.Embeddings, Arch: j.Arch, Hidden: j.Hidden, Experts: j.Experts, TaskExperts: j.TaskExperts,
		Levels: j.Levels, Activation: act, Tasks: j.Tasks, Members: j.Members}
	return nil
}

// maxMembers bounds the members of one model.
const maxMembers = 64

// Validate checks the spec.
func (s Spec) Validate() error {
	if s.Inputs < 0 || s.InputWidth() < 1 {
		return fmt.Errorf("model needs at least one input, has %d", s.InputWidth())
	}
	for i, e := range s.Embeddings {
		if e.Name == "" || e.Rows < 1 || e.Dim < 1 {
			return fmt.Errorf("embedding %d (%q) has %d rows of width %d", i+1, e.Name, e.Rows, e.Dim)
		}
	}
	for i, h := range s.Hidden {
		if h < 1 {
			return fmt.Errorf("layer %d has width %d", i+1, h)
		}
	}
	if err := s.validateArch(); err != nil {
		return err
	}
	if s.Activation < backend.Identity || s.Activation > backend.Tanh {
		return fmt.Errorf("unknown activation %d", s.Activation)
	}
	if s.Members < 0 || s.Members > maxMembers {
		return fmt.Errorf("model has %d members (at most %d)", s.Members, maxMembers)
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

// validateArch checks the body's settings.
func (s Spec) validateArch() error {
	switch s.arch() {
	case SharedBottom:
		if s.Experts != 0 || s.TaskExperts != 0 || s.Levels != 0 {
			return fmt.Errorf("a shared-bottom model has no experts or levels")
		}
	case MMoE:
		if s.Experts < 1 || s.TaskExperts != 0 || s.Levels > 1 {
			return fmt.Errorf("mmoe needs at least one expert, and has no task experts or levels (has %d, %d, %d)", s.Experts, s.TaskExperts, s.Levels)
		}
	case PLE:
		if s.Levels < 1 || s.Experts < 0 || s.TaskExperts < 0 || s.Experts+s.TaskExperts < 1 {
			return fmt.Errorf("ple needs at least one level and one expert per gate (levels %d, shared experts %d, task experts %d)", s.Levels, s.Experts, s.TaskExperts)
		}
	default:
		return fmt.Errorf("unknown architecture %q", s.Arch)
	}
	if s.arch() != SharedBottom && len(s.Hidden) == 0 {
		return fmt.Errorf("%s needs the widths of its experts' layers", s.Arch)
	}
	return nil
}
