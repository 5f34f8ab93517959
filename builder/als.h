/*
 * als.h - implicit-feedback ALS (Hu, Koren, Volinsky 2008).
 *
 * Confidence c_ui = 1 + alpha * w_ui for observed pairs (w from
 * rb_train.ui), preference 1 for observed, 0 otherwise. Each half-iteration
 * solves, for every row u,
 *   (YtY + Yt (C_u - I) Y + reg n_u I) x_u = Yt C_u p_u
 * with YtY computed once per half-iteration and n_u the number of observed
 * entries of row u (of ui for users, of iu for items): weighted-lambda
 * regularisation (Zhou et al. 2008, as Spark MLlib's ALS does for implicit
 * feedback too). A cookie with 3 events and a product with 30 000 are
 * shrunk in proportion to their data, so one reg suits every row and data
 * size; a constant reg small enough for popular products lets 64 factors
 * memorise a light cookie's few products (ops/bench/quality.md). Every
 * backend must solve this same system. Factors are row-major float32:
 * U is (users, f), V is (items, f). Initialised from `seed` (same seed, same
 * inputs, same thread count -> same factors).
 *
 * Rows of ui without entries get zero factors; so do items no row touches.
 * The model owns U and V (rb_als_release; release on a zeroed model is a
 * no-op). rb_als_train_cpu runs the per-row solves on o->threads OpenMP
 * threads; its only BLAS call (the Gramian, cblas_ssyrk) runs outside them
 * on OpenBLAS's own threads. Each row's solve depends on nothing but its
 * inputs, so the factors do not depend on how rows are spread over threads.
 *
 * Backends share this header: rb_als_train_cpu (OpenBLAS + OpenMP) and,
 * when built with CUDA, rb_als_train_gpu (als_cuda.cu); recbuild calls the
 * one it chose through backend.h.
 */
#ifndef RB_ALS_H
#define RB_ALS_H

#include "dataset.h"
#include "train.h"

struct rb_als_opts {
    uint32_t factors;    /* 64 */
    float reg;           /* 3: per observed entry of the row (reg n_u above) */
    float alpha;         /* 10 */
    uint32_t iterations; /* 10 */
    uint64_t seed;       /* 42 */
    int threads;         /* 0 = all cores */
    uint32_t cg_steps;   /* 3: conjugate-gradient steps per row and half-iteration,
                          * warm-started from the previous factors; 0 = exact
                          * Cholesky solve (slower: ops/bench/score_methods.md) */
};

struct rb_als_model {
    uint32_t users, items, f;
    float *U; /* (users, f) */
    float *V; /* (items, f) */
};

void rb_als_opts_default(struct rb_als_opts *o);

/* Errors: RC_ERANGE (factors 0 or > 1024), -ENOMEM, RC_EINTERNAL (a solve failed). */
int rb_als_train_cpu(struct rb_als_model *m, const struct rb_train *t, const struct rb_als_opts *o, char *err);
#ifdef RB_HAVE_CUDA
int rb_als_train_gpu(struct rb_als_model *m, const struct rb_train *t, const struct rb_als_opts *o, char *err);
#endif
void rb_als_release(struct rb_als_model *m);

/*
 * `iterations` more ALS iterations on the CPU, continuing from m's factors
 * (from rb_als_train_cpu on the same t with the same options): training
 * with N iterations and then M more gives the factors N + M iterations
 * give. The tuner uses it to stop configurations early. On failure m keeps
 * whatever factors it had. Errors: as rb_als_train_cpu, RC_ERANGE when m
 * does not fit t or o->factors.
 */
int rb_als_more_cpu(struct rb_als_model *m, const struct rb_train *t, const struct rb_als_opts *o,
                    uint32_t iterations, char *err);

/*
 * The objective ALS minimises, for monitoring and tests:
 *   sum_{u,i} c_ui (p_ui - U[u].V[i])^2 + reg (sum_u n_u |U[u]|^2 + sum_i n_i |V[i]|^2)
 * over all (users x items) pairs, in double. Deterministic for a given
 * model and thread count. Errors: RC_ERANGE (model and t disagree in
 * shape), -ENOMEM.
 */
int rb_als_loss(const struct rb_als_model *m, const struct rb_train *t, const struct rb_als_opts *o, double *loss,
                char *err);

#endif
