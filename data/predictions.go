package data

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
)

// Prediction is what a model says about one target for a run of rows,
// ready to be written by a PredictionWriter. Set Classes and Probs for a
// classification target, Values for a regression target.
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
	// Float64 writes Values with the digits of a float64 rather than
	// those of a float32 (the model's precision): for values that hold
	// more, such as a regression prediction with its target's offset
	// (Target.Offset) added back.
	Float64 bool
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

// PredictionWriter writes predictions as CSV block by block, as they are
// made, so that its memory does not grow with the input: the columns
// passed through from the input (EncodedBlock.Keep), then for every
// prediction its column (the class label as written, or the value) and,
// for classification, one probability column per class named
// NAME:p(CLASS). A kept cell is written as its source gives it as text,
// trimmed of surrounding white space.
type PredictionWriter struct {
	cw     *csv.Writer
	nkeep  int
	heads  []Prediction
	record []string
}

// NewPredictionWriter writes the header: the keep column names, then for
// every head its column and, for classification (Classes set), one
// probability column per class named NAME:p(CLASS). Only the Name,
// Classes and Float64 of the heads are used; the output column names must
// all differ.
func NewPredictionWriter(w io.Writer, keep []string, heads []Prediction) (*PredictionWriter, error) {
	header := append([]string(nil), keep...)
	for _, p := range heads {
		header = append(header, p.Name)
		for _, c := range p.Classes {
			header = append(header, p.Name+":p("+c+")")
		}
	}
	seen := make(map[string]bool, len(header))
	for _, h := range header {
		if seen[h] {
			return nil, fmt.Errorf("predictions: output column %q would appear twice", h)
		}
		seen[h] = true
	}
	pw := &PredictionWriter{cw: csv.NewWriter(w), nkeep: len(keep), heads: heads, record: make([]string, len(header))}
	if err := pw.cw.Write(header); err != nil {
		return nil, err
	}
	return pw, nil
}

// Write writes n rows: the text of row i of kept column j is keep[j]'s
// (Column.Text), and preds holds n rows of each head's predictions, in the
// order of the heads (see Prediction).
func (pw *PredictionWriter) Write(n int, keep []Column, preds []Prediction) error {
	if len(keep) != pw.nkeep {
		panic(fmt.Sprintf("data: PredictionWriter.Write with %d kept columns, the header has %d", len(keep), pw.nkeep))
	}
	return pw.write(n, func(j, i int) string { return keep[j].Text(i) }, preds)
}

// Flush writes what is buffered and reports any error of the writes.
func (pw *PredictionWriter) Flush() error {
	pw.cw.Flush()
	return pw.cw.Error()
}

// write writes n rows, the kept texts given by keep.
func (pw *PredictionWriter) write(n int, keep func(j, i int) string, preds []Prediction) error {
	if len(preds) != len(pw.heads) {
		panic(fmt.Sprintf("data: PredictionWriter with %d predictions for %d heads", len(preds), len(pw.heads)))
	}
	twoCol := make([]bool, len(preds)) // probabilities given as p(Classes[1]) only
	for pi, p := range preds {
		classes := pw.heads[pi].Classes
		if classes == nil {
			if len(p.Values) != n {
				return fmt.Errorf("prediction %q: %d values for %d rows", p.Name, len(p.Values), n)
			}
			continue
		}
		k := len(classes)
		switch {
		case k == 2 && len(p.Probs) == n:
			twoCol[pi] = true
		case k > 0 && len(p.Probs) == n*k:
		default:
			return fmt.Errorf("prediction %q: %d probabilities for %d rows and %d classes", p.Name, len(p.Probs), n, k)
		}
	}
	record := pw.record
	var pair [2]float64
	for i := 0; i < n; i++ {
		j := 0
		for ; j < pw.nkeep; j++ {
			record[j] = keep(j, i)
		}
		for pi, p := range preds {
			classes := pw.heads[pi].Classes
			if classes == nil {
				if pw.heads[pi].Float64 {
					record[j] = strconv.FormatFloat(p.Values[i], 'g', -1, 64)
				} else {
					record[j] = formatFloat(p.Values[i])
				}
				j++
				continue
			}
			var probs []float64
			if twoCol[pi] {
				pair = [2]float64{1 - p.Probs[i], p.Probs[i]}
				probs = pair[:]
			} else {
				k := len(classes)
				probs = p.Probs[i*k : (i+1)*k]
			}
			record[j] = classes[predictedClass(probs)]
			j++
			for _, v := range probs {
				record[j] = formatFloat(v)
				j++
			}
		}
		if err := pw.cw.Write(record); err != nil {
			return err
		}
	}
	return nil
}
