package metrics

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Task types, as written in the "type" field of a task.
const (
	TypeMulticlass = "multiclass"
	TypeBinary     = "binary"
	TypeRegression = "regression"
)

// Metric names of each task type, in the order they are written.
var metricNames = map[string][]string{
	TypeMulticlass: {"accuracy", "macro_f1", "log_loss"},
	TypeBinary:     {"accuracy", "f1", "auc", "log_loss"},
	TypeRegression: {"rmse", "mae", "r2", "explained_variance"},
}

// MetricNames returns the names of the metrics of a task type, in the order
// they are written; nil for an unknown type.
func MetricNames(taskType string) []string {
	return slices.Clone(metricNames[taskType])
}

// probClip is how far log loss keeps probabilities from 0 and 1, as
// scikit-learn's log_loss does.
const probClip = 1e-15

// TaskMetrics holds the metrics of one task.
type TaskMetrics struct {
	// Type is TypeMulticlass, TypeBinary or TypeRegression.
	Type string
	// N is the number of rows with a label.
	N int
	// Values maps each metric name of the type to its value, or to nil
	// when the metric is undefined for this data.
	Values map[string]*float64
	// Unseen counts the labelled rows whose class was never seen in
	// training (see CountUnseen); N includes them.
	Unseen int
	// Groups holds, for a family of tasks (one head per group), the
	// metrics of each group's rows, in order; nil for a plain task.
	Groups []GroupMetrics
}

// GroupMetrics are the metrics of one group's rows of a task family.
type GroupMetrics struct {
	Group   string
	Metrics TaskMetrics
}

// taskStats are the counts of a binary task's decisions at p ≥ 0.5.
type taskStats struct {
	tp, fp, fn, tn int
}

// CountUnseen adds n labelled rows whose class the model cannot predict
// (it was not seen in training) to a classification task: they count as
// errors in accuracy and are left out of every other metric, whose
// probabilities have no class to score them by.
func (m *TaskMetrics) CountUnseen(n int) {
	if n <= 0 || m.Type == TypeRegression {
		return
	}
	acc, ok := m.Get("accuracy")
	if !ok {
		acc = 0
	}
	m.set("accuracy", acc*float64(m.N)/float64(m.N+n))
	m.N += n
	m.Unseen += n
}

// Get returns a metric and whether it is defined.
func (m TaskMetrics) Get(name string) (float64, bool) {
	v := m.Values[name]
	if v == nil {
		return 0, false
	}
	return *v, true
}

// newTask returns TaskMetrics of a type with every metric undefined.
func newTask(taskType string, n int) TaskMetrics {
	m := TaskMetrics{Type: taskType, N: n, Values: map[string]*float64{}}
	for _, name := range metricNames[taskType] {
		m.Values[name] = nil
	}
	return m
}

// set stores a metric; a value that is not finite is stored as undefined.
func (m TaskMetrics) set(name string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		m.Values[name] = nil
		return
	}
	m.Values[name] = &v
}

// clipProb keeps p inside [probClip, 1 − probClip].
func clipProb(p float64) float64 {
	return min(max(p, probClip), 1-probClip)
}

// Multiclass scores a k-class task. labels holds a class index per row, or
// −1 for a missing label; probs holds the predicted class probabilities,
// row-major n×k. The predicted class is the most probable (the first on
// ties). It panics when the shapes disagree or a label is out of range.
//
// Metrics: accuracy; macro_f1, the mean F1 over the classes that occur in
// the labels or the predictions; log_loss, the mean of −log p(true class)
// with p clipped to [1e−15, 1 − 1e−15].
func Multiclass(labels []int, probs []float64, k int) TaskMetrics {
	if k < 1 || len(probs) != len(labels)*k {
		panic(fmt.Sprintf("metrics: Multiclass with %d labels, %d probabilities and k = %d", len(labels), len(probs), k))
	}
	tp := make([]int, k)
	fp := make([]int, k)
	fn := make([]int, k)
	n, correct := 0, 0
	var logLoss float64
	for i, y := range labels {
		if y == -1 {
			continue
		}
		if y < 0 || y >= k {
			panic(fmt.Sprintf("metrics: Multiclass label %d out of range [0, %d)", y, k))
		}
		p := probs[i*k : (i+1)*k]
		pred := argmax(p)
		n++
		if pred == y {
			correct++
			tp[y]++
		} else {
			fp[pred]++
			fn[y]++
		}
		logLoss -= math.Log(clipProb(p[y]))
	}
	m := newTask(TypeMulticlass, n)
	if n == 0 {
		return m
	}
	m.set("accuracy", float64(correct)/float64(n))
	var f1Sum float64
	present := 0
	for c := 0; c < k; c++ {
		if d := 2*tp[c] + fp[c] + fn[c]; d > 0 {
			f1Sum += 2 * float64(tp[c]) / float64(d)
			present++
		}
	}
	m.set("macro_f1", f1Sum/float64(present))
	m.set("log_loss", logLoss/float64(n))
	return m
}

// argmax returns the index of the largest value, the first on ties.
func argmax(p []float64) int {
	best := 0
	for c := 1; c < len(p); c++ {
		if p[c] > p[best] {
			best = c
		}
	}
	return best
}

// Binary scores a binary task. labels holds 0 or 1 per row, or NaN for a
// missing label; probs holds the predicted probability of class 1. It
// panics when the lengths differ or a label is neither 0, 1 nor NaN.
//
// Rows are predicted positive at probability ≥ 0.5. Metrics: accuracy; f1
// of the positive class, 2·TP / (2·TP + FP + FN), undefined when no row is
// a positive or predicted positive; auc, the area under the ROC curve (see
// AUC); log_loss, the mean of −log p(true class) with p(1) = p and
// p(0) = 1 − p, each clipped to [1e−15, 1 − 1e−15].
func Binary(labels []float64, probs []float64) TaskMetrics {
	if len(labels) != len(probs) {
		panic(fmt.Sprintf("metrics: Binary with %d labels and %d probabilities", len(labels), len(probs)))
	}
	st := &taskStats{}
	var logLoss float64
	for i, y := range labels {
		if math.IsNaN(y) {
			continue
		}
		if y != 0 && y != 1 {
			panic(fmt.Sprintf("metrics: Binary label %v is not 0, 1 or NaN", y))
		}
		p := probs[i]
		switch pos := p >= 0.5; {
		case pos && y == 1:
			st.tp++
		case pos:
			st.fp++
		case y == 1:
			st.fn++
		default:
			st.tn++
		}
		if y == 1 {
			logLoss -= math.Log(clipProb(p))
		} else {
			logLoss -= math.Log(clipProb(1 - p))
		}
	}
	n := st.tp + st.fp + st.fn + st.tn
	m := newTask(TypeBinary, n)
	if n == 0 {
		return m
	}
	m.set("accuracy", float64(st.tp+st.tn)/float64(n))
	if d := 2*st.tp + st.fp + st.fn; d > 0 {
		m.set("f1", 2*float64(st.tp)/float64(d))
	}
	if auc, ok := AUC(labels, probs); ok {
		m.set("auc", auc)
	}
	m.set("log_loss", logLoss/float64(n))
	return m
}

// AUC returns the area under the ROC curve of scores against 0/1 labels,
// skipping rows whose label is NaN. It is the Mann–Whitney statistic with
// tied scores given their mean rank:
//
//	AUC = (R₊ − n₊(n₊ + 1)/2) / (n₊ · n₋)
//
// where R₊ is the sum of the ranks of the positives. It is undefined
// (false) when only one class is present or a score is NaN.
func AUC(labels, scores []float64) (float64, bool) {
	if len(labels) != len(scores) {
		panic(fmt.Sprintf("metrics: AUC with %d labels and %d scores", len(labels), len(scores)))
	}
	type pair struct {
		score float64
		pos   bool
	}
	pairs := make([]pair, 0, len(labels))
	var nPos, nNeg float64
	for i, y := range labels {
		if math.IsNaN(y) {
			continue
		}
		if math.IsNaN(scores[i]) {
			return 0, false
		}
		pairs = append(pairs, pair{scores[i], y == 1})
		if y == 1 {
			nPos++
		} else {
			nNeg++
		}
	}
	if nPos == 0 || nNeg == 0 {
		return 0, false
	}
	slices.SortFunc(pairs, func(a, b pair) int { return cmp.Compare(a.score, b.score) })
	var rankSum float64
	for i := 0; i < len(pairs); {
		j := i
		for j < len(pairs) && pairs[j].score == pairs[i].score {
			j++
		}
		// Ranks i+1 .. j share their mean.
		mid := float64(i+1+j) / 2
		for _, p := range pairs[i:j] {
			if p.pos {
				rankSum += mid
			}
		}
		i = j
	}
	return (rankSum - nPos*(nPos+1)/2) / (nPos * nNeg), true
}

// PooledR2 returns the coefficient of determination of pred against y
// over every labelled row (y not NaN), pooled:
//
//	R² = 1 − SSE/SST,  SSE = Σ (y − pred)²,  SST = Σ (y − ȳ)²
//
// It is undefined (false) without labelled rows or when y is constant.
// The built-in School demonstration reports it as the held-out explained
// variance, as the multi-task learning literature does for that data set.
func PooledR2(y, pred []float64) (float64, bool) {
	if len(y) != len(pred) {
		panic(fmt.Sprintf("metrics: PooledR2 with %d values and %d predictions", len(y), len(pred)))
	}
	var n, mean float64
	for _, v := range y {
		if !math.IsNaN(v) {
			n++
			mean += v
		}
	}
	mean /= n
	var sse, sst float64
	for i, v := range y {
		if !math.IsNaN(v) {
			sse += (v - pred[i]) * (v - pred[i])
			sst += (v - mean) * (v - mean)
		}
	}
	if n == 0 || sst == 0 {
		return 0, false
	}
	return 1 - sse/sst, true
}

// ExplainedVariance returns scikit-learn's explained_variance_score of
// pred against y over the labelled rows (y not NaN):
//
//	1 − Var(y − pred) / Var(y)
//
// Unlike R² it ignores a constant bias of the predictions. It is undefined
// (false) without labelled rows or when y is constant.
func ExplainedVariance(y, pred []float64) (float64, bool) {
	if len(y) != len(pred) {
		panic(fmt.Sprintf("metrics: ExplainedVariance with %d values and %d predictions", len(y), len(pred)))
	}
	var n, meanY, meanRes float64
	for i, v := range y {
		if !math.IsNaN(v) {
			n++
			meanY += v
			meanRes += v - pred[i]
		}
	}
	if n == 0 {
		return 0, false
	}
	meanY /= n
	meanRes /= n
	var m2Y, m2Res float64
	for i, v := range y {
		if !math.IsNaN(v) {
			r := v - pred[i]
			m2Y += (v - meanY) * (v - meanY)
			m2Res += (r - meanRes) * (r - meanRes)
		}
	}
	if m2Y == 0 {
		return 0, false
	}
	return 1 - m2Res/m2Y, true
}

// Regression scores a regression task. y holds the true values, NaN for a
// missing one; pred the predictions. It panics when the lengths differ.
//
// Metrics: rmse, the root mean squared error; mae, the mean absolute error;
// r2, 1 − SSE/SST with SST the squared deviations of y around its mean;
// explained_variance, 1 − Var(y − pred)/Var(y) as in scikit-learn's
// explained_variance_score (it ignores a constant bias that r2 counts).
// r2 and explained_variance are undefined when y is constant.
func Regression(y, pred []float64) TaskMetrics {
	if len(y) != len(pred) {
		panic(fmt.Sprintf("metrics: Regression with %d values and %d predictions", len(y), len(pred)))
	}
	n := 0
	var sse, sae float64
	for i, v := range y {
		if math.IsNaN(v) {
			continue
		}
		n++
		r := v - pred[i]
		sse += r * r
		sae += math.Abs(r)
	}
	m := newTask(TypeRegression, n)
	if n == 0 {
		return m
	}
	m.set("rmse", math.Sqrt(sse/float64(n)))
	m.set("mae", sae/float64(n))
	if v, ok := PooledR2(y, pred); ok {
		m.set("r2", v)
	}
	if v, ok := ExplainedVariance(y, pred); ok {
		m.set("explained_variance", v)
	}
	return m
}
