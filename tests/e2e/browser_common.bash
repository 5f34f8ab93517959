# tests/e2e/browser_common.bash - helpers for the browser end-to-end
# scripts (sourced, not run: tests/CMakeLists.txt runs e2e/*.sh only): recgen
# data built by recbuild, a real recedge, the demo shop (ops/shop/shop.py)
# proxying /v1/ to it, and headless Chromium driven by browser.py.
#
# Needs BIN, SRC and EDGEREC_TEST_TMP. Exits 77 when a binary is not built,
# python3 or curl is missing, or Chromium cannot start (browser_probe says
# why). Provides: $tmp, $shots (screenshots, kept in the build folder),
# fail, ok, demo_cache, start_edge, start_shop PORT_OF_EDGE, browse ARGS...
# (browser.py's JSON in $tmp/browse.json), js EXPR (a value from it).

: "${BIN:?BIN must name the CMake build folder}"
: "${SRC:?SRC must name the source folder}"
export LC_ALL=C

name=$(basename "$0" .sh)
recbuild=$BIN/builder/recbuild
recgen=$BIN/builder/recgen
recedge=$BIN/edge/recedge
for need in "$recbuild" "$recgen" "$recedge"; do
    [ -x "$need" ] || { echo "$name: $need not built; skipped"; exit 77; }
done
for tool in python3 curl; do
    command -v "$tool" > /dev/null || { echo "$name: $tool missing; skipped"; exit 77; }
done

mkdir -p "${EDGEREC_TEST_TMP:-/tmp}"
tmp=$(mktemp -d "${EDGEREC_TEST_TMP:-/tmp}/$name.XXXXXX")
shots=$BIN/tests/screenshots/$name
rm -rf "$shots"
mkdir -p "$shots"
edge_pid= shop_pid= edge_port= shop_port=
other_pids= # more processes a test starts, stopped on exit

cleanup() {
    local pid
    for pid in $shop_pid $edge_pid $other_pids; do
        kill -TERM "$pid" 2> /dev/null || true
        wait "$pid" 2> /dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
    echo "$name: FAIL: $*" >&2
    [ -f "$tmp/browse.json" ] && { echo "--- last browser result ---" >&2; head -c 3000 "$tmp/browse.json" >&2; echo >&2; }
    [ -f "$tmp/edge.log" ] && { echo "--- recedge log (last 10 lines) ---" >&2; tail -n 10 "$tmp/edge.log" >&2; }
    exit 1
}

ok() {
    echo "$name: ok: $*"
}

# browser_probe: exit 77 unless headless Chromium starts and loads a page.
browser_probe() {
    local rc=0
    python3 "$SRC/tests/e2e/browser.py" --goto "about:blank" --eval '1 + 1' > "$tmp/probe.json" 2> "$tmp/probe.err" ||
        rc=$?
    if [ "$rc" -eq 77 ]; then
        echo "$name: $(cat "$tmp/probe.err"); skipped"
        exit 77
    fi
    [ "$rc" -eq 0 ] || fail "browser.py exited with $rc: $(cat "$tmp/probe.err")"
}

# demo_cache [display]: recgen data and one recbuild version under
# $tmp/cache. With "display", built as ops/demo.sh builds it: from the
# shop's catalog with display columns ($tmp/data/catalog_display.csv,
# site-relative URLs), so that recedge answers fields= itself.
demo_cache() {
    "$recgen" --out "$tmp/data" --seed 5 --events 30000 --cookies 3000 --products 600 --dim 16 --log-level warn ||
        fail "recgen exited with $?"
    local catalog=$tmp/data/catalog.csv
    if [ "${1:-}" = display ]; then
        catalog=$tmp/data/catalog_display.csv
        python3 "$SRC/ops/shop/shop.py" --catalog "$tmp/data/catalog.csv" --write-catalog "$catalog" --catalog-only ||
            fail "shop.py --catalog-only exited with $?"
    fi
    "$recbuild" --events "$tmp/data/events.csv" --catalog "$catalog" --embeddings "$tmp/data/emb.npy" \
        --out "$tmp/cache" --seed 5 --tune off --progress never --log-level error > /dev/null || fail "recbuild exited with $?"
}

# start_edge: recedge on a free loopback port ($edge_port).
start_edge() {
    rm -f "$tmp/edge.log"
    "$recedge" --root "$tmp/cache" --bind 127.0.0.1 --port 0 --threads 2 --poll-ms 100 "$@" 2> "$tmp/edge.log" &
    edge_pid=$!
    local i
    for i in $(seq 1 100); do
        edge_port=$(sed -n 's/.*event=listen .*port=\([0-9][0-9]*\).*/\1/p' "$tmp/edge.log" 2> /dev/null | head -n 1)
        if [ -n "$edge_port" ] && curl -fsS "http://127.0.0.1:$edge_port/readyz" > /dev/null 2>&1; then
            return 0
        fi
        kill -0 "$edge_pid" 2> /dev/null || fail "recedge exited at start-up"
        sleep 0.1
    done
    fail "recedge was not ready"
}

stop_edge() {
    kill -TERM "$edge_pid"
    wait "$edge_pid" || true
    edge_pid=
}

# start_shop EDGE_HOST:PORT [shop options...]: the demo shop ($shop_port).
start_shop() {
    local edge=$1
    shift
    rm -f "$tmp/shop.out" # before the start: the loop below must not read a previous shop's port
    python3 "$SRC/ops/shop/shop.py" --catalog "$tmp/data/catalog.csv" --edge "$edge" --port 0 "$@" \
        > "$tmp/shop.out" 2> "$tmp/shop.err" &
    shop_pid=$!
    local i
    for i in $(seq 1 100); do
        shop_port=$(sed -n 's|^shop: listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$tmp/shop.out" 2> /dev/null)
        [ -n "$shop_port" ] && return 0
        kill -0 "$shop_pid" 2> /dev/null || fail "the shop exited at start-up: $(cat "$tmp/shop.err")"
        sleep 0.1
    done
    fail "the shop did not start"
}

stop_shop() {
    kill -TERM "$shop_pid"
    wait "$shop_pid" 2> /dev/null || true
    shop_pid=
}

# browse ARGS...: run browser.py; its JSON goes to $tmp/browse.json.
browse() {
    local rc=0
    python3 "$SRC/tests/e2e/browser.py" "$@" > "$tmp/browse.json" 2> "$tmp/browse.err" || rc=$?
    [ "$rc" -eq 0 ] || fail "browser.py exited with $rc: $(tail -c 600 "$tmp/browse.err")"
}

# js EXPR: a Python expression over the last browse result `r`.
js() {
    python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($1)" "$tmp/browse.json"
}

# no_page_errors WHAT: no console.error/warning from the page's scripts and
# no uncaught exception.
no_page_errors() {
    local bad
    bad=$(js '[c for c in r["console"] if c["type"] in ("error", "warning", "assert")] + r["exceptions"]')
    [ "$bad" = "[]" ] || fail "$1: console errors: $bad"
}
