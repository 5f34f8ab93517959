#!/usr/bin/env bash
# ops/bench/score_methods.sh - time CF scoring with FAISS and with the
# blocked GEMM (recbuild --score-method faiss|gemm) on the reference
# workload, plus the ALS and kNN stages of the same builds.
#
#   ops/bench/score_methods.sh           10M events, 1M cookies, 100k products,
#                                        128-d embeddings, 64 factors, N = 20
#   ops/bench/score_methods.sh --small   1M events, 100k cookies (a quick run)
#   BIN=build-other ops/bench/score_methods.sh   another build folder (default build/)
#   DATA=/big/disk/refdata ops/bench/score_methods.sh   keep and reuse the inputs
#   CORETYPES="default SkylakeX" ops/bench/score_methods.sh   OpenBLAS kernels to try:
#                                        "default" leaves OPENBLAS_CORETYPE unset
#
# recgen writes the inputs once (the flags of ops/bench/recbuild.sh); then
# one recbuild per (core type, method) with --iterations 3 (ALS quality does
# not matter here, its timing is per iteration) and --knn exact. For each
# build the script prints the "als", "score" and "knn" entries of the
# manifest's timings_ms. Results are recorded in ops/bench/score_methods.md.
set -euo pipefail
export LC_ALL=C

# shellcheck source=ops/bench/common.sh
source "$(dirname "$0")/common.sh"
recbuild=$bin/builder/recbuild
recgen=$bin/builder/recgen
events=10000000
cookies=1000000
for arg in "$@"; do
    case "$arg" in
        --small) events=1000000 cookies=100000 ;;
        -h|--help) sed -n '2,19s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) printf 'score_methods.sh: unknown option %s\n' "$arg" >&2; exit 2 ;;
    esac
done
for p in "$recbuild" "$recgen"; do
    [ -x "$p" ] || { printf 'score_methods.sh: %s is not built (ops/build.sh)\n' "$p" >&2; exit 1; }
done

scratch=$(mktemp -d "${TMPDIR:-/tmp}/score-bench.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
data=${DATA:-$scratch/data}
gen_args=(--seed 1 --events "$events" --cookies "$cookies" --products 100000 --categories 200 --dim 128)
bench_inputs "$data" "${gen_args[@]}"

printf '\n# CF scoring methods: %s CPUs (%s), load average %s\n' "$(nproc)" \
    "$(cpu_model)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'command: recgen --out DATA %s\n' "${gen_args[*]}"
printf '\n| OPENBLAS_CORETYPE | method | als ms (3 it.) | score ms | knn ms | cookie lists | load after |\n'
printf '|---|---|---:|---:|---:|---:|---|\n'
stage_ms() { sed -n "s/^ *\"timings_ms\": {.*\"$2\": \([0-9]*\).*/\1/p" "$1" | head -n 1; }
for core in ${CORETYPES:-default SkylakeX}; do
    for method in faiss gemm; do
        out=$scratch/cache-$core-$method
        cmd=("$recbuild" --events "$data/events.csv" --catalog "$data/catalog.csv" --embeddings "$data/emb.npy"
            --out "$out" --factors 64 --n 20 --iterations 3 --knn exact --score-method "$method" --progress never)
        if [ "$core" = default ]; then
            env -u OPENBLAS_CORETYPE "${cmd[@]}" > "$scratch/version" 2> "$scratch/log" ||
                { tail -n 20 "$scratch/log" >&2; exit 1; }
        else
            OPENBLAS_CORETYPE=$core "${cmd[@]}" > "$scratch/version" 2> "$scratch/log" ||
                { tail -n 20 "$scratch/log" >&2; exit 1; }
        fi
        manifest=$out/versions/$(cat "$scratch/version")/manifest.json
        printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$core" "$method" "$(stage_ms "$manifest" als)" \
            "$(stage_ms "$manifest" score)" "$(stage_ms "$manifest" knn)" \
            "$(sed -n 's/.*"counts": {.*"cookie": \([0-9]*\),.*/\1/p' "$manifest" | head -n 1)" \
            "$(cut -d' ' -f1-3 /proc/loadavg)"
        rm -rf "$out"
    done
done
printf 'command: recbuild --events DATA/events.csv --catalog DATA/catalog.csv --embeddings DATA/emb.npy --out OUT'
printf ' --factors 64 --n 20 --iterations 3 --knn exact --score-method faiss|gemm --progress never\n'
