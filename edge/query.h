/*
 * query.h - the query string of GET /v1/recs, parsed strictly
 * (schemas/http.md, "Parameters").
 *
 * The parser reads the raw query exactly as the client sent it (the part of
 * the request target after '?', before any decoding): libmicrohttpd decodes
 * arguments itself and lets malformed percent-encoding through, so recedge
 * captures the raw target and decodes it here.
 *
 * Rules:
 *   - at most RE_QUERY_MAX raw bytes;
 *   - pairs separated by '&'; empty pairs ("a=1&&b=2", a trailing '&') are
 *     skipped; a pair without '=' has an empty value;
 *   - '%' must be followed by two hex digits everywhere in the query (names,
 *     values, unknown parameters too); '+' decodes to a space;
 *   - cookie, loc, device: 1..RC_ID_MAX bytes after decoding; an empty value
 *     counts as absent;
 *   - products: ids separated by raw ',' (a comma inside an id is sent as
 *     %2C), 1..RE_PRODUCTS_MAX ids of 1..RC_ID_MAX bytes, no empty id; an
 *     empty value counts as absent; repeated ids are kept once;
 *   - category: category names, the same syntax (an empty value counts as
 *     absent, an empty element is RE_QERR_EMPTY_ID), 1..RE_CATEGORIES_MAX
 *     distinct names of 1..RC_ID_MAX bytes, a repeated name kept once where
 *     it first came (the category tier reads them in this order); kept as
 *     keys (rc_key), not bytes;
 *   - exclude: product ids, the same syntax, 1..RE_EXCLUDE_MAX distinct
 *     ids, kept as keys;
 *   - n: 1..3 decimal digits, value RE_N_MIN..RE_N_MAX; absent means
 *     RE_N_DEFAULT;
 *   - fields: display field names (rc_field_name: title, url, image_url,
 *     price, currency) separated by raw ',', each at most once, in any
 *     order; an empty value counts as absent; an unknown or empty name is
 *     RE_QERR_BAD_FIELD, a name given twice RE_QERR_FIELD_REPEATED;
 *   - a known parameter given twice is an error; unknown parameters are
 *     ignored (cache busters, tracking tags) once their encoding checks.
 *
 * Decoded ids are arbitrary bytes (NUL included); those of cookie, loc,
 * device and products live in q->store and are never NUL-terminated. The
 * parser never allocates and never reads outside raw[0, len).
 */
#ifndef RE_QUERY_H
#define RE_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"

#define RE_QUERY_MAX 16384
#define RE_PRODUCTS_MAX 20
/* Bounds of the request filters (schemas/http.md): a category page names
 * its category and a few neighbours; a page excludes what it shows besides
 * the products on screen, or what the visitor bought (a cart, an order). */
#define RE_CATEGORIES_MAX 10
#define RE_EXCLUDE_MAX 50
#define RE_N_MIN 1
#define RE_N_MAX 100
#define RE_N_DEFAULT 10

/* Which parameter a parse error is about. */
enum re_param { RE_PARAM_QUERY, RE_PARAM_COOKIE, RE_PARAM_PRODUCTS, RE_PARAM_LOC, RE_PARAM_DEVICE, RE_PARAM_N,
                RE_PARAM_FIELDS, RE_PARAM_CATEGORY, RE_PARAM_EXCLUDE, RE_PARAM_COUNT };

/* Why a query was refused; RE_QERR_NONE when it parsed. */
enum re_qerr {
    RE_QERR_NONE,
    RE_QERR_QUERY_TOO_LONG, /* the raw query exceeds RE_QUERY_MAX */
    RE_QERR_ENCODING,       /* '%' not followed by two hex digits */
    RE_QERR_TOO_LONG,       /* an id or name longer than RC_ID_MAX after decoding */
    RE_QERR_EMPTY_ID,       /* products, category or exclude holds an empty element */
    RE_QERR_TOO_MANY,       /* more than RE_PRODUCTS_MAX, RE_CATEGORIES_MAX or RE_EXCLUDE_MAX elements */
    RE_QERR_BAD_N,          /* n not an integer in RE_N_MIN..RE_N_MAX */
    RE_QERR_REPEATED,       /* a known parameter given twice */
    RE_QERR_BAD_FIELD,      /* fields names an unknown field, or an empty one */
    RE_QERR_FIELD_REPEATED, /* fields names a field twice */
    RE_QERR_COUNT
};

struct re_id {
    const char *p; /* into re_query.store; NULL when absent */
    uint16_t len;  /* 0 when absent */
};

struct re_query {
    struct re_id cookie, loc, device;
    struct re_id products[RE_PRODUCTS_MAX];
    unsigned nproducts;
    /* category= and exclude=, as keys (rc_key of each decoded name or id;
     * routing needs nothing else), in the order given. */
    uint64_t categories[RE_CATEGORIES_MAX];
    unsigned ncategories;
    uint64_t exclude[RE_EXCLUDE_MAX];
    unsigned nexclude;
    unsigned n;
    unsigned fields;       /* bit i: display field i (enum rc_field) asked for; 0 when none */
    enum re_qerr err;      /* set by re_query_parse */
    enum re_param err_param;
    /* Decoded bytes of the known parameters; each is checked against its
     * bound before it is written, so this never overflows. */
    char store[(3 + RE_PRODUCTS_MAX) * RC_ID_MAX];
    size_t store_len;
};

/*
 * Parse raw[0, len) into q (q needs no initialisation). Returns 0, or
 * RC_EFORMAT with q->err and q->err_param saying why; re_query_reason()
 * turns them into the text of the 400 answer.
 */
int re_query_parse(struct re_query *q, const char *raw, size_t len);

/* The query of an empty string: all parameters absent, n = RE_N_DEFAULT. */
void re_query_init(struct re_query *q);

/* Name of a parameter ("cookie", ..., "query" for RE_PARAM_QUERY). */
const char *re_param_name(enum re_param p);

/* 1 when q asks for a filter (category or exclude): routing then takes the
 * filtered path (route.h); 0 for the plain path. */
static inline int re_query_filtered(const struct re_query *q)
{
    return (q->ncategories | q->nexclude) != 0;
}

/*
 * A static, lowercase sentence for the error (e.g. "bad percent-encoding
 * in 'products'"), written into out (cap bytes, NUL-terminated). Returns out.
 */
const char *re_query_reason(enum re_qerr e, enum re_param p, char *out, size_t cap);

/*
 * The pairs of a query string (or of a form-urlencoded body, which has the
 * same syntax): raw[*pos, len) is split at '&', empty pairs are skipped,
 * a pair without '=' has an empty value. Fills out with the next pair
 * (pointers into raw, still encoded), advances *pos and returns 1; 0 at
 * the end. Start with *pos = 0.
 */
struct re_pair {
    const char *name, *value;
    size_t name_len, value_len;
};
int re_pair_next(const char *raw, size_t len, size_t *pos, struct re_pair *out);

/*
 * Which of names[0, count) (NULL entries never match) the raw name is,
 * after percent-decoding: its index, or -1 when none. RC_EFORMAT when the
 * name holds a bad escape anywhere, however long it is.
 */
int re_pair_name(const char *name, size_t len, const char *const *names, int count);

/*
 * Strictly percent-decode src[0, len) into dst (room for dst_cap bytes):
 * "%XY" with two hex digits, '+' as a space, other bytes as they are.
 * Returns the decoded length, RC_EFORMAT on a bad escape, or RC_ETOOLONG
 * when the result would exceed dst_cap. dst may be NULL with dst_cap
 * SIZE_MAX to only validate.
 */
long re_pct_decode(char *dst, size_t dst_cap, const char *src, size_t len);

/*
 * The Origin field of a request head of which only a fragment is at hand:
 * buf[0, n) starts inside the request line (what is left of it after the
 * part libmicrohttpd read, edge/http.c), so the first line is skipped;
 * header lines (LF or CRLF ended) follow until the empty line. Returns 1
 * and the value without surrounding blanks in *value, *len (inside buf)
 * when an "Origin:" line (name in any case) ends within the fragment,
 * else 0.
 */
int re_head_origin(const char *buf, size_t n, const char **value, size_t *len);

#endif
