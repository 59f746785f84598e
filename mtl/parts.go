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
// for writing the model in another format. The body's input x is a row's
// dense inputs followed by its row of each embedding table, in the order
// of Tables. The forward pass of a shared bottom is
//
//	H_0 = x,  H_l = φ(H_{l−1}·W_l + c_l)   for each of Shared
//	Z   = H_L·Headsᵀ + HeadBias            (C logits per row)
//
// Task t's head reads Z[Col[t] : Col[t]+K_t] (K_t its outputs). A family's
// group g adds Z[DevCol[t]+g·K_t : DevCol[t]+(g+1)·K_t]; a row of a group
// unseen in training uses the shared head alone. A mixture-of-experts body
// (MMoE, PLE) computes, instead of H_L, one representation per task,
// mixture t of the last of Levels, and task t's logits (and deviation
// logits) are its representation times the same rows of Heads, plus the
// same HeadBias.
type Parts struct {
	// Architecture is the model's body: Shared is filled for a shared
	// bottom, Levels for the mixture-of-experts bodies.
	Architecture Arch
	// Embeddings is the number of embedding tables; the body reads the
	// dense inputs and the tables' vectors after them.
	Embeddings int
	// Tables holds the embedding tables in the order of Spec.Embeddings.
	Tables []Table
	// Levels lists a mixture-of-experts body's levels in order (one for
	// MMoE).
	Levels []Level
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

// Table is one embedding table: Rows vectors of Dim values, row-major.
type Table struct {
	Rows, Dim int
	Data      []float32
}

// Level is one level of a mixture-of-experts body:
//
//	H_e = φ(… φ(X_e·W_{e,1} + c_{e,1}) … ·W_{e,h} + c_{e,h})   expert e
//	G_q = softmax(X_q·V_q + g_q)        gate q, over its slots
//	F_q = Σ_s G_q[s]·H_{Experts[s]}     mixture q, slots in order
//
// At the first level X_e and X_q are the body's input; at a later level
// they are the mixture Input of the level below. The mixtures are one per
// task, in the order of the tasks, then, below the last level of PLE, the
// shared one.
type Level struct {
	// Experts lists the experts in order: each task's own, then the
	// shared ones.
	Experts []Expert
	// Gates lists the gates, one per mixture.
	Gates []Gate
}

// Expert is one expert of a level: an MLP with φ after every layer.
type Expert struct {
	// Input is the mixture of the level below the expert reads (unused at
	// the first level).
	Input int
	// Layers are the expert's layers in order.
	Layers []Dense
}

// Gate is one gate of a level: a dense layer with one output per slot,
// then a softmax over the slots.
type Gate struct {
	Dense
	// Input is the mixture of the level below the gate reads (unused at
	// the first level).
	Input int
	// Experts names the expert each slot weights.
	Experts []int
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
	for _, e := range l.embed {
		p.Tables = append(p.Tables, Table{Rows: e.rows, Dim: e.dim, Data: slices.Clone(m.Params[e.off : e.off+e.rows*e.dim])})
	}
	if l.moe != nil {
		p.Levels = l.moe.parts(m.Params)
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

// parts copies every level's experts and gates out of params.
func (m *moeLayout) parts(params []float32) []Level {
	var out []Level
	for l := range m.levels {
		lv := &m.levels[l]
		var level Level
		for e := range lv.numExperts {
			ex := Expert{Input: m.tasks}
			if e < m.tasks*m.taskExperts {
				ex.Input = e / m.taskExperts
			}
			for i, w := range m.widths {
				in, cols := m.layerIn(lv, i), lv.numExperts*w
				d := Dense{In: in, Out: w, W: make([]float32, 0, in*w),
					Bias: slices.Clone(params[lv.biases[i]+e*w : lv.biases[i]+(e+1)*w])}
				for r := range in {
					row := lv.weights[i] + r*cols + e*w
					d.W = append(d.W, params[row:row+w]...)
				}
				ex.Layers = append(ex.Layers, d)
			}
			level.Experts = append(level.Experts, ex)
		}
		slots := lv.slots()
		for q := range lv.groups() {
			first, last := lv.starts[q], lv.starts[q+1]
			g := Gate{Input: q, Experts: slices.Clone(lv.experts[first:last])}
			g.In, g.Out = lv.in, last-first
			g.Bias = slices.Clone(params[lv.gateBias+first : lv.gateBias+last])
			for r := range lv.in {
				row := lv.gates + r*slots
				g.W = append(g.W, params[row+first:row+last]...)
			}
			level.Gates = append(level.Gates, g)
		}
		out = append(out, level)
	}
	return out
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
