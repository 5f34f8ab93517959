#!/usr/bin/env bash
# tests/e2e/rollout_safety.sh - what ops/rollout.sh refuses before it touches
# a host, and what it does not carry to one (issue 13):
#   - a version id that is a path (--version ../../outside/ID, --to, --from)
#     is a usage error: nothing runs, and a directory outside .incoming/ that
#     the path names is neither written nor deleted (before the fix, the copy
#     landed there and, when it did not verify, rm -rf removed it);
#   - host fields that could become another path or an option of ssh, rsync
#     or curl (ROOT with '..', ssh=-oProxyCommand=..., a relative ROOT, a
#     bad rsync= URL or http= address, odd host names) are refused (exit 2)
#     and no ssh or recctl runs;
#   - ssh runs as `CMD -- TARGET COMMAND`, and a host whose ssh hangs is
#     given up after --host-timeout seconds instead of holding the rollout;
#   - a symlink and a FIFO in the source version are not carried to the
#     edge (rsync --no-links --no-specials --no-devices): the push succeeds
#     with regular files only.
#
# Environment (tests/CMakeLists.txt): BIN, SRC, EDGEREC_TEST_TMP.
# Exits 77 (skipped) while recctl or mkcache is not built or rsync is missing.
set -euo pipefail
OPS_TOOLS="rsync timeout"
source "$(dirname "$0")/ops_common.bash"
rollout=$SRC/ops/rollout.sh

src=$tmp/src node=$tmp/node
v1=20260101T000000Z v2=20260101T010000Z
i=0
for v in $v1 $v2; do
    "$mkcache" --root "$src" --version "$v" --products 200 --cookies 500 --shift "$i" > /dev/null
    i=$((i + 1))
done
mkdir -p "$node"

# Stand-ins that record every call: a recctl that would let anything through
# (verify and current succeed, publish refuses, as for a copy that does not
# verify), and an ssh.
calls=$tmp/calls
cat > "$tmp/recctl-stub" <<EOF
#!/bin/sh
echo "recctl \$*" >> "$calls"
case \$1 in
    verify) exit 0 ;;
    current) echo $v1; exit 0 ;;
    *) echo "recctl: publish: the copy does not verify" >&2; exit 1 ;;
esac
EOF
cat > "$tmp/ssh-stub" <<EOF
#!/bin/sh
echo "ssh \$*" >> "$calls"
exec sleep 300
EOF
chmod +x "$tmp/recctl-stub" "$tmp/ssh-stub"

# roll EXPECTED_EXIT ARGS... - ops/rollout.sh with its report in $tmp/roll.out
roll() {
    local want=$1 rc=0
    shift
    EDGEREC_BIN=$BIN/edge timeout 120 "$rollout" "$@" > "$tmp/roll.out" 2> "$tmp/roll.log" || rc=$?
    if [ "$rc" -ne "$want" ]; then
        cat "$tmp/roll.out" "$tmp/roll.log" >&2
        fail "ops/rollout.sh $* exited $rc, expected $want"
    fi
}
no_calls() {
    if [ -s "$calls" ]; then
        cat "$calls" >&2
        fail "$1: a host command ran"
    fi
}

# 1. A version id that is a path. From <node>/.incoming/, ../../outside/ID
# is $tmp/outside/ID; from <src>/versions/ the same path names it too, so
# the old script copied that directory onto itself, then deleted it.
outside=$tmp/outside/$v1
mkdir -p "$outside"
echo keep > "$outside/marker"
: > "$calls"
roll 2 push --host "edge1 $node" --src "$src" --recctl "$tmp/recctl-stub" --version "../../outside/$v1" --canary-wait 0
no_calls "--version ../../outside/$v1"
grep -q 'not a valid version id' "$tmp/roll.log" || fail "the refusal does not say why: $(cat "$tmp/roll.log")"
[ -f "$outside/marker" ] || fail "a directory outside .incoming/ was deleted"
[ ! -e "$node/.incoming" ] || fail "the refused push created $node/.incoming"
for bad in "../$v1" "-rf" ".hidden" "$v1/x" "a b" "$(printf 'x%.0s' $(seq 64))"; do
    roll 2 push --host "edge1 $node" --src "$src" --recctl "$tmp/recctl-stub" --version "$bad"
    roll 2 rollback --host "edge1 $node" --recctl "$tmp/recctl-stub" --to "$bad"
    roll 2 rollback --host "edge1 $node" --recctl "$tmp/recctl-stub" --from "$bad"
done
no_calls "bad version ids"
ok "version ids that are paths, options or too long are refused before any host command; the outside directory is intact"

# 2. Host fields.
for spec in "edge1 $node/../evil" "edge1 $node/./x" "edge1 relative/root" "edge1 $node:evil" "edge1 $node/-rf" \
    "edge1 $node ssh=-oProxyCommand=sh" "edge1 $node ssh=user@-x" "edge1 $node ssh=a;b" \
    "edge1 $node rsync=rsync://h/mod/../x" "edge1 $node rsync=rsync://-h/mod" "edge1 $node rsync=file:///etc" \
    "edge1 $node http=127.0.0.1:80/evil" "edge1 $node http=127.0.0.1" "edge1 $node http=-x:80" \
    "-edge $node" ".. $node" "a/b $node"; do
    : > "$calls"
    roll 2 status --host "$spec" --recctl "$tmp/recctl-stub" --ssh "$tmp/ssh-stub"
    no_calls "host '$spec'"
done
# The forms the header documents are taken.
roll 0 status --recctl "$tmp/recctl-stub" --host "edge1 $node" --host "edge-2.b_c $node/.cache/x"
roll 1 status --recctl "$tmp/recctl-stub" --host-timeout 1 --ssh "$tmp/ssh-stub" \
    --host "e3 /var/lib/edgerec http=10.0.0.1:8080 ssh=deploy@edge3.example rsync=rsync://rollout@edge3:873/edgerec" \
    --host "e4 /srv/e http=[::1]:8080 rsync=rsync://edge4/edgerec/sub/"
ok "host fields that could leave ROOT or become options are refused; documented forms are taken"

# 3. ssh: `CMD -- TARGET COMMAND`, and a host whose ssh hangs is given up.
: > "$calls"
t0=$(date +%s)
roll 1 status --host "edge1 /srv/edgerec ssh=deploy@edge1" --ssh "$tmp/ssh-stub" --host-timeout 2
took=$(( $(date +%s) - t0 ))
[ "$took" -lt 30 ] || fail "status on a hanging host took ${took}s with --host-timeout 2"
grep -q 'no current' "$tmp/roll.out" || fail "the hanging host is not reported: $(cat "$tmp/roll.out")"
grep -qx "ssh -- deploy@edge1 recctl current --root /srv/edgerec " "$calls" ||
    fail "ssh was not run as CMD -- TARGET COMMAND: $(cat "$calls")"
ok "ssh runs as CMD -- TARGET COMMAND; a hanging host is given up after --host-timeout (${took}s)"

# 4. Only regular files travel: a symlink and a FIFO beside the version's
# files stay at the source.
ln -s /etc/hostname "$src/versions/$v2/link"
mkfifo "$src/versions/$v2/fifo"
roll 0 push --host "edge1 $node" --src "$src" --version $v1 --canary-wait 0
roll 0 push --host "edge1 $node" --src "$src" --version $v2 --canary-wait 0
[ "$(basename "$(readlink "$node/current")")" = $v2 ] || fail "$v2 is not current on the node"
"$recctl" verify --root "$node" $v2 > /dev/null || fail "$v2 does not verify on the node"
odd=$(find "$node" ! -type f ! -type d ! -path "$node/current")
[ -z "$odd" ] || fail "not regular files on the node: $odd"
ok "a symlink and a FIFO in the source version are not carried; $v2 published with its regular files"

echo "rollout_safety: ok"
