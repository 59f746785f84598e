package pipeline

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/benchmark"
	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// TestEmbeddingsLearnClicks: on click data driven by per-ID latent
// factors, the model that embeds the user and item IDs (more distinct
// values than the one-hot limit, so embedded by default) beats the same
// model with the IDs ignored by at least 0.02 on every task: the AUC of
// click and of conversion (mostly missing without a click) and the R² of
// the dwell time.
func TestEmbeddingsLearnClicks(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, o benchmark.ClickOptions) string {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := benchmark.WriteClicks(f, o); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return path
	}
	train := write("train.csv", benchmark.ClickOptions{Rows: 40_000, Users: 1_000, Items: 200, Seed: 3})
	test := write("test.csv", benchmark.ClickOptions{Rows: 10_000, Users: 1_000, Items: 200, Seed: 3, RowSeed: 4})
	b := cpuBackend(t)
	score := func(name string, ignore []string) map[string]float64 {
		o := DefaultOptions()
		o.Data, o.Out = train, filepath.Join(dir, name+".mtl")
		o.Tasks = []string{"click:binary", "conversion:binary", "dwell:regression"}
		o.Ignore, o.Train.Epochs = ignore, 4
		r, err := Prepare(o)
		if err != nil {
			t.Fatal(err)
		}
		if ignore == nil && (len(r.Spec.Embeddings) != 2 || r.Spec.Embeddings[0].Name != "user_id" || r.Spec.Embeddings[1].Name != "item_id") {
			t.Fatalf("tables %+v, want user_id and item_id", r.Spec.Embeddings)
		}
		if _, err := r.Fit(context.Background(), b, Progress{}); err != nil {
			t.Fatal(err)
		}
		rep := evaluate(t, b, must(LoadModel(o.Out)), test).Report
		out := map[string]float64{}
		for task, metric := range map[string]string{"click": "auc", "conversion": "auc", "dwell": "r2"} {
			v, ok := rep.Tasks[task].Get(metric)
			if !ok {
				t.Fatalf("%s: %s %s undefined", name, task, metric)
			}
			out[task+" "+metric] = v
		}
		return out
	}
	with, without := score("embedded", nil), score("ignored", []string{"user_id", "item_id"})
	for k, v := range with {
		t.Logf("%s: %.4f with the IDs embedded, %.4f without them", k, v, without[k])
		if v < without[k]+0.02 {
			t.Errorf("%s: %.4f with the IDs embedded, not 0.02 above %.4f without", k, v, without[k])
		}
	}
}

// TestEmbeddingRoundTrip: a model with a vocabulary embedding (rare
// values in the "other" row) and a hashed one saves its tables and
// vocabulary, resumes exactly, predicts an unseen or rare value as the
// "other" row and a hashed value by its MurmurHash3 bucket, and says so in
// its description.
func TestEmbeddingRoundTrip(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(4, 5))
	effect := make([]float64, 300)
	for i := range effect {
		effect[i] = 2 * rng.NormFloat64()
	}
	var b bytes.Buffer
	b.WriteString("user,item,x,y\n")
	counts := map[string]int{}
	for range 2000 {
		u := rng.IntN(300)
		x := rng.NormFloat64()
		y := 0
		if effect[u]+x+0.5*rng.NormFloat64() > 0 {
			y = 1
		}
		user := fmt.Sprintf("u%d", u)
		counts[user]++
		fmt.Fprintf(&b, "%s,it%d,%.3f,%d\n", user, rng.IntN(1000), x, y)
	}
	file := filepath.Join(dir, "train.csv")
	os.WriteFile(file, b.Bytes(), 0o644)
	rare, frequent := "", ""
	for u, n := range counts {
		if n < 3 && rare == "" {
			rare = u
		}
		if n >= 10 && frequent == "" {
			frequent = u
		}
	}
	if rare == "" || frequent == "" {
		t.Fatal("no rare or frequent user drawn")
	}

	o := options(file, filepath.Join(dir, "straight.mtl"))
	o.Tasks, o.MinCount, o.HashBuckets, o.Train.Epochs = []string{"y:binary"}, 3, []string{"item:50"}, 3
	bk := cpuBackend(t)
	r, err := Prepare(o)
	if err != nil {
		t.Fatal(err)
	}
	user, item := r.Schema.Features[0], r.Schema.Features[1]
	if user.Kind != data.Embedded || slices.Contains(user.Categories, rare) || !slices.Contains(user.Categories, frequent) || user.Buckets != 0 ||
		item.Kind != data.Embedded || item.Buckets != 50 || item.Categories != nil {
		t.Fatalf("user %v (%d values), item %v (%d buckets)", user.Kind, len(user.Categories), item.Kind, item.Buckets)
	}
	want := []mtl.Embedding{{Name: "user", Rows: len(user.Categories) + 1, Dim: user.Dim}, {Name: "item", Rows: 50, Dim: item.Dim}}
	// The dense inputs are the numeric column's alone (its encoding may
	// widen it), no one-hot block.
	if !slices.Equal(r.Spec.Embeddings, want) || r.Spec.Inputs != r.Schema.Features[2].Width() {
		t.Fatalf("spec: %d inputs, tables %+v, want %+v", r.Spec.Inputs, r.Spec.Embeddings, want)
	}
	if _, err := r.Fit(context.Background(), bk, Progress{}); err != nil {
		t.Fatal(err)
	}

	// Interrupted and resumed, the run ends where the straight one does.
	stopped := o
	stopped.Out = filepath.Join(dir, "stopped.mtl")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if r, err = Prepare(stopped); err != nil {
		t.Fatal(err)
	}
	r.Fit(ctx, bk, Progress{Step: func(epoch, step, steps int) {
		if epoch == 1 && step == 5 {
			cancel()
		}
	}})
	resume := DefaultOptions()
	resume.Resume = stopped.Out
	if r, err = Prepare(resume); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Fit(context.Background(), bk, Progress{}); err != nil {
		t.Fatal(err)
	}
	m := must(LoadModel(o.Out))
	if !slices.Equal(m.Checkpoint.Model.Params, must(LoadModel(stopped.Out)).Checkpoint.Model.Params) {
		t.Error("the resumed run ends elsewhere than the straight one")
	}

	// Unseen and rare users share row 0; hashed items share their bucket.
	bucket := data.HashBucket("it1", 50)
	same, other := "", ""
	for i := 0; same == "" || other == ""; i++ {
		v := fmt.Sprintf("new%d", i)
		switch {
		case data.HashBucket(v, 50) == bucket && same == "":
			same = v
		case data.HashBucket(v, 50) != bucket && other == "":
			other = v
		}
	}
	rows := [][]string{{"zzz", "it1"}, {rare, "it1"}, {frequent, "it1"}, {"zzz", same}, {"zzz", other}}
	test := filepath.Join(dir, "test.csv")
	var tb bytes.Buffer
	tb.WriteString("user,item,x\n")
	for _, row := range rows {
		fmt.Fprintf(&tb, "%s,%s,0.5\n", row[0], row[1])
	}
	os.WriteFile(test, tb.Bytes(), 0o644)
	var out bytes.Buffer
	_, warnings, err := m.PredictTo(context.Background(), On(bk), DataInput{Path: test}, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	preds := must(csv.NewReader(&out).ReadAll())[1:]
	p := func(i int) string { return preds[i][2] }
	if p(0) != p(1) || p(0) == p(2) || p(0) != p(3) || p(0) == p(4) {
		t.Errorf("p(1) of unseen, rare, frequent user, item of the same bucket, of another: %v", preds)
	}
	if w := strings.Join(warnings, "\n"); !strings.Contains(w, `column "user": 4 rows have values unseen in training or rarer than the minimum count`) {
		t.Errorf("warnings: %s", w)
	}
	// Rows given as strings (serve) predict as the file does.
	var cells [][]string
	for _, row := range rows {
		cells = append(cells, []string{"0.5", row[1], row[0]})
	}
	pt := predictionTable(t, bk, func() (*Applied, error) { return m.ReadRows([]string{"x", "item", "user"}, cells) })
	if !slices.EqualFunc(pt.Rows, preds, slices.Equal) {
		t.Errorf("rows given as strings: %v, the file: %v", pt.Rows, preds)
	}
	d := m.Describe()
	if e := d.Inputs.Embedded; len(e) != 2 || e[0].Hashed || e[0].Values != len(user.Categories) || !e[1].Hashed || e[1].Rows != 50 ||
		!strings.Contains(d.Text(), "embedded: user (") || d.Architecture.EmbeddingWidth != user.Dim+item.Dim {
		t.Errorf("description: %+v\n%s", d.Inputs.Embedded, d.Text())
	}
}

// TestHighCardinalityTrains: a column of 200,000 distinct values, hashed
// or not, trains as an embedding table (no one-hot block of 200,000
// inputs), with a peak heap under 1 GB. Not parallel: the heap is the
// test's.
func TestHighCardinalityTrains(t *testing.T) {
	const rows = 200_000
	dir := t.TempDir()
	var b bytes.Buffer
	b.WriteString("id,x,y\n")
	rng := rand.New(rand.NewPCG(5, 6))
	for i, id := range rng.Perm(rows) {
		fmt.Fprintf(&b, "id%07d,%.3f,%d\n", id, rng.Float64(), i%2)
	}
	path := filepath.Join(dir, "ids.csv")
	os.WriteFile(path, b.Bytes(), 0o644)
	b = bytes.Buffer{}
	bk := cpuBackend(t)
	for _, hashed := range []bool{false, true} {
		o := options(path, filepath.Join(dir, fmt.Sprintf("m%v.mtl", hashed)))
		o.Tasks, o.Train.Epochs, o.EmbedDimMax, o.Train.Batch = []string{"y:binary"}, 1, 8, 1024
		if hashed {
			o.HashBuckets = []string{"50000"}
		}
		stop := samplePeakHeap()
		r, err := Prepare(o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Fit(context.Background(), bk, Progress{}); err != nil && !isNoBetter(err) {
			t.Fatal(err)
		}
		peak := stop()
		r = nil
		m := must(LoadModel(o.Out))
		spec, x := m.Checkpoint.Model.Spec, m.Schema.Features[1]
		wantRows := rows + 1
		if hashed {
			wantRows = 50_000
		}
		if x.Name != "x" || spec.Inputs != x.Width() || len(spec.Embeddings) != 1 || spec.Embeddings[0].Rows != wantRows || spec.Embeddings[0].Dim != 8 {
			t.Errorf("hashed %v: %d dense inputs, tables %+v", hashed, spec.Inputs, spec.Embeddings)
		}
		t.Logf("hashed %v: peak heap %.1f MB", hashed, float64(peak)/1e6)
		if peak > 1<<30 {
			t.Errorf("hashed %v: peak heap %d MB, want under 1 GB", hashed, peak>>20)
		}
	}
}
