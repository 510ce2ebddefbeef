#!/usr/bin/env bash
# Memory soak (issue 21): `trellis serve --demo` on loopback under mixed load from 16 clients
# (reads, queries, keyword search, and edits that rewrite existing pages and blocks), with the
# server's resident memory sampled every 10 s. Memory should level off: the second half of the
# run should add little (`growth_second_half_mb`).
#   bash bench/soak/run.sh [--seconds S] [--clients N]
# TRELLIS_BIN=path uses that binary instead of building the release one.
# Prints a table; the last line is `RESULT key=value ...`.
set -euo pipefail
cd "$(dirname "$0")/../.."
SOAK_SECONDS=300
CLIENTS=16
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SOAK_SECONDS="$2"; shift 2 ;;
    --clients) CLIENTS="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "${TRELLIS_BIN:-}" ]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/trellis-target}"
  cargo build --release -q -p trellis
  TRELLIS_BIN="$CARGO_TARGET_DIR/release/trellis"
fi
WORK="$(mktemp -d)"
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$TRELLIS_BIN" serve --addr "127.0.0.1:$PORT" --data-dir "$WORK/data" --demo \
  --rate-limit-per-second 1000000 --rate-limit-burst 1000000 >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 1200); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$PORT/health" >/dev/null || { tail -20 "$WORK/server.log"; exit 1; }
TOKEN="$("$TRELLIS_BIN" token create --user ada@example.com --data-dir "$WORK/data" 2>/dev/null | tail -1)"
python3 bench/soak/load.py --url "http://127.0.0.1:$PORT" --token "$TOKEN" --pid "$SERVER" \
  --clients "$CLIENTS" --seconds "$SOAK_SECONDS"
