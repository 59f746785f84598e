package mtl

import (
	"fmt"
	"math"
)

// Dataset is an encoded data set: inputs and, per task, labels.
type Dataset struct {
	// N is the number of rows.
	N int
	// X holds N rows of Spec.Inputs dense features, row-major.
	X []float32
	// Index holds, per embedding table of the model, every row's table
	// row.
	Index [][]int32
	// Labels holds, per task, N labels: the class index of a Multiclass
	// task, 0 or 1 for a Binary task, the value (in its own units) of a
	// Regression task. NaN marks a missing label. Labels may be nil when
	// the data set is only used for prediction.
	Labels [][]float32
	// Groups holds, per task family, the group index of every row
	// (−1 for a group unseen in training); nil for plain tasks. Families
	// may share one slice.
	Groups [][]int32
	// Members, when not nil, says which members of a model use each row:
	// bit m of Members[i] is set when member m trains on row i (or
	// validates on it, in a validation set). nil means every member uses
	// every row. Cross-validation gives each member the rows outside its
	// fold.
	Members []uint64
}

// Rows returns the subset of d made of the given rows, in that order.
func (d *Dataset) Rows(rows []int, inputs int) *Dataset {
	out := &Dataset{N: len(rows), X: make([]float32, len(rows)*inputs)}
	for i, r := range rows {
		copy(out.X[i*inputs:(i+1)*inputs], d.X[r*inputs:(r+1)*inputs])
	}
	pick := func(src []float32) []float32 {
		if src == nil {
			return nil
		}
		v := make([]float32, len(rows))
		for i, r := range rows {
			v[i] = src[r]
		}
		return v
	}
	shared := map[*int32][]int32{}
	for _, l := range d.Labels {
		out.Labels = append(out.Labels, pick(l))
	}
	for _, ix := range d.Index {
		v := make([]int32, len(rows))
		for i, r := range rows {
			v[i] = ix[r]
		}
		out.Index = append(out.Index, v)
	}
	if d.Members != nil {
		out.Members = make([]uint64, len(rows))
		for i, r := range rows {
			out.Members[i] = d.Members[r]
		}
	}
	for _, g := range d.Groups {
		if g == nil {
			out.Groups = append(out.Groups, nil)
			continue
		}
		if s, ok := shared[&g[0]]; ok {
			out.Groups = append(out.Groups, s)
			continue
		}
		v := make([]int32, len(rows))
		for i, r := range rows {
			v[i] = g[r]
		}
		shared[&g[0]] = v
		out.Groups = append(out.Groups, v)
	}
	return out
}

// validate checks d against spec; withLabels requires labels for every
// task.
func (d *Dataset) validate(s Spec, withLabels bool) error {
	if d.N < 0 || len(d.X) != d.N*s.Inputs {
		return fmt.Errorf("data set has %d values for %d rows of %d inputs", len(d.X), d.N, s.Inputs)
	}
	for i, v := range d.X {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("row %d, input %d: %g is not a finite number", i/s.Inputs+1, i%s.Inputs+1, v)
		}
	}
	if len(d.Index) != len(s.Embeddings) {
		return fmt.Errorf("data set has indices for %d embedding tables, the model has %d", len(d.Index), len(s.Embeddings))
	}
	for j, e := range s.Embeddings {
		if len(d.Index[j]) != d.N {
			return fmt.Errorf("embedding %q: %d indices for %d rows", e.Name, len(d.Index[j]), d.N)
		}
		for i, r := range d.Index[j] {
			if r < 0 || int(r) >= e.Rows {
				return fmt.Errorf("embedding %q, row %d: index %d outside its %d rows", e.Name, i+1, r, e.Rows)
			}
		}
	}
	if d.Members != nil && len(d.Members) != d.N {
		return fmt.Errorf("data set has member masks for %d of %d rows", len(d.Members), d.N)
	}
	if withLabels && len(d.Labels) != len(s.Tasks) {
		return fmt.Errorf("data set has labels for %d tasks, the model has %d", len(d.Labels), len(s.Tasks))
	}
	for t, task := range s.Tasks {
		if task.Groups > 0 && (t >= len(d.Groups) || len(d.Groups[t]) != d.N) {
			return fmt.Errorf("task %q: data set has no group index for every row", task.Name)
		}
		if task.Groups > 0 {
			for i, g := range d.Groups[t] {
				if g < -1 || int(g) >= task.Groups {
					return fmt.Errorf("task %q, row %d: group %d outside [0, %d)", task.Name, i+1, g, task.Groups)
				}
			}
		}
		if !withLabels && (t >= len(d.Labels) || d.Labels[t] == nil) {
			continue
		}
		if len(d.Labels[t]) != d.N {
			return fmt.Errorf("task %q: %d labels for %d rows", task.Name, len(d.Labels[t]), d.N)
		}
		for i, y := range d.Labels[t] {
			if math.IsNaN(float64(y)) {
				continue
			}
			ok := true
			switch task.Type {
			case Multiclass:
				ok = y >= 0 && int(y) < task.Classes && y == float32(int(y))
			case Binary:
				ok = y == 0 || y == 1
			case Regression:
				ok = !math.IsInf(float64(y), 0)
			}
			if !ok {
				return fmt.Errorf("task %q, row %d: invalid %s label %g", task.Name, i+1, task.Type, y)
			}
		}
	}
	return nil
}

// labelMatrix builds the N×lblCols matrix LossGrad reads: per task its
// label (standardised for regression), a mask per member (1 when the row is
// labelled and the member uses it, 0 otherwise) and, for a family, the
// group index.
func (d *Dataset) labelMatrix(s Spec, l *layout) []float32 {
	y := make([]float32, d.N*l.lblCols)
	for t, task := range s.Tasks {
		c := l.lblCol[t]
		var labels []float32
		if t < len(d.Labels) {
			labels = d.Labels[t]
		}
		for i := range d.N {
			row := y[i*l.lblCols:]
			if labels != nil && !math.IsNaN(float64(labels[i])) {
				v := labels[i]
				if task.Type == Regression {
					v = float32((float64(v) - task.Mean) / task.Std)
				}
				row[c] = v
				for m := range l.members {
					if d.uses(i, m) {
						row[l.maskCol(t, m)] = 1
					}
				}
			}
			if task.Groups > 0 {
				row[l.groupCol(t)] = float32(d.Groups[t][i])
			}
		}
	}
	return y
}

// uses reports whether member m uses row i.
func (d *Dataset) uses(i, m int) bool { return d.Members == nil || d.Members[i]&(1<<m) != 0 }

// labelled counts the rows with a label for task t that member m uses.
func (d *Dataset) labelled(t, m int) int {
	n := 0
	for i, y := range d.Labels[t] {
		if !math.IsNaN(float64(y)) && d.uses(i, m) {
			n++
		}
	}
	return n
}
