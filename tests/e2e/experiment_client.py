#!/usr/bin/python3
"""tests/e2e/experiment_client.py - the visitors of tests/e2e/experiment.sh
(Python 3 standard library only).

  recs     --ports P,P,P --cookies FILE --nodes spread|all --out FILE
           GET /v1/recs?cookie=C&n=5 for every cookie (spread: on node
           i % 3; all: on every node); one JSON line per answer: cookie,
           node, arm, experiment, route, sources, items, rec_id, version and
           the X-Experiment / X-Rec-Id headers. Any answer but 200 fails.
  beacons  --ports P,P,P --answers FILE --p ARM=PROB ... --seed N --out FILE
           the planted outcome: in each arm, round(PROB x visitors) visitors
           drawn at random (seeded) click once on one of the products their
           first answer in FILE showed, so the arm's per-visitor click rate
           is PROB to within half a visitor; each beacon goes to a random
           node as GET with the cookie, POST (the body as
           navigator.sendBeacon sends it, text/plain) with the cookie, or GET
           without one; 204 expected. Writes the truth: visitors and
           clickers per arm, beacons sent.
  verify   --ref FILE --phase FILE --label TEXT [--version V] [--experiment ID]
           every answer of the phase: the cookie's arm as in the reference,
           the headers matching the JSON, a unique 32-hex rec_id, the
           version V; a holdout arm's answers without any cf item.
  shares   --answers FILE --arm NAME=BUCKETS ... [--sigmas K]
           visitors per arm within K binomial standard deviations of the
           configured shares.
  report   --report FILE --truth FILE --answers FILE... --arm NAME
           --planted-diff D --planted-rel R
           recctl ab-report's JSON against what the client did: visitors,
           clickers and exposures per arm exactly, no sample-ratio mismatch,
           and the arm's click-rate lift over control: the difference and
           its 95 % Wald interval as computed here from the client's counts,
           and both intervals (difference, relative) containing the planted
           lift.
Each check prints "ok: ..." lines, or a FAIL line and exits 1.
"""
import argparse
import collections
import http.client
import json
import math
import random
import re
import sys
import urllib.parse

HOLDOUT = "holdout"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


class Nodes:
    """One keep-alive connection per node, reopened once when it drops."""

    def __init__(self, ports):
        self.ports = [int(p) for p in ports.split(",")]
        self.conns = {}

    def request(self, node, method, path, body=None, headers=None):
        for attempt in (0, 1):
            c = self.conns.get(node)
            if c is None:
                c = http.client.HTTPConnection("127.0.0.1", self.ports[node], timeout=10)
                self.conns[node] = c
            try:
                c.request(method, path, body=body, headers=headers or {})
                r = c.getresponse()
                data = r.read()
                return r.status, {k.lower(): v for k, v in r.getheaders()}, data
            except (http.client.HTTPException, OSError):
                c.close()
                del self.conns[node]
                if attempt:
                    raise


def read_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def cmd_recs(a):
    nodes = Nodes(a.ports)
    with open(a.cookies) as f:
        cookies = [line.strip() for line in f if line.strip()]
    n = 0
    with open(a.out, "w") as out:
        for i, cookie in enumerate(cookies):
            targets = range(len(nodes.ports)) if a.nodes == "all" else [i % len(nodes.ports)]
            for node in targets:
                path = "/v1/recs?" + urllib.parse.urlencode({"cookie": cookie, "n": 5})
                status, h, body = nodes.request(node, "GET", path)
                if status != 200:
                    fail("node %d answered %d for %s: %s" % (node, status, path, body[:200]))
                d = json.loads(body)
                items = [it["product"] for it in d.get("items", [])]
                rec = {
                    "cookie": cookie, "node": node, "arm": d.get("arm"), "experiment": d.get("experiment"),
                    "route": d.get("route"), "sources": [it.get("source") for it in d.get("items", [])],
                    "items": items, "rec_id": d.get("rec_id"), "version": d.get("version"),
                    "h_exp": h.get("x-experiment"), "h_rec": h.get("x-rec-id"),
                }
                out.write(json.dumps(rec) + "\n")
                n += 1
    print("ok: %d answers from %d cookies (%s)" % (n, len(cookies), a.nodes))


def cmd_beacons(a):
    nodes = Nodes(a.ports)
    planted = {}
    for spec in a.p:
        arm, prob = spec.split("=")
        planted[arm] = float(prob)
    rng = random.Random(a.seed)
    first = {}
    for r in read_lines(a.answers):
        first.setdefault(r["cookie"], r)
    by_arm = collections.defaultdict(list)
    for cookie, r in first.items():
        if r["arm"] is not None:
            by_arm[r["arm"]].append(cookie)
    clicking = set()
    for arm in sorted(by_arm):
        clicking.update(rng.sample(by_arm[arm], round(planted[arm] * len(by_arm[arm]))))
    visitors = collections.Counter({arm: len(c) for arm, c in by_arm.items()})
    clickers = collections.Counter()
    sent = no_cookie = posts = 0
    for cookie, r in first.items():
        arm = r["arm"]
        if cookie not in clicking:
            continue
        if not r["items"]:
            fail("cookie %s was shown nothing to click" % cookie)
        product = rng.choice(r["items"])
        node = rng.randrange(len(nodes.ports))
        style = rng.randrange(3)
        params = {"rec_id": r["rec_id"], "product": product, "type": "click"}
        if style != 2:
            params["cookie"] = cookie
        q = urllib.parse.urlencode(params)
        if style == 1:
            status, _, body = nodes.request(node, "POST", "/v1/event", body=q.encode(),
                                            headers={"Content-Type": "text/plain;charset=UTF-8"})
            posts += 1
        else:
            status, _, body = nodes.request(node, "GET", "/v1/event?" + q)
        if status != 204:
            fail("beacon %s to node %d: %d %s" % (q, node, status, body[:200]))
        clickers[arm] += 1
        sent += 1
        no_cookie += style == 2
    truth = {"planted": planted, "visitors": visitors, "clickers": clickers, "beacons": sent,
             "beacons_without_cookie": no_cookie, "beacons_post": posts, "seed": a.seed}
    with open(a.out, "w") as f:
        json.dump(truth, f)
    print("ok: %d click beacons (%d POST, %d without a cookie) from %d visitors in arms; clickers %s" %
          (sent, posts, no_cookie, sum(visitors.values()), dict(clickers)))


def cmd_verify(a):
    ref = {}
    for r in read_lines(a.ref):
        ref.setdefault(r["cookie"], r["arm"])
    seen = set()
    counts = collections.Counter()
    cf_in_arms = 0
    for r in read_lines(a.phase):
        c = r["cookie"]
        if c not in ref:
            fail("%s: cookie %s has no reference answer" % (a.label, c))
        if r["arm"] != ref[c]:
            fail("%s: cookie %s is in arm %s on node %d, was in %s" % (a.label, c, r["arm"], r["node"], ref[c]))
        if r["arm"] is not None and r["experiment"] != a.experiment:
            fail("%s: experiment %r, expected %r" % (a.label, r["experiment"], a.experiment))
        want = None if r["arm"] is None else "%s/%s" % (r["experiment"], r["arm"])
        if r["h_exp"] != want:
            fail("%s: X-Experiment %r, the JSON says %r" % (a.label, r["h_exp"], want))
        rid = r["rec_id"] or ""
        if not re.fullmatch(r"[0-9a-f]{32}", rid) or r["h_rec"] != rid:
            fail("%s: rec_id %r, X-Rec-Id %r" % (a.label, rid, r["h_rec"]))
        if rid in seen:
            fail("%s: rec_id %s answered twice" % (a.label, rid))
        seen.add(rid)
        if a.version and r["version"] != a.version:
            fail("%s: node %d answered from %s, expected %s" % (a.label, r["node"], r["version"], a.version))
        if r["arm"] == HOLDOUT and (r["route"] == "cf" or "cf" in r["sources"]):
            fail("%s: holdout cookie %s got cf: route %s, sources %s" % (a.label, c, r["route"], r["sources"]))
        if r["arm"] not in (None, HOLDOUT) and r["route"] == "cf":
            cf_in_arms += 1
        counts[r["arm"]] += 1
    print("ok: %s: %d answers, every cookie in its arm (%s), headers match, rec_ids unique, "
          "%d holdout answers without cf (%d cf answers in the other arms)" %
          (a.label, sum(counts.values()), ", ".join("%s %d" % kv for kv in sorted(counts.items(), key=str)),
           counts[HOLDOUT], cf_in_arms))


def cmd_shares(a):
    first = {}
    for r in read_lines(a.answers):
        first.setdefault(r["cookie"], r["arm"])
    n = len(first)
    counts = collections.Counter(first.values())
    total = 0
    out = []
    for spec in a.arm:
        name, width = spec.split("=")
        share = int(width) / 10000.0
        total += int(width)
        exp = n * share
        sd = math.sqrt(n * share * (1 - share))
        if abs(counts[name] - exp) > a.sigmas * sd:
            fail("arm %s has %d of %d visitors, expected %.1f +- %.1f (%g sd)" %
                 (name, counts[name], n, exp, a.sigmas * sd, a.sigmas))
        out.append("%s %d (expected %.0f +- %.0f)" % (name, counts[name], exp, a.sigmas * sd))
    if total == 10000 and counts[None]:
        fail("%d visitors in no arm, though the arms cover every bucket" % counts[None])
    print("ok: %d visitors: %s" % (n, ", ".join(out)))


def cmd_report(a):
    with open(a.report) as f:
        rep = json.load(f)
    with open(a.truth) as f:
        truth = json.load(f)
    exposures = collections.Counter()
    for path in a.answers:
        for r in read_lines(path):
            if r["arm"] is not None:
                exposures[r["arm"]] += 1
    arms = {x["name"]: x for x in rep["arms"]}
    for name, want in truth["visitors"].items():
        got = arms[name]
        if got["visitors"] != want:
            fail("report: arm %s has %s visitors, the client sent %d" % (name, got["visitors"], want))
        if got["clickers"] != truth["clickers"].get(name, 0):
            fail("report: arm %s has %s clickers, the client clicked for %d" %
                 (name, got["clickers"], truth["clickers"].get(name, 0)))
        if got["exposures"] != exposures[name]:
            fail("report: arm %s has %s exposures, the client got %d answers" % (name, got["exposures"], exposures[name]))
    if rep["srm"]["mismatch"]:
        fail("report: a sample-ratio mismatch on an unskewed assignment: %s" % rep["srm"])
    cmp = [c for c in rep["comparisons"] if c["arm"] == a.arm]
    if len(cmp) != 1:
        fail("report: no comparison for arm %s" % a.arm)
    click = cmp[0]["click_rate"]
    nt, kt = truth["visitors"][a.arm], truth["clickers"].get(a.arm, 0)
    nc, kc = truth["visitors"][rep["control"]], truth["clickers"].get(rep["control"], 0)
    pt, pc = kt / nt, kc / nc
    half = 1.959963984540054 * math.sqrt(pt * (1 - pt) / nt + pc * (1 - pc) / nc)
    if abs(click["diff"] - (pt - pc)) > 1e-9 or abs((click["diff_ci"][1] - click["diff_ci"][0]) / 2 - half) > 1e-6:
        fail("report: click-rate difference %s, interval %s; from the client's counts %.6f +- %.6f" %
             (click["diff"], click["diff_ci"], pt - pc, half))
    lo, hi = click["diff_ci"]
    rlo, rhi = click["relative_ci"]
    line = ("%s vs %s click rate %.4f vs %.4f: diff %+.4f, 95%% CI [%+.4f, %+.4f] (planted %+.4f); relative %+.3f, "
            "95%% CI [%+.3f, %+.3f] (planted %+.3f); p %.3g" %
            (a.arm, rep["control"], click["treatment"], click["control"], click["diff"], lo, hi, a.planted_diff,
             click["relative"], rlo, rhi, a.planted_rel, click["p"]))
    if not lo <= a.planted_diff <= hi:
        fail("report: the interval misses the planted lift: " + line)
    if not rlo <= a.planted_rel <= rhi:
        fail("report: the relative interval misses the planted lift: " + line)
    print("ok: report: visitors, clickers and exposures per arm as the client counted (%s); srm p %.3g, no mismatch" %
          (", ".join("%s %d/%d/%d" % (n, arms[n]["visitors"], arms[n]["clickers"], arms[n]["exposures"])
                     for n in sorted(truth["visitors"])), rep["srm"]["p"]))
    print("ok: report: " + line)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("recs")
    s.add_argument("--ports", required=True)
    s.add_argument("--cookies", required=True)
    s.add_argument("--nodes", choices=["spread", "all"], default="spread")
    s.add_argument("--out", required=True)
    s = sub.add_parser("beacons")
    s.add_argument("--ports", required=True)
    s.add_argument("--answers", required=True)
    s.add_argument("--p", action="append", required=True)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--out", required=True)
    s = sub.add_parser("verify")
    s.add_argument("--ref", required=True)
    s.add_argument("--phase", required=True)
    s.add_argument("--label", required=True)
    s.add_argument("--version")
    s.add_argument("--experiment", required=True)
    s = sub.add_parser("shares")
    s.add_argument("--answers", required=True)
    s.add_argument("--arm", action="append", required=True)
    s.add_argument("--sigmas", type=float, default=4.0)
    s = sub.add_parser("report")
    s.add_argument("--report", required=True)
    s.add_argument("--truth", required=True)
    s.add_argument("--answers", nargs="+", required=True)
    s.add_argument("--arm", required=True)
    s.add_argument("--planted-diff", type=float, required=True)
    s.add_argument("--planted-rel", type=float, required=True)
    a = p.parse_args()
    {"recs": cmd_recs, "beacons": cmd_beacons, "verify": cmd_verify, "shares": cmd_shares,
     "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
