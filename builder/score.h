/*
 * score.h - collaborative-filtering top-N per cookie: score = U[u] . V[i]
 * over all products, excluding products the cookie bought in training
 * (when exclude_bought) and products not in stock, best first.
 *
 * Two CPU methods compute the same lists: FAISS (inner-product flat search
 * over V through the C API, over-fetching to cover exclusions) and a blocked
 * GEMM (OpenBLAS) with a per-row top-k selection. RB_SCORE_AUTO uses the one
 * measured faster (ops/bench/ records the measurement).
 */
#ifndef RB_SCORE_H
#define RB_SCORE_H

#include "als.h"
#include "dataset.h"

enum rb_score_method { RB_SCORE_AUTO, RB_SCORE_FAISS, RB_SCORE_GEMM };

/*
 * Lists for every train row with row_wants_list set; owner keys are the
 * cookies' keys, source RC_SRC_CF. Errors: -ENOMEM, RC_EINTERNAL (FAISS
 * error, message in err).
 */
int rb_score_cf(struct rb_lists *out, const struct rb_als_model *m, const struct rb_train *t,
                const struct rb_dataset *d, uint32_t n, int exclude_bought, enum rb_score_method method, char *err);

/*
 * Sharded scoring (builder/stages.c). The rows that get a list, in training
 * row order, number rb_score_cf_rows(t); rb_score_cf_range scores those at
 * positions [from, to) (to clamped to the count) into out, list li for
 * position from + li. from must be a multiple of rb_score_cf_unit(method):
 * the rows the scorer always scores together (a GEMM block, a FAISS batch),
 * so that every list equals the one rb_score_cf (the range [0, all))
 * computes, bit for bit. Errors: as rb_score_cf; RC_EINTERNAL for an
 * unaligned from.
 */
int rb_score_cf_range(struct rb_lists *out, const struct rb_als_model *m, const struct rb_train *t,
                      const struct rb_dataset *d, uint32_t n, int exclude_bought, enum rb_score_method method,
                      size_t from, size_t to, char *err);
size_t rb_score_cf_unit(enum rb_score_method method);
size_t rb_score_cf_rows(const struct rb_train *t);
/* What both CF scorers do first: out emptied, n and the model checked
 * against the training rows. Errors: RC_ERANGE, RC_EINTERNAL. */
int rb_score_cf_begin(struct rb_lists *out, const struct rb_als_model *m, const struct rb_train *t, uint32_t n,
                      char *err);

/*
 * The lists both scorers fill: rb_lists_init(out, nrows, n), list li owned
 * by the cookie of training row rows[li], source RC_SRC_CF, empty. Errors:
 * -ENOMEM, RC_EINTERNAL (a row names no cookie); the message in err.
 */
int rb_score_cf_lists_init(struct rb_lists *out, const struct rb_train *t, const struct rb_dataset *d,
                           const uint32_t *rows, size_t nrows, uint32_t n, char *err);

#ifdef RB_HAVE_CUDA
/*
 * The same lists on the GPU (score_cuda.cu): float32 cuBLAS GEMM per tile of
 * candidates and a top-k kernel per row, exclusions applied on the device.
 * Equal to rb_score_cf up to float rounding of the scores (list overlap
 * held >= 0.99 by tests/test_gpu_parity.c). Errors: as rb_score_cf, plus
 * RC_ENOGPU, -ENOMEM when the candidates do not fit on the device.
 */
int rb_score_cf_gpu(struct rb_lists *out, const struct rb_als_model *m, const struct rb_train *t,
                    const struct rb_dataset *d, uint32_t n, int exclude_bought, char *err);
#endif

#endif
