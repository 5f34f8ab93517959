/*
 * als_cpu.c - implicit ALS on the CPU: OpenBLAS for the Gramian, OpenMP
 * over rows, and a per-row solve that is either a few conjugate-gradient
 * steps warm-started from the previous factors (default) or an exact
 * Cholesky solve of the f x f system.
 *
 * One half-iteration solves every row x_u of X against the fixed Y:
 *   A_u = G + reg n_u I + sum_{i in u} (c_ui - 1) y_i y_i^T,  G = Y^T Y
 *   b_u = sum_{i in u} c_ui y_i,                             c_ui = 1 + alpha w_ui
 * with n_u the row's observed entries (weighted-lambda regularisation,
 * als.h). G is computed once per half-iteration (cblas_ssyrk). The CG step
 * never forms A_u: A_u p = G p + reg n_u p + sum_i (c_ui - 1) (y_i . p) y_i,
 * so one step costs
 * f^2 + 4 f nnz_u flops against f^3/3 + f^2 nnz_u for Cholesky; at f = 64
 * that is the difference ops/bench/score_methods.md records.
 *
 * Determinism: the factors start from a counter-based PRNG (splitmix64 of
 * the seed and the element's index), and each row's solve reads only G,
 * Y and its own row, in a fixed order, so the result does not depend on
 * which thread solves which row.
 */
#include "als.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "log.h"
#include "rand.h"

#define RB_ALS_MAX_FACTORS 1024
#define RB_ALS_CG_EPS 1e-20f /* squared residual norm below which a row is solved */
#define RB_ALS_ROW_CHUNK 64  /* rows per OpenMP work item */

void rb_als_opts_default(struct rb_als_opts *o)
{
    o->factors = 64;
    o->reg = 3.0f; /* per observed entry (als.h); sweep in ops/bench/quality.md */
    o->alpha = 10.0f;
    o->iterations = 10;
    o->seed = 42;
    o->threads = 0;
    o->cg_steps = 3;
}

void rb_als_release(struct rb_als_model *m)
{
    free(m->U);
    free(m->V);
    memset(m, 0, sizeof(*m));
}

/* Element j of a factor matrix: uniform in [0, scale), from (seed, stream, j). */
static void init_factors(float *X, uint64_t n, float scale, uint64_t seed, uint64_t stream)
{
    uint64_t base = rb_splitmix64(seed ^ rb_splitmix64(stream));
#pragma omp parallel for schedule(static)
    for (uint64_t j = 0; j < n; j++) {
        uint64_t r = rb_splitmix64(base + j);
        X[j] = (float)((double)(r >> 40) * (1.0 / 16777216.0)) * scale;
    }
}

/* ---- small dense kernels; the omp simd loops vectorise at -O2 ---- */

static inline float dot(const float *restrict a, const float *restrict b, uint32_t f)
{
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (uint32_t k = 0; k < f; k++)
        s += a[k] * b[k];
    return s;
}

static inline void axpy(float a, const float *restrict x, float *restrict y, uint32_t f)
{
#pragma omp simd
    for (uint32_t k = 0; k < f; k++)
        y[k] += a * x[k];
}

/* out = G p for symmetric G (f, f), as a sum of G's rows. */
static inline void symv(const float *restrict G, const float *restrict p, float *restrict out, uint32_t f)
{
    memset(out, 0, sizeof(float) * f);
    for (uint32_t a = 0; a < f; a++)
        axpy(p[a], G + (size_t)a * f, out, f);
}

/*
 * Conjugate gradient on A_u x = b_u from the current x (Hu et al.'s system,
 * in the form the implicit library uses): r = b - A x, then `steps` steps.
 * scratch holds 3 f floats. The clones let one build use AVX2 + FMA where
 * the CPU has them; each machine always runs the same clone.
 */
__attribute__((target_clones("arch=x86-64-v3", "default"))) static void
solve_cg(float *restrict x, const float *restrict G, const float *restrict Y, const uint32_t *idx,
         const float *val, uint64_t nnz, float alpha, float reg, uint32_t f, uint32_t steps, float *restrict scratch)
{
    float *r = scratch, *p = scratch + f, *Ap = scratch + 2 * (size_t)f;

    symv(G, x, r, f);
    for (uint32_t k = 0; k < f; k++)
        r[k] = -r[k] - reg * x[k];
    for (uint64_t j = 0; j < nnz; j++) {
        const float *y = Y + (size_t)idx[j] * f;
        float c = 1.0f + alpha * val[j];
        axpy(c - (c - 1.0f) * dot(y, x, f), y, r, f);
    }
    memcpy(p, r, sizeof(float) * f);
    float rsold = dot(r, r, f);
    for (uint32_t it = 0; it < steps && rsold > RB_ALS_CG_EPS; it++) {
        symv(G, p, Ap, f);
        axpy(reg, p, Ap, f);
        for (uint64_t j = 0; j < nnz; j++) {
            const float *y = Y + (size_t)idx[j] * f;
            axpy(alpha * val[j] * dot(y, p, f), y, Ap, f);
        }
        float pAp = dot(p, Ap, f);
        if (!(pAp > 0.0f))
            break; /* p is (numerically) zero: nothing left to gain */
        float a = rsold / pAp;
        axpy(a, p, x, f);
        axpy(-a, Ap, r, f);
        float rsnew = dot(r, r, f);
        float beta = rsnew / rsold;
#pragma omp simd
        for (uint32_t k = 0; k < f; k++)
            p[k] = r[k] + beta * p[k];
        rsold = rsnew;
    }
}

/*
 * Exact solve: A_u (lower triangle, built in scratch) = L L^T, then two
 * triangular solves into x. scratch holds f*f + f floats. Returns 0 or -1
 * when A_u is not positive definite (reg 0 and too little data).
 */
__attribute__((target_clones("arch=x86-64-v3", "default"))) static int
solve_cholesky(float *restrict x, const float *restrict G, const float *restrict Y, const uint32_t *idx,
               const float *val, uint64_t nnz, float alpha, float reg, uint32_t f, float *restrict scratch)
{
    float *A = scratch, *b = scratch + (size_t)f * f;

    memcpy(A, G, sizeof(float) * f * f);
    for (uint32_t a = 0; a < f; a++)
        A[(size_t)a * f + a] += reg;
    memset(b, 0, sizeof(float) * f);
    for (uint64_t j = 0; j < nnz; j++) {
        const float *y = Y + (size_t)idx[j] * f;
        float cw = alpha * val[j];
        axpy(1.0f + cw, y, b, f);
        for (uint32_t a = 0; a < f; a++) /* lower triangle, row a: columns 0..a */
            axpy(cw * y[a], y, A + (size_t)a * f, a + 1);
    }
    /* Cholesky-Banachiewicz, row by row: L[a][c] for c <= a. */
    for (uint32_t a = 0; a < f; a++) {
        float *La = A + (size_t)a * f;
        for (uint32_t c = 0; c < a; c++) {
            const float *Lc = A + (size_t)c * f;
            La[c] = (La[c] - dot(La, Lc, c)) / Lc[c];
        }
        float d = La[a] - dot(La, La, a);
        if (!(d > 0.0f))
            return -1;
        La[a] = sqrtf(d);
    }
    /* L z = b, then L^T x = z. */
    for (uint32_t a = 0; a < f; a++) {
        const float *La = A + (size_t)a * f;
        b[a] = (b[a] - dot(La, b, a)) / La[a];
    }
    for (uint32_t a = f; a-- > 0;) {
        float s = b[a];
        for (uint32_t c = a + 1; c < f; c++)
            s -= A[(size_t)c * f + a] * x[c];
        x[a] = s / A[(size_t)a * f + a];
    }
    return 0;
}

/* G = Y^T Y, full symmetric (f, f); each row's reg n_u goes on at its solve. */
static void gramian(float *G, const float *Y, uint32_t n, uint32_t f)
{
    if (n == 0)
        memset(G, 0, sizeof(float) * f * f);
    else
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (blasint)f, (blasint)n, 1.0f, Y, (blasint)f, 0.0f, G,
                    (blasint)f);
    for (uint32_t a = 0; a < f; a++) {
        for (uint32_t c = 0; c < a; c++)
            G[(size_t)a * f + c] = G[(size_t)c * f + a];
    }
}

/*
 * One half-iteration: every row of X (rows of m) solved against Y.
 * Returns 0, or -1 - the first row whose Cholesky failed.
 */
static int64_t solve_rows(float *X, const float *Y, const struct rb_csr *m, const float *G, const struct rb_als_opts *o,
                          int threads, float *scratch, size_t scratch_per_thread)
{
    uint32_t f = o->factors;
    int64_t failed = 0;

#pragma omp parallel num_threads(threads)
    {
        float *s = scratch + scratch_per_thread * (size_t)omp_get_thread_num();
#pragma omp for schedule(dynamic, RB_ALS_ROW_CHUNK)
        for (uint32_t u = 0; u < m->rows; u++) {
            uint64_t lo = m->indptr[u], nnz = m->indptr[u + 1] - lo;
            float *x = X + (size_t)u * f;
            if (nnz == 0) {
                memset(x, 0, sizeof(float) * f);
                continue;
            }
            float reg = o->reg * (float)nnz; /* weighted-lambda: reg per observation (als.h) */
            if (o->cg_steps > 0) {
                solve_cg(x, G, Y, m->indices + lo, m->values + lo, nnz, o->alpha, reg, f, o->cg_steps, s);
            } else if (solve_cholesky(x, G, Y, m->indices + lo, m->values + lo, nnz, o->alpha, reg, f, s) != 0) {
#pragma omp critical(rb_als_failed)
                if (failed == 0 || -(int64_t)u - 1 > failed)
                    failed = -(int64_t)u - 1;
            }
        }
    }
    return failed;
}

static int check_shapes(const struct rb_train *t, char *err)
{
    const struct rb_csr *ui = &t->ui, *iu = &t->iu;
    if (iu->rows != ui->cols || iu->cols != ui->rows || iu->nnz != ui->nnz)
        return rc_fail(err, RC_EINTERNAL, "als: ui (%u x %u, %llu) and iu (%u x %u, %llu) are not transposes",
                       ui->rows, ui->cols, (unsigned long long)ui->nnz, iu->rows, iu->cols,
                       (unsigned long long)iu->nnz);
    if ((ui->rows > 0 && !ui->indptr) || (iu->rows > 0 && !iu->indptr))
        return rc_fail(err, RC_EINTERNAL, "als: training matrix without row pointers");
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int check_opts(const struct rb_als_opts *o, char *err)
{
    if (o->factors == 0 || o->factors > RB_ALS_MAX_FACTORS)
        return rc_fail(err, RC_ERANGE, "als: factors %u outside 1..%u", o->factors, RB_ALS_MAX_FACTORS);
    if (!(o->reg >= 0.0f) || !(o->alpha >= 0.0f) || !isfinite(o->reg) || !isfinite(o->alpha))
        return rc_fail(err, RC_ERANGE, "als: reg (%g) and alpha (%g) must be finite and >= 0", (double)o->reg,
                       (double)o->alpha);
    return 0;
}

/* `iterations` alternating sweeps (users, then items) over m, in place. */
static int iterate(struct rb_als_model *m, const struct rb_train *t, const struct rb_als_opts *o,
                   uint32_t iterations, char *err)
{
    uint32_t f = m->f;
    int threads = o->threads > 0 ? o->threads : omp_get_max_threads();
    size_t per_thread = o->cg_steps > 0 ? 3 * (size_t)f : (size_t)f * f + f;
    per_thread = (per_thread + 15) & ~(size_t)15; /* keep each thread's scratch on its own cache lines */
    float *G = malloc(sizeof(float) * f * f);
    float *scratch = malloc(sizeof(float) * per_thread * (size_t)threads);
    int rc = 0;
    if (!G || !scratch) {
        rc = rc_fail(err, -ENOMEM, "als: out of memory for the %u x %u Gramian", f, f);
        goto out;
    }
    for (uint32_t it = 0; it < iterations; it++) {
        double t0 = now_s();
        gramian(G, m->V, m->items, f);
        int64_t bad = solve_rows(m->U, m->V, &t->ui, G, o, threads, scratch, per_thread);
        if (bad) {
            rc = rc_fail(err, RC_EINTERNAL, "als: cholesky failed for user row %lld (reg %g too small?)",
                         (long long)(-bad - 1), (double)o->reg);
            goto out;
        }
        gramian(G, m->U, m->users, f);
        bad = solve_rows(m->V, m->U, &t->iu, G, o, threads, scratch, per_thread);
        if (bad) {
            rc = rc_fail(err, RC_EINTERNAL, "als: cholesky failed for item row %lld (reg %g too small?)",
                         (long long)(-bad - 1), (double)o->reg);
            goto out;
        }
        rc_log(RC_LOG_DEBUG, "als_iteration", "iteration=%u seconds=%.3f solver=%s", it + 1, now_s() - t0,
               o->cg_steps > 0 ? "cg" : "cholesky");
    }
out:
    free(G);
    free(scratch);
    return rc;
}

int rb_als_train_cpu(struct rb_als_model *m, const struct rb_train *t, const struct rb_als_opts *o, char *err)
{
    memset(m, 0, sizeof(*m));
    uint32_t f = o->factors;
    int rc = check_opts(o, err);
    if (!rc)
        rc = check_shapes(t, err);
    if (rc)
        return rc;

    m->users = t->ui.rows;
    m->items = t->ui.cols;
    m->f = f;
    m->U = malloc(sizeof(float) * ((size_t)m->users * f + 1));
    m->V = malloc(sizeof(float) * ((size_t)m->items * f + 1));
    if (!m->U || !m->V) {
        rc = rc_fail(err, -ENOMEM, "als: out of memory for %u x %u and %u x %u factors", m->users, f, m->items, f);
        goto out;
    }

    /* Small positive factors: every first score is a little above 0, and
     * CG's first steps start near the solution's scale. */
    float scale = 0.1f / sqrtf((float)f);
    init_factors(m->U, (uint64_t)m->users * f, scale, o->seed, 1);
    init_factors(m->V, (uint64_t)m->items * f, scale, o->seed, 2);
    rc = iterate(m, t, o, o->iterations, err);
out:
    if (rc)
        rb_als_release(m);
    return rc;
}

int rb_als_more_cpu(struct rb_als_model *m, const struct rb_train *t, const struct rb_als_opts *o,
                    uint32_t iterations, char *err)
{
    int rc = check_opts(o, err);
    if (!rc)
        rc = check_shapes(t, err);
    if (rc)
        return rc;
    if (!m->U || !m->V || m->f != o->factors || m->users != t->ui.rows || m->items != t->ui.cols)
        return rc_fail(err, RC_ERANGE, "als: model (%u x %u, %u factors) does not fit the training matrix "
                       "(%u x %u, %u factors)", m->users, m->items, m->f, t->ui.rows, t->ui.cols, o->factors);
    return iterate(m, t, o, iterations, err);
}

int rb_als_loss(const struct rb_als_model *m, const struct rb_train *t, const struct rb_als_opts *o, double *loss,
                char *err)
{
    uint32_t f = m->f;
    if (m->users != t->ui.rows || m->items != t->ui.cols || t->iu.rows != m->items || f == 0 ||
        (m->items > 0 && !t->iu.indptr))
        return rc_fail(err, RC_ERANGE, "als loss: model (%u x %u) does not match the training matrix (%u x %u)",
                       m->users, m->items, t->ui.rows, t->ui.cols);
    float *G = malloc(sizeof(float) * f * f);
    double *part = calloc((size_t)m->users / 1024 + 1, sizeof(double));
    if (!G || !part) {
        free(G);
        free(part);
        return rc_fail(err, -ENOMEM, "als loss: out of memory");
    }
    gramian(G, m->V, m->items, f);

    /* Per block of 1024 rows, summed in block order afterwards: the same
     * total whatever the thread count. */
    uint32_t blocks = m->users / 1024 + 1;
#pragma omp parallel
    {
        float *tmp = malloc(sizeof(float) * f);
#pragma omp for schedule(dynamic, 1)
        for (uint32_t b = 0; b < blocks; b++) {
            double s = 0.0;
            uint32_t end = (b + 1) * 1024u < m->users ? (b + 1) * 1024u : m->users;
            for (uint32_t u = b * 1024u; u < end && tmp; u++) {
                const float *x = m->U + (size_t)u * f;
                /* every pair as unobserved: x^T (Y^T Y) x */
                symv(G, x, tmp, f);
                uint64_t n_u = t->ui.indptr[u + 1] - t->ui.indptr[u];
                s += dot(x, tmp, f) + (double)o->reg * (double)n_u * dot(x, x, f);
                /* observed pairs: c (1 - s)^2 instead of s^2 */
                for (uint64_t j = t->ui.indptr[u]; j < t->ui.indptr[u + 1]; j++) {
                    double sc = dot(x, m->V + (size_t)t->ui.indices[j] * f, f);
                    double c = 1.0 + (double)o->alpha * t->ui.values[j];
                    s += c * (1.0 - sc) * (1.0 - sc) - sc * sc;
                }
            }
            part[b] = tmp ? s : NAN;
        }
        free(tmp);
    }
    double total = 0.0;
    for (uint32_t b = 0; b < blocks; b++)
        total += part[b];
    for (uint32_t i = 0; i < m->items; i++)
        total += (double)o->reg * (double)(t->iu.indptr[i + 1] - t->iu.indptr[i]) *
                 dot(m->V + (size_t)i * f, m->V + (size_t)i * f, f);
    free(G);
    free(part);
    if (isnan(total))
        return rc_fail(err, -ENOMEM, "als loss: out of memory");
    *loss = total;
    return 0;
}
