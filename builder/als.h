/*
 * als.h - implicit-feedback ALS (Hu, Koren, Volinsky 2008).
 *
 * Confidence c_ui = 1 + alpha * w_ui for observed pairs (w from
 * rb_train.ui), preference 1 for observed, 0 otherwise. Each half-iteration
 * solves, for every row u,
 *   (YtY + Yt (C_u - I) Y + reg I) x_u = Yt C_u p_u
 * with YtY computed once per half-iteration. Factors are row-major float32:
 * U is (users, f), V is (items, f). Initialised from `seed` (same seed, same
 * inputs, same thread count -> same factors).
 *
 * Backends share this header: rb_als_train_cpu (OpenBLAS + OpenMP) and,
 * when built with CUDA, rb_als_train_gpu (als_cuda.cu).
 */
#ifndef RB_ALS_H
#define RB_ALS_H

#include "dataset.h"

struct rb_als_opts {
    uint32_t factors;    /* 64 */
    float reg;           /* 0.05 */
    float alpha;         /* 10 */
    uint32_t iterations; /* 10 */
    uint64_t seed;       /* 42 */
    int threads;         /* 0 = all cores */
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

#endif
