#!/usr/bin/env bash
# tests/e2e/browser_report.sh - `recctl report` (edge/report.c) rendered by
# headless Chromium from a file: its charts are drawn (every SVG has a size
# on the page, the popularity-bias curve has a line per list DB), it loads
# nothing (no resource in the page's performance entries, nothing in the
# browser's log) and logs no console error. Its content is checked in
# recctl_report.sh. Screenshot: BIN/tests/screenshots/browser_report/.
#
# Environment (tests/CMakeLists.txt): BIN, SRC, EDGEREC_TEST_TMP.
# Exits 77 (skipped) when a binary is not built or Chromium cannot start.
set -euo pipefail
source "$(dirname "$0")/browser_common.bash"

recctl=$BIN/edge/recctl
[ -x "$recctl" ] || { echo "$name: $recctl not built; skipped"; exit 77; }
browser_probe
demo_cache
"$recctl" --root "$tmp/cache" report --out "$tmp/report.html" || fail "recctl report exited with $?"

browse --timeout 10 --goto "file://$tmp/report.html" \
    --eval '[...document.querySelectorAll("svg")].map(s => { const b = s.getBoundingClientRect(); return [b.width, b.height]; })' \
    --eval '(() => { const h = document.getElementById("bias"); let e = h; while (e && e.tagName !== "svg") e = e.nextElementSibling; return e ? e.querySelectorAll("polyline").length : -1; })()' \
    --eval 'performance.getEntriesByType("resource").length' \
    --eval 'document.title' \
    --fullshot "$shots/report.png"
charts=$(js 'len(r["values"][0])')
[ "$charts" -ge 4 ] || fail "$charts charts on the page"
[ "$(js 'all(w > 100 and h > 50 for w, h in r["values"][0])')" = True ] || fail "a chart is not drawn: $(js 'r["values"][0]')"
lines=$(js 'r["values"][1]')
[ "$lines" -ge 3 ] || fail "the popularity-bias chart has $lines lines"
[ "$(js 'r["values"][2]')" = 0 ] || fail "the report loaded $(js 'r["values"][2]') resources"
[ "$(js 'r["log"]')" = "[]" ] || fail "browser log: $(js 'r["log"]')"
no_page_errors "report"
ok "report '$(js 'r["values"][3]')': $charts charts drawn, $lines bias lines, nothing loaded, no console error"
