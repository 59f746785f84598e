package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/mtl-gpu/mtl-gpu/data"
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

// dataset turns encoded data into the trainer's form.
func dataset(enc *data.Encoded, tasks int) *mtl.Dataset {
	d := &mtl.Dataset{N: enc.N, X: enc.X, Labels: enc.Labels}
	for range tasks {
		d.Groups = append(d.Groups, enc.Groups)
	}
	return d
}

// parseHidden reads --hidden: comma-separated widths, or 0/none for heads
// on the inputs.
func parseHidden(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "0" || s == "none" || s == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 1<<20 {
			return nil, fmt.Errorf("%q is not a layer width (want e.g. 64 or 256,128, or none)", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// posWeights applies --pos-weight to the binary tasks: "none", "auto"
// (the ratio of negative to positive training labels) or a number.
func posWeights(tasks []mtl.Task, labels [][]float32, flag string) error {
	switch flag {
	case "", "none", "1":
		return nil
	}
	fixed := 0.0
	if flag != "auto" {
		v, err := strconv.ParseFloat(flag, 64)
		if err != nil || !(v > 0) || math.IsInf(v, 0) {
			return usageError("--pos-weight: %q is not auto, none or a positive number", flag)
		}
		fixed = v
	}
	for i := range tasks {
		if tasks[i].Type != mtl.Binary {
			continue
		}
		if fixed > 0 {
			tasks[i].PosWeight = fixed
			continue
		}
		var pos, neg float64
		for _, y := range labels[i] {
			switch y {
			case 1:
				pos++
			case 0:
				neg++
			}
		}
		if pos > 0 && neg > 0 {
			tasks[i].PosWeight = neg / pos
		}
	}
	return nil
}

// split divides the rows 0..n-1 at random into a part of about frac of
// them and the rest, from seed. With groups, each group is split on its
// own, so that every group with two rows or more is on both sides.
func split(n int, frac float64, seed uint64, groups []int32) (rest, part []int) {
	rng := rand.New(rand.NewPCG(seed, 0x73706c74))
	byGroup := map[int32][]int{}
	var order []int32
	for i := range n {
		g := int32(0)
		if groups != nil {
			g = groups[i]
		}
		if _, ok := byGroup[g]; !ok {
			order = append(order, g)
		}
		byGroup[g] = append(byGroup[g], i)
	}
	for _, g := range order {
		rows := byGroup[g]
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		k := int(math.Round(frac * float64(len(rows))))
		if len(rows) >= 2 {
			k = min(max(k, 1), len(rows)-1)
		} else {
			k = 0
		}
		part = append(part, rows[:k]...)
		rest = append(rest, rows[k:]...)
	}
	return rest, part
}

// subTable returns the rows of t in the given order.
func subTable(t *data.Table, rows []int) *data.Table {
	s := &data.Table{Path: t.Path, Header: t.Header}
	for _, r := range rows {
		s.Rows = append(s.Rows, t.Rows[r])
		s.Lines = append(s.Lines, t.Lines[r])
	}
	return s
}

// holdOut splits a table at random, by group when there is a group
// column, keeping frac of each group's rows for training.
func holdOut(t *data.Table, groupCol string, frac float64, seed uint64) (*data.Table, *data.Table, error) {
	var groups []int32
	if groupCol != "" {
		c := t.Column(groupCol)
		if c < 0 {
			return nil, nil, &data.Error{File: t.Path, Line: 1, Column: groupCol, Err: fmt.Errorf("group column missing from the file")}
		}
		ids := map[string]int32{}
		for _, row := range t.Rows {
			v := strings.TrimSpace(row[c])
			if _, ok := ids[v]; !ok {
				ids[v] = int32(len(ids))
			}
			groups = append(groups, ids[v])
		}
	}
	held, train := split(len(t.Rows), frac, seed, groups)
	return subTable(t, train), subTable(t, held), nil
}

// loadModel reads a model file and its schema.
func loadModel(path string) (*mtl.Checkpoint, *data.Schema, error) {
	ck, meta, err := mtl.LoadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var s data.Schema
	if err := json.Unmarshal(meta, &s); err != nil {
		return nil, nil, fmt.Errorf("%s: %w: preprocessing: %v", path, mtl.ErrNotModel, err)
	}
	if err := s.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w: %v", path, mtl.ErrNotModel, err)
	}
	if s.Dim() != ck.Model.Spec.Inputs || len(s.Targets) != len(ck.Model.Spec.Tasks) {
		return nil, nil, fmt.Errorf("%s: %w: preprocessing does not fit the architecture", path, mtl.ErrNotModel)
	}
	return ck, &s, nil
}
