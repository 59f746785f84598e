package main

import (
	"encoding/json"
	"fmt"

	"github.com/mtl-gpu/mtl-gpu/pipeline"
	"github.com/spf13/cobra"
)

func (a *app) infoCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "info MODEL [--json]",
		Short: "Describe a model file: tasks, inputs, architecture, training state, metrics",
		Long: `info reads a model file written by train and prints its tasks (type, classes,
positive class, weights, groups), its input columns and how they are
encoded, its architecture, how far training went (epochs, steps, best epoch,
whether --resume has anything left to do), its validation metrics, and the
data it was trained on with the split. With --json it prints one JSON object.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := pipeline.Describe(args[0])
			if err != nil {
				return err
			}
			if !asJSON {
				_, err = fmt.Fprint(a.stdout, d.Text())
				return err
			}
			out, err := json.Marshal(d)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "%s\n", out)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}
