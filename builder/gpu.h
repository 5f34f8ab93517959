/*
 * gpu.h - what the CUDA backend (als_cuda.cu, topk_cuda.cu, score_cuda.cu,
 * knn_cuda.cu) shares with plain C: the ordering of hits, the merge of two
 * ranked lists, the host reference of the per-tile top-k kernel, and the
 * arithmetic that sizes batches and tiles from free device memory.
 *
 * Everything outside the RB_HAVE_CUDA block is plain C in gpu_plan.c and is
 * unit-tested without a GPU (tests/test_gpu_plan.c); the kernels in
 * topk_cuda.cu follow the same steps, so a test that holds the reference to
 * a brute-force sort also pins down the kernel's semantics.
 *
 * Ordering: hit a ranks before hit b when a.s > b.s, or the scores are
 * equal and a.i < b.i (the lower candidate index wins, as in score.c).
 * -inf and NaN scores never enter a list. Lists are best first.
 * Nothing here allocates except rb_topk_update_host's caller-provided
 * scratch; nothing is thread-unsafe.
 */
#ifndef RB_GPU_H
#define RB_GPU_H

#include <stdint.h>

#ifdef __CUDACC__
#define RB_HD __host__ __device__
#else
#define RB_HD
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* One scored candidate: s its score, i its candidate index. */
struct rb_hit {
    float s;
    uint32_t i;
};

static inline RB_HD int rb_hit_before(struct rb_hit a, struct rb_hit b)
{
    return a.s > b.s || (a.s == b.s && a.i < b.i);
}

/* How many of the best-first list x[0, m) rank before y (a binary search). */
static inline RB_HD uint32_t rb_hits_before(const struct rb_hit *x, uint32_t m, struct rb_hit y)
{
    uint32_t lo = 0, hi = m;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (rb_hit_before(x[mid], y))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*
 * Merge of two best-first lists whose candidate indices are disjoint:
 * element j of a lands at j + rb_hits_before(b, nb, a[j]), element j of b at
 * j + rb_hits_before(a, na, b[j]); positions >= n are dropped. Each element
 * finds its place alone, which is how the kernel merges with one thread per
 * element. out (room for n) must not overlap a or b. Returns the merged
 * length, min(n, na + nb).
 */
uint32_t rb_topk_merge(struct rb_hit *out, uint32_t n, const struct rb_hit *a, uint32_t na, const struct rb_hit *b,
                       uint32_t nb);

/*
 * Host reference of one row of the per-tile top-k kernel (topk_cuda.cu):
 * fold scores s[0, tn) of candidates base, base + 1, ... (all above every
 * index already in the list) into the best-first list[0, *len) of at most n.
 * The scan goes in chunks of `chunk` scores (the kernel's block size): a
 * score enters the buffer when it beats the list's worst (strictly: every
 * index here is higher), or when the list is not full and it is above
 * -inf; the buffer (room for buf_cap >= chunk hits) is sorted and merged
 * into the list when the next chunk might not fit, and after the last.
 * Scratch holds buf_cap + n hits. Returns the number of flushes (for tests).
 */
uint32_t rb_topk_update_host(struct rb_hit *list, uint32_t *len, uint32_t n, const float *s, uint32_t tn,
                             uint32_t base, uint32_t chunk, uint32_t buf_cap, struct rb_hit *scratch);

/*
 * Batching of a tiled top-k search: nq queries against nc candidates of
 * dimension f, lists of n. Resident on the device for the whole search:
 * the candidates (nc x f floats) and `resident_extra` bytes (the exclusion
 * lists). Per batch row: the query (f floats), its scores for one tile
 * (tile floats) and its running list (n hits).
 */
struct rb_gpu_plan {
    uint32_t batch;  /* queries per batch, 1..RB_GPU_BATCH_MAX */
    uint32_t tile;   /* candidates per GEMM tile, 1..RB_GPU_TILE_MAX */
    uint64_t bytes;  /* device bytes the plan uses at most */
};

#define RB_GPU_BATCH_MAX 65536u
#define RB_GPU_TILE_MAX 131072u
#define RB_GPU_TILE_MIN 1024u
#define RB_GPU_SCORES_MAX (1ull << 30) /* batch x tile scores at most (4 GiB) */
#define RB_GPU_HEADROOM 0.85           /* share of free memory a plan may use (cuBLAS workspace, fragmentation) */

/*
 * Fill p from free_bytes (cudaMemGetInfo). The tile starts at
 * min(nc, RB_GPU_TILE_MAX) and halves (not below RB_GPU_TILE_MIN) while
 * fewer than min(nq, 256) rows would fit; the batch is then as many rows as
 * fit, capped by nq, RB_GPU_BATCH_MAX and RB_GPU_SCORES_MAX / tile.
 * nq == 0 or nc == 0 gives batch 1, tile 1. Errors: RC_ERANGE (f or n is
 * 0), -ENOMEM (not one row fits beside the resident data).
 */
int rb_gpu_plan_topk(struct rb_gpu_plan *p, uint64_t free_bytes, uint64_t nq, uint64_t nc, uint32_t f, uint32_t n,
                     uint64_t resident_extra);

/* [*lo, *hi): part k of [0, total) cut into steps of `step`; 0 when part k is past the end. */
static inline int rb_gpu_part(uint64_t total, uint64_t step, uint64_t k, uint64_t *lo, uint64_t *hi)
{
    if (step == 0 || k >= (total + step - 1) / step)
        return 0;
    *lo = k * step;
    *hi = total - *lo < step ? total : *lo + step;
    return 1;
}

#ifdef RB_HAVE_CUDA
/*
 * Tiled top-k by inner product on the device (topk_cuda.cu), the engine of
 * rb_score_cf_gpu and rb_knn_image_gpu: for each query q in [0, nq), the n
 * best candidates j in [0, nc) by Q[qrow[q]] . C[j], best first (the order
 * above), skipping the candidates listed in ex[exoff[q], exoff[q + 1]) (any
 * order; entries >= nc ignored). Q is (rows, f) and C is (nc, f), row-major
 * float32 in host memory; qrow may be NULL (query q is row q); exoff and ex
 * may be NULL (nothing excluded). The (nq, nc) score matrix never exists:
 * one (batch, tile) block of it at a time.
 *
 * Results come back batch by batch through emit(ctx, q0, nb, hits, len):
 * queries q0 .. q0 + nb - 1, hits (nb, n) in host memory valid during the
 * call (NULL when nc is 0), len[nb] the list lengths. emit returns 0 or an
 * error code, which stops the search and is returned.
 */
struct rb_gpu_topk_in {
    const float *Q;
    const uint32_t *qrow;  /* [nq] or NULL */
    uint64_t nq;
    const float *C;
    uint32_t nc, f, n;     /* n: 1..RC_LIST_MAX */
    const uint64_t *exoff; /* [nq + 1] or NULL */
    const uint32_t *ex;
    int tf32;              /* 0: float32 GEMM (parity with the CPU); 1: TF32 tensor cores (not measured yet) */
    uint32_t max_batch;    /* 0, or a cap on the planned batch (tests use it to cross batches) */
    uint32_t max_tile;     /* 0, or a cap on the planned tile (tests use it to cross tiles) */
};

typedef int (*rb_gpu_emit_fn)(void *ctx, uint64_t q0, uint32_t nb, const struct rb_hit *hits, const uint32_t *len);

/* Errors: RC_ERANGE (f 0, n outside 1..RC_LIST_MAX), -ENOMEM (host or device), RC_ENOGPU, RC_EINTERNAL, emit's. */
int rb_gpu_topk(const struct rb_gpu_topk_in *in, rb_gpu_emit_fn emit, void *ctx, char *err);

/* The emit of rb_score_cf_gpu and rb_knn_image_gpu, ctx a struct
 * rb_gpu_lists_sink: query q becomes list q of out (whose k is n), each
 * hit's candidate mapped to its product index through cand_product. */
struct rb_lists;
struct rb_gpu_lists_sink {
    struct rb_lists *out;
    const uint32_t *cand_product;
};
int rb_gpu_emit_lists(void *ctx, uint64_t q0, uint32_t nb, const struct rb_hit *hits, const uint32_t *len);

/*
 * The device recbuild will use (device 0): its name (room for 256 bytes),
 * free and total memory. Errors: RC_ENOGPU (no device, or the runtime
 * failed; the reason in err).
 */
int rb_gpu_info(char *name, uint64_t *free_bytes, uint64_t *total_bytes, char *err);

/*
 * Load cuBLAS now (cublas_load.cu loads it on first use; rb does not link
 * it). Needs no device. Returns 0, or RC_ENOGPU with the loader's reason in
 * err.
 */
int rb_cublas_load(char *err);
#endif

#ifdef __cplusplus
}
#endif

#endif
