/*
 * eval.h - offline evaluation of the CF lists against held-out purchases
 * (rb_train.heldout), next to a most-popular baseline (the global
 * popularity ranking, with the same exclusions); and the browsing route's
 * next-item protocol on held-out sessions (rb_eval_next_item, below).
 */
#ifndef RB_EVAL_H
#define RB_EVAL_H

#include "als.h"
#include "dataset.h"
#include "session.h"

struct rb_eval {
    uint32_t k;
    uint64_t users;              /* rows with held-out purchases that have a CF list */
    double hr, recall, ndcg, precision;             /* CF lists, @k */
    double pop_hr, pop_recall, pop_ndcg, pop_precision; /* most-popular baseline, @k */
    double coverage;             /* distinct products recommended / in-stock products */
    double pop_bias;             /* share of recommended slots going to the top 1% products by popularity */
};

/* cf: the CF lists (owner keys = cookie keys). exclude_bought: the baseline
 * skips each row's bought products, as the CF lists do unless recbuild runs
 * with --keep-bought (pass what the CF lists were scored with). */
int rb_eval_holdout(struct rb_eval *out, const struct rb_lists *cf, const struct rb_train *t,
                    const struct rb_dataset *d, uint32_t k, int exclude_bought, char *err);

/* The same, and each evaluated row's NDCG@k in row_ndcg[row] (t->ui.rows
 * entries; NAN for rows not evaluated). row_ndcg may be NULL. */
int rb_eval_holdout_rows(struct rb_eval *out, const struct rb_lists *cf, const struct rb_train *t,
                         const struct rb_dataset *d, uint32_t k, int exclude_bought, double *row_ndcg, char *err);

/* CF's lift over most-popular: ndcg / pop_ndcg, or 0 when pop_ndcg is 0. */
double rb_eval_lift(const struct rb_eval *e);

/*
 * Diversity and reach of a kind of list, over each list's first k entries
 * (what the rules, rules.h, are judged by; any lists, not only CF's):
 *   coverage       distinct products / in-stock products
 *   ild_category   intra-list diversity by category: per list, the share of
 *                  its pairs of entries (both categories known) in two
 *                  different categories; the mean over lists with such a
 *                  pair (NAN when none has one: no categories)
 *   ild_embedding  intra-list diversity by image embedding: per list, the
 *                  mean of 1 - cosine over its pairs with both embeddings;
 *                  the mean over lists with such a pair (NAN when none)
 */
struct rb_diversity {
    uint32_t k;
    uint64_t lists;     /* lists with at least one entry */
    uint64_t entries;   /* entries looked at (at most k a list) */
    double coverage, ild_category, ild_embedding;
};

/* Errors: RC_ERANGE (k 0 or above RC_LIST_MAX), -ENOMEM. */
int rb_eval_diversity(struct rb_diversity *out, const struct rb_lists *l, const struct rb_dataset *d, uint32_t k,
                      char *err);

/*
 * Signs that a CF model learned nothing usable, whatever the holdout says
 * (and with no holdout at all). Measured on the lists and the factors:
 *   cold_share    share of list slots on products with no training
 *                 interaction (their factors never left the start values)
 *   factor_norm   mean L2 norm of the factors of products with interactions
 *   spread        median over lists of (first score - last score) / |first score|
 *   distinct      distinct products over all list slots
 * The model is degenerate when cold_share > 0.5 ("lists of products no one
 * interacted with"), factor_norm < 1e-4 or not finite ("collapsed
 * factors"), spread < 1e-3 ("near-constant scores"), or, over at least
 * RB_HEALTH_MIN_LISTS lists, fewer distinct products than 3 list lengths
 * ("the same few products for every cookie": no personalisation at all);
 * reason names the first that holds, NULL otherwise. A static string.
 */
#define RB_HEALTH_MIN_LISTS 100
struct rb_health {
    double cold_share, factor_norm, spread;
    uint64_t slots, distinct;
    int degenerate;
    const char *reason;
};

/* Errors: -ENOMEM. m may be NULL (factor_norm is then not checked). */
int rb_eval_health(struct rb_health *out, const struct rb_lists *cf, const struct rb_als_model *m,
                   const struct rb_train *t, char *err);

/* The same over each list's first `stored` entries (the "list length"
 * above): recbuild judges the entries a list stores, also when the model
 * ranked more candidates for the rules (rules.h). rb_eval_health is
 * stored = cf->k. */
int rb_eval_health_n(struct rb_health *out, const struct rb_lists *cf, const struct rb_als_model *m,
                     const struct rb_train *t, uint32_t stored, char *err);

/*
 * The browsing route's next-item protocol (rb_eval_next_item). For each
 * held-out session (rb_sessions_holdout), its products in time order with
 * repeats in a row merged, each step p -> q asks: at what rank, within k,
 * does the list that answers `products=p` hold q? Ranks of the lists:
 *   blend     p's image list, scores times (1 - w), and p's coview list,
 *             scores times w, merged best score first (ties: image first)
 *             as recedge merges them, for each w of the grid; w = 1: the
 *             coview list alone (image lists set aside); the best w by HR
 *             (then MRR, then the earlier in the grid) is reported
 *   coview    p's coview list alone
 *   image     p's image list alone (only when image lists are given)
 *   baseline  the plain co-view count's list of p
 *   pop       nothing but the fill: what recedge answers without lists
 * Every list skips p and repeats, and is filled up to k from the products
 * most often in the training sessions (in stock), as recedge fills from the
 * global list. HR@k is the share of steps with q in the first k; MRR@k the
 * mean of 1/rank (0 past k).
 */
enum rb_next_kind { RB_NEXT_BLEND, RB_NEXT_COVIEW, RB_NEXT_IMAGE, RB_NEXT_BASELINE, RB_NEXT_POP, RB_NEXT_KINDS };
extern const char *const rb_next_kind_names[RB_NEXT_KINDS]; /* "blend", "coview", "image", "baseline", "pop" */

#define RB_NEXT_GRID_MAX 16

struct rb_next_eval {
    uint32_t k;
    uint64_t sessions, steps;                 /* held-out sessions walked, steps asked */
    double hr[RB_NEXT_KINDS], mrr[RB_NEXT_KINDS];
    int have[RB_NEXT_KINDS];                  /* the kind was measured */
    double weight;                            /* the blend weight w chosen */
    uint32_t ngrid;
    double grid_w[RB_NEXT_GRID_MAX], grid_hr[RB_NEXT_GRID_MAX], grid_mrr[RB_NEXT_GRID_MAX];
};

/*
 * coview: the coview lists (scores in [0, 1], rb_coview) trained without
 * the held-out sessions; image and baseline may be NULL (not measured;
 * without image, blend is coview). weights: the blend grid, 1..
 * RB_NEXT_GRID_MAX values in [0, 1] (1: coview alone). held:
 * [s->n]. Errors: RC_ERANGE (k
 * 0 or above RC_LIST_MAX, a bad grid), -ENOMEM.
 */
int rb_eval_next_item(struct rb_next_eval *out, const struct rb_lists *coview, const struct rb_lists *image,
                      const struct rb_lists *baseline, const struct rb_sessions *s, const uint8_t *held,
                      const struct rb_dataset *d, uint32_t k, const double *weights, uint32_t nweights, char *err);

#endif
