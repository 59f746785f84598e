package stream

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/internal/trainset"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// DefaultWindow is the number of blocks whose rows are shuffled together
// when Options.Window is 0.
const DefaultWindow = 4

// Options says how Stream splits, sizes and reads a run's rows.
type Options struct {
	// ValFraction is the fraction of rows held out for validation (0 for
	// none), drawn from SplitSeed, and by the group column when ByGroup
	// is set: the rule of an in-memory run (trainset.Parts).
	ValFraction float64
	SplitSeed   uint64
	ByGroup     bool
	// Need is the run's estimate (Estimate): it sizes the blocks.
	Need Need
	// Layout fixes the blocks: a resumed run passes the one it recorded.
	// Its zero fields are chosen: Window DefaultWindow, BlockRows the
	// most that fit the budget.
	Layout Layout
}

// Layout is how a stream cuts its source into blocks: runs of the units
// the source is stored in (the cache's blocks, each one chunk of the
// text of ChunkSize bytes, or the Parquet file's row groups), as many
// consecutive units as BlockRows rows hold (at least one). Window blocks
// are shuffled together. The same layout on the same file gives the same
// blocks, so a run records it and resumes with it.
type Layout struct {
	BlockRows int `json:"block_rows"`
	Window    int `json:"window"`
	// ChunkSize is the text of a cache unit, the CSVOptions.ChunkSize
	// the source was opened with (FitOptions.ChunkSize); 0 for a Parquet
	// file.
	ChunkSize int `json:"chunk_size,omitempty"`
}

// Data is a streamed run's data: the training rows block by block (an
// mtl.Stream for mtl.NewStreamTrainer), the validation rows in memory,
// and what a new model needs to know of the training labels. It reads
// the source of the Fitted it was made from, which must stay open.
type Data struct {
	// Val holds the validation rows in the order an in-memory run holds
	// them (the split's), nil without a validation split.
	Val *mtl.Dataset
	// Warnings are the encoding's lines about allowed but doubtful input
	// (imputed values, unseen categories), over every row.
	Warnings []string

	schema *data.Schema
	name   string
	layout Layout
	reader unitReader
	start  []int64 // first row of each unit, and the row count at the end
	parts  []int8  // per row: 0 training, 1 validation
	// valOrder lists the validation rows in the split's order, until the
	// encoding pass has placed them.
	valOrder []int32
	blocks   []block
	rows     int
	stats    []labelAcc

	mu   sync.Mutex // one Block at a time: the encoder is reused
	enc  *data.BlockEncoder
	want []data.ColumnWant
}

var _ mtl.Stream = (*Data)(nil)

// block is the units [first, end) of the source, holding train training
// rows.
type block struct {
	first, end int
	train      int
}

// Stream prepares a streamed run: it splits the rows as an in-memory run
// does, then reads the source once in order to encode (and check) every
// row, keeping the validation rows and counting the training labels, and
// cuts the source into blocks of rows that fit the budget a window at a
// time (see Layout). A source that the first pass did not cache and that
// is not read by block directly is cached first, in a pass of its own.
func (f *Fitted) Stream(ctx context.Context, o Options) (*Data, error) {
	if f.notStream != nil {
		return nil, f.notStream
	}
	schema := f.Schema
	if f.cache == nil {
		if _, ok := f.src.(*data.ParquetSource); !ok {
			be, err := schema.NewBlockEncoder(ctx, f.src, data.EncodeOptions{Targets: true})
			if err != nil {
				return nil, err
			}
			if err := f.writeCache(ctx, be.Want()); err != nil {
				return nil, err
			}
		}
	}
	src := f.Source()
	d := &Data{schema: schema, name: f.src.Name()}
	switch s := src.(type) {
	case *cachedSource:
		d.reader = cacheReader{s.cache}
	case *data.ParquetSource:
		d.reader = parquetReader{s}
	default:
		panic("stream: a source read by block that is neither a cache nor Parquet")
	}
	d.start = make([]int64, d.reader.units()+1)
	for u := range d.reader.units() {
		d.start[u+1] = d.start[u] + d.reader.unitRows(u)
	}
	rows := d.start[len(d.start)-1]
	if rows != f.Rows {
		return nil, fmt.Errorf("%s: %d rows, the first pass read %d (did the file change?)", d.name, rows, f.Rows)
	}
	if o.ValFraction > 0 {
		var groups []int32
		if o.ByGroup {
			groups = f.Groups
		}
		d.parts, d.valOrder = trainset.Parts(int(rows), o.ValFraction, o.SplitSeed, groups)
	} else {
		d.parts = make([]int8, rows)
	}
	// The split is made: the per-row groups and strata are no longer
	// needed, and would take 8 bytes a row through training.
	f.Groups, f.Strata = nil, nil
	var err error
	if d.enc, err = schema.NewBlockEncoder(ctx, src, data.EncodeOptions{Targets: true}); err != nil {
		return nil, err
	}
	d.want = d.enc.Want()
	if err := d.encodePass(ctx, src); err != nil {
		return nil, err
	}
	if err := d.plan(f.opts.Budget, f.opts.ChunkSize, o); err != nil {
		return nil, err
	}
	return d, nil
}

// encodePass encodes every row in order, with an encoder of its own (whose
// warnings cover the whole source), keeping the validation rows and
// counting the training labels.
func (d *Data) encodePass(ctx context.Context, src data.Source) error {
	be, err := d.schema.NewBlockEncoder(ctx, src, data.EncodeOptions{Targets: true})
	if err != nil {
		return err
	}
	nval := 0
	for _, p := range d.parts {
		nval += int(p)
	}
	val := d.newEncoded(nval)
	d.stats = make([]labelAcc, len(d.schema.Targets))
	for t, tg := range d.schema.Targets {
		switch tg.Type {
		case data.Multiclass:
			d.stats[t].counts = make([]int64, len(tg.Classes))
		case data.Binary:
			d.stats[t].counts = make([]int64, 2)
		}
	}
	for u := range d.reader.units() {
		if err := ctx.Err(); err != nil {
			return err
		}
		blk, err := d.reader.read(ctx, u, be.Want())
		if err != nil {
			return err
		}
		if blk.Row != d.start[u] || int64(blk.N) != d.start[u+1]-d.start[u] {
			return fmt.Errorf("%s: block %d holds rows %d to %d, the index says %d to %d", d.name, u+1, blk.Row+1, blk.Row+int64(blk.N), d.start[u]+1, d.start[u+1])
		}
		eb, err := be.Encode(blk)
		if err != nil {
			return err
		}
		enc := &eb.Encoded
		parts := d.parts[blk.Row : blk.Row+int64(blk.N)]
		appendPart(val, enc, parts, 1)
		for t := range d.stats {
			d.stats[t].add(enc.Labels[t], parts)
		}
	}
	d.Warnings = be.Warnings()
	if nval > 0 {
		d.Val = d.splitOrder(trainset.Dataset(val, len(d.schema.Targets)))
	}
	d.valOrder = nil
	return nil
}

// splitOrder puts the validation rows, read in file order, in the order
// of the split, which is the order of an in-memory run's validation set.
func (d *Data) splitOrder(val *mtl.Dataset) *mtl.Dataset {
	byFile := slices.Clone(d.valOrder)
	slices.Sort(byFile)
	at := make([]int, len(d.valOrder))
	for j, row := range d.valOrder {
		at[j], _ = slices.BinarySearch(byFile, row)
	}
	return val.Rows(at, d.schema.Dim())
}

// plan sizes the blocks and lists those with training rows.
func (d *Data) plan(budget Budget, chunkSize int, o Options) error {
	l := o.Layout
	if l.Window <= 0 {
		l.Window = DefaultWindow
	}
	if _, ok := d.reader.(cacheReader); ok {
		l.ChunkSize = chunkSize
	} else {
		l.ChunkSize = 0
	}
	rows := d.start[len(d.start)-1]
	need := o.Need
	widest := int64(0)
	for u := range d.reader.units() {
		widest = max(widest, d.start[u+1]-d.start[u])
	}
	raw := rawRowBytes(d.want)
	nval := int64(0)
	if d.Val != nil {
		nval = int64(d.Val.N)
	}
	fixed := need.ModelBytes + rows + nval*(need.RowBytes+need.DeviceRowBytes) + widest*(raw+need.RowBytes)
	// A row of a window is held once on the host (the next window, read
	// while the current one trains from the device's buffers), with room
	// for its label matrix while it is copied to the device, and once in
	// the device's buffers; a block's rows once more as it is read. The
	// budget is halved for the garbage collector, which lets the heap
	// grow to twice the live data between collections.
	perRow := int64(l.Window)*(2*need.RowBytes+need.DeviceRowBytes) + need.RowBytes
	live := budget.Bytes / 2
	if l.BlockRows <= 0 {
		// The most that fit, but no more than makes four windows an
		// epoch: the trainer reads an epoch's first window before it
		// trains, and the others while the one before trains.
		most := (rows + int64(4*l.Window) - 1) / int64(4*l.Window)
		l.BlockRows = int(max(min((live-fixed)/max(perRow, 1), most), 1))
	}
	d.layout = l
	d.blocks, d.rows = nil, 0
	largest := int64(0)
	for u := 0; u < d.reader.units(); {
		b := block{first: u, end: u + 1}
		for b.end < d.reader.units() && d.start[b.end+1]-d.start[u] <= int64(l.BlockRows) {
			b.end++
		}
		largest = max(largest, d.start[b.end]-d.start[u])
		for _, p := range d.parts[d.start[b.first]:d.start[b.end]] {
			if p == 0 {
				b.train++
			}
		}
		if b.train > 0 {
			d.blocks = append(d.blocks, b)
			d.rows += b.train
		}
		u = b.end
	}
	if fixed+largest*perRow > live {
		return fmt.Errorf("memory budget of %s is too small to stream %s: the model takes about %s, the validation rows %s and reading a unit of the file (%d rows) %s, and a window of %d blocks of up to %d rows needs %s more (half the budget is kept for the garbage collector)",
			budget, d.name, FormatSize(need.ModelBytes), FormatSize(nval*(need.RowBytes+need.DeviceRowBytes)), widest, FormatSize(widest*(raw+need.RowBytes)), l.Window, largest, FormatSize(largest*perRow))
	}
	if d.rows == 0 {
		return fmt.Errorf("%s: no training rows", d.name)
	}
	return nil
}

// rawRowBytes bounds a row of a block as read: a number (8 bytes) and a
// code (4) for each column read, twice (the bytes of the file and the
// decoded columns).
func rawRowBytes(want []data.ColumnWant) int64 {
	n := int64(0)
	for _, w := range want {
		if w != data.Skip {
			n += 2 * 12
		}
	}
	return n
}

// Layout returns the run's layout, to record.
func (d *Data) Layout() Layout { return d.layout }

// Window returns the number of blocks shuffled together, for
// mtl.NewStreamTrainer.
func (d *Data) Window() int { return d.layout.Window }

// Describe says in one line how the run streams.
func (d *Data) Describe() string {
	how := "row groups of the Parquet file"
	if c, ok := d.reader.(cacheReader); ok {
		how = "block cache " + c.cache.Name()
	}
	return fmt.Sprintf("%d training rows in %d blocks of up to %d rows (%s encoded), shuffled %d blocks at a time, read from the %s",
		d.rows, len(d.blocks), d.layout.BlockRows, FormatSize(int64(d.layout.BlockRows)*encodedRowBytes(d.schema)), d.layout.Window, how)
}

// LabelStats returns the statistics of each target's training labels,
// for mtl.NewModelFromStats.
func (d *Data) LabelStats() []mtl.LabelStats {
	out := make([]mtl.LabelStats, len(d.stats))
	for t, a := range d.stats {
		out[t] = a.stats()
	}
	return out
}

// Rows returns the number of training rows.
func (d *Data) Rows() int { return d.rows }

// Blocks returns the number of blocks.
func (d *Data) Blocks() int { return len(d.blocks) }

// BlockRows returns the number of training rows of block i.
func (d *Data) BlockRows(i int) int { return d.blocks[i].train }

// Labelled returns the number of training rows with a label for target t.
func (d *Data) Labelled(t int) int { return int(d.stats[t].n) }

// Block reads and encodes the training rows of block i.
func (d *Data) Block(ctx context.Context, i int) (*mtl.Dataset, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.blocks[i]
	out := d.newEncoded(b.train)
	for u := b.first; u < b.end; u++ {
		blk, err := d.reader.read(ctx, u, d.want)
		if err != nil {
			return nil, err
		}
		eb, err := d.enc.Encode(blk)
		if err != nil {
			return nil, err
		}
		appendPart(out, &eb.Encoded, d.parts[d.start[u]:d.start[u+1]], 0)
	}
	if out.N != b.train {
		return nil, fmt.Errorf("%s: block %d gave %d training rows, want %d", d.name, i+1, out.N, b.train)
	}
	return trainset.Dataset(out, len(d.schema.Targets)), nil
}

// newEncoded allocates room for n rows of the schema's encoding.
func (d *Data) newEncoded(n int) *data.Encoded {
	dim := d.schema.Dim()
	enc := &data.Encoded{D: dim, X: make([]float32, 0, n*dim)}
	for range d.schema.Embeddings() {
		enc.Index = append(enc.Index, make([]int32, 0, n))
	}
	for range d.schema.Targets {
		enc.Labels = append(enc.Labels, make([]float32, 0, n))
	}
	if d.schema.GroupColumn != "" {
		enc.Groups = make([]int32, 0, n)
	}
	return enc
}

// appendPart appends to dst the rows of src whose part is p, run by run.
func appendPart(dst, src *data.Encoded, parts []int8, p int8) {
	for a := 0; a < len(parts); {
		if parts[a] != p {
			a++
			continue
		}
		b := a + 1
		for b < len(parts) && parts[b] == p {
			b++
		}
		dst.X = append(dst.X, src.X[a*src.D:b*src.D]...)
		for j := range dst.Index {
			dst.Index[j] = append(dst.Index[j], src.Index[j][a:b]...)
		}
		for t := range dst.Labels {
			dst.Labels[t] = append(dst.Labels[t], src.Labels[t][a:b]...)
		}
		if dst.Groups != nil {
			dst.Groups = append(dst.Groups, src.Groups[a:b]...)
		}
		dst.N += b - a
		a = b
	}
}

// labelAcc gathers a target's training labels: class counts, or the
// count, mean and sum of squared deviations of a regression target
// (Welford).
type labelAcc struct {
	counts   []int64
	n        int64
	mean, m2 float64
}

// add takes in the labels of the training rows among a block's.
func (a *labelAcc) add(labels []float32, parts []int8) {
	for i, y := range labels {
		if parts[i] != 0 || math.IsNaN(float64(y)) {
			continue
		}
		a.n++
		if a.counts != nil {
			a.counts[int(y)]++
			continue
		}
		v := float64(y)
		delta := v - a.mean
		a.mean += delta / float64(a.n)
		a.m2 += delta * (v - a.mean)
	}
}

// stats returns the statistics as a model takes them: a regression
// target without labels or with constant labels has a standard deviation
// of 1, as mtl.NewModel gives it.
func (a *labelAcc) stats() mtl.LabelStats {
	if a.counts != nil {
		return mtl.LabelStats{Counts: append([]int64(nil), a.counts...)}
	}
	if a.n == 0 {
		return mtl.LabelStats{Std: 1}
	}
	std := math.Sqrt(a.m2 / float64(a.n))
	if std == 0 || math.IsNaN(std) {
		std = 1
	}
	return mtl.LabelStats{Mean: a.mean, Std: std}
}

// unitReader reads the units a source is stored in (cache blocks,
// Parquet row groups) by index.
type unitReader interface {
	units() int
	unitRows(u int) int64
	read(ctx context.Context, u int, want []data.ColumnWant) (*data.Block, error)
}

type cacheReader struct{ cache *data.CacheSource }

func (c cacheReader) units() int           { return c.cache.Blocks() }
func (c cacheReader) unitRows(u int) int64 { return int64(c.cache.BlockRows(u)) }
func (c cacheReader) read(ctx context.Context, u int, want []data.ColumnWant) (*data.Block, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.cache.ReadBlock(u, want)
}

type parquetReader struct{ pq *data.ParquetSource }

func (p parquetReader) units() int           { return p.pq.RowGroups() }
func (p parquetReader) unitRows(u int) int64 { return p.pq.RowGroupRows(u) }
func (p parquetReader) read(ctx context.Context, u int, want []data.ColumnWant) (*data.Block, error) {
	return p.pq.ReadRowGroup(ctx, u, want)
}
