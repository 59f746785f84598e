package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// logLine is one epoch of a --log file.
type logLine struct {
	Epoch      int                            `json:"epoch"`
	TrainLoss  *float64                       `json:"train_loss"`
	ValLoss    *float64                       `json:"val_loss"`
	Tasks      map[string]map[string]*float64 `json:"tasks"`
	GradCosine *float64                       `json:"grad_cosine_mean"`
	Conflict   *float64                       `json:"conflict_share"`
}

// readLog reads a --log file. Each line is one epoch; when a file holds
// several runs (an epoch number that does not follow the one before), the
// last run is kept.
func readLog(path string) ([]logLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []logLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var l logLine
		if err := json.Unmarshal([]byte(text), &l); err != nil {
			return nil, fmt.Errorf("%s:%d: not an mtl-gpu log line: %v", path, n, err)
		}
		if len(lines) > 0 && l.Epoch <= lines[len(lines)-1].Epoch {
			lines = lines[:0]
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("%s: no epochs logged", path)
	}
	return lines, nil
}

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
			lines, err := readLog(logPath)
			if err != nil {
				return err
			}
			return writeFileAtomicW(out, func(w io.Writer) error { return drawLog(lines, w) })
		},
	}
	cmd.Flags().StringVar(&logPath, "log", "", "log file written by train --log")
	cmd.Flags().StringVar(&out, "out", "", "PNG file to write")
	return cmd
}

// drawLog renders the panels of a log as PNG.
func drawLog(lines []logLine, w io.Writer) error {
	var tasks []string
	for name := range lines[0].Tasks {
		tasks = append(tasks, name)
	}
	slices.Sort(tasks)
	series := func(get func(l logLine) *float64) plotter.XYs {
		var xy plotter.XYs
		for _, l := range lines {
			if v := get(l); v != nil {
				xy = append(xy, plotter.XY{X: float64(l.Epoch), Y: *v})
			}
		}
		return xy
	}
	losses := newPanel("Task losses (solid: training, dashed: validation)", "loss")
	weights := newPanel("Task weights", "weight")
	for i, name := range tasks {
		task := func(key string) func(l logLine) *float64 {
			return func(l logLine) *float64 { return l.Tasks[name][key] }
		}
		if err := addLine(losses, name, i, 0, series(task("train_loss"))); err != nil {
			return err
		}
		if err := addLine(losses, "", i, 1, series(task("val_loss"))); err != nil {
			return err
		}
		if err := addLine(weights, name, i, 0, series(task("weight"))); err != nil {
			return err
		}
	}
	panels := []*plot.Plot{losses, weights}
	if cos := series(func(l logLine) *float64 { return l.GradCosine }); len(cos) > 0 {
		g := newPanel("Task gradients of the shared layers", "")
		if err := addLine(g, "mean cosine", 0, 0, cos); err != nil {
			return err
		}
		if err := addLine(g, "share of pairs in conflict", 1, 0, series(func(l logLine) *float64 { return l.Conflict })); err != nil {
			return err
		}
		panels = append(panels, g)
	}
	img := vgimg.New(vg.Points(720), vg.Points(300*float64(len(panels))))
	dc := draw.New(img)
	grid := make([][]*plot.Plot, len(panels))
	for i, p := range panels {
		grid[i] = []*plot.Plot{p}
	}
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter, PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 2 * vg.Millimeter}
	canvases := plot.Align(grid, tiles, dc)
	for i, p := range panels {
		p.Draw(canvases[i][0])
	}
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

func newPanel(title, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = ylabel
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

// addLine draws xy in the i-th colour with the given dash style and,
// when name is set, lists it in the legend.
func addLine(p *plot.Plot, name string, i, dash int, xy plotter.XYs) error {
	if len(xy) == 0 {
		return nil
	}
	l, err := plotter.NewLine(xy)
	if err != nil {
		return err
	}
	l.Color = plotutil.Color(i)
	l.Dashes = plotutil.Dashes(dash)
	l.Width = vg.Points(1.5)
	p.Add(l)
	if name != "" {
		p.Legend.Add(name, l)
	}
	return nil
}

// writeFileAtomicW is writeFileAtomic for writers that buffer themselves.
func writeFileAtomicW(path string, write func(io.Writer) error) error {
	return writeFileAtomic(path, func(w *bufio.Writer) error { return write(w) })
}
