// Command mmoe reproduces the synthetic experiment of the MMoE paper (Ma
// et al., KDD 2018, §4; benchmark.Synthetic): two regression tasks whose
// weight vectors have cosine ρ, learnt by a shared bottom, MMoE and PLE at
// several ρ over several seeds, each seed a fresh draw of the problem and
// of the initial weights (the same draw at every ρ but for w₂). It prints
// the test MSE of each (mean ± std over seeds; the mean over the two
// tasks, in the targets' units as the paper plots it), the same as a
// fraction of the targets' variance, and the change from the first ρ seed
// by seed, which the problems' varying difficulty does not blur.
//
//	go run ./benchmark/cmd/mmoe [-rho 1,0.9,0.5] [-seeds 5] [-rows 10000] [-epochs 30] [-v]
//
// The bodies follow the paper where mtl-gpu can: 100 inputs, MMoE with 8
// experts of one ReLU layer of 16, a shared bottom of one layer of 113
// (the paper's size for as many parameters as MMoE's experts and towers).
// mtl-gpu's heads are linear, so neither model has the paper's towers of
// 8 (-shared-hidden 113,16 and -expert-hidden 16,8 add a layer instead).
// PLE, which the paper predates, has 4 shared experts and 2 per task of
// the same size (8 experts at each level) and -levels levels. Training is
// AdamW at -lr with a cosine schedule and batches of 128, without early
// stopping; the paper grid-searched Adam's rate and averaged 200 runs. It
// is a benchmark, not a test: about 3 s a run on 2 cores.
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

// settings are the command's flags.
type settings struct {
	rhos                       string
	seeds, rows, test, epochs  int
	lr                         float64
	threads                    int
	sharedHidden, expertHidden string
	experts, levels            int
	verbose                    bool
}

func main() {
	var s settings
	flag.StringVar(&s.rhos, "rho", "1,0.9,0.5", "comma-separated task correlations ρ")
	flag.IntVar(&s.seeds, "seeds", 5, "seeds (problem draws) per ρ")
	flag.IntVar(&s.rows, "rows", 10000, "training rows per problem")
	flag.IntVar(&s.test, "test", 10000, "test rows per problem")
	flag.IntVar(&s.epochs, "epochs", 30, "epochs")
	flag.Float64Var(&s.lr, "lr", 3e-3, "AdamW learning rate")
	flag.IntVar(&s.threads, "threads", 2, "CPU threads")
	flag.StringVar(&s.sharedHidden, "shared-hidden", "113", "widths of the shared bottom's layers")
	flag.IntVar(&s.experts, "experts", 8, "MMoE's experts")
	flag.StringVar(&s.expertHidden, "expert-hidden", "16", "widths of each expert's layers")
	flag.IntVar(&s.levels, "levels", 1, "PLE's levels")
	flag.BoolVar(&s.verbose, "v", false, "print every run's test MSE")
	flag.Parse()
	if err := run(s); err != nil {
		fmt.Fprintln(os.Stderr, "mmoe:", err)
		os.Exit(1)
	}
}

// widths reads comma-separated layer widths.
func widths(flagName, s string) ([]int, error) {
	var w []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s: %q is not a layer width", flagName, f)
		}
		w = append(w, n)
	}
	return w, nil
}

func run(st settings) error {
	shared, err := widths("-shared-hidden", st.sharedHidden)
	if err != nil {
		return err
	}
	expert, err := widths("-expert-hidden", st.expertHidden)
	if err != nil {
		return err
	}
	bodies := []body{
		{"shared", mtl.Spec{Hidden: shared}},
		{"mmoe", mtl.Spec{Arch: mtl.MMoE, Experts: st.experts, Hidden: expert}},
		{"ple", mtl.Spec{Arch: mtl.PLE, Experts: 4, TaskExperts: 2, Levels: st.levels, Hidden: expert}},
	}
	seeds, rows, test, epochs, lr, verbose := st.seeds, st.rows, st.test, st.epochs, st.lr, st.verbose
	var rhos []float64
	for _, f := range strings.Split(st.rhos, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r < -1 || r > 1 {
			return fmt.Errorf("-rho: %q is not a correlation in [-1, 1]", f)
		}
		rhos = append(rhos, r)
	}
	if seeds < 1 || rows < 1 || test < 1 || epochs < 1 {
		return fmt.Errorf("-seeds, -rows, -test and -epochs must be at least 1")
	}
	b, err := cpu.New(backend.Options{Threads: st.threads})
	if err != nil {
		return err
	}
	defer b.Close()
	cfg := mtl.DefaultConfig()
	cfg.Epochs, cfg.Patience, cfg.LR = epochs, 0, lr
	fmt.Printf("%d training and %d test rows per problem, %d epochs of AdamW (lr %g, batch %d), %d seeds, %d threads\n",
		rows, test, epochs, lr, cfg.Batch, seeds, st.threads)
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
				if verbose {
					fmt.Printf("%s ρ = %g seed %d: test MSE %.4f, %.4f\n", bd.name, rho, seed+1, loss.MSE[0], loss.MSE[1])
				}
				mse[i][j] = append(mse[i][j], loss.Mean())
				fvu[i][j] = append(fvu[i][j], loss.Unexplained())
			}
		}
	}
	runs := len(bodies) * len(rhos) * seeds
	fmt.Printf("%d runs in %.0f s (%.1f s a run)\n\n", runs, time.Since(start).Seconds(), time.Since(start).Seconds()/float64(runs))
	table("test MSE (mean of the two tasks; mean ± std over seeds)", "%.4f", bodies, rhos, mse)
	fmt.Println()
	table("fraction of the target variance unexplained", "%.4f", bodies, rhos, fvu)
	// The problems' difficulty varies from seed to seed far more than
	// with ρ; each seed draws the same problem at every ρ but for w₂, so
	// the change from the first ρ is best seen seed by seed.
	diff := make([][][]float64, len(bodies))
	for i := range bodies {
		for j := range rhos {
			d := make([]float64, seeds)
			for k := range d {
				d[k] = mse[i][j][k] - mse[i][0][k]
			}
			diff[i] = append(diff[i], d)
		}
	}
	fmt.Println()
	table(fmt.Sprintf("change of the test MSE from ρ = %g, seed by seed", rhos[0]), "%+.4f", bodies, rhos, diff)
	return nil
}

// table prints one row per body and one column per ρ, each cell the
// mean (in format) ± the standard deviation over seeds.
func table(title, format string, bodies []body, rhos []float64, v [][][]float64) {
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
			fmt.Fprintf(tw, "\t"+format+" ± %.4f", m, s)
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
