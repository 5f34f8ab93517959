#!/usr/bin/env bash
# ops/demo.sh - set up, build, and run edgerec's main job on demo data:
#
#   1. setup        ops/setup.sh (packages, FAISS C API)
#   2. build        ops/build.sh -> build/
#   3. gen_data     recgen writes events.csv, catalog.csv, emb.npy and
#                   emb_ids.txt (schemas/inputs.md) into demo/data/, and the
#                   demo shop adds the display columns (title, url,
#                   image_url, price, currency) in catalog_display.csv
#   4. build_cache  recbuild turns them into a cache version under demo/cache/,
#                   the display fields stored with the items, so that
#                   recedge answers the widget's fields= itself
#   5. start_edge   recedge serves that cache on 127.0.0.1:$DEMO_PORT
#   6. query        curl asks /v1/recs for a returning, a browsing and a new
#                   visitor
#   7. report       recctl report writes the version's HTML page (demo/report.html)
#   8. shop         the demo shop (ops/shop/shop.py) on 127.0.0.1:$DEMO_SHOP_PORT
#                   shows the recommendation widget (edge/widget/) on its
#                   pages, proxying /v1/ to recedge; it serves until Ctrl-C
#                   when run from a terminal (DEMO_SHOP_WAIT=1 forces it,
#                   0 stops at once)
#
# recedge and the shop are stopped when the demo ends.
#
# Sizes and places (environment):
#   DEMO_DIR (demo)  DEMO_SEED (42)  DEMO_EVENTS (200000)  DEMO_COOKIES (20000)
#   DEMO_PRODUCTS (5000)  DEMO_DIM (64)  DEMO_PORT (8080)  DEMO_SHOP_PORT (8000)
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
shop_port=${DEMO_SHOP_PORT:-8000}

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
        skip "data generation" "$bin/builder/recgen is not built (no builder/recgen/recgen.c yet)"
        return
    fi
    rm -rf -- "$data"
    local t0
    t0=$(date +%s)
    "$bin/builder/recgen" --out "$data" --seed "$seed" --events "$events" --cookies "$cookies" \
        --products "$products" --dim "$dim"
    # The shop's display columns, site-relative URLs (/p/ID, /img/ID.svg):
    # the shop serves those pages whatever its port.
    if command -v python3 > /dev/null; then
        python3 "$root/ops/shop/shop.py" --catalog "$data/catalog.csv" \
            --write-catalog "$data/catalog_display.csv" --catalog-only
    else
        skip "display fields" "python3 is not installed (the cache is built from catalog.csv)"
    fi
    printf 'demo: wrote %s in %ss:\n' "$data" "$(( $(date +%s) - t0 ))"
    ls -l "$data"
}

build_cache() {
    step "build a cache with recbuild"
    local catalog=$data/catalog.csv
    [ -s "$data/catalog_display.csv" ] && catalog=$data/catalog_display.csv
    "$bin/builder/recbuild" --events "$data/events.csv" --catalog "$catalog" \
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
shop_pid=
stop_all() {
    if [ -n "$shop_pid" ]; then
        kill -TERM "$shop_pid" 2>/dev/null || true
        wait "$shop_pid" 2>/dev/null || true
        shop_pid=
    fi
    stop_edge
}
trap stop_all EXIT

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
    ask "$base/v1/recs?cookie=$buyer&n=2&fields=title,image_url,price,currency,url"
    ask "$base/v1/version"
    printf '\n$ curl %s/metrics | grep recedge_requests_total\n' "$base"
    curl -fsS "$base/metrics" | grep '^recedge_requests_total' || true
}

report() {
    step "report: the version as one HTML page"
    "$bin/edge/recctl" --root "$demo/cache" report --out "$demo/report.html"
    printf 'demo: wrote %s (open it in a browser)\n' "$demo/report.html"
}

# The demo shop: home page ("Recommended for you"), product pages ("Similar
# products"), pictures drawn from the catalog; /v1/ goes to recedge.
shop() {
    step "demo shop with the recommendation widget"
    if ! command -v python3 > /dev/null; then
        skip "demo shop" "python3 is not installed"
        return
    fi
    python3 "$root/ops/shop/shop.py" --catalog "$data/catalog.csv" --edge "127.0.0.1:$port" --port "$shop_port" \
        > "$demo/shop.log" 2>&1 &
    shop_pid=$!
    local i buyer product
    for i in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$shop_port/" > /dev/null 2>&1 && break
        if ! kill -0 "$shop_pid" 2>/dev/null; then
            cat "$demo/shop.log" >&2
            echo "demo: the shop exited before it was ready" >&2
            exit 1
        fi
        sleep 0.1
    done
    ask "http://127.0.0.1:$shop_port/v1/recs?cookie=never-seen-before&n=3"
    # A returning visitor: the first buyer in the log that has a cf list.
    for buyer in $(awk -F, 'NR > 1 && $3 == "purchase" { print $2 }' "$data/events.csv" | head -n 50); do
        curl -fsS "http://127.0.0.1:$port/v1/recs?cookie=$buyer&n=1" | grep -q '"route":"cf"' && break
    done
    product=$(awk -F, 'NR > 1 && $3 == "1" { print $1; exit }' "$data/catalog.csv")
    printf '\ndemo: the shop is at http://127.0.0.1:%s/ (log in %s); the cache was built from %s\n' \
        "$shop_port" "$demo/shop.log" "$data/catalog_display.csv"
    printf 'demo:   a returning visitor: http://127.0.0.1:%s/?visitor=%s\n' "$shop_port" "$buyer"
    printf 'demo:   a product page:      http://127.0.0.1:%s/p/%s\n' "$shop_port" "$product"
    if [ "${DEMO_SHOP_WAIT:-$([ -t 0 ] && echo 1 || echo 0)}" = 1 ]; then
        printf 'demo: serving the shop and recedge until Ctrl-C\n'
        trap 'printf "\ndemo: stopping\n"; exit 0' INT TERM
        wait "$shop_pid" || true
    fi
}

setup
build
gen_data
build_cache
start_edge
query
report
shop
if [ $skipped -eq 0 ]; then
    step "done"
else
    step "incomplete: $skipped step(s) above marked SKIPPED are not available yet"
fi
