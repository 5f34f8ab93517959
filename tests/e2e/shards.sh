#!/usr/bin/env bash
# tests/e2e/shards.sh - recbuild in stages (schemas/stages.md) on recgen data:
#
#   - train, then score in 4 shards (run out of order), then merge, builds a
#     version whose lists are the one-command build's with the same inputs
#     and seed: `recctl diff` counts no list added, removed or changed in any
#     DB, cachedump's dumps of every DB are byte-identical, and so are the
#     two data.mdb files but for the version id each carries;
#   - each of the 4 shards holds lists (the test would prove little with
#     empty ones), and each score stage writes its image shard (the
#     products' image lists; these few products make one unit of 8,192
#     queries, shard 3's); a shard run again writes the same bytes;
#   - a missing shard (cookies' or products'), and a shard with one byte
#     flipped, fail the merge
#     (exit 1) with an error naming the shard, and nothing is published: the
#     cache root gets no version and no current;
#   - shards scored from the factors of an earlier train stage (run again
#     with other parameters) fail the merge, publishing nothing;
#   - a score stage given other flags than the train stage is refused
#     (fingerprint), as are stage flags without --work and --shard without
#     --stage score (exit 2).
#   - a train stage that tunes (--tune) writes `source = tuned` into
#     train.txt, and the merged manifest's parameters.source says "tuned".
#
# Environment: BIN, SRC, EDGEREC_TEST_TMP (tests/CMakeLists.txt). Exits 77
# while recbuild, recgen, cachedump or recctl is not built.
set -euo pipefail
source "$(dirname "$0")/recbuild_common.bash"
recctl=$BIN/edge/recctl
[ -x "$recctl" ] || { echo "$name: $recctl not built; skipped"; exit 77; }

data=$tmp/data
gen "$data" --seed 17 --events 120000 --cookies 9000 --products 1500 --buyers 0.7 --categories 12 --dim 16
common=(--events "$data/events.csv" --catalog "$data/catalog.csv" --embeddings "$data/emb.npy"
        --tune off --factors 16 --iterations 6 --threads 2 --seed 5 --holdout 1 --progress never --log-level warn)
work=$tmp/work

# The one-command build.
"$recbuild" "${common[@]}" --out "$tmp/one" > "$tmp/one.out" 2> "$tmp/one.log" \
    || { cat "$tmp/one.log" >&2; fail "the one-command build exited with $?"; }
v_one=$tmp/one/versions/$(cat "$tmp/one.out")

# Stage flags are checked before any work.
rc=0; "$recbuild" "${common[@]}" --stage train > /dev/null 2> "$tmp/usage.log" || rc=$?
[ $rc -eq 2 ] && grep -q -- "--stage train needs --work" "$tmp/usage.log" || fail "--stage without --work: exit $rc"
rc=0; "$recbuild" "${common[@]}" --shard 1/4 --out "$tmp/never" > /dev/null 2> "$tmp/usage.log" || rc=$?
[ $rc -eq 2 ] || fail "--shard without --stage: exit $rc, expected 2"
rc=0; "$recbuild" "${common[@]}" --stage score --work "$work" --shard 4/4 > /dev/null 2> "$tmp/usage.log" || rc=$?
[ $rc -eq 2 ] && grep -q "0 <= I < N" "$tmp/usage.log" || fail "--shard 4/4: exit $rc, expected 2"
ok "stage flags checked before any work"

# train, then the shards in reverse order.
"$recbuild" "${common[@]}" --stage train --work "$work" > /dev/null 2> "$tmp/train.log" \
    || { cat "$tmp/train.log" >&2; fail "--stage train exited with $?"; }
for f in train.txt factors_user.npy factors_item.npy; do
    [ -s "$work/$f" ] || fail "--stage train wrote no $f"
done
for i in 3 2 1 0; do
    out=$("$recbuild" "${common[@]}" --stage score --work "$work" --shard $i/4 2> "$tmp/score$i.log") \
        || { cat "$tmp/score$i.log" >&2; fail "--stage score --shard $i/4 exited with $?"; }
    [ "$out" = "$work/shard-$i-of-4.bin" ] || fail "shard $i: stdout '$out', expected its file"
    size=$(stat -c %s "$work/shard-$i-of-4.bin")
    [ "$size" -gt 1000 ] || fail "shard $i holds no lists ($size bytes): the data are too small to shard"
done
for i in 0 1 2 3; do
    [ -f "$work/image-$i-of-4.bin" ] || fail "--stage score --shard $i/4 wrote no image shard"
done
# the products come in units of 8,192 queries: these few are one unit, the last shard's
[ "$(stat -c %s "$work/image-3-of-4.bin")" -gt 1000 ] || fail "image shard 3 holds no lists"
ok "train and 4 score stages: shards of $(stat -c %s "$work"/shard-*-of-4.bin | tr '\n' ' ')bytes, image shards of $(stat -c %s "$work"/image-*-of-4.bin | tr '\n' ' ')bytes"

# A shard run again writes the same file.
cp "$work/shard-1-of-4.bin" "$tmp/shard1.saved"
"$recbuild" "${common[@]}" --stage score --work "$work" --shard 1/4 > /dev/null 2> "$tmp/rescore.log" \
    || fail "shard 1 run again exited with $?"
cmp -s "$tmp/shard1.saved" "$work/shard-1-of-4.bin" || fail "shard 1 run again wrote other bytes"
ok "a shard run again writes the same bytes"

# No version anywhere under root: not published, not flipped.
nothing_published() {
    [ -z "$(versions "$1")" ] && [ ! -e "$1/current" ] || fail "$2: something was published under $1"
}

# A missing shard.
mv "$work/shard-2-of-4.bin" "$tmp/shard2.saved"
rc=0; "$recbuild" "${common[@]}" --stage merge --work "$work" --shards 4 --out "$tmp/missing" \
    > /dev/null 2> "$tmp/missing.log" || rc=$?
[ $rc -eq 1 ] || fail "merge without shard 2: exit $rc, expected 1"
grep -q "shard 2 of 4 is missing" "$tmp/missing.log" || { cat "$tmp/missing.log" >&2; fail "no error naming shard 2"; }
nothing_published "$tmp/missing" "merge without shard 2"
mv "$tmp/shard2.saved" "$work/shard-2-of-4.bin"
mv "$work/image-3-of-4.bin" "$tmp/image3.saved"
rc=0; "$recbuild" "${common[@]}" --stage merge --work "$work" --shards 4 --out "$tmp/missing" \
    > /dev/null 2> "$tmp/missing.log" || rc=$?
[ $rc -eq 1 ] && grep -q "image shard 3 of 4 is missing" "$tmp/missing.log" \
    || { cat "$tmp/missing.log" >&2; fail "merge without image shard 3: exit $rc"; }
nothing_published "$tmp/missing" "merge without image shard 3"
mv "$tmp/image3.saved" "$work/image-3-of-4.bin"
ok "a missing shard (cookies' or products') fails the merge, naming it; nothing published"

# A corrupt shard: one byte of its lists flipped.
cp "$work/shard-3-of-4.bin" "$tmp/shard3.saved"
byte=$(od -An -tu1 -j 200 -N 1 "$work/shard-3-of-4.bin" | tr -d ' ')
printf "$(printf '\\%03o' $(( (byte + 1) % 256 )))" | dd of="$work/shard-3-of-4.bin" bs=1 seek=200 conv=notrunc 2> /dev/null
cmp -s "$tmp/shard3.saved" "$work/shard-3-of-4.bin" && fail "the byte was not flipped"
rc=0; "$recbuild" "${common[@]}" --stage merge --work "$work" --shards 4 --out "$tmp/corrupt" \
    > /dev/null 2> "$tmp/corrupt.log" || rc=$?
[ $rc -eq 1 ] || fail "merge with a corrupt shard 3: exit $rc, expected 1"
grep -q "shard 3 of 4 is damaged" "$tmp/corrupt.log" || { cat "$tmp/corrupt.log" >&2; fail "no error naming shard 3"; }
nothing_published "$tmp/corrupt" "merge with a corrupt shard"
# ... and the shard re-run after the failure is the good one again.
"$recbuild" "${common[@]}" --stage score --work "$work" --shard 3/4 > /dev/null 2> "$tmp/rescore3.log" \
    || fail "shard 3 run again exited with $?"
cmp -s "$tmp/shard3.saved" "$work/shard-3-of-4.bin" || fail "shard 3 run again after the failure wrote other bytes"
ok "a corrupt shard fails the merge, naming it; nothing published; re-running it restores it"

# A score stage with other flags than train's is refused.
rc=0; "$recbuild" "${common[@]}" --min-purchases 2 --stage score --work "$work" --shard 0/4 > /dev/null \
    2> "$tmp/other.log" || rc=$?
[ $rc -eq 1 ] && grep -q "differ from the train stage" "$tmp/other.log" \
    || { cat "$tmp/other.log" >&2; fail "score with other flags: exit $rc"; }
# ... and so is a merge whose flags differ only in ones the merge alone
# uses (the seed of exploration, the exploration share): the merged
# version must be the one-command build's with one set of flags.
for other in "--seed 6" "--explore-share 0.3"; do
    rc=0
    # shellcheck disable=SC2086 # two words on purpose
    "$recbuild" "${common[@]}" $other --stage merge --work "$work" --shards 4 --out "$tmp/other-root" \
        > /dev/null 2> "$tmp/other.log" || rc=$?
    [ $rc -eq 1 ] && grep -q "differ from the train stage" "$tmp/other.log" && [ ! -e "$tmp/other-root/current" ] \
        || { cat "$tmp/other.log" >&2; fail "merge with $other: exit $rc"; }
done
ok "a stage on other flags than train's is refused (score: --min-purchases; merge: --seed, --explore-share)"

# The merge: a verified, published version with the one-command build's lists.
"$recbuild" "${common[@]}" --stage merge --work "$work" --shards 4 --out "$tmp/sharded" > "$tmp/merge.out" \
    2> "$tmp/merge.log" || { cat "$tmp/merge.log" >&2; fail "--stage merge exited with $?"; }
v_sharded=$tmp/sharded/versions/$(cat "$tmp/merge.out")
[ "$(current "$tmp/sharded")" = "$(cat "$tmp/merge.out")" ] || fail "merge did not flip current"
"$recctl" verify "$v_sharded" > "$tmp/verify.txt" || fail "the merged version does not verify"
"$recctl" diff "$v_one" "$v_sharded" > "$tmp/diff.txt" || fail "recctl diff exited with $?"
awk '$2 ~ /^[0-9]+$/ && $3 ~ /^[0-9]+$/ {
         rows++
         if ($4 + $5 + $6 != 0) { print "db " $1 ": added " $4 " removed " $5 " changed " $6; bad = 1 }
         if ($1 == "cookie") cookies = $7
     }
     END { if (rows < 6 || cookies < 1000) { print "diff rows " rows ", cookie lists " cookies; bad = 1 }; exit bad }' \
    "$tmp/diff.txt" || { cat "$tmp/diff.txt" >&2; fail "recctl diff reports changed lists"; }
for db in cookie product segment coview category items catset; do
    cmp -s <(dump "$v_one" "$db") <(dump "$v_sharded" "$db") || fail "cachedump $db differs"
done
cookies=$(awk '$1 == "cookie" { print $7 }' "$tmp/diff.txt")
# The LMDB files themselves: equal but for the version id each carries.
differ=$(cmp -l "$v_one/data.mdb" "$v_sharded/data.mdb" | wc -l || true)
[ "$(stat -c %s "$v_one/data.mdb")" = "$(stat -c %s "$v_sharded/data.mdb")" ] && [ "$differ" -le 64 ] ||
    fail "the two data.mdb differ in size or in $differ bytes (more than the version ids)"
ok "merge: verified, $cookies cookie lists, recctl diff and cachedump of every DB equal to the one-command build; data.mdb differs in $differ bytes (the version id)"

# train run again with other parameters: the old shards are of another run.
"$recbuild" "${common[@]}" --factors 8 --stage train --work "$work" > /dev/null 2> "$tmp/retrain.log" \
    || { cat "$tmp/retrain.log" >&2; fail "train with --factors 8 exited with $?"; }
rc=0; "$recbuild" "${common[@]}" --factors 8 --stage merge --work "$work" --shards 4 --out "$tmp/stale" \
    > /dev/null 2> "$tmp/stale.log" || rc=$?
[ $rc -eq 1 ] && grep -q "shard 0 of 4 .* is of another run" "$tmp/stale.log" \
    || { cat "$tmp/stale.log" >&2; fail "merge of shards scored from other factors: exit $rc"; }
nothing_published "$tmp/stale" "merge of stale shards"
ok "shards scored from other factors (train run again with --factors 8) are refused; nothing published"

# train tunes the parameters left open (--tune): score and merge take them
# from train.txt, and the merged manifest says where they came from, as a
# one-command build's would (parameters.source "tuned").
tuned=()
for a in "${common[@]}"; do [ "$a" = off ] && a=60; tuned+=("$a"); done
tuned+=(--tune-configs 3)
twork=$tmp/work-tuned
"$recbuild" "${tuned[@]}" --stage train --work "$twork" > /dev/null 2> "$tmp/ttrain.log" \
    || { cat "$tmp/ttrain.log" >&2; fail "--stage train --tune 60 exited with $?"; }
grep -qx 'source = tuned' "$twork/train.txt" || fail "train.txt of a tuned train stage does not say 'source = tuned'"
"$recbuild" "${tuned[@]}" --stage score --work "$twork" --shard 0/1 > /dev/null 2> "$tmp/tscore.log" \
    || { cat "$tmp/tscore.log" >&2; fail "--stage score after a tuned train exited with $?"; }
"$recbuild" "${tuned[@]}" --stage merge --work "$twork" --shards 1 --out "$tmp/tuned" > "$tmp/tmerge.out" \
    2> "$tmp/tmerge.log" || { cat "$tmp/tmerge.log" >&2; fail "--stage merge after a tuned train exited with $?"; }
grep -q '"source": "tuned"' "$tmp/tuned/versions/$(cat "$tmp/tmerge.out")/manifest.json" \
    || fail "the merged manifest's parameters.source is not 'tuned' after a tuned train stage"
ok "a train stage that tunes: train.txt and the merged manifest say parameters.source 'tuned'"
