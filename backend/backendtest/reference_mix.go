package backendtest

import (
	"math"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// Mix computes every mixture with the textbook loop.
func (Reference) Mix(dst, gates, experts backend.Mat, t backend.MixTable) {
	backend.CheckMix("Mix", dst, gates, experts, t)
	d, g, x := rf(dst.Buf), rf(gates.Buf), rf(experts.Buf)
	w := t.Width
	for i := range dst.Rows {
		for q := range t.Groups() {
			for j := range w {
				var s float64
				for slot := t.Starts[q]; slot < t.Starts[q+1]; slot++ {
					s += g[at(gates, i, slot)] * x[at(experts, i, t.Experts[slot]*w+j)]
				}
				d[at(dst, i, q*w+j)] = s
			}
		}
	}
}

// MixGrad computes the gradients of Mix's inputs.
func (Reference) MixGrad(dGates, dExperts, dDst, gates, experts backend.Mat, t backend.MixTable) {
	backend.CheckMix("MixGrad", dDst, gates, experts, t)
	backend.SameShape("MixGrad", dGates, gates)
	backend.SameShape("MixGrad", dExperts, experts)
	dg, dx, dd, g, x := rf(dGates.Buf), rf(dExperts.Buf), rf(dDst.Buf), rf(gates.Buf), rf(experts.Buf)
	w := t.Width
	for i := range dDst.Rows {
		for q := range t.Groups() {
			for slot := t.Starts[q]; slot < t.Starts[q+1]; slot++ {
				var s float64
				for j := range w {
					s += dd[at(dDst, i, q*w+j)] * x[at(experts, i, t.Experts[slot]*w+j)]
				}
				dg[at(dGates, i, slot)] = s
			}
		}
		for e := range t.NumExperts {
			for j := range w {
				var s float64
				for q := range t.Groups() {
					for slot := t.Starts[q]; slot < t.Starts[q+1]; slot++ {
						if t.Experts[slot] == e {
							s += g[at(gates, i, slot)] * dd[at(dDst, i, q*w+j)]
						}
					}
				}
				dx[at(dExperts, i, e*w+j)] = s
			}
		}
	}
}

// SoftmaxGroups normalises each group of every row.
func (Reference) SoftmaxGroups(m backend.Mat, t backend.MixTable) {
	backend.CheckSoftmaxGroups("SoftmaxGroups", m, nil, t)
	d := rf(m.Buf)
	for i := range m.Rows {
		for q := range t.Groups() {
			mx := math.Inf(-1)
			for s := t.Starts[q]; s < t.Starts[q+1]; s++ {
				mx = max(mx, d[at(m, i, s)])
			}
			var sum float64
			for s := t.Starts[q]; s < t.Starts[q+1]; s++ {
				sum += math.Exp(d[at(m, i, s)] - mx)
			}
			for s := t.Starts[q]; s < t.Starts[q+1]; s++ {
				d[at(m, i, s)] = math.Exp(d[at(m, i, s)]-mx) / sum
			}
		}
	}
}

// SoftmaxGroupsGrad back-propagates through SoftmaxGroups.
func (Reference) SoftmaxGroupsGrad(grad, probs backend.Mat, t backend.MixTable) {
	backend.CheckSoftmaxGroups("SoftmaxGroupsGrad", grad, &probs, t)
	g, p := rf(grad.Buf), rf(probs.Buf)
	for i := range grad.Rows {
		for q := range t.Groups() {
			var dot float64
			for s := t.Starts[q]; s < t.Starts[q+1]; s++ {
				dot += p[at(probs, i, s)] * g[at(grad, i, s)]
			}
			for s := t.Starts[q]; s < t.Starts[q+1]; s++ {
				g[at(grad, i, s)] = p[at(probs, i, s)] * (g[at(grad, i, s)] - dot)
			}
		}
	}
}

// SegmentSum adds the listed rows of every segment in order.
func (Reference) SegmentSum(dst, src backend.Mat, starts backend.Buffer, startsOff int, pos backend.Buffer, posOff int) {
	backend.CheckSegmentSum(dst, src, starts, startsOff, pos, posOff)
	st, ps := starts.(refInts), pos.(refInts)
	d, s := rf(dst.Buf), rf(src.Buf)
	for u := range dst.Rows {
		for j := range dst.Cols {
			var sum float64
			for k := st[startsOff+u]; k < st[startsOff+u+1]; k++ {
				sum += s[at(src, int(ps[posOff+int(k)]), j)]
			}
			d[at(dst, u, j)] = sum
		}
	}
}

// AdamRows applies Adam to the listed rows.
func (Reference) AdamRows(hp backend.Adam, param, grad, m, v backend.Mat, rows backend.Buffer, rowsOff int, clip backend.Clip) {
	backend.CheckRowsStep("AdamRows", param, grad, []backend.Mat{m, v}, rows, rowsOff, clip)
	s := refClip(clip)
	p, g, md, vd, r := rf(param.Buf), rf(grad.Buf), rf(m.Buf), rf(v.Buf), rows.(refInts)
	for u := range grad.Rows {
		row := int(r[rowsOff+u])
		for j := range param.Cols {
			adamElem(hp, &p[at(param, row, j)], s*g[at(grad, u, j)], &md[at(m, row, j)], &vd[at(v, row, j)])
		}
	}
}

// SGDRows applies SGD to the listed rows.
func (Reference) SGDRows(hp backend.SGD, param, grad, vel backend.Mat, rows backend.Buffer, rowsOff int, clip backend.Clip) {
	var state []backend.Mat
	if hp.Momentum != 0 {
		state = []backend.Mat{vel}
	}
	backend.CheckRowsStep("SGDRows", param, grad, state, rows, rowsOff, clip)
	s := refClip(clip)
	p, g, r := rf(param.Buf), rf(grad.Buf), rows.(refInts)
	for u := range grad.Rows {
		row := int(r[rowsOff+u])
		for j := range param.Cols {
			var v *float64
			if hp.Momentum != 0 {
				v = &rf(vel.Buf)[at(vel, row, j)]
			}
			sgdElem(hp, &p[at(param, row, j)], s*g[at(grad, u, j)], v)
		}
	}
}
