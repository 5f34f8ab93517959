/*
 * test_score.c - builder/score.c: CF top-N from hand-made factors.
 * Both methods against a brute-force reference, against each other on
 * random data (blocks and tiles crossed), exclusions (bought, out of
 * stock) never listed, ties to the lower product index, short lists when
 * candidates run out, the owner keys, sources and errors, and ranges of
 * rows (the stages' shards) equal to the whole run.
 */
#include "score.h"

#include <check.h>
#include <math.h>
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

struct fixture {
    struct rb_als_model m;
    struct rb_train t;
    struct rb_dataset d;
};

/*
 * users x items random factors (f), each user bought up to max_bought
 * random products, a share oos of products out of stock, every third user
 * without a list (wants_all = 0) or every user with one.
 */
static void fixture_make(struct fixture *x, uint32_t users, uint32_t items, uint32_t f, uint32_t max_bought,
                         double oos, int wants_all, uint64_t seed)
{
    memset(x, 0, sizeof(*x));
    uint64_t s = seed;
    x->m.users = users;
    x->m.items = items;
    x->m.f = f;
    x->m.U = malloc(sizeof(float) * ((size_t)users * f + 1));
    x->m.V = malloc(sizeof(float) * ((size_t)items * f + 1));
    for (size_t j = 0; j < (size_t)users * f; j++)
        x->m.U[j] = rng_sym(&s);
    for (size_t j = 0; j < (size_t)items * f; j++)
        x->m.V[j] = rng_sym(&s);

    struct rb_train *t = &x->t;
    t->ui.rows = users;
    t->ui.cols = items;
    t->ui.indptr = calloc((size_t)users + 1, sizeof(uint64_t));
    t->row_cookie = malloc(sizeof(uint32_t) * (users + 1));
    t->row_wants_list = malloc(users + 1);
    struct rb_csr *b = &t->bought;
    b->rows = users;
    b->cols = items;
    b->indptr = calloc((size_t)users + 1, sizeof(uint64_t));
    b->indices = malloc(sizeof(uint32_t) * ((size_t)users * max_bought + 1));
    b->values = malloc(sizeof(float) * ((size_t)users * max_bought + 1));
    uint8_t *mark = calloc(items + 1, 1);
    for (uint32_t u = 0; u < users; u++) {
        t->row_cookie[u] = users - 1 - u; /* rows and cookies in different orders */
        t->row_wants_list[u] = wants_all || u % 3 != 0;
        uint32_t nb = max_bought ? (uint32_t)(rng_next(&s) % (max_bought + 1)) : 0;
        for (uint32_t j = 0; j < nb; j++)
            mark[rng_next(&s) % items] = 1;
        for (uint32_t i = 0; i < items; i++) {
            if (mark[i]) {
                b->indices[b->nnz] = i;
                b->values[b->nnz++] = 1.0f;
                mark[i] = 0;
            }
        }
        b->indptr[u + 1] = b->nnz;
    }
    free(mark);
    x->d.cookies.n = users;
    x->d.cookies.keys = malloc(sizeof(uint64_t) * (users + 1));
    for (uint32_t c = 0; c < users; c++)
        x->d.cookies.keys[c] = 0xc00c1e0000ULL + c;
    x->d.products.n = items;
    x->d.products.keys = malloc(sizeof(uint64_t) * (items + 1));
    x->d.in_stock = malloc(items + 1);
    for (uint32_t i = 0; i < items; i++) {
        x->d.products.keys[i] = 0x9e0d000000ULL + i;
        x->d.in_stock[i] = (double)(rng_next(&s) >> 11) * (1.0 / 9007199254740992.0) >= oos;
    }
}

static void fixture_free(struct fixture *x)
{
    rb_als_release(&x->m);
    rb_train_release(&x->t);
    free(x->d.cookies.keys);
    free(x->d.products.keys);
    free(x->d.in_stock);
}

static int bought(const struct rb_train *t, uint32_t r, uint32_t i)
{
    for (uint64_t j = t->bought.indptr[r]; j < t->bought.indptr[r + 1]; j++)
        if (t->bought.indices[j] == i)
            return 1;
    return 0;
}

/* List li belongs to the li-th wanting row; check its invariants and return that row. */
static uint32_t check_list(const struct rb_lists *l, size_t li, const struct fixture *x, uint32_t n, uint32_t *row)
{
    while (!x->t.row_wants_list[*row])
        (*row)++;
    uint32_t r = (*row)++;
    ck_assert_uint_eq(l->owner_key[li], x->d.cookies.keys[x->t.row_cookie[r]]);
    ck_assert_uint_eq(l->source[li], RC_SRC_CF);
    ck_assert_uint_le(l->len[li], n);
    for (uint32_t j = 0; j < l->len[li]; j++) {
        uint32_t i = l->items[li * l->k + j];
        ck_assert_uint_lt(i, x->m.items);
        ck_assert_msg(x->d.in_stock[i], "row %u: out-of-stock product %u listed", r, i);
        ck_assert_msg(!bought(&x->t, r, i), "row %u: bought product %u listed", r, i);
        if (j > 0) {
            float a = l->scores[li * l->k + j - 1], b = l->scores[li * l->k + j];
            ck_assert_msg(a > b || (a == b && l->items[li * l->k + j - 1] < i), "row %u: not ranked at %u", r, j);
        }
        for (uint32_t q = 0; q < j; q++)
            ck_assert_uint_ne(l->items[li * l->k + q], i);
    }
    return r;
}

/* Brute force in double: the n best allowed products of row r. */
static uint32_t reference(const struct fixture *x, uint32_t r, uint32_t n, uint32_t *best, double *bs)
{
    uint32_t len = 0;
    for (uint32_t i = 0; i < x->m.items; i++) {
        if (!x->d.in_stock[i] || bought(&x->t, r, i))
            continue;
        double s = 0.0;
        for (uint32_t k = 0; k < x->m.f; k++)
            s += (double)x->m.U[(size_t)r * x->m.f + k] * x->m.V[(size_t)i * x->m.f + k];
        uint32_t at = len < n ? len++ : n;
        while (at > 0 && bs[at - 1] < s) {
            if (at < n) {
                bs[at] = bs[at - 1];
                best[at] = best[at - 1];
            }
            at--;
        }
        if (at < n) {
            bs[at] = s;
            best[at] = i;
        }
    }
    return len;
}

static void check_against_reference(enum rb_score_method method)
{
    struct fixture x;
    struct rb_lists l;
    char err[RC_ERRMSG_MAX] = "";
    uint32_t n = 15;
    fixture_make(&x, 300, 700, 12, 40, 0.2, 0, 17);
    ck_assert_msg(rb_score_cf(&l, &x.m, &x.t, &x.d, n, 1, method, err) == 0, "%s", err);
    ck_assert_uint_eq(l.n, 200);
    ck_assert_uint_eq(l.k, n);
    uint32_t row = 0, best[15];
    double bs[15];
    for (size_t li = 0; li < l.n; li++) {
        uint32_t r = check_list(&l, li, &x, n, &row);
        uint32_t len = reference(&x, r, n, best, bs);
        ck_assert_uint_eq(l.len[li], len);
        for (uint32_t j = 0; j < len; j++) {
            ck_assert_msg(fabs(l.scores[li * n + j] - bs[j]) < 1e-4, "row %u rank %u: %g vs %g", r, j,
                          l.scores[li * n + j], bs[j]);
            ck_assert_msg(l.items[li * n + j] == best[j] || fabs(bs[j] - bs[j > 0 ? j - 1 : j + 1]) < 1e-4,
                          "row %u rank %u: product %u, reference %u", r, j, l.items[li * n + j], best[j]);
        }
    }
    rb_lists_release(&l);
    fixture_free(&x);
}

START_TEST(test_gemm_reference)
{
    check_against_reference(RB_SCORE_GEMM);
}
END_TEST

START_TEST(test_faiss_reference)
{
    check_against_reference(RB_SCORE_FAISS);
}
END_TEST

/* FAISS and GEMM agree on random data across GEMM blocks and tiles. */
START_TEST(test_methods_agree)
{
    struct fixture x;
    struct rb_lists a, b;
    char err[RC_ERRMSG_MAX] = "";
    uint32_t n = 20;
    fixture_make(&x, 700, 9000, 16, 60, 0.1, 1, 99);
    ck_assert_msg(rb_score_cf(&a, &x.m, &x.t, &x.d, n, 1, RB_SCORE_FAISS, err) == 0, "%s", err);
    ck_assert_msg(rb_score_cf(&b, &x.m, &x.t, &x.d, n, 1, RB_SCORE_GEMM, err) == 0, "%s", err);
    ck_assert_uint_eq(a.n, 700);
    ck_assert_uint_eq(b.n, 700);
    uint32_t ra = 0, rb = 0;
    for (size_t li = 0; li < a.n; li++) {
        check_list(&a, li, &x, n, &ra);
        check_list(&b, li, &x, n, &rb);
        ck_assert_uint_eq(a.owner_key[li], b.owner_key[li]);
        ck_assert_uint_eq(a.len[li], n);
        ck_assert_uint_eq(b.len[li], n);
        for (uint32_t j = 0; j < n; j++) {
            float sa = a.scores[li * n + j], sb = b.scores[li * n + j];
            ck_assert_msg(fabsf(sa - sb) < 1e-4f, "list %zu rank %u: faiss %g gemm %g", li, j, sa, sb);
            ck_assert_msg(a.items[li * n + j] == b.items[li * n + j] || fabsf(sa - sb) < 1e-4f,
                          "list %zu rank %u: faiss %u gemm %u", li, j, a.items[li * n + j], b.items[li * n + j]);
        }
    }
    rb_lists_release(&a);
    rb_lists_release(&b);
    fixture_free(&x);
}
END_TEST

/* Equal scores: the lower product index first, in both methods. */
START_TEST(test_ties_lower_index)
{
    struct fixture x;
    fixture_make(&x, 3, 50, 4, 0, 0.0, 1, 5);
    for (uint32_t i = 0; i < 50; i++)
        for (uint32_t k = 0; k < 4; k++)
            x.m.V[i * 4 + k] = (i % 10 == 7) ? 1.0f : 0.25f * (float)(i % 3) - 1.0f; /* 7, 17, ..., 47 tie on top */
    for (uint32_t k = 0; k < 12; k++)
        x.m.U[k] = 1.0f;
    for (enum rb_score_method meth = RB_SCORE_AUTO; meth <= RB_SCORE_GEMM; meth++) {
        struct rb_lists l;
        ck_assert_int_eq(rb_score_cf(&l, &x.m, &x.t, &x.d, 3, 1, meth, NULL), 0);
        for (size_t li = 0; li < l.n; li++) {
            ck_assert_uint_eq(l.items[li * 3 + 0], 7);
            ck_assert_uint_eq(l.items[li * 3 + 1], 17);
            ck_assert_uint_eq(l.items[li * 3 + 2], 27);
        }
        rb_lists_release(&l);
    }
    fixture_free(&x);
}
END_TEST

/* Fewer allowed candidates than n: short lists; none at all: empty lists. */
START_TEST(test_short_and_empty)
{
    struct fixture x;
    fixture_make(&x, 4, 10, 3, 0, 0.0, 1, 8);
    for (uint32_t i = 0; i < 10; i++)
        x.d.in_stock[i] = i < 6;
    /* row 0 bought 0..3, row 1 bought everything */
    rb_csr_release(&x.t.bought);
    struct rb_csr *b = &x.t.bought;
    b->rows = 4;
    b->cols = 10;
    b->indptr = calloc(5, sizeof(uint64_t));
    b->indices = malloc(sizeof(uint32_t) * 14);
    b->values = malloc(sizeof(float) * 14);
    for (uint32_t i = 0; i < 4; i++)
        b->indices[b->nnz++] = i;
    b->indptr[1] = b->nnz;
    for (uint32_t i = 0; i < 10; i++)
        b->indices[b->nnz++] = i;
    b->indptr[2] = b->indptr[3] = b->indptr[4] = b->nnz;
    for (uint32_t j = 0; j < b->nnz; j++)
        b->values[j] = 1.0f;
    for (enum rb_score_method meth = RB_SCORE_FAISS; meth <= RB_SCORE_GEMM; meth++) {
        struct rb_lists l;
        ck_assert_int_eq(rb_score_cf(&l, &x.m, &x.t, &x.d, 5, 1, meth, NULL), 0);
        ck_assert_uint_eq(l.n, 4);
        ck_assert_uint_eq(l.len[0], 2); /* 4 and 5 */
        ck_assert_uint_eq(l.len[1], 0);
        ck_assert_uint_eq(l.len[2], 5);
        uint32_t row = 0;
        for (size_t li = 0; li < l.n; li++)
            check_list(&l, li, &x, 5, &row);
        rb_lists_release(&l);
        /* without the bought exclusion every row sees all six in-stock products */
        ck_assert_int_eq(rb_score_cf(&l, &x.m, &x.t, &x.d, 10, 0, meth, NULL), 0);
        for (size_t li = 0; li < l.n; li++)
            ck_assert_uint_eq(l.len[li], 6);
        rb_lists_release(&l);
        /* nothing in stock */
        memset(x.d.in_stock, 0, 10);
        ck_assert_int_eq(rb_score_cf(&l, &x.m, &x.t, &x.d, 5, 1, meth, NULL), 0);
        for (size_t li = 0; li < l.n; li++)
            ck_assert_uint_eq(l.len[li], 0);
        rb_lists_release(&l);
        for (uint32_t i = 0; i < 10; i++)
            x.d.in_stock[i] = i < 6;
    }
    fixture_free(&x);
}
END_TEST

START_TEST(test_errors)
{
    struct fixture x;
    struct rb_lists l;
    char err[RC_ERRMSG_MAX] = "";
    fixture_make(&x, 5, 10, 3, 2, 0.0, 1, 3);
    ck_assert_int_eq(rb_score_cf(&l, &x.m, &x.t, &x.d, 0, 1, RB_SCORE_AUTO, err), RC_ERANGE);
    ck_assert_ptr_nonnull(strstr(err, "n 0"));
    ck_assert_int_eq(rb_score_cf(&l, &x.m, &x.t, &x.d, RC_LIST_MAX + 1, 1, RB_SCORE_AUTO, NULL), RC_ERANGE);
    x.m.users = 4; /* does not match the training rows */
    ck_assert_int_eq(rb_score_cf(&l, &x.m, &x.t, &x.d, 5, 1, RB_SCORE_AUTO, NULL), RC_EINTERNAL);
    x.m.users = 5;
    fixture_free(&x);
}
END_TEST

/* Ranges on the scorer's unit, side by side, are the whole run's lists bit
 * for bit (builder/stages.c shards on them); an unaligned start is refused. */
START_TEST(test_ranges_equal_whole)
{
    static const enum rb_score_method methods[] = {RB_SCORE_GEMM, RB_SCORE_FAISS};
    struct fixture x;
    char err[RC_ERRMSG_MAX] = "";
    uint32_t n = 10;
    fixture_make(&x, 1400, 900, 8, 10, 0.1, 0, 17); /* every third row wants no list */
    size_t rows = rb_score_cf_rows(&x.t);
    ck_assert_uint_gt(rows, 2 * rb_score_cf_unit(RB_SCORE_GEMM));
    for (size_t mi = 0; mi < 2; mi++) {
        enum rb_score_method m = methods[mi];
        size_t unit = rb_score_cf_unit(m);
        struct rb_lists all, part;
        ck_assert_msg(rb_score_cf(&all, &x.m, &x.t, &x.d, n, 1, m, err) == 0, "%s", err);
        ck_assert_uint_eq(all.n, rows);
        size_t at = 0;
        for (size_t from = 0; from < rows; from += unit) {
            ck_assert_msg(rb_score_cf_range(&part, &x.m, &x.t, &x.d, n, 1, m, from, from + unit, err) == 0, "%s",
                          err);
            for (size_t li = 0; li < part.n; li++, at++) {
                ck_assert_uint_eq(part.owner_key[li], all.owner_key[at]);
                ck_assert_uint_eq(part.len[li], all.len[at]);
                ck_assert_int_eq(memcmp(&part.items[li * n], &all.items[at * n], sizeof(uint32_t) * part.len[li]), 0);
                ck_assert_int_eq(memcmp(&part.scores[li * n], &all.scores[at * n], sizeof(float) * part.len[li]), 0);
            }
            rb_lists_release(&part);
        }
        ck_assert_uint_eq(at, rows);
        /* past the end: empty */
        ck_assert_int_eq(rb_score_cf_range(&part, &x.m, &x.t, &x.d, n, 1, m, rows / unit * unit + unit, SIZE_MAX,
                                           err), 0);
        ck_assert_uint_eq(part.n, 0);
        rb_lists_release(&part);
        rb_lists_release(&all);
    }
    struct rb_lists bad;
    ck_assert_int_eq(rb_score_cf_range(&bad, &x.m, &x.t, &x.d, n, 1, RB_SCORE_GEMM, 1, 10, err), RC_EINTERNAL);
    ck_assert_ptr_nonnull(strstr(err, "not a multiple"));
    fixture_free(&x);
}
END_TEST

static Suite *score_suite(void)
{
    Suite *s = suite_create("score");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_gemm_reference);
    tcase_add_test(tc, test_faiss_reference);
    tcase_add_test(tc, test_methods_agree);
    tcase_add_test(tc, test_ties_lower_index);
    tcase_add_test(tc, test_short_and_empty);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_ranges_equal_whole);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(score_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
