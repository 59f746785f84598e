package metrics

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestSummariseMeans: every overall metric is the unweighted mean of the
// per-task metric over the tasks of its type where it is defined.
func TestSummariseMeans(t *testing.T) {
	t.Parallel()
	c := Binary([]float64{0, 1, 1, nan}, []float64{0.2, 0.9, 0.4, 0.9}) // acc 2/3, auc 1, f1 2/3
	d := Binary([]float64{0, 0}, []float64{0.7, 0.1})                   // acc 1/2, auc undefined, f1 0
	e := Binary([]float64{0}, []float64{0.1})                           // acc 1, auc, f1 undefined
	m1 := Multiclass([]int{0, 1}, []float64{0.9, 0.1, 0.2, 0.8}, 2)     // acc 1, macro-F1 1
	m2 := Multiclass([]int{0, 1}, []float64{0.9, 0.1, 0.8, 0.2}, 2)     // acc 1/2, macro-F1 1/3
	r := Summarise([]string{"c", "d", "e", "m1", "m2"}, []TaskMetrics{c, d, e, m1, m2})
	want := map[string]float64{
		"binary_mean_accuracy": (2.0/3 + 0.5 + 1) / 3, "binary_mean_auc": 1, "binary_mean_f1": (2.0 / 3) / 2,
		"multiclass_mean_accuracy": 0.75, "multiclass_mean_macro_f1": (1 + 1.0/3) / 2,
	}
	for k, w := range want {
		if v := r.Overall[k]; v == nil || !near(*v, w) {
			t.Errorf("%s = %v, want %v", k, v, w)
		}
	}
	for k := range r.Overall {
		if !strings.HasPrefix(k, "binary_mean_") && !strings.HasPrefix(k, "multiclass_mean_") {
			t.Errorf("overall key %s without a regression task", k)
		}
	}
	// A binary task whose metrics are all undefined keeps the keys, as
	// null.
	r = Summarise([]string{"e"}, []TaskMetrics{Binary(nil, nil)})
	for _, k := range []string{"binary_mean_auc", "binary_mean_accuracy", "binary_mean_f1", "binary_mean_log_loss"} {
		if v, ok := r.Overall[k]; !ok || v != nil {
			t.Errorf("%s = %v, %v; want present and null", k, v, ok)
		}
	}
}

// TestSummariseRegressionUnits: regression tasks in different units are
// averaged task by task, never pooled (pooling gave 0.935 "explained
// variance" beside per-task R² of −2.10, 0.65 and −0.28), and with one
// task each overall metric is that task's metric of the same name.
func TestSummariseRegressionUnits(t *testing.T) {
	t.Parallel()
	// Three targets: a score around 1000, a fraction, a temperature. Each
	// is predicted badly within its own spread, but pooling their rows
	// makes the spread between targets dwarf every error.
	score := Regression([]float64{1000, 1010, 990, 1005}, []float64{1020, 990, 1000, 985})
	frac := Regression([]float64{0.1, 0.5, 0.9, 0.4}, []float64{0.2, 0.5, 0.7, 0.4})
	temp := Regression([]float64{20, 22, 21, 19}, []float64{22, 20, 20, 21})
	r := Summarise([]string{"score", "frac", "temp"}, []TaskMetrics{score, frac, temp})
	var sum float64
	for _, m := range []TaskMetrics{score, frac, temp} {
		v, _ := m.Get("r2")
		sum += v
	}
	if v := r.Overall["regression_mean_r2"]; v == nil || !near(*v, sum/3) {
		t.Errorf("regression_mean_r2 = %v, want the mean of the task R² %v", v, sum/3)
	}
	if v := r.Overall["regression_mean_r2"]; v != nil && *v > 0.5 {
		t.Errorf("regression_mean_r2 = %v looks pooled", *v)
	}
	one := Summarise([]string{"temp"}, []TaskMetrics{temp})
	for _, name := range MetricNames(TypeRegression) {
		w, _ := temp.Get(name)
		if v := one.Overall[OverallName(TypeRegression, name)]; v == nil || *v != w {
			t.Errorf("one task: overall %s = %v, the task's is %v", name, v, w)
		}
	}
	if ev, r2 := *one.Overall["regression_mean_explained_variance"], *one.Overall["regression_mean_r2"]; ev == r2 {
		t.Errorf("explained variance %v equals R² for a biased prediction", ev)
	}
}

// TestCountUnseen: rows of a class unseen in training are errors for
// accuracy and leave the other metrics alone.
func TestCountUnseen(t *testing.T) {
	t.Parallel()
	m := Multiclass([]int{0, 1, 1, 0}, []float64{0.9, 0.1, 0.2, 0.8, 0.4, 0.6, 0.6, 0.4}, 2)
	loss, _ := m.Get("log_loss")
	m.CountUnseen(4)
	if v, _ := m.Get("accuracy"); m.N != 8 || m.Unseen != 4 || !near(v, 0.5) {
		t.Errorf("accuracy %v over %d rows (%d unseen), want 0.5 over 8", v, m.N, m.Unseen)
	}
	if v, _ := m.Get("log_loss"); v != loss {
		t.Errorf("log loss changed from %v to %v", loss, v)
	}
	b := Binary(nil, nil)
	b.CountUnseen(2)
	if v, ok := b.Get("accuracy"); !ok || v != 0 || b.N != 2 {
		t.Errorf("only unseen rows: accuracy %v, %v, n %d", v, ok, b.N)
	}
	raw, _ := json.Marshal(m)
	if !strings.Contains(string(raw), `"unseen_class_rows":4`) {
		t.Errorf("JSON %s does not count the unseen rows", raw)
	}
}

func TestReportJSON(t *testing.T) {
	t.Parallel()
	fam := Regression([]float64{1, 2, 3, 4}, []float64{1, 2, 3, 5})
	fam.Groups = []GroupMetrics{
		{"b", Regression([]float64{1, 2}, []float64{1, 2})},
		{"a", Regression([]float64{3, 4}, []float64{3, 5})},
	}
	r := Summarise(
		[]string{"zeta", "alpha", "school"},
		[]TaskMetrics{
			Binary([]float64{0, 0, 1, 1}, []float64{0.1, 0.4, 0.35, 0.8}),
			Multiclass([]int{0, 1, 1}, []float64{0.75, 0.25, 0.5, 0.5, 1, 0}, 2),
			fam,
		})
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	// log_loss of zeta: −(ln 0.9 + ln 0.6 + ln 0.35 + ln 0.8)/4.
	want := `{"tasks":{` +
		`"zeta":{"type":"binary","n":4,"accuracy":0.75,"f1":0.6666666666666666,"auc":0.75,"log_loss":0.47228795380917615},` +
		`"alpha":{"type":"multiclass","n":3,"accuracy":0.3333333333333333,"macro_f1":0.25,"log_loss":11.83986854930747},` +
		`"school":{"type":"regression","n":4,"rmse":0.5,"mae":0.25,"r2":0.8,"explained_variance":0.85,"groups":{` +
		`"b":{"type":"regression","n":2,"rmse":0,"mae":0,"r2":1,"explained_variance":1},` +
		`"a":{"type":"regression","n":2,"rmse":0.7071067811865476,"mae":0.5,"r2":-1,"explained_variance":0}}}},` +
		`"overall":{"binary_mean_accuracy":0.75,"binary_mean_f1":0.6666666666666666,"binary_mean_auc":0.75,"binary_mean_log_loss":0.47228795380917615,` +
		`"multiclass_mean_accuracy":0.3333333333333333,"multiclass_mean_macro_f1":0.25,"multiclass_mean_log_loss":11.83986854930747,` +
		`"regression_mean_rmse":0.5,"regression_mean_mae":0.25,"regression_mean_r2":0.8,"regression_mean_explained_variance":0.85}}`
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
	if g := back.Tasks["school"].Groups; len(g) != 2 || g[0].Group != "b" || g[1].Metrics.N != 2 {
		t.Errorf("groups read back as %+v", g)
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
	// Summarising tasks read from JSON gives the same means.
	rr := Summarise(back.Order, []TaskMetrics{back.Tasks["zeta"], back.Tasks["alpha"], back.Tasks["school"]})
	if !reflect.DeepEqual(rr.Overall, r.Overall) {
		t.Errorf("overall from JSON %v, want %v", rr.Overall, r.Overall)
	}
}

func TestReportTable(t *testing.T) {
	t.Parallel()
	fam := Multiclass([]int{0, 1}, []float64{1, 0, 0, 1}, 2)
	fam.Groups = []GroupMetrics{{"s1", Multiclass([]int{0}, []float64{1, 0}, 2)}, {"s2", Multiclass([]int{1}, []float64{0, 1}, 2)}}
	r := Summarise(
		[]string{"income", "marital_status"},
		[]TaskMetrics{
			Binary([]float64{0, 0, 1, 1}, []float64{0.1, 0.4, 0.35, 0.8}),
			fam,
		})
	want := `binary  n  accuracy        f1       auc  log_loss
income  4    0.7500    0.6667    0.7500    0.4723

multiclass      n  accuracy  macro_f1  log_loss
marital_status  2    1.0000    1.0000    0.0000
  @s1           1    1.0000    1.0000    0.0000
  @s2           1    1.0000    1.0000    0.0000

overall (unweighted means over tasks)
binary_mean_accuracy                       0.7500
binary_mean_f1                             0.6667
binary_mean_auc                            0.7500
binary_mean_log_loss                       0.4723
multiclass_mean_accuracy                   1.0000
multiclass_mean_macro_f1                   1.0000
multiclass_mean_log_loss                   0.0000
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
	f.Add([]byte(`{"tasks":{"a":{"type":"regression","n":2,"groups":{"x":{"n":1},"x":{"n":2}},"unseen_class_rows":3}}}`))
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
