package cuda

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/kernels"
)

// TestAllocCap asks for 2³¹ elements, one more than the kernels can
// index, and gets a clear error without touching the device.
func TestAllocCap(t *testing.T) {
	b, f := openFakeLib(t, backend.Options{})
	allocs := f.value(t, "async_allocs")
	for _, n := range []int{math.MaxInt32 + 1, 1 << 40} {
		_, err := b.Alloc(backend.Float32, n)
		if err == nil || !strings.Contains(err.Error(), "at most 2147483647") {
			t.Errorf("Alloc(%d) = %v, want the cap", n, err)
		}
	}
	if n := f.value(t, "async_allocs"); n != allocs {
		t.Errorf("%d allocations reached the driver", n-allocs)
	}
	if _, err := b.Alloc(backend.Int32, -1); err == nil {
		t.Error("Alloc(-1) succeeded")
	}
	must(t, b.Sync())
}

// hugeBuffer is a buffer of n elements that no memory backs: launches are
// planned on it but must never reach the driver.
func hugeBuffer(n int) *buffer {
	return &buffer{ptr: 0x7f00_0000_0000, n: n, dt: backend.Float32}
}

// TestViewAddresses plans launches on views far into buffers of up to
// 2³¹−1 elements, whose byte offsets pass 2³¹ and 2³², and checks that the
// pointers the kernels get are exact (64-bit arithmetic) and that their
// int arguments fit.
func TestViewAddresses(t *testing.T) {
	const n = math.MaxInt32
	for _, off := range []int{1 << 29, 1<<30 + 3, n - 1000} {
		x, y := hugeBuffer(n), hugeBuffer(n)
		y.ptr = 0x7e00_0000_0000
		xv, yv := backend.Vec{Buf: x, Off: off, Len: 1000}, backend.Vec{Buf: y, Off: off - 7, Len: 1000}
		l := axpyLaunch(yv, 1, xv, 2112)
		if err := l.validate(); err != nil {
			t.Fatalf("offset %d: %v", off, err)
		}
		s := l.args.Slots()
		if s[2] != uint64(y.ptr)+4*uint64(off-7) || s[4] != uint64(x.ptr)+4*uint64(off) || s[3] != 0 || s[5] != 0 {
			t.Errorf("offset %d: slots %#x", off, s)
		}
		// A 1000×1000 matrix view that ends at element off.
		m := backend.Mat{Buf: x, Off: off - 1000*1000, Rows: 1000, Cols: 1000, Stride: 1000}
		m.Check("test", backend.Float32)
		g := biasActLaunch(m, backend.Vec{}, backend.ReLU, 2112)
		if err := g.validate(); err != nil {
			t.Errorf("bias_act at offset %d: %v", m.Off, err)
		}
		if p := g.args.Slots()[4]; p != uint64(x.ptr)+4*uint64(m.Off) {
			t.Errorf("bias_act pointer %#x, want %#x", p, uint64(x.ptr)+4*uint64(m.Off))
		}
	}
	// Element 2³¹−2 of a buffer is 2³³−8 bytes in.
	if got := hugeBuffer(n).at(n - 1); got != 0x7f00_0000_0000+4*(n-1) {
		t.Errorf("at(2³¹−2) = %#x", got)
	}
}

// TestLaunchRanges checks every launch argument's range: an int past 32
// bits, or so close to 2³¹ that a grid-stride loop would step past it, is
// refused with an error that names the kernel and the argument, while the
// largest safe value passes.
func TestLaunchRanges(t *testing.T) {
	const mb = 64
	grid, _ := linear(math.MaxInt32, mb)
	threads := grid.X * blockThreads
	safe := math.MaxInt32 - threads
	for _, c := range []struct {
		name string
		l    *launch
		bad  string
	}{
		{"safe", scaleLaunch(hugeBuffer(safe), 0, safe, 2, mb), ""},
		{"one past safe", scaleLaunch(hugeBuffer(safe+1), 0, safe+1, 2, mb), "kernel scale: n = 2147467264"},
		{"2³¹ columns", fillLaunch(hugeBuffer(1<<31), 0, 1, 1<<31, 1<<31, 0, mb), "kernel fill: cols = 2147483648"},
		{"single row", fillLaunch(hugeBuffer(10), 0, 1, 10, math.MinInt32-1, 0, mb), ""}, // whose stride is its width
		{"stride past 32 bits", gatherLaunch(backend.Mat{Buf: hugeBuffer(10), Rows: 2, Cols: 2, Stride: 2},
			backend.Mat{Buf: hugeBuffer(1 << 33), Rows: 2, Cols: 2, Stride: 1 << 32}, hugeBuffer(2), 0, hugeBuffer(1), mb),
			"kernel gather_rows: src_stride = 4294967296"},
	} {
		err := c.l.validate()
		if c.bad == "" && err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if c.bad != "" && (err == nil || !strings.Contains(err.Error(), c.bad)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.bad)
		}
	}
	if threads != mb*blockThreads {
		t.Errorf("a launch over 2³¹ elements has %d threads", threads)
	}
	if kernels.ReduceGroups*kernels.ReduceLocal >= 1<<24 {
		t.Error("sum_squares's global size leaves little room below 2³¹")
	}
}

// TestOversizeLaunch runs an operation on a view too long for 32-bit
// grid-stride loops through the stand-in: it reaches neither the driver
// nor memory, and the next Sync says why.
func TestOversizeLaunch(t *testing.T) {
	b, f := openFakeLib(t, backend.Options{})
	launches := f.value(t, "launches")
	b.Fill(backend.Whole(hugeBuffer(math.MaxInt32)), 1)
	err := b.Sync()
	if err == nil || !strings.Contains(err.Error(), "kernel fill: cols = 2147483647 is outside the 32-bit range") || errors.Is(err, ErrDeviceFault) {
		t.Errorf("Sync after an oversize Fill = %v", err)
	}
	if n := f.value(t, "launches"); n != launches {
		t.Errorf("%d launches reached the driver", n-launches)
	}
	must(t, b.Sync())
}
