#!/usr/bin/env bash
# Invocation overhead (issue 3): the echo integration in Rust (integrations/echo) and in
# JavaScript (integrations/echo-js, componentize-js), each invoked through Trellis's host (grant
# check, limits, fuel, epoch deadline, WASI context, run record) and through a bare wasmtime host
# (new store, pooled instantiate, call, drop) in the same process, then throughput on 2 worker
# threads. ITERATIONS (20000) for Rust, a tenth for JavaScript. Prints a table; the last line is
# `RESULT key=value ...`.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/trellis-target}"
export TRELLIS_GUESTS_TARGET_DIR="${TRELLIS_GUESTS_TARGET_DIR:-$HOME/.cache/trellis-guests-target}"
JS_OUT="$TRELLIS_GUESTS_TARGET_DIR/js/bench"
(cd integrations/echo-js && { [ -d node_modules ] || npm ci --silent; } && node build.mjs "$JS_OUT" >&2)
JS_COMPONENT="$JS_OUT/echo-js.wasm" \
  cargo run --release --quiet -p runtime --example invoke_bench -- "${ITERATIONS:-20000}"
