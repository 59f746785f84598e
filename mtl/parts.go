package mtl

import (
	"slices"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

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
	// Architecture is the model's body. Shared is filled for a shared
	// bottom only: code that writes other bodies must read the layout of
	// its own (see moe_layout.go) or refuse them.
	Architecture Arch
	// Embeddings is the number of embedding tables; Shared reads the
	// dense inputs and the tables' vectors after them.
	Embeddings int
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

// Parts returns the parameters by role of a model of one member (see
// Members).
func (m *Model) Parts() Parts {
	l := newLayout(m.Spec)
	p := Parts{
		Architecture: m.Spec.arch(),
		Embeddings:   len(m.Spec.Embeddings),
		Activation:   m.Spec.Activation,
		Col:          slices.Clone(l.cols),
		DevCol:       slices.Clone(l.devCol),
	}
	if p.Architecture != SharedBottom {
		return p
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

// Members returns each member of the model as a model of its own (the
// model itself when it has one member).
func (m *Model) Members() []*Model {
	n := m.Spec.members()
	if n == 1 {
		return []*Model{m}
	}
	p := len(m.Params) / n
	out := make([]*Model, n)
	for i := range out {
		spec := m.Spec
		spec.Members = 0
		out[i] = &Model{Spec: spec, Params: m.Params[i*p : (i+1)*p]}
	}
	return out
}
