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
 * Defaults: weights view 1, cart 3, purchase 10; half-life 14 days; window
 * 0 (all events); min_events 1 over active_days 0 (the whole window);
 * min_purchases 1; holdout 0 (off).
 */
void rb_train_opts_default(struct rb_train_opts *o);

/* Decay factor of an event at time ts: 0.5^((ts_max - ts) / half_life). */
double rb_decay(int64_t ts, int64_t ts_max, double half_life_days);

/*
 * Fill t (overwritten: release earlier contents first) from d's events;
 * the semantics of each option are spelled out at the top of train.c.
 * On failure t is left zeroed. Errors: RC_EEMPTY (no event in the window,
 * or no cookie passes the thresholds), RC_ERANGE (a negative or non-finite
 * weight or day count, more than 2^32-1 events), -ENOMEM.
 */
int rb_train_build(struct rb_train *t, const struct rb_dataset *d, const struct rb_train_opts *o, char *err);

#endif
