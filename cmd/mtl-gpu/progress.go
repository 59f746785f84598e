package main

import (
	"fmt"
	"math"
	"os"
	"time"

	"github.com/mtl-gpu/mtl-gpu/pipeline"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows training progress: a bar with epoch, loss and speed on a
// terminal, one log line per epoch otherwise, nothing with --quiet.
type progress struct {
	a      *app
	epochs int
	bar    *progressbar.ProgressBar
	loss   string
}

// startProgress logs what is about to train and starts showing progress.
func (a *app) startProgress(s pipeline.Summary) *progress {
	a.log.Info("training", "device", s.Device, "rows", s.Rows, "validation_rows", s.ValRows,
		"inputs", s.Inputs, "hidden", fmt.Sprint(s.Hidden), "tasks", s.Tasks,
		"parameters", s.Parameters, "epochs", s.Epochs, "weighting", s.Weighting)
	p := &progress{a: a, epochs: s.Epochs}
	if f, ok := a.stderr.(*os.File); ok && !a.quiet && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions(1,
			progressbar.OptionSetWriter(a.stderr),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("steps"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

func (p *progress) step(epoch, step, steps int) {
	if p == nil || p.bar == nil {
		return
	}
	if step == 0 {
		p.bar.Reset()
		p.bar.ChangeMax(steps)
		p.bar.Describe(fmt.Sprintf("epoch %d/%d%s", epoch+1, p.epochs, p.loss))
	}
	p.bar.Add(1)
}

func (p *progress) epoch(s pipeline.EpochStats) {
	p.loss = fmt.Sprintf(" loss %.4f", s.TrainLoss)
	if !math.IsNaN(s.ValLoss) {
		p.loss += fmt.Sprintf(" val %.4f", s.ValLoss)
	}
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("epoch %d/%d%s", s.Epoch, p.epochs, p.loss))
		return
	}
	args := []any{"epoch", s.Epoch, "train_loss", round(s.TrainLoss), "seconds", round(s.Seconds), "rows_per_s", math.Round(float64(s.Samples) / s.Seconds)}
	if !math.IsNaN(s.ValLoss) {
		args = append(args, "val_loss", round(s.ValLoss))
		if s.Best {
			args = append(args, "best", true)
		}
	}
	p.a.log.Info("epoch", args...)
}

func (p *progress) done() {
	if p != nil && p.bar != nil {
		p.bar.Finish()
	}
}

// round keeps four significant digits for log lines.
func round(v float64) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	scale := math.Pow(10, 3-math.Floor(math.Log10(math.Abs(v))))
	return math.Round(v*scale) / scale
}
