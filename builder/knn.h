/*
 * knn.h - image similarity: for each product with an embedding, the top-N
 * products by cosine similarity (inner product of the L2-normalised rows in
 * rb_dataset.emb), excluding itself and products not in stock.
 * Exact (FAISS IndexFlatIP), or IVF or HNSW with recall@N against exact
 * measured on a sample; auto (the default) is exact below approx_min
 * candidates (in-stock products with an embedding) and IVF from there.
 */
#ifndef RB_KNN_H
#define RB_KNN_H

#include "dataset.h"

enum rb_knn_method { RB_KNN_EXACT, RB_KNN_IVF, RB_KNN_HNSW, RB_KNN_AUTO };

#define RB_KNN_APPROX_MIN 250000 /* candidates from which auto searches approximately */

struct rb_knn_opts {
    enum rb_knn_method method; /* RB_KNN_AUTO */
    uint32_t approx_min;    /* RB_KNN_APPROX_MIN */
    uint32_t ivf_nlist;     /* 0 = about 4 sqrt(rows); at most rows / 39 (k-means needs the points) */
    uint32_t ivf_nprobe;    /* 16 */
    uint32_t hnsw_m;        /* 32 */
    uint32_t hnsw_ef;       /* 128 */
    uint32_t recall_sample; /* rows checked against exact (1000) */
};

struct rb_knn_stats {
    enum rb_knn_method method; /* the one used (auto resolved) */
    uint32_t nlist, nprobe;    /* RB_KNN_IVF: as used (nlist resolved) */
    double recall;          /* recall@N vs exact on the sample; 1 for exact */
    uint32_t sampled;
};

void rb_knn_opts_default(struct rb_knn_opts *o);

/* What both image scorers do first: out and stats emptied (recall 1), n
 * and the embeddings checked. Errors: RC_ERANGE, RC_EINTERNAL. */
int rb_knn_begin(struct rb_lists *out, struct rb_knn_stats *stats, const struct rb_dataset *d, uint32_t n,
                 char *err);

/* Owner keys are product keys, source RC_SRC_IMAGE. Errors: -ENOMEM, RC_EINTERNAL (FAISS). */
int rb_knn_image(struct rb_lists *out, struct rb_knn_stats *stats, const struct rb_dataset *d, uint32_t n,
                 const struct rb_knn_opts *o, char *err);

/*
 * A FAISS IndexIVFFlat (inner product) over the n rows of X (n, dim):
 * want lists, or 4 sqrt(n) when want is 0, at most n / 39 (k-means wants
 * 39 points a list; fewer lists beat a bad clustering) and at least 1,
 * into *nlist; k-means trained on an evenly spaced sample of 64 rows a
 * list, then every row added. The one IVF of image kNN and of the
 * approximate CF scorer (score.h). Errors: -ENOMEM, RC_EINTERNAL (FAISS).
 */
struct FaissIndex_H;
int rb_ivf_build(struct FaissIndex_H **out, uint32_t *nlist, const float *X, uint32_t n, uint32_t dim, uint32_t want,
                 char *err);

/* Queries: products with an embedding row (each once). UINT32_MAX when out of memory. */
uint32_t rb_knn_queries(const struct rb_dataset *d);

#define RB_KNN_BATCH 8192 /* queries per search call; a range starts on a multiple */

/*
 * rb_knn_image for queries [from, to) only (to clamped to the queries),
 * list li for query from + li, recall left at 1 (sharded image scoring,
 * stages.h). from must be a multiple of RB_KNN_BATCH, so that every batch
 * is the whole run's and each list the one the whole run computes.
 * Errors: as rb_knn_image; RC_EINTERNAL for an unaligned from.
 */
int rb_knn_image_range(struct rb_lists *out, struct rb_knn_stats *stats, const struct rb_dataset *d, uint32_t n,
                       const struct rb_knn_opts *o, uint32_t from, uint32_t to, char *err);

/* stats->recall, ->sampled of lists (every query's, as rb_knn_image_range
 * [0, all) or a merge fills them) for stats->method (recall 1 when exact). */
int rb_knn_recall(struct rb_knn_stats *stats, const struct rb_lists *lists, const struct rb_dataset *d, uint32_t n,
                  const struct rb_knn_opts *o, char *err);

#ifdef RB_HAVE_CUDA
/*
 * RB_KNN_EXACT on the GPU (knn_cuda.cu), the same lists as rb_knn_image up
 * to float rounding; other methods are passed to the CPU backend's
 * knn_image (backend.h: rb_knn_image, FAISS).
 * Errors: as rb_knn_image, plus RC_ENOGPU.
 */
int rb_knn_image_gpu(struct rb_lists *out, struct rb_knn_stats *stats, const struct rb_dataset *d, uint32_t n,
                     const struct rb_knn_opts *o, char *err);
#endif

#endif
