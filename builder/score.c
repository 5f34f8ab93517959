/*
 * score.c - collaborative-filtering top-N per cookie from the ALS factors.
 *
 * Both methods score only in-stock products: the candidates are the
 * in-stock rows of V copied into one (cands, f) matrix, and a cookie's
 * bought products are mapped to candidate positions (out-of-stock ones
 * drop out, being no candidates at all).
 *
 * GEMM: OpenMP threads take blocks of RB_SCORE_BLOCK users; for each tile
 * of RB_SCORE_TILE candidates one single-threaded cblas_sgemm writes the
 * (block, tile) scores into the thread's scratch, bought products are set
 * to -inf, and each row feeds a min-heap of its n best. Candidates are
 * visited in ascending order and enter only when strictly better than the
 * heap's worst, so ties go to the lower product index. OpenBLAS is set to
 * one thread meanwhile, so its threads do not compete with ours.
 *
 * FAISS: IndexFlatIP over the candidates, searched for batches of users
 * with k = n + the most in-stock bought products of any user in the batch,
 * then the bought products filtered out. FAISS parallelises inside.
 *
 * Both produce lists ordered by score, best first, ties by lower product
 * index, equal up to float rounding of the scores (tests/test_score.c).
 *
 * IVF (approximate, score.h): the FAISS path's search and filtering over
 * an IndexIVFFlat of the candidates extended to equal norms; nprobe
 * calibrated on a sample against GEMM's exact lists; recall measured on
 * another sample by rb_score_cf_recall.
 */
#include "score.h"

#include <cblas.h>
#include <errno.h>
#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/IndexIVF_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "knn.h"
#include "log.h"

#define RB_SCORE_BLOCK 256   /* users per GEMM block */
#define RB_SCORE_TILE 4096   /* candidates per GEMM tile: block x tile scores = 4 MiB */
#define RB_SCORE_FAISS_BATCH 4096
#define RB_SCORE_RECALL_MARGIN 0.01 /* calibration aims this far above --score-recall */

/*
 * OpenBLAS 0.3.21 does not recognise some newer CPUs (Sapphire Rapids under
 * KVM, for one) and falls back to its generic SSE3 kernels, "Prescott",
 * 3-4x slower for these GEMMs. OPENBLAS_CORETYPE, read when the library
 * loads, overrides the choice; say so once per call.
 */
static void warn_generic_blas(void)
{
    const char *core = openblas_get_corename();
    if (core && strcasecmp(core, "prescott") == 0 && __builtin_cpu_supports("avx2"))
        rc_log(RC_LOG_WARN, "openblas_core",
               "core=%s hint=\"generic kernels on an avx2 cpu; set OPENBLAS_CORETYPE=%s for much faster scoring\"",
               core, __builtin_cpu_supports("avx512f") ? "SkylakeX" : "Haswell");
}

/* ---- candidates and exclusions ---- */

struct cands {
    uint32_t items;   /* the model's items */
    uint32_t n;       /* in-stock products among them */
    uint32_t *prod;   /* [n] candidate -> product index, ascending */
    uint32_t *pos;    /* [items] product -> candidate, RB_NONE when not in stock */
    float *V;         /* (n, f) */
};

static void cands_release(struct cands *c)
{
    free(c->prod);
    free(c->pos);
    free(c->V);
}

static int cands_build(struct cands *c, const struct rb_als_model *m, const struct rb_dataset *d)
{
    memset(c, 0, sizeof(*c));
    c->items = m->items;
    c->prod = malloc(sizeof(uint32_t) * ((size_t)m->items + 1));
    c->pos = malloc(sizeof(uint32_t) * ((size_t)m->items + 1));
    if (!c->prod || !c->pos)
        return -ENOMEM;
    for (uint32_t i = 0; i < m->items; i++) {
        int ok = i < d->products.n && (!d->in_stock || d->in_stock[i]);
        c->pos[i] = ok ? c->n : RB_NONE;
        if (ok)
            c->prod[c->n++] = i;
    }
    c->V = malloc(sizeof(float) * ((size_t)c->n * m->f + 1));
    if (!c->V)
        return -ENOMEM;
    for (uint32_t j = 0; j < c->n; j++)
        memcpy(c->V + (size_t)j * m->f, m->V + (size_t)c->prod[j] * m->f, sizeof(float) * m->f);
    return 0;
}

/* Upper bound on row r's excluded candidates. */
static uint64_t excluded_max(const struct rb_train *t, int exclude_bought, uint32_t r)
{
    const struct rb_csr *b = &t->bought;
    if (!exclude_bought || !b->indptr || r >= b->rows)
        return 0;
    return b->indptr[r + 1] - b->indptr[r];
}

/* Candidate positions of row r's bought products, ascending, into ex
 * (room for excluded_max); returns the count. */
static uint32_t excluded(const struct cands *c, const struct rb_train *t, int exclude_bought, uint32_t r,
                         uint32_t *ex)
{
    const struct rb_csr *b = &t->bought;
    if (!excluded_max(t, exclude_bought, r))
        return 0;
    uint32_t n = 0;
    for (uint64_t j = b->indptr[r]; j < b->indptr[r + 1]; j++) {
        uint32_t i = b->indices[j];
        if (i < c->items && c->pos[i] != RB_NONE)
            ex[n++] = c->pos[i];
    }
    return n;
}

/* ---- a min-heap of the n best (score, candidate) pairs; the root is the worst ---- */

struct hit {
    float s;
    uint32_t i;
};

/* a ranks below b: lower score, or equal score and higher index */
static inline int worse(struct hit a, struct hit b)
{
    return a.s < b.s || (a.s == b.s && a.i > b.i);
}

static void heap_sift_down(struct hit *h, uint32_t len, uint32_t at)
{
    for (;;) {
        uint32_t l = 2 * at + 1, w = at;
        if (l < len && worse(h[l], h[w]))
            w = l;
        if (l + 1 < len && worse(h[l + 1], h[w]))
            w = l + 1;
        if (w == at)
            return;
        struct hit tmp = h[at];
        h[at] = h[w];
        h[w] = tmp;
        at = w;
    }
}

static void heap_push(struct hit *h, uint32_t *len, uint32_t cap, struct hit x)
{
    if (*len < cap) {
        uint32_t at = (*len)++;
        h[at] = x;
        while (at > 0) {
            uint32_t up = (at - 1) / 2;
            if (!worse(h[at], h[up]))
                break;
            struct hit tmp = h[at];
            h[at] = h[up];
            h[up] = tmp;
            at = up;
        }
    } else if (worse(h[0], x)) {
        h[0] = x;
        heap_sift_down(h, *len, 0);
    }
}

/* Empty the heap into best-first order in place. */
static void heap_sort_best_first(struct hit *h, uint32_t len)
{
    for (uint32_t end = len; end > 1; end--) {
        struct hit tmp = h[0];
        h[0] = h[end - 1];
        h[end - 1] = tmp;
        heap_sift_down(h, end - 1, 0);
    }
}

static int cmp_hit_best_first(const void *a, const void *b)
{
    const struct hit *x = a, *y = b;
    return worse(*y, *x) ? -1 : worse(*x, *y) ? 1 : 0;
}

/*
 * Feed scores s[0, len) of candidates base.. into the heap; -inf never
 * enters. The vector test skips the (usual) 16-wide chunks where nothing
 * beats the current worst; it is cloned like the ALS kernels so AVX2
 * machines use it.
 */
__attribute__((target_clones("arch=x86-64-v3", "default"))) static void
scan_row(struct hit *h, uint32_t *hlen, uint32_t cap, const float *s, uint32_t len, uint32_t base)
{
    float th = *hlen < cap ? -INFINITY : h[0].s;
    uint32_t j = 0;
    for (; j + 16 <= len; j += 16) {
        const float *c = s + j;
        int any = 0;
#pragma omp simd reduction(| : any)
        for (int q = 0; q < 16; q++)
            any |= c[q] > th;
        if (!any)
            continue;
        for (int q = 0; q < 16; q++) {
            if (c[q] > th) {
                heap_push(h, hlen, cap, (struct hit){c[q], base + j + (uint32_t)q});
                th = *hlen < cap ? -INFINITY : h[0].s;
            }
        }
    }
    for (; j < len; j++) {
        if (s[j] > th) {
            heap_push(h, hlen, cap, (struct hit){s[j], base + j});
            th = *hlen < cap ? -INFINITY : h[0].s;
        }
    }
}

/* ---- the two methods; each fills out's entries for rows[0, nrows) ---- */

static void put_list(struct rb_lists *out, size_t li, const struct hit *h, uint32_t len, const struct cands *c)
{
    for (uint32_t j = 0; j < len; j++) {
        out->items[li * out->k + j] = c->prod[h[j].i];
        out->scores[li * out->k + j] = h[j].s;
    }
    out->len[li] = (uint16_t)len;
}

static int score_gemm(struct rb_lists *out, const struct rb_als_model *m, const struct rb_train *t,
                      const struct cands *c, const uint32_t *rows, size_t nrows, uint32_t n, int exclude_bought,
                      char *err)
{
    uint32_t f = m->f, cap = n < c->n ? n : c->n;
    size_t blocks = (nrows + RB_SCORE_BLOCK - 1) / RB_SCORE_BLOCK;
    uint32_t tile = c->n < RB_SCORE_TILE ? c->n : RB_SCORE_TILE;
    int failed = 0;
    if (cap == 0) {
        for (size_t li = 0; li < nrows; li++)
            out->len[li] = 0;
        return 0;
    }

    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
#pragma omp parallel
    {
        float *Ub = malloc(sizeof(float) * RB_SCORE_BLOCK * f);
        float *S = malloc(sizeof(float) * RB_SCORE_BLOCK * (size_t)tile);
        struct hit *heaps = malloc(sizeof(struct hit) * RB_SCORE_BLOCK * (size_t)cap);
        uint32_t *hlen = malloc(sizeof(uint32_t) * RB_SCORE_BLOCK);
        uint32_t *exn = malloc(sizeof(uint32_t) * RB_SCORE_BLOCK);
        uint64_t *exoff = malloc(sizeof(uint64_t) * (RB_SCORE_BLOCK + 1));
        size_t exall_cap = 64;
        uint32_t *exall = malloc(sizeof(uint32_t) * exall_cap);
        if (!exall || !Ub || !S || !heaps || !hlen || !exn || !exoff) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (size_t b = 0; b < blocks; b++) {
            int stop;
#pragma omp atomic read
            stop = failed;
            if (stop)
                continue;
            size_t r0 = b * RB_SCORE_BLOCK;
            uint32_t nb = (uint32_t)(nrows - r0 < RB_SCORE_BLOCK ? nrows - r0 : RB_SCORE_BLOCK);
            /* gather the block's user vectors and bought candidates */
            size_t extotal = 0;
            for (uint32_t q = 0; q < nb; q++) {
                uint32_t r = rows[r0 + q];
                uint64_t upper = excluded_max(t, exclude_bought, r);
                if (extotal + upper > exall_cap) {
                    size_t nc = (extotal + upper) * 2 + 64;
                    uint32_t *p = realloc(exall, sizeof(uint32_t) * nc);
                    if (!p) {
#pragma omp atomic write
                        failed = 1;
                        break;
                    }
                    exall = p;
                    exall_cap = nc;
                }
                memcpy(Ub + (size_t)q * f, m->U + (size_t)r * f, sizeof(float) * f);
                exoff[q] = extotal;
                exn[q] = excluded(c, t, exclude_bought, r, exall + extotal);
                extotal += exn[q];
                hlen[q] = 0;
            }
#pragma omp atomic read
            stop = failed;
            if (stop)
                continue;
            for (uint32_t j0 = 0; j0 < c->n; j0 += tile) {
                uint32_t tn = c->n - j0 < tile ? c->n - j0 : tile;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)nb, (blasint)tn, (blasint)f, 1.0f, Ub,
                            (blasint)f, c->V + (size_t)j0 * f, (blasint)f, 0.0f, S, (blasint)tn);
                for (uint32_t q = 0; q < nb; q++) {
                    float *row = S + (size_t)q * tn;
                    const uint32_t *e = exall + exoff[q];
                    for (uint32_t x = 0; x < exn[q]; x++)
                        if (e[x] >= j0 && e[x] < j0 + tn)
                            row[e[x] - j0] = -INFINITY;
                    scan_row(heaps + (size_t)q * cap, &hlen[q], cap, row, tn, j0);
                }
            }
            for (uint32_t q = 0; q < nb; q++) {
                struct hit *h = heaps + (size_t)q * cap;
                heap_sort_best_first(h, hlen[q]);
                put_list(out, r0 + q, h, hlen[q], c);
            }
        }
        free(Ub);
        free(S);
        free(heaps);
        free(hlen);
        free(exn);
        free(exoff);
        free(exall);
    }
    openblas_set_num_threads(blas_threads);
    if (failed)
        return rc_fail(err, -ENOMEM, "score: out of memory for gemm scratch");
    return 0;
}

static int faiss_fail(char *err, const char *what)
{
    const char *msg = faiss_get_last_error();
    return rc_fail(err, RC_EINTERNAL, "score: faiss %s failed: %s", what, msg ? msg : "unknown error");
}

/* Lists for rows[0, nrows) from a FAISS index over the candidates whose
 * vectors have qdim >= f coordinates (the query: the user's f, then 0s). */
static int search_index(struct rb_lists *out, FaissIndex *index, uint32_t qdim, const struct rb_als_model *m,
                        const struct rb_train *t, const struct cands *c, const uint32_t *rows, size_t nrows,
                        uint32_t n, int exclude_bought, char *err)
{
    uint32_t f = m->f;
    int rc = 0;
    float *Q = NULL, *D = NULL;
    idx_t *L = NULL;
    uint32_t *ex = NULL, *exn = NULL;
    uint64_t *exoff = NULL;
    struct hit *sel = NULL;

    if (nrows == 0)
        return 0;
    size_t batch = nrows < RB_SCORE_FAISS_BATCH ? nrows : RB_SCORE_FAISS_BATCH;
    Q = calloc(batch * qdim + 1, sizeof(float));
    exn = malloc(sizeof(uint32_t) * (batch + 1));
    exoff = malloc(sizeof(uint64_t) * (batch + 1));
    sel = malloc(sizeof(struct hit) * ((size_t)n + 1));
    size_t ex_cap = 64;
    ex = malloc(sizeof(uint32_t) * ex_cap);
    if (!Q || !exn || !exoff || !sel || !ex) {
        rc = rc_fail(err, -ENOMEM, "score: out of memory");
        goto out;
    }
    for (size_t r0 = 0; r0 < nrows; r0 += batch) {
        size_t nb = nrows - r0 < batch ? nrows - r0 : batch;
        uint64_t total = 0;
        uint32_t most = 0;
        for (size_t q = 0; q < nb; q++) {
            uint32_t r = rows[r0 + q];
            uint64_t upper = excluded_max(t, exclude_bought, r);
            if (total + upper > ex_cap) {
                size_t nc = (total + upper) * 2 + 64;
                uint32_t *p = realloc(ex, sizeof(uint32_t) * nc);
                if (!p) {
                    rc = rc_fail(err, -ENOMEM, "score: out of memory");
                    goto out;
                }
                ex = p;
                ex_cap = nc;
            }
            exn[q] = excluded(c, t, exclude_bought, r, ex + total);
            exoff[q] = total;
            total += exn[q];
            if (exn[q] > most)
                most = exn[q];
            memcpy(Q + q * qdim, m->U + (size_t)r * f, sizeof(float) * f);
        }
        uint64_t k = (uint64_t)n + most;
        if (k > c->n)
            k = c->n;
        float *nD = realloc(D, sizeof(float) * nb * k);
        if (nD)
            D = nD;
        idx_t *nL = realloc(L, sizeof(idx_t) * nb * k);
        if (nL)
            L = nL;
        if (!nD || !nL) {
            rc = rc_fail(err, -ENOMEM, "score: out of memory for %zu x %llu results", nb, (unsigned long long)k);
            goto out;
        }
        if (faiss_Index_search(index, (idx_t)nb, Q, (idx_t)k, D, L)) {
            rc = faiss_fail(err, "search");
            goto out;
        }
        for (size_t q = 0; q < nb; q++) {
            const uint32_t *e = ex + exoff[q];
            uint32_t got = 0;
            for (uint64_t j = 0; j < k && got < n; j++) {
                idx_t lab = L[q * k + j];
                if (lab < 0 || (uint64_t)lab >= c->n)
                    continue;
                uint32_t cand = (uint32_t)lab;
                /* e is ascending: binary search */
                uint32_t lo = 0, hi = exn[q];
                while (lo < hi) {
                    uint32_t mid = (lo + hi) / 2;
                    if (e[mid] < cand)
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                if (lo < exn[q] && e[lo] == cand)
                    continue;
                sel[got++] = (struct hit){D[q * k + j], cand};
            }
            /* FAISS orders equal scores as its heap leaves them */
            qsort(sel, got, sizeof(*sel), cmp_hit_best_first);
            put_list(out, r0 + q, sel, got, c);
        }
    }
out:
    free(Q);
    free(D);
    free(L);
    free(ex);
    free(exn);
    free(exoff);
    free(sel);
    return rc;
}

static int score_faiss(struct rb_lists *out, const struct rb_als_model *m, const struct rb_train *t,
                       const struct cands *c, const uint32_t *rows, size_t nrows, uint32_t n, int exclude_bought,
                       char *err)
{
    FaissIndexFlatIP *index = NULL;
    if (c->n == 0) {
        for (size_t li = 0; li < nrows; li++)
            out->len[li] = 0;
        return 0;
    }
    if (faiss_IndexFlatIP_new_with(&index, (idx_t)m->f))
        return faiss_fail(err, "index creation");
    int rc = faiss_Index_add(index, (idx_t)c->n, c->V) ? faiss_fail(err, "add")
                                                         : search_index(out, index, m->f, m, t, c, rows, nrows, n,
                                                                        exclude_bought, err);
    faiss_Index_free(index);
    return rc;
}

/* ---- the approximate scorer ---- */

void rb_score_opts_default(struct rb_score_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->method = RB_SCORE_AUTO;
    o->approx_min = RB_SCORE_APPROX_MIN;
    o->approx_work = RB_SCORE_APPROX_WORK;
    o->recall_target = 0.95;
    o->recall_sample = 1000;
}

double rb_score_recall_aim(double target)
{
    double room = (1.0 - target) / 2;
    return target + (room < RB_SCORE_RECALL_MARGIN ? room : RB_SCORE_RECALL_MARGIN);
}

static uint32_t count_cands(const struct rb_als_model *m, const struct rb_dataset *d)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < m->items; i++)
        n += i < d->products.n && (!d->in_stock || d->in_stock[i]);
    return n;
}

enum rb_score_method rb_score_cf_method(const struct rb_score_opts *o, const struct rb_als_model *m,
                                        const struct rb_train *t, const struct rb_dataset *d)
{
    if (o->method != RB_SCORE_AUTO)
        return o->method;
    /* GEMM measured faster than FAISS's flat search: ops/bench/score_methods.md */
    uint32_t cands = count_cands(m, d);
    double work = (double)rb_score_cf_rows(t) * (double)cands * (double)m->f;
    return cands >= o->approx_min && work >= o->approx_work ? RB_SCORE_IVF : RB_SCORE_GEMM;
}

/* The positions (into the rows that get a list) of an evenly spaced
 * sample of ns of nrows; `half` shifts it by half a step (the measured
 * recall's sample, apart from calibration's). */
static size_t sample_rows(size_t *pos, size_t nrows, uint32_t want, int half)
{
    /* at most half the rows: with a step of 2 or more, the two samples
     * never share a row */
    size_t cap = nrows >= 2 ? nrows / 2 : nrows;
    size_t ns = want < cap ? want : cap;
    for (size_t j = 0; j < ns; j++) {
        size_t p = (size_t)(((double)j + (half ? 0.5 : 0.0)) * (double)nrows / (double)ns);
        pos[j] = p < nrows ? p : nrows - 1;
    }
    return ns;
}

/* Share of the exact lists' entries that the lists a hold (a[i] against x[i]). */
static void recall_add(const struct rb_lists *a, size_t ai, const struct rb_lists *x, size_t xi, uint64_t *hits,
                       uint64_t *total)
{
    const uint32_t *got = a->items + ai * a->k, *want = x->items + xi * x->k;
    *total += x->len[xi];
    for (uint16_t p = 0; p < x->len[xi]; p++)
        for (uint16_t q = 0; q < a->len[ai]; q++)
            if (got[q] == want[p]) {
                (*hits)++;
                break;
            }
}

/* Exact lists (GEMM) for the given rows, into a fresh x. */
static int exact_lists(struct rb_lists *x, const struct rb_als_model *m, const struct rb_train *t,
                       const struct cands *c, const uint32_t *rows, size_t nrows, uint32_t n, int exclude_bought,
                       char *err)
{
    if (rb_lists_init(x, nrows, n) != 0)
        return rc_fail(err, -ENOMEM, "score: out of memory for %zu sample lists", nrows);
    x->n = nrows;
    return score_gemm(x, m, t, c, rows, nrows, n, exclude_bought, err);
}

/* The IVF index (knn.h: rb_ivf_build) over c's candidates, extended to norm M; nlist into *nlist. */
static int ivf_build(FaissIndex **out, uint32_t *nlist_out, const struct cands *c, uint32_t f, uint32_t want_nlist,
                     char *err)
{
    uint32_t dim = f + 1;
    float *A = malloc(sizeof(float) * ((size_t)c->n * dim + 1));
    if (!A)
        return rc_fail(err, -ENOMEM, "score: out of memory for %u extended candidates", c->n);
    double M2 = 0;
    for (uint32_t j = 0; j < c->n; j++) {
        const float *v = c->V + (size_t)j * f;
        double s2 = 0;
        for (uint32_t q = 0; q < f; q++)
            s2 += (double)v[q] * v[q];
        if (s2 > M2)
            M2 = s2;
    }
    for (uint32_t j = 0; j < c->n; j++) {
        const float *v = c->V + (size_t)j * f;
        float *a = A + (size_t)j * dim;
        double s2 = 0;
        for (uint32_t q = 0; q < f; q++)
            s2 += (double)v[q] * v[q];
        memcpy(a, v, sizeof(float) * f);
        a[f] = (float)sqrt(M2 - s2 > 0 ? M2 - s2 : 0);
    }
    int rc = rb_ivf_build(out, nlist_out, A, c->n, dim, want_nlist, err);
    free(A);
    return rc;
}

/*
 * The smallest nprobe (8, 16, 32, ... nlist) whose lists reach
 * o->recall_target plus a margin (RB_SCORE_RECALL_MARGIN, or half the
 * distance to 1 when that is less) against exact ones on a sample of all
 * the rows: the margin covers the sampling error, so that the recall
 * measured on another sample (rb_score_cf_recall) reaches the target too
 * (one large run calibrated to exactly 0.9503 measured 0.9486).
 */
static int ivf_calibrate(uint32_t *nprobe_out, FaissIndex *index, uint32_t nlist, const struct rb_score_opts *o,
                         const struct rb_als_model *m, const struct rb_train *t, const struct cands *c,
                         const uint32_t *rows, size_t nrows, uint32_t n, int exclude_bought, char *err)
{
    size_t *pos = malloc(sizeof(size_t) * ((size_t)o->recall_sample + 1));
    uint32_t *srows = malloc(sizeof(uint32_t) * ((size_t)o->recall_sample + 1));
    struct rb_lists x, a;
    memset(&x, 0, sizeof(x));
    memset(&a, 0, sizeof(a));
    int rc = 0;
    if (!pos || !srows) {
        rc = rc_fail(err, -ENOMEM, "score: out of memory for the calibration sample");
        goto out;
    }
    size_t ns = sample_rows(pos, nrows, o->recall_sample, 0);
    for (size_t j = 0; j < ns; j++)
        srows[j] = rows[pos[j]];
    if ((rc = exact_lists(&x, m, t, c, srows, ns, n, exclude_bought, err)) != 0)
        goto out;
    if (rb_lists_init(&a, ns, n) != 0) {
        rc = rc_fail(err, -ENOMEM, "score: out of memory for %zu sample lists", ns);
        goto out;
    }
    a.n = ns;
    FaissIndexIVF *ivf = faiss_IndexIVF_cast(index);
    uint32_t nprobe = 8 < nlist ? 8 : nlist;
    for (;;) {
        faiss_IndexIVF_set_nprobe(ivf, nprobe);
        if ((rc = search_index(&a, index, m->f + 1, m, t, c, srows, ns, n, exclude_bought, err)) != 0)
            goto out;
        uint64_t hits = 0, total = 0;
        for (size_t j = 0; j < ns; j++)
            recall_add(&a, j, &x, j, &hits, &total);
        double r = total ? (double)hits / (double)total : 1.0;
        double aim = rb_score_recall_aim(o->recall_target);
        rc_log(RC_LOG_INFO, "score.calibrate", "nlist=%u nprobe=%u recall=%.4f sample=%zu aim=%.3f", nlist, nprobe, r,
               ns, aim);
        if (r >= aim || nprobe >= nlist)
            break;
        nprobe = nprobe * 2 < nlist ? nprobe * 2 : nlist;
    }
    *nprobe_out = nprobe;
out:
    rb_lists_release(&x);
    rb_lists_release(&a);
    free(pos);
    free(srows);
    return rc;
}

static int score_ivf(struct rb_lists *out, struct rb_score_stats *stats, const struct rb_als_model *m,
                     const struct rb_train *t, const struct cands *c, const uint32_t *all, size_t nall,
                     const uint32_t *rows, size_t nrows, uint32_t n, int exclude_bought,
                     const struct rb_score_opts *o, char *err)
{
    FaissIndex *index = NULL;
    if (c->n == 0) {
        for (size_t li = 0; li < nrows; li++)
            out->len[li] = 0;
        return 0;
    }
    int rc = ivf_build(&index, &stats->nlist, c, m->f, o->nlist, err);
    if (rc)
        return rc;
    if (o->nprobe)
        stats->nprobe = o->nprobe < stats->nlist ? o->nprobe : stats->nlist;
    else
        rc = ivf_calibrate(&stats->nprobe, index, stats->nlist, o, m, t, c, all, nall, n, exclude_bought, err);
    if (!rc) {
        faiss_IndexIVF_set_nprobe(faiss_IndexIVF_cast(index), stats->nprobe);
        rc = search_index(out, index, m->f + 1, m, t, c, rows, nrows, n, exclude_bought, err);
    }
    faiss_Index_free(index);
    return rc;
}

int rb_score_cf_begin(struct rb_lists *out, const struct rb_als_model *m, const struct rb_train *t, uint32_t n,
                      char *err)
{
    memset(out, 0, sizeof(*out));
    if (n == 0 || n > RC_LIST_MAX)
        return rc_fail(err, RC_ERANGE, "score: n %u outside 1..%u", n, RC_LIST_MAX);
    if (m->users != t->ui.rows || m->f == 0 || (m->users > 0 && !m->U) || (m->items > 0 && !m->V))
        return rc_fail(err, RC_EINTERNAL, "score: model (%u users) does not match the training rows (%u)", m->users,
                       t->ui.rows);
    if (m->users > 0 && (!t->row_cookie || !t->row_wants_list))
        return rc_fail(err, RC_EINTERNAL, "score: training rows without cookies");
    return 0;
}

int rb_score_cf_lists_init(struct rb_lists *out, const struct rb_train *t, const struct rb_dataset *d,
                           const uint32_t *rows, size_t nrows, uint32_t n, char *err)
{
    int rc = rb_lists_init(out, nrows, n);
    if (rc)
        return rc_fail(err, rc, "score: unable to allocate %zu lists of %u", nrows, n);
    for (size_t li = 0; li < nrows; li++) {
        uint32_t cookie = t->row_cookie[rows[li]];
        if (cookie >= d->cookies.n)
            return rc_fail(err, RC_EINTERNAL, "score: row %u names cookie %u of %u", rows[li], cookie,
                           d->cookies.n);
        out->owner_key[li] = d->cookies.keys[cookie];
        out->source[li] = RC_SRC_CF;
        out->len[li] = 0;
    }
    out->n = nrows;
    return 0;
}

size_t rb_score_cf_unit(enum rb_score_method method)
{
    return method == RB_SCORE_FAISS || method == RB_SCORE_IVF ? RB_SCORE_FAISS_BATCH : RB_SCORE_BLOCK;
}

size_t rb_score_cf_rows(const struct rb_train *t)
{
    size_t nrows = 0;
    for (uint32_t r = 0; r < t->ui.rows; r++)
        nrows += t->row_wants_list[r] != 0;
    return nrows;
}

int rb_score_cf(struct rb_lists *out, const struct rb_als_model *m, const struct rb_train *t,
                const struct rb_dataset *d, uint32_t n, int exclude_bought, enum rb_score_method method, char *err)
{
    return rb_score_cf_range(out, m, t, d, n, exclude_bought, method, 0, SIZE_MAX, err);
}

int rb_score_cf_range(struct rb_lists *out, const struct rb_als_model *m, const struct rb_train *t,
                      const struct rb_dataset *d, uint32_t n, int exclude_bought, enum rb_score_method method,
                      size_t from, size_t to, char *err)
{
    struct rb_score_opts o;
    struct rb_score_stats st;
    rb_score_opts_default(&o);
    o.method = method;
    return rb_score_cf_with(out, &st, m, t, d, n, exclude_bought, &o, from, to, err);
}

int rb_score_cf_with(struct rb_lists *out, struct rb_score_stats *stats, const struct rb_als_model *m,
                     const struct rb_train *t, const struct rb_dataset *d, uint32_t n, int exclude_bought,
                     const struct rb_score_opts *o, size_t from, size_t to, char *err)
{
    memset(stats, 0, sizeof(*stats));
    stats->recall = 1.0;
    int rc = rb_score_cf_begin(out, m, t, n, err);
    if (rc)
        return rc;
    enum rb_score_method method = rb_score_cf_method(o, m, t, d);
    stats->method = method;
    if (from % rb_score_cf_unit(method) != 0)
        return rc_fail(err, RC_EINTERNAL, "score: range start %zu is not a multiple of %zu", from,
                       rb_score_cf_unit(method));

    size_t nrows = rb_score_cf_rows(t);
    uint32_t *rows = malloc(sizeof(uint32_t) * (nrows + 1));
    struct cands c;
    rc = cands_build(&c, m, d);
    if (rc || !rows) {
        rc = rc_fail(err, -ENOMEM, "score: out of memory for %u candidates", m->items);
        goto out;
    }
    nrows = 0;
    for (uint32_t r = 0; r < m->users; r++)
        if (t->row_wants_list[r])
            rows[nrows++] = r;
    /* A range scores rows[from, to): the blocks (batches) start where the
     * whole run's do, so each list is the one the whole run computes. */
    if (to > nrows)
        to = nrows;
    if (from > to)
        from = to;

    if ((rc = rb_score_cf_lists_init(out, t, d, rows + from, to - from, n, err)) != 0)
        goto out;

    warn_generic_blas();
    if (method == RB_SCORE_FAISS)
        rc = score_faiss(out, m, t, &c, rows + from, to - from, n, exclude_bought, err);
    else if (method == RB_SCORE_IVF)
        rc = score_ivf(out, stats, m, t, &c, rows, nrows, rows + from, to - from, n, exclude_bought, o, err);
    else
        rc = score_gemm(out, m, t, &c, rows + from, to - from, n, exclude_bought, err);
out:
    cands_release(&c);
    free(rows);
    if (rc)
        rb_lists_release(out);
    return rc;
}

int rb_score_cf_recall(struct rb_score_stats *stats, const struct rb_lists *lists, const struct rb_als_model *m,
                       const struct rb_train *t, const struct rb_dataset *d, uint32_t n, int exclude_bought,
                       uint32_t sample, char *err)
{
    size_t nrows = rb_score_cf_rows(t);
    if (lists->n != nrows)
        return rc_fail(err, RC_EINTERNAL, "score: %zu lists for %zu rows", lists->n, nrows);
    stats->recall = 1.0;
    stats->sampled = 0;
    if (nrows == 0 || sample == 0)
        return 0;
    uint32_t *rows = malloc(sizeof(uint32_t) * (nrows + 1)), *srows = malloc(sizeof(uint32_t) * ((size_t)sample + 1));
    size_t *pos = malloc(sizeof(size_t) * ((size_t)sample + 1));
    struct cands c;
    struct rb_lists x;
    memset(&x, 0, sizeof(x));
    int rc = cands_build(&c, m, d);
    if (rc || !rows || !srows || !pos) {
        rc = rc_fail(err, -ENOMEM, "score: out of memory for the recall sample");
        goto out;
    }
    size_t k = 0;
    for (uint32_t r = 0; r < m->users; r++)
        if (t->row_wants_list[r])
            rows[k++] = r;
    size_t ns = sample_rows(pos, nrows, sample, 1);
    for (size_t j = 0; j < ns; j++)
        srows[j] = rows[pos[j]];
    if ((rc = exact_lists(&x, m, t, &c, srows, ns, n, exclude_bought, err)) != 0)
        goto out;
    uint64_t hits = 0, total = 0;
    for (size_t j = 0; j < ns; j++)
        recall_add(lists, pos[j], &x, j, &hits, &total);
    stats->recall = total ? (double)hits / (double)total : 1.0;
    stats->sampled = (uint32_t)ns;
out:
    rb_lists_release(&x);
    cands_release(&c);
    free(rows);
    free(srows);
    free(pos);
    return rc;
}

int rb_score_cf_all(struct rb_lists *out, struct rb_score_stats *stats, const struct rb_als_model *m,
                    const struct rb_train *t, const struct rb_dataset *d, uint32_t n, int exclude_bought,
                    const struct rb_score_opts *o, char *err)
{
    int rc = rb_score_cf_with(out, stats, m, t, d, n, exclude_bought, o, 0, SIZE_MAX, err);
    if (!rc && stats->method == RB_SCORE_IVF &&
        (rc = rb_score_cf_recall(stats, out, m, t, d, n, exclude_bought, o->recall_sample, err)) != 0)
        rb_lists_release(out);
    return rc;
}
