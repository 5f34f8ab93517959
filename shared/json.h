/*
 * json.h - JSON output into a bounded or growing buffer, and a small parser
 * for edgerec's own documents (manifest.json).
 *
 * Output: struct rc_buf appends bytes. A fixed buffer (rc_buf_fixed) never
 * allocates: on overflow it stops writing and sets `overflow`, which the
 * caller checks once at the end (the edge's hot path uses this). A growing
 * buffer (rc_buf_init) reallocates and sets `overflow` only when memory runs
 * out.
 *
 * rc_buf_json_str writes a quoted JSON string for arbitrary bytes: `"` and
 * `\` escaped, control bytes as \u00XX, valid UTF-8 copied, and every byte
 * that is not part of a valid UTF-8 sequence written as \ufffd - so the
 * output is valid JSON whatever the input holds.
 *
 * Parser: rc_json_parse builds a tree owned by the caller (rc_json_free).
 * Depth is limited to 64; strings are unescaped to UTF-8; numbers are
 * doubles (exact up to 2^53; 64-bit hashes are stored as hex strings).
 */
#ifndef RC_JSON_H
#define RC_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

struct rc_buf {
    char *data;
    size_t len, cap; /* len < cap whenever cap > 0: room for the NUL is kept */
    int growable;
    int overflow;
};

void rc_buf_fixed(struct rc_buf *b, char *mem, size_t cap);
void rc_buf_init(struct rc_buf *b);
void rc_buf_release(struct rc_buf *b);

/* The slow path of rc_buf_reserve (grow, or set overflow); call that. */
char *rc_buf_reserve_slow(struct rc_buf *b, size_t n);

/*
 * Room for n more bytes (and the NUL after them): returns where they go,
 * b->data + b->len, or NULL when the buffer is (or now becomes) overflowed.
 * The caller writes at most n bytes there and then advances b->len by what
 * it wrote (rc_buf_commit). Inline: the hot path of the edge's encoder
 * reserves once per item and writes with memcpy.
 */
static inline char *rc_buf_reserve(struct rc_buf *b, size_t n)
{
    if (!b->overflow && b->cap - b->len > n)
        return b->data + b->len;
    return rc_buf_reserve_slow(b, n);
}

/*
 * rc_buf_reserve for a worst case that may exceed what the text needs:
 * where a fixed buffer lacks room for n bytes it returns NULL without
 * setting overflow, so that the caller can write the exact text the slow
 * way and overflow only when that does not fit.
 */
static inline char *rc_buf_try_reserve(struct rc_buf *b, size_t n)
{
    return b->growable || b->cap - b->len > n ? rc_buf_reserve(b, n) : NULL;
}

/* Set the end of the text to `end`, a pointer into the room reserved. */
static inline void rc_buf_commit(struct rc_buf *b, char *end)
{
    b->len = (size_t)(end - b->data);
}

static inline void rc_buf_add(struct rc_buf *b, const char *s, size_t n)
{
    char *o = rc_buf_reserve(b, n);
    if (o) {
        memcpy(o, s, n);
        b->len += n;
    }
}

static inline void rc_buf_adds(struct rc_buf *b, const char *s)
{
    rc_buf_add(b, s, strlen(s));
}

void rc_buf_addf(struct rc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rc_buf_add_u64(struct rc_buf *b, uint64_t v);
/* A float with up to 6 significant digits; NaN and infinities as null. */
void rc_buf_add_float(struct rc_buf *b, double v);
/* A double that reads back exactly: the shorter of "%.15g" and "%.17g"
 * that strtod turns into v again ("0.3", not "0.29999999999999999");
 * NaN and infinities as null. */
void rc_buf_add_double(struct rc_buf *b, double v);
void rc_buf_json_str(struct rc_buf *b, const char *s, size_t n);

/* The value of the hex digit c (0-9, a-f, A-F), or -1: for \uXXXX here
 * and for percent-decoding (edge/query.c). */
static inline int rc_hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Most bytes rc_json_score_write writes ("%.6g" of a float is at most 12,
 * as in "-1.17549e-38"; "null" 4), and the room it needs at o: it stores
 * whole words past the end of the text. */
#define RC_JSON_SCORE_MAX 12
#define RC_JSON_SCORE_ROOM 24

/*
 * A score as a JSON number at o, exactly what "%.6g" writes for it (null
 * when it is not finite), returning the end; o has room for
 * RC_JSON_SCORE_ROOM bytes. recbuild stores this text in every list entry
 * (record.h), so that recedge copies a score rather than formats it.
 * Its one caller is the record codec (shared/record.c); it stays here
 * beside rc_buf_add_float, which writes the same text the slow way
 * (tests/fuzz/fuzz_json.c holds it to "%.6g").
 */
char *rc_json_score_write(char *o, float f);

/* Most bytes rc_json_str_write writes for n input bytes: the quotes, and
 * every byte escaped to 6 (\u00XX or \ufffd). */
#define RC_JSON_STR_MAX(n) (2 + 6 * (size_t)(n))

/* Any string, the general way (rc_json_str_write's slow path). */
char *rc_json_str_write_any(char *o, const char *s, size_t n);

/* 1 when all 8 bytes of w are plain: none has its top bit set, none is
 * below 0x20, none is '"' or '\\' (the usual SWAR tests for a byte below
 * k, (w - k*ones) & ~w & highs, exact while no top bit is set). */
static inline int rc_json_word_plain(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
    uint64_t bad = w | ((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs);
    return (bad & highs) == 0;
}

#ifdef __SSE2__
/* The lanes of v that are not plain: below 0x20 by a signed compare (which
 * also catches bytes >= 0x80), '"' or '\\'; one bit a byte. */
static inline int rc_json_bad_lanes(__m128i v)
{
    __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                               _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                            _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
    return _mm_movemask_epi8(bad);
}
#endif

/* 1 when the 16 bytes of lo (first) and hi are plain, as rc_json_word_plain;
 * with SSE2, checked together. */
static inline int rc_json_words_plain(uint64_t lo, uint64_t hi)
{
#ifdef __SSE2__
    return rc_json_bad_lanes(_mm_set_epi64x((long long)hi, (long long)lo)) == 0;
#else
    return rc_json_word_plain(lo) && rc_json_word_plain(hi);
#endif
}

/* rc_json_word_plain, with SSE2 where it is there. */
static inline int rc_json_word_plain8(uint64_t w)
{
#ifdef __SSE2__
    return (rc_json_bad_lanes(_mm_set_epi64x(0, (long long)w)) & 0xff) == 0;
#else
    return rc_json_word_plain(w);
#endif
}

/*
 * The usual id, 4 to 16 plain bytes, copied to o[0, n) without quotes:
 * two words, the second overlapping the first, checked together and
 * stored whole. Returns the end, or NULL (nothing written) for any other
 * string, which needs rc_json_str_write_any.
 */
static inline __attribute__((always_inline)) char *rc_json_plain_write(char *o, const char *s, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t w0, w1;
        memcpy(&w0, s, 8);
        memcpy(&w1, s + n - 8, 8);
        if (!rc_json_words_plain(w0, w1))
            return NULL;
        memcpy(o, &w0, 8);
        memcpy(o + n - 8, &w1, 8);
        return o + n;
    }
    if (n >= 4 && n < 8) {
        uint32_t w0, w1;
        memcpy(&w0, s, 4);
        memcpy(&w1, s + n - 4, 4);
        if (!rc_json_word_plain8(w0 | (uint64_t)w1 << 32))
            return NULL;
        memcpy(o, &w0, 4);
        memcpy(o + n - 4, &w1, 4);
        return o + n;
    }
    return NULL;
}

/*
 * rc_buf_json_str into raw memory: writes the quoted, escaped string at o,
 * which has room for RC_JSON_STR_MAX(n) bytes, and returns its end. Inline
 * for the usual id (rc_json_plain_write); anything else goes the general
 * way.
 */
static inline __attribute__((always_inline)) char *rc_json_str_write(char *o, const char *s, size_t n)
{
    char *end = rc_json_plain_write(o + 1, s, n);
    if (!end)
        return rc_json_str_write_any(o, s, n);
    o[0] = '"';
    *end = '"';
    return end + 1;
}
/* NUL-terminate without counting the NUL; returns data (never NULL unless overflow on an empty growable buffer). */
const char *rc_buf_cstr(struct rc_buf *b);

enum rc_json_type { RC_JSON_NULL, RC_JSON_BOOL, RC_JSON_NUM, RC_JSON_STR, RC_JSON_ARR, RC_JSON_OBJ };

struct rc_json {
    enum rc_json_type type;
    char *key;          /* member name inside an object, else NULL */
    char *str;          /* RC_JSON_STR: NUL-terminated */
    size_t str_len;
    double num;         /* RC_JSON_NUM, RC_JSON_BOOL (0/1) */
    struct rc_json *child, *next;
};

/* Parse text[0, len). Returns 0, RC_EFORMAT (message in err) or -ENOMEM. */
int rc_json_parse(const char *text, size_t len, struct rc_json **out, char *err);
void rc_json_free(struct rc_json *j);
/* Member `key` of object j, or NULL. */
const struct rc_json *rc_json_get(const struct rc_json *j, const char *key);
/* String member or NULL when absent or not a string. */
const char *rc_json_get_str(const struct rc_json *j, const char *key);
/* Number member into *out; 0, or RC_ENOTFOUND when absent or not a number. */
int rc_json_get_num(const struct rc_json *j, const char *key, double *out);
/* For the strict readers of definition files (experiments, rules): the
 * first key of object obj given twice, or NULL; the first key of obj not
 * in known (NULL-terminated), or NULL. */
const char *rc_json_repeated_key(const struct rc_json *obj);
const char *rc_json_unknown_key(const struct rc_json *obj, const char *const *known);

#endif
