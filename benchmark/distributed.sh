#!/usr/bin/env bash
# Times data-parallel training on the reference workload (mtl-gpu bench:
# 65,536 samples, a linear 256-wide shared projection of 512 features, 8
# tasks of 10 classes, batch 1,024, SGD) and its MMoE body, on 1, 2 and 3
# CPU processes under mpirun, with the weightings equal and pcgrad, and
# prints per run the step time, the values one step's all-reduce carries
# and the share of the step spent in it (waiting for the slowest process
# included). On a machine with fewer cores than processes the processes
# share the cores (--oversubscribe): the figures say what the all-reduce
# costs, not how training scales.
#   benchmark/distributed.sh [PROCS] [EPOCHS]
# PROCS defaults to "1 2 3", EPOCHS (timed, after a warm-up) to 1. Needs
# Open MPI (Debian: openmpi-bin libopenmpi-dev); as root it sets the two
# variables mpirun asks for.
set -euo pipefail
cd "$(dirname "$0")/.."
procs=${1:-1 2 3}
epochs=${2:-1}
dir=${DIST_DIR:-out/distributed}
mkdir -p "$dir"
CGO_ENABLED=0 go build -o "$dir/mtl-gpu" ./cmd/mtl-gpu
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none

printf '%-7s %-7s %5s %10s %9s %12s %9s %7s\n' body method procs samples/s step_ms allreduce_MB reduce_ms share
for body in shared mmoe; do
  for n in $procs; do
    # Each process gets the cores divided among them (train's default).
    out=$(mpirun -np "$n" --oversubscribe "$dir/mtl-gpu" bench --arch "$body" --epochs "$epochs" --weighting equal,pcgrad 2>&1)
    for method in equal pcgrad; do
      line=$(grep "^$method on $n processes" <<<"$out" || true)
      if [ "$method" = equal ]; then
        rate=$(grep -o '^samples/s=[0-9]*' <<<"$out" | cut -d= -f2)
      else
        rate=$(grep -o '^weighting pcgrad: [0-9]* samples/s' <<<"$out" | awk '{print $3}')
      fi
      if [ -z "$line" ]; then
        # One process: no all-reduce.
        step=$(awk -v r="$rate" 'BEGIN { printf "%.2f", 1024 / r * 1000 }')
        printf '%-7s %-7s %5d %10s %9s %12s %9s %7s\n' "$body" "$method" "$n" "$rate" "$step" - - -
        continue
      fi
      mb=$(sed -E 's/.*\(([0-9.]+) MB\).*/\1/' <<<"$line")
      reduce=$(sed -E 's/.* ([0-9.]+) ms of the.*/\1/' <<<"$line")
      step=$(sed -E 's/.*of the ([0-9.]+) ms step.*/\1/' <<<"$line")
      share=$(sed -E 's/.*step \(([0-9]+%)\).*/\1/' <<<"$line")
      printf '%-7s %-7s %5d %10s %9s %12s %9s %7s\n' "$body" "$method" "$n" "$rate" "$step" "$mb" "$reduce" "$share"
    done
  done
done
