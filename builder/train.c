/*
 * train.c - the training matrices from the events (train.h).
 *
 * Semantics, in the order they apply:
 *   1. Window: with window_days > 0, events with ts < ts_max - window_days
 *      are ignored entirely (ts_max is the newest event, d->ts_max).
 *   2. Activity: a cookie gets a row when at least max(min_events, 1) of its
 *      windowed events have ts >= ts_max - active_days (active_days 0: the
 *      whole window). Rows are in ascending cookie index order.
 *   3. Sample (0 < sample < 1): a cookie is kept with probability `sample`,
 *      by a hash of split_seed and its key, so the same cookies are kept
 *      whatever the other options (the tuner trains on such a sample).
 *   4. Holdout (holdout = h > 0, skip = holdout_skip): a cookie's distinct
 *      purchased products are ordered latest purchase first (by timestamp,
 *      ties by input order: the later line wins), or, with RB_SPLIT_RANDOM,
 *      by a hash of split_seed and the cookie's and product's keys. A cookie
 *      with at least skip + 1 of them drops the first skip products entirely
 *      (the evaluation's, when the tuner validates); if at least h + 1
 *      remain, it holds out the next h. All of the cookie's events on a
 *      dropped or held-out product (views and carts too) leave its training
 *      data; held-out products go to `heldout` (value 1).
 *   5. ui: per (row, product), the sum over the remaining events of
 *      weight[type] * 0.5^((ts_max - ts) / half_life), summed in input
 *      order; a sum that rounds to 0 (events many half-lives old) is stored
 *      as FLT_MIN, so decay never erases an interaction and the rows do
 *      not depend on the half-life. Events of weight 0 add no entry; a
 *      cookie whose row ends up empty gets no row at all.
 *   6. bought: the products the row purchased in its training data (value
 *      1); row_wants_list: the row has >= min_purchases purchase events in
 *      its training data.
 * Columns are all products (cols = d->products.n) in every matrix.
 *
 * Cost: O(events) counting sort of the windowed events by cookie, then each
 * cookie's events sorted by product (they are few); peak memory about
 * 4 bytes per windowed event for the order, the ui and iu matrices (8 bytes
 * per entry each) and 4 bytes per cookie.
 */
#include "train.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "rand.h"

#define SECONDS_PER_DAY 86400.0

void rb_train_opts_default(struct rb_train_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->weight[RB_VIEW] = 1.0f;     /* a view says little ... */
    o->weight[RB_CART] = 3.0f;     /* ... a cart more ... */
    o->weight[RB_PURCHASE] = 10.0f; /* ... a purchase most */
    o->weight[RB_CLICK] = 1.0f;    /* a click on a recommendation is a view (recbuild --weight-click) */
    o->half_life_days = 14.0;      /* an event two weeks older counts half */
    o->window_days = 0.0;          /* 0: every event ingested */
    o->min_events = 1;             /* every cookie with an event trains */
    o->active_days = 0.0;          /* 0: activity counted over the whole window */
    o->min_purchases = 1;          /* CF lists for cookies that purchased */
    o->holdout = 0;                /* 0: no evaluation holdout */
    o->holdout_skip = 0;
    o->holdout_split = RB_SPLIT_TEMPORAL;
    o->split_seed = 0;
    o->sample = 0.0;               /* 0: every cookie */
}

/* A uniform draw in [0, 1) from the seed and a key: the same for the same pair. */
static double draw(uint64_t seed, uint64_t key)
{
    return rb_rand_unit(rb_splitmix64(seed ^ rb_splitmix64(key)));
}

void rb_train_release(struct rb_train *t)
{
    rb_csr_release(&t->ui);
    rb_csr_release(&t->iu);
    rb_csr_release(&t->bought);
    rb_csr_release(&t->heldout);
    free(t->row_cookie);
    free(t->row_wants_list);
    memset(t, 0, sizeof(*t));
}

double rb_decay(int64_t ts, int64_t ts_max, double half_life_days)
{
    if (!(half_life_days > 0))
        return 1.0;
    return exp2(-((double)(ts_max - ts) / SECONDS_PER_DAY) / half_life_days);
}

/* One windowed event of the cookie at hand: its product and input index. */
struct item {
    uint32_t product;
    uint32_t idx;
};

/* A distinct purchased product with its last purchase; rnd orders RB_SPLIT_RANDOM. */
struct last_purchase {
    int64_t ts;
    uint64_t rnd;
    uint32_t idx;
    uint32_t product;
};

static int cmp_item(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    if (x->product != y->product)
        return x->product < y->product ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static void sort_items(struct item *it, size_t n)
{
    if (n > 24) {
        qsort(it, n, sizeof(*it), cmp_item);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        struct item v = it[i];
        size_t j = i;
        while (j && cmp_item(&it[j - 1], &v) > 0) {
            it[j] = it[j - 1];
            j--;
        }
        it[j] = v;
    }
}

/* Latest first: ts descending, then input index descending. */
static int cmp_latest(const void *a, const void *b)
{
    const struct last_purchase *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts > y->ts ? -1 : 1;
    return x->idx > y->idx ? -1 : x->idx < y->idx;
}

static int cmp_random(const void *a, const void *b)
{
    const struct last_purchase *x = a, *y = b;
    if (x->rnd != y->rnd)
        return x->rnd < y->rnd ? -1 : 1;
    return x->product < y->product ? -1 : x->product > y->product;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int csr_alloc(struct rb_csr *m, uint32_t rows, uint32_t cols, uint64_t nnz_cap)
{
    m->rows = rows;
    m->cols = cols;
    m->nnz = 0;
    m->indptr = calloc((size_t)rows + 1, sizeof(*m->indptr));
    m->indices = malloc((nnz_cap ? nnz_cap : 1) * sizeof(*m->indices));
    m->values = malloc((nnz_cap ? nnz_cap : 1) * sizeof(*m->values));
    return m->indptr && m->indices && m->values ? 0 : -ENOMEM;
}

/* Give back the unused tail of a matrix built with an upper bound. */
static void csr_shrink(struct rb_csr *m, uint32_t rows)
{
    m->rows = rows;
    uint64_t *ip = realloc(m->indptr, ((size_t)rows + 1) * sizeof(*ip));
    if (ip)
        m->indptr = ip;
    size_t n = m->nnz ? m->nnz : 1;
    uint32_t *ix = realloc(m->indices, n * sizeof(*ix));
    if (ix)
        m->indices = ix;
    float *v = realloc(m->values, n * sizeof(*v));
    if (v)
        m->values = v;
}

/* out = transpose of m; columns come out with their rows in ascending order. */
static int csr_transpose(struct rb_csr *out, const struct rb_csr *m)
{
    if (csr_alloc(out, m->cols, m->rows, m->nnz))
        return -ENOMEM;
    out->nnz = m->nnz;
    for (uint64_t k = 0; k < m->nnz; k++)
        out->indptr[m->indices[k] + 1]++;
    for (uint32_t c = 0; c < m->cols; c++)
        out->indptr[c + 1] += out->indptr[c];
    uint64_t *cursor = malloc(((size_t)m->cols + 1) * sizeof(*cursor));
    if (!cursor)
        return -ENOMEM;
    memcpy(cursor, out->indptr, ((size_t)m->cols + 1) * sizeof(*cursor));
    for (uint32_t r = 0; r < m->rows; r++)
        for (uint64_t k = m->indptr[r]; k < m->indptr[r + 1]; k++) {
            uint64_t at = cursor[m->indices[k]]++;
            out->indices[at] = r;
            out->values[at] = m->values[k];
        }
    free(cursor);
    return 0;
}

static int check_opts(const struct rb_train_opts *o, char *err)
{
    for (int i = 0; i < RB_EVENT_TYPES; i++)
        if (!(o->weight[i] >= 0) || !isfinite(o->weight[i]))
            return rc_fail(err, RC_ERANGE, "event weight %d is %g (expected a finite value >= 0)", i,
                           (double)o->weight[i]);
    if (!(o->half_life_days >= 0) || !isfinite(o->half_life_days))
        return rc_fail(err, RC_ERANGE, "half-life %g days (expected >= 0)", o->half_life_days);
    if (!(o->window_days >= 0) || !isfinite(o->window_days))
        return rc_fail(err, RC_ERANGE, "window %g days (expected >= 0)", o->window_days);
    if (!(o->active_days >= 0) || !isfinite(o->active_days))
        return rc_fail(err, RC_ERANGE, "active period %g days (expected >= 0)", o->active_days);
    if (!(o->sample >= 0) || !isfinite(o->sample))
        return rc_fail(err, RC_ERANGE, "cookie sample %g (expected a share from 0 to 1)", o->sample);
    if (o->holdout_split != RB_SPLIT_TEMPORAL && o->holdout_split != RB_SPLIT_RANDOM)
        return rc_fail(err, RC_ERANGE, "holdout split %d is neither temporal nor random", o->holdout_split);
    return 0;
}

int64_t rb_window_start(int64_t ts_max, double days)
{
    if (!(days > 0))
        return INT64_MIN;
    double lo = (double)ts_max - days * SECONDS_PER_DAY;
    return lo <= (double)INT64_MIN ? INT64_MIN : (int64_t)ceil(lo);
}

/* The windowed events grouped by cookie: a stable counting sort (input order within a cookie). */
struct by_cookie {
    uint32_t *end;           /* [cookies + 1]: cookie c's events are order[c ? end[c - 1] : 0, end[c]) */
    uint32_t *order;         /* [nwin] event indices */
    uint64_t nwin, npurch;   /* windowed events, and purchases among them */
    uint32_t maxk;           /* most windowed events of one cookie */
    uint32_t active_cookies; /* cookies with a windowed event: the most rows there can be */
};

static void by_cookie_release(struct by_cookie *g)
{
    free(g->end);
    free(g->order);
}

/* Errors: -ENOMEM. With no event in the window, g->nwin is 0. */
static int group_by_cookie(struct by_cookie *g, const struct rb_dataset *d, int64_t ts_lo)
{
    const struct rb_event *ev = d->events;
    const uint32_t ncookies = d->cookies.n;
    memset(g, 0, sizeof(*g));
    uint32_t *start = calloc((size_t)ncookies + 1, sizeof(*start));
    if (!start)
        return -ENOMEM;
    uint64_t nwin = 0, npurch = 0;
    for (size_t i = 0; i < d->nevents; i++)
        if (ev[i].ts >= ts_lo) {
            start[ev[i].cookie + 1]++;
            nwin++;
            npurch += ev[i].type == RB_PURCHASE;
        }
    uint32_t maxk = 0, active_cookies = 0;
    for (uint32_t c = 0; c < ncookies; c++) {
        uint32_t k = start[c + 1];
        if (k > maxk)
            maxk = k;
        active_cookies += k > 0;
        start[c + 1] += start[c];
    }
    *g = (struct by_cookie){start, NULL, nwin, npurch, maxk, active_cookies};
    if (nwin == 0)
        return 0;
    uint32_t *order = malloc(nwin * sizeof(*order));
    if (!(g->order = order))
        return -ENOMEM;
    for (size_t i = 0; i < d->nevents; i++)
        if (ev[i].ts >= ts_lo)
            order[start[ev[i].cookie]++] = (uint32_t)i;
    /* start[c] now holds the end of cookie c, i.e. the beginning of c + 1. */
    return 0;
}

/* One cookie's working set, sized for the largest cookie. */
struct row_scratch {
    struct item *items;       /* [maxk] its windowed events, by product then input order */
    struct last_purchase *lp; /* [maxk] its distinct purchased products */
    uint32_t *held, *drop;    /* products held out, and those leaving the row (held out or skipped), ascending */
    uint32_t nheld, ndrop;
};

static void row_scratch_release(struct row_scratch *s)
{
    free(s->items);
    free(s->lp);
    free(s->held);
    free(s->drop);
}

/* Errors: -ENOMEM. */
static int row_scratch_alloc(struct row_scratch *s, uint32_t maxk, const struct rb_train_opts *o)
{
    memset(s, 0, sizeof(*s));
    /* At most min(holdout, largest cookie) products are held out of one row,
     * and min(skip + holdout, largest cookie) leave it. */
    uint64_t nleave = (uint64_t)o->holdout + o->holdout_skip;
    s->items = malloc((size_t)maxk * sizeof(*s->items));
    s->lp = malloc((size_t)maxk * sizeof(*s->lp));
    s->held = malloc(((size_t)(o->holdout < maxk ? o->holdout : maxk) + 1) * sizeof(*s->held));
    s->drop = malloc(((size_t)(nleave < maxk ? nleave : maxk) + 1) * sizeof(*s->drop));
    return s->items && s->lp && s->held && s->drop ? 0 : -ENOMEM;
}

/* Room in t for up to `rows` rows of the windowed events. Errors: -ENOMEM. */
static int train_alloc(struct rb_train *t, uint32_t rows, uint32_t cols, const struct by_cookie *g,
                       const struct rb_train_opts *o)
{
    t->row_cookie = malloc((rows ? rows : 1) * sizeof(*t->row_cookie));
    t->row_wants_list = malloc(rows ? rows : 1);
    if (!t->row_cookie || !t->row_wants_list || csr_alloc(&t->ui, rows, cols, g->nwin) ||
        csr_alloc(&t->bought, rows, cols, g->npurch) || csr_alloc(&t->heldout, rows, cols, o->holdout ? g->npurch : 0))
        return -ENOMEM;
    return 0;
}

/* Rule 2's threshold: min_events, at least 1. */
static uint32_t min_events(const struct rb_train_opts *o)
{
    return o->min_events ? o->min_events : 1;
}

/* Does the cookie with windowed events ev_idx[0, k) train: active enough, and in the sample? */
static int cookie_trains(const struct rb_dataset *d, const struct rb_train_opts *o, uint32_t c, const uint32_t *ev_idx,
                         uint32_t k, int64_t ts_active, uint32_t min_ev)
{
    if (k < min_ev)
        return 0;
    uint32_t active = 0;
    for (uint32_t j = 0; j < k; j++)
        active += d->events[ev_idx[j]].ts >= ts_active;
    if (active < min_ev)
        return 0;
    return !(o->sample > 0 && o->sample < 1) || draw(o->split_seed, d->cookies.keys[c]) < o->sample;
}

/* The holdout of cookie c, whose k events are in s->items: s->drop and s->held (rule 4 above). */
static void pick_holdout(struct row_scratch *s, const struct rb_dataset *d, const struct rb_train_opts *o, uint32_t c,
                         uint32_t k)
{
    const struct rb_event *ev = d->events;
    struct item *items = s->items;
    struct last_purchase *lp = s->lp;
    s->nheld = s->ndrop = 0;
    if ((uint64_t)o->holdout + o->holdout_skip == 0)
        return;
    /* Each distinct purchased product with its last purchase. */
    uint32_t np = 0;
    for (uint32_t j = 0; j < k;) {
        uint32_t p = items[j].product, found = 0;
        for (; j < k && items[j].product == p; j++) {
            const struct rb_event *x = &ev[items[j].idx];
            if (x->type != RB_PURCHASE)
                continue;
            if (!found || x->ts > lp[np].ts || (x->ts == lp[np].ts && items[j].idx > lp[np].idx))
                lp[np] = (struct last_purchase){x->ts, 0, items[j].idx, p};
            found = 1;
        }
        np += found;
    }
    uint32_t skip = np >= (uint64_t)o->holdout_skip + 1 ? o->holdout_skip : 0;
    uint32_t take = np - skip >= (uint64_t)o->holdout + 1 ? o->holdout : 0;
    if (skip + take == 0)
        return;
    if (o->holdout_split == RB_SPLIT_RANDOM) {
        uint64_t ck = rb_splitmix64(o->split_seed ^ rb_splitmix64(d->cookies.keys[c]));
        for (uint32_t j = 0; j < np; j++)
            lp[j].rnd = rb_splitmix64(ck ^ rb_splitmix64(d->products.keys[lp[j].product]));
        qsort(lp, np, sizeof(*lp), cmp_random);
    } else {
        qsort(lp, np, sizeof(*lp), cmp_latest);
    }
    for (s->ndrop = 0; s->ndrop < skip + take; s->ndrop++)
        s->drop[s->ndrop] = lp[s->ndrop].product;
    for (s->nheld = 0; s->nheld < take; s->nheld++)
        s->held[s->nheld] = lp[skip + s->nheld].product;
    qsort(s->drop, s->ndrop, sizeof(*s->drop), cmp_u32);
    qsort(s->held, s->nheld, sizeof(*s->held), cmp_u32);
}

/* A cookie's events on one product, summed. */
struct product_sum {
    double w;           /* weight[type] * decay summed over the events of positive weight, in input order */
    int weighted;       /* one of them had a positive weight */
    uint32_t purchases;
};

/* Sum items[j, ...) while they are on items[j]'s product; returns the index of the next product's first item. */
static uint32_t sum_product(struct product_sum *ps, const struct item *items, uint32_t j, uint32_t k,
                            const struct rb_dataset *d, const struct rb_train_opts *o)
{
    const uint32_t p = items[j].product;
    double w = 0;
    int weighted = 0;
    uint32_t purchases = 0;
    for (; j < k && items[j].product == p; j++) {
        const struct rb_event *x = &d->events[items[j].idx];
        float wt = o->weight[x->type < RB_EVENT_TYPES ? x->type : RB_VIEW];
        purchases += x->type == RB_PURCHASE;
        if (wt > 0) {
            w += wt * rb_decay(x->ts, d->ts_max, o->half_life_days);
            weighted = 1;
        }
    }
    *ps = (struct product_sum){w, weighted, purchases};
    return j;
}

/*
 * Row `*rows` of t from cookie c's k events in s->items, less the products
 * in s->drop (rules 5 and 6 above). Written past the committed entries and
 * kept only when non-empty: then *rows grows by one.
 */
static void add_row(struct rb_train *t, uint32_t *rows, const struct row_scratch *s, const struct rb_dataset *d,
                    const struct rb_train_opts *o, uint32_t c, uint32_t k)
{
    const struct item *items = s->items;
    uint64_t ui0 = t->ui.nnz, bo0 = t->bought.nnz, ui_n = 0, bo_n = 0;
    uint32_t purchases = 0, h = 0;
    for (uint32_t j = 0; j < k;) {
        uint32_t p = items[j].product;
        while (h < s->ndrop && s->drop[h] < p)
            h++;
        if (h < s->ndrop && s->drop[h] == p) {
            while (j < k && items[j].product == p)
                j++;
            continue;
        }
        struct product_sum ps;
        j = sum_product(&ps, items, j, k, d, o);
        purchases += ps.purchases;
        if (ps.weighted) {
            /* Decay lowers the confidence of an old interaction, never
             * erases it: a weight that rounds to 0 is stored as FLT_MIN. */
            float fw = (float)ps.w;
            t->ui.indices[ui0 + ui_n] = p;
            t->ui.values[ui0 + ui_n] = fw > 0 ? fw : FLT_MIN;
            ui_n++;
        }
        if (ps.purchases) {
            t->bought.indices[bo0 + bo_n] = p;
            t->bought.values[bo0 + bo_n] = 1.0f;
            bo_n++;
        }
    }
    if (ui_n == 0)
        return;
    t->ui.nnz += ui_n;
    t->bought.nnz += bo_n;
    for (uint32_t i = 0; i < s->nheld; i++) {
        t->heldout.indices[t->heldout.nnz] = s->held[i];
        t->heldout.values[t->heldout.nnz++] = 1.0f;
    }
    t->row_cookie[*rows] = c;
    t->row_wants_list[*rows] = purchases >= o->min_purchases;
    (*rows)++;
    t->ui.indptr[*rows] = t->ui.nnz;
    t->bought.indptr[*rows] = t->bought.nnz;
    t->heldout.indptr[*rows] = t->heldout.nnz;
}

/* Give back the room of the rows not used, and build iu. Errors: -ENOMEM. */
static int train_finish(struct rb_train *t, uint32_t rows)
{
    csr_shrink(&t->ui, rows);
    csr_shrink(&t->bought, rows);
    csr_shrink(&t->heldout, rows);
    uint32_t *rc_ = realloc(t->row_cookie, (size_t)rows * sizeof(*rc_));
    if (rc_)
        t->row_cookie = rc_;
    uint8_t *rw = realloc(t->row_wants_list, rows);
    if (rw)
        t->row_wants_list = rw;
    return csr_transpose(&t->iu, &t->ui);
}

/*
 * The rows of t from the events (rules 1 to 6 above); *nwin is the number of
 * events in the window (0: none, and no rows). Errors: -ENOMEM.
 */
static int fill_rows(struct rb_train *t, uint32_t *rows, uint64_t *nwin, const struct rb_dataset *d,
                     const struct rb_train_opts *o)
{
    const int64_t ts_active = rb_window_start(d->ts_max, o->active_days);
    const uint32_t min_ev = min_events(o);
    struct by_cookie g;
    struct row_scratch s;
    memset(&s, 0, sizeof(s));
    int rc = group_by_cookie(&g, d, rb_window_start(d->ts_max, o->window_days));
    *nwin = g.nwin;
    if (rc == 0 && g.nwin > 0 && (rc = row_scratch_alloc(&s, g.maxk, o)) == 0 &&
        (rc = train_alloc(t, g.active_cookies, d->products.n, &g, o)) == 0) {
        for (uint32_t c = 0; c < d->cookies.n; c++) {
            uint32_t b = c ? g.end[c - 1] : 0, k = g.end[c] - b;
            if (!cookie_trains(d, o, c, g.order + b, k, ts_active, min_ev))
                continue;
            for (uint32_t j = 0; j < k; j++)
                s.items[j] = (struct item){d->events[g.order[b + j]].product, g.order[b + j]};
            sort_items(s.items, k);
            pick_holdout(&s, d, o, c, k);
            add_row(t, rows, &s, d, o, c, k);
        }
    }
    by_cookie_release(&g);
    row_scratch_release(&s);
    return rc;
}

int rb_train_build(struct rb_train *t, const struct rb_dataset *d, const struct rb_train_opts *o, char *err)
{
    memset(t, 0, sizeof(*t));
    int rc = check_opts(o, err);
    if (rc)
        return rc;
    if (d->nevents == 0)
        return rc_fail(err, RC_EEMPTY, "no events to train on");
    if (d->nevents > UINT32_MAX)
        return rc_fail(err, RC_ERANGE, "%zu events is more than training indexes (%" PRIu32 ")", d->nevents,
                       UINT32_MAX);

    uint32_t rows = 0;
    uint64_t nwin = 0;
    rc = fill_rows(t, &rows, &nwin, d, o);
    if (rc == 0 && nwin == 0)
        rc = rc_fail(err, RC_EEMPTY, "no event within the %g-day window", o->window_days);
    else if (rc == 0 && rows == 0)
        rc = rc_fail(err, RC_EEMPTY,
                     "no cookie passes the thresholds (%" PRIu64 " events in the window, min_events %" PRIu32
                     " within %g active days)",
                     nwin, min_events(o), o->active_days);
    else if (rc == 0)
        rc = train_finish(t, rows);
    if (rc == -ENOMEM)
        rc = rc_fail(err, rc, "out of memory building the training matrix (%zu events)", d->nevents);
    if (rc)
        rb_train_release(t);
    return rc;
}
