package benchmark

import (
	"math/rand/v2"
	"time"

	"github.com/mtl-gpu/mtl-gpu/backend"
)

// gemmCall is one GEMM of a training step: its operands' shapes and
// strides (their buffers and offsets dropped), transposes, scalars and,
// for GemmStrided, the batch (1 for Gemm).
type gemmCall struct {
	strided                   bool
	transA, transB            bool
	alpha, beta               float32
	a, b, c                   backend.Mat
	strideA, strideB, strideC int
	batch                     int
}

// flops is the call's floating-point work, 2·m·n·k per product.
func (g gemmCall) flops() float64 {
	k := g.a.Cols
	if g.transA {
		k = g.a.Rows
	}
	return 2 * float64(g.c.Rows) * float64(g.c.Cols) * float64(k) * float64(g.batch)
}

// strip keeps a view's shape and stride only.
func strip(m backend.Mat) backend.Mat {
	return backend.Mat{Rows: m.Rows, Cols: m.Cols, Stride: m.Stride}
}

// gemmRecorder forwards every call to the wrapped backend and, while
// recording is set, notes the shapes of the GEMMs.
type gemmRecorder struct {
	backend.Backend
	recording bool
	calls     []gemmCall
}

// Gemm notes the call and runs it.
func (r *gemmRecorder) Gemm(transA, transB bool, alpha float32, a, b backend.Mat, beta float32, c backend.Mat) {
	if r.recording {
		r.calls = append(r.calls, gemmCall{transA: transA, transB: transB, alpha: alpha, beta: beta, a: strip(a), b: strip(b), c: strip(c), batch: 1})
	}
	r.Backend.Gemm(transA, transB, alpha, a, b, beta, c)
}

// GemmStrided notes the call and runs it.
func (r *gemmRecorder) GemmStrided(transA, transB bool, alpha float32, a backend.Mat, strideA int, b backend.Mat, strideB int, beta float32, c backend.Mat, strideC int, batch int) {
	if r.recording {
		r.calls = append(r.calls, gemmCall{strided: true, transA: transA, transB: transB, alpha: alpha, beta: beta, a: strip(a), b: strip(b), c: strip(c),
			strideA: strideA, strideB: strideB, strideC: strideC, batch: batch})
	}
	r.Backend.GemmStrided(transA, transB, alpha, a, strideA, b, strideB, beta, c, strideC, batch)
}

// span is the number of elements a strided operand reaches.
func span(m backend.Mat, stride, batch int) int { return m.Span() + (batch-1)*stride }

// gemmOnly times steps × the GEMMs of one training step (calls) on b, with
// random operands of the same shapes and strides, and returns the steps
// per second they allow.
func gemmOnly(b backend.Backend, calls []gemmCall, steps int) (float64, error) {
	// One buffer per operand position, as large as its largest view:
	// the step's own operands live in a few large buffers too.
	var sizes [3]int
	for _, g := range calls {
		sizes[0] = max(sizes[0], span(g.a, g.strideA, g.batch))
		sizes[1] = max(sizes[1], span(g.b, g.strideB, g.batch))
		sizes[2] = max(sizes[2], span(g.c, g.strideC, g.batch))
	}
	var bufs [3]backend.Buffer
	defer func() {
		for _, x := range bufs {
			b.Free(x)
		}
	}()
	// Random operands: some BLAS kernels skip zeros, which would flatter
	// freshly allocated buffers.
	rng := rand.New(rand.NewPCG(3, 3))
	for i, n := range sizes {
		buf, err := b.Alloc(backend.Float32, max(n, 1))
		if err != nil {
			return 0, err
		}
		bufs[i] = buf
		v := make([]float32, max(n, 1))
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		b.WriteFloat32(buf, 0, v)
	}
	on := func(m backend.Mat, i int) backend.Mat { m.Buf = bufs[i]; return m }
	step := func() {
		for _, g := range calls {
			if !g.strided {
				b.Gemm(g.transA, g.transB, g.alpha, on(g.a, 0), on(g.b, 1), g.beta, on(g.c, 2))
				continue
			}
			b.GemmStrided(g.transA, g.transB, g.alpha, on(g.a, 0), g.strideA, on(g.b, 1), g.strideB, g.beta, on(g.c, 2), g.strideC, g.batch)
		}
	}
	step()
	if err := b.Sync(); err != nil {
		return 0, err
	}
	start := time.Now()
	for range steps {
		step()
	}
	if err := b.Sync(); err != nil {
		return 0, err
	}
	return float64(steps) / time.Since(start).Seconds(), nil
}
