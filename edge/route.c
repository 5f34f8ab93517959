#include "route.h"
#include "catset.h"
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
 * RE_N_MAX + RE_PRODUCTS_MAX + RE_EXCLUDE_MAX keys go in per request. */
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
 * n items reads (the header and about n entries of 8-byte ids and score
 * texts, one line more for longer ones) at once instead of one by one: the
 * value is usually cold. 1 when found, 0 when absent, or a negative LMDB error. */
static int lookup(const struct rc_cache *c, MDB_txn *txn, enum rc_db db, uint64_t key, unsigned n, MDB_val *v)
{
    int rc = rc_cache_get(c, txn, db, key, v);
    if (rc)
        return rc == MDB_NOTFOUND ? 0 : rc;
    size_t want = RC_LIST_HEADER + (n + 1) * (RC_ENTRY_FIXED + 8 + 8) + 64;
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
    it->score_len = e->score_len;
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
    const uint64_t *pkeys; /* the products on screen, then those of exclude= */
    unsigned np;
    int live; /* the seen-set holds pkeys and every item taken */
    const struct rc_overlay *ov; /* suppressed products; a constant NULL in the path without an overlay */
    /* category=: an item must be in one of sets[0, nsets) (the categories
     * asked for that the version knows; none: nothing is allowed). A
     * constant NULL in the path without filters, and when no category was
     * asked for. */
    const struct rc_catset *sets;
    unsigned nsets;
};

/* 1 when key is suppressed by the overlay (never recorded in the seen-set:
 * a suppressed key is looked up each time it comes, from any list). */
static inline __attribute__((always_inline)) int suppressed(const struct dedupe *d, uint64_t key)
{
    return d->ov && rc_overlay_has(d->ov, key);
}

/* 1 when key may be answered under the category filter: always without
 * one, else when one of the asked categories holds it (a binary search of
 * each set, in the order asked: the first category is the likeliest). */
static inline __attribute__((always_inline)) int allowed(const struct dedupe *d, uint64_t key)
{
    if (!d->sets)
        return 1;
    for (unsigned i = 0; i < d->nsets; i++)
        if (rc_catset_has(&d->sets[i], key))
            return 1;
    return 0;
}

/* On screen, excluded or suppressed: never recommended. */
static inline __attribute__((always_inline)) int on_screen(const struct dedupe *d, uint64_t key)
{
    for (unsigned i = 0; i < d->np; i++)
        if (d->pkeys[i] == key)
            return 1;
    return suppressed(d, key);
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

/* Under the category filter, 1 once `read` entries of a list that is not
 * the category's own have been read (RE_FILTER_DEPTH): the rest of such a
 * list is left to the category tier. Always 0 without the filter (a
 * constant in the plain path). */
static inline __attribute__((always_inline)) int too_deep(const struct dedupe *d, const struct rc_list *list,
                                                         unsigned read)
{
    return d->sets && list->source != RC_SRC_CATEGORY && read >= RE_FILTER_DEPTH;
}

/* Take the rest of a list that is the only source of the items in out,
 * in its order, until out holds n items. */
static inline __attribute__((always_inline)) void fill_only(struct re_recs *out, struct dedupe *d,
                                                            struct rc_list *list, unsigned n)
{
    struct rc_entry e;
    for (unsigned read = 0; out->count < n && !too_deep(d, list, read) && next_entry(list, &e, out); read++)
        if (!on_screen(d, e.key) && allowed(d, e.key))
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
    for (unsigned read = 0; out->count < n && !too_deep(d, list, read) && next_entry(list, &e, out); read++)
        if (!suppressed(d, e.key) && allowed(d, e.key) && seen_add(s, e.key))
            take(out, &e, list->source);
}

static float rank_score(float f)
{
    return isnan(f) ? -INFINITY : f;
}

/* The browsing tier: each product's image and coview lists, all merged
 * best score first (recbuild scales coview scores to rank against the
 * image cosines: schemas/cache.md); image lists flagged RC_LIST_ASIDE
 * are skipped. Inlined into each copy of route(), so that the plain copy
 * has no overlay or filter check here either. */
static inline __attribute__((always_inline)) int image_tier(const struct rc_cache *c, MDB_txn *txn,
                                                            const struct re_query *q, const uint64_t *pkeys,
                                                            struct re_route_scratch *s, struct dedupe *d,
                                                            struct re_recs *out)
{
    struct rc_list lists[2 * RE_PRODUCTS_MAX];
    struct rc_entry heads[2 * RE_PRODUCTS_MAX];
    MDB_val vals[2 * RE_PRODUCTS_MAX];
    unsigned found = 0, live = 0;
    /* All lookups first, then the reading: the lines of one list arrive
     * while the next is looked up. A product's image list comes before its
     * coview list, so an equal score goes to the image item. */
    for (unsigned i = 0; i < q->nproducts; i++) {
        int rc = lookup(c, txn, RC_DB_PRODUCT, pkeys[i], q->n, &vals[found]);
        if (rc < 0)
            return rc;
        found += (unsigned)rc;
        rc = lookup(c, txn, RC_DB_COVIEW, pkeys[i], q->n, &vals[found]);
        if (rc < 0)
            return rc;
        found += (unsigned)rc;
    }
    /* an image list set aside (blend weight 1) is not served */
    for (unsigned i = 0; i < found; i++)
        if (open_list(&vals[i], &lists[live], out) && !(lists[live].flags & RC_LIST_ASIDE) &&
            next_entry(&lists[live], &heads[live], out))
            live++;
    if (live == 1) {
        /* one list: no merge, and its entries are distinct */
        if (!on_screen(d, heads[0].key) && allowed(d, heads[0].key))
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
        if (!suppressed(d, heads[best].key) && allowed(d, heads[best].key) && seen_add(s, heads[best].key))
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

/* The display fields q asks for of every item answered: one items-DB get
 * per item, in the request's txn. An item without a record, or whose
 * record is bad (counted in bad_records), has none. 0 or an LMDB error. */
static int item_fields(const struct rc_cache *c, MDB_txn *txn, struct re_recs *out)
{
    for (unsigned i = 0; i < out->count; i++) {
        struct rc_text *t = out->texts[i];
        memset(t, 0, RC_FIELD_COUNT * sizeof(*t));
        MDB_val v;
        int rc = rc_cache_get(c, txn, RC_DB_ITEMS, out->items[i].key, &v);
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc)
            return rc;
        struct rc_item item;
        if (rc_item_decode_lazy(&item, v.mv_data, v.mv_size) != 0) {
            out->bad_records++;
            continue;
        }
        memcpy(t, item.field, sizeof(item.field));
    }
    return 0;
}

/*
 * category=: the set record of each category asked for (catset DB), opened
 * into sets in the order asked. A category the version does not know (no
 * record: a version built without categories has none) has no products; a
 * record whose header does not decode is skipped and counted in
 * bad_records. Returns the number of sets opened, or a negative LMDB error.
 */
static int open_sets(const struct rc_cache *c, MDB_txn *txn, const struct re_query *q, struct rc_catset *sets,
                     struct re_recs *out)
{
    int nsets = 0;
    for (unsigned i = 0; i < q->ncategories; i++) {
        MDB_val v;
        int rc = rc_cache_get(c, txn, RC_DB_CATSET, q->categories[i], &v);
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc)
            return rc;
        if (rc_catset_open(&sets[nsets], v.mv_data, v.mv_size) != 0) {
            out->bad_records++;
            continue;
        }
        nsets++;
    }
    return nsets;
}

/*
 * The routing rules with the tiers turned on in `tiers` (enum rc_tier) and
 * the cf tier reading cf_db. Inlined into both entry points: re_route's
 * constants (every tier, the cookie DB, no overlay, no filter) fold away,
 * so the plain path tests nothing more than it did before experiments,
 * the overlay and filters existed. `filters` 0: q's category and exclude
 * are not read (re_route passes 0 only when q has none).
 */
static inline __attribute__((always_inline)) int route(const struct rc_cache *c, MDB_txn *txn,
                                                       const struct re_query *q, unsigned tiers, enum rc_db cf_db,
                                                       const struct rc_experiment_arm *arm,
                                                       const struct rc_overlay *ov, int filters,
                                                       struct re_route_scratch *s, struct re_recs *out)
{
    out->count = 0;
    out->n = q->n;
    out->fields = 0;
    out->bad_records = 0;
    out->route = RC_SRC_GLOBAL;
    out->arm = arm;
    out->rec_id = NULL;
    seen_reset(s);
    int image_on = (tiers & RC_TIER_IMAGE) != 0, cf_on = (tiers & RC_TIER_CF) != 0;

    /* Never recommended: the products on screen, then those excluded. */
    uint64_t pkeys[RE_PRODUCTS_MAX + RE_EXCLUDE_MAX];
    for (unsigned i = 0; i < q->nproducts; i++)
        pkeys[i] = rc_key(q->products[i].p, q->products[i].len);
    unsigned np = q->nproducts;
    if (filters)
        for (unsigned i = 0; i < q->nexclude; i++)
            pkeys[np++] = q->exclude[i];
    struct dedupe d = {pkeys, np, 0, ov, NULL, 0};

    int rc, cookie_found = 0;
    struct rc_list list;
    struct rc_catset sets[RE_CATEGORIES_MAX];
    if (filters && q->ncategories) {
        if ((rc = open_sets(c, txn, q, sets, out)) < 0)
            goto fail;
        d.sets = sets;
        d.nsets = (unsigned)rc;
        if (!d.nsets) /* no category asked for is known: no tier has an item to give */
            goto answered;
    }

    if (image_on && q->nproducts && (rc = image_tier(c, txn, q, pkeys, s, &d, out)) != 0)
        goto fail;

    if (cf_on && out->count < q->n && q->cookie.len) {
        rc = get_list(c, txn, cf_db, rc_key(q->cookie.p, q->cookie.len), q->n, &list, out);
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
        /* (*, *) is the global tier, whichever step reaches it first */
        int global = (i & 2 || !q->loc.len) && (i & 1 || !q->device.len);
        if (repeated || !(tiers & (global ? RC_TIER_GLOBAL : RC_TIER_SEGMENT)))
            continue;
        rc = get_list(c, txn, RC_DB_SEGMENT, seg[i], q->n, &list, out);
        if (rc < 0)
            goto fail;
        if (rc == 1)
            fill_from(out, s, &d, &list, q->n);
    }

    /* The category tier: the global tier within the categories asked for,
     * each category's list in the order asked (on where global is on). */
    if (filters && d.sets && (tiers & RC_TIER_GLOBAL))
        for (unsigned i = 0; i < q->ncategories && out->count < q->n; i++) {
            rc = get_list(c, txn, RC_DB_CATEGORY, q->categories[i], q->n, &list, out);
            if (rc < 0)
                goto fail;
            if (rc == 1)
                fill_from(out, s, &d, &list, q->n);
        }

answered:
    if (out->count)
        out->route = out->items[0].source;
    else if (image_on && q->nproducts)
        out->route = RC_SRC_IMAGE;
    else if (cookie_found)
        out->route = RC_SRC_CF;
    else if ((tiers & RC_TIER_SEGMENT) && (q->loc.len || q->device.len))
        out->route = RC_SRC_SEGMENT;
    if (q->fields && (rc = item_fields(c, txn, out)) != 0)
        goto fail;
    out->fields = q->fields;
    return 0;

fail:
    out->count = 0;
    return rc;
}

int re_route(const struct rc_cache *c, MDB_txn *txn, const struct re_query *q, struct re_route_scratch *s,
             struct re_recs *out)
{
    /* One branch for the plain path: the copy with no overlay and no
     * filter has neither check. */
    if (__builtin_expect(s->suppress != NULL || re_query_filtered(q), 0))
        return route(c, txn, q, RC_TIER_ALL, RC_DB_COOKIE, NULL, s->suppress, 1, s, out);
    return route(c, txn, q, RC_TIER_ALL, RC_DB_COOKIE, NULL, NULL, 0, s, out);
}

int re_route_arm(const struct rc_cache *c, MDB_txn *txn, const struct re_query *q,
                 const struct rc_experiment_arm *arm, struct re_route_scratch *s, struct re_recs *out)
{
    if (!arm)
        return re_route(c, txn, q, s, out);
    return route(c, txn, q, arm->tiers, arm->cf_db, arm, s->suppress, 1, s, out);
}
