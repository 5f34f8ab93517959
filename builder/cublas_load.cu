/*
 * cublas_load.cu - cuBLAS, loaded when the GPU path first asks for it.
 *
 * Linking libcublas maps it (with libcublasLt) into every process that
 * links rb: about 216 MiB resident for `recbuild --help`, and for every
 * CPU-only build and test. So rb does not link it. This file defines the
 * cuBLAS functions the GPU path calls, with cuBLAS's own signatures from
 * cublas_v2.h; the first call dlopen()s the library (RB_CUBLAS_SONAME, then
 * the same name in the toolkit's library folder) and each forwards to the
 * real function. Without the library every call returns
 * CUBLAS_STATUS_NOT_INITIALIZED and cublasGetStatusString says why.
 * Thread-safe: the loading runs once (pthread_once).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include <cublas_v2.h>

extern "C" {
#include "error.h"
}
#include "gpu.h"

typedef cublasStatus_t (*create_fn)(cublasHandle_t *);
typedef cublasStatus_t (*destroy_fn)(cublasHandle_t);
typedef const char *(*status_string_fn)(cublasStatus_t);
typedef cublasStatus_t (*math_mode_fn)(cublasHandle_t, cublasMath_t);
typedef cublasStatus_t (*sgemm_fn)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const float *,
                                   const float *, int, const float *, int, const float *, float *, int);
typedef cublasStatus_t (*ssyrk_fn)(cublasHandle_t, cublasFillMode_t, cublasOperation_t, int, int, const float *,
                                   const float *, int, const float *, float *, int);

static struct {
    create_fn create;
    destroy_fn destroy;
    status_string_fn status_string;
    math_mode_fn math_mode;
    sgemm_fn sgemm;
    ssyrk_fn ssyrk;
    char why[512]; /* why loading failed; empty when loaded */
} lib;
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_load(void)
{
    void *h = dlopen(RB_CUBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        h = dlopen(RB_CUBLAS_DIR "/" RB_CUBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(lib.why, sizeof(lib.why), "unable to load %s: %s", RB_CUBLAS_SONAME, e ? e : "not found");
        return;
    }
    lib.create = (create_fn)dlsym(h, "cublasCreate_v2");
    lib.destroy = (destroy_fn)dlsym(h, "cublasDestroy_v2");
    lib.status_string = (status_string_fn)dlsym(h, "cublasGetStatusString");
    lib.math_mode = (math_mode_fn)dlsym(h, "cublasSetMathMode");
    lib.sgemm = (sgemm_fn)dlsym(h, "cublasSgemm_v2");
    lib.ssyrk = (ssyrk_fn)dlsym(h, "cublasSsyrk_v2");
    if (!lib.create || !lib.destroy || !lib.status_string || !lib.math_mode || !lib.sgemm || !lib.ssyrk) {
        snprintf(lib.why, sizeof(lib.why), "%s lacks a function edgerec uses", RB_CUBLAS_SONAME);
        lib.create = NULL;
    }
}

/* 1 when the real library is there. */
static int loaded(void)
{
    (void)pthread_once(&lib_once, lib_load);
    return lib.create != NULL;
}

cublasStatus_t CUBLASWINAPI cublasCreate_v2(cublasHandle_t *handle)
{
    return loaded() ? lib.create(handle) : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t CUBLASWINAPI cublasDestroy_v2(cublasHandle_t handle)
{
    return loaded() ? lib.destroy(handle) : CUBLAS_STATUS_NOT_INITIALIZED;
}

const char *CUBLASWINAPI cublasGetStatusString(cublasStatus_t status)
{
    return loaded() ? lib.status_string(status) : lib.why;
}

cublasStatus_t CUBLASWINAPI cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode)
{
    return loaded() ? lib.math_mode(handle, mode) : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t CUBLASWINAPI cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                           int m, int n, int k, const float *alpha, const float *A, int lda,
                                           const float *B, int ldb, const float *beta, float *C, int ldc)
{
    return loaded() ? lib.sgemm(handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
                    : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t CUBLASWINAPI cublasSsyrk_v2(cublasHandle_t handle, cublasFillMode_t uplo, cublasOperation_t trans, int n,
                                           int k, const float *alpha, const float *A, int lda, const float *beta,
                                           float *C, int ldc)
{
    return loaded() ? lib.ssyrk(handle, uplo, trans, n, k, alpha, A, lda, beta, C, ldc)
                    : CUBLAS_STATUS_NOT_INITIALIZED;
}

int rb_cublas_load(char *err)
{
    return loaded() ? 0 : rc_fail(err, RC_ENOGPU, "%s", lib.why);
}
