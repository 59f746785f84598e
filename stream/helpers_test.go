package stream

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/internal/trainset"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// genCSV writes a learnable table of n rows: a group column g (7 groups,
// one of a single row), numeric inputs x0…x{numeric-1}, a categorical c,
// a high-cardinality u (an embedding), and three targets that depend on
// the inputs: y (binary), m (three classes), r (regression), each with
// some labels missing. It returns the file's size.
func genCSV(t testing.TB, path string, n, numeric int, seed uint64) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(seed, 77))
	fmt.Fprint(w, "g")
	for j := range numeric {
		fmt.Fprintf(w, ",x%d", j)
	}
	fmt.Fprintln(w, ",c,u,y,m,r")
	cats := []string{"red", "green", "blue", "amber"}
	x := make([]float64, numeric)
	for i := range n {
		g := fmt.Sprintf("s%d", rng.IntN(6))
		if i == n/2 {
			g = "lonely"
		}
		fmt.Fprint(w, g)
		for j := range x {
			x[j] = math.Round(rng.NormFloat64()*1000) / 1000
			if rng.IntN(400) == 0 {
				fmt.Fprint(w, ",") // missing: the training mean stands in
				x[j] = 0
				continue
			}
			fmt.Fprintf(w, ",%g", x[j])
		}
		c := rng.IntN(len(cats))
		u := rng.IntN(90)
		effect := []float64{-1, 0, 0.5, 1}[c] + float64(u%3-1)*0.7
		score := 1.5*x[0] - x[1%numeric] + effect + 0.3*rng.NormFloat64()
		y, m := "0", "a"
		if score > 0 {
			y = "1"
		}
		switch {
		case score > 1:
			m = "c"
		case score > -0.5:
			m = "b"
		}
		r := fmt.Sprintf("%.4f", 3+2*x[0]-x[2%numeric]+effect+0.2*rng.NormFloat64())
		switch rng.IntN(20) {
		case 0:
			y = ""
		case 1:
			m = "NA"
		case 2:
			r = "?"
		}
		fmt.Fprintf(w, ",%s,u%d,%s,%s,%s\n", cats[c], u, y, m, r)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// fitOptions are the data options of the generated table: three tasks,
// the group column, u an embedding (it has 90 values, more than a
// one-hot maximum of 32), missing inputs imputed.
func fitOptions(t testing.TB) data.Options {
	t.Helper()
	var specs []data.TaskSpec
	for _, s := range []string{"y:binary", "m:multiclass", "r:regression"} {
		ts, err := data.ParseTaskSpec(s)
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, ts)
	}
	return data.Options{Tasks: specs, GroupColumn: "g", OneHotMax: 32, Impute: "mean"}
}

// specOf is the model of a schema: one task per target, a family per
// target with a group column, the embedded features' tables.
func specOf(s *data.Schema, hidden ...int) mtl.Spec {
	spec := mtl.Spec{Inputs: s.Dim(), Hidden: hidden, Activation: backend.ReLU}
	for _, e := range s.Embeddings() {
		spec.Embeddings = append(spec.Embeddings, mtl.Embedding{Name: e.Name, Rows: e.Rows, Dim: e.Dim})
	}
	for _, tg := range s.Targets {
		task := mtl.Task{Name: tg.Name, Type: mtl.Regression, Classes: 1}
		switch tg.Type {
		case data.Multiclass:
			task.Type, task.Classes = mtl.Multiclass, len(tg.Classes)
		case data.Binary:
			task.Type = mtl.Binary
		}
		if s.GroupColumn != "" {
			task.Groups = len(s.Groups)
		}
		spec.Tasks = append(spec.Tasks, task)
	}
	return spec
}

// memRun is the rows of an in-memory run.
type memRun struct {
	res *data.FitResult
	// all is every row encoded; train and val the training and
	// validation rows in the order of the split (an in-memory run's
	// order), trainByFile the training rows in file order (a stream's).
	all                     *data.Encoded
	train, val, trainByFile *mtl.Dataset
	warnings                []string
}

// inMemory prepares the rows as an in-memory run does: FitSource,
// EncodeSource, the split (none when frac is 0).
func inMemory(t testing.TB, src data.Source, opts data.Options, frac float64, seed uint64) memRun {
	t.Helper()
	ctx := context.Background()
	res, err := data.FitSource(ctx, src, opts)
	if err != nil {
		t.Fatal(err)
	}
	encs, warnings, err := res.Schema.EncodeSource(ctx, src, data.EncodeOptions{Targets: true})
	if err != nil {
		t.Fatal(err)
	}
	m := memRun{res: res, all: encs[0], warnings: warnings}
	n := int(res.Rows)
	var rest, part []int
	if frac > 0 {
		rest, part = trainset.Split(n, frac, seed, res.Groups)
	} else {
		for i := range n {
			rest = append(rest, i)
		}
	}
	all := trainset.Dataset(m.all, len(res.Schema.Targets))
	m.train = all.Rows(rest, m.all.D)
	if len(part) > 0 {
		m.val = all.Rows(part, m.all.D)
	}
	m.trainByFile = all.Rows(slices.Sorted(slices.Values(rest)), m.all.D)
	return m
}

func cpuBackend(t testing.TB) backend.Backend {
	t.Helper()
	b, err := cpu.New(backend.Options{BLAS: "gonum"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// openCSV opens a CSV file with the chunk size of a budget.
func openCSV(t testing.TB, path string, budget int64) *data.CSVSource {
	t.Helper()
	src, err := data.OpenCSV(path, data.CSVOptions{ChunkSize: ChunkSize(budget)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// fitStream makes the first pass over src and prepares its stream.
func fitStream(t testing.TB, src data.Source, fo FitOptions, o Options, spec func(*data.Schema) mtl.Spec) (*Fitted, *Data) {
	t.Helper()
	ctx := context.Background()
	if fo.ChunkSize == 0 {
		fo.ChunkSize = ChunkSize(fo.Budget.Bytes) // as openCSV opens the file
	}
	f, err := Fit(ctx, src, fitOptions(t), fo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if spec != nil {
		o.Need = Estimate(f.FitResult, spec(f.Schema), mtl.DefaultConfig(), true)
	}
	d, err := f.Stream(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	return f, d
}

// tempPath is a file name in a test's temporary directory.
func tempPath(t testing.TB, name string) string {
	return filepath.Join(t.TempDir(), name)
}
