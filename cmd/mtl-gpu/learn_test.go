package main

import (
	"fmt"
	"testing"
)

// TestDefaultsLearn trains the small public tables with default flags
// (beyond --task), as a new user would, and scores each on its test file.
// The thresholds sit a little below what the defaults reach over 5 seeds
// and near the best scikit-learn baseline of each task (in the data
// sets' READMEs): a default that loses to them by more fails here.
func TestDefaultsLearn(t *testing.T) {
	t.Parallel()
	type want struct {
		task, metric string
		min          float64 // best baseline in the comment
	}
	for _, c := range []struct {
		name, train, test string
		tasks             []string
		want              []want
	}{
		{"seed", "seed_example/seed_train.csv", "seed_example/seed_test.csv", []string{"y:multiclass"},
			[]want{{"y", "accuracy", 0.85}}}, // random forest 0.890, logistic 0.835
		{"wine", "sklearn/wine_train.csv", "sklearn/wine_test.csv", []string{"cultivar:multiclass", "proline:regression"},
			[]want{{"cultivar", "accuracy", 0.93}, {"proline", "r2", 0.70}}}, // 0.978 (45 test rows), 0.782
		{"diabetes", "sklearn/diabetes_train.csv", "sklearn/diabetes_test.csv", []string{"progression:regression", "above_median:binary"},
			[]want{{"progression", "r2", 0.47}, {"above_median", "auc", 0.85}}}, // ridge 0.486, logistic 0.858
		{"breast cancer", "sklearn/breast_cancer_train.csv", "sklearn/breast_cancer_test.csv", []string{"benign:binary", "mean_radius:regression"},
			[]want{{"benign", "auc", 0.99}, {"benign", "accuracy", 0.95}, {"mean_radius", "r2", 0.98}}}, // 0.998, 0.979, 1.000
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ok(t, mtlgpu(t, dir, append([]string{"train", "--quiet", "--data", sharedFile(t, c.train), "--out", "m.mtl"}, taskFlags(c.tasks...)...)...))
			rep := evalJSON(t, dir, "m.mtl", sharedFile(t, c.test))
			var got string
			for _, w := range c.want {
				v := metric(t, rep, w.task, w.metric)
				got += fmt.Sprintf(" %s %s %.4f", w.task, w.metric, v)
				if v < w.min {
					t.Errorf("%s %s %.4f, want at least %.2f", w.task, w.metric, v, w.min)
				}
			}
			t.Logf("%s:%s", c.name, got)
		})
	}
}
