package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
	"github.com/mtl-gpu/mtl-gpu/data"
	"github.com/mtl-gpu/mtl-gpu/internal/inproc"
	"github.com/mtl-gpu/mtl-gpu/mtl"
	"github.com/mtl-gpu/mtl-gpu/mtl/mtltest"
)

// TestSharedPredictions: processes that share the validation rows, each
// predicting its share, all end with one process's predictions of every
// row, for every member and task (multiclass among them), also when some
// process has no rows.
func TestSharedPredictions(t *testing.T) {
	b, err := cpu.New(backend.Options{BLAS: "gonum", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, p := range mtltest.Problems() {
		if p.Spec.Members < 2 && !slices.ContainsFunc(p.Spec.Tasks, func(t mtl.Task) bool { return t.Type == mtl.Multiclass }) {
			continue
		}
		for _, rows := range []int{2, 57} {
			val := mtltest.Data(p.Spec, rows, 9)
			model, err := mtl.NewModel(p.Spec, val, 4)
			if err != nil {
				t.Fatal(err)
			}
			want, err := model.PredictMembers(b, val)
			if err != nil {
				t.Fatal(err)
			}
			const n = 3
			hub := inproc.NewHub(n)
			got, errs := make([][][][]float32, n), make([]error, n)
			var wg sync.WaitGroup
			for r := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					pb, err := cpu.New(backend.Options{BLAS: "gonum", Threads: 1})
					if err != nil {
						errs[r] = err
						return
					}
					defer pb.Close()
					got[r], errs[r] = sharedPredictions(hub.Member(r), pb, val, p.Spec.Inputs)(model)
				}()
			}
			wg.Wait()
			for r := range n {
				if errs[r] != nil {
					t.Fatalf("%s, %d rows, process %d: %v", p.Name, rows, r, errs[r])
				}
				for m := range want {
					for k := range want[m] {
						if !slices.Equal(got[r][m][k], want[m][k]) {
							t.Fatalf("%s, %d rows, process %d, member %d, task %d: %v, alone %v", p.Name, rows, r, m, k, got[r][m][k], want[m][k])
						}
					}
				}
			}
		}
	}
}

// TestSharedKeys: the processes of a resumed run that share the reading
// of every row's group and class, each reading its part of the file, get
// the keys one process reads alone; with a process that cannot read the
// file in parts, every one reads it whole, to the same keys; an error
// of one part is every process's.
func TestSharedKeys(t *testing.T) {
	var b strings.Builder
	b.WriteString("g,x,y\n")
	for i := range 500 {
		y := []string{"a", "b", "c", "", "zz"}[i*7%5] // "" missing, "zz" not a class
		fmt.Fprintf(&b, "s%d,%d,%s\n", i*13%9, i, y)
	}
	path := filepath.Join(t.TempDir(), "keys.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	schema := &data.Schema{GroupColumn: "g", Groups: []string{"s0", "s1", "s2", "s3", "s5", "s8"},
		Targets: []data.Target{{Name: "y", Type: data.Multiclass, Classes: []string{"a", "b", "c"}}}}
	r := &Run{Schema: schema, Record: Record{CV: &CrossFit{}}}
	open := func() data.Source {
		src, err := data.OpenCSV(path, data.CSVOptions{ChunkSize: 256})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { src.Close() })
		return src
	}
	alone, err := r.readKeys(context.Background(), open())
	if err != nil {
		t.Fatal(err)
	}
	if alone.rows != 500 || len(alone.groups) != 500 || len(alone.strata) != 500 || !slices.Contains(alone.groups, -1) || !slices.Contains(alone.strata, -1) {
		t.Fatalf("alone: %d rows, %d groups, %d strata", alone.rows, len(alone.groups), len(alone.strata))
	}
	var read [3]int // rows each process read
	shared := func(r *Run, whole int) ([]rowKeys, []error) {
		const n = 3
		hub := inproc.NewHub(n)
		keys, errs := make([]rowKeys, n), make([]error, n)
		read = [3]int{}
		var wg sync.WaitGroup
		for p := range n {
			var src data.Source = countedSource{open().(data.PartScanner), &read[p]}
			if p == whole {
				src = wholeSource{src}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				keys[p], errs[p] = sharedKeys(context.Background(), hub.Member(p), src, r.readKeys)
			}()
		}
		wg.Wait()
		return keys, errs
	}
	for _, whole := range []int{-1, 1} {
		keys, errs := shared(r, whole)
		for p := range keys {
			if errs[p] != nil {
				t.Fatal(errs[p])
			}
			if !reflect.DeepEqual(keys[p], alone) {
				t.Fatalf("process %d (process %d reads whole): %d rows, groups %v…, strata %v…", p, whole, keys[p].rows, keys[p].groups[:5], keys[p].strata[:5])
			}
		}
		if sum := read[0] + read[1] + read[2]; whole < 0 && (sum != 500 || slices.Max(read[:]) > 250) || whole >= 0 && sum != 1500 {
			t.Errorf("process %d reads whole: the processes read %v rows", whole, read)
		}
	}
	bad := &Run{Schema: &data.Schema{GroupColumn: "school", Targets: schema.Targets}, Record: r.Record}
	_, errs := shared(bad, -1)
	for p, err := range errs {
		if err == nil || !strings.Contains(err.Error(), `group column missing from the file`) {
			t.Errorf("process %d: %v", p, err)
		}
	}
}

// wholeSource hides a source's parts.
type wholeSource struct{ data.Source }

// countedSource counts the rows its scans deliver.
type countedSource struct {
	data.PartScanner
	rows *int
}

func (s countedSource) Scan(ctx context.Context, want []data.ColumnWant, fn func(*data.Block) error) error {
	return s.PartScanner.Scan(ctx, want, s.count(fn))
}

func (s countedSource) ScanPart(ctx context.Context, want []data.ColumnWant, p, n int, fn func(*data.Block) error) error {
	return s.PartScanner.ScanPart(ctx, want, p, n, s.count(fn))
}

func (s countedSource) count(fn func(*data.Block) error) func(*data.Block) error {
	return func(b *data.Block) error { *s.rows += b.N; return fn(b) }
}
