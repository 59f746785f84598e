package benchmark

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/mtl-gpu/mtl-gpu/backend"

	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// Options choose what Bench measures.
type Options struct {
	Workload Workload
	// Methods are the weighting methods to time; the first is the
	// reference the others are compared with.
	Methods []mtl.Method
	// Epochs is the number of timed epochs after the warm-up epoch.
	Epochs int
	// Profile adds a per-operation profile of one more epoch.
	Profile bool
	// Group, when set, makes the runs data-parallel over its processes
	// (see mtl.Trainer.Distribute); every process calls Bench alike.
	Group mtl.Collective
}

// Bench generates the workload's data, runs it on b with every method and
// writes the report to out: the workload and device, each method's cost
// relative to the first, the epochs' times, the losses, the throughput
// against the GEMMs alone, the profile and the peak memory. Its last line
// is "samples/s=N".
func Bench(ctx context.Context, b backend.Backend, o Options, out io.Writer) error {
	w := o.Workload
	if o.Epochs < 1 {
		return fmt.Errorf("timed epochs must be at least 1, got %d", o.Epochs)
	}
	if len(o.Methods) == 0 {
		o.Methods = []mtl.Method{mtl.Equal}
	}
	fmt.Fprintf(out, "workload %s\n", w)
	info := b.Info()
	fmt.Fprintf(out, "device %s (%s; %s)\n", info.Device, info.Name, info.Detail)
	data := w.Data(1)
	var first *Result
	for i, m := range o.Methods {
		res, err := Run(ctx, b, w, m, data, o.Epochs, o.Profile && i == 0, o.Group)
		if err != nil {
			return err
		}
		if i == 0 {
			first = res
			continue
		}
		fmt.Fprintf(out, "weighting %s: %.0f samples/s, %.2f× the step time of %s\n", m, res.SamplesPerSec, first.SamplesPerSec/res.SamplesPerSec, o.Methods[0])
		res.writeComm(out)
	}
	first.write(out, o.Profile)
	if rss := PeakRSS(); rss > 0 {
		size := float64(len(data.X)+len(data.Labels)*data.N+first.Params) * 4
		fmt.Fprintf(out, "memory: peak resident %.0f MB; data set and parameters %.0f MB (%.2f×)\n", rss/(1<<20), size/(1<<20), rss/size)
	}
	_, err := fmt.Fprintf(out, "samples/s=%.0f\n", first.SamplesPerSec)
	return err
}

// writeComm prints, for a data-parallel run, the all-reduce's size and
// its share of the step.
func (res *Result) writeComm(out io.Writer) {
	c := res.Comm
	if c.Steps == 0 {
		return
	}
	step := res.StepSeconds
	reduce := c.Reduce.Seconds() / float64(c.Steps)
	fmt.Fprintf(out, "%s on %d processes: all-reduce of %d values (%.2f MB) per step, %.2f ms of the %.2f ms step (%.0f%%)\n",
		res.Method, res.Processes, c.Values, float64(4*c.Values)/1e6, 1e3*reduce, 1e3*step, 100*reduce/step)
}

// write prints the timings, losses, throughput and (with prof) profile.
func (res *Result) write(out io.Writer, prof bool) {
	w := res.Workload
	for i, s := range res.EpochSeconds {
		fmt.Fprintf(out, "epoch %d: %.3f s, %.0f samples/s\n", i+2, s, float64(w.Samples)/s)
	}
	fmt.Fprintf(out, "loss before %.4f, after %.4f\n", res.LossBefore, res.LossAfter)
	res.writeComm(out)
	fmt.Fprintf(out, "throughput %.0f samples/s, %.1f GFLOP/s in the step's GEMMs\n", res.SamplesPerSec, res.GFlops)
	fmt.Fprintf(out, "GEMMs alone at the step's shapes (%d GEMMs, %.2f GFLOP a step): %.0f samples/s (the step reaches %.0f%% of that)\n",
		res.StepGemms, res.StepFlops/1e9, res.GemmOnlySamplesPerSec, 100*res.SamplesPerSec/res.GemmOnlySamplesPerSec)
	if !prof {
		return
	}
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
