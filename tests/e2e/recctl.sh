#!/usr/bin/env bash
# tests/e2e/recctl.sh - recctl on fixture caches written by mkcache
# (tests/mkcache.c): verify (a good version, a truncated file, a flipped
# byte, a record whose own checksum is wrong under a matching manifest, a
# misnamed directory), get, diff, list, show, publish (by id and --from),
# rollback, prune, and the documented exit codes (schemas/recctl.md).
#
# Environment (tests/CMakeLists.txt): BIN, SRC, EDGEREC_TEST_TMP.
# Exits 77 (skipped) while recctl or mkcache is not built.
set -euo pipefail
source "$(dirname "$0")/ops_common.bash"

# expect CODE CMD... - run CMD, require exit CODE; stdout in $out, stderr in $err
expect() {
    local want=$1 rc=0
    shift
    "$@" > "$tmp/out" 2> "$tmp/err" || rc=$?
    out=$(cat "$tmp/out")
    err=$(cat "$tmp/err")
    if [ "$rc" -ne "$want" ]; then
        printf 'stdout: %s\nstderr: %s\n' "$out" "$err" >&2
        fail "'$*' exited $rc, expected $want"
    fi
}

# has TEXT PATTERN WHAT - fixed-string match
has() {
    # a here-string, not a pipe: grep -q leaves at the first match, and under
    # pipefail the writer's SIGPIPE would fail a match
    grep -qF -- "$2" <<< "$1" || { printf '%s\n' "$1" >&2; fail "$3: no '$2'"; }
}

root=$tmp/root
v1=20260101T000000Z v2=20260101T010000Z v3=20260101T020000Z
"$mkcache" --root "$root" --version $v1 --created 1767225600 --flip > /dev/null
"$mkcache" --root "$root" --version $v2 --created 1767229200 --shift 1 --hr 0.31 > /dev/null
"$mkcache" --root "$root" --version $v3 --created 1767232800 --bad-record > /dev/null

# ---- usage and help: exit 2 / 0 ----
expect 2 "$recctl"
expect 2 "$recctl" frobnicate
expect 2 "$recctl" --root "$root" verify --bogus
expect 2 "$recctl" --root "$root" prune
expect 2 "$recctl" --root "$root" get flavour x
expect 0 "$recctl" --help
has "$out" "rollback" "recctl --help"
for c in verify get diff list show current publish rollback prune; do
    expect 0 "$recctl" "$c" --help
    has "$out" "usage: recctl $c" "recctl $c --help"
done

# ---- verify ----
expect 0 "$recctl" --root "$root" verify
has "$out" "ok $v1: 143 records" "verify current"
expect 0 "$recctl" --root "$root" verify --json $v2
has "$out" '"ok":true' "verify --json"
has "$out" '"records":{"cookie":20,"product":50,"segment":9,"coview":0,"cookie_b":0,"category":7,"items":50,"catset":7}' \
    "verify --json counts"
expect 0 "$recctl" verify "$root/versions/$v2"   # a directory, no root
# A record whose own checksum is wrong, under a manifest that matches the file.
expect 1 "$recctl" --root "$root" verify $v3
has "$err" "list record checksum mismatch" "verify of a bad record"
# A list that names one product twice (checksums right): recedge relies on
# the entries of a list being distinct, so verify refuses it.
"$mkcache" --root "$tmp/dup" --version $v1 --created 1767225600 --dup-entry > /dev/null
expect 1 "$recctl" --root "$tmp/dup" verify $v1
has "$err" "entry 1 repeats the product of entry 0" "verify of a list with a repeated product"
# Damage in transit: truncated, one byte flipped, the directory misnamed.
mkdir -p "$tmp/damaged"
cp -r "$root/versions/$v1" "$tmp/damaged/$v1"
truncate -s -4096 "$tmp/damaged/$v1/data.mdb"
expect 1 "$recctl" verify "$tmp/damaged/$v1"
has "$err" "the manifest says" "verify of a truncated file"
cp "$root/versions/$v1/data.mdb" "$tmp/damaged/$v1/data.mdb"
printf '\xff' | dd of="$tmp/damaged/$v1/data.mdb" bs=1 seek=9000 conv=notrunc status=none
expect 1 "$recctl" verify --json "$tmp/damaged/$v1"
has "$out" '"ok":false' "verify --json of a flipped byte"
has "$err" "xxh3" "verify of a flipped byte"
cp -r "$root/versions/$v1" "$tmp/damaged/renamed"
expect 1 "$recctl" verify "$tmp/damaged/renamed"
has "$err" "names must match" "verify of a misnamed directory"
expect 1 "$recctl" --root "$root" verify 20990101T000000Z
has "$err" "does not exist" "verify of a missing version"
# Nothing in a version is opened unless it is a regular file inside it: a
# FIFO or a /dev/zero link as data.mdb (listed as 0 bytes, as they measure)
# is refused at once, not read; a listed file linking out of the version
# is refused even with the right size and checksum.
mkdir -p "$tmp/unsafe/fifo" "$tmp/unsafe/zero" "$tmp/unsafe/out"
for kind in fifo zero out; do
    cp -r "$root/versions/$v1" "$tmp/unsafe/$kind/$v1"
done
rm "$tmp/unsafe/fifo/$v1/data.mdb"
mkfifo "$tmp/unsafe/fifo/$v1/data.mdb"
python3 "$SRC/tests/e2e/empty_data.py" "$tmp/unsafe/fifo/$v1/manifest.json"
rm "$tmp/unsafe/zero/$v1/data.mdb"
ln -s /dev/zero "$tmp/unsafe/zero/$v1/data.mdb"
python3 "$SRC/tests/e2e/empty_data.py" "$tmp/unsafe/zero/$v1/manifest.json"
mv "$tmp/unsafe/out/$v1/data.mdb" "$tmp/unsafe/outside.mdb"
ln -s "$tmp/unsafe/outside.mdb" "$tmp/unsafe/out/$v1/data.mdb"
for kind in fifo zero out; do
    expect 1 timeout 10 "$recctl" verify "$tmp/unsafe/$kind/$v1"
    has "$err" "not a regular file: refused" "verify of a $kind data.mdb"
done
has "$(cat "$tmp/err")" "a symlink" "verify of a link out of the version"
# publish --from refuses the link out, and an incoming directory that is a symlink.
mkdir -p "$tmp/pub/.incoming"
"$mkcache" --root "$tmp/pub" --version $v2 --flip > /dev/null
cp -r "$tmp/unsafe/out/$v1" "$tmp/pub/.incoming/$v1"
expect 1 "$recctl" --root "$tmp/pub" publish --from "$tmp/pub/.incoming/$v1"
[ ! -e "$tmp/pub/versions/$v1" ] || fail "publish --from installed a version with a link out"
cp -r "$root/versions/$v1" "$tmp/unsafe/real-$v1"
ln -s "$tmp/unsafe/real-$v1" "$tmp/pub/.incoming/$v1-link"
expect 1 "$recctl" --root "$tmp/pub" publish --from "$tmp/pub/.incoming/$v1-link"
has "$err" "not a version directory: refused" "publish --from of a symlinked directory"
[ "$("$recctl" --root "$tmp/pub" current)" = "$v2" ] || fail "a refused publish --from moved current"
# An id is never an option: after --, '--help' is an argument, and no version.
expect 1 "$recctl" --root "$root" verify -- --help

# ---- get ----
expect 0 "$recctl" --root "$root" get product p3
has "$out" '"db":"product","id":"p3"' "get product"
has "$out" '"source":"image","count":10' "get product"
has "$out" '{"product":"p4","score":1,"source":"image"}' "get product first entry"
expect 0 "$recctl" --root "$root" get --version $v2 product p3
has "$out" '{"product":"p5","score":1,"source":"image"}' "get --version"
expect 0 "$recctl" --root "$root" get cookie u1
has "$out" '{"product":"p3","score":1,"source":"cf"}' "get cookie"
expect 0 "$recctl" --root "$root" get segment US mobile
has "$out" '"source":"segment"' "get segment"
expect 0 "$recctl" --root "$root" get segment --loc DE --device '*'
has "$out" '"id":"DE/*"' "get segment --loc --device"
expect 0 "$recctl" --root "$root" get segment '*' '*'
has "$out" '"source":"global"' "get segment * *"
expect 0 "$recctl" --root "$root" get items p4
has "$out" '"product":"p4","category":"c4","in_stock":false' "get items"
key=$(printf '%s' "$out" | sed -n 's/.*"key":"\([0-9a-f]*\)".*/\1/p')
expect 0 "$recctl" --root "$root" get items --key "$key"
has "$out" '"product":"p4"' "get items --key"
# Category c4 is p4, p11, .. p46; p4 and p39 are out of stock: in its set,
# not in its list.
expect 0 "$recctl" --root "$root" get category c4
has "$out" '"db":"category","id":"c4"' "get category"
has "$out" '"source":"category","count":5' "get category"
has "$out" '{"product":"p11","score":1,"source":"category"}' "get category first entry"
expect 0 "$recctl" --root "$root" get catset c4
has "$out" '"db":"catset","id":"c4"' "get catset"
has "$out" '"count":7,"keys":[' "get catset"
has "$out" "\"$key\"" "get catset holds p4's key"
expect 1 "$recctl" --root "$root" get cookie nobody
has "$err" "not found" "get of a missing cookie"

# ---- diff ----
expect 0 "$recctl" --root "$root" diff --json $v1 $v1
has "$out" '"cookie":{"from":20,"to":20,"added":0,"removed":0,"changed":0,"unchanged":20' "diff of a version with itself"
has "$out" '"jaccard":1,"overlap_at_top":1' "diff of a version with itself"
# shift 1: each 10-entry list loses its first product and gains one:
# jaccard 9/11, overlap@10 9/10.
expect 0 "$recctl" --root "$root" diff --json $v1 $v2
has "$out" '"cookie":{"from":20,"to":20,"added":0,"removed":0,"changed":20,"unchanged":0,"undecodable":0,"jaccard":0.818182,"overlap_at_top":0.9}' "diff v1 v2"
has "$out" '"items":{"from":50,"to":50,"added":0,"removed":0,"changed":0,"unchanged":50}' "diff v1 v2 items"
has "$out" '"hr":{"from":0.3,"to":0.31}' "diff v1 v2 evaluation"
# ROOT/current is the version it points at (v1), with or without --root.
expect 0 "$recctl" diff --json "$root/current" "$root/versions/$v2"
has "$out" '"cookie":{"from":20,"to":20,"added":0,"removed":0,"changed":20,' "diff ROOT/current v2"
expect 0 "$recctl" --root "$root" diff --json $v1 "$root/current"
has "$out" '"cookie":{"from":20,"to":20,"added":0,"removed":0,"changed":0,"unchanged":20' "diff v1 ROOT/current"
expect 1 "$recctl" diff "$tmp/nowhere/current" "$root/versions/$v2"
has "$err" "nowhere" "diff of a root without current"
expect 0 "$recctl" --root "$root" diff --top 5 $v1 $v2
has "$out" "overlap" "diff text"
has "$out" "hr 0.3 -> 0.31" "diff text evaluation"
other=$tmp/other
"$mkcache" --root "$other" --version $v1 --cookies 25 --created 1767225600 > /dev/null
expect 0 "$recctl" --root "$root" diff --json --examples 2 "$root/versions/$v1" "$other/versions/$v1"
has "$out" '"cookie":{"from":20,"to":25,"added":5,"removed":0,"changed":0,"unchanged":20' "diff with added cookies"
expect 1 "$recctl" --root "$root" diff $v1 "$tmp/damaged/$v1"

# ---- list, show, current ----
expect 0 "$recctl" --root "$root" list
has "$out" "* $v1" "list marks current"
has "$out" "$v3" "list"
# mkcache's evaluation has no lift: the LIFT column shows '-'.
has "$out" "    HR    NDCG    LIFT  STATE" "list's header"
has "$out" "  COOKIE   PRODUCT SEGMENT    COVIEW     ITEMS" "list's count columns"
# each count under its own DB's column (mkcache: 20 cookie, 50 product, 9 segment, no coview, 50 items)
grep -Eq "^  $v2 .* 20 +50 +9 +0 +50  0\.3100" <<< "$out" || fail "list's counts for $v2: $out"
grep -q "^  $v2 .* 0\.3100  0\.2000       -  -$" <<< "$out" || fail "list's figures for $v2: $out"
expect 0 "$recctl" --root "$root" --json list
has "$out" "\"current\":\"$v1\"" "list --json"
has "$out" '"state":"unverified"' "list --json"
expect 1 "$recctl" --root "$root" list --verify
has "$out" "list record checksum mismatch" "list --verify names the failure"
grep -q "^  $v3 .* failed" <<< "$out" || fail "list --verify does not mark $v3 failed"
grep -q "^  $v2 .* ok" <<< "$out" || fail "list --verify does not mark $v2 ok"
expect 0 "$recctl" --root "$root" show $v2
has "$out" "count.cookie=20" "show"
has "$out" "evaluation.hr=0.31" "show"
expect 0 "$recctl" --root "$root" current
[ "$out" = "$v1" ] || fail "current says '$out'"

# ---- publish, rollback ----
expect 0 "$recctl" --root "$root" publish $v2
has "$out" "published $v2 (previous $v1)" "publish"
[ "$(readlink "$root/current")" = "versions/$v2" ] || fail "current is not versions/$v2"
expect 1 "$recctl" --root "$root" publish $v3
has "$err" "current\` is unchanged" "publish of a bad version"
[ "$("$recctl" --root "$root" current)" = "$v2" ] || fail "a refused publish moved current"
expect 0 "$recctl" --root "$root" publish $v2
has "$out" "already current" "publish of the current version"
# --from: install a directory (as a rollout stages it) and flip.
v4=20260101T030000Z
"$mkcache" --root "$tmp/build" --version $v4 --shift 2 > /dev/null
mkdir -p "$root/.incoming"
cp -r "$tmp/build/versions/$v4" "$root/.incoming/$v4"
expect 0 "$recctl" --root "$root" --json publish --from "$root/.incoming/$v4"
has "$out" "{\"action\":\"publish\",\"version\":\"$v4\",\"previous\":\"$v2\"}" "publish --from"
[ ! -e "$root/.incoming/$v4" ] || fail "publish --from left the incoming copy"
# A damaged incoming copy is refused and current stays.
cp -r "$tmp/damaged/$v1" "$root/.incoming/$v1"
expect 1 "$recctl" --root "$root" publish --from "$root/.incoming/$v1"
[ "$("$recctl" --root "$root" current)" = "$v4" ] || fail "a damaged --from moved current"
# rollback from v4 skips v3 (does not verify) and lands on v2, then v1.
expect 0 "$recctl" --root "$root" rollback
has "$out" "rolled back from $v4 to $v2" "rollback"
has "$err" "skipping $v3" "rollback skips a bad version"
expect 0 "$recctl" --root "$root" rollback --json
has "$out" "{\"action\":\"rollback\",\"version\":\"$v1\",\"previous\":\"$v2\"}" "rollback --json"
expect 1 "$recctl" --root "$root" rollback
has "$err" "no version older than $v1" "rollback past the oldest"

# ---- prune: the newest K and always current, only in a marked root ----
mkdir -p "$tmp/notaroot/versions/$v1"
echo keep > "$tmp/notaroot/versions/$v1/precious"
expect 1 "$recctl" --root "$tmp/notaroot" prune --keep 1
has "$err" "not an edgerec cache root" "prune of a directory that is not a root"
[ -f "$tmp/notaroot/versions/$v1/precious" ] || fail "prune deleted another application's file"
expect 0 "$recctl" --root "$root" prune --keep 1
has "$out" "pruned 2 versions" "prune"
[ -d "$root/versions/$v1" ] || fail "prune removed the current version"
[ -d "$root/versions/$v4" ] || fail "prune removed the newest version"
if [ -e "$root/versions/$v2" ] || [ -e "$root/versions/$v3" ]; then
    fail "prune kept old versions"
fi

echo "recctl: verify, get, diff, list, show, publish, rollback and prune behave as documented"
