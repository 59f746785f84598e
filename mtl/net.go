package mtl

import (
	"github.com/mtl-gpu/mtl-gpu/backend"
)

// net is a model's forward pass on a backend: its parameters and the
// activations of up to rows input rows, all in device memory.
type net struct {
	b      backend.Backend
	spec   Spec
	lay    *layout
	rows   int
	params backend.Buffer
	acts   []backend.Buffer // acts[l] holds layer l+1's output, rows×widths[l+1]
	logits backend.Buffer   // rows×C
	owned  []backend.Buffer
}

// newNet allocates a forward pass for batches of up to rows rows and
// uploads params.
func newNet(b backend.Backend, spec Spec, rows int, params []float32) (*net, error) {
	n := &net{b: b, spec: spec, lay: newLayout(spec), rows: rows}
	var err error
	if n.params, err = n.alloc(len(params)); err != nil {
		return nil, err
	}
	b.WriteFloat32(n.params, 0, params)
	for l := range n.lay.layers() {
		buf, err := n.alloc(rows * n.lay.widths[l+1])
		if err != nil {
			n.free()
			return nil, err
		}
		n.acts = append(n.acts, buf)
	}
	if n.logits, err = n.alloc(rows * n.lay.outputs()); err != nil {
		n.free()
		return nil, err
	}
	return n, nil
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
}

// act returns the output of shared layer l (1-based) for rows rows; layer
// 0 is the input x.
func (n *net) act(x backend.Mat, l, rows int) backend.Mat {
	if l == 0 {
		return x
	}
	return backend.Dense(n.acts[l-1], 0, rows, n.lay.widths[l])
}

// top returns the representation the heads read.
func (n *net) top(x backend.Mat) backend.Mat { return n.act(x, n.lay.layers(), x.Rows) }

// out returns the logits of rows rows.
func (n *net) out(rows int) backend.Mat {
	return backend.Dense(n.logits, 0, rows, n.lay.outputs())
}

// forward computes every layer and the logits of the rows of x:
//
//	H_l = φ(H_{l−1}·W_l + c_l),  H_0 = x
//	Z   = H_L·[A; D]ᵀ + [b; e]
func (n *net) forward(x backend.Mat) {
	rows := x.Rows
	for l := range n.lay.layers() {
		h := n.act(x, l+1, rows)
		n.b.Gemm(false, false, 1, n.act(x, l, rows), n.lay.weight(n.params, l), 0, h)
		n.b.BiasAct(h, n.lay.bias(n.params, l), n.spec.Activation)
	}
	z := n.out(rows)
	n.b.Gemm(false, true, 1, n.top(x), n.lay.headMat(n.params), 0, z)
	n.b.BiasAct(z, n.lay.headBiasVec(n.params), backend.Identity)
}
