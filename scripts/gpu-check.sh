#!/usr/bin/env bash
# Builds what it takes to check the CUDA backend on a machine with an NVIDIA
# GPU, into one directory (default out/gpu-check) that can be copied there:
#
#   cuda.test  the tests of backend/cuda: the conformance suite on cuda:0
#   mtl-gpu    the command, with the CUDA backend
#   run.sh     runs every check and prints PASS or FAIL for each
#
# Both binaries are built without cgo: on the GPU machine they need only the
# NVIDIA driver (libcuda.so.1) and cuBLAS (libcublas.so.13, .12 or .11, or
# the library MTLGPU_CUBLAS names), which they load at run time; no Go, no
# CUDA toolkit, no compiler. Then, there:
#
#   ./gpu-check/run.sh [LOGDIR]
#
# Usage: scripts/gpu-check.sh [--script-only] [OUTDIR]. --script-only writes
# run.sh alone (its tests use that). GOOS/GOARCH are taken from the
# environment as usual (GOARCH=arm64 for a Grace Hopper machine).
set -euo pipefail

script_only=0
if [ "${1:-}" = "--script-only" ]; then
  script_only=1
  shift
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/out/gpu-check}"
go="${GO:-go}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cd "$root"

if [ $script_only -eq 0 ]; then
  # The command gets the CUDA backend from a blank import in
  # cmd/mtl-gpu/backends.go. Where that file does not have it (yet), the
  # build adds it through an overlay instead of editing the source.
  overlay=()
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  if ! grep -q '"github.com/mtl-gpu/mtl-gpu/backend/cuda"' cmd/mtl-gpu/backends.go; then
    awk '{ print } /^import \($/ && !done { print "\t_ \"github.com/mtl-gpu/mtl-gpu/backend/cuda\""; done = 1 }' \
      cmd/mtl-gpu/backends.go > "$tmp/backends.go"
    grep -q 'backend/cuda"' "$tmp/backends.go" || {
      echo "gpu-check: cannot add the CUDA backend to cmd/mtl-gpu/backends.go (no 'import (' block)" >&2
      exit 1
    }
    printf '{"Replace": {"%s": "%s"}}\n' "$root/cmd/mtl-gpu/backends.go" "$tmp/backends.go" > "$tmp/overlay.json"
    overlay=(-overlay "$tmp/overlay.json")
    echo "gpu-check: cmd/mtl-gpu does not import backend/cuda; building with it added by an overlay" >&2
  fi

  echo "gpu-check: building into $out" >&2
  CGO_ENABLED=0 "$go" test -c -o "$out/cuda.test" ./backend/cuda
  CGO_ENABLED=0 "$go" build "${overlay[@]}" -o "$out/mtl-gpu" ./cmd/mtl-gpu
fi

cat > "$out/run.sh" <<'RUN'
#!/bin/sh
# Checks the CUDA backend of mtl-gpu on this machine's cuda:0 and prints
# PASS or FAIL for each step, then an overall verdict (exit status 0 only
# when every step passed). Needs the NVIDIA driver and cuBLAS, nothing else.
#
#   run.sh [LOGDIR]     full logs go to LOGDIR (default: a new temporary dir)
#
# Environment:
#   MTLGPU_CUBLAS   the cuBLAS library to load, for mtl-gpu and the tests
#                   (e.g. .../site-packages/nvidia/cublas/lib/libcublas.so.12
#                   from the pip wheel nvidia-cublas-cu12)
#   DEADLINE        seconds for the whole check (default 540); run.sh stops
#                   what still runs then, and fails the steps it could not run
#   STEP_TIMEOUT    seconds for one command (default: the deadline)
#   TOL, TF32_TOL   relative tolerance of CUDA against CPU losses (default
#                   0.02), and with --tf32 (default 0.05)
#   EPOCHS          training epochs (default 5)
#   BENCH_EPOCHS    timed bench epochs (default 3); SKIP_BENCH=1 skips them
set -u
here="$(cd "$(dirname "$0")" && pwd)"
logs="${1:-$(mktemp -d)}"
mkdir -p "$logs" || exit 2
logs="$(cd "$logs" && pwd)"
DEADLINE="${DEADLINE:-540}"
STEP_TIMEOUT="${STEP_TIMEOUT:-$DEADLINE}"
TOL="${TOL:-0.02}"
TF32_TOL="${TF32_TOL:-0.05}"
EPOCHS="${EPOCHS:-5}"
BENCH_EPOCHS="${BENCH_EPOCHS:-3}"
mtl="$here/mtl-gpu"
summary="$logs/summary.txt"
: > "$summary"
failed=0
deadline=$(($(date +%s) + DEADLINE))
rm -f "$logs/.deadline"

# limit runs a command and stops it (TERM, then KILL) when the deadline or
# the step timeout comes; it returns 124 then. run.sh keeps its own watch,
# so it needs no timeout(1).
limit() {
  lim_left=$((deadline - $(date +%s)))
  [ "$lim_left" -gt "$STEP_TIMEOUT" ] && lim_left=$STEP_TIMEOUT
  if [ "$lim_left" -le 0 ]; then
    echo "(deadline of ${DEADLINE}s passed: not run)"
    touch "$logs/.deadline"
    return 124
  fi
  "$@" &
  lim_pid=$!
  (
    lim_sleep=""
    trap '[ -n "$lim_sleep" ] && kill "$lim_sleep" 2>/dev/null; exit 0' TERM
    sleep "$lim_left" > /dev/null 2>&1 &
    lim_sleep=$!
    wait "$lim_sleep"
    touch "$logs/.stopped" "$logs/.deadline"
    kill -TERM "$lim_pid" 2>/dev/null
    sleep 5 > /dev/null 2>&1 &
    lim_sleep=$!
    wait "$lim_sleep"
    kill -KILL "$lim_pid" 2>/dev/null
  ) &
  lim_dog=$!
  wait "$lim_pid"
  lim_rc=$?
  kill -TERM "$lim_dog" 2>/dev/null
  wait "$lim_dog" 2>/dev/null
  if [ -e "$logs/.stopped" ]; then
    echo "(stopped after ${lim_left}s: the deadline of ${DEADLINE}s or STEP_TIMEOUT)"
    return 124
  fi
  return $lim_rc
}

# left is the number of seconds before the deadline.
left() { echo $((deadline - $(date +%s))); }

# step NAME FUNCTION [ARGS]: runs the function and records PASS or FAIL; a
# step the deadline leaves no time for fails without running. (Variables
# of sh functions are global: each function keeps its own prefix.)
step() {
  step_name="$1"
  shift
  echo
  echo "=== $step_name"
  step_start=$(date +%s)
  rm -f "$logs/.stopped"
  if [ "$(left)" -le 0 ]; then
    echo "(deadline of ${DEADLINE}s passed: not run)"
    touch "$logs/.deadline"
    step_verdict=FAIL
    failed=1
  elif "$@"; then
    step_verdict=PASS
  else
    step_verdict=FAIL
    failed=1
  fi
  step_note=""
  if [ -e "$logs/.stopped" ]; then
    step_note=" (stopped at the deadline)"
    echo "(stopped: the deadline of ${DEADLINE}s or STEP_TIMEOUT came)"
  fi
  printf '%-4s  %-48s %5ss%s\n' "$step_verdict" "$step_name" "$(($(date +%s) - step_start))" "$step_note" >> "$summary"
  echo "--- $step_verdict: $step_name$step_note"
}

# close A B TOL: |A − B| ≤ TOL·max(|A|, |B|, 1).
close() {
  awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN {
    if (a == "" || b == "" || a != a + 0 || b != b + 0) exit 1
    d = a - b; if (d < 0) d = -d
    m = a < 0 ? -a : a; n = b < 0 ? -b : b; if (n > m) m = n; if (m < 1) m = 1
    exit !(d <= t * m)
  }'
}

# last FIELD FILE: the top-level FIELD of the last JSON line of a training
# log (the last occurrence on the line: per-task values come first).
last() {
  tail -n 1 "$2" | sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p"
}

# loader_has NAME: the path the dynamic loader knows NAME by (ldconfig -p),
# or one in LD_LIBRARY_PATH; nothing when there is none.
loader_has() {
  for lh_ldconfig in ldconfig /sbin/ldconfig /usr/sbin/ldconfig; do
    if command -v "$lh_ldconfig" >/dev/null 2>&1; then
      lh_path=$("$lh_ldconfig" -p 2>/dev/null | awk -v n="$1" '$1 == n { print $NF; exit }')
      [ -n "$lh_path" ] && { echo "$lh_path"; return 0; }
      break
    fi
  done
  lh_rest="${LD_LIBRARY_PATH:-}"
  while [ -n "$lh_rest" ]; do
    lh_dir="${lh_rest%%:*}"
    [ "$lh_dir" = "$lh_rest" ] && lh_rest="" || lh_rest="${lh_rest#*:}"
    [ -n "$lh_dir" ] && [ -e "$lh_dir/$1" ] && { echo "$lh_dir/$1"; return 0; }
  done
  return 1
}

# check_pieces says, one line each, whether the driver (nvidia-smi,
# libcuda.so.1) and cuBLAS are there, with a line starting MISSING for each
# piece that is not.
check_pieces() {
  pieces_rc=0
  uname -a
  if command -v nvidia-smi >/dev/null 2>&1; then
    echo "driver: nvidia-smi at $(command -v nvidia-smi):"
    limit nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader || limit nvidia-smi -L
  else
    echo "MISSING: nvidia-smi is not on PATH: the NVIDIA driver is not installed (or its tools are not on PATH)"
    pieces_rc=1
  fi
  if p=$(loader_has libcuda.so.1); then
    echo "driver: libcuda.so.1 at $p"
  else
    echo "MISSING: libcuda.so.1 (the NVIDIA driver's CUDA library) is not known to the dynamic loader (ldconfig -p) nor in LD_LIBRARY_PATH"
    pieces_rc=1
  fi
  if [ -n "${MTLGPU_CUBLAS:-}" ]; then
    if [ -r "$MTLGPU_CUBLAS" ]; then
      echo "cuBLAS: MTLGPU_CUBLAS=$MTLGPU_CUBLAS"
    else
      echo "MISSING: MTLGPU_CUBLAS=$MTLGPU_CUBLAS: no such file"
      pieces_rc=1
    fi
  else
    pieces_cublas=""
    for n in libcublas.so.13 libcublas.so.12 libcublas.so.11; do
      if p=$(loader_has "$n"); then
        echo "cuBLAS: $n at $p"
        pieces_cublas=1
      fi
    done
    if [ -z "$pieces_cublas" ]; then
      echo "MISSING: cuBLAS (libcublas.so.13, .12 or .11) is not known to the dynamic loader (ldconfig -p) nor in LD_LIBRARY_PATH;" \
        "install it (CUDA toolkit, or pip install nvidia-cublas-cu12) and set MTLGPU_CUBLAS=/path/to/libcublas.so.12"
      pieces_rc=1
    fi
  fi
  return $pieces_rc
}

check_devices() {
  limit "$mtl" devices > "$logs/devices.txt" 2>&1
  dev_rc=$?
  cat "$logs/devices.txt"
  [ $dev_rc -eq 0 ] && grep -q '^cuda:0 ' "$logs/devices.txt"
}

# cuda_test NAME ARGS: runs the backend's tests on cuda:0, into NAME.txt.
# (The tests on the stand-in driver skip here: it is built from sources.)
cuda_test() {
  ct_log="$logs/$1.txt"
  shift
  # Go's own timeout, a little before the deadline, dumps what hangs.
  ct_timeout=$(left)
  ct_timeout=$((ct_timeout > 15 ? ct_timeout - 10 : 5))
  (cd "$here" && export MTLGPU_REQUIRE_CUDA=1 &&
    limit ./cuda.test -test.count=1 -test.timeout "${ct_timeout}s" "$@") > "$ct_log" 2>&1
}

check_jit() {
  cuda_test jit -test.run '^TestJIT$' -test.v
  jit_rc=$?
  sed -n '/JIT log of the kernels/,/^--- /p' "$logs/jit.txt" | head -60
  grep -E '^(--- |ok|PASS|FAIL)' "$logs/jit.txt" | tail -3
  echo "(full log: $logs/jit.txt)"
  [ $jit_rc -eq 0 ]
}

check_conformance() {
  # -test.v lists every operation and shape; the log keeps it all.
  cuda_test conformance -test.v
  conf_rc=$?
  grep -E '^\s*--- (FAIL|SKIP)' "$logs/conformance.txt" | grep -v -e '/fake ' -e 'TestFake' | head -40
  grep -E '^(ok|PASS|FAIL)' "$logs/conformance.txt" | tail -3
  echo "$(grep -cE '^\s*--- PASS' "$logs/conformance.txt") passed, $(grep -cE '^\s*--- FAIL' "$logs/conformance.txt") failed (full log: $logs/conformance.txt)"
  [ $conf_rc -eq 0 ]
}

# train DEVICE NAME [FLAGS]: the built-in demonstration (School data) for
# EPOCHS epochs with a fixed seed, started by $train_launch when set.
train() {
  train_dev="$1"
  train_name="$2"
  shift 2
  # train_launch, when set, starts the run (mpirun and its options).
  limit ${train_launch:-} "$mtl" train --device "$train_dev" --epochs "$EPOCHS" --seed 7 \
    --out "$logs/$train_name.mtl" --log "$logs/$train_name.jsonl" "$@" \
    > "$logs/$train_name.out" 2> "$logs/$train_name.err"
  train_rc=$?
  tail -n 2 "$logs/$train_name.err"
  cat "$logs/$train_name.out"
  [ $train_rc -eq 0 ]
}

# compare NAME TOL: the losses of run NAME against the CPU run.
compare() {
  cmp_rc=0
  for f in train_loss val_loss; do
    a="$(last $f "$logs/$1.jsonl")"
    b="$(last $f "$logs/cpu.jsonl")"
    if close "$a" "$b" "$2"; then
      echo "$f: $1 $a, cpu $b (within $2)"
    else
      echo "$f: $1 '$a', cpu '$b': NOT within $2"
      cmp_rc=1
    fi
  done
  ev_a="$(sed -n 's/.*explained variance \([-0-9.]*\)%.*/\1/p' "$logs/$1.out")"
  ev_b="$(sed -n 's/.*explained variance \([-0-9.]*\)%.*/\1/p' "$logs/cpu.out")"
  if awk -v a="$ev_a" -v b="$ev_b" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && b != "" && d <= 1) }'; then
    echo "held-out explained variance: $1 $ev_a%, cpu $ev_b% (within 1 point)"
  else
    echo "held-out explained variance: $1 '$ev_a'%, cpu '$ev_b'%: NOT within 1 point"
    cmp_rc=1
  fi
  return $cmp_rc
}

check_train() {
  train cpu cpu && train cuda:0 cuda && compare cuda "$TOL"
}

check_train_tf32() {
  [ -s "$logs/cpu.jsonl" ] || train cpu cpu || return 1
  train cuda:0 cuda-tf32 --tf32 && compare cuda-tf32 "$TF32_TOL"
}

# gpus counts the CUDA devices the binary lists.
gpus() {
  limit "$mtl" devices 2>/dev/null | grep -c '^cuda:[0-9]'
}

# check_two_gpus trains the demonstration on 2 GPUs, one process each
# under mpirun (the all-reduce goes through the host with MPI), and
# compares it with the CPU run.
check_two_gpus() {
  [ -s "$logs/cpu.jsonl" ] || train cpu cpu || return 1
  train_launch="mpirun --allow-run-as-root --oversubscribe -np 2"
  train cuda:local cuda2
  two_rc=$?
  train_launch=
  [ $two_rc -eq 0 ] && compare cuda2 "$TOL"
}

# workloads lists the bench workloads the binary has, from the help of its
# --workload flag ("…: linear, relu or wide (default …)").
workloads() {
  limit "$mtl" bench --help 2>/dev/null |
    sed -n 's/.*--workload string[^:]*: *\(.*\) (default.*/\1/p' | head -n 1 |
    sed 's/,/ /g; s/ or / /g; s/ and / /g'
}

check_bench() {
  limit "$mtl" bench --device cuda:0 --workload "$1" --epochs "$BENCH_EPOCHS" > "$logs/bench-$1.txt" 2>&1
  bench_rc=$?
  cat "$logs/bench-$1.txt"
  [ $bench_rc -eq 0 ] || return 1
  grep -q '^samples/s=[0-9]' "$logs/bench-$1.txt" || return 1
  # The loss must have gone down.
  sed -n 's/^loss before \([-0-9.eE+]*\), after \([-0-9.eE+]*\)$/\1 \2/p' "$logs/bench-$1.txt" |
    awk 'NF == 2 && $2 < $1 { ok = 1 } END { exit !ok }'
}

no_workloads() {
  echo "cannot read the workloads from the help of: $mtl bench --help"
  return 1
}

echo "mtl-gpu GPU check, $(date -u '+%Y-%m-%d %H:%M:%S UTC'); deadline ${DEADLINE}s; logs in $logs"
# The workloads are read first, so that each one gets its line.
bench_list="$(workloads)"
step "driver and cuBLAS are installed" check_pieces
step "environment: cuda:0 is listed" check_devices
step "PTX JIT of the kernels on cuda:0 (log: jit.txt)" check_jit
step "conformance suite on cuda:0" check_conformance
step "train on cuda:0 matches cpu (tol $TOL)" check_train
step "train on cuda:0 --tf32 matches cpu (tol $TF32_TOL)" check_train_tf32
if command -v mpirun > /dev/null 2>&1 && [ "$(gpus)" -ge 2 ]; then
  step "train on 2 GPUs under mpirun matches cpu (tol $TOL)" check_two_gpus
else
  echo
  echo "SKIPPED: train on 2 GPUs under mpirun (needs mpirun and 2 GPUs; found mpirun: $(command -v mpirun || echo no), GPUs: $(gpus))"
fi
if [ "${SKIP_BENCH:-0}" != 1 ]; then
  if [ -z "$bench_list" ]; then
    step "bench workloads" no_workloads
  fi
  for w in $bench_list; do
    step "bench $w on cuda:0" check_bench "$w"
  done
fi

echo
echo "=== summary"
cat "$summary"
if [ -e "$logs/.deadline" ]; then
  echo "(the deadline of ${DEADLINE}s stopped or skipped some steps)"
fi
if [ $failed -eq 0 ]; then
  echo "GPU CHECK: PASS"
else
  echo "GPU CHECK: FAIL"
fi
exit $failed
RUN
chmod +x "$out/run.sh"

[ $script_only -eq 1 ] && exit 0
echo "gpu-check: done. Copy $out to the GPU machine and run: $(basename "$out")/run.sh [LOGDIR]" >&2
ls -l "$out" >&2
