/*
 * train.h - the training matrix from the events: event weights, exponential
 * decay with a half-life measured back from the newest event (not the wall
 * clock), the freshness window, the activity threshold, the purchase
 * threshold for CF lists, and the optional holdout of each purchasing
 * cookie's last purchases. Deterministic.
 */
#ifndef RB_TRAIN_H
#define RB_TRAIN_H

#include "dataset.h"

/*
 * The training matrices, rows in ascending cookie index order; columns are
 * all products (cols = d->products.n) in every matrix. Owns its arrays;
 * release on a zeroed struct is a no-op.
 */
struct rb_train {
    struct rb_csr ui;           /* train row x product: summed decayed weights */
    struct rb_csr iu;           /* its transpose */
    uint32_t *row_cookie;       /* [ui.rows] cookie index of each row */
    uint8_t *row_wants_list;    /* [ui.rows] 1 when the cookie meets min_purchases */
    struct rb_csr bought;       /* train row x product: purchased in the training data (exclusion) */
    /* Holdout: for each evaluated row, the held-out purchased products. */
    struct rb_csr heldout;      /* train row x product; rows without held-out items are empty */
};
void rb_train_release(struct rb_train *t);

/*
 * Defaults: weights view 1, cart 3, purchase 10, click 1; half-life 14 days; window
 * 0 (all events); min_events 1 over active_days 0 (the whole window);
 * min_purchases 1; holdout 0 (off).
 */
void rb_train_opts_default(struct rb_train_opts *o);

/* Decay factor of an event at time ts: 0.5^((ts_max - ts) / half_life). */
double rb_decay(int64_t ts, int64_t ts_max, double half_life_days);

/*
 * The first timestamp within `days` of ts_max: an event at ts is inside
 * when ts >= rb_window_start(ts_max, days), i.e. ts_max - ts <= days (in
 * seconds); INT64_MIN when days is 0 (no limit). The one window rule of
 * training (window_days, active_days), popularity and the sessions behind
 * the co-view lists (window_days).
 */
int64_t rb_window_start(int64_t ts_max, double days);

/*
 * Fill t (overwritten: release earlier contents first) from d's events;
 * the semantics of each option are spelled out at the top of train.c.
 * On failure t is left zeroed. Errors: RC_EEMPTY (no event in the window,
 * or no cookie passes the thresholds), RC_ERANGE (a negative or non-finite
 * weight or day count, more than 2^32-1 events), -ENOMEM.
 */
int rb_train_build(struct rb_train *t, const struct rb_dataset *d, const struct rb_train_opts *o, char *err);

#endif
