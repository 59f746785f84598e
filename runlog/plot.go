package runlog

import (
	"io"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Plot draws a log as PNG: over epochs, each task's training loss (solid)
// and validation loss (dashed), each task's weight and, for the gradient
// methods, the mean cosine between the tasks' gradients and the share of
// task pairs in conflict.
func Plot(lines []Line, w io.Writer) error {
	var tasks []string
	for name := range lines[0].Tasks {
		tasks = append(tasks, name)
	}
	slices.Sort(tasks)
	series := func(get func(l Line) *float64) plotter.XYs {
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
		task := func(key string) func(l Line) *float64 {
			return func(l Line) *float64 { return l.Tasks[name][key] }
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
	if cos := series(func(l Line) *float64 { return l.GradCosine }); len(cos) > 0 {
		g := newPanel("Task gradients of the shared layers", "")
		if err := addLine(g, "mean cosine", 0, 0, cos); err != nil {
			return err
		}
		if err := addLine(g, "share of pairs in conflict", 1, 0, series(func(l Line) *float64 { return l.Conflict })); err != nil {
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
