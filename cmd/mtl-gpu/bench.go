package main

import (
	"context"

	"github.com/mtl-gpu/mtl-gpu/benchmark"
	"github.com/mtl-gpu/mtl-gpu/pipeline"
	"github.com/spf13/cobra"
)

func (a *app) benchCommand() *cobra.Command {
	var (
		workload, methods, arch string
		o                       benchmark.Options
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure training throughput on a reference workload",
		Long: `bench generates a learnable synthetic data set (not timed), trains the
reference workload on the chosen device for one warm-up epoch and then times
whole epochs. It prints samples/s, the GEMM work achieved, the throughput the
step's GEMMs alone reach at the same shapes, a per-operation profile of one
more epoch, and the loss before and after. Its last line is "samples/s=N".

Workloads: linear (65,536 × 512 inputs, a linear 256-wide shared projection,
8 multiclass tasks of 10 classes, batch 1,024, SGD) and relu (1,024 inputs,
a ReLU projection of 512). --arch mmoe replaces the shared projection by
8 experts of one ReLU layer of 256 with a gate per task, --arch ple by two
levels of 4 shared experts and 1 of each task, of the same size.

Under mpirun (or srun --mpi=pmix) the processes train data-parallel, and
bench adds the size of each step's all-reduce and the share of the step it
takes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.bench(cmd.Context(), workload, arch, methods, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&workload, "workload", "linear", "reference workload: linear or relu")
	f.StringVar(&arch, "arch", "shared", "model body: shared (the workload's), mmoe (8 experts of 256) or ple (2 levels of 4 shared and 1 per-task experts of 256)")
	f.IntVar(&o.Epochs, "epochs", 3, "timed epochs after the warm-up epoch")
	f.BoolVar(&o.Profile, "profile", false, "profile one more epoch operation by operation")
	f.StringVar(&methods, "weighting", "equal", "comma-separated weighting methods to time; the first is the reference")
	return cmd
}

// bench runs the bench command: data-parallel under a launcher (see
// joinWorld), alone otherwise.
func (a *app) bench(ctx context.Context, workload, arch, methods string, o benchmark.Options) (err error) {
	c, err := a.joinWorld()
	defer func() { err = c.leave(a, err) }()
	if err != nil {
		return err
	}
	if c != nil {
		o.Group = c.world
	}
	if o.Workload, err = benchmark.Find(workload); err != nil {
		return usageError("--workload: %v", err)
	}
	body, err := pipeline.ParseArch(arch)
	if err != nil {
		return err
	}
	if o.Workload, err = o.Workload.WithArch(body); err != nil {
		return err
	}
	if o.Epochs < 1 {
		return usageError("--epochs must be at least 1")
	}
	if o.Methods, err = pipeline.ParseMethods(methods); err != nil {
		return err
	}
	b, err := a.openDevice()
	if err != nil {
		return err
	}
	defer b.Close()
	return benchmark.Bench(ctx, b, o, a.stdout)
}
