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
// group index is −1. d needs no labels.
func (m *Model) Predict(b backend.Backend, d *Dataset) ([][]float32, error) {
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
	in, err := n.alloc(rows * m.Spec.Inputs)
	if err != nil {
		return nil, err
	}
	out := make([][]float32, len(m.Spec.Tasks))
	for t, task := range m.Spec.Tasks {
		out[t] = make([]float32, d.N*task.outputs())
	}
	c := n.lay.outputs()
	logits := make([]float32, rows*c)
	for lo := 0; lo < d.N; lo += rows {
		r := min(rows, d.N-lo)
		b.WriteFloat32(in, 0, d.X[lo*m.Spec.Inputs:(lo+r)*m.Spec.Inputs])
		n.forward(backend.Dense(in, 0, r, m.Spec.Inputs))
		if err := b.ReadFloat32(logits[:r*c], n.logits, 0); err != nil {
			return nil, err
		}
		for i := range r {
			m.decode(n.lay, logits[i*c:(i+1)*c], d, lo+i, out)
		}
	}
	return out, b.Sync()
}

// decode turns one row of logits into each task's outputs.
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
