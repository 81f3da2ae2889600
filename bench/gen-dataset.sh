#!/usr/bin/env bash
# Generate the deterministic benchmark dataset.
#   bench/gen-dataset.sh DIR [--size 2G] [--small-files N] [--seed N]
# Environment: BENCH_SIZE (default 2G), BENCH_SMALL_FILES, BENCH_SEED (default 42);
# flags win over the environment. A smoke-test dataset: BENCH_SIZE=64M bench/gen-dataset.sh DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 DIR [--size 2G] [--small-files N] [--seed N]" >&2; exit 2; }
out=$1; shift
args=(--out "$out" --size "${BENCH_SIZE:-2G}" --seed "${BENCH_SEED:-42}")
[ -n "${BENCH_SMALL_FILES:-}" ] && args+=(--small-files "$BENCH_SMALL_FILES")
exec python3 "$here/gen_dataset.py" "${args[@]}" "$@"
