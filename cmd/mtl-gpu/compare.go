package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/metrics"
	"github.com/mtl-gpu/mtl-gpu/mtl"
	"github.com/spf13/cobra"
)

// singleTask names the baseline of one model per task in comparisons.
const singleTask = "single-task"

func (a *app) compareCommand() *cobra.Command {
	f := &trainFlags{cfg: mtl.DefaultConfig()}
	var (
		testPath, methods string
		seeds             int
		asJSON            bool
		trainFraction     float64
	)
	cmd := &cobra.Command{
		Use:   "compare --data FILE --test FILE --task SPEC ... [--weighting a,b,...] [--seeds N] [--json]",
		Short: "Does sharing help? Single-task models against the multi-task model",
		Long: `compare trains, with the same data, architecture and budget, (a) one model
per task on that task's rows alone and (b) the multi-task model with each
chosen weighting, over several seeds, and prints per task the held-out metric
of each (accuracy for multiclass, AUC for binary, explained variance for
regression tasks) as mean ± std, the mean relative change against the
single-task models Δm% (sign-adjusted so that lower is better: negative means
multi-task learning helps) and the mean rank of each method over tasks.

A target split by --group-column is one task (a family); its single-task
baseline is one model per group. Without --test, each seed holds out a fresh
random part of every group (or of the rows): --train-fraction of them train.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ms, err := parseMethods(methods)
			if err != nil {
				return err
			}
			if seeds < 1 {
				return usageError("--seeds must be at least 1")
			}
			if testPath == "" && (trainFraction <= 0 || trainFraction >= 1) {
				return usageError("--train-fraction must be in (0, 1), got %g", trainFraction)
			}
			res, err := a.compare(cmd, f, testPath, ms, seeds, trainFraction)
			if err != nil {
				return err
			}
			if asJSON {
				out, err := json.Marshal(res.json())
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(a.stdout, "%s\n", out)
				return err
			}
			_, err = fmt.Fprint(a.stdout, res.table())
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dataPath, "data", "", "training data (CSV or TSV with a header, optionally .gz)")
	fl.StringVar(&testPath, "test", "", "held-out data to score on (default: split --data by --train-fraction)")
	fl.StringArrayVar(&f.tasks, "task", nil, "target as PATTERN:TYPE[:WEIGHT] (repeatable)")
	fl.StringVar(&methods, "weighting", "equal", "comma-separated weighting methods for the multi-task model")
	fl.IntVar(&seeds, "seeds", 5, "seeds per method (results are mean ± std over them)")
	fl.BoolVar(&asJSON, "json", false, "print one JSON object")
	fl.Float64Var(&trainFraction, "train-fraction", 0.75, "without --test: the share of each group's rows used for training")
	f.register(fl)
	return cmd
}

// comparison holds every held-out metric: values[method][task][seed].
type comparison struct {
	seeds   int
	tasks   []string
	metric  []string
	methods []string
	values  map[string][][]float64
	rows    []int // training rows per seed
}

func (a *app) compare(cmd *cobra.Command, f *trainFlags, testPath string, methods []mtl.Method, seeds int, trainFraction float64) (*comparison, error) {
	if f.dataPath == "" {
		return nil, usageError("--data is required")
	}
	if len(f.tasks) == 0 {
		return nil, usageError("--task is required")
	}
	if err := f.config(); err != nil {
		return nil, err
	}
	hidden, err := parseHidden(f.hidden)
	if err != nil {
		return nil, usageError("--hidden: %v", err)
	}
	act, err := f.act()
	if err != nil {
		return nil, err
	}
	opts, err := f.dataOptions()
	if err != nil {
		return nil, err
	}
	full, err := data.ReadFile(f.dataPath)
	if err != nil {
		return nil, err
	}
	var test *data.Table
	if testPath != "" {
		if test, err = data.ReadFile(testPath); err != nil {
			return nil, err
		}
	}
	b, err := a.openDevice()
	if err != nil {
		return nil, err
	}
	defer b.Close()
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	res := &comparison{seeds: seeds, methods: []string{singleTask}, values: map[string][][]float64{}}
	for _, m := range methods {
		res.methods = append(res.methods, string(m))
	}
	for seed := range seeds {
		train, held := full, test
		if test == nil {
			train, held, err = holdOut(full, f.groupCol, trainFraction, uint64(seed))
			if err != nil {
				return nil, err
			}
		}
		schema, _, err := data.Fit(train, opts)
		if err != nil {
			return nil, err
		}
		encTrain, err := schema.Encode(train, true)
		if err != nil {
			return nil, err
		}
		encTest, err := schema.Encode(held, true)
		if err != nil {
			return nil, err
		}
		if res.tasks == nil {
			for _, t := range specTasks(schema) {
				res.tasks = append(res.tasks, t.Name)
				res.metric = append(res.metric, compareMetricName(t.Type))
			}
			for _, m := range res.methods {
				res.values[m] = make([][]float64, len(res.tasks))
			}
		}
		res.rows = append(res.rows, encTrain.N)
		spec := mtl.Spec{Inputs: encTrain.D, Hidden: hidden, Activation: act, Tasks: specTasks(schema)}
		if err := posWeights(spec.Tasks, encTrain.Labels, f.posWeight); err != nil {
			return nil, err
		}
		trainSet, testSet := dataset(encTrain, len(spec.Tasks)), dataset(encTest, len(spec.Tasks))
		cfg := f.cfg
		cfg.Seed = uint64(seed)
		for _, m := range methods {
			c := cfg
			c.Weighting.Method = m
			model, err := fitQuiet(ctx, b, spec, c, trainSet, f.valSplit)
			if err != nil {
				return nil, fmt.Errorf("%s, seed %d: %w", m, seed, err)
			}
			preds, err := model.Predict(b, testSet)
			if err != nil {
				return nil, err
			}
			for t, task := range spec.Tasks {
				res.values[string(m)][t] = append(res.values[string(m)][t], compareMetric(task, testSet.Labels[t], preds[t]))
			}
			a.log.Info("compare", "method", m, "seed", seed)
		}
		for t, task := range spec.Tasks {
			preds, err := singleTaskPredictions(ctx, b, spec, t, cfg, trainSet, testSet, f.valSplit)
			if err != nil {
				return nil, fmt.Errorf("single-task %s, seed %d: %w", task.Name, seed, err)
			}
			res.values[singleTask][t] = append(res.values[singleTask][t], compareMetric(task, testSet.Labels[t], preds))
		}
		a.log.Info("compare", "method", singleTask, "seed", seed)
	}
	return res, nil
}

// fitQuiet trains a fresh model with a validation split of valFrac for
// early stopping and returns it.
func fitQuiet(ctx context.Context, b backend.Backend, spec mtl.Spec, cfg mtl.Config, d *mtl.Dataset, valFrac float64) (*mtl.Model, error) {
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
		model, err := fitQuiet(ctx, b, one, cfg, tr, valFrac)
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
// (multiclass), AUC (binary) or the pooled explained variance
// 1 − SSE/SST (regression).
func compareMetric(t mtl.Task, labels, preds []float32) float64 {
	if t.Type != mtl.Regression {
		_, v := primaryMetric(t, labels, preds)
		return v
	}
	y := make([]float64, len(labels))
	p := make([]float64, len(preds))
	for i := range labels {
		y[i], p[i] = float64(labels[i]), float64(preds[i])
	}
	rep := metrics.Summarise([]string{t.Name}, []metrics.TaskMetrics{metrics.Regression(y, p)})
	if v := rep.Overall["explained_variance"]; v != nil {
		return *v
	}
	return math.NaN()
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
func (c *comparison) deltaM(method string) []float64 {
	out := make([]float64, c.seeds)
	for s := range c.seeds {
		for t := range c.tasks {
			base := c.values[singleTask][t][s]
			out[s] -= 100 * (c.values[method][t][s] - base) / math.Abs(base) / float64(len(c.tasks))
		}
	}
	return out
}

// meanRanks ranks the methods on each task by mean metric (1 is best, ties
// share their mean rank) and averages over tasks.
func (c *comparison) meanRanks() map[string]float64 {
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

func (c *comparison) table() string {
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

func (c *comparison) json() any {
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
