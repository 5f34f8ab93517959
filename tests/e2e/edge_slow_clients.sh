#!/usr/bin/env bash
# tests/e2e/edge_slow_clients.sh - one client address cannot take every
# connection of recedge (schemas/http.md, "Limits"): 1,500 connections from
# 127.0.0.1, each trickling one header byte at a time (and reopened when
# closed), against --max-connections 1200. Meanwhile a client on 127.0.0.2
# asks /healthz and /v1/recs twice a second and must always be answered,
# and the trickling connections must be closed with a complete 408 JSON
# answer once --request-timeout has passed.
#
# Without --max-per-ip the tricklers hold all 1,200 slots; without
# --request-timeout none of them is ever closed (every byte restarts the
# idle timeout). The test checks both: --max-per-ip 0 must starve the
# other client (proving the load is real), the defaults must not.
#
# Environment (tests/CMakeLists.txt): BIN, SRC, EDGEREC_TEST_TMP.
# Exits 77 (skipped) when recedge or mkcache is not built, or when this
# shell may not open 3,000 files.
set -euo pipefail
source "$(dirname "$0")/edge_common.bash"

ulimit -n 4096 2> /dev/null || { echo "edge_slow_clients: cannot open 4096 files; skipped"; exit 77; }

root=$tmp/cache
"$mkcache" --spec - --flip --root "$root" --version 20260101T000000Z > /dev/null <<'EOF' || fail "mkcache failed"
product p1 a:0.9 b:0.5
segment * * r:9 s:8
EOF

# attack SECONDS: tricklers from 127.0.0.1 while 127.0.0.2 asks; prints
# "victim_ok victim_failed timeouts_408 bad_answers".
attack() {
    python3 - "$port" "$1" <<'PY'
import errno, selectors, socket, sys, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
N = 1500
sel = selectors.DefaultSelector()
conns = {}  # socket -> [bytes received, bytes sent]
missing = 0  # closed connections to open again at the next trickle step

def open_one():
    s = socket.socket()
    s.setblocking(False)
    s.bind(('127.0.0.1', 0))
    err = s.connect_ex(('127.0.0.1', port))
    if err not in (0, errno.EINPROGRESS):
        s.close()
        return
    conns[s] = [b'', 0]
    sel.register(s, selectors.EVENT_READ)

def close_one(s):
    sel.unregister(s)
    s.close()
    del conns[s]

def check_answer(data):
    """One complete 408 JSON answer, or nothing (refused at accept)."""
    if not data:
        return None
    head, sep, body = data.partition(b'\r\n\r\n')
    lines = head.split(b'\r\n')
    fields = dict(l.split(b': ', 1) for l in lines[1:])
    ok = (sep and lines[0].startswith(b'HTTP/1.1 408 ') and fields.get(b'Content-Type') == b'application/json'
          and fields.get(b'Access-Control-Allow-Origin') == b'*' and len(body) == int(fields[b'Content-Length'])
          and b'"request_timeout"' in body)
    return bool(ok)

for _ in range(N):
    open_one()
victim_ok = victim_failed = timeouts = bad = 0
start = time.time()
next_trickle = next_victim = start
while time.time() - start < seconds:
    now = time.time()
    if now >= next_trickle:  # one more byte on every connection, twice a second
        for _ in range(missing):
            open_one()
        missing = 0
        for s, st in conns.items():
            try:
                st[1] += s.send(b'GET /healthz HTTP/1.1\r\nHost: x\r\n' if st[1] == 0 else b'X')
            except OSError:
                pass  # not connected yet, or closed by the server: read below
        next_trickle = now + 0.5
    if now >= next_victim:
        for path in ('/healthz', '/v1/recs?n=1'):
            try:
                v = socket.socket()
                v.settimeout(5)
                v.bind(('127.0.0.2', 0))
                v.connect(('127.0.0.1', port))
                v.sendall(b'GET ' + path.encode() + b' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
                got = b''
                while True:
                    c = v.recv(4096)
                    if not c:
                        break
                    got += c
                v.close()
                if got.startswith(b'HTTP/1.1 200 '):
                    victim_ok += 1
                else:
                    victim_failed += 1
            except OSError:
                victim_failed += 1
        next_victim = now + 0.5
    for key, _ in sel.select(timeout=0.05):
        s = key.fileobj
        try:
            c = s.recv(4096)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            c = b''
        if c:
            conns[s][0] += c
            continue
        verdict = check_answer(conns[s][0])
        if verdict:
            timeouts += 1
        elif verdict is False:
            bad += 1
        close_one(s)
        missing += 1
print(victim_ok, victim_failed, timeouts, bad)
PY
}

# No per-address limit: the tricklers starve everybody else.
start_server "$root" --max-connections 1200 --max-per-ip 0 --request-timeout 0 --idle-timeout 30
wait_until 5 is_ready || fail "not ready"
read -r ok failed timeouts bad < <(attack 8)
echo "no limits: victim ok=$ok failed=$failed, 408s=$timeouts, bad answers=$bad"
[ "$failed" -gt 0 ] || fail "1,500 trickling connections did not starve the other client: the test load is too light"
stop_server

# The defaults (--max-per-ip 1000, --request-timeout 10), with a shorter
# deadline to keep the test short.
start_server "$root" --max-connections 1200 --request-timeout 3 --idle-timeout 30
wait_until 5 is_ready || fail "not ready"
grep -q 'event=listen .*max_per_ip=1000 request_timeout=3' "$tmp/server.log" || fail "listen line lacks the limits"
read -r ok failed timeouts bad < <(attack 12)
echo "defaults: victim ok=$ok failed=$failed, 408s=$timeouts, bad answers=$bad"
[ "$failed" -eq 0 ] || fail "the other client failed $failed times (ok $ok)"
[ "$ok" -ge 20 ] || fail "the other client got only $ok answers"
[ "$timeouts" -ge 500 ] || fail "only $timeouts trickling connections got their 408"
[ "$bad" -eq 0 ] || fail "$bad trickling connections got a malformed answer"
expect_status 200 GET /healthz
# The deadline holds for a kept-alive connection's next request too.
python3 - "$port" <<'PY' || fail "a trickled second request was not cut off"
import socket, sys, time
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5)
s.sendall(b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
assert s.recv(4096).startswith(b'HTTP/1.1 200 ')
time.sleep(1.5)
s.sendall(b'GET /healthz HTTP/1.1\r\n')
s.settimeout(0.3)
start, got = time.time(), b''
while time.time() - start < 60 and not got:  # generous: a loaded CI machine
    try:
        s.sendall(b'X')
        got = s.recv(4096)
    except socket.timeout:
        pass
took = time.time() - start
assert got.startswith(b'HTTP/1.1 408 ') and took >= 3, (took, got[:80])
PY
stop_server
# Repeated libmicrohttpd warnings are counted, not written one by one.
lines=$(grep -c 'event=mhd' "$tmp/server.log" || true)
[ "$lines" -lt 100 ] || fail "$lines mhd warning lines: not rate-limited"

echo "edge_slow_clients: ok"
