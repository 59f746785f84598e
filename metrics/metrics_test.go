package metrics

import (
	"math"
	"testing"
)

var nan = math.NaN()

// near compares within an absolute and relative tolerance.
func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-12+1e-9*math.Max(math.Abs(a), math.Abs(b))
}

// check compares the metrics of m with want, where a NaN in want means
// undefined.
func check(t *testing.T, label string, m TaskMetrics, n int, want map[string]float64) {
	t.Helper()
	if m.N != n {
		t.Errorf("%s: n = %d, want %d", label, m.N, n)
	}
	if len(m.Values) != len(metricNames[m.Type]) {
		t.Errorf("%s: %d metrics for type %s, want %d", label, len(m.Values), m.Type, len(metricNames[m.Type]))
	}
	for name, w := range want {
		got, ok := m.Get(name)
		switch {
		case math.IsNaN(w) && ok:
			t.Errorf("%s: %s = %v, want undefined", label, name, got)
		case !math.IsNaN(w) && !ok:
			t.Errorf("%s: %s undefined, want %v", label, name, w)
		case ok && !near(got, w):
			t.Errorf("%s: %s = %.17g, want %.17g", label, name, got, w)
		}
	}
}

func TestNear(t *testing.T) {
	t.Parallel()
	if !near(1, 1+1e-12) || near(1, 1.001) || !near(0, 1e-13) || near(0, 1e-6) || !near(1e9, 1e9+0.5) {
		t.Error("near misjudges")
	}
}

func TestBinary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		labels []float64
		probs  []float64
		n      int
		want   map[string]float64
	}{
		{
			// scikit-learn roc_auc_score documentation example.
			name:   "sklearn roc_auc example",
			labels: []float64{0, 0, 1, 1}, probs: []float64{0.1, 0.4, 0.35, 0.8}, n: 4,
			want: map[string]float64{"auc": 0.75, "accuracy": 0.75, "f1": 2.0 / 3,
				"log_loss": -(math.Log(0.9) + math.Log(0.6) + math.Log(0.35) + math.Log(0.8)) / 4},
		},
		{
			// scikit-learn log_loss documentation example, "ham" < "spam".
			name:   "sklearn log_loss example",
			labels: []float64{1, 0, 0, 1}, probs: []float64{0.9, 0.1, 0.2, 0.65}, n: 4,
			want: map[string]float64{"log_loss": 0.21616187468057912, "accuracy": 1, "f1": 1, "auc": 1},
		},
		{
			name:   "ties get half credit",
			labels: []float64{0, 1, 0, 1}, probs: []float64{0.2, 0.2, 0.8, 0.8}, n: 4,
			want: map[string]float64{"auc": 0.5, "accuracy": 0.5, "f1": 0.5},
		},
		{
			name:   "all scores tied",
			labels: []float64{0, 1, 1}, probs: []float64{0.3, 0.3, 0.3}, n: 3,
			want: map[string]float64{"auc": 0.5, "accuracy": 1.0 / 3, "f1": 0},
		},
		{
			name:   "decision at exactly 0.5 is positive",
			labels: []float64{1, 0}, probs: []float64{0.5, 0.4999}, n: 2,
			want: map[string]float64{"accuracy": 1, "f1": 1, "auc": 1},
		},
		{
			name:   "missing labels skipped",
			labels: []float64{nan, 0, nan, 1}, probs: []float64{0.9, 0.1, 0.1, 0.8}, n: 2,
			want: map[string]float64{"accuracy": 1, "auc": 1, "log_loss": -(math.Log(0.9) + math.Log(0.8)) / 2},
		},
		{
			name:   "one class: auc undefined, f1 undefined without positives",
			labels: []float64{0, 0}, probs: []float64{0.1, 0.2}, n: 2,
			want: map[string]float64{"auc": nan, "f1": nan, "accuracy": 1},
		},
		{
			name:   "positives present, none predicted: f1 is 0",
			labels: []float64{1, 1}, probs: []float64{0.1, 0.2}, n: 2,
			want: map[string]float64{"auc": nan, "f1": 0, "accuracy": 0},
		},
		{
			name:   "clipped log loss",
			labels: []float64{1, 0}, probs: []float64{0, 1}, n: 2,
			want: map[string]float64{"log_loss": -math.Log(1e-15), "accuracy": 0, "f1": 0, "auc": 0},
		},
		{
			name:   "NaN score",
			labels: []float64{1, 0}, probs: []float64{nan, 0.2}, n: 2,
			want: map[string]float64{"auc": nan, "log_loss": nan, "accuracy": 0.5},
		},
		{
			name:   "empty",
			labels: nil, probs: nil, n: 0,
			want: map[string]float64{"auc": nan, "f1": nan, "accuracy": nan, "log_loss": nan},
		},
		{
			name:   "all missing",
			labels: []float64{nan}, probs: []float64{0.3}, n: 0,
			want: map[string]float64{"auc": nan, "f1": nan, "accuracy": nan, "log_loss": nan},
		},
	}
	for _, tc := range tests {
		m := Binary(tc.labels, tc.probs)
		if m.Type != TypeBinary {
			t.Errorf("%s: type %q", tc.name, m.Type)
		}
		check(t, tc.name, m, tc.n, tc.want)
	}
}

func TestAUCAgainstPairs(t *testing.T) {
	t.Parallel()
	// Midrank AUC equals the fraction of (positive, negative) pairs ranked
	// right, ties counting half.
	labels := []float64{1, 0, 1, 1, 0, 0, 1, 0, nan, 1}
	scores := []float64{0.9, 0.9, 0.3, 0.5, 0.1, 0.5, 0.5, 0.7, 0.2, 0.05}
	var wins, pairs float64
	for i := range labels {
		for j := range labels {
			if labels[i] == 1 && labels[j] == 0 {
				pairs++
				switch {
				case scores[i] > scores[j]:
					wins++
				case scores[i] == scores[j]:
					wins += 0.5
				}
			}
		}
	}
	got, ok := AUC(labels, scores)
	if !ok || !near(got, wins/pairs) {
		t.Errorf("AUC = %v, %v; want %v", got, ok, wins/pairs)
	}
}

func TestMulticlass(t *testing.T) {
	t.Parallel()
	// onehot turns predicted classes into probabilities 0.8 / rest.
	onehot := func(pred []int, k int) []float64 {
		p := make([]float64, len(pred)*k)
		for i, c := range pred {
			for j := 0; j < k; j++ {
				p[i*k+j] = 0.2 / float64(k-1)
			}
			p[i*k+c] = 0.8
		}
		return p
	}
	tests := []struct {
		name   string
		labels []int
		probs  []float64
		k, n   int
		want   map[string]float64
	}{
		{
			// scikit-learn f1_score documentation example: macro 0.2667.
			name:   "sklearn f1 example",
			labels: []int{0, 1, 2, 0, 1, 2}, probs: onehot([]int{0, 2, 1, 0, 0, 1}, 3), k: 3, n: 6,
			want: map[string]float64{"macro_f1": 0.8 / 3, "accuracy": 2.0 / 6, "log_loss": -(2*math.Log(0.8) + 4*math.Log(0.1)) / 6},
		},
		{
			// scikit-learn accuracy_score documentation example: 0.5.
			name:   "sklearn accuracy example",
			labels: []int{0, 1, 2, 3}, probs: onehot([]int{0, 2, 1, 3}, 4), k: 4, n: 4,
			want: map[string]float64{"accuracy": 0.5, "macro_f1": 0.5},
		},
		{
			name:   "macro f1 over classes in labels or predictions",
			labels: []int{0, 0, 1}, probs: onehot([]int{0, 0, 0}, 3), k: 3, n: 3,
			want: map[string]float64{"macro_f1": (0.8 + 0) / 2, "accuracy": 2.0 / 3},
		},
		{
			name:   "ties go to the first class, missing skipped",
			labels: []int{1, -1, 0}, probs: []float64{0.5, 0.5, 0, 0.1, 0.9, 0, 0.4, 0.4, 0.2}, k: 3, n: 2,
			want: map[string]float64{"accuracy": 0.5, "log_loss": -(math.Log(0.5) + math.Log(0.4)) / 2},
		},
		{
			name:   "one class",
			labels: []int{0, 0}, probs: []float64{1, 1}, k: 1, n: 2,
			want: map[string]float64{"accuracy": 1, "macro_f1": 1, "log_loss": -math.Log(1 - 1e-15)},
		},
		{
			name:   "empty",
			labels: []int{-1}, probs: []float64{0.5, 0.5}, k: 2, n: 0,
			want: map[string]float64{"accuracy": nan, "macro_f1": nan, "log_loss": nan},
		},
	}
	for _, tc := range tests {
		m := Multiclass(tc.labels, tc.probs, tc.k)
		if m.Type != TypeMulticlass {
			t.Errorf("%s: type %q", tc.name, m.Type)
		}
		check(t, tc.name, m, tc.n, tc.want)
	}
}

func TestRegression(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		y, pred []float64
		n       int
		want    map[string]float64
	}{
		{
			// scikit-learn r2_score, explained_variance_score,
			// mean_squared_error and mean_absolute_error examples.
			name: "sklearn examples",
			y:    []float64{3, -0.5, 2, 7}, pred: []float64{2.5, 0.0, 2, 8}, n: 4,
			want: map[string]float64{"r2": 0.9486081370449679, "explained_variance": 0.9571734475374732, "rmse": math.Sqrt(0.375), "mae": 0.5},
		},
		{
			name: "bias counts in r2, not explained variance",
			y:    []float64{1, 2, 3}, pred: []float64{2, 3, 4}, n: 3,
			want: map[string]float64{"r2": 1 - 3.0/2, "explained_variance": 1, "rmse": 1, "mae": 1},
		},
		{
			name: "constant y",
			y:    []float64{2, 2, nan}, pred: []float64{1, 3, 0}, n: 2,
			want: map[string]float64{"r2": nan, "explained_variance": nan, "rmse": 1, "mae": 1},
		},
		{
			name: "empty",
			y:    nil, pred: nil, n: 0,
			want: map[string]float64{"r2": nan, "explained_variance": nan, "rmse": nan, "mae": nan},
		},
		{
			name: "NaN prediction",
			y:    []float64{1, 2}, pred: []float64{nan, 2}, n: 2,
			want: map[string]float64{"r2": nan, "rmse": nan, "mae": nan},
		},
	}
	for _, tc := range tests {
		m := Regression(tc.y, tc.pred)
		if m.Type != TypeRegression {
			t.Errorf("%s: type %q", tc.name, m.Type)
		}
		check(t, tc.name, m, tc.n, tc.want)
	}
}

func TestMisusePanics(t *testing.T) {
	t.Parallel()
	tests := map[string]func(){
		"multiclass shape":      func() { Multiclass([]int{0}, []float64{1, 0, 0}, 2) },
		"multiclass label":      func() { Multiclass([]int{2}, []float64{1, 0}, 2) },
		"multiclass negative":   func() { Multiclass([]int{-2}, []float64{1, 0}, 2) },
		"binary lengths":        func() { Binary([]float64{1}, nil) },
		"binary label":          func() { Binary([]float64{0.5}, []float64{0.5}) },
		"regression lengths":    func() { Regression([]float64{1}, nil) },
		"auc lengths":           func() { AUC([]float64{1}, nil) },
		"summarise lengths":     func() { Summarise([]string{"a"}, nil) },
		"summarise duplicate":   func() { Summarise([]string{"a", "a"}, []TaskMetrics{{}, {}}) },
		"multiclass zero class": func() { Multiclass(nil, nil, 0) },
	}
	for name, f := range tests {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestMetricNames(t *testing.T) {
	t.Parallel()
	names := MetricNames(TypeBinary)
	names[0] = "changed"
	if MetricNames(TypeBinary)[0] != "accuracy" || MetricNames("ordinal") != nil {
		t.Error("MetricNames shares its slice or knows an unknown type")
	}
}

// TestPooledR2AndExplainedVariance: the two formulas differ exactly by a
// constant bias of the predictions.
func TestPooledR2AndExplainedVariance(t *testing.T) {
	nan := math.NaN()
	y := []float64{1, 2, nan, 3, 4}
	// Predictions off by +1 everywhere: SSE = 4, SST = 5, Var(residual) = 0.
	pred := []float64{2, 3, 100, 4, 5}
	if r2, ok := PooledR2(y, pred); !ok || math.Abs(r2-(1-4.0/5)) > 1e-15 {
		t.Errorf("PooledR2 = %v, %v; want 0.2", r2, ok)
	}
	if ev, ok := ExplainedVariance(y, pred); !ok || ev != 1 {
		t.Errorf("ExplainedVariance = %v, %v; want 1", ev, ok)
	}
	// Unbiased but noisy: residuals (0.5, −0.5, 0.5, −0.5) have mean 0, so
	// both are 1 − 1/5.
	pred = []float64{0.5, 2.5, 0, 2.5, 4.5}
	r2, _ := PooledR2(y, pred)
	ev, _ := ExplainedVariance(y, pred)
	if math.Abs(r2-0.8) > 1e-15 || math.Abs(ev-0.8) > 1e-15 {
		t.Errorf("PooledR2 %v, ExplainedVariance %v; want 0.8 both", r2, ev)
	}
	for _, f := range []func(y, p []float64) (float64, bool){PooledR2, ExplainedVariance} {
		if _, ok := f([]float64{2, 2, nan}, []float64{1, 2, 3}); ok {
			t.Error("defined for a constant target")
		}
		if _, ok := f([]float64{nan}, []float64{1}); ok {
			t.Error("defined without labels")
		}
	}
}
