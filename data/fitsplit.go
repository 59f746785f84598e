package data

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"math/bits"
)

// A Gatherer is the processes of a data-parallel job as a statistics
// pass shared between them sees them (Options.Split).
type Gatherer interface {
	// Size is the number of processes.
	Size() int
	// Rank is this process's place among them, from 0.
	Rank() int
	// AllGather returns the bytes that every process gave, in rank
	// order. Every process calls it, with bytes of its own.
	AllGather(b []byte) ([][]byte, error)
}

// splitScan returns the part scanner of a pass shared between processes,
// or nil when every process reads every row: no Split, one process, a
// row filter (whose row numbers a part of a text file does not know), or
// a source that some process cannot scan in parts. All processes decide
// the same, the last case by gathering what each found; f.whole keeps
// why the pass is not shared.
func (f *fitter) splitScan() (PartScanner, error) {
	g := f.opts.Split
	if g == nil || g.Size() < 2 {
		return nil, nil
	}
	if f.opts.Include != nil {
		f.whole = "rows held out of the statistics are chosen by their row number"
		return nil, nil
	}
	ps, ok := f.src.(PartScanner)
	why := f.src.Name() + " cannot be read in parts"
	if ok {
		why = ""
		if err := ps.Splittable(); err != nil {
			why = err.Error()
		}
	}
	all, err := gatherParts(g, why, nil)
	if err != nil {
		return nil, err
	}
	for p, w := range all {
		if w != "" {
			f.whole = w
			if p != g.Rank() {
				f.whole = fmt.Sprintf("process %d: %s", p, w)
			}
			return nil, nil
		}
	}
	return ps, nil
}

// sharedPass is FitSource's pass over part Rank of the source: the
// statistics of every part are gathered and merged in part order, which
// leaves f as though it had read every row itself (up to the rounding of
// merged moments, and a merged quantile sample once a column has more
// numbers than QuantileSample). The first error in part order is every
// process's error.
func (f *fitter) sharedPass(ctx context.Context, ps PartScanner) error {
	g := f.opts.Split
	err := ps.ScanPart(ctx, f.want, g.Rank(), g.Size(), f.block)
	var own *fitPart
	if err == nil {
		own = f.part()
	}
	parts, err := gatherParts(g, own, err)
	if err != nil {
		return err
	}
	f.resetPass()
	for _, p := range parts {
		if err := f.absorb(p); err != nil {
			return err
		}
	}
	f.parts, f.split = g.Size(), ps
	return nil
}

// scanMixed is the scan of rereadMixed: the whole source, or in a shared
// pass this process's part, whose value sets of cols are then gathered
// and merged in part order.
func (f *fitter) scanMixed(ctx context.Context, want []ColumnWant, cols []int, fn func(*Block) error) error {
	if f.split == nil {
		return f.src.Scan(ctx, want, fn)
	}
	g := f.opts.Split
	err := f.split.ScanPart(ctx, want, g.Rank(), g.Size(), fn)
	var own []*setPart
	if err == nil {
		for _, c := range cols {
			own = append(own, f.feats[c].values.part())
		}
	}
	parts, err := gatherParts(g, own, err)
	if err != nil {
		return err
	}
	for i, c := range cols {
		ff := f.feats[c]
		ff.values = newValueSet()
		for _, p := range parts {
			if len(p) != len(cols) {
				return fmt.Errorf("statistics pass: processes disagree on the columns to read again")
			}
			ff.values.absorb(p[i])
		}
	}
	return nil
}

// partError is an error sent to the other processes: an *Error keeps its
// file, line and column.
type partError struct {
	IsData       bool
	File, Column string
	Line, Index  int
	Text         string
}

func newPartError(err error) partError {
	var de *Error
	if !errors.As(err, &de) {
		return partError{Text: err.Error()}
	}
	text := ""
	if de.Err != nil {
		text = de.Err.Error()
	}
	return partError{IsData: true, File: de.File, Column: de.Column, Line: de.Line, Index: de.Index, Text: text}
}

// error rebuilds the error of process r: an *Error as it was, another
// error with the process named.
func (e partError) error(r int) error {
	if !e.IsData {
		return fmt.Errorf("process %d: %s", r, e.Text)
	}
	return &Error{File: e.File, Line: e.Line, Column: e.Column, Index: e.Index, Err: errors.New(e.Text)}
}

// Gather is AllGather of a step that may fail on some processes: each
// process gives its payload, or its error instead. It returns every
// process's payload in rank order, or, on every process, the first error
// in rank order: this process's own error itself, another's rebuilt (an
// *Error with its file, line and column; another error with the process
// named). A failure of the gather itself is wrapped with what.
func Gather(g Gatherer, what string, payload []byte, err error) ([][]byte, error) {
	msg := append([]byte{0}, payload...)
	if err != nil {
		var buf bytes.Buffer
		// A struct of strings and integers always encodes.
		_ = gob.NewEncoder(&buf).Encode(newPartError(err))
		msg = append([]byte{1}, buf.Bytes()...)
	}
	all, gerr := g.AllGather(msg)
	if gerr != nil {
		return nil, fmt.Errorf("%s: %w", what, gerr)
	}
	out := make([][]byte, len(all))
	for r, m := range all {
		if len(m) == 0 {
			return nil, fmt.Errorf("%s: process %d sent nothing", what, r)
		}
		if m[0] == 1 {
			if r == g.Rank() && err != nil {
				return nil, err
			}
			var pe partError
			if derr := gob.NewDecoder(bytes.NewReader(m[1:])).Decode(&pe); derr != nil {
				return nil, fmt.Errorf("%s: the error of process %d: %w", what, r, derr)
			}
			return nil, pe.error(r)
		}
		out[r] = m[1:]
	}
	return out, nil
}

// gatherParts gathers every process's part (gob-encoded), or returns the
// first error in rank order (see Gather).
func gatherParts[T any](g Gatherer, own T, ownErr error) ([]T, error) {
	var buf bytes.Buffer
	if ownErr == nil {
		if err := gob.NewEncoder(&buf).Encode(&own); err != nil {
			ownErr = fmt.Errorf("statistics pass: encoding this process's part: %w", err)
		}
	}
	all, err := Gather(g, "statistics pass shared between processes", buf.Bytes(), ownErr)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(all))
	for r, b := range all {
		if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&out[r]); err != nil {
			return nil, fmt.Errorf("statistics pass: the part of process %d: %w", r, err)
		}
	}
	return out, nil
}

// fitPart is what one process learnt of its part of the rows, as sent to
// the others. Places are [line, row].
type fitPart struct {
	Rows, Included int64
	Columns        int
	Features       map[int]*featurePart // by column
	Targets        map[int]*targetPart  // by column
	Group          *setPart
	GroupMissing   bool
	GroupAt        [2]int64
	GroupRows      []int32
	StrataRows     []int32
}

type featurePart struct {
	Rows, Numbers, Missing, Text               int
	FirstText, NonFiniteCell                   string
	FirstTextAt, FirstMissingAt, FirstNonFinAt [2]int64
	HasMissing, HasNonFin, Uncoded             bool
	Moments                                    welfordPart
	Sample                                     *samplePart
	Values                                     *setPart // nil once hashing made them useless
}

type targetPart struct {
	Rows, Labelled int
	Labels         *setPart
	Bad            bool
	BadKind        int
	BadCell        string
	BadAt          [2]int64
	Moments        welfordPart
}

type welfordPart struct{ N, Mean, M2 float64 }

func (w welford) part() welfordPart    { return welfordPart{N: w.n, Mean: w.mean, M2: w.m2} }
func (p welfordPart) welford() welford { return welford{n: p.N, mean: p.Mean, m2: p.M2} }

type samplePart struct {
	Values   []float64
	Seen     uint64
	Min, Max float64
}

type setPart struct {
	Values []string
	Counts []int64
}

func placePart(p place) [2]int64 { return [2]int64{p.line, p.row} }
func partPlace(p [2]int64) place { return place{line: p[0], row: p[1]} }

func (s *valueSet) part() *setPart {
	if s == nil {
		return nil
	}
	return &setPart{Values: s.values, Counts: s.counts}
}

// part returns what the pass learnt, to send to the other processes.
func (f *fitter) part() *fitPart {
	p := &fitPart{Rows: f.rows, Included: f.included, Columns: len(f.header),
		Features: map[int]*featurePart{}, Targets: map[int]*targetPart{}, Group: f.group.part(), GroupMissing: f.missing,
		GroupAt: placePart(f.groupAt), GroupRows: f.groupRows, StrataRows: f.strataRows}
	for c, ff := range f.feats {
		if ff == nil {
			continue
		}
		st := &ff.stats
		fp := &featurePart{Rows: st.rows, Numbers: st.numbers, Missing: st.missing, Text: st.text,
			FirstText: st.firstText, NonFiniteCell: st.nonFiniteCell, FirstTextAt: placePart(st.firstTextAt),
			FirstMissingAt: placePart(st.firstMissingAt), FirstNonFinAt: placePart(st.firstNonFiniteAt),
			HasMissing: st.hasMissing, HasNonFin: st.hasNonFin, Uncoded: ff.uncoded,
			Moments: st.moments.part(), Values: ff.values.part()}
		if s := st.sample; s != nil {
			fp.Sample = &samplePart{Values: s.values, Seen: s.seen, Min: s.min, Max: s.max}
		}
		p.Features[c] = fp
	}
	for c, t := range f.targets {
		if t == nil {
			continue
		}
		st := &t.stats
		p.Targets[c] = &targetPart{Rows: st.rows, Labelled: st.labelled, Labels: t.labels.part(), Bad: st.bad,
			BadKind: int(st.badKind), BadCell: st.badCell, BadAt: placePart(st.badAt), Moments: st.moments.part()}
	}
	return p
}

// resetPass forgets what the pass learnt, keeping the columns' roles.
func (f *fitter) resetPass() {
	g := newFitter(f.src, f.header, f.roles, f.emb, f.opts)
	*f = *g
}

// absorb merges the next part, in part order, into what f holds.
func (f *fitter) absorb(p *fitPart) error {
	if p.Columns != len(f.header) {
		return fmt.Errorf("statistics pass: a process read %d columns, this one %d: every process must read the same data", p.Columns, len(f.header))
	}
	f.rows += p.Rows
	f.included += p.Included
	for c, ff := range f.feats {
		fp := p.Features[c]
		if (ff == nil) != (fp == nil) {
			return fmt.Errorf("statistics pass: processes disagree on the role of column %q: every process must read the same data with the same options", f.header[c])
		}
		if ff != nil {
			ff.absorb(fp, f.emb)
		}
	}
	for c, t := range f.targets {
		tp := p.Targets[c]
		if (t == nil) != (tp == nil) {
			return fmt.Errorf("statistics pass: processes disagree on the role of column %q: every process must read the same data with the same options", f.header[c])
		}
		if t == nil {
			continue
		}
		ids := t.labels.absorb(tp.Labels)
		if t == f.strata {
			f.strataRows = appendMapped(f.strataRows, p.StrataRows, ids)
		}
		t.stats.absorb(tp)
	}
	if f.group != nil {
		ids := f.group.absorb(p.Group)
		f.groupRows = appendMapped(f.groupRows, p.GroupRows, ids)
		if p.GroupMissing && !f.missing {
			f.missing, f.groupAt = true, partPlace(p.GroupAt)
		}
	}
	return nil
}

// appendMapped appends rows, provisional ids of a part's set, as ids of
// the merged set (ids[k] for id k; −1 stays).
func appendMapped(dst, rows, ids []int32) []int32 {
	for _, k := range rows {
		if k >= 0 {
			k = ids[k]
		}
		dst = append(dst, k)
	}
	return dst
}

// absorb merges a part's set into s, returning the id in s of each of the
// part's ids. A nil s stays nil.
func (s *valueSet) absorb(p *setPart) []int32 {
	if s == nil || p == nil {
		return nil
	}
	ids := make([]int32, len(p.Values))
	for k, v := range p.Values {
		ids[k] = s.id(v)
		s.counts[ids[k]] += p.Counts[k]
	}
	return ids
}

// absorb merges the next part of a feature column.
func (ff *featureFit) absorb(p *featurePart, emb *embedRoles) {
	st := &ff.stats
	if p.Text > 0 && st.text == 0 {
		st.firstText, st.firstTextAt = p.FirstText, partPlace(p.FirstTextAt)
	}
	if p.HasMissing && !st.hasMissing {
		st.hasMissing, st.firstMissingAt = true, partPlace(p.FirstMissingAt)
	}
	if p.HasNonFin && !st.hasNonFin {
		st.hasNonFin, st.firstNonFiniteAt, st.nonFiniteCell = true, partPlace(p.FirstNonFinAt), p.NonFiniteCell
	}
	st.rows += p.Rows
	st.numbers += p.Numbers
	st.missing += p.Missing
	st.text += p.Text
	st.moments.merge(p.Moments.welford())
	if st.sample != nil && p.Sample != nil {
		st.sample.merge(p.Sample)
	}
	ff.uncoded = ff.uncoded || p.Uncoded
	if p.Values == nil {
		ff.values = nil
	}
	ff.values.absorb(p.Values)
	if ff.values != nil && emb.hashedPast(ff.col, len(ff.values.values)) {
		ff.values = nil
	}
}

// absorb merges the next part of a target column (its labels apart).
func (st *targetStats) absorb(p *targetPart) {
	if p.Bad && !st.bad {
		st.bad, st.badKind, st.badCell, st.badAt = true, cellKind(p.BadKind), p.BadCell, partPlace(p.BadAt)
	}
	st.rows += p.Rows
	st.labelled += p.Labelled
	st.moments.merge(p.Moments.welford())
}

// merge takes in the values of another run of the same column (Chan,
// Golub and LeVeque's pairwise update): the mean and squared deviations
// of both runs together.
func (w *welford) merge(o welford) {
	switch {
	case o.n == 0:
		return
	case w.n == 0:
		*w = o
		return
	}
	n := w.n + o.n
	d := o.mean - w.mean
	w.mean += d * (o.n / n)
	w.m2 += o.m2 + d*d*(w.n*o.n/n)
	w.n = n
}

// merge takes in the sample of the column's next values: while both kept
// every value, the sample is both in order, as one pass would have kept
// them; else a uniform sample of the union, drawn from the two uniform
// samples (how many come from each is hypergeometric in the numbers
// seen) with the sample's own fixed random stream.
func (s *numericSample) merge(o *samplePart) {
	s.min, s.max = min(s.min, o.Min), max(s.max, o.Max)
	total := s.seen + o.Seen
	if total <= QuantileSample {
		s.values = append(s.values, o.Values...)
		s.seen = total
		return
	}
	draw := func(n uint64) uint64 { j, _ := bits.Mul64(s.rng.Uint64(), n); return j }
	restA, restB := s.seen, o.Seen
	fromA := 0
	for range QuantileSample {
		if draw(restA+restB) < restA {
			fromA++
			restA--
		} else {
			restB--
		}
	}
	// Partial Fisher–Yates shuffles choose which values of each sample.
	pick := func(values []float64, k int) []float64 {
		values = append([]float64(nil), values...)
		for i := range k {
			j := i + int(draw(uint64(len(values)-i)))
			values[i], values[j] = values[j], values[i]
		}
		return values[:k]
	}
	merged := append(pick(s.values, fromA), pick(o.Values, QuantileSample-fromA)...)
	s.values, s.seen = merged, total
}
