#!/usr/bin/env bash
# tests/e2e/recbuild_failures.sh - a build that cannot finish leaves the
# cache root as it was: `current` and versions/ unchanged, no staging
# directory left (or, after SIGKILL, one that the next build removes).
#
#   - a full disk (a small tmpfs; skipped with a message where mounting is
#     not permitted): a clean failure, before and after a version exists;
#   - SIGKILL while the version is being written: current unchanged, the
#     next build succeeds and removes the dead build's staging directory;
#   - SIGTERM while writing, and before writing: exit 1, nothing left;
#   - --no-flip publishes without flipping; --keep prunes but never current.
#
# Environment: BIN, SRC, EDGEREC_TEST_TMP. Exits 77 while recbuild, recgen
# or cachedump is not built.
set -euo pipefail
source "$(dirname "$0")/recbuild_common.bash"

small=$tmp/small
gen "$small" --seed 11 --events 20000 --cookies 2000 --products 500 --categories 5 --dim 8
sflags=(--events "$small/events.csv" --catalog "$small/catalog.csv" --embeddings "$small/emb.npy" --factors 8
    --iterations 3 --progress never --log-level warn --threads 2)

# unchanged ROOT CURRENT VERSIONS WHAT: the root holds exactly what it held.
unchanged() {
    [ "$(current "$1")" = "$2" ] || fail "$4: current is '$(current "$1")', expected '$2'"
    [ "$(versions "$1" | tr '\n' ' ')" = "$3" ] || fail "$4: versions/ holds '$(versions "$1" | tr '\n' ' ')', expected '$3'"
}

no_staging() {
    [ -z "$(ls -A "$1/.staging" 2> /dev/null)" ] || fail "$2: staging left: $(ls "$1/.staging")"
}

# ---- full disk ----
disk=$tmp/disk
mkdir -p "$disk"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=1m tmpfs "$disk" 2> /dev/null; then
    cleanup_extra="umount -l $disk"
    rc=0
    "$recbuild" "${sflags[@]}" --out "$disk/root" > /dev/null 2> "$tmp/err" || rc=$?
    [ "$rc" -eq 1 ] || { cat "$tmp/err" >&2; fail "1 MiB disk: exit $rc, expected 1"; }
    grep -qE "not enough space|No space left" "$tmp/err" || { cat "$tmp/err" >&2; fail "1 MiB disk: no message about space"; }
    unchanged "$disk/root" "" "" "1 MiB disk"
    no_staging "$disk/root" "1 MiB disk"
    ok "1 MiB disk, no version yet: exit 1, '$(grep -oE "not enough space[^\"]*|No space left[^\"]*" "$tmp/err" | head -n 1)'"
    umount "$disk"

    mount -t tmpfs -o size=6m tmpfs "$disk"
    "$recbuild" "${sflags[@]}" --out "$disk/root" > "$tmp/v1" 2> "$tmp/err" || { cat "$tmp/err" >&2; fail "6 MiB disk: first build failed"; }
    v1=$(cat "$tmp/v1")
    # Leave about 300 KiB free: less than one version needs.
    avail=$(df -k --output=avail "$disk" | tail -n 1 | tr -d ' ')
    dd if=/dev/zero of="$disk/filler" bs=1k count=$((avail - 300)) status=none 2> /dev/null || true
    rc=0
    "$recbuild" "${sflags[@]}" --out "$disk/root" > /dev/null 2> "$tmp/err" || rc=$?
    [ "$rc" -eq 1 ] || { cat "$tmp/err" >&2; fail "full disk: exit $rc, expected 1"; }
    unchanged "$disk/root" "$v1" "$v1 " "full disk"
    no_staging "$disk/root" "full disk"
    "$cachedump" --verify "$disk/root" meta > /dev/null || fail "full disk: the current version no longer verifies"
    ok "disk full after one version: exit 1, current $v1 unchanged and verifying, no staging left"
    rm -f "$disk/filler"
    "$recbuild" "${sflags[@]}" --out "$disk/root" > "$tmp/v2" 2> "$tmp/err" || { cat "$tmp/err" >&2; fail "after freeing space: build failed"; }
    [ "$(current "$disk/root")" = "$(cat "$tmp/v2")" ] || fail "after freeing space: current not flipped"
    ok "after freeing space the next build publishes $(cat "$tmp/v2")"
    umount "$disk"
    cleanup_extra=:
else
    echo "$name: cannot mount a tmpfs here (needs root); full-disk checks skipped"
fi

# ---- signals ----
# Enough CF lists that writing them takes a noticeable moment.
big=$tmp/big
gen "$big" --seed 3 --events 200000 --cookies 40000 --buyers 1 --products 10000 --dim 8
bflags=(--events "$big/events.csv" --factors 8 --iterations 2 --n 200 --progress never --log-level info --threads 2)
root=$tmp/root
"$recbuild" "${sflags[@]}" --out "$root" > "$tmp/v1" 2> "$tmp/err" || { cat "$tmp/err" >&2; fail "first build failed"; }
v1=$(cat "$tmp/v1")

# start_and_wait_staging: start a build into $root in the background; wait
# until its staging directory exists (the write stage has begun).
start_and_wait_staging() {
    "$recbuild" "${bflags[@]}" --out "$root" > /dev/null 2> "$tmp/sig.log" &
    pid=$!
    local i
    for i in $(seq 1 3000); do
        [ -n "$(ls -A "$root/.staging" 2> /dev/null)" ] && return 0
        kill -0 "$pid" 2> /dev/null || break
        sleep 0.01
    done
    wait "$pid" || true
    cat "$tmp/sig.log" >&2
    fail "the build ended before its staging directory was seen"
}

start_and_wait_staging
kill -KILL "$pid"
wait "$pid" 2> /dev/null || true
unchanged "$root" "$v1" "$v1 " "SIGKILL while writing"
left=$(ls "$root/.staging")
ok "SIGKILL while writing: current $v1 unchanged, staging '$left' left behind"
"$recbuild" "${sflags[@]}" --out "$root" > "$tmp/v2" 2> "$tmp/err" || { cat "$tmp/err" >&2; fail "build after SIGKILL failed"; }
v2=$(cat "$tmp/v2")
[ "$(current "$root")" = "$v2" ] || fail "build after SIGKILL did not flip current"
no_staging "$root" "build after SIGKILL"
ok "the next build published $v2 and removed the dead build's staging"

start_and_wait_staging
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 1 ] || { cat "$tmp/sig.log" >&2; fail "SIGTERM while writing: exit $rc, expected 1"; }
grep -q "event=interrupted" "$tmp/sig.log" || { cat "$tmp/sig.log" >&2; fail "SIGTERM while writing: no 'interrupted' log line"; }
unchanged "$root" "$v2" "$v1 $v2 " "SIGTERM while writing"
no_staging "$root" "SIGTERM while writing"
ok "SIGTERM while writing: exit 1, current unchanged, staging removed"

"$recbuild" "${bflags[@]}" --out "$root" > /dev/null 2> "$tmp/sig.log" &
pid=$!
for i in $(seq 1 3000); do
    grep -q "stage=events" "$tmp/sig.log" && break
    sleep 0.01
done
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 1 ] || { cat "$tmp/sig.log" >&2; fail "SIGTERM before writing: exit $rc, expected 1"; }
grep -qE "interrupted" "$tmp/sig.log" || fail "SIGTERM before writing: no message"
unchanged "$root" "$v2" "$v1 $v2 " "SIGTERM before writing"
no_staging "$root" "SIGTERM before writing"
ok "SIGTERM before writing: exit 1, nothing on disk"

# ---- --no-flip, --keep ----
"$recbuild" "${sflags[@]}" --out "$root" --no-flip > "$tmp/v3" 2> "$tmp/err" || fail "--no-flip build failed"
v3=$(cat "$tmp/v3")
unchanged "$root" "$v2" "$v1 $v2 $v3 " "--no-flip"
"$cachedump" --verify "$root/versions/$v3" meta > /dev/null || fail "--no-flip: $v3 does not verify"
ok "--no-flip: $v3 published and verifying, current still $v2"
"$recbuild" "${sflags[@]}" --out "$root" --keep 2 --no-flip > "$tmp/v4" 2> "$tmp/err" || fail "--keep 2 build failed"
v4=$(cat "$tmp/v4")
unchanged "$root" "$v2" "$v2 $v3 $v4 " "--keep 2 --no-flip (current kept beyond the 2 newest)"
"$recbuild" "${sflags[@]}" --out "$root" --keep 2 > "$tmp/v5" 2> "$tmp/err" || fail "--keep 2 build failed"
v5=$(cat "$tmp/v5")
unchanged "$root" "$v5" "$v4 $v5 " "--keep 2"
ok "--keep 2: the two newest kept, current never pruned"
