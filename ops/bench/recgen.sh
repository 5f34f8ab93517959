#!/usr/bin/env bash
# ops/bench/recgen.sh - time recgen on the reference workload and show that
# its memory does not grow with the number of events.
#
#   ops/bench/recgen.sh                 1M and 10M events
#   ops/bench/recgen.sh --big           also 100M events (~5.3 GB of CSV)
#   BIN=build-other ops/bench/recgen.sh another build folder (default build/)
#
# Every run uses the reference catalog (100k products, 200 categories,
# 128-d embeddings) with one cookie per 10 events, seed 1, and runs under
# /usr/bin/time -v. It prints one Markdown table row per run: wall seconds
# of recgen itself, events/s (by wall), CPU seconds (user + system), max
# RSS, output size, and the seconds a following `sync` took to push the
# files to disk (recgen does not fsync). The header line gives the load
# average: on a shared machine compare CPU seconds, not wall.
# Results and the exact commands are recorded in ops/bench/recgen.md.
#
# Scratch space: a mktemp folder under ${TMPDIR:-/tmp}, removed on exit.
set -euo pipefail
export LC_ALL=C

# shellcheck source=ops/bench/common.sh
source "$(dirname "$0")/common.sh"
recgen=$bin/builder/recgen
big=0
for arg in "$@"; do
    case "$arg" in
        --big) big=1 ;;
        -h|--help) sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) printf 'recgen.sh: unknown option %s\n' "$arg" >&2; exit 2 ;;
    esac
done
[ -x "$recgen" ] || { printf 'recgen.sh: %s is not built (ops/build.sh)\n' "$recgen" >&2; exit 1; }
[ -x /usr/bin/time ] || { printf 'recgen.sh: /usr/bin/time is missing (apt-get install time)\n' >&2; exit 1; }

scratch=$(mktemp -d "${TMPDIR:-/tmp}/recgen-bench.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

printf '# recgen benchmark: %s CPUs (%s), %s, load average %s\n' "$(nproc)" \
    "$(cpu_model)" "$(uname -sr)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '| events | cookies | wall s | events/s | CPU s | max RSS MiB | output MiB | sync s |\n'
printf '|---:|---:|---:|---:|---:|---:|---:|---:|\n'

run() {
    local events=$1 cookies=$2 out=$scratch/run
    rm -rf "$out"
    sync
    /usr/bin/time -v -o "$scratch/time.txt" "$recgen" --out "$out" --seed 1 --events "$events" \
        --cookies "$cookies" --products 100000 --categories 200 --dim 128 --log-level warn
    local wall cpu rss t0 t1 mib
    # "Elapsed (wall clock) time (h:mm:ss or m:ss): 0:03.21"
    wall=$(sed -n 's/.*Elapsed (wall clock) time.*: //p' "$scratch/time.txt" |
        awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }')
    cpu=$(awk -F': ' '/User time \(seconds\)|System time \(seconds\)/ { s += $2 } END { printf "%.2f", s }' \
        "$scratch/time.txt")
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$scratch/time.txt")
    mib=$(du -sm "$out" | cut -f1)
    t0=$(date +%s.%N)
    sync
    t1=$(date +%s.%N)
    printf '| %s | %s | %s | %s | %s | %.1f | %s | %.2f |\n' "$events" "$cookies" "$wall" \
        "$(awk -v e="$events" -v w="$wall" 'BEGIN { printf "%.0f", (w > 0 ? e / w : 0) }')" "$cpu" \
        "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$mib" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
    rm -rf "$out"
}

run 1000000 100000
run 10000000 1000000
if [ $big -eq 1 ]; then
    run 100000000 10000000
fi
