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
                       double *hr, double *recall, double *ndcg)
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
}

int rb_eval_holdout(struct rb_eval *out, const struct rb_lists *cf, const struct rb_train *t,
                    const struct rb_dataset *d, uint32_t k, int exclude_bought, char *err)
{
    memset(out, 0, sizeof(*out));
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
        score_list(cf->items + hit->li * cf->k, cf->len[hit->li], h, r, k, &out->hr, &out->recall, &out->ndcg);

        uint32_t nb = 0;
        for (uint32_t j = 0; j < nstock && nb < k; j++)
            if (!exclude_bought || !in_row(&t->bought, r, ranked[j]))
                base[nb++] = ranked[j];
        score_list(base, nb, h, r, k, &out->pop_hr, &out->pop_recall, &out->pop_ndcg);
    }
    if (out->users > 0) {
        double u = (double)out->users;
        out->hr /= u;
        out->recall /= u;
        out->ndcg /= u;
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
