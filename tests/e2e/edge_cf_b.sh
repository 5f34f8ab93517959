#!/usr/bin/env bash
# tests/e2e/edge_cf_b.sh - an experiment arm on a second CF parameter set
# (schemas/experiments.md "cf", schemas/params.md "A second parameter
# set"), end to end:
#   - recbuild refuses --experiments naming cookie_b without --cf-b-params,
#     and a --cf-b-params file that breaks the params format;
#   - recbuild --cf-b-params FILE trains a second model over the same
#     events into cookie_b; the manifest counts it and records the second
#     set with its holdout evaluation; recctl verify walks it;
#   - recedge answers an arm with "cf": "cookie_b" from cookie_b: each cf
#     answer there equals `recctl get cookie_b` for the cookie, control's
#     equals `recctl get cookie`, and the two sets differ for some cookies.
#
# Environment: BIN, EDGEREC_TEST_TMP (tests/CMakeLists.txt). Exits 77
# while recbuild, recgen, recctl or python3's libxxhash is missing.
set -euo pipefail
source "$(dirname "$0")/edge_common.bash"

recbuild=$BIN/builder/recbuild
recgen=$BIN/builder/recgen
recctl=$BIN/edge/recctl
for need in "$recbuild" "$recgen" "$recctl"; do
    [ -x "$need" ] || { echo "edge_cf_b: $need not built; skipped"; exit 77; }
done
python3 -c 'import ctypes; ctypes.CDLL("libxxhash.so.0")' 2> /dev/null ||
    { echo "edge_cf_b: libxxhash.so.0 not loadable from python; skipped"; exit 77; }
ok() { echo "edge_cf_b: ok: $*"; }

data=$tmp/data
"$recgen" --out "$data" --log-level warn --seed 3 --events 40000 --products 800 --categories 8 --dim 16 \
    || fail "recgen exited with $?"
common=(--events "$data/events.csv" --catalog "$data/catalog.csv" --seed 7 --threads 2 --tune off
    --iterations 3 --factors 8 --progress never --log-level info --holdout 1)
cat > "$tmp/exp.json" << 'EOF'
{"id": "cfb-1", "salt": "s1", "arms": [
  {"name": "control", "buckets": [0, 5000], "control": true},
  {"name": "second", "buckets": [5000, 10000], "cf": "cookie_b"}]}
EOF
# The second set: fewer factors, a heavier view weight; the rest as the build's.
printf '# second set\nfactors = 4\nreg = 2\nweight-view = 3\n' > "$tmp/b.conf"

# ---- refusals before any work ----
rc=0
"$recbuild" "${common[@]}" --out "$tmp/r0" --experiments "$tmp/exp.json" 2> "$tmp/r0.log" || rc=$?
[ "$rc" -eq 2 ] || fail "--experiments naming cookie_b without --cf-b-params: exit $rc, want 2"
grep -q "arms\[1\] ('second') reads its cf tier from cookie_b, which only --cf-b-params builds" "$tmp/r0.log" ||
    { cat "$tmp/r0.log" >&2; fail "no message naming the arm"; }
[ ! -e "$tmp/r0/versions" ] || fail "a refused build left versions/"
printf 'factors = 4\nout = /tmp\n' > "$tmp/bad.conf"
rc=0
"$recbuild" "${common[@]}" --out "$tmp/r0" --cf-b-params "$tmp/bad.conf" 2> "$tmp/r0.log" || rc=$?
[ "$rc" -eq 2 ] || fail "a bad --cf-b-params file: exit $rc, want 2"
grep -q "bad.conf:2: 'out' is not a tunable parameter" "$tmp/r0.log" || { cat "$tmp/r0.log" >&2; fail "bad file message"; }
ok "refusals"

# ---- the build ----
root=$tmp/root
"$recbuild" "${common[@]}" --out "$root" --experiments "$tmp/exp.json" --cf-b-params "$tmp/b.conf" \
    > "$tmp/b.out" 2> "$tmp/b.log" || { cat "$tmp/b.log" >&2; fail "recbuild --cf-b-params exited with $?"; }
v=$(cat "$tmp/b.out")
grep -q 'event=params_b file=".*b.conf" factors=4 reg=2 alpha=10 iterations=3 weight_view=3 ' "$tmp/b.log" ||
    fail "no params_b line with the file's values over the build's"
python3 - "$root/versions/$v/manifest.json" << 'PY' || fail "manifest: cookie_b count or cf_b section"
import json, sys
m = json.load(open(sys.argv[1]))
c = m["counts"]
assert c["cookie_b"] > 50 and c["cookie_b"] == c["cookie"], c
b = m["cf_b"]
assert b["db"] == "cookie_b" and b["params_file"] == "b.conf", b
assert b["factors"] == 4 and b["reg"] == 2 and b["iterations"] == 3 and b["weights"]["view"] == 3, b
assert b["alpha"] == m["parameters"]["alpha"] and b["half_life_days"] == m["parameters"]["half_life_days"], b
e = b["evaluation"]
assert e["k"] == 10 and e["users"] == m["evaluation"]["users"] and 0 <= e["ndcg"] <= 1 and "degenerate" in e, e
assert m["parameters"]["factors"] == 8, m["parameters"]
PY
"$recctl" verify --root "$root" > "$tmp/verify.out" || fail "recctl verify exited with $?"
grep -q "cookie_b [1-9]" "$tmp/verify.out" || fail "recctl verify does not count cookie_b: $(cat "$tmp/verify.out")"
ok "build, manifest, verify"

# ---- recedge: the arm reads cookie_b ----
start_server "$root"
cut -d, -f2 "$data/events.csv" | tail -n +2 | sort -u > "$tmp/cookies"
# Ask for every cookie; keep those answered from cf, with their arm and items.
python3 - "$port" "$tmp/cookies" "$tmp/cf.tsv" << 'PY' || fail "answers (see above)"
import ctypes, http.client, json, sys
port, cookies, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
xx = ctypes.CDLL("libxxhash.so.0")
xx.XXH3_64bits.restype = xx.XXH3_64bits_withSeed.restype = ctypes.c_uint64
xx.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
xx.XXH3_64bits_withSeed.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]
seed = xx.XXH3_64bits(b"s1", 2)
c = http.client.HTTPConnection("127.0.0.1", port)
arms = {"control": 0, "second": 0}
with open(out, "w") as f:
    for cookie in open(cookies).read().split():
        c.request("GET", "/v1/recs?cookie=%s&n=10" % cookie)
        r = c.getresponse()
        body = r.read()
        assert r.status == 200, (cookie, r.status, body)
        d = json.loads(body)
        b = xx.XXH3_64bits_withSeed(cookie.encode(), len(cookie), seed) % 10000
        want = "control" if b < 5000 else "second"
        assert d.get("experiment") == "cfb-1" and d.get("arm") == want, (cookie, want, d)
        if d["route"] != "cf":
            continue
        cf = [i["product"] for i in d["items"] if i["source"] == "cf"]
        assert cf and d["items"][0]["source"] == "cf", d
        arms[want] += 1
        f.write("%s\t%s\t%s\n" % (cookie, want, ",".join(cf)))
assert arms["control"] > 20 and arms["second"] > 20, arms
print("edge_cf_b: cf answers per arm:", arms)
PY
# Each cf answer against the list recctl reads from the arm's DB (its first
# n entries: nothing is on screen), and the other DB's list for the count
# of cookies the two sets answer differently.
python3 - "$recctl" "$root" "$tmp/cf.tsv" << 'PY' || fail "cf answers against recctl get (see above)"
import json, subprocess, sys
recctl, root, tsv = sys.argv[1:4]
def get(db, cookie):
    out = subprocess.run([recctl, "get", "--root", root, "--json", db, cookie], check=True, capture_output=True).stdout
    return ",".join(e["product"] for e in json.loads(out)["items"][:10])
n = differ = 0
for line in open(tsv):
    cookie, arm, got = line.split()
    db, other = ("cookie_b", "cookie") if arm == "second" else ("cookie", "cookie_b")
    want = get(db, cookie)
    assert got == want, "cookie %s (arm %s): recedge answered %s, %s holds %s" % (cookie, arm, got, db, want)
    differ += got != get(other, cookie)
    n += 1
assert differ > n // 4, "only %d of %d cookies get different lists from the two sets" % (differ, n)
print("edge_cf_b: ok: %d cf answers equal their arm's DB; %d differ from the other set's" % (n, differ))
PY

grep -q 'recedge_cache_records{db="cookie_b"} [1-9]' <(curl -s "$(url /metrics)") || fail "/metrics lacks cookie_b"
curl -s "$(url /v1/version)" | grep -q '"cookie_b":[1-9]' || fail "/v1/version lacks cookie_b"
stop_server
ok "metrics and /v1/version count cookie_b"
