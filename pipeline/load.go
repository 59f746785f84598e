package pipeline

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/mtl"
	"github.com/mtl-gpu/mtl-gpu/stream"
)

// rowKeys is what splitting needs to know of every row of the data: its
// group (an index into the schema's groups, −1 for none) and its stratum
// (the class of the first classification target, −1 for a missing
// label).
type rowKeys struct {
	rows           int
	groups, strata []int32
}

// The parts of the data file's rows in the encoding pass.
const (
	partTrain = 0
	partVal   = 1
)

// load fits the schema of a new run (or takes the resumed run's), draws
// the holdout, the validation split or the folds, decides whether the
// run streams, and encodes the training and validation rows, each
// straight into its own matrix, or prepares their stream.
func (r *Run) load(ctx context.Context, src data.Source) error {
	base, held, err := r.holdout(ctx, src)
	if err != nil {
		return err
	}
	var keys rowKeys
	switch {
	case r.Checkpoint == nil && held != nil:
		include := make([]bool, len(base)+len(held))
		for _, i := range base {
			include[i] = true
		}
		res, err := r.fitSchema(ctx, src, include)
		if err != nil {
			return err
		}
		keys = rowKeys{rows: int(res.Rows), groups: res.Groups, strata: res.Strata}
	case r.Checkpoint == nil:
		if r.fitted, err = r.firstPass(ctx, src); err != nil {
			return err
		}
		res := r.fitted.FitResult
		keys = rowKeys{rows: int(res.Rows), groups: res.Groups, strata: res.Strata}
	default:
		if keys, err = r.scanKeys(ctx, src); err != nil {
			return err
		}
	}
	if r.meta, err = json.Marshal(r.Schema); err != nil {
		return err
	}
	if r.Checkpoint == nil {
		// The budget, the validation split and the folds follow from the
		// rows that train and validate (see budget.go).
		n := keys.rows
		if base != nil {
			n = len(base)
		}
		r.Options.resolveAuto(n)
	}
	cv := r.Options.CV > 1 || r.Record.CV != nil
	r.recordSplit(cv)
	if r.Checkpoint == nil {
		r.newSpec()
	}
	streamed, need := false, stream.Need{}
	switch {
	case r.Checkpoint != nil && held == nil:
		need, streamed, err = r.resumeStream(src, keys)
	case r.fitted != nil:
		need, streamed, err = r.decide(r.fitted)
	}
	if err != nil {
		return err
	}
	if streamed {
		return r.loadStream(ctx, need)
	}
	encodeFrom := src
	if r.fitted != nil {
		// The first pass's block cache, when it wrote one, is faster to
		// read than the text; once encoded it is no longer needed.
		encodeFrom = r.fitted.Source()
		defer r.closeData()
	}
	return r.encode(ctx, src, encodeFrom, base, held, keys, cv)
}

// encode encodes the training and validation rows of a run held in
// memory from encodeFrom (src, or its block cache), the held-out rows
// from src, and sets the positive-class weights of a new run.
func (r *Run) encode(ctx context.Context, src, encodeFrom data.Source, base, held []int, keys rowKeys, cv bool) error {
	if base == nil {
		base = make([]int, keys.rows)
		for i := range base {
			base[i] = i
		}
	}
	parts, positions, nparts := r.splitRows(base, keys, cv)
	encs, warnings, err := r.Schema.EncodeSource(ctx, encodeFrom, data.EncodeOptions{Targets: true, Parts: parts, Positions: positions, NumParts: nparts})
	if err != nil {
		return err
	}
	r.Warnings = append(r.Warnings, warnings...)
	tasks := len(r.Schema.Targets)
	train := dataset(encs[partTrain], tasks)
	var val *mtl.Dataset
	if nparts > 1 {
		val = dataset(encs[partVal], tasks)
	}
	if r.valPath != "" {
		if val, err = r.encodeFile(ctx, DataInput{Path: r.valPath, MaxRowBytes: r.input.MaxRowBytes}); err != nil {
			return err
		}
	}
	if held != nil {
		if r.Test, err = r.encodeRows(ctx, src, held); err != nil {
			return err
		}
	}
	if r.Checkpoint == nil {
		labels := [][][]float32{train.Labels}
		if val != nil && r.valPath == "" {
			labels = append(labels, val.Labels)
		}
		if err := posWeights(r.Spec.Tasks, r.Options.PosWeight, labels...); err != nil {
			return err
		}
	}
	if cv {
		r.crossFit(train, keys, base)
	} else {
		r.Train, r.Val = train, val
	}
	return r.settle()
}

// settle sets a new run's batch size, epochs and patience by the budget
// rule for its training rows, now known, records them and the validation
// metric, and warns when few validation rows choose the best epoch.
func (r *Run) settle() error {
	if r.Checkpoint == nil {
		var err error
		if r.Record.Budget, err = r.Options.budget(r.TrainRows(), &r.Config); err != nil {
			return err
		}
		if r.Options.Metric != MetricLoss {
			r.Record.Metric = r.Options.Metric
		}
	}
	r.Warnings = append(r.Warnings, fewValidationRows(r.Spec, r.Val)...)
	return nil
}

// holdout splits off the recorded held-out rows (the demonstration's
// test rows): base lists the rows that remain and held the held-out ones,
// each in the order the split draws them; both nil without a holdout.
// Rows are split by the text of the group column, each group on its own.
func (r *Run) holdout(ctx context.Context, src data.Source) (base, held []int, err error) {
	h := r.Record.Holdout
	if h == nil {
		return nil, nil, nil
	}
	var groups []int32
	n := 0
	if h.GroupColumn != "" {
		ids := map[string]int32{}
		err = scanTexts(ctx, src, []string{h.GroupColumn}, []string{"group"}, func(_ int64, t []string) {
			id, ok := ids[t[0]]
			if !ok {
				id = int32(len(ids))
				ids[t[0]] = id
			}
			groups = append(groups, id)
		})
		n = len(groups)
	} else {
		var rows int64
		rows, err = countRows(ctx, src)
		n = int(rows)
	}
	if err != nil {
		return nil, nil, err
	}
	held, base = split(n, 1-h.Fraction, h.Seed, groups)
	return base, held, nil
}

// scanKeys reads, for a resumed run, the group and the stratum of every
// row as its schema names them (the fit of a new run gives them). The
// processes of a data-parallel run share the reading: each reads its
// part of the file and the parts' keys are gathered.
func (r *Run) scanKeys(ctx context.Context, src data.Source) (rowKeys, error) {
	if g := r.Options.Group; g != nil && g.Size() > 1 {
		return sharedKeys(ctx, gatherer{g}, src, r.readKeys)
	}
	return r.readKeys(ctx, src)
}

// readKeys is scanKeys of one process, over src.
func (r *Run) readKeys(ctx context.Context, src data.Source) (rowKeys, error) {
	s := r.Schema
	var names, roles []string
	strata := -1
	if s.GroupColumn != "" {
		names, roles = append(names, s.GroupColumn), append(roles, "group")
	}
	if r.Record.CV != nil {
		for t, tg := range s.Targets {
			if tg.Type != data.Regression {
				strata = t
				names, roles = append(names, tg.Name), append(roles, "target")
				break
			}
		}
	}
	if len(names) == 0 {
		n, err := countRows(ctx, src)
		return rowKeys{rows: int(n)}, err
	}
	var keys rowKeys
	groupIndex, classIndex := indexOf(s.Groups), map[string]int{}
	if strata >= 0 {
		classIndex = indexOf(s.Targets[strata].Classes)
	}
	err := scanTexts(ctx, src, names, roles, func(_ int64, t []string) {
		keys.rows++
		if s.GroupColumn != "" {
			g, ok := groupIndex[t[0]]
			if !ok {
				g = -1
			}
			keys.groups = append(keys.groups, int32(g))
			t = t[1:]
		}
		if strata >= 0 {
			c, ok := classIndex[t[0]]
			if !ok {
				c = -1
			}
			keys.strata = append(keys.strata, int32(c))
		}
	})
	return keys, err
}

// indexOf maps each value to its position.
func indexOf(values []string) map[string]int {
	m := make(map[string]int, len(values))
	for i, v := range values {
		m[v] = i
	}
	return m
}

// recordSplit records the validation split of a new run, as the options
// say: none for a cross-validated run or one with a validation file.
func (r *Run) recordSplit(cv bool) {
	rec := &r.Record
	if r.Checkpoint != nil || cv {
		return
	}
	rec.ValSplit, rec.SplitSeed, rec.SplitBy = r.Options.ValSplit, r.Config.Seed+1, "rows"
	if r.valPath != "" {
		rec.ValSplit = 0
	}
	if r.Schema.GroupColumn != "" {
		rec.SplitBy = "group:" + r.Schema.GroupColumn
	}
}

// splitRows decides the part of every row and its position there: the
// rows of base (in that order) split into training and validation rows
// as the record says (for a new run, as the options say, recorded), or,
// for a cross-validated run or one with a validation file, all training
// rows. Rows outside base are left out.
func (r *Run) splitRows(base []int, keys rowKeys, cv bool) (parts []int8, positions []int32, nparts int) {
	rec := &r.Record
	parts = make([]int8, keys.rows)
	positions = make([]int32, keys.rows)
	for i := range parts {
		parts[i] = -1
	}
	place := func(seq []int, part int8) {
		for j, i := range seq {
			parts[base[i]], positions[base[i]] = part, int32(j)
		}
	}
	if cv || rec.ValSplit == 0 {
		for j, row := range base {
			parts[row], positions[row] = partTrain, int32(j)
		}
		return parts, positions, 1
	}
	var groups []int32
	if rec.SplitBy != "rows" && keys.groups != nil {
		groups = make([]int32, len(base))
		for j, row := range base {
			groups[j] = keys.groups[row]
		}
	}
	trainSeq, valSeq := split(len(base), rec.ValSplit, rec.SplitSeed, groups)
	place(trainSeq, partTrain)
	place(valSeq, partVal)
	return parts, positions, 2
}

// encodeRows encodes the given rows of a source, in that order.
func (r *Run) encodeRows(ctx context.Context, src data.Source, rows []int) (*mtl.Dataset, error) {
	n, err := countRows(ctx, src)
	if err != nil {
		return nil, err
	}
	parts := make([]int8, n)
	positions := make([]int32, n)
	for i := range parts {
		parts[i] = -1
	}
	for j, row := range rows {
		parts[row], positions[row] = 0, int32(j)
	}
	encs, _, err := r.Schema.EncodeSource(ctx, src, data.EncodeOptions{Targets: true, Parts: parts, Positions: positions, NumParts: 1})
	if err != nil {
		return nil, err
	}
	return dataset(encs[0], len(r.Schema.Targets)), nil
}

// encodeFile encodes every row of a labelled file (the validation file).
func (r *Run) encodeFile(ctx context.Context, in DataInput) (*mtl.Dataset, error) {
	src, err := in.open()
	if err != nil {
		return nil, err
	}
	defer src.Close()
	encs, warnings, err := r.Schema.EncodeSource(ctx, src, data.EncodeOptions{Targets: true})
	if err != nil {
		return nil, err
	}
	if encs[0].N == 0 {
		return nil, fmt.Errorf("%s: no validation rows", in.Path)
	}
	r.Warnings = append(r.Warnings, warnings...)
	return dataset(encs[0], len(r.Schema.Targets)), nil
}
