package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/mtl-gpu/mtl-gpu/pipeline"
	"golang.org/x/term"
)

// Progress display limits.
const (
	// lineEvery is the least time between two epoch lines on a terminal;
	// faster epochs are summarised in one line.
	lineEvery = time.Second
	// barEvery is the least time between two redraws of the live bar.
	barEvery = 100 * time.Millisecond
	// shownTasks is the number of tasks whose metric an epoch line shows.
	shownTasks = 3
)

// progress shows training progress. On a terminal, epoch lines (at most
// one a second, fast epochs summarised) scroll above a live bar, as Keras
// and PyTorch Lightning users expect; otherwise an epoch is a log line, at
// most one a second (the latest epoch, and the last at the end); with
// --quiet nothing shows.
type progress struct {
	a       *app
	epochs  int
	tty     io.Writer // the terminal, or nil
	pending []pipeline.EpochStats
	// lastLine and lastDraw are when an epoch line and the bar were last
	// written; barShown says whether the bar is on screen.
	lastLine, lastDraw time.Time
	barShown           bool
	epochStart         time.Time
	// at is the epoch (from 0) and step (from 1) of the bar, of steps.
	atEpoch, atStep, steps int
}

// startProgress logs what is about to train and starts showing progress.
func (a *app) startProgress(s pipeline.Summary) *progress {
	attrs := []any{"device", s.Device, "rows", s.Rows, "validation_rows", s.ValRows,
		"inputs", s.Inputs, "hidden", fmt.Sprint(s.Hidden), "tasks", s.Tasks,
		"parameters", s.Parameters, "epochs", s.Epochs, "weighting", s.Weighting}
	if s.AllReduce != "" {
		attrs = append(attrs, "allreduce", s.AllReduce)
	}
	a.log.Info("training", attrs...)
	p := &progress{a: a, epochs: s.Epochs, epochStart: time.Now()}
	if f, ok := a.stderr.(*os.File); ok && !a.quiet && term.IsTerminal(int(f.Fd())) {
		p.tty = f
	}
	return p
}

func (p *progress) step(epoch, step, steps int) {
	if p == nil || p.tty == nil {
		return
	}
	p.atEpoch, p.atStep, p.steps = epoch, step+1, steps
	now := time.Now()
	if now.Sub(p.lastDraw) < barEvery {
		return
	}
	if len(p.pending) > 0 && now.Sub(p.lastLine) >= lineEvery {
		p.flush(now)
	}
	p.drawBar(now)
}

func (p *progress) epoch(s pipeline.EpochStats) {
	if p == nil {
		return
	}
	p.epochStart, p.atEpoch, p.atStep = time.Now(), s.Epoch, 0
	if p.tty == nil {
		p.pending = append(p.pending[:0], s)
		if now := time.Now(); now.Sub(p.lastLine) >= lineEvery {
			p.logEpoch(s)
			p.pending, p.lastLine = p.pending[:0], now
		}
		return
	}
	p.pending = append(p.pending, s)
	if now := time.Now(); now.Sub(p.lastLine) >= lineEvery {
		p.flush(now)
		p.drawBar(now)
	}
}

// logEpoch writes one log line for an epoch, off a terminal.
func (p *progress) logEpoch(s pipeline.EpochStats) {
	args := []any{"epoch", s.Epoch, "train_loss", round(s.TrainLoss), "seconds", round(s.Seconds), "rows_per_s", math.Round(float64(s.Samples) / s.Seconds)}
	if !math.IsNaN(s.ValLoss) {
		args = append(args, "val_loss", round(s.ValLoss))
		if s.Best {
			args = append(args, "best", true)
		}
	}
	for _, m := range s.Metrics {
		args = append(args, "val_"+m.Metric+"."+m.Task, round(m.Value))
	}
	p.a.log.Info("epoch", args...)
}

// flush writes the pending epochs as one line above the bar.
func (p *progress) flush(now time.Time) {
	if len(p.pending) == 0 {
		return
	}
	p.clearBar()
	fmt.Fprintln(p.tty, epochLine(p.pending, p.epochs))
	p.pending, p.lastLine = p.pending[:0], now
}

// epochLine describes one epoch, or a run of fast epochs: the epochs, the
// losses (first → last), each task's metric at the last, and the time.
func epochLine(ep []pipeline.EpochStats, total int) string {
	first, last := ep[0], ep[len(ep)-1]
	var b strings.Builder
	var seconds float64
	for _, s := range ep {
		seconds += s.Seconds
	}
	if len(ep) == 1 {
		fmt.Fprintf(&b, "epoch %d/%d  train %.4f", last.Epoch, total, last.TrainLoss)
	} else {
		fmt.Fprintf(&b, "epochs %d–%d/%d  train %.4f→%.4f", first.Epoch, last.Epoch, total, first.TrainLoss, last.TrainLoss)
	}
	if !math.IsNaN(last.ValLoss) {
		if len(ep) == 1 {
			fmt.Fprintf(&b, "  val %.4f", last.ValLoss)
		} else {
			fmt.Fprintf(&b, "  val %.4f→%.4f", first.ValLoss, last.ValLoss)
		}
		if best := bestIn(ep); best != nil && len(ep) > 1 {
			fmt.Fprintf(&b, " (best %.4f at %d)", best.ValLoss, best.Epoch)
		} else if best != nil {
			b.WriteString(" (best)")
		}
	}
	for i, m := range last.Metrics {
		if i == shownTasks {
			fmt.Fprintf(&b, "  +%d tasks", len(last.Metrics)-shownTasks)
			break
		}
		fmt.Fprintf(&b, "  %s %s %.4g", m.Task, m.Metric, m.Value)
	}
	fmt.Fprintf(&b, "  %.2f s", seconds)
	return b.String()
}

// bestIn is the last epoch of ep that was the best so far, or nil.
func bestIn(ep []pipeline.EpochStats) *pipeline.EpochStats {
	var best *pipeline.EpochStats
	for i := range ep {
		if ep[i].Best {
			best = &ep[i]
		}
	}
	return best
}

// drawBar redraws the live bar: the epoch, a bar of its steps and the
// steps per second.
func (p *progress) drawBar(now time.Time) {
	if p.steps == 0 {
		return
	}
	const width = 30
	done := width * p.atStep / p.steps
	rate := ""
	if p.atStep > 0 {
		rate = fmt.Sprintf(", %.0f steps/s", float64(p.atStep)/max(now.Sub(p.epochStart).Seconds(), 1e-9))
	}
	fmt.Fprintf(p.tty, "\r\033[Kepoch %d/%d [%s%s] %d/%d steps%s", p.atEpoch+1, p.epochs,
		strings.Repeat("=", done), strings.Repeat(" ", width-done), p.atStep, p.steps, rate)
	p.barShown, p.lastDraw = true, now
}

func (p *progress) clearBar() {
	if p.barShown {
		fmt.Fprint(p.tty, "\r\033[K")
		p.barShown = false
	}
}

// done writes the epochs not yet shown and removes the bar.
func (p *progress) done() {
	if p == nil {
		return
	}
	if p.tty == nil {
		for _, s := range p.pending {
			p.logEpoch(s)
		}
		p.pending = nil
		return
	}
	p.flush(time.Now())
	p.clearBar()
}

// finish says how the run ended: whether its best epoch was the last, so
// that more epochs would probably help.
func (p *progress) finish(res *pipeline.Result) {
	if p == nil || res == nil || math.IsInf(res.State.BestVal, 0) {
		return
	}
	st := res.State
	var msg string
	switch {
	case res.StillImproving:
		msg = fmt.Sprintf("the best epoch was the last (%d of %d): still improving, consider a larger budget (--epochs, now %d)", st.BestEpoch, st.Epoch, st.Epoch)
	case st.Done:
		msg = fmt.Sprintf("best epoch %d of %d: stopped early, %d epochs without a better validation loss (--patience)", st.BestEpoch, st.Epoch, st.Stale)
	default:
		msg = fmt.Sprintf("best epoch %d of %d", st.BestEpoch, st.Epoch)
	}
	if p.tty != nil {
		fmt.Fprintln(p.tty, msg)
		return
	}
	p.a.log.Info(msg)
}

// round keeps four significant digits for log lines.
func round(v float64) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	scale := math.Pow(10, 3-math.Floor(math.Log10(math.Abs(v))))
	return math.Round(v*scale) / scale
}
