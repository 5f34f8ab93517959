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

void rb_train_opts_default(struct rb_train_opts *o);

/* Decay factor of an event at time ts: 0.5^((ts_max - ts) / half_life). */
double rb_decay(int64_t ts, int64_t ts_max, double half_life_days);

/* Errors: RC_EEMPTY (no cookie passes the thresholds), -ENOMEM. */
int rb_train_build(struct rb_train *t, const struct rb_dataset *d, const struct rb_train_opts *o, char *err);

#endif
