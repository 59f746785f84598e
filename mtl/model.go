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
	spec, err := spec.withOutputs()
	if err != nil {
		return nil, err
	}
	if err := train.validate(spec, true); err != nil {
		return nil, err
	}
	return newModel(spec, train.LabelStats(spec), seed)
}

// LabelStats summarises one task's training labels: what a new model's
// head starts from.
type LabelStats struct {
	// Counts holds the labelled rows of each class of a Binary (0, then
	// 1) or Multiclass task; nil for a Regression task.
	Counts []int64
	// Mean and Std are the mean and population standard deviation of a
	// Regression task's labels (0 and 1 without labels, Std 1 for
	// constant labels).
	Mean, Std float64
}

// LabelStats returns the statistics of each task's labels in d, which
// must hold valid labels for spec's tasks.
func (d *Dataset) LabelStats(spec Spec) []LabelStats {
	stats := make([]LabelStats, len(spec.Tasks))
	for t, task := range spec.Tasks {
		st := &stats[t]
		switch task.Type {
		case Regression:
			st.Mean, st.Std = meanStd(d.Labels[t])
		default:
			st.Counts = make([]int64, max(task.Classes, 2))
			if task.Type == Binary {
				st.Counts = st.Counts[:2]
			}
			for _, y := range d.Labels[t] {
				if !math.IsNaN(float64(y)) {
					st.Counts[int(y)]++
				}
			}
		}
	}
	return stats
}

// NewModelFromStats creates a model as NewModel does from training data
// that is summarised by the statistics of each task's labels rather than
// held in memory (a stream): with the same statistics it gives the same
// parameters.
func NewModelFromStats(spec Spec, stats []LabelStats, seed uint64) (*Model, error) {
	spec, err := spec.withOutputs()
	if err != nil {
		return nil, err
	}
	if len(stats) != len(spec.Tasks) {
		return nil, fmt.Errorf("label statistics for %d tasks, the model has %d", len(stats), len(spec.Tasks))
	}
	for t, task := range spec.Tasks {
		st := stats[t]
		want := task.Classes
		if task.Type == Binary {
			want = 2
		}
		switch {
		case task.Type == Regression && (!(st.Std > 0) || math.IsInf(st.Std, 0) || math.IsNaN(st.Mean) || math.IsInf(st.Mean, 0)):
			return nil, fmt.Errorf("task %q: label mean %g and standard deviation %g", task.Name, st.Mean, st.Std)
		case task.Type != Regression && len(st.Counts) != want:
			return nil, fmt.Errorf("task %q: label counts of %d classes, the task has %d", task.Name, len(st.Counts), want)
		}
		for _, c := range st.Counts {
			if c < 0 {
				return nil, fmt.Errorf("task %q: label count %d", task.Name, c)
			}
		}
	}
	return newModel(spec, stats, seed)
}

// withOutputs returns a copy of spec with one output for every task that
// is not Multiclass, validated.
func (spec Spec) withOutputs() (Spec, error) {
	spec.Tasks = append([]Task(nil), spec.Tasks...)
	spec.Hidden = append([]int(nil), spec.Hidden...)
	for i := range spec.Tasks {
		if spec.Tasks[i].Type != Multiclass {
			spec.Tasks[i].Classes = 1
		}
	}
	return spec, spec.Validate()
}

// newModel creates a model for a validated spec from the statistics of
// its tasks' labels.
func newModel(spec Spec, stats []LabelStats, seed uint64) (*Model, error) {
	for t := range spec.Tasks {
		task := &spec.Tasks[t]
		if task.Type == Regression && task.Std == 0 {
			task.Mean, task.Std = stats[t].Mean, stats[t].Std
		}
	}
	l := newLayout(spec)
	m := &Model{Spec: spec, Params: make([]float32, spec.members()*l.total)}
	for mi := range spec.members() {
		m.initMember(l, m.Params[mi*l.total:(mi+1)*l.total], stats, seed+uint64(mi))
	}
	return m, nil
}

// NumParams is the number of parameters of a model of spec (0 for a spec
// that does not validate).
func (spec Spec) NumParams() int {
	spec, err := spec.withOutputs()
	if err != nil {
		return 0
	}
	return spec.members() * newLayout(spec).total
}

// initMember draws one member's initial parameters from seed: the weights
// of layers and experts uniform with the bound of He (ReLU) or Glorot, the
// gates and heads uniform in ±1/√(fan-in), the embedding tables with
// variance 1/dim (from a stream of their own), and the heads' biases at the
// best constant prediction.
func (m *Model) initMember(l *layout, params []float32, stats []LabelStats, seed uint64) {
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
		priorBias(params[l.headBias+l.cols[t]:l.headBias+l.cols[t]+task.outputs()], task, stats[t].Counts)
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

// priorBias sets a head's bias to the best constant logits for the label
// counts of each class.
func priorBias(bias []float32, t Task, counts []int64) {
	switch t.Type {
	case Binary:
		n := float64(counts[0] + counts[1])
		if n == 0 {
			return
		}
		// Under a positive-class weight w the best constant probability
		// is w·p/(w·p + 1 − p).
		p := float64(counts[1]) / n
		w := t.posWeight()
		q := min(max(w*p/(w*p+1-p), 1e-3), 1-1e-3)
		bias[0] = float32(math.Log(q / (1 - q)))
	case Multiclass:
		var total, mean float64
		for _, c := range counts {
			total += float64(c) + 1
		}
		for _, c := range counts {
			mean += math.Log((float64(c) + 1) / total)
		}
		mean /= float64(t.Classes)
		for k, c := range counts {
			bias[k] = float32(math.Log((float64(c)+1)/total) - mean)
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
