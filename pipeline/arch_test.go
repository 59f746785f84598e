package pipeline

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// TestFolds: every group is split across the folds, each fold has about
// its share of every class, fold sizes differ by at most one, and the
// same seed gives the same folds.
func TestFolds(t *testing.T) {
	const n, k = 1000, 5
	groups, strata := make([]int32, n), make([]int32, n)
	for i := range n {
		groups[i] = int32(i % 7)
		strata[i] = int32((i / 7) % 3)
		if i%11 == 0 {
			strata[i] = -1
		}
	}
	f := folds(n, k, groups, strata, 42)
	size := make([]int, k)
	cell := map[[3]int32]int{}
	cellTotal := map[[2]int32]int{}
	for i, fold := range f {
		size[fold]++
		cell[[3]int32{groups[i], strata[i], int32(fold)}]++
		cellTotal[[2]int32{groups[i], strata[i]}]++
	}
	if slices.Max(size)-slices.Min(size) > 1 {
		t.Errorf("fold sizes %v", size)
	}
	for c, total := range cellTotal {
		for fold := range int32(k) {
			got, want := cell[[3]int32{c[0], c[1], fold}], float64(total)/k
			if math.Abs(float64(got)-want) > 1 {
				t.Errorf("group %d, class %d: %d of %d rows in fold %d", c[0], c[1], got, total, fold)
			}
		}
	}
	if !slices.Equal(f, folds(n, k, groups, strata, 42)) {
		t.Error("the same seed gives other folds")
	}
	if slices.Equal(f, folds(n, k, groups, strata, 43)) {
		t.Error("another seed gives the same folds")
	}
}

// TestCrossValidation trains with --cv: each member learns from the rows
// outside its fold and validates on its fold, the out-of-fold report
// covers every row, and a run interrupted in its second epoch resumes to
// the parameters of an uninterrupted one.
func TestCrossValidation(t *testing.T) {
	dir := t.TempDir()
	data := writeCSV(t, dir, 300, 6)
	b := cpuBackend(t)
	o := options(data, filepath.Join(dir, "cv.mtl"))
	o.CV, o.Train.Epochs = 3, 4
	r, err := Prepare(o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Spec.Members != 3 || r.Train.N != 300 || r.Val.N != 300 {
		t.Fatalf("members %d, %d training and %d validation rows", r.Spec.Members, r.Train.N, r.Val.N)
	}
	for i := range r.Train.N {
		if r.Train.Members[i]&r.Val.Members[i] != 0 || r.Train.Members[i]|r.Val.Members[i] != 7 {
			t.Fatalf("row %d: trains members %03b, validates %03b", i, r.Train.Members[i], r.Val.Members[i])
		}
	}
	res, err := r.Fit(context.Background(), b, Progress{})
	if err != nil {
		t.Fatal(err)
	}
	oof := res.OutOfFold
	if oof == nil || oof.Tasks["y"].N < 250 || oof.Tasks["kind"].N != 300 {
		t.Fatalf("out-of-fold report %+v", oof)
	}
	if auc, ok := oof.Tasks["y"].Get("auc"); !ok || auc < 0.7 {
		t.Errorf("out-of-fold AUC %v", auc)
	}
	// Interrupted and resumed.
	stopped := o
	stopped.Out = filepath.Join(dir, "stopped.mtl")
	if r, err = Prepare(stopped); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err = r.Fit(ctx, b, Progress{Step: func(epoch, step, steps int) {
		if epoch == 1 && step == 2 {
			cancel()
		}
	}})
	var ie *InterruptedError
	if !errors.As(err, &ie) {
		t.Fatalf("interrupted run: %v", err)
	}
	resume := DefaultOptions()
	resume.Resume = stopped.Out
	if r, err = Prepare(resume); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Fit(context.Background(), b, Progress{}); err != nil {
		t.Fatal(err)
	}
	a, _ := LoadModel(o.Out)
	c, err := LoadModel(stopped.Out)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Checkpoint.Model.Params, c.Checkpoint.Model.Params) {
		t.Error("the resumed cross-validation ends elsewhere than the uninterrupted one")
	}
}

// TestEnsembleAndArchitectures trains an ensemble of each body: the model
// has the members and body asked for, its members differ, and it scores
// a file.
func TestEnsembleAndArchitectures(t *testing.T) {
	dir := t.TempDir()
	data := writeCSV(t, dir, 300, 7)
	b := cpuBackend(t)
	for _, arch := range mtl.Archs {
		o := options(data, filepath.Join(dir, string(arch)+".mtl"))
		o.Arch, o.Ensemble, o.Train.Epochs = arch, 3, 3
		r, err := Prepare(o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Fit(context.Background(), b, Progress{}); err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		m, err := LoadModel(o.Out)
		if err != nil {
			t.Fatal(err)
		}
		spec := m.Checkpoint.Model.Spec
		if spec.Members != 3 || (arch != mtl.SharedBottom) != (spec.Arch == arch) {
			t.Errorf("%s: members %d, body %q", arch, spec.Members, spec.Arch)
		}
		p := len(m.Checkpoint.Model.Params) / 3
		if slices.Equal(m.Checkpoint.Model.Params[:p], m.Checkpoint.Model.Params[p:2*p]) {
			t.Errorf("%s: members 0 and 1 are equal", arch)
		}
		if auc, ok := evaluate(t, b, m, data).Report.Tasks["y"].Get("auc"); !ok || auc < 0.7 {
			t.Errorf("%s: AUC %v", arch, auc)
		}
	}
}

func TestArchOptionErrors(t *testing.T) {
	dir := t.TempDir()
	data := writeCSV(t, dir, 50, 8)
	for _, c := range []struct {
		change func(*Options)
		option string
	}{
		{func(o *Options) { o.Experts = 4 }, "experts"},
		{func(o *Options) { o.Arch, o.TaskExperts = mtl.MMoE, 2 }, "arch"},
		{func(o *Options) { o.CV = 1 }, "cv"},
		{func(o *Options) { o.CV, o.Ensemble = 3, 2 }, "ensemble"},
		{func(o *Options) { o.Arch, o.AutoWidth = mtl.PLE, true }, "hidden"},
		{func(o *Options) { o.Ensemble = 65 }, "ensemble"},
	} {
		o := options(data, filepath.Join(dir, "m.mtl"))
		c.change(&o)
		_, err := Prepare(o)
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Option != c.option {
			t.Errorf("got %v, want an error about %q", err, c.option)
		}
	}
}
