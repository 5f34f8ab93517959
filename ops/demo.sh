#!/usr/bin/env bash
# ops/demo.sh - set up, build, and run edgerec's main job on demo data:
#
#   1. setup        ops/setup.sh (packages, FAISS C API)
#   2. build        ops/build.sh -> build/
#   3. gen_data     recgen writes events.csv, catalog.csv, emb.npy and
#                   emb_ids.txt (schemas/inputs.md) into demo/data/
#   4. build_cache  recbuild turns them into a cache version under demo/cache/
#   5. start_edge   recedge serves that cache on 127.0.0.1:$DEMO_PORT
#   6. query        curl asks /v1/recs for a returning, a browsing and a new
#                   visitor
#
# recedge is stopped when the demo ends.
#
# Sizes and places (environment):
#   DEMO_DIR (demo)  DEMO_SEED (42)  DEMO_EVENTS (200000)  DEMO_COOKIES (20000)
#   DEMO_PRODUCTS (5000)  DEMO_DIM (64)  DEMO_PORT (8080)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/build
demo=${DEMO_DIR:-$root/demo}
data=$demo/data
seed=${DEMO_SEED:-42}
events=${DEMO_EVENTS:-200000}
cookies=${DEMO_COOKIES:-20000}
products=${DEMO_PRODUCTS:-5000}
dim=${DEMO_DIM:-64}
port=${DEMO_PORT:-8080}

step() { printf '\n=== demo: %s ===\n' "$*"; }
skipped=0
skip() { printf 'demo: SKIPPED %s: %s\n' "$1" "$2"; skipped=$((skipped + 1)); }

setup() {
    step "setup"
    bash "$root/ops/setup.sh"
}

build() {
    step "build"
    bash "$root/ops/build.sh"
}

gen_data() {
    step "generate demo data"
    if [ ! -x "$bin/builder/recgen" ]; then
        skip "data generation" "$bin/builder/recgen is not built (no builder/recgen.c yet)"
        return
    fi
    rm -rf "$data"
    local t0
    t0=$(date +%s)
    "$bin/builder/recgen" --out "$data" --seed "$seed" --events "$events" --cookies "$cookies" \
        --products "$products" --dim "$dim"
    printf 'demo: wrote %s in %ss:\n' "$data" "$(( $(date +%s) - t0 ))"
    ls -l "$data"
}

build_cache() {
    step "build a cache with recbuild"
    "$bin/builder/recbuild" --events "$data/events.csv" --catalog "$data/catalog.csv" \
        --embeddings "$data/emb.npy" --out "$demo/cache" --seed "$seed" --holdout 1 --progress never
    printf 'demo: current -> %s\n' "$(readlink "$demo/cache/current")"
    "$bin/edge/recctl" list --root "$demo/cache"
}

edge_pid=
stop_edge() {
    if [ -n "$edge_pid" ]; then
        kill -TERM "$edge_pid" 2>/dev/null || true
        wait "$edge_pid" 2>/dev/null || true
        edge_pid=
    fi
}
trap stop_edge EXIT

start_edge() {
    step "start recedge"
    "$bin/edge/recedge" --root "$demo/cache" --bind 127.0.0.1 --port "$port" --threads 2 \
        > "$demo/recedge.log" 2>&1 &
    edge_pid=$!
    local i
    for i in $(seq 1 100); do
        if curl -fsS "http://127.0.0.1:$port/readyz" > /dev/null 2>&1; then
            printf 'demo: recedge (pid %s) is ready on 127.0.0.1:%s, log in %s\n' "$edge_pid" "$port" \
                "$demo/recedge.log"
            return
        fi
        if ! kill -0 "$edge_pid" 2>/dev/null; then
            cat "$demo/recedge.log" >&2
            echo "demo: recedge exited before it was ready" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "demo: recedge was not ready after 10 s" >&2
    exit 1
}

ask() {
    printf '\n$ curl "%s"\n' "$1"
    curl -fsS "$1"
    echo
}

query() {
    step "query recedge with curl"
    local base="http://127.0.0.1:$port" buyer product loc device
    # A returning visitor: the first cookie in the log with a purchase.
    buyer=$(awk -F, 'NR > 1 && $3 == "purchase" { print $2; exit }' "$data/events.csv")
    # A browsing visitor: two in-stock products from the catalog.
    product=$(awk -F, 'NR > 1 && $3 == "1" { print $1; if (++k == 2) exit }' "$data/catalog.csv" | paste -sd,)
    read -r loc device < <(awk -F, 'NR == 2 { print $5, $6 }' "$data/events.csv")
    ask "$base/v1/recs?cookie=$buyer&n=5"
    ask "$base/v1/recs?products=$product&n=5"
    ask "$base/v1/recs?cookie=never-seen-before&loc=$loc&device=$device&n=5"
    ask "$base/v1/version"
    printf '\n$ curl %s/metrics | grep recedge_requests_total\n' "$base"
    curl -fsS "$base/metrics" | grep '^recedge_requests_total' || true
}

setup
build
gen_data
build_cache
start_edge
query
if [ $skipped -eq 0 ]; then
    step "done"
else
    step "incomplete: $skipped step(s) above marked SKIPPED are not available yet"
fi
