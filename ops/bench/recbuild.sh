#!/usr/bin/env bash
# ops/bench/recbuild.sh - time one full CPU build of the reference workload
# and check it against the targets.
#
#   ops/bench/recbuild.sh            10M events, 1M cookies, 100k products,
#                                    128-d embeddings, 64 factors, N = 20
#   ops/bench/recbuild.sh --small    1M events, 100k cookies (a quick run)
#   ops/bench/recbuild.sh --large    the large workload: 100M events, 10M
#                                    cookies, 1M products in 2,000 categories,
#                                    128 factors (6.1 GiB of inputs; CF
#                                    scoring and image kNN go approximate
#                                    on their own at this size)
#   ops/bench/recbuild.sh --check    exit 1 when a target is missed
#   BIN=build-other ops/bench/recbuild.sh    another build folder (default build/)
#   DATA=/big/disk/refdata ops/bench/recbuild.sh   keep the generated inputs
#                                    there and reuse them on the next run
#   RECBUILD_FLAGS="--threads 8" ops/bench/recbuild.sh   extra recbuild flags
#   OPENBLAS_CORETYPE=Haswell ops/bench/recbuild.sh  force OpenBLAS kernels
#                                    (unset, recbuild leaves Debian's generic
#                                    "Prescott" fallback on its own)
#
# recgen writes the inputs (seed 1; 200 categories); recbuild runs once
# under /usr/bin/time -v with --progress never. The script prints the load
# average, the exact command, recbuild's per-stage times (timings_ms of the
# manifest), ingest events/s, LMDB records/s, peak RSS and wall time, and
# each target as met or missed:
#
#   ingest >= 1M events/s, whole build <= 10 min, peak RSS <= 8 GiB,
#   LMDB writing >= 1M records/s;
#   --large: whole build <= 60 min, peak RSS <= 16 GiB, and the approximate
#   CF scorer's measured recall@N (manifest cf_recall) >= 0.95. The stage
#   lines with their resident and peak memory are printed too.
#
# Exit status: 0 when the build succeeded (targets missed are reported,
# not fatal; --check makes a missed target exit 1), 1 when it failed.
# Results and the commands are recorded in ops/bench/recbuild.md. Scratch
# space: a mktemp folder under ${TMPDIR:-/tmp}, removed on exit.
set -euo pipefail
export LC_ALL=C

# shellcheck source=ops/bench/common.sh
source "$(dirname "$0")/common.sh"
recbuild=$bin/builder/recbuild
recgen=$bin/builder/recgen
events=10000000
cookies=1000000
products=100000
categories=200
factors=64
large=0
check=0
for arg in "$@"; do
    case "$arg" in
        --small) events=1000000 cookies=100000 ;;
        --large) events=100000000 cookies=10000000 products=1000000 categories=2000 factors=128 large=1 ;;
        --check) check=1 ;;
        -h|--help) sed -n '2,38s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) printf 'recbuild.sh: unknown option %s\n' "$arg" >&2; exit 2 ;;
    esac
done
for p in "$recbuild" "$recgen"; do
    [ -x "$p" ] || { printf 'recbuild.sh: %s is not built (ops/build.sh)\n' "$p" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { printf 'recbuild.sh: /usr/bin/time is missing (apt-get install time)\n' >&2; exit 1; }

scratch=$(mktemp -d "${TMPDIR:-/tmp}/recbuild-bench.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
data=${DATA:-$scratch/data}
gen_args=(--seed 1 --events "$events" --cookies "$cookies" --products "$products" --categories "$categories" --dim 128)

# Inputs: reuse DATA when it holds a complete set made with the same flags.
bench_inputs "$data" "${gen_args[@]}"

out=$scratch/cache
cmd=("$recbuild" --events "$data/events.csv" --catalog "$data/catalog.csv" --embeddings "$data/emb.npy"
    --out "$out" --factors "$factors" --n 20 --progress never)
# shellcheck disable=SC2206
[ -z "${RECBUILD_FLAGS:-}" ] || cmd+=($RECBUILD_FLAGS)

printf '\n# recbuild benchmark: %s CPUs (%s), %s GiB RAM, %s, load average %s\n' "$(nproc)" \
    "$(cpu_model)" \
    "$(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)" "$(uname -sr)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'environment: OPENBLAS_CORETYPE=%s OMP_NUM_THREADS=%s\n' "${OPENBLAS_CORETYPE:-unset}" "${OMP_NUM_THREADS:-unset}"
printf 'command: recgen --out DATA %s\n' "${gen_args[*]}"
printf 'command: /usr/bin/time -v recbuild %s\n' "$(printf '%s ' "${cmd[@]:1}" | sed "s#$data#DATA#g; s#$out#OUT#g")"
sync
rc=0
/usr/bin/time -v -o "$scratch/time.txt" "${cmd[@]}" > "$scratch/version" 2> "$scratch/recbuild.log" || rc=$?
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
if [ $rc -ne 0 ]; then
    tail -n 30 "$scratch/recbuild.log" >&2
    printf 'recbuild.sh: recbuild exited with %s\n' "$rc" >&2
    exit 1
fi
manifest=$out/versions/$(cat "$scratch/version")/manifest.json

wall=$(sed -n 's/.*Elapsed (wall clock) time.*: //p' "$scratch/time.txt" |
    awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.1f", s }')
cpu=$(awk -F': ' '/User time \(seconds\)|System time \(seconds\)/ { s += $2 } END { printf "%.1f", s }' "$scratch/time.txt")
rss_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$scratch/time.txt")
num() { sed -n "s/^ *\"$1\": {.*\"$2\": \([-0-9.e+]*\).*/\1/p" "$manifest" | head -n 1; }

printf '\n| stage | ms |\n|---|---:|\n'
sed -n 's/^ *"timings_ms": {\(.*\)},*$/\1/p' "$manifest" | tr ',' '\n' |
    sed 's/^ *"\([a-z_]*\)": \([0-9]*\)/| \1 | \2 |/'
ingest=$(num throughput ingest_events_per_s)
lmdb=$(num throughput lmdb_records_per_s)
printf '\n| figure | value |\n|---|---:|\n'
printf '| events | %s |\n| cookie lists | %s |\n| product lists | %s |\n| segment lists | %s |\n| items | %s |\n' \
    "$events" "$(sed -n 's/.*"cookie": \([0-9]*\),.*/\1/p' "$manifest" | head -n 1)" \
    "$(sed -n 's/.*"counts": {.*"product": \([0-9]*\),.*/\1/p' "$manifest")" \
    "$(sed -n 's/.*"counts": {.*"segment": \([0-9]*\),.*/\1/p' "$manifest")" \
    "$(sed -n 's/.*"counts": {.*"items": \([0-9]*\)[,}].*/\1/p' "$manifest")"
printf '| data.mdb MiB | %s |\n' "$(awk -v b="$(stat -c %s "$out/current/data.mdb")" 'BEGIN { printf "%.0f", b / 1048576 }')"
printf '| ingest events/s | %.0f |\n| LMDB records/s | %.0f |\n' "$ingest" "$lmdb"
printf '| peak RSS MiB | %.0f |\n| wall s | %s |\n| CPU s (user+sys) | %s |\n| load average after | %s |\n' \
    "$(awk -v k="$rss_kb" 'BEGIN { print k / 1024 }')" "$wall" "$cpu" "$load_after"

missed=0
target() { # name ok-expression text
    if awk "BEGIN { exit !($2) }"; then
        printf 'target met:    %s\n' "$3"
    else
        printf 'target MISSED: %s\n' "$3"
        missed=1
    fi
}
printf '\n'
recall=$(num evaluation cf_recall)
if [ $large -eq 1 ]; then
    printf '\n'
    grep 'event=stage ' "$scratch/recbuild.log" | sed 's/^.*event=stage //'
    grep 'event=score\.calibrate\|event=score ' "$scratch/recbuild.log" || true
    printf '\n'
    target wall "$wall <= 3600" "whole build <= 3600 s (${wall} s)"
    target rss "$rss_kb <= 16777216" "peak RSS <= 16 GiB ($(awk -v k="$rss_kb" 'BEGIN { printf "%.2f", k / 1048576 }') GiB)"
    target recall "${recall:-0} >= 0.95" "approximate CF recall@N >= 0.95 (${recall:-not measured}; knn_recall $(num evaluation knn_recall))"
    grep 'event=evaluation\|event=timings\|event=throughput' "$scratch/recbuild.log" || true
    [ $check -eq 1 ] && [ $missed -ne 0 ] && exit 1
    exit 0
fi
target ingest "$ingest >= 1000000" "ingest >= 1M events/s ($(printf '%.2fM' "$(awk -v v="$ingest" 'BEGIN { print v / 1e6 }')"))"
target wall "$wall <= 600" "whole build <= 600 s (${wall} s)"
target rss "$rss_kb <= 8388608" "peak RSS <= 8 GiB ($(awk -v k="$rss_kb" 'BEGIN { printf "%.2f", k / 1048576 }') GiB)"
target lmdb "$lmdb >= 1000000" "LMDB writing >= 1M records/s ($(printf '%.2fM' "$(awk -v v="$lmdb" 'BEGIN { print v / 1e6 }')"))"
grep 'event=evaluation\|event=timings\|event=throughput' "$scratch/recbuild.log" || true
[ $check -eq 1 ] && [ $missed -eq 1 ] && exit 1
exit 0
