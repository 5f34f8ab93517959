#!/usr/bin/env bash
# tests/e2e/edge_exposure.sh - the exposure log and click beacons end to end
# (schemas/exposure.md; schemas/http.md, "/v1/event"), on the real recedge
# over loopback:
#   - with --exposure-log, every /v1/recs answer is one exposure line with
#     its rec_id, cookie, route, version and items; GET and POST beacons
#     (form-urlencoded and text/plain, as navigator.sendBeacon sends) answer
#     204 with CORS and are lines too; after SIGTERM every line is in a
#     closed *.jsonl file (none left .open), the files rotate by size, and
#     /metrics counted records and events;
#   - bad beacons get 400 with a JSON reason and CORS; an oversized POST
#     413 JSON; POST elsewhere 405; the preflight of /v1/event allows POST;
#   - --exposure-sample 0.5 logs all of a visitor's answers or none;
#   - with the log on a full file system (a 64 KiB tmpfs; exit 77 when it
#     cannot be mounted), /v1/recs still answers 200, /metrics counts
#     write_error drops, and SIGTERM still exits 0 with complete lines.
#
# Environment (tests/CMakeLists.txt): BIN, EDGEREC_TEST_TMP.
set -euo pipefail
source "$(dirname "$0")/edge_common.bash"

root=$tmp/cache
"$mkcache" --root "$root" --version v1 --flip --products 60 --cookies 30 > /dev/null || fail "mkcache"
log=$tmp/log
mkdir -p "$log"

R=0123456789abcdef0123456789abcdef

# --- requests and beacons, log on ---
start_server "$root" --exposure-log "$log" --node-name e2e-node --exposure-rotate-bytes 8192
wait_until 10 is_ready || fail "not ready"

: > "$tmp/answers"
for i in $(seq 0 59); do
    if [ $((i % 4)) -eq 3 ]; then
        q="products=p$i&n=5"            # no cookie
    else
        q="cookie=u$((i % 30))&n=10"
    fi
    [ "$(req GET "/v1/recs?$q")" = 200 ] || fail "/v1/recs?$q: $(cat "$tmp/body")"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps(d))' "$tmp/body" >> "$tmp/answers"
done
rec1=$(head -n 1 "$tmp/answers" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rec_id"])')
prod1=$(head -n 1 "$tmp/answers" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["product"])')

expect_status 204 GET "/v1/event?rec_id=$rec1&product=$prod1&cookie=u0"
[ "$(header Access-Control-Allow-Origin)" = "*" ] || fail "CORS on 204: $(cat "$tmp/headers")"
[ ! -s "$tmp/body" ] || fail "a body on 204"
expect_status 204 POST /v1/event --data "rec_id=$rec1&product=$prod1&type=cart&cookie=u0"
expect_status 204 POST /v1/event -H 'Content-Type: text/plain;charset=UTF-8' \
    --data "rec_id=$rec1&product=p%2C%22x&type=purchase"
[ "$(header Access-Control-Allow-Origin)" = "*" ] || fail "CORS on POST 204"
expect_status 204 GET "/v1/event?type=click&product=$prod1&rec_id=$R&utm_source=x"
expect_status 204 HEAD "/v1/event?rec_id=$R&product=p1" # checked, not logged
expect_status 200 HEAD "/v1/recs?cookie=u0" # shows nothing: not an exposure (the count of lines below)

# Bad beacons: 400 with a JSON reason and CORS.
bad() { # WANT_REASON METHOD PATH [curl args]
    local want=$1
    shift
    expect_status 400 "$@"
    json_ok
    [ "$(json_get 'd["error"]')" = bad_request ] || fail "$*: $(cat "$tmp/body")"
    [ "$(json_get 'd["reason"]')" = "$want" ] || fail "$*: reason $(json_get 'd["reason"]'), expected $want"
    [ "$(header Access-Control-Allow-Origin)" = "*" ] || fail "$*: no CORS on 400"
    [ "$(header Content-Type)" = application/json ] || fail "$*: Content-Type $(header Content-Type)"
}
bad "'rec_id' is required" GET "/v1/event?product=p1"
bad "'product' is required" GET "/v1/event?rec_id=$R"
bad "'rec_id' must be 32 lowercase hex characters" GET "/v1/event?rec_id=0123456789ABCDEF0123456789abcdef&product=p1"
bad "'rec_id' must be 32 lowercase hex characters" GET "/v1/event?rec_id=abc&product=p1"
bad "'type' must be click, cart or purchase" GET "/v1/event?rec_id=$R&product=p1&type=view"
bad "bad percent-encoding in 'product'" GET "/v1/event?rec_id=$R&product=p%zz"
bad "'product' is given more than once" GET "/v1/event?rec_id=$R&product=p1&product=p2"
long=$(printf 'x%.0s' $(seq 1 257))
bad "'product' is longer than 256 bytes" POST /v1/event --data "rec_id=$R&product=$long"
bad "'rec_id' is required" POST /v1/event --data ""

# Oversized POST: 413 JSON with CORS, whatever the Content-Type.
head -c 5000 /dev/zero | tr '\0' a > "$tmp/big"
expect_status 413 POST /v1/event -H 'Content-Type: text/plain' --data-binary @"$tmp/big"
json_ok
[ "$(json_get 'd["error"]')" = payload_too_large ] || fail "413 body: $(cat "$tmp/body")"
[ "$(header Access-Control-Allow-Origin)" = "*" ] || fail "no CORS on 413"
# Exactly 4096 bytes is allowed (and parsed: an unknown long parameter).
python3 -c "import sys; s='rec_id=$R&product=p1&pad='; sys.stdout.write(s + 'z' * (4096 - len(s)))" > "$tmp/max"
expect_status 204 POST /v1/event --data-binary @"$tmp/max"

# POST elsewhere: 405; other methods on /v1/event: 405 naming POST.
expect_status 405 POST /v1/recs --data 'a=1'
[ "$(header Allow)" = "GET, HEAD, OPTIONS" ] || fail "Allow on POST /v1/recs: $(header Allow)"
expect_status 405 PUT /v1/event --data 'a=1'
[ "$(header Allow)" = "GET, HEAD, POST, OPTIONS" ] || fail "Allow on PUT /v1/event: $(header Allow)"
json_ok

# Preflight.
expect_status 204 OPTIONS /v1/event -H 'Origin: https://shop.example' -H 'Access-Control-Request-Method: POST'
[ "$(header Access-Control-Allow-Methods)" = "GET, POST, OPTIONS" ] ||
    fail "preflight methods: $(header Access-Control-Allow-Methods)"
[ "$(header Access-Control-Allow-Origin)" = "*" ] || fail "preflight CORS"
expect_status 204 OPTIONS /v1/recs -H 'Origin: https://shop.example'
[ "$(header Access-Control-Allow-Methods)" = "GET, HEAD, OPTIONS" ] || fail "/v1/recs preflight changed"

# Counters before the stop (records are written within ~10 ms).
records_are() { [ "$(metric edgerec_log_records_total)" = "$1" ]; } # polled: the metric read on every try
wait_until 20 records_are 65 || fail "records: $(metric edgerec_log_records_total)"
[ "$(metric 'edgerec_events_total{type="click"}')" = 3 ] || fail "click events: $(metric 'edgerec_events_total{type="click"}')"
[ "$(metric 'edgerec_events_total{type="cart"}')" = 1 ] || fail "cart events"
[ "$(metric 'edgerec_events_total{type="purchase"}')" = 1 ] || fail "purchase events"
[ "$(metric 'edgerec_log_dropped_total{reason="buffer_full"}')" = 0 ] || fail "buffer_full drops"
[ "$(metric 'edgerec_log_dropped_total{reason="write_error"}')" = 0 ] || fail "write_error drops"
ls "$log"/*.jsonl.open > /dev/null 2>&1 || fail "no open file while serving"

stop_server
ls "$log"/*.jsonl.open > /dev/null 2>&1 && fail "a file left open after SIGTERM: $(ls "$log")"

python3 - "$log" "$tmp/answers" "$rec1" "$prod1" << 'PY' || fail "log contents"
import json, os, re, sys
log, answers, rec1, prod1 = sys.argv[1:]
names = sorted(os.listdir(log))
assert names and all(re.fullmatch(r"e2e-node-\d{8}T\d{6}Z-\d+\.jsonl", n) for n in names), names
assert len(names) >= 2, f"no rotation at 8192 bytes: {names}"
lines = []
for n in names:
    text = open(os.path.join(log, n), "rb").read()
    assert text.endswith(b"\n"), n
    for raw in text.decode("utf-8").splitlines():
        assert re.search(r'"ts":\d+\.\d{3},', raw), raw
        lines.append(json.loads(raw))
exp = [l for l in lines if l["type"] == "exposure"]
ev = [l for l in lines if l["type"] != "exposure"]
want = [json.loads(l) for l in open(answers)]
assert len(exp) == len(want) == 60, (len(exp), len(want))
by_id = {e["rec_id"]: e for e in exp}
assert len(by_id) == 60, "rec_ids not unique"
for i, a in enumerate(want):
    e = by_id[a["rec_id"]]
    assert e["route"] == a["route"] and e["version"] == a["version"] == "v1", (e, a)
    assert e["items"] == [it["product"] for it in a["items"]], (e, a)
    if i % 4 == 3:
        assert "cookie" not in e, e
    else:
        assert e["cookie"] == f"u{i % 30}", e
    assert ("experiment" in e) == ("experiment" in a) and ("arm" in e) == ("arm" in a), (e, a)
    assert set(e) <= {"type", "ts", "rec_id", "cookie", "experiment", "arm", "route", "version", "items"}, e
got = [(e["type"], e["rec_id"], e["product"], e.get("cookie")) for e in ev]
R = "0123456789abcdef0123456789abcdef"
assert got == [("click", rec1, prod1, "u0"), ("cart", rec1, prod1, "u0"), ("purchase", rec1, 'p,"x', None),
               ("click", R, prod1, None), ("click", R, "p1", None)], got
PY

# --- sampling by visitor ---
rm -rf "$log" && mkdir -p "$log"
start_server "$root" --exposure-log "$log" --node-name e2e-node --exposure-sample 0.5
wait_until 10 is_ready || fail "not ready"
for round in 1 2 3; do
    for c in $(seq 0 29); do
        curl -sS -o /dev/null "$(url "/v1/recs?cookie=u$c")" || fail "request"
    done
done
stop_server
python3 - "$log" << 'PY' || fail "sampling"
import collections, json, os, sys
log = sys.argv[1]
n = collections.Counter()
for f in os.listdir(log):
    for raw in open(os.path.join(log, f)):
        n[json.loads(raw)["cookie"]] += 1
assert all(v == 3 for v in n.values()), n       # all of a visitor's answers, or none
assert 5 <= len(n) <= 25, f"{len(n)} of 30 visitors logged at 0.5"
PY

# --- a full file system ---
full=$tmp/full
mkdir -p "$full"
if ! mount -t tmpfs -o size=64k tmpfs "$full" 2> "$tmp/mount.err"; then
    echo "edge_exposure: the full-file-system part needs a tmpfs mount (root): $(cat "$tmp/mount.err"); skipped"
    exit 77
fi
trap 'umount "$full" 2> /dev/null || true; cleanup' EXIT
start_server "$root" --exposure-log "$full" --node-name e2e-node
wait_until 10 is_ready || fail "not ready"
for i in $(seq 1 400); do
    code=$(curl -sS -o /dev/null -w '%{http_code}' "$(url "/v1/recs?cookie=u$((i % 30))&n=50")")
    [ "$code" = 200 ] || fail "request $i on a full file system: $code"
done
write_errors() { [ "$(metric 'edgerec_log_dropped_total{reason="write_error"}')" -gt 0 ]; }
wait_until 20 write_errors ||
    fail "no write_error drops on a full file system: $(curl -s "$(url /metrics)" | grep edgerec_log)"
# The writer may still hold lines: wait until it has written or dropped all 400.
settled() {
    records=$(metric edgerec_log_records_total)
    dropped=$(metric 'edgerec_log_dropped_total{reason="write_error"}')
    [ $((records + dropped)) -eq 400 ]
}
wait_until 20 settled || fail "records $records + dropped $dropped != 400"
curl -sS "$(url /healthz)" > /dev/null || fail "healthz"
stop_server
python3 - "$full" "$records" << 'PY' || fail "lines on the full file system"
import json, os, sys
d, records = sys.argv[1], int(sys.argv[2])
names = os.listdir(d)
assert not [n for n in names if n.endswith(".open")], names
n = 0
for f in names:
    text = open(os.path.join(d, f), "rb").read()
    assert not text or text.endswith(b"\n"), f
    for raw in text.splitlines():
        json.loads(raw)
        n += 1
assert n == records, (n, records)
PY
echo "edge_exposure: ok (records $records, write_error drops $dropped on a 64 KiB file system)"
