/*
 * test_shopcsv.c - edge/shopcsv.c: timestamps and prices as
 * schemas/inputs.md has them, and the reader's delimiter, quoting, byte
 * order mark, line ends and blank lines.
 */
#include "shopcsv.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "scratch.h"

static int ts_of(const char *s, int64_t *out)
{
    return re_csv_ts(s, strlen(s), out);
}

START_TEST(test_ts_numbers)
{
    int64_t t;
    ck_assert_int_eq(ts_of("1700000000", &t), 0);
    ck_assert_int_eq(t, 1700000000);
    ck_assert_int_eq(ts_of("1700000000.75", &t), 0);
    ck_assert_int_eq(t, 1700000000);
    ck_assert_int_eq(ts_of("-1.5", &t), 0);
    ck_assert_int_eq(t, -2); /* rounded down */
    ck_assert_int_eq(ts_of("1433221332117", &t), 0); /* milliseconds (RetailRocket) */
    ck_assert_int_eq(t, 1433221332);
    ck_assert_int_eq(ts_of("1700000000123456", &t), 0); /* microseconds */
    ck_assert_int_eq(t, 1700000000);
    ck_assert_int_eq(ts_of("", &t), -1);
    ck_assert_int_eq(ts_of("abc", &t), -1);
    ck_assert_int_eq(ts_of("1e9", &t), -1);
    ck_assert_int_eq(ts_of("1234567890123456789", &t), -1); /* 19 digits: nanoseconds are malformed */
    ck_assert_int_eq(ts_of("17000.00.1", &t), -1);
}
END_TEST

START_TEST(test_ts_iso)
{
    int64_t t;
    const int64_t base = 1709210096; /* 2024-02-29T12:34:56Z */
    ck_assert_int_eq(ts_of("2024-02-29T12:34:56", &t), 0);
    ck_assert_int_eq(t, base);
    ck_assert_int_eq(ts_of("2024-02-29 12:34:56", &t), 0);
    ck_assert_int_eq(t, base);
    ck_assert_int_eq(ts_of("2024-02-29t12:34:56.789", &t), 0);
    ck_assert_int_eq(t, base);
    ck_assert_int_eq(ts_of("2024-02-29T12:34:56Z", &t), 0);
    ck_assert_int_eq(t, base);
    ck_assert_int_eq(ts_of("2019-10-01 00:00:00 UTC", &t), 0); /* REES46 */
    ck_assert_int_eq(t, 1569888000);
    ck_assert_int_eq(ts_of("2024-02-29T12:34:56+02:00", &t), 0);
    ck_assert_int_eq(t, base - 7200);
    ck_assert_int_eq(ts_of("2024-02-29T12:34:56-0530", &t), 0);
    ck_assert_int_eq(t, base + 19800);
    ck_assert_int_eq(ts_of("2024-02-29T12:34:56 +02", &t), 0);
    ck_assert_int_eq(t, base - 7200);
    ck_assert_int_eq(ts_of("2024-02-29", &t), -1);
    ck_assert_int_eq(ts_of("2024-02-29T12:34:56 PST", &t), -1);
    ck_assert_int_eq(ts_of("2024-13-29T12:34:56", &t), -1);
    ck_assert_int_eq(ts_of("2024-02-29T12:34:56.", &t), -1);
}
END_TEST

START_TEST(test_price)
{
    double p;
    ck_assert_int_eq(re_csv_price("19.99", 5, &p), 0);
    ck_assert_double_eq_tol(p, 19.99, 1e-12);
    ck_assert_int_eq(re_csv_price(" 5 ", 3, &p), 0);
    ck_assert_double_eq(p, 5);
    ck_assert_int_eq(re_csv_price("-1", 2, &p), -1);
    ck_assert_int_eq(re_csv_price("abc", 3, &p), -1);
    ck_assert_int_eq(re_csv_price("", 0, &p), -1);
    ck_assert_int_eq(re_csv_price("inf", 3, &p), -1);
}
END_TEST

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* Comma-separated: a byte order mark, quoted fields with "" and commas,
 * \r\n line ends, a blank line, a short line and bad quoting. */
START_TEST(test_reader_csv)
{
    char dir[PATH_MAX], path[PATH_MAX + 16], err[RC_ERRMSG_MAX];
    scratch_make(dir, sizeof(dir), "shopcsv");
    snprintf(path, sizeof(path), "%s/e.csv", dir);
    write_file(path, "\xef\xbb\xbfts,extra,cookie,event,product\r\n"
                     "1,x,c1,cart,p1\r\n"
                     "\r\n"
                     "2,\"a,b\",\"c\"\"2\",PURCHASE,\"p,2\"\n"
                     "3,x\n"
                     "4,x,c\"4,view,p4\n");
    static const char *const names[] = {"ts", "cookie", "event", "product", "session"};
    int col[5];
    struct re_csv c;
    ck_assert_int_eq(re_csv_open(&c, path, names, 5, col, err), 0);
    ck_assert_int_eq(col[0], 0);
    ck_assert_int_eq(col[1], 2);
    ck_assert_int_eq(col[2], 3);
    ck_assert_int_eq(col[3], 4);
    ck_assert_int_eq(col[4], -1);
    ck_assert_int_eq(re_csv_next(&c, 5), 5);
    ck_assert_int_eq((int)c.len[2], 2);
    ck_assert(memcmp(c.field[2], "c1", 2) == 0);
    ck_assert_int_eq(re_csv_next(&c, 5), 5); /* the blank line is skipped */
    ck_assert_int_eq((int)c.lineno, 4);
    ck_assert_int_eq((int)c.len[1], 3);
    ck_assert(memcmp(c.field[1], "a,b", 3) == 0);
    ck_assert(memcmp(c.field[2], "c\"2", 3) == 0 && c.len[2] == 3);
    ck_assert(memcmp(c.field[4], "p,2", 3) == 0 && c.len[4] == 3);
    ck_assert_int_eq(re_csv_next(&c, 5), 2);  /* short */
    ck_assert_int_eq(re_csv_next(&c, 5), -1); /* a quote inside an unquoted field */
    ck_assert_int_eq(re_csv_next(&c, 5), -2);
    re_csv_close(&c);
    scratch_remove(dir);
}
END_TEST

/* A tab in the header: tab-separated, quotes are plain bytes. */
START_TEST(test_reader_tsv)
{
    char dir[PATH_MAX], path[PATH_MAX + 16], err[RC_ERRMSG_MAX];
    scratch_make(dir, sizeof(dir), "shopcsv");
    snprintf(path, sizeof(path), "%s/e.tsv", dir);
    write_file(path, "product\tprice\n\"p1\"\t1.5\n");
    static const char *const names[] = {"product", "price"};
    int col[2];
    struct re_csv c;
    ck_assert_int_eq(re_csv_open(&c, path, names, 2, col, err), 0);
    ck_assert_int_eq(re_csv_next(&c, 2), 2);
    ck_assert_int_eq((int)c.len[0], 4); /* "p1" with its quotes */
    re_csv_close(&c);

    snprintf(path, sizeof(path), "%s/empty.csv", dir);
    write_file(path, "");
    ck_assert_int_eq(re_csv_open(&c, path, names, 2, col, err), RC_EEMPTY);
    re_csv_close(&c);
    snprintf(path, sizeof(path), "%s/missing.csv", dir);
    ck_assert_int_eq(re_csv_open(&c, path, names, 2, col, err), -ENOENT);
    ck_assert_ptr_nonnull(strstr(err, "missing.csv"));
    re_csv_close(&c);
    scratch_remove(dir);
}
END_TEST

static Suite *shopcsv_suite(void)
{
    Suite *s = suite_create("shopcsv");
    TCase *tc = tcase_create("values");
    tcase_add_test(tc, test_ts_numbers);
    tcase_add_test(tc, test_ts_iso);
    tcase_add_test(tc, test_price);
    suite_add_tcase(s, tc);
    tc = tcase_create("reader");
    tcase_add_test(tc, test_reader_csv);
    tcase_add_test(tc, test_reader_tsv);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(shopcsv_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
