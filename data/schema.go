package data

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// SchemaVersion is the version of the Schema JSON layout written by this
// package. Version 2 added embedded features and the offset of regression
// targets, version 3 the numeric encodings other than Standard; Validate
// accepts versions 1 to 3 and rejects others.
const SchemaVersion = 4

// FeatureKind says how a feature column is encoded.
type FeatureKind int

const (
	// Numeric columns are encoded by their Encoding: standardised,
	// (value − Mean) / Scale, unless it says otherwise.
	Numeric FeatureKind = iota
	// Categorical columns are one-hot encoded over Categories.
	Categorical
	// Embedded columns are categorical columns learnt as an embedding
	// table: each value is a row index (see Feature).
	Embedded
)

var featureKindNames = [...]string{Numeric: "numeric", Categorical: "categorical", Embedded: "embedded"}

// String returns "numeric", "categorical" or "embedded".
func (k FeatureKind) String() string {
	if k >= 0 && int(k) < len(featureKindNames) {
		return featureKindNames[k]
	}
	return fmt.Sprintf("FeatureKind(%d)", int(k))
}

// MarshalText encodes the kind as its name.
func (k FeatureKind) MarshalText() ([]byte, error) {
	if k < 0 || int(k) >= len(featureKindNames) {
		return nil, fmt.Errorf("invalid feature kind %d", int(k))
	}
	return []byte(featureKindNames[k]), nil
}

// UnmarshalText decodes a name written by MarshalText.
func (k *FeatureKind) UnmarshalText(b []byte) error {
	for i, name := range featureKindNames {
		if string(b) == name {
			*k = FeatureKind(i)
			return nil
		}
	}
	return fmt.Errorf("unknown feature kind %q (want numeric, categorical or embedded)", b)
}

// Feature is one input column and how it is encoded.
type Feature struct {
	// Name is the column name; columns are found by name at encode time.
	Name string `json:"name"`
	// Kind is Numeric, Categorical or Embedded.
	Kind FeatureKind `json:"kind"`
	// Mean is the training mean of a numeric column, which also stands in
	// for a missing value when the schema imputes.
	Mean float64 `json:"mean,omitempty"`
	// Scale is the training population standard deviation of a numeric
	// column, or 1 when that is 0; for the Robust encoding, the scale
	// that divides x − Center instead.
	Scale float64 `json:"scale,omitempty"`
	// Encoding is a numeric column's encoding (see NumericMethod); empty
	// for Standard, the encoding of every schema before version 3.
	Encoding NumericMethod `json:"encoding,omitempty"`
	// Center is the training median of a Robust column.
	Center float64 `json:"center,omitempty"`
	// Edges are the bin edges of a PLE column, e₀ < … < e_K, one encoded
	// column per bin; or the knots of a Quantile column's
	// piecewise-linear map, the distinct training quantiles in order.
	Edges []float64 `json:"edges,omitempty"`
	// Scores are a Quantile column's normal scores, one per knot of
	// Edges.
	Scores []float64 `json:"scores,omitempty"`
	// Categories lists the sorted distinct values (trimmed) of a
	// categorical column; each gets one encoded column. For an embedded
	// column without Buckets it is the vocabulary: the value Categories[k]
	// is row k+1 of the table, and row 0 ("other") stands for every value
	// not listed (rare in training, or unseen).
	Categories []string `json:"categories,omitempty"`
	// Buckets, for an embedded column, is the number of rows of a hashed
	// table: a value's row is HashBucket(value, Buckets), and no
	// vocabulary is kept. 0 for a table with a vocabulary.
	Buckets int `json:"buckets,omitempty"`
	// Dim is the width of an embedded column's vectors.
	Dim int `json:"dim,omitempty"`
	// Indicator marks a numeric column of a schema that imputes and that
	// had missing values in training: after its encoded columns comes
	// one more, COLUMN[missing], 1 where the value is missing (and
	// imputed) and 0 elsewhere, so that the model can tell an imputed
	// mean from a measured one.
	Indicator bool `json:"indicator,omitempty"`
}

// Width is the number of columns of the feature in Encoded.X: one for a
// numeric column (one per bin, len(Edges) − 1, for PLE; one more for its
// Indicator), one per category for a categorical column, none for an
// embedded one (whose vectors the model looks up from Encoded.Index).
func (f Feature) Width() int {
	switch f.Kind {
	case Categorical:
		return len(f.Categories)
	case Embedded:
		return 0
	}
	w := 1
	switch f.Method() {
	case PLE:
		w = max(len(f.Edges)-1, 0)
	case RobustPLE:
		w = max(len(f.Edges), 1)
	}
	if f.Indicator {
		w++
	}
	return w
}

// Rows is the number of rows of an embedded column's table: Buckets, or
// one per vocabulary value plus the "other" row 0.
func (f Feature) Rows() int {
	if f.Buckets > 0 {
		return f.Buckets
	}
	return len(f.Categories) + 1
}

// Target is one target column: one task, or one family of tasks (a head per
// group) when the schema has a group column.
type Target struct {
	// Name is the column name, which also names the task.
	Name string `json:"name"`
	// Type is the task type.
	Type TaskType `json:"type"`
	// Weight multiplies the task's loss.
	Weight float64 `json:"weight"`
	// Classes lists the class labels as written (trimmed) for
	// classification. For multiclass targets they are sorted and the label
	// of class k is Classes[k]. Binary targets have exactly two:
	// Classes[0] is the negative class and Classes[1] the positive one.
	Classes []string `json:"classes,omitempty"`
	// Positive repeats Classes[1] for binary targets.
	Positive string `json:"positive,omitempty"`
	// Offset is subtracted from a regression target's values before they
	// are rounded to float32 labels (see Encoded.Labels), so that a
	// target far from zero keeps its variance: FitSource sets it to the
	// training mean (a schema of version 1 has none). Add it back to a
	// prediction.
	Offset float64 `json:"offset,omitempty"`
}

// Schema is everything learnt from a training table that is needed to
// encode other tables the same way: the feature columns with their
// standardisation or categories, the targets with their classes, and the
// group column with its values. It is stored in model files as JSON; the
// field names are stable.
type Schema struct {
	// Version is SchemaVersion.
	Version int `json:"version"`
	// Features lists the input columns in training file order.
	Features []Feature `json:"features"`
	// Targets lists the target columns in the order of the task specs
	// that name them (training file order among the columns of one).
	Targets []Target `json:"targets"`
	// GroupColumn names the column that splits every target into a family
	// of tasks, one per group, or is empty.
	GroupColumn string `json:"group_column,omitempty"`
	// Groups lists the sorted distinct values (trimmed) of GroupColumn in
	// the training data; group index g is Groups[g].
	Groups []string `json:"groups,omitempty"`
	// Impute is "mean" when missing numeric values are replaced by the
	// training mean, or empty when they are errors.
	Impute string `json:"impute,omitempty"`
}

// Dim returns the width of an encoded row of Encoded.X (embedded features
// are not in it; see Embeddings).
func (s *Schema) Dim() int {
	d := 0
	for _, f := range s.Features {
		d += f.Width()
	}
	return d
}

// EncodedNames names the columns of Encoded.X: a numeric feature by its
// column name (the bins of a PLE column as COLUMN[ple0], COLUMN[ple1], …,
// its missing-value indicator as COLUMN[missing]), a category as
// COLUMN=CATEGORY.
func (s *Schema) EncodedNames() []string {
	names := make([]string, 0, s.Dim())
	for _, f := range s.Features {
		switch f.Kind {
		case Categorical:
			for _, c := range f.Categories {
				names = append(names, f.Name+"="+c)
			}
		case Numeric:
			m := f.Method()
			if m != PLE {
				names = append(names, f.Name)
			}
			if m.binned() {
				for i := range len(f.Edges) - 1 {
					names = append(names, fmt.Sprintf("%s[ple%d]", f.Name, i))
				}
			}
			if f.Indicator {
				names = append(names, f.Name+"[missing]")
			}
		}
	}
	return names
}

// Embedding is the table of one embedded feature, as the model needs it.
type Embedding struct {
	// Name is the column name.
	Name string
	// Rows is the number of rows of the table (Feature.Rows) and Dim the
	// width of its vectors.
	Rows, Dim int
}

// Embeddings returns the tables of the embedded features, in the order of
// Features, which is the order of Encoded.Index.
func (s *Schema) Embeddings() []Embedding {
	var out []Embedding
	for _, f := range s.Features {
		if f.Kind == Embedded {
			out = append(out, Embedding{Name: f.Name, Rows: f.Rows(), Dim: f.Dim})
		}
	}
	return out
}

// HeadName names the task of target t for group g (an index into Groups)
// as TARGET@GROUP, or TARGET when g is negative or there is no group
// column.
func (s *Schema) HeadName(t, g int) string {
	if s.GroupColumn == "" || g < 0 {
		return s.Targets[t].Name
	}
	return s.Targets[t].Name + "@" + s.Groups[g]
}

// Validate checks a schema read from a model file: the version, that every
// column is named once, that numeric features have a finite mean and a
// positive finite scale and the parameters of their encoding (see
// checkEncoding), that categorical features, classes and groups are
// non-empty lists without repeats, that an embedded feature has a positive
// width and either a vocabulary without repeats or a positive number of
// hash buckets (not both), that binary targets have two classes with
// Positive the second, that only regression targets have a finite offset,
// and that weights are positive and finite. Embedded features and offsets
// need version 2, numeric encodings other than Standard version 3,
// missing-value indicators version 4 and a schema that imputes.
func (s *Schema) Validate() error {
	if s.Version < 1 || s.Version > SchemaVersion {
		return fmt.Errorf("schema version %d is not supported (want 1 to %d)", s.Version, SchemaVersion)
	}
	if len(s.Features) == 0 {
		return fmt.Errorf("schema has no features")
	}
	if len(s.Targets) == 0 {
		return fmt.Errorf("schema has no targets")
	}
	if s.Impute != "" && s.Impute != "mean" {
		return fmt.Errorf("schema: unknown impute method %q", s.Impute)
	}
	names := map[string]string{}
	claim := func(name, role string) error {
		if name == "" {
			return fmt.Errorf("schema: %s with an empty name", role)
		}
		if prev, ok := names[name]; ok {
			return fmt.Errorf("schema: column %q is both %s and %s", name, prev, role)
		}
		names[name] = role
		return nil
	}
	for _, f := range s.Features {
		if err := claim(f.Name, "a feature"); err != nil {
			return err
		}
		switch f.Kind {
		case Numeric:
			if math.IsNaN(f.Mean) || math.IsInf(f.Mean, 0) {
				return fmt.Errorf("schema: feature %q has mean %v", f.Name, f.Mean)
			}
			if !(f.Scale > 0) || math.IsInf(f.Scale, 0) {
				return fmt.Errorf("schema: feature %q has scale %v (want positive and finite)", f.Name, f.Scale)
			}
			if len(f.Categories) > 0 {
				return fmt.Errorf("schema: numeric feature %q has categories", f.Name)
			}
			if err := f.checkEncoding(s.Version); err != nil {
				return err
			}
			if f.Indicator && (s.Impute == "" || s.Version < 4) {
				return fmt.Errorf("schema: feature %q has a missing-value indicator in a version %d schema that does not impute", f.Name, s.Version)
			}
		case Categorical:
			if err := checkList(f.Categories, "feature "+quote(f.Name), "categories"); err != nil {
				return err
			}
		case Embedded:
			if s.Version < 2 {
				return fmt.Errorf("schema: embedded feature %q in a version %d schema", f.Name, s.Version)
			}
			if f.Buckets < 0 || (f.Buckets > 0 && len(f.Categories) > 0) {
				return fmt.Errorf("schema: embedded feature %q has %d hash buckets and %d categories (want a positive count or a vocabulary)", f.Name, f.Buckets, len(f.Categories))
			}
			if len(f.Categories) > 0 {
				if err := checkList(f.Categories, "feature "+quote(f.Name), "categories"); err != nil {
					return err
				}
			}
			if f.Dim <= 0 {
				return fmt.Errorf("schema: embedded feature %q has width %d", f.Name, f.Dim)
			}
			if f.Mean != 0 || f.Scale != 0 {
				return fmt.Errorf("schema: embedded feature %q has a mean or scale", f.Name)
			}
		default:
			return fmt.Errorf("schema: feature %q has unknown kind %d", f.Name, int(f.Kind))
		}
		if f.Kind != Embedded && (f.Dim != 0 || f.Buckets != 0) {
			return fmt.Errorf("schema: %v feature %q has an embedding width or hash buckets", f.Kind, f.Name)
		}
		if f.Kind != Numeric && (f.Encoding != "" || f.Center != 0 || f.Edges != nil || f.Scores != nil) {
			return fmt.Errorf("schema: %v feature %q has a numeric encoding", f.Kind, f.Name)
		}
	}
	for _, t := range s.Targets {
		if err := claim(t.Name, "a target"); err != nil {
			return err
		}
		if !(t.Weight > 0) || math.IsInf(t.Weight, 0) {
			return fmt.Errorf("schema: target %q has weight %v (want positive and finite)", t.Name, t.Weight)
		}
		switch t.Type {
		case Multiclass:
			if err := checkList(t.Classes, "target "+quote(t.Name), "classes"); err != nil {
				return err
			}
		case Binary:
			if err := checkList(t.Classes, "target "+quote(t.Name), "classes"); err != nil {
				return err
			}
			if len(t.Classes) != 2 || t.Positive != t.Classes[1] {
				return fmt.Errorf("schema: binary target %q needs two classes with the positive one second", t.Name)
			}
		case Regression:
			if len(t.Classes) > 0 || t.Positive != "" {
				return fmt.Errorf("schema: regression target %q has classes", t.Name)
			}
		default:
			return fmt.Errorf("schema: target %q has unknown type %d", t.Name, int(t.Type))
		}
		if t.Offset != 0 && (t.Type != Regression || s.Version < 2 || math.IsNaN(t.Offset) || math.IsInf(t.Offset, 0)) {
			return fmt.Errorf("schema: target %q has offset %v (want a finite offset of a regression target, version 2)", t.Name, t.Offset)
		}
	}
	if s.GroupColumn != "" {
		if err := claim(s.GroupColumn, "the group column"); err != nil {
			return err
		}
		if err := checkList(s.Groups, "group column "+quote(s.GroupColumn), "groups"); err != nil {
			return err
		}
	} else if len(s.Groups) > 0 {
		return fmt.Errorf("schema: groups without a group column")
	}
	return nil
}

// checkList reports an empty list or a repeated element.
func checkList(list []string, owner, what string) error {
	if len(list) == 0 {
		return fmt.Errorf("schema: %s has no %s", owner, what)
	}
	seen := make(map[string]bool, len(list))
	for _, v := range list {
		if seen[v] {
			return fmt.Errorf("schema: %s lists %q twice in %s", owner, v, what)
		}
		seen[v] = true
	}
	return nil
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

// sortValues sorts distinct values numerically when all of them are finite
// numbers and as strings otherwise; numeric ties ("1" and "1.0") fall back
// to string order, so the result is deterministic.
func sortValues(vals []string) {
	nums := make(map[string]float64, len(vals))
	for _, v := range vals {
		kind, x := parseCell(v)
		if kind != cellNumber {
			slices.Sort(vals)
			return
		}
		nums[v] = x
	}
	slices.SortFunc(vals, func(a, b string) int {
		switch {
		case nums[a] < nums[b]:
			return -1
		case nums[a] > nums[b]:
			return 1
		}
		return strings.Compare(a, b)
	})
}
