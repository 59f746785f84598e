package pipeline

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/metrics"
	"github.com/mtl-gpu/mtl-gpu/mtl"
	"github.com/mtl-gpu/mtl-gpu/stream"
)

// SingleTask names the baseline of one model per task in comparisons.
const SingleTask = "single-task"

// Comparison holds every held-out metric: values[method][task][seed].
type Comparison struct {
	seeds   int
	tasks   []string
	metric  []string
	methods []string
	values  map[string][][]float64
	rows    []int // training rows per seed
}

// CompareOptions define a comparison: the run's options (data, tasks,
// architecture, training configuration; the weighting is set per method),
// an optional held-out file, the weighting methods, the number of seeds and,
// without a test file, the share of each group's rows that trains.
type CompareOptions struct {
	Options
	Test          string
	Methods       []mtl.Method
	Seeds         int
	TrainFraction float64
}

// Comparer is a prepared comparison: its options checked and its files
// opened.
type Comparer struct {
	o          CompareOptions
	opts       data.Options
	full, test data.Source
	groups     []int32 // each row's group by first appearance, for the holdout
	rows       int
}

// PrepareCompare checks the options and the columns of the data, without
// touching a device. Close releases the files.
func PrepareCompare(o CompareOptions) (*Comparer, error) {
	if err := o.validateCompare(); err != nil {
		return nil, err
	}
	opts, err := o.dataOptions()
	if err != nil {
		return nil, err
	}
	cp := &Comparer{o: o, opts: opts}
	if cp.full, err = (DataInput{Path: o.Data, Features: o.Features, MaxRowBytes: o.MaxRowBytes}).open(); err != nil {
		return nil, err
	}
	if err := checkColumns(cp.full, o.Options, opts); err != nil {
		cp.Close()
		return nil, err
	}
	if o.Test != "" {
		if cp.test, err = (DataInput{Path: o.Test, MaxRowBytes: o.MaxRowBytes}).open(); err != nil {
			cp.Close()
			return nil, err
		}
	}
	return cp, nil
}

// Close releases the comparison's files.
func (cp *Comparer) Close() {
	for _, s := range []data.Source{cp.full, cp.test} {
		if s != nil {
			s.Close()
		}
	}
}

// Run trains, on the same data, architecture and budget, one model per
// task on that task's rows alone (one per group for a family) and the
// multi-task model with each weighting method, over several seeds, and
// scores each on held-out rows. done, when not nil, is called after each
// method and seed.
func (cp *Comparer) Run(ctx context.Context, b backend.Backend, done func(method string, seed int)) (*Comparison, error) {
	res := &Comparison{seeds: cp.o.Seeds, methods: []string{SingleTask}, values: map[string][][]float64{}}
	for _, m := range cp.o.Methods {
		res.methods = append(res.methods, string(m))
	}
	for seed := range cp.o.Seeds {
		train, test, schema, err := cp.encode(ctx, uint64(seed))
		if err != nil {
			return nil, err
		}
		if err := res.addSeed(ctx, b, cp.o, schema, train, test, seed, done); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// encode fits the schema of one seed and encodes its training and
// held-out rows: the test file's, or, without one, a fresh random part of
// every group (or of the rows) held out by the seed before anything is
// learnt.
func (cp *Comparer) encode(ctx context.Context, seed uint64) (train, test *data.Encoded, s *data.Schema, err error) {
	opts := cp.opts
	if cp.test != nil {
		res, err := data.FitSource(ctx, cp.full, opts)
		if err != nil {
			return nil, nil, nil, err
		}
		encs, _, err := res.Schema.EncodeSource(ctx, cp.full, data.EncodeOptions{Targets: true})
		if err != nil {
			return nil, nil, nil, err
		}
		tests, _, err := res.Schema.EncodeSource(ctx, cp.test, data.EncodeOptions{Targets: true})
		if err != nil {
			return nil, nil, nil, err
		}
		return encs[0], tests[0], res.Schema, nil
	}
	if err := cp.scanGroups(ctx); err != nil {
		return nil, nil, nil, err
	}
	held, kept := split(cp.rows, cp.o.TrainFraction, seed, cp.groups)
	parts, positions := make([]int8, cp.rows), make([]int32, cp.rows)
	for j, i := range kept {
		parts[i], positions[i] = 0, int32(j)
	}
	for j, i := range held {
		parts[i], positions[i] = 1, int32(j)
	}
	opts.Include = func(row int64) bool { return parts[row] == 0 }
	res, err := data.FitSource(ctx, cp.full, opts)
	if err != nil {
		return nil, nil, nil, err
	}
	encs, _, err := res.Schema.EncodeSource(ctx, cp.full, data.EncodeOptions{Targets: true, Parts: parts, Positions: positions, NumParts: 2})
	if err != nil {
		return nil, nil, nil, err
	}
	return encs[0], encs[1], res.Schema, nil
}

// scanGroups reads, once, each row's group (by the trimmed text of the
// group column, in order of first appearance) and the number of rows.
func (cp *Comparer) scanGroups(ctx context.Context) error {
	if cp.rows > 0 {
		return nil
	}
	if cp.o.GroupColumn == "" {
		n, err := countRows(ctx, cp.full)
		cp.rows = int(n)
		return err
	}
	ids := map[string]int32{}
	err := scanTexts(ctx, cp.full, []string{cp.o.GroupColumn}, []string{"group"}, func(_ int64, t []string) {
		id, ok := ids[t[0]]
		if !ok {
			id = int32(len(ids))
			ids[t[0]] = id
		}
		cp.groups = append(cp.groups, id)
	})
	cp.rows = len(cp.groups)
	return err
}

func (o *CompareOptions) validateCompare() error {
	if err := o.Options.validate(); err != nil {
		return err
	}
	switch {
	case o.Data == "":
		return optionErrorf("data", "", "required")
	case o.Memory.Mode == stream.Always:
		return optionErrorf("stream", "", "compare holds its rows in memory: it cannot stream them")
	case len(o.Tasks) == 0:
		return ErrNoTasks
	case o.Seeds < 1:
		return optionErrorf("seeds", fmt.Sprint(o.Seeds), "must be at least 1")
	case o.Test == "" && !(o.TrainFraction > 0 && o.TrainFraction < 1):
		return optionErrorf("train-fraction", fmt.Sprint(o.TrainFraction), "must be in (0, 1)")
	case o.AutoWidth:
		return optionErrorf("hidden", "auto", "compare needs fixed widths")
	case o.Test != "" && len(o.Features) > 0:
		return optionErrorf("features", o.Features[0].String(), "joins --data row by row and cannot join --test too: hold out part of --data with --train-fraction instead")
	}
	return nil
}

// addSeed trains and scores every method, and the single-task models, on
// one seed's encoded rows.
func (c *Comparison) addSeed(ctx context.Context, b backend.Backend, o CompareOptions, schema *data.Schema, encTrain, encTest *data.Encoded, seed int, done func(string, int)) error {
	spec := mtl.Spec{Inputs: encTrain.D, Embeddings: specEmbeddings(schema), Hidden: o.Hidden, Activation: o.Activation, Tasks: specTasks(schema)}
	if err := posWeights(spec.Tasks, o.PosWeight, encTrain.Labels); err != nil {
		return err
	}
	if c.tasks == nil {
		for _, t := range spec.Tasks {
			c.tasks = append(c.tasks, t.Name)
			c.metric = append(c.metric, compareMetricName(t.Type))
		}
		for _, m := range c.methods {
			c.values[m] = make([][]float64, len(c.tasks))
		}
	}
	c.rows = append(c.rows, encTrain.N)
	trainSet, testSet := dataset(encTrain, len(spec.Tasks)), dataset(encTest, len(spec.Tasks))
	cfg := o.Train
	cfg.Seed = uint64(seed)
	for _, m := range o.Methods {
		cm := cfg
		cm.Weighting.Method = m
		model, err := fitHeldOut(ctx, b, spec, cm, trainSet, o.ValSplit)
		if err != nil {
			return fmt.Errorf("%s, seed %d: %w", m, seed, err)
		}
		preds, err := model.Predict(b, testSet)
		if err != nil {
			return err
		}
		for t, task := range spec.Tasks {
			c.values[string(m)][t] = append(c.values[string(m)][t], compareMetric(task, schema.Targets[t].Offset, testSet.Labels[t], preds[t]))
		}
		if done != nil {
			done(string(m), seed)
		}
	}
	for t, task := range spec.Tasks {
		preds, err := singleTaskPredictions(ctx, b, spec, t, cfg, trainSet, testSet, o.ValSplit)
		if err != nil {
			return fmt.Errorf("single-task %s, seed %d: %w", task.Name, seed, err)
		}
		c.values[SingleTask][t] = append(c.values[SingleTask][t], compareMetric(task, schema.Targets[t].Offset, testSet.Labels[t], preds))
	}
	if done != nil {
		done(SingleTask, seed)
	}
	return nil
}

// fitHeldOut trains a fresh model with a validation split of valFrac for
// early stopping and returns it.
func fitHeldOut(ctx context.Context, b backend.Backend, spec mtl.Spec, cfg mtl.Config, d *mtl.Dataset, valFrac float64) (*mtl.Model, error) {
	train, val := d, (*mtl.Dataset)(nil)
	if valFrac > 0 && d.N >= 2 {
		var groups []int32
		for _, g := range d.Groups {
			if g != nil {
				groups = g
				break
			}
		}
		tr, va := split(d.N, valFrac, cfg.Seed+1, groups)
		train, val = d.Rows(tr, spec.Inputs), d.Rows(va, spec.Inputs)
	}
	model, err := mtl.NewModel(spec, train, cfg.Seed)
	if err != nil {
		return nil, err
	}
	tr, err := mtl.NewTrainer(b, model, cfg, train, val, nil)
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	return model, tr.Fit(ctx, mtl.Hooks{})
}

// singleTaskPredictions trains task t alone (one model per group for a
// family, each on its group's rows) and predicts it on the test set.
func singleTaskPredictions(ctx context.Context, b backend.Backend, spec mtl.Spec, t int, cfg mtl.Config, train, test *mtl.Dataset, valFrac float64) ([]float32, error) {
	task := spec.Tasks[t]
	one := spec
	plain := task
	plain.Groups = 0
	one.Tasks = []mtl.Task{plain}
	k := 1
	if task.Type == mtl.Multiclass {
		k = task.Classes
	}
	preds := make([]float32, test.N*k)
	groups := []int32{0}
	if task.Groups > 0 {
		groups = groups[:0]
		for g := range int32(task.Groups) {
			groups = append(groups, g)
		}
	}
	for _, g := range groups {
		inGroup := func(d *mtl.Dataset, i int) bool { return task.Groups == 0 || d.Groups[t][i] == g }
		var trainRows, testRows []int
		for i, y := range train.Labels[t] {
			if !math.IsNaN(float64(y)) && inGroup(train, i) {
				trainRows = append(trainRows, i)
			}
		}
		for i := range test.N {
			if inGroup(test, i) {
				testRows = append(testRows, i)
			}
		}
		if len(testRows) == 0 {
			continue
		}
		if len(trainRows) == 0 {
			return nil, fmt.Errorf("group %d has test rows but no training rows", g)
		}
		tr := train.Rows(trainRows, spec.Inputs)
		tr.Labels, tr.Groups = tr.Labels[t:t+1], [][]int32{nil}
		model, err := fitHeldOut(ctx, b, one, cfg, tr, valFrac)
		if err != nil {
			return nil, err
		}
		te := test.Rows(testRows, spec.Inputs)
		te.Labels, te.Groups = nil, [][]int32{nil}
		p, err := model.Predict(b, te)
		if err != nil {
			return nil, err
		}
		for j, r := range testRows {
			copy(preds[r*k:(r+1)*k], p[0][j*k:(j+1)*k])
		}
	}
	return preds, nil
}

func compareMetricName(t mtl.TaskType) string {
	switch t {
	case mtl.Multiclass:
		return "accuracy"
	case mtl.Binary:
		return "auc"
	}
	return "explained_variance"
}

// compareMetric is a task's held-out score, higher better: accuracy
// (multiclass), AUC (binary) or the pooled R² 1 − SSE/SST (regression,
// the target's offset added back to labels and predictions).
func compareMetric(t mtl.Task, offset float64, labels, preds []float32) float64 {
	if t.Type != mtl.Regression {
		_, v := primaryMetric(t, 0, labels, preds)
		return v
	}
	v, ok := metrics.PooledR2(withOffset(labels, offset), withOffset(preds, offset))
	if !ok {
		return math.NaN()
	}
	return v
}

func meanStd(v []float64) (float64, float64) {
	var s float64
	for _, x := range v {
		s += x
	}
	m := s / float64(len(v))
	var ss float64
	for _, x := range v {
		ss += (x - m) * (x - m)
	}
	if len(v) < 2 {
		return m, 0
	}
	return m, math.Sqrt(ss / float64(len(v)-1))
}

// deltaM returns, per seed, method's mean relative change against the
// single-task models over tasks, in %, signed so that lower is better
// (every metric here is higher-better).
func (c *Comparison) deltaM(method string) []float64 {
	out := make([]float64, c.seeds)
	for s := range c.seeds {
		for t := range c.tasks {
			base := c.values[SingleTask][t][s]
			out[s] -= 100 * (c.values[method][t][s] - base) / math.Abs(base) / float64(len(c.tasks))
		}
	}
	return out
}

// meanRanks ranks the methods on each task by mean metric (1 is best, ties
// share their mean rank) and averages over tasks.
func (c *Comparison) meanRanks() map[string]float64 {
	ranks := map[string]float64{}
	for t := range c.tasks {
		means := map[string]float64{}
		for _, m := range c.methods {
			means[m], _ = meanStd(c.values[m][t])
		}
		for _, m := range c.methods {
			better, same := 0, 0
			for _, o := range c.methods {
				switch {
				case means[o] > means[m]:
					better++
				case means[o] == means[m]:
					same++
				}
			}
			ranks[m] += (float64(better) + float64(same+1)/2) / float64(len(c.tasks))
		}
	}
	return ranks
}

// Table formats the comparison for a terminal: per task the mean ± std
// of each method, then Δm% and the mean rank.
func (c *Comparison) Table() string {
	var sb strings.Builder
	rows, _ := meanStd(intsToFloats(c.rows))
	fmt.Fprintf(&sb, "held-out metric, mean ± std over %d seeds (%.0f training rows)\n", c.seeds, rows)
	tw := tabwriter.NewWriter(&sb, 2, 4, 2, ' ', 0)
	fmt.Fprint(tw, "task\tmetric")
	for _, m := range c.methods {
		fmt.Fprintf(tw, "\t%s", m)
	}
	fmt.Fprintln(tw)
	for t, name := range c.tasks {
		fmt.Fprintf(tw, "%s\t%s", name, c.metric[t])
		for _, m := range c.methods {
			mean, std := meanStd(c.values[m][t])
			fmt.Fprintf(tw, "\t%.4f ± %.4f", mean, std)
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprint(tw, "Δm% (lower is better)\t")
	for _, m := range c.methods {
		mean, std := meanStd(c.deltaM(m))
		fmt.Fprintf(tw, "\t%+.2f ± %.2f", mean, std)
	}
	fmt.Fprintln(tw)
	ranks := c.meanRanks()
	fmt.Fprint(tw, "mean rank\t")
	for _, m := range c.methods {
		fmt.Fprintf(tw, "\t%.2f", ranks[m])
	}
	fmt.Fprintln(tw)
	tw.Flush()
	return sb.String()
}

func intsToFloats(v []int) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

type stat struct {
	Mean   float64   `json:"mean"`
	Std    float64   `json:"std"`
	Values []float64 `json:"values"`
}

func newStat(v []float64) stat {
	m, s := meanStd(v)
	return stat{Mean: m, Std: s, Values: slices.Clone(v)}
}

// JSON returns the comparison as a value to marshal.
func (c *Comparison) JSON() any {
	tasks := map[string]any{}
	for t, name := range c.tasks {
		results := map[string]stat{}
		for _, m := range c.methods {
			results[m] = newStat(c.values[m][t])
		}
		tasks[name] = map[string]any{"metric": c.metric[t], "results": results}
	}
	delta := map[string]stat{}
	for _, m := range c.methods {
		delta[m] = newStat(c.deltaM(m))
	}
	return map[string]any{
		"seeds":         c.seeds,
		"methods":       c.methods,
		"training_rows": c.rows,
		"tasks":         tasks,
		"delta_m":       delta,
		"mean_rank":     c.meanRanks(),
	}
}
