package mtl

import (
	"github.com/mtl-gpu/mtl-gpu/backend"
)

// net is a model's forward pass on a backend: the parameters of every
// member and the activations of up to rows input rows, all in device
// memory. A member's activations follow the previous member's (member m's
// block of a buffer starts at m·rows·width); its logits are the columns
// [m·C, (m+1)·C) of one rows × M·C matrix, so that one loss evaluation
// covers every member.
type net struct {
	b       backend.Backend
	spec    Spec
	lay     *layout
	rows    int
	members int
	params  backend.Buffer // members × layout.total
	in      backend.Buffer // members × rows × in, when there are embeddings
	arange  backend.Buffer // 0, 1, …, rows−1 (int32), to copy rows with GatherRows
	acts    []backend.Buffer
	// phi holds the shared layers' φ outputs apart from their dropped
	// outputs in acts, when dropout keeps them (see dropout.go).
	phi    []backend.Buffer
	moe    *moeBufs
	logits backend.Buffer // rows × members·C
	owned  []backend.Buffer
}

// moeBufs are the activations of a mixture-of-experts body: per level, each
// expert layer's outputs (rows × NE·w_i, experts side by side), the gates
// (rows × slots, after the softmax) and the mixtures (rows × groups·k);
// and the expert layers' φ outputs apart from their dropped outputs, when
// dropout keeps them.
type moeBufs struct {
	hidden [][]backend.Buffer
	phi    [][]backend.Buffer
	gates  []backend.Buffer
	mix    []backend.Buffer
	tables []backend.MixTable
}

// newNet allocates a forward pass for batches of up to rows rows and
// uploads params (one vector per member).
func newNet(b backend.Backend, spec Spec, rows int, params []float32) (*net, error) {
	n := &net{b: b, spec: spec, lay: newLayout(spec), rows: rows, members: spec.members()}
	if err := n.allocate(params); err != nil {
		n.free()
		return nil, err
	}
	return n, nil
}

func (n *net) allocate(params []float32) error {
	l, M, rows := n.lay, n.members, n.rows
	var err error
	if n.params, err = n.alloc(len(params)); err != nil {
		return err
	}
	n.b.WriteFloat32(n.params, 0, params)
	if len(l.embed) > 0 {
		if n.in, err = n.alloc(M * rows * l.in); err != nil {
			return err
		}
		if n.arange, err = n.b.Alloc(backend.Int32, rows); err != nil {
			return err
		}
		n.owned = append(n.owned, n.arange)
		seq := make([]int32, rows)
		for i := range seq {
			seq[i] = int32(i)
		}
		n.b.WriteInt32(n.arange, 0, seq)
	}
	for i := range l.layers() {
		buf, err := n.alloc(M * rows * l.widths[i+1])
		if err != nil {
			return err
		}
		n.acts = append(n.acts, buf)
	}
	if l.moe != nil {
		if err := n.allocMoe(); err != nil {
			return err
		}
	}
	n.logits, err = n.alloc(rows * M * l.outputs())
	return err
}

func (n *net) allocMoe() error {
	m, M, rows := n.lay.moe, n.members, n.rows
	n.moe = &moeBufs{}
	for _, lv := range m.levels {
		var hid []backend.Buffer
		for _, w := range m.widths {
			buf, err := n.alloc(M * rows * lv.numExperts * w)
			if err != nil {
				return err
			}
			hid = append(hid, buf)
		}
		gates, err := n.alloc(M * rows * lv.slots())
		if err != nil {
			return err
		}
		mix, err := n.alloc(M * rows * lv.groups() * m.rep)
		if err != nil {
			return err
		}
		t, err := backend.NewMixTable(n.b, lv.starts, lv.experts, lv.numExperts, m.rep)
		if err != nil {
			return err
		}
		n.moe.hidden = append(n.moe.hidden, hid)
		n.moe.gates = append(n.moe.gates, gates)
		n.moe.mix = append(n.moe.mix, mix)
		n.moe.tables = append(n.moe.tables, t)
	}
	return nil
}

// keepPhi allocates buffers for the hidden layers' φ outputs, for a
// trainer whose dropout keeps them apart from the dropped outputs.
func (n *net) keepPhi() error {
	M, rows := n.members, n.rows
	for i := range n.lay.layers() {
		buf, err := n.alloc(M * rows * n.lay.widths[i+1])
		if err != nil {
			return err
		}
		n.phi = append(n.phi, buf)
	}
	if mo := n.lay.moe; mo != nil {
		for _, lv := range mo.levels {
			var bufs []backend.Buffer
			for _, w := range mo.widths {
				buf, err := n.alloc(M * rows * lv.numExperts * w)
				if err != nil {
					return err
				}
				bufs = append(bufs, buf)
			}
			n.moe.phi = append(n.moe.phi, bufs)
		}
	}
	return nil
}

// alloc allocates a float32 buffer that free releases.
func (n *net) alloc(size int) (backend.Buffer, error) {
	buf, err := n.b.Alloc(backend.Float32, max(size, 1))
	if err != nil {
		return nil, err
	}
	n.owned = append(n.owned, buf)
	return buf, nil
}

func (n *net) free() {
	for _, b := range n.owned {
		n.b.Free(b)
	}
	n.owned = nil
	if n.moe != nil {
		for _, t := range n.moe.tables {
			t.Free(n.b)
		}
		n.moe = nil
	}
}

// shift moves a view by off elements.
func shift(m backend.Mat, off int) backend.Mat {
	m.Off += off
	return m
}

// shiftVec moves a vector by off elements.
func shiftVec(v backend.Vec, off int) backend.Vec {
	v.Off += off
	return v
}

// memberOff is the offset of member m's parameters.
func (n *net) memberOff(m int) int { return m * n.lay.total }

// block returns member m's rows×cols block of a member-major activation
// buffer.
func (n *net) block(buf backend.Buffer, m, rows, cols int) backend.Mat {
	return backend.Dense(buf, m*n.rows*cols, rows, cols)
}

// input is the body's input of a batch: the dense inputs, shared by every
// member, or each member's row of dense inputs and embeddings.
type input struct {
	x backend.Mat // rows × dense inputs
	// embedded is set when the rows were completed with the members'
	// embeddings in n.in.
	embedded bool
}

// inputOf returns member m's input of rows rows and the stride between
// members' inputs (0 when they share one).
func (n *net) inputOf(in input, m int) (backend.Mat, int) {
	if !in.embedded {
		return in.x, 0
	}
	return n.block(n.in, m, in.x.Rows, n.lay.in), n.rows * n.lay.in
}

// act returns member 0's output of shared layer l (1-based) for rows rows
// and the stride to the next member's; layer 0 is the input.
func (n *net) act(in input, l, rows int) (backend.Mat, int) {
	if l == 0 {
		return n.inputOf(in, 0)
	}
	w := n.lay.widths[l]
	return backend.Dense(n.acts[l-1], 0, rows, w), n.rows * w
}

// actPhi returns member 0's φ output of shared layer l (1-based) before
// dropout, and the stride to the next member's: the layer's output itself
// unless the pass dropped units and kept φ apart.
func (n *net) actPhi(in input, l, rows int, d dropout) (backend.Mat, int) {
	if d.on() && n.phi != nil {
		w := n.lay.widths[l]
		return backend.Dense(n.phi[l-1], 0, rows, w), n.rows * w
	}
	return n.act(in, l, rows)
}

// out returns the logits of rows rows, every member's side by side.
func (n *net) out(rows int) backend.Mat {
	return backend.Dense(n.logits, 0, rows, n.members*n.lay.outputs())
}

// memberOut returns member m's logits.
func (n *net) memberOut(m, rows int) backend.Mat {
	c := n.lay.outputs()
	return backend.Mat{Buf: n.logits, Off: m * c, Rows: rows, Cols: c, Stride: n.members * c}
}

// gemm runs c_m = α·op(a_m)·op(b_m) + β·c_m for every member m, the
// operands of member m moved by m times their stride: one GEMM for a single
// member, one strided-batched GEMM for several.
func (n *net) gemm(transA, transB bool, a backend.Mat, sa int, b backend.Mat, sb int, beta float32, c backend.Mat, sc int) {
	if n.members == 1 {
		n.b.Gemm(transA, transB, 1, a, b, beta, c)
		return
	}
	n.b.GemmStrided(transA, transB, 1, a, sa, b, sb, beta, c, sc, n.members)
}

// forward computes every member's logits for the rows of in (see
// embed.go for how in is made):
//
//	H_l = φ(H_{l−1}·W_l + c_l),  H_0 = the input
//	Z   = H_L·[A; D]ᵀ + [b; e]
//
// for a shared bottom, and the mixtures of moe.go for the other bodies,
// with the dropout of d after every hidden layer (see dropout.go).
func (n *net) forward(in input, d dropout) {
	rows := in.x.Rows
	if n.lay.moe != nil {
		for m := range n.members {
			n.moeForward(in, m, d)
			n.moeHeads(m, rows)
		}
	} else {
		n.sharedForward(in, rows, d)
	}
	p := n.lay.total
	for m := range n.members {
		n.b.BiasAct(n.memberOut(m, rows), shiftVec(n.lay.headBiasVec(n.params), m*p), backend.Identity)
	}
}

// sharedForward runs the shared layers and the heads of every member.
func (n *net) sharedForward(in input, rows int, d dropout) {
	l, p := n.lay, n.lay.total
	for i := range l.layers() {
		a, sa := n.act(in, i, rows)
		h, sh := n.act(in, i+1, rows)
		phi, _ := n.actPhi(in, i+1, rows, d)
		n.gemm(false, false, a, sa, l.weight(n.params, i), p, 0, phi, sh)
		for m := range n.members {
			n.b.BiasAct(shift(phi, m*sh), shiftVec(l.bias(n.params, i), m*p), n.spec.Activation)
			d.apply(n.b, shift(h, m*sh), shift(phi, m*sh), m, i)
		}
	}
	top, st := n.act(in, l.layers(), rows)
	n.gemm(false, true, top, st, l.headMat(n.params), p, 0, n.memberOut(0, rows), l.outputs())
}
