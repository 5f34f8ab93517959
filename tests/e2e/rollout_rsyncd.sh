#!/usr/bin/env bash
# tests/e2e/rollout_rsyncd.sh - ops/rollout.sh through a real rsync daemon
# on loopback, configured from ops/rsyncd.conf.example (only what cannot
# apply to a test is changed: uid/gid are the test's own, no chroot, the
# paths, the port, 127.0.0.1 allowed). Two versions are pushed through the
# module with its password and published; a copy corrupted after the
# transfer is refused and the node keeps its version; and the module itself
# refuses what the example says it refuses: writing outside .incoming/,
# deleting, reading, a wrong password.
#
# Environment (tests/CMakeLists.txt): BIN, SRC, EDGEREC_TEST_TMP.
# Exits 77 (skipped) while recctl or mkcache is not built or rsync or
# python3 is missing.
set -euo pipefail
OPS_TOOLS="rsync python3"
source "$(dirname "$0")/ops_common.bash"
rollout=$SRC/ops/rollout.sh
daemon_pid=
stop_daemon() {
    if [ -n "$daemon_pid" ]; then
        kill "$daemon_pid" 2> /dev/null || true
        wait "$daemon_pid" 2> /dev/null || true
    fi
}
cleanup_extra=stop_daemon
fail_extra() {
    if [ -f "$tmp/rsyncd.log" ]; then
        echo "--- rsyncd log (tail)" >&2
        tail -n 15 "$tmp/rsyncd.log" >&2
    fi
}

src=$tmp/src node=$tmp/node
v1=20260101T000000Z v2=20260101T010000Z v3=20260101T020000Z
i=0
for v in $v1 $v2 $v3; do
    "$mkcache" --root "$src" --version "$v" --products 500 --cookies 2000 --shift "$i" > /dev/null
    i=$((i + 1))
done
mkdir -p "$node"

# The daemon: the example's module, adapted.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'rollout:s3cret\n' > "$tmp/rsyncd.secrets"
chmod 600 "$tmp/rsyncd.secrets"
# uid/gid: the test's own user (a daemon started by root would otherwise
# run transfers as nobody)
sed -e "s|^uid = .*|uid = $(id -un)|" -e "s|^gid = .*|gid = $(id -gn)|" \
    -e 's|^use chroot = yes|use chroot = no|' \
    -e "s|^log file = .*|log file = $tmp/rsyncd.log|" \
    -e "s|^    path = .*|    path = $node|" \
    -e "s|^    secrets file = .*|    secrets file = $tmp/rsyncd.secrets|" \
    -e 's|^    hosts allow = .*|    hosts allow = 127.0.0.1|' \
    -e "1i pid file = $tmp/rsyncd.pid" \
    "$SRC/ops/rsyncd.conf.example" > "$tmp/rsyncd.conf"
for kept in 'write only = yes' 'filter = + /.incoming/ + /.incoming/\*\* - \*' 'refuse options = delete' \
    'auth users = rollout' 'hosts deny = \*' 'list = no'; do
    grep -q "$kept" "$tmp/rsyncd.conf" || fail "rsyncd.conf.example no longer has '$kept'"
done
rsync --daemon --no-detach --config="$tmp/rsyncd.conf" --address=127.0.0.1 --port="$port" &
daemon_pid=$!
url=rsync://rollout@127.0.0.1:$port/edgerec
mkdir -p "$node/.incoming" # rollout.sh makes it before each copy
for _ in $(seq 1 50); do
    if RSYNC_PASSWORD=s3cret rsync "$tmp/rsyncd.secrets" "$url/.incoming/probe" > /dev/null 2>&1; then
        break
    fi
    sleep 0.1
done
[ -f "$node/.incoming/probe" ] || fail "the daemon does not take files into .incoming/"
rm -f "$node/.incoming/probe"
ok "rsync daemon on 127.0.0.1:$port with the module of ops/rsyncd.conf.example"

hosts=$tmp/hosts
echo "edge-r $node rsync=$url" > "$hosts"
roll() { # roll EXPECTED_EXIT ARGS...
    local want=$1 rc=0
    shift
    RSYNC_PASSWORD=s3cret EDGEREC_BIN=$BIN/edge "$rollout" "$@" > "$tmp/roll.out" 2> "$tmp/roll.log" || rc=$?
    if [ "$rc" -ne "$want" ]; then
        cat "$tmp/roll.out" "$tmp/roll.log" >&2
        fail "ops/rollout.sh $* exited $rc, expected $want"
    fi
}
current() { basename "$(readlink "$node/current")"; }

roll 0 push --hosts "$hosts" --src "$src" --version $v1 --canary-wait 0
[ "$(current)" = $v1 ] || fail "current is $(current), expected $v1"
"$recctl" verify --root "$node" $v1 > /dev/null || fail "$v1 does not verify on the node"
grep -q "recv .* edgerec (rollout) .incoming/$v1/data.mdb" "$tmp/rsyncd.log" || fail "the copy did not go through the daemon"
roll 0 push --hosts "$hosts" --src "$src" --version $v2 --canary-wait 0
[ "$(current)" = $v2 ] || fail "current is $(current), expected $v2"
[ -z "$(ls -A "$node/.incoming")" ] || fail "staging left behind: $(ls -A "$node/.incoming")"
ok "pushed $v1 and $v2 through the daemon: each verified, published, .incoming/ empty"

EDGEREC_ROLLOUT_FAULT=corrupt roll 3 push --hosts "$hosts" --src "$src" --version $v3 --canary-wait 0
[ "$(current)" = $v2 ] || fail "a corrupted copy changed current to $(current)"
[ ! -e "$node/versions/$v3" ] || fail "the corrupted copy was installed"
grep -q 'edge-r' "$tmp/roll.out" || fail "the report does not name the host"
ok "a copy corrupted after the transfer: refused, the node keeps $v2"

# An overlay (schemas/overlay.md) through the same module: .incoming/overlays/<id>/.
printf 'p1\np2\n' | "$recctl" --root "$src" overlay set > /dev/null
ov=$(basename "$(readlink "$src/overlay")")
roll 0 push-overlay --hosts "$hosts" --src "$src"
[ "$(basename "$(readlink "$node/overlay")")" = "$ov" ] || fail "the node's overlay link does not name $ov"
"$recctl" --root "$node" overlay verify > /dev/null || fail "the pushed overlay does not verify on the node"
grep -q "recv .* edgerec (rollout) .incoming/overlays/$ov/overlay.bin" "$tmp/rsyncd.log" || fail "the overlay did not go through the daemon"
[ -z "$(ls -A "$node/.incoming/overlays")" ] || fail "overlay staging left behind"
ok "overlay $ov pushed through the daemon, verified, installed and flipped"

# What the module refuses.
echo evil > "$tmp/evil"
RSYNC_PASSWORD=s3cret rsync "$tmp/evil" "$url/versions/evil" > /dev/null 2>&1 || true
RSYNC_PASSWORD=s3cret rsync "$tmp/evil" "$url/evil" > /dev/null 2>&1 || true
[ ! -e "$node/versions/evil" ] && [ ! -e "$node/evil" ] || fail "the module took a file outside .incoming/"
mkdir -p "$tmp/empty"
rc=0
RSYNC_PASSWORD=s3cret rsync -r --delete "$tmp/empty/" "$url/.incoming/" > /dev/null 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "--delete was not refused"
rc=0
RSYNC_PASSWORD=s3cret rsync "$url/.incoming/" "$tmp/" > /dev/null 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "the write-only module could be read"
rc=0
RSYNC_PASSWORD=wrong rsync "$tmp/evil" "$url/.incoming/x" > /dev/null 2>&1 || rc=$?
[ "$rc" -ne 0 ] && [ ! -e "$node/.incoming/x" ] || fail "a wrong password was let in"
[ "$(current)" = $v2 ] || fail "current moved"
ok "the module refuses files outside .incoming/, --delete, reads and a wrong password"

echo "rollout_rsyncd: ok"
