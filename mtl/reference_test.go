package mtl

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// refModel is a float64 model written from the definitions in doc.go with
// plain loops, independent of every backend and of the trainer's code (it
// shares only layout.go, which says where each parameter is): the shared
// layers h_l = φ(W_lᵀh_{l−1} + c_l), each task's logits z_t = A_tᵀh + b_t
// (plus the group's deviation D, e for a family), its mean loss over the
// rows labelled for it, and that loss's gradient by backpropagation.
type refModel struct {
	spec   Spec // the model's spec, with the regression standardisation
	lay    *layout
	params []float64
}

func newRefModel(spec Spec, params []float64) *refModel {
	return &refModel{spec: spec, lay: newLayout(spec), params: params}
}

func refPhi(x float64, act backend.Activation) float64 {
	switch act {
	case backend.ReLU:
		return math.Max(x, 0)
	case backend.Tanh:
		return math.Tanh(x)
	}
	return x
}

// refPhiGrad is φ' at the pre-activation whose output is out.
func refPhiGrad(out float64, act backend.Activation) float64 {
	switch act {
	case backend.ReLU:
		if out > 0 {
			return 1
		}
		return 0
	case backend.Tanh:
		return 1 - out*out
	}
	return 1
}

// forward returns the activations h_0 = x, h_1, …, h_L of one row.
func (m *refModel) forward(x []float64) [][]float64 {
	l := m.lay
	hs := [][]float64{x}
	for i := range l.layers() {
		in, out := l.widths[i], l.widths[i+1]
		h := make([]float64, out)
		for j := range out {
			s := m.params[l.biases[i]+j]
			for k := range in {
				s += hs[i][k] * m.params[l.weights[i]+k*out+j]
			}
			h[j] = refPhi(s, m.spec.Activation)
		}
		hs = append(hs, h)
	}
	return hs
}

// headCols returns the logit columns of task t for a row of group g: the
// head's own, and for a family in a seen group the deviation's too.
func (m *refModel) headCols(t, g int) (cols, devs []int) {
	task := m.spec.Tasks[t]
	for j := range task.outputs() {
		cols = append(cols, m.lay.cols[t]+j)
		if task.Groups > 0 && g >= 0 {
			devs = append(devs, m.lay.devCol[t]+g*task.outputs()+j)
		}
	}
	return cols, devs
}

// logit returns output column c for the top activation h.
func (m *refModel) logit(c int, h []float64) float64 {
	k := m.lay.last()
	s := m.params[m.lay.headBias+c]
	for j := range k {
		s += m.params[m.lay.heads+c*k+j] * h[j]
	}
	return s
}

// rowLoss returns ℓ_t and ∂ℓ_t/∂z_t for task t's logits z and raw label y.
func (m *refModel) rowLoss(t int, z []float64, y float64) (float64, []float64) {
	task := m.spec.Tasks[t]
	d := make([]float64, len(z))
	switch task.Type {
	case Multiclass:
		mx := math.Inf(-1)
		for _, v := range z {
			mx = max(mx, v)
		}
		var s float64
		for _, v := range z {
			s += math.Exp(v - mx)
		}
		c := int(y)
		for j := range z {
			d[j] = math.Exp(z[j]-mx) / s
		}
		d[c]--
		return -(z[c] - mx - math.Log(s)), d
	case Binary:
		p := 1 / (1 + math.Exp(-z[0]))
		w := task.posWeight()
		d[0] = -w*y*(1-p) + (1-y)*p
		return -w*y*math.Log(p) - (1-y)*math.Log(1-p), d
	}
	target := (y - task.Mean) / task.Std
	d[0] = 2 * (z[0] - target)
	return (z[0] - target) * (z[0] - target), d
}

// taskLoss returns task t's mean loss L_t over the given rows of data and
// its gradient with respect to every parameter; NaN and a zero gradient
// when none of the rows has a label for t.
func (m *refModel) taskLoss(t int, data *Dataset, rows []int) (float64, []float64) {
	l, spec := m.lay, m.spec
	grad := make([]float64, l.total)
	var labelled []int
	for _, r := range rows {
		if !math.IsNaN(float64(data.Labels[t][r])) {
			labelled = append(labelled, r)
		}
	}
	if len(labelled) == 0 {
		return math.NaN(), grad
	}
	n := float64(len(labelled))
	var total float64
	k := l.last()
	for _, r := range labelled {
		x := make([]float64, spec.Inputs)
		for j := range x {
			x[j] = float64(data.X[r*spec.Inputs+j])
		}
		hs := m.forward(x)
		top := hs[len(hs)-1]
		g := -1
		if spec.Tasks[t].Groups > 0 {
			g = int(data.Groups[t][r])
		}
		cols, devs := m.headCols(t, g)
		z := make([]float64, len(cols))
		for j := range cols {
			z[j] = m.logit(cols[j], top)
			if devs != nil {
				z[j] += m.logit(devs[j], top)
			}
		}
		loss, dz := m.rowLoss(t, z, float64(data.Labels[t][r]))
		total += loss
		// Back through the heads into dh = ∂ℓ/∂h_L (scaled by 1/n_t).
		dh := make([]float64, k)
		for j, c := range append(append([]int(nil), cols...), devs...) {
			dzc := dz[j%len(cols)] / n
			grad[l.headBias+c] += dzc
			for i := range k {
				grad[l.heads+c*k+i] += dzc * top[i]
				dh[i] += dzc * m.params[l.heads+c*k+i]
			}
		}
		// Back through the shared layers.
		for layer := l.layers() - 1; layer >= 0; layer-- {
			in, out := l.widths[layer], l.widths[layer+1]
			dp := make([]float64, out)
			for j := range out {
				dp[j] = dh[j] * refPhiGrad(hs[layer+1][j], spec.Activation)
				grad[l.biases[layer]+j] += dp[j]
			}
			prev := make([]float64, in)
			for i := range in {
				for j := range out {
					grad[l.weights[layer]+i*out+j] += hs[layer][i] * dp[j]
					prev[i] += m.params[l.weights[layer]+i*out+j] * dp[j]
				}
			}
			dh = prev
		}
	}
	return total / n, grad
}

// sharedIndices returns the indices of the shared layers' parameters (every W_l
// and c_l) in the flat parameter vector.
func (l *layout) sharedIndices() []int {
	var idx []int
	for i := range l.layers() {
		for j := range l.widths[i] * l.widths[i+1] {
			idx = append(idx, l.weights[i]+j)
		}
		for j := range l.widths[i+1] {
			idx = append(idx, l.biases[i]+j)
		}
	}
	return idx
}

// TestReferenceModelGradient checks the reference model's own gradient of
// every task's loss against central differences of its loss, for each
// activation with one and two shared layers and a family. Tolerance:
// 10⁻⁷ absolute or relative (central differences with h = 10⁻⁵ in float64).
func TestReferenceModelGradient(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		hidden []int
		act    backend.Activation
	}{{[]int{4}, backend.Identity}, {[]int{4}, backend.ReLU}, {[]int{4, 3}, backend.Tanh}} {
		spec := gradSpec(c.hidden, c.act)
		rng := rand.New(rand.NewPCG(8, 9))
		data := randomData(spec, 9, rng)
		m0, err := NewModel(spec, data, 5)
		if err != nil {
			t.Fatal(err)
		}
		params := make([]float64, len(m0.Params))
		for i, p := range m0.Params {
			params[i] = float64(p) + 0.3*rng.NormFloat64()
		}
		m := newRefModel(m0.Spec, params)
		rows := []int{0, 1, 2, 3, 4, 5, 6, 7, 8}
		for task := range spec.Tasks {
			_, grad := m.taskLoss(task, data, rows)
			nonzero := 0
			for i := range params {
				const h = 1e-5
				p := params[i]
				params[i] = p + h
				up, _ := m.taskLoss(task, data, rows)
				params[i] = p - h
				down, _ := m.taskLoss(task, data, rows)
				params[i] = p
				fd := (up - down) / (2 * h)
				if math.Abs(grad[i]-fd) > 1e-7*max(1, math.Abs(fd)) {
					t.Fatalf("%v/%s task %d parameter %d: gradient %.10g, finite difference %.10g", c.hidden, c.act, task, i, grad[i], fd)
				}
				if grad[i] != 0 {
					nonzero++
				}
			}
			if nonzero == 0 {
				t.Fatalf("%v/%s task %d: every gradient is zero", c.hidden, c.act, task)
			}
		}
	}
}
