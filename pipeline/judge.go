package pipeline

import (
	"math"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/metrics"
	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// Metrics that may choose the best epoch (Options.Metric). The default,
// MetricLoss, is the validation loss Σ_t λ_t·L_t the trainer minimises.
//
// Any other metric is turned into a score, lower is better, for each task
// where it is defined, and averaged over the tasks with their weights λ_t:
//
//	auc       1 − AUC            (binary tasks)
//	accuracy  1 − accuracy       (binary and multiclass tasks)
//	logloss   log loss           (binary and multiclass tasks)
//	rmse      RMSE / std         (regression, in units of the training std)
//	r2        1 − R²             (regression)
//
// A task where it is undefined (AUC of a multiclass task, accuracy of a
// regression task, or a metric the rows leave undefined, such as AUC with
// one class) scores its loss instead: log loss, or the squared error in
// units of the training variance, as in training. Divergence is always
// judged by the loss.
const (
	MetricLoss     = "loss"
	MetricAUC      = "auc"
	MetricAccuracy = "accuracy"
	MetricLogLoss  = "logloss"
	MetricRMSE     = "rmse"
	MetricR2       = "r2"
)

// Metrics lists the names Options.Metric takes.
var Metrics = []string{MetricLoss, MetricAUC, MetricAccuracy, MetricLogLoss, MetricRMSE, MetricR2}

// judge returns the trainer's judge for the run's metric, or nil to judge
// by the validation loss.
func (r *Run) judge(b backend.Backend) func(*mtl.Model) ([]float64, error) {
	metric := r.Record.Metric
	if metric == "" || metric == MetricLoss || r.Val == nil {
		return nil
	}
	val := r.Val
	predict := func(cur *mtl.Model) ([][][]float32, error) { return cur.PredictMembers(b, val) }
	if g := r.Options.Group; g != nil && g.Size() > 1 {
		predict = sharedPredictions(gatherer{g}, b, val, r.Spec.Inputs)
	}
	return func(cur *mtl.Model) ([]float64, error) {
		per, err := predict(cur)
		if err != nil {
			return nil, err
		}
		scores := make([]float64, len(per))
		for m, preds := range per {
			scores[m] = memberScore(metric, cur.Spec, val, m, preds)
		}
		return scores, nil
	}
}

// memberScore is member m's score by metric on its validation rows (those
// of its fold, for a cross-fitted run): the weighted mean of its tasks'
// scores, NaN when no task has a labelled row.
func memberScore(metric string, spec mtl.Spec, val *mtl.Dataset, m int, preds [][]float32) float64 {
	var sum, weights float64
	for t, task := range spec.Tasks {
		k := 1
		if task.Type == mtl.Multiclass {
			k = task.Classes
		}
		var y, p []float64
		for i, label := range val.Labels[t] {
			if label != label || val.Members != nil && val.Members[i]&(1<<m) == 0 {
				continue
			}
			y = append(y, float64(label))
			for c := range k {
				p = append(p, float64(preds[t][i*k+c]))
			}
		}
		if len(y) == 0 {
			continue
		}
		w := task.Weight
		if w == 0 {
			w = 1
		}
		sum += w * metricScore(metric, task, y, p)
		weights += w
	}
	if weights == 0 {
		return math.NaN()
	}
	return sum / weights
}

// metricScore is one task's score by metric (see Metrics) on labelled rows:
// labels y and predictions p (k per row for a multiclass task).
func metricScore(metric string, task mtl.Task, y, p []float64) float64 {
	var tm metrics.TaskMetrics
	switch task.Type {
	case mtl.Multiclass:
		classes := make([]int, len(y))
		for i, v := range y {
			classes[i] = int(v)
		}
		tm = metrics.Multiclass(classes, p, task.Classes)
	case mtl.Binary:
		tm = metrics.Binary(y, p)
	default:
		tm = metrics.Regression(y, p)
	}
	get := func(name string) (float64, bool) {
		v, ok := tm.Get(name)
		return v, ok && !math.IsNaN(v)
	}
	std := task.Std
	if !(std > 0) {
		std = 1
	}
	switch {
	case metric == MetricAUC && task.Type == mtl.Binary:
		if v, ok := get("auc"); ok {
			return 1 - v
		}
	case metric == MetricAccuracy && task.Type != mtl.Regression:
		if v, ok := get("accuracy"); ok {
			return 1 - v
		}
	case metric == MetricRMSE && task.Type == mtl.Regression:
		if v, ok := get("rmse"); ok {
			return v / std
		}
	case metric == MetricR2 && task.Type == mtl.Regression:
		if v, ok := get("r2"); ok {
			return 1 - v
		}
	}
	if task.Type == mtl.Regression {
		v, _ := get("rmse")
		return v * v / (std * std)
	}
	v, _ := get("log_loss")
	return v
}
