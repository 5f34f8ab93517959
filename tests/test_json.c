/*
 * test_json.c - shared/json.c: bounded and growing output buffers, JSON
 * string escaping of arbitrary bytes, and the parser.
 *
 * The escaping tests hold rc_buf_json_str to a reference written here from
 * the table of well-formed UTF-8 byte sequences (Unicode 15, table 3-7):
 * every byte that does not start a well-formed sequence becomes one U+FFFD.
 * Random byte strings must come out as JSON that rc_json_parse reads back
 * to exactly that reference. Score texts (rc_json_score_write) are held to
 * snprintf's "%.6g".
 */
#include "error.h"
#include "json.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* Length of the well-formed UTF-8 sequence at s (table 3-7), or 0. */
static size_t wellformed(const unsigned char *s, size_t n)
{
    static const struct {
        unsigned char lead_lo, lead_hi, b2_lo, b2_hi;
        size_t len;
    } rows[] = {
        {0x00, 0x7f, 0, 0, 1},       {0xc2, 0xdf, 0x80, 0xbf, 2}, {0xe0, 0xe0, 0xa0, 0xbf, 3},
        {0xe1, 0xec, 0x80, 0xbf, 3}, {0xed, 0xed, 0x80, 0x9f, 3}, {0xee, 0xef, 0x80, 0xbf, 3},
        {0xf0, 0xf0, 0x90, 0xbf, 4}, {0xf1, 0xf3, 0x80, 0xbf, 4}, {0xf4, 0xf4, 0x80, 0x8f, 4},
    };
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        if (s[0] < rows[r].lead_lo || s[0] > rows[r].lead_hi)
            continue;
        size_t len = rows[r].len;
        if (len == 1)
            return 1;
        if (n < len || s[1] < rows[r].b2_lo || s[1] > rows[r].b2_hi)
            return 0;
        for (size_t i = 2; i < len; i++)
            if (s[i] < 0x80 || s[i] > 0xbf)
                return 0;
        return len;
    }
    return 0;
}

/* The string rc_json_parse must return for rc_buf_json_str(s): s with each
 * byte outside a well-formed sequence replaced by EF BF BD. */
static size_t reference(const unsigned char *s, size_t n, unsigned char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t l = wellformed(s + i, n - i);
        if (l) {
            memcpy(out + o, s + i, l);
            o += l;
            i += l;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    return o;
}

/* rc_buf_json_str of n bytes into a NUL-terminated malloc'ed string. */
static char *escape(const char *s, size_t n)
{
    struct rc_buf b;
    rc_buf_init(&b);
    rc_buf_json_str(&b, s, n);
    ck_assert_int_eq(b.overflow, 0);
    char *out = strdup(rc_buf_cstr(&b));
    rc_buf_release(&b);
    return out;
}

#define ESCAPES_TO(in, want)                                                                                  \
    do {                                                                                                      \
        char *got_ = escape(in, sizeof(in) - 1);                                                              \
        ck_assert_msg(strcmp(got_, want) == 0, "escape of %s: got %s, want %s", #in, got_, want);            \
        free(got_);                                                                                           \
    } while (0)

static struct rc_json *parse_ok(const char *text)
{
    struct rc_json *j = NULL;
    char err[RC_ERRMSG_MAX] = "";
    int rc = rc_json_parse(text, strlen(text), &j, err);
    ck_assert_msg(rc == 0, "parse of '%s' failed: %d %s", text, rc, err);
    ck_assert_ptr_nonnull(j);
    return j;
}

static void parse_fails(const char *text, size_t len)
{
    struct rc_json *j = (struct rc_json *)&j; /* must stay untouched or be set, never freed by us */
    char err[RC_ERRMSG_MAX] = "";
    char *copy = malloc(len ? len : 1); /* exact size: ASan sees over-reads */
    memcpy(copy, text, len);
    int rc = rc_json_parse(copy, len, &j, err);
    free(copy);
    ck_assert_msg(rc == RC_EFORMAT, "parse of '%.*s' gave %d, want RC_EFORMAT", (int)len, text, rc);
    ck_assert_msg(strncmp(err, "json: ", 6) == 0, "no message for '%.*s'", (int)len, text);
}
#define PARSE_FAILS(lit) parse_fails(lit, sizeof(lit) - 1)

/* ---- rc_buf ---- */

START_TEST(test_fixed_overflow)
{
    char mem[32];
    memset(mem, 0x5a, sizeof(mem));
    struct rc_buf b;
    rc_buf_fixed(&b, mem, 8);
    rc_buf_add(&b, "abcdefg", 7); /* 7 bytes + NUL fit in 8 */
    ck_assert_int_eq(b.overflow, 0);
    ck_assert_str_eq(rc_buf_cstr(&b), "abcdefg");
    rc_buf_add(&b, "h", 1);
    ck_assert_int_eq(b.overflow, 1);
    ck_assert_uint_eq(b.len, 7);
    rc_buf_add(&b, "", 0); /* stays overflowed, still writes nothing */
    rc_buf_addf(&b, "%d", 1);
    rc_buf_add_u64(&b, 123);
    rc_buf_json_str(&b, "x", 1);
    ck_assert_int_eq(b.overflow, 1);
    ck_assert_str_eq(rc_buf_cstr(&b), "abcdefg");
    for (size_t i = 8; i < sizeof(mem); i++)
        ck_assert_msg(mem[i] == 0x5a, "byte %zu past cap written", i);

    /* One add too big for the rest: nothing of it is written. */
    memset(mem, 0x5a, sizeof(mem));
    rc_buf_fixed(&b, mem, 8);
    rc_buf_adds(&b, "ab");
    rc_buf_adds(&b, "cdefghijk");
    ck_assert_int_eq(b.overflow, 1);
    ck_assert_uint_eq(b.len, 2);
    ck_assert_str_eq(rc_buf_cstr(&b), "ab");
    for (size_t i = 8; i < sizeof(mem); i++)
        ck_assert_uint_eq((unsigned char)mem[i], 0x5a);

    /* addf that does not fit. */
    memset(mem, 0x5a, sizeof(mem));
    rc_buf_fixed(&b, mem, 8);
    rc_buf_addf(&b, "%s-%d", "abc", 12345);
    ck_assert_int_eq(b.overflow, 1);
    ck_assert_uint_eq(b.len, 0);
    for (size_t i = 8; i < sizeof(mem); i++)
        ck_assert_uint_eq((unsigned char)mem[i], 0x5a);

    /* An escaped string cut off by the cap. */
    memset(mem, 0x5a, sizeof(mem));
    rc_buf_fixed(&b, mem, 10);
    rc_buf_json_str(&b, "\x01\x02\x03", 3);
    ck_assert_int_eq(b.overflow, 1);
    ck_assert_uint_lt(b.len, 10);
    for (size_t i = 10; i < sizeof(mem); i++)
        ck_assert_uint_eq((unsigned char)mem[i], 0x5a);

    /* A zero-capacity buffer never writes at all. */
    rc_buf_fixed(&b, mem + 20, 0);
    mem[20] = 0x5a;
    rc_buf_adds(&b, "a");
    ck_assert_int_eq(b.overflow, 1);
    (void)rc_buf_cstr(&b);
    ck_assert_uint_eq((unsigned char)mem[20], 0x5a);
}
END_TEST

START_TEST(test_growable)
{
    struct rc_buf b;
    rc_buf_init(&b);
    ck_assert_str_eq(rc_buf_cstr(&b), "");
    for (int i = 0; i < 10000; i++)
        rc_buf_add(&b, "0123456789", (size_t)(i % 10) + 1);
    ck_assert_int_eq(b.overflow, 0);
    ck_assert_uint_eq(b.len, 1000 * 55);
    ck_assert_uint_gt(b.cap, b.len);
    const char *s = rc_buf_cstr(&b);
    ck_assert_uint_eq(strlen(s), b.len);
    ck_assert_int_eq(memcmp(s, "0010120123", 10), 0);
    rc_buf_release(&b);
    ck_assert_ptr_null(b.data);

    rc_buf_init(&b);
    char big[5000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    rc_buf_addf(&b, "<%s>", big);
    ck_assert_uint_eq(b.len, sizeof(big) + 1);
    ck_assert_int_eq(rc_buf_cstr(&b)[0], '<');
    ck_assert_int_eq(rc_buf_cstr(&b)[b.len - 1], '>');
    rc_buf_release(&b);
}
END_TEST

START_TEST(test_numbers_out)
{
    struct rc_buf b;
    rc_buf_init(&b);
    rc_buf_add_u64(&b, 0);
    rc_buf_adds(&b, " ");
    rc_buf_add_u64(&b, UINT64_MAX);
    rc_buf_adds(&b, " ");
    rc_buf_add_u64(&b, 1000);
    rc_buf_adds(&b, " ");
    rc_buf_add_float(&b, 0.5);
    rc_buf_adds(&b, " ");
    rc_buf_add_float(&b, -1234567.0);
    rc_buf_adds(&b, " ");
    rc_buf_add_float(&b, NAN);
    rc_buf_adds(&b, " ");
    rc_buf_add_float(&b, INFINITY);
    rc_buf_adds(&b, " ");
    rc_buf_add_float(&b, -INFINITY);
    ck_assert_str_eq(rc_buf_cstr(&b), "0 18446744073709551615 1000 0.5 -1.23457e+06 null null null");
    rc_buf_release(&b);
}
END_TEST

/* rc_buf_add_double: the short form where it reads back, 17 digits where
 * it must, and every value read back exactly. */
START_TEST(test_double_out)
{
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {0.3, "0.3"}, {1.0, "1"}, {0.07, "0.07"}, {-2.5e-300, "-2.5e-300"},
        {0.1 + 0.2, "0.30000000000000004"}, {1.0 / 3.0, "0.33333333333333331"}, {NAN, "null"}, {-INFINITY, "null"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rc_buf b;
        rc_buf_init(&b);
        rc_buf_add_double(&b, cases[i].v);
        ck_assert_str_eq(rc_buf_cstr(&b), cases[i].text);
        if (isfinite(cases[i].v))
            ck_assert(strtod(b.data, NULL) == cases[i].v);
        rc_buf_release(&b);
    }
}
END_TEST

/* rc_json_score_write writes what "%.6g" writes (null when not finite),
 * at most RC_JSON_SCORE_MAX bytes, and nothing past RC_JSON_SCORE_ROOM:
 * float bit patterns spread over the whole range (every sign, exponent,
 * NaN and infinities), and the neighbours of every power of ten in the
 * fast path's range and of the values that round up into a seventh digit. */
static void check_score(float f)
{
    char got[RC_JSON_SCORE_ROOM + 8], want[32];
    memset(got, 0x5a, sizeof(got));
    char *end = rc_json_score_write(got, f);
    size_t n = (size_t)(end - got);
    int w = isfinite(f) ? snprintf(want, sizeof(want), "%.6g", (double)f) : snprintf(want, sizeof(want), "null");
    /* checked before asserting: an assertion costs Check a write to its
     * parent, and this runs a million times */
    if (n != (size_t)w || memcmp(got, want, n) != 0)
        ck_abort_msg("%.9g gave '%.*s', expected '%s'", (double)f, (int)n, got, want);
    if (n > RC_JSON_SCORE_MAX)
        ck_abort_msg("%.9g gave %zu bytes", (double)f, n);
    for (size_t i = RC_JSON_SCORE_ROOM; i < sizeof(got); i++)
        if (got[i] != 0x5a)
            ck_abort_msg("%.9g: byte %zu written", (double)f, i);
}

START_TEST(test_score_text)
{
    for (uint64_t bits = 0; bits <= UINT32_MAX; bits += 4099) {
        float f;
        uint32_t b32 = (uint32_t)bits;
        memcpy(&f, &b32, 4);
        check_score(f);
    }
    for (int k = -6; k <= 7; k++) {
        float p = powf(10.0f, (float)k);
        uint32_t b32;
        memcpy(&b32, &p, 4);
        for (int d = -64; d <= 64; d++) {
            uint32_t x = b32 + (uint32_t)d;
            float f;
            memcpy(&f, &x, 4);
            check_score(f);
            check_score(-f);
            check_score(f * 0.9999995f); /* 999999.5 x 10^k: carries into a seventh digit */
        }
    }
    check_score(0.0f);
    check_score(-0.0f);
    check_score(INFINITY);
    check_score(-INFINITY);
    check_score(NAN);
    check_score(-3.4028235e38f);
    check_score(1.17549435e-38f);
    check_score(1.4e-45f);
}
END_TEST

/* ---- rc_buf_json_str ---- */

START_TEST(test_escape_ascii)
{
    ESCAPES_TO("", "\"\"");
    ESCAPES_TO("plain text", "\"plain text\"");
    ESCAPES_TO("a\"b", "\"a\\\"b\"");
    ESCAPES_TO("a\\b", "\"a\\\\b\"");
    ESCAPES_TO("\"\\\"", "\"\\\"\\\\\\\"\"");
    ESCAPES_TO("line\nnext\ttab\r", "\"line\\u000anext\\u0009tab\\u000d\"");
    ESCAPES_TO("\x01\x1f", "\"\\u0001\\u001f\"");
    ESCAPES_TO("/\x7f ~", "\"/\x7f ~\""); /* DEL and '/' need no escape */
    /* NUL inside the length is escaped, not a terminator. */
    char *got = escape("a\0b", 3);
    ck_assert_str_eq(got, "\"a\\u0000b\"");
    free(got);
}
END_TEST

START_TEST(test_escape_utf8)
{
    /* Valid 2-, 3- and 4-byte sequences and the boundaries of each class. */
    ESCAPES_TO("caf\xc3\xa9", "\"caf\xc3\xa9\"");
    ESCAPES_TO("\xc2\x80\xdf\xbf", "\"\xc2\x80\xdf\xbf\"");
    ESCAPES_TO("\xe2\x82\xac", "\"\xe2\x82\xac\"");
    ESCAPES_TO("\xe0\xa0\x80\xef\xbf\xbf", "\"\xe0\xa0\x80\xef\xbf\xbf\"");
    ESCAPES_TO("\xed\x9f\xbf\xee\x80\x80", "\"\xed\x9f\xbf\xee\x80\x80\""); /* U+D7FF, U+E000 */
    ESCAPES_TO("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"");
    ESCAPES_TO("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", "\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"");
}
END_TEST

START_TEST(test_escape_invalid)
{
#define FFFD "\\ufffd"
    ESCAPES_TO("\x80", "\"" FFFD "\"");                          /* lone continuation */
    ESCAPES_TO("a\xbf" "b", "\"a" FFFD "b\"");
    ESCAPES_TO("\xc0\x80", "\"" FFFD FFFD "\"");                 /* overlong NUL */
    ESCAPES_TO("\xc1\xbf", "\"" FFFD FFFD "\"");
    ESCAPES_TO("\xe0\x80\x80", "\"" FFFD FFFD FFFD "\"");        /* overlong 3-byte */
    ESCAPES_TO("\xed\xa0\x80", "\"" FFFD FFFD FFFD "\"");        /* surrogate U+D800 */
    ESCAPES_TO("\xed\xbf\xbf", "\"" FFFD FFFD FFFD "\"");        /* surrogate U+DFFF */
    ESCAPES_TO("\xf0\x80\x80\x80", "\"" FFFD FFFD FFFD FFFD "\""); /* overlong 4-byte */
    ESCAPES_TO("\xf4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\""); /* > U+10FFFF */
    ESCAPES_TO("\xf5\x80\x80\x80", "\"" FFFD FFFD FFFD FFFD "\"");
    ESCAPES_TO("\xff\xfe", "\"" FFFD FFFD "\"");
    ESCAPES_TO("\xe2\x82", "\"" FFFD FFFD "\"");                 /* truncated at the end */
    ESCAPES_TO("\xe2\x82" "A", "\"" FFFD FFFD "A\"");            /* truncated before ASCII */
    ESCAPES_TO("\xf0\x9f\x98", "\"" FFFD FFFD FFFD "\"");
    ESCAPES_TO("\xc3" "\xc3\xa9", "\"" FFFD "\xc3\xa9\"");       /* a lead, then a valid pair */
#undef FFFD
    /* Truncated sequences read no further than n: exact-size copies. */
    const char *cuts[] = {"\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xf0"};
    for (size_t i = 0; i < 4; i++) {
        size_t n = strlen(cuts[i]);
        char *p = malloc(n);
        memcpy(p, cuts[i], n);
        char *got = escape(p, n);
        free(p);
        ck_assert_uint_eq(strlen(got), 2 + 6 * n);
        free(got);
    }
}
END_TEST

/* Random bytes (biased toward UTF-8 lead/continuation bytes and escapes)
 * always give JSON that parses back to the reference string. */
START_TEST(test_escape_random_parses)
{
    rng_state = 1234567;
    static const unsigned char pool[] = {'a', '"', '\\', 0x00, 0x1f, 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0,
                                         0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x9f, 0x8f, 0x90};
    unsigned char in[64], want[64 * 3];
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = rnd() % sizeof(in);
        for (size_t i = 0; i < n; i++)
            in[i] = rnd() % 2 ? pool[rnd() % sizeof(pool)] : (unsigned char)rnd();
        char *copy = malloc(n ? n : 1);
        memcpy(copy, in, n);
        char *json = escape(copy, n);
        free(copy);
        struct rc_json *j = NULL;
        char err[RC_ERRMSG_MAX];
        int rc = rc_json_parse(json, strlen(json), &j, err);
        ck_assert_msg(rc == 0, "iteration %d: '%s' does not parse: %s", iter, json, err);
        ck_assert_int_eq(j->type, RC_JSON_STR);
        size_t wn = reference(in, n, want);
        ck_assert_msg(j->str_len == wn && memcmp(j->str, want, wn) == 0, "iteration %d: round trip differs", iter);
        rc_json_free(j);
        free(json);
    }
}
END_TEST

/* ---- parser ---- */

START_TEST(test_parse_document)
{
    struct rc_json *j = parse_ok(" {\n\t\"s\": \"text\", \"n\": -12.5e2, \"i\": 42, \"t\": true, \"f\": false,"
                                 " \"z\": null, \"a\": [1, \"two\", [], {}], \"o\": {\"inner\": {\"k\": 7}},"
                                 " \"e\": \"\", \"big\": 9007199254740992 }\r\n");
    ck_assert_int_eq(j->type, RC_JSON_OBJ);
    ck_assert_ptr_null(j->key);
    ck_assert_str_eq(rc_json_get_str(j, "s"), "text");
    double v;
    ck_assert_int_eq(rc_json_get_num(j, "n", &v), 0);
    ck_assert_double_eq(v, -1250.0);
    ck_assert_int_eq(rc_json_get_num(j, "i", &v), 0);
    ck_assert_double_eq(v, 42.0);
    ck_assert_int_eq(rc_json_get_num(j, "big", &v), 0);
    ck_assert_double_eq(v, 9007199254740992.0);
    ck_assert_int_eq(rc_json_get(j, "t")->type, RC_JSON_BOOL);
    ck_assert_double_eq(rc_json_get(j, "t")->num, 1.0);
    ck_assert_int_eq(rc_json_get(j, "f")->type, RC_JSON_BOOL);
    ck_assert_double_eq(rc_json_get(j, "f")->num, 0.0);
    ck_assert_int_eq(rc_json_get(j, "z")->type, RC_JSON_NULL);
    ck_assert_str_eq(rc_json_get_str(j, "e"), "");
    /* Wrong types and absent members. */
    ck_assert_ptr_null(rc_json_get_str(j, "n"));
    ck_assert_int_eq(rc_json_get_num(j, "s", &v), RC_ENOTFOUND);
    ck_assert_int_eq(rc_json_get_num(j, "t", &v), RC_ENOTFOUND); /* a bool is not a number */
    ck_assert_int_eq(rc_json_get_num(j, "missing", &v), RC_ENOTFOUND);
    ck_assert_ptr_null(rc_json_get(j, "missing"));
    ck_assert_ptr_null(rc_json_get(j, "S")); /* names are case-sensitive */
    ck_assert_ptr_null(rc_json_get(NULL, "s"));
    /* Arrays keep their order; members of arrays have no key. */
    const struct rc_json *a = rc_json_get(j, "a");
    ck_assert_int_eq(a->type, RC_JSON_ARR);
    ck_assert_ptr_null(rc_json_get(a, "0")); /* rc_json_get on a non-object */
    const struct rc_json *c = a->child;
    ck_assert_int_eq(c->type, RC_JSON_NUM);
    ck_assert_ptr_null(c->key);
    ck_assert_double_eq(c->num, 1.0);
    c = c->next;
    ck_assert_str_eq(c->str, "two");
    c = c->next;
    ck_assert_int_eq(c->type, RC_JSON_ARR);
    ck_assert_ptr_null(c->child);
    c = c->next;
    ck_assert_int_eq(c->type, RC_JSON_OBJ);
    ck_assert_ptr_null(c->child);
    ck_assert_ptr_null(c->next);
    ck_assert_int_eq(rc_json_get_num(rc_json_get(rc_json_get(j, "o"), "inner"), "k", &v), 0);
    ck_assert_double_eq(v, 7.0);
    rc_json_free(j);

    /* Scalars at the top level; the first of duplicate names wins. */
    j = parse_ok("\"only\"");
    ck_assert_str_eq(j->str, "only");
    rc_json_free(j);
    j = parse_ok("  -0.25 ");
    ck_assert_double_eq(j->num, -0.25);
    rc_json_free(j);
    /* every part of the number grammar */
    static const struct { const char *text; double v; } nums[] = {
        {"0", 0}, {"-0", 0}, {"7", 7}, {"10", 10}, {"0.5", 0.5}, {"-0.0", 0}, {"1e3", 1000}, {"1E+3", 1000},
        {"25e-2", 0.25}, {"1.5E2", 150}, {"-12.5e2", -1250}, {"[0]", 0}};
    for (size_t k = 0; k < sizeof(nums) / sizeof(nums[0]); k++) {
        j = parse_ok(nums[k].text);
        ck_assert_double_eq(j->type == RC_JSON_ARR ? j->child->num : j->num, nums[k].v);
        rc_json_free(j);
    }
    j = parse_ok("{\"k\": 1, \"k\": 2}");
    ck_assert_int_eq(rc_json_get_num(j, "k", &v), 0);
    ck_assert_double_eq(v, 1.0);
    rc_json_free(j);
    rc_json_free(NULL);
}
END_TEST

START_TEST(test_parse_escapes)
{
    struct rc_json *j = parse_ok("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"\\u00e9\\u20AC\", \"\\ud83d\\ude00\","
                                 " \"\\ud800\", \"\\udc00x\", \"a\\u0000b\", \"\\uD800\\u0041\", \"\\ud800\\ud800\"]");
    const struct rc_json *c = j->child;
    ck_assert_str_eq(c->str, "\"\\/\b\f\n\r\t");
    c = c->next;
    ck_assert_str_eq(c->str, "\xc3\xa9\xe2\x82\xac");
    c = c->next;
    ck_assert_str_eq(c->str, "\xf0\x9f\x98\x80"); /* surrogate pair -> one 4-byte sequence */
    c = c->next;
    ck_assert_str_eq(c->str, "\xef\xbf\xbd"); /* lone high surrogate */
    c = c->next;
    ck_assert_str_eq(c->str, "\xef\xbf\xbdx"); /* lone low surrogate */
    c = c->next;
    ck_assert_uint_eq(c->str_len, 3); /* \u0000 kept, counted in str_len */
    ck_assert_mem_eq(c->str, "a\0b", 4);
    c = c->next;
    ck_assert_str_eq(c->str, "\xef\xbf\xbd" "A"); /* high surrogate, then an ordinary escape */
    c = c->next;
    ck_assert_str_eq(c->str, "\xef\xbf\xbd\xef\xbf\xbd");
    rc_json_free(j);
    /* Raw UTF-8 passes through untouched. */
    j = parse_ok("\"h\xc3\xa9llo \xf0\x9f\x98\x80\"");
    ck_assert_str_eq(j->str, "h\xc3\xa9llo \xf0\x9f\x98\x80");
    rc_json_free(j);
}
END_TEST

START_TEST(test_parse_errors)
{
    PARSE_FAILS("");
    PARSE_FAILS("   ");
    PARSE_FAILS("{} x");           /* trailing data */
    PARSE_FAILS("{}{}");
    PARSE_FAILS("1 2");
    PARSE_FAILS("\"abc");          /* unterminated string */
    PARSE_FAILS("\"abc\\\"");      /* the quote is escaped */
    PARSE_FAILS("\"abc\\");
    PARSE_FAILS("[\"a\", \"b");
    PARSE_FAILS("{\"k\": \"v");
    PARSE_FAILS("\"\\x\"");        /* bad escapes */
    PARSE_FAILS("\"\\u12\"");
    PARSE_FAILS("\"\\u12G4\"");
    PARSE_FAILS("\"\\u\"");
    PARSE_FAILS("\"\\ud800\\u12\"");
    PARSE_FAILS("\"a\nb\"");       /* raw control character */
    PARSE_FAILS("\"a\tb\"");
    parse_fails("\"a\0b\"", 5);
    PARSE_FAILS("[1,]");           /* structure */
    PARSE_FAILS("[1 2]");
    PARSE_FAILS("[");
    PARSE_FAILS("]");
    PARSE_FAILS("{");
    PARSE_FAILS("{,}");
    PARSE_FAILS("{\"a\"}");
    PARSE_FAILS("{\"a\":}");
    PARSE_FAILS("{\"a\" 1}");
    PARSE_FAILS("{\"a\":1,}");
    PARSE_FAILS("{a:1}");
    PARSE_FAILS("{'a':1}");
    PARSE_FAILS("[1}");
    PARSE_FAILS("{\"a\":1]");
    PARSE_FAILS("tru");            /* literals */
    PARSE_FAILS("nul");
    PARSE_FAILS("True");
    PARSE_FAILS("truex");
    PARSE_FAILS("-");              /* numbers */
    PARSE_FAILS("+1");
    PARSE_FAILS(".5");
    PARSE_FAILS("1e");
    PARSE_FAILS("1.5e+");
    PARSE_FAILS("--1");
    PARSE_FAILS("1-2");
    PARSE_FAILS("0x10");
    PARSE_FAILS("NaN");
    PARSE_FAILS("Infinity");
    PARSE_FAILS("-Infinity");
    PARSE_FAILS("01");             /* leading zero */
    PARSE_FAILS("-01");
    PARSE_FAILS("1.");             /* a point needs digits on both sides */
    PARSE_FAILS("-.5");
    PARSE_FAILS("1.e5");
    PARSE_FAILS("[1.]");
    PARSE_FAILS("1e+");
    PARSE_FAILS("1E-");
    /* longer than the parser takes */
    PARSE_FAILS("1234567890123456789012345678901234567890123456789012345678901234567890");
    PARSE_FAILS("[1, \"two\", {\"three\": [3, -]}]"); /* deep errors free what was built (ASan) */
    PARSE_FAILS("{\"a\": [1, 2, {\"b\": \"c\\q\"}]}");
}
END_TEST

/* 64 levels of nesting parse; the 65th is refused, and a very deep input
 * is refused without exhausting the stack. */
START_TEST(test_parse_depth)
{
    char text[2 * 200 + 1];
    for (int depth = 63; depth <= 66; depth++) {
        memset(text, '[', (size_t)depth);
        memset(text + depth, ']', (size_t)depth);
        text[2 * depth] = 0;
        struct rc_json *j = NULL;
        int rc = rc_json_parse(text, strlen(text), &j, NULL);
        if (depth <= 64) {
            ck_assert_msg(rc == 0, "depth %d refused", depth);
            rc_json_free(j);
        } else {
            ck_assert_msg(rc == RC_EFORMAT, "depth %d accepted", depth);
        }
    }
    /* Objects count too. */
    struct rc_buf b;
    rc_buf_init(&b);
    for (int i = 0; i < 65; i++)
        rc_buf_adds(&b, "{\"a\":");
    rc_buf_adds(&b, "1");
    for (int i = 0; i < 65; i++)
        rc_buf_adds(&b, "}");
    struct rc_json *j = NULL;
    ck_assert_int_eq(rc_json_parse(b.data, b.len, &j, NULL), RC_EFORMAT);
    rc_buf_release(&b);

    size_t n = 1000000;
    char *deep = malloc(n);
    memset(deep, '[', n);
    ck_assert_int_eq(rc_json_parse(deep, n, &j, NULL), RC_EFORMAT);
    free(deep);
}
END_TEST

/* The parser reads only text[0, len): no NUL terminator is needed. */
/* The strict readers' key checks: a repeated key, an unknown one. */
START_TEST(test_object_keys)
{
    static const char *const known[] = {"a", "b", NULL};
    struct rc_json *j = parse_ok("{\"a\":1,\"b\":2}");
    ck_assert_ptr_null(rc_json_repeated_key(j));
    ck_assert_ptr_null(rc_json_unknown_key(j, known));
    rc_json_free(j);
    j = parse_ok("{\"a\":1,\"b\":2,\"a\":3}");
    ck_assert_str_eq(rc_json_repeated_key(j), "a");
    ck_assert_ptr_null(rc_json_unknown_key(j, known));
    rc_json_free(j);
    j = parse_ok("{\"b\":1,\"c\":2,\"d\":3}");
    ck_assert_ptr_null(rc_json_repeated_key(j));
    ck_assert_str_eq(rc_json_unknown_key(j, known), "c");
    rc_json_free(j);
    j = parse_ok("{}");
    ck_assert_ptr_null(rc_json_repeated_key(j));
    ck_assert_ptr_null(rc_json_unknown_key(j, known));
    rc_json_free(j);
}
END_TEST

START_TEST(test_parse_bounded)
{
    const char *docs[] = {"{\"a\": [1, 2.5, \"x\"], \"b\": {\"c\": null}}", "\"\\ud83d\\ude00\"", "12345", "true"};
    for (size_t d = 0; d < 4; d++) {
        size_t n = strlen(docs[d]);
        char *p = malloc(n);
        memcpy(p, docs[d], n);
        struct rc_json *j = NULL;
        ck_assert_int_eq(rc_json_parse(p, n, &j, NULL), 0);
        rc_json_free(j);
        /* Every prefix is either an error or (numbers) a shorter value. */
        for (size_t cut = 0; cut < n; cut++) {
            char *q = malloc(cut ? cut : 1);
            memcpy(q, docs[d], cut);
            j = NULL;
            int rc = rc_json_parse(q, cut, &j, NULL);
            if (rc == 0)
                rc_json_free(j);
            else
                ck_assert_int_eq(rc, RC_EFORMAT);
            free(q);
        }
        free(p);
    }
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *buf = tcase_create("buf");
    tcase_add_test(buf, test_fixed_overflow);
    tcase_add_test(buf, test_growable);
    tcase_add_test(buf, test_numbers_out);
    tcase_add_test(buf, test_double_out);
    tcase_add_test(buf, test_score_text);
    suite_add_tcase(s, buf);
    TCase *esc = tcase_create("escape");
    tcase_add_test(esc, test_escape_ascii);
    tcase_add_test(esc, test_escape_utf8);
    tcase_add_test(esc, test_escape_invalid);
    tcase_add_test(esc, test_escape_random_parses);
    tcase_set_timeout(esc, 120);
    suite_add_tcase(s, esc);
    TCase *parse = tcase_create("parse");
    tcase_add_test(parse, test_parse_document);
    tcase_add_test(parse, test_parse_escapes);
    tcase_add_test(parse, test_parse_errors);
    tcase_add_test(parse, test_parse_depth);
    tcase_add_test(parse, test_parse_bounded);
    tcase_add_test(parse, test_object_keys);
    suite_add_tcase(s, parse);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(json_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
