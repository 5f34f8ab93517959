/*
 * test_record.c - shared/record.c: the list and item records of
 * schemas/cache.md, held to fixed byte vectors written out here byte by
 * byte, and decoding of every truncation, corruption and a seeded fuzz run.
 *
 * The check fields in the vectors were computed independently with
 * `printf '<entry bytes>' | xxhsum -H3` (XXH3-64, seed 0; the low 32 bits,
 * little-endian). Records handed to the decoder are malloc'ed copies of
 * exactly their length, so an AddressSanitizer build reports any read past
 * the end.
 */
#include "error.h"
#include "keys.h"
#include "record.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* Schema example: product "p1", key rc_key("p1"), score 0.5, source image. */
static const unsigned char list_one[] = {
    0x45, 0x52, 0x4c, 0x53, /* magic "ERLS" */
    0x02, 0x00,             /* version 2 */
    0x02,                   /* source image */
    0x00,                   /* flags */
    0x01, 0x00,             /* count 1 */
    0x00, 0x00,             /* reserved */
    0x72, 0x36, 0x04, 0x27, /* check: XXH3 of bytes [16, 36) = 1ba1698b27043672 */
    0x64, 0xe3, 0x0b, 0x51, 0xcc, 0xfd, 0x49, 0xcc, /* key cc49fdcc510be364 */
    0x00, 0x00, 0x00, 0x3f,                         /* score 0.5f */
    0x02, 0x00,                                     /* id_len 2 */
    0x03,                                           /* score_len 3 */
    0x70, 0x31,                                     /* "p1" */
    0x30, 0x2e, 0x35,                               /* "0.5" */
};

/* Two entries, source segment; the second has a negative score. */
static const unsigned char list_two[] = {
    0x45, 0x52, 0x4c, 0x53, 0x02, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x00,
    0x95, 0xec, 0xef, 0x7c, /* check: XXH3 of the entries = 7db2b07d7cefec95 */
    0x64, 0xe3, 0x0b, 0x51, 0xcc, 0xfd, 0x49, 0xcc, 0x00, 0x00, 0x00, 0x3f, 0x02, 0x00, 0x03, 0x70, 0x31,
    0x30, 0x2e, 0x35,
    0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* key 0102030405060708 */
    0x00, 0x00, 0xa0, 0xbf,                         /* score -1.25f */
    0x05, 0x00,                                     /* id_len 5 */
    0x05,                                           /* score_len 5 */
    0x73, 0x6b, 0x75, 0x2d, 0x35,                   /* "sku-5" */
    0x2d, 0x31, 0x2e, 0x32, 0x35,                   /* "-1.25" */
};
/* Where list_two's second entry starts, and where each entry's lengths
 * (id_len, score_len: bytes 12..14 of an entry) and score (8..11) lie. */
#define TWO_SECOND (RC_LIST_HEADER + RC_ENTRY_FIXED + 2 + 3)

/* No entries, source global: check of zero bytes = low half of 2d06800538d394c2. */
static const unsigned char list_empty[] = {
    0x45, 0x52, 0x4c, 0x53, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc2, 0x94, 0xd3, 0x38,
};

/* Item "sku-5", category "shoes", in stock. */
static const unsigned char item_vec[] = {
    0x45, 0x52, 0x49, 0x54,       /* magic "ERIT" */
    0x01, 0x00,                   /* version 1 */
    0x01,                         /* flags: in stock */
    0x00,                         /* reserved */
    0x05, 0x00,                   /* id_len 5 */
    0x05, 0x00,                   /* cat_len 5 */
    0x73, 0x6b, 0x75, 0x2d, 0x35, /* "sku-5" */
    0x73, 0x68, 0x6f, 0x65, 0x73, /* "shoes" */
};

/* Item "p1", no category, out of stock. */
static const unsigned char item_nocat[] = {
    0x45, 0x52, 0x49, 0x54, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x70, 0x31,
};

static const struct rc_entry two_entries[] = {
    {0xcc49fdcc510be364ull, 0.5f, 2, "p1", 0},
    {0x0102030405060708ull, -1.25f, 5, "sku-5", 0},
};

/* A malloc'ed copy of exactly n bytes (at least one byte allocated). */
static unsigned char *exact_copy(const void *src, size_t n)
{
    unsigned char *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    if (n)
        memcpy(p, src, n);
    return p;
}

static int open_copy(const void *rec, size_t len, int flags)
{
    unsigned char *p = exact_copy(rec, len);
    struct rc_list l;
    char err[RC_ERRMSG_MAX] = "";
    int rc = rc_list_open(&l, p, len, flags, err);
    if (rc)
        ck_assert_msg(err[0] != '\0', "error %d without a message", rc);
    free(p);
    return rc;
}

static int decode_item_copy(const void *rec, size_t len)
{
    unsigned char *p = exact_copy(rec, len);
    struct rc_item it;
    char err[RC_ERRMSG_MAX] = "";
    int rc = rc_item_decode(&it, p, len, err);
    if (rc)
        ck_assert_msg(err[0] != '\0', "error %d without a message", rc);
    free(p);
    return rc;
}

/* Deterministic PRNG (xorshift64*), so a failure replays identically. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* ---- list: encoding to the fixed vectors ---- */

START_TEST(test_list_encode_vectors)
{
    unsigned char out[128];
    struct rc_entry one = {rc_key("p1", 2), 0.5f, 2, "p1", 0};
    long n = rc_list_encode(out, sizeof(out), RC_SRC_IMAGE, &one, 1);
    ck_assert_int_eq(n, sizeof(list_one));
    ck_assert_mem_eq(out, list_one, sizeof(list_one));

    n = rc_list_encode(out, sizeof(out), RC_SRC_SEGMENT, two_entries, 2);
    ck_assert_int_eq(n, sizeof(list_two));
    ck_assert_mem_eq(out, list_two, sizeof(list_two));

    n = rc_list_encode(out, sizeof(out), RC_SRC_GLOBAL, NULL, 0);
    ck_assert_int_eq(n, sizeof(list_empty));
    ck_assert_mem_eq(out, list_empty, sizeof(list_empty));

    /* the most two entries with 7 id bytes take: each score text at its longest */
    ck_assert_uint_eq(rc_list_size(2, 7), RC_LIST_HEADER + 2 * (RC_ENTRY_FIXED + RC_SCORE_TEXT_MAX) + 7);
    ck_assert_uint_ge(rc_list_size(2, 7), sizeof(list_two));
    ck_assert_uint_eq(rc_list_size(0, 0), RC_LIST_HEADER);
}
END_TEST

/* cap == the exact size is enough; one byte less is -ENOSPC and writes nothing. */
START_TEST(test_list_encode_limits)
{
    unsigned char out[128];
    memset(out, 0xa5, sizeof(out));
    ck_assert_int_eq(rc_list_encode(out, sizeof(list_two) - 1, RC_SRC_SEGMENT, two_entries, 2), -ENOSPC);
    for (size_t i = 0; i < sizeof(out); i++)
        ck_assert_uint_eq(out[i], 0xa5);
    ck_assert_int_eq(rc_list_encode(out, sizeof(list_two), RC_SRC_SEGMENT, two_entries, 2), sizeof(list_two));
    ck_assert_uint_eq(out[sizeof(list_two)], 0xa5);
    ck_assert_int_eq(rc_list_encode(NULL, 0, RC_SRC_CF, two_entries, 2), -ENOSPC);
    ck_assert_int_eq(rc_list_encode(out, 15, RC_SRC_CF, NULL, 0), -ENOSPC);

    /* Sources outside 1..6. */
    ck_assert_int_eq(rc_list_encode(out, sizeof(out), (enum rc_source)0, two_entries, 2), RC_ERANGE);
    ck_assert_int_eq(rc_list_encode(out, sizeof(out), (enum rc_source)7, two_entries, 2), RC_ERANGE);
    ck_assert_int_gt(rc_list_encode(out, sizeof(out), RC_SRC_COVIEW, two_entries, 2), 0);
    ck_assert_int_gt(rc_list_encode(out, sizeof(out), RC_SRC_CATEGORY, two_entries, 2), 0);

    /* Id lengths outside 1..RC_ID_MAX. */
    char big[RC_ID_MAX + 1];
    memset(big, 'z', sizeof(big));
    struct rc_entry e = {1, 1.0f, 0, big, 0};
    ck_assert_int_eq(rc_list_encode(out, sizeof(out), RC_SRC_CF, &e, 1), RC_ETOOLONG);
    e.id_len = RC_ID_MAX + 1;
    unsigned char *wide = malloc(1024);
    ck_assert_int_eq(rc_list_encode(wide, 1024, RC_SRC_CF, &e, 1), RC_ETOOLONG);
    e.id_len = RC_ID_MAX;
    ck_assert_int_eq(rc_list_encode(wide, 1024, RC_SRC_CF, &e, 1), RC_LIST_HEADER + RC_ENTRY_FIXED + RC_ID_MAX + 1);
    free(wide);

    /* More than RC_LIST_MAX entries. */
    struct rc_entry *many = calloc(RC_LIST_MAX + 1, sizeof(*many));
    for (size_t i = 0; i <= RC_LIST_MAX; i++)
        many[i] = (struct rc_entry){i, (float)i, 1, "x", 0};
    size_t cap = rc_list_size(RC_LIST_MAX + 1, RC_LIST_MAX + 1);
    unsigned char *buf = malloc(cap);
    ck_assert_int_eq(rc_list_encode(buf, cap, RC_SRC_CF, many, RC_LIST_MAX + 1), RC_ERANGE);
    long n = rc_list_encode(buf, cap, RC_SRC_CF, many, RC_LIST_MAX);
    /* scores 0..999: score texts "0".."999" */
    ck_assert_int_eq(n, RC_LIST_HEADER + RC_LIST_MAX * (RC_ENTRY_FIXED + 1) + 10 * 1 + 90 * 2 + 900 * 3);
    struct rc_list l;
    ck_assert_int_eq(rc_list_open(&l, buf, (size_t)n, RC_DECODE_VERIFY, NULL), 0);
    ck_assert_uint_eq(l.count, RC_LIST_MAX);
    free(buf);
    free(many);
}
END_TEST

/* ---- list: decoding ---- */

START_TEST(test_list_decode_vectors)
{
    unsigned char *p = exact_copy(list_two, sizeof(list_two));
    struct rc_list l;
    struct rc_entry e;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rc_list_open(&l, p, sizeof(list_two), RC_DECODE_VERIFY, err), 0);
    ck_assert_uint_eq(l.count, 2);
    ck_assert_uint_eq(l.source, RC_SRC_SEGMENT);
    for (int pass = 0; pass < 2; pass++) {
        ck_assert_int_eq(rc_list_next(&l, &e), 1);
        ck_assert_uint_eq(e.key, 0xcc49fdcc510be364ull);
        ck_assert_float_eq(e.score, 0.5f);
        ck_assert_uint_eq(e.id_len, 2);
        ck_assert_ptr_eq(e.id, (const char *)p + 31);
        ck_assert_mem_eq(e.id, "p1", 2);
        ck_assert_uint_eq(e.score_len, 3);
        ck_assert_mem_eq(rc_entry_score_text(&e), "0.5", 3);
        ck_assert_int_eq(rc_list_next(&l, &e), 1);
        ck_assert_uint_eq(e.key, 0x0102030405060708ull);
        ck_assert_float_eq(e.score, -1.25f);
        ck_assert_uint_eq(e.id_len, 5);
        ck_assert_mem_eq(e.id, "sku-5", 5);
        ck_assert_uint_eq(e.score_len, 5);
        ck_assert_mem_eq(rc_entry_score_text(&e), "-1.25", 5);
        ck_assert_int_eq(rc_list_next(&l, &e), 0);
        ck_assert_int_eq(rc_list_next(&l, &e), 0);
        rc_list_rewind(&l);
    }
    free(p);

    p = exact_copy(list_empty, sizeof(list_empty));
    ck_assert_int_eq(rc_list_open(&l, p, sizeof(list_empty), RC_DECODE_VERIFY, err), 0);
    ck_assert_uint_eq(l.count, 0);
    ck_assert_uint_eq(l.source, RC_SRC_GLOBAL);
    ck_assert_int_eq(rc_list_next(&l, &e), 0);
    free(p);

    ck_assert_int_eq(open_copy(list_one, sizeof(list_one), RC_DECODE_VERIFY), 0);
    ck_assert_str_eq(rc_source_name(RC_SRC_CF), "cf");
    ck_assert_str_eq(rc_source_name(RC_SRC_IMAGE), "image");
    ck_assert_str_eq(rc_source_name(RC_SRC_SEGMENT), "segment");
    ck_assert_str_eq(rc_source_name(RC_SRC_GLOBAL), "global");
    ck_assert_str_eq(rc_source_name(0), "unknown");
    ck_assert_str_eq(rc_source_name(RC_SRC_COVIEW), "coview");
    ck_assert_str_eq(rc_source_name(RC_SRC_CATEGORY), "category");
    ck_assert_str_eq(rc_source_name(7), "unknown");
}
END_TEST

/* Random lists (ids of 1..RC_ID_MAX arbitrary bytes, any finite score)
 * survive encode/decode, each with its score's "%.6g" as score text. */
START_TEST(test_list_round_trip)
{
    rng_state = 42;
    static char ids[RC_LIST_MAX][RC_ID_MAX];
    static struct rc_entry in[RC_LIST_MAX];
    size_t sizes[] = {0, 1, 2, 17, 999, RC_LIST_MAX};
    for (size_t t = 0; t < sizeof(sizes) / sizeof(sizes[0]); t++) {
        size_t count = sizes[t], ids_total = 0;
        for (size_t i = 0; i < count; i++) {
            uint16_t len = (uint16_t)(i % 3 == 0 ? RC_ID_MAX : 1 + rnd() % RC_ID_MAX);
            for (size_t j = 0; j < len; j++)
                ids[i][j] = (char)rnd();
            uint64_t bits = rnd();
            float score;
            uint32_t b32 = (uint32_t)bits & 0xbf7fffffu; /* finite: avoid NaN compare trouble */
            memcpy(&score, &b32, 4);
            in[i] = (struct rc_entry){rnd(), score, len, ids[i], 0};
            ids_total += len;
        }
        size_t cap = rc_list_size(count, ids_total);
        unsigned char *buf = malloc(cap);
        int src = 1 + (int)(t % 4);
        long n = rc_list_encode(buf, cap, (enum rc_source)src, in, count);
        ck_assert_int_ge(n, (long)(RC_LIST_HEADER + count * (RC_ENTRY_FIXED + 1) + ids_total));
        ck_assert_int_le(n, (long)cap);
        size_t need = (size_t)n;
        struct rc_list l;
        ck_assert_int_eq(rc_list_open(&l, buf, need, RC_DECODE_VERIFY, NULL), 0);
        ck_assert_uint_eq(l.count, count);
        ck_assert_uint_eq(l.source, src);
        struct rc_entry e;
        size_t i = 0;
        while (rc_list_next(&l, &e)) {
            ck_assert_uint_lt(i, count);
            ck_assert_uint_eq(e.key, in[i].key);
            ck_assert_mem_eq(&e.score, &in[i].score, 4);
            ck_assert_uint_eq(e.id_len, in[i].id_len);
            ck_assert_mem_eq(e.id, in[i].id, e.id_len);
            char want[32];
            int w = snprintf(want, sizeof(want), "%.6g", (double)in[i].score);
            ck_assert_int_eq(e.score_len, w);
            ck_assert_mem_eq(rc_entry_score_text(&e), want, (size_t)w);
            i++;
        }
        ck_assert_uint_eq(i, count);
        free(buf);
    }
}
END_TEST

/* Every proper prefix of a valid record is refused as truncated. */
START_TEST(test_list_truncations)
{
    const struct {
        const unsigned char *rec;
        size_t len;
    } recs[] = {{list_one, sizeof(list_one)}, {list_two, sizeof(list_two)}, {list_empty, sizeof(list_empty)}};
    for (size_t r = 0; r < 3; r++)
        for (size_t len = 0; len < recs[r].len; len++) {
            ck_assert_msg(open_copy(recs[r].rec, len, 0) == RC_ETRUNC, "record %zu cut to %zu bytes", r, len);
            ck_assert_int_eq(open_copy(recs[r].rec, len, RC_DECODE_VERIFY), RC_ETRUNC);
        }
}
END_TEST

/* Header fields the reader does not know are refused (checksum not involved:
 * it covers only the entries). */
START_TEST(test_list_bad_header)
{
    unsigned char r[sizeof(list_two)];
#define MUTATE(off, val, want)                                                 \
    do {                                                                       \
        memcpy(r, list_two, sizeof(r));                                        \
        r[off] = (unsigned char)(val);                                         \
        ck_assert_int_eq(open_copy(r, sizeof(r), 0), want);                    \
        ck_assert_int_eq(open_copy(r, sizeof(r), RC_DECODE_VERIFY), want);     \
    } while (0)
    MUTATE(0, 'X', RC_EMAGIC);
    MUTATE(3, 'T', RC_EMAGIC); /* an item record's magic */
    MUTATE(4, 1, RC_EVERSION); /* version 1 lists held no score texts */
    MUTATE(4, 3, RC_EVERSION);
    MUTATE(4, 0, RC_EVERSION);
    MUTATE(5, 1, RC_EVERSION); /* version 257: the high byte counts */
    MUTATE(6, 0, RC_EFORMAT);  /* source */
    MUTATE(6, 7, RC_EFORMAT); /* 6 is category */
    MUTATE(6, 0xff, RC_EFORMAT);
    MUTATE(7, 1, RC_EFORMAT); /* flags */
    MUTATE(7, 0x80, RC_EFORMAT);
    MUTATE(10, 1, RC_EFORMAT); /* reserved */
    MUTATE(11, 0x80, RC_EFORMAT);
    /* count: one fewer leaves trailing bytes, one more is truncated, over the max is refused */
    MUTATE(8, 1, RC_EFORMAT);
    MUTATE(8, 3, RC_ETRUNC);
    memcpy(r, list_two, sizeof(r));
    r[8] = (RC_LIST_MAX + 1) & 0xff;
    r[9] = (RC_LIST_MAX + 1) >> 8;
    ck_assert_int_eq(open_copy(r, sizeof(r), 0), RC_EFORMAT);
    r[8] = r[9] = 0xff;
    ck_assert_int_eq(open_copy(r, sizeof(r), 0), RC_EFORMAT);
#undef MUTATE

    /* The version found is named in the message. */
    char err[RC_ERRMSG_MAX] = "";
    struct rc_list l;
    memcpy(r, list_two, sizeof(r));
    r[4] = 1;
    ck_assert_int_eq(rc_list_open(&l, r, sizeof(r), 0, err), RC_EVERSION);
    ck_assert_ptr_nonnull(strstr(err, "version 1"));
    ck_assert_int_eq(rc_list_open(&l, r, sizeof(r), 0, NULL), RC_EVERSION); /* err may be NULL */
}
END_TEST

/* RC_LIST_ASIDE: accepted on an image list only, by every reader; set after encoding. */
START_TEST(test_list_aside_flag)
{
    unsigned char r[sizeof(list_two)];
    struct rc_list l;
    memcpy(r, list_two, sizeof(r));
    ck_assert_int_eq(rc_list_set_flags(r, sizeof(r), RC_LIST_ASIDE), RC_ERANGE); /* a segment list */
    ck_assert_int_eq(r[7], 0);
    r[6] = RC_SRC_IMAGE;
    ck_assert_int_eq(rc_list_set_flags(r, sizeof(r), 0x02), RC_ERANGE); /* unknown */
    ck_assert_int_eq(rc_list_set_flags(r, RC_LIST_HEADER - 1, RC_LIST_ASIDE), RC_ETRUNC);
    ck_assert_int_eq(rc_list_set_flags(r, sizeof(r), RC_LIST_ASIDE), 0);
    ck_assert_int_eq(r[7], RC_LIST_ASIDE);
    /* the header is outside the checksum: the record still verifies */
    ck_assert_int_eq(open_copy(r, sizeof(r), RC_DECODE_VERIFY), 0);
    ck_assert_int_eq(rc_list_open(&l, r, sizeof(r), 0, NULL), 0);
    ck_assert_uint_eq(l.flags, RC_LIST_ASIDE);
    ck_assert_uint_eq(l.source, RC_SRC_IMAGE);
    ck_assert_int_eq(rc_list_open_lazy(&l, r, sizeof(r)), 0);
    ck_assert_uint_eq(l.flags, RC_LIST_ASIDE);
    /* other bits, or the flag on another source, are refused by both paths */
    r[7] = RC_LIST_ASIDE | 0x02;
    ck_assert_int_eq(open_copy(r, sizeof(r), 0), RC_EFORMAT);
    ck_assert_int_eq(rc_list_open_lazy(&l, r, sizeof(r)), RC_EFORMAT);
    r[7] = RC_LIST_ASIDE;
    r[6] = RC_SRC_COVIEW;
    ck_assert_int_eq(open_copy(r, sizeof(r), 0), RC_EFORMAT);
    ck_assert_int_eq(rc_list_open_lazy(&l, r, sizeof(r)), RC_EFORMAT);
}
END_TEST

/* id_len 0 and RC_ID_MAX+1 are refused even with enough bytes behind them. */
START_TEST(test_list_bad_id_len)
{
    size_t len = RC_LIST_HEADER + RC_ENTRY_FIXED + 300 + 1; /* ids up to 300 bytes, a 1-byte score text */
    unsigned char *r = calloc(1, len);
    memcpy(r, list_one, RC_LIST_HEADER);
    r[RC_LIST_HEADER + 14] = 1; /* score 0: score text "0" */
    for (unsigned id_len = 0; id_len <= 300; id_len++) {
        r[RC_LIST_HEADER + 12] = (unsigned char)id_len;
        r[RC_LIST_HEADER + 13] = (unsigned char)(id_len >> 8);
        size_t exact = RC_LIST_HEADER + RC_ENTRY_FIXED + id_len + 1;
        r[exact - 1] = '0';
        int rc = open_copy(r, exact, 0);
        r[exact - 1] = 0;
        if (id_len == 0 || id_len > RC_ID_MAX)
            ck_assert_msg(rc == RC_EFORMAT, "id_len %u: %d", id_len, rc);
        else
            ck_assert_msg(rc == 0, "id_len %u: %d", id_len, rc);
    }
    /* 0xffff must not be taken as a length to skip. */
    r[RC_LIST_HEADER + 12] = r[RC_LIST_HEADER + 13] = 0xff;
    ck_assert_int_eq(open_copy(r, len, 0), RC_EFORMAT);
    free(r);
}
END_TEST

/* A score text of length 0 or over RC_SCORE_TEXT_MAX is refused in both
 * modes; one that is not its score's "%.6g" only by a full open (the lazy
 * reader checks lengths; recedge checks every record in full when it
 * loads a version). */
START_TEST(test_list_bad_score_text)
{
    unsigned char r[sizeof(list_one) + 16];
    const unsigned lens[] = {0, RC_SCORE_TEXT_MAX + 1, 255};
    for (size_t b = 0; b < 3; b++) {
        memset(r, '0', sizeof(r));
        memcpy(r, list_one, sizeof(list_one));
        r[RC_LIST_HEADER + 14] = (unsigned char)lens[b];
        size_t len = sizeof(list_one) - 3 + lens[b] > sizeof(r) ? sizeof(r) : sizeof(list_one) - 3 + lens[b];
        ck_assert_int_eq(open_copy(r, len, 0), RC_EFORMAT);
        ck_assert_int_eq(open_copy(r, len, RC_DECODE_VERIFY), RC_EFORMAT);
        ck_assert_int_eq(open_copy(r, len, RC_DECODE_LAZY), 0); /* the header is fine */
        struct rc_list l;
        struct rc_entry e;
        ck_assert_int_eq(rc_list_open(&l, r, len, RC_DECODE_LAZY, NULL), 0);
        ck_assert_int_eq(rc_list_next(&l, &e), 0);
        ck_assert_int_eq(l.err, RC_EFORMAT);
    }
    /* same length, other text: "0.6", "0.50", "+.5" for a score of 0.5 */
    const char *texts[] = {"0.6", "050", "+.5", ".5\0"};
    for (size_t k = 0; k < 4; k++) {
        memcpy(r, list_one, sizeof(list_one));
        memcpy(r + sizeof(list_one) - 3, texts[k], 3);
        char err[RC_ERRMSG_MAX] = "";
        struct rc_list l;
        ck_assert_int_eq(rc_list_open(&l, r, sizeof(list_one), 0, err), RC_EFORMAT);
        ck_assert_ptr_nonnull(strstr(err, "score text"));
        struct rc_entry e;
        ck_assert_int_eq(rc_list_open(&l, r, sizeof(list_one), RC_DECODE_LAZY, NULL), 0);
        ck_assert_int_eq(rc_list_next(&l, &e), 1);
        ck_assert_mem_eq(rc_entry_score_text(&e), texts[k], 3);
    }
    /* the score changed under its text */
    memcpy(r, list_one, sizeof(list_one));
    r[RC_LIST_HEADER + 11] = 0x40; /* 2.0f */
    ck_assert_int_eq(open_copy(r, sizeof(list_one), 0), RC_EFORMAT);
}
END_TEST

START_TEST(test_list_checksum)
{
    unsigned char r[sizeof(list_two)];
    for (size_t off = RC_LIST_HEADER; off < sizeof(r); off++) {
        memcpy(r, list_two, sizeof(r));
        r[off] ^= 0x01;
        int rc = open_copy(r, sizeof(r), RC_DECODE_VERIFY);
        size_t in_entry = off < TWO_SECOND ? off - RC_LIST_HEADER : off - TWO_SECOND;
        int id_bytes = off < TWO_SECOND ? in_entry >= RC_ENTRY_FIXED && in_entry < RC_ENTRY_FIXED + 2
                                        : in_entry >= RC_ENTRY_FIXED && in_entry < RC_ENTRY_FIXED + 5;
        if (in_entry < 8 || id_bytes) {
            /* a key or id byte: only the checksum sees it */
            ck_assert_msg(rc == RC_ECHECKSUM, "byte %zu: %d", off, rc);
            /* Without RC_DECODE_VERIFY the record decodes. */
            ck_assert_int_eq(open_copy(r, sizeof(r), 0), 0);
        } else {
            /* a length changes the layout; a score or score text byte
             * parts the two (or, for a low bit of the score that "%.6g"
             * does not show, the checksum): refused either way */
            ck_assert_msg(rc != 0, "byte %zu accepted", off);
        }
    }
    for (size_t off = 12; off < 16; off++) { /* the check field itself */
        memcpy(r, list_two, sizeof(r));
        r[off] ^= 0x80;
        ck_assert_int_eq(open_copy(r, sizeof(r), RC_DECODE_VERIFY), RC_ECHECKSUM);
    }
}
END_TEST

START_TEST(test_list_trailing)
{
    unsigned char r[sizeof(list_two) + RC_ENTRY_FIXED + 2];
    memset(r, 0, sizeof(r));
    memcpy(r, list_two, sizeof(list_two));
    for (size_t extra = 1; extra <= RC_ENTRY_FIXED + 2; extra++) {
        ck_assert_int_eq(open_copy(r, sizeof(list_two) + extra, 0), RC_EFORMAT);
        ck_assert_int_eq(open_copy(r, sizeof(list_two) + extra, RC_DECODE_VERIFY), RC_EFORMAT);
    }
    unsigned char e[sizeof(list_empty) + 1];
    memcpy(e, list_empty, sizeof(list_empty));
    e[sizeof(list_empty)] = 0;
    ck_assert_int_eq(open_copy(e, sizeof(e), 0), RC_EFORMAT);
}
END_TEST

/* ---- lazy decoding (RC_DECODE_LAZY): entries checked by rc_list_next ---- */

/*
 * Open rec[0, len) lazily from an exact-size copy and iterate to the end.
 * Returns what rc_list_open returned, or, when it opened, list.err at the
 * end; *entries counts what was returned, each checked against the same
 * entry of `want` (the valid record's entries) and to lie inside the copy.
 */
static int lazy_walk(const unsigned char *rec, size_t len, const struct rc_list *want, size_t *entries)
{
    unsigned char *p = exact_copy(rec, len);
    struct rc_list l;
    *entries = 0;
    int rc = rc_list_open(&l, p, len, RC_DECODE_LAZY, NULL);
    if (rc == 0) {
        struct rc_list ref = *want;
        rc_list_rewind(&ref);
        struct rc_entry e, w;
        while (rc_list_next(&l, &e)) {
            ck_assert_msg(e.id >= (const char *)p && e.id + e.id_len + e.score_len <= (const char *)p + len,
                          "entry outside");
            ck_assert_int_eq(rc_list_next(&ref, &w), 1);
            ck_assert_uint_eq(e.key, w.key);
            ck_assert_uint_eq(e.id_len, w.id_len);
            ck_assert_int_eq(memcmp(e.id, w.id, e.id_len), 0);
            ck_assert_uint_eq(e.score_len, w.score_len);
            ck_assert_int_eq(memcmp(rc_entry_score_text(&e), rc_entry_score_text(&w), e.score_len), 0);
            (*entries)++;
        }
        ck_assert_int_eq(rc_list_next(&l, &e), 0); /* stays at the end */
        rc = l.err;
    }
    free(p);
    return rc;
}

/* A valid record reads the same lazily, with err 0 at the end. */
START_TEST(test_list_lazy_valid)
{
    struct rc_list full;
    ck_assert_int_eq(rc_list_open(&full, list_two, sizeof(list_two), 0, NULL), 0);
    size_t n;
    ck_assert_int_eq(lazy_walk(list_two, sizeof(list_two), &full, &n), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(rc_list_open(&full, list_empty, sizeof(list_empty), 0, NULL), 0);
    ck_assert_int_eq(lazy_walk(list_empty, sizeof(list_empty), &full, &n), 0);
    ck_assert_uint_eq(n, 0);
}
END_TEST

/*
 * Every truncation: refused at open (header cut), or opened and stopped at
 * the cut entry with RC_ETRUNC after the whole entries before it. The
 * copies are exact, so an ASan build catches any read past the cut.
 */
START_TEST(test_list_lazy_truncations)
{
    struct rc_list full;
    ck_assert_int_eq(rc_list_open(&full, list_two, sizeof(list_two), 0, NULL), 0);
    const size_t first_end = TWO_SECOND; /* "p1", "0.5" */
    for (size_t len = 0; len < sizeof(list_two); len++) {
        size_t n;
        int rc = lazy_walk(list_two, len, &full, &n);
        ck_assert_msg(rc == RC_ETRUNC, "cut to %zu bytes: %d", len, rc);
        ck_assert_uint_eq(n, len >= first_end ? 1 : 0);
    }
    ck_assert_int_eq(rc_list_open(&full, list_one, sizeof(list_one), 0, NULL), 0);
    for (size_t len = RC_LIST_HEADER; len < sizeof(list_one); len++) {
        size_t n;
        ck_assert_int_eq(lazy_walk(list_one, len, &full, &n), RC_ETRUNC);
        ck_assert_uint_eq(n, 0);
    }
}
END_TEST

/* A bad id length in the second entry: the first is returned, then
 * RC_EFORMAT; bytes after the last entry: all entries, then RC_EFORMAT. */
START_TEST(test_list_lazy_bad_entry_and_trailing)
{
    struct rc_list full, l;
    struct rc_entry e;
    ck_assert_int_eq(rc_list_open(&full, list_two, sizeof(list_two), 0, NULL), 0);
    const size_t second = TWO_SECOND;
    unsigned char r[sizeof(list_two) + 3];
    const uint16_t bad_lens[] = {0, RC_ID_MAX + 1, 0xffff};
    for (size_t b = 0; b < 3; b++) {
        memcpy(r, list_two, sizeof(list_two));
        r[second + 12] = (unsigned char)bad_lens[b];
        r[second + 13] = (unsigned char)(bad_lens[b] >> 8);
        size_t n;
        ck_assert_int_eq(lazy_walk(r, sizeof(list_two), &full, &n), RC_EFORMAT);
        ck_assert_uint_eq(n, 1);
        ck_assert_int_eq(open_copy(r, sizeof(list_two), 0), RC_EFORMAT); /* full mode still refuses at open */
    }
    memcpy(r, list_two, sizeof(list_two));
    memset(r + sizeof(list_two), 0, 3);
    for (size_t extra = 1; extra <= 3; extra++) {
        size_t n;
        ck_assert_int_eq(lazy_walk(r, sizeof(list_two) + extra, &full, &n), RC_EFORMAT);
        ck_assert_uint_eq(n, 2);
    }
    /* rewind keeps the error and meets the defect again */
    memcpy(r, list_two, sizeof(list_two));
    r[second + 12] = 0;
    r[second + 13] = 0;
    ck_assert_int_eq(rc_list_open(&l, r, sizeof(list_two), RC_DECODE_LAZY, NULL), 0);
    ck_assert_int_eq(rc_list_next(&l, &e), 1);
    ck_assert_int_eq(rc_list_next(&l, &e), 0);
    ck_assert_int_eq(l.err, RC_EFORMAT);
    rc_list_rewind(&l);
    ck_assert_int_eq(rc_list_next(&l, &e), 1);
    ck_assert_int_eq(rc_list_next(&l, &e), 0);
    ck_assert_int_eq(l.err, RC_EFORMAT);
    /* header defects are still refused at open; VERIFY overrides LAZY */
    ck_assert_int_eq(open_copy(list_two, 8, RC_DECODE_LAZY), RC_ETRUNC);
    memcpy(r, list_two, sizeof(list_two));
    r[0] = 'X';
    ck_assert_int_eq(open_copy(r, sizeof(list_two), RC_DECODE_LAZY), RC_EMAGIC);
    r[0] = 'E';
    r[second + 12] = 0;
    r[second + 13] = 0;
    ck_assert_int_eq(open_copy(r, sizeof(list_two), RC_DECODE_LAZY | RC_DECODE_VERIFY), RC_EFORMAT);
}
END_TEST

/* Lazy fuzz: whatever the bytes, iteration stays inside the record, and
 * the entries it returns before a defect are those a full open accepts. */
START_TEST(test_list_lazy_fuzz)
{
    rng_state = 20261123;
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = rnd() % 96;
        unsigned char *p = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++)
            p[i] = (unsigned char)(rnd() % 4 == 0 ? rnd() : rnd() % 3);
        if (len >= RC_LIST_HEADER) {
            memcpy(p, list_two, 8); /* a valid header start so that open gets past it */
            p[8] = (unsigned char)(rnd() % 5);
            p[9] = 0;
            p[10] = p[11] = 0;
        }
        struct rc_list l;
        if (rc_list_open(&l, p, len, RC_DECODE_LAZY, NULL) == 0) {
            struct rc_entry e;
            size_t n = 0;
            while (rc_list_next(&l, &e)) {
                ck_assert_uint_ge(e.id_len, 1);
                ck_assert_uint_le(e.id_len, RC_ID_MAX);
                ck_assert_msg(e.id + e.id_len + e.score_len <= (const char *)p + len, "entry past the end");
                ck_assert_uint_ge(e.score_len, 1);
                ck_assert_uint_le(e.score_len, RC_SCORE_TEXT_MAX);
                n++;
            }
            ck_assert_uint_le(n, l.count);
            /* iterated to the end: a defect lazy finds, a full open
             * refuses too; a full open also refuses a score text that is
             * not its score's, which lazy does not look at */
            int lazy_err = l.err;
            size_t count = l.count;
            int full = rc_list_open(&l, p, len, 0, NULL);
            if (lazy_err)
                ck_assert_msg(full != 0, "full accepted, lazy %d", lazy_err);
            else
                ck_assert_msg(full == 0 || full == RC_EFORMAT, "full %d, lazy 0", full);
            if (full == 0)
                ck_assert_uint_eq(n, count);
        }
        free(p);
    }
}
END_TEST

/*
 * Seeded fuzz: mutate, truncate or extend valid records. The decoder must
 * refuse or accept; when it accepts, iteration yields exactly `count`
 * entries, each inside the buffer, ending exactly at its end.
 */
START_TEST(test_list_fuzz)
{
    rng_state = 20261122;
    struct rc_entry src[8];
    char ids[8][RC_ID_MAX];
    unsigned accepted = 0, refused = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t count = rnd() % 8, ids_total = 0;
        for (size_t i = 0; i < count; i++) {
            uint16_t len = (uint16_t)(1 + (rnd() % 4 == 0 ? rnd() % RC_ID_MAX : rnd() % 6));
            memset(ids[i], 'a' + (int)i, len);
            src[i] = (struct rc_entry){rnd(), (float)i, len, ids[i], 0};
            ids_total += len;
        }
        size_t cap = rc_list_size(count, ids_total);
        unsigned char *good = malloc(cap + 32);
        long encoded = rc_list_encode(good, cap, (enum rc_source)(1 + rnd() % 4), src, count);
        ck_assert_int_gt(encoded, 0);
        size_t len = (size_t)encoded;
        for (int i = 0; i < 32; i++)
            good[len + i] = (unsigned char)rnd();
        size_t mlen = len;
        int nmut = 1 + (int)(rnd() % 4);
        for (int m = 0; m < nmut; m++) {
            switch (rnd() % 5) {
            case 0: /* flip a byte */
                good[rnd() % mlen] ^= (unsigned char)(1 + rnd() % 255);
                break;
            case 1: /* truncate */
                mlen = rnd() % (mlen + 1);
                break;
            case 2: /* extend with random bytes */
                mlen = mlen + rnd() % (len + 32 - mlen + 1);
                break;
            case 3: /* rewrite a length-like field near an entry header */
                if (mlen > RC_LIST_HEADER + 14) {
                    size_t off = RC_LIST_HEADER + rnd() % (mlen - RC_LIST_HEADER - 2);
                    good[off] = (unsigned char)rnd();
                    good[off + 1] = (unsigned char)(rnd() % 3);
                    good[off + 2] = (unsigned char)(rnd() % 16);
                }
                break;
            default: /* rewrite the count */
                if (mlen >= 10)
                    good[8] = (unsigned char)(rnd() % 12);
                break;
            }
            if (mlen == 0)
                break;
        }
        unsigned char *p = exact_copy(good, mlen);
        free(good);
        struct rc_list l;
        int flags = (iter & 1) ? RC_DECODE_VERIFY : 0;
        int rc = rc_list_open(&l, p, mlen, flags, NULL);
        if (rc == 0) {
            accepted++;
            ck_assert_uint_le(l.count, RC_LIST_MAX);
            struct rc_entry e;
            size_t n = 0, end = RC_LIST_HEADER;
            while (rc_list_next(&l, &e)) {
                ck_assert_uint_ge(e.id_len, 1);
                ck_assert_uint_le(e.id_len, RC_ID_MAX);
                ck_assert_msg(e.id >= (const char *)p + RC_LIST_HEADER + RC_ENTRY_FIXED, "id before the entries");
                ck_assert_msg(e.id + e.id_len + e.score_len <= (const char *)p + mlen, "entry past the end");
                end += RC_ENTRY_FIXED + e.id_len + e.score_len;
                n++;
                ck_assert_uint_le(n, l.count);
            }
            ck_assert_uint_eq(n, l.count);
            ck_assert_uint_eq(end, mlen);
        } else {
            refused++;
            ck_assert_msg(rc >= RC_ERR_FIRST && rc <= RC_ERR_LAST, "unexpected code %d", rc);
        }
        free(p);
    }
    /* Both outcomes happen, or the fuzzer is not exercising anything. */
    ck_assert_uint_gt(accepted, 100);
    ck_assert_uint_gt(refused, 1000);
}
END_TEST

/* ---- item ---- */

START_TEST(test_item_vectors)
{
    unsigned char out[64];
    memset(out, 0xa5, sizeof(out));
    ck_assert_int_eq(rc_item_encode(out, sizeof(out), "sku-5", 5, "shoes", 5, 1), sizeof(item_vec));
    ck_assert_mem_eq(out, item_vec, sizeof(item_vec));
    ck_assert_uint_eq(out[sizeof(item_vec)], 0xa5);
    ck_assert_int_eq(rc_item_encode(out, sizeof(out), "p1", 2, NULL, 0, 0), sizeof(item_nocat));
    ck_assert_mem_eq(out, item_nocat, sizeof(item_nocat));
    /* Any non-zero in_stock is the one flag bit. */
    ck_assert_int_eq(rc_item_encode(out, sizeof(out), "p1", 2, "", 0, 7), sizeof(item_nocat));
    ck_assert_uint_eq(out[6], RC_ITEM_IN_STOCK);

    unsigned char *p = exact_copy(item_vec, sizeof(item_vec));
    struct rc_item it;
    ck_assert_int_eq(rc_item_decode(&it, p, sizeof(item_vec), NULL), 0);
    ck_assert_uint_eq(it.flags, RC_ITEM_IN_STOCK);
    ck_assert_uint_eq(it.id_len, 5);
    ck_assert_uint_eq(it.cat_len, 5);
    ck_assert_ptr_eq(it.id, (const char *)p + RC_ITEM_HEADER);
    ck_assert_mem_eq(it.id, "sku-5", 5);
    ck_assert_mem_eq(it.cat, "shoes", 5);
    free(p);

    p = exact_copy(item_nocat, sizeof(item_nocat));
    ck_assert_int_eq(rc_item_decode(&it, p, sizeof(item_nocat), NULL), 0);
    ck_assert_uint_eq(it.flags, 0);
    ck_assert_uint_eq(it.cat_len, 0);
    ck_assert_mem_eq(it.id, "p1", 2);
    ck_assert_ptr_eq(it.cat, it.id + 2);
    free(p);
}
END_TEST

START_TEST(test_item_limits)
{
    static char big[RC_ID_MAX + 1];
    unsigned char out[RC_ITEM_HEADER + 2 * RC_ID_MAX + 8];
    memset(big, 'q', sizeof(big));
    ck_assert_int_eq(rc_item_encode(out, sizeof(out), big, 0, "c", 1, 1), RC_ETOOLONG);
    ck_assert_int_eq(rc_item_encode(out, sizeof(out), big, RC_ID_MAX + 1, "c", 1, 1), RC_ETOOLONG);
    ck_assert_int_eq(rc_item_encode(out, sizeof(out), "p", 1, big, RC_ID_MAX + 1, 1), RC_ETOOLONG);
    long n = rc_item_encode(out, sizeof(out), big, RC_ID_MAX, big, RC_ID_MAX, 1);
    ck_assert_int_eq(n, RC_ITEM_HEADER + 2 * RC_ID_MAX);
    ck_assert_int_eq(decode_item_copy(out, (size_t)n), 0);
    ck_assert_int_eq(rc_item_encode(out, sizeof(item_vec) - 1, "sku-5", 5, "shoes", 5, 1), -ENOSPC);
    ck_assert_int_eq(rc_item_encode(out, sizeof(item_vec), "sku-5", 5, "shoes", 5, 1), sizeof(item_vec));
}
END_TEST

START_TEST(test_item_refusals)
{
    for (size_t len = 0; len < sizeof(item_vec); len++)
        ck_assert_msg(decode_item_copy(item_vec, len) == RC_ETRUNC, "item cut to %zu bytes", len);
    for (size_t len = 0; len < sizeof(item_nocat); len++)
        ck_assert_int_eq(decode_item_copy(item_nocat, len), RC_ETRUNC);

    unsigned char r[sizeof(item_vec) + 4];
#define MUTATE(off, val, want)                                                 \
    do {                                                                       \
        memcpy(r, item_vec, sizeof(item_vec));                                 \
        r[off] = (unsigned char)(val);                                         \
        ck_assert_int_eq(decode_item_copy(r, sizeof(item_vec)), want);         \
    } while (0)
    MUTATE(0, 'e', RC_EMAGIC);
    MUTATE(3, 'S', RC_EMAGIC); /* a list record's magic */
    MUTATE(4, 3, RC_EVERSION);
    MUTATE(4, 0, RC_EVERSION);
    MUTATE(4, 2, RC_EFORMAT); /* version 2 without a display field */
    MUTATE(5, 1, RC_EVERSION);
    MUTATE(6, 0x02, RC_EFORMAT); /* unknown flag bits */
    MUTATE(6, 0x81, RC_EFORMAT);
    MUTATE(7, 1, RC_EFORMAT); /* reserved */
    MUTATE(8, 0, RC_EFORMAT); /* id_len 0 */
    MUTATE(8, 4, RC_EFORMAT); /* lengths add up short: trailing byte */
    MUTATE(8, 6, RC_ETRUNC);  /* lengths add up long */
    MUTATE(10, 4, RC_EFORMAT);
    MUTATE(10, 6, RC_ETRUNC);
#undef MUTATE
    /* id_len and cat_len of RC_ID_MAX+1 (0x0101). */
    memcpy(r, item_vec, sizeof(item_vec));
    r[8] = 0x01;
    r[9] = 0x01;
    ck_assert_int_eq(decode_item_copy(r, sizeof(item_vec)), RC_EFORMAT);
    memcpy(r, item_vec, sizeof(item_vec));
    r[10] = 0x01;
    r[11] = 0x01;
    ck_assert_int_eq(decode_item_copy(r, sizeof(item_vec)), RC_EFORMAT);
    /* Trailing bytes. */
    memcpy(r, item_vec, sizeof(item_vec));
    for (size_t extra = 1; extra <= 4; extra++)
        ck_assert_int_eq(decode_item_copy(r, sizeof(item_vec) + extra), RC_EFORMAT);
}
END_TEST

/* Version 2: "p1", no category, in stock, title, price and currency. */
static const unsigned char item_fields_vec[] = {
    0x45, 0x52, 0x49, 0x54,                   /* magic "ERIT" */
    0x02, 0x00,                               /* version 2 */
    0x01,                                     /* flags: in stock */
    0x19,                                     /* fields: title, price, currency */
    0x02, 0x00,                               /* id_len 2 */
    0x00, 0x00,                               /* cat_len 0 */
    0x70, 0x31,                               /* "p1" */
    0x06, 0x00, '"', 'S', 'h', 'o', 'e', '"', /* title "Shoe" */
    0x04, 0x00, '1', '9', '.', '5',           /* price 19.5 */
    0x05, 0x00, '"', 'E', 'U', 'R', '"',      /* currency "EUR" */
};

static void set_text(struct rc_text *f, const char *s)
{
    f->p = s;
    f->len = (uint16_t)strlen(s);
}

START_TEST(test_item_fields_vectors)
{
    struct rc_text f[RC_FIELD_COUNT] = {{0}};
    set_text(&f[RC_FIELD_TITLE], "\"Shoe\"");
    set_text(&f[RC_FIELD_PRICE], "19.5");
    set_text(&f[RC_FIELD_CURRENCY], "\"EUR\"");
    unsigned char out[128];
    memset(out, 0xa5, sizeof(out));
    ck_assert_int_eq(rc_item_encode_fields(out, sizeof(out), "p1", 2, NULL, 0, 1, f), sizeof(item_fields_vec));
    ck_assert_mem_eq(out, item_fields_vec, sizeof(item_fields_vec));
    ck_assert_uint_eq(out[sizeof(item_fields_vec)], 0xa5);
    ck_assert_int_eq(rc_item_encode_fields(out, sizeof(item_fields_vec) - 1, "p1", 2, NULL, 0, 1, f), -ENOSPC);

    /* No field given, or all empty: the version 1 bytes. */
    struct rc_text none[RC_FIELD_COUNT] = {{0}};
    ck_assert_int_eq(rc_item_encode_fields(out, sizeof(out), "sku-5", 5, "shoes", 5, 1, none), sizeof(item_vec));
    ck_assert_mem_eq(out, item_vec, sizeof(item_vec));

    for (int full = 0; full < 2; full++) {
        unsigned char *p = exact_copy(item_fields_vec, sizeof(item_fields_vec));
        struct rc_item it;
        int rc = full ? rc_item_decode(&it, p, sizeof(item_fields_vec), NULL)
                      : rc_item_decode_lazy(&it, p, sizeof(item_fields_vec));
        ck_assert_int_eq(rc, 0);
        ck_assert_uint_eq(it.fields, 0x19);
        ck_assert_uint_eq(it.flags, RC_ITEM_IN_STOCK);
        ck_assert_mem_eq(it.id, "p1", 2);
        ck_assert_uint_eq(it.cat_len, 0);
        ck_assert_uint_eq(it.field[RC_FIELD_TITLE].len, 6);
        ck_assert_ptr_eq(it.field[RC_FIELD_TITLE].p, (const char *)p + 16);
        ck_assert_mem_eq(it.field[RC_FIELD_PRICE].p, "19.5", 4);
        ck_assert_mem_eq(it.field[RC_FIELD_CURRENCY].p, "\"EUR\"", 5);
        ck_assert_ptr_null(it.field[RC_FIELD_URL].p);
        ck_assert_uint_eq(it.field[RC_FIELD_IMAGE_URL].len, 0);
        free(p);
    }
    /* A version 1 record decodes with no field. */
    unsigned char *p = exact_copy(item_vec, sizeof(item_vec));
    struct rc_item it;
    ck_assert_int_eq(rc_item_decode(&it, p, sizeof(item_vec), NULL), 0);
    ck_assert_uint_eq(it.fields, 0);
    for (int i = 0; i < RC_FIELD_COUNT; i++)
        ck_assert_uint_eq(it.field[i].len, 0);
    free(p);
}
END_TEST

START_TEST(test_item_fields_names)
{
    const char *names[] = {"title", "url", "image_url", "price", "currency"};
    for (int i = 0; i < RC_FIELD_COUNT; i++)
        ck_assert_str_eq(rc_field_name(i), names[i]);
    ck_assert_ptr_null(rc_field_name(RC_FIELD_COUNT));
    ck_assert_ptr_null(rc_field_name(-1));
    ck_assert_uint_eq(rc_field_text_max(RC_FIELD_COUNT), 0);
    ck_assert_uint_eq(rc_field_text_max(RC_FIELD_TITLE), 1202);
    ck_assert_uint_eq(rc_field_text_max(RC_FIELD_URL), 1002);
}
END_TEST

static int text_check(int field, const char *s)
{
    return rc_field_text_check(field, s, strlen(s));
}

START_TEST(test_item_fields_texts)
{
    /* Strings: quotes, escapes, raw UTF-8. */
    ck_assert_int_eq(text_check(RC_FIELD_TITLE, "\"\""), 0);
    ck_assert_int_eq(text_check(RC_FIELD_TITLE, "\"a \\\"b\\\" \\\\ \\/ \\n \\u00e9 \xc3\xa9\""), 0);
    ck_assert_int_eq(text_check(RC_FIELD_TITLE, "\"a\"b\""), RC_EFORMAT);   /* raw quote inside */
    ck_assert_int_eq(text_check(RC_FIELD_TITLE, "\"a\tb\""), RC_EFORMAT);   /* raw control byte */
    ck_assert_int_eq(text_check(RC_FIELD_TITLE, "\"a\\x\""), RC_EFORMAT);   /* unknown escape */
    ck_assert_int_eq(text_check(RC_FIELD_TITLE, "\"a\\u12\""), RC_EFORMAT); /* short \u */
    ck_assert_int_eq(text_check(RC_FIELD_TITLE, "\"a\\\""), RC_EFORMAT);    /* escaped closing quote */
    ck_assert_int_eq(text_check(RC_FIELD_TITLE, "\"abc"), RC_EFORMAT);
    ck_assert_int_eq(text_check(RC_FIELD_TITLE, "abc"), RC_EFORMAT);
    ck_assert_int_eq(text_check(RC_FIELD_TITLE, "\""), RC_EFORMAT);
    ck_assert_int_eq(text_check(RC_FIELD_URL, "\"https://shop.example/p/1?a=b&c=d\""), 0);
    ck_assert_int_eq(text_check(RC_FIELD_IMAGE_URL, "/img/1.png"), RC_EFORMAT); /* unquoted */
    /* Lengths: each field's bound, and one byte over it. */
    static char big[RC_TITLE_TEXT_MAX + 2];
    memset(big, 'x', sizeof(big));
    big[0] = '"';
    big[RC_TITLE_TEXT_MAX - 1] = '"';
    ck_assert_int_eq(rc_field_text_check(RC_FIELD_TITLE, big, RC_TITLE_TEXT_MAX), 0);
    big[RC_TITLE_TEXT_MAX - 1] = 'x';
    big[RC_TITLE_TEXT_MAX] = '"';
    ck_assert_int_eq(rc_field_text_check(RC_FIELD_TITLE, big, RC_TITLE_TEXT_MAX + 1), RC_ETOOLONG);
    big[RC_URL_TEXT_MAX - 1] = '"';
    ck_assert_int_eq(rc_field_text_check(RC_FIELD_URL, big, RC_URL_TEXT_MAX), 0);
    ck_assert_int_eq(rc_field_text_check(RC_FIELD_URL, big, RC_URL_TEXT_MAX + 1), RC_ETOOLONG);
    /* Prices: non-negative JSON numbers only. */
    const char *good[] = {"0", "0.5", "19.99", "1000", "1e3", "2.5E-2", "7e+10"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_msg(text_check(RC_FIELD_PRICE, good[i]) == 0, "price %s", good[i]);
    const char *bad[] = {"", "-1", "01", ".5", "5.", "1e", "1e+", "NaN", "\"5\"", "5 ", "0x10", "1,5", "inf"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(text_check(RC_FIELD_PRICE, bad[i]) == RC_EFORMAT, "price '%s'", bad[i]);
    ck_assert_int_eq(text_check(RC_FIELD_PRICE, "1234567890123456789012345"), RC_ETOOLONG);
    /* Currency: a quoted upper-case 3-letter code. */
    ck_assert_int_eq(text_check(RC_FIELD_CURRENCY, "\"USD\""), 0);
    ck_assert_int_eq(text_check(RC_FIELD_CURRENCY, "\"usd\""), RC_EFORMAT);
    ck_assert_int_eq(text_check(RC_FIELD_CURRENCY, "\"US\""), RC_EFORMAT);
    ck_assert_int_eq(text_check(RC_FIELD_CURRENCY, "\"USDX\""), RC_ETOOLONG);
    ck_assert_int_eq(text_check(RC_FIELD_CURRENCY, "USD12"), RC_EFORMAT);
    ck_assert_int_eq(text_check(RC_FIELD_COUNT, "\"x\""), RC_EFORMAT);
    /* The encoder refuses what the decoder would. */
    struct rc_text f[RC_FIELD_COUNT] = {{0}};
    unsigned char out[2048];
    set_text(&f[RC_FIELD_PRICE], "-1");
    ck_assert_int_eq(rc_item_encode_fields(out, sizeof(out), "p", 1, "", 0, 1, f), RC_EFORMAT);
    f[RC_FIELD_PRICE] = (struct rc_text){big, RC_URL_TEXT_MAX + 1};
    ck_assert_int_eq(rc_item_encode_fields(out, sizeof(out), "p", 1, "", 0, 1, f), RC_ETOOLONG);
    /* Every field at its bound: RC_FIELDS_TEXT_MAX of texts. */
    static char title[RC_TITLE_TEXT_MAX], url[RC_URL_TEXT_MAX];
    memset(title, 'x', sizeof(title));
    title[0] = title[sizeof(title) - 1] = '"';
    memset(url, 'u', sizeof(url));
    url[0] = url[sizeof(url) - 1] = '"';
    f[RC_FIELD_TITLE] = (struct rc_text){title, sizeof(title)};
    f[RC_FIELD_URL] = f[RC_FIELD_IMAGE_URL] = (struct rc_text){url, sizeof(url)};
    set_text(&f[RC_FIELD_PRICE], "123456789012345678901234");
    set_text(&f[RC_FIELD_CURRENCY], "\"EUR\"");
    static unsigned char rec[RC_ITEM_HEADER + 2 * RC_ID_MAX + 2 * RC_FIELD_COUNT + RC_FIELDS_TEXT_MAX];
    long n = rc_item_encode_fields(rec, sizeof(rec), "p", 1, "", 0, 1, f);
    ck_assert_int_eq(n, RC_ITEM_HEADER + 1 + 2 * RC_FIELD_COUNT + RC_FIELDS_TEXT_MAX);
    struct rc_item it;
    ck_assert_int_eq(rc_item_decode(&it, rec, (size_t)n, NULL), 0);
    ck_assert_uint_eq(it.fields, RC_FIELDS_ALL);
    ck_assert_mem_eq(it.field[RC_FIELD_IMAGE_URL].p, url, sizeof(url));
}
END_TEST

START_TEST(test_item_fields_refusals)
{
    /* Every cut is truncated, for both decoders. */
    for (size_t len = 0; len < sizeof(item_fields_vec); len++) {
        unsigned char *p = exact_copy(item_fields_vec, len);
        struct rc_item it;
        ck_assert_msg(rc_item_decode(&it, p, len, NULL) == RC_ETRUNC, "item cut to %zu bytes", len);
        ck_assert_msg(rc_item_decode_lazy(&it, p, len) == RC_ETRUNC, "lazy item cut to %zu bytes", len);
        free(p);
    }
    unsigned char r[sizeof(item_fields_vec) + 4];
    struct rc_item it;
#define MUTATE(off, val, want, want_lazy)                                                  \
    do {                                                                                   \
        memcpy(r, item_fields_vec, sizeof(item_fields_vec));                               \
        r[off] = (unsigned char)(val);                                                     \
        unsigned char *p = exact_copy(r, sizeof(item_fields_vec));                         \
        ck_assert_int_eq(rc_item_decode(&it, p, sizeof(item_fields_vec), NULL), want);    \
        ck_assert_int_eq(rc_item_decode_lazy(&it, p, sizeof(item_fields_vec)), want_lazy); \
        free(p);                                                                           \
    } while (0)
    MUTATE(4, 1, RC_EFORMAT, RC_EFORMAT);  /* version 1 with field bits */
    MUTATE(4, 3, RC_EVERSION, RC_EVERSION);
    MUTATE(7, 0, RC_EFORMAT, RC_EFORMAT);  /* version 2 without fields */
    MUTATE(7, 0x39, RC_EFORMAT, RC_EFORMAT); /* an unknown field bit */
    MUTATE(7, 0x18, RC_EFORMAT, RC_EFORMAT); /* the title read as a price; trailing bytes */
    MUTATE(7, 0x1b, RC_EFORMAT, RC_ETRUNC);  /* the price read as a url; no room for a currency */
    MUTATE(14, 0, RC_EFORMAT, RC_EFORMAT);   /* an empty text */
    MUTATE(22, 'x', RC_EFORMAT, RC_EFORMAT); /* a price of 120 bytes: over its bound */
    MUTATE(22, 12, RC_ETRUNC, RC_ETRUNC);    /* a price running past the end */
    MUTATE(16, 'x', RC_EFORMAT, 0);          /* the title's quote: only the full decode sees */
    MUTATE(25, 'x', RC_EFORMAT, 0);          /* price "1x.5" */
    MUTATE(33, 'r', RC_EFORMAT, 0);          /* currency "EUr" */
#undef MUTATE
    /* Trailing bytes. */
    memcpy(r, item_fields_vec, sizeof(item_fields_vec));
    for (size_t extra = 1; extra <= 4; extra++) {
        unsigned char *p = exact_copy(r, sizeof(item_fields_vec) + extra);
        ck_assert_int_eq(rc_item_decode(&it, p, sizeof(item_fields_vec) + extra, NULL), RC_EFORMAT);
        ck_assert_int_eq(rc_item_decode_lazy(&it, p, sizeof(item_fields_vec) + extra), RC_EFORMAT);
        free(p);
    }
}
END_TEST

START_TEST(test_item_fuzz)
{
    rng_state = 77;
    unsigned accepted = 0;
    for (int iter = 0; iter < 20000; iter++) {
        unsigned char buf[RC_ITEM_HEADER + 2 * RC_ID_MAX + 16];
        size_t id_len = 1 + rnd() % 20, cat_len = rnd() % 20;
        char id[32], cat[32];
        memset(id, 'i', sizeof(id));
        memset(cat, 'c', sizeof(cat));
        long n = rc_item_encode(buf, sizeof(buf), id, id_len, cat, cat_len, (int)(rnd() & 1));
        ck_assert_int_gt(n, 0);
        size_t len = (size_t)n;
        switch (rnd() % 3) {
        case 0:
            buf[rnd() % len] ^= (unsigned char)(1 + rnd() % 255);
            break;
        case 1:
            len = rnd() % (len + 1);
            break;
        default:
            buf[8 + rnd() % 4] = (unsigned char)rnd();
            break;
        }
        unsigned char *p = exact_copy(buf, len);
        struct rc_item it;
        if (rc_item_decode(&it, p, len, NULL) == 0) {
            accepted++;
            ck_assert_uint_ge(it.id_len, 1);
            ck_assert_uint_le(it.id_len, RC_ID_MAX);
            ck_assert_uint_le(it.cat_len, RC_ID_MAX);
            ck_assert_ptr_eq(it.cat + it.cat_len, (const char *)p + len);
            ck_assert_uint_eq(it.flags & ~RC_ITEM_IN_STOCK, 0);
        }
        free(p);
    }
    ck_assert_uint_gt(accepted, 100);
}
END_TEST

static Suite *record_suite(void)
{
    Suite *s = suite_create("record");
    TCase *list = tcase_create("list");
    tcase_add_test(list, test_list_encode_vectors);
    tcase_add_test(list, test_list_encode_limits);
    tcase_add_test(list, test_list_decode_vectors);
    tcase_add_test(list, test_list_round_trip);
    tcase_add_test(list, test_list_truncations);
    tcase_add_test(list, test_list_bad_header);
    tcase_add_test(list, test_list_aside_flag);
    tcase_add_test(list, test_list_bad_id_len);
    tcase_add_test(list, test_list_bad_score_text);
    tcase_add_test(list, test_list_checksum);
    tcase_add_test(list, test_list_trailing);
    tcase_add_test(list, test_list_fuzz);
    tcase_add_test(list, test_list_lazy_valid);
    tcase_add_test(list, test_list_lazy_truncations);
    tcase_add_test(list, test_list_lazy_bad_entry_and_trailing);
    tcase_add_test(list, test_list_lazy_fuzz);
    tcase_set_timeout(list, 120);
    suite_add_tcase(s, list);
    TCase *item = tcase_create("item");
    tcase_add_test(item, test_item_vectors);
    tcase_add_test(item, test_item_limits);
    tcase_add_test(item, test_item_refusals);
    tcase_add_test(item, test_item_fuzz);
    tcase_add_test(item, test_item_fields_vectors);
    tcase_add_test(item, test_item_fields_names);
    tcase_add_test(item, test_item_fields_texts);
    tcase_add_test(item, test_item_fields_refusals);
    tcase_set_timeout(item, 120);
    suite_add_tcase(s, item);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(record_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
