package stream

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/mtl-gpu/mtl-gpu/data"
)

// FitOptions says how a run's first pass prepares for streaming.
type FitOptions struct {
	// Mode is what the run asks for.
	Mode Mode
	// Budget is the memory budget.
	Budget Budget
	// CachePath is where the block cache of a source that is not read by
	// block directly (CSV, TSV, NumPy, joined sources) is written: beside
	// the model file. "" puts it in the system's temporary directory.
	CachePath string
	// KeepCache leaves the cache file in place when the run is done.
	KeepCache bool
	// PartCache, when set, names the block cache of part p of a first
	// pass shared between the processes of a data-parallel job
	// (data.Options.Split), in a folder that every process can see: each
	// process writes its part's and reads all of them, in part order, as
	// one cache. Without it a shared pass writes no cache, so each
	// process reads every row and writes a cache of its own at CachePath.
	PartCache func(p int) string
	// Split is the job's processes, with PartCache: a cache written in a
	// pass of its own (Stream, after Reopen or a first pass that wrote
	// none) is written in parts too, each process its part's, when every
	// process can read the source in parts.
	Split data.Gatherer
	// ChunkSize is the CSVOptions.ChunkSize a text source was opened with:
	// ChunkSize(Budget.Bytes) for a new run, the recorded
	// Layout.ChunkSize for a resumed one. Its chunks are the cache's
	// units, which blocks are made of.
	ChunkSize int
}

// ChunkSize is the number of bytes of text in a block of a CSV file read
// under the budget: a 1024th of it, between 16 KiB and 4 MiB. The first
// pass parses a few such chunks at once; each is a unit of the cache,
// and a stream's blocks are runs of them. The chunk is chosen before the
// encoding is known, and a row encoded with PLE bins may take twenty
// times its text, held in a window of several blocks: a 1024th leaves
// room for that, and a budget of 4 GiB or more still reads 4 MiB chunks.
func ChunkSize(budget int64) int {
	return int(min(max(budget/1024, 16<<10), 4<<20))
}

// Fitted is a run's first pass over its source: what data.FitSource
// learnt and, when the run may stream a source that cannot be read by
// block directly, the block cache written on the way. Close removes the
// cache.
type Fitted struct {
	// FitResult is what the pass learnt. Stream drops its Groups and
	// Strata once it has split the rows.
	*data.FitResult

	src       data.Source
	opts      FitOptions
	notStream error // why src cannot be streamed, or nil
	cache     *cachedSource
	own       string // the cache file this process wrote, which Close removes
	keep      bool
}

// Fit makes a run's first pass over src: data.FitSource with opts and,
// when the source is a text file (or any source that is not a Parquet
// file) that the run may stream, the block cache written from the same
// reading of the text. The cache is written when o.Mode is Always, or
// Auto with a file of at least a quarter of the budget (a compressed file
// counts four times its size); a run that decides to stream without one
// writes it in another pass (Stream). Fit does not close src.
func Fit(ctx context.Context, src data.Source, opts data.Options, o FitOptions) (*Fitted, error) {
	f := &Fitted{src: src, opts: o, keep: o.KeepCache, notStream: streamable(src)}
	if o.Mode == Always && f.notStream != nil {
		return nil, f.notStream
	}
	scan := src
	var tee *teeSource
	if f.wantsCache() {
		path, err := cachePath(o.CachePath)
		if err != nil {
			return nil, err
		}
		tee = &teeSource{Source: src, path: path, partPath: o.PartCache, part: -1}
		scan = tee
	}
	res, err := data.FitSource(ctx, scan, opts)
	if err != nil {
		if tee != nil {
			os.Remove(tee.written())
		}
		return nil, err
	}
	f.FitResult = res
	if tee != nil {
		paths := []string{tee.path}
		if res.Parts > 1 {
			paths = make([]string, res.Parts)
			for p := range paths {
				paths[p] = o.PartCache(p)
			}
		}
		if f.cache, err = openCached(paths, src); err != nil {
			os.Remove(tee.written())
			return nil, err
		}
		f.own = tee.written()
		if tee.part >= 0 && tee.path != f.own {
			os.Remove(tee.path) // made empty by cachePath, not written
		}
	}
	return f, nil
}

// Reopen prepares to stream a source whose first pass an earlier run
// made (a run resumed from its checkpoint knows its schema): res gives
// the schema, the number of rows and, with a group column, each row's
// group, as Fit gave them. No pass is made: Stream writes the block
// cache of a text file in a pass of its own. A source that cannot be
// streamed is an error that names it.
func Reopen(src data.Source, res *data.FitResult, o FitOptions) (*Fitted, error) {
	f := &Fitted{FitResult: res, src: src, opts: o, keep: o.KeepCache, notStream: streamable(src)}
	if f.notStream != nil {
		return nil, f.notStream
	}
	return f, nil
}

// wantsCache reports whether the first pass writes the block cache.
func (f *Fitted) wantsCache() bool {
	if f.notStream != nil || f.opts.Mode == Never {
		return false
	}
	if _, ok := f.src.(*data.ParquetSource); ok {
		return false
	}
	if f.opts.Mode == Always {
		return true
	}
	st, err := os.Stat(f.src.Name())
	if err != nil {
		return false
	}
	size := st.Size()
	if strings.HasSuffix(strings.ToLower(f.src.Name()), ".gz") {
		size *= 4
	}
	return size >= f.opts.Budget.Bytes/4
}

// streamable says why src cannot be streamed (nil when it can): a
// stream reads its source by block, again and again, so it must be a file.
func streamable(src data.Source) error {
	name := src.Name()
	st, err := os.Stat(name)
	if err != nil || !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file (a pipe?): streaming reads the data again in every epoch", name)
	}
	return nil
}

// Source is the source later passes read: the block cache when the first
// pass wrote one (its blocks name the lines of the original file), else
// the source given to Fit. An in-memory run encodes it too.
func (f *Fitted) Source() data.Source {
	if f.cache != nil {
		return f.cache
	}
	return f.src
}

// Streamable says why the source cannot be streamed, or nil.
func (f *Fitted) Streamable() error { return f.notStream }

// Decide decides, for the need estimated with Estimate, whether the run
// streams (see the function Decide), with the options given to Fit.
func (f *Fitted) Decide(need Need) (Decision, error) {
	return Decide(need, f.opts.Budget, f.opts.Mode, f.notStream)
}

// CachePath is the path of the block cache that this process wrote (in a
// shared first pass, its part's), or "" when there is none.
func (f *Fitted) CachePath() string {
	if f.cache == nil {
		return ""
	}
	return f.own
}

// Close closes the cache and removes it, unless the options keep it.
func (f *Fitted) Close() error {
	if f.cache == nil {
		return nil
	}
	err := f.cache.cache.Close()
	f.cache = nil
	if !f.keep {
		if rerr := os.Remove(f.own); err == nil && rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = rerr
		}
	}
	return err
}

// cachePath returns the cache's path: the one given, or a new file in the
// temporary directory.
func cachePath(path string) (string, error) {
	if path != "" {
		return path, nil
	}
	f, err := os.CreateTemp("", "mtl-gpu-*.cache")
	if err != nil {
		return "", fmt.Errorf("block cache: %w", err)
	}
	f.Close()
	return f.Name(), nil
}

// writeCache writes the cache of src with want in a pass of its own: the
// cache of this process's part, when the processes of a job share it
// (FitOptions.Split), else the whole source's.
func (f *Fitted) writeCache(ctx context.Context, want []data.ColumnWant) error {
	if shared, err := f.writeCacheParts(ctx, want); shared || err != nil {
		return err
	}
	path, err := cachePath(f.opts.CachePath)
	if err != nil {
		return err
	}
	if err := data.WriteCache(ctx, path, f.src, want, nil); err != nil {
		return err
	}
	if f.cache, err = openCached([]string{path}, f.src); err != nil {
		os.Remove(path)
		return err
	}
	f.own = path
	return nil
}

// writeCacheParts writes the cache of this process's part of src and opens
// every process's part as one cache, when the processes of a job share
// it: when every one can read the source in parts. It reports whether it
// did; an error on any process is every process's.
func (f *Fitted) writeCacheParts(ctx context.Context, want []data.ColumnWant) (bool, error) {
	g := f.opts.Split
	if g == nil || g.Size() < 2 || f.opts.PartCache == nil {
		return false, nil
	}
	ps, ok := f.src.(data.PartScanner)
	var why error
	if !ok {
		why = fmt.Errorf("%s cannot be read in parts", f.src.Name())
	} else {
		why = ps.Splittable()
	}
	if err := firstError(g, why); err != nil {
		return false, nil // every process writes a cache of its own
	}
	r, n := g.Rank(), g.Size()
	own := f.opts.PartCache(r)
	err := data.WriteCache(ctx, own, data.Part(ps, r, n), want, nil)
	if err := firstError(g, err); err != nil {
		os.Remove(own)
		return true, err
	}
	paths := make([]string, n)
	for p := range paths {
		paths[p] = f.opts.PartCache(p)
	}
	if f.cache, err = openCached(paths, f.src); err != nil {
		os.Remove(own)
		return true, err
	}
	f.own = own
	return true, nil
}

// firstError gathers every process's error and returns the first in rank
// order, or nil when none has one (data.Gather).
func firstError(g data.Gatherer, err error) error {
	_, err = data.Gather(g, "block cache shared between processes", nil, err)
	return err
}

// teeSource is a source whose first scan writes the block cache as it
// delivers the blocks. A second scan (data.FitSource reads again, as
// text, a column that holds both numbers and texts, to keep its numbers
// as written) reads the source again and writes the cache anew with
// those columns as text too, so that the cache encodes them as the text
// does. In a first pass shared between processes, ScanPart writes the
// cache of the part alone, at partPath(p).
type teeSource struct {
	data.Source
	path     string
	partPath func(p int) string
	part     int               // the part scanned; -1 for the whole source
	want     []data.ColumnWant // of the cache written, nil before
}

var _ data.PartScanner = (*teeSource)(nil)

func (t *teeSource) Scan(ctx context.Context, want []data.ColumnWant, fn func(*data.Block) error) error {
	t.part = -1
	return t.write(ctx, t.path, t.Source, want, fn)
}

// Splittable says why the pass cannot be shared: the source cannot be
// read in parts, or there is no shared place for the parts' caches.
func (t *teeSource) Splittable() error {
	ps, ok := t.Source.(data.PartScanner)
	switch {
	case !ok:
		return fmt.Errorf("%s cannot be read in parts", t.Name())
	case t.partPath == nil:
		return fmt.Errorf("%s: no folder shared between the processes for the block cache", t.Name())
	}
	return ps.Splittable()
}

func (t *teeSource) ScanPart(ctx context.Context, want []data.ColumnWant, p, n int, fn func(*data.Block) error) error {
	t.part = p
	return t.write(ctx, t.partPath(p), data.Part(t.Source.(data.PartScanner), p, n), want, fn)
}

// written is the path of the cache that the scans write.
func (t *teeSource) written() string {
	if t.part >= 0 {
		return t.partPath(t.part)
	}
	return t.path
}

// write writes the cache of src at path, delivering the blocks to fn.
func (t *teeSource) write(ctx context.Context, path string, src data.Source, want []data.ColumnWant, fn func(*data.Block) error) error {
	if t.want == nil {
		t.want = append([]data.ColumnWant(nil), want...)
		return data.WriteCache(ctx, path, src, t.want, fn)
	}
	merged := append([]data.ColumnWant(nil), t.want...)
	for c, w := range want {
		if w == data.Text {
			merged[c] = data.Text
		}
	}
	again := path + ".new"
	if err := data.WriteCache(ctx, again, src, merged, fn); err != nil {
		return err
	}
	t.want = merged
	return os.Rename(again, path)
}

// cachedSource is a block cache read as the source it was written from:
// it has that source's name, so that errors name the original file (and
// its lines, which the cache keeps).
type cachedSource struct {
	cache *data.CacheSource
	name  string
}

var _ data.Source = (*cachedSource)(nil)

// openCached opens the cache written at path, or the caches of the parts
// of a shared first pass, in part order, as one.
func openCached(paths []string, src data.Source) (*cachedSource, error) {
	c, err := data.OpenCacheParts(paths)
	if err != nil {
		return nil, err
	}
	return &cachedSource{cache: c, name: src.Name()}, nil
}

// Name returns the original source's name.
func (c *cachedSource) Name() string { return c.name }

// Columns returns the original source's columns.
func (c *cachedSource) Columns() []string { return c.cache.Columns() }

// Rows returns the number of rows.
func (c *cachedSource) Rows() int64 { return c.cache.Rows() }

// Wants returns the wants the blocks were cached with (see
// data.CacheSource.Wants); the encoders adapt to them.
func (c *cachedSource) Wants() []data.ColumnWant { return c.cache.Wants() }

// Scan reads the cache in order.
func (c *cachedSource) Scan(ctx context.Context, want []data.ColumnWant, fn func(*data.Block) error) error {
	return c.cache.Scan(ctx, want, fn)
}

// Close does nothing: the cache is closed by Fitted.Close.
func (c *cachedSource) Close() error { return nil }
