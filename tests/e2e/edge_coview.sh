#!/usr/bin/env bash
# tests/e2e/edge_coview.sh - the browsing route end to end: recbuild on
# recgen data writes coview lists (sessions cut by the gap) beside the image
# lists, with the next-item evaluation and the blend weight in the manifest;
# recctl verify checks the coview DB and recctl get reads it; recedge
# answers products=<id> with coview and image items merged, each naming its
# source. Without embeddings the browsing route answers from coview alone
# (route "coview") instead of falling through to the global list.
#
# Environment: BIN, SRC, EDGEREC_TEST_TMP (tests/CMakeLists.txt). Exits 77
# while recbuild, recgen, recctl, recedge, curl or python3 is missing.
set -euo pipefail
source "$(dirname "$0")/edge_common.bash"

recbuild=$BIN/builder/recbuild
recgen=$BIN/builder/recgen
recctl=$BIN/edge/recctl
for need in "$recbuild" "$recgen" "$recctl"; do
    [ -x "$need" ] || { echo "edge_coview: $need not built; skipped"; exit 77; }
done
ok() { echo "edge_coview: ok: $*"; }

data=$tmp/data
"$recgen" --out "$data" --log-level warn --seed 3 --events 40000 --products 800 --categories 8 --dim 16 \
    || fail "recgen exited with $?"
common=(--events "$data/events.csv" --catalog "$data/catalog.csv" --seed 7 --threads 2 --tune off
    --iterations 3 --factors 8 --progress never --log-level info)

# ---- with embeddings: both kinds, blended ----
"$recbuild" "${common[@]}" --embeddings "$data/emb.npy" --holdout 1 --out "$tmp/a" > "$tmp/a.out" 2> "$tmp/a.log" \
    || { cat "$tmp/a.log" >&2; fail "recbuild exited with $?"; }
va=$(cat "$tmp/a.out")
m=$tmp/a/versions/$va/manifest.json
grep -q 'event=evaluation.next_item' "$tmp/a.log" || fail "no next-item evaluation in the log"
python3 - "$m" <<'PY' || fail "manifest: coview count, blend weight or next_item missing"
import json, sys
m = json.load(open(sys.argv[1]))
assert m["counts"]["coview"] > 100, m["counts"]
p = m["parameters"]
assert 0 <= p["blend_weight"] <= 1 and p["blend_weight_source"] == "holdout", p
assert p["session_gap_minutes"] == 30 and p["coview_norm"] == "raw", p
n = m["evaluation"]["next_item"]
for kind in ("blend", "coview", "image", "baseline", "pop"):
    assert 0 <= n[kind + "_hr"] <= 1 and 0 <= n[kind + "_mrr"] <= n[kind + "_hr"], n
assert n["steps"] > 100 and n["k"] == 10, n
# the blend is at least as good as either kind alone (w = 1 is coview alone)
assert n["blend_hr"] >= max(n["coview_hr"], n["image_hr"]), n
assert any(g["w"] == 1 for g in n["blend_grid"]), n
assert n["coview_hr"] > n["pop_hr"], n
assert len(n["blend_grid"]) > 1, n
PY
ok "manifest: coview lists, blend weight, next-item figures"

EDGEREC_ROOT=$tmp/a "$recctl" verify > "$tmp/verify.out" 2>&1 || { cat "$tmp/verify.out" >&2; fail "recctl verify"; }
grep -q "coview" "$tmp/verify.out" || fail "recctl verify does not count the coview DB: $(cat "$tmp/verify.out")"

# A product with a coview list: the first owner key's id, from recctl get.
pid=$(python3 - "$data/events.csv" <<'PY'
import csv, collections, sys
c = collections.Counter(r["product"] for r in csv.DictReader(open(sys.argv[1])))
print(c.most_common(1)[0][0])
PY
)
EDGEREC_ROOT=$tmp/a "$recctl" get coview "$pid" > "$tmp/get.json" || fail "recctl get coview $pid"
grep -q '"source":"coview"' "$tmp/get.json" || fail "recctl get coview: $(head -c 300 "$tmp/get.json")"
ok "recctl verify and get cover coview"

# The weight the holdout chose decides the answer: at 1 a product's coview
# list stands alone (flagged sole), below 1 both kinds merge.
w=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["parameters"]["blend_weight"])' "$m")
start_server "$tmp/a"
expect_status 200 GET "/v1/recs?products=$pid&n=40"
json_ok
srcs=$(json_get '",".join(sorted(set(i["source"] for i in d["items"] if i["source"] != "global")))')
if [ "$w" = 1 ]; then
    [ "$srcs" = "coview" ] || fail "products=$pid at weight 1: sources '$srcs', want coview alone: $(head -c 400 "$tmp/body")"
    json_get '[i["source"] for i in d["items"]][-1]' | grep -qx global \
        || fail "products=$pid at weight 1: the 20-entry coview list is not filled up from the next tiers"
else
    [ "$srcs" = "coview,image" ] || fail "products=$pid: sources '$srcs', want coview and image: $(head -c 400 "$tmp/body")"
fi
json_get '(lambda s: all(s[i] >= s[i+1] for i in range(len(s)-1)))([i["score"] for i in d["items"] if i["source"] != "global"])' \
    | grep -q True || fail "products=$pid: not ordered by score: $(head -c 400 "$tmp/body")"
route=$(json_get 'd["route"]')
first=$(json_get 'd["items"][0]["source"]')
[ "$route" = "$first" ] || fail "route '$route' is not the first item's source '$first'"
json_get '"'"$pid"'" not in [i["product"] for i in d["items"]]' | grep -q True || fail "the product on screen is listed"
stop_server
ok "recedge answers products=$pid at the holdout's blend weight $w (route $route, sources $srcs)"

# ---- a weight below 1, given: both kinds merged by score ----
"$recbuild" "${common[@]}" --embeddings "$data/emb.npy" --blend-weight 0.5 --out "$tmp/c" > "$tmp/c.out" \
    2> "$tmp/c.log" || { cat "$tmp/c.log" >&2; fail "recbuild --blend-weight 0.5 exited with $?"; }
start_server "$tmp/c"
expect_status 200 GET "/v1/recs?products=$pid&n=40"
# 20 coview and 20 image entries (some shared), then the fill.
srcs=$(json_get '",".join(sorted(set(i["source"] for i in d["items"] if i["source"] != "global")))')
[ "$srcs" = "coview,image" ] || fail "products=$pid at 0.5: sources '$srcs', want coview and image: $(head -c 400 "$tmp/body")"
json_get '(lambda s: all(s[i] >= s[i+1] for i in range(len(s)-1)))([i["score"] for i in d["items"] if i["source"] != "global"])' \
    | grep -q True || fail "products=$pid at 0.5: not ordered by score: $(head -c 400 "$tmp/body")"
stop_server
ok "at --blend-weight 0.5 recedge merges coview and image lists by score"

# ---- without embeddings: coview alone answers the browsing route ----
"$recbuild" "${common[@]}" --out "$tmp/b" --session-gap 20 > "$tmp/b.out" 2> "$tmp/b.log" \
    || { cat "$tmp/b.log" >&2; fail "recbuild without embeddings exited with $?"; }
start_server "$tmp/b"
expect_status 200 GET "/v1/recs?products=$pid&n=5"
[ "$(json_get 'd["route"]')" = coview ] || fail "no embeddings: route is not coview: $(head -c 300 "$tmp/body")"
[ "$(json_get '",".join(set(i["source"] for i in d["items"]))')" = coview ] \
    || fail "no embeddings: not all items are coview: $(head -c 300 "$tmp/body")"
stop_server
ok "without embeddings, products=$pid answers from coview"
