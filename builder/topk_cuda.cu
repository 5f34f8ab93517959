/*
 * topk_cuda.cu - tiled top-k by inner product on the GPU (rb_gpu_topk, gpu.h):
 * the shared engine of CF scoring (score_cuda.cu) and exact kNN
 * (knn_cuda.cu). The full (queries x candidates) score matrix never exists.
 *
 * Per batch of queries (size from cudaMemGetInfo, rb_gpu_plan_topk):
 *   for each tile of candidates:
 *     S = Qb . C_tile^T                   cublasSgemm, S is (nb, tn) row-major
 *     topk_tile<<<nb, 256>>>              one block per query row:
 *       excluded candidates of the row -> -inf in S
 *       scan S's row; scores beating the row's worst kept hit go to a
 *       shared-memory buffer; when it may overflow (and at the end) the
 *       buffer is bitonic-sorted and merged into the row's running list
 *   copy the lists back, hand them to emit()
 * The running lists, (nb, n) hits, stay in device memory across tiles.
 * The steps are those of rb_topk_update_host (gpu_plan.c), which
 * tests/test_gpu_plan.c holds to a brute-force sort; tests/test_gpu_parity.c
 * holds this file to score.c and knn.c on a device.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "gpu_cuda.cuh"

extern "C" {
#include "record.h"
}

#define TOPK_THREADS 256
#define TOPK_BUF 2048 /* buffered hits per row: a power of two >= TOPK_THREADS */

static_assert(TOPK_BUF >= TOPK_THREADS && (TOPK_BUF & (TOPK_BUF - 1)) == 0, "TOPK_BUF");

/*
 * Sort buf[0, cnt) best first (bitonic, padded to a power of two with hits
 * that rank last) and merge it into list[0, len) (at most n). Every thread
 * of the block calls it; cnt and len are shared and updated here.
 */
static __device__ void flush(struct rb_hit *buf, uint32_t *cnt, struct rb_hit *list, uint32_t *len,
                             struct rb_hit *merged, uint32_t n)
{
    const uint32_t tid = threadIdx.x;
    const uint32_t m = *cnt, L = *len;
    uint32_t P = 1;
    while (P < m)
        P <<= 1;
    for (uint32_t j = m + tid; j < P; j += blockDim.x)
        buf[j] = rb_hit{-INFINITY, UINT32_MAX}; /* no real hit is -inf: these rank last */
    __syncthreads();
    for (uint32_t k = 2; k <= P; k <<= 1) {
        for (uint32_t jj = k >> 1; jj > 0; jj >>= 1) {
            for (uint32_t i = tid; i < P; i += blockDim.x) {
                uint32_t o = i ^ jj;
                if (o > i) {
                    struct rb_hit a = buf[i], b = buf[o];
                    int swap = (i & k) == 0 ? rb_hit_before(b, a) : rb_hit_before(a, b);
                    if (swap) {
                        buf[i] = b;
                        buf[o] = a;
                    }
                }
            }
            __syncthreads();
        }
    }
    /* merge: every element finds its own place (gpu.h, rb_topk_merge) */
    for (uint32_t j = tid; j < L; j += blockDim.x) {
        uint32_t at = j + rb_hits_before(buf, m, list[j]);
        if (at < n)
            merged[at] = list[j];
    }
    for (uint32_t j = tid; j < m; j += blockDim.x) {
        uint32_t at = j + rb_hits_before(list, L, buf[j]);
        if (at < n)
            merged[at] = buf[j];
    }
    __syncthreads();
    uint32_t nl = L + m < n ? L + m : n;
    for (uint32_t j = tid; j < nl; j += blockDim.x)
        list[j] = merged[j];
    __syncthreads();
    if (tid == 0) {
        *len = nl;
        *cnt = 0;
    }
    __syncthreads();
}

/*
 * One block per query row of the batch. S (nb, tn): this tile's scores,
 * candidates j0 .. j0 + tn - 1 (overwritten where excluded). lists (nb, n)
 * and lens[nb]: the running lists. Exclusions of batch row b are
 * ex[exoff[q0 + b], exoff[q0 + b + 1]) (exoff may be NULL).
 */
static __global__ void __launch_bounds__(TOPK_THREADS)
topk_tile(float *S, uint32_t tn, uint32_t j0, struct rb_hit *lists, uint32_t *lens, uint32_t n,
          const uint64_t *exoff, const uint32_t *ex, uint64_t q0)
{
    __shared__ struct rb_hit buf[TOPK_BUF];
    __shared__ struct rb_hit list[RC_LIST_MAX];
    __shared__ struct rb_hit merged[RC_LIST_MAX];
    __shared__ uint32_t cnt, len;
    const uint32_t tid = threadIdx.x, row = blockIdx.x;
    float *s = S + (size_t)row * tn;
    struct rb_hit *glist = lists + (size_t)row * n;

    if (exoff) {
        for (uint64_t j = exoff[q0 + row] + tid; j < exoff[q0 + row + 1]; j += blockDim.x) {
            uint32_t e = ex[j];
            if (e >= j0 && e - j0 < tn)
                s[e - j0] = -INFINITY;
        }
    }
    if (tid == 0) {
        len = lens[row];
        cnt = 0;
    }
    __syncthreads();
    for (uint32_t j = tid; j < len; j += blockDim.x)
        list[j] = glist[j];
    __syncthreads();

    float th = len < n ? -INFINITY : list[len - 1].s;
    for (uint32_t c0 = 0; c0 < tn; c0 += blockDim.x) {
        uint32_t j = c0 + tid;
        if (j < tn) {
            float v = s[j];
            if (v > th) /* strict: every index here is above the list's */
                buf[atomicAdd(&cnt, 1u)] = rb_hit{v, j0 + j};
        }
        __syncthreads();
        uint32_t c = cnt;
        int last = (uint64_t)c0 + blockDim.x >= tn;
        if (c + blockDim.x > TOPK_BUF || (last && c > 0)) { /* the same for every thread */
            flush(buf, &cnt, list, &len, merged, n);
            th = len < n ? -INFINITY : list[len - 1].s;
        }
        __syncthreads();
    }
    for (uint32_t j = tid; j < len; j += blockDim.x)
        glist[j] = list[j];
    if (tid == 0)
        lens[row] = len;
}

int rb_gpu_topk(const struct rb_gpu_topk_in *in, rb_gpu_emit_fn emit, void *ctx, char *err)
{
    const uint32_t f = in->f, n = in->n, nc = in->nc;
    int rc = 0;
    cublasHandle_t h = NULL;
    float *dC = NULL, *dQ = NULL, *dS = NULL;
    struct rb_hit *dL = NULL, *hL = NULL;
    uint32_t *dlen = NULL, *hlen = NULL, *dex = NULL;
    uint64_t *dexoff = NULL;
    float *hQ = NULL;
    struct rb_gpu_plan plan;
    size_t free_b = 0, total_b = 0;
    uint64_t nex = in->exoff ? in->exoff[in->nq] : 0;
    const float one = 1.0f, zero = 0.0f;

    if (f == 0 || n == 0 || n > RC_LIST_MAX)
        return rc_fail(err, RC_ERANGE, "gpu top-k: f %u, n %u (1..%u)", f, n, RC_LIST_MAX);
    if (in->nq == 0)
        return 0;
    if (nc == 0) { /* nothing to rank: every list empty */
        hlen = (uint32_t *)calloc(RB_GPU_BATCH_MAX, sizeof(uint32_t));
        if (!hlen)
            return rc_fail(err, -ENOMEM, "gpu top-k: out of memory");
        for (uint64_t q0 = 0; q0 < in->nq && !rc; q0 += RB_GPU_BATCH_MAX) {
            uint64_t nb = in->nq - q0 < RB_GPU_BATCH_MAX ? in->nq - q0 : RB_GPU_BATCH_MAX;
            rc = emit(ctx, q0, (uint32_t)nb, NULL, hlen);
        }
        free(hlen);
        return rc;
    }

    CUDA_TRY(cudaMemGetInfo(&free_b, &total_b));
    {
        uint64_t resident_extra = nex ? sizeof(uint64_t) * (in->nq + 1) + sizeof(uint32_t) * nex : 0;
        int prc = rb_gpu_plan_topk(&plan, free_b, in->nq, nc, f, n, resident_extra);
        if (prc) {
            rc = rc_fail(err, prc, "gpu top-k: %u candidates x %u and %llu exclusions do not fit in %llu MiB free",
                         nc, f, (unsigned long long)nex, (unsigned long long)(free_b >> 20));
            goto out;
        }
    }
    if (in->max_batch && plan.batch > in->max_batch)
        plan.batch = in->max_batch;
    if (in->max_tile && plan.tile > in->max_tile)
        plan.tile = in->max_tile;
    rc_log(RC_LOG_DEBUG, "gpu_topk", "queries=%llu candidates=%u f=%u n=%u batch=%u tile=%u device_mib=%llu "
           "free_mib=%llu", (unsigned long long)in->nq, nc, f, n, plan.batch, plan.tile,
           (unsigned long long)(plan.bytes >> 20), (unsigned long long)(free_b >> 20));

    CUBLAS_TRY(cublasCreate(&h));
    CUBLAS_TRY(cublasSetMathMode(h, in->tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    CUDA_TRY(cudaMalloc(&dC, sizeof(float) * (size_t)nc * f));
    CUDA_TRY(cudaMalloc(&dQ, sizeof(float) * (size_t)plan.batch * f));
    CUDA_TRY(cudaMalloc(&dS, sizeof(float) * (size_t)plan.batch * plan.tile));
    CUDA_TRY(cudaMalloc(&dL, sizeof(struct rb_hit) * (size_t)plan.batch * n));
    CUDA_TRY(cudaMalloc(&dlen, sizeof(uint32_t) * plan.batch));
    if (nex) {
        CUDA_TRY(cudaMalloc(&dexoff, sizeof(uint64_t) * (in->nq + 1)));
        CUDA_TRY(cudaMalloc(&dex, sizeof(uint32_t) * nex));
        CUDA_TRY(cudaMemcpy(dexoff, in->exoff, sizeof(uint64_t) * (in->nq + 1), cudaMemcpyHostToDevice));
        CUDA_TRY(cudaMemcpy(dex, in->ex, sizeof(uint32_t) * nex, cudaMemcpyHostToDevice));
    }
    CUDA_TRY(cudaMemcpy(dC, in->C, sizeof(float) * (size_t)nc * f, cudaMemcpyHostToDevice));
    CUDA_TRY(cudaMallocHost(&hQ, sizeof(float) * (size_t)plan.batch * f));
    CUDA_TRY(cudaMallocHost(&hL, sizeof(struct rb_hit) * (size_t)plan.batch * n));
    CUDA_TRY(cudaMallocHost(&hlen, sizeof(uint32_t) * plan.batch));

    for (uint64_t q0 = 0; q0 < in->nq; q0 += plan.batch) {
        uint32_t nb = (uint32_t)(in->nq - q0 < plan.batch ? in->nq - q0 : plan.batch);
        for (uint32_t b = 0; b < nb; b++) {
            uint64_t r = in->qrow ? in->qrow[q0 + b] : q0 + b;
            memcpy(hQ + (size_t)b * f, in->Q + (size_t)r * f, sizeof(float) * f);
        }
        CUDA_TRY(cudaMemcpy(dQ, hQ, sizeof(float) * (size_t)nb * f, cudaMemcpyHostToDevice));
        CUDA_TRY(cudaMemset(dlen, 0, sizeof(uint32_t) * nb));
        uint64_t lo, hi;
        for (uint64_t k = 0; rb_gpu_part(nc, plan.tile, k, &lo, &hi); k++) {
            uint32_t tn = (uint32_t)(hi - lo);
            /* column-major: S^T (tn, nb) = C_tile (f, tn)^T . Qb (f, nb) */
            CUBLAS_TRY(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, (int)tn, (int)nb, (int)f, &one, dC + lo * f, (int)f,
                                   dQ, (int)f, &zero, dS, (int)tn));
            topk_tile<<<nb, TOPK_THREADS>>>(dS, tn, (uint32_t)lo, dL, dlen, n, dexoff, dex, q0);
            CUDA_LAUNCHED();
        }
        CUDA_TRY(cudaMemcpy(hL, dL, sizeof(struct rb_hit) * (size_t)nb * n, cudaMemcpyDeviceToHost));
        CUDA_TRY(cudaMemcpy(hlen, dlen, sizeof(uint32_t) * nb, cudaMemcpyDeviceToHost));
        if ((rc = emit(ctx, q0, nb, hL, hlen)) != 0)
            goto out;
    }
out:
    if (h)
        cublasDestroy(h);
    cudaFree(dC);
    cudaFree(dQ);
    cudaFree(dS);
    cudaFree(dL);
    cudaFree(dlen);
    cudaFree(dexoff);
    cudaFree(dex);
    cudaFreeHost(hQ);
    cudaFreeHost(hL);
    cudaFreeHost(hlen);
    return rc;
}

int rb_gpu_info(char *name, uint64_t *free_bytes, uint64_t *total_bytes, char *err)
{
    int rc = 0, count = 0;
    size_t fb = 0, tb = 0;
    struct cudaDeviceProp prop;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess)
        return rc_fail(err, RC_ENOGPU, "no usable CUDA device: %s%s", cudaGetErrorString(e),
                       e == cudaErrorInsufficientDriver ? " (no NVIDIA driver, or one too old for this CUDA runtime)"
                                                        : "");
    if (count == 0)
        return rc_fail(err, RC_ENOGPU, "no CUDA device present");
    CUDA_TRY(cudaGetDeviceProperties(&prop, 0));
    CUDA_TRY(cudaMemGetInfo(&fb, &tb));
    snprintf(name, 256, "%s (sm_%d%d)", prop.name, prop.major, prop.minor);
    *free_bytes = fb;
    *total_bytes = tb;
out:
    return rc;
}

int rb_gpu_emit_lists(void *ctx, uint64_t q0, uint32_t nb, const struct rb_hit *hits, const uint32_t *len)
{
    const struct rb_gpu_lists_sink *sink = (const struct rb_gpu_lists_sink *)ctx;
    struct rb_lists *out = sink->out;
    for (uint32_t b = 0; b < nb; b++) {
        size_t li = (size_t)q0 + b;
        for (uint32_t j = 0; j < len[b]; j++) {
            const struct rb_hit *x = hits + (size_t)b * out->k + j;
            out->items[li * out->k + j] = sink->cand_product[x->i];
            out->scores[li * out->k + j] = x->s;
        }
        out->len[li] = (uint16_t)len[b];
    }
    return 0;
}
