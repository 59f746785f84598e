package stream

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/internal/trainset"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// sameDataset compares two data sets exactly, floats by their bits.
func sameDataset(t *testing.T, what string, got, want *mtl.Dataset) {
	t.Helper()
	bits := func(v []float32) []uint32 {
		out := make([]uint32, len(v))
		for i, x := range v {
			out[i] = math.Float32bits(x)
		}
		return out
	}
	if got.N != want.N {
		t.Fatalf("%s: %d rows, want %d", what, got.N, want.N)
	}
	if !slices.Equal(bits(got.X), bits(want.X)) {
		t.Fatalf("%s: inputs differ", what)
	}
	if len(got.Labels) != len(want.Labels) || len(got.Index) != len(want.Index) || len(got.Groups) != len(want.Groups) {
		t.Fatalf("%s: %d labels, %d indices, %d groups; want %d, %d, %d", what, len(got.Labels), len(got.Index), len(got.Groups), len(want.Labels), len(want.Index), len(want.Groups))
	}
	for i := range want.Labels {
		if !slices.Equal(bits(got.Labels[i]), bits(want.Labels[i])) {
			t.Fatalf("%s: labels of target %d differ", what, i)
		}
	}
	for i := range want.Index {
		if !slices.Equal(got.Index[i], want.Index[i]) {
			t.Fatalf("%s: embedding indices %d differ", what, i)
		}
	}
	for i := range want.Groups {
		if !slices.Equal(got.Groups[i], want.Groups[i]) {
			t.Fatalf("%s: groups of task %d differ", what, i)
		}
	}
}

// joinBlocks reads every block of a stream in order and stacks them.
func joinBlocks(t *testing.T, d *Data) *mtl.Dataset {
	t.Helper()
	all := d.newEncoded(d.Rows())
	for i := range d.Blocks() {
		b, err := d.Block(context.Background(), i)
		if err != nil {
			t.Fatal(err)
		}
		if b.N != d.BlockRows(i) {
			t.Fatalf("block %d has %d rows, BlockRows says %d", i, b.N, d.BlockRows(i))
		}
		enc := &data.Encoded{N: b.N, D: all.D, X: b.X, Index: b.Index, Labels: b.Labels}
		if all.Groups != nil {
			enc.Groups = b.Groups[0]
		}
		appendPart(all, enc, make([]int8, b.N), 0)
	}
	return trainset.Dataset(all, len(d.schema.Targets))
}

// TestStreamHoldsTheRowsOfAnInMemoryRun streams a CSV file (through the
// block cache, blocks of a few of its units) and a Parquet file (a row
// group a block), and checks against an in-memory run on the same file:
// the same schema, the same validation rows bit for bit, every training
// row once in file order across the blocks, the same warnings, the
// training labels' statistics.
func TestStreamHoldsTheRowsOfAnInMemoryRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	csvPath := dir + "/t.csv"
	genCSV(t, csvPath, 5000, 5, 1)
	const budget = 4 << 20
	pqPath := dir + "/t.parquet"
	{
		f, err := os.Create(pqPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := data.WriteParquet(context.Background(), f, openCSV(t, csvPath, budget), data.ParquetWriteOptions{RowGroupRows: 700}); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	open := map[string]func() data.Source{
		"csv": func() data.Source { return openCSV(t, csvPath, budget) },
		"parquet": func() data.Source {
			s, err := data.OpenParquet(pqPath, data.ParquetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
	for name, src := range open {
		t.Run(name, func(t *testing.T) {
			mem := inMemory(t, src(), fitOptions(t), 0.2, 5)
			res, warnings := mem.res, mem.warnings
			f, d := fitStream(t, src(), FitOptions{Mode: Always, Budget: Budget{Bytes: budget}, CachePath: tempPath(t, "c.cache")},
				Options{ValFraction: 0.2, SplitSeed: 5, ByGroup: true, Layout: Layout{BlockRows: 777, Window: 3}}, nil)
			if (f.CachePath() != "") != (name == "csv") {
				t.Errorf("cache %q for a %s file", f.CachePath(), name)
			}
			if !reflect.DeepEqual(f.Schema, res.Schema) {
				t.Fatalf("schema\n%+v\nwant\n%+v", f.Schema, res.Schema)
			}
			if len(f.Schema.Embeddings()) != 1 || len(warnings) == 0 {
				t.Fatalf("the table has %d embedded features and warnings %q: it does not test them", len(f.Schema.Embeddings()), warnings)
			}
			sameDataset(t, "validation rows", d.Val, mem.val)
			want := mem.trainByFile
			sameDataset(t, "training rows", joinBlocks(t, d), want)
			if d.Rows() != want.N || d.Blocks() < 4 || d.Window() != 3 || (name == "parquet" && d.Blocks() != 8) {
				t.Errorf("%d rows in %d blocks, window %d", d.Rows(), d.Blocks(), d.Window())
			}
			for _, b := range d.blocks {
				if rows := d.start[b.end] - d.start[b.first]; rows > 777 && b.end-b.first > 1 {
					t.Errorf("a block of %d units holds %d rows, more than 777", b.end-b.first, rows)
				}
				if b.end < len(d.start)-1 && d.start[b.end+1]-d.start[b.first] <= 777 {
					t.Errorf("a block ends before a unit that fits")
				}
			}
			if !slices.Equal(d.Warnings, warnings) {
				t.Errorf("warnings %q, want %q", d.Warnings, warnings)
			}
			spec := specOf(res.Schema)
			stats, wantStats := d.LabelStats(), want.LabelStats(spec)
			for i, task := range spec.Tasks {
				got, w := stats[i], wantStats[i]
				if !slices.Equal(got.Counts, w.Counts) || math.Abs(got.Mean-w.Mean) > 1e-12*math.Abs(w.Mean)+1e-12 || math.Abs(got.Std-w.Std) > 1e-9*w.Std {
					t.Errorf("task %s: statistics %+v, want %+v", task.Name, got, w)
				}
				labelled := 0
				for _, y := range want.Labels[i] {
					if !math.IsNaN(float64(y)) {
						labelled++
					}
				}
				if d.Labelled(i) != labelled {
					t.Errorf("task %s: %d labelled, want %d", task.Name, d.Labelled(i), labelled)
				}
			}
		})
	}
}

// TestMixedColumnCachedAsText streams a column that holds numbers written
// in a longer form than their shortest ("1.50") among texts: the fit
// reads it again as text, and the cache must then hold it as text, or
// its numbers would not find their categories.
func TestMixedColumnCachedAsText(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("mix,x,y\n")
	for i := range 400 {
		mix := []string{"1.50", "2.0", "n/a", "007"}[i%4]
		y := "0"
		if i%4 < 2 {
			y = "1"
		}
		b.WriteString(mix + "," + []string{"0.5", "1", "-2"}[i%3] + "," + y + "\n")
	}
	path := tempPath(t, "mix.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ts, _ := data.ParseTaskSpec("y:binary")
	opts := data.Options{Tasks: []data.TaskSpec{ts}}
	mem := inMemory(t, openCSV(t, path, 1<<20), opts, 0, 0)
	res := mem.res
	f, err := Fit(context.Background(), openCSV(t, path, 1<<20), opts, FitOptions{Mode: Always, Budget: Budget{Bytes: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !reflect.DeepEqual(f.Schema, res.Schema) || !slices.Contains(res.Schema.Features[0].Categories, "1.50") {
		t.Fatalf("schema %+v, want %+v with the category 1.50", f.Schema, res.Schema)
	}
	d, err := f.Stream(context.Background(), Options{Layout: Layout{BlockRows: 150}})
	if err != nil {
		t.Fatal(err)
	}
	sameDataset(t, "training rows", joinBlocks(t, d), mem.trainByFile)
	if len(d.Warnings) != 0 {
		t.Errorf("warnings %q", d.Warnings)
	}
}

// TestPipeIsNotStreamed gives a CSV read from a named pipe: asking to
// stream it is an error that names it, and so is data that would not fit
// the budget; data that fits trains in memory.
func TestPipeIsNotStreamed(t *testing.T) {
	t.Parallel()
	content := []byte("x,y\n1,0\n2,1\n3,0\n4,1\n")
	ts, _ := data.ParseTaskSpec("y:binary")
	opts := data.Options{Tasks: []data.TaskSpec{ts}}
	fit := func(mode Mode) (*Fitted, error) {
		src, err := data.NewCSVReader(bytes.NewReader(content), "/dev/stdin", data.CSVOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return Fit(context.Background(), src, opts, FitOptions{Mode: mode, Budget: Budget{Bytes: 1 << 20}})
	}
	if _, err := fit(Always); err == nil || !strings.Contains(err.Error(), "/dev/stdin is not a regular file (a pipe?)") {
		t.Errorf("streaming a pipe: %v", err)
	}
	f, err := fit(Auto)
	if err != nil {
		t.Fatal(err)
	}
	if f.CachePath() != "" {
		t.Errorf("a pipe was cached to %s", f.CachePath())
	}
	need := Need{Rows: 4, RowBytes: 12, ModelBytes: 100}
	if dec, err := f.Decide(need); err != nil || dec.Stream {
		t.Errorf("data that fits: %+v, %v", dec, err)
	}
	need.ModelBytes = 2 << 20
	if _, err := f.Decide(need); err == nil || !strings.Contains(err.Error(), "cannot be streamed: /dev/stdin is not a regular file") {
		t.Errorf("data that does not fit: %v", err)
	}
	if _, err := f.Stream(context.Background(), Options{}); err == nil || !strings.Contains(err.Error(), "/dev/stdin") {
		t.Errorf("Stream of a pipe: %v", err)
	}
}

// TestCacheRemovedUnlessKept checks where the cache goes and that Close
// removes it, unless it is to be kept; and that a run in memory or on a
// small file in Auto mode writes none.
func TestCacheRemovedUnlessKept(t *testing.T) {
	t.Parallel()
	path := tempPath(t, "t.csv")
	size := genCSV(t, path, 300, 3, 2)
	for _, keep := range []bool{false, true} {
		cache := tempPath(t, "out.cache")
		f, err := Fit(context.Background(), openCSV(t, path, 1<<20), fitOptions(t), FitOptions{Mode: Always, Budget: Budget{Bytes: 1 << 20}, CachePath: cache, KeepCache: keep})
		if err != nil {
			t.Fatal(err)
		}
		if f.CachePath() != cache {
			t.Fatalf("cache at %q, want %q", f.CachePath(), cache)
		}
		if _, err := os.Stat(cache); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(cache); errors.Is(err, os.ErrNotExist) != !keep {
			t.Errorf("keep %v: after Close, stat gives %v", keep, err)
		}
	}
	for mode, budget := range map[Mode]int64{Never: 1 << 20, Auto: 1 << 20} {
		cache := tempPath(t, "out.cache")
		f, err := Fit(context.Background(), openCSV(t, path, 1<<20), fitOptions(t), FitOptions{Mode: mode, Budget: Budget{Bytes: budget}, CachePath: cache})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(cache); f.CachePath() != "" || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("mode %v, budget %d: a cache was written", mode, budget)
		}
		// Deciding to stream without a cache writes it then.
		d, err := f.Stream(context.Background(), Options{Layout: Layout{BlockRows: 100}})
		if err != nil {
			t.Fatal(err)
		}
		if f.CachePath() != cache || d.Rows() != 300 {
			t.Errorf("mode %v: streamed %d rows from %q", mode, d.Rows(), f.CachePath())
		}
		f.Close()
	}
	// In Auto mode a file of a quarter of the budget is cached at once.
	f, err := Fit(context.Background(), openCSV(t, path, 1<<20), fitOptions(t), FitOptions{Mode: Auto, Budget: Budget{Bytes: 4 * size}})
	if err != nil {
		t.Fatal(err)
	}
	if f.CachePath() == "" {
		t.Errorf("a file of %d bytes under a budget of %d was not cached", size, 4*size)
	}
	f.Close()
}

// TestBudgetTooSmall checks that a budget that cannot hold a window of
// blocks and the model is refused with the amounts, and that the blocks
// chosen for a larger one fit it.
func TestBudgetTooSmall(t *testing.T) {
	t.Parallel()
	path := tempPath(t, "t.csv")
	genCSV(t, path, 2000, 4, 3)
	f, err := Fit(context.Background(), openCSV(t, path, 1<<20), fitOptions(t), FitOptions{Mode: Always, Budget: Budget{Bytes: 64 << 10, From: "given"}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	need := Estimate(f.FitResult, specOf(f.Schema, 8), mtl.DefaultConfig(), true)
	_, err = f.Stream(context.Background(), Options{Need: need})
	if err == nil || !strings.Contains(err.Error(), "memory budget of 64 KiB (given) is too small to stream "+path) {
		t.Fatalf("a tiny budget: %v", err)
	}
	f.opts.Budget = Budget{Bytes: 4 << 20}
	d, err := f.Stream(context.Background(), Options{Need: need})
	if err != nil {
		t.Fatal(err)
	}
	l := d.Layout()
	perRow := int64(l.Window)*(4*need.RowBytes+need.DeviceRowBytes) + need.RowBytes
	if l.Window != DefaultWindow || l.BlockRows < 10 || int64(l.BlockRows)*perRow > 2<<20 {
		t.Errorf("layout %+v for a budget of 4 MiB (%d bytes a window row)", l, perRow)
	}
}

// countingSource counts the scans of a source.
type countingSource struct {
	data.Source
	scans int
}

func (c *countingSource) Scan(ctx context.Context, want []data.ColumnWant, fn func(*data.Block) error) error {
	c.scans++
	return c.Source.Scan(ctx, want, fn)
}

// TestTextReadOnce checks that a streamed run reads the text once: the
// first pass fits and writes the cache, and every later pass reads the
// cache.
func TestTextReadOnce(t *testing.T) {
	t.Parallel()
	path := tempPath(t, "t.csv")
	genCSV(t, path, 2000, 3, 5)
	src := &countingSource{Source: openCSV(t, path, 1<<20)}
	_, d := fitStream(t, src, FitOptions{Mode: Always, Budget: Budget{Bytes: 1 << 20}}, Options{ValFraction: 0.1, Layout: Layout{BlockRows: 300}}, nil)
	for i := range d.Blocks() {
		if _, err := d.Block(context.Background(), i); err != nil {
			t.Fatal(err)
		}
	}
	if src.scans != 1 {
		t.Errorf("the text was read %d times", src.scans)
	}
}
