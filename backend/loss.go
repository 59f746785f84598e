package backend

import (
	"errors"
	"fmt"
)

// LossKind selects the loss of a task.
type LossKind int32

const (
	// Softmax is softmax cross-entropy over Classes logits; the label is
	// the class index.
	Softmax LossKind = iota
	// Sigmoid is sigmoid cross-entropy on one logit; the label is 0 or 1.
	Sigmoid
	// Squared is the squared error (z − y)² on one output.
	Squared
)

var lossKindNames = [...]string{"softmax", "sigmoid", "squared"}

// String returns "softmax", "sigmoid" or "squared".
func (k LossKind) String() string {
	if k >= 0 && int(k) < len(lossKindNames) {
		return lossKindNames[k]
	}
	return fmt.Sprintf("LossKind(%d)", int32(k))
}

// LossTask tells LossGrad where one task's logits and labels are.
//
// A plain task reads logits [Col, Col+Classes). A task family (Groups > 0)
// adds, for a row in group g, the deviation logits
// [DevCol+g·Classes, DevCol+(g+1)·Classes); a row whose group index is
// negative (a group unseen in training) uses the shared logits alone. The
// gradient of a family row goes to both its shared and its group's deviation
// columns, so one GEMM over all heads yields the gradients of both.
type LossTask struct {
	Kind     LossKind
	Col      int
	Classes  int
	DevCol   int
	Groups   int
	LabelCol int
	MaskCol  int
	GroupCol int
	// PosWeight multiplies the loss of positive rows of a Sigmoid task;
	// 1 leaves it unweighted.
	PosWeight float32
	// Smoothing ε ∈ [0, 1) mixes a classification task's target with the
	// uniform distribution (label smoothing): a Softmax row of class c has
	// the target distribution (1−ε)·onehot(c) + ε/C over its C classes, a
	// Sigmoid row of label y the target y·(1−ε) + ε/2. The loss is the
	// cross-entropy with that target,
	//
	//	ℓ = −Σ_j q_j·log softmax(z)_j,  ∂ℓ/∂z_j = softmax(z)_j − q_j
	//
	// (and for Sigmoid the weighted binary cross-entropy with y replaced by
	// its smoothed target). Squared ignores it.
	Smoothing float32
}

// LossTaskInts is the number of int32 fields per task in LossTable.Ints,
// in the order kind, col, classes, devcol, groups, labelcol, maskcol,
// groupcol. Kernels read the table in this layout.
const LossTaskInts = 8

// LossTaskFloats is the number of float32 fields per task in
// LossTable.Floats, in the order posweight, smoothing.
const LossTaskFloats = 2

// LossTable is a task list uploaded to a backend: Ints holds LossTaskInts
// int32 per task, Floats holds LossTaskFloats float32 per task. Tasks keeps
// the host copy.
type LossTable struct {
	Tasks  []LossTask
	Ints   Buffer
	Floats Buffer
	// LogitCols and LabelCols are the widths the table was checked
	// against; LossGrad requires them.
	LogitCols, LabelCols int
}

// Encode returns the int32 and float32 arrays of a task list in the layout
// of LossTable.
func Encode(tasks []LossTask) ([]int32, []float32) {
	ints := make([]int32, 0, len(tasks)*LossTaskInts)
	floats := make([]float32, 0, len(tasks)*LossTaskFloats)
	for _, t := range tasks {
		ints = append(ints, int32(t.Kind), int32(t.Col), int32(t.Classes), int32(t.DevCol),
			int32(t.Groups), int32(t.LabelCol), int32(t.MaskCol), int32(t.GroupCol))
		floats = append(floats, t.PosWeight, t.Smoothing)
	}
	return ints, floats
}

// ValidateTasks checks a task list against the logit and label widths.
func ValidateTasks(tasks []LossTask, logitCols, labelCols int) error {
	if len(tasks) == 0 {
		return errors.New("no tasks")
	}
	for i, t := range tasks {
		bad := func(format string, a ...any) error {
			return fmt.Errorf("task %d: %s", i, fmt.Sprintf(format, a...))
		}
		switch t.Kind {
		case Softmax:
			if t.Classes < 2 {
				return bad("softmax needs at least 2 classes, got %d", t.Classes)
			}
		case Sigmoid, Squared:
			if t.Classes != 1 {
				return bad("%s has exactly one output, got %d", t.Kind, t.Classes)
			}
		default:
			return bad("unknown loss kind %d", t.Kind)
		}
		if t.Col < 0 || t.Col+t.Classes > logitCols {
			return bad("logit columns [%d, %d) outside %d", t.Col, t.Col+t.Classes, logitCols)
		}
		if t.Groups < 0 {
			return bad("negative group count")
		}
		if t.Groups > 0 {
			if t.DevCol < 0 || t.DevCol+t.Groups*t.Classes > logitCols {
				return bad("deviation columns [%d, %d) outside %d", t.DevCol, t.DevCol+t.Groups*t.Classes, logitCols)
			}
			if t.GroupCol < 0 || t.GroupCol >= labelCols {
				return bad("group column %d outside %d", t.GroupCol, labelCols)
			}
		}
		if t.LabelCol < 0 || t.LabelCol >= labelCols || t.MaskCol < 0 || t.MaskCol >= labelCols {
			return bad("label column %d or mask column %d outside %d", t.LabelCol, t.MaskCol, labelCols)
		}
		if !(t.PosWeight > 0) {
			return bad("positive-class weight must be > 0, got %g", t.PosWeight)
		}
		if !(t.Smoothing >= 0 && t.Smoothing < 1) {
			return bad("label smoothing must be in [0, 1), got %g", t.Smoothing)
		}
	}
	// Each task writes the gradient of its own columns (kernels give each
	// task its own work-group), so no column may belong to two tasks.
	owner := make([]int, logitCols)
	claim := func(i, from, to int) error {
		for c := from; c < to; c++ {
			if owner[c] != 0 {
				return fmt.Errorf("tasks %d and %d both read logit column %d", owner[c]-1, i, c)
			}
			owner[c] = i + 1
		}
		return nil
	}
	for i, t := range tasks {
		if err := claim(i, t.Col, t.Col+t.Classes); err != nil {
			return err
		}
		if t.Groups > 0 {
			if err := claim(i, t.DevCol, t.DevCol+t.Groups*t.Classes); err != nil {
				return err
			}
		}
	}
	return nil
}

// NewLossTable uploads tasks to b. logitCols and labelCols are the widths
// of the logit and label matrices the table will be used with.
func NewLossTable(b Backend, tasks []LossTask, logitCols, labelCols int) (LossTable, error) {
	if err := ValidateTasks(tasks, logitCols, labelCols); err != nil {
		return LossTable{}, err
	}
	ints, floats := Encode(tasks)
	ib, err := b.Alloc(Int32, len(ints))
	if err != nil {
		return LossTable{}, err
	}
	fb, err := b.Alloc(Float32, len(floats))
	if err != nil {
		b.Free(ib)
		return LossTable{}, err
	}
	b.WriteInt32(ib, 0, ints)
	b.WriteFloat32(fb, 0, floats)
	return LossTable{Tasks: append([]LossTask(nil), tasks...), Ints: ib, Floats: fb, LogitCols: logitCols, LabelCols: labelCols}, nil
}

// Free releases the table's buffers.
func (t LossTable) Free(b Backend) {
	b.Free(t.Ints)
	b.Free(t.Floats)
}

// CheckLossArgs panics with a named message when the arguments of LossGrad
// do not fit each other. Backends call it before enqueueing the operation.
func CheckLossArgs(logits, labels Mat, table LossTable, weights Vec, grad Mat, sums Vec) {
	logits.Check("LossGrad logits", Float32)
	labels.Check("LossGrad labels", Float32)
	grad.Check("LossGrad grad", Float32)
	weights.Check("LossGrad weights", Float32)
	sums.Check("LossGrad sums", Float32)
	n := len(table.Tasks)
	switch {
	case labels.Rows != logits.Rows:
		panic(fmt.Sprintf("backend: LossGrad: %d label rows for %d logit rows", labels.Rows, logits.Rows))
	case grad.Rows != logits.Rows || grad.Cols != logits.Cols:
		panic(fmt.Sprintf("backend: LossGrad: grad %d×%d for logits %d×%d", grad.Rows, grad.Cols, logits.Rows, logits.Cols))
	case weights.Len != n:
		panic(fmt.Sprintf("backend: LossGrad: %d weights for %d tasks", weights.Len, n))
	case sums.Len != 2*n:
		panic(fmt.Sprintf("backend: LossGrad: sums of length %d for %d tasks (want %d)", sums.Len, n, 2*n))
	case logits.Cols != table.LogitCols || labels.Cols != table.LabelCols:
		panic(fmt.Sprintf("backend: LossGrad: table made for %d logit and %d label columns, used with %d and %d",
			table.LogitCols, table.LabelCols, logits.Cols, labels.Cols))
	}
}
