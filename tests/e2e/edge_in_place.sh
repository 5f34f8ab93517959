#!/usr/bin/env bash
# tests/e2e/edge_in_place.sh - recedge answers in libmicrohttpd's place the
# faults the library finds itself (schemas/http.md, "Limits"), and never on
# the wrong connection: it takes the connection from the socket the library
# last read or wrote on the thread that logs the fault (edge/http.c,
# io_fd), so under concurrency a mistake would refuse another visitor's
# request.
#
# 10 client threads send 640 ordinary requests, each head in two pieces with
# a pause between them (so that many heads are arriving on recedge's two
# threads at once), while 3 threads send 240 faulty ones: a Content-Length
# that is not a number, a jar of 200 tiny cookie pairs, a 14 KB header
# sent in two pieces, a 40 KB request target, a 40 KB target pipelined
# behind an ordinary request on a kept-alive connection, and the first two
# faults pipelined behind three ordinary requests.
#   - every ordinary request gets its 200, one header block, nothing else;
#   - every fault gets recedge's JSON answer (400, 431, 414) with the CORS
#     headers, one header block; the pipelined ones the 200s first;
#   - no connection is reset: every answer is read whole.
#
# Environment (tests/CMakeLists.txt): BIN, SRC, EDGEREC_TEST_TMP. Exits 77
# when recedge or mkcache is not built.
set -euo pipefail
source "$(dirname "$0")/edge_common.bash"

root=$tmp/cache
"$mkcache" --spec - --flip --root "$root" --version 20260101T000000Z > /dev/null <<'SPEC' || fail "mkcache failed"
product p1 a:0.9 b:0.5
segment * * r:9 s:8
SPEC
start_server "$root" --max-per-ip 0 --cors-origin '*'

# What follows relies on libmicrohttpd 0.9.75's messages: the listen line
# names the version in use, and another one is warned of.
mhd=$(sed -n 's/.*event=listen .* mhd=\([^ ]*\).*/\1/p' "$tmp/server.log")
[ -n "$mhd" ] || fail "no mhd= in the listen line"
if [ "$mhd" = 0.9.75 ]; then
    ! grep -q 'event=mhd_version' "$tmp/server.log" || fail "a version warning for 0.9.75"
else
    grep -q "event=mhd_version version=$mhd tested=0.9.75" "$tmp/server.log" || fail "no warning for libmicrohttpd $mhd"
fi

python3 - "$port" <<'PY' || fail "answers under concurrency"
import collections, random, sys, threading
import rawhttp
port = int(sys.argv[1])
lock = threading.Lock()
seen = collections.Counter()
wrong = []

def exchange(parts, pause):
    try:
        return rawhttp.exchange(port, parts, pause, timeout=20)
    except rawhttp.Reset as e:
        return b'<%s>' % str(e).encode()  # never one whole answer

def complete(raw, answers=1):
    """(status, json?) of the last answer when raw is that many whole answers, else None."""
    for _ in range(answers - 1):
        head, sep, rest = raw.partition(b'\r\n\r\n')
        fields = dict(l.split(b': ', 1) for l in head.split(b'\r\n')[1:] if b': ' in l)
        if not sep or not head.startswith(b'HTTP/1.1 200 '):
            return None
        raw = rest[int(fields.get(b'Content-Length', b'0')):]
    head, sep, body = raw.partition(b'\r\n\r\n')
    if not sep or raw.count(b'HTTP/1.1 ') != 1:
        return None
    fields = dict(l.split(b': ', 1) for l in head.split(b'\r\n')[1:] if b': ' in l)
    if len(body) != int(fields.get(b'Content-Length', b'-1')):
        return None
    js = fields.get(b'Content-Type') == b'application/json' and fields.get(b'Access-Control-Allow-Origin') == b'*'
    return int(head.split()[1]), js

def ordinary(n, rng):
    head = (b'GET /v1/recs?n=2 HTTP/1.1\r\nHost: a\r\nCookie: ' + b'; '.join(b'k%d=v' % j for j in range(20)) +
            b'\r\nConnection: close\r\n\r\n')
    for _ in range(n):
        got = complete(exchange([head[:40], head[40:]], rng.random() * 0.02))
        with lock:
            seen['ordinary'] += 1
            if got != (200, True):
                wrong.append(('ordinary', got))

big = b'GET /v1/recs HTTP/1.1\r\nHost: a\r\nX-Big: ' + b'x' * 14000 + b'\r\n\r\n'
target = b'GET /v1/recs?x=' + b'a' * 40000 + b' HTTP/1.1\r\nHost: a\r\n\r\n'
# kind: (pieces of the request, answers expected, the last one's (status, JSON with CORS))
healthz = b'GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n'
length = b'GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n'
cookies = b'GET /v1/recs HTTP/1.1\r\nHost: a\r\nCookie: ' + b'; '.join(b'c%d=v' % i for i in range(200)) + b'\r\n\r\n'
BAD = {'length': ([length], 1, (400, True)),
       'cookies': ([cookies], 1, (431, True)),
       # Parsed from what an earlier read brought in, after other
       # connections' reads and writes (edge/http.c, io_fd).
       'pipelined length': ([healthz * 3 + length], 4, (400, True)),
       'pipelined cookies': ([healthz * 3 + cookies], 4, (431, True)),
       'big': ([big[:7000], big[7000:]], 1, (431, True)),
       'target': ([target], 1, (414, True)),
       'pipelined': ([healthz + target], 2, (414, True))}

def faulty(n, rng):
    for _ in range(n):
        kind = rng.choice(sorted(BAD))
        parts, answers, want = BAD[kind]
        raw = exchange(parts, rng.random() * 0.02)
        got = complete(raw, answers)
        with lock:
            seen[kind] += 1
            if got != want:
                wrong.append((kind, got, raw[:120], raw[-120:]))

threads = [threading.Thread(target=ordinary, args=(64, random.Random(i))) for i in range(10)]
threads += [threading.Thread(target=faulty, args=(80, random.Random(100 + i))) for i in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print('edge_in_place:', dict(seen))
assert seen['ordinary'] == 640 and sum(seen[k] for k in BAD) == 240, seen
assert not wrong, wrong[:5]
PY
echo "edge_in_place: ok: 640 ordinary requests answered 200 beside 240 faulty ones, each of those recedge's one complete JSON answer, no connection reset"

# A burst: 300 clients with small receive buffers each pipeline 30
# ordinary requests and a 40 KB request target at once, and read only when
# all have sent. recedge refuses each target while its client still sends
# and while the answers ahead of it still wait in the socket, so each
# socket must linger until its client has read (edge/linger.h:
# RE_LINGER_MAX at once; with 64, most of them were reset).
python3 - "$port" <<'PY' || fail "a burst of refusals"
import socket, sys, time
import rawhttp
port = int(sys.argv[1])
ahead = 30
target = b'GET /v1/recs?x=' + b'a' * 40000 + b' HTTP/1.1\r\nHost: a\r\n\r\n'
conns = []
for _ in range(300):
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.settimeout(20)
    c.connect(('127.0.0.1', port))
    c.setblocking(False)
    conns.append(c)
left = {c: b'GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n' * ahead + target for c in conns}
deadline = time.time() + 20
while left and time.time() < deadline:
    for c in list(left):
        try:
            left[c] = left[c][c.send(left[c]):]
        except BlockingIOError:
            continue
        except OSError:
            del left[c]  # refused and closed before it was all sent: its answer is read below
            continue
        if not left[c]:
            del left[c]
    time.sleep(0.001)
wrong = []
for i, c in enumerate(conns):
    c.settimeout(20)  # blocking, but a connection left open fails the test instead of hanging it
    raw = b''
    try:
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            raw += chunk
    except OSError as e:
        raw += b'<%r>' % e
    c.close()
    got, rest = rawhttp.answers(raw, 'burst')
    if rest or [a[0] for a in got] != [200] * ahead + [414] or b'"uri_too_long"' not in got[-1][2]:
        wrong.append((i, len(got), raw[-120:]))
print('edge_in_place: burst of 300 refusals, wrong', len(wrong))
assert not wrong, wrong[:3]
PY
echo "edge_in_place: ok: a burst of 300 refused 40 KB targets behind 30 ordinary requests, each answered 414 whole though read only after all were sent"
stop_server
