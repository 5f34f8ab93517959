/*
 * test_als.c - builder/als_cpu.c: implicit ALS on hand-built training
 * matrices. The objective falls, observed pairs outrank unobserved ones,
 * the same seed gives bit-identical factors whatever the thread count, the
 * CG and Cholesky solvers agree, and on a planted data set (users with one
 * category taste each) ALS clearly beats the most-popular baseline on
 * held-out purchases (through score.c and eval.c, as recbuild runs them).
 */
#include "als.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "eval.h"
#include "score.h"

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = (*s += 0x9e3779b97f4a7c15ULL);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* CSR (rows, cols) from a dense matrix; zero cells are absent. */
static void csr_from_dense(struct rb_csr *m, const float *dense, uint32_t rows, uint32_t cols)
{
    memset(m, 0, sizeof(*m));
    m->rows = rows;
    m->cols = cols;
    m->indptr = calloc((size_t)rows + 1, sizeof(uint64_t));
    for (uint32_t r = 0; r < rows; r++)
        for (uint32_t c = 0; c < cols; c++)
            m->nnz += dense[(size_t)r * cols + c] != 0.0f;
    m->indices = malloc(sizeof(uint32_t) * (m->nnz + 1));
    m->values = malloc(sizeof(float) * (m->nnz + 1));
    uint64_t j = 0;
    for (uint32_t r = 0; r < rows; r++) {
        for (uint32_t c = 0; c < cols; c++) {
            float v = dense[(size_t)r * cols + c];
            if (v != 0.0f) {
                m->indices[j] = c;
                m->values[j++] = v;
            }
        }
        m->indptr[r + 1] = j;
    }
}

static float *transpose(const float *dense, uint32_t rows, uint32_t cols)
{
    float *t = calloc((size_t)rows * cols + 1, sizeof(float));
    for (uint32_t r = 0; r < rows; r++)
        for (uint32_t c = 0; c < cols; c++)
            t[(size_t)c * rows + r] = dense[(size_t)r * cols + c];
    return t;
}

/*
 * A training set from dense (users, items) weights: ui, iu, every row wants
 * a list, bought = the observed pairs, heldout from `held` (may be NULL).
 * The dataset has one cookie per row and every product in stock.
 */
static void make_train(struct rb_train *t, struct rb_dataset *d, const float *w, const float *held, uint32_t users,
                       uint32_t items)
{
    memset(t, 0, sizeof(*t));
    memset(d, 0, sizeof(*d));
    csr_from_dense(&t->ui, w, users, items);
    float *wt = transpose(w, users, items);
    csr_from_dense(&t->iu, wt, items, users);
    free(wt);
    csr_from_dense(&t->bought, w, users, items);
    if (held)
        csr_from_dense(&t->heldout, held, users, items);
    t->row_cookie = malloc(sizeof(uint32_t) * users);
    t->row_wants_list = malloc(users);
    for (uint32_t u = 0; u < users; u++) {
        t->row_cookie[u] = u;
        t->row_wants_list[u] = 1;
    }
    d->cookies.n = users;
    d->cookies.keys = malloc(sizeof(uint64_t) * users);
    for (uint32_t u = 0; u < users; u++)
        d->cookies.keys[u] = 0x1000000ULL + u * 7919ULL;
    d->products.n = items;
    d->products.keys = malloc(sizeof(uint64_t) * items);
    d->in_stock = malloc(items);
    for (uint32_t i = 0; i < items; i++) {
        d->products.keys[i] = 0x2000000ULL + i;
        d->in_stock[i] = 1;
    }
}

static void free_train(struct rb_train *t, struct rb_dataset *d)
{
    rb_train_release(t);
    free(d->cookies.keys);
    free(d->products.keys);
    free(d->in_stock);
    memset(d, 0, sizeof(*d));
}

/*
 * Planted tastes: item i belongs to category i % cats and has a Zipf-like
 * popularity within it; category c draws users with weight 1/(c+1). Each
 * user buys `per_user` distinct items of their category (10% of picks from
 * anywhere); the last `held` picks are held out.
 */
static void planted(float **w, float **h, uint32_t users, uint32_t items, uint32_t cats, uint32_t per_user,
                    uint32_t held, uint64_t seed)
{
    *w = calloc((size_t)users * items, sizeof(float));
    *h = calloc((size_t)users * items, sizeof(float));
    double catw_sum = 0.0;
    for (uint32_t c = 0; c < cats; c++)
        catw_sum += 1.0 / (c + 1);
    for (uint32_t u = 0; u < users; u++) {
        uint64_t s = seed * 1000003ULL + u;
        double x = rng_unit(&s) * catw_sum;
        uint32_t cat = 0;
        while (cat + 1 < cats && (x -= 1.0 / (cat + 1)) > 0)
            cat++;
        uint32_t got = 0, tries = 0;
        while (got < per_user && tries++ < 10000) {
            uint32_t i;
            if (rng_unit(&s) < 0.1) {
                i = (uint32_t)(rng_next(&s) % items);
            } else {
                /* rank within the category ~ Zipf(1): inverse CDF of 1/(r+1) */
                uint32_t in_cat = (items - cat + cats - 1) / cats;
                double r = pow((double)in_cat + 1.0, rng_unit(&s)) - 1.0;
                uint32_t rank = (uint32_t)r < in_cat ? (uint32_t)r : in_cat - 1;
                i = cat + rank * cats;
            }
            float *cell = &(*w)[(size_t)u * items + i], *hcell = &(*h)[(size_t)u * items + i];
            if (*cell != 0.0f || *hcell != 0.0f)
                continue;
            if (got >= per_user - held)
                *hcell = 1.0f;
            else
                *cell = 1.0f;
            got++;
        }
    }
}

static void small_opts(struct rb_als_opts *o)
{
    rb_als_opts_default(o);
    o->factors = 16;
    o->iterations = 8;
}

START_TEST(test_defaults)
{
    struct rb_als_opts o;
    rb_als_opts_default(&o);
    ck_assert_uint_eq(o.factors, 64);
    ck_assert_float_eq_tol(o.reg, 3.0f, 1e-7f);
    ck_assert_float_eq_tol(o.alpha, 10.0f, 1e-7f);
    ck_assert_uint_eq(o.iterations, 10);
    ck_assert_uint_eq(o.seed, 42);
    ck_assert_int_eq(o.threads, 0);
    ck_assert_uint_eq(o.cg_steps, 3);
}
END_TEST

START_TEST(test_bad_options)
{
    float w[4] = {1, 0, 0, 1};
    struct rb_train t;
    struct rb_dataset d;
    struct rb_als_model m;
    struct rb_als_opts o;
    char err[RC_ERRMSG_MAX] = "";
    make_train(&t, &d, w, NULL, 2, 2);
    rb_als_opts_default(&o);
    o.factors = 0;
    ck_assert_int_eq(rb_als_train_cpu(&m, &t, &o, err), RC_ERANGE);
    ck_assert_ptr_nonnull(strstr(err, "factors"));
    ck_assert_ptr_null(m.U);
    o.factors = 1025;
    ck_assert_int_eq(rb_als_train_cpu(&m, &t, &o, NULL), RC_ERANGE);
    o.factors = 4;
    o.reg = -1.0f;
    ck_assert_int_eq(rb_als_train_cpu(&m, &t, &o, NULL), RC_ERANGE);
    o.reg = 0.05f;
    t.iu.rows = 3; /* not the transpose any more */
    ck_assert_int_eq(rb_als_train_cpu(&m, &t, &o, err), RC_EINTERNAL);
    t.iu.rows = 2;
    free_train(&t, &d);
}
END_TEST

/* The objective falls with every iteration; strictly for exact solves. */
static void check_loss_falls(uint32_t cg_steps)
{
    float *w, *h;
    struct rb_train t;
    struct rb_dataset d;
    planted(&w, &h, 300, 120, 6, 10, 0, 7);
    make_train(&t, &d, w, NULL, 300, 120);
    struct rb_als_opts o;
    small_opts(&o);
    o.cg_steps = cg_steps;
    double prev = INFINITY, first = 0.0;
    for (uint32_t it = 1; it <= 8; it++) {
        struct rb_als_model m;
        char err[RC_ERRMSG_MAX] = "";
        double loss;
        o.iterations = it;
        ck_assert_int_eq(rb_als_train_cpu(&m, &t, &o, err), 0);
        ck_assert_int_eq(rb_als_loss(&m, &t, &o, &loss, err), 0);
        ck_assert_msg(isfinite(loss) && loss > 0.0, "loss %g", loss);
        if (it == 1)
            first = loss;
        ck_assert_msg(loss <= prev * (1.0 + 1e-6), "cg_steps %u: loss rose from %g to %g at iteration %u", cg_steps,
                      prev, loss, it);
        prev = loss;
        rb_als_release(&m);
    }
    ck_assert_msg(prev < 0.9 * first, "loss fell only from %g to %g", first, prev);
    free_train(&t, &d);
    free(w);
    free(h);
}

START_TEST(test_loss_falls_cholesky)
{
    check_loss_falls(0);
}
END_TEST

START_TEST(test_loss_falls_cg)
{
    check_loss_falls(3);
}
END_TEST

/* Observed pairs score above unobserved ones: per-user AUC close to 1. */
START_TEST(test_reconstructs_observed)
{
    uint32_t users = 400, items = 150;
    float *w, *h;
    struct rb_train t;
    struct rb_dataset d;
    planted(&w, &h, users, items, 6, 12, 0, 11);
    make_train(&t, &d, w, NULL, users, items);
    struct rb_als_opts o;
    struct rb_als_model m;
    small_opts(&o);
    o.iterations = 10;
    /* Reconstruction, not generalisation: a light reg per entry (about the
     * old constant 0.05 over a row's 12 entries). The default 3 shrinks
     * rows towards their planted category on purpose (als.h). */
    o.reg = 0.005f;
    ck_assert_int_eq(rb_als_train_cpu(&m, &t, &o, NULL), 0);
    ck_assert_uint_eq(m.users, users);
    ck_assert_uint_eq(m.items, items);
    ck_assert_uint_eq(m.f, 16);
    double auc_sum = 0.0, obs_mean = 0.0;
    uint64_t nobs = 0;
    for (uint32_t u = 0; u < users; u++) {
        float s[150];
        for (uint32_t i = 0; i < items; i++) {
            s[i] = 0.0f;
            for (uint32_t k = 0; k < m.f; k++)
                s[i] += m.U[(size_t)u * m.f + k] * m.V[(size_t)i * m.f + k];
        }
        uint64_t good = 0, pairs = 0;
        for (uint32_t i = 0; i < items; i++) {
            if (w[(size_t)u * items + i] == 0.0f)
                continue;
            obs_mean += s[i];
            nobs++;
            for (uint32_t j = 0; j < items; j++) {
                if (w[(size_t)u * items + j] != 0.0f)
                    continue;
                pairs++;
                good += s[i] > s[j];
            }
        }
        auc_sum += pairs ? (double)good / (double)pairs : 1.0;
    }
    double auc = auc_sum / users;
    obs_mean /= (double)nobs;
    ck_assert_msg(auc > 0.95, "mean per-user auc %.3f", auc);
    ck_assert_msg(obs_mean > 0.5 && obs_mean < 1.2, "observed pairs score %.3f on average (target 1)", obs_mean);
    rb_als_release(&m);
    free_train(&t, &d);
    free(w);
    free(h);
}
END_TEST

/* Same seed: bit-identical, with 1 or 2 threads; another seed: different. */
START_TEST(test_deterministic)
{
    uint32_t users = 500, items = 200;
    float *w, *h;
    struct rb_train t;
    struct rb_dataset d;
    planted(&w, &h, users, items, 8, 10, 0, 3);
    make_train(&t, &d, w, NULL, users, items);
    struct rb_als_opts o;
    struct rb_als_model a, b, c, e;
    small_opts(&o);
    o.threads = 2;
    ck_assert_int_eq(rb_als_train_cpu(&a, &t, &o, NULL), 0);
    ck_assert_int_eq(rb_als_train_cpu(&b, &t, &o, NULL), 0);
    o.threads = 1;
    ck_assert_int_eq(rb_als_train_cpu(&c, &t, &o, NULL), 0);
    o.seed = 43;
    ck_assert_int_eq(rb_als_train_cpu(&e, &t, &o, NULL), 0);
    size_t ub = sizeof(float) * users * o.factors, vb = sizeof(float) * items * o.factors;
    ck_assert_int_eq(memcmp(a.U, b.U, ub), 0);
    ck_assert_int_eq(memcmp(a.V, b.V, vb), 0);
    ck_assert_int_eq(memcmp(a.U, c.U, ub), 0);
    ck_assert_int_eq(memcmp(a.V, c.V, vb), 0);
    ck_assert_int_ne(memcmp(a.V, e.V, vb), 0);
    rb_als_release(&a);
    rb_als_release(&b);
    rb_als_release(&c);
    rb_als_release(&e);
    free_train(&t, &d);
    free(w);
    free(h);
}
END_TEST

/* N iterations then M more (rb_als_more_cpu) are bit-identical to N + M at once. */
START_TEST(test_more_continues)
{
    uint32_t users = 300, items = 120;
    float *w, *h;
    struct rb_train t;
    struct rb_dataset d;
    planted(&w, &h, users, items, 6, 8, 0, 5);
    make_train(&t, &d, w, NULL, users, items);
    struct rb_als_opts o;
    struct rb_als_model a, b;
    small_opts(&o);
    o.iterations = 5;
    ck_assert_int_eq(rb_als_train_cpu(&a, &t, &o, NULL), 0);
    o.iterations = 2;
    ck_assert_int_eq(rb_als_train_cpu(&b, &t, &o, NULL), 0);
    ck_assert_int_eq(rb_als_more_cpu(&b, &t, &o, 3, NULL), 0);
    ck_assert_int_eq(memcmp(a.U, b.U, sizeof(float) * users * o.factors), 0);
    ck_assert_int_eq(memcmp(a.V, b.V, sizeof(float) * items * o.factors), 0);
    /* a model of other factors does not continue */
    o.factors += 1;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_als_more_cpu(&b, &t, &o, 1, err), RC_ERANGE);
    rb_als_release(&a);
    rb_als_release(&b);
    free_train(&t, &d);
    free(w);
    free(h);
}
END_TEST

/* CG with 3 warm-started steps ends near the exact solves' objective. */
START_TEST(test_cg_close_to_cholesky)
{
    uint32_t users = 400, items = 160;
    float *w, *h;
    struct rb_train t;
    struct rb_dataset d;
    planted(&w, &h, users, items, 8, 10, 0, 5);
    make_train(&t, &d, w, NULL, users, items);
    struct rb_als_opts o;
    struct rb_als_model m;
    double lcg, lch;
    small_opts(&o);
    o.iterations = 15;
    ck_assert_int_eq(rb_als_train_cpu(&m, &t, &o, NULL), 0);
    ck_assert_int_eq(rb_als_loss(&m, &t, &o, &lcg, NULL), 0);
    rb_als_release(&m);
    o.cg_steps = 0;
    ck_assert_int_eq(rb_als_train_cpu(&m, &t, &o, NULL), 0);
    ck_assert_int_eq(rb_als_loss(&m, &t, &o, &lch, NULL), 0);
    rb_als_release(&m);
    ck_assert_msg(fabs(lcg - lch) < 0.05 * lch, "cg loss %g, cholesky loss %g", lcg, lch);
    free_train(&t, &d);
    free(w);
    free(h);
}
END_TEST

/* A row or item without data gets zero factors. */
START_TEST(test_empty_rows_zero)
{
    float w[4 * 5] = {
        1, 2, 0, 0, 0, /* */
        0, 0, 0, 0, 0, /* row 1 empty */
        0, 1, 3, 0, 0, /* */
        1, 0, 1, 0, 0, /* item 3 and 4 never seen */
    };
    struct rb_train t;
    struct rb_dataset d;
    make_train(&t, &d, w, NULL, 4, 5);
    struct rb_als_opts o;
    struct rb_als_model m;
    rb_als_opts_default(&o);
    o.factors = 8;
    for (int solver = 0; solver < 2; solver++) {
        o.cg_steps = solver ? 3 : 0;
        ck_assert_int_eq(rb_als_train_cpu(&m, &t, &o, NULL), 0);
        for (uint32_t k = 0; k < 8; k++) {
            ck_assert_float_eq(m.U[1 * 8 + k], 0.0f);
            ck_assert_float_eq(m.V[3 * 8 + k], 0.0f);
            ck_assert_float_eq(m.V[4 * 8 + k], 0.0f);
            ck_assert(isfinite(m.U[k]) && isfinite(m.V[k]));
        }
        rb_als_release(&m);
    }
    rb_als_release(&m); /* on a zeroed model: a no-op */
    free_train(&t, &d);
}
END_TEST

/* Zero rows and items: trains to empty factors without error. */
START_TEST(test_empty_matrix)
{
    struct rb_train t;
    struct rb_dataset d;
    make_train(&t, &d, NULL, NULL, 0, 0);
    struct rb_als_opts o;
    struct rb_als_model m;
    rb_als_opts_default(&o);
    ck_assert_int_eq(rb_als_train_cpu(&m, &t, &o, NULL), 0);
    ck_assert_uint_eq(m.users, 0);
    ck_assert_uint_eq(m.items, 0);
    rb_als_release(&m);
    free_train(&t, &d);
}
END_TEST

/*
 * The model works: users with one planted taste each, two held-out
 * purchases; ALS's lists must beat the most-popular baseline clearly.
 */
START_TEST(test_beats_popularity)
{
    uint32_t users = 2000, items = 500;
    float *w, *h;
    struct rb_train t;
    struct rb_dataset d;
    planted(&w, &h, users, items, 10, 10, 2, 1);
    make_train(&t, &d, w, h, users, items);
    struct rb_als_opts o;
    struct rb_als_model m;
    struct rb_lists cf;
    struct rb_eval ev;
    char err[RC_ERRMSG_MAX] = "";
    rb_als_opts_default(&o);
    o.factors = 32;
    ck_assert_msg(rb_als_train_cpu(&m, &t, &o, err) == 0, "%s", err);
    ck_assert_msg(rb_score_cf(&cf, &m, &t, &d, 10, 1, RB_SCORE_AUTO, err) == 0, "%s", err);
    ck_assert_uint_eq(cf.n, users);
    ck_assert_msg(rb_eval_holdout(&ev, &cf, &t, &d, 10, 1, err) == 0, "%s", err);
    ck_assert_uint_eq(ev.users, users);
    ck_assert_msg(ev.hr > ev.pop_hr + 0.15 && ev.ndcg > 1.5 * ev.pop_ndcg,
                  "als hr@10 %.3f ndcg@10 %.3f vs popularity hr@10 %.3f ndcg@10 %.3f", ev.hr, ev.ndcg, ev.pop_hr,
                  ev.pop_ndcg);
    ck_assert(ev.recall > ev.pop_recall);
    ck_assert(ev.coverage > 0.0 && ev.coverage <= 1.0);
    rb_lists_release(&cf);
    rb_als_release(&m);
    free_train(&t, &d);
    free(w);
    free(h);
}
END_TEST

/*
 * The system of als.h, weighted-lambda included: after exact solves the
 * last half-iteration's rows (the items) satisfy
 *   (U^T U + reg n_i I + sum_u (c_ui - 1) x_u x_u^T) v_i = sum_u c_ui x_u
 * with n_i the item's observed entries.
 */
START_TEST(test_normal_equations_weighted_reg)
{
    uint32_t users = 300, items = 80, f = 8;
    float *w, *h;
    struct rb_train t;
    struct rb_dataset d;
    planted(&w, &h, users, items, 4, 6, 0, 3);
    make_train(&t, &d, w, NULL, users, items);
    struct rb_als_opts o;
    struct rb_als_model m;
    rb_als_opts_default(&o);
    o.factors = f;
    o.iterations = 3;
    o.cg_steps = 0;
    o.reg = 0.5f;
    ck_assert_int_eq(rb_als_train_cpu(&m, &t, &o, NULL), 0);
    double A[8 * 8], b[8], worst = 0.0;
    for (uint32_t i = 0; i < items; i++) {
        uint64_t lo = t.iu.indptr[i], hi = t.iu.indptr[i + 1];
        if (hi == lo)
            continue;
        for (uint32_t a = 0; a < f; a++) {
            b[a] = 0.0;
            for (uint32_t c = 0; c < f; c++) {
                double g = 0.0;
                for (uint32_t u = 0; u < users; u++)
                    g += (double)m.U[(size_t)u * f + a] * m.U[(size_t)u * f + c];
                A[a * f + c] = g + (a == c ? (double)o.reg * (double)(hi - lo) : 0.0);
            }
        }
        for (uint64_t j = lo; j < hi; j++) {
            const float *x = m.U + (size_t)t.iu.indices[j] * f;
            double cw = (double)o.alpha * t.iu.values[j];
            for (uint32_t a = 0; a < f; a++) {
                b[a] += (1.0 + cw) * x[a];
                for (uint32_t c = 0; c < f; c++)
                    A[a * f + c] += cw * x[a] * x[c];
            }
        }
        double rn = 0.0, bn = 0.0;
        for (uint32_t a = 0; a < f; a++) {
            double r = -b[a];
            for (uint32_t c = 0; c < f; c++)
                r += A[a * f + c] * m.V[(size_t)i * f + c];
            rn += r * r;
            bn += b[a] * b[a];
        }
        if (sqrt(rn / bn) > worst)
            worst = sqrt(rn / bn);
    }
    ck_assert_msg(worst < 1e-3, "item rows off their normal equations by %g (relative)", worst);
    rb_als_release(&m);
    free_train(&t, &d);
    free(w);
    free(h);
}
END_TEST

/*
 * recbuild's defaults as they are (64 factors): light users with 4
 * purchases, one held out. A constant reg small enough for the popular
 * items let 64 factors memorise each user's 3 training items and lose to
 * popularity; reg per observation must not.
 */
START_TEST(test_defaults_beat_popularity_light_users)
{
    uint32_t users = 3000, items = 400;
    float *w, *h;
    struct rb_train t;
    struct rb_dataset d;
    planted(&w, &h, users, items, 10, 4, 1, 9);
    make_train(&t, &d, w, h, users, items);
    struct rb_als_opts o;
    struct rb_als_model m;
    struct rb_lists cf;
    struct rb_eval ev;
    char err[RC_ERRMSG_MAX] = "";
    rb_als_opts_default(&o);
    ck_assert_msg(rb_als_train_cpu(&m, &t, &o, err) == 0, "%s", err);
    ck_assert_msg(rb_score_cf(&cf, &m, &t, &d, 10, 1, RB_SCORE_AUTO, err) == 0, "%s", err);
    ck_assert_msg(rb_eval_holdout(&ev, &cf, &t, &d, 10, 1, err) == 0, "%s", err);
    ck_assert_uint_eq(ev.users, users);
    ck_assert_msg(ev.hr > ev.pop_hr + 0.1 && ev.ndcg > 1.4 * ev.pop_ndcg,
                  "als hr@10 %.3f ndcg@10 %.3f vs popularity hr@10 %.3f ndcg@10 %.3f", ev.hr, ev.ndcg, ev.pop_hr,
                  ev.pop_ndcg);
    rb_lists_release(&cf);
    rb_als_release(&m);
    free_train(&t, &d);
    free(w);
    free(h);
}
END_TEST

static Suite *als_suite(void)
{
    Suite *s = suite_create("als");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_bad_options);
    tcase_add_test(tc, test_loss_falls_cholesky);
    tcase_add_test(tc, test_loss_falls_cg);
    tcase_add_test(tc, test_normal_equations_weighted_reg);
    tcase_add_test(tc, test_defaults_beat_popularity_light_users);
    tcase_add_test(tc, test_reconstructs_observed);
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_more_continues);
    tcase_add_test(tc, test_cg_close_to_cholesky);
    tcase_add_test(tc, test_empty_rows_zero);
    tcase_add_test(tc, test_empty_matrix);
    tcase_add_test(tc, test_beats_popularity);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(als_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
