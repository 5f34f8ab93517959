/*
 * popularity.h - segment popularity: decayed, weighted event counts (the
 * same weights, window and half-life as training) per (location, device),
 * (location, *), (*, device) and (*, *), each -> top-N in-stock products.
 * Owner keys are rc_segment_key(loc, device) with "*" for any; source
 * RC_SRC_SEGMENT, except (*, *) which is RC_SRC_GLOBAL. Also each
 * category's products ranked by their global popularity (the category DB).
 */
#ifndef RB_POPULARITY_H
#define RB_POPULARITY_H

#include "dataset.h"

/* The segment lists into out, at most n entries each (1..RC_LIST_MAX, else
 * RC_ERANGE). Errors: RC_ERANGE, -ENOMEM. On error out is empty. */
int rb_popularity(struct rb_lists *out, const struct rb_dataset *d, const struct rb_train_opts *o, uint32_t n,
                  char *err);

/*
 * rb_popularity, and (categories not NULL) one list per category of
 * d->categories (list c for category c, owner key d->categories.keys[c],
 * the rc_key of its name; source RC_SRC_CATEGORY): the category's in-stock
 * products ranked by their score in the global list, at most n. As in the
 * global list, a product no kept event touched (score 0) is not listed,
 * so a category without such products has an empty list (not written).
 * Without categories (no catalog, or one without a category column)
 * categories->n is 0. On error both are empty.
 */
int rb_popularity_categories(struct rb_lists *out, struct rb_lists *categories, const struct rb_dataset *d,
                             const struct rb_train_opts *o, uint32_t n, char *err);

#endif
