#!/usr/bin/env bash
# tests/e2e/explore.sh - new-product exploration through the real binaries:
# recgen data whose catalog gains a created_at column (products with events
# listed long ago, the products without any event listed yesterday), built
# by recbuild with the default --explore-age-days and --explore-share, then
#
#   - the manifest's exploration section counts the new products (as many
#     as the catalog's in-stock rows dated yesterday), slots and lists,
#     and recctl show prints them;
#   - every stored segment, global, category and image list is ranked
#     best first (scores non-increasing) and holds distinct products;
#   - new products with no history at all are in the stored lists: in the
#     global list at position 5 (the first exploration slot), in segment
#     and image lists, in the category lists of their own category only,
#     and out-of-stock ones nowhere;
#   - recedge serves one to a new visitor (the global tier) in an answer
#     of the widget's 8, at position 5; with an experiment and an exposure
#     log, recctl ab-report counts the new products shown (every answer
#     to a new visitor holds one);
#   - with --explore-share 0 no segment list holds a product without
#     events and the manifest has no exploration section;
#   - a created_at the catalog cannot read is counted and its row kept;
#     bad flag values exit 2.
#
# Environment: BIN, SRC, EDGEREC_TEST_TMP. Exits 77 while recbuild, recgen,
# cachedump, recedge or recctl is not built, or curl or python3 is missing.
set -euo pipefail
source "$(dirname "$0")/recbuild_common.bash"

recedge=$BIN/edge/recedge
recctl=$BIN/edge/recctl
for need in "$recedge" "$recctl"; do
    [ -x "$need" ] || { echo "$name: $need not built; skipped"; exit 77; }
done
for tool in curl python3; do
    command -v "$tool" > /dev/null || { echo "$name: $tool missing; skipped"; exit 77; }
done

data=$tmp/data
gen "$data" --seed 16 --events 30000 --cookies 3000 --products 600 --categories 6 --dim 8 --new-products 0.1
flags=(--factors 8 --iterations 3 --progress never --threads 2 --tune off)

# The catalog with created_at: products with events long ago (two forms),
# products without any event yesterday (the window ends at recgen's --end,
# 2026-01-01T00:00:00Z, so the newest event is within a day of it).
cut -d, -f4 "$data/events.csv" | tail -n +2 | sort -u > "$tmp/seen.txt"
awk -F, -v OFS=, 'NR == FNR { seen[$1] = 1; next }
    FNR == 1 { print $0, "created_at"; next }
    { print $0, ($1 in seen) ? (FNR % 2 ? "2025-06-01T00:00:00Z" : "1748736000") : "2025-12-31 00:00:00 UTC" }' \
    "$tmp/seen.txt" "$data/catalog.csv" > "$tmp/catalog.csv"
# New (no events, dated yesterday) and in stock / out of stock.
awk -F, 'NR > 1 && $NF ~ /^2025-12-31/ && $3 == 1 { print $1 }' "$tmp/catalog.csv" | sort > "$tmp/new.txt"
awk -F, 'NR > 1 && $NF ~ /^2025-12-31/ && $3 == 0 { print $1 }' "$tmp/catalog.csv" | sort > "$tmp/new_gone.txt"
n_new=$(wc -l < "$tmp/new.txt")
[ "$n_new" -ge 20 ] || fail "the data has only $n_new new in-stock products"

root=$tmp/root
printf '{"id": "explore-e2e", "salt": "s", "arms": [{"name": "a", "buckets": [0, 5000], "control": true}, ' > "$tmp/x.json"
printf '{"name": "b", "buckets": [5000, 10000]}]}\n' >> "$tmp/x.json"
"$recbuild" --events "$data/events.csv" --catalog "$tmp/catalog.csv" --embeddings "$data/emb.npy" --out "$root" \
    --experiments "$tmp/x.json" "${flags[@]}" > /dev/null 2> "$tmp/build.log" || { cat "$tmp/build.log" >&2; fail "build exited with $?"; }
man=$root/current/manifest.json
grep -q '"exploration": {' "$man" || fail "the manifest has no exploration section"
got_new=$(manifest_num "$man" exploration new_products)
with_slot=$(manifest_num "$man" exploration new_with_slot)
slots=$(manifest_num "$man" exploration slots)
added=$(manifest_num "$man" exploration slots_added)
[ "$got_new" -eq "$n_new" ] || fail "exploration.new_products $got_new, the catalog has $n_new"
[ "$(manifest_num "$man" exploration age_days)" = 14 ] || fail "age_days is not the default 14"
[ "$(manifest_num "$man" exploration share)" = 0.1 ] || fail "share is not the default 0.1"
if [ "$added" -eq 0 ] || [ "$slots" -lt "$added" ] || [ "$with_slot" -eq 0 ] || [ "$with_slot" -gt "$got_new" ]; then
    fail "exploration counts: new_with_slot $with_slot, slots $slots, slots_added $added"
fi
grep -q "event=explore .*new_products=$n_new new_with_slot=$with_slot slots=$slots slots_added=$added" "$tmp/build.log" ||
    fail "the log's explore line does not say what the manifest does"
"$recctl" show --root "$root" > "$tmp/show.txt" || fail "recctl show exited with $?"
grep -qx "exploration.new_products=$got_new" "$tmp/show.txt" && grep -qx "exploration.share=0.1" "$tmp/show.txt" \
    || { cat "$tmp/show.txt" >&2; fail "recctl show does not print the exploration section"; }
ok "manifest: $got_new new products, $with_slot with a slot, $slots slots ($added added by exploration); recctl show prints them"

# Every stored list ranked best first, products distinct.
dump "$root" segment > "$tmp/segment.tsv"
dump "$root" product > "$tmp/product.tsv"
dump "$root" category > "$tmp/category.tsv"
[ -s "$tmp/category.tsv" ] || fail "no category lists"
for db in segment product category; do
    awk -F'\t' -v db=$db '$1 != owner { owner = $1; prev = ""; delete seen }
        prev != "" && $5 + 0 > prev + 0 { print db " list " owner " rises at rank " $3; bad = 1 }
        $4 in seen { print db " list " owner " repeats " $4; bad = 1 }
        { seen[$4] = 1; prev = $5 } END { exit bad }' "$tmp/$db.tsv" || fail "$db lists out of order or repeating"
done
ok "segment, category and image lists: scores non-increasing, products distinct ($(wc -l < "$tmp/segment.tsv") + $(wc -l < "$tmp/category.tsv") + $(wc -l < "$tmp/product.tsv") entries)"

# New products without history are in the stored lists.
new_in() { awk -F'\t' 'NR == FNR { n[$1] = 1; next } ($4 in n) { print $4 }' "$tmp/new.txt" "$1" | sort -u | wc -l; }
[ "$(new_in "$tmp/segment.tsv")" -gt 0 ] || fail "no new product in any segment list"
[ "$(new_in "$tmp/product.tsv")" -gt 0 ] || fail "no new product in any image list"
printf '*\t*\n' > "$tmp/global.ids"
dump "$root" segment "$tmp/global.ids" > "$tmp/global.tsv"
[ "$(wc -l < "$tmp/global.tsv")" -ge 15 ] || fail "the global list is short: $(wc -l < "$tmp/global.tsv")"
fifth=$(awk -F'\t' '$3 == 5 { print $4 }' "$tmp/global.tsv")
grep -qx "$fifth" "$tmp/new.txt" || fail "position 5 of the global list is $fifth, not a new product"
grep -qx "$fifth" "$tmp/seen.txt" && fail "$fifth has events"
fifteenth=$(awk -F'\t' '$3 == 15 { print $4 }' "$tmp/global.tsv")
grep -qx "$fifteenth" "$tmp/new.txt" || fail "position 15 of the global list is $fifteenth, not a new product"
# Category lists: position 5 holds a new product of the list's own category (owner = rc_key of the name,
# so the category is told by the list's other entries: every entry's category is the same).
awk -F, 'NR > 1 { print $1 "\t" $2 }' "$tmp/catalog.csv" > "$tmp/product_category.tsv"
awk -F'\t' 'FILENAME == ARGV[1] { cat[$1] = $2; next } FILENAME == ARGV[2] { n[$1] = 1; next }
    $1 != owner { owner = $1; c = cat[$4]; lists++ }
    cat[$4] != c { print "category list " owner " mixes " c " and " cat[$4]; bad = 1 }
    $3 == 5 && ($4 in n) { fifth++ }
    END { if (!fifth) { print "no category list holds a new product at position 5"; bad = 1 }
          printf "%d of %d category lists with a new product at position 5\n", fifth, lists > "/dev/stderr"; exit bad }' \
    "$tmp/product_category.tsv" "$tmp/new.txt" "$tmp/category.tsv" 2> "$tmp/category.note" || fail "category lists"
ok "category lists: $(cat "$tmp/category.note")"
if [ -s "$tmp/new_gone.txt" ]; then
    awk -F'\t' 'NR == FNR { n[$1] = 1; next } ($4 in n) { print; bad = 1 } END { exit bad }' "$tmp/new_gone.txt" \
        "$tmp/segment.tsv" "$tmp/product.tsv" "$tmp/category.tsv" > /dev/null ||
        fail "an out-of-stock new product is in a list"
fi
ok "global list: $fifth (no events) at position 5, $fifteenth at 15; $(new_in "$tmp/segment.tsv") distinct new products in segment lists, $(new_in "$tmp/product.tsv") in image lists"

# recedge answers a new visitor from the segment tier with the new product at position 5.
server_pid=
# shellcheck disable=SC2034 # recbuild_common.bash's cleanup runs it
cleanup_extra='stop_edge'
stop_edge() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2> /dev/null; then
        kill -KILL "$server_pid" 2> /dev/null || true
        wait "$server_pid" 2> /dev/null || true
    fi
}
mkdir "$tmp/explog"
: > "$tmp/edge.log"
"$recedge" --root "$root" --bind 127.0.0.1 --port 0 --threads 2 --poll-ms 100 --exposure-log "$tmp/explog" \
    2>> "$tmp/edge.log" &
server_pid=$!
port=
for _ in $(seq 1 600); do
    [ -n "$port" ] || port=$(sed -n 's/.*event=listen .*port=\([0-9][0-9]*\).*/\1/p' "$tmp/edge.log" | head -n 1)
    [ -n "$port" ] && grep -q 'event=swap ' "$tmp/edge.log" && break
    kill -0 "$server_pid" 2> /dev/null || { cat "$tmp/edge.log" >&2; fail "recedge exited at start-up"; }
    sleep 0.05
done
if [ -z "$port" ] || ! grep -q 'event=swap ' "$tmp/edge.log"; then
    fail "recedge did not load the version within 30 s"
fi
# The swap line names every DB's record count, as the manifest has them.
python3 - "$man" "$tmp/edge.log" <<'PY' || fail "the swap line's counts are not the manifest's"
import json, re, sys
counts = json.load(open(sys.argv[1]))['counts']
line = next(l for l in open(sys.argv[2]) if 'event=swap ' in l)
logged = dict(re.findall(r' ([a-z_]+)=([0-9]+)', line))
dbs = ['cookie', 'product', 'segment', 'coview', 'cookie_b', 'category', 'items', 'catset']
bad = [d for d in dbs if logged.get(d) != str(counts.get(d, 0))]
assert counts.get('category', 0) > 0 and counts.get('catset', 0) > 0, counts
assert not bad, (bad, line, counts)
PY
body=$(curl -sS "http://127.0.0.1:$port/v1/recs?cookie=someone-new&n=8")
ids=$(printf '%s' "$body" | grep -o '"product": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/')
[ "$(printf '%s\n' "$ids" | wc -l)" -eq 8 ] || fail "recedge answered $(printf '%s\n' "$ids" | wc -l) items: $body"
served=$(printf '%s\n' "$ids" | sed -n 5p)
grep -qx "$served" "$tmp/new.txt" || fail "item 5 served to a new visitor is $served, not a new product: $body"
ok "recedge: a new visitor's 8 items hold $served (no events) at position 5"
for i in $(seq 1 39); do
    curl -sS -o /dev/null "http://127.0.0.1:$port/v1/recs?cookie=visitor-$i&n=8" || fail "request $i failed"
done
kill -TERM "$server_pid"
rc=0
wait "$server_pid" || rc=$?
server_pid=
[ "$rc" -eq 0 ] || { cat "$tmp/edge.log" >&2; fail "recedge exited with $rc after SIGTERM"; }
# The report dates new products against the exposures' own (wall-clock) times: the same catalog
# as the shop's would be today, the new products listed yesterday.
yesterday=$(($(date +%s) - 86400))
sed "s/,2025-12-31 00:00:00 UTC\$/,$yesterday/" "$tmp/catalog.csv" > "$tmp/catalog_today.csv"
"$recctl" ab-report --experiments "$root/current" --log "$tmp/explog" --catalog "$tmp/catalog_today.csv" --format json \
    > "$tmp/ab.json" 2> "$tmp/ab.err" || { cat "$tmp/ab.err" >&2; fail "ab-report exited with $?"; }
python3 - "$tmp/ab.json" "$fifth" << 'PY' || fail "ab-report's new_products: $(cat "$tmp/ab.json")"
import json, sys
r = json.load(open(sys.argv[1]))["new_products"]
assert r["age_days"] == 14, r
assert r["all_impressions"] == 40 * 8, r            # 40 answers of 8
assert r["impressions"] == 40 and r["shown"] == 1, r  # each holds the global list's position 5
assert sum(a["impressions"] for a in r["arms"]) == 40, r
PY
ok "ab-report: 1 new product shown in 40 of 320 impressions, split over the arms"

# --explore-share 0: only popularity, so no product without events in a segment list.
off=$tmp/off
"$recbuild" --events "$data/events.csv" --catalog "$tmp/catalog.csv" --embeddings "$data/emb.npy" --out "$off" \
    "${flags[@]}" --explore-share 0 > /dev/null 2> "$tmp/off.log" || { cat "$tmp/off.log" >&2; fail "share 0 exited"; }
grep -q '"exploration"' "$off/current/manifest.json" && fail "share 0 wrote an exploration section"
dump "$off" segment > "$tmp/off_segment.tsv"
[ "$(new_in "$tmp/off_segment.tsv")" -eq 0 ] || fail "share 0: a product without events is in a segment list"
ok "--explore-share 0: no new product in the segment lists, no exploration section"

# A created_at the catalog cannot read: counted, the row kept; bad flags: exit 2.
sed '2s/,[^,]*$/,last tuesday/' "$tmp/catalog.csv" > "$tmp/bad_catalog.csv"
bad=$tmp/bad
"$recbuild" --events "$data/events.csv" --catalog "$tmp/bad_catalog.csv" --out "$bad" "${flags[@]}" \
    > /dev/null 2> "$tmp/bad.log" || { cat "$tmp/bad.log" >&2; fail "a bad created_at failed the build"; }
grep -q 'event=catalog_bad_value .*column=created_at' "$tmp/bad.log" || fail "the bad created_at was not logged"
[ "$(manifest_num "$bad/current/manifest.json" counts_dropped catalog_bad_values)" -ge 1 ] ||
    fail "the bad created_at was not counted"
[ "$(manifest_num "$bad/current/manifest.json" counts_dropped catalog_bad_rows)" -eq 0 ] || fail "its row was dropped"
for arg in "--explore-share 1.5" "--explore-share -0.1" "--explore-age-days -1" "--explore-share x"; do
    rc=0
    # shellcheck disable=SC2086
    "$recbuild" --events "$data/events.csv" --out "$tmp/never" $arg > /dev/null 2> "$tmp/flag.log" || rc=$?
    [ "$rc" -eq 2 ] || fail "$arg: exit $rc, expected 2"
    [ ! -e "$tmp/never/current" ] || fail "$arg: a version was published"
done
ok "a bad created_at is counted and its row kept; bad --explore-* values exit 2"
