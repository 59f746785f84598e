package pipeline

import (
	"math"

	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/metrics"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// scorer scores a model's predictions of labelled rows task by task and,
// for a family, group by group, a block of rows at a time, in memory that
// does not grow with the rows (but for the scores a binary task's AUC
// keeps; see metrics.Stream).
type scorer struct {
	schema *data.Schema
	spec   mtl.Spec
	tasks  []taskScore
	// Group slots: the schema's groups, then groups unseen in training by
	// value, in order of appearance; rows counts each slot's rows.
	slots  map[string]int
	names  []string
	rows   []int
	unseen [][]int // per task, per slot: rows of classes unseen in training
}

// taskScore is one task's streams: over all rows, and per group slot.
type taskScore struct {
	all    *metrics.Stream
	groups []*metrics.Stream
	unseen int
}

func newScorer(s *data.Schema, spec mtl.Spec) *scorer {
	sc := &scorer{schema: s, spec: spec, tasks: make([]taskScore, len(spec.Tasks)), slots: map[string]int{},
		unseen: make([][]int, len(spec.Tasks))}
	for _, g := range s.Groups {
		sc.slots[g] = len(sc.names)
		sc.names = append(sc.names, g)
		sc.rows = append(sc.rows, 0)
	}
	for t, task := range spec.Tasks {
		sc.tasks[t].all = newStream(task, s.GroupColumn == "")
	}
	return sc
}

// newStream returns the stream of a task; keep says whether a binary
// task keeps its own scores.
func newStream(task mtl.Task, keep bool) *metrics.Stream {
	switch task.Type {
	case mtl.Multiclass:
		return metrics.NewStream(metrics.TypeMulticlass, task.Classes, keep)
	case mtl.Binary:
		return metrics.NewStream(metrics.TypeBinary, 1, keep)
	}
	return metrics.NewStream(metrics.TypeRegression, 1, keep)
}

// slot returns the group slot of a row: its group's, or the slot of its
// group's text for a group unseen in training.
func (sc *scorer) slot(g int32, text func() string) int {
	if g >= 0 {
		return int(g)
	}
	key := text()
	k, ok := sc.slots[key]
	if !ok {
		k = len(sc.names)
		sc.slots[key] = k
		sc.names = append(sc.names, key)
		sc.rows = append(sc.rows, 0)
	}
	return k
}

// add scores n rows: per task their labels and the model's outputs (see
// mtl.Model.Predict), each row's group (nil without a group column;
// unseenGroup(i) gives the text of row i's group when it is −1) and, per
// target, the rows whose class was not seen in training (nil for none),
// whose labels are missing. Regression labels and predictions get their
// target's offset back before they are scored.
func (sc *scorer) add(labels, preds [][]float32, groups []int32, unseenGroup func(i int) string, unseen [][]bool) {
	n := 0
	if len(labels) > 0 {
		n = len(labels[0])
	}
	family := sc.schema.GroupColumn != ""
	slots := make([]int, n)
	if family {
		for i := range n {
			slots[i] = sc.slot(groups[i], func() string { return unseenGroup(i) })
			sc.rows[slots[i]]++
		}
	}
	for t, task := range sc.spec.Tasks {
		ts := &sc.tasks[t]
		for len(ts.groups) < len(sc.names) {
			ts.groups = append(ts.groups, newStream(task, true))
			sc.unseen[t] = append(sc.unseen[t], 0)
		}
		offset := sc.schema.Targets[t].Offset
		k := task.Classes
		addRow := func(s *metrics.Stream, i int, y float32) {
			switch task.Type {
			case mtl.Multiclass:
				c := -1
				if !math.IsNaN(float64(y)) {
					c = int(y)
				}
				s.AddMulticlass(c, preds[t][i*k:(i+1)*k])
			case mtl.Binary:
				s.AddBinary(float64(y), preds[t][i])
			default:
				s.AddRegression(float64(y)+offset, float64(preds[t][i])+offset)
			}
		}
		for i, y := range labels[t] {
			addRow(ts.all, i, y)
			if family {
				addRow(ts.groups[slots[i]], i, y)
			}
			if t < len(unseen) && unseen[t] != nil && unseen[t][i] {
				ts.unseen++
				if family {
					sc.unseen[t][slots[i]]++
				}
			}
		}
	}
}

// report is the evaluation report: every task in the model's order, a
// family scored over all its rows with each group's rows listed under it
// (the schema's groups in order, then unseen groups as they appeared).
func (sc *scorer) report() metrics.Report {
	var names []string
	var scores []metrics.TaskMetrics
	for t, task := range sc.spec.Tasks {
		ts := &sc.tasks[t]
		m := ts.all.Metrics(ts.groups...)
		m.CountUnseen(ts.unseen)
		if sc.schema.GroupColumn != "" {
			m.Groups = []metrics.GroupMetrics{}
			for k, name := range sc.names {
				if sc.rows[k] == 0 {
					continue
				}
				gm := ts.groups[k].Metrics()
				gm.CountUnseen(sc.unseen[t][k])
				m.Groups = append(m.Groups, metrics.GroupMetrics{Group: name, Metrics: gm})
			}
		}
		names = append(names, task.Name)
		scores = append(scores, m)
	}
	return metrics.Summarise(names, scores)
}

// groupsOf returns the group index of every row of a data set (the slice
// its families share), or nil.
func groupsOf(d *mtl.Dataset) []int32 {
	for _, g := range d.Groups {
		if g != nil {
			return g
		}
	}
	return nil
}
