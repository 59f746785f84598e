package runlog

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	// The output formats Plot writes.
	_ "gonum.org/v1/plot/vg/vgimg"
	_ "gonum.org/v1/plot/vg/vgpdf"
	_ "gonum.org/v1/plot/vg/vgsvg"
)

// Formats lists the file formats Plot writes, by file extension.
var Formats = []string{"png", "svg", "pdf"}

// Format returns the format of an output file from its extension
// (case-insensitive): png, svg or pdf.
func Format(path string) (string, error) {
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	if slices.Contains(Formats, ext) {
		return ext, nil
	}
	if ext == "" {
		return "", fmt.Errorf("%s has no extension to choose the format by (want .png, .svg or .pdf)", path)
	}
	return "", fmt.Errorf("%s: format .%s is not supported (want .png, .svg or .pdf)", path, ext)
}

// Drawing says what Plot drew.
type Drawing struct {
	// Panels are the titles of the panels, top to bottom.
	Panels []string
	// Epochs is the number of epochs drawn and Best the epoch marked as
	// best (lowest validation loss, or training loss without one); 0
	// when no epoch has a loss.
	Epochs, Best int
	// Tasks is the number of tasks drawn.
	Tasks int
}

// Sizes of the drawing.
const (
	panelWidth  = 560
	legendWidth = 190
	panelHeight = 260
	// maxLegend is the number of tasks a legend names; the rest are
	// counted.
	maxLegend = 16
)

// Plot draws a log in format (see Format): over epochs, each task's
// training loss (solid) and validation loss (dashed), each task's weight,
// each task's validation metric when the log has them, and, for the
// gradient methods, the mean cosine between the tasks' gradients and the
// share of task pairs in conflict. Every panel marks the best epoch and
// keeps its legend beside the plot, where it covers no curve.
func Plot(lines []Line, w io.Writer, format string) (Drawing, error) {
	if len(lines) == 0 {
		return Drawing{}, fmt.Errorf("no epochs to plot")
	}
	tasks := taskNames(lines)
	d := Drawing{Epochs: len(lines), Best: bestEpoch(lines), Tasks: len(tasks)}
	series := func(get func(l Line) *float64) plotter.XYs {
		var xy plotter.XYs
		for _, l := range lines {
			if v := get(l); v != nil {
				xy = append(xy, plotter.XY{X: float64(l.Epoch), Y: *v})
			}
		}
		return xy
	}
	taskSeries := func(name, key string) plotter.XYs {
		return series(func(l Line) *float64 { return l.Tasks[name][key] })
	}
	var panels []*panel
	losses := newPanel("Task losses (solid: training, dashed: validation)", "loss")
	weights := newPanel("Task weights", "weight")
	for i, name := range tasks {
		losses.add(name, i, 0, taskSeries(name, "train_loss"))
		losses.add("", i, 1, taskSeries(name, "val_loss"))
		weights.add(name, i, 0, taskSeries(name, "weight"))
	}
	panels = append(panels, losses, weights)
	if metric := valMetricPanel(tasks, taskSeries); metric != nil {
		panels = append(panels, metric)
	}
	if cos := series(func(l Line) *float64 { return l.GradCosine }); len(cos) > 0 {
		g := newPanel("Task gradients of the shared layers", "")
		g.add("mean cosine", 0, 0, cos)
		g.add("share of pairs in conflict", 1, 0, series(func(l Line) *float64 { return l.Conflict }))
		panels = append(panels, g)
	}
	for _, p := range panels {
		if p.err != nil {
			return d, p.err
		}
		p.finish(d.Best, len(tasks))
		d.Panels = append(d.Panels, p.Title.Text)
	}
	return d, render(panels, w, format)
}

// taskNames returns the tasks of a log, sorted.
func taskNames(lines []Line) []string {
	seen := map[string]bool{}
	for _, l := range lines {
		for name := range l.Tasks {
			seen[name] = true
		}
	}
	var tasks []string
	for name := range seen {
		tasks = append(tasks, name)
	}
	slices.Sort(tasks)
	return tasks
}

// bestEpoch is the epoch of the lowest validation loss, or of the lowest
// training loss when no epoch has a validation loss (0 when none has a
// loss).
func bestEpoch(lines []Line) int {
	for _, get := range []func(Line) *float64{
		func(l Line) *float64 { return l.ValLoss },
		func(l Line) *float64 { return l.TrainLoss },
	} {
		best, at := math.Inf(1), 0
		for _, l := range lines {
			if v := get(l); v != nil && *v < best {
				best, at = *v, l.Epoch
			}
		}
		if at > 0 {
			return at
		}
	}
	return 0
}

// valMetricPanel draws each task's validation metrics (val_auc,
// val_accuracy, val_rmse…), or returns nil when the log has none.
func valMetricPanel(tasks []string, taskSeries func(name, key string) plotter.XYs) *panel {
	p := newPanel("Validation metrics", "metric")
	n := 0
	for i, name := range tasks {
		for _, key := range metricKeys(tasks, name, taskSeries) {
			p.add(name+": "+strings.TrimPrefix(key, "val_"), i, 0, taskSeries(name, key))
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return p
}

// metricKeys lists the val_* keys of a task other than val_loss that have
// values.
func metricKeys(tasks []string, name string, taskSeries func(name, key string) plotter.XYs) []string {
	var keys []string
	for _, key := range []string{"val_accuracy", "val_auc", "val_rmse", "val_r2"} {
		if len(taskSeries(name, key)) > 0 {
			keys = append(keys, key)
		}
	}
	return keys
}

// panel is one plot with its legend, drawn beside it.
type panel struct {
	*plot.Plot
	legend  plot.Legend
	entries int
	err     error
}

func newPanel(title, ylabel string) *panel {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = ylabel
	p.X.Tick.Marker = distinctTicks{}
	p.Y.Tick.Marker = distinctTicks{}
	p.Add(plotter.NewGrid())
	leg := plot.NewLegend()
	leg.Top, leg.Left = true, true
	return &panel{Plot: p, legend: leg}
}

// add draws xy in the i-th colour with the given dash style and, when
// name is set, lists it in the legend.
func (p *panel) add(name string, i, dash int, xy plotter.XYs) {
	if len(xy) == 0 || p.err != nil {
		return
	}
	l, err := plotter.NewLine(xy)
	if err != nil {
		p.err = err
		return
	}
	l.Color = plotutil.Color(i)
	l.Dashes = plotutil.Dashes(dash)
	l.Width = vg.Points(1.5)
	p.Add(l)
	if name != "" {
		if p.entries < maxLegend {
			p.legend.Add(name, l)
		}
		p.entries++
	}
}

// finish widens a flat value range, marks the best epoch and completes
// the legend.
func (p *panel) finish(best, tasks int) {
	lo, hi := p.Y.Min, p.Y.Max
	if mid := (lo + hi) / 2; hi-lo <= 1e-9*max(1, math.Abs(mid)) {
		// A constant series (every weight 1, say) gets a range around its
		// value, so that the ticks say what the value is.
		pad := 0.5 * max(1, math.Abs(mid))
		p.Y.Min, p.Y.Max = mid-pad, mid+pad
	}
	if p.entries > maxLegend {
		p.legend.Add(fmt.Sprintf("… and %d more", p.entries-maxLegend))
	}
	if best <= 0 {
		return
	}
	mark, err := plotter.NewLine(plotter.XYs{{X: float64(best), Y: p.Y.Min}, {X: float64(best), Y: p.Y.Max}})
	if err != nil {
		return
	}
	mark.Color = color.Gray{Y: 110}
	mark.Dashes = []vg.Length{vg.Points(2), vg.Points(3)}
	mark.Width = vg.Points(1)
	p.Add(mark)
	p.legend.Add(fmt.Sprintf("best epoch %d", best), mark)
	if labels, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: float64(best), Y: p.Y.Max}}, Labels: []string{fmt.Sprintf(" best epoch %d", best)}}); err == nil {
		labels.TextStyle[0].Color = color.Gray{Y: 80}
		labels.TextStyle[0].YAlign = -1 // hang below the top
		p.Add(labels)
	}
}

// render lays the panels out top to bottom, each with its legend to the
// right, and writes the drawing in format.
func render(panels []*panel, w io.Writer, format string) error {
	width, height := vg.Points(panelWidth+legendWidth), vg.Points(panelHeight*float64(len(panels)))
	c, err := draw.NewFormattedCanvas(width, height, format)
	if err != nil {
		return err
	}
	dc := draw.New(c)
	grid := make([][]*plot.Plot, len(panels))
	for i, p := range panels {
		grid[i] = []*plot.Plot{p.Plot}
	}
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 2 * vg.Millimeter}
	plotArea := draw.Crop(dc, 0, -vg.Points(legendWidth), 0, 0)
	canvases := plot.Align(grid, tiles, plotArea)
	for i, p := range panels {
		p.Draw(canvases[i][0])
		tile := canvases[i][0]
		legend := draw.Crop(draw.Canvas{Canvas: dc.Canvas, Rectangle: tile.Rectangle}, tile.Max.X-tile.Min.X+vg.Points(8), vg.Points(legendWidth), 0, -vg.Points(20))
		p.legend.Draw(legend)
	}
	_, err = c.WriteTo(w)
	return err
}

// distinctTicks places ticks as gonum's default does and labels them with
// as many significant digits as it takes to tell them apart (the default
// labels of a narrow range can all read "1").
type distinctTicks struct{}

// Ticks returns the ticks of [lo, hi].
func (distinctTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for prec := -1; prec <= 17; prec++ {
		seen := map[string]bool{}
		ok := true
		for i, t := range ticks {
			if t.Label == "" {
				continue
			}
			label := t.Label
			if prec >= 0 {
				label = strconv.FormatFloat(t.Value, 'g', prec, 64)
			}
			if seen[label] {
				ok = false
				break
			}
			seen[label] = true
			ticks[i].Label = label
		}
		if ok {
			return ticks
		}
	}
	return ticks
}
