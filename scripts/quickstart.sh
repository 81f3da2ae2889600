#!/usr/bin/env bash
# Builds Arca and runs its main job on the embedded default: a local
# directory repository. Backs up a sample tree, lists it, restores it and
# verifies the restore byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p arca-cli
arca=target/release/arca

work=$(mktemp -d "${TMPDIR:-/tmp}/arca-quickstart.XXXXXX")
trap 'rm -rf "$work"' EXIT
export ARCA_REPO="$work/repo" ARCA_PASSWORD="${ARCA_PASSWORD:-quickstart}"

sample="$work/sample"
mkdir -p "$sample/etc" "$sample/data/empty"
cp -r docs "$sample/etc/"
head -c 8388608 /dev/urandom > "$sample/data/random.bin"
ln -s ../etc/docs "$sample/data/docs-link"

echo "== repository: $ARCA_REPO"
"$arca" repo init
echo "== backup"
"$arca" fs backup "$sample" --tag quickstart
echo "== unchanged re-backup (reads no file contents)"
"$arca" fs backup "$sample" --tag quickstart
"$arca" snapshots
echo "== restore"
"$arca" fs restore latest --target "$work/restore"
diff -r --no-dereference "$sample" "$work/restore"
echo "== check"
"$arca" repo check --read-data
echo "quickstart: backup, restore and check succeeded"
