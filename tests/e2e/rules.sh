#!/usr/bin/env bash
# tests/e2e/rules.sh - recbuild --rules (schemas/rules.md) on recgen data:
#
#   - a bad rules file, or a missing one, fails at once (exit 2) naming the
#     fault, before any work: the cache root is not even created;
#   - a build without rules holds what the rules below forbid (so the walk
#     can fail);
#   - a build with rules: every stored list of the version, in every list
#     DB (cookie, cookie_b, product, segment, coview, category), is walked:
#     no product of the excluded category anywhere, at most the cap of one
#     category in a list (category lists, one category each, aside), no
#     product of the category DE's segment rule excludes in DE's segment
#     lists, ranks 1.. in order, scores non-increasing, products distinct;
#   - the version verifies; the manifest's "rules" section and the log give
#     NDCG, coverage and intra-list diversity with and without the rules;
#   - the hourly job (ops/rebuild.sh) passes EDGEREC_RULES to recbuild,
#     builds without rules (warning) while the file is missing, and fails
#     (exit 5) on a bad one.
#
# Environment: BIN, SRC, EDGEREC_TEST_TMP (tests/CMakeLists.txt). Exits 77
# while recbuild, recgen, cachedump or recctl is not built.
set -euo pipefail
source "$(dirname "$0")/recbuild_common.bash"
recctl=$BIN/edge/recctl
[ -x "$recctl" ] || { echo "$name: $recctl not built; skipped"; exit 77; }

data=$tmp/data
gen "$data" --seed 11 --events 60000 --products 1500 --categories 12 --dim 16
awk -F, 'NR > 1 { print $1 "\t" $2 }' "$data/catalog.csv" | sort > "$tmp/category.tsv" # product category
printf 'factors = 16\n' > "$tmp/cf_b.conf" # a second CF set, so that cookie_b lists are stored and walked too
common=(--events "$data/events.csv" --catalog "$data/catalog.csv" --embeddings "$data/emb.npy" --seed 7 --threads 2
    --progress never --log-level info --tune off --holdout 1 --cf-b-params "$tmp/cf_b.conf")

# The category everyone excludes, the one DE excludes, the one DE boosts:
# the three most common in the catalog, so that lists hold them.
read -r banned de_banned de_boosted < <(cut -f2 "$tmp/category.tsv" | sort | uniq -c | sort -k1,1nr -k2 |
    awk 'NR <= 3 { printf "%s ", $2 } END { print "" }')
[ -n "$de_boosted" ] || fail "recgen gave fewer than three categories"
cap=2
cat > "$tmp/rules.json" << EOF
{
  "exclude": {"categories": ["$banned", "no-such-category"]},
  "segments": [
    {"location": "DE", "exclude": ["$de_banned"], "boost": {"$de_boosted": 3}},
    {"location": "DE", "device": "tablet", "boost": {"$de_banned": 2}}
  ],
  "mmr": {"weight": 0.3},
  "category_cap": {"max": $cap, "lists": ["cookie", "cookie_b", "product", "segment", "coview"]}
}
EOF
# (the second DE rule boosts what the first excludes: exclusion wins)

# ---- a bad file fails before any work ----
printf '{"category_cap": {"max": 2, "lists": ["cookie"]}, "mmr": {"weight": 0.3, "lamda": 1}}' > "$tmp/bad.json"
set +e
"$recbuild" "${common[@]}" --rules "$tmp/bad.json" --out "$tmp/never" > /dev/null 2> "$tmp/bad.log"
code=$?
set -e
[ "$code" -eq 2 ] || fail "a bad rules file: exit $code, want 2"
grep -q "rules.*bad.json.*mmr: unknown key 'lamda'" "$tmp/bad.log" || fail "message lacks the fault: $(cat "$tmp/bad.log")"
[ ! -e "$tmp/never" ] || fail "a bad rules file still created the cache root"
set +e
"$recbuild" "${common[@]}" --rules "$tmp/missing.json" --out "$tmp/never" > /dev/null 2> "$tmp/missing.log"
code=$?
set -e
[ "$code" -eq 2 ] || fail "a missing rules file: exit $code, want 2"
grep -q "unable to open" "$tmp/missing.log" || fail "message lacks the fault: $(cat "$tmp/missing.log")"
ok "bad and missing rules files exit 2 before any work: $(head -n 1 "$tmp/bad.log")"

# walk ROOT OUT: every list DB of ROOT's current version as "db owner source rank product score category"
walk() {
    local db
    : > "$2"
    for db in cookie cookie_b product segment coview category; do
        dump "$1" "$db" | awk -v db="$db" -F'\t' '{ print db "\t" $0 }' >> "$2" || fail "cachedump $db failed"
    done
    # join on the product (field 5), category appended
    sort -t$'\t' -k5,5 "$2" | join -t$'\t' -1 5 -2 1 -o 1.1,1.2,1.3,1.4,1.5,1.6,2.2 - "$tmp/category.tsv" > "$2.joined"
    [ "$(wc -l < "$2")" -eq "$(wc -l < "$2.joined")" ] || fail "some listed product is not in the catalog"
    mv "$2.joined" "$2"
}

# over_cap FILE: lines "db owner category count" of lists above the cap
over_cap() {
    awk -F'\t' -v cap="$cap" '$1 != "category" { n[$1 "\t" $2 "\t" $7]++ }
        END { for (k in n) if (n[k] > cap) print k "\t" n[k] }' "$1"
}

# ---- without rules: what the rules forbid is there ----
"$recbuild" "${common[@]}" --out "$tmp/plain" > /dev/null 2> "$tmp/plain.log" \
    || { cat "$tmp/plain.log" >&2; fail "recbuild without rules exited with $?"; }
walk "$tmp/plain" "$tmp/plain.tsv"
plain_banned=$(awk -F'\t' -v c="$banned" '$7 == c' "$tmp/plain.tsv" | wc -l)
plain_over=$(over_cap "$tmp/plain.tsv" | wc -l)
[ "$plain_banned" -gt 0 ] || fail "without rules no list holds '$banned': the test would prove nothing"
[ "$plain_over" -gt 0 ] || fail "without rules no list holds more than $cap of a category: the test would prove nothing"
ok "without rules: $plain_banned entries of '$banned', $plain_over (list, category) pairs above $cap"

# ---- with rules: every stored list holds them ----
"$recbuild" "${common[@]}" --rules "$tmp/rules.json" --out "$tmp/ruled" > "$tmp/ruled.out" 2> "$tmp/ruled.log" \
    || { cat "$tmp/ruled.log" >&2; fail "recbuild --rules exited with $?"; }
v=$(cat "$tmp/ruled.out")
"$cachedump" --verify "$tmp/ruled" meta > /dev/null || fail "the version built with rules does not verify"
walk "$tmp/ruled" "$tmp/ruled.tsv"
entries=$(wc -l < "$tmp/ruled.tsv")
for db in cookie cookie_b product segment coview category; do
    n=$(awk -F'\t' -v db="$db" '$1 == db' "$tmp/ruled.tsv" | wc -l)
    [ "$n" -gt 0 ] || fail "the version has no $db entries: nothing to walk"
done
bad=$(awk -F'\t' -v c="$banned" '$7 == c' "$tmp/ruled.tsv" | head -n 3)
[ -z "$bad" ] || fail "excluded '$banned' stored: $bad"
bad=$(over_cap "$tmp/ruled.tsv" | head -n 3)
[ -z "$bad" ] || fail "lists above the cap of $cap: $bad"
# rank 1.. in order, scores non-increasing, products distinct, per (db, owner)
bad=$(sort -t$'\t' -k1,1 -k2,2 -k4,4n "$tmp/ruled.tsv" | awk -F'\t' '
    { key = $1 "\t" $2 }
    key != last { last = key; want = 1; prev = ""; delete seen }
    $4 != want { print "rank " $4 " where " want " was due: " $0; exit }
    prev != "" && $6 + 0 > prev + 0 { print "score above the one before: " $0; exit }
    seen[$5]++ { print "product twice: " $0; exit }
    { want++; prev = $6 }')
[ -z "$bad" ] || fail "$bad"
ok "walked $entries entries of every list DB of $v: no '$banned', at most $cap a category, ranked, distinct"

# DE's segment lists: (DE, each device) and (DE, *)
awk -F, 'NR > 1 { print $6 }' "$data/events.csv" | sort -u | awk '{ print "DE\t" $0 } END { print "DE\t*" }' \
    > "$tmp/de.ids"
dump "$tmp/ruled" segment "$tmp/de.ids" | cut -f1,4 | sort -t$'\t' -k2,2 |
    join -t$'\t' -1 2 -2 1 -o 1.1,1.2,2.2 - "$tmp/category.tsv" > "$tmp/de.tsv"
de_lists=$(cut -f1 "$tmp/de.tsv" | sort -u | wc -l)
[ "$de_lists" -ge 2 ] || fail "only $de_lists of DE's segment lists stored"
bad=$(awk -F'\t' -v c="$de_banned" '$3 == c' "$tmp/de.tsv" | head -n 3)
[ -z "$bad" ] || fail "DE's segment lists hold '$de_banned': $bad"
dump "$tmp/plain" segment "$tmp/de.ids" | cut -f1,4 | sort -t$'\t' -k2,2 |
    join -t$'\t' -1 2 -2 1 -o 1.1,1.2,2.2 - "$tmp/category.tsv" > "$tmp/de_plain.tsv"
[ "$(awk -F'\t' -v c="$de_banned" '$3 == c' "$tmp/de_plain.tsv" | wc -l)" -gt 0 ] \
    || fail "without rules DE's lists hold no '$de_banned': the check would prove nothing"
other=$(awk -F'\t' -v c="$de_banned" '$1 != "cookie" && $1 != "category" && $7 == c' "$tmp/ruled.tsv" | wc -l)
[ "$other" -gt 0 ] || fail "'$de_banned' is gone from every list, not from DE's segment lists only"
ok "$de_lists DE segment lists hold no '$de_banned'; other lists still do ($other entries)"

# ---- the evaluation with and without, in the manifest and the log ----
m=$tmp/ruled/versions/$v/manifest.json
line=$(grep '^ *"rules": {' "$m") || fail "manifest lacks the rules section"
for key in '"file": "rules.json"' '"unknown_categories": 1' '"unmatched_segments": 0' '"evaluation": {"users": ' \
    '"ndcg": {"without": ' '"coverage": {"without": ' '"ild_category": {"without": ' '"ild_embedding": {"without": ' \
    '"lists": {"cookie": {' '"category": {'; do
    grep -qF "$key" <<< "$line" || fail "manifest rules section lacks $key: $line"
done
ev=${line#*\"evaluation\": }
ev=${ev%%\"lists\"*} # the CF lists' figures
ild=$(sed -n 's/.*"ild_category": {"without": \([0-9.e-]*\), "with": \([0-9.e-]*\)}.*/\1 \2/p' <<< "$ev")
read -r ild_without ild_with <<< "$ild"
gt "$ild_with" "$ild_without" || fail "the cap and MMR did not raise the CF lists' category diversity: $ild"
grep -q 'event=rules.eval k=10 users=[0-9]* ndcg=[0-9.]*->[0-9.]* hr=.* coverage=.* ild_category=.* ild_embedding=' \
    "$tmp/ruled.log" || fail "the log lacks event=rules.eval"
grep -q 'level=warn event=rules.file .*unknown_categories=1' "$tmp/ruled.log" \
    || fail "the log does not warn of the unknown category"
ok "manifest and log: $(grep -o 'event=rules.eval.*' "$tmp/ruled.log")"

# ---- the hourly job: EDGEREC_RULES ----
# (--min-lift 0: the lift gate judges the model, not the rules' trade-off)
job=(--root "$tmp/job" --logs "$data/events.csv" --window 30d --catalog "$data/catalog.csv" --bin "$BIN/builder"
    --recctl "$recctl" --min-lift 0 --recbuild-flags "--holdout 1 --threads 2 --tune off --progress never")
EDGEREC_RULES=$tmp/rules.json "$SRC/ops/rebuild.sh" "${job[@]}" > /dev/null 2> "$tmp/job.log" \
    || { cat "$tmp/job.log" >&2; fail "ops/rebuild.sh with EDGEREC_RULES exited $?"; }
j1=$("$recctl" current --root "$tmp/job")
grep -q '"rules": {"file": "rules.json"' "$tmp/job/versions/$j1/manifest.json" \
    || fail "ops/rebuild.sh with EDGEREC_RULES built $j1 without the rules"
EDGEREC_RULES=$tmp/no-such-rules.json "$SRC/ops/rebuild.sh" "${job[@]}" --skip-gates > /dev/null 2> "$tmp/job.log" \
    || { cat "$tmp/job.log" >&2; fail "ops/rebuild.sh with a missing rules file exited $?"; }
j2=$("$recctl" current --root "$tmp/job")
grep -q 'level=warn event=rebuild.no_rules' "$tmp/job.log" || fail "a missing rules file is not warned of"
! grep -q '"rules": {' "$tmp/job/versions/$j2/manifest.json" || fail "$j2 was built with rules from no file"
set +e
EDGEREC_RULES=$tmp/bad.json "$SRC/ops/rebuild.sh" "${job[@]}" > /dev/null 2> "$tmp/job.log"
code=$?
set -e
[ "$code" -eq 5 ] || fail "ops/rebuild.sh with a bad rules file: exit $code, want 5"
grep -q "mmr: unknown key 'lamda'" "$tmp/job.log" || fail "the job's log lacks the rules file's fault"
[ "$("$recctl" current --root "$tmp/job")" = "$j2" ] || fail "a bad rules file moved current"
ok "ops/rebuild.sh: EDGEREC_RULES built $j1 with the rules; a missing file built $j2 without (warned); a bad one exit 5"
