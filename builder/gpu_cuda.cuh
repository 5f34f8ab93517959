/*
 * gpu_cuda.cuh - internal to the CUDA backend (*.cu in builder/): error
 * checks that report file:line. (The tiled top-k engine that CF scoring and
 * exact kNN share, rb_gpu_topk, is declared in gpu.h so C tests can call it.)
 *
 * Error handling: no CUDA or cuBLAS failure aborts. CUDA_TRY / CUBLAS_TRY
 * set `rc` (-ENOMEM for an allocation failure, RC_EINTERNAL otherwise),
 * write "file:line: call: reason" into `err` and jump to the function's
 * `out:` label, where everything is freed (cudaFree(NULL) is a no-op).
 */
#ifndef RB_GPU_CUDA_CUH
#define RB_GPU_CUDA_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <errno.h>
#include <string.h>

extern "C" {
#include "dataset.h"
#include "error.h"
#include "gpu.h"
#include "log.h"
}

/* The file's name without its directory: messages carry no build paths. */
static inline const char *rb_gpu_base(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static inline int rb_gpu_code(cudaError_t e)
{
    return e == cudaErrorMemoryAllocation ? -ENOMEM
           : (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) ? RC_ENOGPU
                                                                             : RC_EINTERNAL;
}

#define CUDA_TRY(call)                                                                                             \
    do {                                                                                                           \
        cudaError_t e_ = (call);                                                                                   \
        if (e_ != cudaSuccess) {                                                                                   \
            rc = rc_fail(err, rb_gpu_code(e_), "%s:%d: %s: %s", rb_gpu_base(__FILE__), __LINE__, #call,           \
                         cudaGetErrorString(e_));                                                                  \
            goto out;                                                                                              \
        }                                                                                                          \
    } while (0)

#define CUBLAS_TRY(call)                                                                                           \
    do {                                                                                                           \
        cublasStatus_t s_ = (call);                                                                                \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                                         \
            rc = rc_fail(err, s_ == CUBLAS_STATUS_ALLOC_FAILED ? -ENOMEM : RC_EINTERNAL, "%s:%d: %s: %s",         \
                         rb_gpu_base(__FILE__), __LINE__, #call, cublasGetStatusString(s_));                       \
            goto out;                                                                                              \
        }                                                                                                          \
    } while (0)

/* A kernel launch: the launch error now, execution errors at the next synchronising call. */
#define CUDA_LAUNCHED() CUDA_TRY(cudaGetLastError())

#endif
