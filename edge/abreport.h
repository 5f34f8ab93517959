/*
 * abreport.h - recctl ab-report: which arm of an experiment wins, from the
 * exposure log, the shop's events and the catalog's prices
 * (schemas/recctl.md, "ab-report"; formats in schemas/experiments.md,
 * schemas/exposure.md, schemas/inputs.md).
 *
 * What is counted, per arm of the experiment:
 *   - visitors: distinct cookies with an exposure line of the arm (a cookie
 *     stays in the arm of its first exposure read; a later exposure in
 *     another arm is counted in skipped.arm_conflicts and left out);
 *   - exposures: exposure lines of the arm (one per rec_id: a repeated
 *     rec_id is skipped and counted);
 *   - clicks: click beacons whose rec_id is an exposure of the arm and
 *     whose product that exposure showed; ctr = clicks / exposures;
 *   - per visitor, 0 or 1 each: clicked (one such click beacon), carted and
 *     purchased (a cart / purchase of a product shown to the visitor,
 *     within the window after an exposure that showed it), and revenue (the
 *     catalog prices of those purchases). Carts, purchases and revenue come
 *     from the shop's events when any are given, else from the cart and
 *     purchase beacons of the log (with the same window rule);
 *   - each non-control arm against control: two-proportion z-tests on the
 *     per-visitor rates, Welch's t-test on revenue per visitor (stats.h);
 *   - sample-ratio mismatch: chi-square of the visitor counts against the
 *     arms' bucket widths, flagged below p = 0.001.
 *
 * With a catalog that has a created_at column, also the new products
 * shown (created_at less than explore_age_days before the exposure, as
 * recbuild's exploration counts them new): how many distinct ones, in how
 * many impressions, over every exposure read and per arm.
 *
 * Input faults are counted, never fatal: unparsable log lines, lines of a
 * known type missing a field, event lines with too few fields or a bad
 * timestamp. A missing or unreadable path, or a definition that does not
 * parse, is an error.
 *
 * Single-threaded; no global state; nothing is written but the output.
 */
#ifndef RE_ABREPORT_H
#define RE_ABREPORT_H

#include "json.h"
#include "opt.h"

#define RE_AB_MAX_PATHS 1024

/* Paths an option collects (--log, --events), in the order given. */
struct re_ab_paths {
    const char *v[RE_AB_MAX_PATHS];
    int n;
};

/*
 * An rc_opt setter (RC_OPT_CUSTOM) appending value to the struct
 * re_ab_paths at o->off in cfg. Errors: RC_ERANGE past RE_AB_MAX_PATHS.
 */
int re_ab_paths_add(void *cfg, const struct rc_opt *o, const char *value, char *err);

/* Append value to p (what `recctl ab-report --log A B C` gives as
 * operands). Errors: RC_ERANGE past RE_AB_MAX_PATHS. */
int re_ab_paths_push(struct re_ab_paths *p, const char *value, char *err);

enum re_ab_format { RE_AB_TEXT = 0, RE_AB_JSON = 1, RE_AB_HTML = 2 };

struct re_ab_opts {
    const char *experiments;   /* experiments.json, or a version directory holding it */
    struct re_ab_paths logs;   /* files, or directories searched (recursively) for *.jsonl */
    struct re_ab_paths events; /* shop events files (schemas/inputs.md, canonical columns) */
    const char *catalog;       /* catalog.csv with a price column, or NULL */
    double window_hours;       /* attribution window after an exposure; > 0 */
    double explore_age_days;   /* new product: catalog created_at under this many days before an exposure; 0: 14 */
    int format;                /* enum re_ab_format */
    const char *out;           /* NULL or "-": standard output */
};

/*
 * Read everything, compute the report and append it to b in o->format.
 * Returns 0, or a negative code with a message in err: the definition's
 * errors (shared/experiment.h), -errno for a path that cannot be read
 * (err names it), RC_EEMPTY when no log path was given, -ENOMEM.
 */
int re_ab_report_render(struct rc_buf *b, const struct re_ab_opts *o, char *err);

/* re_ab_report_render into o->out (written beside it and renamed into
 * place) or standard output. Same errors. */
int re_ab_report_write(const struct re_ab_opts *o, char *err);

#endif
