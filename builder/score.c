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
 */
#include "score.h"

#include <cblas.h>
#include <errno.h>
#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "log.h"

#define RB_SCORE_BLOCK 256   /* users per GEMM block */
#define RB_SCORE_TILE 4096   /* candidates per GEMM tile: block x tile scores = 4 MiB */
#define RB_SCORE_FAISS_BATCH 4096

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

static int score_faiss(struct rb_lists *out, const struct rb_als_model *m, const struct rb_train *t,
                       const struct cands *c, const uint32_t *rows, size_t nrows, uint32_t n, int exclude_bought,
                       char *err)
{
    uint32_t f = m->f;
    int rc = 0;
    FaissIndexFlatIP *index = NULL;
    float *Q = NULL, *D = NULL;
    idx_t *L = NULL;
    uint32_t *ex = NULL, *exn = NULL;
    uint64_t *exoff = NULL;
    struct hit *sel = NULL;

    if (c->n == 0) {
        for (size_t li = 0; li < nrows; li++)
            out->len[li] = 0;
        return 0;
    }
    if (faiss_IndexFlatIP_new_with(&index, (idx_t)f))
        return faiss_fail(err, "index creation");
    if (faiss_Index_add(index, (idx_t)c->n, c->V)) {
        rc = faiss_fail(err, "add");
        goto out;
    }
    size_t batch = nrows < RB_SCORE_FAISS_BATCH ? nrows : RB_SCORE_FAISS_BATCH;
    Q = malloc(sizeof(float) * (batch * f + 1));
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
            memcpy(Q + q * f, m->U + (size_t)r * f, sizeof(float) * f);
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
    faiss_Index_free(index);
    free(Q);
    free(D);
    free(L);
    free(ex);
    free(exn);
    free(exoff);
    free(sel);
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
    return method == RB_SCORE_FAISS ? RB_SCORE_FAISS_BATCH : RB_SCORE_BLOCK;
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
    int rc = rb_score_cf_begin(out, m, t, n, err);
    if (rc)
        return rc;
    if (from % rb_score_cf_unit(method) != 0)
        return rc_fail(err, RC_EINTERNAL, "score: range start %zu is not a multiple of %zu", from,
                       rb_score_cf_unit(method));

    size_t nrows = 0;
    for (uint32_t r = 0; r < m->users; r++)
        nrows += t->row_wants_list[r] != 0;
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
    else /* RB_SCORE_AUTO: GEMM measured faster, ops/bench/score_methods.md */
        rc = score_gemm(out, m, t, &c, rows + from, to - from, n, exclude_bought, err);
out:
    cands_release(&c);
    free(rows);
    if (rc)
        rb_lists_release(out);
    return rc;
}
