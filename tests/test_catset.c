/*
 * test_catset.c - shared/catset.c: the set record of the catset DB
 * (schemas/cache.md, "Set record"), held to fixed byte vectors, with every
 * truncation and corruption refused, lookups against a plain scan, and
 * the record check of the cache (rc_cache_check_record) on both new DBs.
 *
 * The empty set's check is the low 32 bits of XXH3-64 of no bytes,
 * 2d06800538d394c2, xxHash's published value; the three-key vector's was
 * computed by libxxhash (XXH3_64bits, seed 0) over its 24 key bytes.
 * Records handed to the decoder are malloc'ed copies of exactly their
 * length, so an AddressSanitizer build reports any read past the end.
 */
#include "cache.h"
#include "catset.h"
#include "error.h"
#include "keys.h"
#include "record.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char set_empty[] = {
    0x45, 0x52, 0x43, 0x53, /* magic "ERCS" */
    0x01, 0x00,             /* version 1 */
    0x00, 0x00,             /* reserved */
    0x00, 0x00, 0x00, 0x00, /* count 0 */
    0xc2, 0x94, 0xd3, 0x38, /* check: XXH3 of no bytes = 2d06800538d394c2 */
};

static const uint64_t three_keys[3] = {1, 0x1234567890abcdefull, 0xfffffffffffffff0ull};
static const unsigned char set_three[] = {
    0x45, 0x52, 0x43, 0x53,                         /* magic "ERCS" */
    0x01, 0x00,                                     /* version 1 */
    0x00, 0x00,                                     /* reserved */
    0x03, 0x00, 0x00, 0x00,                         /* count 3 */
    0x4e, 0x17, 0x39, 0x3b,                         /* check */
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* 1 */
    0xef, 0xcd, 0xab, 0x90, 0x78, 0x56, 0x34, 0x12, /* 1234567890abcdef */
    0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* fffffffffffffff0 */
};

/* A malloc'ed copy of p[0, n) (at least one byte allocated). */
static unsigned char *copy(const void *p, size_t n)
{
    unsigned char *c = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(c);
    if (n)
        memcpy(c, p, n);
    return c;
}

START_TEST(test_vectors)
{
    unsigned char out[64];
    ck_assert_int_eq(rc_catset_encode(out, sizeof(out), NULL, 0), sizeof(set_empty));
    ck_assert_mem_eq(out, set_empty, sizeof(set_empty));
    ck_assert_int_eq(rc_catset_encode(out, sizeof(out), three_keys, 3), sizeof(set_three));
    ck_assert_mem_eq(out, set_three, sizeof(set_three));
    ck_assert_uint_eq(rc_catset_size(3), sizeof(set_three));

    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rc_catset_check(set_empty, sizeof(set_empty), err), 0);
    ck_assert_int_eq(rc_catset_check(set_three, sizeof(set_three), err), 0);
    struct rc_catset s;
    ck_assert_int_eq(rc_catset_open(&s, set_three, sizeof(set_three)), 0);
    ck_assert_uint_eq(s.count, 3);
    ck_assert_ptr_eq(s.keys, set_three + RC_CATSET_HEADER);
    for (uint32_t i = 0; i < 3; i++) {
        ck_assert_uint_eq(rc_catset_key(&s, i), three_keys[i]);
        ck_assert_int_eq(rc_catset_has(&s, three_keys[i]), 1);
    }
    ck_assert_int_eq(rc_catset_has(&s, 0), 0);
    ck_assert_int_eq(rc_catset_has(&s, 2), 0);
    ck_assert_int_eq(rc_catset_has(&s, 0x1234567890abcdeeull), 0);
    ck_assert_int_eq(rc_catset_has(&s, UINT64_MAX), 0);
    ck_assert_int_eq(rc_catset_open(&s, set_empty, sizeof(set_empty)), 0);
    ck_assert_uint_eq(s.count, 0);
    ck_assert_int_eq(rc_catset_has(&s, 0), 0);
    ck_assert_int_eq(rc_catset_has(&s, 1), 0);
}
END_TEST

START_TEST(test_encode_refusals)
{
    unsigned char out[64];
    memset(out, 0xaa, sizeof(out));
    uint64_t down[3] = {5, 3, 9}, repeat[3] = {3, 5, 5};
    ck_assert_int_eq(rc_catset_encode(out, sizeof(out), down, 3), RC_EFORMAT);
    ck_assert_int_eq(rc_catset_encode(out, sizeof(out), repeat, 3), RC_EFORMAT);
    ck_assert_int_eq(rc_catset_encode(out, sizeof(set_three) - 1, three_keys, 3), -ENOSPC);
    /* The count is refused before any key is read. */
    ck_assert_int_eq(rc_catset_encode(out, sizeof(out), three_keys, (size_t)RC_CATSET_MAX + 1), RC_ERANGE);
    for (size_t i = 0; i < sizeof(out); i++) /* nothing written on error */
        ck_assert_uint_eq(out[i], 0xaa);
}
END_TEST

START_TEST(test_sort)
{
    uint64_t k[8] = {9, 3, 9, 1, UINT64_MAX, 3, 0, 9};
    ck_assert_uint_eq(rc_catset_sort(k, 8), 5);
    const uint64_t want[5] = {0, 1, 3, 9, UINT64_MAX};
    for (int i = 0; i < 5; i++)
        ck_assert_uint_eq(k[i], want[i]);
    ck_assert_uint_eq(rc_catset_sort(k, 0), 0);
    ck_assert_uint_eq(rc_catset_sort(k, 1), 1);
}
END_TEST

START_TEST(test_truncations)
{
    char err[RC_ERRMSG_MAX];
    for (size_t n = 0; n < sizeof(set_three); n++) {
        unsigned char *c = copy(set_three, n);
        struct rc_catset s;
        ck_assert_int_eq(rc_catset_open(&s, c, n), RC_ETRUNC);
        err[0] = 0;
        ck_assert_int_eq(rc_catset_check(c, n, err), RC_ETRUNC);
        ck_assert_msg(strstr(err, "set record") != NULL, "%s", err);
        free(c);
    }
    /* One byte more than the count announces. */
    unsigned char *c = malloc(sizeof(set_three) + 1);
    ck_assert_ptr_nonnull(c);
    memcpy(c, set_three, sizeof(set_three));
    c[sizeof(set_three)] = 0;
    struct rc_catset s;
    ck_assert_int_eq(rc_catset_open(&s, c, sizeof(set_three) + 1), RC_EFORMAT);
    ck_assert_int_eq(rc_catset_check(c, sizeof(set_three) + 1, err), RC_EFORMAT);
    ck_assert_msg(strstr(err, "after its last key") != NULL, "%s", err);
    free(c);
}
END_TEST

/* Copy set_three, set byte at to v, and expect check's and open's codes. */
static void corrupt(size_t at, unsigned char v, int want_check, int want_open, const char *why)
{
    unsigned char *c = copy(set_three, sizeof(set_three));
    c[at] = v;
    char err[RC_ERRMSG_MAX] = "";
    struct rc_catset s;
    ck_assert_int_eq(rc_catset_check(c, sizeof(set_three), err), want_check);
    ck_assert_msg(strstr(err, why) != NULL, "byte %zu: '%s' lacks '%s'", at, err, why);
    ck_assert_int_eq(rc_catset_open(&s, c, sizeof(set_three)), want_open);
    if (want_open == 0)
        ck_assert_uint_eq(s.count, 3);
    free(c);
}

START_TEST(test_corruptions)
{
    corrupt(0, 'X', RC_EMAGIC, RC_EFORMAT, "does not begin with");
    corrupt(4, 2, RC_EVERSION, RC_EFORMAT, "version 2");
    corrupt(5, 1, RC_EVERSION, RC_EFORMAT, "version 257");
    corrupt(6, 1, RC_EFORMAT, RC_EFORMAT, "reserved");
    corrupt(7, 0x80, RC_EFORMAT, RC_EFORMAT, "reserved");
    corrupt(11, 0x01, RC_EFORMAT, RC_EFORMAT, "over"); /* count 2^24 + 3 */
    corrupt(8, 4, RC_ETRUNC, RC_ETRUNC, "needs 48 bytes");
    corrupt(8, 2, RC_EFORMAT, RC_EFORMAT, "after its last key");
    corrupt(12, 0, RC_ECHECKSUM, 0, "checksum");
    corrupt(16 + 16, 0xf1, RC_ECHECKSUM, 0, "checksum"); /* last key + 1: still ascending */
    corrupt(16 + 7, 0xff, RC_EFORMAT, 0, "is below key 0");      /* key 0 above key 1: order is open's blind spot */
    corrupt(16 + 16 + 7, 0x00, RC_EFORMAT, 0, "is below key 1"); /* key 2 below key 1 */
    /* A repeated key. */
    unsigned char *c = copy(set_three, sizeof(set_three));
    memcpy(c + 24, c + 16, 8);
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rc_catset_check(c, sizeof(set_three), err), RC_EFORMAT);
    ck_assert_msg(strstr(err, "repeats") != NULL, "%s", err);
    free(c);
}
END_TEST

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Sets of 0..300 keys (some small, so that neighbours are absent keys too):
 * rc_catset_has agrees with a scan for members and for non-members. */
START_TEST(test_lookup_against_scan)
{
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (size_t n = 0; n <= 300; n += n < 20 ? 1 : 37) {
        uint64_t *keys = malloc((n ? n : 1) * sizeof(*keys));
        ck_assert_ptr_nonnull(keys);
        for (size_t i = 0; i < n; i++)
            keys[i] = n % 2 ? rnd(&seed) : rnd(&seed) % (3 * n + 1);
        size_t k = rc_catset_sort(keys, n);
        size_t cap = rc_catset_size(k);
        unsigned char *rec = malloc(cap);
        ck_assert_int_eq(rc_catset_encode(rec, cap, keys, k), (long)cap);
        ck_assert_int_eq(rc_catset_check(rec, cap, NULL), 0);
        struct rc_catset s;
        ck_assert_int_eq(rc_catset_open(&s, rec, cap), 0);
        for (size_t i = 0; i < k; i++) {
            ck_assert_int_eq(rc_catset_has(&s, keys[i]), 1);
            for (int d = -1; d <= 1; d += 2) {
                uint64_t probe = keys[i] + (uint64_t)(int64_t)d;
                int in = 0;
                for (size_t j = 0; j < k; j++)
                    in |= keys[j] == probe;
                ck_assert_int_eq(rc_catset_has(&s, probe), in);
            }
        }
        free(rec);
        free(keys);
    }
}
END_TEST

/* Random bytes, and a valid set with one byte changed: never a read out of
 * bounds, and check passing implies open passing. */
START_TEST(test_fuzz)
{
    uint64_t seed = 42;
    unsigned char base[RC_CATSET_HEADER + 8 * 16];
    uint64_t keys[16];
    for (int i = 0; i < 16; i++)
        keys[i] = (uint64_t)i * 1000 + 7;
    ck_assert_int_eq(rc_catset_encode(base, sizeof(base), keys, 16), (long)sizeof(base));
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(rnd(&seed) % (sizeof(base) + 8));
        unsigned char *c = malloc(n ? n : 1);
        for (size_t i = 0; i < n; i++)
            c[i] = round % 2 && i < sizeof(base) ? base[i] : (unsigned char)rnd(&seed);
        if (round % 2 && n)
            c[rnd(&seed) % n] ^= (unsigned char)(1u << (rnd(&seed) % 8));
        struct rc_catset s;
        int rc_check = rc_catset_check(c, n, NULL), rc_open = rc_catset_open(&s, c, n);
        if (rc_check == 0)
            ck_assert_int_eq(rc_open, 0);
        if (rc_open == 0) {
            ck_assert_uint_eq(rc_catset_size(s.count), n);
            for (uint32_t i = 0; i < s.count; i++)
                (void)rc_catset_has(&s, rc_catset_key(&s, i));
            (void)rc_catset_has(&s, rnd(&seed));
        }
        free(c);
    }
}
END_TEST

/* rc_cache_check_record on the two new DBs. */
START_TEST(test_cache_check_record)
{
    char err[RC_ERRMSG_MAX];
    uint64_t key = rc_key("shoes", 5), entries = 0;
    MDB_val k = {sizeof(key), &key};
    MDB_val v = {sizeof(set_three), (void *)set_three};
    ck_assert_msg(rc_cache_check_record(RC_DB_CATSET, &k, &v, &entries, err) == 0, "%s", err);
    ck_assert_uint_eq(entries, 0); /* a set's keys are not list entries */
    unsigned char *bad = copy(set_three, sizeof(set_three));
    bad[12] ^= 1;
    v.mv_data = bad;
    ck_assert_int_eq(rc_cache_check_record(RC_DB_CATSET, &k, &v, NULL, err), RC_ECHECKSUM);
    ck_assert_msg(strstr(err, "catset record") != NULL, "%s", err);
    free(bad);
    uint32_t short_key = 1;
    MDB_val k4 = {sizeof(short_key), &short_key};
    v = (MDB_val){sizeof(set_three), (void *)set_three};
    ck_assert_int_eq(rc_cache_check_record(RC_DB_CATSET, &k4, &v, NULL, err), RC_EFORMAT);

    /* A list in the catset DB is not a set; a set in the category DB is not a list. */
    struct rc_entry e = {rc_key("p1", 2), 0.5f, 2, "p1", 0};
    unsigned char list[128];
    long n = rc_list_encode(list, sizeof(list), RC_SRC_CATEGORY, &e, 1);
    ck_assert_int_gt(n, 0);
    v = (MDB_val){(size_t)n, list};
    ck_assert_int_eq(rc_cache_check_record(RC_DB_CATSET, &k, &v, NULL, err), RC_EMAGIC);
    ck_assert_msg(rc_cache_check_record(RC_DB_CATEGORY, &k, &v, &entries, err) == 0, "%s", err);
    ck_assert_uint_eq(entries, 1);
    v = (MDB_val){sizeof(set_three), (void *)set_three};
    ck_assert_int_eq(rc_cache_check_record(RC_DB_CATEGORY, &k, &v, NULL, err), RC_EMAGIC);
    /* The category DB holds category lists only; category lists live nowhere else. */
    n = rc_list_encode(list, sizeof(list), RC_SRC_GLOBAL, &e, 1);
    v = (MDB_val){(size_t)n, list};
    ck_assert_int_eq(rc_cache_check_record(RC_DB_CATEGORY, &k, &v, NULL, err), RC_EFORMAT);
    ck_assert_msg(strstr(err, "source 'global' does not belong") != NULL, "%s", err);
    n = rc_list_encode(list, sizeof(list), RC_SRC_CATEGORY, &e, 1);
    v = (MDB_val){(size_t)n, list};
    ck_assert_int_eq(rc_cache_check_record(RC_DB_SEGMENT, &k, &v, NULL, err), RC_EFORMAT);
    ck_assert_str_eq(rc_source_name(RC_SRC_CATEGORY), "category");
}
END_TEST

static Suite *catset_suite(void)
{
    Suite *s = suite_create("catset");
    TCase *t = tcase_create("set");
    tcase_add_test(t, test_vectors);
    tcase_add_test(t, test_encode_refusals);
    tcase_add_test(t, test_sort);
    tcase_add_test(t, test_truncations);
    tcase_add_test(t, test_corruptions);
    tcase_add_test(t, test_lookup_against_scan);
    tcase_add_test(t, test_fuzz);
    tcase_add_test(t, test_cache_check_record);
    tcase_set_timeout(t, 120);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(catset_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
