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
	return constantLossOn(spec, summariseLabels(spec, train), d, smoothing)
}

// labelFit is what the constant predictor learns of a task's training
// labels: the labelled rows of each class (a binary task's negatives,
// then positives), or the number of values and their mean and population
// variance.
type labelFit struct {
	counts          []float64
	n, mean, spread float64
}

// summariseLabels fits the constant predictor to the labels of train.
func summariseLabels(spec mtl.Spec, train *mtl.Dataset) []labelFit {
	fits := make([]labelFit, len(spec.Tasks))
	for t, task := range spec.Tasks {
		f := &fits[t]
		if task.Type != mtl.Regression {
			f.counts = make([]float64, max(task.Classes, 2))
		}
		var sum float64
		for _, v := range train.Labels[t] {
			if math.IsNaN(float64(v)) {
				continue
			}
			f.n++
			if f.counts != nil {
				f.counts[int(v)]++
			}
			sum += float64(v)
		}
		if f.n > 0 {
			f.mean = sum / f.n
		}
	}
	return fits
}

// summariseStats fits the constant predictor to a streamed run's label
// statistics (see stream.Data.LabelStats), with labelled(t) the labelled
// training rows of task t. A regression target's variance is its
// standard deviation squared: constant labels, whose deviation the
// statistics give as 1, count as a variance of 1.
func summariseStats(spec mtl.Spec, stats []mtl.LabelStats, labelled func(t int) int) []labelFit {
	fits := make([]labelFit, len(spec.Tasks))
	for t, st := range stats {
		f := &fits[t]
		f.n = float64(labelled(t))
		if st.Counts != nil {
			f.counts = make([]float64, len(st.Counts))
			for c, k := range st.Counts {
				f.counts[c] = float64(k)
			}
			continue
		}
		f.mean, f.spread = st.Mean, st.Std*st.Std
	}
	return fits
}

// constantLossOn is constantLoss with the training labels summarised, on
// the rows of d, their labels smoothed by smoothing.
func constantLossOn(spec mtl.Spec, fits []labelFit, d *mtl.Dataset, smoothing float64) float64 {
	var total float64
	for t, task := range spec.Tasks {
		total += taskWeight(task) * orZero(constantTaskLoss(task, fits[t], d.Labels[t], smoothing))
	}
	return total
}

// constantSelfLoss is constantLoss on the training rows themselves, from
// their summary alone (a streamed run without validation rows does not
// hold them), their labels smoothed by eps.
func constantSelfLoss(spec mtl.Spec, fits []labelFit, eps float64) float64 {
	var total float64
	for t, task := range spec.Tasks {
		f := fits[t]
		if f.n == 0 {
			continue
		}
		var loss float64
		switch task.Type {
		case mtl.Multiclass:
			// Each row's target is (1−ε)·onehot + ε/C: class c carries
			// the weight (1−ε)·count_c + ε·n/C over the rows.
			k := float64(task.Classes)
			for _, c := range f.counts {
				if q := (1-eps)*c + eps*f.n/k; q > 0 {
					loss -= q * math.Log((c+1)/(f.n+k))
				}
			}
			loss /= f.n
		case mtl.Binary:
			// A positive's target is 1 − ε/2, a negative's ε/2.
			w, q := binaryConstant(task, f)
			hi, lo := 1-eps/2, eps/2
			pos, neg := f.counts[1], f.counts[0]
			loss = -(pos*(w*hi*math.Log(q)+lo*math.Log(1-q)) + neg*(w*lo*math.Log(q)+hi*math.Log(1-q))) / f.n
		default:
			loss = f.spread / (standardDeviation(task) * standardDeviation(task))
		}
		total += taskWeight(task) * loss
	}
	return total
}

func taskWeight(task mtl.Task) float64 {
	if task.Weight == 0 {
		return 1
	}
	return task.Weight
}

func standardDeviation(task mtl.Task) float64 {
	if task.Std == 0 {
		return 1
	}
	return task.Std
}

func orZero(v float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return v
}

// binaryConstant is a binary task's positive-class weight w and the
// constant probability q that is best under it.
func binaryConstant(task mtl.Task, f labelFit) (w, q float64) {
	p := 0.5
	if f.n > 0 {
		p = f.counts[1] / f.n
	}
	w = task.PosWeight
	if w == 0 {
		w = 1
	}
	return w, min(max(w*p/(w*p+1-p), 1e-7), 1-1e-7)
}

// constantTaskLoss is one task's mean loss on the labels y, smoothed by
// eps, of the constant predictor fitted to the training labels (NaN when
// y has no label).
func constantTaskLoss(task mtl.Task, f labelFit, y []float32, eps float64) float64 {
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
		n := float64(task.Classes) + f.n
		k := float64(len(f.counts))
		for _, v := range labelled {
			// The target (1−ε)·onehot(v) + ε/C.
			for c, count := range f.counts {
				q := eps / k
				if c == int(v) {
					q += 1 - eps
				}
				if q > 0 {
					sum -= q * math.Log((count+1)/n)
				}
			}
		}
	case mtl.Binary:
		w, q := binaryConstant(task, f)
		for _, v := range labelled {
			v = v*(1-eps) + eps/2
			sum -= w*v*math.Log(q) + (1-v)*math.Log(1-q)
		}
	default:
		mean, std := task.Mean, standardDeviation(task)
		c := 0.0
		if f.n > 0 {
			c = (f.mean - mean) / std
		}
		for _, v := range labelled {
			r := (v-mean)/std - c
			sum += r * r
		}
	}
	return sum / float64(len(labelled))
}
