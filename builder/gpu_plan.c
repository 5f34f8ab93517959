/*
 * gpu_plan.c - the plain-C half of the GPU backend (gpu.h): batch and tile
 * sizes from free device memory, the merge of ranked lists, and the host
 * reference of the per-tile top-k kernel. Built with or without CUDA so
 * tests/test_gpu_plan.c runs everywhere.
 */
#include "gpu.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "error.h"

uint32_t rb_topk_merge(struct rb_hit *out, uint32_t n, const struct rb_hit *a, uint32_t na, const struct rb_hit *b,
                       uint32_t nb)
{
    for (uint32_t j = 0; j < na; j++) {
        uint64_t at = (uint64_t)j + rb_hits_before(b, nb, a[j]);
        if (at < n)
            out[at] = a[j];
    }
    for (uint32_t j = 0; j < nb; j++) {
        uint64_t at = (uint64_t)j + rb_hits_before(a, na, b[j]);
        if (at < n)
            out[at] = b[j];
    }
    uint64_t len = (uint64_t)na + nb;
    return len < n ? (uint32_t)len : n;
}

static int cmp_hit(const void *x, const void *y)
{
    struct rb_hit a = *(const struct rb_hit *)x, b = *(const struct rb_hit *)y;
    return rb_hit_before(a, b) ? -1 : rb_hit_before(b, a) ? 1 : 0;
}

/* Sort the buffer, merge it into the list (through scratch), empty it. */
static void flush(struct rb_hit *list, uint32_t *len, uint32_t n, struct rb_hit *buf, uint32_t *cnt,
                  struct rb_hit *merged)
{
    qsort(buf, *cnt, sizeof(*buf), cmp_hit); /* the kernel: a bitonic sort in shared memory */
    uint32_t m = rb_topk_merge(merged, n, list, *len, buf, *cnt);
    for (uint32_t j = 0; j < m; j++)
        list[j] = merged[j];
    *len = m;
    *cnt = 0;
}

uint32_t rb_topk_update_host(struct rb_hit *list, uint32_t *len, uint32_t n, const float *s, uint32_t tn,
                             uint32_t base, uint32_t chunk, uint32_t buf_cap, struct rb_hit *scratch)
{
    struct rb_hit *buf = scratch, *merged = scratch + buf_cap;
    uint32_t cnt = 0, flushes = 0;
    if (chunk == 0 || buf_cap < chunk || n == 0)
        return 0;
    float th = *len < n ? -INFINITY : list[*len - 1].s;
    for (uint32_t c0 = 0; c0 < tn; c0 += chunk) {
        /* one kernel step: every thread of the block looks at one score */
        for (uint32_t j = c0; j < tn && j < c0 + chunk; j++)
            if (s[j] > th)
                buf[cnt++] = (struct rb_hit){s[j], base + j};
        int last = (uint64_t)c0 + chunk >= tn;
        if (cnt + chunk > buf_cap || (last && cnt > 0)) {
            flush(list, len, n, buf, &cnt, merged);
            flushes++;
            th = *len < n ? -INFINITY : list[*len - 1].s;
        }
    }
    return flushes;
}

int rb_gpu_plan_topk(struct rb_gpu_plan *p, uint64_t free_bytes, uint64_t nq, uint64_t nc, uint32_t f, uint32_t n,
                     uint64_t resident_extra)
{
    p->batch = 1;
    p->tile = 1;
    p->bytes = 0;
    if (f == 0 || n == 0)
        return RC_ERANGE;
    if (nq == 0 || nc == 0)
        return 0;
    uint64_t usable = (uint64_t)((double)free_bytes * RB_GPU_HEADROOM);
    uint64_t resident = nc * f * sizeof(float) + resident_extra;
    if (resident >= usable)
        return -ENOMEM;
    uint64_t room = usable - resident;
    uint64_t want = nq < 256 ? nq : 256;
    uint64_t tile = nc < RB_GPU_TILE_MAX ? nc : RB_GPU_TILE_MAX;
    uint64_t per_row, rows;
    for (;;) {
        /* query, one tile of scores, running list and its length */
        per_row = sizeof(float) * ((uint64_t)f + tile) + sizeof(struct rb_hit) * (uint64_t)n + sizeof(uint32_t);
        rows = room / per_row;
        if (rows >= want || tile / 2 < RB_GPU_TILE_MIN)
            break;
        tile /= 2;
    }
    if (rows == 0)
        return -ENOMEM;
    if (rows > nq)
        rows = nq;
    if (rows > RB_GPU_BATCH_MAX)
        rows = RB_GPU_BATCH_MAX;
    if (rows > RB_GPU_SCORES_MAX / tile)
        rows = RB_GPU_SCORES_MAX / tile;
    p->batch = (uint32_t)rows;
    p->tile = (uint32_t)tile;
    p->bytes = resident + rows * per_row;
    return 0;
}
