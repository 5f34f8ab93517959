#!/usr/bin/env bash
# tests/e2e/browser_widget.sh - the recommendation widget (edge/widget/) in
# headless Chromium, on the demo shop (ops/shop/shop.py) in front of a real
# recedge serving a recbuild version of recgen data:
#   - the shop's extended catalog and the widget files' caching headers;
#   - a new, a returning and a browsing visitor each see n items, the same
#     products in the same order as recedge answers directly, with names,
#     prices and pictures from the catalog, as an accessible list of links;
#     the cache is built from the shop's catalog with display columns, so
#     recedge answers fields= itself: each item's title, url, image_url,
#     price and currency come from recedge (checked against the catalog),
#     and the widget never asks the shop's /products.json fallback;
#     the same with the widget calling recedge cross-origin (CORS);
#   - a category page's strip (data-category, data-exclude) shows n items
#     of its category, none of those the page lists, as recedge answers
#     category= and exclude=;
#   - a strip at the foot of a long page loads only when scrolled to;
#   - a recedge that does not answer: the widget gives up after its timeout
#     and hides; recedge stopped: the widget hides;
#   - a click on a recommended item sends a click beacon (sendBeacon to
#     /v1/event, through the shop and cross-origin) with the answer's
#     rec_id, the product and the visitor: counted by recedge and written
#     to its exposure log;
#   - no console error and no uncaught exception on any page.
# Screenshots: BIN/tests/screenshots/browser_widget/.
#
# Environment (tests/CMakeLists.txt): BIN, SRC, EDGEREC_TEST_TMP.
# Exits 77 (skipped) when a binary is not built or Chromium cannot start.
set -euo pipefail
source "$(dirname "$0")/browser_common.bash"

browser_probe
demo_cache display
mkdir -p "$tmp/xlog"
start_edge --exposure-log "$tmp/xlog" --node-name browser
n=8
# The widget's timeout is raised from 300 ms for the visitors' pages, so
# that a loaded test machine does not hide a strip; the silent recedge
# below keeps the default.
start_shop "127.0.0.1:$edge_port" --write-catalog "$tmp/catalog_shop.csv" --n $n --widget-timeout 5000 --access-log
base=http://127.0.0.1:$shop_port

# ---- the shop's extended catalog ----
[ "$(head -n 1 "$tmp/catalog_shop.csv")" = "product,category,in_stock,title,url,image_url,price,currency" ] ||
    fail "extended catalog header: $(head -n 1 "$tmp/catalog_shop.csv")"
[ "$(wc -l < "$tmp/catalog_shop.csv")" = "$(wc -l < "$tmp/data/catalog.csv")" ] || fail "extended catalog rows"
grep -q "^p000001,.*,$base/p/p000001,$base/img/p000001.svg,[0-9]*\.[0-9][0-9],EUR$" "$tmp/catalog_shop.csv" ||
    fail "extended catalog row: $(grep '^p000001,' "$tmp/catalog_shop.csv")"

# ---- the widget's files: a year of caching and an ETag ----
curl -fsS -D "$tmp/h" -o "$tmp/w.js" "$base/static/edgerec-widget.js" || fail "GET the widget"
cmp -s "$tmp/w.js" "$SRC/edge/widget/edgerec-widget.js" || fail "the shop serves another widget file"
grep -qi '^cache-control: public, max-age=31536000, immutable' "$tmp/h" || fail "widget Cache-Control: $(cat "$tmp/h")"
etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' "$tmp/h" | tr -d '\r')
[ -n "$etag" ] || fail "no ETag on the widget"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$base/static/edgerec-widget.css")
[ "$code" = 200 ] || fail "the CSS answered $code to the script's ETag"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$base/static/edgerec-widget.js")
[ "$code" = 304 ] || fail "If-None-Match with the ETag: $code, expected 304"
size=$(($(wc -c < "$SRC/edge/widget/edgerec-widget.js") + $(wc -c < "$SRC/edge/widget/edgerec-widget.css")))
ok "extended catalog, widget cached for a year with ETag (304 on revalidation), widget + CSS $size bytes"

# The strip's state and items, for --eval and --wait.
strip() {
    printf '(w => w && {state: w.dataset.edgerecState, reason: w.dataset.edgerecReason || "",
      route: w.dataset.edgerecRoute || "", hidden: w.hidden,
      label: (document.getElementById(w.querySelector("section") ? w.querySelector("section").getAttribute("aria-labelledby") : "") || {}).textContent || "",
      role: w.querySelector("ul") ? w.querySelector("ul").getAttribute("role") : "",
      items: [...w.querySelectorAll("li.edgerec-item")].map(li => ({product: li.dataset.product,
        href: (li.querySelector("a") || {href: ""}).getAttribute("href"),
        img: li.querySelector("img") ? li.querySelector("img").getAttribute("src") : "",
        loaded: li.querySelector("img") ? li.querySelector("img").naturalWidth : 0,
        title: li.querySelector(".edgerec-title").textContent,
        price: (li.querySelector(".edgerec-price") || {}).textContent || "",
        focus: (a => { if (!a) return false; a.focus(); return document.activeElement === a; })(li.querySelector("a"))}))})
     (document.getElementById("%s"))' "$1"
}
settled() {
    printf '(w => w && (w.dataset.edgerecState === "hidden" || (w.dataset.edgerecState === "shown" &&
      [...w.querySelectorAll("img")].every(i => i.complete && i.naturalWidth > 0))))(document.getElementById("%s"))' "$1"
}

# check_strip I WHAT QUERY ROUTES: the I-th --wait and --eval of the last
# browse (a strip) show what recedge answers to QUERY&n=$n, with a route
# among ROUTES (a regular expression).
check_strip() {
    local i=$1 what=$2 query=$3 routes=$4
    curl -fsS "http://127.0.0.1:$edge_port/v1/recs?$query&n=$n" > "$tmp/direct.json" || fail "$what: direct query"
    curl -fsS "http://127.0.0.1:$edge_port/v1/recs?$query&n=$n&fields=title,image_url,price,currency,url" \
        > "$tmp/direct_fields.json" || fail "$what: direct query with fields"
    python3 - "$tmp/browse.json" "$tmp/direct.json" "$tmp/catalog_shop.csv" "$what" "$routes" "$n" "$i" \
        "$tmp/direct_fields.json" "$tmp/data/catalog_display.csv" <<'EOF' ||
import csv, json, re, sys
r, direct = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
catalog = {row["product"]: row for row in csv.DictReader(open(sys.argv[3]))}
what, routes, n, i = sys.argv[4], sys.argv[5], int(sys.argv[6]), int(sys.argv[7])
s = r["values"][i]
want = [it["product"] for it in direct["items"]]
got = [it["product"] for it in s["items"]]
problems = []
if s["state"] != "shown":
    problems.append("state %s (%s)" % (s["state"], s["reason"]))
if got != want:
    problems.append("widget shows %s, recedge answers %s" % (got, want))
if len(got) != n:
    problems.append("%d items, expected %d" % (len(got), n))
if not re.fullmatch(routes, s["route"]) or s["route"] != direct["route"]:
    problems.append("route %s (recedge %s, expected %s)" % (s["route"], direct["route"], routes))
if not s["label"] or s["role"] != "list" or s["hidden"]:
    problems.append("not a labelled, visible list: %r" % {k: s[k] for k in ("label", "role", "hidden")})
for it in s["items"]:
    p = catalog[it["product"]]
    if it["title"] != p["title"] or it["href"] != "/p/" + it["product"] or it["img"] != "/img/%s.svg" % it["product"]:
        problems.append("item %s: %r vs catalog %r" % (it["product"], it, p["title"]))
    if p["price"] not in it["price"].replace(",", "") or not it["loaded"] or not it["focus"]:
        problems.append("item %s: price %r (catalog %s), picture loaded %s, focusable %s"
                        % (it["product"], it["price"], p["price"], it["loaded"], it["focus"]))
# The display fields came from recedge: its answer with fields= holds the
# display catalog's values for every item, and the widget shows them.
fields = json.load(open(sys.argv[8]))
display = {row["product"]: row for row in csv.DictReader(open(sys.argv[9]))}
if [it["product"] for it in fields["items"]] != want:
    problems.append("with fields= recedge answers %s" % [it["product"] for it in fields["items"]])
for it, shown in zip(fields["items"], s["items"]):
    d = display[it["product"]]
    exp = {"title": d["title"], "url": d["url"], "image_url": d["image_url"], "price": float(d["price"]),
           "currency": d["currency"]}
    if {k: it.get(k) for k in exp} != exp:
        problems.append("recedge's fields of %s: %r, catalog %r" % (it["product"], it, exp))
    if (shown["title"], shown["href"], shown["img"]) != (it.get("title"), it.get("url"), it.get("image_url")):
        problems.append("item %s shows %r, recedge's fields %r" % (it["product"], shown, it))
if problems:
    sys.exit("%s: %s" % (what, "; ".join(problems[:5])))
EOF
        fail "$what"
    ok "$what: $n items as recedge answers them (route $(js 'r["values"]['"$i"']["route"]')), names, prices, pictures from recedge's fields=, focusable links"
}

# No console error, no uncaught exception, nothing in the browser's log.
clean_session() {
    [ "$(js 'all(r["waits"])')" = True ] || fail "$1: a page did not settle: $(js 'r["waits"]')"
    no_page_errors "$1"
    [ "$(js 'r["log"]')" = "[]" ] || fail "$1: browser log: $(js 'r["log"]')"
}

returning=
for c in $(awk -F, 'NR > 1 && $3 == "purchase" { print $2 }' "$tmp/data/events.csv" | head -n 50); do
    if curl -fsS "http://127.0.0.1:$edge_port/v1/recs?cookie=$c&n=1" | grep -q '"route":"cf"'; then
        returning=$c
        break
    fi
done
[ -n "$returning" ] || fail "no cookie with a cf list among the first 50 buyers"
product=$(awk -F, 'NR > 1 && $3 == "1" { print $1; exit }' "$tmp/data/catalog.csv")

# ---- new, returning and browsing visitors, and the keyboard, in one session ----
# /?visitor=ID sets the shop's visitor cookie, which the widget reads. On
# the product page two Tabs go from the shop's header link to the strip's
# first link (before the checks below focus each link in turn).
browse --timeout 15 \
    --goto "$base/?visitor=never-seen-visitor" --wait "$(settled recs)" --eval "$(strip recs)" \
    --shot "$shots/new-visitor.png" \
    --goto "$base/?visitor=$returning" --wait "$(settled recs)" --eval "$(strip recs)" \
    --shot "$shots/returning-visitor.png" \
    --goto "$base/p/$product" --wait "$(settled similar)" --tab 2 \
    --eval '(a => [a.className, a.getAttribute("href"), a.closest("[data-edgerec-widget]") ? a.closest("[data-edgerec-widget]").id : "", getComputedStyle(a).outlineStyle])(document.activeElement)' \
    --shot "$shots/keyboard-focus.png" --eval "$(strip similar)" --shot "$shots/browsing-visitor.png"
clean_session "visitors"
check_strip 0 new-visitor "cookie=never-seen-visitor" 'global|segment'
check_strip 1 returning-visitor "cookie=$returning" 'cf'
check_strip 3 browsing-visitor "cookie=$returning&products=$product" 'image|coview'
# Every strip asked recedge with fields= (the shop's access log) and got
# them: the widget never fell back to the shop's product data.
grep -q 'GET /v1/recs?.*fields=title' "$tmp/shop.err" || fail "no /v1/recs request with fields= in the shop's log"
! grep -q 'GET /products.json' "$tmp/shop.err" ||
    fail "the widget asked the shop's /products.json: $(grep -m 3 'GET /products.json' "$tmp/shop.err")"
ok "the visitors' strips took their fields from recedge: no /products.json request"
grep -q "'$product'" <<< "$(js '[i["product"] for i in r["values"][3]["items"]]')" && fail "the product on screen is recommended"
first=$(js 'r["values"][3]["items"][0]["href"]')
[ "$(js '" ".join(r["values"][2])')" = "edgerec-link $first similar solid" ] ||
    fail "after two Tabs the focus is on $(js 'r["values"][2]'), expected the first link of the strip ($first) with an outline"
ok "keyboard: two Tabs reach the strip's first link ($first), drawn with a focus ring"

# ---- a category page: the strip's filters (data-category, data-exclude) ----
# The largest category; its page lists its first 24 products, which the
# strip must not repeat, and asks for the rest of it.
cat=$(awk -F, 'NR > 1 { n[$2]++ } END { for (c in n) print n[c], c }' "$tmp/data/catalog.csv" | sort -k1,1nr -k2 | awk 'NR == 1 { print $2 }')
browse --timeout 15 --goto "$base/c/$cat?visitor=$returning" --wait "$(settled category)" --eval "$(strip category)" \
    --eval '[document.getElementById("category").dataset.exclude, [...document.querySelectorAll(".grid a")].length]' \
    --shot "$shots/category-page.png"
clean_session "category page"
exclude=$(js 'r["values"][1][0]')
[ "$(js 'r["values"][1][1] > 0 and len(r["values"][1][0].split(",")) == 24')" = True ] ||
    fail "category page: data-exclude $(js 'r["values"][1]')"
check_strip 0 category-page "cookie=$returning&category=$cat&exclude=$exclude" 'cf|segment|global'
python3 - "$tmp/browse.json" "$tmp/catalog_shop.csv" "$cat" "$exclude" <<'PY' || fail "category page: the strip's filters"
import csv, json, sys
items = [it["product"] for it in json.load(open(sys.argv[1]))["values"][0]["items"]]
category = {row["product"]: row["category"] for row in csv.DictReader(open(sys.argv[2]))}
outside = [p for p in items if category[p] != sys.argv[3]]
listed = [p for p in items if p in sys.argv[4].split(",")]
assert not outside and not listed, ("outside the category", outside, "listed on the page", listed)
PY
ok "category page ($cat): $n items, all of the category, none of the 24 the page lists, as recedge answers category= and exclude="

# ---- cross-origin: the widget calls recedge's own address (CORS, no cookies) ----
stop_shop
start_shop "127.0.0.1:$edge_port" --n $n --widget-timeout 5000 --endpoint "http://127.0.0.1:$edge_port/v1/recs"
base=http://127.0.0.1:$shop_port
browse --timeout 15 --goto "$base/?visitor=$returning" --wait "$(settled recs)" --eval "$(strip recs)" \
    --shot "$shots/cross-origin.png"
clean_session "cross-origin"
check_strip 0 cross-origin "cookie=$returning" 'cf'

# ---- click beacons: cross-origin here, then through the shop's proxy ----
clicks() {
    curl -fsS "http://127.0.0.1:$edge_port/metrics" | awk '$1 == "edgerec_events_total{type=\"click\"}" { print $2 }'
}
click_first() {
    printf '(w => { const li = w.querySelector("li.edgerec-item"); li.querySelector("a").click();
      return [li.dataset.product, w.dataset.edgerecRecId || "", w.dataset.edgerecClicks || "0"]; })
     (document.getElementById("recs"))'
}
# check_click WHAT: the last browse clicked an item; recedge counted one
# more click than $before and logged it with the rec_id, product and visitor.
check_click() {
    local product recid sent i
    product=$(js 'r["values"][0][0]')
    recid=$(js 'r["values"][0][1]')
    sent=$(js 'r["values"][0][2]')
    [[ $recid =~ ^[0-9a-f]{32}$ ]] || fail "$1: the strip has no rec_id: '$recid'"
    [ "$sent" = 1 ] || fail "$1: the browser did not take the beacon (data-edgerec-clicks '$sent')"
    for i in $(seq 1 50); do
        [ "$(clicks)" = $((before + 1)) ] && break
        sleep 0.1
    done
    [ "$(clicks)" = $((before + 1)) ] || fail "$1: recedge counted $(clicks) clicks, expected $((before + 1))"
    python3 - "$tmp/xlog" "$recid" "$product" "$returning" << 'PY' || fail "$1: no click line in the exposure log"
import json, os, sys, time
d, recid, product, visitor = sys.argv[1:]
for _ in range(50):
    lines = [json.loads(l) for f in os.listdir(d) for l in open(os.path.join(d, f))]
    exp = [l for l in lines if l["type"] == "exposure" and l["rec_id"] == recid]
    clk = [l for l in lines if l["type"] == "click" and l["rec_id"] == recid]
    if exp and clk:
        break
    time.sleep(0.1)
assert len(exp) == 1 and product in exp[0]["items"], exp
assert len(clk) == 1 and clk[0]["product"] == product and clk[0]["cookie"] == visitor, clk
PY
    ok "$1: a click on $product sent its beacon (rec_id $recid), counted and logged beside the exposure"
}
before=$(clicks)
browse --timeout 15 --goto "$base/?visitor=$returning" --wait "$(settled recs)" --eval "$(click_first)" --sleep 1
check_click "click beacon, cross-origin"
stop_shop
start_shop "127.0.0.1:$edge_port" --n $n --widget-timeout 5000
base=http://127.0.0.1:$shop_port
before=$(clicks)
browse --timeout 15 --goto "$base/?visitor=$returning" --wait "$(settled recs)" --eval "$(click_first)" --sleep 1
check_click "click beacon, through the shop" # the widget's /v1/event is the shop's: its proxy's POST

# ---- lazy loading: the strip at the foot of a product page ----
browse --timeout 10 --cookie "$base/" "shop_vid=$returning" --goto "$base/p/$product" --sleep 0.5 \
    --eval '[document.getElementById("foot").dataset.edgerecState, document.getElementById("foot").getBoundingClientRect().top, innerHeight]' \
    --scroll 100000 --wait "$(settled foot)" --eval "$(strip foot)" --shot "$shots/lazy-foot.png"
[ "$(js 'r["values"][0][0]')" = waiting ] || fail "the foot strip did not wait for scrolling: $(js 'r["values"][0]')"
[ "$(js 'r["values"][1]["state"] == "shown" and len(r["values"][1]["items"]) == '$n)" = True ] ||
    fail "the foot strip did not load when scrolled to"
no_page_errors "lazy"
ok "lazy: the foot strip ($(js 'int(r["values"][0][1])') px down, viewport $(js 'r["values"][0][2]') px) waited, then loaded $n items on scroll"

# ---- a recedge that does not answer: the widget's 300 ms timeout ----
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
print(s.getsockname()[1], flush=True); time.sleep(300)' > "$tmp/silent.port" &
silent_pid=$!
other_pids=$silent_pid
for i in $(seq 1 50); do [ -s "$tmp/silent.port" ] && break; sleep 0.1; done
stop_shop
start_shop "127.0.0.1:$(cat "$tmp/silent.port")" --n $n
base=http://127.0.0.1:$shop_port
browse --timeout 10 --goto "$base/" --eval 'performance.now()' --wait "$(settled recs)" --eval 'performance.now()' \
    --eval "$(strip recs)" --shot "$shots/edge-silent.png"
kill "$silent_pid" 2> /dev/null || true
wait "$silent_pid" 2> /dev/null || true
[ "$(js 'r["values"][2]["state"] + " " + r["values"][2]["reason"]')" = "hidden timeout" ] ||
    fail "silent recedge: $(js 'r["values"][2]')"
[ "$(js 'r["values"][2]["hidden"]')" = True ] || fail "silent recedge: the strip is not hidden"
no_page_errors "silent recedge"
ok "silent recedge: hidden after the timeout (page load to settled: $(js 'int(r["values"][1] - r["values"][0])') ms; the proxy gives up at 2000 ms)"

# ---- recedge stopped ----
stop_shop
stop_edge
start_shop "127.0.0.1:$edge_port" --n $n --widget-timeout 5000
base=http://127.0.0.1:$shop_port
browse --timeout 10 --goto "$base/p/$product" --wait "$(settled similar)" --eval "$(strip similar)" \
    --shot "$shots/edge-stopped.png"
[ "$(js 'r["values"][0]["state"] + " " + r["values"][0]["reason"]')" = "hidden http-502" ] ||
    fail "recedge stopped: $(js 'r["values"][0]')"
no_page_errors "recedge stopped"
# The browser itself notes the failed request (DevTools shows it as a
# network error); nothing else may be logged.
others=$(js '[l for l in r["log"] if not (l["source"] == "network" and "/v1/recs?" in (l["url"] or ""))]')
[ "$others" = "[]" ] || fail "recedge stopped: browser log: $others"
ok "recedge stopped: the strip hides (502 from the shop's proxy), no console error; the browser logs $(js 'len(r["log"])') failed request(s) to /v1/recs"
