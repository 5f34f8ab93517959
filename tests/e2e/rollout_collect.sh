#!/usr/bin/env bash
# tests/e2e/rollout_collect.sh - ops/rollout.sh collect on real rsync: three
# fake edge nodes, each an exposure-log directory, and one more behind a real
# rsync daemon on loopback configured from ops/rsyncd.conf.example's
# [edgerec-log] module (only what cannot apply to a test is changed: uid/gid
# are the test's own, no chroot, the paths, the port, 127.0.0.1 allowed).
#   - closed files (*.jsonl) arrive byte for byte in DEST/<node>/ and leave
#     the node; *.jsonl.open, subdirectories and symlinks stay, untouched;
#   - a rerun changes nothing; a file closed since arrives;
#   - interruptions: a copy that arrived but was not removed on the node is
#     removed by the rerun and kept once; rsync stopped in the middle of a
#     file (--host-timeout) leaves the file on the node and no partial
#     *.jsonl in DEST, and the rerun completes it (and removes the
#     temporary file a SIGKILL leaves); a different file of the same name in
#     DEST is kept aside, not lost;
#   - the daemon module lets collect pull and remove, and refuses an upload,
#     reading a .open file and deleting;
#   - bad host fields and missing options are usage errors (exit 2).
#
# Environment (tests/CMakeLists.txt): BIN, SRC, EDGEREC_TEST_TMP.
# Exits 77 (skipped) while recctl or mkcache is not built (ops_common.bash)
# or rsync, flock or python3 is missing.
set -euo pipefail
OPS_TOOLS="rsync flock python3 sha256sum"
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
    [ ! -f "$tmp/roll.out" ] || cat "$tmp/roll.out" "$tmp/roll.log" >&2
    if [ -f "$tmp/rsyncd.log" ]; then
        echo "--- rsyncd log (tail)" >&2
        tail -n 15 "$tmp/rsyncd.log" >&2
    fi
}

# roll EXPECTED_EXIT ARGS... - ops/rollout.sh, its report in $tmp/roll.out
roll() {
    local want=$1 rc=0
    shift
    "$rollout" "$@" > "$tmp/roll.out" 2> "$tmp/roll.log" || rc=$?
    if [ "$rc" -ne "$want" ]; then
        cat "$tmp/roll.out" "$tmp/roll.log" >&2
        fail "ops/rollout.sh $* exited $rc, expected $want"
    fi
}

# logfile PATH LINES - a file of exposure-like JSON lines, distinct per path
logfile() {
    awk -v n="$2" -v f="${1##*/}" 'BEGIN { for (i = 1; i <= n; i++)
        printf "{\"type\":\"exposure\",\"ts\":1764770000.%03d,\"rec_id\":\"%032x\",\"file\":\"%s\"}\n", i % 1000, i, f }' > "$1"
}

# The fleet: nodes 1..3 with closed files, an open one, a subdirectory with
# a closed-looking file, and a symlink named like a closed file.
dest=$tmp/dest
hosts=$tmp/hosts
: > "$hosts"
for n in 1 2 3; do
    d=$tmp/node$n/log
    mkdir -p "$d/sub"
    for s in 0 1 2; do
        logfile "$d/edge$n-20261203T100000Z-$s.jsonl" $((50 + n * 10 + s))
    done
    logfile "$d/edge$n-20261203T100500Z-3.jsonl.open" 5
    logfile "$d/sub/old.jsonl" 3
    echo secret > "$tmp/outside$n"
    ln -s "$tmp/outside$n" "$d/link.jsonl"
    echo "edge$n $tmp/node$n/root log=$d" >> "$hosts"
done

# sums DIR - "sha256 name" of the *.jsonl directly in DIR (regular files), sorted
sums() { (cd "$1" && find . -maxdepth 1 -type f -name '*.jsonl' -printf '%f\n' | sort | xargs -r sha256sum); }
# left N - what node N still holds (names), sorted
left() { (cd "$tmp/node$1/log" && find . -mindepth 1 | sort | tr '\n' ' '); }
for n in 1 2 3; do
    sums "$tmp/node$n/log" > "$tmp/want$n"
done

roll 0 collect --hosts "$hosts" --dest "$dest"
for n in 1 2 3; do
    sums "$dest/edge$n" > "$tmp/got$n"
    cmp -s "$tmp/want$n" "$tmp/got$n" || fail "edge$n: DEST holds $(cat "$tmp/got$n"), expected $(cat "$tmp/want$n")"
    [ "$(ls -A "$dest/edge$n" | wc -l)" -eq 3 ] || fail "edge$n: DEST holds more than the closed files: $(ls -A "$dest/edge$n")"
    [ "$(left $n)" = "./edge$n-20261203T100500Z-3.jsonl.open ./link.jsonl ./sub ./sub/old.jsonl " ] ||
        fail "edge$n keeps '$(left $n)'"
    grep -q "^edge$n *ok *3 files" "$tmp/roll.out" || fail "the report does not count edge$n's 3 files"
done
[ "$(cat "$tmp/outside1")" = secret ] || fail "a symlink's target was touched"
ok "3 nodes: 9 closed files arrived byte for byte and left the nodes; .open, subdirectories and symlinks stayed"

# A rerun with nothing new changes nothing.
roll 0 collect --hosts "$hosts" --dest "$dest"
for n in 1 2 3; do
    sums "$dest/edge$n" | cmp -s "$tmp/got$n" - || fail "edge$n: a rerun changed DEST"
done
grep -q '^edge1 *ok *0 files' "$tmp/roll.out" || fail "a rerun copied files"
ok "a rerun copies nothing and changes nothing"

# recedge closes its open file (a rename) and writes another: the closed one arrives.
mv "$tmp/node1/log/edge1-20261203T100500Z-3.jsonl.open" "$tmp/node1/log/edge1-20261203T100500Z-3.jsonl"
sha_closed=$(sha256sum < "$tmp/node1/log/edge1-20261203T100500Z-3.jsonl")
logfile "$tmp/node1/log/edge1-20261203T101000Z-4.jsonl.open" 2
roll 0 collect --hosts "$hosts" --dest "$dest"
[ "$(sha256sum < "$dest/edge1/edge1-20261203T100500Z-3.jsonl")" = "$sha_closed" ] || fail "the newly closed file did not arrive whole"
[ ! -e "$tmp/node1/log/edge1-20261203T100500Z-3.jsonl" ] || fail "the newly closed file stayed on the node"
[ ! -e "$dest/edge1/edge1-20261203T101000Z-4.jsonl.open" ] && [ -e "$tmp/node1/log/edge1-20261203T101000Z-4.jsonl.open" ] ||
    fail "the open file was touched"
ok "a file closed since the last run arrives; the one now open stays"

# Interrupted after the copy, before the removal: the file is in DEST and
# still on the node. The rerun removes it there and keeps one copy.
logfile "$tmp/node2/log/edge2-20261203T110000Z-5.jsonl" 40
cp -p "$tmp/node2/log/edge2-20261203T110000Z-5.jsonl" "$dest/edge2/"
sums "$dest/edge2" > "$tmp/before"
roll 0 collect --hosts "$hosts" --dest "$dest"
[ ! -e "$tmp/node2/log/edge2-20261203T110000Z-5.jsonl" ] || fail "a file already collected stayed on the node"
sums "$dest/edge2" | cmp -s "$tmp/before" - || fail "DEST changed when a copy it had was confirmed"
[ -z "$(find "$dest" -name '*replaced*')" ] || fail "an identical copy was set aside"
ok "interrupted before the removal: the rerun removes the node's copy, DEST keeps one"

# Interrupted in the middle of a file: --host-timeout stops rsync; the file
# stays on the node, nothing partial is named *.jsonl in DEST.
big=$tmp/node3/log/edge3-20261203T120000Z-6.jsonl
logfile "$big" 60000
sha_big=$(sha256sum < "$big")
size_big=$(stat -c %s "$big")
[ "$size_big" -gt 2000000 ] || fail "the big file is only $size_big bytes"
roll 1 collect --hosts "$hosts" --dest "$dest" --bwlimit 200K --host-timeout 1
grep -q '^edge3 *failed *rsync exited' "$tmp/roll.out" || fail "the report does not name edge3 as failed"
[ "$(sha256sum < "$big")" = "$sha_big" ] || fail "the node's file changed after an interrupted copy"
[ ! -e "$dest/edge3/$(basename "$big")" ] || fail "a partial copy is in DEST under the file's name"
# rsync's temporary file, as a collect killed with SIGKILL leaves it.
head -c 1000 "$big" > "$dest/edge3/.$(basename "$big").Xy12Zq"
roll 0 collect --hosts "$hosts" --dest "$dest"
[ "$(sha256sum < "$dest/edge3/$(basename "$big")")" = "$sha_big" ] || fail "the rerun did not bring the file whole"
[ ! -e "$big" ] || fail "the rerun left the file on the node"
[ -z "$(find "$dest" -name '.*.jsonl.*')" ] || fail "a temporary file was left in DEST: $(find "$dest" -name '.*.jsonl.*')"
ok "interrupted in the middle of a $size_big-byte file: it stays on the node; the rerun brings it whole and clears the debris"

# A different file under a name DEST already has: collected, the older one kept aside.
logfile "$tmp/node3/log/edge3-20261203T130000Z-7.jsonl" 7
echo '{"older":"content"}' > "$dest/edge3/edge3-20261203T130000Z-7.jsonl"
roll 0 collect --hosts "$hosts" --dest "$dest"
[ "$(wc -l < "$dest/edge3/edge3-20261203T130000Z-7.jsonl")" -eq 7 ] || fail "the node's file did not replace the older one"
kept=$(find "$dest/edge3" -name 'edge3-20261203T130000Z-7.jsonl.replaced-*~')
[ -n "$kept" ] && grep -q older "$kept" || fail "the older file of the same name was lost"
ok "a different file of the same name in DEST is kept as $(basename "$kept")"

# Over ssh= (a stub that runs the command here, as ssh runs it there).
cat > "$tmp/ssh-stub" <<EOF
#!/usr/bin/env bash
echo "ssh \$*" >> "$tmp/ssh.calls"
while [ \$# -gt 0 ] && [ "\$1" != rsync ]; do shift; done # ssh's options and the target
exec sh -c "\$*"
EOF
chmod +x "$tmp/ssh-stub"
mkdir -p "$tmp/node4/log"
logfile "$tmp/node4/log/edge4-20261203T100000Z-0.jsonl" 20
logfile "$tmp/node4/log/edge4-20261203T100000Z-1.jsonl.open" 2
sums "$tmp/node4/log" > "$tmp/want4"
roll 0 collect --host "edge4 /srv/edgerec ssh=deploy@edge4 log=$tmp/node4/log" --dest "$dest" --ssh "$tmp/ssh-stub"
grep -q "^ssh .*edge4 rsync --server --sender .*--remove-source-files" "$tmp/ssh.calls" ||
    fail "rsync did not run over the ssh command: $(cat "$tmp/ssh.calls")"
sums "$dest/edge4" | cmp -s "$tmp/want4" - || fail "over ssh: DEST holds $(sums "$dest/edge4")"
[ "$(ls -A "$tmp/node4/log")" = edge4-20261203T100000Z-1.jsonl.open ] || fail "over ssh the node keeps $(ls -A "$tmp/node4/log")"
ok "over ssh=: the closed file arrived and left the node"

# Usage errors: nothing touched.
logfile "$tmp/node1/log/edge1-20261203T140000Z-8.jsonl" 3
roll 2 collect --hosts "$hosts"
roll 2 collect --host "edgeX $tmp/nodeX/root" --dest "$dest"
roll 2 collect --host "edgeX $tmp/nodeX/root log=relative/dir" --dest "$dest"
roll 2 collect --host "edgeX $tmp/nodeX/root log=$tmp/../etc" --dest "$dest"
roll 2 collect --host "edgeX $tmp/nodeX/root log-rsync=http://x/y" --dest "$dest"
roll 2 collect --hosts "$hosts" --dest "$dest" --log-dir rel
[ -e "$tmp/node1/log/edge1-20261203T140000Z-8.jsonl" ] || fail "a usage error touched a node"
ok "missing --dest, no log directory, bad log= / log-rsync= / --log-dir: exit 2, nothing touched"

# ---- through the rsync daemon: the [edgerec-log] module of the example ----
dlog=$tmp/noded/log
mkdir -p "$dlog"
for s in 0 1; do
    logfile "$dlog/edged-20261203T100000Z-$s.jsonl" 30
done
logfile "$dlog/edged-20261203T100500Z-2.jsonl.open" 4
sums "$dlog" > "$tmp/wantd"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'collect:s3cret\n' > "$tmp/rsyncd.secrets"
chmod 600 "$tmp/rsyncd.secrets"
sed -e "s|^uid = .*|uid = $(id -un)|" -e "s|^gid = .*|gid = $(id -gn)|" \
    -e 's|^use chroot = yes|use chroot = no|' \
    -e "s|^log file = .*|log file = $tmp/rsyncd.log|" \
    -e "/^\[edgerec-log\]/,\$ s|^    path = .*|    path = $dlog|" \
    -e "s|^    secrets file = .*|    secrets file = $tmp/rsyncd.secrets|" \
    -e 's|^    hosts allow = .*|    hosts allow = 127.0.0.1|' \
    -e "1i pid file = $tmp/rsyncd.pid" \
    "$SRC/ops/rsyncd.conf.example" > "$tmp/rsyncd.conf"
sed -n '/^\[edgerec-log\]/,$p' "$tmp/rsyncd.conf" > "$tmp/module.conf"
for kept in 'read only = no' 'pre-xfer exec = ' 'filter = + /\*.jsonl - \*' 'refuse options = delete-\*' \
    'auth users = collect' 'hosts deny = \*'; do
    grep -q "$kept" "$tmp/module.conf" ||
        fail "the [edgerec-log] module of rsyncd.conf.example no longer has '$kept'"
done
rsync --daemon --no-detach --config="$tmp/rsyncd.conf" --address=127.0.0.1 --port="$port" &
daemon_pid=$!
url=rsync://collect@127.0.0.1:$port/edgerec-log
up=
for _ in $(seq 1 50); do
    if RSYNC_PASSWORD=s3cret rsync --list-only "$url/" > /dev/null 2>&1; then
        up=1
        break
    fi
    sleep 0.1
done
[ -n "$up" ] || fail "the rsync daemon does not answer"

echo "edged $tmp/noded/root log-rsync=$url" > "$tmp/hosts.d"
RSYNC_PASSWORD=s3cret roll 0 collect --hosts "$tmp/hosts.d" --dest "$dest"
sums "$dest/edged" | cmp -s "$tmp/wantd" - || fail "through the daemon: DEST holds $(sums "$dest/edged")"
[ "$(cd "$dlog" && ls -A)" = edged-20261203T100500Z-2.jsonl.open ] || fail "through the daemon the node keeps $(ls -A "$dlog")"
grep -q 'send .* edgerec-log (collect) edged-20261203T100000Z-0.jsonl' "$tmp/rsyncd.log" ||
    fail "the files did not go through the daemon"
ok "through the daemon module: 2 closed files arrived whole and left the node; the open one stayed"

# What the module refuses: uploads, reading an open file, deleting, a wrong password.
echo '{"type":"click","forged":1}' > "$tmp/evil.jsonl"
rc=0
RSYNC_PASSWORD=s3cret rsync "$tmp/evil.jsonl" "$url/" > /dev/null 2>&1 || rc=$?
[ "$rc" -ne 0 ] && [ ! -e "$dlog/evil.jsonl" ] || fail "the module took an upload"
mkdir -p "$tmp/peek"
RSYNC_PASSWORD=s3cret rsync "$url/edged-20261203T100500Z-2.jsonl.open" "$tmp/peek/" > /dev/null 2>&1 || true
[ ! -e "$tmp/peek/edged-20261203T100500Z-2.jsonl.open" ] || fail "the module let an open file be read"
logfile "$dlog/edged-20261203T110000Z-3.jsonl" 3
rc=0
RSYNC_PASSWORD=s3cret rsync -r --delete "$url/" "$tmp/peek/" > /dev/null 2>&1 || true
RSYNC_PASSWORD=s3cret rsync -r --delete "$tmp/peek/" "$url/" > /dev/null 2>&1 || rc=$?
[ "$rc" -ne 0 ] && [ -e "$dlog/edged-20261203T110000Z-3.jsonl" ] && [ -e "$dlog/edged-20261203T100500Z-2.jsonl.open" ] ||
    fail "a push with --delete went through"
rc=0
RSYNC_PASSWORD=wrong rsync --remove-source-files "$url/edged-20261203T110000Z-3.jsonl" "$tmp/peek/x" > /dev/null 2>&1 || rc=$?
[ "$rc" -ne 0 ] && [ -e "$dlog/edged-20261203T110000Z-3.jsonl" ] || fail "a wrong password was let in"
ok "the module refuses uploads, reading an open file, a push with --delete and a wrong password"

echo "rollout_collect: ok"
