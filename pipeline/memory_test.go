package pipeline

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/internal/memtest"
)

// samplePeakHeap collects the garbage, then samples the heap's peak until
// the returned function is called (memtest.SamplePeakHeap).
func samplePeakHeap() func() uint64 {
	runtime.GC()
	return memtest.SamplePeakHeap()
}

// isNoBetter reports a run that learnt nothing (and was saved anyway).
func isNoBetter(err error) bool {
	var nb *NoBetterError
	return errors.As(err, &nb) && nb.Saved
}

// lowGC collects when the heap has grown by a tenth, as the command does,
// for the rest of the test, so that the heap sampled is close to the live
// data.
func lowGC(t *testing.T) {
	old := debug.SetGCPercent(10)
	chunk := textChunk
	textChunk = 64 << 10 // the reader's fixed buffers out of the way
	t.Cleanup(func() {
		debug.SetGCPercent(old)
		textChunk = chunk
	})
}

// wideCSV writes rows of d numeric inputs, a binary, a multiclass and a
// regression target, and returns the file and its size.
func wideCSV(t *testing.T, dir string, rows, d int, seed uint64) (string, int64) {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("wide%d.csv", rows))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for j := range d {
		fmt.Fprintf(w, "x%d,", j)
	}
	w.WriteString("y,k,r\n")
	rng := rand.New(rand.NewPCG(seed, 7))
	for range rows {
		s := 0.0
		for j := range d {
			v := rng.NormFloat64()
			s += v / float64(j+1)
			fmt.Fprintf(w, "%.4f,", v)
		}
		y := 0
		if s+0.5*rng.NormFloat64() > 0 {
			y = 1
		}
		fmt.Fprintf(w, "%d,%c,%.3f\n", y, 'a'+rune(rng.IntN(3)), 2*s+rng.NormFloat64())
	}
	w.Flush()
	f.Close()
	st, _ := os.Stat(path)
	return path, st.Size()
}

// TestApplyMemory: eval and predict stream a file, their peak heap does
// not grow with its size but for one score per row of each binary task
// (its AUC): four times the rows cost at most 8 bytes more per added row
// (and 2 MB of slack), where holding the encoded rows would cost at least 120 and
// their text more. Not parallel: the heap is the test's.
func TestApplyMemory(t *testing.T) {
	lowGC(t)
	dir := t.TempDir()
	const d = 30
	train, _ := wideCSV(t, dir, 2000, d, 1)
	b := cpuBackend(t)
	o := options(train, filepath.Join(dir, "m.mtl"))
	o.Tasks, o.Train.Epochs = []string{"y:binary", "k:multiclass", "r:regression"}, 1
	// One input a column: the garbage of blocks widened by PLE bins makes
	// the sampled peak depend on when the collector runs, which this
	// test, about what grows with the rows, need not measure.
	o.Numeric = "standard"
	r, err := Prepare(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Fit(context.Background(), b, Progress{}); err != nil {
		t.Fatal(err)
	}
	m := must(LoadModel(o.Out))
	const small, large = 40_000, 160_000
	files := map[int]string{}
	var sizes [2]int64
	files[small], sizes[0] = wideCSV(t, dir, small, d, 2)
	files[large], sizes[1] = wideCSV(t, dir, large, d, 3)
	peak := func(rows int, apply func(in DataInput) error) uint64 {
		stop := samplePeakHeap()
		if err := apply(DataInput{Path: files[rows]}); err != nil {
			t.Fatal(err)
		}
		return stop()
	}
	for _, c := range []struct {
		name     string
		perRow   uint64 // bytes a row may cost: a float32 score per binary task
		apply    func(in DataInput) error
		wantRows func() int64
	}{
		{"eval", 8, func(in DataInput) error {
			ev, err := m.Evaluate(context.Background(), On(b), in)
			if err == nil && ev.Report.Tasks["y"].N == 0 {
				err = errors.New("nothing scored")
			}
			return err
		}, nil},
		{"predict", 0, func(in DataInput) error {
			_, _, err := m.PredictTo(context.Background(), On(b), in, io.Discard, []string{"k"})
			return err
		}, nil},
	} {
		// The heap's peak is sampled: the larger of two runs on the
		// small file keeps a lucky low sample from failing the test.
		ps, pl := max(peak(small, c.apply), peak(small, c.apply)), peak(large, c.apply)
		bound := c.perRow*(large-small) + 2<<20
		t.Logf("%s: peak heap %.1f MB for %.1f MB of text, %.1f MB for %.1f MB", c.name, float64(ps)/1e6, float64(sizes[0])/1e6, float64(pl)/1e6, float64(sizes[1])/1e6)
		if pl > ps+bound {
			t.Errorf("%s: peak heap grows by %d bytes from %d to %d rows (%d MB more text), want at most %d", c.name, pl-ps, small, large, (sizes[1]-sizes[0])>>20, bound)
		}
	}
}

// TestTrainMemory: training holds its data once, encoded. The peak heap
// grows with the rows by at most 1.3 times what the encoded rows, the
// trainer's label matrix and its row order take (bytes per row: 4 per
// encoded input, 4 per label, 8 per task in the label matrix, 8 for the row
// order); a table of strings, or a second copy of the matrix, would
// double it. Parameters and optimiser state do not grow with the rows.
// Not parallel: the heap is the test's.
func TestTrainMemory(t *testing.T) {
	lowGC(t)
	dir := t.TempDir()
	const d = 30
	const small, large = 20_000, 80_000
	b := cpuBackend(t)
	var peaks [2]uint64
	inputs := 0 // the encoded width: numeric encodings may widen a column
	for i, rows := range []int{small, large} {
		path, _ := wideCSV(t, dir, rows, d, uint64(rows))
		o := options(path, filepath.Join(dir, fmt.Sprintf("m%d.mtl", rows)))
		o.Tasks, o.Train.Epochs, o.Train.Batch = []string{"y:binary", "r:regression"}, 1, 4096
		stop := samplePeakHeap()
		r, err := Prepare(o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Fit(context.Background(), b, Progress{}); err != nil {
			t.Fatal(err)
		}
		peaks[i] = stop()
		inputs = len(r.Train.X) / r.Train.N
	}
	const tasks = 2
	perRow := float64(4*inputs + 4*tasks + 8*tasks + 8)
	slope := float64(peaks[1]-peaks[0]) / (large - small)
	t.Logf("peak heap %.1f MB for %d rows, %.1f MB for %d: %.0f bytes a row, %.2f times the %.0f the encoded rows need",
		float64(peaks[0])/1e6, small, float64(peaks[1])/1e6, large, slope, slope/perRow, perRow)
	if slope > 1.3*perRow {
		t.Errorf("training takes %.0f bytes of heap a row, more than 1.3 times the %.0f of its encoded rows", slope, perRow)
	}
}
