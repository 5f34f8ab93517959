/*
 * gen_model.h - the model behind recgen's data: the catalog's structure and
 * the probability tables every cookie draws from (schemas/recgen.md, "The
 * model"), built once from the config in O(products + categories *
 * locations) and read-only afterwards.
 *
 * The fixed constants of the model are here; the flags are in gen.h.
 * Products are indexed 0..P-1 in id order (id "p" + zero-padded index + 1),
 * categories 0..K-1, locations 0..L-1 in traffic order, devices as
 * rb_gen_device_names.
 */
#ifndef RB_GEN_MODEL_H
#define RB_GEN_MODEL_H

#include "gen.h"
#include "gen_rng.h"

#include <stddef.h>
#include <stdint.h>

#define CATEGORY_POPULARITY_ZIPF 0.8 /* prior over categories */
#define CATEGORY_SIZE_ZIPF 0.6       /* how unevenly products spread over categories */
#define LOCATION_BOOST 5.0           /* weight factor of a location's categories */
#define DEVICE_BOOST 2.5             /* weight factor of a device's categories */
#define LOCATION_BOOSTED 2U          /* categories boosted per location */
#define SESSION_DEVICE_STICKY 0.85   /* a session uses the cookie's device */
#define ACTIVITY_ALPHA 1.5           /* Lomax tail of cookie activity */
#define ACTIVITY_CAP 50.0            /* heaviest cookie / typical cookie */
#define SESSION_MAX 40U              /* events per session at most */
#define SESSION_MEAN_EXTRA 4.5       /* 1 + floor(Exp * this) events */
#define GAP_MIN_S 5.0                /* seconds between events in a session */
#define GAP_MEAN_S 40.0
#define GAP_MAX_S 1800.0
#define P_FOCUS_TASTE 0.9            /* session focus is a favourite category */
#define P_VIEW_HIT 0.05              /* a view of a local hit product */
#define P_VIEW_REVISIT 0.20          /* a view of a product already seen */
#define P_VIEW_EXPLORE 0.10          /* a view outside the focus category */
#define P_BUYER_CONVERT 0.35         /* a buyer's session ends in carts */
#define P_BUYER_ABANDON 0.10         /* ... or in an abandoned cart */
#define P_BROWSER_ABANDON 0.08       /* a non-buyer's session has a cart */
#define P_CART_PURCHASED 0.6
#define P_PURCHASE_OF_CART 0.9       /* else another product viewed in the session */

#define PF_IN_STOCK 1u
#define PF_NEW 2u

#define CAT_NAME_MAX 32
#define PID_STRIDE 16 /* lets the event writer copy ids as fixed 16-byte blocks */

#define RB_GEN_CATEGORY_NAMES 40
#define RB_GEN_TITLE_ADJECTIVES 16
extern const char *const rb_gen_category_names[RB_GEN_CATEGORY_NAMES];
extern const char *const rb_gen_location_codes[RB_GEN_MAX_LOCATIONS]; /* by traffic */
extern const char *const rb_gen_device_names[RB_GEN_DEVICES];
extern const double rb_gen_device_primary_share[RB_GEN_DEVICES];
extern const uint32_t rb_gen_device_boost_count[RB_GEN_DEVICES];
extern const char *const rb_gen_title_adjectives[RB_GEN_TITLE_ADJECTIVES];

struct model {
    const struct rb_gen_config *cfg;
    uint32_t P, K, Q, L;      /* products, categories, clusters, locations */
    uint64_t C, N;            /* cookies, events */
    int64_t start_ts;

    /* products, indexed 0..P-1 */
    uint32_t *cat;            /* category */
    uint8_t *cluster;         /* cluster within the category, < Q */
    uint8_t *flags;           /* PF_* */
    uint32_t *within;         /* rank within the category, 0 = most popular */
    uint32_t *rank;           /* global rank by expected share, 1-based */
    double *share;            /* expected share of views */
    char *pid;                /* P * PID_STRIDE bytes, each id NUL-padded */
    uint32_t pid_len;         /* 7 .. 10 */
    uint32_t new_count, oos_count;

    /* categories */
    char (*cat_name)[CAT_NAME_MAX];
    uint32_t *cat_off;        /* [K+1]: products of k are cat_prods[off[k], off[k+1]) */
    uint32_t *cat_prods;      /* [P], within each category by within-rank */
    float *alias_prob;        /* [P], Vose alias table per category slice */
    uint32_t *alias_idx;      /* [P], slot index within the slice */
    double *cat_prior;        /* [K], sums to 1 */
    double *cat_weight;       /* [K], sum of rb_gen_product_weight over the category */
    double *cat_mix;          /* [K], expected share of category draws */

    /* segments */
    double loc_share[RB_GEN_MAX_LOCATIONS];
    double loc_cdf[RB_GEN_MAX_LOCATIONS];
    double dev_session_share[RB_GEN_DEVICES];
    uint32_t loc_boost[RB_GEN_MAX_LOCATIONS][LOCATION_BOOSTED];
    uint32_t n_loc_boost;
    uint32_t dev_boost[RB_GEN_DEVICES][2];
    uint32_t hits[RB_GEN_MAX_LOCATIONS][RB_GEN_HITS_PER_LOCATION];
    uint32_t n_hits;
    double p_hit;             /* a view is of a local hit: P_VIEW_HIT, 0 without hits */
    double *seg_cdf;          /* [L][DEVICES][K] cumulative category weights, last = 1 */
};

/* Cookies a config asks for: --cookies, or events / 10 (at least 1). */
uint64_t rb_gen_effective_cookies(const struct rb_gen_config *cfg);

/* Build the model for cfg (which passed rb_gen_check); m keeps a pointer
 * to cfg. Returns 0 or -ENOMEM (m is then released). */
int rb_gen_model_build(struct model *m, const struct rb_gen_config *cfg, char *err);

/* Release everything; m is zeroed. */
void rb_gen_model_free(struct model *m);

/* Weight of product j within its category: 1/(within+1)^zipf, 0 if new. */
double rb_gen_product_weight(const struct model *m, uint32_t j);

/* 1 when j is one of location loc's hit products. */
int rb_gen_is_hit(const struct model *m, uint32_t loc, uint32_t j);

/* A product and its expected share, ordered by share (larger first),
 * then by index. */
struct ranked {
    double share;
    uint32_t j;
};

int rb_gen_ranked_cmp(const void *a, const void *b);

static inline const char *product_id(const struct model *m, uint32_t j)
{
    return m->pid + (size_t)j * PID_STRIDE;
}

/* Index of the first cdf[i] > u, cdf non-decreasing with cdf[n-1] = 1. */
static inline uint32_t cdf_pick(const double *cdf, uint32_t n, double u)
{
    uint32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Category k's product drawn by its alias table. */
static inline uint32_t draw_product(const struct model *m, struct rng *r, uint32_t k)
{
    uint32_t off = m->cat_off[k], n = m->cat_off[k + 1] - off;
    uint64_t x = rng_next(r);
    uint32_t slot = (uint32_t)(((x >> 32) * (uint64_t)n) >> 32);
    float frac = (float)((double)(x & 0xffffffffu) * 0x1.0p-32);
    if (frac >= m->alias_prob[off + slot])
        slot = m->alias_idx[off + slot];
    return m->cat_prods[off + slot];
}

/* The cumulative category weights of segment (loc, dev), K entries. */
static inline const double *seg_cdf_of(const struct model *m, uint32_t loc, uint32_t dev)
{
    return m->seg_cdf + ((size_t)loc * RB_GEN_DEVICES + dev) * m->K;
}

/* Probability of category k in a cumulative table. */
static inline double cdf_mass(const double *cdf, uint32_t k)
{
    return cdf[k] - (k ? cdf[k - 1] : 0.0);
}

static inline uint32_t draw_category(const struct model *m, struct rng *r, uint32_t loc, uint32_t dev)
{
    return cdf_pick(seg_cdf_of(m, loc, dev), m->K, rng_unit(r));
}

#endif
