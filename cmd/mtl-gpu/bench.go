package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/mtl-gpu/mtl-gpu/benchmark"
	"github.com/spf13/cobra"
)

func (a *app) benchCommand() *cobra.Command {
	var (
		workload, methods string
		epochs            int
		prof              bool
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
a ReLU projection of 512).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w, err := benchmark.Find(workload)
			if err != nil {
				return usageError("--workload: %v", err)
			}
			if epochs < 1 {
				return usageError("--epochs must be at least 1")
			}
			b, err := a.openDevice()
			if err != nil {
				return err
			}
			defer b.Close()
			out := a.stdout
			fmt.Fprintf(out, "workload %s\n", w)
			info := b.Info()
			fmt.Fprintf(out, "device %s (%s; %s)\n", info.Device, info.Name, info.Detail)
			ms, err := parseMethods(methods)
			if err != nil {
				return err
			}
			t0 := time.Now()
			data := w.Data(1)
			a.log.Debug("generated data", "seconds", time.Since(t0).Seconds())
			var first *benchmark.Result
			for i, m := range ms {
				res, err := benchmark.Run(cmd.Context(), b, w, m, data, epochs, prof && i == 0)
				if err != nil {
					return err
				}
				if i == 0 {
					first = res
					continue
				}
				fmt.Fprintf(out, "weighting %s: %.0f samples/s, %.2f× the step time of %s\n", m, res.SamplesPerSec, first.SamplesPerSec/res.SamplesPerSec, ms[0])
			}
			res := first
			for i, s := range res.EpochSeconds {
				fmt.Fprintf(out, "epoch %d: %.3f s, %.0f samples/s\n", i+2, s, float64(w.Samples)/s)
			}
			fmt.Fprintf(out, "loss before %.4f, after %.4f\n", res.LossBefore, res.LossAfter)
			fmt.Fprintf(out, "throughput %.0f samples/s, %.1f GFLOP/s in the step's GEMMs\n", res.SamplesPerSec, res.GFlops)
			fmt.Fprintf(out, "GEMMs alone at the step's shapes: %.0f samples/s (the step reaches %.0f%% of that)\n",
				res.GemmOnlySamplesPerSec, 100*res.SamplesPerSec/res.GemmOnlySamplesPerSec)
			if prof {
				var total, gemm time.Duration
				for _, o := range res.Ops {
					total += o.Time
					if o.Flops > 0 {
						gemm += o.Time
					}
				}
				fmt.Fprintf(out, "profile of one epoch (%.3f s, each op synchronised): GEMM share %.1f%%\n", res.ProfileSeconds, 100*gemm.Seconds()/total.Seconds())
				tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', tabwriter.AlignRight)
				fmt.Fprintln(tw, "op\tcalls\tseconds\tshare\tGFLOP/s\t")
				for _, o := range res.Ops {
					rate := "-"
					if o.Flops > 0 {
						rate = fmt.Sprintf("%.1f", o.Flops/o.Time.Seconds()/1e9)
					}
					fmt.Fprintf(tw, "%s\t%d\t%.4f\t%.1f%%\t%s\t\n", o.Name, o.Calls, o.Time.Seconds(), 100*o.Time.Seconds()/total.Seconds(), rate)
				}
				tw.Flush()
			}
			if rss := peakRSS(); rss > 0 {
				size := float64(len(data.X)+len(data.Labels)*data.N+res.Params) * 4
				fmt.Fprintf(out, "memory: peak resident %.0f MB; data set and parameters %.0f MB (%.2f×)\n", rss/(1<<20), size/(1<<20), rss/size)
			}
			fmt.Fprintf(out, "samples/s=%.0f\n", res.SamplesPerSec)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&workload, "workload", "linear", "reference workload: linear or relu")
	f.IntVar(&epochs, "epochs", 3, "timed epochs after the warm-up epoch")
	f.BoolVar(&prof, "profile", true, "profile one more epoch operation by operation")
	f.StringVar(&methods, "weighting", "equal", "comma-separated weighting methods to time; the first is the reference")
	return cmd
}
