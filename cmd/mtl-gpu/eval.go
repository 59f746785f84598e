package main

import (
	"encoding/json"
	"fmt"

	"github.com/mtl-gpu/mtl-gpu/pipeline"
	"github.com/spf13/cobra"
)

// apply loads a model, encodes a data file with its preprocessing and
// predicts every task on the chosen device.
func (a *app) apply(modelPath, dataPath string, withTargets bool) (*pipeline.Applied, error) {
	if modelPath == "" {
		return nil, usageError("--model is required")
	}
	if dataPath == "" {
		return nil, usageError("--data is required")
	}
	m, err := pipeline.LoadModel(modelPath)
	if err != nil {
		return nil, err
	}
	ap, err := m.Read(dataPath, withTargets)
	if err != nil {
		return nil, err
	}
	a.warn(ap.Warnings)
	b, err := a.openDevice()
	if err != nil {
		return nil, err
	}
	defer b.Close()
	return ap, ap.Predict(b)
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
	var modelPath, dataPath string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "eval --model MODEL --data FILE [--json]",
		Short: "Score a model on labelled data",
		Long:  evalHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ap, err := a.apply(modelPath, dataPath, true)
			if err != nil {
				return err
			}
			report := ap.Report()
			if !asJSON {
				_, err = fmt.Fprint(a.stdout, report.Table())
				return err
			}
			out, err := json.Marshal(report)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "%s\n", out)
			return err
		},
	}
	cmd.Flags().StringVar(&modelPath, "model", "", "model file written by train")
	cmd.Flags().StringVar(&dataPath, "data", "", "labelled data, with the model's feature and target columns")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func (a *app) predictCommand() *cobra.Command {
	var modelPath, dataPath, out string
	var keep []string
	cmd := &cobra.Command{
		Use:   "predict --model MODEL --data FILE --out FILE|-",
		Short: "Write a model's predictions for a data file",
		Long: `predict writes a CSV file (standard output with --out -): the columns named by
--keep passed through, then for every task, in the model's task order, its
prediction (the class label as written in training, or the value) and, for
classification, one probability column per class named TASK:p(CLASS). A
family of tasks gives one column, each row predicted by its own group's head
(the shared head for a group unseen in training). A kept column that is a
task's target stays as it is, and the prediction beside it is named
TASK:pred. --out is never the data or the model file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usageError("--out is required (- for standard output)")
			}
			if err := pipeline.CheckOutput("out", out, pipeline.Input{Option: "data", Path: dataPath}, pipeline.Input{Option: "model", Path: modelPath}); err != nil {
				return err
			}
			ap, err := a.apply(modelPath, dataPath, false)
			if err != nil {
				return err
			}
			if err := ap.WritePredictionsFile(out, keep, a.stdout); err != nil {
				return err
			}
			if out != "-" {
				a.log.Info("predictions written", "rows", ap.Rows, "file", out)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&modelPath, "model", "", "model file written by train")
	cmd.Flags().StringVar(&dataPath, "data", "", "data with the model's feature columns")
	cmd.Flags().StringVar(&out, "out", "", "CSV file to write, or - for standard output")
	cmd.Flags().StringSliceVar(&keep, "keep", nil, "input columns to copy into the output (an id, or a target to compare with its prediction)")
	return cmd
}
