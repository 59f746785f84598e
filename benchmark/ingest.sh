#!/usr/bin/env bash
# Times reading the ingest benchmark table (1,000,000 rows, 40 normal
# inputs, two integer IDs, three targets; see benchmark/cmd/gendata) with
# mtl-gpu's block readers, pandas.read_csv and DuckDB, on the same file and
# number of threads, one after the other, and prints times, ratios and peak
# memory.
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

# peak RSS of a whole process, in MB, from GNU time
measure() {
  local out
  out=$( { /usr/bin/time -f 'peak_rss_kb=%M' "$@"; } 2>&1 )
  local secs rss
  secs=$(echo "$out" | sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' | tail -1)
  rss=$(echo "$out" | sed -n 's/.*peak_rss_kb=\([0-9]*\).*/\1/p' | tail -1)
  echo "$secs $((rss / 1024))"
}

if [ ! -s "$pq" ]; then
  "$dir/convert" "$csv" "$pq"
fi
cat "$csv" > /dev/null # the same warm page cache for everyone

read -r ours_csv ours_csv_rss < <(measure "$dir/ingestscan" -threads "$threads" "$csv")
read -r ours_pq ours_pq_rss < <(measure "$dir/ingestscan" -threads "$threads" "$pq")
read -r duck_csv duck_csv_rss < <(measure node "$duckdir/read.mjs" csv "$PWD/$csv" "$threads")
read -r duck_pq duck_pq_rss < <(measure node "$duckdir/read.mjs" parquet "$PWD/$pq" "$threads")
read -r pandas_csv pandas_rss < <(measure env OMP_NUM_THREADS="$threads" "$python" -c "
import time, pandas
t = time.perf_counter(); df = pandas.read_csv('$csv'); s = time.perf_counter() - t
print(f'rows={len(df)} seconds={s:.3f}')")

printf '%-28s %9s %12s %14s\n' reader seconds peak_MB 'ours faster by'
row() { awk -v n="$1" -v s="$2" -v m="$3" -v o="$4" 'BEGIN { printf "%-28s %9.3f %12d %13.2fx\n", n, s, m, s / o }'; }
row "mtl-gpu CSV scan"        "$ours_csv" "$ours_csv_rss" "$ours_csv"
row "DuckDB read_csv"         "$duck_csv" "$duck_csv_rss" "$ours_csv"
row "pandas.read_csv"         "$pandas_csv" "$pandas_rss" "$ours_csv"
row "mtl-gpu Parquet scan"    "$ours_pq" "$ours_pq_rss" "$ours_pq"
row "DuckDB read_parquet"     "$duck_pq" "$duck_pq_rss" "$ours_pq"
echo "threads=$threads file=$csv ($(du -h "$csv" | cut -f1)), parquet $(du -h "$pq" | cut -f1)"
