/*
 * backend_cuda.cu - the GPU backend's table (backend.h): ALS
 * (als_cuda.cu), CF scoring (score_cuda.cu) and exact image kNN
 * (knn_cuda.cu).
 */
#include <string.h>

extern "C" {
#include "backend.h"
}

/* The GPU has one scorer, exact: --score-method chooses among the CPU's. */
static int score_cf(struct rb_lists *out, struct rb_score_stats *stats, const struct rb_als_model *m,
                    const struct rb_train *t, const struct rb_dataset *d, uint32_t n, int exclude_bought,
                    const struct rb_score_opts *o, char *err)
{
    (void)o;
    memset(stats, 0, sizeof(*stats));
    stats->method = RB_SCORE_GEMM;
    stats->recall = 1.0;
    return rb_score_cf_gpu(out, m, t, d, n, exclude_bought, err);
}

extern "C" const struct rb_backend rb_backend_gpu = {
    "gpu",
    rb_als_train_gpu,
    score_cf,
    rb_knn_image_gpu,
};
