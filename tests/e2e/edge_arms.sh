#!/usr/bin/env bash
# tests/e2e/edge_arms.sh - experiment arms through the real recedge
# (schemas/experiments.md, schemas/http.md):
#   - a version carrying experiments.json assigns each cookie the arm its
#     bucket falls in, by the documented XXH3 formula (computed here with
#     the system's libxxhash), and says so in the JSON and X-Experiment;
#   - every 200 has a unique 32-hex rec_id, also in X-Rec-Id, and both
#     headers are named in Access-Control-Expose-Headers;
#   - the holdout arm gets no cf item, control does; an arm without cf too;
#   - /metrics counts answers per arm;
#   - the arms survive a restart; a version whose experiments.json breaks
#     a rule is refused and the old one (with its experiment) keeps
#     serving; a version without one runs no experiment.
#
# Environment (tests/CMakeLists.txt): BIN, EDGEREC_TEST_TMP.
set -euo pipefail
source "$(dirname "$0")/edge_common.bash"
recctl=$BIN/edge/recctl
python3 -c 'import ctypes; ctypes.CDLL("libxxhash.so.0")' 2> /dev/null ||
    { echo "edge_arms: libxxhash.so.0 not loadable from python; skipped"; exit 77; }

cat > "$tmp/exp.json" << 'EOF'
{"id": "ab-1", "salt": "s1", "arms": [
  {"name": "control", "buckets": [0, 4900], "control": true},
  {"name": "no-cf", "buckets": [4900, 9800], "tiers": ["image", "segment", "global"]},
  {"name": "holdout", "buckets": [9800, 10000], "holdout": true}]}
EOF
root=$tmp/root
v1=$("$mkcache" --root "$root" --version v1 --cookies 3000 --flip --experiments "$tmp/exp.json") ||
    fail "mkcache v1"
cmp -s "$tmp/exp.json" "$root/versions/v1/experiments.json" || fail "v1 does not carry experiments.json"
start_server "$root" --cors-origin '*'
wait_until 10 is_ready || fail "recedge not ready"

# check COOKIES_FROM COOKIES_TO OUT: ask for u<i> (and one request without a
# cookie), check every answer, write {cookie: arm} to OUT.
check() {
    python3 - "$port" "$1" "$2" "$3" << 'PY' || fail "answers (see above)"
import ctypes, http.client, json, re, sys
port, lo, hi, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
xx = ctypes.CDLL("libxxhash.so.0")
xx.XXH3_64bits.restype = xx.XXH3_64bits_withSeed.restype = ctypes.c_uint64
xx.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
xx.XXH3_64bits_withSeed.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]
seed = xx.XXH3_64bits(b"s1", 2)
arms = [("control", 0, 4900), ("no-cf", 4900, 9800), ("holdout", 9800, 10000)]
def expected(cookie):
    b = xx.XXH3_64bits_withSeed(cookie, len(cookie), seed) % 10000
    return next(name for name, f, t in arms if f <= b < t)
c = http.client.HTTPConnection("127.0.0.1", port)
seen, got, cf_in = set(), {}, {a[0]: 0 for a in arms}
def ask(query):
    c.request("GET", "/v1/recs?" + query, headers={"Origin": "https://shop.example"})
    r = c.getresponse()
    body = r.read()
    assert r.status == 200, (query, r.status, body)
    d = json.loads(body)
    rid = d["rec_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid), d
    assert rid not in seen, ("rec_id repeated", rid)
    seen.add(rid)
    assert r.getheader("X-Rec-Id") == rid, r.getheaders()
    assert r.getheader("Access-Control-Expose-Headers") == "X-Rec-Id, X-Experiment", r.getheaders()
    keys = list(d)
    return d, r, keys
d, r, keys = ask("n=3")  # no cookie, no experiment
assert keys == ["version", "route", "rec_id", "items"], keys
assert r.getheader("X-Experiment") is None
for i in range(lo, hi):
    cookie = "u%d" % i
    d, r, keys = ask("cookie=%s&n=5&loc=US&device=mobile" % cookie)
    want = expected(cookie.encode())
    assert keys == ["version", "route", "rec_id", "experiment", "arm", "items"], keys
    assert d["experiment"] == "ab-1" and d["arm"] == want, (cookie, d, want)
    assert r.getheader("X-Experiment") == "ab-1/" + want, r.getheaders()
    sources = {it["source"] for it in d["items"]}
    if want in ("holdout", "no-cf"):
        assert "cf" not in sources, (cookie, d)
    if want == "holdout":
        assert sources <= {"segment", "global"}, (cookie, d)
    cf_in[want] += "cf" in sources
    got[cookie] = want
counts = {a[0]: sum(1 for v in got.values() if v == a[0]) for a in arms}
if hi - lo >= 1000:
    assert cf_in["control"] == counts["control"], (cf_in, counts)  # every u<i> has a CF list
    assert all(counts.values()), counts
json.dump(got, open(out, "w"))
print("edge_arms: %d answers checked, arms %s" % (hi - lo + 1, counts))
PY
}
check 0 3000 "$tmp/arms1.json"
for arm in control no-cf holdout; do
    want=$(python3 -c "import json,sys; print(sum(1 for v in json.load(open(sys.argv[1])).values() if v == sys.argv[2]))" \
        "$tmp/arms1.json" "$arm")
    [ "$(metric "edgerec_experiment_requests_total{experiment=\"ab-1\",arm=\"$arm\"}")" = "$want" ] ||
        fail "metric for $arm: $(curl -sS "$(url /metrics)" | grep experiment_requests)"
done
[ "$(curl -fsS "$(url /v1/version)" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("experiment"))')" = ab-1 ] ||
    fail "/v1/version does not name the experiment: $(curl -sS "$(url /v1/version)")"
echo "edge_arms: ok: arms by the formula, rec_id and headers on every answer, holdout without cf, metrics per arm, /v1/version names ab-1"

# A restart keeps every cookie's arm.
stop_server
start_server "$root" --cors-origin '*'
wait_until 10 is_ready || fail "recedge not ready after the restart"
check 0 600 "$tmp/arms2.json"
python3 - "$tmp/arms1.json" "$tmp/arms2.json" << 'PY' || fail "arms changed across a restart"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert all(a[k] == v for k, v in b.items())
PY

# A version whose experiments.json breaks a rule (listed with its true size
# and hash) is refused; v1 keeps serving with its experiment.
"$mkcache" --root "$root" --version v2 --cookies 3000 --experiments "$tmp/exp.json" > /dev/null || fail "mkcache v2"
python3 - "$root/versions/v2" << 'PY' || fail "tampering v2"
import ctypes, json, sys
d = sys.argv[1]
text = open(d + "/experiments.json").read().replace('"holdout": true', '"holdout": true, "tiers": ["cf"]')
open(d + "/experiments.json", "w").write(text)
xx = ctypes.CDLL("libxxhash.so.0")
xx.XXH3_64bits.restype = ctypes.c_uint64
xx.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
m = json.load(open(d + "/manifest.json"))
for f in m["files"]:
    if f["name"] == "experiments.json":
        f["bytes"], f["xxh3"] = len(text), "%016x" % xx.XXH3_64bits(text.encode(), len(text))
json.dump(m, open(d + "/manifest.json", "w"))
PY
flip_to "$root" v2
wait_until 10 grep -q 'event=refuse version=v2 .*holdout and tiers together' "$tmp/server.log" ||
    fail "v2 was not refused for its experiments.json"
serves_version v1 || fail "v1 no longer served after v2 was refused"
[ "$(metric recedge_cache_refused_total)" = 1 ] || fail "refusal not counted"
check 0 100 "$tmp/arms3.json"
if [ -x "$recctl" ]; then
    rc=0
    "$recctl" verify --root "$root" v2 2> "$tmp/verify.err" || rc=$?
    [ "$rc" -ne 0 ] && grep -q "experiments.json': arms\[2\] ('holdout'): holdout and tiers together" "$tmp/verify.err" ||
        fail "recctl verify v2: exit $rc, $(cat "$tmp/verify.err")"
fi
echo "edge_arms: ok: arms kept across a restart; a bad experiments.json refused (recedge, recctl verify), v1 kept"

# A version without experiments.json runs no experiment.
"$mkcache" --root "$root" --version v3 --cookies 3000 > /dev/null || fail "mkcache v3"
flip_to "$root" v3
wait_until 10 serves_version v3 || fail "v3 not served"
expect_status 200 GET '/v1/recs?cookie=u1&n=3'
[ "$(json_get 'list(d)')" = "['version', 'route', 'rec_id', 'items']" ] || fail "v3 answer: $(cat "$tmp/body")"
[ -z "$(header X-Experiment)" ] || fail "X-Experiment without an experiment"
[ "$(header X-Rec-Id)" = "$(json_get 'd["rec_id"]')" ] || fail "X-Rec-Id differs from rec_id"
expect_status 200 GET /v1/version
[ "$(json_get '"experiment" in d')" = False ] || fail "/v1/version of v3 names an experiment: $(cat "$tmp/body")"
stop_server
echo "edge_arms: ok: a version without experiments.json answers without experiment fields"
