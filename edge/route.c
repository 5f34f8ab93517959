#include "route.h"
#include "keys.h"

#include <math.h>
#if defined(__SSE2__) && defined(__x86_64__)
#include <emmintrin.h>
#endif
#include <stdio.h>
#include <string.h>

void re_route_scratch_init(struct re_route_scratch *s)
{
    memset(s, 0, sizeof(*s));
}

/* Start a new request's seen-set without clearing it: slots of older
 * stamps count as empty. */
static void seen_reset(struct re_route_scratch *s)
{
    if (++s->stamp == 0) {
        memset(s->seen, 0, sizeof(s->seen));
        s->stamp = 1;
    }
}

/* Add key; 1 when it was new, 0 when already present. Keys are XXH3
 * hashes, so their low bits index well. Never full: at most
 * RE_N_MAX + RE_PRODUCTS_MAX keys go in per request. */
static inline __attribute__((always_inline)) int seen_add(struct re_route_scratch *s, uint64_t key)
{
    unsigned mask = RE_SEEN_SLOTS - 1, i = (unsigned)(key ^ (key >> 32)) & mask;
    for (;;) {
        if (s->seen[i].stamp != s->stamp) {
            s->seen[i].stamp = s->stamp;
            s->seen[i].key = key;
            return 1;
        }
        if (s->seen[i].key == key)
            return 0;
        i = (i + 1) & mask;
    }
}

/* Look up a list record into *v and ask for the lines of it an answer of
 * n items reads (the header and about n entries of 7-byte ids, one line
 * more for longer ids) at once instead of one by one: the value is
 * usually cold. 1 when found, 0 when absent, or a negative LMDB error. */
static int lookup(const struct rc_cache *c, MDB_txn *txn, enum rc_db db, uint64_t key, unsigned n, MDB_val *v)
{
    int rc = rc_cache_get(c, txn, db, key, v);
    if (rc)
        return rc == MDB_NOTFOUND ? 0 : rc;
    size_t want = RC_LIST_HEADER + (n + 1) * (RC_ENTRY_FIXED + 8) + 64;
    const char *p = v->mv_data, *end = p + (v->mv_size < want ? v->mv_size : want);
    for (; p < end; p += 64)
        __builtin_prefetch(p);
    return 1;
}

/* Open a looked-up list lazily; 1 when open, 0 when its header is bad
 * (counted in bad_records). */
static int open_list(const MDB_val *v, struct rc_list *list, struct re_recs *out)
{
    if (rc_list_open_lazy(list, v->mv_data, v->mv_size) != 0) {
        out->bad_records++;
        return 0;
    }
    return 1;
}

/* lookup and open_list: 1 when *list is open, 0 when absent or bad, or a
 * negative LMDB error. */
static int get_list(const struct rc_cache *c, MDB_txn *txn, enum rc_db db, uint64_t key, unsigned n,
                    struct rc_list *list, struct re_recs *out)
{
    MDB_val v;
    int rc = lookup(c, txn, db, key, n, &v);
    return rc == 1 ? open_list(&v, list, out) : rc;
}

static inline __attribute__((always_inline)) void take(struct re_recs *out, const struct rc_entry *e, uint8_t source)
{
    struct re_item *it = &out->items[out->count++];
    it->key = e->key;
    it->id = e->id;
    it->id_len = e->id_len;
    it->score = e->score;
    it->source = source;
}

/* Next entry of a lazily opened list; a defect found on the way ends the
 * list and counts it as a bad record once. */
static inline __attribute__((always_inline)) int next_entry(struct rc_list *list, struct rc_entry *e,
                                                           struct re_recs *out)
{
    if (rc_list_next(list, e))
        return 1;
    if (list->err) {
        out->bad_records++;
        list->err = 0; /* counted; the list stays at its end */
    }
    return 0;
}

/*
 * Dedupe. The entries of one list are distinct products (schemas/cache.md;
 * recctl verify checks it), so while a single list is the only source of
 * items, an entry is only checked against the products on screen, a few
 * compares, and the seen-set stays empty. The seen-set is filled (with the
 * products on screen and every item so far) when a second source begins:
 * the image merge of two or more lists, or a tier filling up the answer
 * after items were taken (rare: most answers are full from one list).
 */
struct dedupe {
    const uint64_t *pkeys; /* the products on screen */
    unsigned np;
    int live; /* the seen-set holds pkeys and every item taken */
};

static inline __attribute__((always_inline)) int on_screen(const struct dedupe *d, uint64_t key)
{
    for (unsigned i = 0; i < d->np; i++)
        if (d->pkeys[i] == key)
            return 1;
    return 0;
}

static void seen_fill(struct re_route_scratch *s, struct dedupe *d, const struct re_recs *out)
{
    if (d->live)
        return;
    for (unsigned i = 0; i < d->np; i++)
        (void)seen_add(s, d->pkeys[i]);
    for (unsigned i = 0; i < out->count; i++)
        (void)seen_add(s, out->items[i].key);
    d->live = 1;
}

/* Take the rest of a list that is the only source of the items in out,
 * in its order, until out holds n items. */
static inline __attribute__((always_inline)) void fill_only(struct re_recs *out, struct dedupe *d,
                                                            struct rc_list *list, unsigned n)
{
    struct rc_entry e;
    while (out->count < n && next_entry(list, &e, out))
        if (!on_screen(d, e.key))
            take(out, &e, list->source);
    d->live = 0; /* the seen-set, if filled, lacks these items */
}

/* Take a whole list in its order until out holds n items. */
static inline __attribute__((always_inline)) void fill_from(struct re_recs *out, struct re_route_scratch *s,
                                                            struct dedupe *d, struct rc_list *list, unsigned n)
{
    if (out->count == 0) {
        fill_only(out, d, list, n);
        return;
    }
    seen_fill(s, d, out);
    struct rc_entry e;
    while (out->count < n && next_entry(list, &e, out))
        if (seen_add(s, e.key))
            take(out, &e, list->source);
}

static float rank_score(float f)
{
    return isnan(f) ? -INFINITY : f;
}

/* The image tier: the product lists merged best score first. */
static int image_tier(const struct rc_cache *c, MDB_txn *txn, const struct re_query *q, const uint64_t *pkeys,
                      struct re_route_scratch *s, struct dedupe *d, struct re_recs *out)
{
    struct rc_list lists[RE_PRODUCTS_MAX];
    struct rc_entry heads[RE_PRODUCTS_MAX];
    MDB_val vals[RE_PRODUCTS_MAX];
    unsigned found = 0, live = 0;
    /* All lookups first, then the reading: the lines of one list arrive
     * while the next is looked up. */
    for (unsigned i = 0; i < q->nproducts; i++) {
        int rc = lookup(c, txn, RC_DB_PRODUCT, pkeys[i], q->n, &vals[found]);
        if (rc < 0)
            return rc;
        found += (unsigned)rc;
    }
    for (unsigned i = 0; i < found; i++)
        if (open_list(&vals[i], &lists[live], out) && next_entry(&lists[live], &heads[live], out))
            live++;
    if (live == 1) {
        /* one list: no merge, and its entries are distinct */
        if (!on_screen(d, heads[0].key))
            take(out, &heads[0], lists[0].source);
        fill_only(out, d, &lists[0], q->n);
        return 0;
    }
    if (live)
        seen_fill(s, d, out);
    while (out->count < q->n && live) {
        unsigned best = 0;
        for (unsigned i = 1; i < live; i++)
            if (rank_score(heads[i].score) > rank_score(heads[best].score))
                best = i;
        if (seen_add(s, heads[best].key))
            take(out, &heads[best], lists[best].source);
        if (!next_entry(&lists[best], &heads[best], out)) {
            /* Keep the order of the remaining lists: ties go to the
             * product named first. */
            memmove(&lists[best], &lists[best + 1], (live - best - 1) * sizeof(lists[0]));
            memmove(&heads[best], &heads[best + 1], (live - best - 1) * sizeof(heads[0]));
            live--;
        }
    }
    return 0;
}

int re_route(const struct rc_cache *c, MDB_txn *txn, const struct re_query *q, struct re_route_scratch *s,
             struct re_recs *out)
{
    out->count = 0;
    out->bad_records = 0;
    out->route = RC_SRC_GLOBAL;
    seen_reset(s);

    uint64_t pkeys[RE_PRODUCTS_MAX]; /* never recommended: they are on screen */
    for (unsigned i = 0; i < q->nproducts; i++)
        pkeys[i] = rc_key(q->products[i].p, q->products[i].len);
    struct dedupe d = {pkeys, q->nproducts, 0};

    int rc, cookie_found = 0;
    struct rc_list list;
    if (q->nproducts && (rc = image_tier(c, txn, q, pkeys, s, &d, out)) != 0)
        goto fail;

    if (out->count < q->n && q->cookie.len) {
        rc = get_list(c, txn, RC_DB_COOKIE, rc_key(q->cookie.p, q->cookie.len), q->n, &list, out);
        if (rc < 0)
            goto fail;
        if (rc == 1) {
            cookie_found = 1;
            fill_from(out, s, &d, &list, q->n);
        }
    }

    /* Segment back-off: (loc, device), (loc, *), (*, device), (*, *). */
    const char *loc = q->loc.len ? q->loc.p : RC_WILDCARD, *dev = q->device.len ? q->device.p : RC_WILDCARD;
    size_t loc_len = q->loc.len ? q->loc.len : 1, dev_len = q->device.len ? q->device.len : 1;
    uint64_t seg[4];
    for (int i = 0; i < 4 && out->count < q->n; i++) {
        /* Keys are hashed only when the tier is reached: most answers are
         * full before it. */
        seg[i] = rc_segment_key(i & 2 ? RC_WILDCARD : loc, i & 2 ? 1 : loc_len, i & 1 ? RC_WILDCARD : dev,
                                i & 1 ? 1 : dev_len);
        int repeated = 0;
        for (int j = 0; j < i; j++)
            repeated |= seg[j] == seg[i];
        if (repeated)
            continue;
        rc = get_list(c, txn, RC_DB_SEGMENT, seg[i], q->n, &list, out);
        if (rc < 0)
            goto fail;
        if (rc == 1)
            fill_from(out, s, &d, &list, q->n);
    }

    if (out->count)
        out->route = out->items[0].source;
    else if (q->nproducts)
        out->route = RC_SRC_IMAGE;
    else if (cookie_found)
        out->route = RC_SRC_CF;
    else if (q->loc.len || q->device.len)
        out->route = RC_SRC_SEGMENT;
    return 0;

fail:
    out->count = 0;
    return rc;
}

/* Most bytes put_score writes: "%.6g" of a float is at most 12
 * ("-1.17549e-38"), "null" 4. */
#define SCORE_MAX 24

/* The slow path of put_score: what rc_buf_add_float writes. */
static char *put_score_printf(char *o, double v)
{
    if (!isfinite(v)) {
        memcpy(o, "null", 4);
        return o + 4;
    }
    int n = snprintf(o, SCORE_MAX, "%.6g", v);
    return o + (n > 0 && n < SCORE_MAX ? n : 0);
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

/* Store the 8 bytes of w at o, low byte first. */
static inline __attribute__((always_inline)) void store_le64(char *o, uint64_t w)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    memcpy(o, &w, 8);
}

/*
 * A score as a JSON number with 6 significant digits at o (room for
 * SCORE_MAX bytes), as "%.6g" writes it, returning the end. The usual range
 * (1e-4 <= |v| < 1e6) is written without printf, which costs more than the
 * rest of the answer, and without variable-length copies or small stores
 * read back as words (a store that cannot be forwarded to a wider load
 * stalls it): the six digits come from two rows of digits3 into one
 * register and are stored as whole words, and the end is moved by the
 * length that counts. Other values (and rounding that would carry into a
 * seventh digit) go through snprintf. The branches on the value stay:
 * scores of one list are alike, so they are predicted, and a predicted
 * branch costs less than the arithmetic that would replace it.
 */
static inline __attribute__((always_inline)) char *put_score(char *o, float f)
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
                return put_score_printf(o, v);
            e = a >= 1e5 ? 5 : a >= 1e4 ? 4 : 3;
        } else {
            e = a >= 1e2 ? 2 : a >= 1e1 ? 1 : 0;
        }
    } else if (a >= 1e-2) {
        e = a >= 1e-1 ? -1 : -2;
    } else {
        if (__builtin_expect(!(a >= 1e-4), 0))
            return put_score_printf(o, v);
        e = a >= 1e-3 ? -3 : -4;
    }
    uint64_t digits = (uint64_t)round_even(a * pow10[5 - e]); /* below 1e6 */
    if (__builtin_expect(digits >= 1000000 || digits < 100000, 0))
        return put_score_printf(o, v);
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
        store_le64(o, d);
        store_le64(o + e + 2, d >> (8 * (unsigned)(e + 1))); /* e + 1 <= 6 */
        o[e + 1] = '.';
        return o + (last > e ? last + 2 : e + 1);
    }
    /* "0." and -e-1 zeros, then d0..d(last) */
    memcpy(o, "0.000000", 8);
    store_le64(o + 1 - e, d);
    return o + 1 - e + last + 1;
}

/* Fixed text by source, written with constant-length copies of the whole
 * array (the room for it is reserved) and advanced by len. */
struct fixed_text {
    char text[31]; /* with len: 32 bytes, a power of two to index by */
    uint8_t len;
};
#define TEXT(s) {s, sizeof(s) - 1}
#define ROUTE(name) TEXT(",\"route\":\"" name "\",\"items\":[")
#define TAIL(name) TEXT(",\"source\":\"" name "\"}")
static const struct fixed_text route_text[] = {ROUTE("unknown"), ROUTE("cf"), ROUTE("image"), ROUTE("segment"),
                                               ROUTE("global")};
static const struct fixed_text item_tail[] = {TAIL("unknown"), TAIL("cf"), TAIL("image"), TAIL("segment"),
                                              TAIL("global")};
#undef TAIL
#undef ROUTE
#undef TEXT

static const struct fixed_text *by_source(const struct fixed_text *table, unsigned source)
{
    return &table[source <= RC_SRC_GLOBAL ? source : 0]; /* 0: "unknown", as rc_source_name */
}

/* Most bytes of one item but its id: the head (written as 16), the id's
 * quotes, the middle (written as 16), the score, the tail (written as 32). */
#define ITEM_FIXED_MAX (16 + 2 + 16 + SCORE_MAX + 32)
/* The most one item can take, whatever its id. */
#define ITEM_MAX (ITEM_FIXED_MAX + RC_JSON_STR_MAX(RC_ID_MAX))

/* One item the exact way, for a fixed buffer too full for the worst case. */
static void item_exact(struct rc_buf *b, const struct re_item *it, int first, const struct fixed_text *tail)
{
    rc_buf_add(b, &",{\"product\":"[first], first ? 11 : 12);
    rc_buf_json_str(b, it->id, it->id_len);
    rc_buf_add(b, ",\"score\":", 9);
    char tmp[SCORE_MAX];
    rc_buf_add(b, tmp, (size_t)(put_score(tmp, it->score) - tmp));
    rc_buf_add(b, tail->text, tail->len);
}

/* The text before an item's id (the first item has no comma) and between
 * its id and its score, as whole 16-byte copies. */
static const char item_head[2][16] = {",{\"product\":\"", "{\"product\":\""};
static const char item_mid[16] = "\",\"score\":";

/* One item at o, which has room for ITEM_FIXED_MAX + RC_JSON_STR_MAX(id
 * length) bytes; returns the end. The head ends with the id's opening
 * quote and the middle starts with its closing one: a plain id is copied
 * between them, any other is written quoted over them. */
static inline __attribute__((always_inline)) char *item_write(char *o, const struct re_item *it, int first,
                                                             const struct fixed_text *tail)
{
    memcpy(o, item_head[first], 16);
    o += 13 - first;
    char *q = rc_json_plain_write(o, it->id, it->id_len);
    if (__builtin_expect(!q, 0))
        q = rc_json_str_write_any(o - 1, it->id, it->id_len) - 1;
    memcpy(q, item_mid, 16);
    o = put_score(q + 10, it->score);
    memcpy(o, tail->text, sizeof(tail->text));
    return o + tail->len;
}

void re_recs_json(const struct re_recs *r, const char *version, struct rc_buf *b)
{
    size_t vlen = strlen(version);
    const struct fixed_text *rt = by_source(route_text, r->route);
    /* The head in one reservation: {"version":"V","route":"R","items":[ */
    char *o = rc_buf_try_reserve(b, 11 + RC_JSON_STR_MAX(vlen) + sizeof(rt->text));
    if (o) {
        memcpy(o, "{\"version\":", 11);
        o = rc_json_str_write(o + 11, version, vlen);
        memcpy(o, rt->text, sizeof(rt->text));
        rc_buf_commit(b, o + rt->len);
    } else {
        rc_buf_add(b, "{\"version\":", 11);
        rc_buf_json_str(b, version, vlen);
        rc_buf_add(b, rt->text, rt->len);
    }
    /* The items: one reservation for all of them when the worst case of
     * any ids fits (a RE_RECS_JSON_MAX buffer holds it for about 98
     * items), else one per item, else the exact way. The tail text is
     * looked up again only where the source changes. */
    unsigned source = r->count ? r->items[0].source : 0;
    const struct fixed_text *tail = by_source(item_tail, source);
    o = r->count ? rc_buf_try_reserve(b, (size_t)r->count * ITEM_MAX) : NULL;
    if (o) {
        for (unsigned i = 0; i < r->count; i++) {
            const struct re_item *it = &r->items[i];
            if (__builtin_expect(it->source != source, 0))
                tail = by_source(item_tail, source = it->source);
            o = item_write(o, it, i == 0, tail);
        }
        rc_buf_commit(b, o);
    } else {
        for (unsigned i = 0; i < r->count; i++) {
            const struct re_item *it = &r->items[i];
            tail = by_source(item_tail, it->source);
            o = rc_buf_try_reserve(b, ITEM_FIXED_MAX + RC_JSON_STR_MAX(it->id_len));
            if (o)
                rc_buf_commit(b, item_write(o, it, i == 0, tail));
            else
                item_exact(b, it, i == 0, tail);
        }
    }
    rc_buf_add(b, "]}", 2);
}
