package backendtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
)

// Run checks every operation of b against the CPU backend (with its pure-Go
// BLAS) on odd shapes, strided views and every transpose, and checks that
// inputs and the memory around every output view are left unchanged.
func Run(t *testing.T, b backend.Backend) {
	t.Helper()
	ref, err := cpu.New(backend.Options{BLAS: "gonum"})
	if err != nil {
		t.Fatalf("CPU backend: %v", err)
	}
	defer ref.Close()
	Compare(t, b, ref)
}

// Compare checks every operation of got against want.
func Compare(t *testing.T, got, want backend.Backend) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := &env{t: t, got: got, want: want, rng: rand.New(rand.NewPCG(1, uint64(len(c.name))))}
			defer e.free()
			c.run(e)
			if err := got.Sync(); err != nil {
				t.Fatalf("Sync: %v", err)
			}
		})
	}
}

type testCase struct {
	name string
	run  func(e *env)
}

// sentinel fills the memory around views; an operation that writes outside
// its view changes it.
const sentinel = -12345.5

// env holds the two backends of a comparison and the buffers of one case.
type env struct {
	t         *testing.T
	got, want backend.Backend
	rng       *rand.Rand
	pairs     []*pair
}

// pair is one logical buffer allocated on both backends, with the host
// data it started from.
type pair struct {
	got, want backend.Buffer
	init      []float32
	ints      []int32
	input     bool
	name      string
}

func (e *env) free() {
	for _, p := range e.pairs {
		e.got.Free(p.got)
		e.want.Free(p.want)
	}
}

func (e *env) must(err error) {
	if err != nil {
		e.t.Fatal(err)
	}
}

// floats allocates a float32 pair holding data on both backends.
func (e *env) floats(name string, data []float32, input bool) *pair {
	p := &pair{init: slices.Clone(data), input: input, name: name}
	var err error
	p.got, err = e.got.Alloc(backend.Float32, len(data))
	e.must(err)
	p.want, err = e.want.Alloc(backend.Float32, len(data))
	e.must(err)
	e.got.WriteFloat32(p.got, 0, data)
	e.want.WriteFloat32(p.want, 0, data)
	e.pairs = append(e.pairs, p)
	return p
}

func (e *env) int32s(name string, data []int32) *pair {
	p := &pair{ints: slices.Clone(data), input: true, name: name}
	var err error
	p.got, err = e.got.Alloc(backend.Int32, len(data))
	e.must(err)
	p.want, err = e.want.Alloc(backend.Int32, len(data))
	e.must(err)
	e.got.WriteInt32(p.got, 0, data)
	e.want.WriteInt32(p.want, 0, data)
	e.pairs = append(e.pairs, p)
	return p
}

// uniform returns n values uniform in [lo, hi).
func (e *env) uniform(n int, lo, hi float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(lo + (hi-lo)*e.rng.Float64())
	}
	return v
}

// view describes a rows×cols matrix embedded at an offset with a padded
// stride, so that operations are exercised on non-contiguous views.
type view struct {
	p          *pair
	off        int
	rows, cols int
	stride     int
}

func (v view) on(b backend.Buffer) backend.Mat {
	return backend.Mat{Buf: b, Off: v.off, Rows: v.rows, Cols: v.cols, Stride: v.stride}
}
func (v view) g() backend.Mat { return v.on(v.p.got) }
func (v view) w() backend.Mat { return v.on(v.p.want) }

// mat allocates a rows×cols matrix view with random contents in [lo, hi),
// padded with sentinels; padded picks an offset and a wider stride.
func (e *env) mat(name string, rows, cols int, lo, hi float64, padded, input bool) view {
	off, stride := 0, cols
	if padded {
		off, stride = 3, cols+2
	}
	n := off + max(rows*stride, 1) + 1
	data := make([]float32, n)
	for i := range data {
		data[i] = sentinel
	}
	vals := e.uniform(rows*cols, lo, hi)
	for i := range rows {
		copy(data[off+i*stride:off+i*stride+cols], vals[i*cols:(i+1)*cols])
	}
	return view{p: e.floats(name, data, input), off: off, rows: rows, cols: cols, stride: stride}
}

// vec allocates a vector of n random values in [lo, hi) at offset 2 of a
// buffer padded with sentinels.
func (e *env) vec(name string, n int, lo, hi float64, input bool) (*pair, backend.Vec, backend.Vec) {
	data := append(append([]float32{sentinel, sentinel}, e.uniform(n, lo, hi)...), sentinel)
	p := e.floats(name, data, input)
	return p, backend.Vec{Buf: p.got, Off: 2, Len: n}, backend.Vec{Buf: p.want, Off: 2, Len: n}
}

func (e *env) read(b backend.Backend, buf backend.Buffer) []float32 {
	out := make([]float32, buf.Len())
	e.must(b.ReadFloat32(out, buf, 0))
	return out
}

// check compares the whole buffer of an output pair: the view within tol,
// and, with every input pair, that inputs and padding are bit-identical to
// what they were.
func (e *env) check(out *pair, tol Tol) {
	e.t.Helper()
	g, w := e.read(e.got, out.got), e.read(e.want, out.want)
	if msg := Mismatches(g, w, tol); msg != "" {
		e.t.Errorf("%s: %s (normalised error %.3g)", out.name, msg, NormErr(g, w))
	}
	e.checkInputs()
}

// checkInputs asserts that every input pair still holds its initial data on
// the backend under test.
func (e *env) checkInputs() {
	e.t.Helper()
	for _, p := range e.pairs {
		if !p.input {
			continue
		}
		if p.ints != nil {
			got := make([]int32, len(p.ints))
			e.must(e.got.ReadInt32(got, p.got, 0))
			if !slices.Equal(got, p.ints) {
				e.t.Errorf("input %s changed", p.name)
			}
			continue
		}
		got := e.read(e.got, p.got)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(p.init[i]) {
				e.t.Errorf("input %s changed at %d: %g, was %g", p.name, i, got[i], p.init[i])
				break
			}
		}
	}
}

// Tolerances for element-wise results and for transcendental functions
// (GPU backends may use hardware approximations of exp and log).
var (
	exact = Tol{Abs: 0, Rel: 0}
	tight = Tol{Abs: 1e-6, Rel: 2e-6}
	loose = Tol{Abs: 2e-5, Rel: 1e-4}
)

// gemmTol bounds each element of a product by 1e-5·Σ_l |a_il||b_lj|, which
// float32 accumulation in any order meets with a wide margin and TF32 does
// not. The bound is computed in float64 from the inputs.
func gemmTol(transA, transB bool, a, b view, m, n, k int, alpha float32, beta float32, c view) Tol {
	get := func(v view, i, j int) float64 { return math.Abs(float64(v.p.init[v.off+i*v.stride+j])) }
	bound := make([]float64, len(c.p.init))
	for i := range m {
		for j := range n {
			var s float64
			for l := range k {
				var ai, bj float64
				if transA {
					ai = get(a, l, i)
				} else {
					ai = get(a, i, l)
				}
				if transB {
					bj = get(b, j, l)
				} else {
					bj = get(b, l, j)
				}
				s += ai * bj
			}
			s *= math.Abs(float64(alpha))
			if beta != 0 {
				s += math.Abs(float64(beta) * get(c, i, j))
			}
			bound[c.off+i*c.stride+j] = 1e-5*s + 1e-30
		}
	}
	return Tol{Bound: bound}
}

var cases = []testCase{
	{"Alloc/zeroed", caseAlloc},
	{"Write/Read", caseWriteRead},
	{"Gemm", caseGemm},
	{"Gemm/betaZeroIgnoresNaN", caseGemmBetaZero},
	{"GemmStrided", caseGemmStrided},
	{"GatherRows", caseGather},
	{"BiasAct", caseBiasAct},
	{"ActGrad", caseActGrad},
	{"ColSum", caseColSum},
	{"LossGrad", caseLoss},
	{"LossGrad/families", caseLossFamily},
	{"LossGrad/noLabels", caseLossEmpty},
	{"Axpy/Scale/Fill/Copy", caseVectorOps},
	{"SumSquares", caseSumSquares},
	{"SGDStep", caseSGD},
	{"AdamStep", caseAdam},
}

func caseAlloc(e *env) {
	for _, n := range []int{1, 7, 1000} {
		b, err := e.got.Alloc(backend.Float32, n)
		e.must(err)
		got := e.read(e.got, b)
		e.got.Free(b)
		for i, v := range got {
			if v != 0 {
				e.t.Fatalf("Alloc(%d)[%d] = %g, want 0", n, i, v)
			}
		}
		ib, err := e.got.Alloc(backend.Int32, n)
		e.must(err)
		gi := make([]int32, n)
		e.must(e.got.ReadInt32(gi, ib, 0))
		e.got.Free(ib)
		if slices.ContainsFunc(gi, func(v int32) bool { return v != 0 }) {
			e.t.Fatalf("Alloc(Int32, %d) not zeroed", n)
		}
	}
}

func caseWriteRead(e *env) {
	data := e.uniform(1001, -3, 3)
	b, err := e.got.Alloc(backend.Float32, 1100)
	e.must(err)
	defer e.got.Free(b)
	e.got.WriteFloat32(b, 17, data)
	part := make([]float32, 500)
	e.must(e.got.ReadFloat32(part, b, 117))
	if !slices.Equal(part, data[100:600]) {
		e.t.Fatal("ReadFloat32 at an offset does not return what WriteFloat32 wrote")
	}
	head := make([]float32, 17)
	e.must(e.got.ReadFloat32(head, b, 0))
	if slices.ContainsFunc(head, func(v float32) bool { return v != 0 }) {
		e.t.Fatal("WriteFloat32 at offset 17 wrote before it")
	}
	ib, err := e.got.Alloc(backend.Int32, 40)
	e.must(err)
	defer e.got.Free(ib)
	e.got.WriteInt32(ib, 5, []int32{-7, 1 << 30, 3})
	gi := make([]int32, 3)
	e.must(e.got.ReadInt32(gi, ib, 5))
	if !slices.Equal(gi, []int32{-7, 1 << 30, 3}) {
		e.t.Fatalf("int32 round trip gave %v", gi)
	}
	up, err := e.got.Upload(slices.Clone(data))
	e.must(err)
	defer e.got.Free(up)
	if got := e.read(e.got, up); !slices.Equal(got, data) {
		e.t.Fatal("Upload then ReadFloat32 differs")
	}
}

// gemmShapes are (m, n, k) triples: ones, small primes and sizes past 1000.
var gemmShapes = [][3]int{
	{1, 1, 1}, {7, 17, 1}, {1, 7, 17}, {17, 1, 7}, {17, 7, 1003},
	{1001, 7, 17}, {7, 1030, 17}, {65, 33, 129}, {128, 64, 256},
}

func caseGemm(e *env) {
	for _, s := range gemmShapes {
		m, n, k := s[0], s[1], s[2]
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				e.t.Run(fmt.Sprintf("%dx%dx%d/tA=%v/tB=%v", m, n, k, ta, tb), func(t *testing.T) {
					sub := &env{t: t, got: e.got, want: e.want, rng: e.rng}
					defer sub.free()
					ar, ac := m, k
					if ta {
						ar, ac = k, m
					}
					br, bc := k, n
					if tb {
						br, bc = n, k
					}
					padded := (m+n+k)%2 == 1
					a := sub.mat("a", ar, ac, -1, 1, padded, true)
					b := sub.mat("b", br, bc, -1, 1, !padded, true)
					c := sub.mat("c", m, n, -1, 1, true, false)
					alpha, beta := float32(0.75), float32(-0.5)
					sub.got.Gemm(ta, tb, alpha, a.g(), b.g(), beta, c.g())
					sub.want.Gemm(ta, tb, alpha, a.w(), b.w(), beta, c.w())
					sub.check(c.p, gemmTol(ta, tb, a, b, m, n, k, alpha, beta, c))
				})
			}
		}
	}
}

func caseGemmBetaZero(e *env) {
	a := e.mat("a", 9, 5, -1, 1, false, true)
	b := e.mat("b", 5, 11, -1, 1, true, true)
	nan := float32(math.NaN())
	cdata := make([]float32, 9*11)
	for i := range cdata {
		cdata[i] = nan
	}
	c := view{p: e.floats("c", cdata, false), rows: 9, cols: 11, stride: 11}
	e.got.Gemm(false, false, 1, a.g(), b.g(), 0, c.g())
	e.want.Gemm(false, false, 1, a.w(), b.w(), 0, c.w())
	e.check(c.p, gemmTol(false, false, a, b, 9, 11, 5, 1, 0, c))
}

func caseGemmStrided(e *env) {
	const batch = 5
	for _, s := range [][3]int{{7, 17, 33}, {64, 10, 256}, {1, 3, 1}} {
		m, n, k := s[0], s[1], s[2]
		for _, ta := range []bool{false, true} {
			for _, shareA := range []bool{false, true} {
				e.t.Run(fmt.Sprintf("%dx%dx%d/tA=%v/shareA=%v", m, n, k, ta, shareA), func(t *testing.T) {
					sub := &env{t: t, got: e.got, want: e.want, rng: e.rng}
					defer sub.free()
					ar, ac := m, k
					if ta {
						ar, ac = k, m
					}
					strideA := ar * ac
					aRows := ar * batch
					if shareA {
						strideA, aRows = 0, ar
					}
					aAll := sub.mat("a", aRows, ac, -1, 1, false, true)
					a := view{p: aAll.p, rows: ar, cols: ac, stride: ac}
					bAll := sub.mat("b", k*batch, n, -1, 1, false, true)
					b := view{p: bAll.p, rows: k, cols: n, stride: n}
					cAll := sub.mat("c", m*batch, n, -1, 1, false, false)
					c := view{p: cAll.p, rows: m, cols: n, stride: n}
					sub.got.GemmStrided(ta, false, 1, a.g(), strideA, b.g(), k*n, 1, c.g(), m*n, batch)
					sub.want.GemmStrided(ta, false, 1, a.w(), strideA, b.w(), k*n, 1, c.w(), m*n, batch)
					sub.check(c.p, Tol{Abs: 1e-5 * float64(k), Rel: 1e-5})
				})
			}
		}
	}
}

func caseGather(e *env) {
	src := e.mat("src", 1003, 17, -5, 5, true, true)
	idx := make([]int32, 700)
	for i := range idx {
		idx[i] = int32(e.rng.IntN(1003))
	}
	idx[0], idx[1] = 0, 1002
	ip := e.int32s("idx", idx)
	dst := e.mat("dst", 600, 17, 0, 1, true, false)
	e.got.GatherRows(dst.g(), src.g(), ip.got, 100)
	e.want.GatherRows(dst.w(), src.w(), ip.want, 100)
	e.check(dst.p, exact)
}

func caseBiasAct(e *env) {
	for _, act := range []backend.Activation{backend.Identity, backend.ReLU, backend.Tanh} {
		for _, bias := range []bool{false, true} {
			for _, s := range [][2]int{{1, 1}, {7, 17}, {1030, 33}} {
				e.t.Run(fmt.Sprintf("%s/bias=%v/%dx%d", act, bias, s[0], s[1]), func(t *testing.T) {
					sub := &env{t: t, got: e.got, want: e.want, rng: e.rng}
					defer sub.free()
					m := sub.mat("m", s[0], s[1], -3, 3, true, false)
					var bg, bw backend.Vec
					if bias {
						_, bg, bw = sub.vec("bias", s[1], -1, 1, true)
					}
					sub.got.BiasAct(m.g(), bg, act)
					sub.want.BiasAct(m.w(), bw, act)
					tol := tight
					if act == backend.Tanh {
						tol = loose
					}
					sub.check(m.p, tol)
				})
			}
		}
	}
}

func caseActGrad(e *env) {
	for _, act := range []backend.Activation{backend.Identity, backend.ReLU, backend.Tanh} {
		e.t.Run(act.String(), func(t *testing.T) {
			sub := &env{t: t, got: e.got, want: e.want, rng: e.rng}
			defer sub.free()
			lo := -1.0
			if act == backend.ReLU {
				lo = -2
			}
			out := sub.mat("out", 1001, 19, lo, 1, true, true)
			grad := sub.mat("grad", 1001, 19, -2, 2, false, false)
			sub.got.ActGrad(grad.g(), out.g(), act)
			sub.want.ActGrad(grad.w(), out.w(), act)
			sub.check(grad.p, tight)
		})
	}
}

func caseColSum(e *env) {
	for _, s := range [][2]int{{1, 1}, {7, 17}, {1030, 7}, {3001, 80}} {
		for _, beta := range []float32{0, 1, -0.5} {
			e.t.Run(fmt.Sprintf("%dx%d/beta=%g", s[0], s[1], beta), func(t *testing.T) {
				sub := &env{t: t, got: e.got, want: e.want, rng: e.rng}
				defer sub.free()
				m := sub.mat("m", s[0], s[1], -1, 1, true, true)
				dp, dg, dw := sub.vec("dst", s[1], -1, 1, false)
				sub.got.ColSum(dg, m.g(), 0.5, beta)
				sub.want.ColSum(dw, m.w(), 0.5, beta)
				sub.check(dp, Tol{Abs: 1e-6 * float64(s[0]), Rel: 1e-5})
			})
		}
	}
}

// lossSetup builds a logit matrix, a label matrix and a task table with a
// softmax, a weighted sigmoid, a plain sigmoid and a squared-error task,
// each with about a quarter of its labels missing, and logit columns that
// no task reads.
type lossSetup struct {
	logits, labels, grad view
	tasks                []backend.LossTask
	weights              []float32
}

func (e *env) lossSetup(rows int, family bool) lossSetup {
	var tasks []backend.LossTask
	col, lcol := 1, 0 // column 0 of the logits belongs to no task
	add := func(kind backend.LossKind, classes int, pw float32) {
		tasks = append(tasks, backend.LossTask{Kind: kind, Col: col, Classes: classes, LabelCol: lcol, MaskCol: lcol + 1, GroupCol: -1, PosWeight: pw})
		col += classes
		lcol += 2
	}
	add(backend.Softmax, 5, 1)
	add(backend.Sigmoid, 1, 3.5)
	add(backend.Sigmoid, 1, 1)
	add(backend.Squared, 1, 1)
	const groups = 6
	if family {
		// Each family has its shared columns, then groups×classes deviation
		// columns at the end, and a group column in the labels.
		for i, kind := range []backend.LossKind{backend.Squared, backend.Softmax, backend.Sigmoid} {
			k := 1
			if kind == backend.Softmax {
				k = 3
			}
			tasks = append(tasks, backend.LossTask{Kind: kind, Col: col, Classes: k, LabelCol: lcol, MaskCol: lcol + 1, GroupCol: lcol + 2, Groups: groups, PosWeight: 1 + float32(i)})
			col += k
			lcol += 3
		}
		for i := range tasks {
			if tasks[i].Groups > 0 {
				tasks[i].DevCol = col
				col += tasks[i].Groups * tasks[i].Classes
			}
		}
	}
	cols := col + 2 // two more unread columns
	labels := make([]float32, rows*lcol)
	for i := range rows {
		y := labels[i*lcol : (i+1)*lcol]
		for _, t := range tasks {
			if e.rng.Float64() < 0.25 {
				y[t.LabelCol] = 0
				y[t.MaskCol] = 0
			} else {
				y[t.MaskCol] = 1
				switch t.Kind {
				case backend.Softmax:
					y[t.LabelCol] = float32(e.rng.IntN(t.Classes))
				case backend.Sigmoid:
					y[t.LabelCol] = float32(e.rng.IntN(2))
				case backend.Squared:
					y[t.LabelCol] = float32(e.rng.NormFloat64())
				}
			}
			if t.Groups > 0 {
				// -1 is a group unseen in training.
				y[t.GroupCol] = float32(e.rng.IntN(t.Groups+1) - 1)
			}
		}
	}
	s := lossSetup{tasks: tasks}
	s.logits = e.mat("logits", rows, cols, -4, 4, true, true)
	s.labels = view{p: e.floats("labels", labels, true), rows: rows, cols: lcol, stride: lcol}
	s.grad = e.mat("grad", rows, cols, 7, 8, true, false)
	for i := range tasks {
		s.weights = append(s.weights, 0.5+float32(i))
	}
	return s
}

// runLoss runs LossGrad on both backends and checks grad and sums.
func (e *env) runLoss(s lossSetup) {
	e.t.Helper()
	tg, err := backend.NewLossTable(e.got, s.tasks, s.logits.cols, s.labels.cols)
	e.must(err)
	defer tg.Free(e.got)
	tw, err := backend.NewLossTable(e.want, s.tasks, s.logits.cols, s.labels.cols)
	e.must(err)
	defer tw.Free(e.want)
	wp := e.floats("weights", s.weights, true)
	wv := func(b backend.Buffer) backend.Vec { return backend.Vec{Buf: b, Len: len(s.weights)} }
	sp, sg, sw := e.vec("sums", 2*len(s.tasks), 9, 10, false)
	e.got.LossGrad(s.logits.g(), s.labels.g(), tg, wv(wp.got), s.grad.g(), sg)
	e.want.LossGrad(s.logits.w(), s.labels.w(), tw, wv(wp.want), s.grad.w(), sw)
	e.check(s.grad.p, loose)
	e.check(sp, Tol{Abs: 1e-4, Rel: 1e-4})
}

func caseLoss(e *env) {
	for _, rows := range []int{1, 7, 17, 1030} {
		e.t.Run(fmt.Sprint(rows), func(t *testing.T) {
			sub := &env{t: t, got: e.got, want: e.want, rng: e.rng}
			defer sub.free()
			sub.runLoss(sub.lossSetup(rows, false))
		})
	}
}

func caseLossFamily(e *env) {
	for _, rows := range []int{7, 1030} {
		e.t.Run(fmt.Sprint(rows), func(t *testing.T) {
			sub := &env{t: t, got: e.got, want: e.want, rng: e.rng}
			defer sub.free()
			sub.runLoss(sub.lossSetup(rows, true))
		})
	}
}

// caseLossEmpty: a batch with no label for any task gives zero gradient and
// zero sums, never NaN.
func caseLossEmpty(e *env) {
	s := e.lossSetup(9, true)
	labels := slices.Clone(s.labels.p.init)
	for i := range s.labels.rows {
		for _, t := range s.tasks {
			labels[i*s.labels.cols+t.MaskCol] = 0
		}
	}
	e.got.WriteFloat32(s.labels.p.got, 0, labels)
	e.want.WriteFloat32(s.labels.p.want, 0, labels)
	s.labels.p.init = labels
	e.runLoss(s)
	g := e.read(e.got, s.grad.p.got)
	for i := range s.grad.rows {
		for j := range s.grad.cols {
			if v := g[s.grad.off+i*s.grad.stride+j]; v != 0 {
				e.t.Fatalf("grad[%d,%d] = %g with no labels", i, j, v)
			}
		}
	}
}

func caseVectorOps(e *env) {
	for _, n := range []int{1, 7, 17, 100003} {
		e.t.Run(fmt.Sprint(n), func(t *testing.T) {
			sub := &env{t: t, got: e.got, want: e.want, rng: e.rng}
			defer sub.free()
			_, xg, xw := sub.vec("x", n, -1, 1, true)
			yp, yg, yw := sub.vec("y", n, -1, 1, false)
			sub.got.Axpy(yg, -0.3, xg)
			sub.want.Axpy(yw, -0.3, xw)
			sub.check(yp, tight)
			sub.got.Scale(yg, 1.7)
			sub.want.Scale(yw, 1.7)
			sub.check(yp, tight)
			zp, zg, zw := sub.vec("z", n, -1, 1, false)
			sub.got.Copy(zg, xg)
			sub.want.Copy(zw, xw)
			sub.check(zp, exact)
			sub.got.Fill(zg.Slice(0, n/2), 2.5)
			sub.want.Fill(zw.Slice(0, n/2), 2.5)
			sub.check(zp, exact)
		})
	}
}

func caseSumSquares(e *env) {
	for _, n := range []int{1, 7, 17, 1000003} {
		e.t.Run(fmt.Sprint(n), func(t *testing.T) {
			sub := &env{t: t, got: e.got, want: e.want, rng: e.rng}
			defer sub.free()
			_, xg, xw := sub.vec("x", n, -1, 1, true)
			dp, dg, dw := sub.vec("dst", 1, 0, 1, false)
			sub.got.SumSquares(dg, xg)
			sub.want.SumSquares(dw, xw)
			sub.check(dp, Tol{Rel: 1e-5})
		})
	}
}

// stepSetup allocates a parameter, a gradient, state vectors and a squared
// norm of the gradient computed on each backend, for optimiser cases.
func (e *env) stepSetup(n int, states int) (param *pair, views [][2]backend.Vec, clip [2]backend.Clip) {
	var pg, pw backend.Vec
	param, pg, pw = e.vec("param", n, -1, 1, false)
	_, gg, gw := e.vec("grad", n, -1, 1, true)
	views = append(views, [2]backend.Vec{pg, pw}, [2]backend.Vec{gg, gw})
	for range states {
		_, sg, sw := e.vec("state", n, 0, 0.1, false)
		views = append(views, [2]backend.Vec{sg, sw})
	}
	_, ng, nw := e.vec("normsq", 1, 0, 1, false)
	e.got.SumSquares(ng, gg)
	e.want.SumSquares(nw, gw)
	clip = [2]backend.Clip{{NormSq: ng, MaxNorm: 0.5}, {NormSq: nw, MaxNorm: 0.5}}
	return param, views, clip
}

func caseSGD(e *env) {
	for _, hp := range []backend.SGD{
		{LR: 0.1},
		{LR: 0.05, Momentum: 0.9, WeightDecay: 1e-2},
		{LR: 0.05, Momentum: 0.9, WeightDecay: 1e-3, Nesterov: true},
	} {
		for _, clipped := range []bool{false, true} {
			e.t.Run(fmt.Sprintf("%+v/clip=%v", hp, clipped), func(t *testing.T) {
				sub := &env{t: t, got: e.got, want: e.want, rng: e.rng}
				defer sub.free()
				p, v, clip := sub.stepSetup(1037, 1)
				if !clipped {
					clip[0].MaxNorm, clip[1].MaxNorm = 0, 0
				}
				for range 3 {
					sub.got.SGDStep(hp, v[0][0], v[1][0], v[2][0], clip[0])
					sub.want.SGDStep(hp, v[0][1], v[1][1], v[2][1], clip[1])
				}
				sub.check(p, tight)
			})
		}
	}
}

func caseAdam(e *env) {
	for _, hp := range []backend.Adam{
		{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8},
		{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, Decoupled: true},
		{LR: 3e-3, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, WeightDecay: 0.1},
	} {
		for _, clipped := range []bool{false, true} {
			e.t.Run(fmt.Sprintf("%+v/clip=%v", hp, clipped), func(t *testing.T) {
				sub := &env{t: t, got: e.got, want: e.want, rng: e.rng}
				defer sub.free()
				p, v, clip := sub.stepSetup(1037, 2)
				if !clipped {
					clip[0].MaxNorm, clip[1].MaxNorm = 0, 0
				}
				for step := 1; step <= 3; step++ {
					hp.Step = step
					sub.got.AdamStep(hp, v[0][0], v[1][0], v[2][0], v[3][0], clip[0])
					sub.want.AdamStep(hp, v[0][1], v[1][1], v[2][1], v[3][1], clip[1])
				}
				sub.check(p, loose)
			})
		}
	}
}
