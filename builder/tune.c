/*
 * tune.c - successive-halving search over the CF parameters (tune.h).
 *
 * A configuration's state between rungs is its training matrix (weights
 * and half-life change the matrix) and its model; only the survivors of a
 * rung keep theirs, so at most (configs + 2) / 3 of each are alive (or,
 * when they are more, the base, the anchors within noise of the best and
 * one other), and the one in training.
 */
#include "tune.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "eval.h"
#include "log.h"
#include "progress.h"
#include "rand.h"
#include "score.h"
#include "train.h"

/* An anchor goes on while the rung's best beats it by at most this many standard errors (carried()). */
#define TUNE_ANCHOR_SE 2.0

void rb_tune_opts_default(struct rb_tune_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->budget_s = 60.0;
    o->configs = 18;
    o->rungs = 3;
    o->k = 10;
    o->max_users = 2000;
    o->max_cookies = 50000;
    o->split = RB_SPLIT_TEMPORAL;
    o->seed = 42;
    o->exclude_bought = 1;
    o->max_trials = RB_TUNE_MAX_TRIALS;
}

/* ---- drawing configurations ---- */

static double uniform(uint64_t *s)
{
    return rb_rand_unit(rb_rand_next(s));
}

static double log_uniform(uint64_t *s, double lo, double hi)
{
    return exp(log(lo) + uniform(s) * (log(hi) - log(lo)));
}

/* Two significant digits: the values read back from a parameter file are the ones tried. */
static double round2(double v)
{
    if (!(v > 0))
        return v;
    double e = pow(10.0, floor(log10(v)) - 1);
    return round(v / e) * e;
}

/* Configuration i: anchors first (see tune.h), then drawn; pinned values from base. */
static void config_make(struct rb_params *p, const struct rb_params *base, unsigned pinned, uint32_t i,
                        uint64_t *rng)
{
    static const uint32_t factor_choices[] = {16, 32, 64, 128};
    struct rb_params c = *base;
    if (i == 1) {
        c.train.half_life_days = 0;
    } else if (i == 2) {
        c.als.factors = 128;
        c.als.reg = 0.1f;
        c.als.alpha = 1.0f;
        c.train.weight[RB_VIEW] = c.train.weight[RB_CART] = c.train.weight[RB_PURCHASE] = 1.0f;
        c.train.half_life_days = 0;
    } else if (i > 2) {
        c.als.factors = factor_choices[rb_rand_next(rng) % 4];
        c.als.reg = (float)round2(log_uniform(rng, 0.003, 10));
        c.als.alpha = (float)round2(log_uniform(rng, 0.1, 30));
        c.train.weight[RB_VIEW] = 1.0f;
        c.train.weight[RB_CART] = (float)round2(log_uniform(rng, 1, 10));
        c.train.weight[RB_PURCHASE] = (float)round2(log_uniform(rng, 1, 50));
        c.train.half_life_days = uniform(rng) < 0.4 ? 0.0 : round2(log_uniform(rng, 1, 365));
    }
    /* pinned parameters stay as given, whatever the anchor or the draw said */
    if (pinned & RB_PARAM_FACTORS)
        c.als.factors = base->als.factors;
    if (pinned & RB_PARAM_REG)
        c.als.reg = base->als.reg;
    if (pinned & RB_PARAM_ALPHA)
        c.als.alpha = base->als.alpha;
    if (pinned & RB_PARAM_WEIGHT_VIEW)
        c.train.weight[RB_VIEW] = base->train.weight[RB_VIEW];
    if (pinned & RB_PARAM_WEIGHT_CART)
        c.train.weight[RB_CART] = base->train.weight[RB_CART];
    if (pinned & RB_PARAM_WEIGHT_PURCHASE)
        c.train.weight[RB_PURCHASE] = base->train.weight[RB_PURCHASE];
    if (pinned & RB_PARAM_HALF_LIFE)
        c.train.half_life_days = base->train.half_life_days;
    if (c.train.weight[RB_VIEW] + c.train.weight[RB_CART] + c.train.weight[RB_PURCHASE] <= 0)
        c.train.weight[RB_PURCHASE] = 1.0f;
    *p = c;
}

/* ---- one configuration's state ---- */

struct cand {
    struct rb_params p;
    struct rb_train t;
    struct rb_als_model m;
    uint32_t config, iterations; /* iterations trained so far */
    double ndcg;                 /* at the last rung */
    double *rows;                /* per validation row NDCG at the last rung (search.rows' layout) */
    uint32_t nrows;              /* of rows: search.nrows when it was measured */
    int alive;
};

static void cand_release(struct cand *c)
{
    rb_train_release(&c->t);
    rb_als_release(&c->m);
    free(c->rows);
    c->rows = NULL;
    c->alive = 0;
}

struct search {
    const struct rb_dataset *d;
    const struct rb_tune_opts *o;
    struct rb_tune_result *r;
    double t0;
    uint32_t pop_done;
    /* per validation row NDCG (NAN: not evaluated): the trial at hand, the
     * best trial, and the base configuration's trial, both of the last rung reached */
    double *rows, *best_rows, *base_rows;
    uint32_t nrows;
    uint32_t rung; /* the last rung reached: the best and the base's trial are of this rung */
    int have_best, have_base;
    /* the choice as it stood when the last complete rung ended, for a rung
     * the budget cuts short: its trials are not chosen from */
    struct {
        struct rb_params best;
        double best_ndcg, best_hr;
        uint32_t best_trial, base_trial;
        int have_base;
    } done;
    double *done_best_rows, *done_base_rows;
    int have_done;
};

/* Make room for n rows in each of the three arrays; the rows are the same for every configuration. */
static int rows_fit(struct search *s, uint32_t n)
{
    if (n == s->nrows)
        return 0;
    double **arrays[] = {&s->rows, &s->best_rows, &s->base_rows, &s->done_best_rows, &s->done_base_rows};
    int ok = 1;
    for (size_t a = 0; a < sizeof(arrays) / sizeof(*arrays); a++) {
        free(*arrays[a]);
        *arrays[a] = malloc(sizeof(double) * ((size_t)n + 1));
        ok &= *arrays[a] != NULL;
        /* rows of another row set: no row counts in a comparison (prefer_base skips NAN) */
        for (uint32_t i = 0; *arrays[a] && i <= n; i++)
            (*arrays[a])[i] = NAN;
    }
    s->nrows = n;
    s->have_base = 0;
    s->have_done = 0;
    return ok ? 0 : -ENOMEM;
}

/* A rung ended with every candidate measured: remember the choice as it stands. */
static void rung_done(struct search *s)
{
    if (!s->have_best)
        return;
    const struct rb_tune_result *r = s->r;
    s->done.best = r->best;
    s->done.best_ndcg = r->best_ndcg;
    s->done.best_hr = r->best_hr;
    s->done.best_trial = r->best_trial;
    s->done.base_trial = r->base_trial;
    s->done.have_base = s->have_base;
    memcpy(s->done_best_rows, s->best_rows, sizeof(double) * s->nrows);
    memcpy(s->done_base_rows, s->base_rows, sizeof(double) * s->nrows);
    s->have_done = 1;
}

/* The budget cut a rung short: choose from the last complete rung, when there is one. */
static void rung_cut(struct search *s)
{
    if (!s->have_done)
        return; /* the first rung itself: its trials are all there is */
    struct rb_tune_result *r = s->r;
    r->best = s->done.best;
    r->best_ndcg = s->done.best_ndcg;
    r->best_hr = s->done.best_hr;
    r->best_trial = s->done.best_trial;
    r->base_trial = s->done.base_trial;
    s->have_base = s->done.have_base;
    memcpy(s->best_rows, s->done_best_rows, sizeof(double) * s->nrows);
    memcpy(s->base_rows, s->done_base_rows, sizeof(double) * s->nrows);
}

/* Mark the validation cookies to score: rows with a held-out product, at most max_users by a seeded draw. */
static uint64_t pick_users(struct rb_train *t, const struct rb_dataset *d, const struct rb_tune_opts *o)
{
    uint64_t with = 0;
    for (uint32_t r = 0; r < t->ui.rows; r++)
        with += t->heldout.indptr[r + 1] > t->heldout.indptr[r];
    double share = with > o->max_users ? (double)o->max_users / (double)with : 1.0;
    uint64_t seed = o->seed ^ 0x5eed5eedULL, n = 0;
    for (uint32_t r = 0; r < t->ui.rows; r++) {
        int has = t->heldout.indptr[r + 1] > t->heldout.indptr[r];
        uint64_t s = seed ^ d->cookies.keys[t->row_cookie[r]];
        t->row_wants_list[r] = has && (share >= 1.0 || uniform(&s) < share);
        n += t->row_wants_list[r];
    }
    return n;
}

static int cand_train_matrix(struct cand *c, struct search *s, char *err)
{
    struct rb_train_opts to = c->p.train;
    to.holdout = 1;
    to.holdout_skip = s->o->skip;
    to.holdout_split = s->o->split;
    to.split_seed = s->o->seed;
    to.sample = 0;
    uint32_t active = s->d->cookies.n;
    if (s->o->max_cookies && active > s->o->max_cookies)
        to.sample = (double)s->o->max_cookies / (double)active;
    int rc = rb_train_build(&c->t, s->d, &to, err);
    if (rc)
        return rc;
    pick_users(&c->t, s->d, s->o);
    return 0;
}

/* Train c on to `iterations` and evaluate: one trial. */
static int run_trial(struct cand *c, uint32_t iterations, uint32_t rung, struct search *s, char *err)
{
    const struct rb_tune_opts *o = s->o;
    double t0 = rb_now_ms();
    int rc = 0;
    struct rb_lists lists;
    memset(&lists, 0, sizeof(lists));
    struct rb_als_opts ao = c->p.als;
    if (!c->m.U) {
        ao.iterations = iterations;
        rc = rb_als_train_cpu(&c->m, &c->t, &ao, err);
    } else if (iterations > c->iterations) {
        rc = rb_als_more_cpu(&c->m, &c->t, &ao, iterations - c->iterations, err);
    }
    if (rc)
        return rc;
    c->iterations = iterations;
    if ((rc = rb_score_cf(&lists, &c->m, &c->t, s->d, o->k, o->exclude_bought, RB_SCORE_AUTO, err)) != 0)
        return rc;
    if (rows_fit(s, c->t.ui.rows) != 0) {
        rb_lists_release(&lists);
        return rc_fail(err, -ENOMEM, "tune: out of memory for %u validation rows", c->t.ui.rows);
    }
    struct rb_eval e;
    rc = rb_eval_holdout_rows(&e, &lists, &c->t, s->d, o->k, o->exclude_bought, s->rows, err);
    rb_lists_release(&lists);
    if (rc)
        return rc;
    c->ndcg = e.ndcg;
    double *cr = realloc(c->rows, sizeof(double) * ((size_t)s->nrows + 1));
    if (!cr)
        return rc_fail(err, -ENOMEM, "tune: out of memory for %u validation rows", s->nrows);
    c->rows = cr;
    c->nrows = s->nrows;
    memcpy(c->rows, s->rows, sizeof(double) * s->nrows);

    struct rb_tune_result *r = s->r;
    if (!s->pop_done) {
        r->pop_ndcg = e.pop_ndcg;
        r->pop_hr = e.pop_hr;
        r->users = e.users;
        r->cookies = c->t.ui.rows;
        s->pop_done = 1;
    }
    struct rb_trial *tr = &r->trials[r->ntrials++];
    tr->p = c->p;
    tr->p.als.iterations = iterations;
    tr->config = c->config;
    tr->rung = rung;
    tr->ndcg = e.ndcg;
    tr->hr = e.hr;
    tr->seconds = (rb_now_ms() - t0) / 1e3;
    const struct rb_params *p = &tr->p;
    rc_log(RC_LOG_INFO, "tune.trial",
           "config=%u rung=%u iterations=%u factors=%u reg=%g alpha=%g weight_view=%g weight_cart=%g "
           "weight_purchase=%g half_life_days=%g ndcg=%.4f hr=%.4f pop_ndcg=%.4f seconds=%.2f",
           tr->config, rung, iterations, p->als.factors, (double)p->als.reg, (double)p->als.alpha,
           (double)p->train.weight[RB_VIEW], (double)p->train.weight[RB_CART], (double)p->train.weight[RB_PURCHASE],
           p->train.half_life_days, e.ndcg, e.hr, r->pop_ndcg, tr->seconds);
    /* The choice is among the trials of the last rung reached: the earlier
     * rungs prune, they do not choose. A model that measures best after 2
     * or 6 iterations is more often lucky in its random start than good. */
    if (r->ntrials == 1 || rung > s->rung) {
        s->rung = rung;
        s->have_best = 0;
        s->have_base = 0;
    }
    if (!s->have_best || e.ndcg > r->best_ndcg) {
        s->have_best = 1;
        r->best = tr->p;
        r->best_ndcg = e.ndcg;
        r->best_hr = e.hr;
        r->best_trial = r->ntrials - 1;
        memcpy(s->best_rows, s->rows, sizeof(double) * s->nrows);
    }
    if (c->config == 0 && (!s->have_base || e.ndcg > r->trials[r->base_trial].ndcg)) {
        r->base_trial = r->ntrials - 1;
        s->have_base = 1;
        memcpy(s->base_rows, s->rows, sizeof(double) * s->nrows);
    }
    return 0;
}

/* The mean per-cookie NDCG difference a - b over the rows both measured, and its standard error; -1: fewer than 2 rows. */
static int paired_gain(const double *a, const double *b, uint32_t nrows, double *mean, double *se)
{
    double sum = 0, sum2 = 0;
    uint64_t n = 0;
    for (uint32_t i = 0; i < nrows; i++) {
        if (isnan(a[i]) || isnan(b[i]))
            continue;
        double dlt = a[i] - b[i];
        sum += dlt;
        sum2 += dlt * dlt;
        n++;
    }
    if (n < 2)
        return -1;
    double m = sum / (double)n, var = (sum2 - (double)n * m * m) / (double)(n - 1);
    *mean = m;
    *se = sqrt(var > 0 ? var : 0) / sqrt((double)n);
    return 0;
}

/*
 * The one-standard-error rule: the search leaves the base configuration
 * (the parameters passed in) only when the best trial beats the base's
 * trial of the same rung by more than one standard error of their paired
 * per-cookie NDCG difference. With a few hundred validation cookies the
 * best of many configurations is often best by chance; the defaults then
 * stay.
 */
static void prefer_base(struct search *s)
{
    struct rb_tune_result *r = s->r;
    if (!s->have_base || r->best_trial == r->base_trial)
        return;
    if (paired_gain(s->best_rows, s->base_rows, s->nrows, &r->gain, &r->gain_se) != 0 || r->gain > r->gain_se)
        return;
    const struct rb_trial *b = &r->trials[r->base_trial];
    r->best = b->p;
    r->best_ndcg = b->ndcg;
    r->best_hr = b->hr;
    r->best_trial = r->base_trial;
    r->kept_base = 1;
}

/*
 * Whether c goes on to the next rung whatever its rank: the base always
 * (prefer_base weighs the best against it), the two anchors while the
 * rung's best trial so far beats theirs by no more than TUNE_ANCHOR_SE
 * standard errors of the paired difference. After 2 or 6 iterations a
 * rank is partly the random start's; a configuration fixed before the
 * data was seen is not dropped on that noise, only when it is clearly
 * behind.
 */
static int carried(const struct search *s, const struct cand *c)
{
    if (c->config == 0)
        return 1;
    if (c->config >= RB_TUNE_FIXED || c->nrows != s->nrows || !s->have_best)
        return 0; /* a drawn one, or rows not comparable (a weight of 0 can empty a row): its rank decides */
    double mean, se;
    if (paired_gain(s->best_rows, c->rows, s->nrows, &mean, &se) != 0)
        return 0; /* no row measured by both: its rank decides */
    return mean <= TUNE_ANCHOR_SE * se;
}

/* No trial starts past the budget; the first always runs, so there is a choice. */
static int out_of_time(struct search *s)
{
    if (s->r->ntrials == 0)
        return 0;
    uint32_t most = s->o->max_trials && s->o->max_trials < RB_TUNE_MAX_TRIALS ? s->o->max_trials : RB_TUNE_MAX_TRIALS;
    if (s->r->ntrials >= most || (rb_now_ms() - s->t0) / 1e3 >= s->o->budget_s) {
        s->r->budget_hit = 1;
        return 1;
    }
    return 0;
}

static int cmp_cand_ndcg(const void *a, const void *b)
{
    const struct cand *x = *(const struct cand *const *)a, *y = *(const struct cand *const *)b;
    if (x->ndcg != y->ndcg)
        return x->ndcg > y->ndcg ? -1 : 1;
    return x->config < y->config ? -1 : x->config > y->config;
}

/* Room beside ncarried carried configurations in a third of `keep`: one other at least. */
static uint32_t room_for_others(uint32_t keep, uint32_t ncarried)
{
    return keep > ncarried ? keep - ncarried : 1;
}

/* Of cands[0..upto], the worst alive one not carried when those exceed their room; else RB_NONE. */
static uint32_t worst_other(const struct search *s, const struct cand *cands, uint32_t upto, uint32_t keep)
{
    uint32_t ncarried = 0, others = 0, worst = RB_NONE;
    for (uint32_t j = 0; j <= upto; j++) {
        if (!cands[j].alive)
            continue;
        if (carried(s, &cands[j])) {
            ncarried++;
            continue;
        }
        others++;
        if (worst == RB_NONE || cands[j].ndcg < cands[worst].ndcg ||
            (cands[j].ndcg == cands[worst].ndcg && j > worst))
            worst = j;
    }
    return others > room_for_others(keep, ncarried) ? worst : RB_NONE;
}

/*
 * Rung 0 keeps at most `keep` candidates alive: the best so far; a worse
 * one is released as soon as it is measured, so memory stays bounded.
 */
static int rung0(struct cand *cands, uint32_t n, uint32_t keep, uint32_t iterations, struct search *s,
                 const struct rb_params *base, char *err)
{
    uint64_t rng = s->o->seed ^ 0xc0ffeeULL;
    for (uint32_t i = 0; i < n; i++) {
        if (out_of_time(s))
            break;
        struct cand *c = &cands[i];
        config_make(&c->p, base, s->o->pinned, i, &rng);
        c->config = i;
        c->alive = 1;
        int rc = cand_train_matrix(c, s, err);
        if (rc == RC_EEMPTY) { /* a draw that leaves no row (e.g. weights on types absent): skip it */
            cand_release(c);
            continue;
        }
        if (!rc)
            rc = run_trial(c, iterations, 0, s, err);
        if (rc) {
            cand_release(c);
            return rc;
        }
        if (s->r->ntrials == 1 && s->r->users < RB_TUNE_MIN_USERS)
            return rc_fail(err, RC_EEMPTY, "tune: %" PRIu64 " cookies with a validation purchase (need %d)",
                           s->r->users, RB_TUNE_MIN_USERS);
        /* keep the carried configurations and the best of the others
         * (worst_other); with one rung (keep 0) no model is trained further */
        if (keep == 0) {
            if (i > 0)
                cand_release(c);
            continue;
        }
        /* a new best can end the carry of both anchors at once: release
         * until the others fit again */
        for (uint32_t w; (w = worst_other(s, cands, i, keep)) != RB_NONE;)
            cand_release(&cands[w]);
    }
    return 0;
}

int rb_tune(struct rb_tune_result *r, const struct rb_dataset *d, const struct rb_params *base,
            const struct rb_tune_opts *o, char *err)
{
    memset(r, 0, sizeof(*r));
    if (o->configs == 0 || o->rungs == 0 || o->k == 0 || o->k > RC_LIST_MAX || !(o->budget_s > 0) ||
        o->max_users == 0)
        return rc_fail(err, RC_ERANGE, "tune: configs, rungs, k, max_users and budget must be above 0");
    struct search s = {.d = d, .o = o, .r = r, .t0 = rb_now_ms()};
    uint32_t n = o->configs < RB_TUNE_MAX_TRIALS ? o->configs : RB_TUNE_MAX_TRIALS;
    int iter_pinned = (o->pinned & RB_PARAM_ITERATIONS) != 0;
    uint32_t rungs = iter_pinned ? 1 : o->rungs;
    struct cand *cands = calloc(n, sizeof(*cands));
    struct cand **alive = calloc(n, sizeof(*alive));
    if (!cands || !alive) {
        free(cands);
        free(alive);
        return rc_fail(err, -ENOMEM, "tune: out of memory for %u configurations", n);
    }

    uint32_t iterations = iter_pinned ? base->als.iterations : RB_TUNE_RUNG0;
    int rc = rung0(cands, n, rungs > 1 ? (n + 2) / 3 : 0, iterations, &s, base, err);
    if (!rc && !r->budget_hit)
        rung_done(&s);
    for (uint32_t rung = 1; !rc && rung < rungs; rung++) {
        uint32_t na = 0;
        for (uint32_t i = 0; i < n; i++)
            if (cands[i].alive)
                alive[na++] = &cands[i];
        /* the base first, so that a rung the budget cuts short is not one
         * without it; then the best first */
        qsort(alive, na, sizeof(*alive), cmp_cand_ndcg);
        for (uint32_t i = 1; i < na; i++)
            if (alive[i]->config == 0) {
                struct cand *b = alive[i];
                memmove(&alive[1], &alive[0], sizeof(*alive) * i);
                alive[0] = b;
                break;
            }
        iterations *= 3;
        int cut = 0;
        for (uint32_t i = 0; i < na && !rc; i++) {
            if (out_of_time(&s)) {
                cut = 1;
                break;
            }
            rc = run_trial(alive[i], iterations, rung, &s, err);
        }
        if (!rc && cut)
            rung_cut(&s);
        if (rc || cut)
            break;
        rung_done(&s);
        if (rung + 1 == rungs)
            break;
        /* the best third (rounded up) goes on to the next rung; the
         * carried configurations always do, as part of that third, and
         * one other at least */
        qsort(alive, na, sizeof(*alive), cmp_cand_ndcg);
        uint32_t keep = (na + 2) / 3, ncarried = 0, kept = 0;
        int is_carried[RB_TUNE_MAX_TRIALS];
        for (uint32_t i = 0; i < na; i++)
            ncarried += is_carried[i] = carried(&s, alive[i]);
        uint32_t others = room_for_others(keep, ncarried);
        for (uint32_t i = 0; i < na; i++) {
            if (is_carried[i])
                continue;
            if (kept < others)
                kept++;
            else
                cand_release(alive[i]);
        }
    }
    for (uint32_t i = 0; i < n; i++)
        cand_release(&cands[i]);
    free(cands);
    free(alive);
    if (!rc && r->ntrials == 0)
        rc = rc_fail(err, RC_EEMPTY, "tune: no configuration could be trained");
    if (!rc)
        prefer_base(&s);
    free(s.rows);
    free(s.best_rows);
    free(s.base_rows);
    free(s.done_best_rows);
    free(s.done_base_rows);
    r->seconds = (rb_now_ms() - s.t0) / 1e3;
    return rc;
}
