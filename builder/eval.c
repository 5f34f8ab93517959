/*
 * eval.c - offline metrics of the CF lists on held-out purchases.
 *
 * A row is evaluated when it has held-out products (t->heldout) and its
 * cookie has a CF list (matched by owner key). For each, with H its
 * held-out set and L its first k recommendations:
 *   HR@k      1 if L meets H
 *   Recall@k  |L n H| / min(k, |H|)
 *   NDCG@k    sum_{j: L_j in H} 1/log2(j+2) over the same sum for the
 *             first min(k, |H|) ranks (binary relevance)
 *   P@k       |L n H| / k
 * each averaged over the evaluated rows. The baseline list of a row is the
 * in-stock products by training popularity - purchases in t->bought, then
 * summed training weight in t->ui, then lower index - skipping the row's
 * bought products when the CF lists skip them (exclude_bought).
 *
 * Coverage and popularity bias look at every entry of every CF list:
 * distinct products / in-stock products, and the share of entries that are
 * among the top 1% (at least one) of in-stock products by that popularity.
 */
#include "eval.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

struct pop_item {
    uint64_t purchases;
    double weight;
    uint32_t i;
};

static int cmp_pop(const void *a, const void *b)
{
    const struct pop_item *x = a, *y = b;
    if (x->purchases != y->purchases)
        return x->purchases > y->purchases ? -1 : 1;
    if (x->weight != y->weight)
        return x->weight > y->weight ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

struct key_list {
    uint64_t key;
    size_t li;
};

static int cmp_key_list(const void *a, const void *b)
{
    const struct key_list *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key;
}

/* 1 if v is in the ascending indices of row r of m. */
static int in_row(const struct rb_csr *m, uint32_t r, uint32_t v)
{
    if (!m->indptr || r >= m->rows)
        return 0;
    uint64_t lo = m->indptr[r], hi = m->indptr[r + 1];
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (m->indices[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->indptr[r + 1] && m->indices[lo] == v;
}

/* Add one ranked list's metrics for held-out row r. */
static void score_list(const uint32_t *items, uint32_t len, const struct rb_csr *h, uint32_t r, uint32_t k,
                       double *hr, double *recall, double *ndcg, double *precision)
{
    uint64_t nh = h->indptr[r + 1] - h->indptr[r];
    uint32_t hits = 0;
    double dcg = 0.0, idcg = 0.0;
    for (uint32_t j = 0; j < len && j < k; j++) {
        if (in_row(h, r, items[j])) {
            hits++;
            dcg += 1.0 / log2((double)j + 2.0);
        }
    }
    uint32_t ideal = nh < k ? (uint32_t)nh : k;
    for (uint32_t j = 0; j < ideal; j++)
        idcg += 1.0 / log2((double)j + 2.0);
    *hr += hits > 0;
    *recall += (double)hits / (double)ideal;
    *ndcg += dcg / idcg;
    *precision += (double)hits / (double)k;
}

int rb_eval_holdout(struct rb_eval *out, const struct rb_lists *cf, const struct rb_train *t,
                    const struct rb_dataset *d, uint32_t k, int exclude_bought, char *err)
{
    return rb_eval_holdout_rows(out, cf, t, d, k, exclude_bought, NULL, err);
}

int rb_eval_holdout_rows(struct rb_eval *out, const struct rb_lists *cf, const struct rb_train *t,
                         const struct rb_dataset *d, uint32_t k, int exclude_bought, double *row_ndcg, char *err)
{
    memset(out, 0, sizeof(*out));
    if (row_ndcg)
        for (uint32_t r = 0; r < t->ui.rows; r++)
            row_ndcg[r] = NAN;
    out->k = k;
    if (k == 0 || k > RC_LIST_MAX)
        return rc_fail(err, RC_ERANGE, "eval: k %u outside 1..%u", k, RC_LIST_MAX);

    uint32_t items = t->ui.cols;
    int rc = 0;
    struct pop_item *pop = malloc(sizeof(*pop) * ((size_t)items + 1));
    uint32_t *ranked = malloc(sizeof(uint32_t) * ((size_t)items + 1));
    uint8_t *top = calloc((size_t)items + 1, 1);
    uint8_t *seen = calloc((size_t)items + 1, 1);
    struct key_list *keys = malloc(sizeof(*keys) * (cf->n + 1));
    uint32_t *base = malloc(sizeof(uint32_t) * ((size_t)k + 1));
    if (!pop || !ranked || !top || !seen || !keys || !base) {
        rc = rc_fail(err, -ENOMEM, "eval: out of memory for %u products", items);
        goto out;
    }

    /* popularity over in-stock products */
    for (uint32_t i = 0; i < items; i++)
        pop[i] = (struct pop_item){0, 0.0, i};
    if (t->bought.indptr)
        for (uint64_t j = 0; j < t->bought.nnz; j++)
            if (t->bought.indices[j] < items)
                pop[t->bought.indices[j]].purchases++;
    if (t->ui.indptr)
        for (uint64_t j = 0; j < t->ui.nnz; j++)
            pop[t->ui.indices[j]].weight += t->ui.values[j];
    uint32_t nstock = 0;
    for (uint32_t i = 0; i < items; i++)
        if (i < d->products.n && (!d->in_stock || d->in_stock[i]))
            pop[nstock++] = pop[i];
    qsort(pop, nstock, sizeof(*pop), cmp_pop);
    for (uint32_t j = 0; j < nstock; j++)
        ranked[j] = pop[j].i;
    uint32_t ntop = nstock / 100 > 0 ? nstock / 100 : 1;
    for (uint32_t j = 0; j < ntop && j < nstock; j++)
        top[ranked[j]] = 1;

    /* coverage and popularity bias over every CF entry */
    uint64_t slots = 0, top_slots = 0, distinct = 0;
    for (size_t li = 0; li < cf->n; li++) {
        for (uint32_t j = 0; j < cf->len[li]; j++) {
            uint32_t p = cf->items[li * cf->k + j];
            if (p >= items)
                continue;
            slots++;
            top_slots += top[p];
            if (!seen[p]) {
                seen[p] = 1;
                distinct++;
            }
        }
    }
    out->coverage = nstock ? (double)distinct / (double)nstock : 0.0;
    out->pop_bias = slots ? (double)top_slots / (double)slots : 0.0;

    /* held-out rows -> CF lists by cookie key */
    for (size_t li = 0; li < cf->n; li++)
        keys[li] = (struct key_list){cf->owner_key[li], li};
    qsort(keys, cf->n, sizeof(*keys), cmp_key_list);
    const struct rb_csr *h = &t->heldout;
    uint32_t hrows = !h->indptr || !t->row_cookie ? 0 : h->rows < t->ui.rows ? h->rows : t->ui.rows;
    for (uint32_t r = 0; r < hrows; r++) {
        if (h->indptr[r + 1] == h->indptr[r] || t->row_cookie[r] >= d->cookies.n)
            continue;
        struct key_list want = {d->cookies.keys[t->row_cookie[r]], 0};
        const struct key_list *hit = cf->n ? bsearch(&want, keys, cf->n, sizeof(*keys), cmp_key_list) : NULL;
        if (!hit)
            continue;
        out->users++;
        double ndcg_before = out->ndcg;
        score_list(cf->items + hit->li * cf->k, cf->len[hit->li], h, r, k, &out->hr, &out->recall, &out->ndcg,
                   &out->precision);
        if (row_ndcg)
            row_ndcg[r] = out->ndcg - ndcg_before;

        uint32_t nb = 0;
        for (uint32_t j = 0; j < nstock && nb < k; j++)
            if (!exclude_bought || !in_row(&t->bought, r, ranked[j]))
                base[nb++] = ranked[j];
        score_list(base, nb, h, r, k, &out->pop_hr, &out->pop_recall, &out->pop_ndcg, &out->pop_precision);
    }
    if (out->users > 0) {
        double u = (double)out->users;
        out->hr /= u;
        out->recall /= u;
        out->ndcg /= u;
        out->precision /= u;
        out->pop_precision /= u;
        out->pop_hr /= u;
        out->pop_recall /= u;
        out->pop_ndcg /= u;
    }
out:
    free(pop);
    free(ranked);
    free(top);
    free(seen);
    free(keys);
    free(base);
    return rc;
}

double rb_eval_lift(const struct rb_eval *e)
{
    return e->pop_ndcg > 0 ? e->ndcg / e->pop_ndcg : 0.0;
}

/* The embedding row of each product (-1: none), for rb_eval_diversity. */
static int32_t *embedding_rows(const struct rb_dataset *d)
{
    int32_t *row = malloc((d->products.n ? d->products.n : 1) * sizeof(*row));
    if (!row)
        return NULL;
    for (uint32_t p = 0; p < d->products.n; p++)
        row[p] = -1;
    for (uint32_t r = 0; r < d->emb_rows; r++)
        if (d->emb_product[r] < d->products.n && row[d->emb_product[r]] < 0)
            row[d->emb_product[r]] = (int32_t)r;
    return row;
}

int rb_eval_diversity(struct rb_diversity *out, const struct rb_lists *l, const struct rb_dataset *d, uint32_t k,
                      char *err)
{
    memset(out, 0, sizeof(*out));
    out->k = k;
    out->ild_category = out->ild_embedding = NAN;
    if (k == 0 || k > RC_LIST_MAX)
        return rc_fail(err, RC_ERANGE, "diversity: k %u outside 1..%u", k, RC_LIST_MAX);
    uint32_t np = d->products.n;
    uint8_t *seen = calloc(np ? np : 1, 1);
    int32_t *row = d->emb_rows ? embedding_rows(d) : NULL;
    if (!seen || (d->emb_rows && !row)) {
        free(seen);
        free(row);
        return rc_fail(err, -ENOMEM, "diversity: out of memory for %u products", np);
    }
    double cat_sum = 0, emb_sum = 0;
    uint64_t cat_lists = 0, emb_lists = 0, lists = 0, entries = 0;
#pragma omp parallel for schedule(dynamic, 256) reduction(+ : cat_sum, emb_sum, cat_lists, emb_lists, lists, entries)
    for (size_t li = 0; li < l->n; li++) {
        uint32_t n = l->len[li] < k ? l->len[li] : k;
        const uint32_t *it = l->items + li * l->k;
        lists += n > 0;
        entries += n;
        for (uint32_t a = 0; a < n; a++)
            if (it[a] < np)
                __atomic_store_n(&seen[it[a]], 1, __ATOMIC_RELAXED);
        uint64_t cat_pairs = 0, cat_diff = 0, emb_pairs = 0;
        double emb_dist = 0;
        for (uint32_t a = 0; a < n; a++)
            for (uint32_t b = a + 1; b < n; b++) {
                uint32_t x = it[a], y = it[b];
                if (x >= np || y >= np)
                    continue;
                uint32_t cx = d->category ? d->category[x] : RB_NONE, cy = d->category ? d->category[y] : RB_NONE;
                if (cx != RB_NONE && cy != RB_NONE) {
                    cat_pairs++;
                    cat_diff += cx != cy;
                }
                if (row && row[x] >= 0 && row[y] >= 0) {
                    const float *u = d->emb + (size_t)row[x] * d->dim, *v = d->emb + (size_t)row[y] * d->dim;
                    double dot = 0;
                    for (uint32_t i = 0; i < d->dim; i++)
                        dot += (double)u[i] * v[i];
                    emb_pairs++;
                    emb_dist += 1.0 - dot;
                }
            }
        if (cat_pairs) {
            cat_sum += (double)cat_diff / (double)cat_pairs;
            cat_lists++;
        }
        if (emb_pairs) {
            emb_sum += emb_dist / (double)emb_pairs;
            emb_lists++;
        }
    }
    uint64_t distinct = 0, nstock = 0;
    for (uint32_t p = 0; p < np; p++) {
        int in = !d->in_stock || d->in_stock[p];
        nstock += in;
        distinct += seen[p];
    }
    out->lists = lists;
    out->entries = entries;
    out->coverage = nstock ? (double)distinct / (double)nstock : 0.0;
    if (cat_lists)
        out->ild_category = cat_sum / (double)cat_lists;
    if (emb_lists)
        out->ild_embedding = emb_sum / (double)emb_lists;
    free(seen);
    free(row);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int rb_eval_health(struct rb_health *out, const struct rb_lists *cf, const struct rb_als_model *m,
                   const struct rb_train *t, char *err)
{
    return rb_eval_health_n(out, cf, m, t, (uint32_t)cf->k, err);
}

int rb_eval_health_n(struct rb_health *out, const struct rb_lists *cf, const struct rb_als_model *m,
                     const struct rb_train *t, uint32_t stored, char *err)
{
    memset(out, 0, sizeof(*out));
    uint32_t items = t->ui.cols;
    uint8_t *seen = calloc((size_t)items + 1, 1);
    double *spread = malloc(sizeof(double) * (cf->n + 1));
    if (!seen || !spread) {
        free(seen);
        free(spread);
        return rc_fail(err, -ENOMEM, "health: out of memory for %u products", items);
    }
    /* seen: 1 interacted with in training, 2 also recommended */
    if (t->ui.indptr)
        for (uint64_t j = 0; j < t->ui.nnz; j++)
            if (t->ui.indices[j] < items)
                seen[t->ui.indices[j]] = 1;

    uint64_t cold = 0;
    size_t nspread = 0;
    for (size_t li = 0; li < cf->n; li++) {
        uint32_t len = cf->len[li] < stored ? cf->len[li] : stored;
        for (uint32_t j = 0; j < len; j++) {
            uint32_t p = cf->items[li * cf->k + j];
            out->slots++;
            if (p >= items)
                continue;
            cold += !(seen[p] & 1);
            if (!(seen[p] & 2)) {
                seen[p] |= 2;
                out->distinct++;
            }
        }
        if (len >= 2) {
            double first = cf->scores[li * cf->k], last = cf->scores[li * cf->k + len - 1];
            spread[nspread++] = fabs(first) > 0 ? (first - last) / fabs(first) : 0.0;
        }
    }
    out->cold_share = out->slots ? (double)cold / (double)out->slots : 0.0;
    if (nspread) {
        qsort(spread, nspread, sizeof(*spread), cmp_double);
        out->spread = spread[nspread / 2];
    } else {
        out->spread = 1.0; /* nothing to judge */
    }

    out->factor_norm = 1.0;
    if (m && m->V && m->f) {
        double sum = 0.0;
        uint64_t n = 0;
        for (uint32_t i = 0; i < m->items && i < items; i++) {
            if (!(seen[i] & 1))
                continue;
            double s2 = 0.0;
            for (uint32_t f = 0; f < m->f; f++)
                s2 += (double)m->V[(size_t)i * m->f + f] * m->V[(size_t)i * m->f + f];
            sum += sqrt(s2);
            n++;
        }
        out->factor_norm = n ? sum / (double)n : 0.0;
    }
    free(seen);
    free(spread);

    if (out->slots && out->cold_share > 0.5)
        out->reason = "lists of products no one interacted with";
    else if (!(out->factor_norm >= 1e-4) || !isfinite(out->factor_norm))
        out->reason = "collapsed factors";
    else if (out->slots && out->spread < 1e-3)
        out->reason = "near-constant scores";
    else if (cf->n >= RB_HEALTH_MIN_LISTS && out->distinct < 3 * (uint64_t)stored)
        out->reason = "the same few products for every cookie";
    out->degenerate = out->reason != NULL;
    return 0;
}

/* ---- next-item protocol (the browsing route) ---- */

const char *const rb_next_kind_names[RB_NEXT_KINDS] = {"blend", "coview", "image", "baseline", "pop"};

struct key_idx {
    uint64_t key;
    uint32_t i;
};

static int cmp_key_idx(const void *a, const void *b)
{
    const struct key_idx *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key;
}

/* list_of[p] = the list of l owned by product p, or RB_NONE. */
static void map_lists(uint32_t *list_of, const struct rb_lists *l, const struct key_idx *keys, uint32_t np)
{
    for (uint32_t p = 0; p < np; p++)
        list_of[p] = RB_NONE;
    for (size_t i = 0; l && i < l->n; i++) {
        struct key_idx want = {l->owner_key[i], 0};
        const struct key_idx *f = bsearch(&want, keys, np, sizeof(*keys), cmp_key_idx);
        if (f)
            list_of[f->i] = (uint32_t)i;
    }
}

struct next_ctx {
    const struct rb_lists *cov, *img, *base;
    const uint32_t *cov_of, *img_of, *base_of;
    const uint32_t *pop; /* products by training frequency, best first */
    uint32_t npop, k;
};

static int in_answer(const uint32_t *ans, uint32_t n, uint32_t p)
{
    for (uint32_t i = 0; i < n; i++)
        if (ans[i] == p)
            return 1;
    return 0;
}

/* Fill ans[n..k) from the popular products; the rank of q (1-based) or 0. */
static uint32_t finish(const struct next_ctx *c, uint32_t *ans, uint32_t n, uint32_t p, uint32_t q)
{
    for (uint32_t i = 0; i < c->npop && n < c->k; i++)
        if (c->pop[i] != p && !in_answer(ans, n, c->pop[i]))
            ans[n++] = c->pop[i];
    for (uint32_t i = 0; i < n; i++)
        if (ans[i] == q)
            return i + 1;
    return 0;
}

/* The rank of q in p's answer from list li of l alone (RB_NONE: no list). */
static uint32_t rank_one(const struct next_ctx *c, const struct rb_lists *l, uint32_t li, uint32_t p, uint32_t q,
                         uint32_t *ans)
{
    uint32_t n = 0;
    if (li != RB_NONE)
        for (uint32_t j = 0; j < l->len[li] && n < c->k; j++) {
            uint32_t x = l->items[(size_t)li * l->k + j];
            if (x != p)
                ans[n++] = x;
        }
    return finish(c, ans, n, p, q);
}

/* The rank of q in p's blended answer at weight w (1: the coview list
 * alone, image lists set aside: RC_LIST_ASIDE). */
static uint32_t rank_blend(const struct next_ctx *c, uint32_t p, uint32_t q, double w, uint32_t *ans)
{
    uint32_t ii = c->img_of ? c->img_of[p] : RB_NONE, ci = c->cov_of[p];
    if (w >= 1)
        return rank_one(c, c->cov, ci, p, q, ans);
    uint32_t il = ii != RB_NONE ? c->img->len[ii] : 0, cl = ci != RB_NONE ? c->cov->len[ci] : 0;
    const uint32_t *iit = il ? c->img->items + (size_t)ii * c->img->k : NULL;
    const float *isc = il ? c->img->scores + (size_t)ii * c->img->k : NULL;
    const uint32_t *cit = cl ? c->cov->items + (size_t)ci * c->cov->k : NULL;
    const float *csc = cl ? c->cov->scores + (size_t)ci * c->cov->k : NULL;
    uint32_t a = 0, b = 0, n = 0;
    while (n < c->k && (a < il || b < cl)) {
        uint32_t x;
        if (b >= cl || (a < il && (1.0 - w) * isc[a] >= w * csc[b]))
            x = iit[a++];
        else
            x = cit[b++];
        if (x != p && !in_answer(ans, n, x))
            ans[n++] = x;
    }
    return finish(c, ans, n, p, q);
}

int rb_eval_next_item(struct rb_next_eval *out, const struct rb_lists *coview, const struct rb_lists *image,
                      const struct rb_lists *baseline, const struct rb_sessions *s, const uint8_t *held,
                      const struct rb_dataset *d, uint32_t k, const double *weights, uint32_t nweights, char *err)
{
    memset(out, 0, sizeof(*out));
    out->k = k;
    if (k == 0 || k > RC_LIST_MAX)
        return rc_fail(err, RC_ERANGE, "next-item cut-off %u is not within 1..%d", k, RC_LIST_MAX);
    if (nweights == 0 || nweights > RB_NEXT_GRID_MAX)
        return rc_fail(err, RC_ERANGE, "the blend grid holds %u weights, 1..%d allowed", nweights,
                       RB_NEXT_GRID_MAX);
    for (uint32_t g = 0; g < nweights; g++)
        if (!(weights[g] >= 0 && weights[g] <= 1))
            return rc_fail(err, RC_ERANGE, "blend weight %g is not within [0, 1]", weights[g]);
    uint32_t np = d->products.n;
    /* Rows of the rank histogram: the kinds but blend, then each grid weight. */
    uint32_t rows = RB_NEXT_KINDS - 1 + nweights;
    struct key_idx *keys = malloc((np ? np : 1) * sizeof(*keys));
    uint32_t *of = malloc(3 * (size_t)(np ? np : 1) * sizeof(*of));
    uint64_t *freq = calloc(np ? np : 1, sizeof(*freq));
    struct pop_item *pop = malloc((np ? np : 1) * sizeof(*pop));
    uint32_t *popl = malloc((size_t)(2 * k + 2) * sizeof(*popl));
    uint64_t *hist = calloc((size_t)rows * (k + 1), sizeof(*hist));
    int rc = 0;
    if (!keys || !of || !freq || !pop || !popl || !hist) {
        rc = rc_fail(err, -ENOMEM, "out of memory for the next-item evaluation");
        goto out;
    }
    for (uint32_t p = 0; p < np; p++)
        keys[p] = (struct key_idx){d->products.keys[p], p};
    qsort(keys, np, sizeof(*keys), cmp_key_idx);
    map_lists(of, coview, keys, np);
    map_lists(of + np, image, keys, np);
    map_lists(of + 2 * (size_t)np, baseline, keys, np);

    /* The fill: in-stock products by events in the training sessions. */
    for (uint32_t si = 0; si < s->n; si++)
        if (!held[si])
            for (uint64_t i = s->start[si]; i < s->start[si + 1]; i++)
                freq[d->events[s->order[i]].product]++;
    uint32_t nin = 0;
    for (uint32_t p = 0; p < np; p++)
        if (freq[p] && (!d->in_stock || d->in_stock[p]))
            pop[nin++] = (struct pop_item){freq[p], 0, p};
    qsort(pop, nin, sizeof(*pop), cmp_pop);
    struct next_ctx c = {coview, image, baseline, of, image ? of + np : NULL, baseline ? of + 2 * (size_t)np : NULL,
                         popl, 0, k};
    for (uint32_t i = 0; i < nin && i < 2 * k + 2; i++)
        popl[c.npop++] = pop[i].i;

    uint64_t sessions = 0, steps = 0;
#pragma omp parallel reduction(+ : sessions, steps)
    {
        uint64_t *h = calloc((size_t)rows * (k + 1), sizeof(*h));
        uint32_t *ans = malloc((size_t)k * sizeof(*ans));
        int ok = h && ans;
#pragma omp for schedule(dynamic, 256)
        for (uint32_t si = 0; si < s->n; si++) {
            if (!held[si] || !ok)
                continue;
            sessions++;
            uint32_t prev = RB_NONE;
            for (uint64_t i = s->start[si]; i < s->start[si + 1]; i++) {
                uint32_t q = d->events[s->order[i]].product;
                if (q == prev)
                    continue;
                uint32_t p = prev;
                prev = q;
                if (p == RB_NONE)
                    continue;
                steps++;
                uint64_t *r = h;
                r[rank_one(&c, coview, c.cov_of[p], p, q, ans)]++;
                r += k + 1;
                if (image)
                    r[rank_one(&c, image, c.img_of[p], p, q, ans)]++;
                r += k + 1;
                if (baseline)
                    r[rank_one(&c, baseline, c.base_of[p], p, q, ans)]++;
                r += k + 1;
                r[finish(&c, ans, 0, p, q)]++;
                r += k + 1;
                for (uint32_t g = 0; g < nweights; g++, r += k + 1)
                    r[rank_blend(&c, p, q, image ? weights[g] : 1.0, ans)]++;
            }
        }
#pragma omp critical
        {
            if (!ok)
                rc = -ENOMEM;
            else
                for (size_t i = 0; i < (size_t)rows * (k + 1); i++)
                    hist[i] += h[i];
        }
        free(h);
        free(ans);
    }
    if (rc) {
        rc_fail(err, rc, "out of memory for the next-item evaluation");
        goto out;
    }
    out->sessions = sessions;
    out->steps = steps;
    double hr[RB_NEXT_KINDS - 1 + RB_NEXT_GRID_MAX] = {0}, mrr[RB_NEXT_KINDS - 1 + RB_NEXT_GRID_MAX] = {0};
    for (uint32_t row = 0; row < rows && steps; row++) {
        const uint64_t *r = hist + (size_t)row * (k + 1);
        uint64_t hits = 0;
        for (uint32_t j = 1; j <= k; j++) {
            hits += r[j];
            mrr[row] += (double)r[j] / j;
        }
        hr[row] = (double)hits / (double)steps;
        mrr[row] /= (double)steps;
    }
    /* rows: coview, image, baseline, pop, then the grid */
    const int kind_of_row[RB_NEXT_KINDS - 1] = {RB_NEXT_COVIEW, RB_NEXT_IMAGE, RB_NEXT_BASELINE, RB_NEXT_POP};
    for (int row = 0; row < RB_NEXT_KINDS - 1; row++) {
        int kind = kind_of_row[row];
        out->have[kind] = kind == RB_NEXT_COVIEW || kind == RB_NEXT_POP || (kind == RB_NEXT_IMAGE && image) ||
                          (kind == RB_NEXT_BASELINE && baseline);
        out->hr[kind] = out->have[kind] ? hr[row] : 0;
        out->mrr[kind] = out->have[kind] ? mrr[row] : 0;
    }
    uint32_t best = 0;
    out->ngrid = nweights;
    for (uint32_t g = 0; g < nweights; g++) {
        uint32_t row = RB_NEXT_KINDS - 1 + g;
        out->grid_w[g] = weights[g];
        out->grid_hr[g] = hr[row];
        out->grid_mrr[g] = mrr[row];
        if (hr[row] > out->grid_hr[best] || (hr[row] == out->grid_hr[best] && mrr[row] > out->grid_mrr[best]))
            best = g;
    }
    out->weight = weights[best];
    out->hr[RB_NEXT_BLEND] = out->grid_hr[best];
    out->mrr[RB_NEXT_BLEND] = out->grid_mrr[best];
    out->have[RB_NEXT_BLEND] = 1;
out:
    free(keys);
    free(of);
    free(freq);
    free(pop);
    free(popl);
    free(hist);
    return rc;
}
