package metrics

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestSummariseBinary(t *testing.T) {
	t.Parallel()
	// scikit-learn hamming_loss documentation example: labels [[0,1],[1,1]]
	// against all-zero predictions give 0.75.
	a := Binary([]float64{0, 1}, []float64{0, 0})
	b := Binary([]float64{1, 1}, []float64{0, 0})
	r := Summarise([]string{"a", "b"}, []TaskMetrics{a, b})
	want := map[string]float64{"hamming_loss": 0.75, "micro_f1": 0, "macro_f1": 0, "mean_auc": 0.5}
	if len(r.Overall) != len(want) {
		t.Errorf("overall keys %v", r.Overall)
	}
	for k, w := range want {
		if v := r.Overall[k]; v == nil || !near(*v, w) {
			t.Errorf("%s = %v, want %v", k, v, w)
		}
	}

	// Undefined task metrics are left out of the means; pooled metrics
	// count every labelled pair.
	c := Binary([]float64{0, 1, 1, nan}, []float64{0.2, 0.9, 0.4, 0.9}) // tp 1, fn 1, tn 1; auc 1; f1 2/3
	d := Binary([]float64{0, 0}, []float64{0.7, 0.1})                   // fp 1, tn 1; auc undefined; f1 0
	e := Binary([]float64{0}, []float64{0.1})                           // tn 1; auc, f1 undefined
	r = Summarise([]string{"c", "d", "e"}, []TaskMetrics{c, d, e})
	want = map[string]float64{"mean_auc": 1, "macro_f1": 1.0 / 3, "hamming_loss": 2.0 / 6, "micro_f1": 2.0 / 4}
	for k, w := range want {
		if v := r.Overall[k]; v == nil || !near(*v, w) {
			t.Errorf("%s = %v, want %v", k, v, w)
		}
	}

	// A binary task whose metrics are all undefined keeps the keys, as
	// null.
	r = Summarise([]string{"e"}, []TaskMetrics{Binary(nil, nil)})
	for _, k := range []string{"mean_auc", "hamming_loss", "micro_f1", "macro_f1"} {
		if v, ok := r.Overall[k]; !ok || v != nil {
			t.Errorf("%s = %v, %v; want present and null", k, v, ok)
		}
	}
}

func TestSummariseMixed(t *testing.T) {
	t.Parallel()
	r1 := Regression([]float64{3, -0.5, 2, 7}, []float64{2.5, 0.0, 2, 8})
	r2 := Regression([]float64{10, 12, 14, nan}, []float64{11, 12, 13, 99})
	m1 := Multiclass([]int{0, 1}, []float64{0.9, 0.1, 0.2, 0.8}, 2)
	m2 := Multiclass([]int{0, 1}, []float64{0.9, 0.1, 0.8, 0.2}, 2)
	m3 := Multiclass(nil, nil, 2) // n = 0: left out of the mean
	r := Summarise([]string{"r1", "m1", "r2", "m2", "m3"}, []TaskMetrics{r1, m1, r2, m2, m3})
	// Pooled over the 7 labelled regression rows, computed by hand.
	want := map[string]float64{"mean_accuracy": 0.75, "rmse": math.Sqrt(0.5), "mae": 4.0 / 7, "explained_variance": 0.9805478364430329}
	if len(r.Overall) != len(want) {
		t.Errorf("overall keys %v, want only %v (no binary task)", r.Overall, want)
	}
	for k, w := range want {
		if v := r.Overall[k]; v == nil || !near(*v, w) {
			t.Errorf("%s = %v, want %v", k, v, w)
		}
	}

	// Constant pooled y: explained variance undefined.
	r = Summarise([]string{"c"}, []TaskMetrics{Regression([]float64{1, 1}, []float64{0, 2})})
	if v, ok := r.Overall["explained_variance"]; !ok || v != nil {
		t.Errorf("explained_variance = %v, %v; want null", v, ok)
	}
	if v := r.Overall["rmse"]; v == nil || *v != 1 {
		t.Errorf("rmse = %v", v)
	}
}

func TestReportJSON(t *testing.T) {
	t.Parallel()
	r := Summarise(
		[]string{"zeta", "alpha", "school"},
		[]TaskMetrics{
			Binary([]float64{0, 0, 1, 1}, []float64{0.1, 0.4, 0.35, 0.8}),
			Multiclass([]int{0, 1, 1}, []float64{0.75, 0.25, 0.5, 0.5, 1, 0}, 2),
			Regression([]float64{1, 1}, []float64{1, 1}),
		})
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	// log_loss of zeta: −(ln 0.9 + ln 0.6 + ln 0.35 + ln 0.8)/4.
	want := `{"tasks":{` +
		`"zeta":{"type":"binary","n":4,"accuracy":0.75,"f1":0.6666666666666666,"auc":0.75,"log_loss":0.47228795380917615},` +
		`"alpha":{"type":"multiclass","n":3,"accuracy":0.3333333333333333,"macro_f1":0.25,"log_loss":11.83986854930747},` +
		`"school":{"type":"regression","n":2,"rmse":0,"mae":0,"r2":null,"explained_variance":null}},` +
		`"overall":{"mean_auc":0.75,"hamming_loss":0.25,"micro_f1":0.6666666666666666,"macro_f1":0.6666666666666666,` +
		`"mean_accuracy":0.3333333333333333,"rmse":0,"mae":0,"explained_variance":null}}`
	if string(b) != want {
		t.Errorf("JSON\n%s\nwant\n%s", b, want)
	}

	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Order, []string{"zeta", "alpha", "school"}) {
		t.Errorf("order %q", back.Order)
	}
	again, err := json.Marshal(back)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != want {
		t.Errorf("round trip\n%s\nwant\n%s", again, want)
	}
	if got := back.Tasks["alpha"]; got.Type != TypeMulticlass || got.N != 3 {
		t.Errorf("alpha read back as %+v", got)
	}

	// Tasks missing from Order follow sorted; an empty report is valid.
	r.Order = []string{"school"}
	b, _ = json.Marshal(r)
	if i, j, k := strings.Index(string(b), `"school"`), strings.Index(string(b), `"alpha"`), strings.Index(string(b), `"zeta"`); !(i < j && j < k) {
		t.Errorf("order in %s", b)
	}
	b, _ = json.Marshal(Report{})
	if string(b) != `{"tasks":{},"overall":{}}` {
		t.Errorf("empty report %s", b)
	}
	// Summarising tasks read from JSON keeps the means and nulls the pooled
	// metrics.
	rr := Summarise(back.Order, []TaskMetrics{back.Tasks["zeta"], back.Tasks["alpha"], back.Tasks["school"]})
	if v := rr.Overall["mean_auc"]; v == nil || *v != 0.75 {
		t.Errorf("mean_auc from JSON = %v", v)
	}
	if v, ok := rr.Overall["hamming_loss"]; !ok || v != nil {
		t.Errorf("hamming_loss from JSON = %v, %v; want null", v, ok)
	}
}

func TestReportTable(t *testing.T) {
	t.Parallel()
	r := Summarise(
		[]string{"income", "marital_status"},
		[]TaskMetrics{
			Binary([]float64{0, 0, 1, 1}, []float64{0.1, 0.4, 0.35, 0.8}),
			Multiclass([]int{0}, []float64{1, 0}, 2),
		})
	want := `binary  n  accuracy        f1       auc  log_loss
income  4    0.7500    0.6667    0.7500    0.4723

multiclass      n  accuracy  macro_f1  log_loss
marital_status  1    1.0000    1.0000    0.0000

overall
mean_auc           0.7500
hamming_loss       0.2500
micro_f1           0.6667
macro_f1           0.6667
mean_accuracy      1.0000
`
	if got := r.Table(); got != want {
		t.Errorf("Table:\n%s\nwant\n%s", got, want)
	}
	r = Summarise([]string{"y"}, []TaskMetrics{Regression([]float64{2}, []float64{2})})
	if got := r.Table(); !strings.Contains(got, "y           1    0.0000    0.0000         -                   -") {
		t.Errorf("undefined metrics in Table:\n%s", got)
	}
}

func FuzzReportJSON(f *testing.F) {
	f.Add([]byte(`{"tasks":{"a":{"type":"binary","n":3,"auc":0.5,"f1":null}},"overall":{"mean_auc":0.5}}`))
	f.Add([]byte(`{"tasks":null}`))
	f.Add([]byte(`{"tasks":{"a":{},"a":{"n":1}}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Report
		if err := json.Unmarshal(data, &r); err != nil {
			return
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("%s reads but does not write: %v", data, err)
		}
		var back Report
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s does not read back: %v", b, err)
		}
		again, err := json.Marshal(back)
		if err != nil || string(again) != string(b) {
			t.Fatalf("not stable:\n%s\n%s", b, again)
		}
		_ = r.Table()
	})
}
