#!/usr/bin/env bash
# Trains one epoch of the click data (benchmark/cmd/genclick: user and item
# IDs embedded, click, conversion and dwell) with each model body (shared
# bottom, MMoE, PLE, at train's default sizes) on each device, one run after
# the other, and prints per run the training rows per second of the epoch
# (train's log), its wall time, the peak RSS of the whole process and that
# peak over what training must hold: the encoded rows (train's own "B a row",
# validation rows included) and the parameters with AdamW's two moments.
#   benchmark/click_arch.sh [ROWS] [DEVICES]
# ROWS defaults to 2000000 (200,000 users, 20,000 items, as genclick's
# default), DEVICES to "cpu opencl:0" (OpenCL: PoCL on a machine without a
# GPU). The data is generated once into $CLICK_DIR (default out/click),
# which git ignores, with the binary built there with -tags opencl.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-2000000}
devices=${2:-cpu opencl:0}
dir=${CLICK_DIR:-out/click}
mkdir -p "$dir"
csv="$dir/clicks-$rows.csv"
if [ ! -s "$csv" ]; then
  go run ./benchmark/cmd/genclick -rows "$rows" -out "$csv"
fi
go build -tags opencl -o "$dir/mtl-gpu" ./cmd/mtl-gpu

printf '%-10s %-7s %9s %8s %8s %8s %8s %6s\n' device body rows/s epoch_s wall_s peak_MB held_MB ratio
for device in $devices; do
  for body in shared mmoe ple; do
    out=$( { /usr/bin/time -f 'wall=%e peak_rss_kb=%M' "$dir/mtl-gpu" train --device "$device" --arch "$body" \
      --data "$csv" --task click:binary --task conversion:binary --task dwell:regression \
      --epochs 1 --out "$dir/$body.mtl" --force; } 2>&1 ) || { echo "$device $body failed: $(echo "$out" | tail -n 2)"; continue; }
    rps=$(echo "$out" | sed -n 's/.*msg=epoch .* rows_per_s=\([0-9.]*\).*/\1/p' | tail -n 1)
    secs=$(echo "$out" | sed -n 's/.*msg=epoch .* seconds=\([0-9.]*\).*/\1/p' | tail -n 1)
    per=$(echo "$out" | sed -n 's/.*(\([0-9]*\) B a row).*/\1/p' | tail -n 1)
    params=$(echo "$out" | sed -n 's/.*model of \([0-9]*\) parameters.*/\1/p' | tail -n 1)
    wall=$(echo "$out" | sed -n 's/.*wall=\([0-9.]*\).*/\1/p' | tail -n 1)
    rss=$(echo "$out" | sed -n 's/.*peak_rss_kb=\([0-9]*\).*/\1/p' | tail -n 1)
    awk -v d="$device" -v b="$body" -v rows="$rows" -v rps="$rps" -v es="$secs" -v per="$per" -v params="$params" -v wall="$wall" -v rss="$rss" 'BEGIN {
      held = rows * per + 3 * params * 4
      printf "%-10s %-7s %9.0f %8.1f %8.1f %8.0f %8.0f %6.2f\n", d, b, rps, es, wall, rss * 1024 / 1e6, held / 1e6, rss * 1024 / held }'
  done
done
