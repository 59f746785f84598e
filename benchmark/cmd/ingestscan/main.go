// Command ingestscan times one full scan of a CSV or Parquet file through
// mtl-gpu's block readers (every column as Auto) and prints the time, the
// rows and the peak resident memory, for benchmark/ingest.sh.
//
//	go run ./benchmark/cmd/ingestscan -threads 2 FILE
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
	err = src.Scan(context.Background(), data.Wants(len(src.Columns()), data.Auto), func(b *data.Block) error {
		rows += int64(b.N)
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	elapsed := time.Since(start)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Printf("rows=%d seconds=%.3f peak_rss_mb=%.0f\n", rows, elapsed.Seconds(), float64(ru.Maxrss)/1024)
}
