#include "json.h"
#include "error.h"
#include "le.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rc_buf_fixed(struct rc_buf *b, char *mem, size_t cap)
{
    b->data = mem;
    b->len = 0;
    b->cap = cap;
    b->growable = 0;
    b->overflow = 0;
}

void rc_buf_init(struct rc_buf *b)
{
    memset(b, 0, sizeof(*b));
    b->growable = 1;
}

void rc_buf_release(struct rc_buf *b)
{
    if (b->growable)
        free(b->data);
    memset(b, 0, sizeof(*b));
}

char *rc_buf_reserve_slow(struct rc_buf *b, size_t n)
{
    if (b->overflow)
        return NULL;
    if (b->len + n + 1 <= b->cap)
        return b->data + b->len;
    if (!b->growable) {
        b->overflow = 1;
        return NULL;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->overflow = 1;
        return NULL;
    }
    b->data = p;
    b->cap = cap;
    return b->data + b->len;
}

/* Make room for n more bytes plus a NUL; 0 when there is room. */
static int reserve(struct rc_buf *b, size_t n)
{
    return rc_buf_reserve(b, n) ? 0 : -1;
}

void rc_buf_addf(struct rc_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void rc_buf_add_u64(struct rc_buf *b, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    rc_buf_add(b, tmp + i, sizeof(tmp) - i);
}

void rc_buf_add_float(struct rc_buf *b, double v)
{
    if (!isfinite(v)) {
        rc_buf_add(b, "null", 4);
        return;
    }
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%.6g", v);
    rc_buf_add(b, tmp, (size_t)n);
}

void rc_buf_add_double(struct rc_buf *b, double v)
{
    if (!isfinite(v)) {
        rc_buf_add(b, "null", 4);
        return;
    }
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%.15g", v);
    if (strtod(tmp, NULL) != v)
        n = snprintf(tmp, sizeof(tmp), "%.17g", v);
    rc_buf_add(b, tmp, (size_t)n);
}

/* The slow path of rc_json_score_write: what rc_buf_add_float writes. */
static char *score_printf(char *o, double v)
{
    if (!isfinite(v)) {
        memcpy(o, "null", 4);
        return o + 4;
    }
    int n = snprintf(o, RC_JSON_SCORE_ROOM, "%.6g", v);
    return o + (n > 0 && n < RC_JSON_SCORE_ROOM ? n : 0);
}

/* "000".."999" as the bytes of a little-endian word (first digit in the
 * low byte) and, in its top byte, how many of those three digits are
 * trailing zeros (3 for "000"). */
#define D3(a, b, c) \
    ((uint32_t)('0' + (a)) | (uint32_t)('0' + (b)) << 8 | (uint32_t)('0' + (c)) << 16 | \
     (uint32_t)((c) ? 0 : (b) ? 1 : (a) ? 2 : 3) << 24)
#define D3_10(a, b) D3(a, b, 0), D3(a, b, 1), D3(a, b, 2), D3(a, b, 3), D3(a, b, 4), D3(a, b, 5), D3(a, b, 6), \
                    D3(a, b, 7), D3(a, b, 8), D3(a, b, 9)
#define D3_100(a) D3_10(a, 0), D3_10(a, 1), D3_10(a, 2), D3_10(a, 3), D3_10(a, 4), D3_10(a, 5), D3_10(a, 6), \
                  D3_10(a, 7), D3_10(a, 8), D3_10(a, 9)
static const uint32_t digits3[1000] = {D3_100(0), D3_100(1), D3_100(2), D3_100(3), D3_100(4),
                                       D3_100(5), D3_100(6), D3_100(7), D3_100(8), D3_100(9)};
#undef D3_100
#undef D3_10
#undef D3

/* Round to an integer, ties to even as printf. SSE2 converts in the
 * current rounding mode (to nearest even unless changed). Elsewhere:
 * below 2^52, adding and taking away 2^52 leaves the rounded value,
 * exactly (not folded away: C keeps the order of floating-point
 * operations). llrint would be a libc call unless errno is given up. */
static inline __attribute__((always_inline)) int64_t round_even(double x)
{
#if defined(__SSE2__) && defined(__x86_64__)
    return _mm_cvtsd_si64(_mm_set_sd(x));
#else
    return (int64_t)((x + 0x1p52) - 0x1p52);
#endif
}

/*
 * rc_json_score_write (json.h). The usual range (1e-4 <= |v| < 1e6) is
 * written without printf, and without variable-length copies or small
 * stores read back as words: the six digits come from two rows of digits3
 * into one register and are stored as whole words, and the end is moved by
 * the length that counts. Other values (and rounding that would carry into
 * a seventh digit) go through snprintf.
 */
char *rc_json_score_write(char *o, float f)
{
    static const double pow10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    double v = f, a = fabs(v);
    /* e: a = m * 10^e with 1 <= m < 10 (the same bounds as pow10 and its
     * correctly rounded inverses); the range check is folded into the
     * search, and NaN fails every compare down to the slow path. */
    int e;
    if (a >= 1) {
        if (a >= 1e3) {
            if (__builtin_expect(a >= 1e6, 0))
                return score_printf(o, v);
            e = a >= 1e5 ? 5 : a >= 1e4 ? 4 : 3;
        } else {
            e = a >= 1e2 ? 2 : a >= 1e1 ? 1 : 0;
        }
    } else if (a >= 1e-2) {
        e = a >= 1e-1 ? -1 : -2;
    } else {
        if (__builtin_expect(!(a >= 1e-4), 0))
            return score_printf(o, v);
        e = a >= 1e-3 ? -3 : -4;
    }
    uint64_t digits = (uint64_t)round_even(a * pow10[5 - e]); /* below 1e6 */
    if (__builtin_expect(digits >= 1000000 || digits < 100000, 0))
        return score_printf(o, v);
    /* d: the 6 significant digits d0..d5 (value = 0.d0..d5 x 10^(e+1)),
     * d0 in the low byte */
    unsigned x = (unsigned)digits, hi = x / 1000, lo = x - hi * 1000;
    uint32_t rh = digits3[hi], rl = digits3[lo];
    uint64_t d = (rh & 0xffffff) | (uint64_t)(rl & 0xffffff) << 24;
    /* last: the index of the last digit that is not '0' (d0 is not) */
    int last = lo ? 5 - (int)(rl >> 24) : 2 - (int)(rh >> 24);
    uint32_t fbits;
    memcpy(&fbits, &f, 4);
    *o = '-';
    o += fbits >> 31; /* the sign bit: v is not 0 or NaN here */
    if (e >= 0) {
        /* digits d0..de, then '.' and d(e+1)..d(last) if any: the word,
         * its tail again one byte further on, and the point between */
        rc_le_put64((unsigned char *)o, d);
        rc_le_put64((unsigned char *)o + e + 2, d >> (8 * (unsigned)(e + 1))); /* e + 1 <= 6 */
        o[e + 1] = '.';
        return o + (last > e ? last + 2 : e + 1);
    }
    /* "0." and -e-1 zeros, then d0..d(last) */
    memcpy(o, "0.000000", 8);
    rc_le_put64((unsigned char *)o + 1 - e, d);
    return o + 1 - e + last + 1;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* Bytes copied as they are inside a JSON string: printable ASCII other
 * than '"' and '\\'. */
static const unsigned char plain[256] = {
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    R16(0), R16(0),                                   /* 0x00..0x1f */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,   /* 0x20..0x2f: '"' */
    R16(1), R16(1),                                   /* 0x30..0x4f */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,   /* 0x50..0x5f: '\\' */
    R16(1), R16(1),                                   /* 0x60..0x7f */
#undef R16
};

#define word_plain rc_json_word_plain

char *rc_json_str_write_any(char *o, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    *o++ = '"';
    size_t i = 0;
    for (;;) {
        /* The common case: a run of plain bytes, copied 8 at a time while
         * a whole word of them is plain, then byte by byte. */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!word_plain(w))
                break;
            memcpy(o, &w, 8);
            o += 8;
            i += 8;
        }
        while (i < n && plain[s[i]])
            *o++ = (char)s[i++];
        if (i == n)
            break;
        unsigned char c = s[i];
        size_t ul = c >= 0x80 ? utf8_len(s + i, n - i) : 0;
        if (ul > 1) {
            memcpy(o, s + i, ul);
            o += ul;
            i += ul;
            continue;
        }
        if (c == '"' || c == '\\') {
            o[0] = '\\';
            o[1] = (char)c;
            o += 2;
        } else if (c < 0x20) {
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            o += 6;
        } else {
            memcpy(o, "\\ufffd", 6);
            o += 6;
        }
        i++;
    }
    *o++ = '"';
    return o;
}

/* The exact writer, for a buffer too full for the worst case: writes what
 * fits of the escaped string (an overflow stops it where it is). */
static void json_str_exact(struct rc_buf *b, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    rc_buf_add(b, "\"", 1);
    size_t run = 0; /* start of a run of bytes copied as they are */
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (plain[c]) {
            i++;
            continue;
        }
        size_t ul = c >= 0x80 ? utf8_len(s + i, n - i) : 0;
        if (ul > 1) {
            i += ul;
            continue;
        }
        rc_buf_add(b, str + run, i - run);
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            rc_buf_add(b, e, 2);
        } else if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            rc_buf_add(b, e, 6);
        } else {
            rc_buf_add(b, "\\ufffd", 6);
        }
        i++;
        run = i;
    }
    rc_buf_add(b, str + run, n - run);
    rc_buf_add(b, "\"", 1);
}

void rc_buf_json_str(struct rc_buf *b, const char *str, size_t n)
{
    /* Room for the worst case: one pass straight into the buffer. A fixed
     * buffer too full for it takes the exact path, which fills it as far
     * as the text goes, as before. */
    size_t worst = RC_JSON_STR_MAX(n);
    char *o = rc_buf_try_reserve(b, worst);
    if (o)
        rc_buf_commit(b, rc_json_str_write(o, str, n));
    else if (!b->growable)
        json_str_exact(b, str, n);
}

const char *rc_buf_cstr(struct rc_buf *b)
{
    if (reserve(b, 0) == 0 || b->len < b->cap)
        b->data[b->len] = 0;
    return b->data;
}

/* ---- parser ---- */

struct parser {
    const char *start, *p, *end;
    char *err;
    int depth;
};

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int perr(struct parser *ps, const char *what)
{
    return rc_fail(ps->err, RC_EFORMAT, "json: %s at offset %ld", what, (long)(ps->p - ps->start));
}


static int put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static int read4hex(struct parser *ps, uint32_t *out)
{
    if (ps->end - ps->p < 4)
        return -1;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = rc_hexval((unsigned char)ps->p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | (uint32_t)h;
    }
    ps->p += 4;
    *out = v;
    return 0;
}

/* Consume a \uDC00..\uDFFF escape at ps->p into *lo and return 1; leave
 * ps->p where it was and return 0 when there is none. */
static int read_low_surrogate(struct parser *ps, uint32_t *lo)
{
    struct parser t = *ps;
    if (t.end - t.p < 6 || t.p[0] != '\\' || t.p[1] != 'u')
        return 0;
    t.p += 2;
    if (read4hex(&t, lo) != 0 || *lo < 0xdc00 || *lo > 0xdfff)
        return 0;
    ps->p = t.p;
    return 1;
}

/* Parse a string at ps->p (which is at the opening quote). */
static int parse_string(struct parser *ps, char **out, size_t *out_len)
{
    ps->p++;
    const char *start = ps->p;
    /* Unescaped output is never longer than the input. */
    const char *q = start;
    while (q < ps->end && *q != '"') {
        if (*q == '\\')
            q++;
        q++;
    }
    if (q >= ps->end)
        return perr(ps, "unterminated string");
    char *s = malloc((size_t)(q - start) + 1);
    if (!s)
        return -ENOMEM;
    size_t o = 0;
    while (ps->p < ps->end && *ps->p != '"') {
        unsigned char c = (unsigned char)*ps->p;
        if (c < 0x20) {
            free(s);
            return perr(ps, "control character in string");
        }
        if (c != '\\') {
            s[o++] = (char)c;
            ps->p++;
            continue;
        }
        ps->p++;
        if (ps->p >= ps->end) {
            free(s);
            return perr(ps, "bad escape");
        }
        char e = *ps->p++;
        switch (e) {
        case '"': s[o++] = '"'; break;
        case '\\': s[o++] = '\\'; break;
        case '/': s[o++] = '/'; break;
        case 'b': s[o++] = '\b'; break;
        case 'f': s[o++] = '\f'; break;
        case 'n': s[o++] = '\n'; break;
        case 'r': s[o++] = '\r'; break;
        case 't': s[o++] = '\t'; break;
        case 'u': {
            uint32_t cp;
            if (read4hex(ps, &cp) != 0) {
                free(s);
                return perr(ps, "bad \\u escape");
            }
            uint32_t lo;
            if (cp >= 0xd800 && cp <= 0xdbff && read_low_surrogate(ps, &lo))
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            else if (cp >= 0xd800 && cp <= 0xdfff)
                cp = 0xfffd; /* a lone surrogate; an escape after it is read on its own */
            o += (size_t)put_utf8(s + o, cp);
            break;
        }
        default:
            free(s);
            return perr(ps, "bad escape");
        }
    }
    ps->p++; /* closing quote */
    s[o] = 0;
    *out = s;
    *out_len = o;
    return 0;
}

static int parse_value(struct parser *ps, struct rc_json **out);

static int parse_container(struct parser *ps, struct rc_json *node, char close)
{
    struct rc_json **tail = &node->child;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return 0;
    }
    for (;;) {
        char *key = NULL;
        size_t klen;
        skip_ws(ps);
        if (close == '}') {
            if (ps->p >= ps->end || *ps->p != '"')
                return perr(ps, "expected member name");
            int rc = parse_string(ps, &key, &klen);
            if (rc)
                return rc;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                free(key);
                return perr(ps, "expected ':'");
            }
            ps->p++;
        }
        struct rc_json *child = NULL;
        int rc = parse_value(ps, &child);
        if (rc) {
            /* parse_value hands back the half-built node on error. */
            rc_json_free(child);
            free(key);
            return rc;
        }
        child->key = key;
        *tail = child;
        tail = &child->next;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return 0;
        }
        return perr(ps, "expected ',' or closing bracket");
    }
}

static int parse_value(struct parser *ps, struct rc_json **out)
{
    *out = NULL;
    skip_ws(ps);
    if (ps->p >= ps->end)
        return perr(ps, "unexpected end");
    struct rc_json *j = calloc(1, sizeof(*j));
    if (!j)
        return -ENOMEM;
    *out = j;
    int rc = 0;
    char c = *ps->p;
    if (c == '{' || c == '[') {
        if (++ps->depth > 64)
            return perr(ps, "nesting too deep");
        j->type = c == '{' ? RC_JSON_OBJ : RC_JSON_ARR;
        rc = parse_container(ps, j, c == '{' ? '}' : ']');
        ps->depth--;
    } else if (c == '"') {
        j->type = RC_JSON_STR;
        rc = parse_string(ps, &j->str, &j->str_len);
    } else if (ps->end - ps->p >= 4 && memcmp(ps->p, "true", 4) == 0) {
        j->type = RC_JSON_BOOL;
        j->num = 1;
        ps->p += 4;
    } else if (ps->end - ps->p >= 5 && memcmp(ps->p, "false", 5) == 0) {
        j->type = RC_JSON_BOOL;
        ps->p += 5;
    } else if (ps->end - ps->p >= 4 && memcmp(ps->p, "null", 4) == 0) {
        j->type = RC_JSON_NULL;
        ps->p += 4;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        /* RFC 8259: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?;
         * strtod alone would also take "01", "1.", "-.5", "0x10", "inf". */
        const char *q = ps->p, *end = ps->end;
        if (q < end && *q == '-')
            q++;
        if (q < end && *q == '0')
            q++;
        else if (q < end && *q >= '1' && *q <= '9')
            while (q < end && *q >= '0' && *q <= '9')
                q++;
        else
            return perr(ps, "bad number");
        if (q < end && *q == '.') {
            const char *d = ++q;
            while (q < end && *q >= '0' && *q <= '9')
                q++;
            if (q == d)
                return perr(ps, "bad number");
        }
        if (q < end && (*q == 'e' || *q == 'E')) {
            q++;
            if (q < end && (*q == '+' || *q == '-'))
                q++;
            const char *d = q;
            while (q < end && *q >= '0' && *q <= '9')
                q++;
            if (q == d)
                return perr(ps, "bad number");
        }
        char tmp[64];
        size_t n = (size_t)(q - ps->p);
        if (n >= sizeof(tmp))
            return perr(ps, "number too long");
        memcpy(tmp, ps->p, n);
        tmp[n] = 0;
        char *endp;
        j->type = RC_JSON_NUM;
        j->num = strtod(tmp, &endp);
        if (endp != tmp + n)
            return perr(ps, "bad number");
        ps->p += n;
    } else {
        rc = perr(ps, "unexpected character");
    }
    return rc;
}

int rc_json_parse(const char *text, size_t len, struct rc_json **out, char *err)
{
    struct parser ps = {text, text, text + len, err, 0};
    struct rc_json *root = NULL;
    int rc = parse_value(&ps, &root);
    if (rc == 0) {
        skip_ws(&ps);
        if (ps.p != ps.end)
            rc = perr(&ps, "trailing data");
    }
    if (rc) {
        rc_json_free(root);
        return rc;
    }
    *out = root;
    return 0;
}

void rc_json_free(struct rc_json *j)
{
    while (j) {
        struct rc_json *next = j->next;
        rc_json_free(j->child);
        free(j->key);
        free(j->str);
        free(j);
        j = next;
    }
}

const struct rc_json *rc_json_get(const struct rc_json *j, const char *key)
{
    if (!j || j->type != RC_JSON_OBJ)
        return NULL;
    for (const struct rc_json *c = j->child; c; c = c->next)
        if (c->key && strcmp(c->key, key) == 0)
            return c;
    return NULL;
}

const char *rc_json_repeated_key(const struct rc_json *obj)
{
    for (const struct rc_json *a = obj->child; a; a = a->next)
        for (const struct rc_json *b = a->next; b; b = b->next)
            if (a->key && b->key && strcmp(a->key, b->key) == 0)
                return a->key;
    return NULL;
}

const char *rc_json_unknown_key(const struct rc_json *obj, const char *const *known)
{
    for (const struct rc_json *m = obj->child; m; m = m->next) {
        int ok = 0;
        for (const char *const *k = known; *k && !ok; k++)
            ok = m->key && strcmp(m->key, *k) == 0;
        if (!ok)
            return m->key ? m->key : "";
    }
    return NULL;
}

const char *rc_json_get_str(const struct rc_json *j, const char *key)
{
    const struct rc_json *v = rc_json_get(j, key);
    return v && v->type == RC_JSON_STR ? v->str : NULL;
}

int rc_json_get_num(const struct rc_json *j, const char *key, double *out)
{
    const struct rc_json *v = rc_json_get(j, key);
    if (!v || v->type != RC_JSON_NUM)
        return RC_ENOTFOUND;
    *out = v->num;
    return 0;
}
