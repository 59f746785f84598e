package cpu

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas/gonum"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// rowGrain returns how many rows of cols elements each are worth handing
// to another thread.
func rowGrain(cols int) int { return max(1, grain/max(cols, 1)) }

// Mix computes every row's gated mixtures, summing slots in order.
func (b *Backend) Mix(dst, gates, experts backend.Mat, t backend.MixTable) {
	backend.CheckMix("Mix", dst, gates, experts, t)
	dd, ld := mat(dst, "Mix dst")
	gd, lg := mat(gates, "Mix gates")
	xd, lx := mat(experts, "Mix experts")
	w := t.Width
	b.workers.parallel(dst.Rows, rowGrain(dst.Cols*t.Slots()), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g, x, d := gd[i*lg:], xd[i*lx:], dd[i*ld:]
			for q := range t.Groups() {
				out := d[q*w : (q+1)*w]
				clear(out)
				mixAdd(out, g, x, t.Experts, t.Starts[q], t.Starts[q+1], w)
			}
		}
	})
}

// mixAdd adds to out, slot after slot from first to end, each slot's
// gate times its expert's row, e(s)·w onwards in x: each element's sum in
// slot order, as the interface requires.
func mixAdd(out, g, x []float32, experts []int, first, end, w int) {
	for s := first; s < end; s++ {
		axpy(out, g[s], x[experts[s]*w:][:len(out)])
	}
}

// axpy adds a·x to y element by element, each a product rounded then a
// sum rounded, as the plain loop does: gonum's Saxpy, four elements to an
// SSE instruction, for a ≠ 0. Saxpy skips a = 0, which would drop the NaN
// that 0 times an infinite or NaN element gives, so the loop takes it.
func axpy(y []float32, a float32, x []float32) {
	if a != 0 {
		gonum.Implementation{}.Saxpy(len(y), a, x, 1, y, 1)
		return
	}
	x = x[:len(y)]
	for j, v := range x {
		y[j] += a * v
	}
}

// gateDots sets dg[s], for the slots s of [first, end), to the dot product
// of dq with slot s's expert row of x (e(s)·w onwards), each summed in
// increasing order of the column. Four dot products run side by side: a
// single one waits on its own additions.
func gateDots(dg, dq, x []float32, experts []int, first, end, w int) {
	s := first
	for ; s+4 <= end; s += 4 {
		e0 := x[experts[s]*w:][:len(dq)]
		e1 := x[experts[s+1]*w:][:len(dq)]
		e2 := x[experts[s+2]*w:][:len(dq)]
		e3 := x[experts[s+3]*w:][:len(dq)]
		var s0, s1, s2, s3 float32
		for j, v := range dq {
			s0 += v * e0[j]
			s1 += v * e1[j]
			s2 += v * e2[j]
			s3 += v * e3[j]
		}
		dg[s], dg[s+1], dg[s+2], dg[s+3] = s0, s1, s2, s3
	}
	for ; s < end; s++ {
		e := x[experts[s]*w:][:len(dq)]
		var sum float32
		for j, v := range dq {
			sum += v * e[j]
		}
		dg[s] = sum
	}
}

// MixGrad computes the gradients of Mix's inputs.
func (b *Backend) MixGrad(dGates, dExperts, dDst, gates, experts backend.Mat, t backend.MixTable) {
	backend.CheckMix("MixGrad", dDst, gates, experts, t)
	backend.SameShape("MixGrad", dGates, gates)
	backend.SameShape("MixGrad", dExperts, experts)
	dgd, ldg := mat(dGates, "MixGrad dGates")
	dxd, ldx := mat(dExperts, "MixGrad dExperts")
	ddd, ldd := mat(dDst, "MixGrad dDst")
	gd, lg := mat(gates, "MixGrad gates")
	xd, lx := mat(experts, "MixGrad experts")
	w := t.Width
	// The slots that read each expert, in slot order, and each slot's group.
	readers, group := make([][]int, t.NumExperts), make([]int, t.Slots())
	for q := range t.Groups() {
		for s := t.Starts[q]; s < t.Starts[q+1]; s++ {
			readers[t.Experts[s]] = append(readers[t.Experts[s]], s)
			group[s] = q
		}
	}
	b.workers.parallel(dDst.Rows, rowGrain(dDst.Cols*t.Slots()), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dg, dx, dd, g, x := dgd[i*ldg:], dxd[i*ldx:], ddd[i*ldd:], gd[i*lg:], xd[i*lx:]
			clear(dx[:t.NumExperts*w])
			for q := range t.Groups() {
				gateDots(dg, dd[q*w:(q+1)*w], x, t.Experts, t.Starts[q], t.Starts[q+1], w)
			}
			// dExperts in the order of the reference: for each expert,
			// every slot that reads it, in slot order.
			for e, rs := range readers {
				expertGrad(dx[e*w:(e+1)*w], g, dd, rs, group, w)
			}
		}
	})
}

// expertGrad adds to out, for each slot s of slots in order, the gate g[s]
// times the gradient of s's group's mixture (group[s]·w onwards in dd).
func expertGrad(out, g, dd []float32, slots, group []int, w int) {
	for _, s := range slots {
		axpy(out, g[s], dd[group[s]*w:][:len(out)])
	}
}

// SoftmaxGroups normalises each group of every row in place.
func (b *Backend) SoftmaxGroups(m backend.Mat, t backend.MixTable) {
	backend.CheckSoftmaxGroups("SoftmaxGroups", m, nil, t)
	md, ld := mat(m, "SoftmaxGroups")
	b.workers.parallel(m.Rows, rowGrain(m.Cols), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := md[i*ld:]
			for q := range t.Groups() {
				seg := row[t.Starts[q]:t.Starts[q+1]]
				mx := float32(math.Inf(-1))
				for _, v := range seg {
					mx = max(mx, v)
				}
				var sum float32
				for j, v := range seg {
					seg[j] = float32(math.Exp(float64(v - mx)))
					sum += seg[j]
				}
				for j := range seg {
					seg[j] /= sum
				}
			}
		}
	})
}

// SoftmaxGroupsGrad back-propagates through SoftmaxGroups in place.
func (b *Backend) SoftmaxGroupsGrad(grad, probs backend.Mat, t backend.MixTable) {
	backend.CheckSoftmaxGroups("SoftmaxGroupsGrad", grad, &probs, t)
	gd, lg := mat(grad, "SoftmaxGroupsGrad grad")
	pd, lp := mat(probs, "SoftmaxGroupsGrad probs")
	b.workers.parallel(grad.Rows, rowGrain(grad.Cols), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g, p := gd[i*lg:], pd[i*lp:]
			for q := range t.Groups() {
				var dot float32
				for s := t.Starts[q]; s < t.Starts[q+1]; s++ {
					dot += p[s] * g[s]
				}
				for s := t.Starts[q]; s < t.Starts[q+1]; s++ {
					g[s] = p[s] * (g[s] - dot)
				}
			}
		}
	})
}

// SegmentSum adds the listed rows of every segment, in order.
func (b *Backend) SegmentSum(dst, src backend.Mat, starts backend.Buffer, startsOff int, pos backend.Buffer, posOff int) {
	backend.CheckSegmentSum(dst, src, starts, startsOff, pos, posOff)
	st := ibuf(starts, "SegmentSum starts")[startsOff : startsOff+dst.Rows+1]
	ps := ibuf(pos, "SegmentSum pos")[posOff:]
	dd, ld := mat(dst, "SegmentSum dst")
	sd := fbuf(src.Buf, "SegmentSum src")
	cols := dst.Cols
	for u := range dst.Rows {
		if st[u] > st[u+1] || st[u] < 0 || int(st[u+1]) > len(ps) {
			panic(fmt.Sprintf("cpu: SegmentSum: segment %d spans positions [%d, %d) of %d", u, st[u], st[u+1], len(ps)))
		}
	}
	for _, r := range ps[st[0]:st[dst.Rows]] {
		if r < 0 || int(r) >= src.Rows {
			panic(fmt.Sprintf("cpu: SegmentSum: position %d outside %d rows", r, src.Rows))
		}
	}
	b.workers.parallel(dst.Rows, rowGrain(cols*4), func(lo, hi int) {
		for u := lo; u < hi; u++ {
			out := dd[u*ld : u*ld+cols]
			clear(out)
			for _, r := range ps[st[u]:st[u+1]] {
				in := sd[src.Off+int(r)*src.Stride:]
				for j := range out {
					out[j] += in[j]
				}
			}
		}
	})
}

// checkRows panics when a listed row is outside param.
func checkRows(op string, rows []int32, n int) {
	for _, r := range rows {
		if r < 0 || int(r) >= n {
			panic(fmt.Sprintf("cpu: %s: row %d outside %d", op, r, n))
		}
	}
}

// AdamRows applies Adam to the listed rows; they must be distinct.
func (b *Backend) AdamRows(hp backend.Adam, param, grad, m, v backend.Mat, rows backend.Buffer, rowsOff int, clip backend.Clip) {
	backend.CheckRowsStep("AdamRows", param, grad, []backend.Mat{m, v}, rows, rowsOff, clip)
	rs := ibuf(rows, "AdamRows rows")[rowsOff : rowsOff+grad.Rows]
	checkRows("AdamRows", rs, param.Rows)
	p, lp := fbuf(param.Buf, "AdamRows"), param.Stride
	g, lgr := mat(grad, "AdamRows grad")
	md, vd := fbuf(m.Buf, "AdamRows m"), fbuf(v.Buf, "AdamRows v")
	s := clipFactor(clip)
	c1, c2 := hp.Corrections()
	cols := param.Cols
	b.workers.parallel(len(rs), rowGrain(cols), func(lo, hi int) {
		for u := lo; u < hi; u++ {
			r := int(rs[u])
			po, mo, vo := param.Off+r*lp, m.Off+r*m.Stride, v.Off+r*v.Stride
			for j := range cols {
				adamElem(hp, c1, c2, &p[po+j], s*g[u*lgr+j], &md[mo+j], &vd[vo+j])
			}
		}
	})
}

// SGDRows applies SGD to the listed rows; they must be distinct.
func (b *Backend) SGDRows(hp backend.SGD, param, grad, vel backend.Mat, rows backend.Buffer, rowsOff int, clip backend.Clip) {
	var state []backend.Mat
	if hp.Momentum != 0 {
		state = []backend.Mat{vel}
	}
	backend.CheckRowsStep("SGDRows", param, grad, state, rows, rowsOff, clip)
	rs := ibuf(rows, "SGDRows rows")[rowsOff : rowsOff+grad.Rows]
	checkRows("SGDRows", rs, param.Rows)
	p := fbuf(param.Buf, "SGDRows")
	g, lgr := mat(grad, "SGDRows grad")
	var vd []float32
	if hp.Momentum != 0 {
		vd = fbuf(vel.Buf, "SGDRows vel")
	}
	s := clipFactor(clip)
	cols := param.Cols
	b.workers.parallel(len(rs), rowGrain(cols), func(lo, hi int) {
		for u := lo; u < hi; u++ {
			r := int(rs[u])
			po := param.Off + r*param.Stride
			for j := range cols {
				var vj *float32
				if vd != nil {
					vj = &vd[vel.Off+r*vel.Stride+j]
				}
				sgdElem(hp, &p[po+j], s*g[u*lgr+j], vj)
			}
		}
	})
}
