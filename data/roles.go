package data

import "slices"

// columnRoles is what Options make of a header: the role of every column.
type columnRoles struct {
	specOf  []int  // per column: index of the task spec that matched it + 1, 0 for none
	group   int    // the group column, or -1
	ignored []bool // per column: named by Ignore
	forced  []bool // per column: named by Categorical
}

// resolveRoles matches the patterns of opts against a header. Its errors
// name the file and, where there is one, the header line and column.
func resolveRoles(file string, header []string, opts Options) (*columnRoles, error) {
	r := &columnRoles{specOf: make([]int, len(header)), group: -1}
	// Targets: every column matched by a spec, in file order.
	for si, spec := range opts.Tasks {
		if err := spec.check(); err != nil {
			return nil, fileErrorf(file, 0, "%v", err)
		}
		cols, err := matchColumns(header, spec.Pattern)
		if err != nil {
			return nil, fileErrorf(file, 1, "task %q: %v", spec.String(), err)
		}
		if len(cols) == 0 {
			return nil, fileErrorf(file, 1, "task %q matches no column", spec.String())
		}
		for _, c := range cols {
			if prev := r.specOf[c]; prev != 0 {
				return nil, errorf(file, 1, header[c], c, "matched by two task specs, %q and %q", opts.Tasks[prev-1].String(), spec.String())
			}
			r.specOf[c] = si + 1
		}
	}

	if opts.GroupColumn != "" {
		for i, h := range header {
			if h == opts.GroupColumn {
				r.group = i
				break
			}
		}
		if r.group < 0 {
			return nil, fileErrorf(file, 1, "group column %q not found", opts.GroupColumn)
		}
		if s := r.specOf[r.group]; s != 0 {
			return nil, errorf(file, 1, opts.GroupColumn, r.group, "the group column cannot also be a target (task %q)", opts.Tasks[s-1].String())
		}
	}

	r.ignored = make([]bool, len(header))
	for _, p := range opts.Ignore {
		cols, err := matchColumns(header, p)
		if err != nil {
			return nil, fileErrorf(file, 1, "ignore %q: %v", p, err)
		}
		if len(cols) == 0 {
			return nil, fileErrorf(file, 1, "ignore pattern %q matches no column", p)
		}
		for _, c := range cols {
			r.ignored[c] = true
		}
	}

	r.forced = make([]bool, len(header))
	for _, p := range opts.Categorical {
		cols, err := r.matchFeatures(file, header, opts, p, "categorical")
		if err != nil {
			return nil, err
		}
		for _, c := range cols {
			r.forced[c] = true
		}
	}
	return r, nil
}

// matchFeatures returns the columns an option that applies to features
// (named what in messages) names; a target or the group column is an
// error.
func (r *columnRoles) matchFeatures(file string, header []string, opts Options, pattern, what string) ([]int, error) {
	cols, err := matchColumns(header, pattern)
	if err != nil {
		return nil, fileErrorf(file, 1, "%s %q: %v", what, pattern, err)
	}
	if len(cols) == 0 {
		return nil, fileErrorf(file, 1, "%s pattern %q matches no column", what, pattern)
	}
	for _, c := range cols {
		switch {
		case r.specOf[c] != 0:
			return nil, errorf(file, 1, header[c], c, "listed as %s but it is a target (task %q)", what, opts.Tasks[r.specOf[c]-1].String())
		case c == r.group:
			return nil, errorf(file, 1, header[c], c, "listed as %s but it is the group column", what)
		}
	}
	return cols, nil
}

// isFeature reports whether column c is an input.
func (r *columnRoles) isFeature(c int) bool {
	return r.specOf[c] == 0 && c != r.group && !r.ignored[c]
}

// targetOrder returns the target columns in the order of the task specs
// that match them, in file order among the columns of one spec.
func (r *columnRoles) targetOrder() []int {
	var cols []int
	for c, s := range r.specOf {
		if s != 0 {
			cols = append(cols, c)
		}
	}
	slices.SortStableFunc(cols, func(a, b int) int { return r.specOf[a] - r.specOf[b] })
	return cols
}
