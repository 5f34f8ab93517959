#!/usr/bin/env bash
# tests/e2e/edge_fields.sh - product display fields end to end: a catalog
# with title, url, image_url, price and currency columns (schemas/inputs.md)
# through the real recbuild into a version, then the real recedge answering
# fields= over HTTP (schemas/http.md, "Display fields"):
#   - each item carries the fields asked for that its product has, in the
#     documented order, with the values the catalog gave (escaped once);
#   - malformed values are dropped and counted (manifest
#     counts_dropped.catalog_bad_values), their rows kept;
#   - without fields, and with fields= empty, the answer is what it was;
#   - an unknown, empty or repeated field name is a 400 with its reason;
#   - recctl get items shows the fields, recctl verify accepts the version.
#
# Environment (tests/CMakeLists.txt): BIN, EDGEREC_TEST_TMP.
set -euo pipefail
source "$(dirname "$0")/edge_common.bash"

recbuild=$BIN/builder/recbuild
recctl=$BIN/edge/recctl
for need in "$recbuild" "$recctl"; do
    [ -x "$need" ] || { echo "edge_fields: $need not built; skipped"; exit 77; }
done

# Views make the global list: p1 most viewed, then p2 ... p6.
{
    echo "ts,cookie,event,product"
    t=1700000000
    for p in p1 p1 p1 p1 p1 p1 p2 p2 p2 p2 p2 p3 p3 p3 p3 p4 p4 p4 p5 p5 p6; do
        t=$((t + 60))
        echo "$t,c$((t % 7)),view,$p"
    done
} > "$tmp/events.csv"
# p1 every field (a title with a quote, a backslash and UTF-8; a price with
# leading zeros; a currency in lower case); p2 a title and a price; p3
# only malformed values (a javascript: url, an image url with a space, a
# negative price, a 4-letter currency); p4 no value; p5 a 201-byte title
# (dropped) and a site-relative url; p6 is not in the catalog, so never
# recommended.
long=$(printf 'T%.0s' $(seq 1 201))
cat > "$tmp/catalog.csv" << EOF
product,category,in_stock,title,url,image_url,price,currency
p1,shoes,1,"Trail ""runner"" \\ café",https://shop.example/p/1?a=b&c=d,//cdn.example/1.jpg,0059.90,eur
p2,shoes,1,Sock,,,3,
p3,hats,1,,javascript:alert(1),https://cdn.example/a b.jpg,-1,EURO
p4,hats,1,,,,,
p5,hats,1,$long,/p/5,,,
EOF
"$recbuild" --events "$tmp/events.csv" --catalog "$tmp/catalog.csv" --out "$tmp/cache" --tune off --holdout 0 \
    --progress never --log-level warn > "$tmp/recbuild.out" 2> "$tmp/recbuild.err" ||
    fail "recbuild exited with $?: $(cat "$tmp/recbuild.err")"
python3 - "$tmp/cache/current/manifest.json" << 'PY' || fail "manifest counts"
import json, sys
d = json.load(open(sys.argv[1]))["counts_dropped"]
assert d["catalog_bad_values"] == 5, d  # p3's four values, p5's title
assert d["catalog_bad_rows"] == 0, d
PY
grep -q 'event=catalog_bad_value .*column=url reason=' "$tmp/recbuild.err" || fail "no catalog_bad_value log line"
"$recctl" --root "$tmp/cache" verify > /dev/null || fail "recctl verify refused the version"
"$recctl" --root "$tmp/cache" get items p1 > "$tmp/item.json" || fail "recctl get items p1"
python3 - "$tmp/item.json" << 'PY' || fail "recctl get items p1: $(cat "$tmp/item.json")"
import json, sys
raw = open(sys.argv[1], encoding="utf-8").read()
it = json.loads(raw)
want = {"title": 'Trail "runner" \\ café', "url": "https://shop.example/p/1?a=b&c=d",
        "image_url": "//cdn.example/1.jpg", "price": 59.9, "currency": "EUR"}
assert {k: it[k] for k in want if k in it} == want, it
assert list(it)[-5:] == list(want), list(it)
assert '"price":59.90,' in raw, raw
PY
ok() { echo "edge_fields: ok: $*"; }
ok "recbuild stored the fields (5 bad values dropped and counted), recctl get shows them"

start_server "$tmp/cache"
wait_until 10 is_ready || fail "recedge not ready"
get() { curl -sS -o "$tmp/$1.json" -w '%{http_code}' "http://127.0.0.1:$port/v1/recs?$2"; }

[ "$(get plain 'n=6')" = 200 ] || fail "plain query"
[ "$(get all 'n=6&fields=currency,price,image_url,url,title')" = 200 ] || fail "fields query"
[ "$(get some 'n=6&fields=price,title')" = 200 ] || fail "fields subset query"
[ "$(get empty 'n=6&fields=')" = 200 ] || fail "empty fields query"
# Every answer has its own rec_id (schemas/http.md): the rest must be equal.
no_rec_id() { sed -E 's/"rec_id":"[0-9a-f]{32}",//' "$1"; }
cmp -s <(no_rec_id "$tmp/plain.json") <(no_rec_id "$tmp/empty.json") ||
    fail "fields= (empty) changed the answer: $(cat "$tmp/empty.json")"
python3 - "$tmp" << 'PY' || fail "fields in the answers: $(cat "$tmp/all.json")"
import json, sys
t = sys.argv[1]
raw = open(t + "/all.json", encoding="utf-8").read()
plain, full, some = (json.load(open("%s/%s.json" % (t, n), encoding="utf-8")) for n in ("plain", "all", "some"))
want = {
    "p1": {"title": 'Trail "runner" \\ café', "url": "https://shop.example/p/1?a=b&c=d",
           "image_url": "//cdn.example/1.jpg", "price": 59.9, "currency": "EUR"},
    "p2": {"title": "Sock", "price": 3},
    "p3": {}, "p4": {}, "p5": {"url": "/p/5"},
}
order = ["product", "score", "source", "title", "url", "image_url", "price", "currency"]
ids = [it["product"] for it in plain["items"]]
assert ids == ["p1", "p2", "p3", "p4", "p5"], ids  # p6 is not in the catalog
for answer, asked in ((full, set(order[3:])), (some, {"title", "price"})):
    assert [it["product"] for it in answer["items"]] == ids
    for it, base in zip(answer["items"], plain["items"]):
        extra = {k: v for k, v in it.items() if k not in base}
        assert extra == {k: v for k, v in want[it["product"]].items() if k in asked}, (it, asked)
        assert {k: it[k] for k in base} == base, it
        keys = list(it)
        assert keys == [k for k in order if k in it], keys  # documented order
for it in plain["items"]:
    assert set(it) == {"product", "score", "source"}, it
# the price's text as the catalog wrote it, less leading zeros
assert '"price":59.90,' in raw and '"title":"Trail \\"runner\\" \\\\ caf\u00e9"' in raw, raw
PY
ok "fields answered as stored, only those each product has, in order; without fields the answer is unchanged"

reason() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["reason"])' "$tmp/$1.json"; }
for q in 'fields=title,colour' 'fields=title,,url' 'fields=,title' 'fields=Title' 'fields=title%2Curl'; do
    [ "$(get bad "$q")" = 400 ] || fail "$q: not a 400"
    [ "$(reason bad)" = "'fields' must list field names from title, url, image_url, price, currency" ] ||
        fail "$q: reason $(reason bad)"
done
[ "$(get bad 'fields=price,title,price')" = 400 ] || fail "repeated field: not a 400"
[ "$(reason bad)" = "'fields' names a field more than once" ] || fail "repeated field: reason $(reason bad)"
[ "$(get bad 'fields=title&fields=url')" = 400 ] || fail "repeated parameter: not a 400"
[ "$(reason bad)" = "'fields' is given more than once" ] || fail "repeated parameter: reason $(reason bad)"
ok "unknown, empty and repeated field names are refused with their reasons"
