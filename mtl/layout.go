package mtl

import "github.com/mtl-gpu/mtl-gpu/backend"

// layout places every parameter of a model in one flat float32 vector, so
// that the gradient norm, the optimiser state and the optimiser step each
// cover all parameters in one operation:
//
//	[ W₁ … W_L | A | D | c₁ … c_L | b | e ]
//
// W_l is the d_{l−1}×d_l weight matrix of shared layer l and c_l its bias.
// A is the C_main×k matrix of all heads, one row per output (so every head
// is one contiguous row block and Z = H·Aᵀ computes all tasks at once), and
// b their biases. D and e are the per-group deviations of task families,
// C_dev rows, stored right after A and b so that [A; D] and [b; e] are the
// contiguous head matrix and bias of one GEMM over all C = C_main + C_dev
// outputs. The segments differ only in their weight decay: W and A take
// WeightDecay, D and e take GroupDecay scaled to the family's size, biases
// none.
type layout struct {
	widths   []int // d, d₁, …, d_L
	weights  []int // offset of W_l
	biases   []int // offset of c_l
	heads    int   // offset of [A; D]
	headBias int   // offset of [b; e]
	mainCols int   // C_main
	devCols  int   // C_dev
	total    int

	cols    []int // first output column of each task's head
	devCol  []int // first output column of each family's deviations, or -1
	lblCols int   // columns of the label matrix
	lblCol  []int // label column of each task; mask is +1, group +2
}

func newLayout(s Spec) *layout {
	l := &layout{widths: append([]int{s.Inputs}, s.Hidden...)}
	for _, t := range s.Tasks {
		l.cols = append(l.cols, l.mainCols)
		l.mainCols += t.outputs()
		l.lblCol = append(l.lblCol, l.lblCols)
		l.lblCols += 2
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
	off := 0
	for i := 0; i+1 < len(l.widths); i++ {
		l.weights = append(l.weights, off)
		off += l.widths[i] * l.widths[i+1]
	}
	l.heads = off
	off += l.outputs() * l.last()
	for i := 0; i+1 < len(l.widths); i++ {
		l.biases = append(l.biases, off)
		off += l.widths[i+1]
	}
	l.headBias = off
	off += l.outputs()
	l.total = off
	return l
}

// layers is the number of shared layers.
func (l *layout) layers() int { return len(l.widths) - 1 }

// last is the width of the representation the heads read.
func (l *layout) last() int { return l.widths[len(l.widths)-1] }

// outputs is C, the number of logits.
func (l *layout) outputs() int { return l.mainCols + l.devCols }

// segment is a range of the flat parameter vector with one weight decay.
// The deviations of each family are segments of their own (task is the
// family's index), since their shrinkage depends on the family's size.
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
	return out
}

// weight returns W_l (0-based) as a matrix view of params.
func (l *layout) weight(params backend.Buffer, i int) backend.Mat {
	return backend.Dense(params, l.weights[i], l.widths[i], l.widths[i+1])
}

// bias returns c_l (0-based).
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

// lossTasks returns the loss table of the spec's tasks in this layout.
func (l *layout) lossTasks(s Spec) []backend.LossTask {
	out := make([]backend.LossTask, len(s.Tasks))
	for i, t := range s.Tasks {
		lt := backend.LossTask{
			Kind:      t.lossKind(),
			Col:       l.cols[i],
			Classes:   t.outputs(),
			LabelCol:  l.lblCol[i],
			MaskCol:   l.lblCol[i] + 1,
			GroupCol:  -1,
			PosWeight: float32(t.posWeight()),
		}
		if t.Groups > 0 {
			lt.Groups = t.Groups
			lt.DevCol = l.devCol[i]
			lt.GroupCol = l.lblCol[i] + 2
		}
		out[i] = lt
	}
	return out
}
