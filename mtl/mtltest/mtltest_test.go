package mtltest_test

import (
	"maps"
	"math"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mtl-gpu/mtl-gpu/backend"
	"github.com/mtl-gpu/mtl-gpu/backend/cpu"
	"github.com/mtl-gpu/mtl-gpu/mtl/mtltest"
)

// TestCPUFollowsItself runs the check on the CPU backend with one thread
// and whichever BLAS is present: a different GEMM and summation split must
// stay within the tolerances device backends are held to.
func TestCPUFollowsItself(t *testing.T) {
	b, err := cpu.New(backend.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	mtltest.FollowsCPU(t, b)
}

// halfBiasGradients is the CPU backend with the error of a device backend
// whose column sums come out halved: every bias gradient is half what it
// should be.
type halfBiasGradients struct{ backend.Backend }

func (h halfBiasGradients) ColSum(dst backend.Vec, m backend.Mat, alpha, beta float32) {
	h.Backend.ColSum(dst, m, alpha/2, beta)
}

// doubleGradientNorm is the CPU backend with a sum of squares four times
// too large: clipping sees twice the gradient norm.
type doubleGradientNorm struct{ backend.Backend }

func (d doubleGradientNorm) SumSquares(dst, x backend.Vec) {
	d.Backend.SumSquares(dst, x)
	d.Backend.Scale(dst, 4)
}

// stretchShortGradients is the CPU backend with a clipping step that
// forgets the min in min(1, c/‖g‖): it stretches a gradient shorter than
// the clipping norm c to length c.
type stretchShortGradients struct{ backend.Backend }

func (s stretchShortGradients) SGDStep(hp backend.SGD, param, grad, vel backend.Vec, clip backend.Clip) {
	if clip.MaxNorm > 0 {
		nn := make([]float32, 1)
		if err := s.ReadFloat32(nn, clip.NormSq.Buf, clip.NormSq.Off); err == nil && nn[0] > 0 {
			if n := math.Sqrt(float64(nn[0])); n < float64(clip.MaxNorm) {
				s.Scale(grad, float32(float64(clip.MaxNorm)/n))
			}
		}
	}
	s.Backend.SGDStep(hp, param, grad, vel, clip)
}

// otherDropoutMasks is the CPU backend drawing the dropout masks of other
// keys: the same rate and scale, other units.
type otherDropoutMasks struct{ backend.Backend }

func (o otherDropoutMasks) Dropout(dst, src backend.Mat, key uint64, row0 int, p float32) {
	o.Backend.Dropout(dst, src, key^1, row0, p)
}

// unsmoothedLabels is the CPU backend with a loss that ignores the label
// smoothing of its table.
type unsmoothedLabels struct{ backend.Backend }

func (u unsmoothedLabels) LossGrad(logits, labels backend.Mat, table backend.LossTable, weights backend.Vec, grad backend.Mat, sums backend.Vec) {
	table.Tasks = slices.Clone(table.Tasks)
	for t := range table.Tasks {
		table.Tasks[t].Smoothing = 0
	}
	u.Backend.LossGrad(logits, labels, table, weights, grad, sums)
}

// brokenBackends are faulty backends FollowsCPU must reject, with the runs
// that must fail for each (the adamw run hardly notices either fault).
var brokenBackends = map[string]struct {
	wrap     func(backend.Backend) backend.Backend
	mustFail []string
}{
	"half-bias-gradients":     {func(b backend.Backend) backend.Backend { return halfBiasGradients{b} }, []string{"sgd", "sgd-clipped"}},
	"double-gradient-norm":    {func(b backend.Backend) backend.Backend { return doubleGradientNorm{b} }, []string{"sgd-clipped"}},
	"stretch-short-gradients": {func(b backend.Backend) backend.Backend { return stretchShortGradients{b} }, []string{"sgd-clipped"}},
	"other-dropout-masks":     {func(b backend.Backend) backend.Backend { return otherDropoutMasks{b} }, []string{"adamw", "sgd"}},
	"unsmoothed-labels":       {func(b backend.Backend) backend.Backend { return unsmoothedLabels{b} }, []string{"adamw", "sgd"}},
}

// brokenEnv names the faulty backend a child test process checks.
const brokenEnv = "MTLTEST_BROKEN_BACKEND"

// TestFollowsCPURejectsBrokenBackends runs FollowsCPU on each faulty
// backend in a child process (a failing check cannot be observed from
// inside the same test) and requires it to fail, in the runs named.
func TestFollowsCPURejectsBrokenBackends(t *testing.T) {
	if name := os.Getenv(brokenEnv); name != "" {
		b, err := cpu.New(backend.Options{BLAS: "gonum"})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		mtltest.FollowsCPU(t, brokenBackends[name].wrap(b))
		return
	}
	failed := regexp.MustCompile(`--- FAIL: TestFollowsCPURejectsBrokenBackends/([^/ ]+)/([^ ]+)`)
	for _, name := range slices.Sorted(maps.Keys(brokenBackends)) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFollowsCPURejectsBrokenBackends$", "-test.v")
		cmd.Env = append(os.Environ(), brokenEnv+"="+name)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("FollowsCPU passed the %s backend:\n%s", name, out)
			continue
		}
		var runs []string
		for _, m := range failed.FindAllStringSubmatch(string(out), -1) {
			runs = append(runs, m[1]+"/"+m[2])
		}
		for _, run := range brokenBackends[name].mustFail {
			if !slices.ContainsFunc(runs, func(r string) bool { return strings.HasSuffix(r, "/"+run) }) {
				t.Errorf("%s backend: no %s run failed (failed: %v)\n%s", name, run, runs, out)
			}
		}
		t.Logf("%s backend: failed runs %v", name, runs)
	}
}
