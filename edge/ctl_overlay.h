/*
 * ctl_overlay.h - `recctl overlay` (schemas/recctl.md, "overlay"): set,
 * clear, show and verify the overlay of a cache root (shared/overlay.h).
 *
 *   set [--from FILE|-]  one product id per line (default: standard input);
 *                        blank lines and lines starting with '#' skipped,
 *                        surrounding spaces and tabs trimmed; a bad id (over
 *                        RC_ID_MAX bytes, or with a control byte) refuses
 *                        the whole input with its line number. Writes a new
 *                        overlay, flips <root>/overlay, keeps the newest
 *                        RE_OVERLAY_KEEP overlays.
 *   clear                a new overlay of no products, flipped the same way
 *   show                 id, count and ids of the linked overlay
 *   verify               read and verify the linked overlay
 *   flip ID [--from DIR] verify overlays/ID and point the link at it; with
 *                        --from, first verify DIR/overlay.bin (a copy:
 *                        ops/rollout.sh push-overlay puts it in
 *                        <root>/.incoming/overlays/ID/) and move DIR to
 *                        overlays/ID (an ID already there is kept and the
 *                        copy removed)
 *
 * Returns recctl's exit code: 0 ok, 1 failure (message on stderr), 2 usage.
 */
#ifndef RE_CTL_OVERLAY_H
#define RE_CTL_OVERLAY_H

#define RE_OVERLAY_KEEP 5

int re_ctl_overlay(const char *root, const char *sub, const char *arg, const char *from, int json);

#endif
