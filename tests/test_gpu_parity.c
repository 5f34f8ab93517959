/*
 * test_gpu_parity.c - the CUDA backend held to the CPU path on the same
 * inputs (schemas/gpu.md states the tolerances and why):
 *   ALS       factors after the same iterations from the same seed:
 *             relative Frobenius difference <= 1e-4 after one iteration,
 *             <= 5e-3 after ten; loss within 1e-3 relative; cg_steps 0
 *             (Cholesky, CPU fallback) bit-identical
 *   scoring   rb_score_cf_gpu vs rb_score_cf (GEMM) from the same factors:
 *             list overlap >= 0.99, shared items' scores within 1e-4
 *             relative, exclusions and ranking invariants exact
 *   top-k     the engine on integer-valued vectors (every score exact in
 *             float, ties everywhere) across many batches and tiles: lists
 *             identical to a brute-force sort, exclusions included
 *   kNN       rb_knn_image_gpu vs rb_knn_image (exact): overlap >= 0.99
 *   chain     CF lists from GPU ALS + GPU scoring vs the CPU chain:
 *             overlap >= 0.99
 * Segment (popularity) lists are CPU-only on both paths: nothing to compare
 * here; schemas/gpu.md has the end-to-end check of the published caches.
 *
 * Exit 77 (skipped) when the build has no CUDA or no device is present.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "als.h"
#include "error.h"
#include "gpu.h"
#include "knn.h"
#include "score.h"

#ifdef RB_HAVE_CUDA

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

static float rng_sym(uint64_t *s)
{
    return (float)(rng_unit(s) * 2.0 - 1.0);
}

/* ---- a training set: sparse implicit feedback with planted tastes ---- */

struct world {
    struct rb_train t;
    struct rb_dataset d;
};

/*
 * users x items, each user with up to 2 * per_user interactions mostly in
 * one of `cats` categories (weights 1..10), every 5th user with none; every
 * 11th product out of stock; bought = interactions of weight >= 5.
 */
static void world_make(struct world *w, uint32_t users, uint32_t items, uint32_t cats, uint32_t per_user, uint64_t seed)
{
    memset(w, 0, sizeof(*w));
    uint64_t s = seed;
    float *dense = calloc((size_t)users * items, sizeof(float));
    for (uint32_t u = 0; u < users; u++) {
        if (u % 5 == 4)
            continue;
        uint32_t cat = (uint32_t)(rng_next(&s) % cats), k = (uint32_t)(rng_next(&s) % (2 * per_user)) + 1;
        for (uint32_t j = 0; j < k; j++) {
            uint32_t i = rng_unit(&s) < 0.2 ? (uint32_t)(rng_next(&s) % items)
                                            : (cat + cats * (uint32_t)(rng_next(&s) % (items / cats))) % items;
            dense[(size_t)u * items + i] = (float)(1 + rng_next(&s) % 10);
        }
    }
    struct rb_csr *ui = &w->t.ui, *iu = &w->t.iu, *b = &w->t.bought;
    uint64_t nnz = 0, nb = 0;
    for (size_t j = 0; j < (size_t)users * items; j++) {
        nnz += dense[j] != 0.0f;
        nb += dense[j] >= 5.0f;
    }
    ui->rows = b->rows = iu->cols = users;
    ui->cols = b->cols = iu->rows = items;
    ui->indptr = calloc((size_t)users + 1, sizeof(uint64_t));
    ui->indices = malloc(sizeof(uint32_t) * (nnz + 1));
    ui->values = malloc(sizeof(float) * (nnz + 1));
    b->indptr = calloc((size_t)users + 1, sizeof(uint64_t));
    b->indices = malloc(sizeof(uint32_t) * (nb + 1));
    b->values = malloc(sizeof(float) * (nb + 1));
    for (uint32_t u = 0; u < users; u++) {
        for (uint32_t i = 0; i < items; i++) {
            float v = dense[(size_t)u * items + i];
            if (v != 0.0f) {
                ui->indices[ui->nnz] = i;
                ui->values[ui->nnz++] = v;
            }
            if (v >= 5.0f) {
                b->indices[b->nnz] = i;
                b->values[b->nnz++] = 1.0f;
            }
        }
        ui->indptr[u + 1] = ui->nnz;
        b->indptr[u + 1] = b->nnz;
    }
    iu->indptr = calloc((size_t)items + 1, sizeof(uint64_t));
    iu->indices = malloc(sizeof(uint32_t) * (nnz + 1));
    iu->values = malloc(sizeof(float) * (nnz + 1));
    for (uint32_t i = 0; i < items; i++) {
        for (uint32_t u = 0; u < users; u++) {
            float v = dense[(size_t)u * items + i];
            if (v != 0.0f) {
                iu->indices[iu->nnz] = u;
                iu->values[iu->nnz++] = v;
            }
        }
        iu->indptr[i + 1] = iu->nnz;
    }
    free(dense);
    w->t.row_cookie = malloc(sizeof(uint32_t) * (users + 1));
    w->t.row_wants_list = malloc(users + 1);
    for (uint32_t u = 0; u < users; u++) {
        w->t.row_cookie[u] = u;
        w->t.row_wants_list[u] = u % 3 != 0;
    }
    w->d.cookies.n = users;
    w->d.cookies.keys = malloc(sizeof(uint64_t) * (users + 1));
    for (uint32_t u = 0; u < users; u++)
        w->d.cookies.keys[u] = 0x1000000ULL + u;
    w->d.products.n = items;
    w->d.products.keys = malloc(sizeof(uint64_t) * (items + 1));
    w->d.in_stock = malloc(items + 1);
    for (uint32_t i = 0; i < items; i++) {
        w->d.products.keys[i] = 0x2000000ULL + i;
        w->d.in_stock[i] = i % 11 != 5;
    }
}

static void world_free(struct world *w)
{
    rb_train_release(&w->t);
    free(w->d.cookies.keys);
    free(w->d.products.keys);
    free(w->d.in_stock);
    memset(w, 0, sizeof(*w));
}

/* ||A - B||_F / ||B||_F in double */
static double rel_frob(const float *a, const float *b, size_t len)
{
    double num = 0.0, den = 0.0;
    for (size_t j = 0; j < len; j++) {
        double d = (double)a[j] - b[j];
        num += d * d;
        den += (double)b[j] * b[j];
    }
    return den > 0.0 ? sqrt(num / den) : sqrt(num);
}

/* Share of want's entries that got's list of the same owner also holds; owners must match. */
static double overlap(const struct rb_lists *got, const struct rb_lists *want)
{
    ck_assert_uint_eq(got->n, want->n);
    uint64_t hits = 0, total = 0;
    for (size_t q = 0; q < want->n; q++) {
        ck_assert_uint_eq(got->owner_key[q], want->owner_key[q]);
        ck_assert_uint_eq(got->source[q], want->source[q]);
        total += want->len[q];
        for (uint32_t a = 0; a < want->len[q]; a++)
            for (uint32_t b = 0; b < got->len[q]; b++)
                if (got->items[q * got->k + b] == want->items[q * want->k + a]) {
                    hits++;
                    break;
                }
    }
    return total ? (double)hits / (double)total : 1.0;
}

/* Ranked best first, ties to the lower product, no duplicates. */
static void check_ranked(const struct rb_lists *l)
{
    for (size_t q = 0; q < l->n; q++) {
        for (uint32_t j = 1; j < l->len[q]; j++) {
            float a = l->scores[q * l->k + j - 1], b = l->scores[q * l->k + j];
            ck_assert_msg(a > b || (a == b && l->items[q * l->k + j - 1] < l->items[q * l->k + j]),
                          "list %zu not ranked at %u", q, j);
        }
        for (uint32_t j = 0; j < l->len[q]; j++)
            for (uint32_t x = 0; x < j; x++)
                ck_assert_uint_ne(l->items[q * l->k + x], l->items[q * l->k + j]);
    }
}

/* ---- ALS ---- */

static void check_als(uint32_t iterations, uint32_t cg_steps, double tol)
{
    struct world w;
    world_make(&w, 3000, 800, 20, 15, 11);
    struct rb_als_opts o;
    rb_als_opts_default(&o);
    o.factors = 32;
    o.iterations = iterations;
    o.cg_steps = cg_steps;
    char err[RC_ERRMSG_MAX];
    struct rb_als_model cpu, gpu;
    ck_assert_msg(rb_als_train_cpu(&cpu, &w.t, &o, err) == 0, "%s", err);
    ck_assert_msg(rb_als_train_gpu(&gpu, &w.t, &o, err) == 0, "%s", err);
    ck_assert_uint_eq(gpu.users, cpu.users);
    ck_assert_uint_eq(gpu.items, cpu.items);
    ck_assert_uint_eq(gpu.f, cpu.f);
    double du = rel_frob(gpu.U, cpu.U, (size_t)cpu.users * cpu.f);
    double dv = rel_frob(gpu.V, cpu.V, (size_t)cpu.items * cpu.f);
    double lc, lg;
    ck_assert(rb_als_loss(&cpu, &w.t, &o, &lc, err) == 0);
    ck_assert(rb_als_loss(&gpu, &w.t, &o, &lg, err) == 0);
    printf("gpu_parity als iterations=%u cg_steps=%u rel_frob_U=%.3g rel_frob_V=%.3g loss_cpu=%.9g loss_gpu=%.9g\n",
           iterations, cg_steps, du, dv, lc, lg);
    ck_assert_msg(du <= tol && dv <= tol, "factors differ: U %.3g V %.3g (tolerance %.3g)", du, dv, tol);
    ck_assert_msg(fabs(lg - lc) <= 1e-3 * fabs(lc), "loss differs: cpu %.9g gpu %.9g", lc, lg);
    if (cg_steps == 0) { /* the CPU fallback: the same code, the same bits */
        ck_assert(memcmp(gpu.U, cpu.U, sizeof(float) * cpu.users * cpu.f) == 0);
        ck_assert(memcmp(gpu.V, cpu.V, sizeof(float) * cpu.items * cpu.f) == 0);
    }
    /* rows without interactions: zero factors on both */
    for (uint32_t u = 4; u < cpu.users; u += 5)
        for (uint32_t k = 0; k < cpu.f; k++)
            ck_assert_float_eq(gpu.U[(size_t)u * cpu.f + k], 0.0f);
    rb_als_release(&cpu);
    rb_als_release(&gpu);
    world_free(&w);
}

START_TEST(test_als_one_iteration)
{
    check_als(1, 3, 1e-4);
}
END_TEST

START_TEST(test_als_ten_iterations)
{
    check_als(10, 3, 5e-3);
}
END_TEST

START_TEST(test_als_cholesky_falls_back)
{
    check_als(2, 0, 0.0);
}
END_TEST

/* ---- CF scoring from the same factors ---- */

static void random_model(struct rb_als_model *m, uint32_t users, uint32_t items, uint32_t f, uint64_t seed)
{
    uint64_t s = seed;
    m->users = users;
    m->items = items;
    m->f = f;
    m->U = malloc(sizeof(float) * ((size_t)users * f + 1));
    m->V = malloc(sizeof(float) * ((size_t)items * f + 1));
    for (size_t j = 0; j < (size_t)users * f; j++)
        m->U[j] = rng_sym(&s);
    for (size_t j = 0; j < (size_t)items * f; j++)
        m->V[j] = rng_sym(&s);
}

static int listed(const struct rb_lists *l, size_t q, uint32_t item, float *score)
{
    for (uint32_t j = 0; j < l->len[q]; j++)
        if (l->items[q * l->k + j] == item) {
            *score = l->scores[q * l->k + j];
            return 1;
        }
    return 0;
}

START_TEST(test_score_parity)
{
    struct world w;
    world_make(&w, 2000, 3000, 30, 20, 5);
    struct rb_als_model m;
    random_model(&m, 2000, 3000, 48, 9);
    char err[RC_ERRMSG_MAX];
    struct rb_lists cpu, gpu;
    for (int exclude = 0; exclude <= 1; exclude++) {
        ck_assert_msg(rb_score_cf(&cpu, &m, &w.t, &w.d, 100, exclude, RB_SCORE_GEMM, err) == 0, "%s", err);
        ck_assert_msg(rb_score_cf_gpu(&gpu, &m, &w.t, &w.d, 100, exclude, err) == 0, "%s", err);
        double ov = overlap(&gpu, &cpu);
        printf("gpu_parity score exclude_bought=%d lists=%zu overlap=%.6f\n", exclude, cpu.n, ov);
        ck_assert_msg(ov >= 0.99, "overlap %.4f", ov);
        check_ranked(&gpu);
        for (size_t q = 0; q < gpu.n; q++) {
            uint32_t r = 0; /* the q-th wanting row */
            for (size_t seen = 0;; r++)
                if (w.t.row_wants_list[r] && seen++ == q)
                    break;
            ck_assert_uint_eq(gpu.len[q], cpu.len[q]);
            for (uint32_t j = 0; j < gpu.len[q]; j++) {
                uint32_t i = gpu.items[q * gpu.k + j];
                float sc;
                ck_assert_msg(w.d.in_stock[i], "out-of-stock product %u listed", i);
                if (exclude)
                    for (uint64_t x = w.t.bought.indptr[r]; x < w.t.bought.indptr[r + 1]; x++)
                        ck_assert_msg(w.t.bought.indices[x] != i, "row %u: bought product %u listed", r, i);
                if (listed(&cpu, q, i, &sc))
                    ck_assert_msg(fabsf(sc - gpu.scores[q * gpu.k + j]) <= 1e-4f * fmaxf(1.0f, fabsf(sc)),
                                  "row %u product %u: cpu %g gpu %g", r, i, (double)sc,
                                  (double)gpu.scores[q * gpu.k + j]);
            }
        }
        rb_lists_release(&cpu);
        rb_lists_release(&gpu);
    }
    rb_als_release(&m);
    world_free(&w);
}
END_TEST

/* ---- the engine itself, exact on integer-valued vectors ---- */

struct collect {
    uint32_t n;
    struct rb_hit *hits; /* (nq, n) */
    uint32_t *len;
    uint64_t batches;
};

static int collect_emit(void *ctx, uint64_t q0, uint32_t nb, const struct rb_hit *hits, const uint32_t *len)
{
    struct collect *c = ctx;
    for (uint32_t b = 0; b < nb; b++) {
        c->len[q0 + b] = len[b];
        if (len[b])
            memcpy(c->hits + (q0 + b) * c->n, hits + (size_t)b * c->n, sizeof(struct rb_hit) * len[b]);
    }
    c->batches++;
    return 0;
}

static int cmp_before(const void *a, const void *b)
{
    struct rb_hit x = *(const struct rb_hit *)a, y = *(const struct rb_hit *)b;
    return rb_hit_before(x, y) ? -1 : rb_hit_before(y, x) ? 1 : 0;
}

static void check_engine(uint32_t nq, uint32_t nc, uint32_t f, uint32_t n, uint32_t max_batch, uint32_t max_tile)
{
    uint64_t s = 1234 + nq + nc;
    float *Q = malloc(sizeof(float) * nq * f), *C = malloc(sizeof(float) * nc * f);
    for (size_t j = 0; j < (size_t)nq * f; j++)
        Q[j] = (float)((int)(rng_next(&s) % 5) - 2); /* |score| <= 4 f: exact in float */
    for (size_t j = 0; j < (size_t)nc * f; j++)
        C[j] = (float)((int)(rng_next(&s) % 5) - 2);
    uint32_t *qrow = malloc(sizeof(uint32_t) * nq); /* queries in reverse row order */
    uint64_t *exoff = malloc(sizeof(uint64_t) * (nq + 1));
    uint32_t *ex = malloc(sizeof(uint32_t) * (nq * 40 + 1));
    uint64_t nex = 0;
    for (uint32_t q = 0; q < nq; q++) {
        qrow[q] = nq - 1 - q;
        exoff[q] = nex;
        uint32_t k = (uint32_t)(rng_next(&s) % 40);
        for (uint32_t j = 0; j < k; j++) /* unsorted, duplicates and out-of-range entries allowed */
            ex[nex++] = (uint32_t)(rng_next(&s) % (nc + nc / 10));
    }
    exoff[nq] = nex;

    struct collect c = {n, malloc(sizeof(struct rb_hit) * nq * n), malloc(sizeof(uint32_t) * nq), 0};
    struct rb_gpu_topk_in in = {Q, qrow, nq, C, nc, f, n, exoff, ex, 0, max_batch, max_tile};
    char err[RC_ERRMSG_MAX];
    ck_assert_msg(rb_gpu_topk(&in, collect_emit, &c, err) == 0, "%s", err);
    if (max_batch)
        ck_assert_uint_eq(c.batches, (nq + max_batch - 1) / max_batch);

    struct rb_hit *all = malloc(sizeof(struct rb_hit) * nc);
    uint8_t *excl = malloc(nc);
    for (uint32_t q = 0; q < nq; q++) {
        memset(excl, 0, nc);
        for (uint64_t j = exoff[q]; j < exoff[q + 1]; j++)
            if (ex[j] < nc)
                excl[ex[j]] = 1;
        uint32_t m = 0;
        const float *x = Q + (size_t)qrow[q] * f;
        for (uint32_t j = 0; j < nc; j++) {
            if (excl[j])
                continue;
            float sc = 0.0f;
            for (uint32_t k = 0; k < f; k++)
                sc += x[k] * C[(size_t)j * f + k];
            all[m++] = (struct rb_hit){sc, j};
        }
        qsort(all, m, sizeof(*all), cmp_before);
        uint32_t want = m < n ? m : n;
        ck_assert_uint_eq(c.len[q], want);
        for (uint32_t j = 0; j < want; j++) {
            struct rb_hit g = c.hits[(size_t)q * n + j];
            ck_assert_msg(g.i == all[j].i && g.s == all[j].s, "query %u at %u: got (%g, %u) want (%g, %u)", q, j,
                          (double)g.s, g.i, (double)all[j].s, all[j].i);
        }
    }
    free(all);
    free(excl);
    free(Q);
    free(C);
    free(qrow);
    free(exoff);
    free(ex);
    free(c.hits);
    free(c.len);
}

START_TEST(test_engine_exact_ties)
{
    check_engine(1000, 5000, 8, 100, 333, 1000);   /* 4 batches x 5 tiles, ties everywhere */
    check_engine(300, 20000, 16, 1000, 0, 4097);   /* n = RC_LIST_MAX, tiles not a multiple of the block */
    check_engine(50, 30, 8, 100, 7, 0);            /* fewer candidates than n */
    check_engine(10, 5000, 3, 1, 0, 0);            /* n = 1, odd f */
}
END_TEST

/* ---- kNN ---- */

static void make_emb(struct rb_dataset *d, uint32_t rows, uint32_t dim, uint32_t clusters, float noise, uint64_t seed)
{
    memset(d, 0, sizeof(*d));
    uint64_t s = seed;
    float *cent = malloc(sizeof(float) * clusters * dim);
    for (uint32_t j = 0; j < clusters * dim; j++)
        cent[j] = rng_sym(&s);
    d->products.n = rows;
    d->products.keys = malloc(sizeof(uint64_t) * rows);
    d->in_stock = malloc(rows);
    d->emb = malloc(sizeof(float) * rows * dim);
    d->emb_product = malloc(sizeof(uint32_t) * rows);
    d->emb_rows = rows;
    d->dim = dim;
    for (uint32_t r = 0; r < rows; r++) {
        /* rows and products in different orders */
        uint32_t p = (uint32_t)(((uint64_t)r * 7919u) % rows);
        d->products.keys[p] = 0xabc0000ULL + p * 31ULL;
        d->in_stock[p] = p % 7 != 3;
        d->emb_product[r] = p;
        float *v = d->emb + (size_t)r * dim;
        double norm = 0.0;
        for (uint32_t k = 0; k < dim; k++) {
            v[k] = cent[(r % clusters) * dim + k] + noise * rng_sym(&s);
            norm += (double)v[k] * v[k];
        }
        for (uint32_t k = 0; k < dim; k++)
            v[k] /= (float)sqrt(norm);
    }
    free(cent);
}

START_TEST(test_knn_parity)
{
    struct rb_dataset d;
    make_emb(&d, 6000, 96, 40, 0.8f, 3); /* 6000 is prime to 7919: a permutation */
    struct rb_knn_opts o;
    rb_knn_opts_default(&o);
    struct rb_lists cpu, gpu;
    struct rb_knn_stats sc, sg;
    char err[RC_ERRMSG_MAX];
    ck_assert_msg(rb_knn_image(&cpu, &sc, &d, 50, &o, err) == 0, "%s", err);
    ck_assert_msg(rb_knn_image_gpu(&gpu, &sg, &d, 50, &o, err) == 0, "%s", err);
    double ov = overlap(&gpu, &cpu);
    printf("gpu_parity knn lists=%zu overlap=%.6f\n", cpu.n, ov);
    ck_assert_msg(ov >= 0.99, "overlap %.4f", ov);
    ck_assert(sg.recall == 1.0);
    check_ranked(&gpu);
    for (size_t q = 0; q < gpu.n; q++) {
        ck_assert_uint_eq(gpu.len[q], cpu.len[q]);
        for (uint32_t j = 0; j < gpu.len[q]; j++) {
            uint32_t p = gpu.items[q * gpu.k + j];
            ck_assert(d.in_stock[p]);
            ck_assert_uint_ne(p, d.emb_product[q]);
        }
    }
    rb_lists_release(&cpu);
    rb_lists_release(&gpu);
    free(d.products.keys);
    free(d.in_stock);
    free(d.emb);
    free(d.emb_product);
}
END_TEST

/* ---- the whole CF chain ---- */

START_TEST(test_chain_parity)
{
    struct world w;
    world_make(&w, 3000, 800, 20, 15, 21);
    struct rb_als_opts o;
    rb_als_opts_default(&o);
    char err[RC_ERRMSG_MAX];
    struct rb_als_model cpu, gpu;
    struct rb_lists lc, lg;
    ck_assert_msg(rb_als_train_cpu(&cpu, &w.t, &o, err) == 0, "%s", err);
    ck_assert_msg(rb_als_train_gpu(&gpu, &w.t, &o, err) == 0, "%s", err);
    ck_assert_msg(rb_score_cf(&lc, &cpu, &w.t, &w.d, 50, 1, RB_SCORE_AUTO, err) == 0, "%s", err);
    ck_assert_msg(rb_score_cf_gpu(&lg, &gpu, &w.t, &w.d, 50, 1, err) == 0, "%s", err);
    double ov = overlap(&lg, &lc);
    printf("gpu_parity chain factors=%u iterations=%u overlap=%.6f\n", o.factors, o.iterations, ov);
    ck_assert_msg(ov >= 0.99, "overlap %.4f", ov);
    rb_lists_release(&lc);
    rb_lists_release(&lg);
    rb_als_release(&cpu);
    rb_als_release(&gpu);
    world_free(&w);
}
END_TEST

static Suite *gpu_parity_suite(void)
{
    Suite *s = suite_create("gpu_parity");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_als_one_iteration);
    tcase_add_test(tc, test_als_ten_iterations);
    tcase_add_test(tc, test_als_cholesky_falls_back);
    tcase_add_test(tc, test_score_parity);
    tcase_add_test(tc, test_engine_exact_ties);
    tcase_add_test(tc, test_knn_parity);
    tcase_add_test(tc, test_chain_parity);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    char name[256], err[RC_ERRMSG_MAX];
    uint64_t free_b = 0, total_b = 0;
    if (rb_gpu_info(name, &free_b, &total_b, err) != 0) {
        printf("test_gpu_parity: skipped: %s\n", err);
        return 77;
    }
    printf("test_gpu_parity: device %s, %llu of %llu MiB free\n", name, (unsigned long long)(free_b >> 20),
           (unsigned long long)(total_b >> 20));
    /* CK_FORK would run each test in a child: fine for CUDA as long as the
     * parent never touched the device, which rb_gpu_info just did; run in
     * one process instead. */
    SRunner *sr = srunner_create(gpu_parity_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}

#else /* no CUDA in this build */

int main(void)
{
    printf("test_gpu_parity: skipped: built without CUDA\n");
    return 77;
}

#endif
