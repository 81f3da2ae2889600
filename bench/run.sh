#!/usr/bin/env bash
# Arca vs restic vs rustic, side by side in one run. See docs/BENCHMARKS.md.
#
#   bench/run.sh                       # full run: 2 GiB dataset, all three tools
#   BENCH_SIZE=64M BENCH_RSS_SIZE= bench/run.sh   # quick smoke run
#
# Phases (each tool, compression and encryption on):
#   first backup -> unchanged re-backup -> [modify 5 % of files] -> backup of the
#   modified tree -> full restore into an empty directory (verified file by file).
# Then a first backup of a second, smaller dataset (BENCH_RSS_SIZE) to see whether
# peak memory grows with the dataset.
#
# Environment knobs (defaults in brackets):
#   BENCH_DIR          work directory for datasets, repositories, restores [${TMPDIR:-/tmp}/arca-bench]
#   BENCH_SIZE         main dataset size [2G]
#   BENCH_SMALL_FILES  number of 1-16 KiB files [60000 per 2 GiB]
#   BENCH_SEED         dataset seed [42]
#   BENCH_RSS_SIZE     second dataset size for the memory check, empty to skip [512M]
#   BENCH_TOOLS        tools to run, in order ["arca restic rustic"]
#   BENCH_DROP_CACHES  1 = drop the page cache before every timed phase (needs root) [1]
#   BENCH_BUILD        1 = cargo build --release -p arca-cli first [1]
#   BENCH_KEEP         1 = keep repositories and restored trees afterwards [0]
#   BENCH_RESULTS      where the Markdown report goes [bench/results]
#   BENCH_BACKEND      local = repositories in BENCH_DIR; s3 = on an S3 server, e.g. the one
#                      scripts/s3-server.sh starts (source its env file first) [local]
#   BENCH_S3_BUCKET    the bucket for BENCH_BACKEND=s3 [$ARCA_TEST_S3_BUCKET]
#   ARCA_BIN / RESTIC_BIN / RUSTIC_BIN   the binaries [target/release/arca, restic, rustic]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/arca-bench}
BENCH_SIZE=${BENCH_SIZE:-2G}
BENCH_SMALL_FILES=${BENCH_SMALL_FILES:-}
BENCH_SEED=${BENCH_SEED:-42}
BENCH_RSS_SIZE=${BENCH_RSS_SIZE-512M}
BENCH_TOOLS=${BENCH_TOOLS:-arca restic rustic}
BENCH_DROP_CACHES=${BENCH_DROP_CACHES:-1}
BENCH_BUILD=${BENCH_BUILD:-1}
BENCH_KEEP=${BENCH_KEEP:-0}
BENCH_RESULTS=${BENCH_RESULTS:-$here/results}
ARCA_BIN=${ARCA_BIN:-$root/target/release/arca}
RESTIC_BIN=${RESTIC_BIN:-restic}
RUSTIC_BIN=${RUSTIC_BIN:-rustic}
BENCH_BACKEND=${BENCH_BACKEND:-local}
BENCH_S3_BUCKET=${BENCH_S3_BUCKET:-${ARCA_TEST_S3_BUCKET:-}}
s3py() { python3 "$root/scripts/s3.py" "$@"; }
# Each tool reads its own client-side cache from XDG_CACHE_HOME (below), nothing else.
unset ARCA_CACHE_DIR ARCA_NO_CACHE

export ARCA_PASSWORD=bench-password RESTIC_PASSWORD=bench-password RUSTIC_PASSWORD=bench-password
MARKER=.arca-bench-dataset
stamp=$(date -u +%Y-%m-%dT%H%MZ)
raw="$BENCH_RESULTS/raw/$stamp"
report="$BENCH_RESULTS/$stamp.md"
mkdir -p "$BENCH_DIR" "$raw"

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ -x /usr/bin/time ] || die "/usr/bin/time is missing (Debian/Ubuntu: apt-get install time)"
case $BENCH_BACKEND in
  local) ;;
  s3)
    [ -n "$BENCH_S3_BUCKET" ] || die "BENCH_BACKEND=s3 needs BENCH_S3_BUCKET (or ARCA_TEST_S3_BUCKET)"
    for v in AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; do
      [ -n "${!v:-}" ] || die "BENCH_BACKEND=s3 needs $v (scripts/s3-server.sh start; source target/s3-server/env)"
    done
    export AWS_REGION=${AWS_REGION:-us-east-1} AWS_ALLOW_HTTP=${AWS_ALLOW_HTTP:-true}
    # rustic's S3 backend (OpenDAL) reads its options from OPENDAL_*.
    export OPENDAL_ENDPOINT=$AWS_ENDPOINT_URL OPENDAL_REGION=$AWS_REGION
    export OPENDAL_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID OPENDAL_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
    s3py du "$BENCH_S3_BUCKET" "bench-$stamp" >/dev/null || die "cannot list s3 bucket $BENCH_S3_BUCKET at $AWS_ENDPOINT_URL"
    ;;
  *) die "BENCH_BACKEND must be local or s3, not '$BENCH_BACKEND'" ;;
esac
command -v python3 >/dev/null || die "python3 is missing"

# ---------------------------------------------------------------- tools
if [ "$BENCH_BUILD" = 1 ] && [[ " $BENCH_TOOLS " == *" arca "* ]]; then
  log "building arca (cargo build --release -p arca-cli)"
  (cd "$root" && cargo build --release -p arca-cli) >"$raw/arca-build.log" 2>&1 ||
    die "cargo build failed, see $raw/arca-build.log"
fi

declare -A BIN VERSION
BIN[arca]=$ARCA_BIN BIN[restic]=$RESTIC_BIN BIN[rustic]=$RUSTIC_BIN
tools=()
for t in $BENCH_TOOLS; do
  b=${BIN[$t]:-}
  [ -n "$b" ] || die "unknown tool '$t' (known: arca restic rustic)"
  if ! command -v "$b" >/dev/null 2>&1; then
    log "SKIP $t: '$b' not found (install it or set ${t^^}_BIN)"
    continue
  fi
  case $t in
    arca) VERSION[$t]=$("$b" --version 2>&1 | head -1) ;;
    restic) VERSION[$t]=$("$b" version 2>&1 | head -1) ;;
    rustic) VERSION[$t]=$("$b" --version 2>&1 | head -1) ;;
  esac
  tools+=("$t")
done
# The commit says what was measured only when this script built the binary itself.
if [ -n "${VERSION[arca]:-}" ] && [ "$BENCH_BUILD" = 1 ] && [ "$ARCA_BIN" = "$root/target/release/arca" ] &&
  git -C "$root" rev-parse --short HEAD >/dev/null 2>&1; then
  VERSION[arca]+=" (commit $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes'))"
fi
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
[ ${#tools[@]} -gt 0 ] || die "no tool to benchmark"
log "tools: ${tools[*]}"

# Each tool's own client-side cache lives in the work directory, fresh for every run.
tool_env() { env XDG_CACHE_HOME="$BENCH_DIR/cache/$1" "${@:2}"; }

# Repositories are named by a key (repo-arca, repo2-restic); tool_repo turns one into the
# words that open it: TOOL=(the binary, with its repository options).
tool_repo() { # tool key
  local t=$1 key=$2 b=${BIN[$1]} s3prefix="bench-$stamp/$2"
  if [ "$BENCH_BACKEND" = local ]; then
    case $t in
      arca) TOOL=("$b" -q -r "$BENCH_DIR/$key") ;;
      restic) TOOL=("$b" -q -r "$BENCH_DIR/$key") ;;
      rustic) TOOL=("$b" --no-progress -r "$BENCH_DIR/$key") ;;
    esac
    return
  fi
  case $t in
    # -v: arca's own count of its requests, in the phase's log.
    arca) TOOL=("$b" -q -v -r "s3://$BENCH_S3_BUCKET/$s3prefix") ;;
    restic) TOOL=("$b" -q -r "s3:$AWS_ENDPOINT_URL/$BENCH_S3_BUCKET/$s3prefix") ;;
    # The keys come from the environment (exported once above), never on a logged command line.
    rustic) TOOL=(env OPENDAL_BUCKET="$BENCH_S3_BUCKET" OPENDAL_ROOT="/$s3prefix" "$b" --no-progress -r opendal:s3) ;;
  esac
}
do_init() { # tool key
  tool_repo "$1" "$2"
  case $1 in
    arca) tool_env "$1" "${TOOL[@]}" repo init ;;
    restic) tool_env "$1" "${TOOL[@]}" init --repository-version 2 ;;
    rustic) tool_env "$1" "${TOOL[@]}" init --set-version 2 --set-compression 3 ;;
  esac
}
backup_cmd() { # tool key path -> command words in CMD
  tool_repo "$1" "$2"
  case $1 in
    arca) CMD=("${TOOL[@]}" fs backup "$3") ;;
    restic) CMD=("${TOOL[@]}" --compression auto backup "$3") ;;
    rustic) CMD=("${TOOL[@]}" backup "$3") ;;
  esac
}
restore_cmd() { # tool key target
  tool_repo "$1" "$2"
  case $1 in
    arca) CMD=("${TOOL[@]}" fs restore latest --target "$3") ;;
    restic) CMD=("${TOOL[@]}" restore latest --target "$3") ;;
    rustic) CMD=("${TOOL[@]}" restore latest "$3") ;;
  esac
}
repo_size() { # key -> bytes stored
  if [ "$BENCH_BACKEND" = local ]; then du -sb "$BENCH_DIR/$1" | cut -f1; else s3py du "$BENCH_S3_BUCKET" "bench-$stamp/$1" | cut -d' ' -f1; fi
}
repo_remove() { # key
  if [ "$BENCH_BACKEND" = local ]; then rm -rf "${BENCH_DIR:?}/$1"; else s3py rm-prefix "$BENCH_S3_BUCKET" "bench-$stamp/$1"; fi
}

# ---------------------------------------------------------------- measuring
caches_dropped=no
drop_caches() {
  [ "$BENCH_DROP_CACHES" = 1 ] || return 0
  sync
  if { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then caches_dropped=yes; fi
}

declare -A WALL RSS CPU SIZE OK
failed=0
# measure KEY TOOL CMD...: wall seconds, peak RSS (KiB) and CPU seconds (user + system) of the whole process.
measure() {
  local key=$1 t=$2; shift 2
  drop_caches
  log "$key: $*"
  if tool_env "$t" /usr/bin/time -f '%e %M %U %S' -o "$raw/$key.time" "$@" >"$raw/$key.log" 2>&1; then
    local user sys
    read -r WALL[$key] RSS[$key] user sys < <(tail -n 1 "$raw/$key.time")
    CPU[$key]=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
    log "$key: ${WALL[$key]} s, CPU ${CPU[$key]} s, peak RSS $(( ${RSS[$key]} / 1024 )) MiB"
  else
    log "FAILED $key (exit status $?), see $raw/$key.log:"
    tail -n 5 "$raw/$key.log" >&2 || true
    failed=1
  fi
}
# requests KEY: arca's request count of a phase on S3, from its -v line.
declare -A REQ
requests() { REQ[$1]=$(grep -h '^requests: ' "$raw/$1.log" 2>/dev/null | tail -n 1 | sed 's/^requests: //' || true); }

# Manifests: one line per entry. The content manifest (type, size, md5, link target) must match
# exactly for a restore to count; the metadata manifest (mode, owner, file mtime) is reported.
content_manifest() {
  (cd "$1" && find . -path ./$MARKER -prune -o \( -type f -printf 'f %s %p\n' \) -o \( -type l -printf 'l %p -> %l\n' \) -o \( -type d -printf 'd %p\n' \) | LC_ALL=C sort) >"$2.list"
  (cd "$1" && find . -type f ! -name $MARKER -print0 | LC_ALL=C sort -z | xargs -0 -r md5sum) >"$2.md5"
  cat "$2.list" "$2.md5" >"$2"
  rm -f "$2.list" "$2.md5"
}
meta_manifest() {
  (cd "$1" && find . -path ./$MARKER -prune -o \( -type f -printf '%p %m %U:%G %TY-%Tm-%Td %TH:%TM:%TS\n' \) -o \( ! -type l -printf '%p %m %U:%G\n' \) | sed 's/\(:[0-9][0-9]\)\.[0-9]*$/\1/' | LC_ALL=C sort) >"$2"
}

# ---------------------------------------------------------------- dataset
gen() { # dir size
  rm -rf "$1"
  local args=(--out "$1" --size "$2" --seed "$BENCH_SEED")
  [ -n "$BENCH_SMALL_FILES" ] && [ "$2" = "$BENCH_SIZE" ] && args+=(--small-files "$BENCH_SMALL_FILES")
  python3 "$here/gen_dataset.py" "${args[@]}" >&2
}
data="$BENCH_DIR/data"
log "generating the dataset ($BENCH_SIZE) in $data"
gen "$data" "$BENCH_SIZE"
data_bytes=$(du -sb --apparent-size "$data" | cut -f1)
data_files=$(find "$data" -type f | wc -l)
data_small=$(find "$data/small" -type f | wc -l)

# ---------------------------------------------------------------- phases
for t in "${tools[@]}"; do
  repo_remove "repo-$t"
  rm -rf "$BENCH_DIR/cache/$t"
  do_init "$t" "repo-$t" >"$raw/$t-init.log" 2>&1 || die "$t: init failed, see $raw/$t-init.log"
  backup_cmd "$t" "repo-$t" "$data"
  measure "$t-first" "$t" "${CMD[@]}"
  SIZE[$t-first]=$(repo_size "repo-$t")
  measure "$t-unchanged" "$t" "${CMD[@]}"
done

log "modifying 5 % of the files"
python3 "$here/modify_dataset.py" "$data" >&2
content_manifest "$data" "$raw/expected.content"
meta_manifest "$data" "$raw/expected.meta"

for t in "${tools[@]}"; do
  backup_cmd "$t" "repo-$t" "$data"
  measure "$t-modified" "$t" "${CMD[@]}"
  SIZE[$t-final]=$(repo_size "repo-$t")
done

for t in "${tools[@]}"; do
  target="$BENCH_DIR/restore-$t"
  rm -rf "$target"; mkdir -p "$target"
  restore_cmd "$t" "repo-$t" "$target"
  measure "$t-restore" "$t" "${CMD[@]}"
  # The tools place the tree differently (restic keeps the absolute path): find it by its marker.
  m=$(find "$target" -maxdepth 12 -name $MARKER -print -quit)
  if [ -z "$m" ]; then
    OK[$t]="FAILED: dataset not found in the restored tree"
  else
    content_manifest "$(dirname "$m")" "$raw/$t.content"
    meta_manifest "$(dirname "$m")" "$raw/$t.meta"
    if ! cmp -s "$raw/expected.content" "$raw/$t.content"; then
      OK[$t]="FAILED: content differs ($(diff "$raw/expected.content" "$raw/$t.content" | grep -c '^[<>]') lines, see raw/$stamp/$t.content)"
    elif ! cmp -s "$raw/expected.meta" "$raw/$t.meta"; then
      OK[$t]="content OK; metadata differs on $(diff "$raw/expected.meta" "$raw/$t.meta" | grep -c '^<') entries"
    else
      OK[$t]="OK (content and metadata)"
    fi
  fi
  log "$t restore: ${OK[$t]}"
  [ "$BENCH_KEEP" = 1 ] || rm -rf "$target"
done

# Memory against dataset size: a first backup of a second, smaller dataset.
rss_bytes=""
if [ -n "$BENCH_RSS_SIZE" ]; then
  data2="$BENCH_DIR/data-rss"
  log "generating the second dataset ($BENCH_RSS_SIZE) in $data2"
  gen "$data2" "$BENCH_RSS_SIZE"
  rss_bytes=$(du -sb --apparent-size "$data2" | cut -f1)
  for t in "${tools[@]}"; do
    repo_remove "repo2-$t"
    rm -rf "$BENCH_DIR/cache/$t"
    do_init "$t" "repo2-$t" >"$raw/$t-init2.log" 2>&1 || die "$t: init failed"
    backup_cmd "$t" "repo2-$t" "$data2"
    measure "$t-first-small" "$t" "${CMD[@]}"
    [ "$BENCH_KEEP" = 1 ] || repo_remove "repo2-$t"
  done
  [ "$BENCH_KEEP" = 1 ] || rm -rf "$data2"
fi
if [ "$BENCH_KEEP" != 1 ]; then
  for t in "${tools[@]}"; do repo_remove "repo-$t"; done
  rm -rf "$BENCH_DIR/cache"
fi

# ---------------------------------------------------------------- report
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
secs() { local v=${WALL[$1]:-}; [ -n "$v" ] && printf '%.2f s' "$v" || printf 'failed'; }
cpus() { local v=${CPU[$1]:-}; [ -n "$v" ] && printf '%.2f s' "$v" || printf 'n/a'; }
rssm() { local v=${RSS[$1]:-}; [ -n "$v" ] && printf '%d MiB' $((v / 1024)) || printf 'n/a'; }
sizem() { local v=${SIZE[$1]:-}; [ -n "$v" ] && printf '%s MiB' "$(mib "$v")" || printf 'n/a'; }
thr() { local v=${WALL[$1]:-}; [ -n "$v" ] && awk -v b="$data_bytes" -v s="$v" 'BEGIN { printf "%.1f MiB/s", b / 1048576 / s }' || printf 'n/a'; }
# speed(A,B): how many times faster arca is than the other tool (other's time / arca's time).
speed() { local a=${WALL[arca-$1]:-} o=${WALL[$2-$1]:-}; [ -n "$a" ] && [ -n "$o" ] && awk -v a="$a" -v o="$o" 'BEGIN { printf "%.2f×", o / a }' || printf '–'; }
# frac(ARR,KEY,OTHER): arca's value / the other's (lower is better).
frac() { local -n arr=$1; local a=${arr[arca-$2]:-} o=${arr[$3-$2]:-}; [ -n "$a" ] && [ -n "$o" ] && awk -v a="$a" -v o="$o" 'BEGIN { printf "%.2f", a / o }' || printf '–'; }
has() { for x in "${tools[@]}"; do [ "$x" = "$1" ] && return 0; done; return 1; }

{
  echo "# Benchmark run $stamp"
  echo
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, work directory on $(df -T "$BENCH_DIR" | awk 'NR == 2 { print $2 }'); page cache dropped before each phase: $caches_dropped; load average $load_start at the start, $load_end at the end."
  echo
  echo "Dataset: $(mib "$data_bytes") MiB in $data_files files ($data_small small files of 1–16 KiB), seed $BENCH_SEED."
  echo
  if [ "$BENCH_BACKEND" = s3 ]; then
    echo "Repositories: on S3 at $AWS_ENDPOINT_URL, bucket $BENCH_S3_BUCKET, prefix bench-$stamp/."
  else
    echo "Repositories: local directories in the work directory."
  fi
  echo
  echo "Versions:"
  for t in "${tools[@]}"; do echo "- $t: ${VERSION[$t]}"; done
  echo
  hdr="| | $(printf '%s | ' "${tools[@]}")"
  sep="|---|$(printf -- '---:|%.0s' "${tools[@]}")"
  has arca && has restic && { hdr+="arca vs restic | "; sep+="---:|"; }
  has arca && has rustic && { hdr+="arca vs rustic | "; sep+="---:|"; }
  echo "$hdr"; echo "$sep"
  row() { # label kind key
    local line="| $1 |"
    for t in "${tools[@]}"; do line+=" $($2 "$t-$3") |"; done
    if has arca && has restic; then line+=" $($4 "$3" restic) |"; fi
    if has arca && has rustic; then line+=" $($4 "$3" rustic) |"; fi
    echo "$line"
  }
  fr_rss() { frac RSS "$1" "$2"; }
  fr_size() { frac SIZE "$1" "$2"; }
  fr_cpu() { frac CPU "$1" "$2"; }
  row "first backup, wall" secs first speed
  row "first backup, throughput" thr first speed
  row "unchanged re-backup, wall" secs unchanged speed
  row "backup after modifying 5 %, wall" secs modified speed
  row "full restore, wall" secs restore speed
  row "CPU time (user + system), first backup" cpus first fr_cpu
  row "CPU time, unchanged re-backup" cpus unchanged fr_cpu
  row "CPU time, modified backup" cpus modified fr_cpu
  row "CPU time, restore" cpus restore fr_cpu
  row "repository after first backup" sizem first fr_size
  row "repository after all 3 backups" sizem final fr_size
  row "peak RSS, first backup" rssm first fr_rss
  row "peak RSS, unchanged re-backup" rssm unchanged fr_rss
  row "peak RSS, modified backup" rssm modified fr_rss
  row "peak RSS, restore" rssm restore fr_rss
  if [ -n "$rss_bytes" ]; then
    row "peak RSS, first backup of the $(mib "$rss_bytes") MiB dataset" rssm first-small fr_rss
    row "first backup of the $(mib "$rss_bytes") MiB dataset, wall" secs first-small speed
  fi
  echo
  echo "Ratios: for times, how many times faster arca is (the other tool's time / arca's; above 1 = arca faster);"
  echo "for CPU time, repository size and memory, arca's value / the other tool's (below 1 = arca uses less)."
  echo
  echo "Unchanged re-backup speed-up over the first backup (first / unchanged):"
  for t in "${tools[@]}"; do
    [ -n "${WALL[$t-first]:-}" ] && [ -n "${WALL[$t-unchanged]:-}" ] &&
      echo "- $t: $(awk -v a="${WALL[$t-first]}" -v b="${WALL[$t-unchanged]}" 'BEGIN { printf "%.1f×", a / b }')"
  done
  if [ "$BENCH_BACKEND" = s3 ] && has arca; then
    echo
    echo "Storage requests arca made (its own count, -v):"
    for phase in first unchanged modified restore; do
      requests "arca-$phase"
      echo "- $phase: ${REQ[arca-$phase]:-not reported}"
    done
  fi
  echo
  echo "Restore verification (every file's content compared with the modified dataset):"
  for t in "${tools[@]}"; do echo "- $t: ${OK[$t]:-not run}"; done
} | tee "$report"
log "report written to $report (raw logs in $raw)"
exit $failed
