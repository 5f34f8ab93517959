/*
 * backend.c - the CPU backend's table and the choice of the GPU's
 * (backend.h). The GPU's table is in backend_cuda.cu.
 */
#include "backend.h"

#include <inttypes.h>

#include "error.h"
#include "gpu.h"
#include "log.h"

const struct rb_backend rb_backend_cpu = {
    .name = "cpu",
    .als_train = rb_als_train_cpu,
    .score_cf = rb_score_cf_all,
    .knn_image = rb_knn_image,
};

int rb_backend_gpu_open(const struct rb_backend **out, char *err)
{
#ifdef RB_HAVE_CUDA
    char name[256];
    uint64_t free_b = 0, total_b = 0;
    int rc = rb_gpu_info(name, &free_b, &total_b, err);
    if (rc)
        return rc;
    rc_log(RC_LOG_INFO, "device", "device=gpu name=\"%s\" free_mib=%" PRIu64 " total_mib=%" PRIu64, name,
           free_b >> 20, total_b >> 20);
    *out = &rb_backend_gpu;
    return 0;
#else
    (void)out;
    return rc_fail(err, RC_ENOGPU, "this recbuild was built without CUDA");
#endif
}
