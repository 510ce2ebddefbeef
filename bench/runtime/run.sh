#!/usr/bin/env bash
# Invocation overhead (issue 3): the echo integration invoked ITERATIONS (20000) times through
# Trellis's host (grant check, limits, fuel, epoch deadline, WASI context, run record) and through
# a bare wasmtime host (new store, pooled instantiate, call, drop) in the same process, then
# throughput on 2 worker threads. Prints a table; the last line is `RESULT key=value ...`.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/trellis-target}"
export TRELLIS_GUESTS_TARGET_DIR="${TRELLIS_GUESTS_TARGET_DIR:-$HOME/.cache/trellis-guests-target}"
cargo run --release --quiet -p runtime --example invoke_bench -- "${ITERATIONS:-20000}"
