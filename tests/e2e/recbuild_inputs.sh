#!/usr/bin/env bash
# tests/e2e/recbuild_inputs.sh - bad input never crashes recbuild and never
# half-publishes: each case is either a clear error (exit 3 for unusable
# input, 1 for an unreadable file, 2 for a bad command line) with `current`,
# versions/ and .staging/ unchanged, or a build that counts the skipped rows
# in the manifest's counts_dropped.
#
#   missing columns, empty files, header only, bad timestamps, unknown event
#   types, ids over 256 bytes, bad quoting, short lines, over-long lines,
#   too many bad lines, NaN/inf embedding rows, embedding rows without a
#   catalog entry and catalog products without a row, ids/rows mismatch, a
#   file that is not .npy, missing files, bad flags; --map, --map-event and
#   --ts-unit ms read renamed columns and millisecond timestamps into the
#   same lists; --preset retailrocket and --preset rees46 read those layouts
#   as published (REES46's "... UTC" times, its remove_from_cart lines
#   counted as events_unknown_type) into the same CF lists, and unknown
#   event types past --max-bad-ratio fail the build.
#
# Environment: BIN, SRC, EDGEREC_TEST_TMP. Exits 77 while recbuild, recgen
# or cachedump is not built.
set -euo pipefail
source "$(dirname "$0")/recbuild_common.bash"

data=$tmp/data
gen "$data" --seed 11 --events 20000 --cookies 2000 --products 500 --categories 5 --dim 8
ev=$data/events.csv
flags=(--factors 8 --iterations 3 --progress never --log-level warn --threads 2)

root=$tmp/root
"$recbuild" --events "$ev" --catalog "$data/catalog.csv" --embeddings "$data/emb.npy" --out "$root" "${flags[@]}" \
    > /dev/null 2> "$tmp/base.log" || { cat "$tmp/base.log" >&2; fail "baseline build exited with $?"; }
base=$(current "$root")
[ -n "$base" ] || fail "baseline build did not flip current"

# expect_fail CODE PATTERN WHAT recbuild-args...: the build into $root exits
# CODE, stderr matches PATTERN, and the cache root is as it was.
expect_fail() {
    local code=$1 pattern=$2 what=$3 rc=0
    shift 3
    "$recbuild" --out "$root" "$@" > "$tmp/out" 2> "$tmp/err" || rc=$?
    if [ "$rc" -ne "$code" ]; then
        cat "$tmp/err" >&2
        fail "$what: exit $rc, expected $code"
    fi
    grep -qE -- "$pattern" "$tmp/err" || { cat "$tmp/err" >&2; fail "$what: no message matching '$pattern'"; }
    [ ! -s "$tmp/out" ] || fail "$what: printed a version id: $(cat "$tmp/out")"
    [ "$(current "$root")" = "$base" ] || fail "$what: current moved to $(current "$root")"
    [ "$(versions "$root")" = "$base" ] || fail "$what: versions/ changed: $(versions "$root" | tr '\n' ' ')"
    [ -z "$(ls -A "$root/.staging" 2> /dev/null)" ] || fail "$what: left $(ls "$root/.staging") in .staging"
    ok "$what: exit $code, '$(grep -oE -- "$pattern" "$tmp/err" | head -n 1)'"
}

# expect_counted REASON_KEY MIN WHAT recbuild-args...: the build succeeds
# and the manifest's counts_dropped.KEY is at least MIN.
n_ok=0
expect_counted() {
    local key=$1 min=$2 what=$3 rc=0
    shift 3
    n_ok=$((n_ok + 1))
    local r=$tmp/ok$n_ok
    "$recbuild" --out "$r" "$@" > /dev/null 2> "$tmp/err" || rc=$?
    [ "$rc" -eq 0 ] || { cat "$tmp/err" >&2; fail "$what: exit $rc, expected a build that counts the rows"; }
    local m got
    m=$(ls "$r"/versions/*/manifest.json)
    got=$(manifest_num "$m" counts_dropped "$key")
    [ -n "$got" ] && [ "$got" -ge "$min" ] || fail "$what: counts_dropped.$key is '${got}', expected >= $min"
    "$cachedump" --verify "$r" meta > /dev/null || fail "$what: the version does not verify"
    ok "$what: built, counts_dropped.$key = $got"
}

# ---- events ----
sed '1s/,product,/,item,/' "$ev" > "$tmp/nocol.csv"
expect_fail 3 "product" "events without a product column" --events "$tmp/nocol.csv"
: > "$tmp/empty.csv"
expect_fail 3 "empty" "empty events file" --events "$tmp/empty.csv"
head -n 1 "$ev" > "$tmp/header.csv"
expect_fail 3 "no data lines|no event" "header-only events file" --events "$tmp/header.csv"
expect_fail 1 "unable to open" "missing events file" --events "$tmp/nonexistent.csv"

# A handful of bad lines among good ones: counted, the build goes on.
{
    cat "$ev"
    echo "yesterday,c1,view,p000001,US,mobile"
    echo "2026-13-45T99:00:00Z,c1,view,p000001,US,mobile"
    echo "1767225000,c1,like,p000001,US,mobile"
    echo "1767225000,c1,teleport,p000001,US,mobile"
    echo "1767225000,$(printf 'x%.0s' $(seq 1 257)),view,p000001,US,mobile"
    echo "1767225000,c1,view,$(printf 'p%.0s' $(seq 1 300)),US,mobile"
    echo "1767225000,\"c1,view,p000001,US,mobile"
    echo "1767225000,c1"
    printf '1767225000,c1,view,p000001,US,%s\n' "$(head -c 70000 /dev/zero | tr '\0' 'm')"
} > "$tmp/bad.csv"
expect_counted timestamp 2 "bad timestamps" --events "$tmp/bad.csv"
m=$(ls "$tmp"/ok$n_ok/versions/*/manifest.json)
for reason in events_unknown_type:2 event:0 id:2 quote:1 fields:1 long_line:1; do
    got=$(manifest_num "$m" counts_dropped "${reason%%:*}")
    [ "$got" -eq "${reason#*:}" ] || fail "bad lines: counts_dropped reason ${reason%%:*} is $got, expected ${reason#*:}"
done
ok "unknown event types, ids over 256 bytes, bad quoting, short and over-long lines counted by reason"

# Past --max-bad-ratio: exit 3.
{ head -n 1 "$ev"; for i in $(seq 1 50); do echo "bad-ts-$i,c$i,view,p000001,US,mobile"; done
  sed -n '2,101p' "$ev"; } > "$tmp/mostlybad.csv"
expect_fail 3 "malformed" "a third of the lines bad" --events "$tmp/mostlybad.csv"
expect_fail 3 "no event was accepted|malformed" "only bad lines" --events <(head -n 1 "$ev"; echo "x,c,view,p,US,mobile") \
    --max-bad-ratio 1

# ---- catalog ----
sed '1s/in_stock/stock/' "$data/catalog.csv" > "$tmp/cat-nocol.csv"
expect_fail 3 "in_stock" "catalog without an in_stock column" --events "$ev" --catalog "$tmp/cat-nocol.csv"
: > "$tmp/cat-empty.csv"
expect_fail 3 "empty" "empty catalog" --events "$ev" --catalog "$tmp/cat-empty.csv"

# ---- embeddings ----
npy=$data/emb.npy
major=$(od -An -tu1 -j6 -N1 "$npy" | tr -d ' ')
if [ "$major" = 1 ]; then hoff=$((10 + $(od -An -tu2 -j8 -N2 "$npy" | tr -d ' '))); else hoff=$((12 + $(od -An -tu4 -j8 -N4 "$npy" | tr -d ' '))); fi
dim=8
cp "$npy" "$tmp/nan.npy"
cp "$data/emb_ids.txt" "$tmp/nan_ids.txt"
printf '\000\000\300\177' | dd of="$tmp/nan.npy" bs=1 seek=$((hoff + 4 * dim * 0 + 8)) conv=notrunc status=none # row 0: NaN
printf '\000\000\200\177' | dd of="$tmp/nan.npy" bs=1 seek=$((hoff + 4 * dim * 1)) conv=notrunc status=none     # row 1: +inf
printf '\000\000\200\377' | dd of="$tmp/nan.npy" bs=1 seek=$((hoff + 4 * dim * 2 + 4)) conv=notrunc status=none # row 2: -inf
expect_counted embedding_bad_values 3 "NaN and inf embedding rows" --events "$ev" --catalog "$data/catalog.csv" \
    --embeddings "$tmp/nan.npy"

cp "$npy" "$tmp/orphan.npy"
sed '5s/.*/not-in-catalog/' "$data/emb_ids.txt" > "$tmp/orphan_ids.txt"
expect_counted embedding_not_in_catalog 1 "an embedding row without a catalog entry" --events "$ev" \
    --catalog "$data/catalog.csv" --embeddings "$tmp/orphan.npy"
m=$(ls "$tmp"/ok$n_ok/versions/*/manifest.json)
got=$(manifest_num "$m" counts_dropped catalog_without_embedding)
[ "$got" -ge 1 ] || fail "a catalog product without an embedding row is not counted ($got)"
ok "the catalog product that lost its row: counts_dropped.catalog_without_embedding = $got"

head -n 10 "$data/emb_ids.txt" > "$tmp/short_ids.txt"
expect_fail 3 "rows|lines|ids" "embedding ids fewer than rows" --events "$ev" --embeddings "$npy" \
    --embedding-ids "$tmp/short_ids.txt"
printf 'not a numpy file\n' > "$tmp/fake.npy"
cp "$data/emb_ids.txt" "$tmp/fake_ids.txt"
expect_fail 3 "npy|NumPy|numpy|magic" "an embeddings file that is not .npy" --events "$ev" --embeddings "$tmp/fake.npy"
expect_fail 1 "unable to open|No such file" "missing embeddings file" --events "$ev" --embeddings "$tmp/none.npy"

# No embeddings at all: a warning, no image lists.
rc=0
"$recbuild" --events "$ev" --out "$tmp/noemb" "${flags[@]}" --log-level info > /dev/null 2> "$tmp/err" || rc=$?
[ "$rc" -eq 0 ] || { cat "$tmp/err" >&2; fail "build without embeddings exited $rc"; }
grep -q 'level=warn.*image-similarity lists are skipped' "$tmp/err" || fail "no warning about the missing embeddings"
[ -z "$(dump "$tmp/noemb" product)" ] || fail "image lists without embeddings"
ok "without --embeddings: a warning and no image lists"

# ---- mapping: renamed columns, other event names, milliseconds ----
awk -F, -v OFS=, 'NR == 1 { print "timestamp,visitorid,kind,itemid,location,device"; next }
    { $1 = $1 "000"; if ($3 == "cart") $3 = "addtocart"; if ($3 == "purchase") $3 = "transaction"; print }' "$ev" \
    > "$tmp/mapped.csv"
"$recbuild" --events "$tmp/mapped.csv" --out "$tmp/mapped" "${flags[@]}" --ts-unit ms \
    --map ts=timestamp,cookie=visitorid,event=kind,product=itemid --map-event cart=addtocart,purchase=transaction \
    > /dev/null 2> "$tmp/err" || { cat "$tmp/err" >&2; fail "mapped build failed"; }
"$recbuild" --events "$ev" --out "$tmp/plain" "${flags[@]}" > /dev/null 2> "$tmp/err" || fail "plain build failed"
for db in cookie segment; do
    cmp -s <(dump "$tmp/mapped" $db) <(dump "$tmp/plain" $db) || fail "--map/--map-event/--ts-unit ms: $db lists differ"
done
ok "--map, --map-event and --ts-unit ms give the same lists as the canonical file"

# ---- presets: the same events as RetailRocket and REES46 publish them ----
# Neither layout has location or device columns, so only the CF lists can
# match the canonical build; the segment DB still holds the global list.
# expect_preset NAME FILE: builds with --preset NAME, CF lists equal the
# plain build's, segment lists exist, the manifest names the preset.
expect_preset() {
    local name=$1 file=$2 r=$tmp/preset-$1
    "$recbuild" --events "$file" --out "$r" "${flags[@]}" --preset "$name" > /dev/null 2> "$tmp/err" \
        || { cat "$tmp/err" >&2; fail "--preset $name: build failed"; }
    "$cachedump" --verify "$r" meta > /dev/null || fail "--preset $name: the version does not verify"
    [ -n "$(dump "$r" cookie)" ] || fail "--preset $name: no cookie lists"
    cmp -s <(dump "$r" cookie) <(dump "$tmp/plain" cookie) || fail "--preset $name: cookie lists differ from the plain build"
    [ -n "$(dump "$r" segment)" ] || fail "--preset $name: no segment lists"
    grep -q "\"preset\": \"$name\"" "$r"/versions/*/manifest.json || fail "--preset $name: not in the manifest"
}
# RetailRocket events.csv: timestamp (ms),visitorid,event (view/addtocart/transaction),itemid,transactionid.
awk -F, -v OFS=, 'NR == 1 { print "timestamp,visitorid,event,itemid,transactionid"; next }
    { e = $3 == "cart" ? "addtocart" : $3 == "purchase" ? "transaction" : $3
      print $1 "000", $2, e, $4, (e == "transaction" ? NR : "") }' "$ev" > "$tmp/retailrocket.csv"
expect_preset retailrocket "$tmp/retailrocket.csv"
ok "--preset retailrocket reads RetailRocket's layout (ms, addtocart, transaction) into the same CF lists"

# REES46: event_time ("2019-10-01 00:00:00 UTC"),event_type,product_id,category_id,category_code,brand,price,
# user_id,user_session; every 200th event is followed by a remove_from_cart line (0.5%, under the 1% ratio).
rees46() { # rees46 EVERY: the events in REES46's layout, a remove_from_cart line after every EVERY-th
    awk -F, -v OFS=, -v every="$1" 'NR == 1 {
        print "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"; next }
    { t = strftime("%Y-%m-%d %H:%M:%S UTC", $1, 1); s = $2 "-" int($1 / 1800)
      print t, $3, $4, "2103807459595387724", "", "shiseido", "35.79", $2, s
      if (NR % every == 0) print t, "remove_from_cart", $4, "2103807459595387724", "", "shiseido", "35.79", $2, s }' "$ev"
}
rees46 200 > "$tmp/rees46.csv"
grep -q '^20[0-9-]* [0-9:]* UTC,view,' "$tmp/rees46.csv" || fail "the REES46-style file has no '... UTC,view,' line"
expect_preset rees46 "$tmp/rees46.csv"
m=$(ls "$tmp"/preset-rees46/versions/*/manifest.json)
want=$(( ($(wc -l < "$ev") - 1) / 200 ))
got=$(manifest_num "$m" counts_dropped events_unknown_type)
[ "$got" -eq "$want" ] || fail "--preset rees46: counts_dropped.events_unknown_type is $got, expected $want"
[ "$(manifest_num "$m" counts_dropped bad_lines)" -eq 0 ] || fail "--preset rees46: remove_from_cart counted as malformed"
ok "--preset rees46 reads REES46's layout (' UTC' times, user_session) into the same CF lists; $got remove_from_cart lines counted as events_unknown_type"
# Unknown types count toward --max-bad-ratio: one in ten fails the build at 1%.
rees46 9 > "$tmp/rees46-many.csv"
expect_fail 3 "unknown event type" "remove_from_cart past --max-bad-ratio" --events "$tmp/rees46-many.csv" \
    --preset rees46

# ---- the command line ----
expect_fail 2 "unknown option '--frobnicate'" "an unknown flag" --events "$ev" --frobnicate
expect_fail 2 "--factors 'many'" "a non-numeric value" --events "$ev" --factors many
expect_fail 2 "--n '0'" "a list length of 0" --events "$ev" --n 0
expect_fail 2 "--knn 'fast'" "an unknown choice" --events "$ev" --knn fast
expect_fail 2 "unknown preset 'kaggle'" "an unknown preset" --events "$ev" --preset kaggle
expect_fail 2 "--ts-unit 'ns'" "an unknown timestamp unit" --events "$ev" --ts-unit ns
expect_fail 2 "--events is required" "no events" --catalog "$data/catalog.csv"
expect_fail 2 "--eval-k" "eval-k above n" --events "$ev" --n 5 --eval-k 10 --holdout 1
expect_fail 2 "only once" "stdin twice" --events - --events -
rc=0
"$recbuild" --events "$ev" > /dev/null 2> "$tmp/err" || rc=$?
[ "$rc" -eq 2 ] && grep -q -- "--out is required" "$tmp/err" || fail "no --out: exit $rc"
"$recbuild" --help > "$tmp/help" || fail "--help exited $?"
for flag in events catalog embeddings embedding-ids out preset map map-event ts-unit max-bad-ratio weight-view weight-cart \
    weight-purchase half-life-days window-days min-events active-days min-purchases factors reg alpha iterations \
    seed threads n keep-bought score-method knn knn-nlist knn-nprobe knn-m knn-ef knn-recall-sample holdout eval-k \
    keep no-flip device log-level log-format progress; do
    grep -q -- "--$flag\b" "$tmp/help" || fail "--help does not explain --$flag"
done
grep -q "Exit status" "$tmp/help" || fail "--help does not document the exit status"
ok "--help explains every flag and the exit status"
# --device gpu: a clear error (exit 1) without CUDA or without a device; a
# build where there is one.
rc=0
"$recbuild" --events "$ev" --out "$tmp/gpu" "${flags[@]}" --device gpu > /dev/null 2> "$tmp/err" || rc=$?
if [ "$rc" -eq 0 ]; then
    grep -q '"device": "gpu"' "$tmp"/gpu/versions/*/manifest.json || fail "--device gpu built, manifest device is not gpu"
    ok "--device gpu: a GPU is present; the manifest says device gpu"
else
    [ "$rc" -eq 1 ] && grep -qE "CUDA" "$tmp/err" || { cat "$tmp/err" >&2; fail "--device gpu: exit $rc"; }
    [ ! -e "$tmp/gpu/versions" ] || [ -z "$(versions "$tmp/gpu")" ] || fail "--device gpu failed but published"
    ok "--device gpu without a usable GPU: exit 1, '$(grep -oE "(built without CUDA|no CUDA device[^\"]*|no usable CUDA device[^\"]*)" "$tmp/err" | head -n 1)'"
fi
rc=0
"$recbuild" --events "$ev" --out "$tmp/auto" "${flags[@]}" --device auto --log-level info > /dev/null 2> "$tmp/err" || rc=$?
[ "$rc" -eq 0 ] || fail "--device auto exited $rc"
grep -qE '"device": "(cpu|gpu)"' "$tmp"/auto/versions/*/manifest.json || fail "--device auto: no device in the manifest"
grep -q 'event=device device=cpu reason=' "$tmp/err" || grep -q '"device": "gpu"' "$tmp"/auto/versions/*/manifest.json \
    || fail "--device auto fell back to cpu without saying why"
ok "--device auto: $(sed -n 's/.*"device": "\([a-z]*\)".*/\1/p' "$tmp"/auto/versions/*/manifest.json) (said in log and manifest)"
