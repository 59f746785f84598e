// Command ingestscan times one full scan of a CSV or Parquet file through
// mtl-gpu's block readers (every column as Auto) and prints the time, the
// rows and the peak resident memory, for benchmark/ingest.sh. With -tasks
// it times instead what training reads: fitting the schema and encoding
// the rows (data.FitSource, then Schema.EncodeSource).
//
//	go run ./benchmark/cmd/ingestscan -threads 2 [-tasks click:binary,spend:regression] FILE
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/mtl-gpu/mtl-gpu/data"
)

func main() {
	threads := flag.Int("threads", 2, "parsing threads")
	tasks := flag.String("tasks", "", "comma-separated task specs: fit and encode instead of scanning")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: ingestscan [-threads N] FILE")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*threads)
	path := flag.Arg(0)
	start := time.Now()
	var src data.Source
	var err error
	if strings.HasSuffix(path, ".parquet") {
		src, err = data.OpenParquet(path, data.ParquetOptions{Threads: *threads})
	} else {
		src, err = data.OpenCSV(path, data.CSVOptions{Threads: *threads})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var rows int64
	if *tasks != "" {
		rows, err = fitAndEncode(src, *tasks)
	} else {
		err = src.Scan(context.Background(), data.Wants(len(src.Columns()), data.Auto), func(b *data.Block) error {
			rows += int64(b.N)
			return nil
		})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	elapsed := time.Since(start)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Printf("rows=%d seconds=%.3f peak_rss_mb=%.0f\n", rows, elapsed.Seconds(), float64(ru.Maxrss)/1024)
}

// fitAndEncode fits a schema for the tasks and encodes every row.
func fitAndEncode(src data.Source, tasks string) (int64, error) {
	var opts data.Options
	for _, s := range strings.Split(tasks, ",") {
		spec, err := data.ParseTaskSpec(s)
		if err != nil {
			return 0, err
		}
		opts.Tasks = append(opts.Tasks, spec)
	}
	ctx := context.Background()
	res, err := data.FitSource(ctx, src, opts)
	if err != nil {
		return 0, err
	}
	parts, _, err := res.Schema.EncodeSource(ctx, src, data.EncodeOptions{Targets: true})
	if err != nil {
		return 0, err
	}
	return int64(parts[0].N), nil
}
