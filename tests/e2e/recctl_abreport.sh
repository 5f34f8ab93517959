#!/usr/bin/env bash
# tests/e2e/recctl_abreport.sh - `recctl ab-report` (edge/abreport.c) on
# experiments `recgen experiment` simulates with planted outcomes:
#
#   - planted lift: over 10 seeds with a +20 % lift (treatment) and -20 %
#     (holdout), the report's 95 % intervals of the relative lift and of the
#     difference contain what was planted (each metric in >= 8 of 10 runs,
#     P(fewer | correct intervals) ~ 1 %), the lift on clicks is
#     significant every time, visitors per arm equal the realised
#     assignment, and the attributed carts and purchases equal the planted
#     ones (the generator's noise is left out);
#   - A/A: over 20 seeds with no lift, at most 2 show p < 0.05 on the click
#     rate (the primary metric), and none trips the sample-ratio test;
#   - a skewed assignment (5 % of control logged as treatment) trips the
#     sample-ratio test (p < 0.001), the same seed unskewed does not;
#   - JSON parses, the HTML page is well-formed XML with its charts; bad
#     log lines are counted, not fatal; the window is applied; usage and
#     input errors exit 2 and 1; recgen experiment is deterministic.
#
# Environment (tests/CMakeLists.txt): BIN, EDGEREC_TEST_TMP. Exits 77
# (skipped) while recctl or recgen is not built, or without python3.
set -euo pipefail
: "${BIN:?BIN must name the CMake build folder}"
export LC_ALL=C
name=$(basename "$0" .sh)
recctl=$BIN/edge/recctl
recgen=$BIN/builder/recgen
for need in "$recctl" "$recgen"; do
    [ -x "$need" ] || { echo "$name: $need not built; skipped"; exit 77; }
done
command -v python3 > /dev/null || { echo "$name: python3 missing; skipped"; exit 77; }
mkdir -p "${EDGEREC_TEST_TMP:-/tmp}"
tmp=$(mktemp -d "${EDGEREC_TEST_TMP:-/tmp}/$name.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "$name: FAIL: $*" >&2
    exit 1
}

# ---- recgen experiment: usage, determinism ----
"$recgen" experiment --help | grep -q 'usage: recgen experiment' || fail "recgen experiment --help"
rc=0
"$recgen" experiment --out "$tmp/bad" --ctr 1.5 2> /dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "recgen experiment --ctr 1.5: exit $rc, expected 2"
"$recgen" experiment --out "$tmp/d1" --seed 5 --visitors 3000 2> /dev/null || fail "recgen experiment exited with $?"
"$recgen" experiment --out "$tmp/d2" --seed 5 --visitors 3000 2> /dev/null || fail "recgen experiment exited with $?"
diff -r "$tmp/d1" "$tmp/d2" > /dev/null || fail "recgen experiment: the same seed wrote different files"
ls "$tmp/d1/log"/*.jsonl > /dev/null || fail "recgen experiment: no closed .jsonl files"

# ---- recctl ab-report: usage and input errors ----
"$recctl" ab-report --help | grep -q 'usage: recctl ab-report' || fail "ab-report --help"
rc=0
"$recctl" ab-report --log "$tmp/d1/log" > /dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "ab-report without --experiments: exit $rc, expected 2"
rc=0
"$recctl" ab-report --experiments "$tmp/d1/experiments.json" --log "$tmp/none" > /dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "ab-report on a missing log: exit $rc, expected 1"
mkdir "$tmp/version"
rc=0
"$recctl" ab-report --experiments "$tmp/version" --log "$tmp/d1/log" > /dev/null 2> "$tmp/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q 'no experiments.json' "$tmp/err" || fail "a version without experiments.json: exit $rc"
cp "$tmp/d1/experiments.json" "$tmp/version/"
"$recctl" ab-report --experiments "$tmp/version" --log "$tmp/d1/log" > /dev/null || fail "ab-report on a version dir"

# ---- the statistics, run by run ----
python3 - "$recgen" "$recctl" "$tmp" <<'EOF' || fail "statistics checks"
import json, os, shutil, subprocess, sys
import xml.etree.ElementTree as ET

recgen, recctl, tmp = sys.argv[1:]
problems = []

def check(cond, what):
    if not cond:
        problems.append(what)

def simulate(d, *flags):
    subprocess.run([recgen, "experiment", "--out", d, *flags], check=True, stderr=subprocess.DEVNULL)
    return json.load(open(os.path.join(d, "truth.json")))

def report(d, *extra, fmt="json", events=True):
    cmd = [recctl, "ab-report", "--experiments", os.path.join(d, "experiments.json"),
           "--log", os.path.join(d, "log"), "--catalog", os.path.join(d, "catalog.csv"), "--format", fmt, *extra]
    if events:
        cmd += ["--events", os.path.join(d, "events.csv")]
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout
    return json.loads(out) if fmt == "json" else out

def inside(ci, v):
    return ci[0] is not None and ci[0] <= v <= ci[1]

def arm(rep, n):
    return next(a for a in rep["arms"] if a["name"] == n)

def comparison(rep, n):
    return next(c for c in rep["comparisons"] if c["arm"] == n)

# Planted lift: +20 % treatment, -20 % holdout, 10 seeds.
metrics = {"click_rate": "click_diff", "cart_rate": "cart_diff", "purchase_rate": "purchase_diff",
           "revenue_per_visitor": "revenue_diff"}
covered = {(a, m): 0 for a in ("treatment", "holdout") for m in metrics}
significant = 0
d = os.path.join(tmp, "lift")
for seed in range(101, 111):
    truth = simulate(d, "--seed", str(seed), "--visitors", "40000", "--lift", "0.2", "--holdout-lift", "-0.2",
                     "--ctr", "0.1", "--purchase-rate", "0.05")
    rep = report(d)
    lifts = {l["arm"]: l for l in truth["lifts"]}
    for t in truth["arms"]:
        check(arm(rep, t["name"])["visitors"] == t["visitors"], f"seed {seed}: visitors of {t['name']}")
    check(rep["inputs"]["event_carts"] == truth["counts"]["carts"], f"seed {seed}: carts attributed")
    check(rep["inputs"]["event_purchases"] == truth["counts"]["purchases"], f"seed {seed}: purchases attributed")
    check(rep["inputs"]["malformed_lines"] == 0, f"seed {seed}: malformed lines in recgen's log")
    for a in ("treatment", "holdout"):
        c = comparison(rep, a)
        for m, diff in metrics.items():
            if inside(c[m]["relative_ci"], lifts[a]["relative"]) and inside(c[m]["diff_ci"], lifts[a][diff]):
                covered[(a, m)] += 1
    significant += comparison(rep, "treatment")["click_rate"]["significant"]
    if seed == 101:
        c = comparison(rep, "treatment")
        print("planted +20 %% (seed 101): click lift %.4f CI [%.4f, %.4f] p %.2g; purchase lift %.4f CI [%.4f, %.4f]; "
              "revenue lift %.4f CI [%.4f, %.4f]" % (
                  c["click_rate"]["relative"], *c["click_rate"]["relative_ci"], c["click_rate"]["p"],
                  c["purchase_rate"]["relative"], *c["purchase_rate"]["relative_ci"],
                  c["revenue_per_visitor"]["relative"], *c["revenue_per_visitor"]["relative_ci"]))
print("planted lift: intervals containing it, of 10:", {f"{a}.{m}": n for (a, m), n in covered.items()})
for key, n in covered.items():
    check(n >= 8, f"planted lift {key}: covered in {n} of 10 runs")
check(significant == 10, f"the +20 % click lift was significant in {significant} of 10 runs")

# A/A: 20 seeds, no lift.
false_pos = {m: 0 for m in metrics}
srm_flags = 0
srm_ps = []
d = os.path.join(tmp, "aa")
for seed in range(1, 21):
    simulate(d, "--seed", str(seed), "--visitors", "20000", "--lift", "0")
    rep = report(d)
    c = comparison(rep, "treatment")
    for m in metrics:
        false_pos[m] += c[m]["p"] < 0.05
    srm_flags += rep["srm"]["mismatch"]
    srm_ps.append(rep["srm"]["p"])
print("A/A, 20 runs: p < 0.05 per metric:", false_pos, "; SRM flagged:", srm_flags,
      "; smallest SRM p: %.3g" % min(srm_ps))
check(false_pos["click_rate"] <= 2, f"A/A: {false_pos['click_rate']} of 20 runs significant on the click rate")
check(srm_flags == 0, f"A/A: {srm_flags} runs tripped the sample-ratio test")

# Skewed assignment against the same seed unskewed.
d = os.path.join(tmp, "skew")
simulate(d, "--seed", "7", "--visitors", "20000", "--skew", "0.05")
skew = report(d)
simulate(d, "--seed", "7", "--visitors", "20000")
plain = report(d)
print("SRM: skewed p %.3g (chi2 %.1f, visitors %s), unskewed p %.3g (visitors %s)" % (
    skew["srm"]["p"], skew["srm"]["chi2"], skew["srm"]["observed"], plain["srm"]["p"], plain["srm"]["observed"]))
check(skew["srm"]["mismatch"] and skew["srm"]["p"] < 0.001, "the skewed assignment did not trip the SRM test")
check(not plain["srm"]["mismatch"], "the unskewed assignment tripped the SRM test")
text = report(d, fmt="text").decode()
check("sample ratio: chi2" in text and "ok" in text, "text output lacks the SRM line")
skewtext = ""

# HTML: well-formed, charts, the SRM named.
html = report(d, fmt="html")
root = ET.fromstring(html.split(b"\n", 1)[1])  # past the DOCTYPE
ns = "{http://www.w3.org/1999/xhtml}"
svgs = [e for e in root.iter() if e.tag.endswith("svg")]
check(len(svgs) == 4, f"HTML: {len(svgs)} charts, expected 4")
marks = {e.get("data-m"): (e.text or "") for e in root.iter() if e.get("data-m")}
check(marks.get("srm.mismatch") == "ok", "HTML: srm.mismatch")
check(marks.get("arms.control.visitors") == str(plain["arms"][0]["visitors"]), "HTML: arms.control.visitors")
check(b"<script" not in html, "HTML: holds a script")

# Bad lines are counted; the rest still reads.
bad = os.path.join(tmp, "badlog")
shutil.copytree(os.path.join(d, "log"), bad)
first = sorted(f for f in os.listdir(bad) if f.endswith(".jsonl"))[0]
with open(os.path.join(bad, first), "a") as f:
    f.write("not json\n{\"type\":\"exposure\",\"ts\":1}\n{\"type\":\"click\",\"ts\"\n")
open(os.path.join(bad, "skip.jsonl.open"), "w").write("garbage\n")  # open files are not read
rep = json.loads(subprocess.run([recctl, "ab-report", "--experiments", os.path.join(d, "experiments.json"),
                                 "--log", bad, "--format", "json"], check=True, stdout=subprocess.PIPE).stdout)
check(rep["inputs"]["malformed_lines"] == 3, f"malformed lines: {rep['inputs']['malformed_lines']}, expected 3")
check(rep["arms"][0]["visitors"] == plain["arms"][0]["visitors"], "bad lines changed the visitor counts")
check(rep["outcomes_from"] == "beacons" and rep["arms"][0]["revenue_per_visitor"] is None,
      "without events and catalog: outcomes from beacons, no revenue")

# The window: one hour keeps only the purchases planted that close.
short = report(d, "--window-hours", "1")
check(short["inputs"]["event_purchases"] < plain["inputs"]["event_purchases"], "--window-hours 1 changed nothing")

if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
EOF
echo "$name: ok"
