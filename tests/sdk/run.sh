#!/usr/bin/env bash
# Runs the official Notion SDKs (@notionhq/client 5.x, Python notion-client 3.x) against a live Trellis.
#
#   TRELLIS_BIN=path/to/trellis bash tests/sdk/run.sh [--database-url URL] [--only js|python]
#
# Builds nothing. Starts `trellis serve --demo` on a free loopback port with a fresh data directory,
# creates tokens for Ada, Ben, Cy and an integration through the CLI, runs the node suite and then the
# pytest suite, stops the server on exit, and exits non-zero if either suite failed.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
TRELLIS_BIN="${TRELLIS_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/debug/trellis}"
DATABASE_URL_ARGS=()
ONLY=""

while [ $# -gt 0 ]; do
  case "$1" in
    --database-url) DATABASE_URL_ARGS=(--database-url "$2"); shift 2 ;;
    --database-url=*) DATABASE_URL_ARGS=(--database-url "${1#*=}"); shift ;;
    --only) ONLY="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

case "$TRELLIS_BIN" in /*) ;; *) TRELLIS_BIN="$REPO/$TRELLIS_BIN" ;; esac
if [ ! -x "$TRELLIS_BIN" ]; then
  echo "run.sh: no trellis binary at $TRELLIS_BIN (build it first or set TRELLIS_BIN)" >&2
  exit 2
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/trellis-sdk.XXXXXX")"
DATA_DIR="$WORK/data"
LOG="$WORK/server.log"
mkdir -p "$DATA_DIR"
SERVER_PID=""

cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  if [ -z "${TRELLIS_SDK_KEEP:-}" ]; then rm -rf "$WORK"; else echo "run.sh: kept $WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
export TRELLIS_URL="http://127.0.0.1:$PORT"

echo "run.sh: starting $TRELLIS_BIN serve on $TRELLIS_URL (data $DATA_DIR)"
"$TRELLIS_BIN" serve --addr "127.0.0.1:$PORT" --data-dir "$DATA_DIR" --demo --webhook-allow-private-networks "${DATABASE_URL_ARGS[@]}" >"$LOG" 2>&1 &
SERVER_PID=$!

ready=""
for _ in $(seq 1 600); do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "run.sh: the server exited before it was ready; its log:" >&2
    tail -n 50 "$LOG" >&2
    exit 1
  fi
  if python3 - "$TRELLIS_URL/health" <<'PY' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=1) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
  then ready=1; break; fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "run.sh: /health did not answer 200 within 60 s; server log:" >&2
  tail -n 50 "$LOG" >&2
  exit 1
fi

make_token() {
  local out
  if ! out="$("$TRELLIS_BIN" token create --data-dir "$DATA_DIR" "${DATABASE_URL_ARGS[@]}" "$@" 2>"$WORK/token.err")"; then
    echo "run.sh: 'trellis token create $*' failed:" >&2
    cat "$WORK/token.err" >&2
    exit 1
  fi
  out="$(printf '%s\n' "$out" | sed '/^[[:space:]]*$/d' | tail -n 1 | tr -d '[:space:]')"
  if [ -z "$out" ]; then echo "run.sh: 'trellis token create $*' printed no token" >&2; exit 1; fi
  printf '%s' "$out"
}

TRELLIS_TOKEN_ADA="$(make_token --user ada@example.com)" || exit 1
TRELLIS_TOKEN_BEN="$(make_token --user ben@example.com)" || exit 1
TRELLIS_TOKEN_CY="$(make_token --user cy@example.com)" || exit 1
TRELLIS_TOKEN_BOT="$(make_token --integration sdk-compat-bot)" || exit 1
TRELLIS_TOKEN_RATELIMIT="$(make_token --integration sdk-rate-limit)" || exit 1
export TRELLIS_TOKEN_ADA TRELLIS_TOKEN_BEN TRELLIS_TOKEN_CY TRELLIS_TOKEN_BOT TRELLIS_TOKEN_RATELIMIT

JS_STATUS=0
PY_STATUS=0

if [ -z "$ONLY" ] || [ "$ONLY" = "js" ]; then
  echo "run.sh: === @notionhq/client (node --test) ==="
  if [ ! -f "$HERE/node_modules/.package-lock.json" ] || [ "$HERE/package-lock.json" -nt "$HERE/node_modules/.package-lock.json" ]; then
    (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error) || { echo "run.sh: npm ci failed" >&2; exit 1; }
  fi
  (cd "$REPO" && node --test --test-concurrency=1 tests/sdk/js/)
  JS_STATUS=$?
fi

if [ -z "$ONLY" ] || [ "$ONLY" = "python" ]; then
  echo "run.sh: === notion-client (pytest) ==="
  VENV="$HERE/.venv"
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" || { echo "run.sh: python3 -m venv failed" >&2; exit 1; }
  fi
  if [ ! -f "$VENV/.requirements.txt" ] || ! cmp -s "$HERE/requirements.txt" "$VENV/.requirements.txt"; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt" \
      || { echo "run.sh: pip install failed" >&2; exit 1; }
    cp "$HERE/requirements.txt" "$VENV/.requirements.txt"
  fi
  (cd "$HERE" && "$VENV/bin/python" -m pytest python -q -p no:cacheprovider -rfE)
  PY_STATUS=$?
fi

if [ "$JS_STATUS" -ne 0 ] || [ "$PY_STATUS" -ne 0 ]; then
  echo "run.sh: FAILED (node exit $JS_STATUS, pytest exit $PY_STATUS); last server log lines:" >&2
  tail -n 20 "$LOG" >&2
  exit 1
fi
echo "run.sh: both SDK suites passed"
