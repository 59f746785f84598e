package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/mtl-gpu/mtl-gpu/pipeline"
	"github.com/mtl-gpu/mtl-gpu/runlog"
	"github.com/spf13/cobra"
)

func (a *app) plotCommand() *cobra.Command {
	var logPath, out string
	cmd := &cobra.Command{
		Use:   "plot --log FILE --out FILE.svg|.pdf|.png",
		Short: "Draw the per-task loss curves, weights and validation metrics of a training log",
		Long: `plot reads a --log file written by train and draws, over epochs, each task's
training loss (solid) and validation loss (dashed), each task's weight, each
task's validation metric (accuracy, AUC or RMSE), and, for the gradient
methods, the mean cosine between the tasks' gradients and the share of task
pairs in conflict. Every panel marks the best epoch (lowest validation loss)
and has its legend beside it. The format follows the extension of --out:
.svg, .pdf or .png.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if logPath == "" || out == "" {
				return usageError("--log and --out are required")
			}
			format, err := runlog.Format(out)
			if err != nil {
				return usageError("--out: %v", err)
			}
			if err := pipeline.CheckOutput("out", out, pipeline.Input{Option: "log", Path: logPath}); err != nil {
				return err
			}
			lines, err := runlog.Read(logPath)
			if err != nil {
				return err
			}
			var d runlog.Drawing
			err = pipeline.WriteFile(out, func(w io.Writer) (err error) { d, err = runlog.Plot(lines, w, format); return err })
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "wrote %s: %s; %d epochs of %d tasks, best epoch %d\n", out, strings.ToLower(strings.Join(d.Panels, ", ")), d.Epochs, d.Tasks, d.Best)
			return err
		},
	}
	cmd.Flags().StringVar(&logPath, "log", "", "log file written by train --log")
	cmd.Flags().StringVar(&out, "out", "", "drawing to write: .svg, .pdf or .png")
	return cmd
}
