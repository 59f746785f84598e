#!/usr/bin/env bash
# Load test of mtl-gpu serve on the CPU: trains a model on adult, writes
# predict's output for the adult test file, then for each mode (with
# micro-batching: the defaults; without: --max-batch 1) serves the model
# on loopback and runs 16 concurrent clients for 30 s, each posting one
# test row per request and checking every answer against predict's
# (labels equal, numbers within a relative 1e-5: a BLAS may round a row
# differently in a batch of another size). Prints requests/s, rows/s and
# the p50/p99 latency of each mode, and the server's batch counts.
#   benchmark/serve_load.sh [DURATION] [CLIENTS] [ROWS_PER_REQUEST]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-30s}
clients=${2:-16}
rows=${3:-1}
data=${MTLGPU_TESTDATA:-../shared/data}/adult
work=out/serve-load
mkdir -p "$work"
go build -o "$work/mtl-gpu" ./cmd/mtl-gpu
go build -o "$work/serveload" ./benchmark/serveload
bin="$work/mtl-gpu"
if [ ! -f "$work/adult.mtl" ]; then
  "$bin" train --quiet --device cpu --data "$data/adult_train.csv.gz" \
    --task income_gt_50k:binary --task marital_status:multiclass --task relationship:multiclass \
    --out "$work/adult.mtl"
fi
"$bin" predict --quiet --device cpu --model "$work/adult.mtl" --data "$data/adult_test.csv.gz" --out "$work/expected.csv"

pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null || true' EXIT

run() {
  local label=$1; shift
  "$bin" serve --device cpu --model "$work/adult.mtl" --addr 127.0.0.1:0 "$@" >/dev/null 2>"$work/serve-$label.log" &
  pid=$!
  local addr=""
  for _ in $(seq 100); do
    addr=$(sed -n 's/.*msg=serving addr=\([^ ]*\).*/\1/p' "$work/serve-$label.log")
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || { cat "$work/serve-$label.log" >&2; kill "$pid"; exit 1; }
  "$work/serveload" -url "http://$addr" -data "$data/adult_test.csv.gz" -want "$work/expected.csv" \
    -clients "$clients" -duration "$duration" -rows "$rows" -label "$label"
  curl -s "http://$addr/metrics" | grep -E '^mtlgpu_(batches|batched_requests)_total' | tr '\n' ' '
  echo
  kill -TERM "$pid"
  wait "$pid"
  pid=""
}

run "micro-batching" --max-batch 1024 --max-wait 2ms
run "no batching" --max-batch 1
