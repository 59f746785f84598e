package mtl

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// Model is an architecture and its parameters, held in host memory. It is
// what a model file stores and what prediction uses; training copies the
// parameters to a backend and back.
type Model struct {
	Spec Spec
	// Params is the flat parameter vector (see the layout in layout.go).
	Params []float32
}

// Streams of the seeded generator: one for initial weights, one for the
// order of rows in each epoch, one for the validation split.
const (
	streamInit    = 0x696e6974
	streamShuffle = 0x73687566
	streamSplit   = 0x73706c74
	streamPCGrad  = 0x70636772
	streamEmbed   = 0x656d6264
)

// NewModel creates a model for spec with weights drawn from seed. It
// standardises every Regression task whose Std is 0 with the mean and
// standard deviation of its labels in train, and starts each head's bias
// at the log-odds (or log class frequencies) of train's labels, so that
// training begins from the best constant prediction.
func NewModel(spec Spec, train *Dataset, seed uint64) (*Model, error) {
	spec.Tasks = append([]Task(nil), spec.Tasks...)
	spec.Hidden = append([]int(nil), spec.Hidden...)
	for i := range spec.Tasks {
		if spec.Tasks[i].Type != Multiclass {
			spec.Tasks[i].Classes = 1
		}
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if err := train.validate(spec, true); err != nil {
		return nil, err
	}
	for t := range spec.Tasks {
		task := &spec.Tasks[t]
		if task.Type == Regression && task.Std == 0 {
			task.Mean, task.Std = meanStd(train.Labels[t])
		}
	}
	l := newLayout(spec)
	m := &Model{Spec: spec, Params: make([]float32, spec.members()*l.total)}
	for mi := range spec.members() {
		m.initMember(l, m.Params[mi*l.total:(mi+1)*l.total], train, seed+uint64(mi))
	}
	return m, nil
}

// initMember draws one member's initial parameters from seed: the weights
// of layers and experts uniform with the bound of He (ReLU) or Glorot, the
// gates and heads uniform in ±1/√(fan-in), the embedding tables with
// variance 1/dim (from a stream of their own), and the heads' biases at the
// best constant prediction.
func (m *Model) initMember(l *layout, params []float32, train *Dataset, seed uint64) {
	spec := m.Spec
	rng := rand.New(rand.NewPCG(seed, streamInit))
	uniform := func(dst []float32, bound float64) {
		for i := range dst {
			dst[i] = float32((2*rng.Float64() - 1) * bound)
		}
	}
	layerBound := func(fanIn, fanOut int) float64 {
		if spec.Activation == backend.ReLU {
			return math.Sqrt(6 / float64(fanIn)) // He
		}
		return math.Sqrt(6 / float64(fanIn+fanOut)) // Glorot
	}
	for i := range l.layers() {
		fanIn, fanOut := l.widths[i], l.widths[i+1]
		uniform(params[l.weights[i]:l.weights[i]+fanIn*fanOut], layerBound(fanIn, fanOut))
	}
	if mo := l.moe; mo != nil {
		for li := range mo.levels {
			lv := &mo.levels[li]
			for i, w := range mo.widths {
				in := mo.layerIn(lv, i)
				uniform(params[lv.weights[i]:lv.weights[i]+in*lv.numExperts*w], layerBound(in, w))
			}
			uniform(params[lv.gates:lv.gates+lv.in*lv.slots()], 1/math.Sqrt(float64(lv.in)))
		}
	}
	k := l.last()
	uniform(params[l.heads:l.heads+l.mainCols*k], 1/math.Sqrt(float64(k)))
	for t, task := range spec.Tasks {
		priorBias(params[l.headBias+l.cols[t]:l.headBias+l.cols[t]+task.outputs()], task, train.Labels[t])
	}
	erng := rand.New(rand.NewPCG(seed, streamEmbed))
	for _, e := range l.embed {
		bound := math.Sqrt(3 / float64(e.dim))
		for i := range e.rows * e.dim {
			params[e.off+i] = float32((2*erng.Float64() - 1) * bound)
		}
	}
}

// meanStd returns the mean and population standard deviation of the
// labelled values (std 1 when they are constant or absent).
func meanStd(y []float32) (float64, float64) {
	var n, s, ss float64
	for _, v := range y {
		if !math.IsNaN(float64(v)) {
			n++
			s += float64(v)
		}
	}
	if n == 0 {
		return 0, 1
	}
	mean := s / n
	for _, v := range y {
		if !math.IsNaN(float64(v)) {
			d := float64(v) - mean
			ss += d * d
		}
	}
	std := math.Sqrt(ss / n)
	if std == 0 || math.IsNaN(std) {
		std = 1
	}
	return mean, std
}

// priorBias sets a head's bias to the best constant logits for labels.
func priorBias(bias []float32, t Task, labels []float32) {
	switch t.Type {
	case Binary:
		var pos, n float64
		for _, y := range labels {
			if !math.IsNaN(float64(y)) {
				n++
				pos += float64(y)
			}
		}
		if n == 0 {
			return
		}
		// Under a positive-class weight w the best constant probability
		// is w·p/(w·p + 1 − p).
		p := pos / n
		w := t.posWeight()
		q := min(max(w*p/(w*p+1-p), 1e-3), 1-1e-3)
		bias[0] = float32(math.Log(q / (1 - q)))
	case Multiclass:
		counts := make([]float64, t.Classes)
		for _, y := range labels {
			if !math.IsNaN(float64(y)) {
				counts[int(y)]++
			}
		}
		var total, mean float64
		for _, c := range counts {
			total += c + 1
		}
		for c := range counts {
			mean += math.Log((counts[c] + 1) / total)
		}
		mean /= float64(t.Classes)
		for c := range counts {
			bias[c] = float32(math.Log((counts[c]+1)/total) - mean)
		}
	}
}

// Validate checks the model's parameters against its spec.
func (m *Model) Validate() error {
	if err := m.Spec.Validate(); err != nil {
		return err
	}
	if want := m.Spec.members() * newLayout(m.Spec).total; len(m.Params) != want {
		return fmt.Errorf("model has %d parameters, its architecture needs %d", len(m.Params), want)
	}
	for i, p := range m.Params {
		if math.IsNaN(float64(p)) || math.IsInf(float64(p), 0) {
			return fmt.Errorf("parameter %d is %g", i, p)
		}
	}
	return nil
}

// NumParams is the number of parameters.
func (m *Model) NumParams() int { return len(m.Params) }
