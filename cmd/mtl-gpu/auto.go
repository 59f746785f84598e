package main

import (
	"context"
	"fmt"
	"math"
	"text/tabwriter"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/metrics"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// The grid --hidden auto searches: one shared layer of each width, with
// each weight decay.
var (
	autoWidths = []int{16, 64, 256}
	autoDecays = []float64{1e-3, 1e-2, 1e-1}
)

// chooseWidth trains one model per grid point on the training rows,
// scores each by its best validation loss, prints the grid to standard
// error and returns the width and decay of the best.
func (a *app) chooseWidth(ctx context.Context, b backend.Backend, r *trainRun, cfg mtl.Config) ([]int, float64, error) {
	type point struct {
		width  int
		decay  float64
		val    float64
		epochs int
	}
	var grid []point
	best := -1
	for _, w := range autoWidths {
		for _, d := range autoDecays {
			c := cfg
			c.WeightDecay = d
			r.spec.Hidden = []int{w}
			tr, _, _, err := a.fit(ctx, b, r, c, false)
			if tr != nil {
				tr.Close()
			}
			if err != nil {
				return nil, 0, fmt.Errorf("--hidden auto, width %d, weight decay %g: %w", w, d, err)
			}
			st := tr.State()
			grid = append(grid, point{w, d, st.BestVal, st.Epoch})
			if best < 0 || st.BestVal < grid[best].val {
				best = len(grid) - 1
			}
		}
	}
	if !a.quiet {
		tw := tabwriter.NewWriter(a.stderr, 2, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "width\tweight decay\tbest val loss\tepochs\t\t")
		for i, p := range grid {
			mark := ""
			if i == best {
				mark = "← chosen"
			}
			fmt.Fprintf(tw, "%d\t%g\t%.5f\t%d\t%s\t\n", p.width, p.decay, p.val, p.epochs, mark)
		}
		tw.Flush()
	}
	return []int{grid[best].width}, grid[best].decay, nil
}

// primaryMetric is the headline metric of a task on labelled rows:
// accuracy (multiclass), AUC (binary) or RMSE in the target's units
// (regression).
func primaryMetric(t mtl.Task, labels, preds []float32) (string, float64) {
	y := make([]float64, len(labels))
	for i, v := range labels {
		y[i] = float64(v)
	}
	p := make([]float64, len(preds))
	for i, v := range preds {
		p[i] = float64(v)
	}
	var m metrics.TaskMetrics
	name := "rmse"
	switch t.Type {
	case mtl.Multiclass:
		classes := make([]int, len(y))
		for i, v := range y {
			classes[i] = -1
			if !math.IsNaN(v) {
				classes[i] = int(v)
			}
		}
		m, name = metrics.Multiclass(classes, p, t.Classes), "accuracy"
	case mtl.Binary:
		m, name = metrics.Binary(y, p), "auc"
	default:
		m = metrics.Regression(y, p)
	}
	v, ok := m.Get(name)
	if !ok {
		v = math.NaN()
	}
	return name, v
}
