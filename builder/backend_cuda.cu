/*
 * backend_cuda.cu - the GPU backend's table (backend.h): ALS
 * (als_cuda.cu), CF scoring (score_cuda.cu) and exact image kNN
 * (knn_cuda.cu).
 */
extern "C" {
#include "backend.h"
}

/* The GPU has one scorer: --score-method chooses between the CPU's two. */
static int score_cf(struct rb_lists *out, const struct rb_als_model *m, const struct rb_train *t,
                    const struct rb_dataset *d, uint32_t n, int exclude_bought, enum rb_score_method method, char *err)
{
    (void)method;
    return rb_score_cf_gpu(out, m, t, d, n, exclude_bought, err);
}

extern "C" const struct rb_backend rb_backend_gpu = {
    "gpu",
    rb_als_train_gpu,
    score_cf,
    rb_knn_image_gpu,
};
