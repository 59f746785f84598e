package pipeline

import (
	"slices"
	"sync"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
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
