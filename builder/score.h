/*
 * score.h - collaborative-filtering top-N per cookie: score = U[u] . V[i]
 * over all products, excluding products the cookie bought in training
 * (when exclude_bought) and products not in stock, best first.
 *
 * Two exact CPU methods compute the same lists: FAISS (inner-product flat
 * search over V through the C API, over-fetching to cover exclusions) and a
 * blocked GEMM (OpenBLAS) with a per-row top-k selection; RB_SCORE_AUTO uses
 * the one measured faster (ops/bench/ records the measurement) for small
 * catalogs and the approximate IVF scorer below for large ones.
 */
#ifndef RB_SCORE_H
#define RB_SCORE_H

#include "als.h"
#include "dataset.h"

enum rb_score_method { RB_SCORE_AUTO, RB_SCORE_FAISS, RB_SCORE_GEMM, RB_SCORE_IVF };

/*
 * The approximate scorer (RB_SCORE_IVF): FAISS IVF over the in-stock item
 * factors, each extended by one coordinate sqrt(M^2 - |v|^2) (M the
 * largest norm) so that every vector has norm M and the inner product with
 * a user's (u, 0) is u . v unchanged: maximum inner product becomes a
 * nearest-neighbour search the IVF clusters serve well. It over-fetches
 * to cover exclusions as the exact FAISS scorer does. nprobe is the
 * smallest power of two (from 8) whose recall@n against exact scoring on a
 * calibration sample of the rows reaches recall_target plus a margin for
 * the sampling error (0.01, or half the distance to 1 when that is less),
 * unless given. RB_SCORE_AUTO picks it when the candidates (in-stock
 * products) number approx_min or more and exact scoring would take
 * RB_SCORE_APPROX_WORK multiply-adds or more (rows with a list x
 * candidates x factors: below that, building the index costs more than
 * it saves), else GEMM.
 */
#define RB_SCORE_APPROX_MIN 250000 /* in-stock products from which auto scores approximately */
#define RB_SCORE_APPROX_WORK 2e12  /* ... and exact multiply-adds: about a minute of GEMM on 2 cores */

struct rb_score_opts {
    enum rb_score_method method;
    uint32_t approx_min;    /* RB_SCORE_APPROX_MIN */
    double approx_work;     /* RB_SCORE_APPROX_WORK */
    uint32_t nlist;         /* 0: 4 sqrt(candidates), at most candidates / 39 */
    uint32_t nprobe;        /* 0: calibrated to recall_target */
    double recall_target;   /* 0.95 */
    uint32_t recall_sample; /* rows for calibration and, others, for the measured recall (1000; at most
                               half the rows each, so the two samples never share a row) */
};

struct rb_score_stats {
    enum rb_score_method method; /* the one used (auto resolved) */
    uint32_t nlist, nprobe;      /* RB_SCORE_IVF */
    double recall;               /* recall@n against exact on the sample; 1 for exact scorers */
    uint32_t sampled;            /* rows in that sample (0 for exact scorers) */
};

void rb_score_opts_default(struct rb_score_opts *o);

/* The recall calibration aims at for a target: 0.01 above it, or half the
 * way to 1 when that is less. */
double rb_score_recall_aim(double target);

/*
 * Every row's list as o says, and stats; for an approximate method also
 * the recall measured (rb_score_cf_recall, o->recall_sample rows). The CPU
 * backend's score_cf (backend.h). Errors: as rb_score_cf.
 */
int rb_score_cf_all(struct rb_lists *out, struct rb_score_stats *stats, const struct rb_als_model *m,
                    const struct rb_train *t, const struct rb_dataset *d, uint32_t n, int exclude_bought,
                    const struct rb_score_opts *o, char *err);

/* The method o gives for these rows and candidates (AUTO resolved). */
enum rb_score_method rb_score_cf_method(const struct rb_score_opts *o, const struct rb_als_model *m,
                                        const struct rb_train *t, const struct rb_dataset *d);

/*
 * rb_score_cf_range with every option: rows [from, to) of those that get
 * a list, lists into out, the method, nlist and nprobe used into stats
 * (recall 1, sampled 0: rb_score_cf_recall measures it). An approximate
 * method with o->nprobe 0 calibrates first, on a sample of all the rows
 * (so every range calibrates alike).
 */
int rb_score_cf_with(struct rb_lists *out, struct rb_score_stats *stats, const struct rb_als_model *m,
                     const struct rb_train *t, const struct rb_dataset *d, uint32_t n, int exclude_bought,
                     const struct rb_score_opts *o, size_t from, size_t to, char *err);

/*
 * stats->recall and ->sampled: lists (every row that gets a list, in row
 * order, as rb_score_cf_with [0, all) or a merge of shards fills them)
 * against exact scoring on `sample` evenly spaced rows other than the
 * calibration's. Errors: -ENOMEM, RC_EINTERNAL.
 */
int rb_score_cf_recall(struct rb_score_stats *stats, const struct rb_lists *lists, const struct rb_als_model *m,
                       const struct rb_train *t, const struct rb_dataset *d, uint32_t n, int exclude_bought,
                       uint32_t sample, char *err);

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
