/*
 * test_eval.c - builder/eval.c: HR, Recall and NDCG @k of the CF lists and
 * of the most-popular baseline on a hand-made holdout whose answers are
 * worked out below, plus coverage, popularity bias, the matching of lists
 * to rows by cookie key, and the errors; the next-item protocol of the
 * browsing route on hand-made sessions and lists (test_next_item).
 */
#include "eval.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/* CSR from (row, col) pairs given row by row, columns ascending. */
static void csr(struct rb_csr *m, uint32_t rows, uint32_t cols, const uint32_t (*pairs)[2], uint32_t n)
{
    memset(m, 0, sizeof(*m));
    m->rows = rows;
    m->cols = cols;
    m->nnz = n;
    m->indptr = calloc(rows + 1, sizeof(uint64_t));
    m->indices = malloc(sizeof(uint32_t) * (n + 1));
    m->values = malloc(sizeof(float) * (n + 1));
    for (uint32_t j = 0; j < n; j++) {
        m->indices[j] = pairs[j][1];
        m->values[j] = 1.0f;
        m->indptr[pairs[j][0] + 1]++;
    }
    for (uint32_t r = 0; r < rows; r++)
        m->indptr[r + 1] += m->indptr[r];
}

/*
 * 4 rows (cookies 3, 2, 1, 0), 10 products, product 9 out of stock.
 * Training purchases (bought, also ui):
 *   row 0: 0 1     row 1: 0 2     row 2: 0 1    row 3: 0 3
 * popularity: 0 (4 purchases) > 1 (2) > 2, 3 (1 each; ui weight equal, so
 * lower index first) > the rest (0) by index: 0 1 2 3 4 5 6 7 8.
 * Held out: row 0: {4, 5}   row 1: {1}   row 2: {}   row 3: {9}
 */
struct fixture {
    struct rb_train t;
    struct rb_dataset d;
};

static void fixture_make(struct fixture *x)
{
    memset(x, 0, sizeof(*x));
    static const uint32_t bought[][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 2}, {2, 0}, {2, 1}, {3, 0}, {3, 3}};
    static const uint32_t held[][2] = {{0, 4}, {0, 5}, {1, 1}, {3, 9}};
    csr(&x->t.ui, 4, 10, bought, 8);
    csr(&x->t.bought, 4, 10, bought, 8);
    csr(&x->t.heldout, 4, 10, held, 4);
    x->t.row_cookie = malloc(sizeof(uint32_t) * 4);
    x->t.row_wants_list = malloc(4);
    for (uint32_t r = 0; r < 4; r++) {
        x->t.row_cookie[r] = 3 - r;
        x->t.row_wants_list[r] = 1;
    }
    x->d.cookies.n = 4;
    x->d.cookies.keys = malloc(sizeof(uint64_t) * 4);
    for (uint32_t c = 0; c < 4; c++)
        x->d.cookies.keys[c] = 1000 + 17 * c;
    x->d.products.n = 10;
    x->d.in_stock = malloc(10);
    memset(x->d.in_stock, 1, 10);
    x->d.in_stock[9] = 0;
}

static void fixture_free(struct fixture *x)
{
    rb_train_release(&x->t);
    free(x->d.cookies.keys);
    free(x->d.in_stock);
}

/* Lists for the cookies of rows[], in that order, each of len items from items[r]. */
static void lists_make(struct rb_lists *l, const struct fixture *x, const uint32_t *rows, size_t n, size_t k,
                       const uint32_t items[][5], const uint16_t *len)
{
    ck_assert_int_eq(rb_lists_init(l, n, k), 0);
    for (size_t li = 0; li < n; li++) {
        l->owner_key[li] = x->d.cookies.keys[x->t.row_cookie[rows[li]]];
        l->source[li] = RC_SRC_CF;
        l->len[li] = len[li];
        for (uint32_t j = 0; j < len[li]; j++) {
            l->items[li * k + j] = items[li][j];
            l->scores[li * k + j] = 1.0f - 0.1f * (float)j;
        }
    }
    l->n = n;
}

static double ndcg_term(uint32_t rank)
{
    return 1.0 / log2((double)rank + 2.0);
}

START_TEST(test_metrics_by_hand)
{
    struct fixture x;
    struct rb_lists l;
    struct rb_eval ev;
    char err[RC_ERRMSG_MAX] = "";
    fixture_make(&x);
    /* lists in another order than the rows: row 3, row 1, row 0, row 2 */
    static const uint32_t rows[] = {3, 1, 0, 2};
    static const uint32_t items[][5] = {
        {4, 5, 6, 7, 8}, /* row 3: held-out 9 never listable: miss */
        {2, 3, 1, 4, 5}, /* row 1: 1 at rank 2 (2 is bought, listed anyway: eval trusts the lists) */
        {5, 2, 3, 4, 6}, /* row 0: 5 at rank 0, 4 at rank 3 */
        {2, 3, 4, 5, 6}, /* row 2: nothing held out: not evaluated */
    };
    static const uint16_t len[] = {5, 5, 5, 5};
    lists_make(&l, &x, rows, 4, 5, items, len);
    ck_assert_msg(rb_eval_holdout(&ev, &l, &x.t, &x.d, 3, 1, err) == 0, "%s", err);
    ck_assert_uint_eq(ev.k, 3);
    ck_assert_uint_eq(ev.users, 3);
    /* @3: row 0 hits 5 (rank 0) only, 4 is at rank 3; row 1 hits 1 at rank 2; row 3 misses */
    ck_assert_double_eq_tol(ev.hr, 2.0 / 3.0, 1e-12);
    ck_assert_double_eq_tol(ev.recall, (1.0 / 2.0 + 1.0 / 1.0 + 0.0) / 3.0, 1e-12);
    double n0 = ndcg_term(0) / (ndcg_term(0) + ndcg_term(1)), n1 = ndcg_term(2) / ndcg_term(0);
    ck_assert_double_eq_tol(ev.ndcg, (n0 + n1) / 3.0, 1e-12);

    /*
     * Baseline @3, ranking 0 1 2 3 4 5 6 7 8 minus each row's purchases:
     *   row 0 (bought 0 1): 2 3 4 -> hits 4 at rank 2 (of {4, 5})
     *   row 1 (bought 0 2): 1 3 4 -> hits 1 at rank 0
     *   row 3 (bought 0 3): 1 2 4 -> misses 9
     */
    ck_assert_double_eq_tol(ev.pop_hr, 2.0 / 3.0, 1e-12);
    ck_assert_double_eq_tol(ev.pop_recall, (0.5 + 1.0) / 3.0, 1e-12);
    double p0 = ndcg_term(2) / (ndcg_term(0) + ndcg_term(1)), p1 = 1.0;
    ck_assert_double_eq_tol(ev.pop_ndcg, (p0 + p1) / 3.0, 1e-12);
    /* P@3: one hit each for rows 0 and 1, for CF and the baseline alike */
    ck_assert_double_eq_tol(ev.precision, 2.0 / 9.0, 1e-12);
    ck_assert_double_eq_tol(ev.pop_precision, 2.0 / 9.0, 1e-12);
    ck_assert_double_eq_tol(rb_eval_lift(&ev), (n0 + n1) / (p0 + p1), 1e-12);

    /* coverage: products 1..8 listed = 8 of 9 in stock; top 1% = product 0 only, never listed */
    ck_assert_double_eq_tol(ev.coverage, 8.0 / 9.0, 1e-12);
    ck_assert_double_eq_tol(ev.pop_bias, 0.0, 1e-12);

    /* Lists scored with --keep-bought: the baseline keeps bought products
     * too, 0 1 2 for every row: row 0 misses {4, 5}, row 1 hits 1 at rank
     * 1, row 3 misses 9. The CF figures do not change. */
    ck_assert_msg(rb_eval_holdout(&ev, &l, &x.t, &x.d, 3, 0, err) == 0, "%s", err);
    ck_assert_uint_eq(ev.users, 3);
    ck_assert_double_eq_tol(ev.hr, 2.0 / 3.0, 1e-12);
    ck_assert_double_eq_tol(ev.pop_hr, 1.0 / 3.0, 1e-12);
    ck_assert_double_eq_tol(ev.pop_recall, 1.0 / 3.0, 1e-12);
    ck_assert_double_eq_tol(ev.pop_ndcg, ndcg_term(1) / ndcg_term(0) / 3.0, 1e-12);
    rb_lists_release(&l);

    /* @1 and a list holding the most popular product */
    static const uint32_t items2[][5] = {{0, 9}, {1}};
    static const uint16_t len2[] = {2, 1};
    static const uint32_t rows2[] = {3, 1};
    lists_make(&l, &x, rows2, 2, 5, items2, len2);
    ck_assert_int_eq(rb_eval_holdout(&ev, &l, &x.t, &x.d, 1, 1, NULL), 0);
    ck_assert_uint_eq(ev.users, 2); /* row 0 has no list now */
    ck_assert_double_eq_tol(ev.hr, 0.5, 1e-12);
    ck_assert_double_eq_tol(ev.recall, 0.5, 1e-12);
    ck_assert_double_eq_tol(ev.ndcg, 0.5, 1e-12);
    /* baseline @1: row 3 gets 1 (miss), row 1 gets 1 (hit) */
    ck_assert_double_eq_tol(ev.pop_hr, 0.5, 1e-12);
    /* slots: 0, 9, 1 -> product 0 is the top 1%; 9 is not in stock but was listed */
    ck_assert_double_eq_tol(ev.pop_bias, 1.0 / 3.0, 1e-12);
    ck_assert_double_eq_tol(ev.coverage, 3.0 / 9.0, 1e-12);
    rb_lists_release(&l);
    fixture_free(&x);
}
END_TEST

/* Short lists count as misses past their end; no held-out rows: zeros. */
START_TEST(test_short_lists_and_no_holdout)
{
    struct fixture x;
    struct rb_lists l;
    struct rb_eval ev;
    fixture_make(&x);
    static const uint32_t rows[] = {0};
    static const uint32_t items[][5] = {{4}};
    static const uint16_t len[] = {1};
    lists_make(&l, &x, rows, 1, 5, items, len);
    ck_assert_int_eq(rb_eval_holdout(&ev, &l, &x.t, &x.d, 10, 1, NULL), 0);
    ck_assert_uint_eq(ev.users, 1);
    ck_assert_double_eq_tol(ev.hr, 1.0, 1e-12);
    ck_assert_double_eq_tol(ev.recall, 0.5, 1e-12);
    ck_assert_double_eq_tol(ev.ndcg, 1.0 / (1.0 + ndcg_term(1)), 1e-12);
    /* baseline @10: 2 3 4 5 6 7 8 -> both held-out items, ranks 2 and 3 */
    ck_assert_double_eq_tol(ev.pop_recall, 1.0, 1e-12);
    ck_assert_double_eq_tol(ev.pop_ndcg, (ndcg_term(2) + ndcg_term(3)) / (1.0 + ndcg_term(1)), 1e-12);

    rb_csr_release(&x.t.heldout); /* holdout off */
    ck_assert_int_eq(rb_eval_holdout(&ev, &l, &x.t, &x.d, 10, 1, NULL), 0);
    ck_assert_uint_eq(ev.users, 0);
    ck_assert_double_eq(ev.hr, 0.0);
    ck_assert_double_eq(ev.pop_hr, 0.0);
    ck_assert_double_eq_tol(ev.coverage, 1.0 / 9.0, 1e-12);
    rb_lists_release(&l);
    fixture_free(&x);
}
END_TEST

START_TEST(test_errors)
{
    struct fixture x;
    struct rb_lists l;
    struct rb_eval ev;
    char err[RC_ERRMSG_MAX] = "";
    fixture_make(&x);
    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(rb_eval_holdout(&ev, &l, &x.t, &x.d, 0, 1, err), RC_ERANGE);
    ck_assert_ptr_nonnull(strstr(err, "k 0"));
    ck_assert_int_eq(rb_eval_holdout(&ev, &l, &x.t, &x.d, RC_LIST_MAX + 1, 1, NULL), RC_ERANGE);
    /* no lists at all is fine */
    ck_assert_int_eq(rb_eval_holdout(&ev, &l, &x.t, &x.d, 5, 1, NULL), 0);
    ck_assert_uint_eq(ev.users, 0);
    ck_assert_double_eq(ev.coverage, 0.0);
    fixture_free(&x);
}
END_TEST

/* rb_eval_health on the fixture: products 0-3 have training interactions, 4-8 none. */
START_TEST(test_health)
{
    struct fixture x;
    struct rb_lists l;
    struct rb_health h;
    fixture_make(&x);
    static const uint32_t rows[] = {0, 1};
    static const uint16_t len[] = {3, 3};

    /* lists of products somebody interacted with, falling scores: healthy */
    static const uint32_t warm[][5] = {{2, 3, 4}, {1, 3, 5}};
    lists_make(&l, &x, rows, 2, 5, warm, len);
    ck_assert_int_eq(rb_eval_health(&h, &l, NULL, &x.t, NULL), 0);
    ck_assert_uint_eq(h.slots, 6);
    ck_assert_uint_eq(h.distinct, 5);
    ck_assert_double_eq_tol(h.cold_share, 2.0 / 6.0, 1e-12);
    ck_assert_double_eq_tol(h.spread, 0.2, 1e-6); /* (1 - 0.8) / 1 */
    ck_assert_int_eq(h.degenerate, 0);
    ck_assert_ptr_null(h.reason);

    /* the same lists with one score everywhere: near-constant */
    for (size_t i = 0; i < l.n * l.k; i++)
        l.scores[i] = 0.5f;
    ck_assert_int_eq(rb_eval_health(&h, &l, NULL, &x.t, NULL), 0);
    ck_assert_int_eq(h.degenerate, 1);
    ck_assert_str_eq(h.reason, "near-constant scores");

    /* factors of the interacted products all zero: collapsed */
    for (size_t i = 0; i < l.n * l.k; i++)
        l.scores[i] = 1.0f - 0.1f * (float)(i % l.k);
    struct rb_als_model m = {.users = 4, .items = 10, .f = 2};
    m.U = calloc(8, sizeof(float));
    m.V = calloc(20, sizeof(float));
    for (uint32_t i = 4; i < 10; i++)
        m.V[i * 2] = 1.0f; /* only products nobody touched have factors */
    ck_assert_int_eq(rb_eval_health(&h, &l, &m, &x.t, NULL), 0);
    ck_assert_double_eq_tol(h.factor_norm, 0.0, 1e-12);
    ck_assert_str_eq(h.reason, "collapsed factors");
    for (uint32_t i = 0; i < 4; i++)
        m.V[i * 2 + 1] = 0.5f;
    ck_assert_int_eq(rb_eval_health(&h, &l, &m, &x.t, NULL), 0);
    ck_assert_double_eq_tol(h.factor_norm, 0.5, 1e-6);
    ck_assert_int_eq(h.degenerate, 0);
    rb_als_release(&m);
    rb_lists_release(&l);

    /* lists of products no one interacted with */
    static const uint32_t cold[][5] = {{4, 5, 6}, {6, 7, 1}};
    lists_make(&l, &x, rows, 2, 5, cold, len);
    ck_assert_int_eq(rb_eval_health(&h, &l, NULL, &x.t, NULL), 0);
    ck_assert_double_eq_tol(h.cold_share, 5.0 / 6.0, 1e-12);
    ck_assert_str_eq(h.reason, "lists of products no one interacted with");
    rb_lists_release(&l);

    /* RB_HEALTH_MIN_LISTS cookies, all given {0, 1, 2} of a 5-long list: 3 distinct < 15 */
    ck_assert_int_eq(rb_lists_init(&l, RB_HEALTH_MIN_LISTS, 5), 0);
    for (size_t li = 0; li < l.n; li++) {
        l.len[li] = 3;
        for (uint32_t j = 0; j < 3; j++) {
            l.items[li * 5 + j] = j;
            l.scores[li * 5 + j] = 1.0f - 0.1f * (float)j;
        }
    }
    ck_assert_int_eq(rb_eval_health(&h, &l, NULL, &x.t, NULL), 0);
    ck_assert_uint_eq(h.distinct, 3);
    ck_assert_str_eq(h.reason, "the same few products for every cookie");
    l.n = RB_HEALTH_MIN_LISTS - 1; /* fewer lists: not judged */
    ck_assert_int_eq(rb_eval_health(&h, &l, NULL, &x.t, NULL), 0);
    ck_assert_int_eq(h.degenerate, 0);
    l.n = RB_HEALTH_MIN_LISTS;
    /* judged over the first n entries: 3 distinct is enough for lists of 1
     * (the rules' candidates: rb_eval_health_n), and the slots are n a list */
    ck_assert_int_eq(rb_eval_health_n(&h, &l, NULL, &x.t, 1, NULL), 0);
    ck_assert_uint_eq(h.slots, RB_HEALTH_MIN_LISTS);
    ck_assert_uint_eq(h.distinct, 1);
    ck_assert_str_eq(h.reason, "the same few products for every cookie"); /* 1 < 3 x 1 */
    for (size_t li = 0; li < l.n; li++)
        l.items[li * 5] = (uint32_t)(li % 3);
    ck_assert_int_eq(rb_eval_health_n(&h, &l, NULL, &x.t, 1, NULL), 0);
    ck_assert_uint_eq(h.distinct, 3);
    ck_assert_int_eq(h.degenerate, 0);
    rb_lists_release(&l);
    fixture_free(&x);
}
END_TEST

/*
 * The next-item protocol on a hand-made case. Products 0..5, all in stock.
 * Sessions: s0 (training) 3 3 4; s1 (held out) 0 1 1 2: steps 0->1, 1->2
 * (the repeat of 1 merged). Fill (training events): 3, then 4. k = 2.
 *   coview  0: 1 (1.0), 2 (0.5)   1: 3 (1.0)
 *   image   0: 2 (0.9), 5 (0.8)   1: 2 (0.3)
 *   baseline                      1: 2
 * coview:   0->1 rank 1; 1->2 [3, 4] miss         HR 0.5 MRR 0.5
 * image:    0->1 [2, 5] miss; 1->2 [2, 3] rank 1  HR 0.5 MRR 0.5
 * baseline: 0->1 [3, 4] miss; 1->2 rank 1         HR 0.5 MRR 0.5
 * pop:      both miss                             HR 0   MRR 0
 * blend w = 0:   as image                         HR 0.5 MRR 0.5
 * blend w = 0.5: 0->1 1 (0.5) > 2 (0.45) > 5 (0.4): rank 1;
 *                1->2 3 (0.5) > 2 (0.15): rank 2  HR 1   MRR 0.75, chosen
 */
static void next_list(struct rb_lists *l, size_t i, const struct rb_dataset *d, uint32_t owner, const uint32_t *items,
                      const float *scores, uint16_t n)
{
    l->owner_key[i] = d->products.keys[owner];
    l->len[i] = n;
    for (uint16_t j = 0; j < n; j++) {
        l->items[i * l->k + j] = items[j];
        l->scores[i * l->k + j] = scores[j];
    }
}

START_TEST(test_next_item)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    for (int p = 0; p < 6; p++) {
        char id[8];
        uint32_t idx;
        snprintf(id, sizeof(id), "p%d", p);
        ck_assert_int_eq(rb_strtab_intern(&d.products, id, strlen(id), &idx), 0);
    }
    static const uint32_t prods[] = {3, 3, 4, 0, 1, 1, 2};
    d.nevents = d.events_cap = 7;
    d.events = calloc(7, sizeof(*d.events));
    for (int i = 0; i < 7; i++) {
        d.events[i].product = prods[i];
        d.events[i].ts = i;
    }
    uint32_t order[] = {0, 1, 2, 3, 4, 5, 6};
    uint64_t start[] = {0, 3, 7};
    uint32_t cookie[] = {0, 0};
    struct rb_sessions s = {.n = 2, .nevents = 7, .order = order, .start = start, .cookie = cookie};
    uint8_t held[] = {0, 1};
    struct rb_lists cov, img, base;
    ck_assert_int_eq(rb_lists_init(&cov, 2, 4), 0);
    ck_assert_int_eq(rb_lists_init(&img, 2, 4), 0);
    ck_assert_int_eq(rb_lists_init(&base, 1, 4), 0);
    next_list(&cov, 0, &d, 0, (uint32_t[]){1, 2}, (float[]){1.0f, 0.5f}, 2);
    next_list(&cov, 1, &d, 1, (uint32_t[]){3}, (float[]){1.0f}, 1);
    next_list(&img, 0, &d, 0, (uint32_t[]){2, 5}, (float[]){0.9f, 0.8f}, 2);
    next_list(&img, 1, &d, 1, (uint32_t[]){2}, (float[]){0.3f}, 1);
    next_list(&base, 0, &d, 1, (uint32_t[]){2}, (float[]){1.0f}, 1);

    struct rb_next_eval e;
    char err[RC_ERRMSG_MAX];
    const double grid[] = {0, 0.5};
    ck_assert_int_eq(rb_eval_next_item(&e, &cov, &img, &base, &s, held, &d, 2, grid, 2, err), 0);
    ck_assert_uint_eq(e.sessions, 1);
    ck_assert_uint_eq(e.steps, 2);
    ck_assert_double_eq_tol(e.hr[RB_NEXT_COVIEW], 0.5, 1e-12);
    ck_assert_double_eq_tol(e.mrr[RB_NEXT_COVIEW], 0.5, 1e-12);
    ck_assert_double_eq_tol(e.hr[RB_NEXT_IMAGE], 0.5, 1e-12);
    ck_assert_double_eq_tol(e.hr[RB_NEXT_BASELINE], 0.5, 1e-12);
    ck_assert_double_eq_tol(e.hr[RB_NEXT_POP], 0, 1e-12);
    ck_assert_double_eq_tol(e.grid_hr[0], 0.5, 1e-12);
    ck_assert_double_eq_tol(e.grid_mrr[0], 0.5, 1e-12);
    ck_assert_double_eq_tol(e.weight, 0.5, 1e-12);
    ck_assert_double_eq_tol(e.hr[RB_NEXT_BLEND], 1.0, 1e-12);
    ck_assert_double_eq_tol(e.mrr[RB_NEXT_BLEND], 0.75, 1e-12);
    for (int i = 0; i < RB_NEXT_KINDS; i++)
        ck_assert_int_eq(e.have[i], 1);

    /* w = 0.99 merges as 0.5 does here; w = 1 answers from each coview list
     * alone (no image item after it): exactly the coview row. */
    const double grid4[] = {0, 0.5, 0.99, 1};
    ck_assert_int_eq(rb_eval_next_item(&e, &cov, &img, &base, &s, held, &d, 2, grid4, 4, err), 0);
    ck_assert_double_eq_tol(e.grid_hr[2], 1.0, 1e-12);
    ck_assert_double_eq_tol(e.grid_mrr[2], 0.75, 1e-12);
    ck_assert_double_eq_tol(e.grid_hr[3], e.hr[RB_NEXT_COVIEW], 1e-12);
    ck_assert_double_eq_tol(e.grid_mrr[3], e.mrr[RB_NEXT_COVIEW], 1e-12);
    ck_assert_double_eq_tol(e.weight, 0.5, 1e-12); /* ties go to the earlier weight */

    /* Without image lists the blend is the coview list; no baseline: not measured. */
    ck_assert_int_eq(rb_eval_next_item(&e, &cov, NULL, NULL, &s, held, &d, 2, grid, 2, err), 0);
    ck_assert_int_eq(e.have[RB_NEXT_IMAGE], 0);
    ck_assert_int_eq(e.have[RB_NEXT_BASELINE], 0);
    ck_assert_double_eq_tol(e.hr[RB_NEXT_BLEND], 0.5, 1e-12);

    /* Errors. */
    const double bad[] = {1.5};
    ck_assert_int_eq(rb_eval_next_item(&e, &cov, &img, &base, &s, held, &d, 2, bad, 1, err), RC_ERANGE);
    ck_assert_int_eq(rb_eval_next_item(&e, &cov, &img, &base, &s, held, &d, 0, grid, 2, err), RC_ERANGE);
    ck_assert_int_eq(rb_eval_next_item(&e, &cov, &img, &base, &s, held, &d, 2, grid, 0, err), RC_ERANGE);

    rb_lists_release(&cov);
    rb_lists_release(&img);
    rb_lists_release(&base);
    rb_dataset_release(&d);
}
END_TEST

/*
 * Diversity (rb_eval_diversity) by hand: 6 products in stock and one out
 * of stock (p6, in no list); categories 0 0 1 1 - 2 (p4 has none);
 * embeddings of p0..p3 only: p0 = p1 = (1, 0), p2 = (0, 1), p3 = (-1, 0).
 *   list A: p0 p1 p2   category pairs: (0,1) alike, (0,2) (1,2) differ: 2/3;
 *                      1 - cosine: 0, 1, 1: 2/3
 *   list B: p3 p4 p5   only (3,5) has both categories, and they differ: 1;
 *                      no pair with both embeddings
 *   list C: p5         no pair
 * At k 3: coverage 6/6, ild_category (2/3 + 1) / 2, ild_embedding 2/3 (A's).
 * At k 2: A is p0 p1 (alike: 0 and 0), B p3 p4 (no pair with both), C p5:
 * coverage 5/6, ild_category 0, ild_embedding 0.
 */
START_TEST(test_diversity)
{
    struct rb_dataset d;
    memset(&d, 0, sizeof(d));
    d.products.n = 7;
    uint32_t cat[7] = {0, 0, 1, 1, RB_NONE, 2, 2};
    uint8_t stock[7] = {1, 1, 1, 1, 1, 1, 0};
    float emb[8] = {1, 0, 1, 0, 0, 1, -1, 0};
    uint32_t emb_product[4] = {0, 1, 2, 3};
    d.category = cat;
    d.in_stock = stock;
    d.emb = emb;
    d.emb_product = emb_product;
    d.emb_rows = 4;
    d.dim = 2;
    struct rb_lists l;
    ck_assert_int_eq(rb_lists_init(&l, 3, 3), 0);
    const uint32_t items[9] = {0, 1, 2, 3, 4, 5, 5, 0, 0};
    memcpy(l.items, items, sizeof(items));
    l.len[0] = 3;
    l.len[1] = 3;
    l.len[2] = 1;
    struct rb_diversity v;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_eval_diversity(&v, &l, &d, 3, err), 0);
    ck_assert_uint_eq(v.lists, 3);
    ck_assert_uint_eq(v.entries, 7);
    ck_assert_double_eq_tol(v.coverage, 6.0 / 6.0, 1e-9);
    ck_assert_double_eq_tol(v.ild_category, (2.0 / 3.0 + 1.0) / 2.0, 1e-9);
    ck_assert_double_eq_tol(v.ild_embedding, 2.0 / 3.0, 1e-9);
    ck_assert_int_eq(rb_eval_diversity(&v, &l, &d, 2, err), 0);
    ck_assert_double_eq_tol(v.coverage, 5.0 / 6.0, 1e-9);
    ck_assert_double_eq_tol(v.ild_category, 0.0, 1e-9);
    ck_assert_double_eq_tol(v.ild_embedding, 0.0, 1e-9);
    /* no categories, no embeddings: NAN, not 0 */
    d.category = NULL;
    d.emb_rows = 0;
    ck_assert_int_eq(rb_eval_diversity(&v, &l, &d, 3, err), 0);
    ck_assert(isnan(v.ild_category) && isnan(v.ild_embedding));
    ck_assert_int_eq(rb_eval_diversity(&v, &l, &d, 0, err), RC_ERANGE);
    rb_lists_release(&l);
}
END_TEST

static Suite *eval_suite(void)
{
    Suite *s = suite_create("eval");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_metrics_by_hand);
    tcase_add_test(tc, test_short_lists_and_no_holdout);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_health);
    tcase_add_test(tc, test_next_item);
    tcase_add_test(tc, test_diversity);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(eval_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
