package main

import (
	"github.com/mtl-gpu/mtl-gpu/pipeline"
	"github.com/spf13/cobra"
)

func (a *app) exportCommand() *cobra.Command {
	var modelPath, out string
	cmd := &cobra.Command{
		Use:   "export --model MODEL --onnx OUT.onnx",
		Short: "Write a model as one ONNX graph, preprocessing included",
		Long: `export writes the model as one self-contained ONNX graph (IR version 8,
opset 17, ai.onnx.ml opset 3) that ONNX Runtime and the platforms built on it
run as predict does. Inputs are one [N,1] tensor per column, named as the
column: double for numeric columns (NaN for a missing value), string for
categorical columns and the group column (trimmed). Outputs per task: TASK,
the predicted class as written in training ([N] string) or the value ([N,1]
double), and for classification TASK:probabilities ([N,K] float, in class
order). The metadata lists the inputs, tasks, classes and columns. A kind of
model the exporter cannot write yet is refused by name.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if modelPath == "" {
				return usageError("--model is required")
			}
			if out == "" {
				return usageError("--onnx is required")
			}
			m, err := pipeline.LoadModel(modelPath)
			if err != nil {
				return err
			}
			if err := m.ExportONNX(out); err != nil {
				return err
			}
			a.log.Info("ONNX model written", "file", out)
			return nil
		},
	}
	cmd.Flags().StringVar(&modelPath, "model", "", "model file written by train")
	cmd.Flags().StringVar(&out, "onnx", "", "ONNX file to write")
	return cmd
}
