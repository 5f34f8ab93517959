/*
 * explore.c - new-product exploration (explore.h).
 *
 * Segment and category lists are few (one per location x device pair seen,
 * and their back-offs; one per category), so their candidates are drawn
 * one list at a time: a pass over
 * the new products keeping the m smallest hashes. Image lists are one per
 * product with an embedding, so their cosines to the new products come from
 * one GEMM per block of lists (BLAS), then each list keeps its m best
 * candidates; m is the list's exploration slots, round(k s).
 */
#include "explore.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "record.h"

#define DAY_S 86400.0
#define GEMM_BLOCK_FLOATS (16u << 20) /* cosines per GEMM block: 64 MiB */

void rb_explore_opts_default(struct rb_explore_opts *o)
{
    o->age_days = RB_EXPLORE_AGE_DAYS_DEFAULT;
    o->share = RB_EXPLORE_SHARE_DEFAULT;
    o->seed = 0;
}

static uint64_t round_half_up(double x)
{
    return (uint64_t)floor(x + 0.5);
}

int rb_explore_slot(uint32_t j, double share)
{
    return round_half_up(((double)j + 1) * share) > round_half_up((double)j * share);
}

uint32_t rb_explore_slots(uint32_t k, double share)
{
    return (uint32_t)round_half_up((double)k * share);
}

/* ---- age ---- */

int rb_explore_new(const struct rb_dataset *d, const struct rb_explore_opts *o, uint8_t **is_new,
                   struct rb_explore_stats *st)
{
    uint32_t n = d->products.n;
    uint8_t *isn = calloc(n ? n : 1, 1);
    int64_t *born = malloc((n ? n : 1) * sizeof(*born)); /* created_at or first event; INT64_MAX: unknown */
    uint8_t *from_catalog = calloc(n ? n : 1, 1);
    if (!isn || !born || !from_catalog) {
        free(isn);
        free(born);
        free(from_catalog);
        return -ENOMEM;
    }
    for (uint32_t p = 0; p < n; p++)
        born[p] = INT64_MAX;
    st->now = d->nevents ? d->ts_max : 0;
    double age_s = o->age_days * DAY_S;
    st->first_event_used = d->nevents && (double)(d->ts_max - d->ts_min) >= age_s;
    if (st->first_event_used)
        for (size_t i = 0; i < d->nevents; i++) {
            const struct rb_event *e = &d->events[i];
            if (e->ts < born[e->product])
                born[e->product] = e->ts;
        }
    for (size_t i = 0; i < d->created_n; i++) {
        born[d->created[i].product] = d->created[i].ts;
        from_catalog[d->created[i].product] = 1;
    }
    for (uint32_t p = 0; p < n; p++) {
        if (!d->in_stock[p])
            continue;
        if (born[p] == INT64_MAX) {
            st->age_unknown++;
            continue;
        }
        if (from_catalog[p])
            st->age_created_at++;
        else
            st->age_first_event++;
        double age = born[p] >= st->now ? 0 : (double)(st->now - born[p]);
        if (d->nevents && age < age_s) {
            isn[p] = 1;
            st->new_products++;
        }
    }
    free(born);
    free(from_catalog);
    *is_new = isn;
    return 0;
}

/* ---- one list ---- */

uint32_t rb_explore_merge(uint32_t *items, float *scores, uint32_t len, uint32_t k, const uint32_t *cand,
                          uint32_t ncand, const uint8_t *is_new, double share, uint32_t *tmp_items,
                          float *tmp_scores, uint32_t *added)
{
    memcpy(tmp_items, items, len * sizeof(*items));
    memcpy(tmp_scores, scores, len * sizeof(*scores));
    uint32_t next = 0, c = 0, j = 0;
    for (; j < k; j++) {
        int next_is_new = next < len && is_new[tmp_items[next]];
        if (c < ncand && !next_is_new && rb_explore_slot(j, share)) {
            items[j] = cand[c++];
            scores[j] = j ? scores[j - 1] : next < len ? tmp_scores[next] : 0.0f;
        } else if (next < len) {
            items[j] = tmp_items[next];
            scores[j] = tmp_scores[next++];
        } else {
            break;
        }
    }
    *added = c;
    return j;
}

/* ---- candidates ---- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/*
 * A best-first array of at most m candidates: rank[i] orders them, smaller
 * first (ties to the smaller product). offer() keeps the m best seen.
 */
struct best {
    uint32_t *item;
    double *rank;
    uint32_t n, m;
};

static void offer(struct best *b, uint32_t item, double rank)
{
    if (b->m == 0)
        return;
    if (b->n == b->m && (rank > b->rank[b->n - 1] || (rank == b->rank[b->n - 1] && item > b->item[b->n - 1])))
        return;
    uint32_t i = b->n < b->m ? b->n++ : b->n - 1;
    while (i > 0 && (rank < b->rank[i - 1] || (rank == b->rank[i - 1] && item < b->item[i - 1]))) {
        b->item[i] = b->item[i - 1];
        b->rank[i] = b->rank[i - 1];
        i--;
    }
    b->item[i] = item;
    b->rank[i] = rank;
}

/* Per-thread scratch: list membership stamps over products, candidates, a list copy. */
struct scratch {
    uint32_t *stamp; /* [products] list number + 1 that holds the product */
    struct best best;
    uint32_t *tmp_items;
    float *tmp_scores;
};

static void scratch_release(struct scratch *s)
{
    free(s->stamp);
    free(s->best.item);
    free(s->best.rank);
    free(s->tmp_items);
    free(s->tmp_scores);
}

static int scratch_init(struct scratch *s, uint32_t products, uint32_t m, size_t k)
{
    memset(s, 0, sizeof(*s));
    s->stamp = calloc(products ? products : 1, sizeof(*s->stamp));
    s->best.item = malloc((m ? m : 1) * sizeof(*s->best.item));
    s->best.rank = malloc((m ? m : 1) * sizeof(*s->best.rank));
    s->best.m = m;
    s->tmp_items = malloc((k ? k : 1) * sizeof(*s->tmp_items));
    s->tmp_scores = malloc((k ? k : 1) * sizeof(*s->tmp_scores));
    if (!s->stamp || !s->best.item || !s->best.rank || !s->tmp_items || !s->tmp_scores) {
        scratch_release(s);
        return -ENOMEM;
    }
    return 0;
}

/* Stamp list i's products (and its owner, for image lists) as taken. */
static void stamp_list(struct scratch *s, const struct rb_lists *l, size_t i, uint32_t owner)
{
    for (uint32_t j = 0; j < l->len[i]; j++)
        s->stamp[l->items[i * l->k + j]] = (uint32_t)i + 1;
    if (owner != RB_NONE)
        s->stamp[owner] = (uint32_t)i + 1;
}

/* Merge s->best into list i; counts what went in. */
static void merge_list(struct scratch *s, struct rb_lists *l, size_t i, const uint8_t *is_new, double share,
                       uint64_t *added_total, uint64_t *changed)
{
    uint32_t added;
    l->len[i] = (uint16_t)rb_explore_merge(l->items + i * l->k, l->scores + i * l->k, l->len[i], (uint32_t)l->k,
                                           s->best.item, s->best.n, is_new, share, s->tmp_items, s->tmp_scores,
                                           &added);
    *added_total += added;
    *changed += added > 0;
}

/* The category list i is for (popularity.h: list c is category c's), RB_NONE for another list. */
static uint32_t list_category(const struct rb_lists *l, size_t i, const struct rb_dataset *d)
{
    if (l->source[i] != RC_SRC_CATEGORY)
        return RB_NONE;
    return i < d->categories.n && d->categories.keys[i] == l->owner_key[i] ? (uint32_t)i : RB_NONE;
}

/* Segment, global (any new product) and category lists (the category's new products). */
static int explore_popular(struct rb_lists *l, const struct rb_dataset *d, const struct rb_explore_opts *o,
                           const uint32_t *news, uint32_t nnew, const uint8_t *is_new, struct rb_explore_stats *st)
{
    uint32_t m = rb_explore_slots((uint32_t)l->k, o->share);
    struct scratch s;
    if (scratch_init(&s, d->products.n, m, l->k) != 0)
        return -ENOMEM;
    uint64_t epoch = mix64(o->seed ^ mix64((uint64_t)(st->now / 3600) + 0x9e3779b97f4a7c15ULL));
    for (size_t i = 0; i < l->n; i++) {
        uint32_t cat = list_category(l, i, d);
        if (l->source[i] != RC_SRC_SEGMENT && l->source[i] != RC_SRC_GLOBAL && cat == RB_NONE)
            continue;
        st->lists++;
        stamp_list(&s, l, i, RB_NONE);
        s.best.n = 0;
        uint64_t owner = mix64(epoch ^ l->owner_key[i]);
        for (uint32_t c = 0; c < nnew && m; c++)
            if (s.stamp[news[c]] != (uint32_t)i + 1 && (cat == RB_NONE || d->category[news[c]] == cat))
                offer(&s.best, news[c], (double)(mix64(owner ^ d->products.keys[news[c]]) >> 11));
        merge_list(&s, l, i, is_new, o->share, &st->slots_added, &st->lists_changed);
    }
    scratch_release(&s);
    return 0;
}

/* Sorted (product key, embedding row) pairs: an image list's owner -> its row. */
struct keyrow {
    uint64_t key;
    uint32_t row;
};

static int keyrow_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct keyrow *)a)->key, y = ((const struct keyrow *)b)->key;
    return x < y ? -1 : x > y;
}

static uint32_t row_of(const struct keyrow *kr, uint32_t n, uint64_t key)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (kr[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && kr[lo].key == key ? kr[lo].row : RB_NONE;
}

static int explore_image(struct rb_lists *l, const struct rb_dataset *d, const struct rb_explore_opts *o,
                         const uint8_t *is_new, struct rb_explore_stats *st)
{
    uint32_t dim = d->dim, rows = d->emb_rows, m = rb_explore_slots((uint32_t)l->k, o->share);
    uint32_t nn = 0; /* new products with an embedding: their rows, gathered */
    int rc = -ENOMEM, nthreads = omp_get_max_threads();
    float *N = NULL, *Q = NULL, *C = NULL;
    uint32_t *nrow_product = NULL;
    size_t *lists = NULL;
    struct keyrow *kr = malloc((rows ? rows : 1) * sizeof(*kr));
    struct scratch *s = calloc((size_t)nthreads, sizeof(*s));
    if (!kr || !s)
        goto out;
    for (uint32_t r = 0; r < rows; r++) {
        kr[r] = (struct keyrow){d->products.keys[d->emb_product[r]], r};
        nn += is_new[d->emb_product[r]];
    }
    qsort(kr, rows, sizeof(*kr), keyrow_cmp);
    for (size_t i = 0; i < l->n; i++)
        st->lists += l->source[i] == RC_SRC_IMAGE;
    if (nn == 0 || m == 0) {
        rc = 0;
        goto out;
    }
    N = malloc((size_t)nn * dim * sizeof(*N));
    nrow_product = malloc((size_t)nn * sizeof(*nrow_product));
    size_t block = GEMM_BLOCK_FLOATS / nn ? GEMM_BLOCK_FLOATS / nn : 1;
    if (block > 1024)
        block = 1024;
    Q = malloc(block * dim * sizeof(*Q));
    C = malloc(block * nn * sizeof(*C));
    lists = malloc(block * sizeof(*lists));
    if (!N || !nrow_product || !Q || !C || !lists)
        goto out;
    for (uint32_t r = 0, c = 0; r < rows; r++)
        if (is_new[d->emb_product[r]]) {
            memcpy(N + (size_t)c * dim, d->emb + (size_t)r * dim, dim * sizeof(*N));
            nrow_product[c++] = d->emb_product[r];
        }
    for (int t = 0; t < nthreads; t++)
        if (scratch_init(&s[t], d->products.n, m, l->k) != 0)
            goto out;

    uint64_t added = 0, changed = 0;
    for (size_t i = 0; i < l->n;) {
        size_t nb = 0; /* this block's image lists with a row */
        for (; i < l->n && nb < block; i++) {
            uint32_t r = l->source[i] == RC_SRC_IMAGE ? row_of(kr, rows, l->owner_key[i]) : RB_NONE;
            if (r == RB_NONE)
                continue;
            memcpy(Q + nb * dim, d->emb + (size_t)r * dim, dim * sizeof(*Q));
            lists[nb++] = i;
        }
        if (!nb)
            continue;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)nn, (int)dim, 1.0f, Q, (int)dim, N,
                    (int)dim, 0.0f, C, (int)nn);
#pragma omp parallel for schedule(dynamic, 16) reduction(+ : added, changed)
        for (size_t q = 0; q < nb; q++) {
            struct scratch *sc = &s[omp_get_thread_num()];
            size_t li = lists[q];
            uint32_t owner = d->emb_product[row_of(kr, rows, l->owner_key[li])];
            stamp_list(sc, l, li, owner);
            sc->best.n = 0;
            const float *cos = C + q * nn;
            for (uint32_t c = 0; c < nn; c++)
                if (sc->stamp[nrow_product[c]] != (uint32_t)li + 1)
                    offer(&sc->best, nrow_product[c], -(double)cos[c]);
            merge_list(sc, l, li, is_new, o->share, &added, &changed);
        }
    }
    st->slots_added += added;
    st->lists_changed += changed;
    rc = 0;
out:
    for (int t = 0; s && t < nthreads; t++)
        scratch_release(&s[t]);
    free(s);
    free(kr);
    free(N);
    free(nrow_product);
    free(Q);
    free(C);
    free(lists);
    return rc;
}

/* Slots new products hold in the explored lists, and how many distinct new products hold one. */
static void count_slots(const struct rb_lists *l, const struct rb_dataset *d, const uint8_t *is_new, uint8_t *seen,
                        struct rb_explore_stats *st)
{
    for (size_t i = 0; l && i < l->n; i++) {
        uint8_t src = l->source[i];
        if (src != RC_SRC_SEGMENT && src != RC_SRC_GLOBAL && src != RC_SRC_IMAGE && list_category(l, i, d) == RB_NONE)
            continue;
        for (uint32_t j = 0; j < l->len[i]; j++) {
            uint32_t p = l->items[i * l->k + j];
            if (!is_new[p])
                continue;
            st->slots++;
            st->new_with_slot += !seen[p];
            seen[p] = 1;
        }
    }
}

int rb_explore(struct rb_lists *segments, struct rb_lists *categories, struct rb_lists *image,
               const struct rb_dataset *d, const struct rb_explore_opts *o, struct rb_explore_stats *st, char *err)
{
    memset(st, 0, sizeof(*st));
    if (o->age_days <= 0 || o->share <= 0)
        return 0;
    uint8_t *is_new = NULL, *seen = NULL;
    uint32_t *news = NULL, nnew = 0;
    int rc = rb_explore_new(d, o, &is_new, st);
    if (rc)
        return rc_fail(err, rc, "explore: out of memory for %u products", d->products.n);
    news = malloc((st->new_products ? st->new_products : 1) * sizeof(*news));
    seen = calloc(d->products.n ? d->products.n : 1, 1);
    if (!news || !seen) {
        rc = rc_fail(err, -ENOMEM, "explore: out of memory for %u products", d->products.n);
        goto out;
    }
    for (uint32_t p = 0; p < d->products.n; p++)
        if (is_new[p])
            news[nnew++] = p;
    if ((segments && (rc = explore_popular(segments, d, o, news, nnew, is_new, st)) != 0) ||
        (categories && (rc = explore_popular(categories, d, o, news, nnew, is_new, st)) != 0)) {
        rc = rc_fail(err, rc, "explore: out of memory for the segment and category lists");
        goto out;
    }
    if (image && (rc = explore_image(image, d, o, is_new, st)) != 0) {
        rc = rc_fail(err, rc, "explore: out of memory for the image lists");
        goto out;
    }
    count_slots(segments, d, is_new, seen, st);
    count_slots(categories, d, is_new, seen, st);
    count_slots(image, d, is_new, seen, st);
out:
    free(is_new);
    free(news);
    free(seen);
    return rc;
}

int rb_explore_recount(const struct rb_lists *segments, const struct rb_lists *categories,
                       const struct rb_lists *image, const struct rb_dataset *d, const struct rb_explore_opts *o,
                       struct rb_explore_stats *st, char *err)
{
    if (o->age_days <= 0 || o->share <= 0)
        return 0;
    struct rb_explore_stats fresh;
    uint8_t *is_new = NULL, *seen = NULL;
    int rc = rb_explore_new(d, o, &is_new, &fresh);
    if (rc)
        return rc_fail(err, rc, "explore: out of memory for %u products", d->products.n);
    seen = calloc(d->products.n ? d->products.n : 1, 1);
    if (!seen) {
        free(is_new);
        return rc_fail(err, -ENOMEM, "explore: out of memory for %u products", d->products.n);
    }
    st->slots = 0;
    st->new_with_slot = 0;
    count_slots(segments, d, is_new, seen, st);
    count_slots(categories, d, is_new, seen, st);
    count_slots(image, d, is_new, seen, st);
    free(is_new);
    free(seen);
    return 0;
}
