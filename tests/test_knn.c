/*
 * test_knn.c - builder/knn.c: image neighbours through FAISS.
 * Exact search against brute force; on clustered vectors the neighbours
 * share the query's cluster; no list holds its own product or an
 * out-of-stock one, yet out-of-stock products get lists; a product with two
 * rows gets one list; IVF and HNSW report a recall in (0, 1], high on easy
 * data.
 */
#include "knn.h"

#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = (*s += 0x9e3779b97f4a7c15ULL);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static float rng_sym(uint64_t *s)
{
    return (float)((double)(rng_next(s) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

/*
 * rows products (row r = product r), dim-d vectors around `clusters`
 * centroids (product r in cluster r % clusters) with uniform noise of the
 * given size, L2-normalised; every 7th product out of stock.
 */
static void make_emb(struct rb_dataset *d, uint32_t rows, uint32_t dim, uint32_t clusters, float noise, uint64_t seed)
{
    memset(d, 0, sizeof(*d));
    uint64_t s = seed;
    float *cent = malloc(sizeof(float) * clusters * dim);
    for (uint32_t j = 0; j < clusters * dim; j++)
        cent[j] = rng_sym(&s);
    d->products.n = rows;
    d->products.keys = malloc(sizeof(uint64_t) * rows);
    d->in_stock = malloc(rows);
    d->emb = malloc(sizeof(float) * rows * dim);
    d->emb_product = malloc(sizeof(uint32_t) * rows);
    d->emb_rows = rows;
    d->dim = dim;
    for (uint32_t r = 0; r < rows; r++) {
        d->products.keys[r] = 0xabc0000ULL + r * 31ULL;
        d->in_stock[r] = r % 7 != 3;
        d->emb_product[r] = r;
        float *v = d->emb + (size_t)r * dim;
        double norm = 0.0;
        for (uint32_t k = 0; k < dim; k++) {
            v[k] = cent[(r % clusters) * dim + k] + noise * rng_sym(&s);
            norm += (double)v[k] * v[k];
        }
        for (uint32_t k = 0; k < dim; k++)
            v[k] /= (float)sqrt(norm);
    }
    free(cent);
}

static void free_emb(struct rb_dataset *d)
{
    free(d->products.keys);
    free(d->in_stock);
    free(d->emb);
    free(d->emb_product);
    memset(d, 0, sizeof(*d));
}

/* The invariants of every list: owner, source, no self, in stock, ranked. */
static void check_lists(const struct rb_lists *l, const struct rb_dataset *d, uint32_t n)
{
    for (size_t q = 0; q < l->n; q++) {
        uint32_t self = d->emb_product[q];
        ck_assert_uint_eq(l->owner_key[q], d->products.keys[self]);
        ck_assert_uint_eq(l->source[q], RC_SRC_IMAGE);
        ck_assert_uint_le(l->len[q], n);
        for (uint32_t j = 0; j < l->len[q]; j++) {
            uint32_t p = l->items[q * l->k + j];
            ck_assert_uint_ne(p, self);
            ck_assert_msg(d->in_stock[p], "list %zu: out-of-stock product %u", q, p);
            if (j > 0) {
                float a = l->scores[q * l->k + j - 1], b = l->scores[q * l->k + j];
                ck_assert_msg(a > b || (a == b && l->items[q * l->k + j - 1] < p), "list %zu: not ranked at %u", q,
                              j);
            }
        }
    }
}

START_TEST(test_defaults)
{
    struct rb_knn_opts o;
    rb_knn_opts_default(&o);
    ck_assert_int_eq(o.method, RB_KNN_AUTO);
    ck_assert_uint_eq(o.approx_min, RB_KNN_APPROX_MIN);
    ck_assert_uint_eq(o.ivf_nlist, 0);
    ck_assert_uint_eq(o.ivf_nprobe, 16);
    ck_assert_uint_eq(o.hnsw_m, 32);
    ck_assert_uint_eq(o.hnsw_ef, 128);
    ck_assert_uint_eq(o.recall_sample, 1000);
}
END_TEST

/* Exact search is exact: the brute-force n best in-stock others. */
START_TEST(test_exact_brute_force)
{
    struct rb_dataset d;
    struct rb_knn_opts o;
    struct rb_knn_stats st;
    struct rb_lists l;
    char err[RC_ERRMSG_MAX] = "";
    uint32_t rows = 400, dim = 24, n = 12;
    make_emb(&d, rows, dim, 400, 0.0f, 21); /* random directions */
    rb_knn_opts_default(&o);
    ck_assert_msg(rb_knn_image(&l, &st, &d, n, &o, err) == 0, "%s", err);
    ck_assert_uint_eq(l.n, rows);
    ck_assert_uint_eq(l.k, n);
    ck_assert(st.recall == 1.0);
    check_lists(&l, &d, n);
    for (uint32_t q = 0; q < rows; q++) {
        ck_assert_uint_eq(l.len[q], n);
        /* the n-th score bounds every in-stock product not listed */
        float last = l.scores[(size_t)q * n + n - 1];
        for (uint32_t p = 0; p < rows; p++) {
            if (p == q || !d.in_stock[p])
                continue;
            double s = 0.0;
            for (uint32_t k = 0; k < dim; k++)
                s += (double)d.emb[(size_t)q * dim + k] * d.emb[(size_t)p * dim + k];
            int listed = 0;
            for (uint32_t j = 0; j < n; j++) {
                if (l.items[(size_t)q * n + j] == p) {
                    listed = 1;
                    ck_assert_msg(fabs(l.scores[(size_t)q * n + j] - s) < 1e-4, "score of %u for %u", p, q);
                }
            }
            if (!listed)
                ck_assert_msg(s <= last + 1e-5, "query %u: product %u (%g) beats the last listed (%g)", q, p, s,
                              (double)last);
        }
    }
    rb_lists_release(&l);
    free_emb(&d);
}
END_TEST

/* Clustered vectors: every neighbour comes from the query's cluster. */
START_TEST(test_exact_clusters)
{
    struct rb_dataset d;
    struct rb_knn_opts o;
    struct rb_knn_stats st;
    struct rb_lists l;
    uint32_t rows = 1000, clusters = 20, n = 10; /* 50 per cluster, ~43 in stock */
    make_emb(&d, rows, 32, clusters, 0.15f, 4);
    rb_knn_opts_default(&o);
    ck_assert_int_eq(rb_knn_image(&l, &st, &d, n, &o, NULL), 0);
    ck_assert_uint_eq(l.n, rows);
    check_lists(&l, &d, n);
    for (uint32_t q = 0; q < rows; q++) {
        ck_assert_uint_eq(l.len[q], n); /* out-of-stock products get full lists too */
        for (uint32_t j = 0; j < n; j++)
            ck_assert_uint_eq(l.items[(size_t)q * n + j] % clusters, q % clusters);
    }
    rb_lists_release(&l);
    free_emb(&d);
}
END_TEST

/* Approximate search on easy data: recall measured, in (0, 1], high. */
static void check_approx(enum rb_knn_method method)
{
    struct rb_dataset d;
    struct rb_knn_opts o;
    struct rb_knn_stats st;
    struct rb_lists l;
    char err[RC_ERRMSG_MAX] = "";
    uint32_t rows = 4000, n = 10;
    make_emb(&d, rows, 32, 40, 0.3f, 9);
    rb_knn_opts_default(&o);
    o.method = method;
    o.recall_sample = 300;
    ck_assert_msg(rb_knn_image(&l, &st, &d, n, &o, err) == 0, "%s", err);
    ck_assert_uint_eq(l.n, rows);
    check_lists(&l, &d, n);
    ck_assert_uint_eq(st.sampled, 300);
    ck_assert_msg(st.recall > 0.9 && st.recall <= 1.0, "recall %.4f", st.recall);
    ck_assert_int_eq(st.method, method);
    if (method == RB_KNN_IVF) {
        ck_assert(st.nlist > 0 && st.nlist <= 4000 / 39); /* 4 sqrt(candidates), at most candidates / 39 */
        ck_assert_uint_eq(st.nprobe, 16);
    }
    rb_lists_release(&l);
    free_emb(&d);
}

/* The same lists on every run with several threads: an HNSW graph that
 * FAISS inserts into from several threads at once differs from run to
 * run (stages.md needs every shard to build the same). Noisy data, so
 * that the graph's shape decides many neighbours. */
START_TEST(test_hnsw_same_lists)
{
    struct rb_dataset d;
    struct rb_knn_opts o;
    struct rb_knn_stats st;
    struct rb_lists a, b;
    char err[RC_ERRMSG_MAX] = "";
    uint32_t rows = 20000, n = 20;
    make_emb(&d, rows, 32, 40, 2.0f, 5);
    rb_knn_opts_default(&o);
    o.method = RB_KNN_HNSW;
    o.recall_sample = 0;
    omp_set_num_threads(4);
    ck_assert_msg(rb_knn_image(&a, &st, &d, n, &o, err) == 0, "%s", err);
    ck_assert_msg(rb_knn_image(&b, &st, &d, n, &o, err) == 0, "%s", err);
    size_t differ = 0;
    for (size_t q = 0; q < a.n; q++)
        differ += a.len[q] != b.len[q] || memcmp(&a.items[q * n], &b.items[q * n], sizeof(uint32_t) * a.len[q]) != 0;
    ck_assert_msg(differ == 0, "%zu of %zu lists differ between two runs", differ, a.n);
    rb_lists_release(&a);
    rb_lists_release(&b);
    free_emb(&d);
}
END_TEST

START_TEST(test_ivf_recall)
{
    check_approx(RB_KNN_IVF);
}
END_TEST

START_TEST(test_hnsw_recall)
{
    check_approx(RB_KNN_HNSW);
}
END_TEST


/* A product's second row is ignored; rows naming unknown products too. */
START_TEST(test_duplicate_rows)
{
    struct rb_dataset d;
    struct rb_knn_opts o;
    struct rb_knn_stats st;
    struct rb_lists l;
    make_emb(&d, 60, 8, 6, 0.2f, 2);
    d.emb_product[10] = 4; /* product 4 twice; product 10 has no row */
    d.emb_product[11] = 999; /* not a product */
    rb_knn_opts_default(&o);
    ck_assert_int_eq(rb_knn_image(&l, &st, &d, 5, &o, NULL), 0);
    ck_assert_uint_eq(l.n, 58);
    for (size_t q = 0; q < l.n; q++) {
        ck_assert_uint_ne(l.owner_key[q], d.products.keys[10]);
        for (uint32_t j = 0; j < l.len[q]; j++) {
            ck_assert_uint_ne(l.items[q * l.k + j], 10);
            ck_assert_uint_ne(l.items[q * l.k + j], 999);
        }
    }
    /* product 4's list is its first row's and never lists 4 */
    ck_assert_uint_eq(l.owner_key[4], d.products.keys[4]);
    rb_lists_release(&l);
    free_emb(&d);
}
END_TEST

START_TEST(test_small_and_errors)
{
    struct rb_dataset d;
    struct rb_knn_opts o;
    struct rb_knn_stats st;
    struct rb_lists l;
    char err[RC_ERRMSG_MAX] = "";
    rb_knn_opts_default(&o);
    make_emb(&d, 5, 4, 5, 0.0f, 1);
    ck_assert_int_eq(rb_knn_image(&l, &st, &d, 0, &o, err), RC_ERANGE);
    ck_assert_ptr_nonnull(strstr(err, "n 0"));
    /* n beyond the candidates: the others in stock (4 of them, minus self) */
    ck_assert_int_eq(rb_knn_image(&l, &st, &d, 50, &o, NULL), 0);
    ck_assert_uint_eq(l.n, 5);
    for (size_t q = 0; q < 5; q++)
        ck_assert_uint_eq(l.len[q], d.in_stock[q] ? 3 : 4);
    check_lists(&l, &d, 50);
    rb_lists_release(&l);
    /* IVF with more lists asked than candidates still works */
    o.method = RB_KNN_IVF;
    o.ivf_nlist = 100;
    ck_assert_msg(rb_knn_image(&l, &st, &d, 2, &o, err) == 0, "%s", err);
    ck_assert(st.recall > 0.0 && st.recall <= 1.0);
    rb_lists_release(&l);
    /* no embeddings: no lists */
    d.emb_rows = 0;
    o.method = RB_KNN_EXACT;
    ck_assert_int_eq(rb_knn_image(&l, &st, &d, 5, &o, NULL), 0);
    ck_assert_uint_eq(l.n, 0);
    rb_lists_release(&l);
    free_emb(&d);
}
END_TEST

static Suite *knn_suite(void)
{
    Suite *s = suite_create("knn");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_exact_brute_force);
    tcase_add_test(tc, test_exact_clusters);
    tcase_add_test(tc, test_ivf_recall);
    tcase_add_test(tc, test_hnsw_recall);
    tcase_add_test(tc, test_hnsw_same_lists);
    tcase_add_test(tc, test_duplicate_rows);
    tcase_add_test(tc, test_small_and_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(knn_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
