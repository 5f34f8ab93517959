/*
 * test_clicks.c - builder/clicks.c on exposure-log files written here:
 * beacons with a cookie, beacons whose cookie comes from their rec_id's
 * exposure in another node's file, beacons skipped because their rec_id has
 * no exposure or their exposure did not show their product (forged ones),
 * a cookie that differs from the exposure's, the directory layout of
 * ops/rollout.sh collect (open, hidden and deeper files not read), malformed
 * lines counted with a sample, missing paths, and the beacons' weights
 * reaching the training matrix.
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
        "{\"type\":\"purchase\",\"ts\":1764770100,\"rec_id\":\"" R2 "\",\"product\":\"p\\u00e9\",\"cookie\":\"c 2\"}\n"
        "{\"type\":\"view\",\"ts\":1764770100,\"product\":\"p1\",\"cookie\":\"c1\"}\n"
        "not json\n"
        "{\"type\":\"click\",\"ts\":1764770005.456,\"rec_id\":\"" R1 "\",\"cookie\":\"c1\"}\n"
        "{\"type\":\"click\",\"ts\":\"soon\",\"rec_id\":\"" R1 "\",\"product\":\"p2\",\"cookie\":\"c1\"}\n"
        "{\"type\":\"click\",\"ts\":1764770005,\"rec_id\":\"" R1 "\",\"product\":\"p2\",\"cookie\":\"\"}\n"
        "{\"type\":\"click\",\"ts\":1764770005,\"product\":\"p2\",\"rec_id\":\"NOTHEX\"}\n"
        "{\"type\":\"click\",\"ts\":1764770005,\"product\":\"p2\",\"cookie\":\"c1\"}\n"
        /* The exposure after its beacon: pass 2 reads it wherever it is. */
        "{\"type\":\"exposure\",\"ts\":1764770099.000,\"rec_id\":\"" R2 "\",\"cookie\":\"c 2\",\"route\":\"cf\","
        "\"version\":\"v\",\"items\":[\"p0\",\"p\xc3\xa9\"]}\n");
    struct rb_dataset d;
    rb_dataset_init(&d);
    struct rb_clicks_stats st;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_int_eq(rb_ingest_clicks(&d, &path, 1, &st, err), 0);
    ck_assert_uint_eq(st.files, 1);
    ck_assert_uint_eq(st.lines, 12);
    ck_assert_uint_eq(st.events[RB_CLICK], 1);
    ck_assert_uint_eq(st.events[RB_CART], 1);
    ck_assert_uint_eq(st.events[RB_PURCHASE], 1);
    ck_assert_uint_eq(st.events[RB_VIEW], 0);
    ck_assert_uint_eq(st.other, 3); /* the exposures and the view line */
    ck_assert_uint_eq(st.bad, 6);   /* the last one: a beacon without a rec_id */
    ck_assert_ptr_nonnull(strstr(st.bad_sample, "edge1-20261203T100000Z-0.jsonl:7: not JSON"));
    ck_assert_uint_eq(st.no_cookie, 0);
    ck_assert_uint_eq(st.no_exposure, 0);
    ck_assert_uint_eq(st.not_shown, 0);
    ck_assert_uint_eq(st.cookie_from_exposure, 0);
    ck_assert_uint_eq(st.cookie_replaced, 0);
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
    ck_assert_uint_eq(st.events[RB_CLICK], 1);
    ck_assert_uint_eq(st.events[RB_PURCHASE], 1);
    ck_assert_uint_eq(st.cookie_from_exposure, 2);
    ck_assert_uint_eq(st.no_exposure, 2); /* R2, with or without its own cookie */
    ck_assert_uint_eq(st.no_cookie, 1);   /* R3's exposure has no cookie */
    ck_assert_uint_eq(st.bad, 0);
    ck_assert_uint_eq(d.nevents, 2);
    /* In the order read. */
    ck_assert(str_is(&d.cookies, d.events[0].cookie, "from-exposure"));
    ck_assert_uint_eq(d.events[0].type, RB_CLICK);
    ck_assert_int_eq(d.events[0].ts, 1764770010);
    ck_assert(str_is(&d.cookies, d.events[1].cookie, "from-exposure"));
    ck_assert_uint_eq(d.events[1].type, RB_PURCHASE);
    ck_assert_uint_eq(d.cookies.n, 1);
    rb_dataset_release(&d);
}
END_TEST

#define R4 "0123456789abcdef0000000000000004"
#define R5 "0123456789abcdef0000000000000005"
#define R6 "0123456789abcdef0000000000000006"

/*
 * recedge answers 204 to a beacon for any product: only those that name an
 * exposure in the files read, for a product it showed, become events; the
 * others (forged, or of a visitor sampled out) are skipped and counted.
 */
static const char *write_forgery_log(void)
{
    write_file("log/edge1/edge1-20261203T100000Z-0.jsonl",
               "{\"type\":\"exposure\",\"ts\":1764770000.000,\"rec_id\":\"" R1 "\",\"cookie\":\"c1\","
               "\"route\":\"cf\",\"version\":\"v\",\"items\":[\"p1\",\"p2\"]}\n"
               "{\"type\":\"exposure\",\"ts\":1764770000.000,\"rec_id\":\"" R2 "\",\"cookie\":\"c2\","
               "\"route\":\"cf\",\"version\":\"v\",\"items\":[\"p3\"]}\n"
               "{\"type\":\"exposure\",\"ts\":1764770000.000,\"rec_id\":\"" R3 "\",\"route\":\"global\","
               "\"version\":\"v\",\"items\":[\"p4\"]}\n"
               "{\"type\":\"exposure\",\"ts\":1764770000.000,\"rec_id\":\"" R6 "\",\"cookie\":\"c6\","
               "\"route\":\"cf\",\"version\":\"v\",\"items\":[]}\n"
               /* Another writer's key order: parsed, not matched on its prefix. */
               "{\"rec_id\":\"" R5 "\",\"type\":\"exposure\",\"ts\":1764770000,\"cookie\":\"c5\",\"items\":[\"p6\"]}\n");
    write_file("log/edge2/edge2-20261203T100000Z-0.jsonl",
               /* legitimate */
               "{\"type\":\"click\",\"ts\":1764770010,\"rec_id\":\"" R1 "\",\"product\":\"p1\",\"cookie\":\"c1\"}\n"
               "{\"type\":\"purchase\",\"ts\":1764770011,\"rec_id\":\"" R1 "\",\"product\":\"p2\"}\n"
               "{\"type\":\"click\",\"ts\":1764770012,\"rec_id\":\"" R3 "\",\"product\":\"p4\",\"cookie\":\"anon\"}\n"
               "{\"type\":\"click\",\"ts\":1764770013,\"rec_id\":\"" R5 "\",\"product\":\"p6\",\"cookie\":\"c5\"}\n"
               /* a cookie other than the exposure's: the exposure's counts */
               "{\"type\":\"cart\",\"ts\":1764770014,\"rec_id\":\"" R2 "\",\"product\":\"p3\",\"cookie\":\"evil\"}\n"
               /* not shown: a real rec_id, another product (not even in the catalog) */
               "{\"type\":\"purchase\",\"ts\":1764770015,\"rec_id\":\"" R1 "\",\"product\":\"p9\",\"cookie\":\"c1\"}\n"
               "{\"type\":\"purchase\",\"ts\":1764770016,\"rec_id\":\"" R1 "\",\"product\":\"p9\"}\n"
               "{\"type\":\"click\",\"ts\":1764770017,\"rec_id\":\"" R3 "\",\"product\":\"p1\"}\n"
               "{\"type\":\"click\",\"ts\":1764770018,\"rec_id\":\"" R6 "\",\"product\":\"p1\",\"cookie\":\"c6\"}\n"
               "{\"type\":\"click\",\"ts\":1764770019,\"rec_id\":\"" R2 "\",\"product\":\"p7\",\"cookie\":\"c2\"}\n"
               /* no exposure: a rec_id recedge never gave (or a sampled-out visitor's) */
               "{\"type\":\"purchase\",\"ts\":1764770020,\"rec_id\":\"" R4 "\",\"product\":\"p1\",\"cookie\":\"c1\"}\n"
               "{\"type\":\"click\",\"ts\":1764770021,\"rec_id\":\"" R4 "\",\"product\":\"p2\"}\n"
               /* shown, but no cookie in the beacon or its exposure */
               "{\"type\":\"click\",\"ts\":1764770022,\"rec_id\":\"" R3 "\",\"product\":\"p4\"}\n"
               /* a second exposure of R2 (recedge writes one): the first one counts */
               "{\"type\":\"exposure\",\"ts\":1764770030.000,\"rec_id\":\"" R2 "\",\"cookie\":\"c9\","
               "\"route\":\"cf\",\"version\":\"v\",\"items\":[\"p7\"]}\n");
    static char dir[PATH_MAX + 8];
    snprintf(dir, sizeof(dir), "%s/log", tmpdir);
    return dir;
}

START_TEST(test_beacons_need_their_exposure)
{
    const char *dir = write_forgery_log();
    struct rb_dataset d;
    rb_dataset_init(&d);
    struct rb_clicks_stats st;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_int_eq(rb_ingest_clicks(&d, &dir, 1, &st, err), 0);
    ck_assert_uint_eq(st.files, 2);
    ck_assert_uint_eq(st.lines, 19);
    ck_assert_uint_eq(st.bad, 0);
    ck_assert_uint_eq(st.other, 6);
    ck_assert_uint_eq(st.events[RB_CLICK], 3);
    ck_assert_uint_eq(st.events[RB_CART], 1);
    ck_assert_uint_eq(st.events[RB_PURCHASE], 1);
    ck_assert_uint_eq(st.not_shown, 5);
    ck_assert_uint_eq(st.no_exposure, 2);
    ck_assert_uint_eq(st.no_cookie, 1);
    ck_assert_uint_eq(st.cookie_from_exposure, 1);
    ck_assert_uint_eq(st.cookie_replaced, 1);
    ck_assert_uint_eq(d.nevents, 5);
    static const struct {
        const char *cookie, *product;
        int type;
        int64_t ts;
    } want[] = {{"c1", "p1", RB_CLICK, 1764770010},   {"c1", "p2", RB_PURCHASE, 1764770011},
                {"anon", "p4", RB_CLICK, 1764770012}, {"c5", "p6", RB_CLICK, 1764770013},
                {"c2", "p3", RB_CART, 1764770014}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        ck_assert_msg(str_is(&d.cookies, d.events[i].cookie, want[i].cookie), "event %zu cookie", i);
        ck_assert_msg(str_is(&d.products, d.events[i].product, want[i].product), "event %zu product", i);
        ck_assert_uint_eq(d.events[i].type, want[i].type);
        ck_assert_int_eq(d.events[i].ts, want[i].ts);
    }
    /* Nothing of the skipped beacons reached the dataset. */
    ck_assert_uint_eq(rb_strtab_find(&d.products, "p9", 2), RB_NONE);
    ck_assert_uint_eq(rb_strtab_find(&d.products, "p7", 2), RB_NONE);
    ck_assert_uint_eq(rb_strtab_find(&d.cookies, "evil", 4), RB_NONE);
    ck_assert_uint_eq(rb_strtab_find(&d.cookies, "c9", 2), RB_NONE);
    ck_assert_uint_eq(d.cookies.n, 4);
    ck_assert_uint_eq(d.products.n, 5);
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
                                    "{\"type\":\"exposure\",\"ts\":1764770000.000,\"rec_id\":\"" R1 "\","
                                    "\"cookie\":\"c1\",\"route\":\"cf\",\"version\":\"v\",\"items\":[\"p2\"]}\n"
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

/* The checked beacons weigh what their type says; the forged purchases weigh nothing. */
START_TEST(test_weights_of_checked_beacons)
{
    const char *events = write_file("events.csv", "ts,cookie,event,product\n"
                                                  "1764770000,c1,view,p1\n"
                                                  "1764770000,c2,view,p2\n"
                                                  "1764770000,c3,purchase,p9\n");
    const char *dir = write_forgery_log();
    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_int_eq(rb_ingest_events(&d, events, NULL, NULL, NULL, err), 0);
    struct rb_clicks_stats st;
    ck_assert_int_eq(rb_ingest_clicks(&d, &dir, 1, &st, err), 0);
    ck_assert_uint_eq(st.not_shown + st.no_exposure, 7);
    struct rb_train_opts o;
    rb_train_opts_default(&o);
    o.half_life_days = 0;
    o.min_purchases = 0;
    o.weight[RB_CLICK] = 2.0f;
    o.weight[RB_CART] = 3.0f;
    o.weight[RB_PURCHASE] = 10.0f;
    struct rb_train t = {0};
    ck_assert_int_eq(rb_train_build(&t, &d, &o, err), 0);
    ck_assert_float_eq_tol(cell(&t, &d, "c1", "p1"), 1.0f + 2.0f, 1e-6f); /* the view and the click */
    ck_assert_float_eq_tol(cell(&t, &d, "c1", "p2"), 10.0f, 1e-6f);       /* purchase, cookie from its exposure */
    ck_assert_float_eq_tol(cell(&t, &d, "c2", "p3"), 3.0f, 1e-6f);        /* cart sent with another cookie */
    ck_assert_float_eq_tol(cell(&t, &d, "c5", "p6"), 2.0f, 1e-6f);
    ck_assert_float_eq(cell(&t, &d, "c1", "p9"), 0.0f); /* forged purchases of a product not shown */
    ck_assert_float_eq(cell(&t, &d, "c2", "p7"), 0.0f);
    ck_assert_float_eq_tol(cell(&t, &d, "c2", "p2"), 1.0f, 1e-6f);
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
    tcase_add_test(tc, test_beacons_need_their_exposure);
    tcase_add_test(tc, test_weights_of_checked_beacons);
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
