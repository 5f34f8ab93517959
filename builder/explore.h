/*
 * explore.h - new-product exploration: products younger than
 * --explore-age-days get a share (--explore-share) of the slots of the
 * segment, global, category and image lists, so new stock is seen before it has
 * history (README, "New products"; schemas/inputs.md, "Product age").
 * recbuild runs it after the lists are built and before the rules
 * (rules.h), which run last so that their caps and exclusions hold in every
 * stored list.
 *
 * Age. Measured back from the newest event (dataset ts_max: the clock the
 * decay and the window use, so a build is the same whenever it runs):
 *   - the catalog's created_at, when the product's row gives one (a
 *     created_at after the newest event is age 0);
 *   - else the product's first event, when the events reach back at least
 *     age_days before the newest (a shorter log cannot tell a new product
 *     from an old one that had no event early in it);
 *   - else the age is unknown, and the product is never new.
 * A product is new when it is recommendable (in stock) and younger than
 * age_days.
 *
 * Slots. Slot j (0-based) of a list that holds at most k entries is an
 * exploration slot when round((j + 1) s) > round(j s), rounding halves up:
 * round(k s) of the k slots, spread evenly, the first at position
 * ceil(1 / 2s) from 1 (s = 0.1: positions 5, 15, 25, ...). At an exploration
 * slot whose next entry is a new product already, that entry stays; else the
 * next candidate goes in with the score of the entry before it (slot 0: of
 * the entry after it; a list with none: 0), the entries after it move down
 * one, and the last falls off past k. Scores stay non-increasing, products
 * distinct (a candidate is never in the list), and every entry keeps the
 * order it had.
 *
 * Candidates, best first:
 *   - segment and global lists (RC_SRC_SEGMENT, RC_SRC_GLOBAL): every new
 *     product not in the list, in a seeded random order of the list's own,
 *     hash(seed, hour of the newest event, list owner, product): each
 *     segment draws its own sample, and each hourly build draws again, so
 *     the few slots a widget shows rotate over the new products;
 *   - category lists (RC_SRC_CATEGORY, list c for category c as
 *     popularity.h makes them): the same, among the category's new
 *     products, so a category-filtered request sees the category's new
 *     stock;
 *   - image lists (RC_SRC_IMAGE): the new products with an embedding, not
 *     the list's owner and not in the list, most similar (cosine) first,
 *     ties to the product interned first.
 * Other lists (cf, coview, ...) are left as they are. A list that ends
 * before its first exploration slot (an empty category list: none of its
 * products has an event) gets none.
 *
 * Nothing here is thread-safe; rb_explore parallelises inside (OpenMP).
 */
#ifndef RB_EXPLORE_H
#define RB_EXPLORE_H

#include <stdint.h>

#include "dataset.h"

/* Defaults, and why: README, "New products". */
#define RB_EXPLORE_AGE_DAYS_DEFAULT 14.0
#define RB_EXPLORE_SHARE_DEFAULT 0.1

struct rb_explore_opts {
    double age_days; /* new: younger than this many days; 0: exploration off */
    double share;    /* share of each list's slots, 0..1; 0: exploration off */
    uint64_t seed;   /* the segment lists' random order (recbuild: --seed) */
};

void rb_explore_opts_default(struct rb_explore_opts *o);

struct rb_explore_stats {
    int64_t now;              /* ages are measured back from here: the newest event, Unix seconds */
    int first_event_used;     /* 0: the events span less than age_days, first events give no age */
    /* How the age of each recommendable product was known. */
    uint64_t age_created_at, age_first_event, age_unknown;
    uint64_t new_products;    /* recommendable products younger than age_days */
    uint64_t new_with_slot;   /* of them, in at least one segment, global, category or image list (after exploration) */
    uint64_t slots;           /* entries new products hold in those lists (after exploration) */
    uint64_t slots_added;     /* of them, entries exploration put in */
    uint64_t lists;           /* segment, global, category and image lists looked at */
    uint64_t lists_changed;   /* of them, lists exploration put a product in */
};

/* 1 when slot j (0-based) is an exploration slot at share s, else 0. */
int rb_explore_slot(uint32_t j, double share);

/* Exploration slots among the first k: round(k s). */
uint32_t rb_explore_slots(uint32_t k, double share);

/*
 * Which products are new: *is_new gets a calloc'd array [d->products.n]
 * of 0/1 (the caller frees it), and st its now, first_event_used, age_*
 * and new_products. Errors: -ENOMEM.
 */
int rb_explore_new(const struct rb_dataset *d, const struct rb_explore_opts *o, uint8_t **is_new,
                   struct rb_explore_stats *st);

/*
 * Merge candidates cand[0, ncand) (best first; none in the list) into the
 * list items/scores of len entries, which may hold k: the rule above. The
 * list is rewritten in place (items and scores have room for k); tmp_items
 * and tmp_scores are scratch of len entries. Returns the new length;
 * *added is how many candidates went in.
 */
uint32_t rb_explore_merge(uint32_t *items, float *scores, uint32_t len, uint32_t k, const uint32_t *cand,
                          uint32_t ncand, const uint8_t *is_new, double share, uint32_t *tmp_items,
                          float *tmp_scores, uint32_t *added);

/*
 * Explore the segment and global lists of segments, the category lists of
 * categories and the image lists of image (any may be NULL) of dataset d,
 * and fill st (zeroed first).
 * With o->age_days or o->share 0 nothing changes and st stays zero.
 * Errors: -ENOMEM (message in err; the lists may be part-explored, each
 * still ranked and distinct).
 */
int rb_explore(struct rb_lists *segments, struct rb_lists *categories, struct rb_lists *image,
               const struct rb_dataset *d, const struct rb_explore_opts *o, struct rb_explore_stats *st, char *err);

/*
 * Count new_with_slot and slots again on the lists as they are now (after
 * the business rules, which can drop or move explored entries: recbuild
 * calls it after them so that the figures describe the stored lists);
 * the other figures of st stay. Errors: -ENOMEM.
 */
int rb_explore_recount(const struct rb_lists *segments, const struct rb_lists *categories,
                       const struct rb_lists *image, const struct rb_dataset *d, const struct rb_explore_opts *o,
                       struct rb_explore_stats *st, char *err);

#endif
