package mtl

import (
	"context"
	"encoding/csv"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
	"github.com/mtl-gpu/mtl-gpu/internal/testdata"
	"gonum.org/v1/gonum/mat"
)

func cpuBackend(t testing.TB) backend.Backend {
	t.Helper()
	b, err := cpu.New(backend.Options{BLAS: "gonum"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// newTrainer makes a fresh model for spec and its trainer on b; the
// trainer is closed when the test ends.
func newTrainer(t testing.TB, b backend.Backend, spec Spec, cfg Config, data, val *Dataset) *Trainer {
	t.Helper()
	m, err := NewModel(spec, data, cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(b, m, cfg, data, val, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr
}

// fitEpochs trains to the end and returns every epoch's statistics.
func fitEpochs(t testing.TB, tr *Trainer) []EpochStats {
	t.Helper()
	var epochs []EpochStats
	if err := tr.Fit(context.Background(), Hooks{Epoch: func(s EpochStats) error { epochs = append(epochs, s); return nil }}); err != nil {
		t.Fatal(err)
	}
	return epochs
}

// train fits a fresh model and returns it.
func train(t testing.TB, b backend.Backend, spec Spec, cfg Config, data, val *Dataset) *Model {
	t.Helper()
	tr := newTrainer(t, b, spec, cfg, data, val)
	fitEpochs(t, tr)
	return tr.model
}

func predict(t testing.TB, b backend.Backend, m *Model, d *Dataset) [][]float32 {
	t.Helper()
	p, err := m.Predict(b, d)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// lowRankTasks draws T regression tasks whose weight vectors lie in a
// shared 2-dimensional subspace of R^30. Every training row carries the
// label of one task only, and each task has few rows; the test set has
// many rows per task.
func lowRankTasks(tasks, perTask, testPerTask int, seed uint64) (Spec, *Dataset, *Dataset) {
	const d, r = 30, 2
	rng := rand.New(rand.NewPCG(seed, 1))
	u := make([]float64, d*r)
	for i := range u {
		u[i] = rng.NormFloat64()
	}
	w := make([][]float64, tasks)
	for t := range w {
		a := []float64{rng.NormFloat64(), rng.NormFloat64()}
		w[t] = make([]float64, d)
		for j := range d {
			w[t][j] = (u[j*r]*a[0] + u[j*r+1]*a[1]) / math.Sqrt(d)
		}
	}
	spec := Spec{Inputs: d, Hidden: []int{r}, Activation: backend.Identity}
	for t := range tasks {
		spec.Tasks = append(spec.Tasks, Task{Name: "t" + strconv.Itoa(t), Type: Regression})
	}
	gen := func(per int) *Dataset {
		n := per * tasks
		ds := &Dataset{N: n, X: make([]float32, n*d)}
		for range tasks {
			y := make([]float32, n)
			for i := range y {
				y[i] = float32(math.NaN())
			}
			ds.Labels = append(ds.Labels, y)
			ds.Groups = append(ds.Groups, nil)
		}
		for i := range n {
			t := i / per
			var s float64
			for j := range d {
				x := rng.NormFloat64()
				ds.X[i*d+j] = float32(x)
				s += x * w[t][j]
			}
			ds.Labels[t][i] = float32(s + 0.1*rng.NormFloat64())
		}
		return ds
	}
	return spec, gen(perTask), gen(testPerTask)
}

// mse is the mean squared error of task t's predictions over its labelled
// rows.
func mse(pred []float32, labels []float32) float64 {
	var s, n float64
	for i, y := range labels {
		if !math.IsNaN(float64(y)) {
			d := float64(pred[i] - y)
			s += d * d
			n++
		}
	}
	return s / n
}

// TestSharedSubspaceBeatsIndependentModels: with 8 tasks of 30 rows each
// in 30 dimensions, no task can be learnt alone, but together they reveal
// the shared 2-dimensional subspace.
func TestSharedSubspaceBeatsIndependentModels(t *testing.T) {
	b := cpuBackend(t)
	const tasks = 8
	spec, trainSet, testSet := lowRankTasks(tasks, 30, 200, 5)
	cfg := DefaultConfig()
	cfg.Batch, cfg.Epochs, cfg.LR, cfg.Patience = 16, 300, 1e-2, 0
	cfg.WeightDecay = 1e-3
	shared := train(t, b, spec, cfg, trainSet, nil)
	sp := predict(t, b, shared, testSet)
	var sharedMSE, indepMSE float64
	for task := range tasks {
		sharedMSE += mse(sp[task], testSet.Labels[task]) / tasks
		// The same architecture on the task's own rows only.
		var rows []int
		for i, y := range trainSet.Labels[task] {
			if !math.IsNaN(float64(y)) {
				rows = append(rows, i)
			}
		}
		one := trainSet.Rows(rows, spec.Inputs)
		one.Labels, one.Groups = one.Labels[task:task+1], one.Groups[task:task+1]
		oneSpec := spec
		oneSpec.Tasks = spec.Tasks[task : task+1]
		m := train(t, b, oneSpec, cfg, one, nil)
		test := &Dataset{N: testSet.N, X: testSet.X, Labels: testSet.Labels[task : task+1], Groups: testSet.Groups[task : task+1]}
		indepMSE += mse(predict(t, b, m, test)[0], test.Labels[0]) / tasks
	}
	t.Logf("held-out MSE: shared %.4f, independent %.4f", sharedMSE, indepMSE)
	if !(sharedMSE < 0.5*indepMSE) {
		t.Errorf("shared model MSE %.4f is not clearly below independent models' %.4f", sharedMSE, indepMSE)
	}
}

// readSeed reads the seed example (features x0..x19, label y) and
// standardises the features with the training statistics.
func readSeed(t *testing.T) (*Dataset, *Dataset) {
	read := func(name string) ([][]float64, []float32) {
		f, err := os.Open(testdata.File(t, "seed_example/"+name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		recs, err := csv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		var x [][]float64
		var y []float32
		for _, r := range recs[1:] {
			row := make([]float64, 20)
			for j := range 20 {
				row[j], _ = strconv.ParseFloat(r[j], 64)
			}
			x = append(x, row)
			v, _ := strconv.Atoi(r[20])
			y = append(y, float32(v))
		}
		return x, y
	}
	xtr, ytr := read("seed_train.csv")
	xte, yte := read("seed_test.csv")
	mean, std := make([]float64, 20), make([]float64, 20)
	for j := range 20 {
		col := make([]float32, len(xtr))
		for i := range xtr {
			col[i] = float32(xtr[i][j])
		}
		mean[j], std[j] = meanStd(col)
	}
	ds := func(x [][]float64, y []float32) *Dataset {
		d := &Dataset{N: len(x), Labels: [][]float32{y}, Groups: [][]int32{nil}}
		for _, r := range x {
			for j, v := range r {
				d.X = append(d.X, float32((v-mean[j])/std[j]))
			}
		}
		return d
	}
	return ds(xtr, ytr), ds(xte, yte)
}

// TestSeedExample trains the default model on the example the project
// started from. A multinomial logistic regression scores 0.835 on its test
// set, the original three averaged SGD models 0.805.
func TestSeedExample(t *testing.T) {
	trainSet, testSet := readSeed(t)
	b := cpuBackend(t)
	spec := Spec{Inputs: 20, Hidden: []int{64}, Activation: backend.ReLU, Tasks: []Task{{Name: "y", Type: Multiclass, Classes: 3}}}
	m := train(t, b, spec, DefaultConfig(), trainSet, nil)
	p := predict(t, b, m, testSet)[0]
	correct := 0
	for i, y := range testSet.Labels[0] {
		best := 0
		for c := 1; c < 3; c++ {
			if p[i*3+c] > p[i*3+best] {
				best = c
			}
		}
		if best == int(y) {
			correct++
		}
	}
	acc := float64(correct) / float64(testSet.N)
	t.Logf("seed example test accuracy %.3f", acc)
	if acc < 0.835 {
		t.Errorf("test accuracy %.3f, want at least 0.835", acc)
	}
}

// TestLeastSquares fits a linear regression head on the inputs and compares
// its coefficients with the closed-form least-squares solution.
func TestLeastSquares(t *testing.T) {
	const n, d = 40, 3
	rng := rand.New(rand.NewPCG(2, 2))
	data := &Dataset{N: n, X: make([]float32, n*d), Labels: [][]float32{make([]float32, n)}, Groups: [][]int32{nil}}
	design := mat.NewDense(n, d+1, nil)
	target := mat.NewVecDense(n, nil)
	for i := range n {
		y := 4.0
		for j := range d {
			x := float32(rng.NormFloat64())
			data.X[i*d+j] = x
			design.Set(i, j, float64(x))
			y += float64(j+1) * float64(x)
		}
		design.Set(i, d, 1)
		y += rng.NormFloat64()
		data.Labels[0][i] = float32(y)
		target.SetVec(i, float64(float32(y)))
	}
	var coef mat.VecDense
	if err := coef.SolveVec(design, target); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Inputs: d, Tasks: []Task{{Name: "y", Type: Regression}}}
	cfg := DefaultConfig()
	cfg.Batch, cfg.Epochs, cfg.LR, cfg.WeightDecay, cfg.Patience = n, 3000, 0.02, 0, 0
	cfg.Schedule = Schedule{Kind: Constant}
	m := train(t, cpuBackend(t), spec, cfg, data, nil)
	l := newLayout(m.Spec)
	task := m.Spec.Tasks[0]
	for j := range d + 1 {
		var got float64
		if j < d {
			got = float64(m.Params[l.heads+j]) * task.Std
		} else {
			got = float64(m.Params[l.headBias])*task.Std + task.Mean
		}
		if math.Abs(got-coef.AtVec(j)) > 1e-3*math.Max(1, math.Abs(coef.AtVec(j))) {
			t.Errorf("coefficient %d: %.6f, least squares %.6f", j, got, coef.AtVec(j))
		}
	}
}
