package stream

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/internal/inproc"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// TestSharedFirstPass: three processes (in-process members of a job)
// share the first pass of a text file, each writing the block cache of
// its part; each then streams every row from the three parts, the blocks
// one process alone streams, and removes its own part when done.
func TestSharedFirstPass(t *testing.T) {
	t.Parallel()
	path := tempPath(t, "t.csv")
	genCSV(t, path, 3000, 3, 5)
	const budget = 1 << 20 // 16 KiB chunks: about 13 per file
	o := Options{ValFraction: 0.2, SplitSeed: 3, ByGroup: true, Layout: Layout{BlockRows: 400}}
	fo := FitOptions{Mode: Always, Budget: Budget{Bytes: budget}, CachePath: tempPath(t, "alone.cache")}
	_, alone := fitStream(t, openCSV(t, path, budget), fo, o, nil)
	want := joinBlocks(t, alone)

	const n = 3
	dir := t.TempDir()
	part := func(p int) string { return filepath.Join(dir, fmt.Sprintf("job.part%d.cache", p)) }
	hub := inproc.NewHub(n)
	fitted, got := make([]*Fitted, n), make([]*mtl.Dataset, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			opts := fitOptions(t)
			opts.Split = hub.Member(r)
			fo := FitOptions{Mode: Always, Budget: Budget{Bytes: budget}, CachePath: filepath.Join(dir, fmt.Sprintf("own%d.cache", r)),
				PartCache: part, ChunkSize: ChunkSize(budget)}
			f, err := Fit(context.Background(), openCSV(t, path, budget), opts, fo)
			if err != nil {
				errs[r] = err
				return
			}
			fitted[r] = f
			if f.Parts != n {
				errs[r] = fmt.Errorf("rank %d: the pass was shared by %d", r, f.Parts)
				return
			}
			if f.CachePath() != part(r) {
				errs[r] = fmt.Errorf("rank %d wrote %q", r, f.CachePath())
				return
			}
			d, err := f.Stream(context.Background(), o)
			if err != nil {
				errs[r] = err
				return
			}
			got[r] = joinBlocks(t, d)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for r := range n {
		sameDataset(t, fmt.Sprintf("rank %d and rank 0", r), got[r], got[0])
	}
	// Merged moments round differently from one pass's: the inputs agree
	// to float32's precision, everything else exactly.
	g := *got[0]
	worst := 0.0
	for i, x := range g.X {
		worst = max(worst, math.Abs(float64(x-want.X[i])))
	}
	if worst > 1e-5 {
		t.Errorf("inputs differ from one process's by up to %v", worst)
	}
	g.X = want.X
	sameDataset(t, "shared and alone", &g, want)
	entries, _ := os.ReadDir(dir)
	if len(entries) != n {
		t.Errorf("%d files in the cache folder, want the %d parts", len(entries), n)
	}
	for r := range n {
		if err := fitted[r].Close(); err != nil {
			t.Fatal(err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left after Close: %v", entries)
	}
}

// TestSharedCacheOnReopen: three processes resuming a streamed run
// (Reopen: no first pass) write the block cache in a pass of its own,
// each its part's, and stream every row from the three parts: the blocks
// of one process alone. A process that cannot read its source in parts
// (a pipe, say) makes every process write a cache of its own.
func TestSharedCacheOnReopen(t *testing.T) {
	t.Parallel()
	path := tempPath(t, "t.csv")
	genCSV(t, path, 2000, 3, 8)
	const budget = 1 << 20
	o := Options{ValFraction: 0.2, SplitSeed: 4, ByGroup: true, Layout: Layout{BlockRows: 300}}
	fo := FitOptions{Mode: Always, Budget: Budget{Bytes: budget}, CachePath: tempPath(t, "alone.cache"), ChunkSize: ChunkSize(budget)}
	fit, err := Fit(context.Background(), openCSV(t, path, budget), fitOptions(t), fo)
	if err != nil {
		t.Fatal(err)
	}
	defer fit.Close()
	// What a resumed run knows: Stream drops the rows' groups.
	res := &data.FitResult{Schema: fit.Schema, Rows: fit.Rows, Groups: slices.Clone(fit.Groups)}
	alone, err := fit.Stream(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	want := joinBlocks(t, alone)

	for _, unsplittable := range []bool{false, true} {
		const n = 3
		dir := t.TempDir()
		part := func(p int) string { return filepath.Join(dir, fmt.Sprintf("job.part%d.cache", p)) }
		hub := inproc.NewHub(n)
		fitted, got, errs := make([]*Fitted, n), make([]*mtl.Dataset, n), make([]error, n)
		var wg sync.WaitGroup
		for r := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var src data.Source = openCSV(t, path, budget)
				if unsplittable && r == 2 {
					src = wholeOnly{src}
				}
				fo := FitOptions{Mode: Always, Budget: Budget{Bytes: budget}, CachePath: filepath.Join(dir, fmt.Sprintf("own%d.cache", r)),
					PartCache: part, Split: hub.Member(r), ChunkSize: ChunkSize(budget)}
				f, err := Reopen(src, &data.FitResult{Schema: res.Schema, Rows: res.Rows, Groups: res.Groups}, fo)
				if err != nil {
					errs[r] = err
					return
				}
				fitted[r] = f
				d, err := f.Stream(context.Background(), o)
				if err != nil {
					errs[r] = err
					return
				}
				got[r] = joinBlocks(t, d)
				if !unsplittable && f.CachePath() != part(r) {
					errs[r] = fmt.Errorf("rank %d wrote %q, want %q", r, f.CachePath(), part(r))
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		for r := range n {
			sameDataset(t, fmt.Sprintf("unsplittable %v, rank %d", unsplittable, r), got[r], want)
			if unsplittable && fitted[r].CachePath() != filepath.Join(dir, fmt.Sprintf("own%d.cache", r)) {
				t.Errorf("rank %d wrote %q, not a cache of its own", r, fitted[r].CachePath())
			}
			if err := fitted[r].Close(); err != nil {
				t.Fatal(err)
			}
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("left after Close: %v", entries)
		}
	}
}

// wholeOnly hides a source's parts.
type wholeOnly struct{ data.Source }
