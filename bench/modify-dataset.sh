#!/usr/bin/env bash
# Modify 5 % of the dataset's files deterministically (append or overwrite a few bytes in place).
#   bench/modify-dataset.sh DIR [--percent 5] [--seed 7]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 DIR [--percent 5] [--seed 7]" >&2; exit 2; }
exec python3 "$here/modify_dataset.py" "$@"
