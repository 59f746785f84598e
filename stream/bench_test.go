package stream

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// benchFiles are the benchmark's table as CSV and as Parquet, written
// once.
var benchFiles struct {
	once    sync.Once
	dir     string
	csv, pq string
	rows    int
	err     error
}

func benchData(b *testing.B) (csvPath, pqPath string) {
	b.Helper()
	benchFiles.once.Do(func() {
		dir, err := os.MkdirTemp("", "mtl-gpu-stream-bench")
		if err != nil {
			benchFiles.err = err
			return
		}
		benchFiles.dir, benchFiles.rows = dir, 100_000
		benchFiles.csv, benchFiles.pq = dir+"/bench.csv", dir+"/bench.parquet"
		genCSV(b, benchFiles.csv, benchFiles.rows, 30, 8)
		src, err := data.OpenCSV(benchFiles.csv, data.CSVOptions{})
		if err != nil {
			benchFiles.err = err
			return
		}
		defer src.Close()
		f, err := os.Create(benchFiles.pq)
		if err != nil {
			benchFiles.err = err
			return
		}
		defer f.Close()
		benchFiles.err = data.WriteParquet(context.Background(), f, src, data.ParquetWriteOptions{RowGroupRows: 8192})
	})
	if benchFiles.err != nil {
		b.Fatal(benchFiles.err)
	}
	return benchFiles.csv, benchFiles.pq
}

// BenchmarkEpoch trains the same rows (100,000 rows of 30 numeric
// inputs, a one-hot and an embedded column, three tasks by group, a
// shared layer of 64) on the CPU, held in memory and streamed: from the
// block cache of the CSV file (with a budget of a fifth of the encoded
// rows, and with one that holds them in two blocks) and from the Parquet
// file's row groups of 8,192 rows. Each round trains one epoch of the
// in-memory run, then one of the streamed run, so that both see the same
// load; it reports the median over the rounds of each one's training rows
// a second (the trainers' set-up and the in-memory run's upload of its
// rows are not timed, the stream's reading, encoding and upload are) and
// of their ratio, streamed over in memory.
//
//	go test ./stream/ -run '^$' -bench Epoch -benchtime 5x
func BenchmarkEpoch(b *testing.B) {
	csvPath, pqPath := benchData(b)
	cfg := mtl.DefaultConfig()
	cfg.Patience = 0
	ctx := context.Background()
	spec := func(s *data.Schema) mtl.Spec { return specOf(s, 64) }
	src, err := data.OpenCSV(csvPath, data.CSVOptions{})
	if err != nil {
		b.Fatal(err)
	}
	mem := inMemory(b, src, fitOptions(b), 0, 0)
	src.Close()
	res := mem.res
	encoded := int64(mem.train.N) * encodedRowBytes(res.Schema)
	for _, v := range []struct{ from, budget string }{{"cache", "a fifth"}, {"cache", "ample"}, {"parquet", "ample"}} {
		budget := 40 * encoded
		if v.budget == "a fifth" {
			budget = encoded / 5
		}
		b.Run(v.from+"/budget "+v.budget, func(b *testing.B) {
			var src data.Source
			var err error
			if v.from == "cache" {
				src, err = data.OpenCSV(csvPath, data.CSVOptions{ChunkSize: ChunkSize(budget)})
			} else {
				src, err = data.OpenParquet(pqPath, data.ParquetOptions{})
			}
			if err != nil {
				b.Fatal(err)
			}
			defer src.Close()
			f, err := Fit(ctx, src, fitOptions(b), FitOptions{Mode: Always, Budget: Budget{Bytes: budget}})
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			sp := spec(f.Schema)
			d, err := f.Stream(ctx, Options{Need: Estimate(f.FitResult, sp, cfg, true)})
			if err != nil {
				b.Fatal(err)
			}
			b.Log(d.Describe())
			c := cfg
			c.Epochs = b.N
			model, err := mtl.NewModelFromStats(sp, d.LabelStats(), c.Seed)
			if err != nil {
				b.Fatal(err)
			}
			streamed, err := mtl.NewStreamTrainer(cpuBackend(b), model, c, d, d.Window(), nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer streamed.Close()
			ds := mem.train
			if model, err = mtl.NewModel(sp, ds, c.Seed); err != nil {
				b.Fatal(err)
			}
			held, err := mtl.NewTrainer(cpuBackend(b), model, c, ds, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer held.Close()
			b.ResetTimer()
			memSec, strSec := alternate(b, held, streamed, b.N)
			ratios := make([]float64, b.N)
			for i := range ratios {
				ratios[i] = memSec[i] / strSec[i]
			}
			b.ReportMetric(float64(ds.N)/median(memSec), "in-memory-rows/s")
			b.ReportMetric(float64(d.Rows())/median(strSec), "streamed-rows/s")
			b.ReportMetric(median(ratios), "ratio")
		})
	}
}

// alternate trains epochs of a and b in turn, one epoch each, and returns
// the seconds of each one's epochs.
func alternate(tb testing.TB, a, b *mtl.Trainer, epochs int) (aSec, bSec []float64) {
	tb.Helper()
	aTurn, bTurn := make(chan struct{}, 1), make(chan struct{}, 1)
	run := func(tr *mtl.Trainer, mine, other chan struct{}, secs *[]float64, errc chan<- error) {
		<-mine
		errc <- tr.Fit(context.Background(), mtl.Hooks{Epoch: func(s mtl.EpochStats) error {
			*secs = append(*secs, s.Seconds)
			other <- struct{}{}
			if len(*secs) < epochs {
				<-mine
			}
			return nil
		}})
	}
	errc := make(chan error, 2)
	go run(a, aTurn, bTurn, &aSec, errc)
	go run(b, bTurn, aTurn, &bSec, errc)
	aTurn <- struct{}{}
	for range 2 {
		if err := <-errc; err != nil {
			tb.Fatal(err)
		}
	}
	return aSec, bSec
}

// median returns the median of v.
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
