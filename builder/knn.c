/*
 * knn.c - image similarity through FAISS's C API.
 *
 * Queries are the embedding rows, one per product (a product's first row
 * when it appears twice). Candidates are the query rows of in-stock
 * products: out-of-stock products still get their own list but never
 * appear in one. As both are one row per product, each query asks for
 * k = n + 1 neighbours (the extra one for itself) and drops itself.
 *
 * Exact search is IndexFlatIP (BLAS inside, OpenMP over queries). IVF and
 * HNSW are built with faiss_index_factory; their recall@n against exact
 * search is measured on an evenly spaced sample of queries.
 *
 * Lists are best first; equal scores are ordered by lower product index.
 */
#include "knn.h"

#include <errno.h>
#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/IndexIVF_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define RB_KNN_TRAIN_PER_LIST 64 /* IVF training points per list (FAISS wants >= 39) */

void rb_knn_opts_default(struct rb_knn_opts *o)
{
    o->method = RB_KNN_AUTO;
    o->approx_min = RB_KNN_APPROX_MIN;
    o->ivf_nlist = 0;
    o->ivf_nprobe = 16;
    o->hnsw_m = 32;
    o->hnsw_ef = 128;
    o->recall_sample = 1000;
}

struct knn_set {
    uint32_t nq, nc;   /* queries, candidates */
    uint32_t *qrow;    /* [nq] embedding row of each query */
    uint32_t *crow;    /* [nc] embedding row of each candidate */
    float *C;          /* (nc, dim) candidate vectors */
};

static void knn_set_release(struct knn_set *s)
{
    free(s->qrow);
    free(s->crow);
    free(s->C);
}

static int knn_set_build(struct knn_set *s, const struct rb_dataset *d)
{
    memset(s, 0, sizeof(*s));
    uint32_t np = d->products.n;
    uint8_t *seen = calloc((size_t)np + 1, 1);
    s->qrow = malloc(sizeof(uint32_t) * ((size_t)d->emb_rows + 1));
    s->crow = malloc(sizeof(uint32_t) * ((size_t)d->emb_rows + 1));
    if (!seen || !s->qrow || !s->crow) {
        free(seen);
        return -ENOMEM;
    }
    for (uint32_t r = 0; r < d->emb_rows; r++) {
        uint32_t p = d->emb_product[r];
        if (p >= np || seen[p])
            continue;
        seen[p] = 1;
        s->qrow[s->nq++] = r;
        if (!d->in_stock || d->in_stock[p])
            s->crow[s->nc++] = r;
    }
    free(seen);
    s->C = malloc(sizeof(float) * ((size_t)s->nc * d->dim + 1));
    if (!s->C)
        return -ENOMEM;
    for (uint32_t j = 0; j < s->nc; j++)
        memcpy(s->C + (size_t)j * d->dim, d->emb + (size_t)s->crow[j] * d->dim, sizeof(float) * d->dim);
    return 0;
}

static int faiss_fail(char *err, const char *what)
{
    const char *msg = faiss_get_last_error();
    return rc_fail(err, RC_EINTERNAL, "knn: faiss %s failed: %s", what, msg ? msg : "unknown error");
}

struct pick {
    float s;
    uint32_t p; /* product index */
};

static int cmp_pick(const void *a, const void *b)
{
    const struct pick *x = a, *y = b;
    if (x->s != y->s)
        return x->s > y->s ? -1 : 1;
    return x->p < y->p ? -1 : x->p > y->p;
}

/*
 * The list of query product qp from one row of search results (k labels
 * into the candidates, best first): drop misses and itself, keep n, order
 * by score then product. Returns the length.
 */
static uint32_t pick_row(struct pick *out, uint32_t n, const idx_t *lab, const float *dist, uint64_t k,
                         uint32_t qp, const struct knn_set *s, const struct rb_dataset *d)
{
    uint32_t got = 0;
    for (uint64_t j = 0; j < k && got < n; j++) {
        if (lab[j] < 0 || (uint64_t)lab[j] >= s->nc)
            continue;
        uint32_t p = d->emb_product[s->crow[lab[j]]];
        if (p != qp)
            out[got++] = (struct pick){dist[j], p};
    }
    qsort(out, got, sizeof(*out), cmp_pick);
    return got;
}

/* Search queries qidx[0, nq) (indices into s->qrow) in batches; k results each into L, D (nq, k). */
static int search_rows(FaissIndex *index, const struct rb_dataset *d, const struct knn_set *s, const uint32_t *qidx,
                       uint32_t nq, uint64_t k, float *Q, float *D, idx_t *L, char *err)
{
    for (uint32_t q0 = 0; q0 < nq; q0 += RB_KNN_BATCH) {
        uint32_t nb = nq - q0 < RB_KNN_BATCH ? nq - q0 : RB_KNN_BATCH;
        for (uint32_t q = 0; q < nb; q++) {
            uint32_t row = s->qrow[qidx[q0 + q]];
            memcpy(Q + (size_t)q * d->dim, d->emb + (size_t)row * d->dim, sizeof(float) * d->dim);
        }
        if (faiss_Index_search(index, (idx_t)nb, Q, (idx_t)k, D + (size_t)q0 * k, L + (size_t)q0 * k))
            return faiss_fail(err, "search");
    }
    return 0;
}

int rb_ivf_build(FaissIndex **out, uint32_t *nlist_out, const float *X, uint32_t n, uint32_t dim, uint32_t want,
                 char *err)
{
    uint32_t nlist = want ? want : (uint32_t)(4.0 * sqrt((double)n));
    if (nlist > n / 39)
        nlist = n / 39;
    if (nlist < 1)
        nlist = 1;
    char desc[64];
    snprintf(desc, sizeof(desc), "IVF%u,Flat", nlist);
    FaissIndex *index = NULL;
    *out = NULL;
    if (faiss_index_factory(&index, (int)dim, desc, METRIC_INNER_PRODUCT))
        return faiss_fail(err, "index_factory");
    uint64_t want_nt = (uint64_t)nlist * RB_KNN_TRAIN_PER_LIST;
    uint32_t nt = want_nt < n ? (uint32_t)want_nt : n;
    float *T = malloc(sizeof(float) * ((size_t)nt * dim + 1));
    int rc = 0;
    if (!T)
        rc = rc_fail(err, -ENOMEM, "out of memory for %u IVF training vectors", nt);
    if (!rc) {
        for (uint32_t j = 0; j < nt; j++)
            memcpy(T + (size_t)j * dim, X + (size_t)((uint64_t)j * n / nt) * dim, sizeof(float) * dim);
        if (faiss_Index_train(index, (idx_t)nt, T))
            rc = faiss_fail(err, "train");
        else if (faiss_Index_add(index, (idx_t)n, X))
            rc = faiss_fail(err, "add");
    }
    free(T);
    if (rc) {
        faiss_Index_free(index);
        return rc;
    }
    *out = index;
    *nlist_out = nlist;
    return 0;
}

/* The approximate index named by o, trained and filled with the candidates. */
static int build_approx(FaissIndex **out, uint32_t *nlist_out, const struct knn_set *s, uint32_t dim,
                        const struct rb_knn_opts *o, char *err)
{
    char desc[64];
    FaissIndex *index = NULL;
    FaissParameterSpace *ps = NULL;
    int rc = 0;

    *out = NULL;
    if (o->method == RB_KNN_IVF) {
        if ((rc = rb_ivf_build(&index, nlist_out, s->C, s->nc, dim, o->ivf_nlist, err)) != 0)
            return rc;
    } else if (o->method == RB_KNN_HNSW) {
        if (o->hnsw_m < 2 || o->hnsw_m > 512)
            return rc_fail(err, RC_ERANGE, "knn: hnsw m %u outside 2..512", o->hnsw_m);
        snprintf(desc, sizeof(desc), "HNSW%u,Flat", o->hnsw_m);
        if (faiss_index_factory(&index, (int)dim, desc, METRIC_INNER_PRODUCT))
            return faiss_fail(err, "index_factory");
        /* FAISS inserts into an HNSW graph from several threads at once,
         * and the graph then depends on their timing; one thread makes it
         * (and the lists) the same on every run and in every shard. */
        int threads = omp_get_max_threads();
        omp_set_num_threads(1);
        int frc = faiss_Index_add(index, (idx_t)s->nc, s->C);
        omp_set_num_threads(threads);
        if (frc) {
            rc = faiss_fail(err, "add");
            goto out;
        }
    } else {
        return rc_fail(err, RC_ERANGE, "knn: unknown method %d", (int)o->method);
    }
    if (faiss_ParameterSpace_new(&ps)) {
        rc = faiss_fail(err, "parameter space");
        goto out;
    }
    if (o->method == RB_KNN_IVF)
        rc = faiss_ParameterSpace_set_index_parameter(ps, index, "nprobe", (double)(o->ivf_nprobe ? o->ivf_nprobe : 1));
    else
        rc = faiss_ParameterSpace_set_index_parameter(ps, index, "efSearch", (double)(o->hnsw_ef ? o->hnsw_ef : 16));
    if (rc) {
        rc = faiss_fail(err, "set search parameter");
        goto out;
    }
out:
    if (ps)
        faiss_ParameterSpace_free(ps);
    if (rc)
        faiss_Index_free(index);
    else
        *out = index;
    return rc;
}

int rb_knn_begin(struct rb_lists *out, struct rb_knn_stats *stats, const struct rb_dataset *d, uint32_t n,
                 char *err)
{
    memset(out, 0, sizeof(*out));
    memset(stats, 0, sizeof(*stats));
    stats->recall = 1.0;
    stats->method = RB_KNN_EXACT;
    if (n == 0 || n > RC_LIST_MAX)
        return rc_fail(err, RC_ERANGE, "knn: n %u outside 1..%u", n, RC_LIST_MAX);
    if (d->emb_rows > 0 && (!d->emb || !d->emb_product || d->dim == 0))
        return rc_fail(err, RC_EINTERNAL, "knn: %u embedding rows without vectors", d->emb_rows);
    return 0;
}

uint32_t rb_knn_queries(const struct rb_dataset *d)
{
    uint32_t np = d->products.n, nq = 0;
    uint8_t *seen = calloc((size_t)np + 1, 1);
    if (!seen)
        return UINT32_MAX;
    for (uint32_t r = 0; r < d->emb_rows; r++) {
        uint32_t p = d->emb_product[r];
        if (p < np && !seen[p]) {
            seen[p] = 1;
            nq++;
        }
    }
    free(seen);
    return nq;
}

int rb_knn_image_range(struct rb_lists *out, struct rb_knn_stats *stats, const struct rb_dataset *d, uint32_t n,
                       const struct rb_knn_opts *o, uint32_t from, uint32_t to, char *err)
{
    int rc = rb_knn_begin(out, stats, d, n, err);
    if (rc)
        return rc;
    if (from % RB_KNN_BATCH != 0)
        return rc_fail(err, RC_EINTERNAL, "knn: range start %u is not a multiple of %u", from, RB_KNN_BATCH);

    struct knn_set s;
    FaissIndex *index = NULL;
    float *Q = NULL, *D = NULL;
    idx_t *L = NULL;
    struct pick *pa = NULL;
    rc = knn_set_build(&s, d);
    if (rc) {
        rc = rc_fail(err, rc, "knn: out of memory for %u embedding rows", d->emb_rows);
        goto out;
    }
    if (to > s.nq)
        to = s.nq;
    if (from > to)
        from = to;
    rc = rb_lists_init(out, to - from, n);
    if (rc) {
        rc = rc_fail(err, rc, "knn: unable to allocate %u lists of %u", to - from, n);
        goto out;
    }
    for (uint32_t q = from; q < to; q++) {
        out->owner_key[q - from] = d->products.keys[d->emb_product[s.qrow[q]]];
        out->source[q - from] = RC_SRC_IMAGE;
        out->len[q - from] = 0;
    }
    out->n = to - from;
    if (s.nc == 0 || s.nq == 0 || from == to)
        goto out;
    struct rb_knn_opts resolved = *o;
    if (resolved.method == RB_KNN_AUTO)
        resolved.method = s.nc >= o->approx_min ? RB_KNN_IVF : RB_KNN_EXACT;
    o = &resolved;
    stats->method = o->method;

    if (o->method == RB_KNN_EXACT) {
        if (faiss_IndexFlatIP_new_with(&index, (idx_t)d->dim)) {
            rc = faiss_fail(err, "index creation");
            goto out;
        }
        if (faiss_Index_add(index, (idx_t)s.nc, s.C)) {
            rc = faiss_fail(err, "add");
            goto out;
        }
    } else if ((rc = build_approx(&index, &stats->nlist, &s, d->dim, o, err)) != 0) {
        goto out;
    }
    if (o->method == RB_KNN_IVF)
        stats->nprobe = o->ivf_nprobe ? o->ivf_nprobe : 1;

    uint64_t k = (uint64_t)n + 1;
    if (k > s.nc)
        k = s.nc;
    /* batches start where the whole run's do (from is a multiple of
     * RB_KNN_BATCH): FAISS takes another path for small batches */
    uint32_t batch = s.nq < RB_KNN_BATCH ? s.nq : RB_KNN_BATCH;
    Q = malloc(sizeof(float) * ((size_t)batch * d->dim + 1));
    D = malloc(sizeof(float) * ((size_t)batch * k + 1));
    L = malloc(sizeof(idx_t) * ((size_t)batch * k + 1));
    pa = malloc(sizeof(struct pick) * ((size_t)n + 1));
    if (!Q || !D || !L || !pa) {
        rc = rc_fail(err, -ENOMEM, "knn: out of memory for search results");
        goto out;
    }
    for (uint32_t q0 = from; q0 < to; q0 += batch) {
        uint32_t nb = to - q0 < batch ? to - q0 : batch;
        uint32_t idx[RB_KNN_BATCH];
        for (uint32_t q = 0; q < nb; q++)
            idx[q] = q0 + q;
        if ((rc = search_rows(index, d, &s, idx, nb, k, Q, D, L, err)) != 0)
            goto out;
        for (uint32_t q = 0; q < nb; q++) {
            uint32_t qp = d->emb_product[s.qrow[q0 + q]];
            size_t li = (size_t)(q0 - from + q);
            uint32_t len = pick_row(pa, n, L + (size_t)q * k, D + (size_t)q * k, k, qp, &s, d);
            for (uint32_t j = 0; j < len; j++) {
                out->items[li * n + j] = pa[j].p;
                out->scores[li * n + j] = pa[j].s;
            }
            out->len[li] = (uint16_t)len;
        }
    }
out:
    if (index)
        faiss_Index_free(index);
    knn_set_release(&s);
    free(Q);
    free(D);
    free(L);
    free(pa);
    if (rc)
        rb_lists_release(out);
    return rc;
}

int rb_knn_recall(struct rb_knn_stats *stats, const struct rb_lists *lists, const struct rb_dataset *d, uint32_t n,
                  const struct rb_knn_opts *o, char *err)
{
    stats->recall = 1.0;
    stats->sampled = 0;
    if (stats->method == RB_KNN_EXACT || o->recall_sample == 0 || lists->n == 0)
        return 0;
    struct knn_set s;
    FaissIndex *exact = NULL;
    float *Q = NULL, *Dx = NULL;
    idx_t *Lx = NULL;
    struct pick *px = NULL;
    uint32_t *sample = NULL;
    int rc = knn_set_build(&s, d);
    if (rc) {
        rc = rc_fail(err, rc, "knn: out of memory for %u embedding rows", d->emb_rows);
        goto out;
    }
    if (lists->n != s.nq) {
        rc = rc_fail(err, RC_EINTERNAL, "knn: %zu lists for %u queries", lists->n, s.nq);
        goto out;
    }
    uint64_t k = (uint64_t)n + 1;
    if (k > s.nc)
        k = s.nc;
    /* recall@n: the approximate lists against exact search on a sample */
    uint32_t ns = o->recall_sample < s.nq ? o->recall_sample : s.nq;
    sample = malloc(sizeof(uint32_t) * ns);
    Q = malloc(sizeof(float) * ((size_t)ns * d->dim + 1));
    Dx = malloc(sizeof(float) * ((size_t)ns * k + 1));
    Lx = malloc(sizeof(idx_t) * ((size_t)ns * k + 1));
    px = malloc(sizeof(struct pick) * ((size_t)n + 1));
    if (!sample || !Q || !Dx || !Lx || !px) {
        rc = rc_fail(err, -ENOMEM, "knn: out of memory for the recall sample");
        goto out;
    }
    for (uint32_t j = 0; j < ns; j++)
        sample[j] = (uint32_t)((uint64_t)j * s.nq / ns);
    if (faiss_IndexFlatIP_new_with(&exact, (idx_t)d->dim) || faiss_Index_add(exact, (idx_t)s.nc, s.C)) {
        rc = faiss_fail(err, "exact index for recall");
        goto out;
    }
    if ((rc = search_rows(exact, d, &s, sample, ns, k, Q, Dx, Lx, err)) != 0)
        goto out;
    uint64_t hits = 0, total = 0;
    for (uint32_t j = 0; j < ns; j++) {
        uint32_t q = sample[j], qp = d->emb_product[s.qrow[q]];
        uint32_t len = pick_row(px, n, Lx + (size_t)j * k, Dx + (size_t)j * k, k, qp, &s, d);
        const uint32_t *got = lists->items + (size_t)q * lists->k;
        total += len;
        for (uint32_t a = 0; a < len; a++)
            for (uint32_t b = 0; b < lists->len[q]; b++)
                if (got[b] == px[a].p) {
                    hits++;
                    break;
                }
    }
    stats->sampled = ns;
    stats->recall = total ? (double)hits / (double)total : 1.0;
out:
    if (exact)
        faiss_Index_free(exact);
    knn_set_release(&s);
    free(Q);
    free(Dx);
    free(Lx);
    free(px);
    free(sample);
    return rc;
}

int rb_knn_image(struct rb_lists *out, struct rb_knn_stats *stats, const struct rb_dataset *d, uint32_t n,
                 const struct rb_knn_opts *o, char *err)
{
    int rc = rb_knn_image_range(out, stats, d, n, o, 0, UINT32_MAX, err);
    if (!rc && (rc = rb_knn_recall(stats, out, d, n, o, err)) != 0)
        rb_lists_release(out);
    return rc;
}
