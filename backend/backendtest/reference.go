package backendtest

import (
	"fmt"
	"math"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// Reference is a deliberately plain implementation of backend.Backend: it
// stores float32 buffers as float64 and computes every operation with the
// textbook loop in float64, one element at a time. It is slow and exists to
// check the CPU backend, which every other backend is then checked against.
type Reference struct{}

var _ backend.Backend = Reference{}

type refFloats []float64

func (f refFloats) Len() int             { return len(f) }
func (f refFloats) DType() backend.DType { return backend.Float32 }

type refInts []int32

func (i refInts) Len() int             { return len(i) }
func (i refInts) DType() backend.DType { return backend.Int32 }

func rf(b backend.Buffer) refFloats { return b.(refFloats) }

// at returns the index of element (i, j) of m in its buffer.
func at(m backend.Mat, i, j int) int { return m.Off + i*m.Stride + j }

// Info describes the reference.
func (Reference) Info() backend.DeviceInfo {
	return backend.DeviceInfo{Name: "float64 reference", CPU: true}
}

// Close does nothing.
func (Reference) Close() error { return nil }

// Alloc returns a zeroed buffer.
func (Reference) Alloc(dt backend.DType, n int) (backend.Buffer, error) {
	if dt == backend.Int32 {
		return make(refInts, n), nil
	}
	return make(refFloats, n), nil
}

// Upload copies src.
func (Reference) Upload(src []float32) (backend.Buffer, error) {
	f := make(refFloats, len(src))
	for i, v := range src {
		f[i] = float64(v)
	}
	return f, nil
}

// Free does nothing.
func (Reference) Free(backend.Buffer) {}

// WriteFloat32 copies src into dst.
func (Reference) WriteFloat32(dst backend.Buffer, off int, src []float32) {
	d := rf(dst)
	for i, v := range src {
		d[off+i] = float64(v)
	}
}

// WriteInt32 copies src into dst.
func (Reference) WriteInt32(dst backend.Buffer, off int, src []int32) {
	copy(dst.(refInts)[off:], src)
}

// ReadFloat32 rounds the stored values to float32.
func (Reference) ReadFloat32(dst []float32, src backend.Buffer, off int) error {
	s := rf(src)
	if off+len(dst) > len(s) {
		return fmt.Errorf("reference: read past the end")
	}
	for i := range dst {
		dst[i] = float32(s[off+i])
	}
	return nil
}

// ReadInt32 copies int32 values.
func (Reference) ReadInt32(dst []int32, src backend.Buffer, off int) error {
	copy(dst, src.(refInts)[off:])
	return nil
}

// Sync does nothing.
func (Reference) Sync() error { return nil }

// Gemm is the triple loop.
func (r Reference) Gemm(transA, transB bool, alpha float32, a, b backend.Mat, beta float32, c backend.Mat) {
	m, n, k := backend.GemmDims("Gemm", transA, transB, a, b, c)
	ad, bd, cd := rf(a.Buf), rf(b.Buf), rf(c.Buf)
	for i := range m {
		for j := range n {
			var s float64
			for l := range k {
				ai, bi := at(a, i, l), at(b, l, j)
				if transA {
					ai = at(a, l, i)
				}
				if transB {
					bi = at(b, j, l)
				}
				s += ad[ai] * bd[bi]
			}
			v := float64(alpha) * s
			if beta != 0 {
				v += float64(beta) * cd[at(c, i, j)]
			}
			cd[at(c, i, j)] = v
		}
	}
}

// GemmStrided loops over the batch.
func (r Reference) GemmStrided(transA, transB bool, alpha float32, a backend.Mat, strideA int, b backend.Mat, strideB int, beta float32, c backend.Mat, strideC int, batch int) {
	backend.CheckStrided(transA, transB, a, strideA, b, strideB, c, strideC, batch)
	for i := range batch {
		ai, bi, ci := a, b, c
		ai.Off += i * strideA
		bi.Off += i * strideB
		ci.Off += i * strideC
		r.Gemm(transA, transB, alpha, ai, bi, beta, ci)
	}
}

// GatherRows copies rows.
func (Reference) GatherRows(dst, src backend.Mat, idx backend.Buffer, idxOff int) {
	backend.CheckGather(dst, src, idx, idxOff)
	ix := idx.(refInts)
	dd, sd := rf(dst.Buf), rf(src.Buf)
	for i := range dst.Rows {
		for j := range dst.Cols {
			dd[at(dst, i, j)] = sd[at(src, int(ix[idxOff+i]), j)]
		}
	}
}

func refAct(x float64, act backend.Activation) float64 {
	switch act {
	case backend.ReLU:
		return math.Max(x, 0)
	case backend.Tanh:
		return math.Tanh(x)
	}
	return x
}

// BiasAct adds the bias and applies φ.
func (Reference) BiasAct(m backend.Mat, bias backend.Vec, act backend.Activation) {
	backend.CheckBiasAct(m, bias, act)
	md := rf(m.Buf)
	for i := range m.Rows {
		for j := range m.Cols {
			v := md[at(m, i, j)]
			if bias.Len > 0 {
				v += rf(bias.Buf)[bias.Off+j]
			}
			md[at(m, i, j)] = refAct(v, act)
		}
	}
}

// ActGrad multiplies by φ'.
func (Reference) ActGrad(grad, out backend.Mat, act backend.Activation) {
	backend.CheckActGrad(grad, out, act)
	gd, od := rf(grad.Buf), rf(out.Buf)
	for i := range grad.Rows {
		for j := range grad.Cols {
			o := od[at(out, i, j)]
			switch act {
			case backend.ReLU:
				if o <= 0 {
					gd[at(grad, i, j)] = 0
				}
			case backend.Tanh:
				gd[at(grad, i, j)] *= 1 - o*o
			}
		}
	}
}

// Dropout keeps the elements backend.DropoutKeep keeps, times 1/(1−p) as
// the mask's keep rate t/2²⁴ gives it.
func (Reference) Dropout(dst, src backend.Mat, key uint64, row0 int, p float32) {
	backend.CheckDropout(dst, src, row0, p)
	dd, sd := rf(dst.Buf), rf(src.Buf)
	keep := 1 - float64(backend.DropoutThreshold(p))/(1<<24)
	for i := range dst.Rows {
		for j := range dst.Cols {
			v := 0.0
			if backend.DropoutKeep(key, uint32((row0+i)*dst.Cols+j), p) {
				v = sd[at(src, i, j)] / keep
			}
			dd[at(dst, i, j)] = v
		}
	}
}

// ColSum sums each column.
func (Reference) ColSum(dst backend.Vec, m backend.Mat, alpha, beta float32) {
	backend.CheckColSum(dst, m)
	dd, md := rf(dst.Buf), rf(m.Buf)
	for j := range m.Cols {
		var s float64
		for i := range m.Rows {
			s += md[at(m, i, j)]
		}
		v := float64(alpha) * s
		if beta != 0 {
			v += float64(beta) * dd[dst.Off+j]
		}
		dd[dst.Off+j] = v
	}
}

// LossGrad follows the definition: count the labelled rows of each task,
// then write each labelled row's gradient scaled by weight/count.
func (Reference) LossGrad(logits, labels backend.Mat, table backend.LossTable, weights backend.Vec, grad backend.Mat, sums backend.Vec) {
	backend.CheckLossArgs(logits, labels, table, weights, grad, sums)
	zd, yd, gd := rf(logits.Buf), rf(labels.Buf), rf(grad.Buf)
	wd, sd := rf(weights.Buf), rf(sums.Buf)
	for i := range grad.Rows {
		for j := range grad.Cols {
			gd[at(grad, i, j)] = 0
		}
	}
	for t, task := range table.Tasks {
		label := func(i, col int) float64 { return yd[at(labels, i, col)] }
		var n, total float64
		for i := range logits.Rows {
			n += label(i, task.MaskCol)
		}
		for i := range logits.Rows {
			m := label(i, task.MaskCol)
			if m == 0 {
				continue
			}
			cols := make([]int, task.Classes)
			devs := make([]int, 0, task.Classes)
			for j := range cols {
				cols[j] = task.Col + j
			}
			if task.Groups > 0 {
				if g := int(label(i, task.GroupCol)); g >= 0 && g < task.Groups {
					for j := range task.Classes {
						devs = append(devs, task.DevCol+g*task.Classes+j)
					}
				}
			}
			z := make([]float64, task.Classes)
			for j := range z {
				z[j] = zd[at(logits, i, cols[j])]
				if len(devs) > 0 {
					z[j] += zd[at(logits, i, devs[j])]
				}
			}
			y := label(i, task.LabelCol)
			eps := float64(task.Smoothing)
			d := make([]float64, task.Classes)
			var loss float64
			switch task.Kind {
			case backend.Softmax:
				c := int(y)
				if y < 0 || c >= task.Classes {
					continue
				}
				var s float64
				for _, v := range z {
					s += math.Exp(v)
				}
				// The target distribution q, smoothed towards uniform.
				for j := range z {
					q := eps / float64(task.Classes)
					if j == c {
						q += 1 - eps
					}
					d[j] = math.Exp(z[j])/s - q
					loss -= q * math.Log(math.Exp(z[j])/s)
				}
			case backend.Sigmoid:
				y = y*(1-eps) + eps/2
				p := 1 / (1 + math.Exp(-z[0]))
				pw := float64(task.PosWeight)
				loss = -pw*y*math.Log(p) - (1-y)*math.Log(1-p)
				d[0] = -pw*y*(1-p) + (1-y)*p
			case backend.Squared:
				loss = (z[0] - y) * (z[0] - y)
				d[0] = 2 * (z[0] - y)
			}
			total += m * loss
			scale := wd[weights.Off+t] * m / n
			for j := range d {
				gd[at(grad, i, cols[j])] = scale * d[j]
				if len(devs) > 0 {
					gd[at(grad, i, devs[j])] = scale * d[j]
				}
			}
		}
		sd[sums.Off+2*t] = total
		sd[sums.Off+2*t+1] = n
	}
}

// Axpy adds alpha·x to y.
func (Reference) Axpy(y backend.Vec, alpha float32, x backend.Vec) {
	backend.SameLen("Axpy", y, x)
	for i := range y.Len {
		rf(y.Buf)[y.Off+i] += float64(alpha) * rf(x.Buf)[x.Off+i]
	}
}

// Scale multiplies by alpha.
func (Reference) Scale(x backend.Vec, alpha float32) {
	for i := range x.Len {
		rf(x.Buf)[x.Off+i] *= float64(alpha)
	}
}

// Fill sets every element.
func (Reference) Fill(x backend.Vec, v float32) {
	for i := range x.Len {
		rf(x.Buf)[x.Off+i] = float64(v)
	}
}

// Copy copies.
func (Reference) Copy(dst, src backend.Vec) {
	backend.SameLen("Copy", dst, src)
	copy(rf(dst.Buf)[dst.Off:dst.Off+dst.Len], rf(src.Buf)[src.Off:src.Off+src.Len])
}

// SumSquares sums squares.
func (Reference) SumSquares(dst, x backend.Vec) {
	var s float64
	for i := range x.Len {
		v := rf(x.Buf)[x.Off+i]
		s += v * v
	}
	rf(dst.Buf)[dst.Off] = s
}

func refClip(clip backend.Clip) float64 {
	if clip.MaxNorm == 0 {
		return 1
	}
	n := math.Sqrt(rf(clip.NormSq.Buf)[clip.NormSq.Off])
	return math.Min(1, float64(clip.MaxNorm)/n)
}

// SGDStep follows PyTorch's SGD.
func (Reference) SGDStep(hp backend.SGD, param, grad, vel backend.Vec, clip backend.Clip) {
	s := refClip(clip)
	p, g := rf(param.Buf), rf(grad.Buf)
	for i := range param.Len {
		var v *float64
		if hp.Momentum != 0 {
			v = &rf(vel.Buf)[vel.Off+i]
		}
		sgdElem(hp, &p[param.Off+i], s*g[grad.Off+i], v)
	}
}

// sgdElem applies SGD to one parameter p with the scaled gradient g and
// velocity v (nil without momentum).
func sgdElem(hp backend.SGD, p *float64, g float64, v *float64) {
	mu, lr, wd := float64(hp.Momentum), float64(hp.LR), float64(hp.WeightDecay)
	gi := g + wd**p
	if v != nil {
		*v = mu**v + gi
		if hp.Nesterov {
			gi += mu * *v
		} else {
			gi = *v
		}
	}
	*p -= lr * gi
}

func (Reference) AdamStep(hp backend.Adam, param, grad, m, v backend.Vec, clip backend.Clip) {
	s := refClip(clip)
	p, g, md, vd := rf(param.Buf), rf(grad.Buf), rf(m.Buf), rf(v.Buf)
	for i := range param.Len {
		adamElem(hp, &p[param.Off+i], s*g[grad.Off+i], &md[m.Off+i], &vd[v.Off+i])
	}
}

// adamElem applies Adam to one parameter p with the scaled gradient g and
// moments m and v.
func adamElem(hp backend.Adam, p *float64, g float64, m, v *float64) {
	b1, b2, lr, wd := float64(hp.Beta1), float64(hp.Beta2), float64(hp.LR), float64(hp.WeightDecay)
	t := float64(hp.Step)
	if hp.Decoupled {
		*p -= lr * wd * *p
	} else {
		g += wd * *p
	}
	*m = b1**m + (1-b1)*g
	*v = b2**v + (1-b2)*g*g
	mh := *m / (1 - math.Pow(b1, t))
	vh := *v / (1 - math.Pow(b2, t))
	*p -= lr * mh / (math.Sqrt(vh) + float64(hp.Eps))
}

// Values returns a float32 buffer's contents at full float64 precision, so
// that tests (finite-difference gradient checks) can avoid rounding.
func (Reference) Values(b backend.Buffer) []float64 { return append([]float64(nil), rf(b)...) }

// SetValues writes float64 values into a float32 buffer without rounding
// them to float32.
func (Reference) SetValues(b backend.Buffer, off int, v []float64) { copy(rf(b)[off:], v) }
