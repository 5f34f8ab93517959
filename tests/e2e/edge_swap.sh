#!/usr/bin/env bash
# tests/e2e/edge_swap.sh - recedge picks up cache versions while serving:
# starts with no version (healthz 200, readyz 503, recs 503), takes the
# first valid one, follows flips of `current`, refuses a corrupt and a
# truncated version, and two whose files match their manifests but hold a
# bad record (a list with a wrong record checksum, a list that repeats a
# product: only a walk of every record finds them) - the old one keeps
# serving, the refused counter grows -, retries on SIGHUP, rolls back, never
# fails a request during flips, and exits 0 on SIGTERM.
#
# Environment (tests/CMakeLists.txt): BIN, SRC, EDGEREC_TEST_TMP.
# Exits 77 (skipped) while recedge or mkcache is not built.
set -euo pipefail
source "$(dirname "$0")/edge_common.bash"

root=$tmp/cache
mkdir -p "$root"

first_product() {
    curl -s "$(url /v1/recs)" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["product"])'
}

serves_product() { [ "$(first_product 2> /dev/null)" = "$1" ]; }

refused_at_least() { [ "$(metric recedge_cache_refused_total)" -ge "$1" ]; }

# --- no version yet ---
start_server "$root"
expect_status 200 GET /healthz
expect_status 503 GET /readyz
json_ok
expect_status 503 GET '/v1/recs?products=a'
json_ok
[ "$(json_get 'd["error"]')" = not_ready ] || fail "503 body"
[ "$(header Cache-Control)" = no-store ] || fail "a 503 must not be cached"
expect_status 503 GET /v1/version
expect_status 400 GET '/v1/recs?n=0'   # bad input is still a 400
[ "$(metric recedge_cache_loaded)" = 0 ] || fail "loaded gauge before any version"

# --- the first version appears ---
version 20260101T000000Z
wait_until 10 is_ready || fail "first version not picked up"
wait_until 5 serves_product from-20260101T000000Z || fail "first version not served"
[ "$(metric recedge_cache_swaps_total)" = 1 ] || fail "swaps after the first load"

# --- a new version, flipped while requests run ---
python3 - "$port" > "$tmp/load.out" 2>&1 <<'PY' &
import http.client, json, sys, time
port = int(sys.argv[1]); bad = 0; n = 0; end = time.time() + 4
c = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
while time.time() < end:
    c.request('GET', '/v1/recs?n=1'); r = c.getresponse(); body = r.read(); n += 1
    if r.status != 200 or not json.loads(body)['items'][0]['product'].startswith('from-'):
        bad += 1
print(n, bad)
sys.exit(1 if bad or n < 50 else 0)
PY
load_pid=$!
version 20260101T010000Z
wait_until 10 serves_version 20260101T010000Z || fail "flip to the second version not picked up"
serves_product from-20260101T010000Z || fail "second version's data not served"
version 20260101T020000Z
wait_until 10 serves_version 20260101T020000Z || fail "flip to the third version not picked up"
wait "$load_pid" || fail "requests failed during flips: $(cat "$tmp/load.out")"
echo "edge_swap: $(cut -d' ' -f1 "$tmp/load.out") requests during flips, none failed"
grep -q 'event=close version=20260101T000000Z' "$tmp/server.log" || fail "the old version was never closed"

# --- a corrupt version is refused; the old one keeps serving ---
version 20260101T030000Z --no-flip
data=$root/versions/20260101T030000Z/data.mdb
size=$(stat -c %s "$data")
printf '\xa5' | dd of="$data" bs=1 seek=$((size / 2)) conv=notrunc status=none
refused=$(metric recedge_cache_refused_total)
flip_to "$root" 20260101T030000Z
wait_until 10 refused_at_least $((refused + 1)) || fail "corrupt version not refused"
serves_version 20260101T020000Z || fail "old version not kept after a refusal"
expect_status 200 GET '/v1/recs'
[ "$(json_get 'd["version"]')" = 20260101T020000Z ] || fail "recs not from the old version"
grep -q 'event=refuse version=20260101T030000Z' "$tmp/server.log" || fail "refusal not logged"
expect_status 200 GET /readyz

# not retried by the poll ...
sleep 0.5
[ "$(metric recedge_cache_refused_total)" = $((refused + 1)) ] || fail "refused version retried without a change"
# ... but on SIGHUP
kill -HUP "$server_pid"
wait_until 10 refused_at_least $((refused + 2)) || fail "SIGHUP did not retry"
serves_version 20260101T020000Z || fail "old version not kept after SIGHUP"

# --- a truncated version is refused too ---
version 20260101T040000Z --no-flip
truncate -s 4096 "$root/versions/20260101T040000Z/data.mdb"
flip_to "$root" 20260101T040000Z
wait_until 10 refused_at_least $((refused + 3)) || fail "truncated version not refused"
serves_version 20260101T020000Z || fail "old version not kept after a truncated one"

# --- files that match the manifest, records that do not: refused too ---
"$mkcache" --root "$root" --version 20260101T050000Z --bad-record > /dev/null || fail "mkcache failed"
flip_to "$root" 20260101T050000Z
wait_until 10 refused_at_least $((refused + 4)) || fail "version with a bad record checksum not refused"
grep -q 'event=refuse version=20260101T050000Z .*checksum' "$tmp/server.log" || fail "bad record reason not logged"
"$mkcache" --root "$root" --version 20260101T060000Z --dup-entry > /dev/null || fail "mkcache failed"
flip_to "$root" 20260101T060000Z
wait_until 10 refused_at_least $((refused + 5)) || fail "version with a repeated product not refused"
grep -q 'event=refuse version=20260101T060000Z .*repeats the product' "$tmp/server.log" \
    || fail "repeated product reason not logged"
serves_version 20260101T020000Z || fail "old version not kept after versions with bad records"

# --- rollback to an older version ---
flip_to "$root" 20260101T000000Z
wait_until 10 serves_version 20260101T000000Z || fail "rollback not picked up"
serves_product from-20260101T000000Z || fail "rolled-back data not served"
[ "$(metric recedge_cache_swaps_total)" = 4 ] || fail "swaps: $(metric recedge_cache_swaps_total), expected 4"
[ "$(metric recedge_cache_refused_total)" = $((refused + 5)) ] || fail "refused counter"
# Read the whole body before matching: under pipefail a grep -q that stops
# early makes curl fail with a write error on a larger body.
metrics=$(curl -sS "$(url /metrics)")
grep -q '^recedge_cache_info{version="20260101T000000Z"} 1$' <<< "$metrics" || fail "info metric after rollback"

stop_server
echo "edge_swap: ok"
