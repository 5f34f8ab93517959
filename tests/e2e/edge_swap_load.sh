#!/usr/bin/env bash
# tests/e2e/edge_swap_load.sh - 23 version swaps under continuous load, 6 of
# them bad: two corrupt, one truncated, and three that must be refused
# without being opened (schemas/cache.md, "Versions"): a FIFO as data.mdb
# (the manifest saying 0 bytes), data.mdb as a symlink to /dev/zero (0
# bytes too), and data.mdb as a symlink out of the root to a copy with the
# right size and checksum. Every response during the run must be a 200 with
# a well-formed body from a good version, each bad version is refused within
# 10 s, the last good version is the one serving at the end, and recedge
# exits within 10 s of SIGTERM afterwards.
#
# The load is two keep-alive HTTP clients that parse every body, so a
# malformed answer counts as a failure, not only a non-200 status.
#
# Environment (tests/CMakeLists.txt): BIN, SRC, EDGEREC_TEST_TMP.
# Exits 77 (skipped) while recedge or mkcache is not built.
set -euo pipefail
source "$(dirname "$0")/edge_common.bash"

root=$tmp/cache
mkdir -p "$root"
refused_at_least() { [ "$(metric recedge_cache_refused_total)" -ge "$1" ]; }

version 20260201T000000Z
start_server "$root"
wait_until 10 serves_version 20260201T000000Z || fail "first version not served"

# Two clients until $tmp/stop appears (bounded to 120 s in any case). A
# response is good when it is a 200 whose JSON names a version that is one
# of the good ones and whose only item comes from that same version.
for c in 1 2; do
    python3 - "$port" "$tmp/stop" "$tmp/bad_versions" > "$tmp/load$c.out" 2>&1 <<'PY' &
import http.client, json, os, sys, time
port, stop, bad_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
n = failed = 0
deadline = time.time() + 120
conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
while not os.path.exists(stop) and time.time() < deadline:
    try:
        conn.request('GET', '/v1/recs?n=1&loc=DE&device=mobile')
        r = conn.getresponse()
        body = r.read()
        d = json.loads(body)
        bad = open(bad_file).read().split() if os.path.exists(bad_file) else []
        ok = (r.status == 200 and d['version'] not in bad
              and d['items'][0]['product'] == 'from-' + d['version'])
    except Exception as e:  # a reset connection or an unparsable body
        ok = False
        conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
    n += 1
    if not ok:
        failed += 1
print(n, failed)
sys.exit(1 if failed or n < 100 else 0)
PY
    eval "load$c=\$!"
done

# Swaps 1..23 after the first load; 5 and 11 are corrupt, 17 truncated,
# 8 a FIFO, 14 a link to /dev/zero, 20 a link out of the root.
good=20260201T000000Z
refused=0
mkdir -p "$tmp/outside"
for i in $(seq 1 23); do
    v=$(printf '20260201T%02d0000Z' "$i")
    case $i in
    5 | 8 | 11 | 14 | 17 | 20)
        version "$v" --no-flip
        data=$root/versions/$v/data.mdb
        case $i in
        17) truncate -s 8192 "$data" ;;
        8) rm "$data"; mkfifo "$data"; python3 "$SRC/tests/e2e/empty_data.py" "$root/versions/$v/manifest.json" ;;
        14) rm "$data"; ln -s /dev/zero "$data"; python3 "$SRC/tests/e2e/empty_data.py" "$root/versions/$v/manifest.json" ;;
        20) mv "$data" "$tmp/outside/$v.mdb"; ln -s "$tmp/outside/$v.mdb" "$data" ;;
        *)
            size=$(stat -c %s "$data")
            printf '\x5a' | dd of="$data" bs=1 seek=$((size / 2)) conv=notrunc status=none
            ;;
        esac
        echo "$v" >> "$tmp/bad_versions"
        refused=$((refused + 1))
        flip_to "$root" "$v"
        wait_until 10 refused_at_least "$refused" || fail "bad version $v not refused"
        serves_version "$good" || fail "$good not kept after refusing $v"
        ;;
    *)
        version "$v"
        wait_until 10 serves_version "$v" || fail "swap $i to $v not picked up"
        good=$v
        ;;
    esac
done
touch "$tmp/stop"
wait "$load1" || fail "client 1: $(cat "$tmp/load1.out") (requests, failed)"
wait "$load2" || fail "client 2: $(cat "$tmp/load2.out") (requests, failed)"

[ "$(metric recedge_cache_refused_total)" = 6 ] || fail "refused: $(metric recedge_cache_refused_total), expected 6"
[ "$(metric recedge_cache_swaps_total)" = 18 ] || fail "swaps: $(metric recedge_cache_swaps_total), expected 18 (1 + 17 good)"
serves_version "$good" || fail "the last good version $good is not serving"
for reason in "a FIFO, not a regular file" "a symlink, not a regular file"; do
    grep -q "event=refuse .*$reason" "$tmp/server.log" || fail "no refusal saying '$reason'"
done
read -r n1 f1 < "$tmp/load1.out"
read -r n2 f2 < "$tmp/load2.out"

# SIGTERM ends the process promptly: no swap thread is left blocked or spinning.
kill -TERM "$server_pid"
for _ in $(seq 1 100); do
    kill -0 "$server_pid" 2> /dev/null || break
    sleep 0.1
done
kill -0 "$server_pid" 2> /dev/null && fail "recedge still running 10 s after SIGTERM"
rc=0
wait "$server_pid" || rc=$?
server_pid=
[ "$rc" -eq 0 ] || fail "recedge exited with $rc after SIGTERM"
grep -q 'event=exit status=0' "$tmp/server.log" || fail "no exit line in the log"
echo "edge_swap_load: 23 swaps (6 refused) during $((n1 + n2)) requests, $((f1 + f2)) failed; serving $good"
