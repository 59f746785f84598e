package mtl

import (
	"math"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// predictRows is the number of rows predicted per forward pass.
const predictRows = 4096

// Predict runs the model on the rows of d and returns, per task, n×K class
// probabilities (Multiclass), n probabilities of the positive class
// (Binary) or n values in the target's own units (Regression). A family
// row is predicted by its group's head, or by the shared head when its
// group index is −1. A model of several members predicts the mean of its
// members' probabilities (or values). d needs no labels.
func (m *Model) Predict(b backend.Backend, d *Dataset) ([][]float32, error) {
	members, err := m.PredictMembers(b, d)
	if err != nil {
		return nil, err
	}
	if len(members) == 1 {
		return members[0], nil
	}
	out := members[0]
	for _, mo := range members[1:] {
		for t := range out {
			for i, v := range mo[t] {
				out[t][i] += v
			}
		}
	}
	inv := 1 / float32(len(members))
	for t := range out {
		for i := range out[t] {
			out[t][i] *= inv
		}
	}
	return out, nil
}

// PredictMembers is Predict for each member on its own: the result holds,
// per member, what Predict returns for a model of that member alone.
func (m *Model) PredictMembers(b backend.Backend, d *Dataset) ([][][]float32, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if err := d.validate(m.Spec, false); err != nil {
		return nil, err
	}
	rows := min(max(d.N, 1), predictRows)
	n, err := newNet(b, m.Spec, rows, m.Params)
	if err != nil {
		return nil, err
	}
	defer n.free()
	in, index, err := n.predictBuffers(rows)
	if err != nil {
		return nil, err
	}
	members := m.Spec.members()
	out := make([][][]float32, members)
	for mi := range out {
		out[mi] = make([][]float32, len(m.Spec.Tasks))
		for t, task := range m.Spec.Tasks {
			out[mi][t] = make([]float32, d.N*task.outputs())
		}
	}
	c := n.lay.outputs()
	logits := make([]float32, rows*members*c)
	for lo := 0; lo < d.N; lo += rows {
		r := min(rows, d.N-lo)
		b.WriteFloat32(in, 0, d.X[lo*m.Spec.Inputs:(lo+r)*m.Spec.Inputs])
		for j := range index {
			b.WriteInt32(index[j], 0, d.Index[j][lo:lo+r])
		}
		n.forward(n.rowsInput(backend.Dense(in, 0, r, m.Spec.Inputs), index, 0), dropout{})
		if err := b.ReadFloat32(logits[:r*members*c], n.logits, 0); err != nil {
			return nil, err
		}
		for mi := range members {
			for i := range r {
				row := logits[(i*members+mi)*c : (i*members+mi+1)*c]
				m.decode(n.lay, row, d, lo+i, out[mi])
			}
		}
	}
	return out, b.Sync()
}

// predictBuffers allocates the dense inputs and the table indices of one
// chunk of rows; n frees them.
func (n *net) predictBuffers(rows int) (backend.Buffer, []backend.Buffer, error) {
	in, err := n.alloc(rows * n.spec.Inputs)
	if err != nil {
		return nil, nil, err
	}
	var index []backend.Buffer
	for range n.lay.embed {
		buf, err := n.b.Alloc(backend.Int32, rows)
		if err != nil {
			return nil, nil, err
		}
		n.owned = append(n.owned, buf)
		index = append(index, buf)
	}
	return in, index, nil
}

// decode turns one row of one member's logits into each task's outputs.
func (m *Model) decode(l *layout, z []float32, d *Dataset, row int, out [][]float32) {
	for t, task := range m.Spec.Tasks {
		k := task.outputs()
		logit := func(j int) float64 {
			v := float64(z[l.cols[t]+j])
			if task.Groups > 0 {
				if g := d.Groups[t][row]; g >= 0 {
					v += float64(z[l.devCol[t]+int(g)*k+j])
				}
			}
			return v
		}
		dst := out[t][row*k : (row+1)*k]
		switch task.Type {
		case Multiclass:
			zmax := math.Inf(-1)
			for j := range k {
				zmax = max(zmax, logit(j))
			}
			var s float64
			for j := range k {
				s += math.Exp(logit(j) - zmax)
			}
			for j := range k {
				dst[j] = float32(math.Exp(logit(j)-zmax) / s)
			}
		case Binary:
			dst[0] = float32(1 / (1 + math.Exp(-logit(0))))
		case Regression:
			dst[0] = float32(logit(0)*task.Std + task.Mean)
		}
	}
}
