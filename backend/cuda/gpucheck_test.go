package cuda

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Stand-ins for the binaries that scripts/gpu-check.sh carries to a GPU
// machine, and for the tools run.sh looks at there. Their behaviour
// follows STUB_* variables.
const (
	stubMTLGPU = `#!/bin/sh
case "$1" in
devices)
	if [ -n "${STUB_NO_GPU:-}" ]; then
		echo "cuda  -  -  no NVIDIA driver found (libcuda.so.1: cannot open shared object file)"
	else
		echo "cuda:0  Stub GPU  139.8 GiB  compute capability 9.0, cuBLAS ${MTLGPU_CUBLAS:-libcublas.so.12}"
		if [ -n "${STUB_TWO_GPUS:-}" ]; then
			echo "cuda:1  Stub GPU  139.8 GiB  compute capability 9.0, cuBLAS ${MTLGPU_CUBLAS:-libcublas.so.12}"
		fi
	fi
	echo "cpu  linux/amd64  -  BLAS gonum"
	;;
bench)
	if [ "$2" = "--help" ]; then
		echo "Flags:"
		echo '      --workload string    reference workload: linear, relu or wide (default "linear")'
		exit 0
	fi
	echo "workload $5"
	echo "loss before 2.3, after 1.1"
	echo "samples/s=1000"
	;;
train)
	while [ $# -gt 0 ]; do
		case "$1" in
		--log) log="$2"; shift ;;
		--out) out="$2"; shift ;;
		esac
		shift
	done
	echo '{"epoch":5,"task_train":[1.2],"train_loss":1.25,"val_loss":1.5}' > "$log"
	: > "$out"
	echo "held-out rows: explained variance 42.0%"
	;;
*)
	exit 2
	;;
esac
`
	stubCUDATest = `#!/bin/sh
if [ -n "${STUB_SLOW:-}" ]; then
	exec sleep 30
fi
[ "$MTLGPU_REQUIRE_CUDA" = 1 ] || exit 3
echo "=== RUN   TestJIT"
echo "    conformance_test.go:80: JIT log of the kernels on cuda:0 (Stub GPU):"
echo "        ptxas info    : Used 12 registers"
echo "--- PASS: TestJIT (0.10s)"
echo "PASS"
`
	// stubMpirun says how it was called and runs the command once.
	stubMpirun = `#!/bin/sh
echo "mpirun $*"
while [ $# -gt 0 ]; do
	case "$1" in
	-np) shift 2 ;;
	-*) shift ;;
	*) break ;;
	esac
done
exec "$@"
`
	stubNvidiaSMI = `#!/bin/sh
echo "NVIDIA H200, 570.86.15, 143771 MiB, 9.0"
`
	stubLdconfig = `#!/bin/sh
[ "$1" = -p ] || exit 1
echo "123 libs found in cache"
for lib in ${STUB_LIBS:-}; do
	printf '\t%s (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/%s\n' "$lib" "$lib"
done
`
)

// runGPUCheck writes run.sh with scripts/gpu-check.sh --script-only, puts
// the stand-ins next to it, runs it with env and returns its output, exit
// status and how long it took.
func runGPUCheck(t *testing.T, withSMI bool, env ...string) (string, int, time.Duration) {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "gpu-check.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(script); err != nil {
		t.Skip("not run from the source tree: no scripts/gpu-check.sh")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to run scripts/gpu-check.sh")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "gpu-check")
	if b, err := exec.Command(bash, script, "--script-only", out).CombinedOutput(); err != nil {
		t.Fatalf("gpu-check.sh --script-only: %v\n%s", err, b)
	}
	bin := filepath.Join(dir, "bin")
	files := map[string]string{
		filepath.Join(out, "mtl-gpu"):   stubMTLGPU,
		filepath.Join(out, "cuda.test"): stubCUDATest,
		filepath.Join(bin, "ldconfig"):  stubLdconfig,
	}
	if withSMI {
		files[filepath.Join(bin, "nvidia-smi")] = stubNvidiaSMI
		files[filepath.Join(bin, "mpirun")] = stubMpirun
	}
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for path, text := range files {
		if err := os.WriteFile(path, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", filepath.Join(out, "run.sh"), filepath.Join(dir, "logs"))
	cmd.Env = append([]string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=" + dir, "LD_LIBRARY_PATH="}, env...)
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	b, err := cmd.CombinedOutput()
	took := time.Since(start)
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("run.sh: %v\n%s", err, b)
		}
		code = ee.ExitCode()
	}
	return string(b), code, took
}

// wantLines checks that out has each line of want (after leading spaces
// are trimmed) and none of unwanted.
func wantLines(t *testing.T, out string, want, unwanted []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("run.sh's output lacks %q", w)
		}
	}
	for _, u := range unwanted {
		if strings.Contains(out, u) {
			t.Errorf("run.sh's output has %q", u)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// TestGPUCheckBareNode runs run.sh where nothing of NVIDIA is installed:
// one MISSING line per piece, a failed verdict, and the bench workloads
// still read from the binary's help, every one of them.
func TestGPUCheckBareNode(t *testing.T) {
	out, code, _ := runGPUCheck(t, false, "STUB_NO_GPU=1")
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	wantLines(t, out, []string{
		"MISSING: nvidia-smi is not on PATH",
		"MISSING: libcuda.so.1 (the NVIDIA driver's CUDA library) is not known to the dynamic loader",
		"MISSING: cuBLAS (libcublas.so.13, .12 or .11) is not known to the dynamic loader",
		"FAIL  driver and cuBLAS are installed",
		"FAIL  environment: cuda:0 is listed",
		"PASS  bench linear on cuda:0",
		"PASS  bench relu on cuda:0",
		"PASS  bench wide on cuda:0",
		"GPU CHECK: FAIL",
	}, []string{"GPU CHECK: PASS", "passed: not run", "stopped"})
}

// TestGPUCheckComplete runs run.sh where everything is in place, and with
// MTLGPU_CUBLAS naming a library that is not there.
func TestGPUCheckComplete(t *testing.T) {
	out, code, _ := runGPUCheck(t, true, "STUB_LIBS=libcuda.so.1 libcublas.so.12")
	if code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	wantLines(t, out, []string{
		"driver: nvidia-smi at ",
		"NVIDIA H200, 570.86.15",
		"driver: libcuda.so.1 at /usr/lib/x86_64-linux-gnu/libcuda.so.1",
		"cuBLAS: libcublas.so.12 at /usr/lib/x86_64-linux-gnu/libcublas.so.12",
		"PASS  PTX JIT of the kernels on cuda:0",
		"ptxas info    : Used 12 registers",
		"PASS  conformance suite on cuda:0",
		"PASS  train on cuda:0 matches cpu",
		"PASS  train on cuda:0 --tf32 matches cpu",
		"PASS  bench wide on cuda:0",
		"SKIPPED: train on 2 GPUs under mpirun (needs mpirun and 2 GPUs;",
		"GPU CHECK: PASS",
	}, []string{"MISSING", "FAIL"})

	out, code, _ = runGPUCheck(t, true, "STUB_LIBS=libcuda.so.1", "MTLGPU_CUBLAS=/nonexistent/libcublas.so.12")
	if code != 1 {
		t.Errorf("with a missing MTLGPU_CUBLAS: exit status %d, want 1", code)
	}
	wantLines(t, out, []string{
		"MISSING: MTLGPU_CUBLAS=/nonexistent/libcublas.so.12: no such file",
		"cuBLAS /nonexistent/libcublas.so.12", // passed on to mtl-gpu
		"GPU CHECK: FAIL",
	}, []string{"MISSING: nvidia-smi", "MISSING: libcuda.so.1", "MISSING: cuBLAS"})
}

// TestGPUCheckTwoGPUs runs run.sh where two GPUs and mpirun are there:
// the demonstration trains on both, one process each, and is compared
// with the CPU's run.
func TestGPUCheckTwoGPUs(t *testing.T) {
	out, code, _ := runGPUCheck(t, true, "STUB_LIBS=libcuda.so.1 libcublas.so.12", "STUB_TWO_GPUS=1")
	if code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	wantLines(t, out, []string{
		"mpirun --allow-run-as-root --oversubscribe -np 2 ",
		"train --device cuda:local --epochs",
		"PASS  train on 2 GPUs under mpirun matches cpu",
		"GPU CHECK: PASS",
	}, []string{"SKIPPED", "FAIL"})
}

// TestGPUCheckDeadline makes the tests hang: run.sh stops them at its own
// deadline, fails the steps it has no time for, and ends soon after.
func TestGPUCheckDeadline(t *testing.T) {
	out, code, took := runGPUCheck(t, true, "STUB_LIBS=libcuda.so.1 libcublas.so.12", "STUB_SLOW=1", "DEADLINE=3")
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if took > 20*time.Second {
		t.Errorf("run.sh took %v with a deadline of 3 s", took)
	}
	wantLines(t, out, []string{
		"(stopped: the deadline of 3s or STEP_TIMEOUT came)",
		"s (stopped at the deadline)",
		"FAIL  PTX JIT of the kernels on cuda:0",
		"(deadline of 3s passed: not run)",
		"FAIL  bench wide on cuda:0",
		"(the deadline of 3s stopped or skipped some steps)",
		"GPU CHECK: FAIL",
	}, nil)
}
