package data

import (
	"errors"
	"fmt"
	"math"
	"path"
	"strings"
)

// Options says how to read a training table: which columns are targets,
// which one splits the rows into groups, and how to treat the others.
type Options struct {
	// Tasks names the target columns. Each matched column becomes one
	// target, in the order of the specs that match them (file column
	// order among the columns of one spec).
	Tasks []TaskSpec
	// GroupColumn, when set, names a column whose values split every
	// target into a family of tasks, one per group. It is not a feature.
	GroupColumn string
	// Ignore lists column names or globs that are neither features nor
	// targets. Naming a target or the group column here is allowed and has
	// no effect.
	Ignore []string
	// Categorical lists column names or globs of features to one-hot
	// encode even when all their values are numbers.
	Categorical []string
	// Impute is "" (a missing numeric value is an error) or "mean" (it
	// becomes the training mean).
	Impute string
	// Numeric is how numeric features are encoded; the zero value means
	// DefaultNumeric.
	Numeric NumericEncoding

	// Include, when set, says which rows (from 0) FitSource learns from;
	// the others (a held-out part, say) are read for the per-row groups
	// and strata of the result, but neither checked nor counted. nil
	// includes every row.
	Include func(row int64) bool
	// Split, with more than one process, shares FitSource's pass between
	// the processes of a data-parallel job, each of which calls FitSource
	// with the same source and options: each scans its part of the rows
	// (PartScanner.ScanPart), and what the parts learnt is gathered and
	// merged in part order, so that every process returns the same
	// result, with the rows' groups and strata in file order, and the
	// same errors (the first in file order). Every process reads every row
	// instead, as without Split, when Include is set or some process
	// cannot scan the source in parts. See FitResult.Parts.
	Split Gatherer

	// The options below turn categorical columns into embeddings.

	// OneHotMax is the number of distinct training values up to which a
	// categorical column is one-hot encoded; a column with more becomes
	// an embedding. 0 means DefaultOneHotMax; a negative value leaves
	// every column one-hot unless Embed or HashBuckets names it.
	OneHotMax int
	// MinCount is the number of training rows a value of an embedded
	// column needs for a row of its own; rarer values share row 0 with
	// the values unseen in training. 0 means DefaultMinCount.
	MinCount int
	// EmbedDimMax caps the default width of an embedding,
	// round(1.6·rows^0.56). 0 means DefaultEmbedDimMax.
	EmbedDimMax int
	// Embed gives the columns it names (which become embedded
	// categorical columns) their width.
	Embed []ColumnSize
	// HashBuckets makes the columns it names embedded categorical
	// columns whose values are hashed into Size rows (see HashBucket);
	// an entry without a pattern hashes every embedded column that no
	// entry names.
	HashBuckets []ColumnSize
}

// Thresholds for the advice fitting gives about categorical columns.
const (
	// manyCategories is the number of categories above which a column is
	// reported as wide.
	manyCategories = 1000
	// mostlyNumbers is the fraction of number cells above which a column
	// that is categorical anyway is reported.
	mostlyNumbers = 0.9
)

// matchColumns returns the columns a pattern names: the column whose name
// equals the pattern, or else every column the glob matches, in order.
func matchColumns(header []string, pattern string) ([]int, error) {
	for i, h := range header {
		if h == pattern {
			return []int{i}, nil
		}
	}
	var cols []int
	for i, h := range header {
		ok, err := path.Match(pattern, h)
		if err != nil {
			if errors.Is(err, path.ErrBadPattern) {
				return nil, fmt.Errorf("no column has this name and it is not a valid glob")
			}
			return nil, err
		}
		if ok {
			cols = append(cols, i)
		}
	}
	return cols, nil
}

// place is where a cell is: its line in a text file, or its row (from 0)
// in a binary one (line 0).
type place struct {
	line int64
	row  int64
}

// errorAt builds an *Error for a cell: FILE:LINE: column "NAME" (INDEX):
// MESSAGE in a text file, FILE: column "NAME" (INDEX): row R: MESSAGE
// (R from 1) in a binary one.
func errorAt(file string, at place, column string, index int, format string, args ...any) *Error {
	if at.line > 0 {
		return errorf(file, int(at.line), column, index, format, args...)
	}
	return errorf(file, 0, column, index, "row %d: "+format, append([]any{at.row + 1}, args...)...)
}

// describe names a place in a warning: "line L" or "row R".
func (p place) describe() string {
	if p.line > 0 {
		return fmt.Sprintf("line %d", p.line)
	}
	return fmt.Sprintf("row %d", p.row+1)
}

// welford is Welford's running mean and sum of squared deviations, in the
// order the values come.
type welford struct{ n, mean, m2 float64 }

func (w *welford) add(v float64) {
	w.n++
	d := v - w.mean
	w.mean += d / w.n
	w.m2 += d * (v - w.mean)
}

// featureStats is what a pass over the training rows learns of a feature
// column before its kind is decided.
type featureStats struct {
	rows                   int
	numbers, missing, text int
	firstText              string
	firstTextAt            place
	firstMissingAt         place
	nonFiniteCell          string
	firstNonFiniteAt       place
	hasMissing, hasNonFin  bool
	moments                welford
	sample                 *numericSample // nil unless the encoding needs quantiles
}

// add counts one cell of the given kind (its value v for a number, its
// text for the rest).
func (st *featureStats) add(kind cellKind, v float64, text string, at place) {
	switch kind {
	case cellMissing:
		st.missing++
		if !st.hasMissing {
			st.hasMissing, st.firstMissingAt = true, at
		}
	case cellNumber:
		st.numbers++
		st.addNumber(v)
	case cellNonFinite:
		// A number all the same when deciding the kind.
		st.numbers++
		if !st.hasNonFin {
			st.hasNonFin, st.firstNonFiniteAt, st.nonFiniteCell = true, at, text
		}
	default:
		if st.text == 0 {
			st.firstText, st.firstTextAt = text, at
		}
		st.text++
	}
}

// categorical reports whether the column is categorical: forced, or with
// a value that is not a number.
func (st *featureStats) categorical(forced bool) bool { return forced || st.text > 0 }

// categoricalWarnings are the warnings about a categorical column of n
// categories.
func (st *featureStats) categoricalWarnings(file, name string, forced bool, n int) []string {
	var warnings []string
	if !forced && float64(st.numbers) >= mostlyNumbers*float64(st.rows) {
		warnings = append(warnings, fmt.Sprintf("%s: column %q is categorical because %d of %d values are not numbers (the first, %q, on %s)", file, name, st.text, st.rows, strings.TrimSpace(st.firstText), st.firstTextAt.describe()))
	}
	if n > manyCategories {
		warnings = append(warnings, fmt.Sprintf("%s: categorical column %q has %d categories, one encoded column each; ignore it if it is an identifier", file, name, n))
	}
	return warnings
}

// numeric finishes a numeric column (column c of the file, from 0): its
// errors, mean, scale and warnings.
func (st *featureStats) numeric(file, name string, c int, impute string) (Feature, []string, error) {
	f := Feature{Name: name, Kind: Numeric}
	if st.numbers == 0 {
		return f, nil, errorf(file, 0, name, c, "no values in the training data (all %d are missing); ignore the column", st.missing)
	}
	if st.hasNonFin {
		return f, nil, errorAt(file, st.firstNonFiniteAt, name, c, "%q is not a finite number", strings.TrimSpace(st.nonFiniteCell))
	}
	if st.missing > 0 && impute == "" {
		return f, nil, errorAt(file, st.firstMissingAt, name, c, "missing value in a numeric column (%d in all; impute \"mean\" replaces them with the training mean)", st.missing)
	}
	w := st.moments
	mean, std := w.mean, math.Sqrt(w.m2/w.n)
	if math.IsNaN(mean) || math.IsInf(mean, 0) || math.IsNaN(std) || math.IsInf(std, 0) {
		return f, nil, errorf(file, 0, name, c, "values too large to standardise")
	}
	f.Mean, f.Scale = mean, std
	f.Indicator = st.missing > 0 // impute is "mean": refused above otherwise
	var warnings []string
	if std == 0 {
		f.Scale = 1
		warnings = append(warnings, fmt.Sprintf("%s: numeric column %q is constant in the training data (%v)", file, name, mean))
	}
	return f, warnings, nil
}

// knownPairs are label pairs whose positive class is the second whatever
// their order or case.
var knownPairs = [][2]string{{"0", "1"}, {"false", "true"}, {"no", "yes"}}

// targetStats is what a pass over the training rows learns of a target
// column.
type targetStats struct {
	rows, labelled int
	labels         []string // distinct labels of a classification target
	bad            bool     // a regression label that is not a finite number
	badKind        cellKind
	badCell        string
	badAt          place
	moments        welford // of a regression target's labels
}

// addBad notes the first regression label that is not a finite number.
func (st *targetStats) addBad(kind cellKind, cell string, at place) {
	if kind != cellNumber && !st.bad {
		st.bad, st.badKind, st.badCell, st.badAt = true, kind, cell, at
	}
}

// finish decides a target (column c of the file, from 0) from its
// statistics: its errors, classes and warnings.
func (st *targetStats) finish(file, name string, c int, spec TaskSpec) (Target, []string, error) {
	tg := Target{Name: name, Type: spec.Type, Weight: spec.weight()}
	if st.bad {
		if st.badKind == cellNonFinite {
			return tg, nil, errorAt(file, st.badAt, name, c, "regression target %q is not a finite number", strings.TrimSpace(st.badCell))
		}
		return tg, nil, errorAt(file, st.badAt, name, c, "regression target %q is not a number", strings.TrimSpace(st.badCell))
	}
	if st.labelled == 0 {
		return tg, nil, errorf(file, 0, name, c, "target has no labels in the training data (all %d missing)", st.rows)
	}
	if spec.Type == Regression {
		return tg, nil, nil
	}
	labels := st.labels
	sortValues(labels)
	if spec.Type == Multiclass {
		tg.Classes = labels
		if len(labels) == 1 {
			return tg, []string{fmt.Sprintf("%s: multiclass target %q has a single class %q in the training data", file, name, labels[0])}, nil
		}
		return tg, nil, nil
	}

	// Binary.
	var warnings []string
	switch len(labels) {
	case 1:
		neg, pos, ok := completePair(labels[0])
		if !ok {
			return tg, nil, errorf(file, 0, name, c, "binary target has the single label %q in the training data, so its positive class is unknown", labels[0])
		}
		tg.Classes = []string{neg, pos}
		warnings = append(warnings, fmt.Sprintf("%s: binary target %q has the single label %q in the training data", file, name, labels[0]))
	case 2:
		tg.Classes = labels // sorted: the larger is positive ...
		for _, p := range knownPairs {
			a, b := strings.ToLower(labels[0]), strings.ToLower(labels[1])
			if a == p[1] && b == p[0] { // ... unless a known pair says otherwise
				tg.Classes = []string{labels[1], labels[0]}
			}
		}
	default:
		return tg, nil, errorf(file, 0, name, c, "binary target has %d labels: %s", len(labels), listLabels(labels))
	}
	tg.Positive = tg.Classes[1]
	return tg, warnings, nil
}

// completePair returns the negative and positive class for a lone label of
// a known pair, writing the missing one in the label's case.
func completePair(label string) (neg, pos string, ok bool) {
	lower := strings.ToLower(label)
	for _, p := range knownPairs {
		for side, v := range p {
			if lower != v {
				continue
			}
			other := matchCase(p[1-side], label)
			if side == 0 {
				return label, other, true
			}
			return other, label, true
		}
	}
	return "", "", false
}

// matchCase writes word in the case style of model: all upper, capitalised
// or lower.
func matchCase(word, model string) string {
	switch {
	case model == strings.ToUpper(model) && model != strings.ToLower(model):
		return strings.ToUpper(word)
	case len(model) > 0 && model[:1] == strings.ToUpper(model[:1]) && model[:1] != strings.ToLower(model[:1]):
		return strings.ToUpper(word[:1]) + word[1:]
	}
	return word
}

// listLabels quotes up to ten labels for a message.
func listLabels(labels []string) string {
	const most = 10
	var b strings.Builder
	for i, l := range labels {
		if i == most {
			fmt.Fprintf(&b, " and %d more", len(labels)-most)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", l)
	}
	return b.String()
}
