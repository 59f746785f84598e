package data

import (
	"context"
	"errors"
)

// JoinedSource glues the columns of sources with the same number of rows
// side by side: row i of the result is row i of each source. Its blocks
// are those of the main source, with the other sources' cells copied in.
type JoinedSource struct {
	main  Source
	extra []Source
	cols  []string
	first []int // first column of each extra source
}

var _ Source = (*JoinedSource)(nil)

// Join returns a source with the columns of main followed by those of
// each extra source. Sources whose row counts are known must agree;
// otherwise the difference is found by Scan. Column names must be
// distinct. Close closes every source.
func Join(main Source, extra ...Source) (*JoinedSource, error) {
	j := &JoinedSource{main: main, extra: extra}
	j.cols = append(j.cols, main.Columns()...)
	seen := map[string]string{}
	for _, c := range main.Columns() {
		seen[c] = main.Name()
	}
	for _, e := range extra {
		if m, n := main.Rows(), e.Rows(); m >= 0 && n >= 0 && m != n {
			return nil, rowCountError(main, m, e, n)
		}
		j.first = append(j.first, len(j.cols))
		for i, c := range e.Columns() {
			if other, dup := seen[c]; dup {
				return nil, errorf(e.Name(), 0, c, i, "column name also in %s", other)
			}
			seen[c] = e.Name()
		}
		j.cols = append(j.cols, e.Columns()...)
	}
	return j, nil
}

func rowCountError(main Source, m int64, e Source, n int64) error {
	return fileErrorf(e.Name(), 0, "%d rows, but %s has %d: the rows of both are joined one to one", n, main.Name(), m)
}

// Name returns the main source's name.
func (j *JoinedSource) Name() string { return j.main.Name() }

// Columns returns the main source's columns, then each extra source's.
func (j *JoinedSource) Columns() []string { return j.cols }

// ColumnTypes returns the types of the columns as their sources name them
// (see ColumnTypes).
func (j *JoinedSource) ColumnTypes() []string {
	types := ColumnTypes(j.main)
	for _, e := range j.extra {
		types = append(types, ColumnTypes(e)...)
	}
	return types
}

// Rows returns the main source's row count.
func (j *JoinedSource) Rows() int64 { return j.main.Rows() }

// Close closes every source.
func (j *JoinedSource) Close() error {
	err := j.main.Close()
	for _, e := range j.extra {
		err = errors.Join(err, e.Close())
	}
	return err
}

// Scan scans the main source and the others alongside; see Source.
func (j *JoinedSource) Scan(ctx context.Context, want []ColumnWant, fn func(*Block) error) error {
	checkWant(j.Name(), j.cols, want)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	nMain := len(j.main.Columns())
	pulls := make([]*puller, len(j.extra))
	for i, e := range j.extra {
		lo := j.first[i]
		pulls[i] = startPull(ctx, e, want[lo:lo+len(e.Columns())])
	}
	defer func() {
		cancel()
		for _, p := range pulls {
			p.stop()
		}
	}()
	out := &Block{Cols: make([]Column, len(j.cols))}
	var rows int64
	err := j.main.Scan(ctx, want[:nMain], func(b *Block) error {
		*out = Block{Row: b.Row, N: b.N, FirstLine: b.FirstLine, Lines: b.Lines, Cols: out.Cols}
		copy(out.Cols, b.Cols)
		for i, p := range pulls {
			lo := j.first[i]
			if err := p.take(b.N, out.Cols[lo:lo+len(j.extra[i].Columns())]); err != nil {
				if errors.Is(err, errShort) {
					if m := j.main.Rows(); m >= 0 {
						return rowCountError(j.main, m, j.extra[i], int64(p.got))
					}
					return fileErrorf(j.extra[i].Name(), 0, "%d rows, but %s has more (at least %d): the rows of both are joined one to one",
						p.got, j.main.Name(), rows+int64(b.N))
				}
				return err
			}
		}
		rows += int64(b.N)
		return fn(out)
	})
	if err != nil {
		if errors.Is(err, ErrStop) {
			return nil
		}
		return err
	}
	for i, p := range pulls {
		more, err := p.rest()
		if err != nil {
			return err
		}
		if more > 0 {
			return rowCountError(j.main, rows, j.extra[i], rows+more)
		}
	}
	return nil
}

// errShort says that a pulled source ended early.
var errShort = errors.New("fewer rows")

// puller reads a source's blocks one at a time on demand, from a
// goroutine that runs its Scan.
type puller struct {
	want    []ColumnWant
	blocks  chan *Block
	release chan struct{}
	done    chan error
	cur     *Block
	off     int
	got     int // rows taken in the current Scan of the main source
	err     error
	dicts   []map[string]int32
}

func startPull(ctx context.Context, src Source, want []ColumnWant) *puller {
	p := &puller{want: want, blocks: make(chan *Block), release: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		err := src.Scan(ctx, want, func(b *Block) error {
			select {
			case p.blocks <- b:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case <-p.release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		close(p.blocks)
		p.done <- err
	}()
	return p
}

// next makes the next block current; false at the end.
func (p *puller) next() (bool, error) {
	if p.cur != nil {
		p.release <- struct{}{}
		p.cur = nil
	}
	b, ok := <-p.blocks
	if !ok {
		err := <-p.done
		p.done <- err
		return false, err
	}
	p.cur, p.off = b, 0
	return true, nil
}

// take copies the next n rows into out, one Column per column.
func (p *puller) take(n int, out []Column) error {
	if p.dicts == nil {
		p.dicts = make([]map[string]int32, len(out))
	}
	for k := range out {
		out[k] = Column{}
		if p.want[k] == Skip {
			continue
		}
		if p.want[k] == Auto {
			out[k].Num = make([]float64, 0, n)
		} else {
			out[k].Codes = make([]int32, 0, n)
		}
		out[k].Dict = []string{}
		p.dicts[k] = map[string]int32{}
	}
	filled := 0
	for filled < n {
		if p.cur == nil || p.off == p.cur.N {
			ok, err := p.next()
			if err != nil {
				return err
			}
			if !ok {
				return errShort
			}
		}
		m := min(n-filled, p.cur.N-p.off)
		for k := range out {
			if p.want[k] == Skip {
				continue
			}
			p.copyCells(&out[k], &p.cur.Cols[k], k, p.off, m, filled)
		}
		p.off += m
		p.got += m
		filled += m
	}
	return nil
}

// copyCells appends cells [off, off+m) of src to dst, recoding texts into
// dst's dictionary; filled rows are already in dst.
func (p *puller) copyCells(dst, src *Column, k, off, m, filled int) {
	if dst.Num != nil || p.want[k] == Auto {
		dst.Num = append(dst.Num, src.Num[off:off+m]...)
	}
	if src.Codes == nil {
		if dst.Codes != nil {
			for range m {
				dst.Codes = append(dst.Codes, -1)
			}
		}
		return
	}
	if dst.Codes == nil {
		dst.Codes = make([]int32, filled, cap(dst.Num))
		for i := range dst.Codes {
			dst.Codes[i] = -1
		}
	}
	for _, c := range src.Codes[off : off+m] {
		if c < 0 {
			dst.Codes = append(dst.Codes, -1)
			continue
		}
		t := src.Dict[c]
		code, ok := p.dicts[k][t]
		if !ok {
			code = int32(len(dst.Dict))
			p.dicts[k][t] = code
			dst.Dict = append(dst.Dict, t)
		}
		dst.Codes = append(dst.Codes, code)
	}
}

// rest counts the rows left after the main source ended.
func (p *puller) rest() (int64, error) {
	more := int64(0)
	if p.cur != nil {
		more += int64(p.cur.N - p.off)
	}
	for {
		ok, err := p.next()
		if err != nil {
			return 0, err
		}
		if !ok {
			return more, nil
		}
		more += int64(p.cur.N)
	}
}

// stop ends the goroutine (the context is cancelled first).
func (p *puller) stop() {
	if p.cur != nil {
		select {
		case p.release <- struct{}{}:
		default:
		}
		p.cur = nil
	}
	for range p.blocks {
	}
}
