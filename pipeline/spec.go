package pipeline

import (
	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/internal/trainset"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// taskType maps a data target type to the model's.
func taskType(t data.TaskType) mtl.TaskType {
	switch t {
	case data.Multiclass:
		return mtl.Multiclass
	case data.Binary:
		return mtl.Binary
	}
	return mtl.Regression
}

// specTasks makes one model task per target of the schema; with a group
// column each is a family with one head per group.
func specTasks(s *data.Schema) []mtl.Task {
	var tasks []mtl.Task
	for _, tg := range s.Targets {
		t := mtl.Task{Name: tg.Name, Type: taskType(tg.Type), Classes: 1, Weight: tg.Weight}
		if t.Type == mtl.Multiclass {
			t.Classes = len(tg.Classes)
		}
		if s.GroupColumn != "" {
			t.Groups = len(s.Groups)
		}
		tasks = append(tasks, t)
	}
	return tasks
}

// specEmbeddings makes one embedding table of the model per embedded
// feature of the schema, in order.
func specEmbeddings(s *data.Schema) []mtl.Embedding {
	var out []mtl.Embedding
	for _, e := range s.Embeddings() {
		out = append(out, mtl.Embedding{Name: e.Name, Rows: e.Rows, Dim: e.Dim})
	}
	return out
}

// dataset turns encoded data into the trainer's form (see
// trainset.Dataset, which a streamed run's blocks go through too).
func dataset(enc *data.Encoded, tasks int) *mtl.Dataset {
	return trainset.Dataset(enc, tasks)
}

// posWeights applies a positive-class weight to the binary tasks: none,
// auto (the ratio of negative to positive labels, counted over the sets of
// labels given, each per task) or a number.
func posWeights(tasks []mtl.Task, flag string, labels ...[][]float32) error {
	return posWeightsBy(tasks, flag, func(t int) (pos, neg float64) {
		for _, set := range labels {
			p, n := countBinary(set[t])
			pos, neg = pos+p, neg+n
		}
		return pos, neg
	})
}

// countBinary counts a binary task's positive and negative labels; a
// missing label (NaN) is neither.
func countBinary(labels []float32) (pos, neg float64) {
	for _, y := range labels {
		switch y {
		case 1:
			pos++
		case 0:
			neg++
		}
	}
	return pos, neg
}

// posWeightsBy is posWeights with the positive and negative labels of
// task t counted by count.
func posWeightsBy(tasks []mtl.Task, flag string, count func(t int) (pos, neg float64)) error {
	fixed, err := parsePosWeight(flag)
	if err != nil || fixed == 0 {
		return err
	}
	for i := range tasks {
		if tasks[i].Type != mtl.Binary {
			continue
		}
		if fixed > 0 {
			tasks[i].PosWeight = fixed
			continue
		}
		if pos, neg := count(i); pos > 0 && neg > 0 {
			tasks[i].PosWeight = neg / pos
		}
	}
	return nil
}
