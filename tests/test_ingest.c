/*
 * test_ingest.c - builder/ingest.c, catalog.c and npy.c on small files
 * written by the tests: CSV and TSV, quoting, column order and mapping,
 * presets (lines as RetailRocket and REES46 publish them), every accepted
 * timestamp form and unit, event names in any case, unknown event types,
 * the session column, every bad-line reason with its sample, id length
 * limits, CRLF, lines split across read chunks, the catalog, and .npy
 * embeddings written byte by byte here.
 */
#include "ingest.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "ingest_int.h"
#include "keys.h"
#include "scratch.h"

static char tmpdir[PATH_MAX];

static void setup(void)
{
    scratch_make(tmpdir, sizeof(tmpdir), "ingest");
}

static void teardown(void)
{
    scratch_remove(tmpdir);
}

/* Write len bytes (strlen when len is -1) to tmpdir/name; returns the path in a static slot. */
static const char *write_file(const char *name, const void *data, long len)
{
    static char paths[8][PATH_MAX + 64];
    static int next;
    char *path = paths[next++ % 8];
    snprintf(path, sizeof(paths[0]), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    size_t n = len < 0 ? strlen(data) : (size_t)len;
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
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

/* Ingest text as one events file with options o (NULL: defaults); returns the code. */
static int ingest_text(struct rb_dataset *d, const char *text, const struct rb_ingest_opts *o, char *err)
{
    const char *path = write_file("events.csv", text, -1);
    err[0] = '\0';
    return rb_ingest_events(d, path, o, NULL, NULL, err);
}

static uint64_t total_bad(const struct rb_dataset *d)
{
    uint64_t n = 0;
    for (int i = 0; i < RB_BAD_REASONS; i++)
        n += d->stats.bad[i];
    return n;
}

/* ---- events ---- */

START_TEST(test_csv_basic)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX];
    int rc = ingest_text(&d,
                         "ts,cookie,event,product,location,device\n"
                         "100,c1,view,p1,US,mobile\n"
                         "200,c2,cart,p2,,desktop\n"
                         "150,c1,purchase,p2,DE,\n",
                         NULL, err);
    ck_assert_msg(rc == 0, "rc %d: %s", rc, err);
    ck_assert_uint_eq(d.nevents, 3);
    ck_assert_uint_eq(d.stats.lines, 3);
    ck_assert_uint_eq(d.stats.events, 3);
    ck_assert_uint_eq(total_bad(&d), 0);
    ck_assert_uint_eq(d.cookies.n, 2);
    ck_assert_uint_eq(d.products.n, 2);
    ck_assert(str_is(&d.cookies, 0, "c1") && str_is(&d.cookies, 1, "c2"));
    ck_assert(str_is(&d.products, 0, "p1") && str_is(&d.products, 1, "p2"));
    ck_assert(str_is(&d.locs, 0, "US") && str_is(&d.locs, 1, "DE"));
    ck_assert(str_is(&d.devices, 0, "mobile") && str_is(&d.devices, 1, "desktop"));
    const struct rb_event *e = d.events;
    ck_assert_int_eq(e[0].ts, 100);
    ck_assert_uint_eq(e[0].cookie, 0);
    ck_assert_uint_eq(e[0].product, 0);
    ck_assert_uint_eq(e[0].loc, 0);
    ck_assert_uint_eq(e[0].device, 0);
    ck_assert_uint_eq(e[0].type, RB_VIEW);
    ck_assert_int_eq(e[1].ts, 200);
    ck_assert_uint_eq(e[1].cookie, 1);
    ck_assert_uint_eq(e[1].loc, RB_NONE16);
    ck_assert_uint_eq(e[1].device, 1);
    ck_assert_uint_eq(e[1].type, RB_CART);
    ck_assert_uint_eq(e[2].cookie, 0);
    ck_assert_uint_eq(e[2].product, 1);
    ck_assert_uint_eq(e[2].loc, 1);
    ck_assert_uint_eq(e[2].device, RB_NONE16);
    ck_assert_uint_eq(e[2].type, RB_PURCHASE);
    ck_assert_int_eq(d.ts_min, 100);
    ck_assert_int_eq(d.ts_max, 200);
    ck_assert_ptr_null(d.event_session); /* no session column */
    ck_assert_uint_eq(d.sessions.n, 0);
    /* No catalog: every product is recommendable. */
    ck_assert_int_eq(d.have_catalog, 0);
    ck_assert_uint_eq(d.in_stock[0], 1);
    ck_assert_uint_eq(d.in_stock[1], 1);
    ck_assert_uint_eq(d.category[1], RB_NONE);
    ck_assert_int_eq(rb_ingest_check_bad(&d, 0.0, err), 0);
    rb_dataset_release(&d);
}
END_TEST

/* Columns in another order, extra columns, no location/device columns, a session column, no final newline. */
START_TEST(test_column_order_and_extras)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX];
    int rc = ingest_text(&d,
                         "session,product,price,event,cookie,ts\n"
                         "s1,p9,1.50,purchase,cA,1700000000\n"
                         "s2,p8,2.00,view,cB,1700000001",
                         NULL, err);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(d.nevents, 2);
    ck_assert(str_is(&d.products, d.events[0].product, "p9"));
    ck_assert(str_is(&d.cookies, d.events[0].cookie, "cA"));
    ck_assert_uint_eq(d.events[0].type, RB_PURCHASE);
    ck_assert_uint_eq(d.events[0].loc, RB_NONE16);
    ck_assert_uint_eq(d.events[0].device, RB_NONE16);
    ck_assert_int_eq(d.events[1].ts, 1700000001);
    ck_assert(str_is(&d.cookies, d.events[1].cookie, "cB"));
    ck_assert_ptr_nonnull(d.event_session);
    ck_assert(str_is(&d.sessions, d.event_session[0], "s1"));
    ck_assert(str_is(&d.sessions, d.event_session[1], "s2"));
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_tsv)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX];
    /* Tab-separated: commas and quotes are ordinary bytes. */
    int rc = ingest_text(&d,
                         "cookie\tts\tproduct\tevent\n"
                         "a,b\t10\t\"p1\"\tview\n"
                         "c\t20\tp2\tcart\n",
                         NULL, err);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(d.nevents, 2);
    ck_assert(str_is(&d.cookies, d.events[0].cookie, "a,b"));
    ck_assert(str_is(&d.products, d.events[0].product, "\"p1\""));
    ck_assert_int_eq(d.events[1].ts, 20);
    ck_assert_uint_eq(d.events[1].type, RB_CART);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_csv_quoting)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX];
    int rc = ingest_text(&d,
                         "\"ts\",\"cookie\",event,product,title\n"
                         "1,\"a,b\",view,\"x\"\"y\",\"a title, with \"\"quotes\"\"\"\n"
                         "2,\"\"\"\",\"cart\",p,unquoted title\n"
                         "3,c,view,p,\"unterminated\n"
                         "4,\"c\"x,view,p\n"
                         "5,c\"d,view,p\n"
                         "6,\"\",view,p\n",
                         NULL, err);
    ck_assert_msg(rc == 0, "%s", err);
    /* Line 4 quotes only a field past the ones needed: not looked at. */
    ck_assert_uint_eq(d.nevents, 3);
    ck_assert(str_is(&d.cookies, d.events[0].cookie, "a,b"));
    ck_assert(str_is(&d.products, d.events[0].product, "x\"y"));
    ck_assert(str_is(&d.cookies, d.events[1].cookie, "\""));
    ck_assert_uint_eq(d.events[1].type, RB_CART);
    ck_assert(str_is(&d.cookies, d.events[2].cookie, "c"));
    ck_assert_int_eq(d.events[2].ts, 3);
    ck_assert_uint_eq(d.stats.bad[RB_BAD_QUOTE], 2); /* text after a closing quote; quote inside a field */
    ck_assert_uint_eq(d.stats.bad[RB_BAD_ID], 1);    /* quoted empty cookie */
    ck_assert_ptr_nonnull(strstr(d.stats.samples[RB_BAD_QUOTE][0], ":5: 4,\"c\"x,view,p"));
    ck_assert_ptr_nonnull(strstr(d.stats.samples[RB_BAD_QUOTE][1], ":6: 5,c\"d,view,p"));
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_unterminated_quote_in_needed_field)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(ingest_text(&d, "ts,cookie,event,product\n1,\"abc,view,p\n2,c,view,p\n", NULL, err), 0);
    ck_assert_uint_eq(d.nevents, 1);
    ck_assert_uint_eq(d.stats.bad[RB_BAD_QUOTE], 1);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_mapping)
{
    struct rb_ingest_opts o;
    rb_ingest_opts_default(&o);
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_int_eq(rb_ingest_parse_map(&o, "cookie=visitorid,product=itemid,ts=timestamp", err), 0);
    ck_assert_int_eq(rb_ingest_parse_event_map(&o, "cart=addtocart,purchase=transaction", err), 0);
    ck_assert_str_eq(o.col_cookie, "visitorid");
    ck_assert_str_eq(o.col_product, "itemid");
    ck_assert_str_eq(o.col_ts, "timestamp");
    ck_assert_str_eq(o.col_event, "event");
    o.ts_unit = RB_TS_MS;

    struct rb_dataset d;
    rb_dataset_init(&d);
    int rc = ingest_text(&d,
                         "timestamp,visitorid,event,itemid,transactionid\n"
                         "1433221332117,257597,view,355908,\n"
                         "1433224214164,992329,addtocart,248676,\n"
                         "1433221999827,111016,transaction,318965,4000\n"
                         "1433221999827,111016,cart,318965,\n" /* the canonical spelling still works */
                         "1433221999827,111016,pageview,318965,\n",
                         &o, err);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(d.nevents, 4);
    ck_assert_int_eq(d.events[0].ts, 1433221332);
    ck_assert_uint_eq(d.events[0].type, RB_VIEW);
    ck_assert(str_is(&d.cookies, d.events[0].cookie, "257597"));
    ck_assert(str_is(&d.products, d.events[0].product, "355908"));
    ck_assert_uint_eq(d.events[1].type, RB_CART);
    ck_assert_int_eq(d.events[1].ts, 1433224214);
    ck_assert_uint_eq(d.events[2].type, RB_PURCHASE);
    ck_assert_uint_eq(d.events[3].type, RB_CART);
    ck_assert_uint_eq(d.stats.events_unknown_type, 1); /* pageview */
    ck_assert_uint_eq(total_bad(&d), 0);

    /* The canonical name no longer finds a mapped column: error names both and the header. */
    rb_dataset_release(&d);
    rb_dataset_init(&d);
    rc = ingest_text(&d, "ts,cookie,event,product\n1,c,view,p\n", &o, err);
    ck_assert_int_eq(rc, RC_EFORMAT);
    ck_assert_msg(strstr(err, "'timestamp'") && strstr(err, "'ts'") && strstr(err, "ts,cookie,event,product"),
                  "message: %s", err);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_mapping_errors)
{
    struct rb_ingest_opts o;
    rb_ingest_opts_default(&o);
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_int_eq(rb_ingest_parse_map(&o, "user=visitorid", err), RC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err, "'user=visitorid'"));
    ck_assert_ptr_nonnull(strstr(err, "session"));
    ck_assert_int_eq(rb_ingest_parse_map(&o, "cookie", err), RC_EFORMAT);
    ck_assert_int_eq(rb_ingest_parse_map(&o, "cookie=", err), RC_EFORMAT);
    ck_assert_int_eq(rb_ingest_parse_map(&o, "", err), RC_EFORMAT);
    ck_assert_int_eq(rb_ingest_parse_event_map(&o, "click=view", err), RC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err, "'click=view'"));
    ck_assert_str_eq(o.col_cookie, "cookie"); /* failed parts change nothing */
    ck_assert_int_eq(rb_ingest_parse_event_map(&o, "view=a,view=b", err), 0);
    ck_assert_int_eq(rb_ingest_parse_event_map(&o, "view=c", err), RC_EFORMAT);
    ck_assert_str_eq(o.event_names[RB_VIEW][0], "view");
    ck_assert_str_eq(o.event_names[RB_VIEW][1], "a");
    ck_assert_str_eq(o.event_names[RB_VIEW][2], "b");
    ck_assert_ptr_null(o.event_names[RB_VIEW][3]);
    /* The latest mapping of a spelling wins, whatever its case: "B" leaves view for cart. */
    ck_assert_int_eq(rb_ingest_parse_event_map(&o, "cart=B", err), 0);
    ck_assert_str_eq(o.event_names[RB_VIEW][1], "a");
    ck_assert_ptr_null(o.event_names[RB_VIEW][2]);
    ck_assert_str_eq(o.event_names[RB_CART][1], "B");
    ck_assert_int_eq(rb_ingest_parse_event_map(&o, "view=c", err), 0); /* room again */
    ck_assert_int_eq(rb_ingest_parse_map(&o, "session=visit", err), 0);
    ck_assert_str_eq(o.col_session, "visit");
    ck_assert_int_eq(rb_ingest_preset(&o, "nosuch", err), RC_EFORMAT);
    ck_assert_msg(strstr(err, "'nosuch'") && strstr(err, "retailrocket") && strstr(err, "rees46"), "message: %s", err);
}
END_TEST

START_TEST(test_timestamps)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX];
    static const struct {
        const char *text;
        int64_t want;
    } cases[] = {
        {"1700000000", 1700000000},
        {"1700000000.999", 1700000000},
        {"0", 0},
        {"-1.5", -2}, /* floor */
        {"2024-01-01T00:00:00Z", 1704067200},
        {"2024-02-29T12:34:56Z", 1709210096},
        {"2024-02-29 12:34:56", 1709210096}, /* space, no zone: UTC */
        {"2024-02-29T12:34:56.789Z", 1709210096},
        {"2024-02-29T12:34:56+02:00", 1709202896},
        {"2024-02-29T12:34:56-05:30", 1709229896},
        {"2024-02-29T12:34:56.5-0530", 1709229896},
        {"2024-02-29T12:34:56+02", 1709202896},
        {"1999-12-31T23:59:59Z", 946684799},
        {"2000-03-01T00:00:00z", 951868800},
        {"1969-12-31T23:59:59Z", -1},
        /* Zones after one space, and " UTC" as REES46 writes it. */
        {"2019-10-01 00:00:00 UTC", 1569888000},
        {"2019-10-01T00:00:00UTC", 1569888000},
        {"2019-10-01 00:00:00.123456 UTC", 1569888000},
        {"2019-10-01T00:00:00 Z", 1569888000},
        {"2019-10-01 00:00:00 +02:00", 1569880800},
        {"2019-10-01T00:00:00+0000", 1569888000},
        {"2019-10-01t00:00:00-01", 1569891600},
        {"2019-10-01T00:00:00.5+05:30", 1569868200},
        {"2019-10-01T00:00:00.999999999", 1569888000},
        /* Numbers, unit by magnitude (--ts-unit auto): < 1e11 s, < 1e14 ms, else us. */
        {"+1700000000", 1700000000},
        {"99999999999", 99999999999},          /* the largest seconds */
        {"100000000000", 100000000},           /* the smallest milliseconds */
        {"1700000000000", 1700000000},
        {"1700000000999.9", 1700000000},
        {"99999999999999", 99999999999},       /* the largest milliseconds */
        {"100000000000000", 100000000},        /* the smallest microseconds */
        {"1700000000999999", 1700000000},
        {"1700000000000000.5", 1700000000},
        {"-1700000000000", -1700000000},       /* magnitude decides; floor */
        {"-1700000000001", -1700000001},
        {"-1700000000000000.5", -1700000001},
    };
    const size_t n = sizeof(cases) / sizeof(cases[0]);
    char text[8192] = "ts,cookie,event,product\n";
    for (size_t i = 0; i < n; i++)
        snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s,c%zu,view,p\n", cases[i].text, i);
    static const char *const bad[] = {
        "", "abc", "12a", "1.", "1e9", " 17", "2024-02-30T00:00:00Z", "2023-02-29T00:00:00Z",
        "2024-13-01T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:60:00Z", "2024-01-01",
        "2024-01-01T00:00:00+", "2024-01-01T00:00:00+02:0", "2024-01-01T00:00:00X", "2024-01-01T00:00:00.Z",
        "2024/01/01T00:00:00Z", "1234567890123456789",
        "99999999999999999999", "-99999999999999999999", /* 20 digits: refused before they overflow */
        "2019-10-01 00:00:00 ", "2019-10-01 00:00:00  UTC", "2019-10-01 00:00:00 utc", "2019-10-01 00:00:00 UT",
        "2019-10-01 00:00:00 UTC+1", "2019-10-01 00:00:00 UTCZ", "2024-01-01T00:00:00+02:",
        "2024-01-01T00:00:00 +02:00x",
        "2019-10-01 00:00", "1700000000000 ",
    };
    const size_t nbad = sizeof(bad) / sizeof(bad[0]);
    for (size_t i = 0; i < nbad; i++)
        snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s,b%zu,view,p\n", bad[i], i);
    int rc = ingest_text(&d, text, NULL, err);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(d.nevents, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(d.events[i].ts == cases[i].want, "'%s' -> %lld, want %lld", cases[i].text,
                      (long long)d.events[i].ts, (long long)cases[i].want);
    ck_assert_uint_eq(d.stats.bad[RB_BAD_TS], nbad);
    ck_assert_uint_eq(total_bad(&d), nbad);
    ck_assert_int_eq(d.ts_min, -1700000001);
    ck_assert_int_eq(d.ts_max, 99999999999);
    rb_dataset_release(&d);
}
END_TEST

/* --ts-unit s|ms|us forces the unit whatever the magnitude; ISO text is never scaled. */
START_TEST(test_ts_units_forced)
{
    static const char text[] = "ts,cookie,event,product\n"
                               "1700000000999,c,view,p\n"
                               "-1,c,view,p\n"
                               "2024-01-01T00:00:00Z,c,view,p\n"
                               "1500.7,c,view,p\n"
                               "1700000000999999,c,view,p\n";
    static const struct {
        int unit;
        int64_t want[5];
    } cases[] = {
        {RB_TS_S, {1700000000999, -1, 1704067200, 1500, 1700000000999999}},
        {RB_TS_MS, {1700000000, -1, 1704067200, 1, 1700000000999}},
        {RB_TS_US, {1700000, -1, 1704067200, 0, 1700000000}},
        {RB_TS_AUTO, {1700000000, -1, 1704067200, 1500, 1700000000}},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct rb_ingest_opts o;
        rb_ingest_opts_default(&o);
        ck_assert_int_eq(o.ts_unit, RB_TS_AUTO); /* the default */
        o.ts_unit = cases[c].unit;
        struct rb_dataset d;
        rb_dataset_init(&d);
        char err[RC_ERRMSG_MAX];
        ck_assert_int_eq(ingest_text(&d, text, &o, err), 0);
        ck_assert_uint_eq(d.nevents, 5);
        for (int i = 0; i < 5; i++)
            ck_assert_msg(d.events[i].ts == cases[c].want[i], "unit %d line %d: %lld, want %lld", cases[c].unit, i + 2,
                          (long long)d.events[i].ts, (long long)cases[c].want[i]);
        rb_dataset_release(&d);
    }
}
END_TEST

/* Event values match ignoring ASCII case; other values are counted apart, skipped, and weigh in the ratio. */
START_TEST(test_event_case_and_unknown)
{
    struct rb_ingest_opts o;
    rb_ingest_opts_default(&o);
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_ingest_parse_event_map(&o, "cart=add_to_cart", err), 0);
    struct rb_dataset d;
    rb_dataset_init(&d);
    int rc = ingest_text(&d,
                         "ts,cookie,event,product\n"
                         "1,c,View,p\n"
                         "2,c,VIEW,p\n"
                         "3,c,Purchase,p\n"
                         "4,c,cArT,p\n"
                         "5,c,ADD_TO_CART,p\n"      /* a mapped spelling, any case */
                         "6,c,add\x7fto_cart,p\n"   /* DEL is not '_' in another case */
                         "7,c,remove_from_cart,p\n" /* REES46 writes these */
                         "8,c,Remove_From_Cart,p\n"
                         "9,c,views,p\n"
                         "10,c,remove_from_cart,p\n",
                         &o, err);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(d.nevents, 5);
    static const uint8_t want[5] = {RB_VIEW, RB_VIEW, RB_PURCHASE, RB_CART, RB_CART};
    for (int i = 0; i < 5; i++) {
        ck_assert_uint_eq(d.events[i].type, want[i]);
        ck_assert_int_eq(d.events[i].ts, i + 1);
    }
    ck_assert_uint_eq(d.stats.lines, 10);
    ck_assert_uint_eq(total_bad(&d), 0);
    ck_assert_uint_eq(d.stats.events_unknown_type, 5);
    ck_assert_str_eq(d.stats.unknown_types[0], "add?to_cart");
    ck_assert_str_eq(d.stats.unknown_types[1], "remove_from_cart");
    ck_assert_str_eq(d.stats.unknown_types[2], "Remove_From_Cart");
    ck_assert_uint_eq(d.products.n, 1); /* skipped lines intern nothing */
    /* Not fatal on their own: only past the ratio, which they count toward. */
    ck_assert_int_eq(rb_ingest_check_bad(&d, 0.5, err), 0);
    ck_assert_int_eq(rb_ingest_check_bad(&d, 0.01, err), RC_EBADLINES);
    ck_assert_msg(strstr(err, "5 of 10") && strstr(err, "unknown event type") && strstr(err, "--map-event"),
                  "message: %s", err);
    rb_ingest_report(&d);
    rb_dataset_release(&d);
}
END_TEST

#define REES46_HEADER "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"
/* The first line of REES46's 2019-Oct.csv, as published. */
#define REES46_LINE                                                                                                    \
    "2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,"                             \
    "72d76fde-8bb3-4e00-8c23-a032dfed738c"

START_TEST(test_preset_rees46)
{
    struct rb_ingest_opts o;
    rb_ingest_opts_default(&o);
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_ingest_preset(&o, "rees46", err), 0);
    ck_assert_int_eq(o.ts_unit, RB_TS_AUTO);
    struct rb_dataset d;
    rb_dataset_init(&d);
    int rc = ingest_text(&d,
                         REES46_HEADER REES46_LINE "\n"
                         "2019-10-01 00:00:05 UTC,cart,44600062,2103807459595387724,,shiseido,35.79,541312140,"
                         "72d76fde-8bb3-4e00-8c23-a032dfed738c\n"
                         "2019-10-01 00:00:09 UTC,remove_from_cart,44600062,2103807459595387724,,shiseido,35.79,"
                         "541312140,72d76fde-8bb3-4e00-8c23-a032dfed738c\n"
                         "2019-10-01 00:01:00 UTC,purchase,3900821,2053013552326770905,"
                         "appliances.environment.water_heater,aqua,33.20,554748717,"
                         "9333dfbd-b87a-4708-9857-6336556b0fcc\n",
                         &o, err);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(d.nevents, 3);
    ck_assert_int_eq(d.events[0].ts, 1569888000);
    ck_assert_uint_eq(d.events[0].type, RB_VIEW);
    ck_assert(str_is(&d.cookies, d.events[0].cookie, "541312140"));
    ck_assert(str_is(&d.products, d.events[0].product, "44600062"));
    ck_assert_uint_eq(d.events[0].loc, RB_NONE16);
    ck_assert_uint_eq(d.events[0].device, RB_NONE16);
    ck_assert_ptr_nonnull(d.event_session);
    ck_assert(str_is(&d.sessions, d.event_session[0], "72d76fde-8bb3-4e00-8c23-a032dfed738c"));
    ck_assert_int_eq(d.events[1].ts, 1569888005);
    ck_assert_uint_eq(d.events[1].type, RB_CART);
    ck_assert_uint_eq(d.event_session[1], d.event_session[0]);
    ck_assert_int_eq(d.events[2].ts, 1569888060);
    ck_assert_uint_eq(d.events[2].type, RB_PURCHASE);
    ck_assert(str_is(&d.cookies, d.events[2].cookie, "554748717"));
    ck_assert(str_is(&d.sessions, d.event_session[2], "9333dfbd-b87a-4708-9857-6336556b0fcc"));
    ck_assert_uint_eq(d.sessions.n, 2);
    ck_assert_uint_eq(d.stats.events_unknown_type, 1);
    ck_assert_str_eq(d.stats.unknown_types[0], "remove_from_cart");
    ck_assert_uint_eq(total_bad(&d), 0);
    rb_dataset_release(&d);

    /* A file of this layout without user_session: read without sessions (a warning is logged). */
    rb_dataset_init(&d);
    ck_assert_int_eq(ingest_text(&d, "event_time,event_type,product_id,user_id\n2019-10-01 00:00:00 UTC,Purchase,1,2\n",
                                 &o, err),
                     0);
    ck_assert_uint_eq(d.nevents, 1);
    ck_assert_uint_eq(d.events[0].type, RB_PURCHASE);
    ck_assert_ptr_null(d.event_session);
    rb_dataset_release(&d);
}
END_TEST

/* retailrocket as published; then what a --map, --map-event or --ts-unit after --preset changes, and before it. */
START_TEST(test_preset_retailrocket_and_overrides)
{
    static const char rr[] = "timestamp,visitorid,event,itemid,transactionid\n"
                             "1433221332117,257597,view,355908,\n"
                             "1433224214164,992329,addtocart,248676,\n"
                             "1433221999827,111016,transaction,318965,4000\n";
    struct rb_ingest_opts o;
    rb_ingest_opts_default(&o);
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_ingest_preset(&o, "retailrocket", err), 0);
    ck_assert_int_eq(o.ts_unit, RB_TS_MS);
    struct rb_dataset d;
    rb_dataset_init(&d);
    ck_assert_int_eq(ingest_text(&d, rr, &o, err), 0);
    ck_assert_uint_eq(d.nevents, 3);
    ck_assert_int_eq(d.events[0].ts, 1433221332);
    ck_assert(str_is(&d.cookies, d.events[0].cookie, "257597"));
    ck_assert(str_is(&d.products, d.events[0].product, "355908"));
    ck_assert_uint_eq(d.events[1].type, RB_CART);
    ck_assert_uint_eq(d.events[2].type, RB_PURCHASE);
    ck_assert_ptr_null(d.event_session);
    rb_dataset_release(&d);

    /* --preset retailrocket --ts-unit s --map-event purchase=addtocart --map product=transactionid */
    o.ts_unit = RB_TS_S;
    ck_assert_int_eq(rb_ingest_parse_event_map(&o, "purchase=addtocart", err), 0);
    ck_assert_int_eq(rb_ingest_parse_map(&o, "product=transactionid", err), 0);
    rb_dataset_init(&d);
    ck_assert_int_eq(ingest_text(&d, rr, &o, err), 0);
    ck_assert_uint_eq(d.nevents, 1); /* the others have no transactionid */
    ck_assert_uint_eq(d.stats.bad[RB_BAD_ID], 2);
    ck_assert_int_eq(d.events[0].ts, 1433221999827);
    ck_assert(str_is(&d.products, d.events[0].product, "4000"));
    rb_dataset_release(&d);
    rb_dataset_init(&d);
    ck_assert_int_eq(rb_ingest_parse_map(&o, "product=itemid", err), 0);
    ck_assert_int_eq(ingest_text(&d, rr, &o, err), 0);
    ck_assert_uint_eq(d.events[1].type, RB_PURCHASE); /* addtocart now counts as a purchase, not a cart */
    rb_dataset_release(&d);

    /* --preset rees46 --map cookie=user_session: the session id as the visitor; the preset's other columns stay. */
    rb_ingest_opts_default(&o);
    ck_assert_int_eq(rb_ingest_preset(&o, "rees46", err), 0);
    ck_assert_int_eq(rb_ingest_parse_map(&o, "cookie=user_session", err), 0);
    rb_dataset_init(&d);
    ck_assert_int_eq(ingest_text(&d, REES46_HEADER REES46_LINE "\n", &o, err), 0);
    ck_assert_uint_eq(d.nevents, 1);
    ck_assert(str_is(&d.cookies, d.events[0].cookie, "72d76fde-8bb3-4e00-8c23-a032dfed738c"));
    ck_assert(str_is(&d.products, d.events[0].product, "44600062"));
    ck_assert(str_is(&d.sessions, d.event_session[0], "72d76fde-8bb3-4e00-8c23-a032dfed738c"));
    ck_assert_int_eq(d.events[0].ts, 1569888000);
    rb_dataset_release(&d);

    /* --map before --preset: the preset sets what it names over it, and leaves the rest. */
    rb_ingest_opts_default(&o);
    ck_assert_int_eq(rb_ingest_parse_map(&o, "cookie=user_session,location=brand", err), 0);
    o.ts_unit = RB_TS_US;
    ck_assert_int_eq(rb_ingest_preset(&o, "rees46", err), 0);
    ck_assert_str_eq(o.col_cookie, "user_id");
    ck_assert_str_eq(o.col_location, "brand");
    ck_assert_int_eq(o.ts_unit, RB_TS_AUTO);
    rb_dataset_init(&d);
    ck_assert_int_eq(ingest_text(&d, REES46_HEADER REES46_LINE "\n", &o, err), 0);
    ck_assert(str_is(&d.cookies, d.events[0].cookie, "541312140"));
    ck_assert(str_is(&d.locs, d.events[0].loc, "shiseido"));
    rb_dataset_release(&d);
}
END_TEST

/*
 * Session ids: one index per event, RB_NONE when empty or from a file
 * without the column, kept in step with the events array as it grows.
 */
START_TEST(test_session_column)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(ingest_text(&d, "ts,cookie,event,product\n1,c,view,p\n", NULL, err), 0);
    ck_assert_ptr_null(d.event_session);
    char id257[RC_ID_MAX + 2], text[1024];
    memset(id257, 's', RC_ID_MAX + 1);
    id257[RC_ID_MAX + 1] = '\0';
    snprintf(text, sizeof(text),
             "ts,cookie,event,product,session\n2,c,view,p,s1\n3,c,view,p,\n4,c,view,p,s1\n5,c2,cart,p,s2\n"
             "6,c,view,p,%s\n",
             id257);
    ck_assert_int_eq(ingest_text(&d, text, NULL, err), 0);
    ck_assert_ptr_nonnull(d.event_session);
    ck_assert_uint_eq(d.nevents, 5);
    ck_assert_uint_eq(d.stats.bad[RB_BAD_ID], 1); /* a session id over RC_ID_MAX bytes */
    ck_assert_uint_eq(d.event_session[0], RB_NONE);
    ck_assert(str_is(&d.sessions, d.event_session[1], "s1"));
    ck_assert_uint_eq(d.event_session[2], RB_NONE);
    ck_assert_uint_eq(d.event_session[3], d.event_session[1]);
    ck_assert(str_is(&d.sessions, d.event_session[4], "s2"));
    ck_assert_int_eq(ingest_text(&d, "ts,cookie,event,product\n7,c,view,p\n", NULL, err), 0);
    ck_assert_uint_eq(d.event_session[5], RB_NONE);

    /* A mapped session column, across the arrays' growth past 65536 events. */
    struct rb_ingest_opts o;
    rb_ingest_opts_default(&o);
    ck_assert_int_eq(rb_ingest_parse_map(&o, "session=visit", err), 0);
    const int lines = 70000;
    size_t cap = (size_t)lines * 32 + 64, n = 0;
    char *big = malloc(cap);
    ck_assert_ptr_nonnull(big);
    n += (size_t)sprintf(big + n, "visit\tts\tcookie\tevent\tproduct\n");
    for (int i = 0; i < lines; i++)
        n += (size_t)sprintf(big + n, "v%d\t%d\tc%d\tview\tp%d\n", i / 7, 100 + i, i / 7, i % 50);
    const char *path = write_file("sessions.tsv", big, (long)n);
    free(big);
    ck_assert_int_eq(rb_ingest_events(&d, path, &o, NULL, NULL, err), 0);
    ck_assert_uint_eq(d.nevents, 6 + (size_t)lines);
    ck_assert_uint_ge(d.events_cap, d.nevents);
    ck_assert_uint_eq(d.sessions.n, 2 + (uint32_t)((lines + 6) / 7));
    for (int i = 0; i < lines; i++) {
        char want[16];
        snprintf(want, sizeof(want), "v%d", i / 7);
        ck_assert(str_is(&d.sessions, d.event_session[6 + i], want));
    }
    ck_assert_uint_eq(d.event_session[0], RB_NONE); /* the first events kept theirs */
    ck_assert(str_is(&d.sessions, d.event_session[4], "s2"));
    rb_ingest_report(&d);
    rb_dataset_release(&d);
    ck_assert_ptr_null(d.event_session);
}
END_TEST

/* Every reason counted, with "file:line: text" samples, at most RB_BAD_SAMPLES each. */
START_TEST(test_bad_reasons_and_samples)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX];
    int rc = ingest_text(&d,
                         "ts,cookie,event,product\n" /* line 1 */
                         "1,c,view\n"                /* 2 fields */
                         "x,c,view,p\n"              /* 3 ts */
                         "1,c,click,p\n"             /* 4 unknown event type */
                         "1,,view,p\n"               /* 5 id */
                         "1,c,view,\n"               /* 6 id */
                         "1,c,view,\"p\n"            /* 7 quote */
                         "1,c,,p\n"                  /* 8 event (empty) */
                         "1,c,VIEW,p\n"              /* 9 good (any case) */
                         "1,c,bad1,p\n1,c,bad2,p\n1,c,click,p\n1,c,bad\x01" "4,p\n", /* 10-13 unknown */
                         NULL, err);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(d.nevents, 1);
    ck_assert_uint_eq(d.stats.lines, 12);
    ck_assert_uint_eq(d.stats.bad[RB_BAD_FIELDS], 1);
    ck_assert_uint_eq(d.stats.bad[RB_BAD_TS], 1);
    ck_assert_uint_eq(d.stats.bad[RB_BAD_EVENT], 1);
    ck_assert_uint_eq(d.stats.bad[RB_BAD_ID], 2);
    ck_assert_uint_eq(d.stats.bad[RB_BAD_QUOTE], 1);
    ck_assert_uint_eq(total_bad(&d), 6);
    /* Unknown types: counted apart, the first distinct values kept with a line each. */
    ck_assert_uint_eq(d.stats.events_unknown_type, 5);
    ck_assert_str_eq(d.stats.unknown_types[0], "click");
    ck_assert_str_eq(d.stats.unknown_types[1], "bad1");
    ck_assert_str_eq(d.stats.unknown_types[2], "bad2");
    ck_assert_ptr_nonnull(strstr(d.stats.unknown_type_samples[0], ":4: 1,c,click,p"));
    ck_assert_ptr_nonnull(strstr(d.stats.unknown_type_samples[1], ":10: 1,c,bad1,p"));
    ck_assert_ptr_nonnull(strstr(d.stats.unknown_type_samples[2], ":11: 1,c,bad2,p"));
    char want[PATH_MAX + 100];
    snprintf(want, sizeof(want), "%s/events.csv:2: 1,c,view", tmpdir);
    if (strlen(want) < 150)
        ck_assert_str_eq(d.stats.samples[RB_BAD_FIELDS][0], want);
    ck_assert_ptr_nonnull(strstr(d.stats.samples[RB_BAD_TS][0], "events.csv:3: x,c,view,p"));
    ck_assert_ptr_nonnull(strstr(d.stats.samples[RB_BAD_EVENT][0], ":8: 1,c,,p"));
    ck_assert_ptr_nonnull(strstr(d.stats.samples[RB_BAD_ID][0], ":5: 1,,view,p"));
    ck_assert_ptr_nonnull(strstr(d.stats.samples[RB_BAD_ID][1], ":6: 1,c,view,"));
    ck_assert_ptr_nonnull(strstr(d.stats.samples[RB_BAD_QUOTE][0], ":7: 1,c,view,\"p"));
    /* 11 of 12 lines are bad or of an unknown type; unknown types are the commonest. */
    ck_assert_int_eq(rb_ingest_check_bad(&d, 0.5, err), RC_EBADLINES);
    ck_assert_msg(strstr(err, "11 of 12") && strstr(err, "'unknown_event_type'") && strstr(err, "click") &&
                      strstr(err, ":4: 1,c,click,p"),
                  "message: %s", err);
    ck_assert_int_eq(rb_ingest_check_bad(&d, 0.95, err), 0);
    rb_ingest_report(&d); /* logs; must not crash on control bytes or quotes */
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_sample_truncated)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX], text[1024] = "ts,cookie,event,product\nx,";
    memset(text + strlen(text), 'k', 400);
    strcat(text, ",view,p\n");
    ck_assert_int_eq(ingest_text(&d, text, NULL, err), 0);
    ck_assert_uint_eq(d.stats.bad[RB_BAD_TS], 1);
    const char *s = d.stats.samples[RB_BAD_TS][0];
    ck_assert_uint_eq(strlen(s), sizeof(d.stats.samples[0][0]) - 1);
    ck_assert_str_eq(s + strlen(s) - 3, "...");
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_id_length)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX];
    char id256[RC_ID_MAX + 1], id257[RC_ID_MAX + 2];
    memset(id256, 'a', RC_ID_MAX);
    id256[RC_ID_MAX] = '\0';
    memset(id257, 'b', RC_ID_MAX + 1);
    id257[RC_ID_MAX + 1] = '\0';
    char text[4096];
    snprintf(text, sizeof(text),
             "ts,cookie,event,product,location,device\n"
             "1,%s,view,p,,\n"
             "2,%s,view,p,,\n"
             "3,c,view,%s,,\n"
             "4,c,view,%s,,\n"
             "5,c,view,p,%s,\n"
             "6,c,view,p,,%s\n",
             id256, id257, id256, id257, id257, id257);
    ck_assert_int_eq(ingest_text(&d, text, NULL, err), 0);
    ck_assert_uint_eq(d.nevents, 2);
    ck_assert_uint_eq(d.stats.bad[RB_BAD_ID], 4);
    ck_assert(str_is(&d.cookies, d.events[0].cookie, id256));
    ck_assert(str_is(&d.products, d.events[1].product, id256));
    /* Never truncated into a shorter id. */
    for (uint32_t i = 0; i < d.cookies.n; i++)
        ck_assert_uint_ne(d.cookies.lens[i], RC_ID_MAX + 1);
    ck_assert_uint_eq(rb_strtab_find(&d.cookies, id257, RC_ID_MAX), RB_NONE);
    ck_assert_uint_eq(d.locs.n, 0);
    ck_assert_uint_eq(d.devices.n, 0);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_crlf_and_blank_lines)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(ingest_text(&d,
                                 "\xEF\xBB\xBFts,cookie,event,product,device\r\n"
                                 "1,c1,view,p1,mobile\r\n"
                                 "\r\n"
                                 "2,c2,purchase,p2,tablet\r\n"
                                 "3,c3,cart,\"p3\"\r\n",
                                 NULL, err),
                     0);
    ck_assert_uint_eq(d.nevents, 2);
    ck_assert_uint_eq(d.stats.lines, 3);
    ck_assert(str_is(&d.devices, 0, "mobile"));
    ck_assert(str_is(&d.devices, 1, "tablet")); /* no "\r" kept */
    ck_assert_uint_eq(d.events[1].type, RB_PURCHASE);
    ck_assert_uint_eq(d.stats.bad[RB_BAD_FIELDS], 1);
    rb_dataset_release(&d);

    /* Same without a device column: the last needed field loses its "\r". */
    rb_dataset_init(&d);
    ck_assert_int_eq(ingest_text(&d, "ts,cookie,event,product\r\n1,c1,view,\"p1\"\r\n", NULL, err), 0);
    ck_assert_uint_eq(d.nevents, 1);
    ck_assert(str_is(&d.products, 0, "p1"));
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_empty_and_header_only)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(ingest_text(&d, "", NULL, err), RC_EEMPTY);
    ck_assert_msg(strstr(err, "events.csv") && strstr(err, "empty"), "message: %s", err);
    ck_assert_int_eq(ingest_text(&d, "ts,cookie,event,product\n", NULL, err), RC_EEMPTY);
    ck_assert_msg(strstr(err, "no data lines"), "message: %s", err);
    ck_assert_int_eq(ingest_text(&d, "ts,cookie,event,product\n\n\r\n", NULL, err), RC_EEMPTY);
    ck_assert_int_eq(rb_ingest_check_bad(&d, 0.01, err), RC_EEMPTY);
    /* All lines bad is not "empty" for the file, but check_bad refuses it. */
    ck_assert_int_eq(ingest_text(&d, "ts,cookie,event,product\nx,c,view,p\n", NULL, err), 0);
    ck_assert_int_eq(rb_ingest_check_bad(&d, 1.0, err), RC_EEMPTY);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_missing_column_and_unreadable)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(ingest_text(&d, "ts,visitor,event,product,location\n1,c,view,p,US\n", NULL, err), RC_EFORMAT);
    ck_assert_msg(strstr(err, "no column 'cookie'") && strstr(err, "ts,visitor,event,product,location"),
                  "message: %s", err);
    ck_assert_uint_eq(d.nevents, 0);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/missing.csv", tmpdir);
    ck_assert_int_eq(rb_ingest_events(&d, path, NULL, NULL, NULL, err), -ENOENT);
    ck_assert_msg(strstr(err, "missing.csv"), "message: %s", err);
    ck_assert_int_eq(rb_ingest_events(&d, tmpdir, NULL, NULL, NULL, err), -EISDIR);
    rb_dataset_release(&d);
}
END_TEST

static void progress_count(void *ctx, const char *stage, uint64_t done, uint64_t total)
{
    uint64_t *calls = ctx;
    ck_assert_str_eq(stage, "events");
    ck_assert_uint_le(done, total);
    calls[0]++;
    calls[1] = done;
}

/*
 * A file of several read chunks: lines split across chunk boundaries, a line
 * over RB_LINE_MAX inside a chunk and one over a whole chunk, each followed
 * by good lines; two files accumulate.
 */
/* The reader sizes its buffer to a small file; a file that grows while it
 * is read is still read whole, lines longer than that size included. */
START_TEST(test_lines_file_grows)
{
    const char *path = write_file("grows.txt", "a\n", -1);
    struct rb_lines r;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_int_eq(rb_lines_open(&r, path, "test", NULL, NULL, err), 0);
    ck_assert_uint_lt(r.cap, 64);
    FILE *f = fopen(path, "ab");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 1000; i++)
        fputc('b', f);
    fputs("\nc", f);
    ck_assert_int_eq(fclose(f), 0);
    const char *line;
    size_t len;
    int too_long;
    ck_assert_int_eq(rb_lines_next(&r, &line, &len, &too_long, err), 1);
    ck_assert(len == 1 && line[0] == 'a' && !too_long);
    ck_assert_int_eq(rb_lines_next(&r, &line, &len, &too_long, err), 1);
    ck_assert_uint_eq(len, 1000);
    ck_assert(line[0] == 'b' && line[999] == 'b' && !too_long);
    ck_assert_int_eq(rb_lines_next(&r, &line, &len, &too_long, err), 1);
    ck_assert(len == 1 && line[0] == 'c');
    ck_assert_int_eq(rb_lines_next(&r, &line, &len, &too_long, err), 0);
    ck_assert_uint_eq(r.lineno, 3);
    rb_lines_close(&r);
}
END_TEST

START_TEST(test_big_file_long_lines)
{
    size_t cap = 24u << 20, n = 0;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    n += (size_t)sprintf(text + n, "ts,cookie,event,product\n");
    const int lines = 300000;
    for (int i = 0; i < lines; i++) {
        n += (size_t)sprintf(text + n, "%d,cookie-%d,view,product-%d\n", 1000 + i, i % 1000, i % 777);
        if (i == 1000) { /* just over the limit */
            n += (size_t)sprintf(text + n, "1,c,view,");
            memset(text + n, 'L', RB_LINE_MAX);
            n += RB_LINE_MAX;
            text[n++] = '\n';
        }
        if (i == 200000) { /* longer than a whole read chunk */
            size_t big = (5u << 20) + 17;
            memset(text + n, 'M', big);
            n += big;
            text[n++] = '\n';
        }
    }
    ck_assert_uint_lt(n, cap);
    const char *path = write_file("big.csv", text, (long)n);
    free(text);
    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX];
    uint64_t calls[2] = {0, 0};
    ck_assert_int_eq(rb_ingest_events(&d, path, NULL, progress_count, calls, err), 0);
    ck_assert_uint_eq(d.nevents, (size_t)lines);
    ck_assert_uint_eq(d.stats.bad[RB_BAD_LONG], 2);
    ck_assert_uint_eq(total_bad(&d), 2);
    ck_assert_uint_ge(calls[0], 1);
    ck_assert_uint_eq(calls[1], n); /* the last call reports every byte */
    ck_assert_ptr_nonnull(strstr(d.stats.samples[RB_BAD_LONG][0], ":1003: 1,c,view,LLL"));
    ck_assert_ptr_nonnull(strstr(d.stats.samples[RB_BAD_LONG][1], ":200004: MMM"));
    for (int i = 0; i < lines; i += 997) {
        char want[32];
        ck_assert_int_eq(d.events[i].ts, 1000 + i);
        snprintf(want, sizeof(want), "cookie-%d", i % 1000);
        ck_assert(str_is(&d.cookies, d.events[i].cookie, want));
        snprintf(want, sizeof(want), "product-%d", i % 777);
        ck_assert(str_is(&d.products, d.events[i].product, want));
    }
    ck_assert_uint_eq(d.cookies.n, 1000);
    ck_assert_uint_eq(d.products.n, 777);
    ck_assert_int_eq(d.ts_max, 1000 + lines - 1);
    /* A line exactly RB_LINE_MAX long is accepted, one byte more is not. */
    char *exact = malloc(2 * RB_LINE_MAX + 64);
    ck_assert_ptr_nonnull(exact);
    int h = sprintf(exact, "ts,cookie,event,product,x\n");
    int l = sprintf(exact + h, "5,c,view,p,");
    memset(exact + h + l, 'z', RB_LINE_MAX - (size_t)l);
    memcpy(exact + h + RB_LINE_MAX, "\r\n", 2);
    h += RB_LINE_MAX + 2;
    l = sprintf(exact + h, "6,c,view,p,");
    memset(exact + h + l, 'z', RB_LINE_MAX + 1 - (size_t)l);
    memcpy(exact + h + RB_LINE_MAX + 1, "\n", 2);
    path = write_file("exact.csv", exact, -1);
    free(exact);
    ck_assert_int_eq(rb_ingest_events(&d, path, NULL, NULL, NULL, err), 0);
    ck_assert_uint_eq(d.nevents, (size_t)lines + 1);
    ck_assert_uint_eq(d.stats.bad[RB_BAD_LONG], 3);
    ck_assert_int_eq(d.ts_min, 5);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_locdev_limit)
{
    size_t cap = 4u << 20, n = 0;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    n += (size_t)sprintf(text + n, "ts,cookie,event,product,location\n");
    for (int i = 0; i < 65536; i++)
        n += (size_t)sprintf(text + n, "1,c,view,p,L%d\n", i);
    n += (size_t)sprintf(text + n, "1,c,view,p,L7\n"); /* a known one still works */
    const char *path = write_file("locs.csv", text, (long)n);
    free(text);
    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_ingest_events(&d, path, NULL, NULL, NULL, err), 0);
    ck_assert_uint_eq(d.locs.n, 65535);
    ck_assert_uint_eq(d.nevents, 65536);
    ck_assert_uint_eq(d.stats.bad[RB_BAD_LOCDEV], 1);
    ck_assert_ptr_nonnull(strstr(d.stats.samples[RB_BAD_LOCDEV][0], "L65535"));
    ck_assert_uint_eq(d.events[65535].loc, 7);
    rb_dataset_release(&d);
}
END_TEST

/* ---- catalog ---- */

START_TEST(test_catalog)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX];
    const char *cat = write_file("catalog.csv",
                                 "title,in_stock,product,price,category\n"
                                 "\"Shoe, red\",1,p1,9.99,shoes\n"
                                 "Hat,no,p2,1,hats\n"
                                 "Sock,TRUE,p3,1,\n"
                                 "Bad,maybe,p4,1,x\n"
                                 "Dup,0,p1,1,shoes\n"
                                 "Short,1\n"
                                 "Empty,1,,1,x\n"
                                 "Ok,Yes,p5,1,shoes\n",
                                 -1);
    ck_assert_int_eq(rb_ingest_catalog(&d, cat, err), 0);
    ck_assert_int_eq(d.have_catalog, 1);
    ck_assert_uint_eq(d.stats.catalog_rows, 4);
    ck_assert_uint_eq(d.stats.catalog_bad, 4);
    ck_assert_uint_eq(d.products.n, 4);
    uint32_t p1 = rb_strtab_find(&d.products, "p1", 2), p2 = rb_strtab_find(&d.products, "p2", 2);
    uint32_t p3 = rb_strtab_find(&d.products, "p3", 2), p5 = rb_strtab_find(&d.products, "p5", 2);
    ck_assert_uint_eq(d.in_stock[p1], 1); /* the duplicate row did not override */
    ck_assert_uint_eq(d.in_stock[p2], 0);
    ck_assert_uint_eq(d.in_stock[p3], 1);
    ck_assert_uint_eq(d.in_stock[p5], 1);
    ck_assert(str_is(&d.categories, d.category[p1], "shoes"));
    ck_assert(str_is(&d.categories, d.category[p2], "hats"));
    ck_assert_uint_eq(d.category[p3], RB_NONE);
    ck_assert_uint_eq(d.category[p5], d.category[p1]);
    ck_assert_uint_eq(rb_strtab_find(&d.products, "p4", 2), RB_NONE);

    /* Events: products outside the catalog are kept but not recommendable. */
    ck_assert_int_eq(ingest_text(&d, "ts,cookie,event,product\n1,c,view,p1\n2,c,view,zz\n3,c,view,zz\n4,c,view,yy\n",
                                 NULL, err),
                     0);
    ck_assert_uint_eq(d.nevents, 4);
    ck_assert_uint_eq(d.stats.event_products_not_in_catalog, 2);
    uint32_t zz = rb_strtab_find(&d.products, "zz", 2);
    ck_assert_uint_ne(zz, RB_NONE);
    ck_assert_uint_eq(d.in_stock[zz], 0);
    ck_assert_uint_eq(d.in_catalog[zz], 0);
    ck_assert_uint_eq(d.in_catalog[p1], 1);
    rb_dataset_release(&d);
}
END_TEST

/* Per-product arrays follow the table's growth through catalog and events. */
/* The display texts of product id as "title|url|image_url|price|currency",
 * an absent field empty; NULL when the product has none. */
static const char *display_of(const struct rb_dataset *d, const char *id, char *out, size_t cap)
{
    uint32_t p = rb_strtab_find(&d->products, id, strlen(id));
    for (size_t k = 0; k < d->display_n; k++) {
        if (d->display[k].product != p)
            continue;
        size_t o = 0, at = d->display[k].at;
        for (int f = 0; f < RC_FIELD_COUNT; f++) {
            size_t n = d->display[k].len[f];
            ck_assert_uint_lt(o + n + 2, cap);
            memcpy(out + o, d->display_text + at, n);
            at += n;
            o += n;
            if (f + 1 < RC_FIELD_COUNT)
                out[o++] = '|';
        }
        out[o] = 0;
        return out;
    }
    return NULL;
}

START_TEST(test_catalog_fields)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX], buf[4096];
    char long_title[RC_TITLE_MAX + 2], max_title[RC_TITLE_MAX + 1];
    memset(long_title, 'T', RC_TITLE_MAX + 1);
    long_title[RC_TITLE_MAX + 1] = 0;
    memset(max_title, 'M', RC_TITLE_MAX);
    max_title[RC_TITLE_MAX] = 0;
    char text[8192];
    snprintf(text, sizeof(text),
             "product,category,in_stock,title,url,image_url,price,currency\n"
             "p1,shoes,1,\"Red \"\"shoe\"\" \\ caf\xc3\xa9\",https://shop.example/p/1?a=b&c=d,/img/1.png,007.50,eur\n"
             "p2,shoes,1,,,,,\n"
             "p3,shoes,1,%s,javascript:alert(1),https://x.example/a b.png,-1,EURO\n"
             "p4,hats,0, Hat\x01 , HTTP://X.example/h ,//cdn.example/h.png, 12 ,USD\n"
             "p5,hats,1,%s,http://,/i.png,1.2.3,US\n"
             "p6,hats,1,,,,.5,\n"
             "p7,hats,1,,,,5.,\n"
             "p8,hats,1,,,,0,\n"
             "p9,hats,1,x\n",
             long_title, max_title);
    const char *cat = write_file("catalog_fields.csv", text, -1);
    ck_assert_int_eq(rb_ingest_catalog(&d, cat, err), 0);
    ck_assert_uint_eq(d.stats.catalog_rows, 8); /* every row but p9's (too few fields) */
    ck_assert_uint_eq(d.stats.catalog_bad, 1);
    /* p3: title, url, image_url, price, currency; p5: url, price, currency;
     * p6, p7: price */
    ck_assert_uint_eq(d.stats.catalog_bad_values, 5 + 3 + 2);
    ck_assert_uint_eq(d.stats.catalog_with_fields, 4); /* p1, p4, p5, p8 */
    ck_assert_uint_eq(d.display_n, 4);
    ck_assert_str_eq(display_of(&d, "p1", buf, sizeof(buf)),
                     "\"Red \\\"shoe\\\" \\\\ caf\xc3\xa9\"|\"https://shop.example/p/1?a=b&c=d\"|\"/img/1.png\"|7.50|\"EUR\"");
    ck_assert_ptr_null(display_of(&d, "p2", buf, sizeof(buf)));
    ck_assert_ptr_null(display_of(&d, "p3", buf, sizeof(buf)));
    ck_assert_str_eq(display_of(&d, "p4", buf, sizeof(buf)),
                     "\"Hat\\u0001\"|\"HTTP://X.example/h\"|\"//cdn.example/h.png\"|12|\"USD\"");
    char want[RC_TITLE_MAX + 64];
    snprintf(want, sizeof(want), "\"%s\"||\"/i.png\"||", max_title);
    ck_assert_str_eq(display_of(&d, "p5", buf, sizeof(buf)), want);
    ck_assert_ptr_null(display_of(&d, "p6", buf, sizeof(buf)));
    ck_assert_str_eq(display_of(&d, "p8", buf, sizeof(buf)), "|||0|");
    /* p3 stays listed and in stock: a bad value drops the value only. */
    uint32_t p3 = rb_strtab_find(&d.products, "p3", 2);
    ck_assert_uint_ne(p3, RB_NONE);
    ck_assert_uint_eq(d.in_stock[p3], 1);
    /* Every stored text is one the item record accepts. */
    for (size_t k = 0; k < d.display_n; k++) {
        size_t at = d.display[k].at;
        for (int f = 0; f < RC_FIELD_COUNT; f++) {
            if (d.display[k].len[f])
                ck_assert_int_eq(rc_field_text_check(f, d.display_text + at, d.display[k].len[f]), 0);
            at += d.display[k].len[f];
        }
    }
    rb_dataset_release(&d);

    /* Without display columns nothing is stored. */
    rb_dataset_init(&d);
    cat = write_file("catalog_plain.csv", "product,category,in_stock\np1,c,1\n", -1);
    ck_assert_int_eq(rb_ingest_catalog(&d, cat, err), 0);
    ck_assert_uint_eq(d.display_n, 0);
    ck_assert_uint_eq(d.stats.catalog_bad_values, 0);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_catalog_growth)
{
    size_t cap = 1u << 20, n = 0;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    n += (size_t)sprintf(text + n, "product\tcategory\tin_stock\n");
    for (int i = 0; i < 5000; i++)
        n += (size_t)sprintf(text + n, "p%d\tc%d\t%d\n", i, i % 7, i % 3 != 0);
    const char *cat = write_file("catalog.tsv", text, (long)n);
    n = (size_t)sprintf(text, "ts,cookie,event,product\n");
    for (int i = 0; i < 10000; i++)
        n += (size_t)sprintf(text + n, "%d,c,view,p%d\n", i, i);
    const char *events = write_file("events.csv", text, (long)n);
    free(text);
    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_ingest_catalog(&d, cat, err), 0);
    ck_assert_int_eq(rb_ingest_events(&d, events, NULL, NULL, NULL, err), 0);
    ck_assert_uint_eq(d.products.n, 10000);
    ck_assert_uint_eq(d.stats.event_products_not_in_catalog, 5000);
    for (int i = 0; i < 10000; i++) {
        ck_assert_uint_eq(d.in_stock[i], i < 5000 ? (i % 3 != 0) : 0);
        ck_assert_uint_eq(d.in_catalog[i], i < 5000);
        if (i >= 5000)
            ck_assert_uint_eq(d.category[i], RB_NONE);
        else
            ck_assert_uint_eq(d.category[i], (uint32_t)(i % 7));
    }
    rb_dataset_release(&d);
}
END_TEST

/* A catalog loaded after events takes the in-stock default away from unlisted products. */
START_TEST(test_catalog_after_events)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(ingest_text(&d, "ts,cookie,event,product\n1,c,view,a\n1,c,view,b\n", NULL, err), 0);
    ck_assert_uint_eq(d.in_stock[1], 1);
    ck_assert_int_eq(rb_ingest_catalog(&d, write_file("cat.csv", "product,category,in_stock\na,x,1\nn,x,1\n", -1), err),
                     0);
    ck_assert_uint_eq(d.in_stock[0], 1);
    ck_assert_uint_eq(d.in_stock[1], 0);
    ck_assert_uint_eq(d.in_stock[2], 1);
    ck_assert_uint_eq(d.stats.event_products_not_in_catalog, 1);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_catalog_errors)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_ingest_catalog(&d, write_file("c1.csv", "product,category,stock\np,c,1\n", -1), err),
                     RC_EFORMAT);
    ck_assert_msg(strstr(err, "'in_stock'") && strstr(err, "product,category,stock"), "message: %s", err);
    ck_assert_int_eq(rb_ingest_catalog(&d, write_file("c2.csv", "", -1), err), RC_EEMPTY);
    ck_assert_int_eq(rb_ingest_catalog(&d, write_file("c3.csv", "product,category,in_stock\n", -1), err), RC_EEMPTY);
    ck_assert_int_eq(rb_ingest_catalog(&d, write_file("c4.csv", "product,category,in_stock\np,c,2\n", -1), err),
                     RC_EEMPTY);
    rb_dataset_release(&d);
}
END_TEST

/* ---- embeddings ---- */

/* An .npy file as np.save writes it: magic, version, header padded so data starts 64-aligned. */
static const char *write_npy(const char *name, int major, const char *descr, const char *order, const char *shape,
                             const float *data, size_t count)
{
    char dict[256];
    int dl = snprintf(dict, sizeof(dict), "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr, order, shape);
    size_t pre = major == 1 ? 10 : 12;
    size_t total = pre + (size_t)dl + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)dl + pad + 1;
    size_t size = pre + hlen + count * 4;
    unsigned char *buf = malloc(size);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    if (major != 1) {
        buf[10] = 0;
        buf[11] = 0;
    }
    memcpy(buf + pre, dict, (size_t)dl);
    memset(buf + pre + dl, ' ', pad);
    buf[pre + hlen - 1] = '\n';
    memcpy(buf + pre + hlen, data, count * 4);
    const char *path = write_file(name, buf, (long)size);
    free(buf);
    return path;
}

START_TEST(test_npy_roundtrip)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_ingest_catalog(&d, write_file("cat.csv",
                                                      "product,category,in_stock\n"
                                                      "a,x,1\nb,x,1\nc,x,0\nd,x,1\ne,x,1\nf,x,1\n",
                                                      -1),
                                       err),
                     0);
    const float X[7][3] = {
        {3, 4, 0},        /* a */
        {0, 0, 0},        /* b: zero norm */
        {1, NAN, 0},      /* c: NaN */
        {0, 0, -2},       /* ghost: not in the catalog */
        {1, 1, INFINITY}, /* d: inf */
        {1, 2, 2},        /* e */
        {9, 9, 9},        /* a again: duplicate */
    };
    const char *npy = write_npy("emb.npy", 1, "<f4", "False", "(7, 3)", &X[0][0], 21);
    const char *ids = write_file("emb_ids.txt", "a\nb\nc\nghost\nd\ne\na\n", -1);
    int rc = rb_ingest_embeddings(&d, npy, ids, err);
    ck_assert_msg(rc == 0, "rc %d: %s", rc, err);
    ck_assert_uint_eq(d.dim, 3);
    ck_assert_uint_eq(d.emb_rows, 2);
    ck_assert_uint_eq(d.stats.emb_rows, 7);
    ck_assert_uint_eq(d.stats.emb_bad_values, 3);
    ck_assert_uint_eq(d.stats.emb_no_catalog, 1);
    ck_assert_uint_eq(d.stats.emb_duplicates, 1);
    ck_assert_uint_eq(d.stats.catalog_no_emb, 4); /* b, c, d, f */
    ck_assert(str_is(&d.products, d.emb_product[0], "a"));
    ck_assert(str_is(&d.products, d.emb_product[1], "e"));
    ck_assert_uint_eq(rb_strtab_find(&d.products, "ghost", 5), RB_NONE);
    const float want[2][3] = {{0.6f, 0.8f, 0}, {1 / 3.0f, 2 / 3.0f, 2 / 3.0f}};
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 3; c++)
            ck_assert_float_eq_tol(d.emb[r * 3 + c], want[r][c], 1e-6);
    rb_ingest_report(&d);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_npy_v2_without_catalog)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX];
    const float X[2][2] = {{0, 5}, {-1, 0}};
    const char *npy = write_npy("emb2.npy", 2, "<f4", "False", "(2,2)", &X[0][0], 4);
    ck_assert_int_eq(rb_ingest_embeddings(&d, npy, write_file("ids2.txt", "x\r\ny", -1), err), 0);
    ck_assert_uint_eq(d.emb_rows, 2);
    ck_assert_uint_eq(d.products.n, 2);
    ck_assert(str_is(&d.products, d.emb_product[0], "x"));
    ck_assert(str_is(&d.products, d.emb_product[1], "y"));
    ck_assert_uint_eq(d.in_stock[d.emb_product[1]], 1);
    ck_assert_float_eq(d.emb[1], 1.0f);
    ck_assert_float_eq(d.emb[2], -1.0f);
    ck_assert_uint_eq(d.stats.catalog_no_emb, 0);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_npy_refused)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    char err[RC_ERRMSG_MAX];
    const float X[6] = {1, 2, 3, 4, 5, 6};
    const char *ids = write_file("ids.txt", "a\nb\n", -1);
    ck_assert_int_eq(rb_ingest_embeddings(&d, write_npy("f8.npy", 1, "<f8", "False", "(2, 3)", X, 6), ids, err),
                     RC_EFORMAT);
    ck_assert_msg(strstr(err, "'<f4'") && strstr(err, "f8.npy"), "message: %s", err);
    ck_assert_int_eq(rb_ingest_embeddings(&d, write_npy("be.npy", 1, ">f4", "False", "(2, 3)", X, 6), ids, err),
                     RC_EFORMAT);
    ck_assert_int_eq(rb_ingest_embeddings(&d, write_npy("fo.npy", 1, "<f4", "True", "(2, 3)", X, 6), ids, err),
                     RC_EFORMAT);
    ck_assert_msg(strstr(err, "fortran_order"), "message: %s", err);
    ck_assert_int_eq(rb_ingest_embeddings(&d, write_npy("3d.npy", 1, "<f4", "False", "(1, 2, 3)", X, 6), ids, err),
                     RC_EFORMAT);
    ck_assert_msg(strstr(err, "2-D"), "message: %s", err);
    ck_assert_int_eq(rb_ingest_embeddings(&d, write_npy("1d.npy", 1, "<f4", "False", "(6,)", X, 6), ids, err),
                     RC_EFORMAT);
    ck_assert_int_eq(rb_ingest_embeddings(&d, write_npy("v3.npy", 3, "<f4", "False", "(2, 3)", X, 6), ids, err),
                     RC_EFORMAT);
    ck_assert_msg(strstr(err, "1.0 or 2.0"), "message: %s", err);
    ck_assert_int_eq(rb_ingest_embeddings(&d, write_npy("short.npy", 1, "<f4", "False", "(3, 3)", X, 6), ids, err),
                     RC_ETRUNC);
    ck_assert_int_eq(rb_ingest_embeddings(&d, write_npy("long.npy", 1, "<f4", "False", "(1, 3)", X, 6), ids, err),
                     RC_EFORMAT);
    ck_assert_int_eq(rb_ingest_embeddings(&d, write_npy("d0.npy", 1, "<f4", "False", "(2, 0)", X, 0), ids, err),
                     RC_EFORMAT);
    ck_assert_int_eq(rb_ingest_embeddings(&d, write_file("txt.npy", "not an npy file at all", -1), ids, err),
                     RC_EFORMAT);
    ck_assert_msg(strstr(err, "NUMPY"), "message: %s", err);
    /* Id count must match the rows; blank lines only at the end are tolerated. */
    const char *ok = write_npy("ok.npy", 1, "<f4", "False", "(2, 3)", X, 6);
    ck_assert_int_eq(rb_ingest_embeddings(&d, ok, write_file("i1.txt", "a\n", -1), err), RC_EFORMAT);
    ck_assert_msg(strstr(err, "1 ids") && strstr(err, "2 rows"), "message: %s", err);
    ck_assert_int_eq(rb_ingest_embeddings(&d, ok, write_file("i3.txt", "a\nb\nc\n", -1), err), RC_EFORMAT);
    ck_assert_int_eq(rb_ingest_embeddings(&d, ok, write_file("ib.txt", "a\n\nb\n", -1), err), RC_EFORMAT);
    ck_assert_ptr_null(d.emb);
    ck_assert_int_eq(rb_ingest_embeddings(&d, ok, write_file("it.txt", "a\nb\n\n\n", -1), err), 0);
    ck_assert_uint_eq(d.emb_rows, 2);
    char missing[PATH_MAX + 32];
    snprintf(missing, sizeof(missing), "%s/nope.npy", tmpdir);
    ck_assert_int_eq(rb_ingest_embeddings(&d, missing, ids, err), -ENOENT);
    rb_dataset_release(&d);
}
END_TEST

static Suite *ingest_suite(void)
{
    Suite *s = suite_create("ingest");
    TCase *tc = tcase_create("events");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_csv_basic);
    tcase_add_test(tc, test_column_order_and_extras);
    tcase_add_test(tc, test_tsv);
    tcase_add_test(tc, test_csv_quoting);
    tcase_add_test(tc, test_unterminated_quote_in_needed_field);
    tcase_add_test(tc, test_mapping);
    tcase_add_test(tc, test_mapping_errors);
    tcase_add_test(tc, test_timestamps);
    tcase_add_test(tc, test_ts_units_forced);
    tcase_add_test(tc, test_event_case_and_unknown);
    tcase_add_test(tc, test_preset_rees46);
    tcase_add_test(tc, test_preset_retailrocket_and_overrides);
    tcase_add_test(tc, test_session_column);
    tcase_add_test(tc, test_bad_reasons_and_samples);
    tcase_add_test(tc, test_sample_truncated);
    tcase_add_test(tc, test_id_length);
    tcase_add_test(tc, test_crlf_and_blank_lines);
    tcase_add_test(tc, test_empty_and_header_only);
    tcase_add_test(tc, test_missing_column_and_unreadable);
    tcase_add_test(tc, test_big_file_long_lines);
    tcase_add_test(tc, test_lines_file_grows);
    tcase_add_test(tc, test_locdev_limit);
    suite_add_tcase(s, tc);

    tc = tcase_create("catalog");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_catalog);
    tcase_add_test(tc, test_catalog_fields);
    tcase_add_test(tc, test_catalog_growth);
    tcase_add_test(tc, test_catalog_after_events);
    tcase_add_test(tc, test_catalog_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("embeddings");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_npy_roundtrip);
    tcase_add_test(tc, test_npy_v2_without_catalog);
    tcase_add_test(tc, test_npy_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ingest_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
