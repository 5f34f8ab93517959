/*
 * test_clicks.c - builder/clicks.c on exposure-log files written here:
 * beacons with a cookie, beacons whose cookie comes from their rec_id's
 * exposure in another node's file, the directory layout of ops/rollout.sh
 * collect (open, hidden and deeper files not read), malformed lines counted
 * with a sample, missing paths, and --weight-click reaching the training
 * matrix.
 */
#include "clicks.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "ingest.h"
#include "scratch.h"
#include "train.h"

static char tmpdir[PATH_MAX];

static void setup(void)
{
    scratch_make(tmpdir, sizeof(tmpdir), "clicks");
}

static void teardown(void)
{
    scratch_remove(tmpdir);
}

/* Write text to tmpdir/name (directories made); returns the path in a static slot. */
static const char *write_file(const char *name, const char *text)
{
    static char paths[8][PATH_MAX + 64];
    static int next;
    char *path = paths[next++ % 8];
    snprintf(path, sizeof(paths[0]), "%s/%s", tmpdir, name);
    for (char *p = path + strlen(tmpdir) + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            (void)mkdir(path, 0755);
            *p = '/';
        }
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

static int str_is(const struct rb_strtab *t, uint32_t idx, const char *want)
{
    if (idx >= t->n)
        return 0;
    size_t len;
    const char *s = rb_strtab_str(t, idx, &len);
    return len == strlen(want) && memcmp(s, want, len) == 0;
}

#define R1 "0123456789abcdef0000000000000001"
#define R2 "0123456789abcdef0000000000000002"
#define R3 "0123456789abcdef0000000000000003"

START_TEST(test_beacons_with_cookie)
{
    const char *path = write_file(
        "edge1-20261203T100000Z-0.jsonl",
        "{\"type\":\"exposure\",\"ts\":1764770000.123,\"rec_id\":\"" R1 "\",\"cookie\":\"c1\",\"experiment\":\"e\","
        "\"arm\":\"control\",\"route\":\"cf\",\"version\":\"v\",\"items\":[\"p1\",\"p2\"]}\n"
        "{\"type\":\"click\",\"ts\":1764770005.456,\"rec_id\":\"" R1 "\",\"product\":\"p2\",\"cookie\":\"c1\"}\n"
        "\n"
        "{\"type\":\"cart\",\"ts\":1764770006.999,\"rec_id\":\"" R1 "\",\"product\":\"p2\",\"cookie\":\"c1\"}\n"
        "{\"type\":\"purchase\",\"ts\":1764770100,\"rec_id\":\"" R1 "\",\"product\":\"p\\u00e9\",\"cookie\":\"c 2\"}\n"
        "{\"type\":\"view\",\"ts\":1764770100,\"product\":\"p1\",\"cookie\":\"c1\"}\n"
        "not json\n"
        "{\"type\":\"click\",\"ts\":1764770005.456,\"rec_id\":\"" R1 "\",\"cookie\":\"c1\"}\n"
        "{\"type\":\"click\",\"ts\":\"soon\",\"product\":\"p2\",\"cookie\":\"c1\"}\n"
        "{\"type\":\"click\",\"ts\":1764770005,\"product\":\"p2\",\"cookie\":\"\"}\n"
        "{\"type\":\"click\",\"ts\":1764770005,\"product\":\"p2\",\"rec_id\":\"NOTHEX\"}\n");
    struct rb_dataset d;
    rb_dataset_init(&d);
    struct rb_clicks_stats st;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_int_eq(rb_ingest_clicks(&d, &path, 1, &st, err), 0);
    ck_assert_uint_eq(st.files, 1);
    ck_assert_uint_eq(st.lines, 10);
    ck_assert_uint_eq(st.events[RB_CLICK], 1);
    ck_assert_uint_eq(st.events[RB_CART], 1);
    ck_assert_uint_eq(st.events[RB_PURCHASE], 1);
    ck_assert_uint_eq(st.events[RB_VIEW], 0);
    ck_assert_uint_eq(st.other, 2); /* the exposure and the view line */
    ck_assert_uint_eq(st.bad, 5);
    ck_assert_ptr_nonnull(strstr(st.bad_sample, "edge1-20261203T100000Z-0.jsonl:7: not JSON"));
    ck_assert_uint_eq(st.no_cookie, 0);
    ck_assert_uint_eq(d.nevents, 3);
    ck_assert_uint_eq(d.stats.events, 3);
    ck_assert_uint_eq(d.events[0].type, RB_CLICK);
    ck_assert_int_eq(d.events[0].ts, 1764770005);
    ck_assert(str_is(&d.cookies, d.events[0].cookie, "c1"));
    ck_assert(str_is(&d.products, d.events[0].product, "p2"));
    ck_assert_uint_eq(d.events[0].loc, RB_NONE16);
    ck_assert_uint_eq(d.events[1].type, RB_CART);
    ck_assert_int_eq(d.events[1].ts, 1764770006);
    ck_assert_uint_eq(d.events[2].type, RB_PURCHASE);
    ck_assert(str_is(&d.cookies, d.events[2].cookie, "c 2"));
    ck_assert(str_is(&d.products, d.events[2].product, "p\xc3\xa9"));
    ck_assert_int_eq(d.ts_min, 1764770005);
    ck_assert_int_eq(d.ts_max, 1764770100);
    rb_dataset_release(&d);
}
END_TEST

/* The layout collect leaves, one directory per node; the click reached edge2, its exposure was on edge1. */
START_TEST(test_cookie_from_exposure_across_nodes)
{
    write_file("dest/edge1/edge1-20261203T100000Z-0.jsonl",
               "{\"type\":\"exposure\",\"ts\":1764770000.000,\"rec_id\":\"" R1 "\",\"cookie\":\"from-exposure\","
               "\"route\":\"cf\",\"version\":\"v\",\"items\":[\"p1\"]}\n"
               "{\"type\":\"exposure\",\"ts\":1764770000.000,\"rec_id\":\"" R3 "\",\"route\":\"global\","
               "\"version\":\"v\",\"items\":[\"p1\"]}\n");
    write_file("dest/edge2/edge2-20261203T100000Z-0.jsonl",
               "{\"type\":\"click\",\"ts\":1764770010.5,\"rec_id\":\"" R1 "\",\"product\":\"p1\"}\n"
               "{\"type\":\"purchase\",\"ts\":1764770020,\"rec_id\":\"" R1 "\",\"product\":\"p1\"}\n"
               "{\"type\":\"click\",\"ts\":1764770011,\"rec_id\":\"" R2 "\",\"product\":\"p1\"}\n"
               "{\"type\":\"click\",\"ts\":1764770012,\"rec_id\":\"" R3 "\",\"product\":\"p1\"}\n"
               "{\"type\":\"click\",\"ts\":1764770001,\"rec_id\":\"" R2 "\",\"product\":\"p9\",\"cookie\":\"own\"}\n");
    /* Not read: an open file, a hidden one, another name, a file two levels down. */
    write_file("dest/edge2/edge2-20261203T101000Z-1.jsonl.open",
               "{\"type\":\"click\",\"ts\":1764770010,\"product\":\"p1\",\"cookie\":\"open\"}\n");
    write_file("dest/edge2/.edge2-20261203T101000Z-1.jsonl.abc123",
               "{\"type\":\"click\",\"ts\":1764770010,\"product\":\"p1\",\"cookie\":\"temp\"}\n");
    write_file("dest/.hidden.jsonl",
               "{\"type\":\"click\",\"ts\":1764770010,\"product\":\"p1\",\"cookie\":\"hidden\"}\n");
    write_file("dest/edge2/deep/x.jsonl",
               "{\"type\":\"click\",\"ts\":1764770010,\"product\":\"p1\",\"cookie\":\"deep\"}\n");
    char dir[PATH_MAX + 8];
    snprintf(dir, sizeof(dir), "%s/dest", tmpdir);
    const char *paths[] = {dir};
    struct rb_dataset d;
    rb_dataset_init(&d);
    struct rb_clicks_stats st;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_int_eq(rb_ingest_clicks(&d, paths, 1, &st, err), 0);
    ck_assert_uint_eq(st.files, 2);
    ck_assert_uint_eq(st.events[RB_CLICK], 2);
    ck_assert_uint_eq(st.events[RB_PURCHASE], 1);
    ck_assert_uint_eq(st.cookie_from_exposure, 2);
    ck_assert_uint_eq(st.no_cookie, 2); /* R2 has no exposure; R3's exposure has no cookie */
    ck_assert_uint_eq(st.bad, 0);
    ck_assert_uint_eq(d.nevents, 3);
    /* The beacon with its own cookie first (pass 1), then the resolved ones in the order read. */
    ck_assert(str_is(&d.cookies, d.events[0].cookie, "own"));
    ck_assert(str_is(&d.cookies, d.events[1].cookie, "from-exposure"));
    ck_assert_uint_eq(d.events[1].type, RB_CLICK);
    ck_assert_int_eq(d.events[1].ts, 1764770010);
    ck_assert(str_is(&d.cookies, d.events[2].cookie, "from-exposure"));
    ck_assert_uint_eq(d.events[2].type, RB_PURCHASE);
    ck_assert_uint_eq(d.cookies.n, 2);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_missing_and_empty)
{
    char missing[PATH_MAX + 16];
    snprintf(missing, sizeof(missing), "%s/nope", tmpdir);
    const char *paths[] = {missing};
    struct rb_dataset d;
    rb_dataset_init(&d);
    struct rb_clicks_stats st;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_int_eq(rb_ingest_clicks(&d, paths, 1, &st, err), -ENOENT);
    ck_assert_ptr_nonnull(strstr(err, "/nope"));
    /* A directory without closed files: nothing, and no error (a quiet hour). */
    paths[0] = tmpdir;
    write_file("a.jsonl.open", "{}\n");
    ck_assert_int_eq(rb_ingest_clicks(&d, paths, 1, &st, err), 0);
    ck_assert_uint_eq(st.files, 0);
    ck_assert_uint_eq(d.nevents, 0);
    rb_dataset_release(&d);
}
END_TEST

/* The cell (cookie c, product p) of the training matrix. */
static float cell(const struct rb_train *t, const struct rb_dataset *d, const char *c, const char *p)
{
    uint32_t ci = rb_strtab_find(&d->cookies, c, strlen(c)), pi = rb_strtab_find(&d->products, p, strlen(p));
    for (uint32_t r = 0; r < t->ui.rows; r++) {
        if (t->row_cookie[r] != ci)
            continue;
        for (uint64_t j = t->ui.indptr[r]; j < t->ui.indptr[r + 1]; j++)
            if (t->ui.indices[j] == pi)
                return t->ui.values[j];
    }
    return 0;
}

START_TEST(test_click_weight_in_training)
{
    const char *events = write_file("events.csv", "ts,cookie,event,product\n"
                                                  "1764770000,c1,view,p1\n"
                                                  "1764770000,c1,purchase,p3\n"
                                                  "1764770000,c2,view,p2\n");
    const char *clicks = write_file("log/edge1-20261203T100000Z-0.jsonl",
                                    "{\"type\":\"click\",\"ts\":1764770000.5,\"rec_id\":\"" R1 "\",\"product\":\"p2\","
                                    "\"cookie\":\"c1\"}\n");
    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_int_eq(rb_ingest_events(&d, events, NULL, NULL, NULL, err), 0);
    struct rb_clicks_stats st;
    ck_assert_int_eq(rb_ingest_clicks(&d, &clicks, 1, &st, err), 0);
    struct rb_train_opts o;
    rb_train_opts_default(&o);
    ck_assert_float_eq(o.weight[RB_CLICK], 1.0f);
    o.half_life_days = 0;
    o.min_purchases = 0;
    o.weight[RB_CLICK] = 7.0f;
    struct rb_train t = {0};
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), 0);
    ck_assert_float_eq_tol(cell(&t, &d, "c1", "p2"), 7.0f, 1e-6f);
    ck_assert_float_eq_tol(cell(&t, &d, "c1", "p1"), 1.0f, 1e-6f);
    ck_assert_float_eq_tol(cell(&t, &d, "c2", "p2"), 1.0f, 1e-6f);
    rb_train_release(&t);
    /* Weight 0: the click adds nothing. */
    o.weight[RB_CLICK] = 0.0f;
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), 0);
    ck_assert_float_eq(cell(&t, &d, "c1", "p2"), 0.0f);
    rb_train_release(&t);
    rb_dataset_release(&d);
}
END_TEST

static Suite *clicks_suite(void)
{
    Suite *s = suite_create("clicks");
    TCase *tc = tcase_create("clicks");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_beacons_with_cookie);
    tcase_add_test(tc, test_cookie_from_exposure_across_nodes);
    tcase_add_test(tc, test_missing_and_empty);
    tcase_add_test(tc, test_click_weight_in_training);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(clicks_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
