#!/usr/bin/env bash
# tests/e2e/browser_cookiejar.sh - the widget on a shop page whose visitor
# carries a common cookie jar: 25 cookies, 2 KB, on the shop's own host
# name. The shop proxies /v1/ to recedge with the browser's headers (as a
# CDN in front of a shop does), so recedge receives the whole jar beside a
# browser's usual headers (schemas/http.md, "Limits"). The strip must show
# n items as recedge answers them.
# Screenshot: BIN/tests/screenshots/browser_cookiejar/.
#
# Environment (tests/CMakeLists.txt): BIN, SRC, EDGEREC_TEST_TMP.
# Exits 77 (skipped) when a binary is not built or Chromium cannot start.
set -euo pipefail
source "$(dirname "$0")/browser_common.bash"

browser_probe
demo_cache
start_edge
n=8
# The widget's timeout is raised from 300 ms: this test is about the size
# of the request, not the speed of a loaded test machine.
start_shop "127.0.0.1:$edge_port" --n $n --widget-timeout 5000
base=http://127.0.0.1:$shop_port
visitor=$(awk -F, 'NR > 1 && $3 == "purchase" { print $2; exit }' "$tmp/data/events.csv")

# 25 name=value pairs whose Cookie header value is 2048 bytes: the visitor
# id and 24 others of the sizes analytics, consent and session cookies have.
mapfile -t jar < <(python3 - "$visitor" <<'EOF'
import sys
pairs = ["shop_vid=" + sys.argv[1]]
left = 2048 - len(pairs[0]) - 2 * 24
for i in range(24):
    size = left // (24 - i)
    name = "ck%02d" % i
    pairs.append(name + "=" + ("v%02d" % i * 40)[:size - len(name) - 1])
    left -= size
print("\n".join(pairs))
EOF
)
args=()
for pair in "${jar[@]}"; do
    args+=(--cookie "$base/" "$pair")
done
[ ${#jar[@]} -eq 25 ] || fail "built ${#jar[@]} cookies"

browse --timeout 15 "${args[@]}" --goto "$base/" \
    --wait '(w => w && ["shown", "hidden"].includes(w.dataset.edgerecState))(document.getElementById("recs"))' \
    --eval 'document.cookie.length' \
    --eval '(w => [w.dataset.edgerecState, w.dataset.edgerecReason || "", w.querySelectorAll("li.edgerec-item").length, [...w.querySelectorAll("li.edgerec-item")].map(li => li.dataset.product)])(document.getElementById("recs"))' \
    --shot "$shots/cookie-jar.png"
[ "$(js 'r["values"][0]')" = 2048 ] || fail "the page's cookie jar is $(js 'r["values"][0]') bytes, not 2048"
curl -fsS "http://127.0.0.1:$edge_port/v1/recs?cookie=$visitor&n=$n" > "$tmp/direct.json" || fail "direct query"
want=$(python3 -c 'import json,sys; print([i["product"] for i in json.load(open(sys.argv[1]))["items"]])' "$tmp/direct.json")
state=$(js 'r["values"][1][0] + " " + r["values"][1][1]')
[ "$state" = "shown " ] ||
    fail "with a 2 KB, 25-cookie jar the strip is '$state' (http-431/414 or network: recedge refused the proxied request; schemas/http.md, Limits)"
[ "$(js 'r["values"][1][3]')" = "$want" ] || fail "the strip shows $(js 'r["values"][1][3]'), recedge answers $want"
no_page_errors "cookie jar"
ok "a 2048-byte, 25-cookie jar: the same-host strip shows the $n items recedge answers"
