package mtl

import (
	"github.com/mtl-gpu/mtl-gpu/backend"
)

// The forward and backward passes of the mixture-of-experts bodies (see
// moe_layout.go for the parameters). For each member and level:
//
//	H_i   = φ(H_{i−1}·W_i + c_i)              every expert at once, side by side
//	G     = softmax per group (X·W_g + c_g)   the gates
//	F_q   = Σ_{s ∈ q} G_s · H_{e(s)}          the mixtures (backend.Mix)
//
// where the first level's experts and gates read the body's input, and a
// later level's task experts and gate q read mixture q of the level below.
// Task t's head reads mixture t of the last level.

// levelInput returns the input of mixture group q's experts and gate at
// level l for member m: the body's input at the first level, or mixture q
// of the level below.
func (n *net) levelInput(in input, m, l, q, rows int) backend.Mat {
	if l == 0 {
		x, _ := n.inputOf(in, m)
		return x
	}
	mo := n.lay.moe
	below := &mo.levels[l-1]
	mix := n.block(n.moe.mix[l-1], m, rows, below.groups()*mo.rep)
	return mix.Slice(0, rows, q*mo.rep, (q+1)*mo.rep)
}

// expertCols returns the columns of a level's layer-i outputs (or weights)
// that belong to experts [first, first+count).
func expertCols(x backend.Mat, w, first, count int) backend.Mat {
	return x.Slice(0, x.Rows, first*w, (first+count)*w)
}

// hidden returns member m's outputs of level l's expert layer i.
func (n *net) hidden(m, l, i, rows int) backend.Mat {
	lv := &n.lay.moe.levels[l]
	return n.block(n.moe.hidden[l][i], m, rows, lv.numExperts*n.lay.moe.widths[i])
}

// hiddenPhi returns member m's φ outputs of level l's expert layer i
// before dropout: hidden itself unless the pass dropped units and kept φ
// apart.
func (n *net) hiddenPhi(m, l, i, rows int, d dropout) backend.Mat {
	if d.on() && n.moe.phi != nil {
		lv := &n.lay.moe.levels[l]
		return n.block(n.moe.phi[l][i], m, rows, lv.numExperts*n.lay.moe.widths[i])
	}
	return n.hidden(m, l, i, rows)
}

// site numbers the expert layers of every level for dropout's keys.
func (m *moeLayout) site(level, layer int) int { return level*len(m.widths) + layer }

// expertWeights returns member m's weights of level l's expert layer i,
// in × NE·w_i.
func (n *net) expertWeights(params backend.Buffer, m, l, i int) backend.Mat {
	mo := n.lay.moe
	lv := &mo.levels[l]
	return backend.Dense(params, n.memberOff(m)+lv.weights[i], mo.layerIn(lv, i), lv.numExperts*mo.widths[i])
}

// gateWeights returns member m's gate weights of level l, in × slots.
func (n *net) gateWeights(params backend.Buffer, m, l int) backend.Mat {
	lv := &n.lay.moe.levels[l]
	return backend.Dense(params, n.memberOff(m)+lv.gates, lv.in, lv.slots())
}

// groupSlots returns the gate columns of mixture group q.
func groupSlots(g backend.Mat, lv *moeLevel, q int) backend.Mat {
	return g.Slice(0, g.Rows, lv.starts[q], lv.starts[q+1])
}

// moeForward computes member m's mixtures of every level, with the
// dropout of d after every expert layer.
func (n *net) moeForward(in input, m int, d dropout) {
	b, mo := n.b, n.lay.moe
	rows := in.x.Rows
	for l := range mo.levels {
		lv := &mo.levels[l]
		for i, w := range mo.widths {
			out := n.hiddenPhi(m, l, i, rows, d)
			wts := n.expertWeights(n.params, m, l, i)
			switch {
			case i == 0 && l == 0:
				b.Gemm(false, false, 1, n.levelInput(in, m, 0, 0, rows), wts, 0, out)
			case i == 0:
				for q := range mo.expertGroups() {
					first, count := mo.group(q)
					if count > 0 {
						b.Gemm(false, false, 1, n.levelInput(in, m, l, q, rows), expertCols(wts, w, first, count), 0, expertCols(out, w, first, count))
					}
				}
			default:
				prev, wp := n.hidden(m, l, i-1, rows), mo.widths[i-1]
				b.GemmStrided(false, false, 1, expertCols(prev, wp, 0, 1), wp, expertCols(wts, w, 0, 1), w, 0, expertCols(out, w, 0, 1), w, lv.numExperts)
			}
			b.BiasAct(out, backend.Vec{Buf: n.params, Off: n.memberOff(m) + lv.biases[i], Len: lv.numExperts * w}, n.spec.Activation)
			d.apply(b, n.hidden(m, l, i, rows), out, m, mo.site(l, i))
		}
		gates := n.block(n.moe.gates[l], m, rows, lv.slots())
		gw := n.gateWeights(n.params, m, l)
		if l == 0 {
			b.Gemm(false, false, 1, n.levelInput(in, m, 0, 0, rows), gw, 0, gates)
		} else {
			for q := range lv.groups() {
				b.Gemm(false, false, 1, n.levelInput(in, m, l, q, rows), groupSlots(gw, lv, q), 0, groupSlots(gates, lv, q))
			}
		}
		b.BiasAct(gates, backend.Vec{Buf: n.params, Off: n.memberOff(m) + lv.gateBias, Len: lv.slots()}, backend.Identity)
		b.SoftmaxGroups(gates, n.moe.tables[l])
		last := n.hidden(m, l, len(mo.widths)-1, rows)
		b.Mix(n.block(n.moe.mix[l], m, rows, lv.groups()*mo.rep), gates, last, n.moe.tables[l])
	}
}

// taskRep returns the representation task t's head reads for member m:
// mixture t of the last level.
func (n *net) taskRep(m, t, rows int) backend.Mat {
	mo := n.lay.moe
	last := len(mo.levels) - 1
	mix := n.block(n.moe.mix[last], m, rows, mo.levels[last].groups()*mo.rep)
	return mix.Slice(0, rows, t*mo.rep, (t+1)*mo.rep)
}

// taskHeads returns task t's head rows of [A; D] (its main outputs) and,
// for a family, its deviation rows; member offset included.
func (n *net) taskHeads(params backend.Buffer, m, t int) (main, dev backend.Mat) {
	l, task := n.lay, n.spec.Tasks[t]
	heads := shift(l.headMat(params), n.memberOff(m))
	k := task.outputs()
	main = heads.Slice(l.cols[t], l.cols[t]+k, 0, heads.Cols)
	if task.Groups > 0 {
		dev = heads.Slice(l.devCol[t], l.devCol[t]+task.Groups*k, 0, heads.Cols)
	}
	return main, dev
}

// taskLogits returns task t's main and deviation logit columns of member
// m's logits (or of their gradient, with buf).
func (n *net) taskLogits(z backend.Mat, t int) (main, dev backend.Mat) {
	l, task := n.lay, n.spec.Tasks[t]
	k := task.outputs()
	main = z.Slice(0, z.Rows, l.cols[t], l.cols[t]+k)
	if task.Groups > 0 {
		dev = z.Slice(0, z.Rows, l.devCol[t], l.devCol[t]+task.Groups*k)
	}
	return main, dev
}

// moeHeads computes member m's logits from each task's representation
// (biases are added by forward).
func (n *net) moeHeads(m, rows int) {
	z := n.memberOut(m, rows)
	for t, task := range n.spec.Tasks {
		rep := n.taskRep(m, t, rows)
		main, dev := n.taskHeads(n.params, m, t)
		zm, zd := n.taskLogits(z, t)
		n.b.Gemm(false, true, 1, rep, main, 0, zm)
		if task.Groups > 0 {
			n.b.Gemm(false, true, 1, rep, dev, 0, zd)
		}
	}
}

// moeBackBufs are the gradients of a mixture-of-experts body's
// activations, for one member at a time.
type moeBackBufs struct {
	hidden [][]backend.Buffer // per level and layer, rows × NE·w_i
	gates  []backend.Buffer   // per level, rows × slots
	mix    []backend.Buffer   // per level, rows × groups·k
}

// moeHeadsBackward computes member m's heads' gradients into grads and
// the gradient of each task's representation into the last level's mixture
// gradient.
func (n *net) moeHeadsBackward(m int, dz backend.Mat, grads backend.Buffer, gOff int, bb *moeBackBufs) {
	mo := n.lay.moe
	last := len(mo.levels) - 1
	rows := dz.Rows
	dmix := backend.Dense(bb.mix[last], 0, rows, mo.levels[last].groups()*mo.rep)
	for t, task := range n.spec.Tasks {
		rep := n.taskRep(m, t, rows)
		main, dev := n.taskHeads(n.params, m, t)
		gmain, gdev := n.taskHeads(grads, 0, t)
		gmain, gdev = shift(gmain, gOff), shift(gdev, gOff)
		zm, zd := n.taskLogits(dz, t)
		drep := dmix.Slice(0, rows, t*mo.rep, (t+1)*mo.rep)
		n.b.Gemm(true, false, 1, zm, rep, 0, gmain)
		n.b.Gemm(false, false, 1, zm, main, 0, drep)
		if task.Groups > 0 {
			n.b.Gemm(true, false, 1, zd, rep, 0, gdev)
			n.b.Gemm(false, false, 1, zd, dev, 1, drep)
		}
	}
	if mo.levels[last].groups() > len(n.spec.Tasks) {
		panic("mtl: the last level has a shared mixture")
	}
}

// moeBackward back-propagates member m's mixture gradients (set by
// moeHeadsBackward) through every level into grads (the member's
// gradients start at gOff), and, when dIn is not nil, into the gradient of
// the body's input; d is the forward pass's dropout.
func (n *net) moeBackward(in input, m int, grads backend.Buffer, gOff int, bb *moeBackBufs, dIn *backend.Mat, d dropout) {
	b, mo := n.b, n.lay.moe
	rows := in.x.Rows
	for l := len(mo.levels) - 1; l >= 0; l-- {
		lv := &mo.levels[l]
		k := mo.rep
		dmix := backend.Dense(bb.mix[l], 0, rows, lv.groups()*k)
		gates := n.block(n.moe.gates[l], m, rows, lv.slots())
		dgates := backend.Dense(bb.gates[l], 0, rows, lv.slots())
		h := len(mo.widths) - 1
		dlast := backend.Dense(bb.hidden[l][h], 0, rows, lv.numExperts*k)
		b.MixGrad(dgates, dlast, dmix, gates, n.hidden(m, l, h, rows), n.moe.tables[l])
		b.SoftmaxGroupsGrad(dgates, gates, n.moe.tables[l])
		// Gradients of the level's inputs: the body's input (when wanted)
		// at the first level, the mixtures of the level below otherwise.
		var dInputs func(q int) *backend.Mat
		written := map[int]bool{}
		if l == 0 {
			dInputs = func(int) *backend.Mat { return dIn }
		} else {
			below := &mo.levels[l-1]
			dbelow := backend.Dense(bb.mix[l-1], 0, rows, below.groups()*k)
			dInputs = func(q int) *backend.Mat {
				v := dbelow.Slice(0, rows, q*k, (q+1)*k)
				return &v
			}
		}
		beta := func(q int) float32 {
			if written[q] {
				return 1
			}
			written[q] = true
			return 0
		}
		n.gateBackward(in, m, l, dgates, grads, gOff, dInputs, beta)
		n.expertsBackward(in, m, l, grads, gOff, bb, dInputs, beta, d)
		if l > 0 {
			// A mixture of the level below that nothing at this level reads
			// (the shared one, with no shared experts and no shared gate)
			// has no gradient.
			for q := range mo.levels[l-1].groups() {
				if !written[q] {
					d := dInputs(q)
					for r := range rows {
						b.Fill(backend.Vec{Buf: d.Buf, Off: d.Off + r*d.Stride, Len: k}, 0)
					}
				}
			}
		}
	}
}

// gateBackward computes the gradients of level l's gate parameters from the
// gradient of the gate logits, and adds the gates' share of their inputs'
// gradients.
func (n *net) gateBackward(in input, m, l int, dgates backend.Mat, grads backend.Buffer, gOff int, dInputs func(int) *backend.Mat, beta func(int) float32) {
	b, lv := n.b, &n.lay.moe.levels[l]
	rows := dgates.Rows
	gw := n.gateWeights(n.params, m, l)
	ggw := shift(n.gateWeights(grads, 0, l), gOff)
	b.ColSum(backend.Vec{Buf: grads, Off: gOff + lv.gateBias, Len: lv.slots()}, dgates, 1, 0)
	if l == 0 {
		x := n.levelInput(in, m, 0, 0, rows)
		b.Gemm(true, false, 1, x, dgates, 0, ggw)
		if d := dInputs(0); d != nil {
			b.Gemm(false, true, 1, dgates, gw, beta(0), *d)
		}
		return
	}
	for q := range lv.groups() {
		x := n.levelInput(in, m, l, q, rows)
		dq := groupSlots(dgates, lv, q)
		b.Gemm(true, false, 1, x, dq, 0, groupSlots(ggw, lv, q))
		b.Gemm(false, true, 1, dq, groupSlots(gw, lv, q), beta(q), *dInputs(q))
	}
}

// expertsBackward back-propagates through level l's experts, from the
// gradient of their (dropped) outputs set by MixGrad, and adds the
// experts' share of their inputs' gradients.
func (n *net) expertsBackward(in input, m, l int, grads backend.Buffer, gOff int, bb *moeBackBufs, dInputs func(int) *backend.Mat, beta func(int) float32, drop dropout) {
	b, mo := n.b, n.lay.moe
	lv := &mo.levels[l]
	rows := in.x.Rows
	for i := len(mo.widths) - 1; i >= 0; i-- {
		w := mo.widths[i]
		d := backend.Dense(bb.hidden[l][i], 0, rows, lv.numExperts*w)
		drop.backward(b, d, m, mo.site(l, i))
		b.ActGrad(d, n.hiddenPhi(m, l, i, rows, drop), n.spec.Activation)
		b.ColSum(backend.Vec{Buf: grads, Off: gOff + lv.biases[i], Len: lv.numExperts * w}, d, 1, 0)
		wts := n.expertWeights(n.params, m, l, i)
		gw := shift(n.expertWeights(grads, 0, l, i), gOff)
		if i > 0 {
			wp := mo.widths[i-1]
			prev := n.hidden(m, l, i-1, rows)
			dprev := backend.Dense(bb.hidden[l][i-1], 0, rows, lv.numExperts*wp)
			ne := lv.numExperts
			b.GemmStrided(true, false, 1, expertCols(prev, wp, 0, 1), wp, expertCols(d, w, 0, 1), w, 0, expertCols(gw, w, 0, 1), w, ne)
			b.GemmStrided(false, true, 1, expertCols(d, w, 0, 1), w, expertCols(wts, w, 0, 1), w, 0, expertCols(dprev, wp, 0, 1), wp, ne)
			continue
		}
		if l == 0 {
			x := n.levelInput(in, m, 0, 0, rows)
			b.Gemm(true, false, 1, x, d, 0, gw)
			if dx := dInputs(0); dx != nil {
				b.Gemm(false, true, 1, d, wts, beta(0), *dx)
			}
			continue
		}
		for q := range mo.expertGroups() {
			first, count := mo.group(q)
			if count == 0 {
				continue
			}
			x := n.levelInput(in, m, l, q, rows)
			dq := expertCols(d, w, first, count)
			b.Gemm(true, false, 1, x, dq, 0, expertCols(gw, w, first, count))
			b.Gemm(false, true, 1, dq, expertCols(wts, w, first, count), beta(q), *dInputs(q))
		}
	}
}
