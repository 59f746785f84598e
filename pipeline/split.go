package pipeline

import (
	"fmt"
	"strings"

	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/internal/trainset"
)

// split divides the rows 0..n-1 at random into a part of about frac of
// them and the rest, from seed, by group when groups is not nil (see
// trainset.Split, which a streamed run holds out by too).
func split(n int, frac float64, seed uint64, groups []int32) (rest, part []int) {
	return trainset.Split(n, frac, seed, groups)
}

// subTable returns the rows of t in the given order.
func subTable(t *data.Table, rows []int) *data.Table {
	s := &data.Table{Path: t.Path, Header: t.Header}
	for _, r := range rows {
		s.Rows = append(s.Rows, t.Rows[r])
		s.Lines = append(s.Lines, t.Lines[r])
	}
	return s
}

// holdOut splits a table at random, by group when there is a group
// column, keeping frac of each group's rows for training.
func holdOut(t *data.Table, groupCol string, frac float64, seed uint64) (*data.Table, *data.Table, error) {
	var groups []int32
	if groupCol != "" {
		c := t.Column(groupCol)
		if c < 0 {
			return nil, nil, &data.Error{File: t.Path, Line: 1, Column: groupCol, Err: fmt.Errorf("group column missing from the file")}
		}
		ids := map[string]int32{}
		for _, row := range t.Rows {
			v := strings.TrimSpace(row[c])
			if _, ok := ids[v]; !ok {
				ids[v] = int32(len(ids))
			}
			groups = append(groups, ids[v])
		}
	}
	held, train := split(len(t.Rows), frac, seed, groups)
	return subTable(t, train), subTable(t, held), nil
}
