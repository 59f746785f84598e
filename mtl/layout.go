package mtl

import "github.com/mtl-gpu/mtl-gpu/backend"

// layout places every parameter of one member of a model in one flat
// float32 vector, so that the gradient norm, the optimiser state and the
// optimiser step each cover all parameters in a few operations. For the
// shared-bottom body it is
//
//	[ W₁ … W_L | A | D | c₁ … c_L | b | e | tables ]
//
// W_l is the d_{l−1}×d_l weight matrix of shared layer l and c_l its bias.
// A is the C_main×k matrix of all heads, one row per output (so every head
// is one contiguous row block and Z = H·Aᵀ computes all tasks at once), and
// b their biases. D and e are the per-group deviations of task families,
// C_dev rows, stored right after A and b so that [A; D] and [b; e] are the
// contiguous head matrix and bias of one GEMM over all C = C_main + C_dev
// outputs. The embedding tables come last, one rows×dim block each.
//
// The mixture-of-experts bodies (MMoE, PLE) put their expert and gate
// weights where W₁ … W_L are and their biases where c₁ … c_L are (see
// moe.go). The segments differ in their weight decay and update: weights
// take WeightDecay, deviations GroupDecay scaled to the family's size,
// biases none, and the tables are updated row by row (sparse).
//
// A model of several members stores one such vector per member, member
// after member.
type layout struct {
	members int
	dense   int          // dense inputs
	in      int          // width of the body's input: dense inputs and embeddings
	embed   []embedTable // the embedding tables

	widths  []int // shared bottom: d, d₁, …, d_L
	weights []int // offset of W_l
	biases  []int // offset of c_l
	moe     *moeLayout

	rep      int // width k of the representation the heads read
	heads    int // offset of [A; D]
	headBias int // offset of [b; e]
	mainCols int // C_main
	devCols  int // C_dev
	tables   int // offset of the first embedding table
	total    int

	cols    []int // first output column of each task's head
	devCol  []int // first output column of each family's deviations, or -1
	lblCols int   // columns of the label matrix
	lblCol  []int // label column of each task, then a mask per member, then the group
}

// embedTable is where an embedding table lives: its parameters and its
// columns in the body's input.
type embedTable struct {
	off, rows, dim int
	col            int
}

func newLayout(s Spec) *layout {
	l := &layout{members: s.members(), dense: s.Inputs, in: s.InputWidth()}
	for _, t := range s.Tasks {
		l.cols = append(l.cols, l.mainCols)
		l.mainCols += t.outputs()
		l.lblCol = append(l.lblCol, l.lblCols)
		l.lblCols += 1 + l.members
		if t.Groups > 0 {
			l.lblCols++
		}
	}
	for _, t := range s.Tasks {
		if t.Groups > 0 {
			l.devCol = append(l.devCol, l.mainCols+l.devCols)
			l.devCols += t.Groups * t.outputs()
		} else {
			l.devCol = append(l.devCol, -1)
		}
	}
	var off int
	if s.arch() == SharedBottom {
		off = l.sharedWeights(s)
	} else {
		l.moe = newMoeLayout(s, l.in)
		off = l.moe.placeWeights(0)
		l.rep = l.moe.rep
	}
	l.heads = off
	off += l.outputs() * l.rep
	if l.moe == nil {
		for i := 0; i+1 < len(l.widths); i++ {
			l.biases = append(l.biases, off)
			off += l.widths[i+1]
		}
	} else {
		off = l.moe.placeBiases(off)
	}
	l.headBias = off
	off += l.outputs()
	l.tables = off
	col := l.dense
	for _, e := range s.Embeddings {
		l.embed = append(l.embed, embedTable{off: off, rows: e.Rows, dim: e.Dim, col: col})
		off += e.Rows * e.Dim
		col += e.Dim
	}
	l.total = off
	return l
}

// sharedWeights places the shared bottom's weights from offset 0 and
// returns the offset after them.
func (l *layout) sharedWeights(s Spec) int {
	l.widths = append([]int{l.in}, s.Hidden...)
	off := 0
	for i := 0; i+1 < len(l.widths); i++ {
		l.weights = append(l.weights, off)
		off += l.widths[i] * l.widths[i+1]
	}
	l.rep = l.widths[len(l.widths)-1]
	return off
}

// layers is the number of shared layers of a shared bottom (0 for the
// other bodies).
func (l *layout) layers() int { return max(len(l.widths)-1, 0) }

// last is the width of the representation the heads read.
func (l *layout) last() int { return l.rep }

// outputs is C, the number of logits of one member.
func (l *layout) outputs() int { return l.mainCols + l.devCols }

// maskCol is the label-matrix column that marks task t's label as one
// member m trains (or validates) on.
func (l *layout) maskCol(t, m int) int { return l.lblCol[t] + 1 + m }

// groupCol is the label-matrix column of task t's group index.
func (l *layout) groupCol(t int) int { return l.lblCol[t] + 1 + l.members }

// segment is a range of the flat parameter vector with one weight decay.
// The deviations of each family are segments of their own (task is the
// family's index), since their shrinkage depends on the family's size;
// each embedding table is one (task is the table's index).
type segment struct {
	off, n int
	kind   segKind
	task   int
	bias   bool
}

type segKind int

const (
	segWeights segKind = iota
	segDeviations
	segBiases
	segTable
)

// segments returns the non-empty ranges in order.
func (l *layout) segments(s Spec) []segment {
	k := l.last()
	var out []segment
	add := func(seg segment) {
		if seg.n > 0 {
			out = append(out, seg)
		}
	}
	add(segment{0, l.heads + l.mainCols*k, segWeights, -1, false})
	for t, task := range s.Tasks {
		if task.Groups > 0 {
			add(segment{l.heads + l.devCol[t]*k, task.Groups * task.outputs() * k, segDeviations, t, false})
		}
	}
	add(segment{l.heads + l.outputs()*k, l.headBias + l.mainCols - (l.heads + l.outputs()*k), segBiases, -1, true})
	for t, task := range s.Tasks {
		if task.Groups > 0 {
			add(segment{l.headBias + l.devCol[t], task.Groups * task.outputs(), segDeviations, t, true})
		}
	}
	for j, e := range l.embed {
		add(segment{e.off, e.rows * e.dim, segTable, j, false})
	}
	return out
}

// dense is the length of the part of a member's vector that the dense
// optimiser step updates: everything before the embedding tables.
func (l *layout) denseLen() int { return l.tables }

// weight returns W_l (0-based) of a shared bottom as a matrix view of
// params.
func (l *layout) weight(params backend.Buffer, i int) backend.Mat {
	return backend.Dense(params, l.weights[i], l.widths[i], l.widths[i+1])
}

// bias returns c_l (0-based) of a shared bottom.
func (l *layout) bias(params backend.Buffer, i int) backend.Vec {
	return backend.Vec{Buf: params, Off: l.biases[i], Len: l.widths[i+1]}
}

// headMat returns [A; D], C×k.
func (l *layout) headMat(params backend.Buffer) backend.Mat {
	return backend.Dense(params, l.heads, l.outputs(), l.last())
}

// headBiasVec returns [b; e].
func (l *layout) headBiasVec(params backend.Buffer) backend.Vec {
	return backend.Vec{Buf: params, Off: l.headBias, Len: l.outputs()}
}

// table returns embedding table j as a rows×dim matrix view.
func (l *layout) table(params backend.Buffer, j int) backend.Mat {
	e := l.embed[j]
	return backend.Dense(params, e.off, e.rows, e.dim)
}

// lossTasks returns the loss table of the spec's tasks for every member:
// member m's logits are columns [m·C, (m+1)·C) of a batch's logits, and
// its tasks read their labels with the member's own masks; classification
// targets are smoothed by smoothing.
func (l *layout) lossTasks(s Spec, smoothing float32) []backend.LossTask {
	c := l.outputs()
	out := make([]backend.LossTask, 0, l.members*len(s.Tasks))
	for m := range l.members {
		for i, t := range s.Tasks {
			lt := backend.LossTask{
				Kind:      t.lossKind(),
				Col:       m*c + l.cols[i],
				Classes:   t.outputs(),
				LabelCol:  l.lblCol[i],
				MaskCol:   l.maskCol(i, m),
				GroupCol:  -1,
				PosWeight: float32(t.posWeight()),
			}
			if t.Type != Regression {
				lt.Smoothing = smoothing
			}
			if t.Groups > 0 {
				lt.Groups = t.Groups
				lt.DevCol = m*c + l.devCol[i]
				lt.GroupCol = l.groupCol(i)
			}
			out = append(out, lt)
		}
	}
	return out
}
