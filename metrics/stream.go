package metrics

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Stream scores one task from rows given a few at a time, in memory that
// does not grow with the rows, except that a binary task keeps one score
// per labelled row for its AUC. Its metrics are those of Multiclass,
// Binary and Regression on the same rows in the same order: the same
// numbers for classification; for regression, r2 and explained_variance
// come from running moments (Welford) instead of a second pass, so they
// may differ in the last bits.
type Stream struct {
	typ string
	k   int
	n   int

	// Classification.
	correct    int
	tp, fp, fn []int // per class (multiclass)
	bin        taskStats
	logLoss    float64
	pos, neg   []float32 // binary scores of the labelled rows, by label
	nanScore   bool
	keepScores bool

	// Regression.
	sse, sae float64
	y, res   welford
}

// welford holds running moments: the count, the mean and the sum of
// squared deviations from it.
type welford struct {
	n, mean, m2 float64
}

func (w *welford) add(v float64) {
	w.n++
	d := v - w.mean
	w.mean += d / w.n
	w.m2 += d * (v - w.mean)
}

// NewStream returns an empty stream for a task of the type (TypeBinary,
// TypeMulticlass with classes classes, or TypeRegression). keepScores
// says whether a binary task keeps the scores its AUC needs; a stream
// without them gets its AUC from others (see Metrics).
func NewStream(taskType string, classes int, keepScores bool) *Stream {
	s := &Stream{typ: taskType, k: classes, keepScores: keepScores}
	switch taskType {
	case TypeMulticlass:
		if classes < 1 {
			panic(fmt.Sprintf("metrics: NewStream of a multiclass task with %d classes", classes))
		}
		s.tp, s.fp, s.fn = make([]int, classes), make([]int, classes), make([]int, classes)
	case TypeBinary, TypeRegression:
	default:
		panic(fmt.Sprintf("metrics: NewStream of unknown task type %q", taskType))
	}
	return s
}

// AddMulticlass adds a row of a multiclass task: its class (−1 for a
// missing label) and its k class probabilities.
func (s *Stream) AddMulticlass(label int, probs []float32) {
	if label == -1 {
		return
	}
	if label < 0 || label >= s.k || len(probs) != s.k {
		panic(fmt.Sprintf("metrics: AddMulticlass of label %d with %d probabilities for %d classes", label, len(probs), s.k))
	}
	best := 0
	for c := 1; c < s.k; c++ {
		if probs[c] > probs[best] {
			best = c
		}
	}
	s.n++
	if best == label {
		s.correct++
		s.tp[label]++
	} else {
		s.fp[best]++
		s.fn[label]++
	}
	s.logLoss -= math.Log(clipProb(float64(probs[label])))
}

// AddBinary adds a row of a binary task: its label (0, 1, or NaN when
// missing) and the probability of class 1.
func (s *Stream) AddBinary(label float64, prob float32) {
	if math.IsNaN(label) {
		return
	}
	if label != 0 && label != 1 {
		panic(fmt.Sprintf("metrics: AddBinary label %v is not 0, 1 or NaN", label))
	}
	p := float64(prob)
	switch pos := p >= 0.5; {
	case pos && label == 1:
		s.bin.tp++
	case pos:
		s.bin.fp++
	case label == 1:
		s.bin.fn++
	default:
		s.bin.tn++
	}
	if label == 1 {
		s.logLoss -= math.Log(clipProb(p))
	} else {
		s.logLoss -= math.Log(clipProb(1 - p))
	}
	s.n++
	if math.IsNaN(p) {
		s.nanScore = true
	}
	if !s.keepScores {
		return
	}
	if label == 1 {
		s.pos = append(s.pos, prob)
	} else {
		s.neg = append(s.neg, prob)
	}
}

// AddRegression adds a row of a regression task: the true value (NaN
// when missing) and the prediction.
func (s *Stream) AddRegression(y, pred float64) {
	if math.IsNaN(y) {
		return
	}
	s.n++
	r := y - pred
	s.sse += r * r
	s.sae += math.Abs(r)
	s.y.add(y)
	s.res.add(r)
}

// Metrics returns the task's metrics. A binary stream that keeps no
// scores takes its AUC from the scores of the streams given (a family's
// groups, whose rows together are its rows).
func (s *Stream) Metrics(scoresFrom ...*Stream) TaskMetrics {
	m := newTask(s.typ, s.n)
	if s.n == 0 {
		return m
	}
	switch s.typ {
	case TypeMulticlass:
		m.set("accuracy", float64(s.correct)/float64(s.n))
		var f1Sum float64
		present := 0
		for c := range s.k {
			if d := 2*s.tp[c] + s.fp[c] + s.fn[c]; d > 0 {
				f1Sum += 2 * float64(s.tp[c]) / float64(d)
				present++
			}
		}
		m.set("macro_f1", f1Sum/float64(present))
		m.set("log_loss", s.logLoss/float64(s.n))
	case TypeBinary:
		st := s.bin
		m.set("accuracy", float64(st.tp+st.tn)/float64(s.n))
		if d := 2*st.tp + st.fp + st.fn; d > 0 {
			m.set("f1", 2*float64(st.tp)/float64(d))
		}
		m.set("log_loss", s.logLoss/float64(s.n))
		pos, neg, nan := s.pos, s.neg, s.nanScore
		if !s.keepScores {
			pos, neg = nil, nil
			for _, o := range scoresFrom {
				pos, neg, nan = append(pos, o.pos...), append(neg, o.neg...), nan || o.nanScore
			}
		}
		if nan || len(pos)+len(neg) != s.n {
			break // a NaN score, or scores of other rows
		}
		if auc, ok := aucOfScores(pos, neg); ok {
			m.set("auc", auc)
		}
	case TypeRegression:
		m.set("rmse", math.Sqrt(s.sse/float64(s.n)))
		m.set("mae", s.sae/float64(s.n))
		if s.y.m2 > 0 {
			m.set("r2", 1-s.sse/s.y.m2)
			m.set("explained_variance", 1-s.res.m2/s.y.m2)
		}
	}
	return m
}

// aucOfScores is AUC for the scores (none NaN) of the positive and of
// the negative rows, sorting both in place: the same ranks, tie groups
// and sums in the same order, so the same number.
func aucOfScores(pos, neg []float32) (float64, bool) {
	nPos, nNeg := float64(len(pos)), float64(len(neg))
	if nPos == 0 || nNeg == 0 {
		return 0, false
	}
	slices.SortFunc(pos, func(a, b float32) int { return cmp.Compare(a, b) })
	slices.SortFunc(neg, func(a, b float32) int { return cmp.Compare(a, b) })
	var rankSum float64
	i, p, q := 0, 0, 0
	for p < len(pos) || q < len(neg) {
		// The next tie group: every score equal to the smallest left.
		v := pos[min(p, len(pos)-1)]
		if p == len(pos) || (q < len(neg) && neg[q] < v) {
			v = neg[q]
		}
		cp, cn := 0, 0
		for p < len(pos) && pos[p] == v {
			p++
			cp++
		}
		for q < len(neg) && neg[q] == v {
			q++
			cn++
		}
		j := i + cp + cn
		mid := float64(i+1+j) / 2
		for range cp {
			rankSum += mid
		}
		i = j
	}
	return (rankSum - nPos*(nPos+1)/2) / (nPos * nNeg), true
}
