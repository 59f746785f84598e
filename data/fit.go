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
	// target, in file column order.
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
}

// Thresholds for the advice Fit gives about categorical columns.
const (
	// manyCategories is the number of categories above which a column is
	// reported as wide.
	manyCategories = 1000
	// mostlyNumbers is the fraction of number cells above which a column
	// that is categorical anyway is reported.
	mostlyNumbers = 0.9
)

// Fit learns a Schema from a training table. It returns warnings about
// things that are allowed but probably unintended (a multiclass target
// with one class, a constant numeric column, a column that is categorical
// because of a few non-numbers, a very wide categorical column); they are
// single lines meant for a log. Counting missing values and unseen
// categories is left to Encode.
//
// Columns are matched by the patterns of Options: a pattern that is the
// name of a column matches that column only; otherwise it is a path.Match
// glob. A pattern that matches no column is an error, as is a column
// matched by two task specs, a target or group column listed in
// Categorical, a group column that is also a target, and a table with no
// target or no feature left. Every error names the file and, where there
// is one, the line and column.
func Fit(t *Table, opts Options) (*Schema, []string, error) {
	file := t.Path
	if opts.Impute != "" && opts.Impute != "mean" {
		return nil, nil, fileErrorf(file, 0, "unknown impute method %q (want \"\" or \"mean\")", opts.Impute)
	}
	if len(opts.Tasks) == 0 {
		return nil, nil, fileErrorf(file, 0, "no task given (want at least one PATTERN:TYPE)")
	}
	if len(t.Header) == 0 || len(t.Rows) == 0 {
		return nil, nil, fileErrorf(file, 0, "table has no columns or no rows")
	}

	// Targets: every column matched by a spec, in file order.
	specOf := make([]int, len(t.Header)) // spec index + 1, 0 for none
	for si, spec := range opts.Tasks {
		if err := spec.check(); err != nil {
			return nil, nil, fileErrorf(file, 0, "%v", err)
		}
		cols, err := matchColumns(t.Header, spec.Pattern)
		if err != nil {
			return nil, nil, fileErrorf(file, 1, "task %q: %v", spec.String(), err)
		}
		if len(cols) == 0 {
			return nil, nil, fileErrorf(file, 1, "task %q matches no column", spec.String())
		}
		for _, c := range cols {
			if prev := specOf[c]; prev != 0 {
				return nil, nil, errorf(file, 1, t.Header[c], c, "matched by two task specs, %q and %q", opts.Tasks[prev-1].String(), spec.String())
			}
			specOf[c] = si + 1
		}
	}

	group := -1
	if opts.GroupColumn != "" {
		group = t.Column(opts.GroupColumn)
		if group < 0 {
			return nil, nil, fileErrorf(file, 1, "group column %q not found", opts.GroupColumn)
		}
		if specOf[group] != 0 {
			return nil, nil, errorf(file, 1, opts.GroupColumn, group, "the group column cannot also be a target (task %q)", opts.Tasks[specOf[group]-1].String())
		}
	}

	ignored := make([]bool, len(t.Header))
	for _, p := range opts.Ignore {
		cols, err := matchColumns(t.Header, p)
		if err != nil {
			return nil, nil, fileErrorf(file, 1, "ignore %q: %v", p, err)
		}
		if len(cols) == 0 {
			return nil, nil, fileErrorf(file, 1, "ignore pattern %q matches no column", p)
		}
		for _, c := range cols {
			ignored[c] = true
		}
	}

	forced := make([]bool, len(t.Header))
	for _, p := range opts.Categorical {
		cols, err := matchColumns(t.Header, p)
		if err != nil {
			return nil, nil, fileErrorf(file, 1, "categorical %q: %v", p, err)
		}
		if len(cols) == 0 {
			return nil, nil, fileErrorf(file, 1, "categorical pattern %q matches no column", p)
		}
		for _, c := range cols {
			switch {
			case specOf[c] != 0:
				return nil, nil, errorf(file, 1, t.Header[c], c, "listed as categorical but it is a target (task %q)", opts.Tasks[specOf[c]-1].String())
			case c == group:
				return nil, nil, errorf(file, 1, t.Header[c], c, "listed as categorical but it is the group column")
			}
			forced[c] = true
		}
	}

	s := &Schema{Version: SchemaVersion, GroupColumn: opts.GroupColumn, Impute: opts.Impute}
	var warnings []string
	for c := range t.Header {
		if specOf[c] != 0 || c == group || ignored[c] {
			continue
		}
		f, warn, err := fitFeature(t, c, forced[c], opts.Impute)
		if err != nil {
			return nil, nil, err
		}
		s.Features = append(s.Features, f)
		warnings = append(warnings, warn...)
	}
	if len(s.Features) == 0 {
		return nil, nil, fileErrorf(file, 1, "no feature column left after targets, group column and ignored columns")
	}

	for c := range t.Header {
		if specOf[c] == 0 {
			continue
		}
		tg, warn, err := fitTarget(t, c, opts.Tasks[specOf[c]-1])
		if err != nil {
			return nil, nil, err
		}
		s.Targets = append(s.Targets, tg)
		warnings = append(warnings, warn...)
	}

	if group >= 0 {
		seen := map[string]bool{}
		for i, row := range t.Rows {
			v := strings.TrimSpace(row[group])
			if IsMissing(v) {
				return nil, nil, errorf(file, t.Lines[i], t.Header[group], group, "missing group value")
			}
			if !seen[v] {
				seen[v] = true
				s.Groups = append(s.Groups, v)
			}
		}
		sortValues(s.Groups)
	}
	return s, warnings, nil
}

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

// fitFeature decides the kind of column c and learns its encoding.
func fitFeature(t *Table, c int, forced bool, impute string) (Feature, []string, error) {
	file, name := t.Path, t.Header[c]
	f := Feature{Name: name}
	var numbers, missing, text int
	firstText, firstTextLine := "", 0
	firstMissingLine, firstNonFiniteLine, nonFiniteCell := 0, 0, ""
	for i, row := range t.Rows {
		switch kind, _ := parseCell(row[c]); kind {
		case cellMissing:
			missing++
			if firstMissingLine == 0 {
				firstMissingLine = t.Lines[i]
			}
		case cellNumber:
			numbers++
		case cellNonFinite:
			// A number all the same when deciding the kind.
			numbers++
			if firstNonFiniteLine == 0 {
				firstNonFiniteLine, nonFiniteCell = t.Lines[i], row[c]
			}
		default:
			text++
			if firstTextLine == 0 {
				firstText, firstTextLine = row[c], t.Lines[i]
			}
		}
	}

	if forced || text > 0 {
		f.Kind = Categorical
		seen := map[string]bool{}
		for _, row := range t.Rows {
			v := strings.TrimSpace(row[c])
			if !seen[v] {
				seen[v] = true
				f.Categories = append(f.Categories, v)
			}
		}
		sortValues(f.Categories)
		var warnings []string
		if !forced && float64(numbers) >= mostlyNumbers*float64(len(t.Rows)) {
			warnings = append(warnings, fmt.Sprintf("%s: column %q is categorical because %d of %d values are not numbers (the first, %q, on line %d)", file, name, text, len(t.Rows), strings.TrimSpace(firstText), firstTextLine))
		}
		if len(f.Categories) > manyCategories {
			warnings = append(warnings, fmt.Sprintf("%s: categorical column %q has %d categories, one encoded column each; ignore it if it is an identifier", file, name, len(f.Categories)))
		}
		return f, warnings, nil
	}

	f.Kind = Numeric
	if numbers == 0 {
		return f, nil, errorf(file, 0, name, c, "no values in the training data (all %d are missing); ignore the column", missing)
	}
	if firstNonFiniteLine > 0 {
		return f, nil, errorf(file, firstNonFiniteLine, name, c, "%q is not a finite number", strings.TrimSpace(nonFiniteCell))
	}
	if missing > 0 && impute == "" {
		return f, nil, errorf(file, firstMissingLine, name, c, "missing value in a numeric column (%d in all; impute \"mean\" replaces them with the training mean)", missing)
	}
	// Welford's running mean and sum of squared deviations.
	var n, mean, m2 float64
	for _, row := range t.Rows {
		kind, v := parseCell(row[c])
		if kind != cellNumber {
			continue
		}
		n++
		d := v - mean
		mean += d / n
		m2 += d * (v - mean)
	}
	std := math.Sqrt(m2 / n)
	if math.IsNaN(mean) || math.IsInf(mean, 0) || math.IsNaN(std) || math.IsInf(std, 0) {
		return f, nil, errorf(file, 0, name, c, "values too large to standardise")
	}
	f.Mean, f.Scale = mean, std
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

// fitTarget learns the classes of target column c.
func fitTarget(t *Table, c int, spec TaskSpec) (Target, []string, error) {
	file, name := t.Path, t.Header[c]
	tg := Target{Name: name, Type: spec.Type, Weight: spec.weight()}
	labelled := 0
	var labels []string
	seen := map[string]bool{}
	for i, row := range t.Rows {
		cell := row[c]
		if IsMissing(cell) {
			continue
		}
		labelled++
		if spec.Type == Regression {
			switch kind, _ := parseCell(cell); kind {
			case cellNumber:
			case cellNonFinite:
				return tg, nil, errorf(file, t.Lines[i], name, c, "regression target %q is not a finite number", strings.TrimSpace(cell))
			default:
				return tg, nil, errorf(file, t.Lines[i], name, c, "regression target %q is not a number", strings.TrimSpace(cell))
			}
			continue
		}
		v := strings.TrimSpace(cell)
		if !seen[v] {
			seen[v] = true
			labels = append(labels, v)
		}
	}
	if labelled == 0 {
		return tg, nil, errorf(file, 0, name, c, "target has no labels in the training data (all %d missing)", len(t.Rows))
	}
	if spec.Type == Regression {
		return tg, nil, nil
	}
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
