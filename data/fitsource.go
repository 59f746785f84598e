package data

import (
	"context"
	"errors"
	"math"
)

// FitResult is what FitSource learns in its pass over a source: the
// schema, and what splitting the rows needs without another pass.
type FitResult struct {
	// Schema says how to encode the source and others like it.
	Schema *Schema
	// Warnings are single lines about allowed but doubtful input.
	Warnings []string
	// Rows is the number of data rows of the source, and Included the
	// number Options.Include let in.
	Rows, Included int64
	// Groups holds each row's index into Schema.Groups, −1 for a row
	// whose group is missing or not among the groups of the included
	// rows (only possible in an excluded row); nil without a group
	// column.
	Groups []int32
	// Strata holds each row's class index for the first classification
	// target of Schema.Targets (the stratum of stratified folds), −1 for
	// a missing label or one that is not a class (only possible in an
	// excluded row); nil when no target is a classification target.
	Strata []int32
	// Parts is the number of processes that shared the pass, each
	// reading a part of the rows (Options.Split), or 0 when this process
	// read every row; Whole says why the processes of a job each read
	// every row ("" when they did not, or there was no job).
	Parts int
	Whole string
}

// FitSource learns a Schema from a source in one pass, reading each cell
// as a number or a block-local code and never building a string per
// cell: a numeric column's mean and population standard deviation
// (Welford's, in row order), a categorical column's sorted values, each
// target's classes, in the order of the task specs. It returns warnings
// about what is allowed but probably unintended (a multiclass target with
// one class, a constant numeric column, a column that is categorical
// because of a few texts, a very wide categorical column), as single lines
// for a log. Columns are matched by the patterns of Options: a pattern
// that is the name of a column matches that column only; otherwise it is
// a path.Match glob. A pattern that matches no column is an error, as is a
// column matched by two task specs, a target or group column listed in
// Categorical, a group column that is also a target, and a table with no
// target or no feature left. Errors name the file and the line and column
// (or, in a binary file, the row). Besides:
//
//   - Options.Include leaves rows out of the statistics;
//   - numeric columns get the encoding of Options.Numeric, its quantiles
//     taken from a sample of each column (see the package documentation);
//   - a regression target gets its training mean as Target.Offset;
//   - a categorical column with more than Options.OneHotMax distinct
//     training values, or named by Options.Embed or Options.HashBuckets,
//     becomes an Embedded feature: a vocabulary of the values seen in at
//     least Options.MinCount training rows, in sorted order after the
//     "other" row 0, or hash buckets; its width is Options.Embed's, or
//     EmbedDim of its rows capped by Options.EmbedDimMax.
//
// A column that turns out categorical because of texts among its numbers
// is read a second time, that column alone, to learn its numbers as
// written ("1.50", not 1.5); a source that can be read only once (a pipe)
// cannot, which is an error that asks for the column to be listed as
// categorical. The memory FitSource needs grows with the distinct values
// of the categorical columns and 4 bytes a row for Groups and Strata,
// not with the size of the file; a numeric encoding other than Standard
// adds a sample of at most QuantileSample numbers per numeric column.
func FitSource(ctx context.Context, src Source, opts Options) (*FitResult, error) {
	file := src.Name()
	if opts.Impute != "" && opts.Impute != "mean" {
		return nil, fileErrorf(file, 0, "unknown impute method %q (want \"\" or \"mean\")", opts.Impute)
	}
	if len(opts.Tasks) == 0 {
		return nil, fileErrorf(file, 0, "no task given (want at least one PATTERN:TYPE)")
	}
	if err := opts.Numeric.check(); err != nil {
		return nil, fileErrorf(file, 0, "%v", err)
	}
	header := src.Columns()
	if len(header) == 0 || src.Rows() == 0 {
		return nil, fileErrorf(file, 0, "table has no columns or no rows")
	}
	roles, err := resolveRoles(file, header, opts)
	if err != nil {
		return nil, err
	}
	emb, err := resolveEmbed(file, header, roles, opts)
	if err != nil {
		return nil, err
	}

	f := newFitter(src, header, roles, emb, opts)
	ps, err := f.splitScan()
	switch {
	case err != nil:
		return nil, err
	case ps != nil:
		err = f.sharedPass(ctx, ps)
	default:
		err = src.Scan(ctx, f.want, f.block)
	}
	if err != nil {
		return nil, err
	}
	if f.rows == 0 {
		return nil, fileErrorf(file, 0, "table has no columns or no rows")
	}
	if f.included == 0 {
		return nil, fileErrorf(file, 0, "no rows to learn from: the row filter excludes all %d", f.rows)
	}
	if err := f.rereadMixed(ctx); err != nil {
		return nil, err
	}
	return f.finish()
}

// fitter is the state of FitSource's pass.
type fitter struct {
	src     Source
	file    string
	header  []string
	roles   *columnRoles
	emb     *embedRoles
	opts    Options
	want    []ColumnWant
	feats   []*featureFit // per column, nil for non-features
	targets []*targetFit  // per column, nil for non-targets
	group   *valueSet
	groupAt place // the first included row with a missing group
	missing bool  // an included row has a missing group

	groupRows  []int32 // provisional group id of each row, -1 missing
	strata     *targetFit
	strataRows []int32 // provisional label id of each row, -1 missing

	rows, included int64
	parts          int    // processes the pass was shared between (0: none)
	whole          string // why the processes of a job each read every row
	split          PartScanner
	inc            []bool // this block's rows: included?
	cells          cellCache
	text           textView
}

// featureFit is the state of one feature column.
type featureFit struct {
	col     int
	stats   featureStats
	forced  bool      // read as Text: categorical whatever its values
	values  *valueSet // texts of the coded cells, nil once hashing makes them useless
	uncoded bool      // some included cells were delivered as numbers only
}

// targetFit is the state of one target column.
type targetFit struct {
	spec   TaskSpec
	stats  targetStats
	labels *valueSet // classification labels
}

func newFitter(src Source, header []string, roles *columnRoles, emb *embedRoles, opts Options) *fitter {
	f := &fitter{src: src, file: src.Name(), header: header, roles: roles, emb: emb, opts: opts,
		want: make([]ColumnWant, len(header)), feats: make([]*featureFit, len(header)), targets: make([]*targetFit, len(header))}
	for c := range header {
		switch {
		case roles.specOf[c] != 0:
			spec := opts.Tasks[roles.specOf[c]-1]
			t := &targetFit{spec: spec}
			f.want[c] = Auto
			if spec.Type != Regression {
				f.want[c] = Text
				t.labels = newValueSet()
			}
			f.targets[c] = t
		case c == roles.group:
			f.want[c] = Text
			f.group = newValueSet()
		case roles.ignored[c]:
		default:
			ff := &featureFit{col: c, forced: roles.forced[c] || emb.named(c), values: newValueSet()}
			if emb.hashedPast(c, 0) {
				ff.values = nil
			}
			f.want[c] = Auto
			if ff.forced {
				f.want[c] = Text
			} else if opts.Numeric.sampled() {
				ff.stats.sample = newNumericSample()
			}
			f.feats[c] = ff
		}
	}
	// The strata are the classes of the first classification target in
	// the order of the targets.
	for _, c := range roles.targetOrder() {
		if t := f.targets[c]; t.labels != nil {
			f.strata = t
			break
		}
	}
	fixWants(src, f.want)
	if n := src.Rows(); n > 0 {
		if f.group != nil {
			f.groupRows = make([]int32, 0, n)
		}
		if f.strata != nil {
			f.strataRows = make([]int32, 0, n)
		}
	}
	return f
}

// block takes in one block of the pass.
func (f *fitter) block(b *Block) error {
	f.inc = f.inc[:0]
	for i := range b.N {
		in := f.opts.Include == nil || f.opts.Include(b.Row+int64(i))
		f.inc = append(f.inc, in)
		if in {
			f.included++
		}
	}
	f.rows += int64(b.N)
	for c := range f.header {
		col := &b.Cols[c]
		switch {
		case f.feats[c] != nil:
			f.feature(b, col, f.feats[c])
		case f.targets[c] != nil:
			f.target(b, col, f.targets[c])
		case c == f.roles.group:
			f.groupBlock(b, col)
		}
	}
	return nil
}

// at is the place of row i of a block.
func at(b *Block, i int) place { return place{line: b.Line(i), row: b.Row + int64(i)} }

// feature takes in a block of a feature column.
func (f *fitter) feature(b *Block, col *Column, ff *featureFit) {
	if ff.forced {
		col = f.text.of(col, b.N)
	}
	st := &ff.stats
	if col.Codes == nil {
		// Every cell a number (an Auto column).
		for i, v := range col.Num[:b.N] {
			if f.inc[i] {
				st.rows++
				st.numbers++
				st.addNumber(v)
				ff.uncoded = true
			}
		}
		return
	}
	cells := f.cells.of(col)
	ids := f.cells.ids(len(col.Dict))
	c := ff.col
	for i, k := range col.Codes[:b.N] {
		if !f.inc[i] {
			continue
		}
		st.rows++
		if k < 0 {
			st.numbers++
			st.addNumber(col.Num[i])
			ff.uncoded = true
			continue
		}
		st.add(cells.kind[k], cells.value[k], col.Dict[k], at(b, i))
		if ff.values == nil {
			continue
		}
		if ids[k] < 0 {
			ids[k] = ff.values.id(col.Dict[k])
		}
		ff.values.counts[ids[k]]++
	}
	if ff.values != nil && f.emb.hashedPast(c, len(ff.values.values)) {
		ff.values = nil
	}
}

// target takes in a block of a target column.
func (f *fitter) target(b *Block, col *Column, t *targetFit) {
	if t.labels != nil {
		col = f.text.of(col, b.N)
	}
	st := &t.stats
	strata := t == f.strata
	if col.Codes == nil {
		// A regression target whose cells are all numbers.
		for i, v := range col.Num[:b.N] {
			if f.inc[i] {
				st.rows++
				st.labelled++
				st.moments.add(v)
			}
		}
		return
	}
	cells := f.cells.of(col)
	ids := f.cells.ids(len(col.Dict))
	for i, k := range col.Codes[:b.N] {
		in := f.inc[i]
		if in {
			st.rows++
		}
		if k < 0 {
			if in {
				st.labelled++
				st.moments.add(col.Num[i])
			}
			continue
		}
		kind := cells.kind[k]
		if kind == cellMissing {
			if strata {
				f.strataRows = append(f.strataRows, -1)
			}
			continue
		}
		if t.spec.Type == Regression {
			if in {
				st.labelled++
				if kind == cellNumber {
					st.moments.add(cells.value[k])
				} else {
					st.addBad(kind, col.Dict[k], at(b, i))
				}
			}
			continue
		}
		if ids[k] < 0 {
			ids[k] = t.labels.id(col.Dict[k])
		}
		if in {
			st.labelled++
			t.labels.counts[ids[k]]++
		}
		if strata {
			f.strataRows = append(f.strataRows, ids[k])
		}
	}
}

// groupBlock takes in a block of the group column.
func (f *fitter) groupBlock(b *Block, col *Column) {
	col = f.text.of(col, b.N)
	cells := f.cells.of(col)
	ids := f.cells.ids(len(col.Dict))
	for i, k := range col.Codes[:b.N] {
		if cells.kind[k] == cellMissing {
			if f.inc[i] && !f.missing {
				f.missing, f.groupAt = true, at(b, i)
			}
			f.groupRows = append(f.groupRows, -1)
			continue
		}
		if ids[k] < 0 {
			ids[k] = f.group.id(col.Dict[k])
		}
		if f.inc[i] {
			f.group.counts[ids[k]]++
		}
		f.groupRows = append(f.groupRows, ids[k])
	}
}

// rereadMixed learns the categories of the columns that are categorical
// because of texts among numbers delivered without their text, from a
// second scan of those columns as text.
func (f *fitter) rereadMixed(ctx context.Context) error {
	want := make([]ColumnWant, len(f.header))
	var cols []int
	for c, ff := range f.feats {
		if ff != nil && !ff.forced && ff.stats.categorical(false) && ff.uncoded && ff.values != nil {
			want[c] = Text
			cols = append(cols, c)
			ff.values = newValueSet()
		}
	}
	if len(cols) == 0 {
		return nil
	}
	fixWants(f.src, want)
	err := f.scanMixed(ctx, want, cols, func(b *Block) error {
		for _, c := range cols {
			ff := f.feats[c]
			col := f.text.of(&b.Cols[c], b.N)
			ids := f.cells.ids(len(col.Dict))
			for i, k := range col.Codes[:b.N] {
				if f.opts.Include != nil && !f.opts.Include(b.Row+int64(i)) {
					continue
				}
				if ids[k] < 0 {
					ids[k] = ff.values.id(col.Dict[k])
				}
				ff.values.counts[ids[k]]++
			}
		}
		return nil
	})
	if err != nil {
		var de *Error
		if errors.As(err, &de) && de.Line == 0 && de.Column == "" {
			c := cols[0]
			return errorf(f.file, 0, f.header[c], c, "categorical because of texts among its numbers, which must be read again to keep the numbers as written, and reading again failed (%v): list the column as categorical", de.Err)
		}
		return err
	}
	return nil
}

// finish decides the schema from the statistics of the pass.
func (f *fitter) finish() (*FitResult, error) {
	file, opts := f.file, f.opts
	s := &Schema{Version: SchemaVersion, GroupColumn: opts.GroupColumn, Impute: opts.Impute}
	var warnings []string
	var strata []int32
	rows, numeric := 0, 0
	for _, ff := range f.feats {
		if ff != nil && !ff.stats.categorical(ff.forced) {
			rows, numeric = max(rows, ff.stats.rows), numeric+1
		}
	}
	maxBins := PLEBinsWithin(rows, numeric)
	for c, ff := range f.feats {
		if ff == nil {
			continue
		}
		st := &ff.stats
		if !st.categorical(ff.forced) {
			feat, warn, err := st.numeric(file, f.header[c], c, opts.Impute)
			if err == nil {
				feat, err = st.fitEncoding(feat, opts.Numeric, maxBins, file, c)
			}
			if err != nil {
				return nil, err
			}
			s.Features = append(s.Features, feat)
			warnings = append(warnings, warn...)
			continue
		}
		var values []string
		count := func(string) int64 { return 0 }
		if ff.values != nil {
			values = ff.values.seen()
			sortValues(values)
			count = ff.values.count
		}
		feat := f.emb.feature(f.header[c], c, values, ff.values == nil, count)
		s.Features = append(s.Features, feat)
		warnings = append(warnings, st.categoricalWarnings(file, feat.Name, ff.forced, feat.Width())...)
	}
	if len(s.Features) == 0 {
		return nil, fileErrorf(file, 1, "no feature column left after targets, group column and ignored columns")
	}
	for _, c := range f.roles.targetOrder() {
		t := f.targets[c]
		if t.labels != nil {
			t.stats.labels = t.labels.seen()
		}
		tg, warn, err := t.stats.finish(file, f.header[c], c, t.spec)
		if err != nil {
			return nil, err
		}
		if tg.Type == Regression {
			if m := t.stats.moments.mean; !math.IsNaN(m) && !math.IsInf(m, 0) {
				tg.Offset = m
			}
		}
		s.Targets = append(s.Targets, tg)
		warnings = append(warnings, warn...)
		if t == f.strata {
			strata = remap(f.strataRows, t.labels, tg.Classes)
		}
	}
	res := &FitResult{Schema: s, Warnings: warnings, Rows: f.rows, Included: f.included, Strata: strata, Parts: f.parts, Whole: f.whole}
	if g := f.roles.group; g >= 0 {
		if f.missing {
			return nil, errorAt(file, f.groupAt, f.header[g], g, "missing group value")
		}
		s.Groups = f.group.seen()
		sortValues(s.Groups)
		res.Groups = remap(f.groupRows, f.group, s.Groups)
	}
	return res, nil
}

// remap turns provisional ids of set into indices of final (−1 for an id
// whose value is not in final), in place.
func remap(rows []int32, set *valueSet, final []string) []int32 {
	index := make(map[string]int32, len(final))
	for i, v := range final {
		index[v] = int32(i)
	}
	to := make([]int32, len(set.values))
	for id, v := range set.values {
		k, ok := index[v]
		if !ok {
			k = -1
		}
		to[id] = k
	}
	for i, id := range rows {
		if id >= 0 {
			rows[i] = to[id]
		}
	}
	return rows
}

// valueSet gives texts ids in order of first appearance and counts them.
type valueSet struct {
	index  map[string]int32
	values []string
	counts []int64 // included rows
}

func newValueSet() *valueSet { return &valueSet{index: map[string]int32{}} }

// id returns the id of v, adding it with a count of 0 when new.
func (s *valueSet) id(v string) int32 {
	if k, ok := s.index[v]; ok {
		return k
	}
	k := int32(len(s.values))
	s.index[v] = k
	s.values = append(s.values, v)
	s.counts = append(s.counts, 0)
	return k
}

// count returns the count of v.
func (s *valueSet) count(v string) int64 {
	if k, ok := s.index[v]; ok {
		return s.counts[k]
	}
	return 0
}

// seen returns the values counted at least once, in order of first
// appearance.
func (s *valueSet) seen() []string {
	var out []string
	for k, v := range s.values {
		if s.counts[k] > 0 {
			out = append(out, v)
		}
	}
	return out
}

// cellCache classifies the texts of a block column once each, and keeps
// scratch space for per-code ids.
type cellCache struct {
	kind  []cellKind
	value []float64
	idBuf []int32
}

// of classifies every text of col's dictionary as parseCell does.
func (cc *cellCache) of(col *Column) *cellCache {
	cc.kind, cc.value = cc.kind[:0], cc.value[:0]
	for _, s := range col.Dict {
		k, v := parseCell(s)
		cc.kind = append(cc.kind, k)
		cc.value = append(cc.value, v)
	}
	return cc
}

// ids returns n ids, all -1 (unresolved).
func (cc *cellCache) ids(n int) []int32 {
	if cap(cc.idBuf) < n {
		cc.idBuf = make([]int32, n)
	}
	ids := cc.idBuf[:n]
	for i := range ids {
		ids[i] = -1
	}
	return ids
}

// fixWants replaces, for a source whose blocks come with fixed wants (a
// cache), each want that is not Skip by the source's own.
func fixWants(src Source, want []ColumnWant) {
	fixed, ok := src.(interface{ Wants() []ColumnWant })
	if !ok {
		return
	}
	for c, w := range fixed.Wants() {
		if want[c] != Skip && w != Skip {
			want[c] = w
		}
	}
}

// textView shows a column read as Auto as a column read as Text: every
// cell coded, a number by its text as Column.Text gives it.
type textView struct {
	col   Column
	index map[string]int32
}

// of returns col itself when every cell has a code, else the view.
func (tv *textView) of(col *Column, n int) *Column {
	if col.Num == nil {
		return col
	}
	if tv.index == nil {
		tv.index = map[string]int32{}
	}
	clear(tv.index)
	tv.col.Codes, tv.col.Dict = tv.col.Codes[:0], append(tv.col.Dict[:0], col.Dict...)
	for k, s := range col.Dict {
		tv.index[s] = int32(k)
	}
	for i := range n {
		if col.Codes != nil && col.Codes[i] >= 0 {
			tv.col.Codes = append(tv.col.Codes, col.Codes[i])
			continue
		}
		s := formatNumber(col.Num[i])
		k, ok := tv.index[s]
		if !ok {
			k = int32(len(tv.col.Dict))
			tv.index[s] = k
			tv.col.Dict = append(tv.col.Dict, s)
		}
		tv.col.Codes = append(tv.col.Codes, k)
	}
	return &tv.col
}
