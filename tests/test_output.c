/*
 * test_output.c - builder/output.c: lists and items of a hand-made dataset
 * into a published cache version, read back through shared/cache.h.
 * Ordering, collisions, empty lists, items, meta, manifest extras, flip /
 * no flip, pruning, cancellation, calls out of order, and the staging
 * directory of a dead build.
 */
#include "output.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "catset.h"
#include "version.h"
#include "dataset.h"
#include "error.h"
#include "keys.h"
#include "layout.h"
#include "record.h"
#include "scratch.h"

static char root[PATH_MAX];

static void setup(void)
{
    scratch_make(root, sizeof(root), "test_output");
}

static void teardown(void)
{
    scratch_remove(root);
}

static uint32_t intern(struct rb_strtab *t, const char *s)
{
    uint32_t i;
    ck_assert_int_eq(rb_strtab_intern(t, s, strlen(s), &i), 0);
    return i;
}

/* Products p0..p(n-1); p(i) in category c(i % 2); the last one out of stock. */
static void ds_init(struct rb_dataset *d, int n)
{
    rb_dataset_init(d);
    char id[16];
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "p%d", i);
        intern(&d->products, id);
    }
    intern(&d->categories, "c0");
    intern(&d->categories, "c1");
    size_t cap = d->products.cap ? d->products.cap : 1;
    d->in_stock = malloc(cap);
    d->in_catalog = malloc(cap);
    d->category = malloc(cap * sizeof(uint32_t));
    memset(d->in_stock, 1, cap);
    memset(d->in_catalog, 1, cap);
    for (int i = 0; i < n; i++)
        d->category[i] = (uint32_t)(i % 2);
    d->in_stock[n - 1] = 0;
    d->have_catalog = 1;
}

/* List i of l: owner id, source, entries (product index, score). */
static void set_list(struct rb_lists *l, size_t i, const char *owner, int source, const uint32_t *items, int len)
{
    l->owner_key[i] = rc_key(owner, strlen(owner));
    l->source[i] = (uint8_t)source;
    l->len[i] = (uint16_t)len;
    for (int j = 0; j < len; j++) {
        l->items[i * l->k + (size_t)j] = items[j];
        l->scores[i * l->k + (size_t)j] = 1.0f - 0.125f * (float)j;
    }
}

/* The manifest sections of these builds: the device only. */
static const struct rc_manifest_info cpu_info = {.device = "cpu"};

static int build(const struct rb_dataset *d, const struct rb_lists *const lists[RB_OUTPUT_LISTS], int flip,
                 size_t keep, const volatile sig_atomic_t *cancel, char *version, char *err)
{
    struct rb_output o;
    struct rb_output_opts oo = {.root = root, .cancel = cancel};
    int rc = rb_output_begin(&o, &oo, 1700000000, err);
    if (!rc)
        rc = rb_output_write(&o, d, lists, err);
    if (!rc)
        rc = rb_output_manifest(&o, &cpu_info, err);
    if (!rc)
        rc = rb_output_publish(&o, flip, keep, err);
    if (version)
        snprintf(version, RC_VERSION_MAX, "%s", o.vw.version);
    rb_output_release(&o);
    return rc;
}

/* Entries of the list under id in db: product ids joined by ",", or "" when absent. */
static void get_list(struct rc_cache *c, MDB_txn *txn, enum rc_db db, const char *id, char *out, size_t cap,
                     int *source)
{
    MDB_val v;
    out[0] = 0;
    uint64_t key = db == RC_DB_SEGMENT ? rc_segment_key(id, 2, "*", 1) : rc_key(id, strlen(id));
    int rc = rc_cache_get(c, txn, db, key, &v);
    if (rc == MDB_NOTFOUND)
        return;
    ck_assert_int_eq(rc, 0);
    struct rc_list l;
    char err[RC_ERRMSG_MAX];
    ck_assert_msg(rc_list_open(&l, v.mv_data, v.mv_size, RC_DECODE_VERIFY, err) == 0, "%s", err);
    *source = l.source;
    struct rc_entry e;
    size_t len = 0;
    float prev = 1e30f;
    while (rc_list_next(&l, &e)) {
        ck_assert(e.key == rc_key(e.id, e.id_len));
        ck_assert(e.score <= prev);
        prev = e.score;
        len += (size_t)snprintf(out + len, cap - len, "%s%.*s", len ? "," : "", (int)e.id_len, e.id);
    }
}

START_TEST(test_write_publish_read)
{
    struct rb_dataset d;
    ds_init(&d, 6);
    struct rb_lists cf, img, seg, cat;
    ck_assert_int_eq(rb_lists_init(&cf, 4, 3), 0);
    ck_assert_int_eq(rb_lists_init(&img, 2, 3), 0);
    ck_assert_int_eq(rb_lists_init(&seg, 1, 3), 0);
    ck_assert_int_eq(rb_lists_init(&cat, 2, 3), 0);
    set_list(&cat, 0, "c0", RC_SRC_CATEGORY, (uint32_t[]){2, 0}, 2);
    set_list(&cat, 1, "c1", RC_SRC_CATEGORY, NULL, 0); /* nothing popular: not written */
    set_list(&cf, 0, "cookie-b", RC_SRC_CF, (uint32_t[]){2, 0, 1}, 3);
    set_list(&cf, 1, "cookie-a", RC_SRC_CF, (uint32_t[]){3}, 1);
    set_list(&cf, 2, "cookie-empty", RC_SRC_CF, NULL, 0);
    set_list(&cf, 3, "cookie-c", RC_SRC_CF, (uint32_t[]){4, 1}, 2);
    set_list(&img, 0, "p1", RC_SRC_IMAGE, (uint32_t[]){0, 2}, 2);
    set_list(&img, 1, "p0", RC_SRC_IMAGE, (uint32_t[]){1}, 1);
    seg.owner_key[0] = rc_segment_key("US", 2, "*", 1);
    seg.source[0] = RC_SRC_SEGMENT;
    seg.len[0] = 1;
    seg.items[0] = 5;
    seg.scores[0] = 7;
    const struct rb_lists *lists[RB_OUTPUT_LISTS] = {&cf, &img, &seg, [RC_DB_CATEGORY] = &cat};
    /* Display fields (as catalog.c stores them): p1 a title and a price,
     * p3 a url; the others none. */
    static struct rb_display display[2] = {{.product = 1, .len = {6, 0, 0, 4, 0}, .at = 0},
                                           {.product = 3, .len = {0, 8, 0, 0, 0}, .at = 10}};
    static char display_text[] = "\"Shoe\"19.5\"/p/3/x\"";
    d.display = display;
    d.display_n = 2;
    d.display_text = display_text;
    d.display_text_len = sizeof(display_text) - 1;

    struct rb_output o;
    struct rb_output_opts oo = {.root = root};
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_msg(rb_output_begin(&o, &oo, 1700000000, err) == 0, "%s", err);
    ck_assert_str_eq(o.vw.version, "20231114T221320Z");
    struct stat st;
    ck_assert_int_eq(stat(o.vw.staging, &st), 0);
    ck_assert_msg(rb_output_write(&o, &d, lists, err) == 0, "%s", err);
    d.display = NULL; /* static: not for rb_dataset_release */
    d.display_text = NULL;
    ck_assert_uint_eq(o.vw.manifest.counts[RC_DB_COOKIE], 3);
    ck_assert_uint_eq(o.vw.manifest.counts[RC_DB_PRODUCT], 2);
    ck_assert_uint_eq(o.vw.manifest.counts[RC_DB_SEGMENT], 1);
    ck_assert_uint_eq(o.vw.manifest.counts[RC_DB_ITEMS], 6);
    ck_assert_uint_eq(o.vw.manifest.counts[RC_DB_CATEGORY], 1);
    ck_assert_uint_eq(o.vw.manifest.counts[RC_DB_CATSET], 2); /* every category with a product */
    ck_assert_uint_eq(o.records, 15);
    ck_assert_uint_eq(o.empty[RC_DB_CATEGORY], 1);
    ck_assert_uint_eq(o.empty[RC_DB_COOKIE], 1);
    ck_assert_uint_eq(o.collisions[RC_DB_COOKIE], 0);
    ck_assert_msg(rb_output_manifest(&o, &cpu_info, err) == 0, "%s", err);
    ck_assert_msg(rb_output_publish(&o, 1, 5, err) == 0, "%s", err);
    ck_assert(o.vw.flipped);
    char staging[PATH_MAX];
    snprintf(staging, sizeof(staging), "%s", o.vw.staging);
    rb_output_release(&o);

    char cur[RC_VERSION_MAX];
    ck_assert_int_eq(rc_layout_current(root, cur, err), 0);
    ck_assert_str_eq(cur, "20231114T221320Z");

    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/versions/%s", root, cur);
    struct rc_cache c;
    ck_assert_msg(rc_version_open(&c, dir, RC_VERIFY_FILES, err) == 0, "%s", err);
    const char *dev = rc_json_get_str(c.manifest.doc, "device");
    ck_assert_ptr_nonnull(dev);
    ck_assert_str_eq(dev, "cpu");
    MDB_txn *txn;
    ck_assert_int_eq(mdb_txn_begin(c.env, NULL, MDB_RDONLY, &txn), 0);
    char buf[256];
    int source = 0;
    get_list(&c, txn, RC_DB_COOKIE, "cookie-b", buf, sizeof(buf), &source);
    ck_assert_str_eq(buf, "p2,p0,p1");
    ck_assert_int_eq(source, RC_SRC_CF);
    get_list(&c, txn, RC_DB_COOKIE, "cookie-a", buf, sizeof(buf), &source);
    ck_assert_str_eq(buf, "p3");
    get_list(&c, txn, RC_DB_COOKIE, "cookie-c", buf, sizeof(buf), &source);
    ck_assert_str_eq(buf, "p4,p1");
    get_list(&c, txn, RC_DB_COOKIE, "cookie-empty", buf, sizeof(buf), &source);
    ck_assert_str_eq(buf, "");
    get_list(&c, txn, RC_DB_PRODUCT, "p1", buf, sizeof(buf), &source);
    ck_assert_str_eq(buf, "p0,p2");
    ck_assert_int_eq(source, RC_SRC_IMAGE);
    get_list(&c, txn, RC_DB_SEGMENT, "US", buf, sizeof(buf), &source);
    ck_assert_str_eq(buf, "p5");
    ck_assert_int_eq(source, RC_SRC_SEGMENT);
    get_list(&c, txn, RC_DB_CATEGORY, "c0", buf, sizeof(buf), &source);
    ck_assert_str_eq(buf, "p2,p0");
    ck_assert_int_eq(source, RC_SRC_CATEGORY);
    get_list(&c, txn, RC_DB_CATEGORY, "c1", buf, sizeof(buf), &source);
    ck_assert_str_eq(buf, "");

    /* catset: each category's products, in stock or not (p5 is out) */
    for (int cat_i = 0; cat_i < 2; cat_i++) {
        char name[4];
        snprintf(name, sizeof(name), "c%d", cat_i);
        MDB_val v;
        ck_assert_int_eq(rc_cache_get(&c, txn, RC_DB_CATSET, rc_key(name, 2), &v), 0);
        ck_assert_msg(rc_catset_check(v.mv_data, v.mv_size, err) == 0, "%s", err);
        struct rc_catset set;
        ck_assert_int_eq(rc_catset_open(&set, v.mv_data, v.mv_size), 0);
        ck_assert_uint_eq(set.count, 3);
        for (int i = 0; i < 6; i++) {
            char id[8];
            snprintf(id, sizeof(id), "p%d", i);
            ck_assert_int_eq(rc_catset_has(&set, rc_key(id, strlen(id))), i % 2 == cat_i);
        }
    }

    /* items: every product, category and stock */
    for (int i = 0; i < 6; i++) {
        char id[8];
        snprintf(id, sizeof(id), "p%d", i);
        MDB_val v;
        ck_assert_int_eq(rc_cache_get(&c, txn, RC_DB_ITEMS, rc_key(id, strlen(id)), &v), 0);
        struct rc_item it;
        ck_assert_int_eq(rc_item_decode(&it, v.mv_data, v.mv_size, err), 0);
        ck_assert_int_eq(it.id_len, strlen(id));
        ck_assert(memcmp(it.id, id, it.id_len) == 0);
        ck_assert_int_eq(it.cat_len, 2);
        ck_assert(memcmp(it.cat, i % 2 ? "c1" : "c0", 2) == 0);
        ck_assert_int_eq(it.flags & RC_ITEM_IN_STOCK, i == 5 ? 0 : 1);
        ck_assert_uint_eq(it.fields, i == 1 ? 0x09 : i == 3 ? 0x02 : 0);
        ck_assert_uint_eq(((const unsigned char *)v.mv_data)[4], it.fields ? RC_ITEM_VERSION : 1);
        if (i == 1) {
            ck_assert_mem_eq(it.field[RC_FIELD_TITLE].p, "\"Shoe\"", 6);
            ck_assert_mem_eq(it.field[RC_FIELD_PRICE].p, "19.5", 4);
        }
        if (i == 3)
            ck_assert_mem_eq(it.field[RC_FIELD_URL].p, "\"/p/3/x\"", 8);
    }
    MDB_val k = {7, "version"}, v;
    ck_assert_int_eq(mdb_get(txn, c.meta, &k, &v), 0);
    ck_assert_int_eq(v.mv_size, strlen(cur));
    k = (MDB_val){10, "created_at"};
    ck_assert_int_eq(mdb_get(txn, c.meta, &k, &v), 0);
    mdb_txn_abort(txn);
    rc_cache_close(&c);

    /* Nothing left in staging. */
    ck_assert_int_ne(stat(staging, &st), 0);

    rb_lists_release(&cf);
    rb_lists_release(&img);
    rb_lists_release(&seg);
    rb_lists_release(&cat);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_collisions_keep_first)
{
    struct rb_dataset d;
    ds_init(&d, 4);
    struct rb_lists cf;
    ck_assert_int_eq(rb_lists_init(&cf, 3, 2), 0);
    set_list(&cf, 0, "x", RC_SRC_CF, (uint32_t[]){1}, 1);
    set_list(&cf, 1, "y", RC_SRC_CF, (uint32_t[]){2}, 1);
    set_list(&cf, 2, "x", RC_SRC_CF, (uint32_t[]){3}, 1); /* same key as list 0 */
    const struct rb_lists *lists[RB_OUTPUT_LISTS] = {&cf, NULL, NULL};
    struct rb_output o;
    struct rb_output_opts oo = {.root = root};
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_int_eq(rb_output_begin(&o, &oo, 1700000000, err), 0);
    ck_assert_msg(rb_output_write(&o, &d, lists, err) == 0, "%s", err);
    ck_assert_uint_eq(o.collisions[RC_DB_COOKIE], 1);
    ck_assert_uint_eq(o.vw.manifest.counts[RC_DB_COOKIE], 2);
    ck_assert_uint_eq(o.vw.manifest.counts[RC_DB_PRODUCT], 0);
    ck_assert_int_eq(rb_output_manifest(&o, NULL, err), 0);
    ck_assert_msg(rb_output_publish(&o, 1, 0, err) == 0, "%s", err);
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", o.vw.published);
    rb_output_release(&o);

    struct rc_cache c;
    ck_assert_msg(rc_version_open(&c, dir, RC_VERIFY_FILES, err) == 0, "%s", err);
    MDB_txn *txn;
    ck_assert_int_eq(mdb_txn_begin(c.env, NULL, MDB_RDONLY, &txn), 0);
    char buf[64];
    int source;
    get_list(&c, txn, RC_DB_COOKIE, "x", buf, sizeof(buf), &source);
    ck_assert_str_eq(buf, "p1");
    mdb_txn_abort(txn);
    rc_cache_close(&c);
    rb_lists_release(&cf);
    rb_dataset_release(&d);
}
END_TEST

/* More records than one batch: ordering holds across write transactions. */
START_TEST(test_many_records_sorted)
{
    struct rb_dataset d;
    ds_init(&d, 50);
    enum { N = 150000 };
    struct rb_lists cf;
    ck_assert_int_eq(rb_lists_init(&cf, N, 2), 0);
    for (size_t i = 0; i < N; i++) {
        char id[24];
        snprintf(id, sizeof(id), "c%zu", i);
        set_list(&cf, i, id, RC_SRC_CF, (uint32_t[]){(uint32_t)(i % 50), (uint32_t)((i + 1) % 50)}, 2);
    }
    const struct rb_lists *lists[RB_OUTPUT_LISTS] = {&cf, NULL, NULL};
    char err[RC_ERRMSG_MAX] = "", v[RC_VERSION_MAX];
    ck_assert_msg(build(&d, lists, 1, 5, NULL, v, err) == 0, "%s", err);
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/versions/%s", root, v);
    struct rc_cache c;
    ck_assert_msg(rc_version_open(&c, dir, RC_VERIFY_FILES, err) == 0, "%s", err);
    ck_assert_uint_eq(c.manifest.counts[RC_DB_COOKIE], N);
    MDB_txn *txn;
    ck_assert_int_eq(mdb_txn_begin(c.env, NULL, MDB_RDONLY, &txn), 0);
    char buf[64];
    int source;
    get_list(&c, txn, RC_DB_COOKIE, "c12345", buf, sizeof(buf), &source);
    ck_assert_str_eq(buf, "p45,p46");
    get_list(&c, txn, RC_DB_COOKIE, "c149999", buf, sizeof(buf), &source);
    ck_assert_str_eq(buf, "p49,p0");
    mdb_txn_abort(txn);
    rc_cache_close(&c);
    rb_lists_release(&cf);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_no_flip_and_prune)
{
    struct rb_dataset d;
    ds_init(&d, 3);
    const struct rb_lists *lists[RB_OUTPUT_LISTS] = {NULL, NULL, NULL};
    char err[RC_ERRMSG_MAX] = "", v1[RC_VERSION_MAX], v2[RC_VERSION_MAX], v3[RC_VERSION_MAX], cur[RC_VERSION_MAX];
    ck_assert_msg(build(&d, lists, 1, 2, NULL, v1, err) == 0, "%s", err);
    ck_assert_msg(build(&d, lists, 0, 2, NULL, v2, err) == 0, "%s", err);
    ck_assert_str_eq(v2, "20231114T221320Z-2"); /* same second: suffixed */
    ck_assert_int_eq(rc_layout_current(root, cur, err), 0);
    ck_assert_str_eq(cur, v1); /* not flipped */
    ck_assert_msg(build(&d, lists, 0, 2, NULL, v3, err) == 0, "%s", err);
    /* keep 2 of v1, v2, v3: v1 is current, so it stays; v2 and v3 are the newest. */
    char (*list)[RC_VERSION_MAX];
    size_t n;
    ck_assert_int_eq(rc_layout_list(root, &list, &n, err), 0);
    ck_assert_uint_eq(n, 3);
    free(list);
    ck_assert_msg(build(&d, lists, 1, 2, NULL, NULL, err) == 0, "%s", err);
    ck_assert_int_eq(rc_layout_list(root, &list, &n, err), 0);
    ck_assert_uint_eq(n, 2); /* v3 and the new current */
    ck_assert_str_eq(list[0], v3);
    free(list);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_cancel_leaves_current)
{
    struct rb_dataset d;
    ds_init(&d, 3);
    const struct rb_lists *lists[RB_OUTPUT_LISTS] = {NULL, NULL, NULL};
    char err[RC_ERRMSG_MAX] = "", v1[RC_VERSION_MAX], cur[RC_VERSION_MAX];
    ck_assert_msg(build(&d, lists, 1, 5, NULL, v1, err) == 0, "%s", err);
    volatile sig_atomic_t cancel = SIGTERM;
    ck_assert_int_eq(build(&d, lists, 1, 5, &cancel, NULL, err), -EINTR);
    ck_assert_ptr_nonnull(strstr(err, "interrupted"));
    ck_assert_int_eq(rc_layout_current(root, cur, err), 0);
    ck_assert_str_eq(cur, v1);
    char (*list)[RC_VERSION_MAX];
    size_t n;
    ck_assert_int_eq(rc_layout_list(root, &list, &n, err), 0);
    ck_assert_uint_eq(n, 1);
    free(list);
    /* .staging is empty */
    char staging[PATH_MAX + 16];
    snprintf(staging, sizeof(staging), "%s/.staging", root);
    ck_assert_int_eq(rmdir(staging), 0);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_out_of_order_and_dead_staging)
{
    struct rb_dataset d;
    ds_init(&d, 3);
    const struct rb_lists *lists[RB_OUTPUT_LISTS] = {NULL, NULL, NULL};
    char err[RC_ERRMSG_MAX] = "";
    /* A dead build's staging dir (pid 0x7ffffffe is not running). */
    char dead[PATH_MAX + 64];
    snprintf(dead, sizeof(dead), "%s/.staging", root);
    ck_assert_int_eq(mkdir(dead, 0755), 0);
    snprintf(dead, sizeof(dead), "%s/.staging/20200101T000000Z.2147483646", root);
    ck_assert_int_eq(mkdir(dead, 0755), 0);

    struct rb_output o;
    struct rb_output_opts oo = {.root = root};
    ck_assert_int_eq(rb_output_begin(&o, &oo, 1700000000, err), 0);
    struct stat st;
    ck_assert_int_ne(stat(dead, &st), 0);
    ck_assert_int_eq(rb_output_manifest(&o, NULL, err), RC_EINTERNAL);
    ck_assert_int_eq(rb_output_write(&o, &d, lists, err), RC_EINTERNAL); /* the failed step ended it */
    char staging[PATH_MAX];
    snprintf(staging, sizeof(staging), "%s", o.vw.staging);
    rb_output_release(&o);
    ck_assert_int_ne(stat(staging, &st), 0);
    char cur[RC_VERSION_MAX];
    ck_assert_int_eq(rc_layout_current(root, cur, err), RC_ENOTFOUND);
    rb_dataset_release(&d);
}
END_TEST

/* A list naming a product that does not exist is a bug upstream: refused, nothing published. */
START_TEST(test_bad_product_index)
{
    struct rb_dataset d;
    ds_init(&d, 3);
    struct rb_lists cf;
    ck_assert_int_eq(rb_lists_init(&cf, 1, 2), 0);
    set_list(&cf, 0, "x", RC_SRC_CF, (uint32_t[]){1, 7}, 2);
    const struct rb_lists *lists[RB_OUTPUT_LISTS] = {&cf, NULL, NULL};
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_int_eq(build(&d, lists, 1, 5, NULL, NULL, err), RC_EINTERNAL);
    ck_assert_ptr_nonnull(strstr(err, "names product 7"));
    char (*list)[RC_VERSION_MAX];
    size_t n;
    ck_assert_int_eq(rc_layout_list(root, &list, &n, err), 0);
    ck_assert_uint_eq(n, 0);
    free(list);
    rb_lists_release(&cf);
    rb_dataset_release(&d);
}
END_TEST

static Suite *output_suite(void)
{
    Suite *s = suite_create("output");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_write_publish_read);
    tcase_add_test(tc, test_collisions_keep_first);
    tcase_add_test(tc, test_many_records_sorted);
    tcase_add_test(tc, test_no_flip_and_prune);
    tcase_add_test(tc, test_cancel_leaves_current);
    tcase_add_test(tc, test_out_of_order_and_dead_staging);
    tcase_add_test(tc, test_bad_product_index);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(output_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
