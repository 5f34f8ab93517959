/*
 * test_keys.c - shared/keys.c: rc_key and rc_segment_key against fixed
 * vectors from an independent XXH3 implementation.
 *
 * Every expected value below was computed with the xxhsum command-line tool
 * (xxHash 0.8.1), `printf '<bytes>' | xxhsum -H3`, which prints
 * XXH3_64bits with seed 0 as 16 hex digits: the hash schemas/cache.md
 * specifies. The inputs cover XXH3's length classes (0, 1-3, 4-8, 9-16,
 * 17-128, 129-240, >240 bytes) and multi-byte UTF-8, so a change of hash
 * function, seed or byte handling fails here, not in a deployed cache.
 */
#include "keys.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct vector {
    const char *id;
    size_t len;
    uint64_t key;
};

START_TEST(test_key_vectors)
{
    static char xs[257], digits[101], abab[201];
    memset(xs, 'x', 256);
    for (int i = 0; i < 100; i++)
        digits[i] = (char)('0' + i % 10);
    for (int i = 0; i < 200; i++)
        abab[i] = i % 2 ? 'b' : 'a';
    const struct vector v[] = {
        {"", 0, 0x2d06800538d394c2ull},
        {"a", 1, 0xe6c632b61e964e1full},
        {"p1", 2, 0xcc49fdcc510be364ull},
        {"P1", 2, 0x8dde78ffff48adf8ull},  /* no case folding */
        {" p1", 3, 0xd611e3967c2fd991ull}, /* no trimming */
        {"sku-5", 5, 0xc9631713dda7f69aull},
        {"cookie-0001", 11, 0xf2af24808e64c781ull},
        /* "héllo-€-😀": 2-, 3- and 4-byte UTF-8 sequences, 15 bytes */
        {"h\xc3\xa9llo-\xe2\x82\xac-\xf0\x9f\x98\x80", 15, 0xf571af428c4f3f53ull},
        {digits, 100, 0x2b476d154b2d122cull},
        {abab, 200, 0xc53748e7dd91694dull},
        {xs, 256, 0xd1d05738849baec9ull}, /* RC_ID_MAX bytes */
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        ck_assert_msg(rc_key(v[i].id, v[i].len) == v[i].key, "vector %zu (%zu bytes): got %016llx, want %016llx", i,
                      v[i].len, (unsigned long long)rc_key(v[i].id, v[i].len), (unsigned long long)v[i].key);
}
END_TEST

/* Only [id, id+len) is hashed: bytes after len do not matter. */
START_TEST(test_key_uses_len)
{
    ck_assert_uint_eq(rc_key("p1XYZ", 2), 0xcc49fdcc510be364ull);
    ck_assert_uint_ne(rc_key("p1XYZ", 3), rc_key("p1", 2));
    char *exact = malloc(2); /* exact size: ASan catches a read past len */
    memcpy(exact, "p1", 2);
    ck_assert_uint_eq(rc_key(exact, 2), 0xcc49fdcc510be364ull);
    free(exact);
}
END_TEST

/* Segment keys hash loc 0x1F device (xxhsum of "US\x1fmobile" etc.). */
START_TEST(test_segment_vectors)
{
    ck_assert_uint_eq(rc_segment_key("US", 2, "mobile", 6), 0x6681d9995f2208e3ull);
    ck_assert_uint_eq(rc_segment_key("de", 2, "desktop", 7), 0xf65d94b0438cb82aull);
    ck_assert_uint_eq(rc_segment_key("US", 2, RC_WILDCARD, 1), 0x6a913ab27e8b9639ull);
    ck_assert_uint_eq(rc_segment_key(RC_WILDCARD, 1, "mobile", 6), 0x0bcd357fc9122962ull);
    ck_assert_uint_eq(rc_segment_key(RC_WILDCARD, 1, RC_WILDCARD, 1), 0xef08585bb0cdeea7ull);
    /* The same as hashing the joined bytes with rc_key. */
    ck_assert_uint_eq(rc_segment_key("US", 2, "mobile", 6), rc_key("US\x1fmobile", 9));
}
END_TEST

/* The separator keeps the two sides apart: ("ab","c") != ("a","bc"). */
START_TEST(test_segment_separator)
{
    ck_assert_uint_ne(rc_segment_key("ab", 2, "c", 1), rc_segment_key("a", 1, "bc", 2));
    ck_assert_uint_ne(rc_segment_key("US", 2, "mobile", 6), rc_key("USmobile", 8));
    ck_assert_uint_ne(rc_segment_key("US", 2, "mobile", 6), rc_segment_key("mobile", 6, "US", 2));
    /* Four distinct keys for the four tiers of one segment. */
    uint64_t k[4] = {rc_segment_key("US", 2, "mobile", 6), rc_segment_key("US", 2, "*", 1),
                     rc_segment_key("*", 1, "mobile", 6), rc_segment_key("*", 1, "*", 1)};
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            ck_assert_uint_ne(k[i], k[j]);
}
END_TEST

/* Sides of RC_ID_MAX bytes fit the internal buffer exactly. */
START_TEST(test_segment_long_sides)
{
    char *loc = malloc(RC_ID_MAX), *dev = malloc(RC_ID_MAX);
    char *joined = malloc(2 * RC_ID_MAX + 1);
    memset(loc, 'l', RC_ID_MAX);
    memset(dev, 'd', RC_ID_MAX);
    memcpy(joined, loc, RC_ID_MAX);
    joined[RC_ID_MAX] = RC_SEGMENT_SEP;
    memcpy(joined + RC_ID_MAX + 1, dev, RC_ID_MAX);
    ck_assert_uint_eq(rc_segment_key(loc, RC_ID_MAX, dev, RC_ID_MAX), rc_key(joined, 2 * RC_ID_MAX + 1));
    /* Empty sides are hashed as they are. */
    ck_assert_uint_eq(rc_segment_key("", 0, "", 0), rc_key("\x1f", 1));
    free(loc);
    free(dev);
    free(joined);
}
END_TEST

static Suite *keys_suite(void)
{
    Suite *s = suite_create("keys");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_key_vectors);
    tcase_add_test(tc, test_key_uses_len);
    tcase_add_test(tc, test_segment_vectors);
    tcase_add_test(tc, test_segment_separator);
    tcase_add_test(tc, test_segment_long_sides);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(keys_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
