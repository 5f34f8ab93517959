#!/usr/bin/env bash
# tests/e2e/recctl_report.sh - `recctl report` (edge/report.c) on two
# versions recbuild makes from recgen data: the page is well-formed (it
# parses as XML), self-contained (no script, no reference outside the page),
# every number it copies from the manifest equals the manifest's, the
# popularity-bias curve and coverage equal those computed here from
# cachedump's dump of the lists, and the changes from the older version
# equal `recctl diff --json`'s counts.
#
# Environment (tests/CMakeLists.txt): BIN, SRC, EDGEREC_TEST_TMP.
# Exits 77 (skipped) while recctl, recbuild, recgen or cachedump is not built.
set -euo pipefail
source "$(dirname "$0")/recbuild_common.bash"

recctl=$BIN/edge/recctl
[ -x "$recctl" ] || { echo "$name: $recctl not built; skipped"; exit 77; }
command -v python3 > /dev/null || { echo "$name: python3 missing; skipped"; exit 77; }

gen "$tmp/data" --seed 11 --events 30000 --cookies 3000 --products 600 --dim 16
root=$tmp/cache
build() {
    "$recbuild" --events "$tmp/data/events.csv" --catalog "$tmp/data/catalog.csv" --embeddings "$tmp/data/emb.npy" \
        --out "$root" --holdout 1 --progress never --log-level error "$@" > /dev/null || fail "recbuild exited with $?"
}
build --seed 11 --n 20
v1=$(current "$root")
sleep 1 # version ids have one-second resolution
build --seed 12 --n 15
v2=$(current "$root")
[ -n "$v1" ] && [ -n "$v2" ] && [ "$v1" != "$v2" ] || fail "expected two versions, got '$v1' and '$v2'"

"$recctl" report --help > "$tmp/help" || fail "report --help exited with $?"
grep -q 'usage: recctl report' "$tmp/help" || fail "report --help: no usage line"
rc=0
"$recctl" --root "$root" report no-such-version > /dev/null 2> "$tmp/err" || rc=$?
[ "$rc" -eq 1 ] || fail "a missing version: exit $rc, expected 1"

"$recctl" --root "$root" report --out "$tmp/one.html" || fail "report exited with $?"
"$recctl" --root "$root" report "$v2" --compare "$v1" --out "$tmp/two.html" || fail "report --compare exited with $?"
"$recctl" --root "$root" report "$v1" > "$tmp/stdout.html" || fail "report to stdout exited with $?"
"$recctl" --root "$root" --json diff "$v1" "$v2" > "$tmp/diff.json" || fail "diff exited with $?"
for db in cookie product segment coview category; do
    "$cachedump" "$root/versions/$v2" "$db" > "$tmp/$db.tsv" || fail "cachedump $db exited with $?"
done
ls "$tmp"/*.html > /dev/null

python3 - "$tmp" "$root/versions/$v2/manifest.json" "$root/versions/$v1/manifest.json" <<'EOF' || fail "page checks"
import collections, json, math, re, sys
import xml.etree.ElementTree as ET

tmp, man2, man1 = sys.argv[1:]
m2, m1 = json.load(open(man2)), json.load(open(man1))
problems = []

def check(cond, what):
    if not cond:
        problems.append(what)

def close(a, b):
    return abs(a - b) <= 1e-5 * max(1.0, abs(b))

def lookup(doc, path):
    """manifest value at a dotted path (list indexes as numbers), or None."""
    cur = doc
    for part in path.split("."):
        if isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        elif isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            return None
    return cur

def page(path):
    text = open(path, encoding="utf-8").read()
    root = ET.fromstring(re.sub(r"^<!DOCTYPE html>", "", text))  # well-formed, or this raises
    values = {}
    for el in root.iter():
        if "data-m" in el.attrib:
            values[el.attrib["data-m"]] = "".join(el.itertext()).strip()
    # Self-contained: no script, nothing fetched, no link out of the page.
    check("<script" not in text.lower(), path + ": has a script")
    check("://" not in text, path + ": names a URL")
    check("url(" not in text and "@import" not in text, path + ": CSS loads something")
    for el in root.iter():
        for attr in ("src", "srcset", "xlink:href", "{http://www.w3.org/1999/xlink}href"):
            check(attr not in el.attrib, "%s: <%s %s>" % (path, el.tag, attr))
        if "href" in el.attrib:
            check(el.attrib["href"].startswith("#"), "%s: link %s" % (path, el.attrib["href"]))
    return text, root, values

text2, root2, two = page(tmp + "/two.html")
text1, root1, one = page(tmp + "/one.html")
check(open(tmp + "/stdout.html").read().startswith("<!DOCTYPE html>"), "stdout report")
check(len(root2.findall(".//{*}svg") or root2.findall(".//svg")) >= 4, "fewer than 4 charts")
check(two.get("version") == m2["version"] and two.get("compare.version") == m1["version"], "versions named")
check(one.get("version") == m2["version"], "report without a version is current's")

# Every manifest number the page shows, as the manifest has it.
compared = 0
for name, shown in two.items():
    base = name[len("compare."):] if name.startswith("compare.") else name
    doc = m1 if name.startswith("compare.") else m2
    if not re.match(r"(evaluation|tuning|timings_ms|counts|inputs)\.", base):
        continue
    want = lookup(doc, base)
    if isinstance(want, bool):
        check(shown == ("true" if want else "false"), "%s: %s, manifest %s" % (name, shown, want))
    elif isinstance(want, (int, float)):
        check(close(float(shown), float(want)), "%s: page %s, manifest %s" % (name, shown, want))
    else:
        check(False, "%s: not a manifest number (%r)" % (name, want))
    compared += 1
check(compared >= 40, "only %d manifest numbers on the page" % compared)
for must in ("evaluation.hr", "evaluation.pop_hr", "evaluation.ndcg", "evaluation.pop_ndcg",
             "evaluation.next_item.blend_hr", "counts.cookie", "counts.items", "timings_ms.total_before_publish"):
    check(must in two, "the page lacks " + must)
check("segments.absent" in two, "the page does not say that per-segment metrics are absent")

# Coverage and the popularity-bias curve, from the dumped lists.
catalog = m2["counts"]["items"]
slots_all, lists_all = collections.Counter(), 0
for db in ("cookie", "product", "segment", "coview", "category"):
    slots, owners = collections.Counter(), set()
    for line in open("%s/%s.tsv" % (tmp, db)):
        owner, _src, _rank, product, _score = line.rstrip("\n").split("\t")
        slots[product] += 1
        owners.add(owner)
    slots_all.update(slots)
    for key, counter in ((db, slots), ("all", slots_all)):
        if key == "all" and db != "category":
            continue
        total = sum(counter.values())
        n = max(catalog, len(counter))
        ranked = sorted(counter.values(), reverse=True)
        check(int(two["lists.%s.slots" % key]) == total, "%s slots: page %s, dump %d" % (key, two["lists.%s.slots" % key], total))
        check(close(float(two["lists.%s.coverage" % key]), len(counter) / n), "%s coverage" % key)
        for p in (1, 2, 5, 10, 20, 30, 40, 50, 60, 70, 80, 100):
            want = sum(ranked[:math.ceil(p / 100 * n)]) / total if total else 0
            got = float(two["bias.%s.%g" % (key, p)])
            check(close(got, want), "bias %s top %g%%: page %s, dump %.6g" % (key, p, got, want))
    if db != "coview":
        check(int(two["lists.%s.lists" % db]) == m2["counts"][db], "%s lists vs counts" % db)
check(close(float(two["bias.all.100"]), 1.0), "the whole catalog takes every slot")

# What changed, as recctl diff counts it.
diff = json.load(open(tmp + "/diff.json"))
for db, d in diff["dbs"].items():
    for col in ("from", "to", "added", "removed", "changed", "unchanged"):
        check(int(two["diff.%s.%s" % (db, col)]) == d[col], "diff %s %s: page %s, recctl diff %s"
              % (db, col, two["diff.%s.%s" % (db, col)], d[col]))
check(int(two["diff.cookie.changed"]) + int(two["diff.cookie.unchanged"]) > 0, "no cookie lists in common")

if problems:
    print("\n".join(problems[:20]), file=sys.stderr)
    sys.exit(1)
print("recctl_report: %d manifest numbers, %d bias points and the diff match" % (compared, 5 * 12))
EOF
ok "report pages for $v2 (and against $v1) are well-formed, self-contained and match the manifest, the lists and diff"
