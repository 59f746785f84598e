package data

import (
	"fmt"
	"math"
	"strings"
)

// Encoded is a table turned into numbers by a Schema.
type Encoded struct {
	// N is the number of rows and D the encoded width (Schema.Dim).
	N, D int
	// X holds the N×D features row-major: numeric columns standardised,
	// categorical columns one-hot (all zeros for an unseen category).
	X []float32
	// Index holds, per embedded feature in Schema.Embeddings order, each
	// row's row of the table: its value's, or 0 ("other") for a value
	// without one; the hashed row for a hashed table. nil without
	// embedded features.
	Index [][]int32
	// Labels holds, per target in Schema order, N values: the class index
	// (0..K−1) for multiclass, 0 or 1 (negative, positive) for binary,
	// float32(value − Target.Offset) for regression (the value itself
	// when the offset is 0), and NaN for a missing label. It is nil when
	// encoding without targets.
	Labels [][]float32
	// Groups holds each row's index into Schema.Groups, −1 for a group not
	// seen in training; nil without a group column.
	Groups []int32
	// Warnings holds one line per column with imputed values or unseen
	// categories, and one for rows of unseen groups.
	Warnings []string
}

// Encode turns a table into numbers. Columns are found by name, so their
// order may differ from the training table and extra columns are ignored;
// a missing feature column or group column is an error. With withTargets
// (evaluation, training) every target column must be present and a label
// not seen in training is an error; without it (prediction) target
// columns are not read.
//
// A numeric cell that is not a number or not finite is an error, and so is
// a missing one unless the schema imputes the mean, which encodes as the
// mean does (0 when standardised).
// A category not seen in training encodes as all zeros. Each of these
// errors names the file, line and column.
func (s *Schema) Encode(t *Table, withTargets bool) (*Encoded, error) {
	file := t.Path
	col := func(name, role string) (int, error) {
		c := t.Column(name)
		if c < 0 {
			return -1, &Error{File: file, Line: 1, Column: name, Err: fmt.Errorf("%s column missing from the file", role)}
		}
		return c, nil
	}

	n, d := len(t.Rows), s.Dim()
	e := &Encoded{N: n, D: d, X: make([]float32, n*d)}

	offset := 0
	for _, f := range s.Features {
		c, err := col(f.Name, "feature")
		if err != nil {
			return nil, err
		}
		var warn string
		switch f.Kind {
		case Categorical:
			warn = encodeCategorical(t, c, f, e.X[offset:], d)
		case Embedded:
			var index []int32
			index, warn = encodeEmbedded(t, c, f)
			e.Index = append(e.Index, index)
		default:
			warn, err = encodeNumeric(t, c, f, s.Impute == "mean", e.X[offset:], d)
			if err != nil {
				return nil, err
			}
		}
		if warn != "" {
			e.Warnings = append(e.Warnings, warn)
		}
		offset += f.Width()
	}

	if s.GroupColumn != "" {
		c, err := col(s.GroupColumn, "group")
		if err != nil {
			return nil, err
		}
		index := make(map[string]int32, len(s.Groups))
		for g, v := range s.Groups {
			index[v] = int32(g)
		}
		e.Groups = make([]int32, n)
		unseen := 0
		for i, row := range t.Rows {
			v := strings.TrimSpace(row[c])
			if IsMissing(v) {
				return nil, errorf(file, t.Lines[i], s.GroupColumn, c, "missing group value")
			}
			g, ok := index[v]
			if !ok {
				g = -1
				unseen++
			}
			e.Groups[i] = g
		}
		if unseen > 0 {
			e.Warnings = append(e.Warnings, fmt.Sprintf("%s: group column %q: %d rows have groups unseen in training (predicted by the shared head of each family)", file, s.GroupColumn, unseen))
		}
	}

	if withTargets {
		e.Labels = make([][]float32, len(s.Targets))
		for ti, tg := range s.Targets {
			c, err := col(tg.Name, "target")
			if err != nil {
				return nil, err
			}
			if e.Labels[ti], err = encodeLabels(t, c, tg); err != nil {
				return nil, err
			}
		}
	}
	return e, nil
}

// encodeNumeric writes column c encoded into x (row stride d).
func encodeNumeric(t *Table, c int, f Feature, impute bool, x []float32, d int) (string, error) {
	imputed := 0
	coder := newNumericCoder(f)
	for i, row := range t.Rows {
		kind, v := parseCell(row[c])
		switch kind {
		case cellNumber:
			if !coder.encode(v, x[i*d:]) {
				return "", errorf(t.Path, t.Lines[i], f.Name, c, "%q is too large after standardising (mean %.6g, scale %.6g)", strings.TrimSpace(row[c]), f.Mean, f.Scale)
			}
		case cellMissing:
			if !impute {
				return "", errorf(t.Path, t.Lines[i], f.Name, c, "missing value in a numeric column (impute \"mean\" replaces it with the training mean)")
			}
			imputed++
			coder.imputed(x[i*d:])
		case cellNonFinite:
			return "", errorf(t.Path, t.Lines[i], f.Name, c, "%q is not a finite number", strings.TrimSpace(row[c]))
		default:
			return "", errorf(t.Path, t.Lines[i], f.Name, c, "%q is not a number", strings.TrimSpace(row[c]))
		}
	}
	if imputed > 0 {
		return fmt.Sprintf("%s: column %q: %d missing values replaced by the training mean", t.Path, f.Name, imputed), nil
	}
	return "", nil
}

// encodeCategorical writes column c one-hot into x (row stride d).
func encodeCategorical(t *Table, c int, f Feature, x []float32, d int) string {
	index := make(map[string]int, len(f.Categories))
	for k, v := range f.Categories {
		index[v] = k
	}
	unseen := 0
	for i, row := range t.Rows {
		k, ok := index[strings.TrimSpace(row[c])]
		if !ok {
			unseen++
			continue
		}
		x[i*d+k] = 1
	}
	if unseen > 0 {
		return fmt.Sprintf("%s: column %q: %d rows have categories unseen in training (encoded as all zeros)", t.Path, f.Name, unseen)
	}
	return ""
}

// encodeEmbedded returns the table rows of column c.
func encodeEmbedded(t *Table, c int, f Feature) ([]int32, string) {
	index := make([]int32, len(t.Rows))
	rows := newEmbedRows(f)
	unseen := 0
	for i, row := range t.Rows {
		index[i] = rows.row(strings.TrimSpace(row[c]))
		if index[i] == 0 && f.Buckets == 0 {
			unseen++
		}
	}
	return index, embedWarning(t.Path, f, unseen)
}

// encodeLabels reads target column c.
func encodeLabels(t *Table, c int, tg Target) ([]float32, error) {
	out := make([]float32, len(t.Rows))
	nan := float32(math.NaN())
	var index map[string]int
	if tg.Type != Regression {
		index = make(map[string]int, len(tg.Classes))
		for k, v := range tg.Classes {
			index[v] = k
		}
	}
	for i, row := range t.Rows {
		cell := row[c]
		if IsMissing(cell) {
			out[i] = nan
			continue
		}
		if tg.Type == Regression {
			kind, v := parseCell(cell)
			switch {
			case kind == cellNonFinite:
				return nil, errorf(t.Path, t.Lines[i], tg.Name, c, "regression target %q is not a finite number", strings.TrimSpace(cell))
			case kind != cellNumber:
				return nil, errorf(t.Path, t.Lines[i], tg.Name, c, "regression target %q is not a number", strings.TrimSpace(cell))
			case math.IsInf(float64(float32(v-tg.Offset)), 0):
				return nil, errorf(t.Path, t.Lines[i], tg.Name, c, "regression target %q is out of float32 range", strings.TrimSpace(cell))
			}
			out[i] = float32(v - tg.Offset)
			continue
		}
		label := strings.TrimSpace(cell)
		k, ok := index[label]
		if !ok {
			return nil, errorf(t.Path, t.Lines[i], tg.Name, c, "label %q was not seen in training (classes: %s)", label, listLabels(tg.Classes))
		}
		out[i] = float32(k)
	}
	return out, nil
}

// ClassIndices returns the labels of a classification target as class
// indices, −1 for a missing label, as metrics.Multiclass takes them.
func (e *Encoded) ClassIndices(target int) []int {
	out := make([]int, e.N)
	for i, v := range e.Labels[target] {
		if math.IsNaN(float64(v)) {
			out[i] = -1
			continue
		}
		out[i] = int(v)
	}
	return out
}

// LabelValues returns the labels of a target as float64, NaN for a missing
// label, as metrics.Binary and metrics.Regression take them.
func (e *Encoded) LabelValues(target int) []float64 {
	out := make([]float64, e.N)
	for i, v := range e.Labels[target] {
		out[i] = float64(v)
	}
	return out
}
