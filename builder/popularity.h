/*
 * popularity.h - segment popularity: decayed, weighted event counts (the
 * same weights, window and half-life as training) per (location, device),
 * (location, *), (*, device) and (*, *), each -> top-N in-stock products.
 * Owner keys are rc_segment_key(loc, device) with "*" for any; source
 * RC_SRC_SEGMENT, except (*, *) which is RC_SRC_GLOBAL.
 */
#ifndef RB_POPULARITY_H
#define RB_POPULARITY_H

#include "dataset.h"

int rb_popularity(struct rb_lists *out, const struct rb_dataset *d, const struct rb_train_opts *o, uint32_t n,
                  char *err);

#endif
