#!/usr/bin/env bash
# tests/e2e/edge_in_place.sh - recedge answers in libmicrohttpd's place the
# faults the library finds itself (schemas/http.md, "Limits"), and never on
# the wrong connection: it picks the request from the library's log message
# among its thread's heads, so under concurrency a mistake would refuse
# another visitor's request.
#
# 10 client threads send 640 ordinary requests, each head in two pieces with
# a pause between them (so that many heads are arriving on recedge's two
# threads at once), while 3 threads send 240 faulty ones: a Content-Length
# that is not a number, a jar of 200 tiny cookie pairs, a 14 KB header.
#   - every ordinary request gets its 200, one header block, nothing else;
#   - every bad Content-Length and cookie jar gets recedge's JSON answer
#     (400, 431) with the CORS headers, one header block;
#   - every 14 KB header gets one complete 431: recedge's JSON, or, when
#     other heads were arriving on its thread, libmicrohttpd's own page
#     (the documented fallback), never a doubled or cut one.
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

python3 - "$port" <<'PY' || fail "answers under concurrency"
import collections, random, socket, sys, threading, time
port = int(sys.argv[1])
lock = threading.Lock()
seen = collections.Counter()
wrong = []

def exchange(parts, pause):
    s = socket.create_connection(('127.0.0.1', port), timeout=20)
    out = b''
    try:
        for i, p in enumerate(parts):
            if i:
                time.sleep(pause)
            s.sendall(p)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    s.close()
    return out

def complete(raw):
    """(status, json?) when raw is one whole answer, else None."""
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

BAD = {'length': (b'GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n', (400, True)),
       'cookies': (b'GET /v1/recs HTTP/1.1\r\nHost: a\r\nCookie: ' + b'; '.join(b'c%d=v' % i for i in range(200)) +
                   b'\r\n\r\n', (431, True)),
       'big': (b'GET /v1/recs HTTP/1.1\r\nHost: a\r\nX-Big: ' + b'x' * 14000 + b'\r\n\r\n', None)}

def faulty(n, rng):
    for _ in range(n):
        kind = rng.choice(sorted(BAD))
        req, want = BAD[kind]
        got = complete(exchange([req], 0))
        with lock:
            seen[kind] += 1
            if got is None or (want is not None and got != want) or (want is None and got[0] != 431):
                wrong.append((kind, got))
            elif kind == 'big':
                seen['big json' if got[1] else 'big library page'] += 1

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
echo "edge_in_place: ok: 640 ordinary requests answered 200 beside 240 faulty ones, each of those one complete answer (JSON for the Content-Length and cookie faults)"
stop_server
