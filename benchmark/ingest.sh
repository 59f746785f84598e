#!/usr/bin/env bash
# Times reading the ingest benchmark table (1,000,000 rows, 40 normal
# inputs, two integer IDs, three targets; see benchmark/cmd/gendata) with
# mtl-gpu's block readers, pandas.read_csv and DuckDB, fitting and encoding
# it as training does (from the CSV and from Parquet), training one epoch
# on it with the mtl-gpu binary (from the CSV and from Parquet, on the
# CPU), and writing it as Parquet with mtl-gpu and with DuckDB's COPY, on
# the same file and number of threads, one after the other, and prints
# times, ratios and peak memory; for training also its peak memory over
# what it must hold: the encoded rows (inputs and labels, 4 bytes each),
# the parameters and AdamW's two moments. Last, it trains one epoch from
# the CSV streamed (--stream) with a memory budget of a fifth of the
# encoded rows, against the same run held in memory (both with 1% of the
# rows for validation, which a streamed run holds in memory), and prints
# the ratios of their peak memory and rows per second.
#   benchmark/ingest.sh [THREADS]
# The table is generated once into $INGEST_DIR (default out/ingest), which
# git ignores. DuckDB's Node.js package is installed into a scratch folder
# outside the repository ($DUCKDB_DIR, default ${TMPDIR:-/tmp}/mtlgpu-duckdb).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
dir=${INGEST_DIR:-out/ingest}
python=${PYTHON:-/usr/bin/python3}
duckdir=${DUCKDB_DIR:-${TMPDIR:-/tmp}/mtlgpu-duckdb}
mkdir -p "$dir"
csv="$dir/ingest.csv"
pq="$dir/ingest.parquet"

if [ ! -s "$csv" ]; then
  go run ./benchmark/cmd/gendata -rows 1000000 -out "$csv"
fi
if [ ! -d "$duckdir/node_modules/@duckdb/node-api" ]; then
  mkdir -p "$duckdir"
  (cd "$duckdir" && npm init -y >/dev/null && npm install --silent @duckdb/node-api >/dev/null)
fi
if ! "$python" -c 'import pandas' 2>/dev/null; then
  echo "pandas missing: apt-get install python3-pandas" >&2
  exit 1
fi
go build -o "$dir/ingestscan" ./benchmark/cmd/ingestscan
go build -o "$dir/convert" ./benchmark/cmd/ingestconvert
go build -o "$dir/mtl-gpu" ./cmd/mtl-gpu

cat > "$duckdir/read.mjs" <<'JS'
import { DuckDBInstance } from '@duckdb/node-api';
const [mode, file, threads] = process.argv.slice(2);
const inst = await DuckDBInstance.create(':memory:', { threads });
const con = await inst.connect();
const t = process.hrtime.bigint();
if (mode === 'csv') await con.run(`CREATE TABLE t AS SELECT * FROM read_csv('${file}')`);
else await con.run(`CREATE TABLE t AS SELECT * FROM read_parquet('${file}')`);
const r = await con.runAndReadAll('SELECT count(*) FROM t');
const s = Number(process.hrtime.bigint() - t) / 1e9;
console.log(`rows=${r.getRows()[0][0]} seconds=${s.toFixed(3)}`);
JS

cat > "$duckdir/copy.mjs" <<'JS'
import { DuckDBInstance } from '@duckdb/node-api';
const [file, out, threads] = process.argv.slice(2);
const inst = await DuckDBInstance.create(':memory:', { threads });
const con = await inst.connect();
const t = process.hrtime.bigint();
await con.run(`COPY (SELECT * FROM read_csv('${file}')) TO '${out}' (FORMAT parquet)`);
const s = Number(process.hrtime.bigint() - t) / 1e9;
console.log(`seconds=${s.toFixed(3)}`);
JS

# wall seconds (as the program reports them), peak RSS of the whole process
# in MB and its CPU seconds (user + system), from GNU time: on a shared
# machine the CPU time is the steadier measure
measure() {
  local out
  out=$( { /usr/bin/time -f 'peak_rss_kb=%M cpu=%U %S' "$@"; } 2>&1 )
  local secs rss cpu
  secs=$(echo "$out" | sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' | tail -1)
  rss=$(echo "$out" | sed -n 's/.*peak_rss_kb=\([0-9]*\).*/\1/p' | tail -1)
  cpu=$(echo "$out" | sed -n 's/.*cpu=\([0-9.]*\) \([0-9.]*\).*/\1 \2/p' | tail -1 | awk '{ print $1 + $2 }')
  echo "$secs $((rss / 1024)) $cpu"
}

if [ ! -s "$pq" ]; then
  "$dir/convert" "$csv" "$pq"
fi
cat "$csv" > /dev/null # the same warm page cache for everyone

read -r ours_csv ours_csv_rss ours_csv_cpu < <(measure "$dir/ingestscan" -threads "$threads" "$csv")
read -r ours_pq ours_pq_rss ours_pq_cpu < <(measure "$dir/ingestscan" -threads "$threads" "$pq")
read -r duck_csv duck_csv_rss duck_csv_cpu < <(measure node "$duckdir/read.mjs" csv "$PWD/$csv" "$threads")
read -r duck_pq duck_pq_rss duck_pq_cpu < <(measure node "$duckdir/read.mjs" parquet "$PWD/$pq" "$threads")
tasks=click:binary,buy:binary,spend:regression
read -r fit_csv fit_csv_rss fit_csv_cpu < <(measure "$dir/ingestscan" -threads "$threads" -tasks "$tasks" "$csv")
read -r fit_pq fit_pq_rss fit_pq_cpu < <(measure "$dir/ingestscan" -threads "$threads" -tasks "$tasks" "$pq")
# train prints no seconds=: its wall time is GNU time's
measure_wall() {
  local out
  out=$( { /usr/bin/time -f 'wall=%e peak_rss_kb=%M cpu=%U %S' "$@"; } 2>&1 )
  local secs rss cpu
  secs=$(echo "$out" | sed -n 's/.*wall=\([0-9.]*\).*/\1/p' | tail -1)
  rss=$(echo "$out" | sed -n 's/.*peak_rss_kb=\([0-9]*\).*/\1/p' | tail -1)
  cpu=$(echo "$out" | sed -n 's/.*cpu=\([0-9.]*\) \([0-9.]*\).*/\1 \2/p' | tail -1 | awk '{ print $1 + $2 }')
  echo "$secs $rss $cpu"
}
train_args=(train --quiet --device cpu --epochs 1 --task click:binary --task buy:binary --task spend:regression --force)
read -r train_csv train_csv_rss_kb train_csv_cpu < <(measure_wall env GOMAXPROCS="$threads" "$dir/mtl-gpu" "${train_args[@]}" --data "$csv" --out "$dir/train-csv.mtl")
read -r train_pq train_pq_rss_kb train_pq_cpu < <(measure_wall env GOMAXPROCS="$threads" "$dir/mtl-gpu" "${train_args[@]}" --data "$pq" --out "$dir/train-pq.mtl")
train_csv_rss=$((train_csv_rss_kb / 1024)) train_pq_rss=$((train_pq_rss_kb / 1024))
# What training must hold: every row encoded (inputs and labels in float32)
# and the parameters with AdamW's two moments (float32 each).
rows=$(( $(wc -l < "$csv") - 1 ))
held=$("$dir/mtl-gpu" info --json "$dir/train-csv.mtl" | "$python" -c "
import json, sys
d = json.load(sys.stdin); a = d['architecture']
print(int($rows) * (a['inputs'] + len(d['tasks'])) * 4 + 3 * a['parameters'] * 4)")
# Streamed with a budget of a fifth of the encoded rows, against in
# memory: peak RSS, and rows per second over the whole run (both passes
# over the file and the epoch) and over the epoch alone (its log line).
measure_train() {
  local out
  out=$( { /usr/bin/time -f 'wall=%e peak_rss_kb=%M cpu=%U %S' "$@"; } 2>&1 )
  local secs rss cpu epoch
  secs=$(echo "$out" | sed -n 's/.*wall=\([0-9.]*\).*/\1/p' | tail -1)
  rss=$(echo "$out" | sed -n 's/.*peak_rss_kb=\([0-9]*\).*/\1/p' | tail -1)
  cpu=$(echo "$out" | sed -n 's/.*cpu=\([0-9.]*\) \([0-9.]*\).*/\1 \2/p' | tail -1 | awk '{ print $1 + $2 }')
  epoch=$(echo "$out" | sed -n 's/.* rows_per_s=\([0-9.]*\).*/\1/p' | tail -1)
  echo "$secs $rss $cpu ${epoch:-0}"
}
encoded=$("$dir/mtl-gpu" info --json "$dir/train-csv.mtl" | "$python" -c "
import json, sys
d = json.load(sys.stdin)
print(int($rows) * (d['architecture']['inputs'] + len(d['inputs']['embedded']) + len(d['tasks'])) * 4)")
budget=$((encoded / 5))
stream_args=(train --device cpu --epochs 1 --val-split 0.01 --task click:binary --task buy:binary --task spend:regression --force --data "$csv")
read -r mem_run mem_rss_kb mem_cpu mem_epoch < <(measure_train env GOMAXPROCS="$threads" "$dir/mtl-gpu" "${stream_args[@]}" --no-stream --out "$dir/train-memory.mtl")
read -r str_run str_rss_kb str_cpu str_epoch < <(measure_train env GOMAXPROCS="$threads" "$dir/mtl-gpu" "${stream_args[@]}" --stream --max-memory "$budget" --out "$dir/train-stream.mtl")
mem_rss=$((mem_rss_kb / 1024)) str_rss=$((str_rss_kb / 1024))
read -r ours_copy ours_copy_rss ours_copy_cpu < <(measure env GOMAXPROCS="$threads" "$dir/convert" "$csv" "$dir/convert.parquet")
read -r duck_copy duck_copy_rss duck_copy_cpu < <(measure node "$duckdir/copy.mjs" "$PWD/$csv" "$PWD/$dir/duckdb.parquet" "$threads")
read -r pandas_csv pandas_rss pandas_csv_cpu < <(measure env OMP_NUM_THREADS="$threads" "$python" -c "
import time, pandas
t = time.perf_counter(); df = pandas.read_csv('$csv'); s = time.perf_counter() - t
print(f'rows={len(df)} seconds={s:.3f}')")

printf '%-28s %9s %9s %12s %14s\n' reader seconds cpu_s peak_MB 'ours faster by'
row() { awk -v n="$1" -v s="$2" -v c="$3" -v m="$4" -v o="$5" 'BEGIN { printf "%-28s %9.3f %9.2f %12d %13.2fx\n", n, s, c, m, s / o }'; }
row "mtl-gpu CSV scan"        "$ours_csv" "$ours_csv_cpu" "$ours_csv_rss" "$ours_csv"
row "DuckDB read_csv"         "$duck_csv" "$duck_csv_cpu" "$duck_csv_rss" "$ours_csv"
row "pandas.read_csv"         "$pandas_csv" "$pandas_csv_cpu" "$pandas_rss" "$ours_csv"
row "mtl-gpu Parquet scan"    "$ours_pq" "$ours_pq_cpu" "$ours_pq_rss" "$ours_pq"
row "DuckDB read_parquet"     "$duck_pq" "$duck_pq_cpu" "$duck_pq_rss" "$ours_pq"
row "mtl-gpu fit+encode CSV"   "$fit_csv" "$fit_csv_cpu" "$fit_csv_rss" "$fit_csv"
row "mtl-gpu fit+encode Parquet" "$fit_pq" "$fit_pq_cpu" "$fit_pq_rss" "$fit_pq"
row "mtl-gpu train 1 epoch CSV" "$train_csv" "$train_csv_cpu" "$train_csv_rss" "$train_csv"
row "mtl-gpu train 1 epoch Parquet" "$train_pq" "$train_pq_cpu" "$train_pq_rss" "$train_pq"
row "mtl-gpu CSV to Parquet"  "$ours_copy" "$ours_copy_cpu" "$ours_copy_rss" "$ours_copy"
row "DuckDB COPY to Parquet"  "$duck_copy" "$duck_copy_cpu" "$duck_copy_rss" "$ours_copy"
awk -v f="$fit_csv" -v p="$fit_pq" -v d="$duck_csv" 'BEGIN { printf "fit+encode (two passes) against DuckDB read_csv: CSV %.2fx, Parquet %.2fx faster\n", d / f, d / p }'
awk -v f="$train_csv" -v p="$train_pq" -v d="$duck_csv" -v fm="$train_csv_rss" -v pm="$train_pq_rss" -v dm="$duck_csv_rss" 'BEGIN { printf "train 1 epoch against DuckDB read_csv alone: time CSV %.2fx, Parquet %.2fx of it; peak memory CSV %.2fx, Parquet %.2fx of it\n", f / d, p / d, fm / dm, pm / dm }'
row "train 1 epoch, val 1%, memory" "$mem_run" "$mem_cpu" "$mem_rss" "$mem_run"
row "train 1 epoch, val 1%, stream" "$str_run" "$str_cpu" "$str_rss" "$mem_run"
awk -v b="$budget" -v e="$encoded" -v r="$rows" -v ms="$mem_run" -v ss="$str_run" -v mm="$mem_rss_kb" -v sm="$str_rss_kb" -v me="$mem_epoch" -v se="$str_epoch" -v mc="$mem_cpu" -v sc="$str_cpu" 'BEGIN {
  printf "streamed (--max-memory %.1f MB, a fifth of the %.1f MB encoded) against in memory: peak RSS %.1f MB against %.1f MB (%.2fx; %.2fx the budget); rows/s over the run %.0f against %.0f (%.2fx), over the epoch %.0f against %.0f (%.2fx); CPU seconds %.1f against %.1f (%.2fx)\n",
    b / 1e6, e / 1e6, sm * 1.024e-3, mm * 1.024e-3, sm / mm, sm * 1024 / b, r / ss, r / ms, ms / ss, se, me, (me > 0 ? se / me : 0), sc, mc, sc / mc }'
awk -v c="$train_csv_rss_kb" -v p="$train_pq_rss_kb" -v h="$held" 'BEGIN { printf "train peak RSS over encoded rows + parameters + AdamW moments (%.1f MB): CSV %.2fx, Parquet %.2fx\n", h / 1e6, c * 1024 / h, p * 1024 / h }'
echo "threads=$threads file=$csv ($(du -hL "$csv" | cut -f1)), parquet $(du -h "$pq" | cut -f1) (mtl-gpu $(du -h "$dir/convert.parquet" | cut -f1), DuckDB $(du -h "$dir/duckdb.parquet" | cut -f1))"
