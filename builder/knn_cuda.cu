/*
 * knn_cuda.cu - exact image similarity on the GPU (knn.h): the lists
 * rb_knn_image makes with RB_KNN_EXACT, through the tiled top-k engine
 * (topk_cuda.cu). Approximate methods (IVF, HNSW) stay on FAISS (CPU):
 * rb_knn_image_gpu hands them to the CPU backend (backend.h).
 *
 * Queries, as in knn.c: one per product with an embedding, its first row,
 * in embedding-row order (the lists' order). Candidates: the in-stock
 * query products, in ascending product order, so equal scores go to the
 * lower product index as knn.c orders them. Each query excludes itself
 * (one exclusion, when it is a candidate) instead of asking for n + 1.
 */
#include <stdlib.h>

#include "gpu_cuda.cuh"

extern "C" {
#include "backend.h"
#include "knn.h"
#include "record.h"
}

int rb_knn_image_gpu(struct rb_lists *out, struct rb_knn_stats *stats, const struct rb_dataset *d, uint32_t n,
                     const struct rb_knn_opts *o, char *err)
{
    if (o->method != RB_KNN_EXACT && o->method != RB_KNN_AUTO) { /* auto: exact, fast on the GPU */
        rc_log(RC_LOG_INFO, "knn_gpu", "msg=\"approximate knn (ivf, hnsw) runs on the cpu through faiss\"");
        return rb_backend_cpu.knn_image(out, stats, d, n, o, err);
    }
    int rc = rb_knn_begin(out, stats, d, n, err);
    if (rc)
        return rc;

    const uint32_t np = d->products.n, dim = d->dim;
    uint32_t nq = 0, nc = 0;
    uint32_t *first = (uint32_t *)malloc(sizeof(uint32_t) * ((size_t)np + 1)); /* product -> first row */
    uint32_t *pos = (uint32_t *)malloc(sizeof(uint32_t) * ((size_t)np + 1));   /* product -> candidate */
    uint32_t *qrow = (uint32_t *)malloc(sizeof(uint32_t) * ((size_t)d->emb_rows + 1));
    uint32_t *cprod = (uint32_t *)malloc(sizeof(uint32_t) * ((size_t)np + 1));
    uint64_t *exoff = (uint64_t *)malloc(sizeof(uint64_t) * ((size_t)d->emb_rows + 1));
    uint32_t *ex = (uint32_t *)malloc(sizeof(uint32_t) * ((size_t)d->emb_rows + 1));
    float *C = NULL;
    struct rb_gpu_lists_sink sink = {out, cprod};
    struct rb_gpu_topk_in in;
    if (!first || !pos || !qrow || !cprod || !exoff || !ex) {
        rc = rc_fail(err, -ENOMEM, "knn: out of memory for %u embedding rows", d->emb_rows);
        goto out;
    }
    for (uint32_t p = 0; p < np; p++)
        first[p] = RB_NONE;
    for (uint32_t r = 0; r < d->emb_rows; r++) {
        uint32_t p = d->emb_product[r];
        if (p >= np || first[p] != RB_NONE)
            continue;
        first[p] = r;
        qrow[nq++] = r;
    }
    for (uint32_t p = 0; p < np; p++) {
        int ok = first[p] != RB_NONE && (!d->in_stock || d->in_stock[p]);
        pos[p] = ok ? nc : RB_NONE;
        if (ok)
            cprod[nc++] = p;
    }
    C = (float *)malloc(sizeof(float) * ((size_t)nc * dim + 1));
    if (!C) {
        rc = rc_fail(err, -ENOMEM, "knn: out of memory for %u candidates", nc);
        goto out;
    }
    for (uint32_t j = 0; j < nc; j++)
        memcpy(C + (size_t)j * dim, d->emb + (size_t)first[cprod[j]] * dim, sizeof(float) * dim);
    {
        uint64_t nex = 0;
        for (uint32_t q = 0; q < nq; q++) {
            exoff[q] = nex;
            uint32_t self = pos[d->emb_product[qrow[q]]];
            if (self != RB_NONE)
                ex[nex++] = self;
        }
        exoff[nq] = nex;
    }

    rc = rb_lists_init(out, nq, n);
    if (rc) {
        rc = rc_fail(err, rc, "knn: unable to allocate %u lists of %u", nq, n);
        goto out;
    }
    for (uint32_t q = 0; q < nq; q++) {
        out->owner_key[q] = d->products.keys[d->emb_product[qrow[q]]];
        out->source[q] = RC_SRC_IMAGE;
        out->len[q] = 0;
    }
    out->n = nq;

    memset(&in, 0, sizeof(in));
    in.Q = d->emb;
    in.qrow = qrow;
    in.nq = nq;
    in.C = C;
    in.nc = nc;
    in.f = dim;
    in.n = n;
    in.exoff = exoff[nq] ? exoff : NULL;
    in.ex = exoff[nq] ? ex : NULL;
    in.tf32 = 0;
    if (nq > 0)
        rc = rb_gpu_topk(&in, rb_gpu_emit_lists, &sink, err);
out:
    free(first);
    free(pos);
    free(qrow);
    free(cprod);
    free(exoff);
    free(ex);
    free(C);
    if (rc)
        rb_lists_release(out);
    return rc;
}
