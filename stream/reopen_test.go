package stream

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/data"
)

// TestReopen: a resumed run's stream, made from the schema, row count
// and groups of the first pass (Reopen) and the recorded layout, holds
// the very blocks and validation rows of the run's own; a pipe cannot be
// reopened.
func TestReopen(t *testing.T) {
	t.Parallel()
	path := tempPath(t, "r.csv")
	genCSV(t, path, 3000, 4, 9)
	const budget = 4 << 20
	ctx := context.Background()
	fo := FitOptions{Mode: Always, Budget: Budget{Bytes: budget}, CachePath: tempPath(t, "a.cache"), ChunkSize: ChunkSize(budget)}
	f, err := Fit(ctx, openCSV(t, path, budget), fitOptions(t), fo)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res := &data.FitResult{Schema: f.Schema, Rows: f.Rows, Groups: slices.Clone(f.Groups)}
	o := Options{ValFraction: 0.2, SplitSeed: 3, ByGroup: true, Need: Estimate(f.FitResult, specOf(f.Schema, 8), trainConfig(), true), Layout: Layout{BlockRows: 300, Window: 3}}
	first, err := f.Stream(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	fo.CachePath = tempPath(t, "b.cache")
	g, err := Reopen(openCSV(t, path, budget), res, fo)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	o.Layout = first.Layout()
	again, err := g.Stream(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if again.Layout() != first.Layout() || again.Blocks() != first.Blocks() {
		t.Fatalf("reopened: layout %+v in %d blocks, the run's %+v in %d", again.Layout(), again.Blocks(), first.Layout(), first.Blocks())
	}
	sameDataset(t, "training rows", joinBlocks(t, again), joinBlocks(t, first))
	sameDataset(t, "validation rows", again.Val, first.Val)
	if !slices.Equal(again.LabelStats()[0].Counts, first.LabelStats()[0].Counts) {
		t.Error("the label counts differ")
	}

	fifo := filepath.Join(t.TempDir(), "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err == nil {
			w.WriteString("g,x0,c,u,y,m,r\ns0,1,red,u1,1,a,2\n")
			w.Close()
		}
	}()
	src, err := data.OpenCSV(fifo, data.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := Reopen(src, res, fo); err == nil || !strings.Contains(err.Error(), fifo) {
		t.Errorf("reopening a pipe: %v, want an error that names it", err)
	}
}
