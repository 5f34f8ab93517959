/*
 * eval.h - offline evaluation of the CF lists against held-out purchases
 * (rb_train.heldout), next to a most-popular baseline (the global
 * popularity ranking, with the same exclusions).
 */
#ifndef RB_EVAL_H
#define RB_EVAL_H

#include "dataset.h"

struct rb_eval {
    uint32_t k;
    uint64_t users;              /* rows with held-out purchases that have a CF list */
    double hr, recall, ndcg;     /* CF lists, @k */
    double pop_hr, pop_recall, pop_ndcg; /* most-popular baseline, @k */
    double coverage;             /* distinct products recommended / in-stock products */
    double pop_bias;             /* share of recommended slots going to the top 1% products by popularity */
};

/* cf: the CF lists (owner keys = cookie keys). exclude_bought: the baseline
 * skips each row's bought products, as the CF lists do unless recbuild runs
 * with --keep-bought (pass what the CF lists were scored with). */
int rb_eval_holdout(struct rb_eval *out, const struct rb_lists *cf, const struct rb_train *t,
                    const struct rb_dataset *d, uint32_t k, int exclude_bought, char *err);

#endif
