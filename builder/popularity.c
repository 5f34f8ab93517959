/*
 * popularity.c - segment popularity (popularity.h).
 *
 * One pass over the events gives each kept event a weight
 * (weight[type] * rb_decay) and its "cell", the distinct (location, device)
 * pair it was seen with (either side may be absent). A counting sort then
 * lays the events out cell by cell as (product, weight) pairs. Each segment
 * is a set of cells:
 *
 *   (loc, device)  the one cell with both          source segment
 *   (loc, *)       every cell with that location   source segment
 *   (*, device)    every cell with that device     source segment
 *   (*, *)         every cell                      source global
 *
 * so a segment's scores are its cells' pairs summed into a dense per-product
 * accumulator (double, in event order: deterministic), and its list is the
 * top n in-stock products of the products it touched. Every event is summed
 * into at most four segments; the accumulator (8 bytes per product) stays
 * in cache for catalogs of ~100k products. Segments are independent and
 * run in parallel (OpenMP), each thread with its own accumulator.
 *
 * A location or device spelled "*" cannot be told from the wildcard in a
 * segment key, so such events count as if the field were absent.
 *
 * Category lists (rb_popularity_categories) rank each category's products
 * by the global segment's scores: the (*, *) cells summed once more into
 * one accumulator, read category by category.
 */
#include "popularity.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "keys.h"
#include "train.h"

#define ABSENT 0xffffu

/* (loc, device) -> cell number: a small open-addressing map. */
struct cellmap {
    uint32_t *slots; /* (loc << 16 | device) + 1, 0 = empty */
    uint32_t *cell;
    uint32_t mask, n;
    uint32_t *loc, *dev; /* [n] per cell */
};

static int cellmap_grow(struct cellmap *m)
{
    uint32_t cap = m->mask ? (m->mask + 1) * 2 : 256;
    uint32_t *slots = calloc(cap, sizeof(*slots)), *cell = malloc(cap * sizeof(*cell));
    uint32_t *loc = realloc(m->loc, cap / 2 * sizeof(*loc)), *dev = loc ? realloc(m->dev, cap / 2 * sizeof(*dev)) : NULL;
    if (loc)
        m->loc = loc;
    if (dev)
        m->dev = dev;
    if (!slots || !cell || !loc || !dev) {
        free(slots);
        free(cell);
        return -ENOMEM;
    }
    for (uint32_t i = 0; m->mask && i <= m->mask; i++) {
        if (!m->slots[i])
            continue;
        uint32_t h = (m->slots[i] * 2654435761u) & (cap - 1);
        while (slots[h])
            h = (h + 1) & (cap - 1);
        slots[h] = m->slots[i];
        cell[h] = m->cell[i];
    }
    free(m->slots);
    free(m->cell);
    m->slots = slots;
    m->cell = cell;
    m->mask = cap - 1;
    return 0;
}

/* Cell of (loc, dev), added when new; -ENOMEM. */
static int cellmap_get(struct cellmap *m, uint32_t loc, uint32_t dev, uint32_t *out)
{
    if (m->n >= (m->mask + 1) / 2 && cellmap_grow(m) != 0)
        return -ENOMEM;
    uint32_t v = (loc << 16 | dev) + 1;
    uint32_t h = (v * 2654435761u) & m->mask;
    while (m->slots[h]) {
        if (m->slots[h] == v) {
            *out = m->cell[h];
            return 0;
        }
        h = (h + 1) & m->mask;
    }
    m->slots[h] = v;
    m->cell[h] = m->n;
    m->loc[m->n] = loc;
    m->dev[m->n] = dev;
    *out = m->n++;
    return 0;
}

static void cellmap_release(struct cellmap *m)
{
    free(m->slots);
    free(m->cell);
    free(m->loc);
    free(m->dev);
}

/* Is id i of t spelled exactly "*"? */
static int is_wild(const struct rb_strtab *t, uint32_t i)
{
    size_t len;
    const char *s = rb_strtab_str(t, i, &len);
    return len == 1 && s[0] == '*';
}

/* A segment: cells[first .. first + count) of the segment cell list. */
struct segment {
    uint32_t loc, dev; /* ABSENT = "*" */
    size_t first, count;
};

/* Per-thread scratch: a dense accumulator and the products it touched. */
struct scratch {
    double *acc;      /* [products], 0 between segments */
    uint32_t *touched;
    size_t ntouched;
};

/* Is (s1, i1) better than (s2, i2)? Higher score, then lower index. */
static inline int better(float s1, uint32_t i1, float s2, uint32_t i2)
{
    return s1 > s2 || (s1 == s2 && i1 < i2);
}

/* Sift-down in a min-heap ordered by "worst at the root". */
static void heap_down(float *s, uint32_t *it, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && better(s[w], it[w], s[l], it[l]))
            w = l;
        if (r < n && better(s[w], it[w], s[r], it[r]))
            w = r;
        if (w == i)
            return;
        float ts = s[i];
        s[i] = s[w];
        s[w] = ts;
        uint32_t ti = it[i];
        it[i] = it[w];
        it[w] = ti;
        i = w;
    }
}

/* Top k of the touched products into items/scores, best first; returns the count. Resets the accumulator. */
static uint16_t top_k(struct scratch *sc, const uint8_t *in_stock, uint32_t k, uint32_t *items, float *scores)
{
    size_t n = 0;
    for (size_t t = 0; t < sc->ntouched; t++) {
        uint32_t p = sc->touched[t];
        float s = (float)sc->acc[p];
        sc->acc[p] = 0;
        if ((in_stock && !in_stock[p]) || !(s > 0))
            continue;
        if (n < k) {
            items[n] = p;
            scores[n] = s;
            n++;
            if (n == k)
                for (size_t i = k / 2; i-- > 0;)
                    heap_down(scores, items, k, i);
        } else if (better(s, p, scores[0], items[0])) {
            items[0] = p;
            scores[0] = s;
            heap_down(scores, items, k, 0);
        }
    }
    sc->ntouched = 0;
    if (n < k)
        for (size_t i = n / 2; i-- > 0;)
            heap_down(scores, items, n, i);
    /* Heap sort in place: repeatedly move the worst to the end. */
    for (size_t end = n; end > 1; end--) {
        float ts = scores[0];
        scores[0] = scores[end - 1];
        scores[end - 1] = ts;
        uint32_t ti = items[0];
        items[0] = items[end - 1];
        items[end - 1] = ti;
        heap_down(scores, items, end - 1, 0);
    }
    return (uint16_t)n;
}

/* What rb_popularity builds on its way to the lists, step by step. */
struct pop {
    uint8_t *loc_wild, *dev_wild; /* [locs], [devices]: 1 for an id spelled "*" */
    struct cellmap cm;            /* the (loc, device) cells of the kept events */
    uint32_t *ev_cell;            /* [nevents] each event's cell, UINT32_MAX when not kept; freed once laid out */
    size_t kept;                  /* events with a cell */
    size_t *cell_start;           /* [cells + 1]: cell c's pairs are [cell_start[c], cell_start[c + 1]) */
    uint32_t *pair_prod;          /* [kept] product of each pair, cell by cell */
    float *pair_w;                /* [kept] its weight: weight[type] * rb_decay */
    struct segment *segs;         /* [nseg] */
    size_t nseg;
    uint32_t *seg_cells;          /* the segments' cells, each segment a range */
};

static void pop_release(struct pop *p)
{
    free(p->loc_wild);
    free(p->dev_wild);
    cellmap_release(&p->cm);
    free(p->ev_cell);
    free(p->cell_start);
    free(p->pair_prod);
    free(p->pair_w);
    free(p->segs);
    free(p->seg_cells);
}

/* [n] flags: 1 where id i of t is spelled "*"; NULL when out of memory. */
static uint8_t *wild_flags(const struct rb_strtab *t)
{
    uint8_t *w = calloc(t->n ? t->n : 1, 1);
    for (uint32_t i = 0; w && i < t->n; i++)
        w[i] = (uint8_t)is_wild(t, i);
    return w;
}

/* Pass 1: each kept event's cell (in the window, of a weighted type, of a known product). Errors: -ENOMEM. */
static int find_cells(struct pop *p, const struct rb_dataset *d, const struct rb_train_opts *o)
{
    const uint32_t nloc = d->locs.n, ndev = d->devices.n, nprod = d->products.n;
    if (!(p->loc_wild = wild_flags(&d->locs)) || !(p->dev_wild = wild_flags(&d->devices)))
        return -ENOMEM;
    uint32_t *ev_cell = NULL;
    if (d->nevents && !(p->ev_cell = ev_cell = malloc(d->nevents * sizeof(*ev_cell))))
        return -ENOMEM;
    const uint8_t *loc_wild = p->loc_wild, *dev_wild = p->dev_wild;
    const int64_t since = rb_window_start(d->ts_max, o->window_days);
    const struct rb_event *events = d->events;
    size_t kept = 0;
    for (size_t e = 0; e < d->nevents; e++) {
        const struct rb_event *ev = &events[e];
        ev_cell[e] = UINT32_MAX;
        if (ev->ts < since || ev->type >= RB_EVENT_TYPES || o->weight[ev->type] <= 0 || ev->product >= nprod)
            continue;
        uint32_t l = ev->loc, v = ev->device;
        if (l == RB_NONE16 || l >= nloc || loc_wild[l])
            l = ABSENT;
        if (v == RB_NONE16 || v >= ndev || dev_wild[v])
            v = ABSENT;
        if (cellmap_get(&p->cm, l, v, &ev_cell[e]) != 0)
            return -ENOMEM;
        kept++;
    }
    p->kept = kept;
    return 0;
}

/* Counting sort of the kept events by cell into (product, weight) pairs; frees ev_cell. Errors: -ENOMEM. */
static int lay_out_pairs(struct pop *p, const struct rb_dataset *d, const struct rb_train_opts *o)
{
    const uint32_t ncell = p->cm.n, *ev_cell = p->ev_cell;
    size_t *cell_start = calloc((size_t)ncell + 1, sizeof(*cell_start));
    if (!(p->cell_start = cell_start))
        return -ENOMEM;
    for (size_t e = 0; e < d->nevents; e++)
        if (ev_cell[e] != UINT32_MAX)
            cell_start[ev_cell[e] + 1]++;
    for (uint32_t c = 0; c < ncell; c++)
        cell_start[c + 1] += cell_start[c];
    uint32_t *pair_prod = NULL;
    float *pair_w = NULL;
    if (p->kept && (!(p->pair_prod = pair_prod = malloc(p->kept * sizeof(*pair_prod))) ||
                    !(p->pair_w = pair_w = malloc(p->kept * sizeof(*pair_w)))))
        return -ENOMEM;
    size_t *fill = malloc(((size_t)ncell + 1) * sizeof(*fill));
    if (!fill)
        return -ENOMEM;
    memcpy(fill, cell_start, ((size_t)ncell + 1) * sizeof(*fill));
    for (size_t e = 0; e < d->nevents; e++) {
        uint32_t c = ev_cell[e];
        if (c == UINT32_MAX)
            continue;
        const struct rb_event *ev = &d->events[e];
        size_t at = fill[c]++;
        pair_prod[at] = ev->product;
        pair_w[at] = (float)(o->weight[ev->type] * rb_decay(ev->ts, d->ts_max, o->half_life_days));
    }
    free(fill);
    free(p->ev_cell);
    p->ev_cell = NULL;
    return 0;
}

/*
 * Counting sort of the cells by key[c] (each cell's location or device
 * index, ABSENT for none), n values: [n + 2] offsets, value v's cells
 * starting at [v] once the caller has placed the ones before; *groups is
 * the number of values with a cell. NULL when out of memory.
 */
static size_t *cells_by(const struct cellmap *cm, const uint32_t *key, uint32_t n, uint32_t *groups)
{
    size_t *first = calloc((size_t)n + 2, sizeof(size_t));
    if (!first)
        return NULL;
    *groups = 0;
    for (uint32_t c = 0; c < cm->n; c++)
        if (key[c] != ABSENT && first[key[c] + 1]++ == 0)
            (*groups)++;
    for (uint32_t v = 0; v < n; v++)
        first[v + 1] += first[v];
    return first;
}

/*
 * The segments of one grouping (by location: dev 0; by device: dev 1),
 * from segment *s on: each value's cells, placed from seg_cells[base] on in
 * cell order (first[v] advances to the end of v's range, which is where the
 * next value's starts).
 */
static void add_grouped(struct pop *p, size_t *s, const uint32_t *key, size_t *first, uint32_t n, size_t base, int dev)
{
    for (uint32_t c = 0; c < p->cm.n; c++)
        if (key[c] != ABSENT)
            p->seg_cells[base + first[key[c]]++] = c;
    for (uint32_t v = 0, prev = 0; v < n; v++) {
        if (first[v] > prev)
            p->segs[(*s)++] = (struct segment){dev ? ABSENT : v, dev ? v : ABSENT, base + prev, first[v] - prev};
        prev = (uint32_t)first[v];
    }
}

/*
 * The segments and their cells, as ranges of seg_cells:
 *   [0, nfine)        one cell each: the (loc, dev) cells
 *   by location       the cells with a location, grouped by it (counting sort)
 *   by device         the cells with a device, grouped by it
 *   all cells         the (*, *) segment
 * Segments are numbered in that order too. Errors: -ENOMEM.
 */
static int build_segments(struct pop *p, uint32_t nloc, uint32_t ndev)
{
    const struct cellmap *cm = &p->cm;
    const uint32_t ncell = cm->n;
    uint32_t nfine = 0, nsegloc = 0, nsegdev = 0;
    for (uint32_t c = 0; c < ncell; c++)
        nfine += cm->loc[c] != ABSENT && cm->dev[c] != ABSENT;
    size_t *loc_first = cells_by(cm, cm->loc, nloc, &nsegloc), *dev_first = cells_by(cm, cm->dev, ndev, &nsegdev);
    int rc = -ENOMEM;
    if (!loc_first || !dev_first)
        goto out;
    const size_t loc_base = nfine, dev_base = loc_base + (uint32_t)loc_first[nloc];
    const size_t all_base = dev_base + (uint32_t)dev_first[ndev];
    p->nseg = (size_t)nfine + nsegloc + nsegdev + 1;
    p->segs = calloc(p->nseg, sizeof(*p->segs));
    p->seg_cells = malloc((all_base + ncell + 1) * sizeof(*p->seg_cells));
    if (!p->segs || !p->seg_cells)
        goto out;
    size_t s = 0, fine_at = 0;
    for (uint32_t c = 0; c < ncell; c++) {
        uint32_t l = cm->loc[c], v = cm->dev[c];
        if (l != ABSENT && v != ABSENT) {
            p->segs[s++] = (struct segment){l, v, fine_at, 1};
            p->seg_cells[fine_at++] = c;
        }
        p->seg_cells[all_base + c] = c;
    }
    add_grouped(p, &s, cm->loc, loc_first, nloc, loc_base, 0);
    add_grouped(p, &s, cm->dev, dev_first, ndev, dev_base, 1);
    p->segs[s++] = (struct segment){ABSENT, ABSENT, all_base, ncell};
    rc = 0;
out:
    free(loc_first);
    free(dev_first);
    return rc;
}

/* Sum segment sg's cells' pairs into the accumulator, in pair order. */
static void sum_segment(struct scratch *sc, const struct pop *p, const struct segment *sg)
{
    for (size_t j = 0; j < sg->count; j++) {
        uint32_t c = p->seg_cells[sg->first + j];
        for (size_t q = p->cell_start[c]; q < p->cell_start[c + 1]; q++) {
            uint32_t prod = p->pair_prod[q];
            if (!(p->pair_w[q] > 0))
                continue; /* so that acc[prod] == 0 means "not touched yet" */
            if (sc->acc[prod] == 0)
                sc->touched[sc->ntouched++] = prod;
            sc->acc[prod] += p->pair_w[q];
        }
    }
}

/* The cache key of segment sg: rc_segment_key with "*" for an absent side. */
static uint64_t segment_key(const struct rb_dataset *d, const struct segment *sg)
{
    size_t llen = 1, dlen = 1;
    const char *ls = RC_WILDCARD, *ds = RC_WILDCARD;
    if (sg->loc != ABSENT)
        ls = rb_strtab_str(&d->locs, sg->loc, &llen);
    if (sg->dev != ABSENT)
        ds = rb_strtab_str(&d->devices, sg->dev, &dlen);
    return rc_segment_key(ls, llen, ds, dlen);
}

/* List g of out for every segment g, in parallel (a scratch per thread). Errors: -ENOMEM. */
static int rank_segments(struct rb_lists *out, const struct pop *p, const struct rb_dataset *d, uint32_t n)
{
    const uint32_t nprod = d->products.n;
    int failed = 0;
#pragma omp parallel
    {
        struct scratch sc = {calloc(nprod ? nprod : 1, sizeof(double)), malloc((nprod ? nprod : 1) * sizeof(uint32_t)), 0};
        if (!sc.acc || !sc.touched) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (size_t g = 0; g < p->nseg; g++) {
            if (!sc.acc || !sc.touched)
                continue;
            const struct segment *sg = &p->segs[g];
            sum_segment(&sc, p, sg);
            out->len[g] = top_k(&sc, d->in_stock, n, out->items + g * n, out->scores + g * n);
            out->owner_key[g] = segment_key(d, sg);
            out->source[g] = (sg->loc == ABSENT && sg->dev == ABSENT) ? RC_SRC_GLOBAL : RC_SRC_SEGMENT;
        }
        free(sc.acc);
        free(sc.touched);
    }
    return failed ? -ENOMEM : 0;
}

/*
 * List c of out for every category c of d: the global segment's scores
 * (its cells summed as rank_segments sums them, so each product's score is
 * bit for bit the one the global list gives it), then each category's
 * products (grouped by a counting sort) through top_k. Every product is in
 * one category at most, so top_k's reset of the accumulator touches each
 * score once. Errors: -ENOMEM.
 */
static int rank_categories(struct rb_lists *out, const struct pop *p, const struct rb_dataset *d, uint32_t n)
{
    const uint32_t nprod = d->products.n, ncat = d->categories.n;
    struct scratch sc = {calloc(nprod ? nprod : 1, sizeof(double)), malloc((nprod ? nprod : 1) * sizeof(uint32_t)), 0};
    size_t *start = calloc((size_t)ncat + 2, sizeof(*start));
    uint32_t *prods = malloc((nprod ? nprod : 1) * sizeof(*prods));
    int rc = -ENOMEM;
    if (!sc.acc || !sc.touched || !start || !prods)
        goto out;
    sum_segment(&sc, p, &p->segs[p->nseg - 1]); /* (*, *): build_segments puts it last */
    sc.ntouched = 0;
    for (uint32_t i = 0; i < nprod; i++) /* category c's products end up in prods[start[c] .. start[c + 1]) */
        if (d->category[i] < ncat)
            start[d->category[i] + 2]++;
    for (uint32_t c = 0; c < ncat; c++)
        start[c + 2] += start[c + 1];
    for (uint32_t i = 0; i < nprod; i++)
        if (d->category[i] < ncat)
            prods[start[d->category[i] + 1]++] = i;
    uint32_t *touched = sc.touched;
    for (uint32_t c = 0; c < ncat; c++) {
        sc.touched = prods + start[c];
        sc.ntouched = start[c + 1] - start[c];
        out->len[c] = top_k(&sc, d->in_stock, n, out->items + (size_t)c * n, out->scores + (size_t)c * n);
        out->owner_key[c] = d->categories.keys[c];
        out->source[c] = RC_SRC_CATEGORY;
    }
    sc.touched = touched;
    rc = 0;
out:
    free(sc.acc);
    free(sc.touched);
    free(start);
    free(prods);
    return rc;
}

int rb_popularity(struct rb_lists *out, const struct rb_dataset *d, const struct rb_train_opts *o, uint32_t n,
                  char *err)
{
    return rb_popularity_categories(out, NULL, d, o, n, err);
}

int rb_popularity_categories(struct rb_lists *out, struct rb_lists *categories, const struct rb_dataset *d,
                             const struct rb_train_opts *o, uint32_t n, char *err)
{
    memset(out, 0, sizeof(*out));
    if (categories)
        memset(categories, 0, sizeof(*categories));
    if (n == 0 || n > RC_LIST_MAX)
        return rc_fail(err, RC_ERANGE, "list length %u is not in 1..%d", n, RC_LIST_MAX);
    struct pop p;
    memset(&p, 0, sizeof(p));
    int rc;
    if ((rc = find_cells(&p, d, o)) != 0 || (rc = lay_out_pairs(&p, d, o)) != 0 ||
        (rc = build_segments(&p, d->locs.n, d->devices.n)) != 0)
        goto nomem;
    if ((rc = rb_lists_init(out, p.nseg, n)) != 0) {
        rc = rc_fail(err, rc, "unable to allocate %zu segment lists: %s", p.nseg, rc_strerror(rc));
        goto out;
    }
    if ((rc = rank_segments(out, &p, d, n)) != 0)
        goto nomem;
    if (categories && d->category && d->categories.n) {
        if ((rc = rb_lists_init(categories, d->categories.n, n)) != 0) {
            rc = rc_fail(err, rc, "unable to allocate %" PRIu32 " category lists: %s", d->categories.n,
                         rc_strerror(rc));
            rb_lists_release(out);
            goto out;
        }
        if ((rc = rank_categories(categories, &p, d, n)) != 0)
            goto nomem;
    }
    goto out;
nomem:
    rc = rc_fail(err, -ENOMEM, "out of memory computing segment popularity");
    rb_lists_release(out);
    if (categories)
        rb_lists_release(categories);
out:
    pop_release(&p);
    return rc;
}
