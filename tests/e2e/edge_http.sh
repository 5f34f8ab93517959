#!/usr/bin/env bash
# tests/e2e/edge_http.sh - the real recedge on a fixture cache over a real
# loopback socket: every status of schemas/http.md (200, 204, 400, 404, 405,
# 503, HEAD), CORS and Cache-Control headers from flags and environment,
# JSON validity with hostile ids, /v1/version, /metrics moving with traffic,
# /readyz, and exit status 0 on SIGTERM.
#
# Environment (tests/CMakeLists.txt): BIN, SRC, EDGEREC_TEST_TMP.
# Exits 77 (skipped) while recedge or mkfixture is not built.
set -euo pipefail
source "$(dirname "$0")/edge_common.bash"

root=$tmp/cache
# %22 quote, %5C backslash, %01 %1F control bytes, %FF invalid UTF-8,
# %00 NUL, %C3%A9 a valid e-acute.
"$mkfixture" --root "$root" --version 20260101T000000Z <<'EOF' || fail "mkfixture failed"
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
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5)
s.sendall(b'HEAD /v1/recs?products=p1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
data = b''
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
head, sep, body = data.partition(b'\r\n\r\n')
assert head.startswith(b'HTTP/1.1 200'), head
assert sep and body == b'', body[:100]
assert b'Content-Length: 0' not in head, head  # the GET length is announced
PY

# --- 400 ---
bad=(
    'cookie=%zz' 'products=a,%2' 'loc=%' 'n=0' 'n=101' 'n=abc' 'n=' 'products=a,,b' 'products=,'
    'cookie=a&cookie=b' 'x=%G0'
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
grep -q '^recedge_requests_total{endpoint="other",route="none",status="404"} 5$' "$tmp/body" || fail "404 counted"
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
grep -q 'event=listen .*conn_memory=5120' "$tmp/server.log" || fail "default --conn-memory is not 5120"

# --- limits of the default connection memory (schemas/http.md, "Limits") ---
# What fits: a browser's cross-origin request (its usual headers and those a
# CDN adds, 650 bytes) with 20 ids of 64 bytes, or with 1 KB of cookies and
# a short query. What does not (the largest valid query from a browser, a
# 40 KB request line, 40 KB of headers) is never answered 200, gets 414 /
# 431 or a closed connection from libmicrohttpd, and the server goes on
# serving.
python3 - "$port" <<'PY' || fail "connection memory limits"
import socket, sys
port = int(sys.argv[1])
def send(target, headers=b''):
    s = socket.create_connection(('127.0.0.1', port), timeout=10)
    data = b''
    try:
        s.sendall(b'GET ' + target + b' HTTP/1.1\r\nHost: 127.0.0.1\r\n' + headers + b'Connection: close\r\n\r\n')
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass  # refused while the client was still sending
    s.close()
    return data
browser = (b'User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n'
           b'Accept: */*\r\nAccept-Language: en-US,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n'
           b'Origin: https://www.shop.example\r\nReferer: https://www.shop.example/category/shoes/p1?utm_source=newsletter&utm_medium=email\r\n'
           b'sec-ch-ua: "Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"\r\nsec-ch-ua-mobile: ?0\r\nsec-ch-ua-platform: "Windows"\r\n'
           b'Sec-Fetch-Site: same-site\r\nSec-Fetch-Mode: cors\r\nSec-Fetch-Dest: empty\r\nPriority: u=1, i\r\n'
           b'X-Forwarded-For: 203.0.113.7, 198.51.100.23\r\nX-Forwarded-Proto: https\r\nVia: 1.1 edge-cache\r\n')
ids64 = b','.join(b'%d' % i + b'p' * 62 for i in range(10, 30))
r = send(b'/v1/recs?products=' + ids64, browser)
assert r.startswith(b'HTTP/1.1 200 '), r[:200]
r = send(b'/v1/recs?cookie=c1&products=p1,p2&n=10', browser + b'Cookie: ' + b'c' * 1024 + b'\r\n')
assert r.startswith(b'HTTP/1.1 200 '), r[:200]
ids256 = b','.join(b'%d' % i + b'p' * 254 for i in range(10, 30))
for target, headers, code in ((b'/v1/recs?products=' + ids256, browser, b'414'),
                              (b'/v1/recs?x=' + b'a' * 40000, b'', b'414'),
                              (b'/v1/recs?products=p1', b'Cookie: ' + b'c' * 40000 + b'\r\n', b'431')):
    r = send(target, headers)
    assert r == b'' or r.startswith(b'HTTP/1.1 ' + code + b' '), r[:200]
r = send(b'/healthz')
assert r.startswith(b'HTTP/1.1 200 '), r[:200]
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
