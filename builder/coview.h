/*
 * coview.h - item-to-item lists learned from sessions ("viewed with"):
 * for each product, the products other sessions browsed near it.
 *
 * Counting. Within each session (session.h), in time order, every pair of
 * events at positions i < j with j - i <= window and distinct products
 * (a, b) adds
 *
 *     w(a, b) = (tw_i + tw_j) / 2 * decay(ts_j) / (j - i)
 *
 * to C(a, b) and `backward` times it to C(b, a) (default 1: symmetric;
 * below 1 favours what is viewed after a product). Positions count the events whose type has a
 * weight above 0 in struct rb_train_opts; tw is that weight when `typed`,
 * else 1; decay is rb_decay with the options' half_life_days (0: none).
 * window_days bounds the events through the sessions' `since`. Measured on
 * the next-item holdout, type weights and decay from the newest event both
 * cost HR on recgen and MovieLens data (ops/bench/quality.md), so both are
 * off by default. With `plain` every pair adds 1 / (j - i) whatever the
 * options: the plain co-view count the evaluation measures against. n(a)
 * is the sum of a's row, and the pair's evidence its number of
 * co-occurrences.
 *
 * Scoring. For product a, each b with evidence >= min_count, b != a and b
 * in stock scores C(a, b) (RB_COVIEW_RAW), C(a, b) / sqrt(n(a) n(b))
 * (RB_COVIEW_COSINE) or C(a, b) / n(b) (RB_COVIEW_LIFT: co-views per view
 * of b, so popular products stop filling every list). The top n form a's
 * list, best first (ties: lower product index), scores divided by the
 * first so that every list starts at 1 (schemas/cache.md: coview scores
 * are in [0, 1], times the blend factor recbuild applies with
 * rb_coview_scale). Products without such a b get no list.
 *
 * Memory. The pairs are counted in passes over ranges of products a, each
 * pass holding at most max_pairs (b, w) entries (8 bytes each), plus one
 * dense accumulator per scoring thread (12 bytes per product; as many
 * threads as fit in 256 MiB, at least one). Deterministic: the
 * same input, options and thread count give the same lists (sums are
 * taken in session order whatever the threads).
 */
#ifndef RB_COVIEW_H
#define RB_COVIEW_H

#include "dataset.h"
#include "session.h"

enum rb_coview_norm { RB_COVIEW_RAW = 0, RB_COVIEW_COSINE = 1, RB_COVIEW_LIFT = 2 };

struct rb_coview_opts {
    uint32_t window;    /* positions apart at most (default 5) */
    uint32_t min_count; /* co-occurrences a pair needs (default 1) */
    int norm;           /* enum rb_coview_norm (default raw: measured best, ops/bench/quality.md) */
    int typed;          /* weigh events by their type weight (default 0: 1 each) */
    double half_life_days; /* decay back from the newest event (default 0: none) */
    double backward;    /* C(b, a) gets w(a, b) times this for a viewed before b (default 1) */
    int plain;          /* the plain count: no event weights, no decay, raw scores */
    uint64_t max_pairs; /* entries per counting pass (default 2^25: 256 MiB) */
};

struct rb_coview_stats {
    uint64_t pairs;  /* (a, b) entries counted, both directions */
    uint32_t passes; /* counting passes */
    uint32_t lists;  /* products with a list */
};

void rb_coview_opts_default(struct rb_coview_opts *o);

/*
 * Fill out (released and re-initialised) with one list of at most n
 * entries per product that has one: owner key the product's, source
 * RC_SRC_COVIEW. skip is NULL or [s->n]: sessions with skip[i] set are not
 * counted (the next-item holdout). t gives the event type weights. Errors: RC_ERANGE (n 0 or above RC_LIST_MAX, window 0), -ENOMEM.
 */
int rb_coview(struct rb_lists *out, struct rb_coview_stats *st, const struct rb_dataset *d,
              const struct rb_sessions *s, const uint8_t *skip, const struct rb_train_opts *t, uint32_t n,
              const struct rb_coview_opts *o, char *err);

/* Multiply every score of l by f. */
void rb_coview_scale(struct rb_lists *l, float f);

/*
 * Scale coview scores s (in (0, 1]) for the browsing merge at blend weight
 * w in [0, 1] (schemas/cache.md): s * w / (1 - w), so that merging by
 * score ranks coview against image cosines as w * s against (1 - w) *
 * cosine; w = 1: 1 + s, above every cosine (recbuild then sets its image
 * lists aside: RC_LIST_ASIDE, coview lists alone answer).
 */
void rb_coview_blend(struct rb_lists *l, double w);

#endif
