#!/usr/bin/env bash
# tests/e2e/recbuild_tune.sh - recbuild chooses the CF parameters from the
# data (schemas/params.md):
#
#   - --tune-only --tune-out writes a parameter file with the search's
#     trials and builds nothing;
#   - --params reads it (manifest: source params-file, the file's values),
#     and a flag given beside it wins;
#   - a bad parameter file is refused with exit 2, naming file and line;
#   - a default build tunes itself (source tuned, a tuning object, CF beats
#     most-popular on the holdout, not degenerate);
#   - a model that cannot learn (--reg 1000) is reported degenerate in the
#     log and the manifest.
#
# Environment: BIN, SRC, EDGEREC_TEST_TMP (tests/CMakeLists.txt). Exits 77
# while recbuild, recgen or cachedump is not built.
set -euo pipefail
source "$(dirname "$0")/recbuild_common.bash"

data=$tmp/data
gen "$data" --seed 3 --events 60000 --products 1500 --categories 10 --dim 8
common=(--events "$data/events.csv" --catalog "$data/catalog.csv" --threads 2 --progress never --holdout 1)

# ---- --tune-only: a parameter file, no version ----
"$recbuild" "${common[@]}" --tune-only --tune-out "$tmp/p.conf" > "$tmp/t.out" 2> "$tmp/t.log" \
    || { cat "$tmp/t.log" >&2; fail "recbuild --tune-only exited with $?"; }
[ "$(cat "$tmp/t.out")" = "$tmp/p.conf" ] || fail "--tune-only printed '$(cat "$tmp/t.out")'"
for p in factors reg alpha iterations weight-view weight-cart weight-purchase half-life-days; do
    grep -q "^$p = [0-9.e+-]*\$" "$tmp/p.conf" || fail "parameter file lacks $p"
done
trials=$(grep -c '^# [0-9]* [0-2] ' "$tmp/p.conf" || true)
rung() { grep -c "^# [0-9]* $1 " "$tmp/p.conf" || true; }
# the last rung: the base, the best other and the anchors within noise of the best
[ "$(rung 0)" -eq 18 ] && [ "$(rung 1)" -eq 6 ] && [ "$(rung 2)" -ge 2 ] && [ "$(rung 2)" -le 4 ] \
    || fail "parameter file lists $(rung 0) + $(rung 1) + $(rung 2) trials, want 18 + 6 + 2 to 4"
[ "$(grep -c 'event=tune.trial' "$tmp/t.log")" -eq "$trials" ] || fail "the log does not show $trials trials"
grep -q 'event=tune.best' "$tmp/t.log" || fail "no tune.best line"
[ ! -e "$tmp/none" ] || fail "unexpected output root"
ok "--tune-only wrote $trials trials and the 8 parameters, built nothing"

# ---- --params: the file's values; a flag beside it wins ----
factors=$(sed -n 's/^factors = //p' "$tmp/p.conf")
reg=$(sed -n 's/^reg = //p' "$tmp/p.conf")
"$recbuild" "${common[@]}" --params "$tmp/p.conf" --out "$tmp/a" > /dev/null 2> "$tmp/a.log" \
    || { cat "$tmp/a.log" >&2; fail "recbuild --params exited with $?"; }
m=$(ls "$tmp"/a/versions/*/manifest.json)
grep -q '"source": "params-file"' "$m" || fail "manifest source is not params-file"
grep -q '"params_file": "p.conf"' "$m" || fail "manifest does not name the parameter file"
[ "$(manifest_num "$m" parameters factors)" = "$factors" ] || fail "factors $(manifest_num "$m" parameters factors), file says $factors"
[ "$(manifest_num "$m" parameters reg)" = "$reg" ] || fail "reg $(manifest_num "$m" parameters reg), file says $reg"
! grep -q 'event=tune.trial' "$tmp/a.log" || fail "a build with --params tuned"
# The file's half-life is CF's; popularity keeps --half-life-days (default 14).
sed 's/^half-life-days = .*/half-life-days = 3/' "$tmp/p.conf" > "$tmp/hl.conf"
"$recbuild" "${common[@]}" --params "$tmp/hl.conf" --out "$tmp/hl" > /dev/null 2> "$tmp/hl.log" \
    || { cat "$tmp/hl.log" >&2; fail "recbuild --params hl.conf exited with $?"; }
mhl=$(ls "$tmp"/hl/versions/*/manifest.json)
[ "$(manifest_num "$mhl" parameters half_life_days)" = 3 ] || fail "CF half-life is not the file's 3"
[ "$(manifest_num "$mhl" parameters popularity_half_life_days)" = 14 ] || fail "the file changed popularity's half-life"
# A daily search given a complete file has nothing to search: refused, not a silent copy.
set +e
"$recbuild" "${common[@]}" --params "$tmp/p.conf" --tune-only --tune-out "$tmp/again.conf" > /dev/null 2> "$tmp/again.log"
rc=$?
set -e
[ $rc -eq 2 ] || fail "--tune-only with a complete --params exited $rc, want 2"
grep -q "nothing is left to search" "$tmp/again.log" || fail "no reason given: $(cat "$tmp/again.log")"
"$recbuild" "${common[@]}" --params "$tmp/p.conf" --factors 5 --out "$tmp/b" > /dev/null 2> "$tmp/b.log" \
    || { cat "$tmp/b.log" >&2; fail "recbuild --params --factors exited with $?"; }
[ "$(manifest_num "$(ls "$tmp"/b/versions/*/manifest.json)" parameters factors)" = 5 ] || fail "--factors did not win over --params"
ok "--params builds with factors $factors reg $reg; --factors 5 beside it wins; the file's half-life is CF's only; \
--tune-only with a complete file refused"

# ---- a bad parameter file: exit 2, file and line named ----
printf 'factors = 16\nbogus = 1\n' > "$tmp/bad1.conf"
printf '# ok\nreg = -1\n' > "$tmp/bad2.conf"
printf 'factors 16\n' > "$tmp/bad3.conf"
for f in bad1 bad2 bad3; do
    set +e
    "$recbuild" "${common[@]}" --params "$tmp/$f.conf" --out "$tmp/x" > /dev/null 2> "$tmp/$f.log"
    rc=$?
    set -e
    [ $rc -eq 2 ] || fail "$f.conf: exit $rc, want 2"
    grep -q "$f.conf:[12]:" "$tmp/$f.log" || fail "$f.conf: the message does not name file and line: $(cat "$tmp/$f.log")"
done
[ ! -e "$tmp/x" ] || fail "a refused parameter file still built"
ok "bad parameter files refused with exit 2: $(head -c 120 "$tmp/bad1.log" | tr '\n' ' ')"

# ---- a default build tunes itself and beats most-popular ----
"$recbuild" "${common[@]}" --out "$tmp/d" > /dev/null 2> "$tmp/d.log" \
    || { cat "$tmp/d.log" >&2; fail "default recbuild exited with $?"; }
m=$(ls "$tmp"/d/versions/*/manifest.json)
grep -q '"source": "tuned"' "$m" || fail "a default build did not tune"
grep -q "\"tuning\": {.*\"trials\": $trials" "$m" || fail "manifest lacks the tuning object"
grep -q '"degenerate": false' "$m" || fail "a tuned model is degenerate"
ndcg=$(manifest_num "$m" evaluation ndcg)
pop=$(manifest_num "$m" evaluation pop_ndcg)
lift=$(manifest_num "$m" evaluation lift)
gt "$ndcg" "$pop" || fail "tuned CF ndcg $ndcg does not beat most-popular $pop"
gt "$lift" 1 || fail "lift $lift"
ok "default build tuned: ndcg $ndcg vs most-popular $pop (lift $lift)"

# ---- a model that cannot learn is called degenerate ----
"$recbuild" "${common[@]}" --reg 1000 --out "$tmp/g" > /dev/null 2> "$tmp/g.log" \
    || { cat "$tmp/g.log" >&2; fail "recbuild --reg 1000 exited with $?"; }
grep -q 'level=error event=quality degenerate=1 reason="collapsed factors"' "$tmp/g.log" \
    || fail "no loud degenerate line: $(grep event=quality "$tmp/g.log")"
m=$(ls "$tmp"/g/versions/*/manifest.json)
grep -q '"degenerate": true, "degenerate_reason": "collapsed factors"' "$m" || fail "manifest does not say degenerate"
grep -q '"source": "flags"' "$m" || fail "--reg alone should build from flags, without tuning"
ok "--reg 1000 reported degenerate (collapsed factors), lift $(manifest_num "$m" evaluation lift)"
