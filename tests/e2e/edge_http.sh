#!/usr/bin/env bash
# tests/e2e/edge_http.sh - the real recedge on a fixture cache over a real
# loopback socket: every status of schemas/http.md (200, 204, 400, 404, 405,
# 503, HEAD), CORS (one origin, an allow-list, preflights) and Cache-Control
# headers from flags and environment, browser-sized requests and every
# refusal of the request line and headers as one well-formed JSON answer,
# JSON validity with hostile ids, /v1/version, /metrics moving with traffic,
# /readyz, and exit status 0 on SIGTERM.
#
# Environment (tests/CMakeLists.txt): BIN, SRC, EDGEREC_TEST_TMP.
# Exits 77 (skipped) while recedge or mkcache is not built.
set -euo pipefail
source "$(dirname "$0")/edge_common.bash"

root=$tmp/cache
# %22 quote, %5C backslash, %01 %1F control bytes, %FF invalid UTF-8,
# %00 NUL, %C3%A9 a valid e-acute.
"$mkcache" --spec - --flip --root "$root" --version 20260101T000000Z > /dev/null <<'EOF' || fail "mkcache failed"
product p1 a:0.9 b:0.5 c:0.4 p2:0.35
product p2 b:0.95 d:0.3 a:0.2
product weird q%22uote:0.9 back%5Cslash:0.8 ctl%01%1F:0.7 bad%FF%FE:0.6 nul%00byte:0.5 %C3%A9t%C3%A9:0.4
product comma%2Cid x:0.5
cookie c1 i:8 a:7 j:6
segment de mobile k:50 l:40
segment de * m:30
segment * * r:9 s:8 t:7
EOF

# A 32 KiB connection pool here so that the 16384-byte query cap of the
# parser is reachable (the default pool is smaller; its limits are tested
# with the second server below).
EDGEREC_CORS_ORIGIN=https://shop.example start_server "$root" --cache-control 'public, max-age=30' --conn-memory 32768
wait_until 5 is_ready || fail "not ready with a valid version"

# --- 200 and routing ---
expect_status 200 GET '/v1/recs?products=p1,p2&n=4'
json_ok
[ "$(json_get 'd["version"]')" = 20260101T000000Z ] || fail "wrong version"
[ "$(json_get 'd["route"]')" = image ] || fail "route is not image"
[ "$(json_get '",".join(i["product"] for i in d["items"])')" = "b,a,c,d" ] || fail "image merge: $(cat "$tmp/body")"
[ "$(json_get 'd["items"][0]["score"]')" = 0.95 ] || fail "best score not kept"
[ "$(json_get '",".join(i["source"] for i in d["items"])')" = "image,image,image,image" ] || fail "sources"
[ "$(header Content-Type)" = application/json ] || fail "Content-Type: $(header Content-Type)"
[ "$(header Access-Control-Allow-Origin)" = https://shop.example ] || fail "ACAO from the environment"
[ "$(header Cache-Control)" = "public, max-age=30" ] || fail "Cache-Control from the flag"

expect_status 200 GET '/v1/recs?cookie=c1&loc=de&device=mobile&n=6'
[ "$(json_get 'd["route"]')" = cf ] || fail "cookie route"
[ "$(json_get '",".join(i["product"]+"/"+i["source"] for i in d["items"])')" = "i/cf,a/cf,j/cf,k/segment,l/segment,m/segment" ] \
    || fail "cf fill-up: $(cat "$tmp/body")"
expect_status 200 GET '/v1/recs?loc=fr'
[ "$(json_get 'd["route"]')" = global ] || fail "global route"
[ "$(json_get 'len(d["items"])')" = 3 ] || fail "global list"
expect_status 200 GET '/v1/recs?products=comma%2Cid&n=1'
[ "$(json_get 'd["items"][0]["product"]')" = x ] || fail "%2C inside an id"
expect_status 200 GET '/v1/recs?products=p1&n=2&utm_source=news&_=123'

# Hostile ids still give valid JSON, decoded back to the bytes stored.
expect_status 200 GET '/v1/recs?products=weird&n=6'
json_ok
python3 - "$tmp/body" <<'PY' || fail "weird ids: $(cat "$tmp/body")"
import json, sys
raw = open(sys.argv[1], 'rb').read()
assert all(b >= 0x20 for b in raw), "raw control byte in the body"
raw.decode('utf-8')  # strict: valid UTF-8
ids = [i["product"] for i in json.loads(raw)["items"]]
want = ['q"uote', 'back\\slash', 'ctl\x01\x1f', 'bad\ufffd\ufffd', 'nul\x00byte', '\u00e9t\u00e9']
assert ids == want, ids
PY

# --- HEAD: headers of GET, no body ---
expect_status 200 HEAD '/v1/recs?products=p1'
[ "$(header Content-Type)" = application/json ] || fail "HEAD Content-Type"
python3 - "$port" <<'PY' || fail "HEAD answered with a body"
import sys
from rawhttp import exchange
data = exchange(int(sys.argv[1]), b'HEAD /v1/recs?products=p1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
head, sep, body = data.partition(b'\r\n\r\n')
assert head.startswith(b'HTTP/1.1 200'), head
assert sep and body == b'', body[:100]
assert b'Content-Length: 0' not in head, head  # the GET length is announced
PY

# --- 400 ---
bad=(
    'cookie=%zz' 'products=a,%2' 'loc=%' 'n=0' 'n=101' 'n=abc' 'n=' 'products=a,,b' 'products=,'
    'cookie=a&cookie=b' 'x=%G0' 'abcdefghijklmnopq%zz=1' 'n=1%00&n=2' 'cookie=a%00&cookie=b'
    "products=$(seq -s, 1 21)"
    "cookie=$(head -c 257 /dev/zero | tr '\0' c)"
)
for q in "${bad[@]}"; do
    expect_status 400 GET "/v1/recs?$q"
    json_ok
    [ "$(json_get 'd["error"]')" = bad_request ] || fail "400 error code for $q"
    [ -n "$(json_get 'd["reason"]')" ] || fail "400 without a reason for $q"
    [ "$(header Access-Control-Allow-Origin)" = https://shop.example ] || fail "ACAO on 400"
    [ "$(header Cache-Control)" = no-store ] || fail "errors must not be cached"
done
expect_status 400 GET '/v1/recs?n=0'
[ "$(json_get 'd["reason"]')" = "'n' must be an integer from 1 to 100" ] || fail "n reason"
expect_status 400 GET "/v1/recs?products=$(seq -s, 1 21)"
case "$(json_get 'd["reason"]')" in *20*) ;; *) fail "too-many reason" ;; esac
long=$(head -c 16400 /dev/zero | tr '\0' x)
expect_status 400 GET "/v1/recs?x=$long"
[ "$(json_get 'd["reason"]')" = "query string longer than 16384 bytes" ] || fail "query cap"
# 20 products of 256 bytes: the largest valid query is served
ids=$(for i in $(seq 10 29); do printf '%s' "$i"; head -c 254 /dev/zero | tr '\0' p; printf ,; done)
expect_status 200 GET "/v1/recs?products=${ids%,}"
json_ok

# --- 404, 405, OPTIONS ---
for p in /nope /v1/recs/ /v1 /v2/recs /metrics/x; do
    expect_status 404 GET "$p"
    json_ok
    [ "$(json_get 'd["error"]')" = not_found ] || fail "404 body for $p"
done
for m in POST PUT DELETE PATCH; do
    expect_status 405 "$m" /v1/recs
    json_ok
    [ "$(header Allow)" = "GET, HEAD, OPTIONS" ] || fail "Allow on 405: $(header Allow)"
done
expect_status 405 POST /v1/recs --data 'a=1'
expect_status 204 OPTIONS /v1/recs -H 'Origin: https://shop.example' -H 'Access-Control-Request-Method: GET'
[ "$(header Access-Control-Allow-Origin)" = https://shop.example ] || fail "preflight ACAO"
case "$(header Access-Control-Allow-Methods)" in *GET*) ;; *) fail "preflight methods" ;; esac
[ -n "$(header Access-Control-Allow-Headers)" ] || fail "preflight headers"
[ "$(header Access-Control-Max-Age)" = 86400 ] || fail "preflight max-age"
# A page script that sends X-Requested-With and trace context headers.
expect_status 204 OPTIONS /v1/recs -H 'Origin: https://shop.example' -H 'Access-Control-Request-Method: GET' \
    -H 'Access-Control-Request-Headers: x-requested-with,traceparent,tracestate'
allowed=$(header Access-Control-Allow-Headers | tr 'A-Z' 'a-z')
for h in content-type x-requested-with traceparent tracestate; do
    case ", $allowed," in *", $h,"*) ;; *) fail "preflight does not allow $h: $allowed" ;; esac
done
[ -z "$(header Vary)" ] || fail "Vary sent for a single origin"
# Paths are compared exactly after decoding: a NUL is a byte like any other.
expect_status 404 GET '/healthz%00.json'
json_ok
expect_status 404 GET '/v1/recs%00?n=1'
expect_status 404 GET '/healthz%zz'
expect_status 200 GET '/%68ealthz'

# --- operations ---
expect_status 200 GET /healthz
json_ok
expect_status 200 GET /readyz
json_ok
expect_status 200 GET /v1/version
json_ok
[ "$(json_get 'd["version"]')" = 20260101T000000Z ] || fail "/v1/version"
[ "$(json_get 'd["counts"]["product"]')" = 4 ] || fail "/v1/version counts: $(cat "$tmp/body")"
[ "$(json_get 'd["counts"]["segment"]')" = 3 ] || fail "/v1/version segment count"
[ "$(header Cache-Control)" = "public, max-age=30" ] || fail "Cache-Control on /v1/version"

expect_status 200 GET /metrics
case "$(header Content-Type)" in text/plain*) ;; *) fail "metrics Content-Type" ;; esac
grep -q '^recedge_cache_info{version="20260101T000000Z"} 1$' "$tmp/body" || fail "cache info metric"
grep -q '^recedge_cache_records{db="product"} 4$' "$tmp/body" || fail "record count metric"
grep -q '^recedge_cache_loaded 1$' "$tmp/body" || fail "loaded metric"
grep -q '^recedge_cache_age_seconds [0-9]' "$tmp/body" || fail "age metric"
grep -q '^recedge_request_duration_microseconds_bucket{endpoint="recs",le="+Inf"} [1-9]' "$tmp/body" || fail "histogram"
grep -q '^recedge_requests_total{endpoint="recs",route="none",status="400"} [1-9]' "$tmp/body" || fail "400 counted"
grep -q '^recedge_requests_total{endpoint="other",route="none",status="404"} 8$' "$tmp/body" || fail "404 counted"
series='recedge_requests_total{endpoint="recs",route="cf",status="200"}'
before=$(metric "$series")
for _ in 1 2 3; do expect_status 200 GET '/v1/recs?cookie=c1'; done
after=$(metric "$series")
[ "$after" -eq $((before + 3)) ] || fail "cf counter went from $before to $after"
python3 - "$(url /metrics)" <<'PY' || fail "histogram not cumulative"
import re, sys, urllib.request
text = urllib.request.urlopen(sys.argv[1]).read().decode()
b = [int(v) for v in re.findall(r'^recedge_request_duration_microseconds_bucket\{endpoint="recs",le="[^"]+"\} (\d+)$', text, re.M)]
assert len(b) == 11 and b == sorted(b), b
PY

# --- many concurrent keep-alive connections ---
python3 - "$port" <<'PY' || fail "concurrent keep-alive requests"
import http.client, json, sys, threading
port = int(sys.argv[1]); errors = []
def worker():
    try:
        c = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
        for _ in range(50):
            c.request('GET', '/v1/recs?products=p1&n=3')
            r = c.getresponse(); body = r.read()
            assert r.status == 200 and len(json.loads(body)['items']) == 3
        c.close()
    except Exception as e:
        errors.append(repr(e))
ts = [threading.Thread(target=worker) for _ in range(32)]
[t.start() for t in ts]; [t.join() for t in ts]
assert not errors, errors[:3]
PY

stop_server
grep -q 'event=drain in_flight=0' "$tmp/server.log" || fail "did not drain"

# --- defaults: ACAO *, Cache-Control private, access log on ---
start_server "$root" --access-log
wait_until 5 is_ready || fail "not ready (second start)"
expect_status 200 GET '/v1/recs'
[ "$(header Access-Control-Allow-Origin)" = '*' ] || fail "default ACAO"
[ "$(header Cache-Control)" = 'private, max-age=60' ] || fail "default Cache-Control"
wait_until 2 grep -q 'event=access endpoint=recs status=200 route=global' "$tmp/server.log" || fail "access log line"
grep -q 'event=listen .*conn_memory=12288' "$tmp/server.log" || fail "default --conn-memory is not 12288"

# --- browsers, refusals and strictness with the defaults (schemas/http.md, "Limits") ---
# Every answer is checked as the whole byte stream of its connection: one
# status line, one header block, a body of exactly Content-Length bytes,
# nothing after it. What fits: a same-origin call from a shop page with a
# 2 KB cookie jar in 25 pairs, a 500-byte Referer and the headers a CDN
# adds. What recedge refuses (a request target or header field over 8,192
# bytes, more than 64 fields, a head that leaves no room for the answer,
# no Host, two Hosts, folding, Transfer-Encoding with Content-Length) gets
# a JSON body with the CORS headers, and a smuggled second request is never
# served; so do the faults libmicrohttpd finds itself (a Content-Length that
# is not a number or beyond 64 bits, a cookie jar it cannot parse, headers
# beyond the connection memory), which recedge answers in its place.
python3 - "$port" <<'PY' || fail "browser requests and refusals"
import json, socket, sys
port = int(sys.argv[1])

from rawhttp import one
import functools, rawhttp
exchange = functools.partial(rawhttp.exchange, port)  # a reset fails

def refused(raw, what, status, code):
    st, fields, body = one(raw, what)
    assert st == status, (what, st, body)
    assert fields.get('content-type') == 'application/json', (what, fields)
    assert fields.get('access-control-allow-origin') == '*', (what, fields)
    assert fields.get('cache-control') == 'no-store', (what, fields)
    assert fields.get('connection') == 'close', (what, fields)
    assert json.loads(body)['error'] == code, (what, body)
    return json.loads(body)['reason']

browser = (b'User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n'
           b'Accept: */*\r\nAccept-Language: en-US,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n'
           b'sec-ch-ua: "Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"\r\nsec-ch-ua-mobile: ?0\r\nsec-ch-ua-platform: "Windows"\r\n'
           b'Sec-Fetch-Site: same-origin\r\nSec-Fetch-Mode: cors\r\nSec-Fetch-Dest: empty\r\nPriority: u=1, i\r\n'
           b'X-Forwarded-For: 203.0.113.7, 198.51.100.23\r\nX-Forwarded-Proto: https\r\nVia: 1.1 edge-cache, 1.1 varnish\r\n'
           b'X-Request-Id: 7f3c2a9e-5b1d-4c8e-9a6f-2d4b8e1c3a57\r\nCDN-Loop: cloudflare; loops=1, fastly\r\n')
page = b'https://www.shop.example/c/shoes/running?utm_campaign='
referer = b'Referer: ' + page + b'r' * (500 - len(page)) + b'\r\n'  # a 500-byte value
jar = b'; '.join(b'ck%02d=%s' % (i, b'v' * 75) for i in range(25))
assert len(jar) == 2048, len(jar)
shop = b'Host: www.shop.example\r\n' + browser + referer + b'Cookie: ' + jar + b'\r\n'

# The shop page's call, on a kept-alive connection, twice.
req = b'GET /v1/recs?cookie=c1&products=p1,p2&n=10 HTTP/1.1\r\n' + shop + b'\r\n'
s = socket.create_connection(('127.0.0.1', port), timeout=10)
for _ in range(2):
    s.sendall(req)
    data = b''
    while b'\r\n\r\n' not in data:
        data += s.recv(65536)
    head, _, body = data.partition(b'\r\n\r\n')
    n = int([l for l in head.split(b'\r\n') if l.lower().startswith(b'content-length:')][0].split(b':')[1])
    while len(body) < n:
        body += s.recv(65536)
    st, fields, body = one(head + b'\r\n\r\n' + body, 'shop page')
    assert st == 200 and json.loads(body)['items'], (st, body)
s.close()
# 20 ids of 64 bytes from the same page; the longest valid query (20 ids
# of 256 bytes, a 5,157-byte target) from a cross-origin widget (no cookies).
ids64 = b','.join(b'%d' % i + b'p' * 62 for i in range(10, 30))
st, _, _ = one(exchange(b'GET /v1/recs?products=' + ids64 + b' HTTP/1.1\r\n' + shop + b'Connection: close\r\n\r\n'), 'ids64')
assert st == 200, st
ids256 = b','.join(b'%d' % i + b'p' * 254 for i in range(10, 30))
widget = b'Host: recs.shop.example\r\nOrigin: https://www.shop.example\r\n' + browser + referer
st, _, _ = one(exchange(b'GET /v1/recs?products=' + ids256 + b' HTTP/1.1\r\n' + widget + b'Connection: close\r\n\r\n'), 'ids256')
assert st == 200, st

# Refusals recedge makes: JSON, CORS, one well-formed answer.
r = refused(exchange(b'GET /v1/recs?cookie=' + b'c' * 5000 + b' HTTP/1.1\r\nHost: a\r\n' + browser + b'Connection: close\r\n\r\n'), 'cookie=5000', 400, 'bad_request')
assert r == "an id in 'cookie' is longer than 256 bytes", r
r = refused(exchange(b'GET /v1/recs?x=' + b'a' * 9000 + b' HTTP/1.1\r\nHost: a\r\n\r\n'), 'long target', 414, 'uri_too_long')
assert r == 'request target longer than 8192 bytes', r
r = refused(exchange(b'GET /v1/recs HTTP/1.1\r\nHost: a\r\nX-Big: ' + b'b' * 9000 + b'\r\n\r\n'), 'long field', 431, 'header_fields_too_large')
assert r == 'a header field longer than 8192 bytes', r
many = b''.join(b'X-H%d: v\r\n' % i for i in range(70))
r = refused(exchange(b'GET /v1/recs HTTP/1.1\r\nHost: a\r\n' + many + b'\r\n'), 'many fields', 431, 'header_fields_too_large')
assert r == 'more than 64 header fields', r
# A head that leaves no room for the answer in the connection memory.
for size in (11500, 11700, 11900):
    r = refused(exchange(b'GET /v1/recs HTTP/1.1\r\nHost: a\r\nX-A: ' + b'a' * 5000 + b'\r\nX-B: ' + b'b' * (size - 5000) + b'\r\n\r\n'),
                'full head %d' % size, 431, 'header_fields_too_large')
    assert '12288' in r, r
# HEAD gets the refusal without its body.
raw = exchange(b'HEAD /v1/recs HTTP/1.1\r\nHost: a\r\nX-A: ' + b'a' * 5000 + b'\r\nX-B: ' + b'b' * 6700 + b'\r\n\r\n')
assert raw.startswith(b'HTTP/1.1 431 ') and raw.endswith(b'\r\n\r\n') and raw.count(b'HTTP/1.1') == 1, raw[-200:]

# Strictness: Host, folding, framing.
refused(exchange(b'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n'), 'no host', 400, 'bad_request')
refused(exchange(b'GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'), 'two hosts', 400, 'bad_request')
refused(exchange(b'GET /healthz HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n 2\r\nConnection: close\r\n\r\n'), 'folded', 400, 'bad_request')
refused(exchange(b'GET /healthz HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\t2\r\n\r\n'), 'folded tab', 400, 'bad_request')
refused(exchange(b'GET /healthz HTTP/1.1\r\nHost: a\r\nX A: 1\r\n\r\n'), 'bad name', 400, 'bad_request')
smuggle = (b'GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n'
           b'0\r\n\r\nGET /readyz HTTP/1.1\r\nHost: a\r\n\r\n')
refused(exchange(smuggle), 'CL + TE', 400, 'bad_request')  # one answer: /readyz is never served
refused(exchange(b'GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n'), 'two CL', 400, 'bad_request')
# Faults libmicrohttpd finds once the head is in, where it would send its
# header block twice (schemas/http.md): recedge's one answer instead.
r = refused(exchange(b'GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n'), 'CL abc', 400, 'bad_request')
assert r == 'a Content-Length that is not a number', r
r = refused(exchange(b'GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n'),
            'CL too large', 413, 'payload_too_large')
tiny = b'; '.join(b'c%d=v' % i for i in range(200))  # 1.4 KB, 200 pairs of 64 bytes of parsing each
r = refused(exchange(b'GET /v1/recs HTTP/1.1\r\nHost: a\r\nCookie: ' + tiny + b'\r\n\r\n'), 'tiny pairs', 431,
            'header_fields_too_large')
assert r.startswith('a Cookie header with more pairs than the connection memory can parse'), r
# 3,000 query arguments: their records fill the connection memory before a
# header is read (libmicrohttpd logs the cookie jar's message for them too).
r = refused(exchange(b'GET /v1/recs?' + b'&'.join([b'a'] * 3000) + b' HTTP/1.1\r\nHost: a\r\n\r\n'), 'arguments', 431,
            'header_fields_too_large')
assert '12288' in r and 'Cookie' not in r, r
# What stays accepted: HTTP/1.0 without Host, blanks around values, LF line
# ends, a GET with a body (ignored), then a second request on the connection.
for req in (b'GET /healthz HTTP/1.0\r\n\r\n',
            b'GET /healthz HTTP/1.1\r\nHost:a\r\nX-A:  spaced value  \r\nX-B:\t1\r\nX-Empty:\r\nConnection: close\r\n\r\n',
            b'GET /healthz HTTP/1.1\nHost: a\nConnection: close\n\n'):
    st, _, body = one(exchange(req), req)
    assert st == 200 and json.loads(body) == {'status': 'ok'}, (req, st, body)
raw = exchange(b'GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /readyz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
assert raw.count(b'HTTP/1.1 200 ') == 2 and raw.endswith(b'{"status":"ready"}'), raw

# Far beyond the connection memory, where libmicrohttpd refuses first:
# recedge's JSON answer in its place (414 while the request line arrives,
# 431 after it), read whole by a client that sends everything first, even
# 3 MB, far beyond the socket buffers (the lingering close): a reset fails.
for data, code in ((b'GET /v1/recs?x=' + b'a' * 40000 + b' HTTP/1.1\r\nHost: a\r\n\r\n', 414),
                   (b'GET /v1/recs?x=' + b'a' * 3000000 + b' HTTP/1.1\r\nHost: a\r\n\r\n', 414),
                   (b'GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /v1/recs?x=' + b'a' * 40000 + b' HTTP/1.1\r\nHost: a\r\n\r\n', 414),
                   (b'GET /v1/recs HTTP/1.1\r\nHost: a\r\nCookie: ' + b'c' * 40000 + b'\r\n\r\n', 431),
                   (b'GET /v1/recs HTTP/1.1\r\nHost: a\r\nCookie: ' + b'c' * 12000 + b'\r\n\r\n', 431)):
    raw = exchange(data)
    if data.startswith(b'GET /healthz'):  # pipelined behind a kept-alive request: its 200 first
        st, fields, body = one(raw[:raw.index(b'\r\n\r\n') + 4 + 15], 'pipelined')
        assert st == 200 and body == b'{"status":"ok"}', raw[:300]
        raw = raw[raw.index(b'\r\n\r\n') + 4 + 15:]
    if code == 431:
        r = refused(raw, 'far too large', 431, 'header_fields_too_large')
        assert '12288' in r, r
    else:
        r = refused(raw, 'far too long', 414, 'uri_too_long')
        assert r == 'request target longer than 8192 bytes', r
st, _, _ = one(exchange(b'GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'), 'after')
assert st == 200
PY
# Every request above was finished, those libmicrohttpd closes without
# its completion too (the 3,000 arguments): only the /metrics request that
# asks is in flight.
only_metrics_in_flight() { curl -s "$(url /metrics)" | grep -qx 'recedge_requests_in_flight 1'; }
wait_until 5 only_metrics_in_flight || fail "requests left in flight: $(curl -s "$(url /metrics)" | grep '^recedge_requests_in_flight')"
stop_server

# An allow-list: the request's Origin is named when listed, with Vary:
# Origin on every answer; Timing-Allow-Origin and the preflight's max-age
# from their flags.
start_server "$root" --cors-origin 'https://a.example, https://b.example' --timing-allow-origin '*' \
    --cors-max-age 600 --cors-headers 'Content-Type, X-Custom'
wait_until 5 is_ready || fail "not ready (allow-list)"
expect_status 200 GET '/v1/recs' -H 'Origin: https://b.example'
[ "$(header Access-Control-Allow-Origin)" = https://b.example ] || fail "allow-list: listed origin"
[ "$(header Vary)" = Origin ] || fail "allow-list: Vary"
[ "$(header Timing-Allow-Origin)" = '*' ] || fail "Timing-Allow-Origin"
expect_status 400 GET '/v1/recs?n=0' -H 'Origin: https://a.example'
[ "$(header Access-Control-Allow-Origin)" = https://a.example ] || fail "allow-list on an error"
expect_status 200 GET '/v1/recs' -H 'Origin: https://evil.example'
[ -z "$(header Access-Control-Allow-Origin)" ] || fail "allow-list: unlisted origin named"
[ "$(header Vary)" = Origin ] || fail "allow-list: Vary without a match"
expect_status 200 GET '/v1/recs'
[ -z "$(header Access-Control-Allow-Origin)" ] || fail "allow-list: no Origin"
expect_status 204 OPTIONS /v1/recs -H 'Origin: https://a.example' -H 'Access-Control-Request-Method: GET'
[ "$(header Access-Control-Allow-Origin)" = https://a.example ] || fail "allow-list preflight"
[ "$(header Access-Control-Allow-Headers)" = 'Content-Type, X-Custom' ] || fail "--cors-headers"
[ "$(header Access-Control-Max-Age)" = 600 ] || fail "--cors-max-age"
expect_status 204 OPTIONS /v1/recs -H 'Origin: https://evil.example' -H 'Access-Control-Request-Method: GET'
[ -z "$(header Access-Control-Allow-Origin)$(header Access-Control-Allow-Headers)" ] || fail "preflight of an unlisted origin"
# A request target beyond the connection memory, refused before
# libmicrohttpd parsed a header: its Origin read from the rest of the head.
python3 - "$port" <<'PY' || fail "allow-list: over-long target"
import sys
from rawhttp import exchange
for origin, want in ((b'https://b.example', b'Access-Control-Allow-Origin: https://b.example\r\n'), (b'https://evil.example', None)):
    raw = exchange(int(sys.argv[1]), b'GET /v1/recs?x=' + b'a' * 40000 + b' HTTP/1.1\r\nHost: a\r\nOrigin: ' + origin + b'\r\n\r\n')
    head = raw.partition(b'\r\n\r\n')[0] + b'\r\n'
    assert raw.startswith(b'HTTP/1.1 414 ') and b'\r\nVary: Origin\r\n' in head, raw[:300]
    assert (want in head) if want else (b'Access-Control-Allow-Origin' not in head), raw[:300]
PY
stop_server

# An empty --cors-origin sends no ACAO; a bad flag is refused with status 2.
start_server "$root" --cors-origin=
wait_until 5 is_ready || fail "not ready (third start)"
expect_status 200 GET '/v1/recs'
[ -z "$(header Access-Control-Allow-Origin)" ] || fail "ACAO sent although disabled"
stop_server
rc=0
"$recedge" --port 70000 2> /dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "bad --port exited with $rc"
help=$("$recedge" --help)
grep -q -- '--cors-origin' <<< "$help" || fail "--help lacks options"
grep -q 'EDGEREC_CONN_MEMORY' <<< "$help" || fail "--help lacks --conn-memory"
rc=0
"$recedge" --conn-memory 1024 2> /dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "--conn-memory below 4096 exited with $rc"
grep -q 'EDGEREC_ROOT' <<< "$help" || fail "--help lacks environment variables"

echo "edge_http: ok"
