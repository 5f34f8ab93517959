/*
 * als_cuda.cu - implicit ALS on the GPU, the same function as als_cpu.c
 * (als.h): same initial factors, same conjugate-gradient steps, float32.
 *
 * Per half-iteration, solving every row x_u of X against the fixed Y:
 *   G = Y^T Y                 cublasSsyrk (upper) + a kernel that mirrors it;
 *                             G is (f, f)
 *   cg_rows<<<rows, 128>>>    one block per row (grid-stride), x warm-started
 *                             from the previous factors:
 *     r = b - A x,  A v = G v + reg n_u v + sum_{i in u} (c_ui - 1) (y_i . v) y_i,
 *                   with n_u the row's entries (weighted lambda, als.h),
 *                   b   = sum_{i in u} c_ui y_i,  c_ui = 1 + alpha w_ui
 *     then cg_steps steps of CG, stopping early as als_cpu.c does
 *     (|r|^2 <= 1e-20 or p.Ap <= 0).
 *   The block's 4 warps take the row's nonzeros round-robin: a warp
 *   computes y_i . v with a shuffle reduction and accumulates coef * y_i
 *   into its own f-vector in shared memory; the four are summed with G v.
 * The training matrices (ui, iu) live on the device as CSR for the whole
 * run, as do U, V and G.
 *
 * Differences from the CPU: only the order of float additions (per-warp
 * partial sums, warp shuffles), so factors agree to rounding amplified by
 * the iterations; tests/test_gpu_parity.c states the tolerance.
 * cg_steps 0 (the exact Cholesky solve) runs on the CPU: batched Cholesky is
 * the GPU alternative still to be written and measured (schemas/gpu.md).
 */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "gpu_cuda.cuh"

extern "C" {
#include "als.h"
#include "backend.h"
}

#define CG_THREADS 128
#define CG_WARPS (CG_THREADS / 32)
#define CG_EPS 1e-20f /* als_cpu.c's RB_ALS_CG_EPS */
#define CG_GRID_MAX (1u << 20)

static __device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* a . b over f elements; every thread gets the same value. red holds CG_WARPS floats. */
static __device__ float block_dot(const float *a, const float *b, uint32_t f, float *red)
{
    float v = 0.0f;
    for (uint32_t k = threadIdx.x; k < f; k += CG_THREADS)
        v += a[k] * b[k];
    v = warp_sum(v);
    if ((threadIdx.x & 31) == 0)
        red[threadIdx.x >> 5] = v;
    __syncthreads();
    float s = 0.0f;
    for (int w = 0; w < CG_WARPS; w++)
        s += red[w];
    __syncthreads();
    return s;
}

/*
 * out = gsign * (G v + reg_n v) + sum_j coef_j y_j over the row's nonzeros,
 * reg_n = reg * (the row's entries), with
 *   initial: coef_j = c_j - (c_j - 1) (y_j . v)   (out = b - A v when gsign = -1)
 *   else:    coef_j = alpha w_j (y_j . v)          (out = A v when gsign = +1)
 * part holds CG_WARPS * f floats. Ends with the block synchronised.
 */
static __device__ void apply(float *out, const float *G, const float *v, float gsign, float reg_n, const float *Y,
                             const uint32_t *idx, const float *val, uint64_t nnz, float alpha, uint32_t f, int initial,
                             float *part)
{
    const uint32_t lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    float *pw = part + (size_t)w * f;
    for (uint32_t k = lane; k < f; k += 32)
        pw[k] = 0.0f;
    for (uint64_t j = w; j < nnz; j += CG_WARPS) {
        const float *y = Y + (size_t)idx[j] * f;
        float d = 0.0f;
        for (uint32_t k = lane; k < f; k += 32)
            d += y[k] * v[k];
        d = warp_sum(d);
        float coef;
        if (initial) {
            float c = 1.0f + alpha * val[j];
            coef = c - (c - 1.0f) * d;
        } else {
            coef = alpha * val[j] * d;
        }
        for (uint32_t k = lane; k < f; k += 32)
            pw[k] += coef * y[k];
    }
    __syncthreads();
    for (uint32_t k = threadIdx.x; k < f; k += CG_THREADS) {
        float g = 0.0f; /* G symmetric: column k read across rows, coalesced */
        for (uint32_t a = 0; a < f; a++)
            g += G[(size_t)a * f + k] * v[a];
        float s = gsign * (g + reg_n * v[k]);
        for (int q = 0; q < CG_WARPS; q++)
            s += part[(size_t)q * f + k];
        out[k] = s;
    }
    __syncthreads();
}

/*
 * X (rows, f) solved against Y with G; rows of the CSR (indptr [rows + 1],
 * indices, values) without entries get zero factors. Dynamic shared memory:
 * (4 + CG_WARPS) * f floats.
 */
static __global__ void __launch_bounds__(CG_THREADS)
cg_rows(float *X, const float *G, const float *Y, const uint64_t *indptr, const uint32_t *indices,
        const float *values, uint32_t rows, uint32_t f, float alpha, float reg, uint32_t steps)
{
    extern __shared__ float sh[];
    __shared__ float red[CG_WARPS];
    float *x = sh, *r = x + f, *p = r + f, *Ap = p + f, *part = Ap + f;

    for (uint32_t row = blockIdx.x; row < rows; row += gridDim.x) {
        uint64_t lo = indptr[row], nnz = indptr[row + 1] - lo;
        float *xg = X + (size_t)row * f;
        if (nnz == 0) {
            for (uint32_t k = threadIdx.x; k < f; k += CG_THREADS)
                xg[k] = 0.0f;
            continue;
        }
        const uint32_t *idx = indices + lo;
        const float *val = values + lo;
        const float reg_n = reg * (float)nnz; /* as als_cpu.c: reg per observed entry */
        for (uint32_t k = threadIdx.x; k < f; k += CG_THREADS)
            x[k] = xg[k];
        __syncthreads();
        apply(r, G, x, -1.0f, reg_n, Y, idx, val, nnz, alpha, f, 1, part);
        for (uint32_t k = threadIdx.x; k < f; k += CG_THREADS)
            p[k] = r[k];
        __syncthreads();
        float rsold = block_dot(r, r, f, red);
        for (uint32_t it = 0; it < steps && rsold > CG_EPS; it++) {
            apply(Ap, G, p, 1.0f, reg_n, Y, idx, val, nnz, alpha, f, 0, part);
            float pAp = block_dot(p, Ap, f, red);
            if (!(pAp > 0.0f))
                break; /* p is (numerically) zero: nothing left to gain */
            float a = rsold / pAp;
            for (uint32_t k = threadIdx.x; k < f; k += CG_THREADS) {
                x[k] += a * p[k];
                r[k] += -a * Ap[k];
            }
            __syncthreads();
            float rsnew = block_dot(r, r, f, red);
            float beta = rsnew / rsold;
            for (uint32_t k = threadIdx.x; k < f; k += CG_THREADS)
                p[k] = r[k] + beta * p[k];
            __syncthreads();
            rsold = rsnew;
        }
        for (uint32_t k = threadIdx.x; k < f; k += CG_THREADS)
            xg[k] = x[k];
        __syncthreads(); /* shared vectors are reused by the next row */
    }
}

/* G (f, f) holds Y^T Y in its upper triangle (column-major): mirror it. Each
 * row's reg * n_u is added at its solve, not here. */
static __global__ void gram_finish(float *G, uint32_t f)
{
    uint64_t e = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= (uint64_t)f * f)
        return;
    uint32_t i = (uint32_t)(e % f), j = (uint32_t)(e / f); /* element (i, j) at i + j f */
    if (i > j)
        G[e] = G[j + (size_t)i * f];
}

/* G = Y^T Y for Y (n, f) row-major, which cuBLAS sees as Y^T (f, n) column-major. */
static int gramian(cublasHandle_t h, float *dG, const float *dY, uint32_t n, uint32_t f, char *err)
{
    int rc = 0;
    const float one = 1.0f, zero = 0.0f;
    if (n == 0)
        CUDA_TRY(cudaMemset(dG, 0, sizeof(float) * f * f));
    else
        CUBLAS_TRY(cublasSsyrk(h, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N, (int)f, (int)n, &one, dY, (int)f, &zero, dG,
                               (int)f));
    gram_finish<<<(unsigned)(((uint64_t)f * f + 255) / 256), 256>>>(dG, f);
    CUDA_LAUNCHED();
out:
    return rc;
}

struct dev_csr {
    uint64_t *indptr;
    uint32_t *indices;
    float *values;
};

static int csr_upload(struct dev_csr *d, const struct rb_csr *m, char *err)
{
    int rc = 0;
    CUDA_TRY(cudaMalloc(&d->indptr, sizeof(uint64_t) * ((size_t)m->rows + 1)));
    CUDA_TRY(cudaMalloc(&d->indices, sizeof(uint32_t) * (m->nnz + 1)));
    CUDA_TRY(cudaMalloc(&d->values, sizeof(float) * (m->nnz + 1)));
    CUDA_TRY(cudaMemcpy(d->indptr, m->indptr, sizeof(uint64_t) * ((size_t)m->rows + 1), cudaMemcpyHostToDevice));
    if (m->nnz) {
        CUDA_TRY(cudaMemcpy(d->indices, m->indices, sizeof(uint32_t) * m->nnz, cudaMemcpyHostToDevice));
        CUDA_TRY(cudaMemcpy(d->values, m->values, sizeof(float) * m->nnz, cudaMemcpyHostToDevice));
    }
out:
    return rc;
}

static void csr_free(struct dev_csr *d)
{
    cudaFree(d->indptr);
    cudaFree(d->indices);
    cudaFree(d->values);
}

static int solve(float *dX, const float *dG, const float *dY, const struct dev_csr *c, uint32_t rows, uint32_t f,
                 const struct rb_als_opts *o, char *err)
{
    int rc = 0;
    if (rows == 0)
        return 0;
    size_t shmem = sizeof(float) * (4 + CG_WARPS) * (size_t)f;
    unsigned grid = rows < CG_GRID_MAX ? rows : CG_GRID_MAX;
    cg_rows<<<grid, CG_THREADS, shmem>>>(dX, dG, dY, c->indptr, c->indices, c->values, rows, f, o->alpha, o->reg,
                                         o->cg_steps);
    CUDA_LAUNCHED();
out:
    return rc;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int rb_als_train_gpu(struct rb_als_model *m, const struct rb_train *t, const struct rb_als_opts *o, char *err)
{
    if (o->cg_steps == 0) {
        rc_log(RC_LOG_INFO, "als_gpu", "msg=\"cg_steps 0 (cholesky) runs on the cpu\"");
        return rb_backend_cpu.als_train(m, t, o, err);
    }
    /* Options, shapes and the initial factors exactly as the CPU makes them:
     * its run with no iterations (same seed, same factors). */
    struct rb_als_opts init = *o;
    init.iterations = 0;
    int rc = rb_backend_cpu.als_train(m, t, &init, err);
    if (rc)
        return rc;

    const uint32_t f = m->f, users = m->users, items = m->items;
    cublasHandle_t h = NULL;
    float *dU = NULL, *dV = NULL, *dG = NULL;
    struct dev_csr ui = {NULL, NULL, NULL}, iu = {NULL, NULL, NULL};
    size_t free_b = 0, total_b = 0;
    uint64_t need = sizeof(float) * ((uint64_t)users * f + (uint64_t)items * f + (uint64_t)f * f) +
                    sizeof(uint64_t) * ((uint64_t)users + items + 2) +
                    (sizeof(uint32_t) + sizeof(float)) * (t->ui.nnz + t->iu.nnz + 2);

    CUDA_TRY(cudaMemGetInfo(&free_b, &total_b));
    if (need > (uint64_t)((double)free_b * RB_GPU_HEADROOM)) {
        rc = rc_fail(err, -ENOMEM, "als gpu: factors and training matrix need %llu MiB, %llu MiB free on the device",
                     (unsigned long long)(need >> 20), (unsigned long long)(free_b >> 20));
        goto out;
    }
    if ((size_t)(4 + CG_WARPS) * f * sizeof(float) > 48 * 1024) {
        rc = rc_fail(err, RC_ERANGE, "als gpu: factors %u above %zu", f, (size_t)48 * 1024 / (4 + CG_WARPS) / 4);
        goto out;
    }
    CUBLAS_TRY(cublasCreate(&h));
    CUBLAS_TRY(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH)); /* no TF32 in the Gramian: parity with the CPU */
    CUDA_TRY(cudaMalloc(&dU, sizeof(float) * ((size_t)users * f + 1)));
    CUDA_TRY(cudaMalloc(&dV, sizeof(float) * ((size_t)items * f + 1)));
    CUDA_TRY(cudaMalloc(&dG, sizeof(float) * (size_t)f * f));
    CUDA_TRY(cudaMemcpy(dU, m->U, sizeof(float) * (size_t)users * f, cudaMemcpyHostToDevice));
    CUDA_TRY(cudaMemcpy(dV, m->V, sizeof(float) * (size_t)items * f, cudaMemcpyHostToDevice));
    if ((rc = csr_upload(&ui, &t->ui, err)) != 0 || (rc = csr_upload(&iu, &t->iu, err)) != 0)
        goto out;
    rc_log(RC_LOG_DEBUG, "als_gpu", "users=%u items=%u f=%u nnz=%llu device_mib=%llu free_mib=%llu", users, items, f,
           (unsigned long long)t->ui.nnz, (unsigned long long)(need >> 20), (unsigned long long)(free_b >> 20));

    for (uint32_t it = 0; it < o->iterations; it++) {
        double t0 = now_s();
        if ((rc = gramian(h, dG, dV, items, f, err)) != 0 ||
            (rc = solve(dU, dG, dV, &ui, users, f, o, err)) != 0 ||
            (rc = gramian(h, dG, dU, users, f, err)) != 0 ||
            (rc = solve(dV, dG, dU, &iu, items, f, o, err)) != 0)
            goto out;
        CUDA_TRY(cudaDeviceSynchronize());
        rc_log(RC_LOG_DEBUG, "als_iteration", "iteration=%u seconds=%.3f solver=cg device=gpu", it + 1, now_s() - t0);
    }
    CUDA_TRY(cudaMemcpy(m->U, dU, sizeof(float) * (size_t)users * f, cudaMemcpyDeviceToHost));
    CUDA_TRY(cudaMemcpy(m->V, dV, sizeof(float) * (size_t)items * f, cudaMemcpyDeviceToHost));
out:
    if (h)
        cublasDestroy(h);
    cudaFree(dU);
    cudaFree(dV);
    cudaFree(dG);
    csr_free(&ui);
    csr_free(&iu);
    if (rc)
        rb_als_release(m);
    return rc;
}
