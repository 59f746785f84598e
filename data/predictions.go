package data

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
)

// Prediction is what a model says about one target for every row of a
// table, ready to be written by WritePredictions. Set Classes and Probs
// for a classification target, Values for a regression target.
type Prediction struct {
	// Name heads the prediction column; probability columns are named
	// NAME:p(CLASS). For a family of tasks split by a group column, pass
	// one Prediction named after the target, filled row by row from the
	// head of the row's group (the shared head for an unseen group).
	Name string
	// Classes are the class labels (Target.Classes).
	Classes []string
	// Probs holds the class probabilities, N×len(Classes) row-major. With
	// two classes it may instead hold N values, each the probability of
	// Classes[1] (the positive class of a binary target).
	Probs []float64
	// Values holds the N predicted values of a regression target.
	Values []float64
}

// predictedClass returns the class with the highest probability (the first
// one on ties); with two classes, the second wins at p ≥ 0.5, as in the
// metrics package.
func predictedClass(p []float64) int {
	if len(p) == 2 {
		if p[1] >= p[0] {
			return 1
		}
		return 0
	}
	best := 0
	for k := 1; k < len(p); k++ {
		if p[k] > p[best] {
			best = k
		}
	}
	return best
}

// formatFloat writes a model output, which is computed in float32, with
// the fewest digits that read back as the same float32.
func formatFloat(v float64) string {
	return strconv.FormatFloat(v, 'g', -1, 32)
}

// WritePredictions writes a CSV file with a header: first the keep columns
// of t passed through as written, then for every prediction its column
// (the class label as written, or the value) and, for classification, one
// probability column per class named NAME:p(CLASS). The keep columns must
// exist in t and the output column names must all differ.
func WritePredictions(w io.Writer, t *Table, keep []string, preds []Prediction) error {
	n := len(t.Rows)
	keepCols := make([]int, len(keep))
	var header []string
	for i, name := range keep {
		c := t.Column(name)
		if c < 0 {
			return &Error{File: t.Path, Line: 1, Column: name, Err: fmt.Errorf("column to keep is missing from the file")}
		}
		keepCols[i] = c
		header = append(header, name)
	}
	twoCol := make([]bool, len(preds)) // probabilities given as p(Classes[1]) only
	for pi, p := range preds {
		header = append(header, p.Name)
		if p.Classes == nil {
			if len(p.Values) != n {
				return fmt.Errorf("prediction %q: %d values for %d rows", p.Name, len(p.Values), n)
			}
			continue
		}
		k := len(p.Classes)
		switch {
		case k == 2 && len(p.Probs) == n:
			twoCol[pi] = true
		case k > 0 && len(p.Probs) == n*k:
		default:
			return fmt.Errorf("prediction %q: %d probabilities for %d rows and %d classes", p.Name, len(p.Probs), n, k)
		}
		for _, c := range p.Classes {
			header = append(header, p.Name+":p("+c+")")
		}
	}
	seen := make(map[string]bool, len(header))
	for _, h := range header {
		if seen[h] {
			return fmt.Errorf("predictions: output column %q would appear twice", h)
		}
		seen[h] = true
	}

	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return err
	}
	record := make([]string, len(header))
	var pair [2]float64
	for i := 0; i < n; i++ {
		j := 0
		for _, c := range keepCols {
			record[j] = t.Rows[i][c]
			j++
		}
		for pi, p := range preds {
			if p.Classes == nil {
				record[j] = formatFloat(p.Values[i])
				j++
				continue
			}
			var probs []float64
			if twoCol[pi] {
				pair = [2]float64{1 - p.Probs[i], p.Probs[i]}
				probs = pair[:]
			} else {
				k := len(p.Classes)
				probs = p.Probs[i*k : (i+1)*k]
			}
			record[j] = p.Classes[predictedClass(probs)]
			j++
			for _, v := range probs {
				record[j] = formatFloat(v)
				j++
			}
		}
		if err := cw.Write(record); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
