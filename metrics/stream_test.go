package metrics

import (
	"math"
	"math/rand/v2"
	"testing"
)

// sameMetrics reports whether two TaskMetrics hold the same values, to a
// relative tolerance (0: bit for bit).
func sameMetrics(t *testing.T, what string, got, want TaskMetrics, tol float64) {
	t.Helper()
	if got.Type != want.Type || got.N != want.N || len(got.Values) != len(want.Values) {
		t.Fatalf("%s: got %s n=%d %v, want %s n=%d %v", what, got.Type, got.N, got.Values, want.Type, want.N, want.Values)
	}
	for name, w := range want.Values {
		g := got.Values[name]
		switch {
		case (g == nil) != (w == nil):
			t.Errorf("%s: %s = %v, want %v", what, name, g, w)
		case g == nil:
		case tol == 0 && *g != *w, math.Abs(*g-*w) > tol*(1+math.Abs(*w)):
			t.Errorf("%s: %s = %.17g, want %.17g", what, name, *g, *w)
		}
	}
}

// TestStreamMatchesBatch feeds random rows, a few at a time, to streams
// and checks them against the batch functions: classification bit for
// bit (ties of scores included, AUC from a family's groups too),
// regression to 1e-12.
func TestStreamMatchesBatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 20 {
		n := 1 + rng.IntN(500)
		k := 2 + rng.IntN(4)
		// Binary, with scores from a few values so that ties are common
		// on odd trials.
		labels, probs := make([]float64, n), make([]float64, n)
		groups := make([]int, n)
		all := NewStream(TypeBinary, 1, false)
		var parts []*Stream
		for range 3 {
			parts = append(parts, NewStream(TypeBinary, 1, true))
		}
		whole := NewStream(TypeBinary, 1, true)
		for i := range n {
			labels[i] = float64(rng.IntN(2))
			if rng.Float64() < 0.1 {
				labels[i] = math.NaN()
			}
			p := float32(rng.Float64())
			if trial%2 == 1 {
				p = float32(rng.IntN(5)) / 4
			}
			probs[i] = float64(p)
			groups[i] = rng.IntN(3)
			all.AddBinary(labels[i], p)
			whole.AddBinary(labels[i], p)
			parts[groups[i]].AddBinary(labels[i], p)
		}
		want := Binary(labels, probs)
		sameMetrics(t, "binary", whole.Metrics(), want, 0)
		sameMetrics(t, "binary from groups", all.Metrics(parts...), want, 0)

		// Multiclass.
		classes, mprobs := make([]int, n), make([]float64, 0, n*k)
		ms := NewStream(TypeMulticlass, k, true)
		for i := range n {
			classes[i] = rng.IntN(k)
			if rng.Float64() < 0.1 {
				classes[i] = -1
			}
			row := make([]float32, k)
			for c := range row {
				row[c] = float32(rng.IntN(4)) / 3
				mprobs = append(mprobs, float64(row[c]))
			}
			ms.AddMulticlass(classes[i], row)
		}
		sameMetrics(t, "multiclass", ms.Metrics(), Multiclass(classes, mprobs, k), 0)

		// Regression, far from zero.
		y, pred := make([]float64, n), make([]float64, n)
		rs := NewStream(TypeRegression, 1, true)
		for i := range n {
			y[i] = 1e3 + rng.NormFloat64()
			if rng.Float64() < 0.1 {
				y[i] = math.NaN()
			}
			pred[i] = 1e3 + rng.NormFloat64()
			rs.AddRegression(y[i], pred[i])
		}
		sameMetrics(t, "regression", rs.Metrics(), Regression(y, pred), 1e-12)
	}
}

// TestStreamUndefined: no rows, one class, NaN scores and a constant
// target give undefined metrics, as the batch functions do.
func TestStreamUndefined(t *testing.T) {
	empty := NewStream(TypeBinary, 1, true)
	sameMetrics(t, "empty", empty.Metrics(), Binary(nil, nil), 0)
	one := NewStream(TypeBinary, 1, true)
	one.AddBinary(1, 0.25)
	one.AddBinary(1, 0.75)
	sameMetrics(t, "one class", one.Metrics(), Binary([]float64{1, 1}, []float64{0.25, 0.75}), 0)
	nan := NewStream(TypeBinary, 1, true)
	nan.AddBinary(1, float32(math.NaN()))
	nan.AddBinary(0, 0.2)
	if _, ok := nan.Metrics().Get("auc"); ok {
		t.Error("AUC defined with a NaN score")
	}
	flat := NewStream(TypeRegression, 1, true)
	flat.AddRegression(2, 1)
	flat.AddRegression(2, 3)
	sameMetrics(t, "constant target", flat.Metrics(), Regression([]float64{2, 2}, []float64{1, 3}), 0)
}
