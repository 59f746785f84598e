// Command mmoe reproduces the synthetic experiment of the MMoE paper (Ma
// et al., KDD 2018, §4; benchmark.Synthetic): two regression tasks whose
// weight vectors have cosine ρ, learnt by a shared bottom, MMoE and PLE at
// several ρ over several seeds, each seed a fresh draw of the problem and
// of the initial weights. It prints the test MSE of each (mean ± std over
// seeds; the mean over the two tasks, in the targets' units as the paper
// plots it) and the same as a fraction of the targets' variance.
//
//	go run ./benchmark/cmd/mmoe [-rho 1,0.9,0.5] [-seeds 5] [-rows 10000] [-epochs 30]
//
// The bodies follow the paper where mtl-gpu can: 100 inputs, MMoE with 8
// experts of one ReLU layer of 16, a shared bottom of one layer of 113
// (the paper's size for as many parameters as MMoE's experts and towers).
// mtl-gpu's heads are linear, so neither model has the paper's towers of
// 8. PLE, which the paper predates, has 4 shared experts and 2 per task of
// the same size (8 experts at each level) and -levels levels. Training is
// AdamW at -lr with a cosine schedule and batches of 128, without early
// stopping; the paper grid-searched Adam's rate and averaged 200 runs. It
// is a benchmark, not a test.
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
	"github.com/mtl-gpu/mtl-gpu/benchmark"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// body is one model body of the comparison.
type body struct {
	name string
	spec mtl.Spec
}

func main() {
	rhos := flag.String("rho", "1,0.9,0.5", "comma-separated task correlations ρ")
	seeds := flag.Int("seeds", 5, "seeds (problem draws) per ρ")
	rows := flag.Int("rows", 10000, "training rows per problem")
	test := flag.Int("test", 10000, "test rows per problem")
	epochs := flag.Int("epochs", 30, "epochs")
	lr := flag.Float64("lr", 3e-3, "AdamW learning rate")
	threads := flag.Int("threads", 2, "CPU threads")
	shared := flag.Int("shared-hidden", 113, "width of the shared bottom's layer")
	experts := flag.Int("experts", 8, "MMoE's experts")
	width := flag.Int("expert-hidden", 16, "width of each expert's layer")
	levels := flag.Int("levels", 1, "PLE's levels")
	flag.Parse()
	if err := run(*rhos, *seeds, *rows, *test, *epochs, *lr, *threads, []body{
		{"shared", mtl.Spec{Hidden: []int{*shared}}},
		{"mmoe", mtl.Spec{Arch: mtl.MMoE, Experts: *experts, Hidden: []int{*width}}},
		{"ple", mtl.Spec{Arch: mtl.PLE, Experts: 4, TaskExperts: 2, Levels: *levels, Hidden: []int{*width}}},
	}); err != nil {
		fmt.Fprintln(os.Stderr, "mmoe:", err)
		os.Exit(1)
	}
}

func run(rhoList string, seeds, rows, test, epochs int, lr float64, threads int, bodies []body) error {
	var rhos []float64
	for _, f := range strings.Split(rhoList, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r < -1 || r > 1 {
			return fmt.Errorf("-rho: %q is not a correlation in [-1, 1]", f)
		}
		rhos = append(rhos, r)
	}
	if seeds < 1 || rows < 1 || test < 1 || epochs < 1 {
		return fmt.Errorf("-seeds, -rows, -test and -epochs must be at least 1")
	}
	b, err := cpu.New(backend.Options{Threads: threads})
	if err != nil {
		return err
	}
	defer b.Close()
	cfg := mtl.DefaultConfig()
	cfg.Epochs, cfg.Patience, cfg.LR = epochs, 0, lr
	fmt.Printf("%d training and %d test rows per problem, %d epochs of AdamW (lr %g, batch %d), %d seeds, %d threads\n",
		rows, test, epochs, lr, cfg.Batch, seeds, threads)
	mse := make([][][]float64, len(bodies)) // body, ρ, seed
	fvu := make([][][]float64, len(bodies))
	start := time.Now()
	for i, bd := range bodies {
		mse[i], fvu[i] = make([][]float64, len(rhos)), make([][]float64, len(rhos))
		for j, rho := range rhos {
			for seed := range seeds {
				loss, err := benchmark.PaperSynthetic(rho).Train(context.Background(), b, bd.spec, cfg, rows, test, uint64(seed+1))
				if err != nil {
					return fmt.Errorf("%s at ρ %g, seed %d: %w", bd.name, rho, seed+1, err)
				}
				mse[i][j] = append(mse[i][j], loss.Mean())
				fvu[i][j] = append(fvu[i][j], loss.Unexplained())
			}
		}
	}
	runs := len(bodies) * len(rhos) * seeds
	fmt.Printf("%d runs in %.0f s (%.1f s a run)\n\n", runs, time.Since(start).Seconds(), time.Since(start).Seconds()/float64(runs))
	table("test MSE (mean of the two tasks; mean ± std over seeds)", bodies, rhos, mse)
	fmt.Println()
	table("fraction of the target variance unexplained", bodies, rhos, fvu)
	return nil
}

// table prints one row per body and one column per ρ.
func table(title string, bodies []body, rhos []float64, v [][][]float64) {
	fmt.Println(title)
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprint(tw, "body\tparameters")
	for _, r := range rhos {
		fmt.Fprintf(tw, "\tρ = %g", r)
	}
	fmt.Fprintln(tw)
	for i, bd := range bodies {
		spec := bd.spec
		spec.Inputs = benchmark.PaperSynthetic(0).Inputs
		spec.Tasks = []mtl.Task{{Name: "y1", Type: mtl.Regression}, {Name: "y2", Type: mtl.Regression}}
		fmt.Fprintf(tw, "%s\t%d", bd.name, spec.NumParams())
		for j := range rhos {
			m, s := meanStd(v[i][j])
			fmt.Fprintf(tw, "\t%.4f ± %.4f", m, s)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func meanStd(v []float64) (float64, float64) {
	var s float64
	for _, x := range v {
		s += x
	}
	m := s / float64(len(v))
	if len(v) < 2 {
		return m, 0
	}
	var ss float64
	for _, x := range v {
		ss += (x - m) * (x - m)
	}
	return m, math.Sqrt(ss / float64(len(v)-1))
}
