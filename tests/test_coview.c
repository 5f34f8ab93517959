/*
 * test_coview.c - builder/coview.c on a hand-made log whose counts are
 * worked out below: the 1/distance pair weights and the window, raw,
 * cosine and lift scores normalised to 1 for a list's best, the minimum
 * count, out-of-stock and self exclusion, skipped (held-out) sessions,
 * event type weights and decay, the plain count, the blend scaling, the counting
 * passes under a small memory bound, and the errors.
 *
 * Products a b c d (0..3). Sessions (views, one second apart):
 *   s0 (cookie c0): a b c
 *   s1 (cookie c1): a b
 *   s2 (cookie c2): d d      (only a product with itself: no pair)
 * Window 5, weight 1/distance:
 *   C(a,b) = 1 + 1 = 2   C(a,c) = 1/2   C(b,c) = 1
 *   n(a) = 2.5   n(b) = 3   n(c) = 1.5
 */
#include "coview.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "train.h"

struct fx {
    struct rb_dataset d;
    struct rb_sessions s;
    struct rb_train_opts t;
    struct rb_coview_opts o;
    struct rb_lists l;
    struct rb_coview_stats st;
    char err[RC_ERRMSG_MAX];
};

static uint32_t intern(struct rb_strtab *t, const char *s)
{
    uint32_t idx;
    ck_assert_int_eq(rb_strtab_intern(t, s, strlen(s), &idx), 0);
    return idx;
}

static void add(struct rb_dataset *d, const char *cookie, const char *product, int64_t ts, int type)
{
    if (d->nevents == d->events_cap) {
        d->events_cap = d->events_cap ? 2 * d->events_cap : 16;
        d->events = realloc(d->events, d->events_cap * sizeof(*d->events));
    }
    struct rb_event *e = &d->events[d->nevents++];
    memset(e, 0, sizeof(*e));
    e->ts = ts;
    e->cookie = intern(&d->cookies, cookie);
    e->product = intern(&d->products, product);
    e->type = (uint8_t)type;
    if (ts > d->ts_max)
        d->ts_max = ts;
}

static void fx_make(struct fx *x)
{
    memset(x, 0, sizeof(*x));
    rb_dataset_init(&x->d);
    add(&x->d, "c0", "a", 100, RB_VIEW);
    add(&x->d, "c0", "b", 101, RB_VIEW);
    add(&x->d, "c0", "c", 102, RB_VIEW);
    add(&x->d, "c1", "a", 200, RB_VIEW);
    add(&x->d, "c1", "b", 201, RB_VIEW);
    add(&x->d, "c2", "d", 300, RB_VIEW);
    add(&x->d, "c2", "d", 301, RB_VIEW);
    ck_assert_int_eq(rb_sessions_build(&x->s, &x->d, INT64_MIN, 1800.0, x->err), 0);
    ck_assert_uint_eq(x->s.n, 3);
    rb_train_opts_default(&x->t);
    rb_coview_opts_default(&x->o);
    ck_assert_uint_eq(x->o.min_count, 1);
    ck_assert_int_eq(x->o.typed, 0);
    ck_assert(x->o.half_life_days == 0); /* no decay unless a test asks */
}

static void fx_free(struct fx *x)
{
    rb_lists_release(&x->l);
    rb_sessions_release(&x->s);
    rb_dataset_release(&x->d);
}

static void run(struct fx *x)
{
    int rc = rb_coview(&x->l, &x->st, &x->d, &x->s, NULL, &x->t, 10, &x->o, x->err);
    ck_assert_msg(rc == 0, "%s", x->err);
}

/* The list of product p, or -1. */
static int list_of(const struct fx *x, uint32_t p)
{
    for (size_t i = 0; i < x->l.n; i++)
        if (x->l.owner_key[i] == x->d.products.keys[p])
            return (int)i;
    return -1;
}

/* List of p is exactly items[0..n) with scores[0..n) (to 1e-5). */
static void expect(const struct fx *x, uint32_t p, const uint32_t *items, const float *scores, unsigned n)
{
    int i = list_of(x, p);
    if (n == 0) {
        ck_assert_int_eq(i, -1);
        return;
    }
    ck_assert_int_ge(i, 0);
    ck_assert_uint_eq(x->l.len[i], n);
    ck_assert_uint_eq(x->l.source[i], RC_SRC_COVIEW);
    for (unsigned j = 0; j < n; j++) {
        ck_assert_uint_eq(x->l.items[(size_t)i * x->l.k + j], items[j]);
        ck_assert_msg(fabsf(x->l.scores[(size_t)i * x->l.k + j] - scores[j]) < 1e-5f, "p %u entry %u: %g, want %g",
                      p, j, (double)x->l.scores[(size_t)i * x->l.k + j], (double)scores[j]);
    }
}

START_TEST(test_raw)
{
    struct fx x;
    fx_make(&x);
    x.o.norm = RB_COVIEW_RAW;
    run(&x);
    ck_assert_uint_eq(x.l.n, 3); /* a, b, c; d has no pair */
    ck_assert_uint_eq(x.st.lists, 3);
    ck_assert_uint_eq(x.st.pairs, 8); /* (a,b) x2, (a,c), (b,c), both ways */
    ck_assert_uint_eq(x.st.passes, 1);
    expect(&x, 0, (uint32_t[]){1, 2}, (float[]){1.0f, 0.25f}, 2); /* 2, 0.5 over 2 */
    expect(&x, 1, (uint32_t[]){0, 2}, (float[]){1.0f, 0.5f}, 2);
    expect(&x, 2, (uint32_t[]){1, 0}, (float[]){1.0f, 0.5f}, 2);
    expect(&x, 3, NULL, NULL, 0);
    /* lists come in product order */
    ck_assert_uint_eq(x.l.owner_key[0], x.d.products.keys[0]);
    fx_free(&x);
}
END_TEST

START_TEST(test_cosine_and_lift)
{
    struct fx x;
    fx_make(&x);
    x.o.norm = RB_COVIEW_COSINE;
    run(&x);
    /* a: b 2/sqrt(2.5*3) = 0.7303, c 0.5/sqrt(2.5*1.5) = 0.2582 */
    expect(&x, 0, (uint32_t[]){1, 2}, (float[]){1.0f, 0.2582f / 0.7303f}, 2);
    /* c: b 1/sqrt(1.5*3) = 0.4714 first, a 0.2582 */
    expect(&x, 2, (uint32_t[]){1, 0}, (float[]){1.0f, 0.2582f / 0.4714f}, 2);
    x.o.norm = RB_COVIEW_LIFT;
    run(&x);
    /* a: b 2/3, c 0.5/1.5 */
    expect(&x, 0, (uint32_t[]){1, 2}, (float[]){1.0f, 0.5f}, 2);
    /* c: b 1/3, a 0.5/2.5 */
    expect(&x, 2, (uint32_t[]){1, 0}, (float[]){1.0f, 0.6f}, 2);
    fx_free(&x);
}
END_TEST

START_TEST(test_min_window_stock_skip)
{
    struct fx x;
    fx_make(&x);
    x.o.norm = RB_COVIEW_RAW;
    x.o.min_count = 2; /* only (a, b) co-occurs twice */
    run(&x);
    ck_assert_uint_eq(x.l.n, 2);
    expect(&x, 0, (uint32_t[]){1}, (float[]){1.0f}, 1);
    expect(&x, 1, (uint32_t[]){0}, (float[]){1.0f}, 1);
    expect(&x, 2, NULL, NULL, 0);

    x.o.min_count = 1;
    x.o.window = 1; /* (a, c) is 2 apart */
    run(&x);
    expect(&x, 0, (uint32_t[]){1}, (float[]){1.0f}, 1);
    expect(&x, 2, (uint32_t[]){1}, (float[]){1.0f}, 1);

    x.o.window = 5;
    x.d.in_stock = calloc(x.d.products.n, 1);
    memset(x.d.in_stock, 1, x.d.products.n);
    x.d.in_stock[1] = 0; /* b is never listed, but still counts for n() */
    run(&x);
    expect(&x, 0, (uint32_t[]){2}, (float[]){1.0f}, 1);
    expect(&x, 1, (uint32_t[]){0, 2}, (float[]){1.0f, 0.5f}, 2);
    free(x.d.in_stock);
    x.d.in_stock = NULL;

    /* backward 0: only "viewed after": a -> b, c; b -> c; c none */
    x.o.backward = 0;
    run(&x);
    ck_assert_uint_eq(x.l.n, 2);
    expect(&x, 0, (uint32_t[]){1, 2}, (float[]){1.0f, 0.25f}, 2);
    expect(&x, 1, (uint32_t[]){2}, (float[]){1.0f}, 1);
    expect(&x, 2, NULL, NULL, 0);
    x.o.plain = 1; /* the plain count stays symmetric */
    run(&x);
    expect(&x, 2, (uint32_t[]){1, 0}, (float[]){1.0f, 0.5f}, 2);
    x.o.plain = 0;
    x.o.backward = 1;

    uint8_t skip[3] = {1, 0, 0}; /* leave s0 out: only (a, b) from s1 */
    ck_assert_int_eq(rb_coview(&x.l, &x.st, &x.d, &x.s, skip, &x.t, 10, &x.o, x.err), 0);
    ck_assert_uint_eq(x.l.n, 2);
    expect(&x, 0, (uint32_t[]){1}, (float[]){1.0f}, 1);
    fx_free(&x);
}
END_TEST

START_TEST(test_weights_decay_plain)
{
    struct fx x;
    fx_make(&x);
    x.o.norm = RB_COVIEW_RAW;
    /* c0's c becomes a cart: untyped, nothing changes */
    x.d.events[2].type = RB_CART;
    run(&x);
    expect(&x, 0, (uint32_t[]){1, 2}, (float[]){1.0f, 0.25f}, 2);
    /* typed: (a,c) weighs (1 + 3)/2 / 2 = 1, (b,c) (1 + 3)/2 = 2 */
    x.o.typed = 1;
    run(&x);
    expect(&x, 2, (uint32_t[]){1, 0}, (float[]){1.0f, 0.5f}, 2);
    expect(&x, 0, (uint32_t[]){1, 2}, (float[]){1.0f, 0.5f}, 2); /* a: b 2, c 1 */
    /* a zero weight drops the event: c0's pairs with c vanish */
    x.t.weight[RB_CART] = 0;
    run(&x);
    expect(&x, 2, NULL, NULL, 0);
    x.t.weight[RB_CART] = 3;

    /* The plain count ignores type and keeps raw counts */
    x.o.plain = 1;
    run(&x);
    expect(&x, 0, (uint32_t[]){1, 2}, (float[]){2.0f, 0.5f}, 2);
    x.o.plain = 0;
    x.d.events[2].type = RB_VIEW;

    /* Decay: s1 is newest (ts_max 301); a half-life of 100 s in days makes
     * c0's pairs (about 200 s older) weigh about a quarter. */
    x.o.typed = 0;
    x.t.half_life_days = 0; /* the training half-life is not coview's */
    x.o.half_life_days = 100.0 / 86400.0;
    run(&x);
    /* a: b = 0.5^((301-201)/100) + 0.5^((301-101)/100) = 0.5 + 0.25, c =
     * 0.5^((301-102)/100) / 2 (the later event's decay) */
    float c = 0.5f * powf(0.5f, 1.99f);
    expect(&x, 0, (uint32_t[]){1, 2}, (float[]){1.0f, c / 0.75f}, 2);

    rb_coview_scale(&x.l, 4.0f);
    expect(&x, 0, (uint32_t[]){1, 2}, (float[]){4.0f, 4.0f * c / 0.75f}, 2);
    rb_coview_blend(&x.l, 0.2); /* w / (1 - w) = 0.25 */
    expect(&x, 0, (uint32_t[]){1, 2}, (float[]){1.0f, c / 0.75f}, 2);
    rb_coview_blend(&x.l, 1); /* 1 + s: above any cosine */
    expect(&x, 0, (uint32_t[]){1, 2}, (float[]){2.0f, 1.0f + c / 0.75f}, 2);
    fx_free(&x);
}
END_TEST

START_TEST(test_passes_deterministic)
{
    struct fx x;
    fx_make(&x);
    x.o.norm = RB_COVIEW_COSINE;
    run(&x);
    struct rb_lists one = x.l;
    memset(&x.l, 0, sizeof(x.l));
    x.o.max_pairs = 1; /* one product per pass */
    run(&x);
    ck_assert_uint_eq(x.st.passes, 3); /* a, b, c hold pairs; d does not */
    ck_assert_uint_eq(x.l.n, one.n);
    for (size_t i = 0; i < one.n; i++) {
        ck_assert_uint_eq(x.l.owner_key[i], one.owner_key[i]);
        ck_assert_uint_eq(x.l.len[i], one.len[i]);
        ck_assert_int_eq(memcmp(x.l.items + i * one.k, one.items + i * one.k, one.len[i] * sizeof(uint32_t)), 0);
        ck_assert_int_eq(memcmp(x.l.scores + i * one.k, one.scores + i * one.k, one.len[i] * sizeof(float)), 0);
    }
    rb_lists_release(&one);
    fx_free(&x);
}
END_TEST

START_TEST(test_errors)
{
    struct fx x;
    fx_make(&x);
    x.o.window = 0;
    ck_assert_int_eq(rb_coview(&x.l, &x.st, &x.d, &x.s, NULL, &x.t, 10, &x.o, x.err), RC_ERANGE);
    ck_assert_ptr_nonnull(strstr(x.err, "window"));
    x.o.window = 5;
    ck_assert_int_eq(rb_coview(&x.l, &x.st, &x.d, &x.s, NULL, &x.t, 0, &x.o, x.err), RC_ERANGE);
    ck_assert_int_eq(rb_coview(&x.l, &x.st, &x.d, &x.s, NULL, &x.t, RC_LIST_MAX + 1, &x.o, x.err), RC_ERANGE);
    fx_free(&x);
}
END_TEST

static Suite *coview_suite(void)
{
    Suite *s = suite_create("coview");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_raw);
    tcase_add_test(tc, test_cosine_and_lift);
    tcase_add_test(tc, test_min_window_stock_skip);
    tcase_add_test(tc, test_weights_decay_plain);
    tcase_add_test(tc, test_passes_deterministic);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(coview_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
