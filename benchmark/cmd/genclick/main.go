// Command genclick writes the click data of benchmark.WriteClicks: user
// and item IDs with per-ID latent factors, a few numeric inputs, a click,
// a conversion (missing without a click) and a dwell time. The benchmark
// set is two million rows of 200,000 users and 20,000 items:
//
//	go run ./benchmark/cmd/genclick -rows 2000000 -out clicks.csv
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/mtl-gpu/mtl-gpu/benchmark"
)

func main() {
	o := benchmark.ClickOptions{}
	flag.IntVar(&o.Rows, "rows", 2_000_000, "number of rows")
	flag.IntVar(&o.Users, "users", 200_000, "number of distinct user IDs")
	flag.IntVar(&o.Items, "items", 20_000, "number of distinct item IDs")
	flag.Uint64Var(&o.Seed, "seed", 1, "seed of the IDs' latent factors")
	flag.Uint64Var(&o.RowSeed, "row-seed", 0, "seed of the rows (default: -seed); a test file takes the factors of -seed and rows of its own")
	out := flag.String("out", "clicks.csv", "CSV file to write")
	flag.Parse()
	if err := write(*out, o); err != nil {
		fmt.Fprintln(os.Stderr, "genclick:", err)
		os.Exit(1)
	}
}

func write(path string, o benchmark.ClickOptions) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := benchmark.WriteClicks(f, o); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
