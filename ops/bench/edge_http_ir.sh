#!/usr/bin/env bash
# ops/bench/edge_http_ir.sh - instructions per HTTP request of recedge,
# under callgrind: a measure of the request path (libmicrohttpd, the
# checks of the request line and headers, routing, the answer) that does
# not move with the load of a shared machine, unlike wrk's figures.
#
#   ops/bench/edge_http_ir.sh RECEDGE ROOT [RECEDGE_FLAGS...]
#
# ROOT is a cache root whose `current` version has a product list "p1"
# (tests/e2e/edge_http.sh's fixture does; mkcache writes one). For each
# kind of request, "simple" (Host only) and "browser" (Host and the 17
# headers of a Chrome fetch behind a CDN), recedge runs under callgrind
# twice, serving 1,000 and then 4,000 keep-alive requests of
# /v1/recs?products=p1&n=1..3 on one connection; the difference divided by
# 3,000 is the cost of one request without start-up and shutdown. memset
# is shown apart: libmicrohttpd clears the whole connection memory
# (--conn-memory) after every request with `rep stosb`, which callgrind
# counts as one instruction per byte although the CPU clears 32 or more
# bytes a cycle.
set -euo pipefail
export LC_ALL=C
[ $# -ge 2 ] || { sed -n '2,20s/^# \{0,1\}//p' "$0"; exit 2; }
recedge=$1 root=$2
shift 2
for t in valgrind callgrind_annotate curl python3; do
    command -v "$t" > /dev/null || { printf 'edge_http_ir.sh: %s is missing\n' "$t" >&2; exit 1; }
done
scratch=$(mktemp -d "${TMPDIR:-/tmp}/edge-http-ir.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

client() { # port count kind
    python3 - "$@" <<'PY'
import socket, sys
port, k, kind = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
browser = (b'User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n'
           b'Accept: */*\r\nAccept-Language: en-US,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n'
           b'Origin: https://www.shop.example\r\nReferer: https://www.shop.example/category/shoes/p1?utm_source=newsletter&utm_medium=email\r\n'
           b'sec-ch-ua: "Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"\r\nsec-ch-ua-mobile: ?0\r\nsec-ch-ua-platform: "Windows"\r\n'
           b'Sec-Fetch-Site: same-site\r\nSec-Fetch-Mode: cors\r\nSec-Fetch-Dest: empty\r\nPriority: u=1, i\r\n'
           b'X-Forwarded-For: 203.0.113.7, 198.51.100.23\r\nX-Forwarded-Proto: https\r\nVia: 1.1 edge-cache\r\n')
extra = browser if kind == 'browser' else b''
s = socket.create_connection(('127.0.0.1', port))
for i in range(k):
    s.sendall(b'GET /v1/recs?products=p1&n=%d HTTP/1.1\r\nHost: 127.0.0.1\r\n' % (1 + i % 3) + extra + b'\r\n')
    data = b''
    while b'\r\n\r\n' not in data:
        data += s.recv(65536)
    head, _, body = data.partition(b'\r\n\r\n')
    n = int([l for l in head.split(b'\r\n') if l.lower().startswith(b'content-length:')][0].split(b':')[1])
    while len(body) < n:
        body += s.recv(65536)
    assert head.startswith(b'HTTP/1.1 200'), head[:100]
PY
}

run() { # count kind [recedge flags] -> "total memset" instructions
    local count=$1 kind=$2 port out pid
    shift 2
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    out=$scratch/cg.$count.$kind
    valgrind --tool=callgrind --callgrind-out-file="$out" "$recedge" --root "$root" --bind 127.0.0.1 \
        --port "$port" --threads 1 --log-level error "$@" 2> /dev/null &
    pid=$!
    for _ in $(seq 1 200); do
        curl -fs -o /dev/null "http://127.0.0.1:$port/readyz" && break
        sleep 0.2
    done
    client "$port" "$count" "$kind"
    kill -TERM "$pid"
    wait "$pid" || true
    callgrind_annotate "$out" 2> /dev/null | awk '
        /PROGRAM TOTALS/ { gsub(",", "", $1); t = $1 }
        /memset/ { gsub(",", "", $1); m += $1 }
        END { print t, m + 0 }'
}

printf 'recedge %s %s\n' "$recedge" "$*"
for kind in simple browser; do
    read -r t1 m1 <<< "$(run 1000 "$kind" "$@")"
    read -r t2 m2 <<< "$(run 4000 "$kind" "$@")"
    printf '%-8s %6d instructions/request, memset %6d, without memset %6d\n' "$kind" \
        $(((t2 - t1) / 3000)) $(((m2 - m1) / 3000)) $(((t2 - t1 - m2 + m1) / 3000))
done
