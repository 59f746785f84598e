// Package profile wraps a backend to measure where a training step spends
// its time: the count, total time and floating-point work of every
// operation. Each timed operation is followed by Sync, so the times are
// exact on asynchronous devices too, at the price of exposing their launch
// latency; use it for profiles, not for throughput.
package profile

import (
	"slices"
	"time"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// Op is what was measured of one kind of operation.
type Op struct {
	Name  string
	Calls int
	Time  time.Duration
	// Flops is the floating-point work of a GEMM (2·m·n·k per product).
	Flops float64
}

// Backend forwards every call to the wrapped backend and times the
// compute operations.
type Backend struct {
	backend.Backend
	ops map[string]*Op
	// Enabled turns measuring on and off.
	Enabled bool
	err     error
}

var _ backend.Backend = (*Backend)(nil)

// Wrap returns a profiling wrapper around b, enabled.
func Wrap(b backend.Backend) *Backend {
	return &Backend{Backend: b, ops: map[string]*Op{}, Enabled: true}
}

// Reset forgets what was measured.
func (p *Backend) Reset() { p.ops = map[string]*Op{} }

// Ops returns the measurements, the most time-consuming first.
func (p *Backend) Ops() []Op {
	var out []Op
	for _, o := range p.ops {
		out = append(out, *o)
	}
	slices.SortFunc(out, func(a, b Op) int {
		if a.Time != b.Time {
			return int(b.Time - a.Time)
		}
		return compare(a.Name, b.Name)
	})
	return out
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Err returns the first device error met while timing.
func (p *Backend) Err() error { return p.err }

// time runs f and records it under name.
func (p *Backend) time(name string, flops float64, f func()) {
	if !p.Enabled {
		f()
		return
	}
	if err := p.Backend.Sync(); err != nil && p.err == nil {
		p.err = err
	}
	start := time.Now()
	f()
	if err := p.Backend.Sync(); err != nil && p.err == nil {
		p.err = err
	}
	o := p.ops[name]
	if o == nil {
		o = &Op{Name: name}
		p.ops[name] = o
	}
	o.Calls++
	o.Time += time.Since(start)
	o.Flops += flops
}

// Gemm times a GEMM.
func (p *Backend) Gemm(transA, transB bool, alpha float32, a, b backend.Mat, beta float32, c backend.Mat) {
	m, n, k := backend.GemmDims("Gemm", transA, transB, a, b, c)
	p.time("Gemm", 2*float64(m)*float64(n)*float64(k), func() { p.Backend.Gemm(transA, transB, alpha, a, b, beta, c) })
}

// GemmStrided times a batch of GEMMs.
func (p *Backend) GemmStrided(transA, transB bool, alpha float32, a backend.Mat, strideA int, b backend.Mat, strideB int, beta float32, c backend.Mat, strideC int, batch int) {
	m, n, k := backend.GemmDims("GemmStrided", transA, transB, a, b, c)
	p.time("GemmStrided", 2*float64(m)*float64(n)*float64(k)*float64(batch), func() {
		p.Backend.GemmStrided(transA, transB, alpha, a, strideA, b, strideB, beta, c, strideC, batch)
	})
}

// GatherRows is timed.
func (p *Backend) GatherRows(dst, src backend.Mat, idx backend.Buffer, idxOff int) {
	p.time("GatherRows", 0, func() { p.Backend.GatherRows(dst, src, idx, idxOff) })
}

// BiasAct is timed.
func (p *Backend) BiasAct(m backend.Mat, bias backend.Vec, act backend.Activation) {
	p.time("BiasAct", 0, func() { p.Backend.BiasAct(m, bias, act) })
}

// ActGrad is timed.
func (p *Backend) ActGrad(grad, out backend.Mat, act backend.Activation) {
	p.time("ActGrad", 0, func() { p.Backend.ActGrad(grad, out, act) })
}

// Dropout is timed.
func (p *Backend) Dropout(dst, src backend.Mat, key uint64, row0 int, rate float32) {
	p.time("Dropout", 0, func() { p.Backend.Dropout(dst, src, key, row0, rate) })
}

// ColSum is timed.
func (p *Backend) ColSum(dst backend.Vec, m backend.Mat, alpha, beta float32) {
	p.time("ColSum", 0, func() { p.Backend.ColSum(dst, m, alpha, beta) })
}

// LossGrad is timed.
func (p *Backend) LossGrad(logits, labels backend.Mat, table backend.LossTable, weights backend.Vec, grad backend.Mat, sums backend.Vec) {
	p.time("LossGrad", 0, func() { p.Backend.LossGrad(logits, labels, table, weights, grad, sums) })
}

// Axpy is timed.
func (p *Backend) Axpy(y backend.Vec, alpha float32, x backend.Vec) {
	p.time("Axpy", 0, func() { p.Backend.Axpy(y, alpha, x) })
}

// Scale is timed.
func (p *Backend) Scale(x backend.Vec, alpha float32) {
	p.time("Scale", 0, func() { p.Backend.Scale(x, alpha) })
}

// Fill is timed.
func (p *Backend) Fill(x backend.Vec, v float32) {
	p.time("Fill", 0, func() { p.Backend.Fill(x, v) })
}

// Copy is timed.
func (p *Backend) Copy(dst, src backend.Vec) {
	p.time("Copy", 0, func() { p.Backend.Copy(dst, src) })
}

// SumSquares is timed.
func (p *Backend) SumSquares(dst, x backend.Vec) {
	p.time("SumSquares", 0, func() { p.Backend.SumSquares(dst, x) })
}

// SGDStep is timed.
func (p *Backend) SGDStep(hp backend.SGD, param, grad, vel backend.Vec, clip backend.Clip) {
	p.time("SGDStep", 0, func() { p.Backend.SGDStep(hp, param, grad, vel, clip) })
}

// AdamStep is timed.
func (p *Backend) AdamStep(hp backend.Adam, param, grad, m, v backend.Vec, clip backend.Clip) {
	p.time("AdamStep", 0, func() { p.Backend.AdamStep(hp, param, grad, m, v, clip) })
}

// Mix is timed.
func (p *Backend) Mix(dst, gates, experts backend.Mat, t backend.MixTable) {
	p.time("Mix", 0, func() { p.Backend.Mix(dst, gates, experts, t) })
}

// MixGrad is timed.
func (p *Backend) MixGrad(dGates, dExperts, dDst, gates, experts backend.Mat, t backend.MixTable) {
	p.time("MixGrad", 0, func() { p.Backend.MixGrad(dGates, dExperts, dDst, gates, experts, t) })
}

// SoftmaxGroups is timed.
func (p *Backend) SoftmaxGroups(m backend.Mat, t backend.MixTable) {
	p.time("SoftmaxGroups", 0, func() { p.Backend.SoftmaxGroups(m, t) })
}

// SoftmaxGroupsGrad is timed.
func (p *Backend) SoftmaxGroupsGrad(grad, probs backend.Mat, t backend.MixTable) {
	p.time("SoftmaxGroupsGrad", 0, func() { p.Backend.SoftmaxGroupsGrad(grad, probs, t) })
}

// SegmentSum is timed.
func (p *Backend) SegmentSum(dst, src backend.Mat, starts backend.Buffer, startsOff int, pos backend.Buffer, posOff int) {
	p.time("SegmentSum", 0, func() { p.Backend.SegmentSum(dst, src, starts, startsOff, pos, posOff) })
}

// AdamRows is timed.
func (p *Backend) AdamRows(hp backend.Adam, param, grad, m, v backend.Mat, rows backend.Buffer, rowsOff int, clip backend.Clip) {
	p.time("AdamRows", 0, func() { p.Backend.AdamRows(hp, param, grad, m, v, rows, rowsOff, clip) })
}

// SGDRows is timed.
func (p *Backend) SGDRows(hp backend.SGD, param, grad, vel backend.Mat, rows backend.Buffer, rowsOff int, clip backend.Clip) {
	p.time("SGDRows", 0, func() { p.Backend.SGDRows(hp, param, grad, vel, rows, rowsOff, clip) })
}
