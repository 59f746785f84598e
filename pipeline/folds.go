package pipeline

import (
	"cmp"
	"math/rand/v2"
	"slices"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/metrics"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// CrossFit records the folds of a cross-validated run.
type CrossFit struct {
	// Folds is K; Seed draws the assignment of rows to folds; StratifyBy
	// names the task the folds are stratified on ("" for none).
	Folds      int    `json:"folds"`
	Seed       uint64 `json:"seed"`
	StratifyBy string `json:"stratify_by,omitempty"`
}

// folds assigns each of n rows to one of k folds, from seed. Rows are
// grouped in cells by group (when there are groups) and stratum (the class
// of the first classification task, a missing label being a stratum of
// its own); each cell is shuffled, and its rows are dealt to the folds in
// turn, the dealing going on from cell to cell. So every group is split
// across the folds, each fold has about its share of every class, and
// fold sizes differ by at most one.
func folds(n, k int, groups, strata []int32, seed uint64) []int8 {
	type cell struct{ group, stratum int32 }
	cells := map[cell][]int{}
	var order []cell
	for i := range n {
		c := cell{-1, -1}
		if groups != nil {
			c.group = groups[i]
		}
		if strata != nil {
			c.stratum = strata[i]
		}
		if _, ok := cells[c]; !ok {
			order = append(order, c)
		}
		cells[c] = append(cells[c], i)
	}
	slices.SortFunc(order, func(a, b cell) int {
		if a.group != b.group {
			return cmp.Compare(a.group, b.group)
		}
		return cmp.Compare(a.stratum, b.stratum)
	})
	rng := rand.New(rand.NewPCG(seed, 0x666f6c64))
	out := make([]int8, n)
	next := 0
	for _, c := range order {
		rows := cells[c]
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		for _, r := range rows {
			out[r] = int8(next)
			next = (next + 1) % k
		}
	}
	return out
}

// crossFit sets the training and validation rows of a cross-validated
// run: every row trains the members of the other folds and validates the
// member of its own, which stops early on it. The folds are drawn from
// the groups and strata of the rows of base (train's rows, in order).
func (r *Run) crossFit(all *mtl.Dataset, keys rowKeys, base []int) {
	rec := &r.Record
	k := r.Spec.Members
	var groups, strata []int32
	if keys.groups != nil {
		groups = make([]int32, len(base))
		for j, row := range base {
			groups[j] = keys.groups[row]
		}
	}
	if keys.strata != nil {
		strata = make([]int32, len(base))
		for j, row := range base {
			strata[j] = keys.strata[row]
		}
	}
	if r.Checkpoint == nil {
		rec.CV = &CrossFit{Folds: k, Seed: r.Config.Seed + 2, StratifyBy: stratifiedBy(r.Schema)}
	}
	r.folds = folds(all.N, k, groups, strata, rec.CV.Seed)
	everyone := uint64(1)<<k - 1
	train, val := *all, *all
	train.Members, val.Members = make([]uint64, all.N), make([]uint64, all.N)
	for i, f := range r.folds {
		train.Members[i] = everyone &^ (1 << f)
		val.Members[i] = 1 << f
	}
	r.Train, r.Val = &train, &val
}

// stratifiedBy names the target whose classes are the strata of the
// folds: the first classification target, or "" for none.
func stratifiedBy(s *data.Schema) string {
	for _, tg := range s.Targets {
		if tg.Type != data.Regression {
			return tg.Name
		}
	}
	return ""
}

// outOfFold scores every row with the member that did not learn from it,
// as eval scores a file.
func (r *Run) outOfFold(b backend.Backend, model *mtl.Model) (*metrics.Report, error) {
	per, err := model.PredictMembers(b, r.Train)
	if err != nil {
		return nil, err
	}
	sc := newScorer(r.Schema, model.Spec)
	sc.add(r.Train.Labels, outOfFold(per, r.folds, model.Spec), groupsOf(r.Train), nil, nil)
	rep := sc.report()
	return &rep, nil
}

// outOfFold picks, for every row, the predictions of the member of its
// fold.
func outOfFold(per [][][]float32, folds []int8, spec mtl.Spec) [][]float32 {
	oof := make([][]float32, len(spec.Tasks))
	for t, task := range spec.Tasks {
		k := 1
		if task.Type == mtl.Multiclass {
			k = task.Classes
		}
		oof[t] = make([]float32, len(folds)*k)
		for i, f := range folds {
			copy(oof[t][i*k:(i+1)*k], per[f][t][i*k:(i+1)*k])
		}
	}
	return oof
}
