package pipeline

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/mtl-gpu/mtl-gpu/mtl"
	"github.com/mtl-gpu/mtl-gpu/stream"
)

// A run's budget is counted in optimiser steps, not epochs: a table of a
// hundred rows needs as many steps to fit as one of a hundred thousand,
// and takes them in a fraction of the time, while a table of millions
// must not be held to forty passes over it. Unless the options say
// otherwise, a new run of n training rows (the rows its batches are drawn
// from) gets
//
//	batch    = 2^round(log₂ √n), within [MinBatch, MaxBatch]
//	steps    = DefaultEpochs epochs of that batch, within [MinSteps, MaxSteps]
//	epochs   = ⌈steps / ⌈n / batch⌉⌉
//	patience = max(DefaultPatience, ⌈epochs / 5⌉) epochs
//
// so a table of 100 rows trains 2,000 steps of 16 rows (286 epochs), one
// of 30,000 rows 40 epochs of 128 rows (9,400 steps), and one of a
// million rows 40,000 steps of 512 rows (20 epochs). --steps sets the
// steps, --batch the batch, --epochs and --patience their own numbers;
// each one given replaces its rule. Early stopping on the validation rows
// still ends a run that has stopped improving.
const (
	MinBatch        = 16
	MaxBatch        = 512
	MinSteps        = 2000
	MaxSteps        = 40000
	DefaultEpochs   = 40
	DefaultPatience = 8
)

// Budget records how a run's batch size and number of epochs were set.
type Budget struct {
	// Rows is the number of rows the batches were drawn from.
	Rows int `json:"rows"`
	// Steps is the budget in optimiser steps (0 when --epochs set the
	// epochs).
	Steps int `json:"steps,omitempty"`
	// Rule names what the rule chose: the options it set ("batch",
	// "epochs", "patience").
	Rule []string `json:"rule,omitempty"`
}

// defaultBatch is the batch size of the rule for n training rows.
func defaultBatch(n int) int {
	if n < 1 {
		return MinBatch
	}
	b := 1 << int(math.Round(math.Log2(math.Sqrt(float64(n)))))
	return min(max(b, MinBatch), MaxBatch)
}

// defaultSteps is the step budget of the rule for n rows in batches of
// batch.
func defaultSteps(n, batch int) int {
	return min(max(DefaultEpochs*stepsPerEpoch(n, batch), MinSteps), MaxSteps)
}

func stepsPerEpoch(n, batch int) int { return max((n+batch-1)/batch, 1) }

// AutoPatience, as Options.Train.Patience, follows the rule of budget.go;
// 0 there means no early stopping, as in mtl.Config.
const AutoPatience = -1

// budget sets the batch size, epochs and patience of c for a new run of
// n training rows where they are 0 (AutoPatience for the patience), by the
// rule, and says how.
func (o *Options) budget(n int, c *mtl.Config) (*Budget, error) {
	if o.Steps > 0 && c.Epochs > 0 {
		return nil, optionErrorf("steps", fmt.Sprint(o.Steps), "and --epochs %d both set the length of the run: give one", c.Epochs)
	}
	b := &Budget{Rows: n}
	if c.Batch == 0 {
		c.Batch = defaultBatch(n)
		b.Rule = append(b.Rule, "batch")
	}
	per := stepsPerEpoch(n, c.Batch)
	if c.Epochs == 0 {
		b.Steps = o.Steps
		if b.Steps == 0 {
			b.Steps = defaultSteps(n, c.Batch)
			b.Rule = append(b.Rule, "steps")
		}
		c.Epochs = min(max((b.Steps+per-1)/per, 1), mtl.MaxEpochs)
		b.Rule = append(b.Rule, "epochs")
	}
	if c.Patience == AutoPatience {
		c.Patience = max(DefaultPatience, (c.Epochs+4)/5)
		b.Rule = append(b.Rule, "patience")
	}
	return b, nil
}

// Validation by default.
//
// With AutoValSplit (the default), a run holds out a fifth of its rows
// for validation, but no more than 1,000 rows unless that is under a
// tenth: 20% up to 5,000 rows, then 1,000 rows, then 10% from 10,000
// rows. With AutoCV (the default) a run of fewer than AutoCVRows rows (but
// at least two a fold) is cross-fitted instead (CVFolds folds, each member validated on its own
// fold), unless a validation split or file, an ensemble, --tune, --hidden
// auto or streaming was asked for: on small tables a single split wastes rows and decides on
// a few, and averaging the folds' members is worth their small cost.
const (
	AutoValSplit = -1
	AutoCV       = -1
	AutoCVRows   = 5000
	CVFolds      = 5
)

// legacyValSplit is the validation share of the files of an mtl-gpu that
// did not record it.
const legacyValSplit = 0.1

// ParseValSplit reads --val-split: auto or a fraction (checked by
// Prepare).
func ParseValSplit(s string) (float64, error) {
	if strings.EqualFold(strings.TrimSpace(s), "auto") {
		return AutoValSplit, nil
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !(v >= 0 && v < 1) {
		return 0, optionErrorf("val-split", s, "want auto or a fraction in [0, 1)")
	}
	return v, nil
}

// ParseCV reads --cv: auto or a number of folds (checked by Prepare).
func ParseCV(s string) (int, error) {
	if strings.EqualFold(strings.TrimSpace(s), "auto") {
		return AutoCV, nil
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || v < 0 {
		return 0, optionErrorf("cv", s, "want auto, 0 (none) or a number of folds ≥ 2")
	}
	return v, nil
}

// autoValSplit is the validation share of AutoValSplit for n rows.
func autoValSplit(n int) float64 {
	if n < 1 {
		return 0.2
	}
	v := max(min(0.2*float64(n), 1000), 0.1*float64(n))
	return v / float64(n)
}

// resolveAuto settles a new run's automatic validation and folds for n
// rows.
func (o *Options) resolveAuto(n int) {
	if o.CV == AutoCV {
		o.CV = 0
		if n >= 2*CVFolds && n < AutoCVRows && o.ValSplit == AutoValSplit && o.ValData == "" && o.Ensemble <= 1 && !o.AutoWidth &&
			o.Tune == 0 && o.Memory.Mode != stream.Always {
			o.CV = CVFolds
		}
	}
	switch {
	case o.ValSplit == AutoValSplit && o.ValData != "":
		o.ValSplit = 0
	case o.ValSplit == AutoValSplit:
		o.ValSplit = autoValSplit(n)
	}
}

// MinValidationRows is the number of labelled validation rows below which
// early stopping and the choice of the best epoch are called into doubt.
const MinValidationRows = 50

// fewValidationRows warns when fewer than MinValidationRows labelled
// validation rows decide the best epoch for a task (of the member with
// the fewest, for a cross-fitted run): one line for the tasks with the
// same count.
func fewValidationRows(spec mtl.Spec, val *mtl.Dataset) []string {
	if val == nil {
		return nil
	}
	members := max(spec.Members, 1)
	byCount := map[int][]string{}
	var order []int
	for t, task := range spec.Tasks {
		counts := make([]int, members)
		for i, y := range val.Labels[t] {
			if y != y { // a missing label
				continue
			}
			for m := range members {
				if val.Members == nil || val.Members[i]&(1<<m) != 0 {
					counts[m]++
				}
			}
		}
		n := slices.Min(counts)
		if n >= MinValidationRows {
			continue
		}
		if byCount[n] == nil {
			order = append(order, n)
		}
		byCount[n] = append(byCount[n], strconv.Quote(task.Name))
	}
	where := "validation rows"
	if val.Members != nil {
		where = "rows of a fold"
	}
	var out []string
	for _, n := range order {
		out = append(out, fmt.Sprintf("only %d labelled %s choose the best epoch for %s (fewer than %d): early stopping is noisy",
			n, where, andList(byCount[n]), MinValidationRows))
	}
	return out
}

// andList writes "a, b and c".
func andList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
