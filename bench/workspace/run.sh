#!/usr/bin/env bash
# Workspace API benchmark (issue: workspace core). Builds the release binary, starts
# `trellis serve --demo` on loopback, seeds a 100,000-row data source through the API, and
# drives it with wrk (Debian) from the same machine:
#   - page retrieve throughput and p99,
#   - data source query with one filter and one sort (first page of 100) p50/p99,
#   - append-children throughput.
# Runs on SQLite, and on PostgreSQL too when BENCH_POSTGRES_URL is set (or --postgres URL).
#   bash bench/workspace/run.sh [--rows N] [--seconds S] [--postgres URL]
# Prints a table; the last line is `RESULT key=value ...`.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS=100000
SECONDS_PER_RUN=15
CONNECTIONS=32
PG_URL="${BENCH_POSTGRES_URL:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) ROWS="$2"; shift 2 ;;
    --seconds) SECONDS_PER_RUN="$2"; shift 2 ;;
    --postgres) PG_URL="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/trellis-target}"
cargo build --release -q -p trellis
BIN="$CARGO_TARGET_DIR/release/trellis"
WORK="$(mktemp -d)"
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

declare -A R
run_backend() {
  local name="$1"; shift
  local port; port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  local data="$WORK/$name"
  "$BIN" serve --addr "127.0.0.1:$port" --data-dir "$data" --demo --rate-limit-per-second 1000000 --rate-limit-burst 1000000 "$@" >"$WORK/$name.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
  local token; token="$("$BIN" token create --user ada@example.com --data-dir "$data" "$@" 2>/dev/null | tail -1)"
  echo "[$name] seeding $ROWS rows through the API..." >&2
  local seed; seed="$(python3 bench/workspace/seed.py --url "http://127.0.0.1:$port" --token "$token" --rows "$ROWS")"
  local ds page; ds="$(echo "$seed" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data_source_id"])')"
  page="$(echo "$seed" | python3 -c 'import json,sys; print(json.load(sys.stdin)["page_id"])')"
  R[$name.seed_rows_per_second]="$(echo "$seed" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rows_per_second"])')"
  bench() { # label method path body [connections]
    local out
    out="$(BENCH_TOKEN="$token" BENCH_METHOD="$2" BENCH_PATH="$3" BENCH_BODY="$4" \
      wrk -t1 -c"${5:-$CONNECTIONS}" -d"${SECONDS_PER_RUN}s" --timeout 10s -s bench/workspace/request.lua "http://127.0.0.1:$port" | grep '^BENCH')"
    local p50 p99 requests seconds non200 errors
    p50="$(echo "$out" | sed -E 's/.*p50_us=([0-9]+).*/\1/')"; p99="$(echo "$out" | sed -E 's/.*p99_us=([0-9]+).*/\1/')"
    requests="$(echo "$out" | sed -E 's/.*requests=([0-9]+).*/\1/')"; seconds="$(echo "$out" | sed -E 's/.*seconds=([0-9.]+).*/\1/')"
    non200="$(echo "$out" | sed -E 's/.*non200=([0-9]+).*/\1/')"; errors="$(echo "$out" | sed -E 's/.*errors=([0-9]+).*/\1/')"
    R[$name.$1.rps]="$(python3 -c "print(round($requests / $seconds))")"
    R[$name.$1.p50_ms]="$(python3 -c "print(round($p50 / 1000, 2))")"
    R[$name.$1.p99_ms]="$(python3 -c "print(round($p99 / 1000, 2))")"
    R[$name.$1.failed]="$((non200 + errors))"
  }
  bench retrieve GET "/v1/pages/$page" ""
  local query='{"filter":{"property":"Stage","select":{"equals":"Review"}},"sorts":[{"property":"Score","direction":"descending"}],"page_size":100}'
  # Latency with one request per core, then throughput at full concurrency.
  bench query POST "/v1/data_sources/$ds/query" "$query" "$(nproc)"
  bench query_loaded POST "/v1/data_sources/$ds/query" "$query"
  bench append PATCH "/v1/blocks/$page/children" '{"children":[{"type":"paragraph","paragraph":{"rich_text":[{"type":"text","text":{"content":"benchmark line"}}]}}]}'
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
}

run_backend sqlite
BACKENDS=(sqlite)
if [ -n "$PG_URL" ]; then
  psql "$PG_URL" -qc "DROP SCHEMA public CASCADE; CREATE SCHEMA public;" >/dev/null
  run_backend postgres --database-url "$PG_URL"
  BACKENDS+=(postgres)
fi

echo
echo "Workspace API on loopback, wrk -t1 -c$CONNECTIONS -d${SECONDS_PER_RUN}s, $ROWS-row data source, $(nproc) cores"
printf "%-9s %-38s %10s %9s %9s %7s\n" store operation "req/s" "p50 ms" "p99 ms" failed
result="RESULT rows=$ROWS"
for b in "${BACKENDS[@]}"; do
  printf "%-9s %-38s %10s %9s %9s %7s\n" "$b" "seed rows (POST /v1/pages, 8 threads)" "${R[$b.seed_rows_per_second]}" - - -
  for op in retrieve query query_loaded append; do
    case $op in
      retrieve) label="page retrieve (c=$CONNECTIONS)";;
      query) label="query 1 filter+1 sort, 100 (c=$(nproc))";;
      query_loaded) label="same query (c=$CONNECTIONS)";;
      append) label="append 1 block (c=$CONNECTIONS)";;
    esac
    printf "%-9s %-38s %10s %9s %9s %7s\n" "$b" "$label" "${R[$b.$op.rps]}" "${R[$b.$op.p50_ms]}" "${R[$b.$op.p99_ms]}" "${R[$b.$op.failed]}"
    result+=" ${b}_${op}_rps=${R[$b.$op.rps]} ${b}_${op}_p50_ms=${R[$b.$op.p50_ms]} ${b}_${op}_p99_ms=${R[$b.$op.p99_ms]}"
  done
done
echo "$result"
