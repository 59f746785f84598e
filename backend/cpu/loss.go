package cpu

import (
	"math"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// LossGrad evaluates every task's loss and gradient in one pass over the
// rows. The label counts n_t come first (a pass over the mask columns only),
// so each gradient is written once, already scaled by weights[t]/n_t.
func (b *Backend) LossGrad(logits, labels backend.Mat, table backend.LossTable, weights backend.Vec, grad backend.Mat, sums backend.Vec) {
	backend.CheckLossArgs(logits, labels, table, weights, grad, sums)
	tasks := table.Tasks
	nt := len(tasks)
	rows := logits.Rows
	sv := vec(sums, "LossGrad sums")
	wv := vec(weights, "LossGrad weights")
	if rows == 0 {
		clear(sv)
		return
	}
	zd, zld := mat(logits, "LossGrad logits")
	yd, yld := mat(labels, "LossGrad labels")
	gd, gld := mat(grad, "LossGrad grad")

	nc := chunks(rows)
	// part holds, per chunk, the loss and count sums of every task.
	part := b.scratch(nc*2*nt + nt)
	scale := part[nc*2*nt:]
	for t, task := range tasks {
		var n float64
		for i := range rows {
			n += float64(yd[i*yld+task.MaskCol])
		}
		scale[t] = 0
		if n > 0 {
			scale[t] = float64(wv[t]) / n
		}
	}
	cols := logits.Cols
	b.workers.parallel(nc, max(1, grain/(reduceChunk*max(cols, 1))), func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			p := part[ch*2*nt : (ch+1)*2*nt]
			clear(p)
			for i := ch * reduceChunk; i < min((ch+1)*reduceChunk, rows); i++ {
				z := zd[i*zld : i*zld+cols]
				y := yd[i*yld : i*yld+labels.Cols]
				g := gd[i*gld : i*gld+cols]
				clear(g)
				for t := range tasks {
					l, m := rowLoss(&tasks[t], z, y, g, scale[t])
					p[2*t] += l
					p[2*t+1] += m
				}
			}
		}
	})
	for t := range nt {
		var l, n float64
		for ch := range nc {
			l += part[ch*2*nt+2*t]
			n += part[ch*2*nt+2*t+1]
		}
		sv[2*t], sv[2*t+1] = float32(l), float32(n)
	}
}

// rowLoss computes one row's weighted loss m·ℓ and its weight m for one
// task, and writes scale·m·∂ℓ/∂z into the task's gradient columns (which
// the caller has zeroed).
func rowLoss(t *backend.LossTask, z, y, g []float32, scale float64) (loss, weight float64) {
	m := float64(y[t.MaskCol])
	if m == 0 {
		return 0, 0
	}
	k := t.Classes
	dev := -1
	if t.Groups > 0 {
		if gi := int(y[t.GroupCol]); gi >= 0 && gi < t.Groups {
			dev = t.DevCol + gi*k
		}
	}
	logit := func(j int) float64 {
		v := float64(z[t.Col+j])
		if dev >= 0 {
			v += float64(z[dev+j])
		}
		return v
	}
	put := func(j int, d float64) {
		d *= scale * m
		g[t.Col+j] = float32(d)
		if dev >= 0 {
			g[dev+j] = float32(d)
		}
	}
	label := float64(y[t.LabelCol])
	switch t.Kind {
	case backend.Softmax:
		c := int(label)
		if label < 0 || c >= k {
			return 0, 0
		}
		zmax := math.Inf(-1)
		for j := range k {
			zmax = max(zmax, logit(j))
		}
		var s float64
		for j := range k {
			s += math.Exp(logit(j) - zmax)
		}
		for j := range k {
			p := math.Exp(logit(j)-zmax) / s
			if j == c {
				p--
			}
			put(j, p)
		}
		loss = -(logit(c) - zmax - math.Log(s))
	case backend.Sigmoid:
		x := logit(0)
		pw := float64(t.PosWeight)
		loss = pw*label*softplus(-x) + (1-label)*softplus(x)
		put(0, (pw*label+1-label)*sigmoid(x)-pw*label)
	case backend.Squared:
		d := logit(0) - label
		loss = d * d
		put(0, 2*d)
	}
	return m * loss, m
}

// softplus is log(1 + eˣ) without overflow.
func softplus(x float64) float64 { return max(x, 0) + math.Log1p(math.Exp(-math.Abs(x))) }

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}
