#!/usr/bin/env bash
# tests/e2e/overlay_fleet.sh - the overlay (schemas/overlay.md) across three
# edge nodes under wrk load: a product that appears in answers is marked out
# of stock on the build host (`recctl overlay set`) and pushed to the fleet
# (`ops/rollout.sh push-overlay`); within 60 s it is absent from every
# answer of every node, for a spread of requests whose answers held it, and
# those answers are as long as before (filled from deeper in the lists);
# a bad overlay pushed next is refused on every node, which keep the good
# one (counted in /metrics); `recctl overlay clear` pushed the same way
# brings the product back; wrk reports zero non-2xx responses and zero
# socket errors.
#
# Environment: BIN, SRC, EDGEREC_TEST_TMP (tests/CMakeLists.txt);
# EDGEREC_FLEET_LOAD_S, the most seconds of load (default 300).
# Exits 77 (skipped) when recedge, recctl, mkcache, wrk, rsync or curl is missing.
set -euo pipefail
OPS_TOOLS="wrk rsync curl"
source "$(dirname "$0")/ops_common.bash"
recedge=$BIN/edge/recedge
rollout=$SRC/ops/rollout.sh
load_s=${EDGEREC_FLEET_LOAD_S:-300}
if [ ! -x "$recedge" ]; then
    echo "overlay_fleet: $recedge not built; skipped"
    exit 77
fi
pids=()
stop_all() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
}
cleanup_extra=stop_all
fail_extra() {
    local n
    for n in 1 2 3; do
        if [ -f "$tmp/recedge$n.log" ]; then
            echo "--- recedge$n log (tail)" >&2
            tail -n 5 "$tmp/recedge$n.log" >&2
        fi
    done
}

src=$tmp/src
v1=20260101T000000Z
"$mkcache" --root "$src" --version "$v1" --products 2000 --cookies 20000 > /dev/null

roll() { # roll EXPECTED_EXIT ARGS...
    local want=$1 rc=0
    shift
    EDGEREC_BIN=$BIN/edge "$rollout" "$@" > "$tmp/roll.out" 2> "$tmp/roll.log" || rc=$?
    if [ "$rc" -ne "$want" ]; then
        cat "$tmp/roll.out" "$tmp/roll.log" >&2
        fail "ops/rollout.sh $* exited $rc, expected $want"
    fi
}

hosts=$tmp/hosts
: > "$hosts"
for n in 1 2 3; do
    echo "edge$n $tmp/node$n" >> "$hosts"
done
roll 0 push --hosts "$hosts" --src "$src" --version $v1 --canary none

: > "$hosts"
for n in 1 2 3; do
    : > "$tmp/recedge$n.log"
    # a long poll: the overlay must arrive through inotify, not the poll
    "$recedge" --root "$tmp/node$n" --bind 127.0.0.1 --port 0 --threads 2 --poll-ms 30000 \
        2>> "$tmp/recedge$n.log" &
    pids+=($!)
    port=
    for _ in $(seq 100); do
        port=$(sed -n 's/.*event=listen .*port=\([0-9]*\).*/\1/p' "$tmp/recedge$n.log" | head -n 1)
        [ -z "$port" ] || break
        sleep 0.1
    done
    [ -n "$port" ] || fail "recedge$n did not log a listen line"
    echo "edge$n $tmp/node$n http=127.0.0.1:$port" >> "$hosts"
    eval "port$n=$port"
done
for n in 1 2 3; do
    p=port$n
    ready=
    for _ in $(seq 100); do
        if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${!p}/readyz")" = 200 ]; then
            ready=1
            break
        fi
        sleep 0.1
    done
    [ -n "$ready" ] || fail "recedge$n is not ready after 10 s"
done

cat > "$tmp/load.lua" <<'EOF'
local n = 0
request = function()
    n = n + 1
    local path
    if n % 3 == 0 then
        path = "/v1/recs?cookie=u" .. (n % 25000) .. "&loc=US&device=mobile&n=10"
    elseif n % 3 == 1 then
        path = "/v1/recs?products=p" .. (n % 2000) .. ",p" .. ((n * 7) % 2000) .. "&n=10"
    else
        path = "/v1/recs?cookie=new" .. n .. "&loc=DE&device=desktop&n=5"
    end
    return wrk.format(nil, path)
end
EOF
wrk_pids=()
for n in 1 2 3; do
    p=port$n
    wrk -t1 -c8 -d"${load_s}s" --timeout 2s -s "$tmp/load.lua" "http://127.0.0.1:${!p}" > "$tmp/wrk$n.out" 2>&1 &
    wrk_pids+=($!)
    pids+=($!)
done
sleep 1

# items PORT PATH - the answer's product ids, one a line
items() {
    curl -fsS "http://127.0.0.1:$1$2" | grep -o '"product":"[^"]*"' | sed 's/^"product":"\(.*\)"$/\1/'
}

# The product: the first item of the global list, which every tier fills
# from; then a spread of requests (cookies, products on screen, segments)
# whose answers hold it.
target=$(items "$port1" "/v1/recs?n=1" | head -n 1)
[ -n "$target" ] || fail "no product in the global answer"
: > "$tmp/paths"
for k in $(seq 0 59); do
    for path in "/v1/recs?cookie=u$k&loc=US&device=mobile&n=10" "/v1/recs?products=p$((k * 9 % 2000))&n=10" \
        "/v1/recs?cookie=new$k&loc=DE&device=desktop&n=5" "/v1/recs?n=10"; do
        if items "$port1" "$path" | grep -qxF "$target"; then
            printf '%s %s\n' "$path" "$(items "$port1" "$path" | wc -l)" >> "$tmp/paths"
        fi
    done
done
# browsing: the products just before it (mkcache's image lists hold the next ones)
num=${target#p}
for j in $(seq 1 15); do
    [ "$num" -gt "$j" ] || break
    path="/v1/recs?products=p$((num - j))&n=10"
    if items "$port1" "$path" | grep -qxF "$target"; then
        printf '%s %s\n' "$path" "$(items "$port1" "$path" | wc -l)" >> "$tmp/paths"
    fi
done
sort -u -o "$tmp/paths" "$tmp/paths"
npaths=$(wc -l < "$tmp/paths")
[ "$npaths" -ge 20 ] || fail "only $npaths requests hold $target"
grep -q 'products=' "$tmp/paths" || fail "no browsing request holds $target"
grep -q 'cookie=u' "$tmp/paths" || fail "no returning-visitor request holds $target"

# absent_everywhere - 0 when no node answers any spread request with target;
# each answer lost at most that one item, and $full counts those filled
# back to their old length from deeper in the lists or the next tiers (a
# request whose tiers hold nothing more is one shorter)
absent_everywhere() {
    local n p path want got have
    full=0
    for n in 1 2 3; do
        p=port$n
        while read -r path want; do
            got=$(items "${!p}" "$path") || return 1
            ! printf '%s\n' "$got" | grep -qxF "$target" || return 1
            have=$(printf '%s\n' "$got" | grep -c . || true)
            [ "$have" -ge $((want - 1)) ] || fail "edge$n: $path has $have items, had $want"
            [ "$have" -lt "$want" ] || full=$((full + 1))
        done < "$tmp/paths"
    done
}
present_everywhere() {
    local n p path want
    for n in 1 2 3; do
        p=port$n
        while read -r path want; do
            items "${!p}" "$path" | grep -qxF "$target" || return 1
        done < "$tmp/paths"
    done
}
metric() { # metric N NAME
    local p=port$1
    curl -fsS "http://127.0.0.1:${!p}/metrics" | sed -n "s/^$2 //p"
}

# Out of stock: set on the build host, pushed, absent within 60 s.
t0=$(date +%s.%N)
printf '# out of stock\n%s\n' "$target" | "$recctl" --root "$src" overlay set > /dev/null
roll 0 push-overlay --hosts "$hosts" --src "$src" --swap-timeout 60
tp=$(date +%s.%N)
ok=
for _ in $(seq 600); do
    if absent_everywhere; then
        ok=1
        break
    fi
    sleep 0.1
done
t1=$(date +%s.%N)
[ -n "$ok" ] || fail "$target still answered 60 s after the push"
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
push=$(awk -v a="$t0" -v b="$tp" 'BEGIN { printf "%.1f", b - a }')
for n in 1 2 3; do
    [ "$(metric $n recedge_overlay_products)" = 1 ] || fail "edge$n does not report 1 suppressed product"
done
[ "$full" -gt 0 ] || fail "no answer was filled back to its length"
ok "$target gone from $npaths requests on 3 nodes ${secs}s after recctl overlay set (set + push: ${push}s, each node reporting the overlay loaded; the rest is this script's curl check); $full of $((3 * npaths)) answers filled back to full length"

# A damaged overlay: refused on every node, the good one keeps serving.
good=$(readlink "$src/overlay")
good=${good##*/}
bad=20990101T000000Z
mkdir -p "$src/overlays/$bad"
head -c 30 "$src/overlays/$good/overlay.bin" > "$src/overlays/$bad/overlay.bin"
roll 1 push-overlay --hosts "$hosts" --src "$src" --overlay "$bad" --swap-timeout 5
[ "$(grep -c '^edge[123] *failed *refused' "$tmp/roll.out")" -eq 3 ] || { cat "$tmp/roll.out" >&2; fail "not every node refused the damaged overlay"; }
rm -rf "$src/overlays/$bad"
for n in 1 2 3; do
    [ ! -e "$tmp/node$n/overlays/$bad" ] && [ ! -e "$tmp/node$n/.incoming/overlays/$bad" ] ||
        fail "edge$n kept the damaged overlay"
done
# a damaged file flipped to directly: recedge refuses and counts it
for n in 1 2 3; do
    mkdir -p "$tmp/node$n/overlays/$bad"
    printf 'EROV\002\000\000\000' > "$tmp/node$n/overlays/$bad/overlay.bin"
    ln -sfn "overlays/$bad" "$tmp/node$n/.overlay.tmp" && mv -T "$tmp/node$n/.overlay.tmp" "$tmp/node$n/overlay"
done
for n in 1 2 3; do
    for _ in $(seq 100); do
        [ "$(metric $n recedge_overlay_refused_total)" = 1 ] && break
        sleep 0.1
    done
    [ "$(metric $n recedge_overlay_refused_total)" = 1 ] || fail "edge$n did not count the refused overlay"
done
absent_everywhere || fail "a refused overlay brought $target back"
ok "a damaged overlay was refused by rollout (3 nodes) and by recedge (3 nodes, counted); $target stays suppressed"

# Clear: back within 60 s.
"$recctl" --root "$src" overlay clear > /dev/null
roll 0 push-overlay --hosts "$hosts" --src "$src" --swap-timeout 60
ok=
for _ in $(seq 600); do
    if present_everywhere; then
        ok=1
        break
    fi
    sleep 0.1
done
[ -n "$ok" ] || fail "$target not back 60 s after clear"
ok "recctl overlay clear + push-overlay: $target back in every answer"

for w in "${wrk_pids[@]}"; do
    kill -0 "$w" 2> /dev/null || fail "wrk finished before the steps did; raise EDGEREC_FLEET_LOAD_S"
done
for w in "${wrk_pids[@]}"; do
    kill -INT "$w"
done
total=0
for n in 1 2 3; do
    w=${wrk_pids[$((n - 1))]}
    wait "$w" || fail "wrk on edge$n exited non-zero: $(cat "$tmp/wrk$n.out")"
    out=$(cat "$tmp/wrk$n.out")
    reqs=$(printf '%s\n' "$out" | sed -n 's/^ *\([0-9][0-9]*\) requests in .*/\1/p')
    non2xx=$(printf '%s\n' "$out" | sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p')
    sockerr=$(printf '%s\n' "$out" | sed -n 's/.*Socket errors: *\(.*\)/\1/p')
    if [ -z "$reqs" ] || [ "$reqs" -eq 0 ]; then
        fail "wrk on edge$n served no requests: $out"
    fi
    [ -z "$non2xx" ] || fail "edge$n answered $non2xx non-2xx responses"
    [ -z "$sockerr" ] || fail "edge$n had socket errors: $sockerr"
    total=$((total + reqs))
done
ok "$total requests under load on 3 nodes, 0 non-2xx, 0 socket errors"
