// Command ingestconvert writes a CSV file as Parquet with mtl-gpu's
// writer, for benchmark/ingest.sh, and prints the time it took.
//
//	go run ./benchmark/cmd/ingestconvert IN.csv OUT.parquet
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/mtl-gpu/mtl-gpu/data"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: ingestconvert IN.csv OUT.parquet")
		os.Exit(2)
	}
	if err := convert(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func convert(in, out string) error {
	start := time.Now()
	src, err := data.OpenCSV(in, data.CSVOptions{})
	if err != nil {
		return err
	}
	defer src.Close()
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	// The file itself, not a buffer over it: WriteParquet writes large
	// pages, and can rewind a file if a column's type changes late.
	if err := data.WriteParquet(context.Background(), f, src, data.ParquetWriteOptions{}); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("seconds=%.3f\n", time.Since(start).Seconds())
	return nil
}
