package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cuda/internal/cu"
)

// hostMemory stands for device memory in tests: each fake buffer has its
// own base address and host elements.
type hostMemory struct {
	bufs []*buffer
	data map[*buffer][]float64
}

func (h *hostMemory) alloc(n int) *buffer {
	if h.data == nil {
		h.data = map[*buffer][]float64{}
	}
	b := &buffer{ptr: cu.DevicePtr(0x10_0000_0000 * (len(h.bufs) + 1)), n: n, dt: backend.Float32}
	h.bufs = append(h.bufs, b)
	h.data[b] = make([]float64, n)
	return b
}

// at resolves a device address to an element, and fails the test when it
// lies outside every buffer.
func (h *hostMemory) at(t *testing.T, p cu.DevicePtr) *float64 {
	t.Helper()
	for _, b := range h.bufs {
		if p >= b.ptr && p < b.ptr+cu.DevicePtr(4*b.n) {
			if (p-b.ptr)%4 != 0 {
				t.Fatalf("misaligned address %#x", p)
			}
			return &h.data[b][(p-b.ptr)/4]
		}
	}
	t.Fatalf("address %#x outside every buffer", p)
	return nil
}

// cublasSgemm does what cublasSgemmStridedBatched does with g, on host
// memory, after checking the arguments as cuBLAS does (it returns
// CUBLAS_STATUS_INVALID_VALUE for a leading dimension below the rows of
// its matrix).
func cublasSgemm(t *testing.T, h *hostMemory, g cu.Gemm, alpha, beta float64) {
	t.Helper()
	rowsA, rowsB := g.M, g.K
	if g.TransA == cu.OpT {
		rowsA = g.K
	}
	if g.TransB == cu.OpT {
		rowsB = g.N
	}
	if g.M < 0 || g.N < 0 || g.K < 0 || g.LDA < max(1, rowsA) || g.LDB < max(1, rowsB) || g.LDC < max(1, g.M) {
		t.Fatalf("cuBLAS would reject %+v", g)
	}
	el := func(base cu.DevicePtr, stride int64, batch, i int) cu.DevicePtr {
		return base + cu.DevicePtr(4*(int64(batch)*stride+int64(i)))
	}
	for z := range g.Batch {
		for i := range g.M {
			for j := range g.N {
				var s float64
				for l := range g.K {
					ai := i + l*g.LDA
					if g.TransA == cu.OpT {
						ai = l + i*g.LDA
					}
					bi := l + j*g.LDB
					if g.TransB == cu.OpT {
						bi = j + l*g.LDB
					}
					s += *h.at(t, el(g.A, g.StrideA, z, ai)) * *h.at(t, el(g.B, g.StrideB, z, bi))
				}
				c := h.at(t, el(g.C, g.StrideC, z, i+j*g.LDC))
				if beta == 0 {
					*c = alpha * s
				} else {
					*c = alpha*s + beta**c
				}
			}
		}
	}
}

// view is a row-major operand of a test product.
type view struct {
	rows, cols, off, stride int
}

func (v view) span() int {
	if v.rows == 0 || v.cols == 0 {
		return 0
	}
	return (v.rows-1)*v.stride + v.cols
}

func TestRowMajorGemmFields(t *testing.T) {
	var h hostMemory
	a, b, c := h.alloc(100), h.alloc(100), h.alloc(100)
	// op(a) is 2×4 (a stored 2×4 with stride 6 at offset 1), op(b) is
	// 4×3 (b stored 3×4, transposed), c is 2×3 with stride 5.
	g := rowMajorGemm(false, true, 2, 3, 4,
		backend.Mat{Buf: a, Off: 1, Rows: 2, Cols: 4, Stride: 6},
		backend.Mat{Buf: b, Rows: 3, Cols: 4, Stride: 4},
		backend.Mat{Buf: c, Off: 2, Rows: 2, Cols: 3, Stride: 5})
	want := cu.Gemm{
		TransA: cu.OpT, TransB: cu.OpN,
		M: 3, N: 2, K: 4,
		A: b.ptr, LDA: 4,
		B: a.ptr + 4, LDB: 6,
		C: c.ptr + 8, LDC: 5,
		Batch: 1,
	}
	if g != want {
		t.Errorf("rowMajorGemm = %+v\nwant %+v", g, want)
	}
	// A single row may have stride 0; cuBLAS still needs ld ≥ its columns.
	g = rowMajorGemm(false, false, 1, 3, 2,
		backend.Mat{Buf: a, Rows: 1, Cols: 2, Stride: 0},
		backend.Mat{Buf: b, Rows: 2, Cols: 3, Stride: 3},
		backend.Mat{Buf: c, Rows: 1, Cols: 3, Stride: 0})
	if g.LDB != 2 || g.LDC != 3 || g.LDA != 3 {
		t.Errorf("single-row leading dimensions %d, %d, %d; want 2, 3, 3", g.LDB, g.LDC, g.LDA)
	}
}

// TestRowMajorGemm runs the cuBLAS call that rowMajorGemm plans on a
// simulated column-major cuBLAS and compares it with the row-major
// product computed directly, for every transpose, with offsets, padded
// strides and single rows of stride 0.
func TestRowMajorGemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	shapes := [][3]int{{1, 1, 1}, {3, 5, 7}, {7, 1, 4}, {1, 6, 3}, {5, 5, 1}, {4, 9, 2}}
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				for layout := range 3 {
					name := fmt.Sprintf("%dx%dx%d/tA=%v/tB=%v/layout%d", m, n, k, ta, tb, layout)
					t.Run(name, func(t *testing.T) {
						mk := func(rows, cols int) view {
							switch layout {
							case 0: // dense
								return view{rows, cols, 0, cols}
							case 1: // offset and padded stride
								return view{rows, cols, 5, cols + 3}
							}
							// offset, and stride 0 for single rows
							st := cols + 1
							if rows == 1 {
								st = 0
							}
							return view{rows, cols, 2, st}
						}
						av, bv, cv := mk(m, k), mk(k, n), mk(m, n)
						if ta {
							av = mk(k, m)
						}
						if tb {
							bv = mk(n, k)
						}
						checkGemm(t, rng, ta, tb, m, n, k, av, bv, cv, 1, 0, 0, 0)
					})
				}
			}
		}
	}
}

func TestRowMajorGemmStrided(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			for _, share := range []bool{false, true} {
				t.Run(fmt.Sprintf("tA=%v/tB=%v/shareA=%v", ta, tb, share), func(t *testing.T) {
					m, n, k, batch := 3, 4, 5, 3
					av := view{m, k, 1, k + 2}
					if ta {
						av = view{k, m, 1, m + 2}
					}
					bv := view{k, n, 0, n}
					if tb {
						bv = view{n, k, 0, k}
					}
					cv := view{m, n, 2, n + 1}
					strideA := av.span() + 3
					if share {
						strideA = 0
					}
					checkGemm(t, rng, ta, tb, m, n, k, av, bv, cv, batch, strideA, bv.span(), cv.span()+4)
				})
			}
		}
	}
}

// checkGemm plans one (batched) product with rowMajorGemm, runs it on the
// simulated cuBLAS and compares every element of the c buffer with the
// row-major definition; elements outside the c views must not change.
func checkGemm(t *testing.T, rng *rand.Rand, ta, tb bool, m, n, k int, av, bv, cv view, batch, strideA, strideB, strideC int) {
	t.Helper()
	var h hostMemory
	size := func(v view, stride int) int { return v.off + (batch-1)*stride + v.span() + 2 }
	a, b, c := h.alloc(size(av, strideA)), h.alloc(size(bv, strideB)), h.alloc(size(cv, strideC))
	for _, buf := range []*buffer{a, b, c} {
		for i := range h.data[buf] {
			h.data[buf][i] = float64(rng.IntN(19) - 9)
		}
	}
	c0 := append([]float64(nil), h.data[c]...)
	mat := func(buf *buffer, v view) backend.Mat {
		return backend.Mat{Buf: buf, Off: v.off, Rows: v.rows, Cols: v.cols, Stride: v.stride}
	}
	am, bm, cm := mat(a, av), mat(b, bv), mat(c, cv)
	if gm, gn, gk := backend.GemmDims("test", ta, tb, am, bm, cm); gm != m || gn != n || gk != k {
		t.Fatalf("test operands are %d×%d×%d", gm, gn, gk)
	}
	g := rowMajorGemm(ta, tb, m, n, k, am, bm, cm)
	if batch > 1 {
		g.StrideA, g.StrideB, g.StrideC = int64(strideB), int64(strideA), int64(strideC)
		g.Batch = batch
	}
	const alpha, beta = 0.5, -2.0
	cublasSgemm(t, &h, g, alpha, beta)

	want := append([]float64(nil), c0...)
	el := func(buf *buffer, v view, stride, z, i, j int) float64 {
		return h.data[buf][v.off+z*stride+i*v.stride+j]
	}
	for z := range batch {
		for i := range m {
			for j := range n {
				var s float64
				for l := range k {
					var x, y float64
					if ta {
						x = el(a, av, strideA, z, l, i)
					} else {
						x = el(a, av, strideA, z, i, l)
					}
					if tb {
						y = el(b, bv, strideB, z, j, l)
					} else {
						y = el(b, bv, strideB, z, l, j)
					}
					s += x * y
				}
				at := cv.off + z*strideC + i*cv.stride + j
				want[at] = alpha*s + beta*c0[at]
			}
		}
	}
	for i, w := range want {
		if got := h.data[c][i]; math.Abs(got-w) > 1e-9 {
			t.Fatalf("c[%d] = %g, want %g (cuBLAS call %+v)", i, got, w, g)
		}
	}
}

func TestFitsInt32(t *testing.T) {
	g := cu.Gemm{M: 10, N: 10, K: 10, LDA: 10, LDB: 10, LDC: 10, Batch: 1}
	if !fitsInt32(g) {
		t.Error("a small product does not fit")
	}
	g.LDB = math.MaxInt32 + 1
	if fitsInt32(g) {
		t.Error("a leading dimension past int32 fits")
	}
}
