package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mtl-gpu/mtl-gpu/pipeline"
	"github.com/spf13/cobra"
)

func (a *app) compareCommand() *cobra.Command {
	f := &trainFlags{opts: pipeline.DefaultOptions()}
	co := pipeline.CompareOptions{}
	var methods string
	var asJSON bool
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
random part of every group (or of the rows): --train-fraction of them train.
With --arch shared,mmoe,ple every weighting is trained on each body, and the
rows are named ARCH/METHOD.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f.weighting = "equal"
			archs := f.arch
			f.arch = "shared"
			if err := f.parse(cmd); err != nil {
				return err
			}
			var err error
			if co.Methods, err = pipeline.ParseMethods(methods); err != nil {
				return err
			}
			if co.Archs, err = pipeline.ParseArchs(archs); err != nil {
				return err
			}
			// The expert options are checked against a mixture of experts
			// when one is compared.
			f.opts.Arch = co.Archs[len(co.Archs)-1]
			co.Options = f.opts
			return a.compare(cmd, co, asJSON)
		},
	}
	fl := cmd.Flags()
	f.in.register(fl, "training data")
	fl.StringVar(&co.Test, "test", "", "held-out data to score on (default: split --data by --train-fraction)")
	fl.StringArrayVar(&f.opts.Tasks, "task", nil, "target as PATTERN:TYPE[:WEIGHT] (repeatable)")
	fl.StringVar(&methods, "weighting", "equal", "comma-separated weighting methods for the multi-task model")
	fl.IntVar(&co.Seeds, "seeds", 5, "seeds per method (results are mean ± std over them)")
	fl.BoolVar(&asJSON, "json", false, "print one JSON object")
	fl.Float64Var(&co.TrainFraction, "train-fraction", 0.75, "without --test: the share of each group's rows used for training")
	f.register(fl)
	fl.Lookup("arch").Usage = "comma-separated model bodies to compare, each with every --weighting: shared, mmoe, ple"
	return cmd
}

func (a *app) compare(cmd *cobra.Command, o pipeline.CompareOptions, asJSON bool) error {
	cp, err := pipeline.PrepareCompare(o)
	if err != nil {
		return err
	}
	defer cp.Close()
	b, err := a.openDevice()
	if err != nil {
		return err
	}
	defer b.Close()
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := cp.Run(ctx, b, func(method string, seed int) { a.log.Info("compare", "method", method, "seed", seed) })
	if err != nil {
		return err
	}
	if !asJSON {
		_, err = fmt.Fprint(a.stdout, res.Table())
		return err
	}
	out, err := json.Marshal(res.JSON())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "%s\n", out)
	return err
}
