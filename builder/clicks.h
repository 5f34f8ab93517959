/*
 * clicks.h - recbuild --clicks: the beacon lines of recedge's exposure log
 * (schemas/exposure.md) as events, so that clicks on recommendations feed
 * the next build (schemas/inputs.md, "Clicks").
 *
 * A path is a closed log file, or a directory: its *.jsonl files and those
 * of its subdirectories one level down (so both a node's log directory and
 * the DEST of ops/rollout.sh collect, one directory per node, work), names
 * starting with '.' skipped, read in name order. *.jsonl.open and any other
 * name are not read.
 *
 * Lines of type click, cart and purchase (beacons) become events of type
 * RB_CLICK, RB_CART and RB_PURCHASE (weights --weight-click,
 * --weight-cart, --weight-purchase) for their cookie and product, at their
 * ts (floored to a second); no location, device or session. recedge
 * accepts a beacon for any product, so a beacon counts only when the files
 * read hold the exposure line of its rec_id (a beacon may reach another
 * node than the answer it follows) and that exposure's items hold its
 * product; the others are skipped and counted (no_exposure, not_shown).
 * Visitors sampled out by --exposure-sample have no exposures, so their
 * beacons are skipped too. The event's cookie is the exposure's: a beacon
 * without one takes it (cookie_from_exposure), a beacon with another one
 * is counted (cookie_replaced); an exposure without a cookie leaves the
 * beacon's own, and with none either the beacon is skipped (no_cookie).
 * Exposure lines and other types add nothing. Malformed lines (not a JSON
 * object, a missing or bad field) are skipped and counted with a sample;
 * they never fail the build. Memory follows the beacons, not the
 * exposures.
 */
#ifndef RB_CLICKS_H
#define RB_CLICKS_H

#include "dataset.h"

struct rb_clicks_stats {
    uint64_t files;                  /* *.jsonl files read */
    uint64_t lines;                  /* non-blank lines read */
    uint64_t events[RB_EVENT_TYPES]; /* events added, by type (view stays 0) */
    uint64_t cookie_from_exposure;   /* of those, beacons without a cookie that took their exposure's */
    uint64_t cookie_replaced;        /* of those, beacons whose cookie differed: the exposure's was used */
    uint64_t no_exposure;            /* beacons skipped: no exposure of their rec_id in the files read */
    uint64_t not_shown;              /* beacons skipped: their exposure's items do not hold their product */
    uint64_t no_cookie;              /* beacons skipped: no cookie, in them or in their exposure */
    uint64_t other;                  /* exposure lines and lines of other types */
    uint64_t bad;                    /* malformed lines, skipped */
    char bad_sample[160];            /* "file:line: reason", the first one; "" when none */
};

/*
 * Read every path (a file or a directory, see above) into d, appending
 * events. Call after the events files (the events' bad-line ratio and
 * stats.lines do not count these lines; stats.events does). st is zeroed
 * first. Errors: -errno with the path in err (missing or unreadable path,
 * or a directory that cannot be listed), -ENOMEM, RC_ERANGE (more than
 * 2^31-1 cookies or products, or 2^32-2 beacons); d then holds the events
 * added so far and the caller gives up on it. The files are read twice
 * (the second time only when they hold beacons).
 */
int rb_ingest_clicks(struct rb_dataset *d, const char *const *paths, size_t npaths, struct rb_clicks_stats *st,
                     char *err);

/* Log st (rc_log lines: counts; a warning per reason lines were bad or skipped, with the bad lines' sample). */
void rb_clicks_report(const struct rb_clicks_stats *st);

#endif
