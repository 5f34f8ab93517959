/*
 * score_cuda.cu - CF top-N per cookie on the GPU (score.h): the lists
 * rb_score_cf makes, through the tiled top-k engine (topk_cuda.cu).
 *
 * As in score.c, only in-stock products are candidates: their rows of V are
 * copied, in ascending product order, into one (cands, f) matrix, so
 * out-of-stock products are never scored (this replaces a per-tile
 * out-of-stock bitmap: same lists, fewer flops), and ties go to the lower
 * product index. A cookie's bought products become a list of candidate
 * positions per query row (CSR), uploaded once and applied on the device.
 */
#include <stdlib.h>

#include "gpu_cuda.cuh"

extern "C" {
#include "record.h"
#include "score.h"
}

int rb_score_cf_gpu(struct rb_lists *out, const struct rb_als_model *m, const struct rb_train *t,
                    const struct rb_dataset *d, uint32_t n, int exclude_bought, char *err)
{
    int rc = rb_score_cf_begin(out, m, t, n, err);
    if (rc)
        return rc;

    const uint32_t f = m->f;
    const struct rb_csr *b = &t->bought;
    int use_bought = exclude_bought && b->indptr;
    size_t nrows = 0;
    uint32_t nc = 0;
    uint64_t nex = 0;
    for (uint32_t r = 0; r < m->users; r++)
        nrows += t->row_wants_list[r] != 0;
    uint32_t *rows = (uint32_t *)malloc(sizeof(uint32_t) * (nrows + 1));
    uint32_t *prod = (uint32_t *)malloc(sizeof(uint32_t) * ((size_t)m->items + 1));
    uint32_t *pos = (uint32_t *)malloc(sizeof(uint32_t) * ((size_t)m->items + 1));
    uint64_t *exoff = (uint64_t *)malloc(sizeof(uint64_t) * (nrows + 1));
    float *C = NULL;
    uint32_t *ex = NULL;
    struct rb_gpu_lists_sink sink = {out, prod};
    struct rb_gpu_topk_in in;
    if (!rows || !prod || !pos || !exoff) {
        rc = rc_fail(err, -ENOMEM, "score: out of memory for %u candidates", m->items);
        goto out;
    }
    for (uint32_t i = 0; i < m->items; i++) {
        int ok = i < d->products.n && (!d->in_stock || d->in_stock[i]);
        pos[i] = ok ? nc : RB_NONE;
        if (ok)
            prod[nc++] = i;
    }
    C = (float *)malloc(sizeof(float) * ((size_t)nc * f + 1));
    if (!C) {
        rc = rc_fail(err, -ENOMEM, "score: out of memory for %u candidates", nc);
        goto out;
    }
    for (uint32_t j = 0; j < nc; j++)
        memcpy(C + (size_t)j * f, m->V + (size_t)prod[j] * f, sizeof(float) * f);

    nrows = 0;
    for (uint32_t r = 0; r < m->users; r++) {
        if (!t->row_wants_list[r])
            continue;
        rows[nrows++] = r;
        if (use_bought && r < b->rows)
            nex += b->indptr[r + 1] - b->indptr[r];
    }
    ex = (uint32_t *)malloc(sizeof(uint32_t) * (nex + 1));
    if (!ex) {
        rc = rc_fail(err, -ENOMEM, "score: out of memory for %llu exclusions", (unsigned long long)nex);
        goto out;
    }
    nex = 0;
    for (size_t q = 0; q < nrows; q++) {
        uint32_t r = rows[q];
        exoff[q] = nex;
        if (use_bought && r < b->rows)
            for (uint64_t j = b->indptr[r]; j < b->indptr[r + 1]; j++)
                if (b->indices[j] < m->items && pos[b->indices[j]] != RB_NONE)
                    ex[nex++] = pos[b->indices[j]];
    }
    exoff[nrows] = nex;

    if ((rc = rb_score_cf_lists_init(out, t, d, rows, nrows, n, err)) != 0)
        goto out;

    memset(&in, 0, sizeof(in));
    in.Q = m->U;
    in.qrow = rows;
    in.nq = nrows;
    in.C = C;
    in.nc = nc;
    in.f = f;
    in.n = n;
    in.exoff = nex ? exoff : NULL;
    in.ex = nex ? ex : NULL;
    in.tf32 = 0;
    rc = rb_gpu_topk(&in, rb_gpu_emit_lists, &sink, err);
out:
    free(rows);
    free(prod);
    free(pos);
    free(exoff);
    free(C);
    free(ex);
    if (rc)
        rb_lists_release(out);
    return rc;
}
