/*
 * gen_experiment.h - recgen experiment: a simulated A/B experiment with
 * planted outcomes, for testing recctl ab-report (schemas/recgen.md,
 * "recgen experiment"; formats in schemas/experiments.md,
 * schemas/exposure.md and schemas/inputs.md).
 *
 * rb_genx_run() writes into cfg->out_dir:
 *   experiments.json   the definition (cfg->experiments copied, or the
 *                      built-in control 49 % / treatment 49 % / holdout 2 %)
 *   log/               exposure and click lines as recedge writes them,
 *                      closed files "<node>-<YYYYmmddTHHMMSSZ>-<seq>.jsonl"
 *   events.csv         the shop's events (ts,cookie,event,product)
 *   catalog.csv        product,category,in_stock,price
 *   truth.json         the planted per-arm probabilities and lifts, and the
 *                      realised arm sizes
 *
 * The model (per visitor, independent of every other visitor): the cookie
 * falls in an arm by the experiment's own assignment (shared/experiment.h);
 * with probability cfg->skew a control visitor is logged in the first
 * treatment arm instead (a broken assignment, for the SRM test). It sees
 * 1..4 exposures of 6 distinct products each over cfg->days. It clicks a
 * recommended product with its arm's click probability, carts one within
 * the window with the cart probability and, nested in that, purchases it
 * with the purchase probability; so the per-visitor rates ab-report
 * measures have exactly the planted means. Control has (ctr,
 * 2 * purchase_rate capped at 1, purchase_rate); a treatment arm those
 * times (1 + lift); a holdout arm times (1 + holdout_lift). Noise the
 * report must not count: purchases of products never shown, purchases of
 * shown products after the window, beacons for unknown rec_ids and for
 * products the answer did not show; visitors in a bucket gap get exposures
 * without an arm.
 *
 * Deterministic: the bytes are a function of the config alone (gen_rng.h
 * streams per visitor). Memory O(products). Files are written under a
 * temporary name and renamed when complete; truth.json last.
 */
#ifndef RB_GEN_EXPERIMENT_H
#define RB_GEN_EXPERIMENT_H

#include <stdint.h>

struct rb_genx_config {
    const char *out_dir;
    const char *experiments; /* a definition to use, NULL: the built-in one */
    uint64_t seed;
    uint64_t visitors;       /* 1 .. 10^8 */
    uint32_t products;       /* catalog size, 100 .. 10^7 */
    uint32_t days;           /* exposures spread over [end - days*86400, end) */
    int64_t end_ts;
    double lift;             /* relative, treatment arms against control; 0: A/A */
    double holdout_lift;     /* relative, holdout arms against control */
    double ctr;              /* control's per-visitor click probability */
    double purchase_rate;    /* control's per-visitor purchase probability */
    double skew;             /* share of control visitors logged in the first treatment arm */
    double window_hours;     /* attribution window the outcomes are planted in */
    uint32_t nodes;          /* log files are spread over this many node names */
    uint64_t rotate_lines;   /* lines per log file before the next one */
};

struct rb_genx_stats {
    uint64_t visitors, exposures, clicks, carts, purchases, events, log_files;
    uint64_t arm_visitors[8];
    uint64_t gap_visitors;
};

void rb_genx_defaults(struct rb_genx_config *cfg);

/* Ranges and consistency (a planted probability above 1). 0, or RC_ERANGE
 * with a message naming the flag. */
int rb_genx_check(const struct rb_genx_config *cfg, char *err);

/* Write the set. 0, or a negative code with err: -errno naming the file,
 * the experiment parser's errors (shared/experiment.h), -ENOMEM. */
int rb_genx_run(const struct rb_genx_config *cfg, struct rb_genx_stats *st, char *err);

#endif
