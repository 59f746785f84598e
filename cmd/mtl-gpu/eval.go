package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/metrics"
	"github.com/mtl-gpu/mtl-gpu/mtl"
	"github.com/spf13/cobra"
)

// applied is a model run on a data file.
type applied struct {
	table  *data.Table
	schema *data.Schema
	model  *mtl.Model
	enc    *data.Encoded
	preds  [][]float32
}

// apply loads a model, encodes a data file with its preprocessing and
// predicts every task on the chosen device.
func (a *app) apply(modelPath, dataPath string, withTargets bool) (*applied, error) {
	if modelPath == "" {
		return nil, usageError("--model is required")
	}
	if dataPath == "" {
		return nil, usageError("--data is required")
	}
	ck, schema, err := loadModel(modelPath)
	if err != nil {
		return nil, err
	}
	table, err := data.ReadFile(dataPath)
	if err != nil {
		return nil, err
	}
	enc, err := schema.Encode(table, withTargets)
	if err != nil {
		return nil, err
	}
	for _, w := range enc.Warnings {
		a.log.Warn(w)
	}
	b, err := a.openDevice()
	if err != nil {
		return nil, err
	}
	defer b.Close()
	preds, err := ck.Model.Predict(b, dataset(enc, len(schema.Targets)))
	if err != nil {
		return nil, err
	}
	return &applied{table: table, schema: schema, model: ck.Model, enc: enc, preds: preds}, nil
}

func (a *app) evalCommand() *cobra.Command {
	var modelPath, dataPath string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "eval --model MODEL --data FILE [--json]",
		Short: "Score a model on labelled data",
		Long: `eval predicts every task of a model on a labelled file and reports, per task,
accuracy, macro-F1 and log loss (multiclass); accuracy, F1, AUC and log loss
(binary); RMSE, MAE, R² and explained variance (regression); and overall
means over tasks of each kind. With a group column, each group's head is a
task named TARGET@GROUP, and the overall regression metrics pool all rows.
With --json it prints one JSON object and nothing else on standard output.
An undefined metric (an AUC with one class present, say) is null.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ap, err := a.apply(modelPath, dataPath, true)
			if err != nil {
				return err
			}
			report := ap.report()
			if asJSON {
				out, err := json.Marshal(report)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(a.stdout, "%s\n", out)
				return err
			}
			_, err = fmt.Fprint(a.stdout, report.Table())
			return err
		},
	}
	cmd.Flags().StringVar(&modelPath, "model", "", "model file written by train")
	cmd.Flags().StringVar(&dataPath, "data", "", "labelled data, with the model's feature and target columns")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

// report scores every task; a family is scored head by head.
func (ap *applied) report() metrics.Report {
	var names []string
	var scores []metrics.TaskMetrics
	for t, task := range ap.model.Spec.Tasks {
		for _, part := range ap.parts(t) {
			names = append(names, part.name)
			scores = append(scores, ap.score(t, task, part.rows))
		}
	}
	return metrics.Summarise(names, scores)
}

type rowSet struct {
	name string
	rows []int // nil: all rows
}

// parts splits the rows of task t by group, named TARGET@GROUP in the
// order of the schema's groups, then groups unseen in training by value.
func (ap *applied) parts(t int) []rowSet {
	name := ap.schema.Targets[t].Name
	if ap.schema.GroupColumn == "" {
		return []rowSet{{name: name}}
	}
	col := ap.table.Column(ap.schema.GroupColumn)
	byName := map[string]*rowSet{}
	var order []string
	for i, g := range ap.enc.Groups {
		key := strings.TrimSpace(ap.table.Rows[i][col])
		if g >= 0 {
			key = ap.schema.Groups[g]
		}
		if byName[key] == nil {
			byName[key] = &rowSet{name: name + "@" + key, rows: []int{}}
			order = append(order, key)
		}
		byName[key].rows = append(byName[key].rows, i)
	}
	var out []rowSet
	for _, g := range ap.schema.Groups {
		if s := byName[g]; s != nil {
			out = append(out, *s)
			delete(byName, g)
		}
	}
	for _, k := range order {
		if s := byName[k]; s != nil {
			out = append(out, *s)
		}
	}
	return out
}

// score computes task t's metrics on a set of rows.
func (ap *applied) score(t int, task mtl.Task, rows []int) metrics.TaskMetrics {
	if rows == nil {
		rows = make([]int, ap.enc.N)
		for i := range rows {
			rows[i] = i
		}
	}
	labels := ap.enc.Labels[t]
	p := ap.preds[t]
	switch task.Type {
	case mtl.Multiclass:
		k := task.Classes
		y := make([]int, len(rows))
		probs := make([]float64, 0, len(rows)*k)
		for i, r := range rows {
			y[i] = -1
			if v := labels[r]; v == v {
				y[i] = int(v)
			}
			for c := range k {
				probs = append(probs, float64(p[r*k+c]))
			}
		}
		return metrics.Multiclass(y, probs, k)
	case mtl.Binary:
		y, probs := make([]float64, len(rows)), make([]float64, len(rows))
		for i, r := range rows {
			y[i], probs[i] = float64(labels[r]), float64(p[r])
		}
		return metrics.Binary(y, probs)
	}
	y, pred := make([]float64, len(rows)), make([]float64, len(rows))
	for i, r := range rows {
		y[i], pred[i] = float64(labels[r]), float64(p[r])
	}
	return metrics.Regression(y, pred)
}

func (a *app) predictCommand() *cobra.Command {
	var modelPath, dataPath, out string
	var keep []string
	cmd := &cobra.Command{
		Use:   "predict --model MODEL --data FILE --out FILE",
		Short: "Write a model's predictions for a data file",
		Long: `predict writes a CSV file: the columns named by --keep passed through, then
for every task its prediction (the class label as written in training, or the
value) and, for classification, one probability column per class named
TASK:p(CLASS). A family of tasks gives one column, each row predicted by its
own group's head (the shared head for a group unseen in training).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageError("--out is required")
			}
			ap, err := a.apply(modelPath, dataPath, false)
			if err != nil {
				return err
			}
			var preds []data.Prediction
			for t, task := range ap.model.Spec.Tasks {
				tg := ap.schema.Targets[t]
				p := data.Prediction{Name: tg.Name, Classes: tg.Classes}
				vals := make([]float64, len(ap.preds[t]))
				for i, v := range ap.preds[t] {
					vals[i] = float64(v)
				}
				if task.Type == mtl.Regression {
					p.Values = vals
				} else {
					p.Probs = vals
				}
				preds = append(preds, p)
			}
			if err := writeFileAtomic(out, func(w *bufio.Writer) error {
				return data.WritePredictions(w, ap.table, keep, preds)
			}); err != nil {
				return err
			}
			a.log.Info("predictions written", "rows", ap.enc.N, "file", out)
			return nil
		},
	}
	cmd.Flags().StringVar(&modelPath, "model", "", "model file written by train")
	cmd.Flags().StringVar(&dataPath, "data", "", "data with the model's feature columns")
	cmd.Flags().StringVar(&out, "out", "", "CSV file to write")
	cmd.Flags().StringSliceVar(&keep, "keep", nil, "input columns to copy into the output (e.g. an id)")
	return cmd
}

// writeFileAtomic writes path through a temporary file renamed into place,
// so that a failed run leaves no partial file.
func writeFileAtomic(path string, write func(*bufio.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
