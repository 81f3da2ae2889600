#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer through cargo-fuzz, nightly Rust) of
# the parsers of repository data: a hostile config and key file at open
# (`open`), arbitrary trees, snapshots, index files, forget records and key
# events in an opened repository, read and checked (`objects`); the files
# users hand to a restore or a backup: resource modifiers, blueprints, hooks
# files, volume policies, manifests for diff (`restore_inputs`).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 30)
#
# A crash, a single allocation over 2 GiB, a run over 20 s or 3 GiB of RSS
# fails the script (leak detection is off: see docs/RELIABILITY.md); the failing input is kept under fuzz/artifacts/. Seeds
# are in fuzz/seeds/, the growing corpus in fuzz/corpus/ (not committed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

secs=${1:-30}
if ! rustup toolchain list | grep -q '^nightly'; then
	rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
	cargo install cargo-fuzz --locked
fi
cd fuzz
cargo +nightly fuzz build -O
for target in $(cargo +nightly fuzz list); do
	mkdir -p "corpus/$target"
	rm -rf "artifacts/$target"
	echo "fuzzing $target for ${secs}s"
	cargo +nightly fuzz run -O "$target" "corpus/$target" "seeds/$target" -- \
		-max_total_time="$secs" -timeout=20 -malloc_limit_mb=2048 -rss_limit_mb=3072 -detect_leaks=0 -print_final_stats=1 2>&1 |
		grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done|INFO: Running|==[0-9]+==|SUMMARY|artifact_prefix|Test unit written)' || true
	# The pipeline hides libFuzzer's exit code: a crash leaves an artifact.
	if compgen -G "artifacts/$target/*" >/dev/null; then
		echo "fuzz target $target failed: see fuzz/artifacts/$target/" >&2
		exit 1
	fi
done
