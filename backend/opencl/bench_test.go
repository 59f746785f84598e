//go:build opencl

package opencl

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
)

// gemmSize is the order of the square matrices the GEMM benchmarks
// multiply.
const gemmSize = 1024

// gemmOperands uploads random square operands to be (gonum skips zero
// elements of A, so zeros would measure nothing) and returns a function
// that runs one multiply with the given transposes and waits for it.
func gemmOperands(tb testing.TB, be backend.Backend, n int) func(transA, transB bool) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := func() []float32 {
		v := make([]float32, n*n)
		for i := range v {
			v[i] = float32(rng.Float64()*2 - 1)
		}
		return v
	}
	a, err := be.Upload(data())
	if err != nil {
		tb.Fatal(err)
	}
	bm, err := be.Upload(data())
	if err != nil {
		tb.Fatal(err)
	}
	c, err := be.Alloc(backend.Float32, n*n)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { be.Free(a); be.Free(bm); be.Free(c) })
	return func(transA, transB bool) {
		be.Gemm(transA, transB, 1, backend.Dense(a, 0, n, n), backend.Dense(bm, 0, n, n), 0, backend.Dense(c, 0, n, n))
		if err := be.Sync(); err != nil {
			tb.Fatal(err)
		}
	}
}

func gonum(tb testing.TB) *cpu.Backend {
	ref, err := cpu.New(backend.Options{BLAS: "gonum"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ref.Close() })
	return ref
}

func gflops(n, count int, d time.Duration) float64 {
	return 2 * float64(n) * float64(n) * float64(n) * float64(count) / d.Seconds() / 1e9
}

// cpuTime is the processor time used so far by every thread of the
// process, the OpenCL runtime's included. GFLOP per processor-second
// tells how efficient a GEMM is even when other work shares the machine.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGemm measures the OpenCL GEMM and the CPU backend's pure-Go
// gonum GEMM on the same square operands, for the transposes training
// uses: NN (forward), NT (input gradients) and TN (weight gradients). On
// a shared machine GFLOP/cpu-s, the speed per second of processor time,
// is steadier than GFLOP/s.
func BenchmarkGemm(b *testing.B) {
	backends := []struct {
		name string
		be   backend.Backend
	}{{"opencl", open(b)}, {"gonum", gonum(b)}}
	for _, x := range backends {
		run := gemmOperands(b, x.be, gemmSize)
		for _, tr := range []struct {
			name           string
			transA, transB bool
		}{{"NN", false, false}, {"NT", false, true}, {"TN", true, false}} {
			b.Run(fmt.Sprintf("%s/%s-%d", x.name, tr.name, gemmSize), func(b *testing.B) {
				run(tr.transA, tr.transB) // build, warm caches
				b.ResetTimer()
				start, cpuStart := time.Now(), cpuTime(b)
				for range b.N {
					run(tr.transA, tr.transB)
				}
				b.ReportMetric(gflops(gemmSize, b.N, time.Since(start)), "GFLOP/s")
				b.ReportMetric(gflops(gemmSize, b.N, cpuTime(b)-cpuStart), "GFLOP/cpu-s")
			})
		}
	}
}

// BenchmarkGemmVsGonum alternates the two GEMMs in each iteration, so that
// both see the same load on a shared machine, and reports their speeds and
// the ratio of OpenCL to gonum.
func BenchmarkGemmVsGonum(b *testing.B) {
	clRun := gemmOperands(b, open(b), gemmSize)
	goRun := gemmOperands(b, gonum(b), gemmSize)
	clRun(false, false)
	goRun(false, false)
	b.ResetTimer()
	var clTime, goTime time.Duration
	for range b.N {
		start := time.Now()
		clRun(false, false)
		clTime += time.Since(start)
		start = time.Now()
		goRun(false, false)
		goTime += time.Since(start)
	}
	clSpeed, goSpeed := gflops(gemmSize, b.N, clTime), gflops(gemmSize, b.N, goTime)
	b.ReportMetric(clSpeed, "opencl-GFLOP/s")
	b.ReportMetric(goSpeed, "gonum-GFLOP/s")
	b.ReportMetric(clSpeed/goSpeed, "opencl/gonum")
}
