/*
 * tune.h - choosing the CF model's parameters from the shop's own events.
 *
 * The events are split as the holdout evaluation splits them (train.h):
 * each cookie's first `skip` products in split order (the evaluation's
 * held-out purchases, never seen here) leave the data, and the next one is
 * the validation target. On that split a successive-halving search
 * (Jamieson & Talwalkar 2016) trains configurations with the CPU ALS and
 * keeps the best by NDCG@k on the validation purchases:
 *
 *   rung 0: `configs` configurations, RB_TUNE_RUNG0 iterations each
 *   rung r: the best third of rung r-1, trained on to 3^r x RB_TUNE_RUNG0
 *           iterations (rb_als_more_cpu: continued, not restarted)
 *
 * Every (configuration, iterations) evaluation is a trial. The earlier
 * rungs prune; the best trial of the last complete rung gives the
 * parameters (an under-trained model that measures best after 2 or 6
 * iterations is more often lucky in its random start than good), unless
 * it beats the base configuration's trial of that rung by no more than
 * one standard error of their paired per-cookie NDCG difference: then the
 * base stays (a best of many trials on a few hundred cookies is often
 * best by chance). A rung the budget cuts short is not chosen from: the
 * last complete one is (the first rung's trials when it is itself cut
 * short).
 *
 * The first RB_TUNE_FIXED configurations are fixed before the data is
 * seen: the options passed in (the base), the same without decay, and a
 * lightly regularised one with 128 factors; the rest are drawn from
 * `seed`: factors {16, 32, 64, 128}, reg log-uniform [0.003, 10], alpha
 * log-uniform [0.1, 30], weight-cart [1, 10] and weight-purchase [1, 50]
 * log-uniform with views at 1, half-life 0 (no decay) two times in five,
 * else log-uniform [1, 365] days. Pinned parameters (RB_PARAM_* bits) keep
 * the value passed in. With iterations pinned there is one rung.
 *
 * Who goes on: the base at every rung (first in the later ones), and an
 * anchor (the other two fixed) whatever its rank while the rung's best
 * trial beats it by no more than two standard errors of their paired
 * difference (a rank after 2 or 6 iterations is partly the random
 * start's; an anchor clearly behind is pruned as any other); these count
 * in the best third, and one other configuration at least goes on with
 * them.
 *
 * Cost is bounded three ways: at most max_cookies training cookies (a
 * seeded sample), at most max_users validation cookies scored, and the
 * wall-clock budget: no trial starts once budget_s has passed (the one
 * running finishes). Within the budget the search is deterministic: the
 * same data, options and thread count give the same trials and choice.
 */
#ifndef RB_TUNE_H
#define RB_TUNE_H

#include "als.h"
#include "dataset.h"

#define RB_TUNE_RUNG0 2       /* iterations at the first rung */
#define RB_TUNE_MAX_TRIALS 96 /* trials recorded (and run) at most */
#define RB_TUNE_MIN_USERS 30  /* fewer validation cookies: no search (RC_EEMPTY) */
#define RB_TUNE_FIXED 3       /* configurations fixed before the data is seen: the base and two anchors */

/* The parameters the search chooses, one bit each for `pinned`. */
enum rb_param {
    RB_PARAM_FACTORS = 1 << 0,
    RB_PARAM_REG = 1 << 1,
    RB_PARAM_ALPHA = 1 << 2,
    RB_PARAM_ITERATIONS = 1 << 3,
    RB_PARAM_WEIGHT_VIEW = 1 << 4,
    RB_PARAM_WEIGHT_CART = 1 << 5,
    RB_PARAM_WEIGHT_PURCHASE = 1 << 6,
    RB_PARAM_HALF_LIFE = 1 << 7,
    RB_PARAM_ALL = (1 << 8) - 1,
};

struct rb_params {
    struct rb_train_opts train; /* weight[], half_life_days; the rest as passed in */
    struct rb_als_opts als;     /* factors, reg, alpha, iterations; the rest as passed in */
};

struct rb_tune_opts {
    double budget_s;      /* wall-clock budget in seconds (> 0) */
    uint32_t configs;     /* configurations at rung 0 (default 18) */
    uint32_t rungs;       /* at most this many rungs (default 3: 2, 6, 18 iterations) */
    uint32_t k;           /* NDCG@k (default 10) */
    uint32_t max_users;   /* validation cookies scored (default 2000) */
    uint32_t max_cookies; /* training cookies sampled (default 50000) */
    uint32_t skip;        /* products per cookie the evaluation holds out (recbuild --holdout) */
    int split;            /* enum rb_split, as the evaluation's */
    uint64_t seed;        /* sampling of configurations, cookies and users */
    unsigned pinned;      /* enum rb_param bits not searched */
    int exclude_bought;   /* as the CF lists are scored */
    uint32_t max_trials;  /* trials at most, a budget in trials (default and at most RB_TUNE_MAX_TRIALS) */
};

struct rb_trial {
    struct rb_params p;   /* p.als.iterations: the iterations this trial measured */
    uint32_t config, rung;
    double ndcg, hr;      /* @k on the validation purchases */
    double seconds;       /* training and scoring this trial took */
};

struct rb_tune_result {
    struct rb_params best;         /* the chosen trial's parameters */
    double best_ndcg, best_hr;
    uint32_t best_trial, base_trial; /* trials[] of the choice and of the base's trial of the same rung */
    int kept_base;                 /* the best trial was not one standard error better: the base stays */
    double gain, gain_se;          /* the best trial's mean NDCG gain over the base's (same rung), and its standard error */
    double pop_ndcg, pop_hr;       /* the most-popular baseline on the same validation */
    uint64_t users;                /* validation cookies scored */
    uint32_t cookies;              /* training rows (after the sample) */
    uint32_t ntrials;
    struct rb_trial trials[RB_TUNE_MAX_TRIALS];
    double seconds;
    int budget_hit;                /* the budget ended the search early */
};

/* configs 18, rungs 3, k 10, max_users 2000, max_cookies 50000, budget 60 s. */
void rb_tune_opts_default(struct rb_tune_opts *o);

/*
 * Search parameters for d's events; base gives every value not searched
 * and the anchors (its holdout fields are ignored: o->skip and o->split
 * say how the evaluation splits). Logs one line per trial (event=tune.trial).
 * Errors: RC_EEMPTY (fewer than RB_TUNE_MIN_USERS cookies with a validation
 * purchase: nothing to tune on), RC_ERANGE (bad options), -ENOMEM, and
 * whatever training or scoring returns.
 */
int rb_tune(struct rb_tune_result *r, const struct rb_dataset *d, const struct rb_params *base,
            const struct rb_tune_opts *o, char *err);

#endif
