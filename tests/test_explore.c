/*
 * test_explore.c - builder/explore.c: which slots explore, how a list takes
 * candidates (ranked best first, products distinct, the list's own order
 * kept), which products are new (created_at, first event, unknown; stock;
 * a log shorter than the age), the catalog's created_at column, and whole
 * runs over hand-made segment and image lists with their counts.
 */
#include "explore.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "error.h"
#include "ingest.h"
#include "ingest_int.h"
#include "keys.h"
#include "record.h"
#include "scratch.h"

#define DAY 86400
#define NOW 1700000000

/* ---- slots ---- */

START_TEST(test_slots)
{
    /* share 0.1: positions 5, 15, 25 (0-based 4, 14, 24). */
    for (uint32_t j = 0; j < 30; j++)
        ck_assert_int_eq(rb_explore_slot(j, 0.1), j == 4 || j == 14 || j == 24);
    ck_assert_uint_eq(rb_explore_slots(8, 0.1), 1);
    ck_assert_uint_eq(rb_explore_slots(20, 0.1), 2);
    ck_assert_uint_eq(rb_explore_slots(200, 0.1), 20);
    ck_assert_uint_eq(rb_explore_slots(4, 0.1), 0);
    /* share 0.5: every other slot from the first. */
    for (uint32_t j = 0; j < 10; j++)
        ck_assert_int_eq(rb_explore_slot(j, 0.5), j % 2 == 0);
    /* share 1: every slot; 0: none. */
    for (uint32_t j = 0; j < 10; j++) {
        ck_assert_int_eq(rb_explore_slot(j, 1.0), 1);
        ck_assert_int_eq(rb_explore_slot(j, 0.0), 0);
    }
    /* The count of slots among the first k is rb_explore_slots(k). */
    const double shares[] = {0.03, 0.1, 0.125, 0.25, 1.0 / 3, 0.7};
    for (size_t s = 0; s < sizeof(shares) / sizeof(shares[0]); s++)
        for (uint32_t k = 0; k <= 300; k++) {
            uint32_t n = 0;
            for (uint32_t j = 0; j < k; j++)
                n += (uint32_t)rb_explore_slot(j, shares[s]);
            ck_assert_uint_eq(n, rb_explore_slots(k, shares[s]));
        }
}
END_TEST

/* ---- one list ---- */

/* Products 0..9 organic (scores 10..1), 20.. candidates; is_new for >= 20 and `also`. */
static void merge_fixture(uint32_t *items, float *scores, uint32_t len, uint8_t *is_new, int also)
{
    for (uint32_t j = 0; j < len; j++) {
        items[j] = j;
        scores[j] = (float)(10 - j);
    }
    memset(is_new, 0, 64);
    for (int p = 20; p < 64; p++)
        is_new[p] = 1;
    if (also >= 0)
        is_new[also] = 1;
}

START_TEST(test_merge_inserts_at_slots)
{
    uint32_t items[10], tmp_i[10], added;
    float scores[10], tmp_s[10];
    uint8_t is_new[64];
    const uint32_t cand[] = {20, 21, 22};
    merge_fixture(items, scores, 10, is_new, -1);
    /* k 10, share 0.1: one slot, position 5; the last entry falls off. */
    uint32_t len = rb_explore_merge(items, scores, 10, 10, cand, 3, is_new, 0.1, tmp_i, tmp_s, &added);
    ck_assert_uint_eq(len, 10);
    ck_assert_uint_eq(added, 1);
    const uint32_t want[] = {0, 1, 2, 3, 20, 4, 5, 6, 7, 8};
    for (int j = 0; j < 10; j++)
        ck_assert_uint_eq(items[j], want[j]);
    ck_assert_float_eq(scores[4], scores[3]); /* the slot takes the score before it */
    for (int j = 1; j < 10; j++)
        ck_assert(scores[j] <= scores[j - 1]);
}
END_TEST

START_TEST(test_merge_keeps_a_new_entry_at_a_slot)
{
    uint32_t items[10], tmp_i[10], added;
    float scores[10], tmp_s[10];
    uint8_t is_new[64];
    const uint32_t cand[] = {20};
    merge_fixture(items, scores, 10, is_new, 4); /* product 4 is new, and at position 5 already */
    uint32_t len = rb_explore_merge(items, scores, 10, 10, cand, 1, is_new, 0.1, tmp_i, tmp_s, &added);
    ck_assert_uint_eq(len, 10);
    ck_assert_uint_eq(added, 0);
    for (uint32_t j = 0; j < 10; j++)
        ck_assert_uint_eq(items[j], j);
}
END_TEST

START_TEST(test_merge_short_and_empty_lists)
{
    uint32_t items[10], tmp_i[10], added;
    float scores[10], tmp_s[10];
    uint8_t is_new[64];
    const uint32_t cand[] = {20, 21, 22};
    /* A list of 4 reaches its slot at position 5: the candidate goes last. */
    merge_fixture(items, scores, 4, is_new, -1);
    uint32_t len = rb_explore_merge(items, scores, 4, 10, cand, 3, is_new, 0.1, tmp_i, tmp_s, &added);
    ck_assert_uint_eq(len, 5);
    ck_assert_uint_eq(added, 1);
    ck_assert_uint_eq(items[4], 20);
    ck_assert_float_eq(scores[4], scores[3]);
    /* A list of 3 ends before it: unchanged. */
    merge_fixture(items, scores, 3, is_new, -1);
    len = rb_explore_merge(items, scores, 3, 10, cand, 3, is_new, 0.1, tmp_i, tmp_s, &added);
    ck_assert_uint_eq(len, 3);
    ck_assert_uint_eq(added, 0);
    /* Share 1, slot 0: the first candidate takes the first entry's score. */
    merge_fixture(items, scores, 2, is_new, -1);
    len = rb_explore_merge(items, scores, 2, 10, cand, 3, is_new, 1.0, tmp_i, tmp_s, &added);
    ck_assert_uint_eq(len, 5); /* 20 21 22, then the list's 0 1 */
    ck_assert_uint_eq(added, 3);
    ck_assert_uint_eq(items[0], 20);
    ck_assert_uint_eq(items[3], 0);
    ck_assert_float_eq(scores[0], 10.0f);
    ck_assert_float_eq(scores[2], 10.0f);
    /* An empty list at share 1: candidates with score 0. */
    len = rb_explore_merge(items, scores, 0, 10, cand, 2, is_new, 1.0, tmp_i, tmp_s, &added);
    ck_assert_uint_eq(len, 2);
    ck_assert_float_eq(scores[0], 0.0f);
    ck_assert_float_eq(scores[1], 0.0f);
    /* No candidates: unchanged. */
    merge_fixture(items, scores, 10, is_new, -1);
    len = rb_explore_merge(items, scores, 10, 10, cand, 0, is_new, 0.5, tmp_i, tmp_s, &added);
    ck_assert_uint_eq(len, 10);
    ck_assert_uint_eq(added, 0);
    for (uint32_t j = 0; j < 10; j++)
        ck_assert_uint_eq(items[j], j);
}
END_TEST

/* Random lists, shares and candidates: ranked, distinct, the list's own order kept, every slot served. */
START_TEST(test_merge_properties)
{
    enum { P = 400, K = 60 };
    uint32_t items[K], orig[K], tmp_i[K], cand[K], added;
    float scores[K], tmp_s[K];
    uint8_t is_new[P];
    uint64_t rng = 12345;
    for (int round = 0; round < 3000; round++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t k = 1 + (uint32_t)(rng >> 33) % K, len = (uint32_t)(rng >> 20) % (k + 1);
        double share = (double)((rng >> 45) % 101) / 100.0;
        memset(is_new, 0, sizeof(is_new));
        /* The list: distinct products from 0..199 (some new), falling scores with ties. */
        float s = 100;
        for (uint32_t j = 0; j < len; j++) {
            orig[j] = items[j] = j * 3 + (uint32_t)(round % 3);
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            is_new[items[j]] = (rng >> 60) == 0;
            s -= (float)((rng >> 40) % 3);
            scores[j] = s;
        }
        uint32_t ncand = (uint32_t)(rng >> 50) % (k + 1);
        for (uint32_t c = 0; c < ncand; c++) {
            cand[c] = 200 + c;
            is_new[cand[c]] = 1;
        }
        uint32_t n = rb_explore_merge(items, scores, len, k, cand, ncand, is_new, share, tmp_i, tmp_s, &added);
        ck_assert_uint_le(n, k);
        ck_assert_uint_ge(n, len < k ? len : k);
        uint32_t next_orig = 0, next_cand = 0;
        for (uint32_t j = 0; j < n; j++) {
            if (j)
                ck_assert(scores[j] <= scores[j - 1]);
            for (uint32_t i = 0; i < j; i++)
                ck_assert_uint_ne(items[i], items[j]);
            if (items[j] >= 200) {
                ck_assert_uint_eq(items[j], cand[next_cand++]); /* candidates in their order */
                ck_assert(rb_explore_slot(j, share));           /* ... at exploration slots only */
            } else {
                ck_assert_uint_eq(items[j], orig[next_orig++]); /* the list's own order */
            }
            /* An exploration slot holds a new product while candidates last. */
            if (rb_explore_slot(j, share) && next_cand < ncand)
                ck_assert(is_new[items[j]]);
        }
        ck_assert_uint_eq(added, next_cand);
    }
}
END_TEST

/* ---- age ---- */

static uint32_t product(struct rb_dataset *d, const char *id)
{
    uint32_t i;
    ck_assert_int_eq(rb_product_intern(d, id, strlen(id), &i), 0);
    return i;
}

static void ev(struct rb_dataset *d, int64_t ts, uint32_t p)
{
    struct rb_event e = {.ts = ts, .cookie = 0, .product = p, .loc = RB_NONE16, .device = RB_NONE16, .type = RB_VIEW};
    ck_assert_int_eq(rb_event_append(d, &e, RB_NONE), 0);
}

static void created(struct rb_dataset *d, uint32_t p, int64_t ts)
{
    if (d->created_n == d->created_cap) {
        d->created_cap = d->created_cap ? d->created_cap * 2 : 8;
        d->created = realloc(d->created, d->created_cap * sizeof(*d->created));
        ck_assert_ptr_nonnull(d->created);
    }
    d->created[d->created_n++] = (struct rb_created){.product = p, .ts = ts};
}

START_TEST(test_age_sources)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    uint32_t fresh = product(&d, "fresh"), old = product(&d, "old"), early = product(&d, "first-event-new");
    uint32_t seen_long_ago = product(&d, "first-event-old"), unknown = product(&d, "unknown");
    uint32_t gone = product(&d, "new-out-of-stock"), future = product(&d, "future");
    uint32_t relisted = product(&d, "relisted");
    created(&d, fresh, NOW - 2 * DAY);
    created(&d, old, NOW - 30 * DAY);
    created(&d, gone, NOW - DAY);
    created(&d, future, NOW + 5 * DAY);
    created(&d, relisted, NOW - DAY); /* the catalog wins over its old events */
    ev(&d, NOW - 40 * DAY, seen_long_ago);
    ev(&d, NOW - 40 * DAY, relisted);
    ev(&d, NOW - 3 * DAY, early);
    ev(&d, NOW - DAY, old);
    ev(&d, NOW, seen_long_ago);
    d.in_stock[gone] = 0;
    (void)unknown;

    struct rb_explore_opts o;
    rb_explore_opts_default(&o);
    struct rb_explore_stats st = {0};
    uint8_t *is_new;
    ck_assert_int_eq(rb_explore_new(&d, &o, &is_new, &st), 0);
    ck_assert_int_eq(st.now, NOW);
    ck_assert_int_eq(st.first_event_used, 1);
    const uint32_t want_new[] = {fresh, early, future, relisted};
    for (uint32_t p = 0; p < d.products.n; p++) {
        int w = 0;
        for (size_t i = 0; i < sizeof(want_new) / sizeof(want_new[0]); i++)
            w |= want_new[i] == p;
        ck_assert_msg(is_new[p] == w, "product %u: is_new %d, expected %d", p, is_new[p], w);
    }
    ck_assert_uint_eq(st.new_products, 4);
    ck_assert_uint_eq(st.age_created_at, 4);  /* fresh, old, future, relisted (gone is out of stock) */
    ck_assert_uint_eq(st.age_first_event, 2); /* early, seen_long_ago */
    ck_assert_uint_eq(st.age_unknown, 1);
    free(is_new);

    /* Younger than age_days: exactly 2 days old is not younger than 2. */
    o.age_days = 2;
    memset(&st, 0, sizeof(st));
    ck_assert_int_eq(rb_explore_new(&d, &o, &is_new, &st), 0);
    ck_assert_uint_eq(is_new[fresh], 0);
    ck_assert_uint_eq(is_new[relisted], 1);
    free(is_new);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_age_short_log)
{
    /* Events over 10 days and age 14: first events say nothing, created_at still does. */
    struct rb_dataset d;
    rb_dataset_init(&d);
    uint32_t a = product(&d, "a"), b = product(&d, "b");
    ev(&d, NOW - 10 * DAY, a);
    ev(&d, NOW - DAY, b);
    created(&d, a, NOW - 3 * DAY);
    struct rb_explore_opts o;
    rb_explore_opts_default(&o);
    struct rb_explore_stats st = {0};
    uint8_t *is_new;
    ck_assert_int_eq(rb_explore_new(&d, &o, &is_new, &st), 0);
    ck_assert_int_eq(st.first_event_used, 0);
    ck_assert_uint_eq(is_new[a], 1);
    ck_assert_uint_eq(is_new[b], 0);
    ck_assert_uint_eq(st.age_unknown, 1);
    free(is_new);
    /* With age 7 the same log is long enough. */
    o.age_days = 7;
    memset(&st, 0, sizeof(st));
    ck_assert_int_eq(rb_explore_new(&d, &o, &is_new, &st), 0);
    ck_assert_int_eq(st.first_event_used, 1);
    ck_assert_uint_eq(is_new[b], 1);
    free(is_new);
    rb_dataset_release(&d);
}
END_TEST

/* ---- the catalog's created_at ---- */

START_TEST(test_catalog_created_at)
{
    char dir[PATH_MAX], path[PATH_MAX + 32], err[RC_ERRMSG_MAX];
    scratch_make(dir, sizeof(dir), "explore_catalog");
    snprintf(path, sizeof(path), "%s/catalog.csv", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("product,created_at,category,in_stock\n"
          "p1,2023-11-14T22:13:20Z,c,1\n"
          "p2,1700000000000,c,1\n"
          " p3 , ,c,1\n"
          "p4,yesterday,c,1\n"
          "p5,2023-11-14 22:13:20 UTC,c,0\n"
          "p1,1,c,1\n",
          f);
    ck_assert_int_eq(fclose(f), 0);
    struct rb_dataset d;
    rb_dataset_init(&d);
    ck_assert_int_eq(rb_ingest_catalog(&d, path, err), 0);
    ck_assert_uint_eq(d.stats.catalog_rows, 5);
    ck_assert_uint_eq(d.stats.catalog_bad, 1);        /* the repeated p1 */
    ck_assert_uint_eq(d.stats.catalog_bad_values, 1); /* p4's "yesterday": the row is kept */
    ck_assert_uint_eq(d.created_n, 3);
    const char *ids[] = {"p1", "p2", "p5"};
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(d.created[i].product, rb_strtab_find(&d.products, ids[i], 2));
        ck_assert_int_eq(d.created[i].ts, 1700000000);
    }
    ck_assert_uint_ne(rb_strtab_find(&d.products, "p4", 2), RB_NONE);
    rb_dataset_release(&d);

    /* A catalog without the column gives no ages. */
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("product,category,in_stock\np1,c,1\n", f);
    ck_assert_int_eq(fclose(f), 0);
    rb_dataset_init(&d);
    ck_assert_int_eq(rb_ingest_catalog(&d, path, err), 0);
    ck_assert_uint_eq(d.created_n, 0);
    rb_dataset_release(&d);
    scratch_remove(dir);
}
END_TEST

/* ---- whole runs ---- */

static void check_list(const struct rb_lists *l, size_t i)
{
    for (uint32_t j = 0; j < l->len[i]; j++) {
        if (j)
            ck_assert_msg(l->scores[i * l->k + j] <= l->scores[i * l->k + j - 1], "list %zu rises at %u", i, j);
        for (uint32_t m = 0; m < j; m++)
            ck_assert_msg(l->items[i * l->k + m] != l->items[i * l->k + j], "list %zu repeats a product", i);
    }
}

/*
 * 40 old products o0..o39 with events over 30 days, 30 new ones n0..n29
 * (created yesterday, no events), one new product out of stock; segment
 * lists of k = 20 holding o0..o19 (and one a CF list, which stays).
 */
struct world {
    struct rb_dataset d;
    uint32_t old[40], fresh[30], gone;
};

static void world_init(struct world *w)
{
    rb_dataset_init(&w->d);
    char id[16];
    w->d.have_catalog = 1;
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof(id), "o%d", i);
        w->old[i] = product(&w->d, id);
        created(&w->d, w->old[i], NOW - 100 * DAY);
        ev(&w->d, NOW - (i % 30) * DAY, w->old[i]);
    }
    for (int i = 0; i < 30; i++) {
        snprintf(id, sizeof(id), "n%d", i);
        w->fresh[i] = product(&w->d, id);
        created(&w->d, w->fresh[i], NOW - DAY);
    }
    w->gone = product(&w->d, "gone");
    created(&w->d, w->gone, NOW - DAY);
    for (uint32_t p = 0; p < w->d.products.n; p++)
        w->d.in_stock[p] = p != w->gone;
}

static void segment_lists(struct rb_lists *l, const struct world *w, size_t n)
{
    ck_assert_int_eq(rb_lists_init(l, n, 20), 0);
    for (size_t i = 0; i < n; i++) {
        l->owner_key[i] = 1000 + i;
        l->source[i] = i == 0 ? RC_SRC_GLOBAL : i == n - 1 ? RC_SRC_CF : RC_SRC_SEGMENT;
        l->len[i] = 20;
        for (int j = 0; j < 20; j++) {
            l->items[i * 20 + j] = w->old[(j + i) % 40];
            l->scores[i * 20 + j] = (float)(100 - j);
        }
    }
}

static int is_fresh(const struct world *w, uint32_t p)
{
    for (int i = 0; i < 30; i++)
        if (w->fresh[i] == p)
            return 1;
    return 0;
}

START_TEST(test_explore_segments)
{
    struct world w;
    world_init(&w);
    struct rb_lists l;
    segment_lists(&l, &w, 6);
    struct rb_explore_opts o;
    rb_explore_opts_default(&o);
    o.seed = 7;
    struct rb_explore_stats st;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_explore(&l, NULL, NULL, &w.d, &o, &st, err), 0);
    ck_assert_uint_eq(st.new_products, 30);
    ck_assert_uint_eq(st.lists, 5); /* the CF list is not looked at */
    ck_assert_uint_eq(st.lists_changed, 5);
    ck_assert_uint_eq(st.slots_added, 10); /* 2 slots (positions 5 and 15) in each of 5 lists */
    ck_assert_uint_eq(st.slots, 10);
    ck_assert_uint_le(st.new_with_slot, 10);
    ck_assert_uint_ge(st.new_with_slot, 2);
    uint32_t firsts[6];
    for (size_t i = 0; i < l.n; i++) {
        ck_assert_uint_eq(l.len[i], 20);
        check_list(&l, i);
        for (uint32_t j = 0; j < 20; j++) {
            uint32_t p = l.items[i * 20 + j];
            int at_slot = i < 5 && (j == 4 || j == 14);
            ck_assert_msg(is_fresh(&w, p) == at_slot, "list %zu position %u", i, j + 1);
            ck_assert_uint_ne(p, w.gone);
        }
        firsts[i] = l.items[i * 20 + 4];
    }
    /* The CF list is as it was. */
    for (int j = 0; j < 20; j++)
        ck_assert_uint_eq(l.items[5 * 20 + j], w.old[(j + 5) % 40]);
    /* Each segment draws its own: not every list shows the same new product first. */
    int differ = 0;
    for (int i = 1; i < 5; i++)
        differ |= firsts[i] != firsts[0];
    ck_assert(differ);

    /* The same inputs and seed give the same lists; another seed another draw. */
    struct rb_lists again, other;
    segment_lists(&again, &w, 6);
    segment_lists(&other, &w, 6);
    struct rb_explore_stats st2;
    ck_assert_int_eq(rb_explore(&again, NULL, NULL, &w.d, &o, &st2, err), 0);
    ck_assert_mem_eq(again.items, l.items, l.n * 20 * sizeof(*l.items));
    o.seed = 8;
    ck_assert_int_eq(rb_explore(&other, NULL, NULL, &w.d, &o, &st2, err), 0);
    ck_assert(memcmp(other.items, l.items, l.n * 20 * sizeof(*l.items)) != 0);
    rb_lists_release(&l);
    rb_lists_release(&again);
    rb_lists_release(&other);
    rb_dataset_release(&w.d);
}
END_TEST

START_TEST(test_explore_off)
{
    struct world w;
    world_init(&w);
    struct rb_lists l, ref;
    segment_lists(&l, &w, 3);
    segment_lists(&ref, &w, 3);
    struct rb_explore_opts o;
    rb_explore_opts_default(&o);
    struct rb_explore_stats st;
    char err[RC_ERRMSG_MAX];
    o.share = 0;
    ck_assert_int_eq(rb_explore(&l, NULL, NULL, &w.d, &o, &st, err), 0);
    ck_assert_uint_eq(st.new_products, 0);
    ck_assert_mem_eq(l.items, ref.items, 3 * 20 * sizeof(*l.items));
    o.share = 0.1;
    o.age_days = 0;
    ck_assert_int_eq(rb_explore(&l, NULL, NULL, &w.d, &o, &st, err), 0);
    ck_assert_mem_eq(l.items, ref.items, 3 * 20 * sizeof(*l.items));
    /* Nothing new (every product 100 days old at age 0.5): nothing changes, nothing counted. */
    o.age_days = 0.5;
    ck_assert_int_eq(rb_explore(&l, NULL, NULL, &w.d, &o, &st, err), 0);
    ck_assert_uint_eq(st.new_products, 0);
    ck_assert_uint_eq(st.slots_added, 0);
    ck_assert_uint_eq(st.lists, 2);
    ck_assert_mem_eq(l.items, ref.items, 3 * 20 * sizeof(*l.items));
    rb_lists_release(&l);
    rb_lists_release(&ref);
    rb_dataset_release(&w.d);
}
END_TEST

/* Category lists take the category's own new products; an empty one stays empty. */
START_TEST(test_explore_categories)
{
    struct world w;
    world_init(&w);
    struct rb_dataset *d = &w.d;
    const char *names[3] = {"shoes", "hats", "socks"};
    uint32_t cat[3];
    for (int c = 0; c < 3; c++)
        ck_assert_int_eq(rb_strtab_intern(&d->categories, names[c], strlen(names[c]), &cat[c]), 0);
    for (int i = 0; i < 40; i++)
        d->category[w.old[i]] = cat[i % 2];
    for (int i = 0; i < 30; i++)
        d->category[w.fresh[i]] = cat[i % 3]; /* socks: new products only */
    struct rb_lists l;
    ck_assert_int_eq(rb_lists_init(&l, 3, 20), 0);
    for (uint32_t c = 0; c < 3; c++) {
        l.owner_key[c] = d->categories.keys[c];
        l.source[c] = RC_SRC_CATEGORY;
        l.len[c] = c < 2 ? 20 : 0;
        for (int j = 0; j < l.len[c]; j++) {
            l.items[c * 20 + j] = w.old[2 * j + (int)c];
            l.scores[c * 20 + j] = (float)(50 - j);
        }
    }
    struct rb_explore_opts o;
    rb_explore_opts_default(&o);
    struct rb_explore_stats st;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_explore(NULL, &l, NULL, d, &o, &st, err), 0);
    ck_assert_uint_eq(st.lists, 3);
    ck_assert_uint_eq(st.lists_changed, 2);
    ck_assert_uint_eq(st.slots_added, 4);
    for (uint32_t c = 0; c < 2; c++) {
        check_list(&l, c);
        for (uint32_t j = 0; j < 20; j++) {
            uint32_t p = l.items[c * 20 + j];
            ck_assert_uint_eq(d->category[p], cat[c]);
            ck_assert_int_eq(is_fresh(&w, p), j == 4 || j == 14);
        }
    }
    ck_assert_uint_eq(l.len[2], 0);
    /* A category list whose owner is not its category's (not popularity.h's layout) is left alone. */
    l.owner_key[0] = 12345;
    uint32_t before[20];
    memcpy(before, l.items, sizeof(before));
    ck_assert_int_eq(rb_explore(NULL, &l, NULL, d, &o, &st, err), 0);
    ck_assert_uint_eq(st.lists, 2);
    ck_assert_mem_eq(l.items, before, sizeof(before));
    rb_lists_release(&l);
    rb_dataset_release(d);
}
END_TEST

/* Unit vectors in 2-D at angle a (radians): cosine between two is cos(a1 - a2). */
static void emb_add(struct rb_dataset *d, uint32_t p, double a)
{
    uint32_t r = d->emb_rows++;
    d->emb = realloc(d->emb, (size_t)d->emb_rows * 2 * sizeof(float));
    d->emb_product = realloc(d->emb_product, d->emb_rows * sizeof(uint32_t));
    ck_assert_ptr_nonnull(d->emb);
    ck_assert_ptr_nonnull(d->emb_product);
    d->emb[r * 2] = (float)cos(a);
    d->emb[r * 2 + 1] = (float)sin(a);
    d->emb_product[r] = p;
}

START_TEST(test_explore_image)
{
    struct world w;
    world_init(&w);
    struct rb_dataset *d = &w.d;
    d->dim = 2;
    /* Old products around the circle; new n0..n9 too, n0 nearest to o0, n1 next. */
    for (int i = 0; i < 40; i++)
        emb_add(d, w.old[i], 0.1 * i);
    emb_add(d, w.fresh[0], 0.02);
    emb_add(d, w.fresh[1], -0.05);
    for (int i = 2; i < 10; i++)
        emb_add(d, w.fresh[i], 2.0 + 0.1 * i);
    /* n20..n29 have no embedding; n0's own list is made too. */
    struct rb_lists img;
    ck_assert_int_eq(rb_lists_init(&img, 3, 20), 0);
    const uint32_t owners[3] = {w.old[0], w.old[1], w.fresh[0]};
    for (int i = 0; i < 3; i++) {
        img.owner_key[i] = d->products.keys[owners[i]];
        img.source[i] = RC_SRC_IMAGE;
        img.len[i] = 20;
        for (int j = 0; j < 20; j++) {
            img.items[i * 20 + j] = w.old[(j + 2 + i) % 40];
            img.scores[i * 20 + j] = 1.0f - 0.01f * (float)j;
        }
    }
    /* List 1 holds n0 already at position 10: it is not offered again. */
    img.items[1 * 20 + 9] = w.fresh[0];
    struct rb_explore_opts o;
    rb_explore_opts_default(&o);
    struct rb_explore_stats st;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_explore(NULL, NULL, &img, d, &o, &st, err), 0);
    ck_assert_uint_eq(st.lists, 3);
    ck_assert_uint_eq(st.slots_added, 6);
    ck_assert_uint_eq(st.slots, 7);
    for (int i = 0; i < 3; i++)
        check_list(&img, (size_t)i);
    /* o0's list: the nearest new products, nearest first. */
    ck_assert_uint_eq(img.items[0 * 20 + 4], w.fresh[0]);
    ck_assert_uint_eq(img.items[0 * 20 + 14], w.fresh[1]);
    /* o1's: n0 is there already, so n1 and the next nearest. */
    ck_assert_uint_eq(img.items[1 * 20 + 4], w.fresh[1]);
    ck_assert_uint_eq(img.items[1 * 20 + 10], w.fresh[0]);
    ck_assert_uint_eq(img.items[1 * 20 + 14], w.fresh[2]);
    /* n0's own list never holds n0. */
    for (int j = 0; j < img.len[2]; j++)
        ck_assert_uint_ne(img.items[2 * 20 + j], w.fresh[0]);
    ck_assert_uint_eq(img.items[2 * 20 + 4], w.fresh[1]);
    ck_assert_uint_eq(st.new_with_slot, 3); /* n0, n1, n2 */
    rb_lists_release(&img);
    rb_dataset_release(d);
}
END_TEST

static Suite *explore_suite(void)
{
    Suite *s = suite_create("explore");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_slots);
    tcase_add_test(tc, test_merge_inserts_at_slots);
    tcase_add_test(tc, test_merge_keeps_a_new_entry_at_a_slot);
    tcase_add_test(tc, test_merge_short_and_empty_lists);
    tcase_add_test(tc, test_merge_properties);
    tcase_add_test(tc, test_age_sources);
    tcase_add_test(tc, test_age_short_log);
    tcase_add_test(tc, test_catalog_created_at);
    tcase_add_test(tc, test_explore_segments);
    tcase_add_test(tc, test_explore_off);
    tcase_add_test(tc, test_explore_image);
    tcase_add_test(tc, test_explore_categories);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(explore_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
