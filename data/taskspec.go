package data

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// TaskType is the kind of prediction a target asks for.
type TaskType int

const (
	// Multiclass is a choice among K classes, trained with softmax
	// cross-entropy.
	Multiclass TaskType = iota
	// Binary is a yes/no label, trained with logistic loss.
	Binary
	// Regression is a real value, trained with squared error.
	Regression
)

var taskTypeNames = [...]string{Multiclass: "multiclass", Binary: "binary", Regression: "regression"}

// String returns "multiclass", "binary" or "regression".
func (t TaskType) String() string {
	if t >= 0 && int(t) < len(taskTypeNames) {
		return taskTypeNames[t]
	}
	return fmt.Sprintf("TaskType(%d)", int(t))
}

// ParseTaskType parses "multiclass", "binary" or "regression", in any case
// and trimmed of white space.
func ParseTaskType(s string) (TaskType, error) {
	s = strings.TrimSpace(s)
	for i, name := range taskTypeNames {
		if strings.EqualFold(s, name) {
			return TaskType(i), nil
		}
	}
	return 0, fmt.Errorf("unknown task type %q (want multiclass, binary or regression)", s)
}

// MarshalText encodes the type as its name, so that it reads well in JSON.
func (t TaskType) MarshalText() ([]byte, error) {
	if t < 0 || int(t) >= len(taskTypeNames) {
		return nil, fmt.Errorf("invalid task type %d", int(t))
	}
	return []byte(taskTypeNames[t]), nil
}

// UnmarshalText decodes a name written by MarshalText.
func (t *TaskType) UnmarshalText(b []byte) error {
	v, err := ParseTaskType(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// TaskSpec says which columns are targets, of what type and with what
// weight in the training loss. It is written PATTERN:TYPE[:WEIGHT].
type TaskSpec struct {
	// Pattern is a column name or a path.Match glob such as "Class*". A
	// column whose name equals the pattern is matched as written, even if
	// the pattern has glob characters.
	Pattern string
	// Type is the task type of every matched column.
	Type TaskType
	// Weight multiplies the task's loss; it is positive and finite. Zero
	// stands for the default, 1.
	Weight float64
}

// String formats the spec so that ParseTaskSpec reads it back; a weight of
// 1 (or 0, the default) is left out.
func (s TaskSpec) String() string {
	out := s.Pattern + ":" + s.Type.String()
	if s.Weight != 0 && s.Weight != 1 {
		out += ":" + strconv.FormatFloat(s.Weight, 'g', -1, 64)
	}
	return out
}

// weight returns the effective weight: Weight, or 1 for the zero value.
func (s TaskSpec) weight() float64 {
	if s.Weight == 0 {
		return 1
	}
	return s.Weight
}

// check reports a spec that ParseTaskSpec would not have produced.
func (s TaskSpec) check() error {
	if strings.TrimSpace(s.Pattern) == "" {
		return fmt.Errorf("task %q: empty column pattern", s.String())
	}
	if s.Type < 0 || int(s.Type) >= len(taskTypeNames) {
		return fmt.Errorf("task %q: invalid task type", s.String())
	}
	if w := s.Weight; w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
		return fmt.Errorf("task %q: weight %v is not a positive finite number", s.String(), w)
	}
	return nil
}

// ParseTaskSpec parses PATTERN:TYPE[:WEIGHT]. It reads from the right,
// because column names may contain ':': "a:b:binary" is the pattern "a:b"
// of type binary, and "a:b:binary:2" has weight 2. TYPE is multiclass,
// binary or regression (any case); WEIGHT is a positive finite number and
// defaults to 1. The pattern is trimmed of surrounding white space and may
// not be empty.
func ParseTaskSpec(s string) (TaskSpec, error) {
	parts := strings.Split(s, ":")
	n := len(parts)
	fail := func(format string, args ...any) (TaskSpec, error) {
		return TaskSpec{}, fmt.Errorf("task %q: %s (want PATTERN:TYPE[:WEIGHT], TYPE one of multiclass, binary, regression)", s, fmt.Sprintf(format, args...))
	}
	if n < 2 {
		return fail("no task type")
	}
	spec := TaskSpec{Weight: 1}
	if typ, err := ParseTaskType(parts[n-1]); err == nil {
		spec.Type = typ
		spec.Pattern = strings.Join(parts[:n-1], ":")
	} else if typ, err2 := ParseTaskType(parts[n-2]); n >= 3 && err2 == nil {
		w := strings.TrimSpace(parts[n-1])
		kind, v := parseCell(w)
		if kind != cellNumber || v <= 0 || IsMissing(w) {
			return fail("weight %q is not a positive finite number", w)
		}
		spec.Type = typ
		spec.Weight = v
		spec.Pattern = strings.Join(parts[:n-2], ":")
	} else {
		return fail("%q is neither a task type nor a weight after one", strings.TrimSpace(parts[n-1]))
	}
	spec.Pattern = strings.TrimSpace(spec.Pattern)
	if spec.Pattern == "" {
		return fail("empty column pattern")
	}
	return spec, nil
}
