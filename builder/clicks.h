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
 * Lines of type click, cart and purchase become events of type RB_CLICK,
 * RB_CART and RB_PURCHASE (weights --weight-click, --weight-cart,
 * --weight-purchase) for their cookie and product, at their ts (floored to
 * a second); no location, device or session. A line without a cookie takes
 * it from the exposure line with the same rec_id in any of the files read
 * (a beacon may reach another node than the answer it follows); with none,
 * it is skipped and counted. Exposure lines and other types add nothing.
 * Malformed lines (not a JSON object, a missing or bad field) are skipped
 * and counted with a sample; they never fail the build.
 */
#ifndef RB_CLICKS_H
#define RB_CLICKS_H

#include "dataset.h"

struct rb_clicks_stats {
    uint64_t files;                  /* *.jsonl files read */
    uint64_t lines;                  /* non-blank lines read */
    uint64_t events[RB_EVENT_TYPES]; /* events added, by type (view stays 0) */
    uint64_t cookie_from_exposure;   /* of those, whose cookie came from their rec_id's exposure */
    uint64_t no_cookie;              /* beacon lines skipped: no cookie, and no exposure of their rec_id */
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
 * 2^31-1 cookies or products); d then holds the events added so far and
 * the caller gives up on it.
 */
int rb_ingest_clicks(struct rb_dataset *d, const char *const *paths, size_t npaths, struct rb_clicks_stats *st,
                     char *err);

/* Log st (rc_log lines: counts, and the sample as a warning when lines were bad or skipped). */
void rb_clicks_report(const struct rb_clicks_stats *st);

#endif
