// Command gendata writes the synthetic table that benchmark/ingest.sh reads:
// a CSV of click, purchase and spend records with 40 standard-normal inputs,
// two integer ID columns and three targets, drawn from a fixed seed so that
// every run measures the same bytes.
//
//	go run ./benchmark/cmd/gendata -rows 1000000 -out ingest.csv
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
)

func main() {
	rows := flag.Int("rows", 1_000_000, "number of data rows")
	inputs := flag.Int("inputs", 40, "number of standard-normal input columns")
	out := flag.String("out", "ingest.csv", "output file")
	seed := flag.Uint64("seed", 10, "random seed")
	flag.Parse()
	if err := write(*out, *rows, *inputs, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "gendata:", err)
		os.Exit(1)
	}
}

// write draws the table and writes it as CSV. The targets depend on the
// inputs and IDs so that a model has something to learn: click and buy are
// Bernoulli draws from logistic scores, spend is a noisy linear function.
func write(path string, rows, inputs int, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for j := range inputs {
		fmt.Fprintf(w, "x%d,", j)
	}
	w.WriteString("user_id,item_id,click,buy,spend\n")
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	x := make([]float64, inputs)
	var line []byte
	for range rows {
		line = line[:0]
		score := 0.0
		for j := range x {
			x[j] = rng.NormFloat64()
			line = strconv.AppendFloat(line, x[j], 'f', 5, 64)
			line = append(line, ',')
			if j < 8 {
				score += x[j] / float64(j+1)
			}
		}
		user := rng.IntN(50_000)
		item := rng.IntN(2_000)
		line = strconv.AppendInt(line, int64(user), 10)
		line = append(line, ',')
		line = strconv.AppendInt(line, int64(item), 10)
		line = append(line, ',')
		bias := float64(user%7-3)/10 + float64(item%5-2)/10
		click := rng.Float64() < 1/(1+math.Exp(-(score+bias)))
		buy := click && rng.Float64() < 1/(1+math.Exp(-(x[1]-x[2]-1)))
		line = appendBit(line, click)
		line = append(line, ',')
		line = appendBit(line, buy)
		line = append(line, ',')
		spend := 0.0
		if buy {
			spend = math.Max(0, 20+5*x[3]+3*x[4]+2*rng.NormFloat64())
		}
		line = strconv.AppendFloat(line, spend, 'f', 2, 64)
		line = append(line, '\n')
		if _, err := w.Write(line); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func appendBit(b []byte, v bool) []byte {
	if v {
		return append(b, '1')
	}
	return append(b, '0')
}
