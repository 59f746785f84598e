package main

import (
	"encoding/json"
	"fmt"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/pipeline"
	"github.com/spf13/cobra"
)

// loadApplied loads a model, after checking the flags that name the
// data, and returns the device to run it on: opened when first needed (a
// file refused at its first rows opens none) and closed by close.
func (a *app) loadApplied(modelPath string, in *inputFlags) (m *pipeline.Model, di pipeline.DataInput, dev pipeline.Device, close func(), err error) {
	if modelPath == "" {
		return nil, di, nil, nil, usageError("--model is required")
	}
	if di, err = in.input(); err != nil {
		return nil, di, nil, nil, err
	}
	if m, err = pipeline.LoadModel(modelPath); err != nil {
		return nil, di, nil, nil, err
	}
	var b backend.Backend
	dev = func() (backend.Backend, error) {
		var err error
		b, err = a.openDevice()
		return b, err
	}
	close = func() {
		if b != nil {
			b.Close()
		}
	}
	return m, di, dev, close, nil
}

// evalHelp documents every metric eval reports.
const evalHelp = `eval predicts every task of a model on a labelled file and scores it.

Per task (rows with a missing label are skipped; n counts the others):
  binary      accuracy; f1, the F1 score of the positive class; auc, the area
              under the ROC curve; log_loss. The positive class is the second
              of the task's two classes as train read them (1, true, yes, or
              the later of two labels in sorted order; "mtl-gpu info MODEL"
              names it); a row is predicted positive at probability ≥ 0.5.
  multiclass  accuracy; macro_f1, the mean F1 over the classes present in the
              labels or the predictions; log_loss.
  regression  rmse and mae, in the target's units; r2 = 1 − SSE/SST;
              explained_variance = 1 − Var(y − ŷ)/Var(y), which ignores a
              constant bias that r2 counts.
log_loss is the mean of −log p(true class), p clipped to [1e−15, 1 − 1e−15].
An undefined metric (an AUC with one class present, say) is "-", or null in
JSON.

A family (a target split by --group-column, one head per group) is one task:
its metrics are over all of its rows, and the metrics of each group's rows
are listed under it (indented as @GROUP; under "groups" in JSON).

Overall, each metric is the unweighted mean of a per-task metric over the
tasks of one type, named TYPE_mean_METRIC: binary_mean_accuracy,
binary_mean_f1, binary_mean_auc, binary_mean_log_loss,
multiclass_mean_accuracy, multiclass_mean_macro_f1, multiclass_mean_log_loss,
regression_mean_rmse, regression_mean_mae, regression_mean_r2 and
regression_mean_explained_variance. A family counts once; tasks where a
metric is undefined are left out of its mean. Rows are never pooled across
tasks, but the means of rmse and mae mix the units of their tasks.

A labelled row whose class was not seen in training counts as an error in
accuracy and is left out of the other metrics (the probabilities have no such
class); a warning gives the count, and JSON gives it as unseen_class_rows.

With --json eval prints one JSON object and nothing else on standard output.`

func (a *app) evalCommand() *cobra.Command {
	var modelPath string
	var in inputFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "eval --model MODEL --data FILE [--features FILE.npy[:PREFIX]] [--json]",
		Short: "Score a model on labelled data",
		Long:  evalHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, di, dev, close, err := a.loadApplied(modelPath, &in)
			if err != nil {
				return err
			}
			defer close()
			ev, err := m.Evaluate(cmd.Context(), dev, di)
			if err != nil {
				return err
			}
			a.warn(ev.Warnings)
			if !asJSON {
				_, err = fmt.Fprint(a.stdout, ev.Report.Table())
				return err
			}
			out, err := json.Marshal(ev.Report)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "%s\n", out)
			return err
		},
	}
	cmd.Flags().StringVar(&modelPath, "model", "", "model file written by train")
	in.register(cmd.Flags(), "labelled data, with the model's feature and target columns")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func (a *app) predictCommand() *cobra.Command {
	var modelPath, out string
	var in inputFlags
	var keep []string
	cmd := &cobra.Command{
		Use:   "predict --model MODEL --data FILE [--features FILE.npy[:PREFIX]] --out FILE|-",
		Short: "Write a model's predictions for a data file",
		Long: `predict writes a CSV file (standard output with --out -): the columns named by
--keep passed through, then for every task, in the model's task order, its
prediction (the class label as written in training, or the value) and, for
classification, one probability column per class named TASK:p(CLASS). A
family of tasks gives one column, each row predicted by its own group's head
(the shared head for a group unseen in training). A kept column that is a
task's target stays as it is, and the prediction beside it is named
TASK:pred. --out is never the data or the model file. The file is read and
the predictions written as they are made, in memory that does not grow with
the file. A model trained with --features needs the same columns here: give
--features with a matrix of this file's rows.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageError("--out is required (- for standard output)")
			}
			inputs := []pipeline.Input{{Option: "data", Path: in.data}, {Option: "model", Path: modelPath}}
			for _, f := range in.features {
				inputs = append(inputs, pipeline.Input{Option: "features", Path: f})
			}
			if err := pipeline.CheckOutput("out", out, inputs...); err != nil {
				return err
			}
			m, di, dev, close, err := a.loadApplied(modelPath, &in)
			if err != nil {
				return err
			}
			defer close()
			rows, warnings, err := m.PredictFile(cmd.Context(), dev, di, out, keep, a.stdout)
			a.warn(warnings)
			if err == nil && out != "-" {
				a.log.Info("predictions written", "rows", rows, "file", out)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&modelPath, "model", "", "model file written by train")
	in.register(cmd.Flags(), "data with the model's feature columns")
	cmd.Flags().StringVar(&out, "out", "", "CSV file to write, or - for standard output")
	cmd.Flags().StringSliceVar(&keep, "keep", nil, "input columns to copy into the output (an id, or a target to compare with its prediction)")
	return cmd
}
