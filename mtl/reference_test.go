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
	// drop, when set, is the factor of dropout on unit j of hidden layer
	// l in batch row r: 0 when dropped, 1/q when kept. The layer's output
	// is h_l = drop ⊙ φ(·).
	drop func(l, r, j int) float64
	// smoothing is the label smoothing ε of classification targets.
	smoothing float64
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

// forward returns the activations h_0 = x, h_1, …, h_L of batch row r
// (after dropout) and the φ outputs before dropout, phis[l] for h_l.
func (m *refModel) forward(x []float64, r int) (hs, phis [][]float64) {
	l := m.lay
	hs, phis = [][]float64{x}, [][]float64{x}
	for i := range l.layers() {
		in, out := l.widths[i], l.widths[i+1]
		h, phi := make([]float64, out), make([]float64, out)
		for j := range out {
			s := m.params[l.biases[i]+j]
			for k := range in {
				s += hs[i][k] * m.params[l.weights[i]+k*out+j]
			}
			phi[j] = refPhi(s, m.spec.Activation)
			h[j] = phi[j] * m.dropFactor(i, r, j)
		}
		hs, phis = append(hs, h), append(phis, phi)
	}
	return hs, phis
}

// dropFactor is drop(l, r, j), or 1 without dropout.
func (m *refModel) dropFactor(l, r, j int) float64 {
	if m.drop == nil {
		return 1
	}
	return m.drop(l, r, j)
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
	eps := m.smoothing
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
		// Cross-entropy with the target (1−ε)·onehot(y) + ε/C.
		c := int(y)
		var loss float64
		for j := range z {
			q := eps / float64(len(z))
			if j == c {
				q += 1 - eps
			}
			d[j] = math.Exp(z[j]-mx)/s - q
			loss -= q * (z[j] - mx - math.Log(s))
		}
		return loss, d
	case Binary:
		y = y*(1-eps) + eps/2
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
		hs, phis := m.forward(x, r)
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
				dp[j] = dh[j] * m.dropFactor(layer, r, j) * refPhiGrad(phis[layer+1][j], spec.Activation)
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

// refDrop is a dropout mask for the reference model: every unit of every
// row and layer dropped at rate 0.3, by its own hash.
func refDrop(l, r, j int) float64 {
	if backend.DropoutKeep(uint64(l)<<32|uint64(r), uint32(j), 0.3) {
		return 1 / 0.7
	}
	return 0
}

// TestReferenceModelGradient checks the reference model's own gradient of
// every task's loss against central differences of its loss, for each
// activation with one and two shared layers and a family, with label
// smoothing and with dropout. Tolerance: 10⁻⁷ absolute or relative
// (central differences with h = 10⁻⁵ in float64).
func TestReferenceModelGradient(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		hidden    []int
		act       backend.Activation
		smoothing float64
		drop      func(l, r, j int) float64
	}{
		{[]int{4}, backend.Identity, 0, nil}, {[]int{4}, backend.ReLU, 0, nil}, {[]int{4, 3}, backend.Tanh, 0, nil},
		{[]int{4}, backend.ReLU, 0.2, nil}, {[]int{4, 3}, backend.Tanh, 0, refDrop}, {[]int{5, 4}, backend.ReLU, 0.1, refDrop},
	} {
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
		m.smoothing, m.drop = c.smoothing, c.drop
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
