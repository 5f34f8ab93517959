/*
 * test_popularity.c - builder/popularity.c: segment lists from a tiny
 * hand-made dataset. Which segments exist, their keys and sources, the
 * weighted and decayed scores, the window, stock, ranking and ties, and the
 * literal "*" location.
 */
#include "popularity.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "error.h"
#include "keys.h"
#include "train.h"

#define DAY 86400
#define T0 1700000000

static uint32_t intern(struct rb_strtab *t, const char *s)
{
    uint32_t i;
    ck_assert_int_eq(rb_strtab_intern(t, s, strlen(s), &i), 0);
    return i;
}

/* A dataset with products p0..p(n-1), all in stock, no catalog. */
static void ds_init(struct rb_dataset *d, int nproducts)
{
    rb_dataset_init(d);
    char id[16];
    for (int i = 0; i < nproducts; i++) {
        snprintf(id, sizeof(id), "p%d", i);
        intern(&d->products, id);
    }
    size_t cap = d->products.cap ? d->products.cap : 1;
    d->in_stock = malloc(cap);
    d->in_catalog = calloc(cap, 1);
    d->category = malloc(cap * sizeof(uint32_t));
    memset(d->in_stock, 1, cap);
    memset(d->category, 0xff, cap * sizeof(uint32_t));
}

/* Add an event; loc/dev NULL = absent. */
static void ev(struct rb_dataset *d, int64_t ts, int type, uint32_t product, const char *loc, const char *dev)
{
    if (d->nevents == d->events_cap) {
        d->events_cap = d->events_cap ? d->events_cap * 2 : 16;
        d->events = realloc(d->events, d->events_cap * sizeof(*d->events));
    }
    struct rb_event *e = &d->events[d->nevents];
    e->ts = ts;
    e->cookie = 0;
    e->product = product;
    e->type = (uint8_t)type;
    e->loc = loc ? (uint16_t)intern(&d->locs, loc) : RB_NONE16;
    e->device = dev ? (uint16_t)intern(&d->devices, dev) : RB_NONE16;
    if (d->nevents == 0 || ts < d->ts_min)
        d->ts_min = ts;
    if (d->nevents == 0 || ts > d->ts_max)
        d->ts_max = ts;
    d->nevents++;
}

static void opts(struct rb_train_opts *o)
{
    rb_train_opts_default(o);
    o->weight[RB_VIEW] = 1;
    o->weight[RB_CART] = 3;
    o->weight[RB_PURCHASE] = 10;
    o->half_life_days = 0;
    o->window_days = 0;
}

/* Index of the list owned by (loc, dev), or -1. */
static long find(const struct rb_lists *l, const char *loc, const char *dev)
{
    uint64_t k = rc_segment_key(loc, strlen(loc), dev, strlen(dev));
    long found = -1;
    for (size_t i = 0; i < l->n; i++)
        if (l->owner_key[i] == k) {
            ck_assert_msg(found < 0, "two lists for (%s, %s)", loc, dev);
            found = (long)i;
        }
    return found;
}

static uint32_t item(const struct rb_lists *l, long i, int j)
{
    return l->items[(size_t)i * l->k + (size_t)j];
}

static float score(const struct rb_lists *l, long i, int j)
{
    return l->scores[(size_t)i * l->k + (size_t)j];
}

START_TEST(test_segments_and_sources)
{
    struct rb_dataset d;
    ds_init(&d, 4);
    ev(&d, T0, RB_VIEW, 0, "US", "mobile");
    ev(&d, T0, RB_VIEW, 1, "US", "desktop");
    ev(&d, T0, RB_VIEW, 2, "DE", NULL);  /* (DE,*), (*,*) only */
    ev(&d, T0, RB_VIEW, 3, NULL, "tablet"); /* (*,tablet), (*,*) only */
    struct rb_train_opts o;
    opts(&o);
    struct rb_lists l;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_msg(rb_popularity(&l, &d, &o, 5, err) == 0, "%s", err);
    /* (US,mobile) (US,desktop) | (US,*) (DE,*) | (*,mobile) (*,desktop) (*,tablet) | (*,*) */
    ck_assert_uint_eq(l.n, 8);
    const char *fine[][2] = {{"US", "mobile"}, {"US", "desktop"}, {"US", "*"}, {"DE", "*"},
                             {"*", "mobile"},  {"*", "desktop"},  {"*", "tablet"}};
    for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
        long s = find(&l, fine[i][0], fine[i][1]);
        ck_assert_msg(s >= 0, "no list for (%s, %s)", fine[i][0], fine[i][1]);
        ck_assert_int_eq(l.source[s], RC_SRC_SEGMENT);
    }
    ck_assert_int_lt(find(&l, "DE", "tablet"), 0); /* never seen together */
    long g = find(&l, "*", "*");
    ck_assert_int_ge(g, 0);
    ck_assert_int_eq(l.source[g], RC_SRC_GLOBAL);
    ck_assert_int_eq(l.len[g], 4);

    long us = find(&l, "US", "*");
    ck_assert_int_eq(l.len[us], 2);
    long de = find(&l, "DE", "*");
    ck_assert_int_eq(l.len[de], 1);
    ck_assert_uint_eq(item(&l, de, 0), 2);
    long tab = find(&l, "*", "tablet");
    ck_assert_int_eq(l.len[tab], 1);
    ck_assert_uint_eq(item(&l, tab, 0), 3);
    long usm = find(&l, "US", "mobile");
    ck_assert_int_eq(l.len[usm], 1);
    ck_assert_uint_eq(item(&l, usm, 0), 0);
    rb_lists_release(&l);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_weights_rank_and_ties)
{
    struct rb_dataset d;
    ds_init(&d, 5);
    /* p0: 3 views = 3; p1: 1 purchase = 10; p2: 1 cart = 3 (ties p0: lower index first); p3: 1 view */
    for (int i = 0; i < 3; i++)
        ev(&d, T0, RB_VIEW, 0, "US", "mobile");
    ev(&d, T0, RB_PURCHASE, 1, "US", "mobile");
    ev(&d, T0, RB_CART, 2, "US", "mobile");
    ev(&d, T0, RB_VIEW, 3, "US", "mobile");
    struct rb_train_opts o;
    opts(&o);
    struct rb_lists l;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_msg(rb_popularity(&l, &d, &o, 3, err) == 0, "%s", err);
    long g = find(&l, "*", "*");
    ck_assert_int_eq(l.len[g], 3); /* truncated to n */
    ck_assert_uint_eq(item(&l, g, 0), 1);
    ck_assert_uint_eq(item(&l, g, 1), 0);
    ck_assert_uint_eq(item(&l, g, 2), 2);
    ck_assert_float_eq(score(&l, g, 0), 10.0f);
    ck_assert_float_eq(score(&l, g, 1), 3.0f);
    ck_assert_float_eq(score(&l, g, 2), 3.0f);
    /* Every level of the one (loc, dev) pair holds the same ranking. */
    const char *segs[][2] = {{"US", "mobile"}, {"US", "*"}, {"*", "mobile"}};
    for (int s = 0; s < 3; s++) {
        long i = find(&l, segs[s][0], segs[s][1]);
        for (int j = 0; j < 3; j++)
            ck_assert_uint_eq(item(&l, i, j), item(&l, g, j));
    }
    rb_lists_release(&l);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_decay_and_window)
{
    struct rb_dataset d;
    ds_init(&d, 3);
    ev(&d, T0, RB_VIEW, 0, "US", "mobile");           /* newest: weight 1 */
    ev(&d, T0 - 1 * DAY, RB_VIEW, 1, "US", "mobile"); /* one half-life back: 0.5 */
    ev(&d, T0 - 1 * DAY, RB_VIEW, 1, "US", "mobile"); /* p1 = 1.0 in all */
    ev(&d, T0 - 3 * DAY, RB_PURCHASE, 2, "US", "mobile"); /* 10 / 8 = 1.25, outside a 2-day window */
    struct rb_train_opts o;
    opts(&o);
    o.half_life_days = 1;
    struct rb_lists l;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_msg(rb_popularity(&l, &d, &o, 10, err) == 0, "%s", err);
    long g = find(&l, "*", "*");
    ck_assert_int_eq(l.len[g], 3);
    ck_assert_uint_eq(item(&l, g, 0), 2);
    ck_assert(fabsf(score(&l, g, 0) - 1.25f) < 1e-5f);
    ck_assert_uint_eq(item(&l, g, 1), 0); /* 1.0 ties p1's 1.0: lower index first */
    ck_assert(fabsf(score(&l, g, 1) - 1.0f) < 1e-6f);
    ck_assert_uint_eq(item(&l, g, 2), 1);
    ck_assert(fabsf(score(&l, g, 2) - 1.0f) < 1e-6f);
    rb_lists_release(&l);

    o.window_days = 2;
    ck_assert_msg(rb_popularity(&l, &d, &o, 10, err) == 0, "%s", err);
    g = find(&l, "*", "*");
    ck_assert_int_eq(l.len[g], 2);
    ck_assert_uint_eq(item(&l, g, 0), 0);
    ck_assert_uint_eq(item(&l, g, 1), 1);
    rb_lists_release(&l);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_out_of_stock_and_zero_weight)
{
    struct rb_dataset d;
    ds_init(&d, 3);
    ev(&d, T0, RB_PURCHASE, 0, "US", "mobile");
    ev(&d, T0, RB_VIEW, 1, "US", "mobile");
    ev(&d, T0, RB_CART, 2, "US", "mobile");
    d.in_stock[0] = 0;
    struct rb_train_opts o;
    opts(&o);
    o.weight[RB_CART] = 0; /* carts count for nothing */
    struct rb_lists l;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_msg(rb_popularity(&l, &d, &o, 10, err) == 0, "%s", err);
    for (size_t i = 0; i < l.n; i++) {
        ck_assert_int_eq(l.len[i], 1);
        ck_assert_uint_eq(item(&l, (long)i, 0), 1);
    }
    rb_lists_release(&l);
    rb_dataset_release(&d);
}
END_TEST

/* A location spelled "*" would share its key with the wildcard: it counts as absent. */
START_TEST(test_literal_wildcard)
{
    struct rb_dataset d;
    ds_init(&d, 2);
    ev(&d, T0, RB_VIEW, 0, "*", "mobile");
    ev(&d, T0, RB_VIEW, 1, "US", "*");
    struct rb_train_opts o;
    opts(&o);
    struct rb_lists l;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_msg(rb_popularity(&l, &d, &o, 10, err) == 0, "%s", err);
    /* (*, mobile), (US, *), (*, *): each key once (find asserts that). */
    ck_assert_uint_eq(l.n, 3);
    long m = find(&l, "*", "mobile"), u = find(&l, "US", "*"), g = find(&l, "*", "*");
    ck_assert(m >= 0 && u >= 0 && g >= 0);
    ck_assert_int_eq(l.source[m], RC_SRC_SEGMENT);
    ck_assert_int_eq(l.source[g], RC_SRC_GLOBAL);
    ck_assert_int_eq(l.len[g], 2);
    rb_lists_release(&l);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_empty_and_bad_n)
{
    struct rb_dataset d;
    ds_init(&d, 0);
    struct rb_train_opts o;
    opts(&o);
    struct rb_lists l;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_msg(rb_popularity(&l, &d, &o, 10, err) == 0, "%s", err);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_int_eq(l.len[0], 0);
    ck_assert_int_eq(l.source[0], RC_SRC_GLOBAL);
    rb_lists_release(&l);
    ck_assert_int_eq(rb_popularity(&l, &d, &o, 0, err), RC_ERANGE);
    ck_assert_int_eq(rb_popularity(&l, &d, &o, RC_LIST_MAX + 1, err), RC_ERANGE);
    rb_lists_release(&l);
    rb_dataset_release(&d);
}
END_TEST

/* Many products and segments: every list sorted, no duplicates, scores equal brute force. */
START_TEST(test_against_brute_force)
{
    enum { P = 300, E = 20000, K = 25 };
    static const char *locs[] = {"US", "DE", "FR", NULL};
    static const char *devs[] = {"mobile", "desktop", NULL};
    struct rb_dataset d;
    ds_init(&d, P);
    uint64_t s = 12345;
    for (int e = 0; e < E; e++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t r = (uint32_t)(s >> 33);
        ev(&d, T0 - (int64_t)(r % (10 * DAY)), (int)(r % 3), (r >> 8) % (r % 7 ? 40 : P), locs[(r >> 4) % 4],
           devs[(r >> 6) % 3]);
    }
    for (int p = 0; p < P; p += 7)
        d.in_stock[p] = 0;
    struct rb_train_opts o;
    opts(&o);
    o.half_life_days = 3;
    struct rb_lists l;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_msg(rb_popularity(&l, &d, &o, K, err) == 0, "%s", err);
    ck_assert_uint_eq(l.n, 3 * 2 + 3 + 2 + 1);
    for (int li = -1; li < 3; li++)
        for (int di = -1; di < 2; di++) {
            const char *ls = li < 0 ? "*" : locs[li], *ds = di < 0 ? "*" : devs[di];
            long seg = find(&l, ls, ds);
            ck_assert_int_ge(seg, 0);
            double want[P] = {0};
            for (size_t e = 0; e < d.nevents; e++) {
                const struct rb_event *x = &d.events[e];
                if (li >= 0 && (x->loc == RB_NONE16 || x->loc != rb_strtab_find(&d.locs, ls, strlen(ls))))
                    continue;
                if (di >= 0 && (x->device == RB_NONE16 || x->device != rb_strtab_find(&d.devices, ds, strlen(ds))))
                    continue;
                want[x->product] += (float)(o.weight[x->type] * rb_decay(x->ts, d.ts_max, o.half_life_days));
            }
            for (int j = 0; j < l.len[seg]; j++) {
                uint32_t p = item(&l, seg, j);
                ck_assert(d.in_stock[p]);
                ck_assert_msg(fabs(score(&l, seg, j) - want[p]) <= 1e-4 * want[p], "(%s,%s) p%u: %g vs %g", ls, ds,
                              p, score(&l, seg, j), want[p]);
                if (j)
                    ck_assert(score(&l, seg, j - 1) >= score(&l, seg, j));
                for (int q = 0; q < j; q++)
                    ck_assert_uint_ne(item(&l, seg, q), p);
            }
            /* Nothing left out scores above the last entry. */
            int len = l.len[seg];
            ck_assert_int_eq(len, K);
            for (uint32_t p = 0; p < P; p++) {
                int in = 0;
                for (int j = 0; j < len; j++)
                    in |= item(&l, seg, j) == p;
                if (!in && d.in_stock[p])
                    ck_assert(want[p] <= score(&l, seg, len - 1) * (1 + 1e-5));
            }
        }
    rb_lists_release(&l);
    rb_dataset_release(&d);
}
END_TEST

/* Category lists: each category's in-stock products with events, by the
 * global list's score (bit for bit), at most n; none without categories. */
START_TEST(test_categories)
{
    struct rb_dataset d;
    ds_init(&d, 8);
    const char *names[3] = {"shoes", "hats", "bags"};
    for (int c = 0; c < 3; c++)
        intern(&d.categories, names[c]);
    const uint32_t cat_of[8] = {0, 0, 0, 0, 1, 1, 2, RB_NONE}; /* p3 and p6 have no events, p7 no category */
    memcpy(d.category, cat_of, sizeof(cat_of));
    d.in_stock[1] = 0;
    ev(&d, T0, RB_VIEW, 0, "US", "mobile");
    ev(&d, T0, RB_PURCHASE, 1, "US", "mobile");
    ev(&d, T0, RB_CART, 2, "DE", NULL);
    ev(&d, T0 - 3 * DAY, RB_VIEW, 2, NULL, "tablet");
    ev(&d, T0, RB_CART, 4, NULL, NULL);
    ev(&d, T0, RB_VIEW, 5, "US", "desktop");
    ev(&d, T0, RB_PURCHASE, 7, "US", "desktop");
    struct rb_train_opts o;
    opts(&o);
    o.half_life_days = 7; /* scores that are not small integers */
    struct rb_lists seg, cat;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_msg(rb_popularity_categories(&seg, &cat, &d, &o, 5, err) == 0, "%s", err);
    ck_assert_uint_eq(cat.n, 3);
    for (int c = 0; c < 3; c++) {
        ck_assert_uint_eq(cat.owner_key[c], rc_key(names[c], strlen(names[c])));
        ck_assert_uint_eq(cat.source[c], RC_SRC_CATEGORY);
    }
    long g = find(&seg, "*", "*");
    ck_assert_int_ge(g, 0);
    /* shoes: p2 (cart 3 + decayed view) above p0 (view 1); p1 is out of stock, p3 has no events. */
    ck_assert_uint_eq(cat.len[0], 2);
    ck_assert_uint_eq(item(&cat, 0, 0), 2);
    ck_assert_uint_eq(item(&cat, 0, 1), 0);
    /* hats: p4 (cart 3) above p5 (view 1). */
    ck_assert_uint_eq(cat.len[1], 2);
    ck_assert_uint_eq(item(&cat, 1, 0), 4);
    ck_assert_uint_eq(item(&cat, 1, 1), 5);
    ck_assert_uint_eq(cat.len[2], 0); /* bags: p6 never seen */
    /* Every category entry has the global list's score for it. */
    for (int c = 0; c < 2; c++)
        for (int j = 0; j < cat.len[c]; j++) {
            int found = 0;
            for (int k = 0; k < seg.len[g]; k++)
                if (item(&seg, g, k) == item(&cat, c, j)) {
                    float a = score(&seg, g, k), b = score(&cat, c, j);
                    ck_assert(memcmp(&a, &b, sizeof(float)) == 0);
                    found = 1;
                }
            ck_assert_msg(found, "category %d entry %d is not in the global list", c, j);
        }
    rb_lists_release(&seg);
    rb_lists_release(&cat);

    /* At most n. */
    ck_assert_msg(rb_popularity_categories(&seg, &cat, &d, &o, 1, err) == 0, "%s", err);
    ck_assert_uint_eq(cat.len[0], 1);
    ck_assert_uint_eq(item(&cat, 0, 0), 2);
    ck_assert_uint_eq(cat.len[1], 1);
    rb_lists_release(&seg);
    rb_lists_release(&cat);

    /* No categories: no lists. */
    memset(d.category, 0xff, d.products.cap * sizeof(uint32_t));
    rb_strtab_release(&d.categories);
    memset(&d.categories, 0, sizeof(d.categories));
    ck_assert_msg(rb_popularity_categories(&seg, &cat, &d, &o, 5, err) == 0, "%s", err);
    ck_assert_uint_eq(cat.n, 0);
    ck_assert_uint_gt(seg.n, 0);
    rb_lists_release(&seg);
    rb_lists_release(&cat);
    rb_dataset_release(&d);
}
END_TEST

static Suite *popularity_suite(void)
{
    Suite *s = suite_create("popularity");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_segments_and_sources);
    tcase_add_test(tc, test_weights_rank_and_ties);
    tcase_add_test(tc, test_decay_and_window);
    tcase_add_test(tc, test_out_of_stock_and_zero_weight);
    tcase_add_test(tc, test_literal_wildcard);
    tcase_add_test(tc, test_empty_and_bad_n);
    tcase_add_test(tc, test_against_brute_force);
    tcase_add_test(tc, test_categories);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(popularity_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
