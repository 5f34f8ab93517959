#!/usr/bin/env bash
# tests/e2e/filters.sh - the request filters of GET /v1/recs (category=,
# exclude=; schemas/http.md, "Filters") end to end: recgen data, a version
# built by the real recbuild (with an experiment of three arms), an overlay
# set by recctl, the real recedge over HTTP.
#   - hundreds of random requests (category, exclude, products, cookie,
#     loc, device, n): every item is of an asked category (by the catalog
#     CSV), never excluded, on screen or suppressed, and appears once;
#     "short" is there exactly when fewer than n items are; a short answer
#     holds every allowed product of the lists it read to their end (the
#     asked categories' lists, the global list);
#   - a filter that empties every tier (a known category whose every
#     product is excluded, an unknown category) gives a well-formed short
#     200 answer;
#   - empty values are the same as no filter;
#   - bad filters get a 400 with a JSON reason and the CORS headers.
#
# Environment (tests/CMakeLists.txt): BIN, EDGEREC_TEST_TMP.
set -euo pipefail
source "$(dirname "$0")/edge_common.bash"

recbuild=$BIN/builder/recbuild
recgen=$BIN/builder/recgen
recctl=$BIN/edge/recctl
for need in "$recbuild" "$recgen" "$recctl"; do
    [ -x "$need" ] || { echo "filters: $need not built; skipped"; exit 77; }
done
ok() { echo "filters: ok: $*"; }

data=$tmp/data
"$recgen" --out "$data" --seed 16 --events 40000 --cookies 3000 --products 1200 --categories 12 --dim 8 \
    --log-level warn || fail "recgen exited with $?"
cat > "$tmp/experiments.json" << 'EOF'
{
  "id": "filters-e2e",
  "salt": "filters-salt",
  "arms": [
    {"name": "control",   "buckets": [0, 5000], "control": true},
    {"name": "holdout",   "buckets": [5000, 7000], "holdout": true},
    {"name": "no-global", "buckets": [7000, 10000], "tiers": ["image", "cf", "segment"]}
  ]
}
EOF
root=$tmp/cache
"$recbuild" --events "$data/events.csv" --catalog "$data/catalog.csv" --embeddings "$data/emb.npy" \
    --experiments "$tmp/experiments.json" --out "$root" --factors 8 --iterations 3 --tune off --holdout 0 \
    --threads 2 --progress never --log-level warn > "$tmp/recbuild.out" 2> "$tmp/recbuild.err" ||
    fail "recbuild exited with $?: $(tail -n 5 "$tmp/recbuild.err")"
python3 - "$root/current/manifest.json" << 'PY' || fail "the version has no category data: $(grep counts "$root/current/manifest.json")"
import json, sys
c = json.load(open(sys.argv[1]))["counts"]
assert c["category"] == 12 and c["catset"] == 12, c
PY

# The lists the checks need, through recctl: the global list, and each
# category's list (the category tier) by name.
"$recctl" --root "$root" get segment > "$tmp/global.json" || fail "recctl get segment"
cut -d, -f2 "$data/catalog.csv" | tail -n +2 | sort -u > "$tmp/categories.txt"
mkdir -p "$tmp/lists"
while read -r c; do
    "$recctl" --root "$root" get category "$c" > "$tmp/lists/$c.json" || fail "recctl get category $c"
done < "$tmp/categories.txt"

# The overlay: 15 of the most popular products, out of stock.
python3 - "$tmp/global.json" > "$tmp/overlay.txt" << 'PY'
import json, sys
items = json.load(open(sys.argv[1]))["items"]
for it in items[1:30:2]:
    print(it["product"])
PY
"$recctl" --root "$root" overlay set < "$tmp/overlay.txt" > /dev/null || fail "recctl overlay set"

start_server "$root" --threads 2
wait_until 20 is_ready || fail "recedge not ready"
overlay_loaded() { [ "$(metric recedge_overlay_products)" = 15 ]; }
wait_until 20 overlay_loaded || fail "recedge did not load the overlay of 15 products"

# ---- many random requests ----
python3 - "$port" "$data" "$tmp" 700 << 'PY' || fail "random requests"
import csv, http.client, json, random, sys, urllib.parse

port, data, tmp, count = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
rng = random.Random(16)
category_of = {}
with open(data + "/catalog.csv", newline="") as f:
    for row in csv.DictReader(f):
        category_of[row["product"]] = row["category"]
categories = sorted(set(category_of.values()))
products = sorted(category_of)
cookies, places = [], set()
with open(data + "/events.csv", newline="") as f:
    for i, row in enumerate(csv.DictReader(f)):
        if i % 37 == 0:
            cookies.append(row["cookie"])
        places.add((row["location"], row["device"]))
places = sorted(places)
suppressed = set(open(tmp + "/overlay.txt").read().split())
global_list = [it["product"] for it in json.load(open(tmp + "/global.json"))["items"]]
cat_list = {c: [it["product"] for it in json.load(open("%s/lists/%s.json" % (tmp, c)))["items"]] for c in categories}
for c, l in cat_list.items():
    bad = [p for p in l if category_of.get(p) != c]
    assert not bad, ("category list of %s holds products of other categories" % c, bad[:5])
popular = global_list[:60] + [p for c in categories for p in cat_list[c][:10]]
SOURCES = {"image", "coview", "cf", "segment", "global", "category"}

conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

def get(query):
    conn.request("GET", "/v1/recs?" + query)
    r = conn.getresponse()
    body = r.read()
    assert r.status == 200, (query, r.status, body[:300])
    assert r.getheader("Access-Control-Allow-Origin") == "*", query
    d = json.loads(body)
    return d, body

def enc(ids):
    return ",".join(urllib.parse.quote(i, safe="") for i in ids)

stats = {"requests": 0, "items": 0, "short": 0, "empty": 0, "category_items": 0, "complete_checked": 0,
         "arms": {}}

def check(query, n, cats, exclude, screen):
    d, body = get(query)
    items = [it["product"] for it in d["items"]]
    keys = list(d)
    assert keys[0] == "version" and keys[1] == "route" and keys[-1] == "items", (query, keys)
    assert d["route"] in SOURCES, (query, d["route"])
    assert len(items) <= n, (query, len(items))
    assert len(set(items)) == len(items), ("an item twice", query, items)
    if len(items) < n:
        assert d.get("short") is True and keys[-2] == "short", ("short answer without short", query, body[:300])
    else:
        assert "short" not in d, ("full answer with short", query)
    known = [c for c in cats if c in cat_list]
    for it in d["items"]:
        p = it["product"]
        assert it["source"] in SOURCES, (query, it)
        assert p not in exclude, ("excluded", query, p)
        assert p not in screen, ("on screen", query, p)
        assert p not in suppressed, ("suppressed", query, p)
        if cats:
            assert category_of.get(p) in known, ("outside the categories", query, p, category_of.get(p))
        else:
            assert it["source"] != "category", (query, it)
        stats["category_items"] += it["source"] == "category"
    arm = d.get("arm")
    stats["arms"][arm] = stats["arms"].get(arm, 0) + 1
    # A short answer read the lists of the last tiers to their end, so it
    # holds every product they list that the filters allow (the global
    # tier and, with category=, the category tier; off in the no-global arm).
    # With category= the global list is read only 64 entries deep
    # (RE_FILTER_DEPTH), but the category lists hold its products of those
    # categories too (each is the global ranking within its category), so
    # none of them may be missing either.
    if len(items) < n and arm != "no-global":
        got, banned = set(items), set(exclude) | set(screen) | suppressed
        ends = [l for c in known for l in [cat_list[c]]] if cats else [global_list]
        if cats:
            ends.append([p for p in global_list if category_of.get(p) in known])
        for l in ends:
            missing = [p for p in l if p not in banned and p not in got]
            assert not missing, ("short, yet allowed products of a list read to its end are missing", query,
                                 missing[:5])
        stats["complete_checked"] += 1
    stats["requests"] += 1
    stats["items"] += len(items)
    stats["short"] += len(items) < n
    stats["empty"] += not items
    return d

for i in range(count):
    params, cats, exclude, screen = [], [], [], []
    r = rng.random()
    if r < 0.65:
        cats = rng.sample(categories, rng.choice([1, 1, 1, 2, 3]))
        if rng.random() < 0.1:
            cats.insert(rng.randrange(len(cats) + 1), "no-such-category")
        params.append("category=" + enc(cats))
    if rng.random() < 0.5:
        pool = popular if rng.random() < 0.7 else products
        exclude = list(dict.fromkeys(rng.choice(pool) for _ in range(rng.randint(1, 50))))
        params.append("exclude=" + enc(exclude))
    if rng.random() < 0.4:
        screen = list(dict.fromkeys(rng.choice(popular if rng.random() < 0.5 else products)
                                    for _ in range(rng.randint(1, 3))))
        params.append("products=" + enc(screen))
    if rng.random() < 0.6:
        params.append("cookie=" + (rng.choice(cookies) if rng.random() < 0.8 else "new%016x" % rng.getrandbits(64)))
    if rng.random() < 0.5:
        loc, dev = rng.choice(places)
        params.append("loc=%s&device=%s" % (loc, dev))
    n = rng.choice([1, 5, 8, 10, 10, 20, 50, 100])
    params.append("n=%d" % n)
    rng.shuffle(params)
    check("&".join(params), n, cats, exclude, screen)

# A filter that empties every tier: a known category whose every product
# is excluded, with products on screen, a cookie and a segment.
sizes = sorted((sum(1 for p in products if category_of[p] == c), c) for c in categories)
size, small = sizes[0]
assert size <= 50, ("no category of at most 50 products to exclude whole", sizes[:3])
members = [p for p in products if category_of[p] == small]
loc, dev = places[0]
for arm_cookie in cookies[:12]:
    q = "category=%s&exclude=%s&products=%s&cookie=%s&loc=%s&device=%s&n=10" % (
        small, enc(members), enc(global_list[:2]), arm_cookie, loc, dev)
    d = check(q, 10, [small], members, global_list[:2])
    assert d["items"] == [] and d["short"] is True, (q, d)
    assert d["route"] == ("segment" if d.get("arm") == "holdout" else "image"), d  # the tier the rules chose
d = check("category=no-such-category&n=10", 10, ["no-such-category"], [], [])
assert d["items"] == [] and d["short"] is True and d["route"] == "global", d
d = check("category=no-such-category,%s&exclude=%s&n=100" % (small, enc(members)), 100, ["no-such-category", small],
          members, [])
assert d["items"] == [], d

# Empty values are no filter: the same answer as without them.
for q in ["n=20", "cookie=%s&n=20" % cookies[3], "products=%s&n=20" % global_list[5]]:
    a, _ = get(q)
    b, _ = get(q + "&category=&exclude=")
    a.pop("rec_id"); b.pop("rec_id")
    assert a == b, (q, a, b)

print("filters: %(requests)d answers, %(items)d items (%(category_items)d from the category tier), "
      "%(short)d short (%(empty)d empty, %(complete_checked)d checked complete); arms %(arms)s" % stats)
assert stats["category_items"] > 0 and stats["short"] > 20 and stats["requests"] - stats["short"] > 100, stats
assert stats["complete_checked"] > 10 and len(stats["arms"]) == 4, stats
PY
ok "random filtered requests hold only allowed products; emptied filters give a short 200"

# ---- bad filters: 400, a JSON reason, CORS ----
long=$(printf 'c%.0s' $(seq 1 257))
many_ids=$(seq -f 'p%g' 1 51 | paste -sd, -)
many_cats=$(seq -f 'c%g' 1 11 | paste -sd, -)
bad() { # bad QUERY REASON
    expect_status 400 GET "/v1/recs?$1"
    [ "$(json_get 'd["error"]')" = bad_request ] || fail "$1: $(cat "$tmp/body")"
    [ "$(json_get 'd["reason"]')" = "$2" ] || fail "$1: reason $(json_get 'd["reason"]'), expected $2"
    [ "$(header Access-Control-Allow-Origin)" = "*" ] || fail "$1: no CORS header on the 400"
}
bad 'category=a,,b' "'category' holds an empty name"
bad 'category=a,' "'category' holds an empty name"
bad 'exclude=,p1' "'exclude' holds an empty id"
bad "exclude=$many_ids" "'exclude' holds more than 50 ids"
bad "category=$many_cats" "'category' holds more than 10 names"
bad "category=$long" "a name in 'category' is longer than 256 bytes"
bad "exclude=p1,$long" "an id in 'exclude' is longer than 256 bytes"
bad 'category=a&category=b' "'category' is given more than once"
bad 'exclude=a&n=3&exclude=' "'exclude' is given more than once"
bad 'category=%zz' "bad percent-encoding in 'category'"
expect_status 200 GET "/v1/recs?exclude=$(seq -f 'p%g' 1 50 | paste -sd, -)&category=$(seq -f 'c%g' 1 10 | paste -sd, -)"
ok "bad filters refused with their reasons and CORS headers; the limits themselves accepted"

stop_server
ok "recedge stopped cleanly"
