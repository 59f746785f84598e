package mtl

import (
	"slices"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// Architecture names how a model's shared layers are built, so that code
// that writes a model in another format (the ONNX exporter) can say which
// ones it handles.
type Architecture string

// ArchShared is a stack of dense layers that every head reads; it is the
// architecture of every model so far.
const ArchShared Architecture = "shared"

// Architectures lists every architecture a model can have; a new one is
// added here, and code that writes models enumerates them from here.
var Architectures = []Architecture{ArchShared}

// Dense is the parameters of one dense layer, y = x·W + Bias.
type Dense struct {
	// In and Out are the widths of x and y.
	In, Out int
	// W holds the In×Out weights, row-major.
	W []float32
	// Bias holds the Out biases.
	Bias []float32
}

// Parts is a model's parameters by role, copied out of the flat vector,
// for writing the model in another format. The forward pass is
//
//	H_0 = x,  H_l = φ(H_{l−1}·W_l + c_l)   for each of Shared
//	Z   = H_L·Headsᵀ + HeadBias            (C logits per row)
//
// Task t's head reads Z[Col[t] : Col[t]+K_t] (K_t its outputs). A family's
// group g adds Z[DevCol[t]+g·K_t : DevCol[t]+(g+1)·K_t]; a row of a group
// unseen in training uses the shared head alone.
type Parts struct {
	Architecture Architecture
	// Activation is φ, applied after every shared layer.
	Activation backend.Activation
	// Shared lists the shared layers in order.
	Shared []Dense
	// Heads is the C×k matrix of every head output (k the width of H_L),
	// row-major, and HeadBias its C biases.
	Heads    []float32
	HeadBias []float32
	// Col and DevCol give each task's first logit and its family's first
	// deviation logit (−1 for a plain task).
	Col, DevCol []int
}

// Outputs is the number of logits of task t's head: its classes for a
// multiclass task, 1 otherwise.
func (t Task) Outputs() int { return t.outputs() }

// Parts returns the model's parameters by role.
func (m *Model) Parts() Parts {
	l := newLayout(m.Spec)
	p := Parts{
		Architecture: ArchShared,
		Activation:   m.Spec.Activation,
		Col:          slices.Clone(l.cols),
		DevCol:       slices.Clone(l.devCol),
	}
	for i := range l.layers() {
		in, out := l.widths[i], l.widths[i+1]
		p.Shared = append(p.Shared, Dense{
			In: in, Out: out,
			W:    slices.Clone(m.Params[l.weights[i] : l.weights[i]+in*out]),
			Bias: slices.Clone(m.Params[l.biases[i] : l.biases[i]+out]),
		})
	}
	c := l.outputs()
	p.Heads = slices.Clone(m.Params[l.heads : l.heads+c*l.last()])
	p.HeadBias = slices.Clone(m.Params[l.headBias : l.headBias+c])
	return p
}
