package pipeline

import (
	"fmt"
	"math"

	"github.com/mtl-gpu/mtl-gpu/mtl"
)

// NoBetterError reports a run whose best loss (validation loss, or
// training loss without validation rows) is not below that of the
// constant predictor: the class frequencies and target means of the
// training rows. Such a run has diverged, or learnt nothing; either way
// its model is no better than no model. It matches mtl.ErrDiverged.
type NoBetterError struct {
	// Best is the run's best loss and Constant the constant predictor's,
	// both on the validation rows when Validation, else on the training
	// rows.
	Best, Constant float64
	Validation     bool
	// LR is the learning rate of the run.
	LR float64
	// Out is the model file; Saved says whether the model was written to
	// it anyway (a new file, or Force), else it holds what it held before.
	Out   string
	Saved bool
}

func (e *NoBetterError) Error() string {
	which := "training loss"
	if e.Validation {
		which = "validation loss"
	}
	msg := fmt.Sprintf("training diverged: the best %s %.5g is not below the %.5g of a constant prediction (class frequencies, target means)", which, e.Best, e.Constant)
	if e.Saved {
		return msg + "; the model was saved to " + e.Out + " all the same"
	}
	return msg + "; " + e.Out + " is left as it was"
}

// Is makes errors.Is(err, mtl.ErrDiverged) true.
func (e *NoBetterError) Is(target error) bool { return target == mtl.ErrDiverged }

// constantLoss is the loss Σ_t λ_t·L_t, as the trainer counts it, on d of
// the constant predictor fitted to the labels of train: for a multiclass
// task the class frequencies (add-one smoothed, as the model's initial
// biases), for a binary task the positive rate (the best constant under
// the positive-class weight w: w·p/(w·p + 1 − p)), for a regression task
// the mean. Losses are the trainer's: softmax and weighted sigmoid
// cross-entropy, and the squared error of the standardised target. A task
// without labels in d adds nothing, as in training. Classification labels
// are smoothed by smoothing (mtl.Config.LabelSmoothing), as the training
// loss smooths them: pass it when d is the training rows, 0 for
// validation rows.
func constantLoss(spec mtl.Spec, train, d *mtl.Dataset, smoothing float64) float64 {
	var total float64
	for t, task := range spec.Tasks {
		loss := constantTaskLoss(task, train.Labels[t], d.Labels[t], smoothing)
		if math.IsNaN(loss) {
			continue
		}
		w := task.Weight
		if w == 0 {
			w = 1
		}
		total += w * loss
	}
	return total
}

// constantTaskLoss is one task's mean loss on the labels y, smoothed by
// eps, of the constant predictor fitted to the labels fit (NaN when y has
// no label).
func constantTaskLoss(task mtl.Task, fit, y []float32, eps float64) float64 {
	var labelled []float64
	for _, v := range y {
		if !math.IsNaN(float64(v)) {
			labelled = append(labelled, float64(v))
		}
	}
	if len(labelled) == 0 {
		return math.NaN()
	}
	var sum float64
	switch task.Type {
	case mtl.Multiclass:
		counts := make([]float64, task.Classes)
		n := float64(task.Classes)
		for _, v := range fit {
			if !math.IsNaN(float64(v)) {
				counts[int(v)]++
				n++
			}
		}
		for _, v := range labelled {
			// The target (1−ε)·onehot(v) + ε/C.
			for c, k := range counts {
				q := eps / float64(len(counts))
				if c == int(v) {
					q += 1 - eps
				}
				sum -= q * math.Log((k+1)/n)
			}
		}
	case mtl.Binary:
		var pos, n float64
		for _, v := range fit {
			if !math.IsNaN(float64(v)) {
				n++
				pos += float64(v)
			}
		}
		p := 0.5
		if n > 0 {
			p = pos / n
		}
		w := task.PosWeight
		if w == 0 {
			w = 1
		}
		q := min(max(w*p/(w*p+1-p), 1e-7), 1-1e-7)
		for _, v := range labelled {
			v = v*(1-eps) + eps/2
			sum -= w*v*math.Log(q) + (1-v)*math.Log(1-q)
		}
	default:
		mean, std := task.Mean, task.Std
		if std == 0 {
			std = 1
		}
		var fm, n float64
		for _, v := range fit {
			if !math.IsNaN(float64(v)) {
				fm += float64(v)
				n++
			}
		}
		c := 0.0
		if n > 0 {
			c = (fm/n - mean) / std
		}
		for _, v := range labelled {
			r := (v-mean)/std - c
			sum += r * r
		}
	}
	return sum / float64(len(labelled))
}
