#!/usr/bin/env bash
# Builds what it takes to check the CUDA backend on a machine with an NVIDIA
# GPU, into one directory (default out/gpu-check) that can be copied there:
#
#   cuda.test  the tests of backend/cuda: the conformance suite on cuda:0
#   mtl-gpu    the command, with the CUDA backend
#   run.sh     runs every check and prints PASS or FAIL for each
#
# Both binaries are built without cgo: on the GPU machine they need only the
# NVIDIA driver (libcuda.so.1) and cuBLAS (libcublas.so.13, .12 or .11),
# which they load at run time; no Go, no CUDA toolkit. Then, there:
#
#   ./gpu-check/run.sh [LOGDIR]
#
# Usage: scripts/gpu-check.sh [OUTDIR]. GOOS/GOARCH are taken from the
# environment as usual (GOARCH=arm64 for a Grace Hopper machine).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/out/gpu-check}"
go="${GO:-go}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cd "$root"

# The command gets the CUDA backend from a blank import in
# cmd/mtl-gpu/backends.go. Where that file does not have it (yet), the build
# adds it through an overlay instead of editing the source.
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

cat > "$out/run.sh" <<'RUN'
#!/bin/sh
# Checks the CUDA backend of mtl-gpu on this machine's cuda:0 and prints
# PASS or FAIL for each step, then an overall verdict (exit status 0 only
# when every step passed). Needs the NVIDIA driver and cuBLAS, nothing else.
#
#   run.sh [LOGDIR]     full logs go to LOGDIR (default: a new temporary dir)
#
# Environment: TOL (relative tolerance of CUDA against CPU losses, default
# 0.02), TF32_TOL (the same with --tf32, default 0.05), EPOCHS (training
# epochs, default 5), BENCH_EPOCHS (timed bench epochs, default 3),
# SKIP_BENCH=1 to skip the benchmarks, STEP_TIMEOUT (seconds, default 600).
set -u
here="$(cd "$(dirname "$0")" && pwd)"
logs="${1:-$(mktemp -d)}"
mkdir -p "$logs" || exit 2
logs="$(cd "$logs" && pwd)"
TOL="${TOL:-0.02}"
TF32_TOL="${TF32_TOL:-0.05}"
EPOCHS="${EPOCHS:-5}"
BENCH_EPOCHS="${BENCH_EPOCHS:-3}"
STEP_TIMEOUT="${STEP_TIMEOUT:-600}"
mtl="$here/mtl-gpu"
summary="$logs/summary.txt"
: > "$summary"
failed=0

# limit runs a command under the step timeout when timeout(1) exists.
limit() {
  if command -v timeout >/dev/null 2>&1; then
    timeout "$STEP_TIMEOUT" "$@"
  else
    "$@"
  fi
}

# step NAME FUNCTION [ARGS]: runs the function and records PASS or FAIL.
# (Variables of sh functions are global: each function keeps its own
# prefix.)
step() {
  step_name="$1"
  shift
  echo
  echo "=== $step_name"
  step_start=$(date +%s)
  if "$@"; then
    step_verdict=PASS
  else
    step_verdict=FAIL
    failed=1
  fi
  printf '%-4s  %-48s %5ss\n' "$step_verdict" "$step_name" "$(($(date +%s) - step_start))" >> "$summary"
  echo "--- $step_verdict: $step_name"
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

check_environment() {
  uname -a
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv || nvidia-smi -L
  else
    echo "(no nvidia-smi)"
  fi
  limit "$mtl" devices > "$logs/devices.txt" 2>&1
  env_rc=$?
  cat "$logs/devices.txt"
  [ $env_rc -eq 0 ] && grep -q '^cuda:0 ' "$logs/devices.txt"
}

check_conformance() {
  # -test.v lists every operation and shape; the log keeps it all.
  # The tests on the fake driver skip here: it is built from testdata.
  (cd "$here" && MTLGPU_REQUIRE_CUDA=1 limit ./cuda.test -test.v -test.count=1) > "$logs/conformance.txt" 2>&1
  conf_rc=$?
  grep -E '^\s*--- (FAIL|SKIP)' "$logs/conformance.txt" | grep -v -e '/fake ' -e 'TestFake' | head -40
  grep -E '^(ok|PASS|FAIL)' "$logs/conformance.txt" | tail -3
  echo "$(grep -cE '^\s*--- PASS' "$logs/conformance.txt") passed, $(grep -cE '^\s*--- FAIL' "$logs/conformance.txt") failed (full log: $logs/conformance.txt)"
  [ $conf_rc -eq 0 ]
}

# train DEVICE NAME [FLAGS]: the built-in demonstration (School data) for
# EPOCHS epochs with a fixed seed.
train() {
  train_dev="$1"
  train_name="$2"
  shift 2
  limit "$mtl" train --device "$train_dev" --epochs "$EPOCHS" --seed 7 \
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

echo "mtl-gpu GPU check, $(date -u '+%Y-%m-%d %H:%M:%S UTC'); logs in $logs"
step "environment: cuda:0 is listed" check_environment
step "conformance suite on cuda:0" check_conformance
step "train on cuda:0 matches cpu (tol $TOL)" check_train
step "train on cuda:0 --tf32 matches cpu (tol $TF32_TOL)" check_train_tf32
if [ "${SKIP_BENCH:-0}" != 1 ]; then
  step "bench linear on cuda:0" check_bench linear
  step "bench relu on cuda:0" check_bench relu
fi

echo
echo "=== summary"
cat "$summary"
if [ $failed -eq 0 ]; then
  echo "GPU CHECK: PASS"
else
  echo "GPU CHECK: FAIL"
fi
exit $failed
RUN
chmod +x "$out/run.sh"

echo "gpu-check: done. Copy $out to the GPU machine and run: $(basename "$out")/run.sh [LOGDIR]" >&2
ls -l "$out" >&2
