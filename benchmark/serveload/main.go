// Command serveload is the load test of mtl-gpu serve: concurrent clients
// post rows of a data file to /v1/predict for a fixed time, check every
// answer against the predictions file mtl-gpu predict wrote for the same
// file, and report requests/s, rows/s and latency percentiles.
//
//	serveload -url http://127.0.0.1:8080 -data adult_test.csv.gz -want predictions.csv [-clients 16] [-duration 30s] [-rows 1]
//
// benchmark/serve_load.sh runs it against the adult model with and
// without micro-batching.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080", "server address")
	dataPath := flag.String("data", "", "CSV file (optionally gzip) whose rows are posted")
	wantPath := flag.String("want", "", "predictions CSV that mtl-gpu predict wrote for -data")
	clients := flag.Int("clients", 16, "concurrent clients")
	duration := flag.Duration("duration", 30*time.Second, "how long to send requests")
	perRequest := flag.Int("rows", 1, "rows per request")
	label := flag.String("label", "", "name of the run in the report")
	flag.Parse()
	if err := run(*url, *dataPath, *wantPath, *clients, *duration, *perRequest, *label); err != nil {
		fmt.Fprintln(os.Stderr, "serveload:", err)
		os.Exit(1)
	}
}

func readCSV(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		if r, err = gzip.NewReader(f); err != nil {
			return nil, err
		}
	}
	return csv.NewReader(r).ReadAll()
}

// requests builds one request body per group of rows, with the model's
// inputs: numeric columns as numbers, the others as strings.
func requests(url string, data [][]string, perRequest int) ([][]byte, error) {
	resp, err := http.Get(url + "/v1/model")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var desc struct {
		Inputs struct {
			List []struct{ Name, Kind string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&desc); err != nil {
		return nil, err
	}
	col := map[string]int{}
	for i, h := range data[0] {
		col[h] = i
	}
	var bodies [][]byte
	for lo := 1; lo+perRequest <= len(data); lo += perRequest {
		var rows []map[string]any
		for _, rec := range data[lo : lo+perRequest] {
			obj := map[string]any{}
			for _, in := range desc.Inputs.List {
				c, ok := col[in.Name]
				if !ok {
					return nil, fmt.Errorf("the data has no column %q", in.Name)
				}
				if in.Kind == "numeric" {
					obj[in.Name] = json.Number(strings.TrimSpace(rec[c]))
				} else {
					obj[in.Name] = strings.TrimSpace(rec[c])
				}
			}
			rows = append(rows, obj)
		}
		b, err := json.Marshal(rows)
		if err != nil {
			return nil, err
		}
		bodies = append(bodies, b)
	}
	return bodies, nil
}

// close is the agreement asked of a probability or value: relative error
// at most 1e-5, or absolute at most 1e-6. Answers are computed in batches
// of other sizes than predict's, and a BLAS may sum a row's products in
// another order for another batch size.
func close(a, b float64) bool {
	d := math.Abs(a - b)
	return d <= 1e-6 || d <= 1e-5*max(math.Abs(a), math.Abs(b))
}

// check compares an answer with predict's rows lo, lo+1, …: labels equal
// (except at a tie between the two classes), numbers within close. It
// returns whether every cell was identical.
func check(body []byte, want [][]string, lo int) (bool, error) {
	var got struct {
		Predictions []map[string]any `json:"predictions"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		return false, err
	}
	header := want[0]
	col := map[string]int{}
	for j, c := range header {
		col[c] = j
	}
	identical := true
	for i, p := range got.Predictions {
		row := want[1+lo+i]
		if len(p) != len(header) {
			return false, fmt.Errorf("row %d: %d columns, want %d", lo+i, len(p), len(header))
		}
		for j, c := range header {
			cell := fmt.Sprint(p[c])
			if cell == row[j] {
				continue
			}
			identical = false
			if n, ok := p[c].(json.Number); ok {
				g, _ := n.Float64()
				w, err := strconv.ParseFloat(row[j], 64)
				if err == nil && close(g, w) {
					continue
				}
			} else if a, b := prob(row, col, c, cell), prob(row, col, c, row[j]); a >= 0 && close(a, b) {
				continue // a tie
			}
			return false, fmt.Errorf("row %d: %s = %v, predict wrote %s", lo+i, c, p[c], row[j])
		}
	}
	return identical, nil
}

// prob returns predict's probability of class label of task, or −1.
func prob(row []string, col map[string]int, task, label string) float64 {
	j, ok := col[task+":p("+label+")"]
	if !ok {
		return -1
	}
	v, err := strconv.ParseFloat(row[j], 64)
	if err != nil {
		return -1
	}
	return v
}

func run(url, dataPath, wantPath string, clients int, duration time.Duration, perRequest int, label string) error {
	data, err := readCSV(dataPath)
	if err != nil {
		return err
	}
	want, err := readCSV(wantPath)
	if err != nil {
		return err
	}
	if len(want) != len(data) {
		return fmt.Errorf("%d predictions for %d rows", len(want)-1, len(data)-1)
	}
	bodies, err := requests(url, data, perRequest)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	var next, identical atomic.Int64
	var mu sync.Mutex
	var latencies []time.Duration
	var failures []error
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(duration)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			var err error
			for err == nil && time.Now().Before(deadline) {
				k := int(next.Add(1)-1) % len(bodies)
				t0 := time.Now()
				var resp *http.Response
				if resp, err = client.Post(url+"/v1/predict", "application/json", bytes.NewReader(bodies[k])); err != nil {
					break
				}
				body, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				mine = append(mine, time.Since(t0))
				switch {
				case rerr != nil:
					err = rerr
				case resp.StatusCode != http.StatusOK:
					err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
				default:
					var same bool
					same, err = check(body, want, k*perRequest)
					if same {
						identical.Add(1)
					}
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			if err != nil {
				failures = append(failures, err)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	if len(failures) > 0 {
		return fmt.Errorf("%d clients failed; the first: %w", len(failures), errors.Join(failures[0]))
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Seconds() * 1000
	}
	n := len(latencies)
	fmt.Printf("%s: %d clients, %d rows/request, %.0f s: %d requests, %.0f requests/s, %.0f rows/s, latency p50 %.2f ms, p99 %.2f ms; "+
		"every answer agrees with predict's (%d of them identical to the digit)\n",
		label, clients, perRequest, elapsed, n, float64(n)/elapsed, float64(n*perRequest)/elapsed, pct(0.50), pct(0.99), identical.Load())
	return nil
}
