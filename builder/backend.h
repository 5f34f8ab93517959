/*
 * backend.h - where the heavy stages run: ALS, CF scoring and image kNN
 * behind one table of functions per compute backend, chosen once per run
 * (recbuild --device), as redis picks its event loop behind ae.h.
 *
 *   rb_backend_cpu   OpenBLAS + OpenMP + FAISS (als_cpu.c, score.c, knn.c);
 *                    in every build
 *   rb_backend_gpu   CUDA + cuBLAS (als_cuda.cu, score_cuda.cu,
 *                    knn_cuda.cu, table in backend_cuda.cu); only in a build
 *                    with CUDA, and only handed out by rb_backend_gpu_open
 *
 * Both compute the same functions (als.h, score.h, knn.h); the GPU's lists
 * equal the CPU's up to float rounding (tests/test_gpu_parity.c states the
 * tolerances). What the GPU backend does not do itself (ALS with cg_steps
 * 0, approximate kNN) it hands to the CPU backend through rb_backend_cpu,
 * saying so in the log. Popularity, sessions, co-view and the evaluation
 * are not backend work: they always run on the CPU (schemas/gpu.md).
 *
 * The tables are constant and the functions are as thread-safe as the
 * stages behind them (each parallelises inside itself; call one at a time).
 */
#ifndef RB_BACKEND_H
#define RB_BACKEND_H

#include "als.h"
#include "dataset.h"
#include "knn.h"
#include "score.h"

struct rb_backend {
    const char *name; /* "cpu" or "gpu": the log's and the manifest's device */

    /* ALS factors from the training matrices: as rb_als_train_cpu (als.h). */
    int (*als_train)(struct rb_als_model *m, const struct rb_train *t, const struct rb_als_opts *o, char *err);

    /* CF lists: as rb_score_cf_all (score.h); o chooses among the CPU's
     * scorers and is ignored by the GPU, which has one, exact (stats:
     * RB_SCORE_GEMM, recall 1). */
    int (*score_cf)(struct rb_lists *out, struct rb_score_stats *stats, const struct rb_als_model *m,
                    const struct rb_train *t, const struct rb_dataset *d, uint32_t n, int exclude_bought,
                    const struct rb_score_opts *o, char *err);

    /* Image-similarity lists: as rb_knn_image (knn.h). */
    int (*knn_image)(struct rb_lists *out, struct rb_knn_stats *stats, const struct rb_dataset *d, uint32_t n,
                     const struct rb_knn_opts *o, char *err);
};

extern const struct rb_backend rb_backend_cpu;
#ifdef RB_HAVE_CUDA
extern const struct rb_backend rb_backend_gpu; /* take it from rb_backend_gpu_open, which checks the device */
#endif

/*
 * The GPU backend in *out when this build has CUDA and device 0 can be
 * used; its name and memory are logged (event=device device=gpu). Errors:
 * RC_ENOGPU, with the reason in err: "this recbuild was built without
 * CUDA", or the CUDA runtime's (no device, driver too old). *out is left
 * alone on error.
 */
int rb_backend_gpu_open(const struct rb_backend **out, char *err);

#endif
