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
			if err := ap.WritePredictionsFile(out, keep); err != nil {
				return err
			}
			a.log.Info("predictions written", "rows", ap.Rows, "file", out)
			return nil
		},
	}
	cmd.Flags().StringVar(&modelPath, "model", "", "model file written by train")
	cmd.Flags().StringVar(&dataPath, "data", "", "data with the model's feature columns")
	cmd.Flags().StringVar(&out, "out", "", "CSV file to write")
	cmd.Flags().StringSliceVar(&keep, "keep", nil, "input columns to copy into the output (e.g. an id)")
	return cmd
}
