package main

import (
	"io"

	"github.com/mtl-gpu/mtl-gpu/pipeline"
	"github.com/mtl-gpu/mtl-gpu/runlog"
	"github.com/spf13/cobra"
)

func (a *app) plotCommand() *cobra.Command {
	var logPath, out string
	cmd := &cobra.Command{
		Use:   "plot --log FILE --out FILE.png",
		Short: "Draw the per-task loss curves and task weights of a training log",
		Long: `plot reads a --log file written by train and draws, over epochs, each task's
training loss (solid) and validation loss (dashed), each task's weight, and,
for the gradient methods, the mean cosine between the tasks' gradients and
the share of task pairs in conflict.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if logPath == "" || out == "" {
				return usageError("--log and --out are required")
			}
			lines, err := runlog.Read(logPath)
			if err != nil {
				return err
			}
			return pipeline.WriteFile(out, func(w io.Writer) error { return runlog.Plot(lines, w) })
		},
	}
	cmd.Flags().StringVar(&logPath, "log", "", "log file written by train --log")
	cmd.Flags().StringVar(&out, "out", "", "PNG file to write")
	return cmd
}
