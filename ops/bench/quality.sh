#!/usr/bin/env bash
# ops/bench/quality.sh - recommendation quality as a visitor gets it: the
# lists recedge serves, scored on held-out purchases, against the
# most-popular list and a reference implicit ALS.
#
#   ops/bench/quality.sh                  every data set: MovieLens (real) and
#                                         three recgen shapes
#   ops/bench/quality.sh --only movielens,dense-200k   some of them (names:
#                                         movielens dense-200k sparse-1m
#                                         fewcat-400k)
#   ops/bench/quality.sh --tune S         recbuild's tuning budget for the
#                                         "tuned" column (default 60)
#   ops/bench/quality.sh --tune-configs N  its --tune-configs (default:
#                                         recbuild's, 18)
#   ops/bench/quality.sh --no-reference   skip the numpy reference ALS
#   ops/bench/quality.sh --seed S         recbuild --seed S on every build and
#                                         the reference's starting factors from
#                                         seed S (default: recbuild's own seed,
#                                         42, and the reference's 0)
#   BIN=build-other ops/bench/quality.sh  another build folder (default build/)
#   QUALITY_OUT=/tmp/q ops/bench/quality.sh  work folder (default
#                                         ops/bench/out/quality, git-ignored)
#
# For each data set and each split (temporal: every cookie's latest
# purchased product held out; random: 20 % of its distinct purchased
# products, seeded), ops/bench/quality_eval.py writes the training events,
# runs recbuild on them three times (no flags: "default", which is --tune
# auto; --tune S --tune-out F: "tuned"; --tune off: the fixed defaults;
# never --holdout), serves each cache with build/edge/recedge on a
# loopback port and asks /v1/recs?cookie=C&n=10 for every evaluated cookie,
# then scores P@10, NDCG@10 and HR@10 beside the most-popular list,
# recedge's list for a new visitor, the reference ALS (quality_ref.py,
# tuned on an inner split of the training data) and, on recgen data,
# recgen's planted-truth oracle. Tables go to stdout and to
# QUALITY_OUT/results.md; ops/bench/quality.md records them.
#
# Needs python3-numpy and python3-scipy (Debian's /usr/bin/python3) and,
# for MovieLens, r-cran-dslabs: installed with apt-get when missing and the
# script runs as root, else that part is skipped with a message. The
# MovieLens ratings may not be redistributed: they are extracted at run
# time into QUALITY_OUT and never written into the repository.
set -euo pipefail
export LC_ALL=C

# shellcheck source=ops/bench/common.sh
source "$(dirname "$0")/common.sh"
here=$root/ops/bench
recbuild=$bin/builder/recbuild
recedge=$bin/edge/recedge
out=${QUALITY_OUT:-$here/out/quality}
only=movielens,dense-200k,sparse-1m,fewcat-400k
tune=60
configs=0
reference=1
seed=
while [ $# -gt 0 ]; do
    case "$1" in
        --only) only=${2:?--only needs a list}; shift ;;
        --only=*) only=${1#--only=} ;;
        --tune) tune=${2:?--tune needs seconds}; shift ;;
        --tune=*) tune=${1#--tune=} ;;
        --tune-configs) configs=${2:?--tune-configs needs a number}; shift ;;
        --tune-configs=*) configs=${1#--tune-configs=} ;;
        --no-reference) reference=0 ;;
        --seed) seed=${2:?--seed needs a number}; shift ;;
        --seed=*) seed=${1#--seed=}; [ -n "$seed" ] || { printf 'quality.sh: --seed needs a number\n' >&2; exit 2; } ;;
        -h|--help) sed -n '2,41s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) printf 'quality.sh: unknown option %s\n' "$1" >&2; exit 2 ;;
    esac
    shift
done
for name in ${only//,/ }; do
    case "$name" in movielens|dense-200k|sparse-1m|fewcat-400k) ;;
        *) printf 'quality.sh: unknown data set %s\n' "$name" >&2; exit 2 ;; esac
done
for p in "$recbuild" "$bin/builder/recgen" "$recedge"; do
    [ -x "$p" ] || { printf 'quality.sh: %s is not built (ops/build.sh)\n' "$p" >&2; exit 1; }
done

# apt_install PKG...: install Debian packages when running as root.
apt_install() {
    if [ "$(id -u)" != 0 ] || ! command -v apt-get > /dev/null; then
        printf 'quality.sh: %s missing and not root: install it with apt-get\n' "$*" >&2
        return 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" > /dev/null || {
        apt-get update -q > /dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" > /dev/null; }
}

# Debian's python3 is the one python3-numpy and python3-scipy serve.
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)
if ! "$py" -c 'import numpy, scipy' 2> /dev/null; then
    apt_install python3 python3-numpy python3-scipy || exit 1
    py=/usr/bin/python3
fi

if [ "$reference" = 1 ]; then
    OPENBLAS_NUM_THREADS=1 "$py" "$here/quality_ref.py" || { printf 'quality.sh: the reference ALS fails its self-test\n' >&2; exit 1; }
fi

mkdir -p "$out"
rm -f "$out"/*.json
printf '# recommendation quality: %s CPUs (%s), load average %s\n' "$(nproc)" "$(cpu_model)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
help=$("$recbuild" --help)
case "$help" in *--tune*) printf 'recbuild --help offers --tune: yes\n' ;; *) printf 'recbuild --help offers --tune: no\n' ;; esac

# evaluate NAME EVENTS [quality_eval.py options...]
evaluate() {
    local name=$1 events=$2
    shift 2
    local cmd=("$py" "$here/quality_eval.py" run --name "$name" --events "$events" --bin "$bin"
        --work "$out/work-$name" --json "$out/$name.json" --tune "$tune" --tune-configs "$configs" "$@")
    [ "$reference" = 1 ] || cmd+=(--ref-factors '')
    [ -z "$seed" ] || cmd+=(--recbuild-flags "--seed $seed" --ref-seed "$seed")
    printf '\n## %s\n%s\n' "$name" "$(printf '%q ' "${cmd[@]:1}" | sed "s#$root/##g")"
    local t0=$SECONDS
    "${cmd[@]}" 2> >(tee "$out/$name.log" >&2)
    rm -rf "$out/work-$name"
    printf '%s: %ss\n' "$name" "$((SECONDS - t0))"
}

# recgen_set NAME RECGEN_FLAGS...: generate (or reuse) and evaluate.
recgen_set() {
    local name=$1
    shift
    case ",$only," in *",$name,"*) ;; *) return 0 ;; esac
    local data=$out/data-$name
    printf '\n## %s: recgen --out DATA %s\n' "$name" "$*"
    bench_inputs "$data" "$@" --dim 8
    evaluate "$name" "$data/events.csv" --catalog "$data/catalog.csv" --truth "$data"
}

started=$SECONDS
case ",$only," in
    *,movielens,*)
        ml=$out/movielens
        mkdir -p "$ml"
        if ! Rscript -e 'library(dslabs)' > /dev/null 2>&1; then
            apt_install r-cran-dslabs || true
        fi
        if Rscript -e 'library(dslabs)' > /dev/null 2>&1; then
            Rscript -e 'suppressMessages(library(dslabs)); data(movielens);
                write.csv(movielens[, c("userId", "movieId", "rating", "timestamp")], commandArgs(TRUE)[1],
                          row.names = FALSE)' "$ml/ml.csv"
            # Every rating is a purchase: ts = timestamp, cookie u<userId>, product m<movieId>.
            "$py" "$here/quality_eval.py" movielens --csv "$ml/ml.csv" --out "$ml/events.csv"
            evaluate movielens "$ml/events.csv"
        else
            printf 'quality.sh: no r-cran-dslabs: MovieLens skipped\n' >&2
        fi
        ;;
esac
# Three shapes: the e2e data (small, dense: 5k products); sparse (1M
# events over 50k products, 100 categories); few categories with heavy
# cookies (4 categories, 40 events a cookie, 80 % buyers).
recgen_set dense-200k --seed 5 --events 200000 --products 5000 --categories 20
recgen_set sparse-1m --seed 42 --events 1000000 --products 50000 --categories 100
recgen_set fewcat-400k --seed 7 --events 400000 --cookies 10000 --products 2000 --categories 4 --buyers 0.8

shopt -s nullglob
jsons=()
for name in movielens dense-200k sparse-1m fewcat-400k; do
    [ -f "$out/$name.json" ] && jsons+=("$out/$name.json")
done
[ ${#jsons[@]} -gt 0 ] || { printf 'quality.sh: nothing was measured\n' >&2; exit 1; }
printf '\n# Results (%ss in all)\n' "$((SECONDS - started))"
"$py" "$here/quality_eval.py" report "${jsons[@]}" | tee "$out/results.md"
