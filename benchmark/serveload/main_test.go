package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
	"github.com/mtl-gpu/mtl-gpu/pipeline"
	"github.com/mtl-gpu/mtl-gpu/serve"
)

// TestLoadAgainstServer runs the load generator for a moment against a
// server of a small model: it reads the server's inputs, posts rows and
// checks every answer against predict's file, so that a change of the
// server's API breaks this test, not the benchmark on the day it runs.
func TestLoadAgainstServer(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("x,colour,y,k\n")
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		x, y := rng.NormFloat64(), 0
		if x > 0 {
			y = 1
		}
		fmt.Fprintf(&b, "%.4f,%s,%d,%c\n", x, []string{"red", "blue"}[rng.IntN(2)], y, 'a'+rune(rng.IntN(3)))
	}
	data := filepath.Join(dir, "d.csv")
	if err := os.WriteFile(data, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	bk, err := cpu.New(backend.Options{Threads: 2, BLAS: "gonum"})
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	o := pipeline.DefaultOptions()
	o.Data, o.Out, o.Tasks = data, filepath.Join(dir, "m.mtl"), []string{"y:binary", "k:multiclass"}
	o.CV, o.ValSplit, o.Train.Epochs = 0, 0.2, 2
	r, err := pipeline.Prepare(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Fit(context.Background(), bk, pipeline.Progress{}); err != nil {
		t.Fatal(err)
	}
	m, err := pipeline.LoadModel(o.Out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.Create(filepath.Join(dir, "want.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.PredictTo(context.Background(), pipeline.On(bk), pipeline.DataInput{Path: data}, want, nil); err != nil {
		t.Fatal(err)
	}
	want.Close()
	s, err := serve.New(o.Out, bk, serve.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	defer s.Close()
	if err := run(hs.URL, data, want.Name(), 2, 300*time.Millisecond, 2, "test"); err != nil {
		t.Fatal(err)
	}
}
