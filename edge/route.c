#include "route.h"
#include "keys.h"

#include <math.h>
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
static int seen_add(struct re_route_scratch *s, uint64_t key)
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

/* Look up a list record; 1 when *list is open, 0 when absent or bad, or a
 * negative LMDB error. */
static int get_list(const struct rc_cache *c, MDB_txn *txn, enum rc_db db, uint64_t key, struct rc_list *list,
                    struct re_recs *out)
{
    MDB_val v;
    int rc = rc_cache_get(c, txn, db, key, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    if (rc_list_open(list, v.mv_data, v.mv_size, 0, NULL) != 0) {
        out->bad_records++;
        return 0;
    }
    return 1;
}

static void take(struct re_recs *out, const struct rc_entry *e, uint8_t source)
{
    struct re_item *it = &out->items[out->count++];
    it->key = e->key;
    it->id = e->id;
    it->id_len = e->id_len;
    it->score = e->score;
    it->source = source;
}

/* Take a whole list in its order until out holds n items. */
static void fill_from(struct re_recs *out, struct re_route_scratch *s, struct rc_list *list, unsigned n)
{
    struct rc_entry e;
    while (out->count < n && rc_list_next(list, &e))
        if (seen_add(s, e.key))
            take(out, &e, list->source);
}

static float rank_score(float f)
{
    return isnan(f) ? -INFINITY : f;
}

/* The image tier: the product lists merged best score first. */
static int image_tier(const struct rc_cache *c, MDB_txn *txn, const struct re_query *q, const uint64_t *pkeys,
                      struct re_route_scratch *s, struct re_recs *out)
{
    struct rc_list lists[RE_PRODUCTS_MAX];
    struct rc_entry heads[RE_PRODUCTS_MAX];
    unsigned live = 0;
    for (unsigned i = 0; i < q->nproducts; i++) {
        int rc = get_list(c, txn, RC_DB_PRODUCT, pkeys[i], &lists[live], out);
        if (rc < 0)
            return rc;
        if (rc == 1 && rc_list_next(&lists[live], &heads[live]))
            live++;
    }
    while (out->count < q->n && live) {
        unsigned best = 0;
        for (unsigned i = 1; i < live; i++)
            if (rank_score(heads[i].score) > rank_score(heads[best].score))
                best = i;
        if (seen_add(s, heads[best].key))
            take(out, &heads[best], lists[best].source);
        if (!rc_list_next(&lists[best], &heads[best])) {
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

    uint64_t pkeys[RE_PRODUCTS_MAX];
    for (unsigned i = 0; i < q->nproducts; i++) {
        pkeys[i] = rc_key(q->products[i].p, q->products[i].len);
        (void)seen_add(s, pkeys[i]); /* never recommend what is on screen */
    }

    int rc, cookie_found = 0;
    struct rc_list list;
    if (q->nproducts && (rc = image_tier(c, txn, q, pkeys, s, out)) != 0)
        goto fail;

    if (out->count < q->n && q->cookie.len) {
        rc = get_list(c, txn, RC_DB_COOKIE, rc_key(q->cookie.p, q->cookie.len), &list, out);
        if (rc < 0)
            goto fail;
        if (rc == 1) {
            cookie_found = 1;
            fill_from(out, s, &list, q->n);
        }
    }

    /* Segment back-off: (loc, device), (loc, *), (*, device), (*, *). */
    const char *loc = q->loc.len ? q->loc.p : RC_WILDCARD, *dev = q->device.len ? q->device.p : RC_WILDCARD;
    size_t loc_len = q->loc.len ? q->loc.len : 1, dev_len = q->device.len ? q->device.len : 1;
    uint64_t seg[4];
    seg[0] = rc_segment_key(loc, loc_len, dev, dev_len);
    seg[1] = rc_segment_key(loc, loc_len, RC_WILDCARD, 1);
    seg[2] = rc_segment_key(RC_WILDCARD, 1, dev, dev_len);
    seg[3] = rc_segment_key(RC_WILDCARD, 1, RC_WILDCARD, 1);
    for (int i = 0; i < 4 && out->count < q->n; i++) {
        int repeated = 0;
        for (int j = 0; j < i; j++)
            repeated |= seg[j] == seg[i];
        if (repeated)
            continue;
        rc = get_list(c, txn, RC_DB_SEGMENT, seg[i], &list, out);
        if (rc < 0)
            goto fail;
        if (rc == 1)
            fill_from(out, s, &list, q->n);
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

/*
 * A score as a JSON number with 6 significant digits, as "%.6g" writes it
 * for the usual range (1e-4 <= |v| < 1e6) without going through printf,
 * which costs more than the rest of the answer; other values (and rounding
 * that would carry into a seventh digit) go through rc_buf_add_float.
 */
static void add_score(struct rc_buf *b, float f)
{
    double v = f, a = fabs(v);
    if (!(a >= 1e-4 && a < 1e6)) {
        rc_buf_add_float(b, v);
        return;
    }
    static const double pow10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    int e = 0; /* a = m * 10^e with 1 <= m < 10 */
    if (a >= 1)
        while (e < 5 && a >= pow10[e + 1])
            e++;
    else
        while (e > -4 && a < 1.0 / pow10[-e])
            e--;
    int decimals = 5 - e; /* 0..9 */
    uint64_t digits = (uint64_t)llrint(a * pow10[decimals]); /* ties to even, as printf */
    if (digits >= 1000000 || digits < 100000) {
        rc_buf_add_float(b, v);
        return;
    }
    char tmp[32];
    int o = 0;
    if (v < 0)
        tmp[o++] = '-';
    char d[16];
    int nd = 0;
    for (uint64_t x = digits; nd < decimals + 1 || x; x /= 10)
        d[nd++] = (char)('0' + x % 10); /* reversed, at least decimals+1 digits */
    int int_digits = nd - decimals;
    for (int i = nd - 1; i >= nd - int_digits; i--)
        tmp[o++] = d[i];
    int last = -1; /* the least significant non-zero fraction digit */
    for (int i = 0; i < decimals; i++)
        if (d[i] != '0') {
            last = i;
            break;
        }
    if (last >= 0) {
        tmp[o++] = '.';
        for (int i = decimals - 1; i >= last; i--)
            tmp[o++] = d[i];
    }
    rc_buf_add(b, tmp, (size_t)o);
}

void re_recs_json(const struct re_recs *r, const char *version, struct rc_buf *b)
{
    rc_buf_add(b, "{\"version\":", 11);
    rc_buf_json_str(b, version, strlen(version));
    rc_buf_add(b, ",\"route\":\"", 10);
    rc_buf_adds(b, rc_source_name(r->route));
    rc_buf_add(b, "\",\"items\":[", 11);
    for (unsigned i = 0; i < r->count; i++) {
        const struct re_item *it = &r->items[i];
        rc_buf_add(b, i ? ",{\"product\":" : "{\"product\":", i ? 12 : 11);
        rc_buf_json_str(b, it->id, it->id_len);
        rc_buf_add(b, ",\"score\":", 9);
        add_score(b, it->score);
        rc_buf_add(b, ",\"source\":\"", 11);
        rc_buf_adds(b, rc_source_name(it->source));
        rc_buf_add(b, "\"}", 2);
    }
    rc_buf_add(b, "]}", 2);
}
