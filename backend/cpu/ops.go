package cpu

import (
	"fmt"
	"math"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"gonum.org/v1/gonum/blas"
)

// grain is the least number of elements worth handing to another thread.
const grain = 1 << 14

func transpose(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// Gemm computes c = alpha·op(a)·op(b) + beta·c through the selected BLAS.
func (b *Backend) Gemm(transA, transB bool, alpha float32, a, bm backend.Mat, beta float32, c backend.Mat) {
	m, n, k := backend.GemmDims("Gemm", transA, transB, a, bm, c)
	b.gemm(transA, transB, m, n, k, alpha, a, bm, beta, c)
}

func (b *Backend) gemm(transA, transB bool, m, n, k int, alpha float32, a, bm backend.Mat, beta float32, c backend.Mat) {
	if m == 0 || n == 0 {
		return
	}
	cd, ldc := mat(c, "Gemm c")
	if k == 0 {
		b.scaleMat(cd, ldc, m, n, beta)
		return
	}
	ad, lda := mat(a, "Gemm a")
	bd, ldb := mat(bm, "Gemm b")
	b.blas.Sgemm(transpose(transA), transpose(transB), m, n, k, alpha, ad, lda, bd, ldb, beta, cd, ldc)
}

// scaleMat sets c = beta·c (c = 0 when beta is 0, whatever c held).
func (b *Backend) scaleMat(c []float32, ldc, m, n int, beta float32) {
	for i := range m {
		row := c[i*ldc : i*ldc+n]
		for j := range row {
			if beta == 0 {
				row[j] = 0
			} else {
				row[j] *= beta
			}
		}
	}
}

// GemmStrided runs the batch of GEMMs one after another; each is itself
// parallel.
func (b *Backend) GemmStrided(transA, transB bool, alpha float32, a backend.Mat, strideA int, bm backend.Mat, strideB int, beta float32, c backend.Mat, strideC int, batch int) {
	m, n, k := backend.CheckStrided(transA, transB, a, strideA, bm, strideB, c, strideC, batch)
	for i := range batch {
		ai, bi, ci := a, bm, c
		ai.Off += i * strideA
		bi.Off += i * strideB
		ci.Off += i * strideC
		b.gemm(transA, transB, m, n, k, alpha, ai, bi, beta, ci)
	}
}

// GatherRows copies the indexed rows of src into dst.
func (b *Backend) GatherRows(dst, src backend.Mat, idx backend.Buffer, idxOff int) {
	backend.CheckGather(dst, src, idx, idxOff)
	ix := ibuf(idx, "GatherRows")[idxOff : idxOff+dst.Rows]
	dd, _ := mat(dst, "GatherRows dst")
	sd := fbuf(src.Buf, "GatherRows src")
	cols := dst.Cols
	for _, r := range ix {
		if r < 0 || int(r) >= src.Rows {
			panic(fmt.Sprintf("cpu: GatherRows: index %d outside %d rows", r, src.Rows))
		}
	}
	b.workers.parallel(dst.Rows, max(1, grain/max(cols, 1)), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			s := src.Off + int(ix[i])*src.Stride
			copy(dd[i*dst.Stride:i*dst.Stride+cols], sd[s:s+cols])
		}
	})
}

// BiasAct applies m = φ(m + bias) row by row.
func (b *Backend) BiasAct(m backend.Mat, bias backend.Vec, act backend.Activation) {
	backend.CheckBiasAct(m, bias, act)
	if m.Rows == 0 || m.Cols == 0 {
		return
	}
	md, ld := mat(m, "BiasAct")
	var bv []float32
	if bias.Len > 0 {
		bv = vec(bias, "BiasAct bias")
	}
	cols := m.Cols
	b.workers.parallel(m.Rows, max(1, grain/cols), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := md[i*ld : i*ld+cols]
			if bv != nil {
				for j, v := range bv {
					row[j] += v
				}
			}
			activate(row, act)
		}
	})
}

// positive is all ones when v > 0 and 0 otherwise (NaN included): a mask
// that the compiler turns into a conditional move, where a branch on the
// sign of a layer's outputs, a coin toss for each, is mispredicted half
// the time.
func positive(v float32) uint32 {
	var m uint32
	if v > 0 {
		m = ^uint32(0)
	}
	return m
}

func activate(row []float32, act backend.Activation) {
	switch act {
	case backend.ReLU:
		for j, v := range row {
			row[j] = math.Float32frombits(math.Float32bits(v) & positive(v))
		}
	case backend.Tanh:
		for j, v := range row {
			row[j] = float32(math.Tanh(float64(v)))
		}
	}
}

// ActGrad multiplies grad by φ' computed from the layer output.
func (b *Backend) ActGrad(grad, out backend.Mat, act backend.Activation) {
	backend.CheckActGrad(grad, out, act)
	if act == backend.Identity || grad.Rows == 0 || grad.Cols == 0 {
		return
	}
	gd, gld := mat(grad, "ActGrad grad")
	od, old := mat(out, "ActGrad out")
	cols := grad.Cols
	b.workers.parallel(grad.Rows, max(1, grain/cols), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g := gd[i*gld : i*gld+cols]
			o := od[i*old : i*old+cols]
			if act == backend.ReLU {
				o = o[:len(g)]
				for j, v := range g {
					g[j] = math.Float32frombits(math.Float32bits(v) & positive(o[j]))
				}
			} else {
				for j := range g {
					g[j] *= 1 - o[j]*o[j]
				}
			}
		}
	})
}

// ColSum sums columns over fixed row chunks in float64 and adds the chunk
// sums in order, so the result does not depend on the thread count.
func (b *Backend) ColSum(dst backend.Vec, m backend.Mat, alpha, beta float32) {
	backend.CheckColSum(dst, m)
	dv := vec(dst, "ColSum dst")
	cols := m.Cols
	if cols == 0 {
		return
	}
	nc := chunks(m.Rows)
	part := b.scratch(nc * cols)
	if m.Rows > 0 {
		md, ld := mat(m, "ColSum m")
		b.workers.parallel(nc, max(1, grain/(reduceChunk*cols)), func(lo, hi int) {
			for ch := lo; ch < hi; ch++ {
				p := part[ch*cols : (ch+1)*cols]
				clear(p)
				for i := ch * reduceChunk; i < min((ch+1)*reduceChunk, m.Rows); i++ {
					for j, v := range md[i*ld : i*ld+cols] {
						p[j] += float64(v)
					}
				}
			}
		})
	}
	for j := range dv {
		var s float64
		for ch := range nc {
			s += part[ch*cols+j]
		}
		r := float64(alpha) * s
		if beta != 0 {
			r += float64(beta) * float64(dv[j])
		}
		dv[j] = float32(r)
	}
}

// scratch returns a float64 slice of length n that stays valid until the
// next call.
func (b *Backend) scratch(n int) []float64 {
	if cap(b.partial) < n {
		b.partial = make([]float64, n)
	}
	return b.partial[:n]
}

// Axpy sets y = alpha·x + y.
func (b *Backend) Axpy(y backend.Vec, alpha float32, x backend.Vec) {
	backend.SameLen("Axpy", y, x)
	yd, xd := vec(y, "Axpy y"), vec(x, "Axpy x")
	b.workers.parallel(len(yd), grain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			yd[i] += alpha * xd[i]
		}
	})
}

// Scale sets x = alpha·x.
func (b *Backend) Scale(x backend.Vec, alpha float32) {
	xd := vec(x, "Scale")
	b.workers.parallel(len(xd), grain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xd[i] *= alpha
		}
	})
}

// Fill sets every element of x to v.
func (b *Backend) Fill(x backend.Vec, v float32) {
	xd := vec(x, "Fill")
	b.workers.parallel(len(xd), grain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xd[i] = v
		}
	})
}

// Copy sets dst = src.
func (b *Backend) Copy(dst, src backend.Vec) {
	backend.SameLen("Copy", dst, src)
	copy(vec(dst, "Copy dst"), vec(src, "Copy src"))
}

// SumSquares sets dst[0] = Σ x², summed in float64 over fixed chunks.
func (b *Backend) SumSquares(dst, x backend.Vec) {
	if dst.Len != 1 {
		panic(fmt.Sprintf("cpu: SumSquares: destination of length %d", dst.Len))
	}
	dv, xd := vec(dst, "SumSquares dst"), vec(x, "SumSquares x")
	const chunk = 1 << 12
	nc := (len(xd) + chunk - 1) / chunk
	part := b.scratch(nc)
	b.workers.parallel(nc, 4, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			var s float64
			for _, v := range xd[ch*chunk : min((ch+1)*chunk, len(xd))] {
				s += float64(v) * float64(v)
			}
			part[ch] = s
		}
	})
	var s float64
	for _, p := range part {
		s += p
	}
	dv[0] = float32(s)
}

// clipFactor returns min(1, maxNorm/‖g‖) for a step.
func clipFactor(clip backend.Clip) float32 {
	if clip.MaxNorm == 0 {
		return 1
	}
	n := math.Sqrt(float64(vec(clip.NormSq, "clip")[0]))
	if n > float64(clip.MaxNorm) {
		return float32(float64(clip.MaxNorm) / n)
	}
	return 1
}

// SGDStep applies one step of SGD with momentum.
func (b *Backend) SGDStep(hp backend.SGD, param, grad, vel backend.Vec, clip backend.Clip) {
	backend.CheckSGD(hp, param, grad, vel, clip)
	p, g := vec(param, "SGDStep"), vec(grad, "SGDStep")
	var v []float32
	if hp.Momentum != 0 {
		v = vec(vel, "SGDStep")
	}
	s := clipFactor(clip)
	b.workers.parallel(len(p), grain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			var vi *float32
			if v != nil {
				vi = &v[i]
			}
			sgdElem(hp, &p[i], s*g[i], vi)
		}
	})
}

// sgdElem applies SGD to one parameter p with the clipped gradient g and
// velocity v (nil without momentum).
func sgdElem(hp backend.SGD, p *float32, g float32, v *float32) {
	gi := g + hp.WeightDecay**p
	if v != nil {
		*v = hp.Momentum**v + gi
		if hp.Nesterov {
			gi += hp.Momentum * *v
		} else {
			gi = *v
		}
	}
	*p -= hp.LR * gi
}

// AdamStep applies one Adam (or AdamW) step.
func (b *Backend) AdamStep(hp backend.Adam, param, grad, m, v backend.Vec, clip backend.Clip) {
	backend.CheckAdam(param, grad, m, v, clip)
	p, g := vec(param, "AdamStep"), vec(grad, "AdamStep")
	md, vd := vec(m, "AdamStep"), vec(v, "AdamStep")
	s := clipFactor(clip)
	c1, c2 := hp.Corrections()
	b.workers.parallel(len(p), grain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			adamElem(hp, c1, c2, &p[i], s*g[i], &md[i], &vd[i])
		}
	})
}

// adamElem applies Adam to one parameter p with the clipped gradient g,
// moments m and v and bias corrections c1 and c2.
func adamElem(hp backend.Adam, c1, c2 float32, p *float32, g float32, m, v *float32) {
	if hp.Decoupled {
		*p -= hp.LR * hp.WeightDecay * *p
	} else {
		g += hp.WeightDecay * *p
	}
	*m = hp.Beta1**m + (1-hp.Beta1)*g
	*v = hp.Beta2**v + (1-hp.Beta2)*g*g
	mh := *m * c1
	vh := *v * c2
	*p -= hp.LR * mh / (float32(math.Sqrt(float64(vh))) + hp.Eps)
}
