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
 */
#include "popularity.h"

#include <errno.h>
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

int rb_popularity(struct rb_lists *out, const struct rb_dataset *d, const struct rb_train_opts *o, uint32_t n,
                  char *err)
{
    memset(out, 0, sizeof(*out));
    if (n == 0 || n > RC_LIST_MAX)
        return rc_fail(err, RC_ERANGE, "list length %u is not in 1..%d", n, RC_LIST_MAX);
    uint32_t nprod = d->products.n;
    uint32_t nloc = d->locs.n, ndev = d->devices.n;
    int rc = 0;
    struct cellmap cm = {0};
    uint32_t *ev_cell = NULL, *pair_prod = NULL, *seg_cells = NULL;
    size_t *cell_start = NULL;
    float *pair_w = NULL;
    struct segment *segs = NULL;
    uint8_t *loc_wild = calloc(nloc ? nloc : 1, 1), *dev_wild = calloc(ndev ? ndev : 1, 1);
    if (!loc_wild || !dev_wild)
        goto nomem;
    for (uint32_t i = 0; i < nloc; i++)
        loc_wild[i] = (uint8_t)is_wild(&d->locs, i);
    for (uint32_t i = 0; i < ndev; i++)
        dev_wild[i] = (uint8_t)is_wild(&d->devices, i);

    /* Pass 1: each kept event's cell. */
    int64_t since = INT64_MIN;
    if (o->window_days > 0 && d->nevents)
        since = d->ts_max - (int64_t)(o->window_days * 86400.0);
    if (d->nevents && !(ev_cell = malloc(d->nevents * sizeof(*ev_cell))))
        goto nomem;
    size_t kept = 0;
    for (size_t e = 0; e < d->nevents; e++) {
        const struct rb_event *ev = &d->events[e];
        ev_cell[e] = UINT32_MAX;
        if (ev->ts < since || ev->type >= RB_EVENT_TYPES || o->weight[ev->type] <= 0 || ev->product >= nprod)
            continue;
        uint32_t l = ev->loc, v = ev->device;
        if (l == RB_NONE16 || l >= nloc || loc_wild[l])
            l = ABSENT;
        if (v == RB_NONE16 || v >= ndev || dev_wild[v])
            v = ABSENT;
        if (cellmap_get(&cm, l, v, &ev_cell[e]) != 0)
            goto nomem;
        kept++;
    }

    /* Counting sort of the kept events by cell: (product, weight) pairs. */
    uint32_t ncell = cm.n;
    if (!(cell_start = calloc((size_t)ncell + 1, sizeof(*cell_start))))
        goto nomem;
    for (size_t e = 0; e < d->nevents; e++)
        if (ev_cell[e] != UINT32_MAX)
            cell_start[ev_cell[e] + 1]++;
    for (uint32_t c = 0; c < ncell; c++)
        cell_start[c + 1] += cell_start[c];
    if (kept && (!(pair_prod = malloc(kept * sizeof(*pair_prod))) || !(pair_w = malloc(kept * sizeof(*pair_w)))))
        goto nomem;
    {
        size_t *fill = malloc(((size_t)ncell + 1) * sizeof(*fill));
        if (!fill)
            goto nomem;
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
    }
    free(ev_cell);
    ev_cell = NULL;

    /*
     * Segments and their cells, as ranges of seg_cells:
     *   [0, nfine)        one cell each: the (loc, dev) cells
     *   by location       the cells with a location, grouped by it (counting sort)
     *   by device         the cells with a device, grouped by it
     *   all cells         the (*, *) segment
     */
    uint32_t nfine = 0, nlocated = 0, ndeviced = 0, nsegloc = 0, nsegdev = 0;
    size_t *loc_first = calloc((size_t)nloc + 2, sizeof(size_t)), *dev_first = calloc((size_t)ndev + 2, sizeof(size_t));
    if (!loc_first || !dev_first) {
        free(loc_first);
        free(dev_first);
        goto nomem;
    }
    for (uint32_t c = 0; c < ncell; c++) {
        if (cm.loc[c] != ABSENT && cm.dev[c] != ABSENT)
            nfine++;
        if (cm.loc[c] != ABSENT && loc_first[cm.loc[c] + 1]++ == 0)
            nsegloc++;
        if (cm.dev[c] != ABSENT && dev_first[cm.dev[c] + 1]++ == 0)
            nsegdev++;
    }
    for (uint32_t l = 0; l < nloc; l++)
        loc_first[l + 1] += loc_first[l];
    for (uint32_t v = 0; v < ndev; v++)
        dev_first[v + 1] += dev_first[v];
    nlocated = (uint32_t)loc_first[nloc];
    ndeviced = (uint32_t)dev_first[ndev];
    size_t nseg = (size_t)nfine + nsegloc + nsegdev + 1;
    size_t loc_base = nfine, dev_base = loc_base + nlocated, all_base = dev_base + ndeviced;
    segs = calloc(nseg, sizeof(*segs));
    seg_cells = malloc((all_base + ncell + 1) * sizeof(*seg_cells));
    if (!segs || !seg_cells) {
        free(loc_first);
        free(dev_first);
        goto nomem;
    }
    size_t s = 0, fine_at = 0;
    for (uint32_t c = 0; c < ncell; c++) {
        uint32_t l = cm.loc[c], v = cm.dev[c];
        if (l != ABSENT && v != ABSENT) {
            segs[s++] = (struct segment){l, v, fine_at, 1};
            seg_cells[fine_at++] = c;
        }
        seg_cells[all_base + c] = c;
    }
    /* Fill by location / device (loc_first[l] advances to the next free slot). */
    for (uint32_t c = 0; c < ncell; c++) {
        if (cm.loc[c] != ABSENT)
            seg_cells[loc_base + loc_first[cm.loc[c]]++] = c;
        if (cm.dev[c] != ABSENT)
            seg_cells[dev_base + dev_first[cm.dev[c]]++] = c;
    }
    /* Now loc_first[l] is the end of l's range; its start is the previous end. */
    for (uint32_t l = 0, prev = 0; l < nloc; l++) {
        if (loc_first[l] > prev)
            segs[s++] = (struct segment){l, ABSENT, loc_base + prev, loc_first[l] - prev};
        prev = (uint32_t)loc_first[l];
    }
    for (uint32_t v = 0, prev = 0; v < ndev; v++) {
        if (dev_first[v] > prev)
            segs[s++] = (struct segment){ABSENT, v, dev_base + prev, dev_first[v] - prev};
        prev = (uint32_t)dev_first[v];
    }
    segs[s++] = (struct segment){ABSENT, ABSENT, all_base, ncell};
    free(loc_first);
    free(dev_first);

    if ((rc = rb_lists_init(out, nseg, n)) != 0) {
        rc = rc_fail(err, rc, "unable to allocate %zu segment lists: %s", nseg, rc_strerror(rc));
        goto out;
    }

    /* Sum and rank each segment. */
    int failed = 0;
#pragma omp parallel
    {
        struct scratch sc = {calloc(nprod ? nprod : 1, sizeof(double)), malloc((nprod ? nprod : 1) * sizeof(uint32_t)), 0};
        if (!sc.acc || !sc.touched) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (size_t g = 0; g < nseg; g++) {
            if (!sc.acc || !sc.touched)
                continue;
            const struct segment *sg = &segs[g];
            for (size_t j = 0; j < sg->count; j++) {
                uint32_t c = seg_cells[sg->first + j];
                for (size_t q = cell_start[c]; q < cell_start[c + 1]; q++) {
                    uint32_t p = pair_prod[q];
                    if (!(pair_w[q] > 0))
                        continue; /* so that acc[p] == 0 means "not touched yet" */
                    if (sc.acc[p] == 0)
                        sc.touched[sc.ntouched++] = p;
                    sc.acc[p] += pair_w[q];
                }
            }
            out->len[g] = top_k(&sc, d->in_stock, n, out->items + g * n, out->scores + g * n);
            size_t llen = 1, dlen = 1;
            const char *ls = RC_WILDCARD, *ds = RC_WILDCARD;
            if (sg->loc != ABSENT)
                ls = rb_strtab_str(&d->locs, sg->loc, &llen);
            if (sg->dev != ABSENT)
                ds = rb_strtab_str(&d->devices, sg->dev, &dlen);
            out->owner_key[g] = rc_segment_key(ls, llen, ds, dlen);
            out->source[g] = (sg->loc == ABSENT && sg->dev == ABSENT) ? RC_SRC_GLOBAL : RC_SRC_SEGMENT;
        }
        free(sc.acc);
        free(sc.touched);
    }
    if (failed)
        goto nomem;
    goto out;

nomem:
    rc = rc_fail(err, -ENOMEM, "out of memory computing segment popularity");
    rb_lists_release(out);
out:
    cellmap_release(&cm);
    free(loc_wild);
    free(dev_wild);
    free(ev_cell);
    free(cell_start);
    free(pair_prod);
    free(pair_w);
    free(segs);
    free(seg_cells);
    return rc;
}
