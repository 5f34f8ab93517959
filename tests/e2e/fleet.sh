#!/usr/bin/env bash
# tests/e2e/fleet.sh - three edge nodes, each a recedge with its own cache
# root, on loopback ports; ops/rollout.sh copies versions to them with rsync
# to local paths. Under continuous wrk load on all three:
#   - two new versions roll out (canary first) and every node serves them;
#   - a version truncated in transit (EDGEREC_ROLLOUT_FAULT=truncate) is
#     refused on every node (--canary none) and one corrupted in transit
#     stops at the canary (exit 3); every node keeps serving;
#   - a fleet-wide rollback is one command and every node serves the
#     previous version;
#   - the status report shows each node's version;
#   - wrk reports zero non-2xx responses and zero socket errors.
#
# Environment (tests/CMakeLists.txt): BIN, SRC, EDGEREC_TEST_TMP;
# EDGEREC_FLEET_LOAD_S, the most seconds of load (default 300): the load runs
# until every step is done, then wrk is stopped with SIGINT and reports.
# Exits 77 (skipped) when recedge, recctl, mkcache, wrk, rsync or curl is missing.
set -euo pipefail
OPS_TOOLS="wrk rsync curl"
source "$(dirname "$0")/ops_common.bash"
recedge=$BIN/edge/recedge
rollout=$SRC/ops/rollout.sh
load_s=${EDGEREC_FLEET_LOAD_S:-300}
if [ ! -x "$recedge" ]; then
    echo "fleet: $recedge not built; skipped"
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

fail_extra() { # the last lines of each node's log
    local n
    for n in 1 2 3; do
        if [ -f "$tmp/recedge$n.log" ]; then
            echo "--- recedge$n log (tail)" >&2
            tail -n 5 "$tmp/recedge$n.log" >&2
        fi
    done
}

# The build side: four versions, written in order (ids sort by time).
src=$tmp/src
v1=20260101T000000Z v2=20260101T010000Z v3=20260101T020000Z v4=20260101T030000Z v5=20260101T040000Z
i=0
for v in $v1 $v2 $v3 $v4 $v5; do
    "$mkcache" --root "$src" --version "$v" --products 2000 --cookies 20000 --shift "$i" > /dev/null
    i=$((i + 1))
done

# roll EXPECTED_EXIT ARGS... - ops/rollout.sh with its report in $tmp/roll.out
roll() {
    local want=$1 rc=0
    shift
    EDGEREC_BIN=$BIN/edge "$rollout" "$@" > "$tmp/roll.out" 2> "$tmp/roll.log" || rc=$?
    if [ "$rc" -ne "$want" ]; then
        cat "$tmp/roll.out" "$tmp/roll.log" >&2
        fail "ops/rollout.sh $* exited $rc, expected $want"
    fi
}

# Seed each node with v1 before its recedge starts.
hosts=$tmp/hosts
: > "$hosts"
for n in 1 2 3; do
    echo "edge$n $tmp/node$n" >> "$hosts"
done
roll 0 push --hosts "$hosts" --src "$src" --version $v1

# Start the three recedges on free ports (the `listen` line names the port).
: > "$hosts"
for n in 1 2 3; do
    # The log exists before the poll below reads it (the redirection of a
    # background job may happen after the first read).
    : > "$tmp/recedge$n.log"
    "$recedge" --root "$tmp/node$n" --bind 127.0.0.1 --port 0 --threads 2 --poll-ms 200 \
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
    # Ready once its first swap has finished, which follows the listen line.
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

# Continuous load on all three nodes: cookies with and without CF lists,
# products on screen, segments.
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
sleep 2

# serves V - every node's /v1/version names V
serves() {
    local n p v
    for n in 1 2 3; do
        p=port$n
        v=$(curl -fsS "http://127.0.0.1:${!p}/v1/version" | sed -n 's/^{"version":"\([^"]*\)".*/\1/p')
        [ "$v" = "$1" ] || fail "edge$n serves '$v', expected $1"
    done
}

common=(--hosts "$hosts" --src "$src" --canary-wait 2 --swap-timeout 15 --jobs 2)
roll 0 push "${common[@]}" --version $v2
serves $v2
roll 0 push "${common[@]}" --version $v3
serves $v3
echo "fleet: rolled out $v2 and $v3 to three nodes under load"

# Truncated in transit, no canary: refused on every node.
EDGEREC_ROLLOUT_FAULT=truncate roll 1 push "${common[@]}" --version $v4 --canary none
[ "$(grep -c '^edge[123] *failed *refused' "$tmp/roll.out")" -eq 3 ] || { cat "$tmp/roll.out" >&2; fail "not every node refused $v4"; }
grep -q 'the manifest says' "$tmp/roll.out" || fail "the refusal does not say why"
serves $v3
for n in 1 2 3; do
    [ ! -e "$tmp/node$n/versions/$v4" ] || fail "edge$n installed the truncated $v4"
    [ ! -e "$tmp/node$n/.incoming/$v4" ] || fail "edge$n kept the truncated copy in .incoming"
done
# Corrupted in transit, with a canary: the canary refuses, nobody else is touched.
EDGEREC_ROLLOUT_FAULT=corrupt roll 3 push "${common[@]}" --version $v5
grep -q 'xxh3' "$tmp/roll.out" || { cat "$tmp/roll.out" >&2; fail "the canary's refusal does not name the checksum"; }
for n in 2 3; do
    [ ! -e "$tmp/node$n/.incoming/$v5" ] || fail "edge$n was touched after the canary failed"
done
serves $v3
echo "fleet: a truncated version was refused on every node, a corrupted one at the canary"

# Fleet-wide rollback: one command.
roll 0 rollback --hosts "$hosts" --swap-timeout 15
serves $v2
roll 0 status --hosts "$hosts"
cat "$tmp/roll.out"
[ "$(grep -c "^edge[123] *$v2 *$v2 *200 *ok" "$tmp/roll.out")" -eq 3 ] || fail "status does not show every node on $v2"

# The load must have covered every step; then it must have had no failure.
# wrk stops on SIGINT and prints its report as at the end of its duration.
for w in "${wrk_pids[@]}"; do
    kill -0 "$w" 2> /dev/null || fail "wrk finished before the rollouts did; raise EDGEREC_FLEET_LOAD_S"
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
    [ -z "$non2xx" ] || fail "edge$n answered $non2xx non-2xx responses during the rollouts"
    [ -z "$sockerr" ] || fail "edge$n had socket errors during the rollouts: $sockerr"
    echo "fleet: edge$n served $reqs requests under load, 0 non-2xx, 0 socket errors"
    total=$((total + reqs))
done
echo "fleet: $total requests in all, none failed, across 2 rollouts, 2 refused versions and a rollback"
