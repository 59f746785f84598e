#!/usr/bin/env bash
# Runs mtl-gpu bench on the CPU and the PyTorch reference on the same
# workload with the same number of threads, one after the other on the
# same machine, and prints the ratio of their throughputs.
#   benchmark/compare.sh [THREADS] [WORKLOAD]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-$(nproc)}
workload=${2:-linear}
python=${PYTHON:-/usr/bin/python3}
bin=${BIN:-bin/mtl-gpu}

ours=$("$bin" bench --device cpu --threads "$threads" --workload "$workload" --profile=false | tee /dev/stderr | tail -n 1 | cut -d= -f2)
theirs=$(OMP_NUM_THREADS="$threads" "$python" benchmark/torch_reference.py --threads "$threads" --workload "$workload" | tee /dev/stderr | tail -n 1 | cut -d= -f2)
awk -v a="$ours" -v b="$theirs" -v t="$threads" -v w="$workload" 'BEGIN {
  printf "workload %s, %d threads: mtl-gpu %d samples/s, PyTorch %d samples/s, ratio %.2f\n", w, t, a, b, a / b }'
