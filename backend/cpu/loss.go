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
	maxK := 1
	for _, t := range tasks {
		maxK = max(maxK, t.Classes)
	}
	if len(b.lossTmp) < nc*maxK {
		b.lossTmp = make([]float64, nc*maxK)
	}
	b.workers.parallel(nc, max(1, grain/(reduceChunk*max(cols, 1))), func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			p := part[ch*2*nt : (ch+1)*2*nt]
			tmp := b.lossTmp[ch*maxK : (ch+1)*maxK]
			clear(p)
			for i := ch * reduceChunk; i < min((ch+1)*reduceChunk, rows); i++ {
				z := zd[i*zld : i*zld+cols]
				y := yd[i*yld : i*yld+labels.Cols]
				g := gd[i*gld : i*gld+cols]
				clear(g)
				for t := range tasks {
					l, m := rowLoss(&tasks[t], z, y, g, scale[t], tmp)
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
// the caller has zeroed). tmp holds at least Classes values.
func rowLoss(t *backend.LossTask, z, y, g []float32, scale float64, tmp []float64) (loss, weight float64) {
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
	// The task's effective logits: its own, plus its group's deviations.
	zs := tmp[:k]
	for j, v := range z[t.Col : t.Col+k] {
		zs[j] = float64(v)
	}
	if dev >= 0 {
		for j, v := range z[dev : dev+k] {
			zs[j] += float64(v)
		}
	}
	label := float64(y[t.LabelCol])
	s := scale * m
	var d float64 // the gradient of a one-output task
	switch t.Kind {
	case backend.Softmax:
		c := int(label)
		if label < 0 || c >= k {
			return 0, 0
		}
		zmax := zs[0]
		for _, v := range zs[1:] {
			if v > zmax {
				zmax = v
			}
		}
		zc := zs[c] - zmax
		var sum, spread float64 // spread is Σ_j (z_j − zmax)
		for j, v := range zs {
			e := expNeg(v - zmax)
			zs[j] = e
			sum += e
			spread += v - zmax
		}
		gs := g[t.Col : t.Col+k]
		if t.Smoothing > 0 {
			return m * smoothSoftmax(zs, zc, spread, sum, c, float64(t.Smoothing), s, gs, g, dev), m
		}
		inv := s / sum
		for j, e := range zs {
			gs[j] = float32(e * inv)
		}
		gs[c] = float32((zs[c]/sum - 1) * s)
		if dev >= 0 {
			copy(g[dev:dev+k], gs)
		}
		return m * (math.Log(sum) - zc), m
	case backend.Sigmoid:
		x := zs[0]
		pw := float64(t.PosWeight)
		if eps := float64(t.Smoothing); eps > 0 {
			label = label*(1-eps) + eps/2
		}
		loss = pw*label*softplus(-x) + (1-label)*softplus(x)
		d = (pw*label+1-label)*sigmoid(x) - pw*label
	case backend.Squared:
		r := zs[0] - label
		loss = r * r
		d = 2 * r
	}
	g[t.Col] = float32(d * s)
	if dev >= 0 {
		g[dev] = g[t.Col]
	}
	return m * loss, m
}

// smoothSoftmax finishes a softmax row of class c whose target is smoothed
// by eps: es holds e^(z_j − zmax), sum their sum, zc = z_c − zmax and
// spread = Σ_j (z_j − zmax). It writes s·(p_j − q_j) into gs (and into the
// group's deviation columns of g at dev, when dev ≥ 0) and returns
// ℓ = log sum − Σ_j q_j·(z_j − zmax), q_j = (1−eps)·[j = c] + eps/C.
func smoothSoftmax(es []float64, zc, spread, sum float64, c int, eps, s float64, gs, g []float32, dev int) float64 {
	k := len(es)
	uniform := eps / float64(k)
	for j, e := range es {
		q := uniform
		if j == c {
			q += 1 - eps
		}
		gs[j] = float32((e/sum - q) * s)
	}
	if dev >= 0 {
		copy(g[dev:dev+k], gs)
	}
	return math.Log(sum) - (1-eps)*zc - uniform*spread
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
