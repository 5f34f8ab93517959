#!/usr/bin/env bash
# ops/bench/quality.sh - holdout quality of recbuild's CF lists on recgen
# data: ALS against the most-popular baseline and a truth oracle.
#
#   ops/bench/quality.sh                 200k (the e2e data) and 1M events
#   ops/bench/quality.sh --reference     also the reference workload (10M
#                                        events, 1M cookies, 100k products)
#   ops/bench/quality.sh --no-oracle     skip the oracle (it needs python3 and
#                                        takes ~2 min on the reference data)
#   BIN=build-other ops/bench/quality.sh another build folder (default build/)
#   RECBUILD_FLAGS="--factors 16" ops/bench/quality.sh   extra recbuild flags
#
# Each configuration: recgen writes the data, then
#   recbuild --events DATA/events.csv --catalog DATA/catalog.csv --out OUT \
#       --holdout 1 --progress never
# with recbuild's defaults otherwise, and the script prints its evaluation
# line (HR, Recall, NDCG @10 of ALS and most popular, coverage, popularity
# bias). The oracle repeats the same protocol in python3 (the last purchase
# held out with all its events, bought and out-of-stock products excluded)
# and ranks products by what recgen planted: the cookie's favourite
# categories and weights (truth_cookies.csv) times the product's share
# within its category (truth_products.csv) - the best a taste model can
# do on this data. "catpop" is the same without the truth: the cookie's
# training events by category times training popularity within the
# category. Results are recorded in ops/bench/quality.md. Scratch space: a
# mktemp folder under ${TMPDIR:-/tmp}, removed on exit.
set -euo pipefail
export LC_ALL=C

# shellcheck source=ops/bench/common.sh
source "$(dirname "$0")/common.sh"
recbuild=$bin/builder/recbuild
recgen=$bin/builder/recgen
reference=0
oracle=1
for arg in "$@"; do
    case "$arg" in
        --reference) reference=1 ;;
        --no-oracle) oracle=0 ;;
        -h|--help) sed -n '2,27s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) printf 'quality.sh: unknown option %s\n' "$arg" >&2; exit 2 ;;
    esac
done
for p in "$recbuild" "$recgen"; do
    [ -x "$p" ] || { printf 'quality.sh: %s is not built (ops/build.sh)\n' "$p" >&2; exit 1; }
done
if [ "$oracle" = 1 ] && ! command -v python3 > /dev/null; then
    printf 'quality.sh: no python3: the oracle is skipped\n' >&2
    oracle=0
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/quality-bench.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

cat > "$scratch/oracle.py" << 'EOF'
import csv, math, sys
from collections import defaultdict
d, K = sys.argv[1], 10
W = {'view': 1.0, 'cart': 3.0, 'purchase': 10.0}
cat, stock = {}, {}
for r in csv.DictReader(open(d + '/catalog.csv')):
    cat[r['product']] = r['category']; stock[r['product']] = r['in_stock'] == '1'
share = {r['product']: float(r['expected_share']) for r in csv.DictReader(open(d + '/truth_products.csv'))}
catshare = defaultdict(float)
for p, s in share.items(): catshare[cat[p]] += s
taste = {r['cookie']: list(zip(r['categories'].split('|'), map(float, r['weights'].split('|'))))
         for r in csv.DictReader(open(d + '/truth_cookies.csv'))}
ev = defaultdict(list)  # cookie -> [(ts, line, event, product)]
for n, r in enumerate(csv.DictReader(open(d + '/events.csv'))):
    ev[r['cookie']].append((int(r['ts']), n, r['event'], r['product']))
held, train = {}, {}
for c, es in ev.items():  # recbuild --holdout 1 (builder/train.c)
    last = {}
    for ts, n, t, p in es:
        if t == 'purchase' and (p not in last or (ts, n) > last[p]): last[p] = (ts, n)
    if len(last) >= 2:
        h = max(last, key=lambda p: last[p]); held[c] = h; train[c] = [e for e in es if e[3] != h]
    else:
        train[c] = es
del ev
buys, wsum = defaultdict(int), defaultdict(float)
for c, es in train.items():
    for p in {e[3] for e in es if e[2] == 'purchase'}: buys[p] += 1
    for e in es: wsum[e[3]] += W[e[2]]
instock = [p for p in cat if stock[p]]
ranked = sorted(instock, key=lambda p: (-buys[p], -wsum[p], p))  # builder/eval.c's baseline, undecayed
top = set(ranked[:max(1, len(ranked) // 100)])
bycat = defaultdict(list)
for p in ranked: bycat[cat[p]].append(p)
truth_cat = {c: sorted(ps, key=lambda p: -share[p]) for c, ps in bycat.items()}
catmass = defaultdict(float)
for p in instock: catmass[cat[p]] += buys[p] + 0.01 * wsum[p]
def mix_list(mix, lists, score, bought):
    cands = []
    for c, w in mix:
        n = 0
        for p in lists.get(c, []):
            if p in bought: continue
            cands.append((-w * score(p), p)); n += 1
            if n >= K: break
    out = [p for _, p in sorted(cands)[:K]]
    for p in ranked:
        if len(out) >= K: break
        if p not in bought and p not in out: out.append(p)
    return out
tot = defaultdict(lambda: [0.0, 0.0, 0]); rec = defaultdict(set)
for c, h in held.items():
    bought = {e[3] for e in train[c] if e[2] == 'purchase'}
    mixw = defaultdict(float)
    for e in train[c]: mixw[cat[e[3]]] += W[e[2]]
    s = sum(mixw.values())
    lists = {'oracle': mix_list(taste[c], truth_cat, lambda p: share[p] / catshare[cat[p]], bought),
             'catpop': mix_list([(k, v / s) for k, v in mixw.items()], bycat,
                                lambda p: (buys[p] + 0.01 * wsum[p]) / catmass[cat[p]], bought)}
    for name, lst in lists.items():
        j = lst.index(h) if h in lst else -1
        tot[name][0] += j >= 0; tot[name][1] += 1 / math.log2(j + 2) if j >= 0 else 0
        tot[name][2] += sum(p in top for p in lst); rec[name].update(lst)
n = len(held)
for name, (hr, nd, ts) in tot.items():
    print(f'{name}: users={n} hr={hr / n:.4f} ndcg={nd / n:.4f} coverage={len(rec[name]) / len(instock):.4f} '
          f'pop_bias={ts / (K * n):.4f}')
EOF

# run NAME RECGEN_FLAGS...: one configuration.
run() {
    local name=$1
    shift
    local data=$scratch/$name out=$scratch/$name.out
    printf '\n## %s\nrecgen --out DATA %s\n' "$name" "$*"
    "$recgen" --out "$data" "$@" --log-level warn
    local cmd=("$recbuild" --events "$data/events.csv" --catalog "$data/catalog.csv" --out "$out" --holdout 1
        --progress never)
    # shellcheck disable=SC2206
    [ -z "${RECBUILD_FLAGS:-}" ] || cmd+=($RECBUILD_FLAGS)
    printf 'recbuild --events DATA/events.csv --catalog DATA/catalog.csv --out OUT --holdout 1 --progress never %s\n' \
        "${RECBUILD_FLAGS:-}"
    local t0=$SECONDS
    "${cmd[@]}" > /dev/null 2> "$scratch/$name.log" || { tail -n 5 "$scratch/$name.log" >&2; exit 1; }
    printf 'recbuild: %ss; %s\n' "$((SECONDS - t0))" \
        "$(grep 'event=evaluation' "$scratch/$name.log" | tail -n 1 | sed 's/.*event=evaluation //')"
    [ "$oracle" = 0 ] || python3 "$scratch/oracle.py" "$data"
    rm -rf "$data" "$out"
}

printf '# recbuild holdout quality: %s CPUs, load average %s\n' "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
run e2e-200k --seed 5 --events 200000 --products 5000 --categories 20 --dim 32
run 1m --seed 42 --events 1000000 --products 5000 --dim 8
[ "$reference" = 0 ] || run reference-10m --seed 1 --events 10000000 --cookies 1000000 --products 100000 \
    --categories 200 --dim 8
