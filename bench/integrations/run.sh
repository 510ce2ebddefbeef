#!/usr/bin/env bash
# Event-to-run lag (issue 3): INSTALLATIONS (200) installations subscribed to page edits,
# RATE (50) edits/s for SECONDS (10) s, on SQLite, or on the PostgreSQL server at DATABASE_URL
# (a fresh database is created there). Builds the echo integration and the bench in release.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/trellis-target}"
GUESTS="${TRELLIS_GUESTS_TARGET_DIR:-$HOME/.cache/trellis-guests-target}"
(cd integrations/echo && CARGO_TARGET_DIR="$GUESTS" cargo build --release --quiet --target wasm32-wasip2)
cargo build --release --quiet -p integrations-bench
"$CARGO_TARGET_DIR/release/integrations-bench" "$GUESTS/wasm32-wasip2/release/echo.wasm"
