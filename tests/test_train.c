/*
 * test_train.c - builder/train.c on tiny hand-made datasets with exact
 * expected matrices: weights, decay from the newest event, the window, the
 * activity threshold, min_purchases, the holdout (and that held-out
 * products leave training entirely), the transpose and determinism.
 */
#include "train.h"

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define DAY 86400

static uint32_t intern(struct rb_strtab *t, const char *s)
{
    uint32_t idx;
    ck_assert_int_eq(rb_strtab_intern(t, s, strlen(s), &idx), 0);
    return idx;
}

/* Append one event; cookies and products are interned in first-use order. */
static void add(struct rb_dataset *d, int64_t ts, const char *cookie, const char *product, int type)
{
    if (d->nevents == d->events_cap) {
        d->events_cap = d->events_cap ? d->events_cap * 2 : 16;
        d->events = realloc(d->events, d->events_cap * sizeof(*d->events));
        ck_assert_ptr_nonnull(d->events);
    }
    struct rb_event *e = &d->events[d->nevents];
    memset(e, 0, sizeof(*e));
    e->ts = ts;
    e->cookie = intern(&d->cookies, cookie);
    e->product = intern(&d->products, product);
    e->loc = RB_NONE16;
    e->device = RB_NONE16;
    e->type = (uint8_t)type;
    if (d->nevents == 0 || ts < d->ts_min)
        d->ts_min = ts;
    if (d->nevents == 0 || ts > d->ts_max)
        d->ts_max = ts;
    d->nevents++;
}

static uint32_t P(const struct rb_dataset *d, const char *s)
{
    uint32_t i = rb_strtab_find(&d->products, s, strlen(s));
    ck_assert_uint_ne(i, RB_NONE);
    return i;
}

static uint32_t C(const struct rb_dataset *d, const char *s)
{
    uint32_t i = rb_strtab_find(&d->cookies, s, strlen(s));
    ck_assert_uint_ne(i, RB_NONE);
    return i;
}

/* Row r of m is exactly {idx[i]: val[i]} (idx ascending). */
static void expect_row(const struct rb_csr *m, uint32_t r, size_t n, const uint32_t *idx, const float *val)
{
    ck_assert_uint_lt(r, m->rows);
    uint64_t b = m->indptr[r], e = m->indptr[r + 1];
    ck_assert_msg(e - b == n, "row %u has %llu entries, want %zu", r, (unsigned long long)(e - b), n);
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_eq(m->indices[b + i], idx[i]);
        if (val)
            ck_assert_msg(fabsf(m->values[b + i] - val[i]) <= 1e-5f * fmaxf(1.0f, fabsf(val[i])),
                          "row %u entry %zu: %.7g, want %.7g", r, i, (double)m->values[b + i], (double)val[i]);
    }
}

static void expect_empty(const struct rb_csr *m, uint32_t r)
{
    expect_row(m, r, 0, NULL, NULL);
}

/* Structural invariants every build must hold. */
static void check_invariants(const struct rb_train *t, const struct rb_dataset *d)
{
    const struct rb_csr *m[] = {&t->ui, &t->bought, &t->heldout};
    for (int k = 0; k < 3; k++) {
        ck_assert_uint_eq(m[k]->rows, t->ui.rows);
        ck_assert_uint_eq(m[k]->cols, d->products.n);
        ck_assert_uint_eq(m[k]->indptr[0], 0);
        ck_assert_uint_eq(m[k]->indptr[m[k]->rows], m[k]->nnz);
        for (uint32_t r = 0; r < m[k]->rows; r++)
            for (uint64_t j = m[k]->indptr[r]; j < m[k]->indptr[r + 1]; j++) {
                ck_assert_uint_lt(m[k]->indices[j], m[k]->cols);
                if (j > m[k]->indptr[r])
                    ck_assert_uint_lt(m[k]->indices[j - 1], m[k]->indices[j]);
            }
    }
    for (uint32_t r = 0; r < t->ui.rows; r++) {
        ck_assert_uint_gt(t->ui.indptr[r + 1], t->ui.indptr[r]); /* no empty rows */
        if (r)
            ck_assert_uint_lt(t->row_cookie[r - 1], t->row_cookie[r]);
    }
    /* iu is the transpose of ui. */
    ck_assert_uint_eq(t->iu.rows, t->ui.cols);
    ck_assert_uint_eq(t->iu.cols, t->ui.rows);
    ck_assert_uint_eq(t->iu.nnz, t->ui.nnz);
    for (uint32_t c = 0; c < t->iu.rows; c++)
        for (uint64_t j = t->iu.indptr[c]; j < t->iu.indptr[c + 1]; j++) {
            uint32_t r = t->iu.indices[j];
            if (j > t->iu.indptr[c])
                ck_assert_uint_lt(t->iu.indices[j - 1], r);
            int found = 0;
            for (uint64_t k = t->ui.indptr[r]; k < t->ui.indptr[r + 1]; k++)
                if (t->ui.indices[k] == c) {
                    ck_assert(t->ui.values[k] == t->iu.values[j]);
                    found = 1;
                }
            ck_assert(found);
        }
}

static struct rb_train_opts no_decay(void)
{
    struct rb_train_opts o;
    rb_train_opts_default(&o);
    o.half_life_days = 0;
    return o;
}

START_TEST(test_defaults)
{
    struct rb_train_opts o;
    memset(&o, 0xab, sizeof(o));
    rb_train_opts_default(&o);
    ck_assert_float_eq(o.weight[RB_VIEW], 1.0f);
    ck_assert_float_eq(o.weight[RB_CART], 3.0f);
    ck_assert_float_eq(o.weight[RB_PURCHASE], 10.0f);
    ck_assert_double_eq(o.half_life_days, 14.0);
    ck_assert_double_eq(o.window_days, 0.0);
    ck_assert_uint_eq(o.min_events, 1);
    ck_assert_double_eq(o.active_days, 0.0);
    ck_assert_uint_eq(o.min_purchases, 1);
    ck_assert_uint_eq(o.holdout, 0);
}
END_TEST

START_TEST(test_decay_function)
{
    ck_assert_double_eq(rb_decay(1000, 1000, 14), 1.0);
    ck_assert_double_eq_tol(rb_decay(1000 - 14 * DAY, 1000, 14), 0.5, 1e-12);
    ck_assert_double_eq_tol(rb_decay(1000 - 28 * DAY, 1000, 14), 0.25, 1e-12);
    ck_assert_double_eq_tol(rb_decay(1000 - 7 * DAY, 1000, 14), sqrt(0.5), 1e-12);
    ck_assert_double_eq(rb_decay(0, 1000 * DAY, 0), 1.0); /* half-life 0: no decay */
}
END_TEST

/* The window rule training and popularity share: inside when ts_max - ts <= days. */
START_TEST(test_window_start)
{
    ck_assert(rb_window_start(1000, 0) == INT64_MIN);
    ck_assert(rb_window_start(10 * DAY, 7) == 3 * DAY);
    ck_assert(rb_window_start(10 * DAY, 0.5) == 10 * DAY - DAY / 2);
    ck_assert(rb_window_start(100, 1.5 / DAY) == 99); /* 1.5 s back: 98 is outside */
    ck_assert(rb_window_start(0, 1e300) == INT64_MIN);
}
END_TEST

/* A zeroed training set releases as a no-op, twice. */
START_TEST(test_release_zeroed)
{
    struct rb_train t;
    memset(&t, 0, sizeof(t));
    rb_train_release(&t);
    rb_train_release(&t);
}
END_TEST

/* Weights summed per (row, product); columns sorted even when seen out of order. */
START_TEST(test_weights_and_layout)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    add(&d, 10, "A", "p3", RB_VIEW);
    add(&d, 11, "A", "p1", RB_VIEW);
    add(&d, 12, "B", "p2", RB_PURCHASE);
    add(&d, 13, "A", "p1", RB_VIEW);
    add(&d, 14, "A", "p2", RB_CART);
    add(&d, 15, "A", "p2", RB_PURCHASE);
    add(&d, 16, "C", "p3", RB_VIEW); /* views only: a row, but no CF list */
    struct rb_train_opts o = no_decay();
    struct rb_train t;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_msg(rb_train_build(&t, &d, &o, err) == 0, "%s", err);
    check_invariants(&t, &d);
    uint32_t p1 = P(&d, "p1"), p2 = P(&d, "p2"), p3 = P(&d, "p3");
    ck_assert_uint_eq(p3, 0); /* interned first: columns are not sorted by first sight */
    ck_assert_uint_eq(t.ui.rows, 3);
    ck_assert_uint_eq(t.ui.cols, 3);
    ck_assert_uint_eq(t.ui.nnz, 5);
    ck_assert_uint_eq(t.row_cookie[0], C(&d, "A"));
    ck_assert_uint_eq(t.row_cookie[1], C(&d, "B"));
    ck_assert_uint_eq(t.row_cookie[2], C(&d, "C"));
    expect_row(&t.ui, 0, 3, (uint32_t[]){p3, p1, p2}, (float[]){1, 2, 13});
    expect_row(&t.ui, 1, 1, (uint32_t[]){p2}, (float[]){10});
    expect_row(&t.ui, 2, 1, (uint32_t[]){p3}, (float[]){1});
    expect_row(&t.bought, 0, 1, (uint32_t[]){p2}, (float[]){1});
    expect_row(&t.bought, 1, 1, (uint32_t[]){p2}, (float[]){1});
    expect_empty(&t.bought, 2);
    ck_assert_uint_eq(t.row_wants_list[0], 1);
    ck_assert_uint_eq(t.row_wants_list[1], 1);
    ck_assert_uint_eq(t.row_wants_list[2], 0);
    ck_assert_uint_eq(t.heldout.nnz, 0);
    /* iu: product p2 -> rows A (3 + 10) and B (10). */
    expect_row(&t.iu, p2, 2, (uint32_t[]){0, 1}, (float[]){13, 10});
    expect_row(&t.iu, p3, 2, (uint32_t[]){0, 2}, (float[]){1, 1});

    /* Other weights. */
    rb_train_release(&t);
    o.weight[RB_VIEW] = 0.5f;
    o.weight[RB_CART] = 0;
    o.weight[RB_PURCHASE] = 4;
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), 0);
    check_invariants(&t, &d);
    expect_row(&t.ui, 0, 3, (uint32_t[]){p3, p1, p2}, (float[]){0.5f, 1, 4});
    rb_train_release(&t);
    rb_dataset_release(&d);
}
END_TEST

/* Decay from the newest event of the dataset, not the cookie's or the clock. */
START_TEST(test_decay)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    const int64_t now = 1700000000;
    add(&d, now - 2 * DAY, "A", "p1", RB_PURCHASE);
    add(&d, now - 1 * DAY, "A", "p1", RB_VIEW);
    add(&d, now - 3 * DAY, "B", "p2", RB_CART);
    add(&d, now, "C", "p2", RB_VIEW);
    struct rb_train_opts o;
    rb_train_opts_default(&o);
    o.half_life_days = 1;
    struct rb_train t;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), 0);
    check_invariants(&t, &d);
    expect_row(&t.ui, 0, 1, (uint32_t[]){0}, (float[]){10 * 0.25f + 1 * 0.5f});
    expect_row(&t.ui, 1, 1, (uint32_t[]){1}, (float[]){3 * 0.125f});
    expect_row(&t.ui, 2, 1, (uint32_t[]){1}, (float[]){1});
    rb_train_release(&t);

    o.half_life_days = 2;
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), 0);
    expect_row(&t.ui, 0, 1, (uint32_t[]){0}, (float[]){10 * 0.5f + 1 * (float)M_SQRT1_2});
    rb_train_release(&t);

    /* Thousands of half-lives old: the weight rounds to 0 but the entry,
     * and the cookie's row, stay (FLT_MIN). */
    o.half_life_days = 0.001;
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), 0);
    ck_assert_uint_eq(t.ui.rows, 3);
    expect_row(&t.ui, 0, 1, (uint32_t[]){0}, NULL);
    ck_assert_float_eq(t.ui.values[0], FLT_MIN);
    expect_row(&t.ui, 2, 1, (uint32_t[]){1}, (float[]){1});
    rb_train_release(&t);
    rb_dataset_release(&d);
}
END_TEST

/* The window drops old events entirely: their weight, purchases and cookies. */
START_TEST(test_window)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    const int64_t now = 1700000000;
    add(&d, now - 10 * DAY, "A", "p1", RB_PURCHASE); /* outside 7 days */
    add(&d, now - 7 * DAY, "A", "p2", RB_VIEW);      /* exactly at the edge: kept */
    add(&d, now - 7 * DAY - 1, "A", "p3", RB_VIEW);  /* one second older: dropped */
    add(&d, now - 8 * DAY, "B", "p1", RB_PURCHASE);  /* B has nothing recent */
    add(&d, now, "C", "p1", RB_VIEW);
    struct rb_train_opts o = no_decay();
    o.window_days = 7;
    struct rb_train t;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), 0);
    check_invariants(&t, &d);
    ck_assert_uint_eq(t.ui.rows, 2);
    ck_assert_uint_eq(t.row_cookie[0], C(&d, "A"));
    ck_assert_uint_eq(t.row_cookie[1], C(&d, "C"));
    expect_row(&t.ui, 0, 1, (uint32_t[]){P(&d, "p2")}, (float[]){1});
    expect_empty(&t.bought, 0);
    ck_assert_uint_eq(t.row_wants_list[0], 0); /* its purchase is outside the window */
    ck_assert_uint_eq(t.ui.cols, 3);           /* all products remain columns */
    rb_train_release(&t);

    o.window_days = 0.5; /* only C's event */
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), 0);
    ck_assert_uint_eq(t.ui.rows, 1);
    ck_assert_uint_eq(t.row_cookie[0], C(&d, "C"));
    rb_train_release(&t);
    rb_dataset_release(&d);
}
END_TEST

/* min_events counted within active_days; a cookie under it has no row at all. */
START_TEST(test_activity_threshold)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    const int64_t now = 1700000000;
    add(&d, now - 5 * DAY, "A", "p1", RB_PURCHASE);
    add(&d, now - 5 * DAY, "A", "p2", RB_VIEW);
    add(&d, now - 0 * DAY, "A", "p3", RB_VIEW); /* A: 3 events, 1 recent */
    add(&d, now - 1 * DAY, "B", "p1", RB_VIEW);
    add(&d, now - 1 * DAY + 5, "B", "p1", RB_VIEW); /* B: 2 recent */
    add(&d, now - 9 * DAY, "E", "p2", RB_VIEW);     /* E: 1 old */
    struct rb_train_opts o = no_decay();
    o.min_events = 2;
    struct rb_train t;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), 0); /* whole window */
    check_invariants(&t, &d);
    ck_assert_uint_eq(t.ui.rows, 2);
    ck_assert_uint_eq(t.row_cookie[0], C(&d, "A"));
    ck_assert_uint_eq(t.row_cookie[1], C(&d, "B"));
    /* A's row holds all its windowed events, old ones too. */
    expect_row(&t.ui, 0, 3, (uint32_t[]){0, 1, 2}, (float[]){10, 1, 1});
    expect_row(&t.ui, 1, 1, (uint32_t[]){0}, (float[]){2});
    rb_train_release(&t);

    o.active_days = 2;
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), 0);
    check_invariants(&t, &d);
    ck_assert_uint_eq(t.ui.rows, 1);
    ck_assert_uint_eq(t.row_cookie[0], C(&d, "B"));
    expect_row(&t.iu, 0, 1, (uint32_t[]){0}, (float[]){2});
    expect_empty(&t.iu, 1);
    rb_train_release(&t);

    o.min_events = 3;
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), RC_EEMPTY);
    ck_assert_ptr_null(t.ui.indptr); /* left zeroed */
    ck_assert_msg(strstr(err, "threshold"), "message: %s", err);
    rb_train_release(&t);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_min_purchases)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    add(&d, 1, "A", "p1", RB_PURCHASE);
    add(&d, 2, "A", "p1", RB_PURCHASE); /* two purchase events of one product */
    add(&d, 3, "B", "p2", RB_PURCHASE);
    add(&d, 4, "C", "p2", RB_CART);
    struct rb_train_opts o = no_decay();
    o.min_purchases = 2;
    struct rb_train t;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), 0);
    ck_assert_uint_eq(t.ui.rows, 3);
    ck_assert_uint_eq(t.row_wants_list[0], 1);
    ck_assert_uint_eq(t.row_wants_list[1], 0);
    ck_assert_uint_eq(t.row_wants_list[2], 0);
    expect_row(&t.ui, 0, 1, (uint32_t[]){0}, (float[]){20});
    expect_row(&t.bought, 0, 1, (uint32_t[]){0}, (float[]){1});
    rb_train_release(&t);
    o.min_purchases = 0;
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), 0);
    ck_assert_uint_eq(t.row_wants_list[2], 1);
    rb_train_release(&t);
    rb_dataset_release(&d);
}
END_TEST

/*
 * Holdout 1: the product purchased last leaves training with all its events;
 * a cookie with a single distinct purchased product keeps everything.
 */
START_TEST(test_holdout_one)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    add(&d, 100, "A", "p2", RB_VIEW);     /* A looks at p2 first ... */
    add(&d, 101, "A", "p1", RB_PURCHASE);
    add(&d, 300, "A", "p2", RB_PURCHASE); /* ... and buys it last: held out */
    add(&d, 200, "A", "p3", RB_PURCHASE);
    add(&d, 150, "A", "p2", RB_CART);
    add(&d, 400, "A", "p4", RB_VIEW); /* viewed after, never bought: stays */
    add(&d, 100, "B", "p1", RB_PURCHASE);
    add(&d, 200, "B", "p1", RB_PURCHASE); /* one distinct product: not eligible */
    add(&d, 300, "B", "p2", RB_VIEW);
    struct rb_train_opts o = no_decay();
    o.holdout = 1;
    struct rb_train t;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), 0);
    check_invariants(&t, &d);
    uint32_t p1 = P(&d, "p1"), p2 = P(&d, "p2"), p3 = P(&d, "p3"), p4 = P(&d, "p4");
    ck_assert_uint_eq(t.ui.rows, 2);
    expect_row(&t.ui, 0, 3, (uint32_t[]){p1, p3, p4}, (float[]){10, 10, 1});
    expect_row(&t.bought, 0, 2, (uint32_t[]){p1, p3}, (float[]){1, 1});
    expect_row(&t.heldout, 0, 1, (uint32_t[]){p2}, (float[]){1});
    expect_row(&t.ui, 1, 2, (uint32_t[]){p2, p1}, (float[]){1, 20}); /* p2 was interned first */
    expect_empty(&t.heldout, 1);
    expect_row(&t.iu, p2, 1, (uint32_t[]){1}, (float[]){1}); /* only B's view of p2 remains */
    ck_assert_uint_eq(t.row_wants_list[0], 1);
    rb_train_release(&t);

    /* Holdout 2: B still not eligible; A holds p2 and p3; A keeps p1 and p4. */
    o.holdout = 2;
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), 0);
    check_invariants(&t, &d);
    expect_row(&t.heldout, 0, 2, (uint32_t[]){p2, p3}, (float[]){1, 1});
    expect_row(&t.ui, 0, 2, (uint32_t[]){p1, p4}, (float[]){10, 1});
    expect_row(&t.bought, 0, 1, (uint32_t[]){p1}, (float[]){1});
    rb_train_release(&t);

    /* Holdout 3: A has exactly 3 distinct purchases, needs 4: nothing held out. */
    o.holdout = 3;
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), 0);
    ck_assert_uint_eq(t.heldout.nnz, 0);
    expect_row(&t.ui, 0, 4, (uint32_t[]){p2, p1, p3, p4}, (float[]){1 + 3 + 10, 10, 10, 1});
    rb_train_release(&t);
    rb_dataset_release(&d);
}
END_TEST

/* A product's last purchase counts (an early purchase bought again late), and ties go to the later line. */
START_TEST(test_holdout_order_and_ties)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    add(&d, 100, "A", "x", RB_PURCHASE);
    add(&d, 200, "A", "y", RB_PURCHASE);
    add(&d, 300, "A", "x", RB_PURCHASE); /* x's last purchase is the latest */
    add(&d, 500, "T", "a", RB_PURCHASE);
    add(&d, 500, "T", "b", RB_PURCHASE); /* same second: the later line, b, is held out */
    add(&d, 500, "U", "b", RB_PURCHASE);
    add(&d, 500, "U", "a", RB_PURCHASE); /* reversed: a is held out */
    struct rb_train_opts o = no_decay();
    o.holdout = 1;
    struct rb_train t;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), 0);
    check_invariants(&t, &d);
    ck_assert_uint_eq(t.ui.rows, 3);
    expect_row(&t.heldout, 0, 1, (uint32_t[]){P(&d, "x")}, NULL);
    expect_row(&t.ui, 0, 1, (uint32_t[]){P(&d, "y")}, (float[]){10});
    expect_row(&t.heldout, 1, 1, (uint32_t[]){P(&d, "b")}, NULL);
    expect_row(&t.ui, 1, 1, (uint32_t[]){P(&d, "a")}, NULL);
    expect_row(&t.heldout, 2, 1, (uint32_t[]){P(&d, "a")}, NULL);
    expect_row(&t.ui, 2, 1, (uint32_t[]){P(&d, "b")}, NULL);
    rb_train_release(&t);
    rb_dataset_release(&d);
}
END_TEST

/* Zero-weight events add no entries; a cookie left with an empty row gets no row. */
START_TEST(test_zero_weight)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    add(&d, 1, "A", "p1", RB_VIEW);
    add(&d, 2, "B", "p1", RB_VIEW);
    add(&d, 3, "B", "p2", RB_CART);
    struct rb_train_opts o = no_decay();
    o.weight[RB_VIEW] = 0;
    struct rb_train t;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), 0);
    check_invariants(&t, &d);
    ck_assert_uint_eq(t.ui.rows, 1);
    ck_assert_uint_eq(t.row_cookie[0], C(&d, "B"));
    expect_row(&t.ui, 0, 1, (uint32_t[]){P(&d, "p2")}, (float[]){3});
    rb_train_release(&t);
    rb_dataset_release(&d);
}
END_TEST

/* A bigger pseudo-random dataset: invariants, and two builds give the same bytes. */
START_TEST(test_deterministic)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    uint64_t s = 42;
    char c[16], p[16];
    for (int i = 0; i < 20000; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        snprintf(c, sizeof(c), "c%u", (unsigned)(s >> 33) % 500);
        snprintf(p, sizeof(p), "p%u", (unsigned)(s >> 45) % 300);
        add(&d, 1700000000 + (int64_t)((s >> 20) % (30 * DAY)), c, p, (int)((s >> 10) % 3));
    }
    struct rb_train_opts o;
    rb_train_opts_default(&o);
    o.holdout = 2;
    o.window_days = 20;
    o.min_events = 3;
    o.active_days = 10;
    struct rb_train a, b;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_train_build(&a, &d, &o, err), 0);
    ck_assert_int_eq(rb_train_build(&b, &d, &o, err), 0);
    check_invariants(&a, &d);
    ck_assert_uint_gt(a.heldout.nnz, 0);
    ck_assert_uint_eq(a.ui.rows, b.ui.rows);
    ck_assert_uint_eq(a.ui.nnz, b.ui.nnz);
    ck_assert_int_eq(memcmp(a.ui.indptr, b.ui.indptr, (a.ui.rows + 1) * sizeof(uint64_t)), 0);
    ck_assert_int_eq(memcmp(a.ui.indices, b.ui.indices, a.ui.nnz * sizeof(uint32_t)), 0);
    ck_assert_int_eq(memcmp(a.ui.values, b.ui.values, a.ui.nnz * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(a.heldout.indices, b.heldout.indices, a.heldout.nnz * sizeof(uint32_t)), 0);
    /* Held-out products never appear in the row's training data. */
    for (uint32_t r = 0; r < a.ui.rows; r++)
        for (uint64_t h = a.heldout.indptr[r]; h < a.heldout.indptr[r + 1]; h++)
            for (uint64_t k = a.ui.indptr[r]; k < a.ui.indptr[r + 1]; k++)
                ck_assert_uint_ne(a.ui.indices[k], a.heldout.indices[h]);
    rb_train_release(&a);
    rb_train_release(&b);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_errors)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    struct rb_train_opts o;
    rb_train_opts_default(&o);
    struct rb_train t;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), RC_EEMPTY);
    add(&d, 1, "A", "p", RB_VIEW);
    o.weight[RB_CART] = -1;
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), RC_ERANGE);
    rb_train_opts_default(&o);
    o.half_life_days = NAN;
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), RC_ERANGE);
    rb_train_opts_default(&o);
    o.window_days = -1;
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), RC_ERANGE);
    rb_train_opts_default(&o);
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), 0);
    rb_train_release(&t);
    rb_dataset_release(&d);
}
END_TEST

/*
 * holdout_skip: the first `skip` products in split order leave the data
 * entirely (the evaluation's), the next `holdout` are held out (the
 * tuner's validation); a cookie with skip + 1 purchases only drops.
 */
START_TEST(test_holdout_skip)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    add(&d, 100, "A", "p1", RB_PURCHASE);
    add(&d, 200, "A", "p2", RB_PURCHASE);
    add(&d, 300, "A", "p3", RB_PURCHASE); /* latest: the evaluation's, dropped */
    add(&d, 250, "A", "p3", RB_VIEW);
    add(&d, 100, "B", "p1", RB_PURCHASE);
    add(&d, 200, "B", "p2", RB_PURCHASE); /* two purchases: drops p2, too few left to validate */
    struct rb_train_opts o = no_decay();
    o.holdout = 1;
    o.holdout_skip = 1;
    struct rb_train t;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), 0);
    check_invariants(&t, &d);
    uint32_t p1 = P(&d, "p1"), p2 = P(&d, "p2");
    ck_assert_uint_eq(t.ui.rows, 2);
    expect_row(&t.heldout, 0, 1, (uint32_t[]){p2}, NULL);
    expect_row(&t.ui, 0, 1, (uint32_t[]){p1}, (float[]){10}); /* p3's view left with it */
    expect_empty(&t.heldout, 1);
    expect_row(&t.ui, 1, 1, (uint32_t[]){p1}, (float[]){10});
    rb_train_release(&t);

    /* The same data without skip: holdout 1 holds out what skip dropped. */
    o.holdout_skip = 0;
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), 0);
    expect_row(&t.heldout, 0, 1, (uint32_t[]){P(&d, "p3")}, NULL);
    expect_row(&t.heldout, 1, 1, (uint32_t[]){p2}, NULL);
    rb_train_release(&t);
    rb_dataset_release(&d);
}
END_TEST

/*
 * RB_SPLIT_RANDOM holds out products by a seeded hash, not by time: the
 * same seed picks the same products, the choice is spread over positions,
 * and a different seed picks differently.
 */
START_TEST(test_holdout_random)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    char c[16], p[16];
    for (int u = 0; u < 200; u++)
        for (int i = 0; i < 5; i++) {
            snprintf(c, sizeof(c), "c%d", u);
            snprintf(p, sizeof(p), "p%d", i);
            add(&d, 100 + i, c, p, RB_PURCHASE); /* p4 is always the latest */
        }
    struct rb_train_opts o = no_decay();
    o.holdout = 1;
    o.holdout_split = RB_SPLIT_RANDOM;
    o.split_seed = 7;
    struct rb_train t, t2;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), 0);
    check_invariants(&t, &d);
    ck_assert_uint_eq(t.heldout.nnz, 200);
    unsigned by_product[5] = {0};
    for (uint64_t k = 0; k < t.heldout.nnz; k++)
        by_product[t.heldout.indices[k]]++;
    for (int i = 0; i < 5; i++) /* about 40 each; the temporal split would put all 200 on p4 */
        ck_assert_msg(by_product[i] >= 15 && by_product[i] <= 70, "p%d held out %u times", i, by_product[i]);
    ck_assert_int_eq(rb_train_build(&t2, &d, &o, err), 0);
    ck_assert_mem_eq(t.heldout.indices, t2.heldout.indices, t.heldout.nnz * sizeof(uint32_t));
    rb_train_release(&t2);
    o.split_seed = 8;
    ck_assert_int_eq(rb_train_build(&t2, &d, &o, err), 0);
    ck_assert_int_ne(memcmp(t.heldout.indices, t2.heldout.indices, t.heldout.nnz * sizeof(uint32_t)), 0);
    rb_train_release(&t2);
    rb_train_release(&t);
    rb_dataset_release(&d);
}
END_TEST

/* sample keeps about that share of cookies, the same ones for the same seed. */
START_TEST(test_sample)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    char c[16];
    for (int u = 0; u < 1000; u++) {
        snprintf(c, sizeof(c), "c%d", u);
        add(&d, 100, c, "p", RB_VIEW);
    }
    struct rb_train_opts o = no_decay();
    o.sample = 0.25;
    o.split_seed = 3;
    struct rb_train t, t2;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), 0);
    check_invariants(&t, &d);
    ck_assert_msg(t.ui.rows >= 200 && t.ui.rows <= 300, "kept %u of 1000", t.ui.rows);
    ck_assert_int_eq(rb_train_build(&t2, &d, &o, err), 0);
    ck_assert_uint_eq(t.ui.rows, t2.ui.rows);
    ck_assert_mem_eq(t.row_cookie, t2.row_cookie, t.ui.rows * sizeof(uint32_t));
    rb_train_release(&t2);
    rb_train_release(&t);
    o.sample = -0.5;
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), RC_ERANGE);
    rb_dataset_release(&d);
}
END_TEST

static Suite *train_suite(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_decay_function);
    tcase_add_test(tc, test_window_start);
    tcase_add_test(tc, test_release_zeroed);
    tcase_add_test(tc, test_weights_and_layout);
    tcase_add_test(tc, test_decay);
    tcase_add_test(tc, test_window);
    tcase_add_test(tc, test_activity_threshold);
    tcase_add_test(tc, test_min_purchases);
    tcase_add_test(tc, test_holdout_one);
    tcase_add_test(tc, test_holdout_order_and_ties);
    tcase_add_test(tc, test_holdout_skip);
    tcase_add_test(tc, test_holdout_random);
    tcase_add_test(tc, test_sample);
    tcase_add_test(tc, test_zero_weight);
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(train_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
