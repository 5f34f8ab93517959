/*
 * test_abreport.c - edge/abreport.c on a hand-written experiment whose
 * every line tests one rule of schemas/recctl.md, "ab-report": which
 * exposures count (experiment, arm, cookie, duplicates, arm conflicts,
 * closed files only, subdirectories), which beacons are clicks (shown
 * product, known rec_id), the window (an event in the exposure's own
 * second is inside, one past the window outside, exactly at it inside),
 * revenue from catalog prices, and the counts of malformed input.
 * The statistics themselves are test_stats.c's; the whole against planted
 * outcomes is tests/e2e/recctl_abreport.sh.
 */
#include "abreport.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "json.h"
#include "scratch.h"

static char dir[PATH_MAX];

static void put(const char *name, const char *text)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

#define EXP(cookie, arm, rec, ts, items)                                                                              \
    "{\"type\":\"exposure\",\"ts\":" ts ",\"rec_id\":\"" rec "\",\"cookie\":\"" cookie "\",\"experiment\":\"x1\","    \
    "\"arm\":\"" arm "\",\"route\":\"cf\",\"version\":\"v\",\"items\":[" items "]}\n"

static void fixture(void)
{
    scratch_make(dir, sizeof(dir), "abreport");
    put("experiments.json", "{\"id\":\"x1\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,5000],"
                            "\"control\":true},{\"name\":\"b\",\"buckets\":[5000,10000]}]}");
    char sub[PATH_MAX + 16];
    snprintf(sub, sizeof(sub), "%s/log", dir);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    snprintf(sub, sizeof(sub), "%s/log/sub", dir);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    put("log/n1-20251231T000000Z-000001.jsonl",
        EXP("c1", "a", "r1", "1000.500", "\"p1\",\"p2\"")                          /* */
        EXP("c2", "b", "r2", "2000.000", "\"p3\"")                                 /* */
        EXP("c3", "b", "r3", "3000.000", "\"p1\"")                                 /* */
        EXP("c1", "a", "r1", "1000.500", "\"p1\",\"p2\"")                          /* duplicate rec_id */
        EXP("c1", "b", "r4", "1100.000", "\"p1\"")                                 /* arm conflict */
        EXP("c6", "zzz", "r6", "1100.000", "\"p1\"")                               /* unknown arm */
        "{\"type\":\"exposure\",\"ts\":1.5,\"rec_id\":\"r7\",\"cookie\":\"c7\",\"experiment\":\"other\","
        "\"arm\":\"a\",\"items\":[\"p1\"]}\n"                                      /* another experiment */
        "{\"type\":\"exposure\",\"ts\":1.5,\"rec_id\":\"r8\",\"cookie\":\"c8\",\"items\":[\"p1\"]}\n" /* no arm */
        "{\"type\":\"click\",\"ts\":1001.000,\"rec_id\":\"r1\",\"product\":\"p2\",\"cookie\":\"c1\"}\n"
        "{\"type\":\"click\",\"ts\":1002.000,\"rec_id\":\"r1\",\"product\":\"p3\"}\n" /* not shown */
        "{\"type\":\"click\",\"ts\":1003.000,\"rec_id\":\"r9\",\"product\":\"p1\"}\n" /* unknown rec_id */
        "{\"type\":\"click\",\"ts\":1003.000,\"rec_id\":\"r8\",\"product\":\"p1\"}\n" /* a skipped exposure's */
        "{\"type\":\"click\",\"ts\":1.000,\"rec_id\":\"r2\",\"product\":\"p3\"}\n"    /* before its exposure: a click */
        "{\"type\":\"impression\",\"ts\":1.000}\n"                                     /* unknown type */
        "not json\n"                                                                   /* malformed */
        "\n"                                                                           /* blank: not a line */
        "{\"type\":\"exposure\",\"ts\":1.5,\"rec_id\":\"r10\",\"cookie\":\"c10\",\"experiment\":\"x1\","
        "\"arm\":\"a\"}\n"); /* no items: malformed */
    put("log/sub/n2-20251231T000000Z-000001.jsonl", EXP("c4", "a", "r5", "5000", "\"p4\""));
    put("log/n3-20251231T000000Z-000002.jsonl.open", EXP("c5", "a", "r11", "5000", "\"p4\""));
    put("events.csv", "ts,cookie,event,product\n"
                      "1000,c1,purchase,p1\n"  /* the exposure's own second: inside */
                      "999,c1,cart,p2\n"       /* before the exposure */
                      "2000,c2,cart,p3\n"      /* c2 carts */
                      "88401,c2,purchase,p3\n" /* one second past the window */
                      "89400,c3,purchase,p1\n" /* exactly at the window's end: inside */
                      "5000,c4,view,p4\n"      /* a view says nothing */
                      "bad-ts,c4,purchase,p4\n"
                      "5001,c4,Purchase,p9\n"  /* never shown */
                      "5002,c4,purchase,p4\n"  /* inside; p4 has no price */
                      "5003,zz,purchase,p4\n"); /* not a visitor */
    put("catalog.csv", "product,category,in_stock,price\np1,c,1,10.00\np2,c,1,3\np3,c,1,5\np4,c,1,\n");
}

static struct rc_json *render(const char *events, const char *catalog, double window)
{
    char exp[PATH_MAX + 32], log[PATH_MAX + 16], ev[PATH_MAX + 16], cat[PATH_MAX + 16], err[RC_ERRMSG_MAX];
    snprintf(exp, sizeof(exp), "%s/experiments.json", dir);
    snprintf(log, sizeof(log), "%s/log", dir);
    snprintf(ev, sizeof(ev), "%s/%s", dir, events ? events : "");
    snprintf(cat, sizeof(cat), "%s/%s", dir, catalog ? catalog : "");
    struct re_ab_opts o = {.experiments = exp, .window_hours = window, .format = RE_AB_JSON};
    ck_assert_int_eq(re_ab_paths_push(&o.logs, log, err), 0);
    if (events)
        ck_assert_int_eq(re_ab_paths_push(&o.events, ev, err), 0);
    o.catalog = catalog ? cat : NULL;
    struct rc_buf b;
    rc_buf_init(&b);
    int rc = re_ab_report_render(&b, &o, err);
    ck_assert_msg(rc == 0, "render: %s", err);
    struct rc_json *j = NULL;
    ck_assert_msg(rc_json_parse(b.data, b.len, &j, err) == 0, "JSON: %s", err);
    rc_buf_release(&b);
    return j;
}

static double num(const struct rc_json *j, const char *key)
{
    double v;
    ck_assert_msg(rc_json_get_num(j, key, &v) == 0, "no number '%s'", key);
    return v;
}

static const struct rc_json *arm(const struct rc_json *doc, const char *name)
{
    for (const struct rc_json *a = rc_json_get(doc, "arms")->child; a; a = a->next)
        if (strcmp(rc_json_get_str(a, "name"), name) == 0)
            return a;
    ck_abort_msg("no arm '%s'", name);
    return NULL;
}

START_TEST(test_counts)
{
    fixture();
    struct rc_json *j = render("events.csv", "catalog.csv", 24);
    const struct rc_json *in = rc_json_get(j, "inputs"), *sk = rc_json_get(j, "skipped");
    ck_assert_str_eq(rc_json_get_str(j, "outcomes_from"), "events");
    ck_assert_double_eq(num(in, "log_files"), 2);      /* the .open file is not read; sub/ is */
    ck_assert_double_eq(num(in, "malformed_lines"), 2);
    ck_assert_double_eq(num(in, "event_bad_lines"), 1);
    ck_assert_double_eq(num(sk, "exposures_duplicate"), 1);
    ck_assert_double_eq(num(sk, "arm_conflicts"), 1);
    ck_assert_double_eq(num(sk, "exposures_unknown_arm"), 1);
    ck_assert_double_eq(num(sk, "exposures_other_experiment"), 1);
    ck_assert_double_eq(num(sk, "exposures_without_arm"), 1);
    ck_assert_double_eq(num(sk, "beacons_not_shown"), 1);
    ck_assert_double_eq(num(sk, "beacons_unknown_rec_id"), 1);
    ck_assert_double_eq(num(sk, "beacons_skipped_exposure"), 1);
    ck_assert_double_eq(num(sk, "lines_other_type"), 1);
    ck_assert_double_eq(num(sk, "purchases_without_price"), 1);

    const struct rc_json *a = arm(j, "a"), *b = arm(j, "b");
    ck_assert_double_eq(num(a, "visitors"), 2); /* c1, c4 */
    ck_assert_double_eq(num(a, "exposures"), 2);
    ck_assert_double_eq(num(a, "clicks"), 1);
    ck_assert_double_eq(num(a, "clickers"), 1);
    ck_assert_double_eq(num(a, "purchasers"), 2); /* c1 in its exposure's second, c4 */
    ck_assert_double_eq(num(a, "carters"), 2);    /* a purchase is a cart too; c1's cart before the exposure is not */
    ck_assert_double_eq(num(a, "revenue"), 10);   /* p1; p4 has no price */
    ck_assert_double_eq(num(b, "visitors"), 2);   /* c2, c3 */
    ck_assert_double_eq(num(b, "clicks"), 1);
    ck_assert_double_eq(num(b, "carters"), 2);    /* c2 carts, c3 purchases */
    ck_assert_double_eq(num(b, "purchasers"), 1); /* c3 at the window's end; c2's is a second late */
    ck_assert_double_eq(num(b, "revenue"), 10);
    ck_assert_double_eq(num(b, "click_rate"), 0.5);

    const struct rc_json *srm = rc_json_get(j, "srm");
    ck_assert_double_eq(num(srm, "chi2"), 0);
    ck_assert_double_eq(num(srm, "p"), 1);
    ck_assert_int_eq(rc_json_get(srm, "mismatch")->num, 0);
    const struct rc_json *cmp = rc_json_get(j, "comparisons")->child;
    ck_assert_str_eq(rc_json_get_str(cmp, "arm"), "b");
    ck_assert_double_eq(num(rc_json_get(cmp, "purchase_rate"), "diff"), -0.5);
    rc_json_free(j);
    scratch_remove(dir);
}
END_TEST

/* Without events the log's beacons give the outcomes (none here); without
 * a catalog there is no revenue. A short window loses c3's purchase. */
START_TEST(test_sources_and_window)
{
    fixture();
    struct rc_json *j = render(NULL, NULL, 24);
    ck_assert_str_eq(rc_json_get_str(j, "outcomes_from"), "beacons");
    ck_assert_double_eq(num(arm(j, "a"), "purchasers"), 0);
    ck_assert_int_eq(rc_json_get(arm(j, "a"), "revenue_per_visitor")->type, RC_JSON_NULL);
    rc_json_free(j);
    j = render("events.csv", "catalog.csv", 1);
    ck_assert_double_eq(num(arm(j, "b"), "purchasers"), 0);
    ck_assert_double_eq(num(arm(j, "a"), "purchasers"), 2); /* both within seconds of their exposure */
    rc_json_free(j);
    scratch_remove(dir);
}
END_TEST

START_TEST(test_errors)
{
    fixture();
    char err[RC_ERRMSG_MAX], path[PATH_MAX + 16];
    struct rc_buf b;
    rc_buf_init(&b);
    snprintf(path, sizeof(path), "%s/log", dir);
    struct re_ab_opts o = {.experiments = path, .window_hours = 24}; /* a directory without experiments.json */
    ck_assert_int_eq(re_ab_paths_push(&o.logs, path, err), 0);
    ck_assert_int_eq(re_ab_report_render(&b, &o, err), RC_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err, "no experiments.json"));
    snprintf(path, sizeof(path), "%s/experiments.json", dir);
    o.experiments = path;
    o.logs.n = 0;
    ck_assert_int_eq(re_ab_report_render(&b, &o, err), RC_EEMPTY);
    ck_assert_int_eq(re_ab_paths_push(&o.logs, "/nonexistent/log", err), 0);
    ck_assert_int_eq(re_ab_report_render(&b, &o, err), -ENOENT);
    o.logs.n = 0;
    for (int i = 0; i < RE_AB_MAX_PATHS; i++)
        ck_assert_int_eq(re_ab_paths_push(&o.logs, "x", err), 0);
    ck_assert_int_eq(re_ab_paths_push(&o.logs, "x", err), RC_ERANGE);
    rc_buf_release(&b);
    scratch_remove(dir);
}
END_TEST

/* Text and HTML carry the same verdicts. */
START_TEST(test_text_html)
{
    fixture();
    char exp[PATH_MAX + 32], log[PATH_MAX + 16], err[RC_ERRMSG_MAX];
    snprintf(exp, sizeof(exp), "%s/experiments.json", dir);
    snprintf(log, sizeof(log), "%s/log", dir);
    struct re_ab_opts o = {.experiments = exp, .window_hours = 24, .format = RE_AB_TEXT};
    ck_assert_int_eq(re_ab_paths_push(&o.logs, log, err), 0);
    struct rc_buf b;
    rc_buf_init(&b);
    ck_assert_int_eq(re_ab_report_render(&b, &o, err), 0);
    ck_assert_ptr_nonnull(strstr(rc_buf_cstr(&b), "sample ratio: chi2 0.000, df 1, p 1: ok"));
    ck_assert_ptr_nonnull(strstr(rc_buf_cstr(&b), "b vs a:"));
    rc_buf_release(&b);
    rc_buf_init(&b);
    o.format = RE_AB_HTML;
    ck_assert_int_eq(re_ab_report_render(&b, &o, err), 0);
    ck_assert_ptr_nonnull(strstr(rc_buf_cstr(&b), "data-m=\"arms.a.visitors\">2<"));
    ck_assert_ptr_nonnull(strstr(rc_buf_cstr(&b), "<svg"));
    ck_assert_ptr_null(strstr(rc_buf_cstr(&b), "<script"));
    rc_buf_release(&b);
    scratch_remove(dir);
}
END_TEST

/* New products shown: the catalog's created_at under --explore-age-days (here 1) before each exposure. */
START_TEST(test_new_products)
{
    fixture();
    /* p1 listed long before every exposure, p2 at 500 (new at r1's 1000.5), p3 at 1800 (new at r2's 2000),
     * p4 without a date: never new. */
    put("catalog_new.csv", "product,category,in_stock,price,created_at\n"
                           "p1,c,1,10.00,-100000\np2,c,1,3, 500 \np3,c,1,5,1970-01-01T00:30:00Z\np4,c,1,,\n");
    char exp[PATH_MAX + 32], log[PATH_MAX + 16], cat[PATH_MAX + 32], err[RC_ERRMSG_MAX];
    snprintf(exp, sizeof(exp), "%s/experiments.json", dir);
    snprintf(log, sizeof(log), "%s/log", dir);
    snprintf(cat, sizeof(cat), "%s/catalog_new.csv", dir);
    struct re_ab_opts o = {.experiments = exp, .window_hours = 24, .explore_age_days = 1, .format = RE_AB_JSON,
                           .catalog = cat};
    ck_assert_int_eq(re_ab_paths_push(&o.logs, log, err), 0);
    struct rc_buf b;
    rc_buf_init(&b);
    ck_assert_int_eq(re_ab_report_render(&b, &o, err), 0);
    struct rc_json *j = NULL;
    ck_assert_msg(rc_json_parse(b.data, b.len, &j, err) == 0, "JSON: %s", err);
    const struct rc_json *nw = rc_json_get(j, "new_products");
    ck_assert_double_eq(num(nw, "age_days"), 1);
    ck_assert_double_eq(num(nw, "catalog_created_at"), 3);
    /* Every exposure read but the duplicate: r1 (p1 p2), r2, r3, r4, r5, r6, r7, r8: 9 items, p2 and p3 new. */
    ck_assert_double_eq(num(nw, "all_impressions"), 9);
    ck_assert_double_eq(num(nw, "impressions"), 2);
    ck_assert_double_eq(num(nw, "shown"), 2);
    const struct rc_json *arms = rc_json_get(nw, "arms"), *na = arms->child, *nb = na->next;
    ck_assert_str_eq(rc_json_get_str(na, "name"), "a");
    ck_assert_double_eq(num(na, "all_impressions"), 3); /* r1, r5 */
    ck_assert_double_eq(num(na, "impressions"), 1);     /* p2 */
    ck_assert_double_eq(num(na, "shown"), 1);
    ck_assert_double_eq(num(nb, "all_impressions"), 2); /* r2, r3 (r4 is an arm conflict) */
    ck_assert_double_eq(num(nb, "impressions"), 1);     /* p3 */
    /* Prices still read beside created_at. */
    ck_assert_double_eq(num(rc_json_get(j, "inputs"), "prices"), 3);
    rc_json_free(j);
    rc_buf_release(&b);

    /* The default age, 14 days: p1 (listed 100000 s before) is new too. */
    o.explore_age_days = 0;
    rc_buf_init(&b);
    ck_assert_int_eq(re_ab_report_render(&b, &o, err), 0);
    ck_assert_msg(rc_json_parse(b.data, b.len, &j, err) == 0, "JSON: %s", err);
    nw = rc_json_get(j, "new_products");
    ck_assert_double_eq(num(nw, "age_days"), 14);
    ck_assert_double_eq(num(nw, "shown"), 3);
    ck_assert_double_eq(num(nw, "impressions"), 8);
    rc_json_free(j);
    rc_buf_release(&b);

    /* Text and HTML say it; without a created_at column JSON has null. */
    o.explore_age_days = 1;
    o.format = RE_AB_TEXT;
    rc_buf_init(&b);
    ck_assert_int_eq(re_ab_report_render(&b, &o, err), 0);
    ck_assert_ptr_nonnull(strstr(rc_buf_cstr(&b), "new products (catalog created_at under 1 days before the "
                                                  "exposure): 2 shown, in 2 of 9 impressions"));
    ck_assert_ptr_nonnull(strstr(rc_buf_cstr(&b), "a 1 shown, 1 of 3; b 1 shown, 1 of 2"));
    rc_buf_release(&b);
    o.format = RE_AB_HTML;
    rc_buf_init(&b);
    ck_assert_int_eq(re_ab_report_render(&b, &o, err), 0);
    ck_assert_ptr_nonnull(strstr(rc_buf_cstr(&b), "data-m=\"new_products.shown\">2<"));
    rc_buf_release(&b);
    j = render(NULL, "catalog.csv", 24);
    ck_assert_int_eq(rc_json_get(j, "new_products")->type, RC_JSON_NULL);
    rc_json_free(j);

    /* A catalog with created_at and no price is read; one with neither is refused. */
    put("catalog_dates.csv", "product,created_at\np2,500\n");
    put("catalog_none.csv", "product,category\np2,c\n");
    snprintf(cat, sizeof(cat), "%s/catalog_dates.csv", dir);
    o.format = RE_AB_JSON;
    rc_buf_init(&b);
    ck_assert_int_eq(re_ab_report_render(&b, &o, err), 0);
    ck_assert_ptr_nonnull(strstr(rc_buf_cstr(&b), "\"new_products\":{\"age_days\":1,\"catalog_created_at\":1,"
                                                  "\"shown\":1,\"impressions\":1,"));
    rc_buf_release(&b);
    snprintf(cat, sizeof(cat), "%s/catalog_none.csv", dir);
    rc_buf_init(&b);
    ck_assert_int_eq(re_ab_report_render(&b, &o, err), RC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err, "lacks a price or created_at column"));
    rc_buf_release(&b);
    scratch_remove(dir);
}
END_TEST

static Suite *abreport_suite(void)
{
    Suite *s = suite_create("abreport");
    TCase *tc = tcase_create("report");
    tcase_add_test(tc, test_counts);
    tcase_add_test(tc, test_sources_and_window);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_text_html);
    tcase_add_test(tc, test_new_products);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(abreport_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
