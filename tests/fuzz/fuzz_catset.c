/*
 * fuzz_catset.c - the set record codec (shared/catset.h) both ways.
 *
 * Decoding: the input as a set record. rc_catset_check passing implies
 * rc_catset_open passing; open's verdict is check's header and length
 * verdict (RC_EMAGIC and RC_EVERSION folded into RC_EFORMAT); an opened
 * set's keys lie inside the input, and rc_catset_has finds each of its
 * keys when the set checked (in order), and never reads outside it either
 * way (ASan). A set that checked encodes back to the same bytes.
 *
 * Encoding: the input's bytes also make keys (8 at a time); sorted and
 * deduplicated (rc_catset_sort), they must encode into a record that
 * checks, holds exactly them, and is refused with -ENOSPC one byte short;
 * unsorted keys with a repeat or a descent are refused with RC_EFORMAT.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "catset.h"
#include "error.h"
#include "fuzz.h"

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void check_decode(const uint8_t *data, size_t size)
{
    char err[RC_ERRMSG_MAX];
    struct rc_catset s;
    int rc_check = rc_catset_check(data, size, err);
    int rc_open = rc_catset_open(&s, data, size);
    if (rc_check == 0)
        FUZZ_CHECK(rc_open == 0);
    if (rc_check == RC_ETRUNC)
        FUZZ_CHECK(rc_open == RC_ETRUNC);
    if (rc_check == RC_EMAGIC || rc_check == RC_EVERSION)
        FUZZ_CHECK(rc_open == RC_EFORMAT);
    if (rc_open != 0)
        return;
    FUZZ_CHECK(s.keys == data + RC_CATSET_HEADER);
    FUZZ_CHECK(rc_catset_size(s.count) == size);
    /* Lookups of keys inside and outside: never out of bounds; exact when ordered. */
    for (uint32_t i = 0; i < s.count && i < 64; i++) {
        uint64_t k = rc_catset_key(&s, i);
        FUZZ_CHECK(k == le64(data + RC_CATSET_HEADER + 8 * (size_t)i));
        int has = rc_catset_has(&s, k);
        if (rc_check == 0)
            FUZZ_CHECK(has == 1);
        (void)rc_catset_has(&s, k + 1);
        (void)rc_catset_has(&s, k - 1);
    }
    (void)rc_catset_has(&s, 0);
    (void)rc_catset_has(&s, UINT64_MAX);
    if (rc_check != 0)
        return;
    uint64_t *keys = malloc((s.count ? s.count : 1) * sizeof(*keys));
    unsigned char *out = malloc(size);
    FUZZ_CHECK(keys && out);
    for (uint32_t i = 0; i < s.count; i++)
        keys[i] = rc_catset_key(&s, i);
    FUZZ_CHECK(rc_catset_encode(out, size, keys, s.count) == (long)size);
    FUZZ_CHECK(memcmp(out, data, size) == 0);
    free(keys);
    free(out);
}

static void check_encode(const uint8_t *data, size_t size)
{
    size_t n = size / 8;
    uint64_t *keys = malloc((n ? n : 1) * sizeof(*keys)), *sorted = malloc((n ? n : 1) * sizeof(*keys));
    FUZZ_CHECK(keys && sorted);
    for (size_t i = 0; i < n; i++)
        keys[i] = sorted[i] = le64(data + 8 * i);
    size_t k = rc_catset_sort(sorted, n);
    FUZZ_CHECK(k <= n && (n == 0 || k >= 1));
    for (size_t i = 1; i < k; i++)
        FUZZ_CHECK(sorted[i - 1] < sorted[i]);
    int ascending = 1;
    for (size_t i = 1; i < n; i++)
        ascending &= keys[i - 1] < keys[i];
    size_t cap = rc_catset_size(n);
    unsigned char *out = malloc(cap);
    FUZZ_CHECK(out);
    if (!ascending)
        FUZZ_CHECK(rc_catset_encode(out, cap, keys, n) == RC_EFORMAT);
    long len = rc_catset_encode(out, cap, sorted, k);
    FUZZ_CHECK(len == (long)rc_catset_size(k));
    FUZZ_CHECK(rc_catset_check(out, (size_t)len, NULL) == 0);
    struct rc_catset s;
    FUZZ_CHECK(rc_catset_open(&s, out, (size_t)len) == 0 && s.count == k);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(rc_catset_has(&s, keys[i]) == 1);
    for (size_t i = 0; i < k; i++)
        FUZZ_CHECK(rc_catset_key(&s, (uint32_t)i) == sorted[i]);
    FUZZ_CHECK(rc_catset_encode(out, (size_t)len - 1, sorted, k) == -ENOSPC);
    free(out);
    free(keys);
    free(sorted);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_decode(data, size);
    check_encode(data, size);
    return 0;
}
