#include "coview.h"
#include "error.h"
#include "train.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define ACC_BUDGET (256ull << 20) /* bytes of per-thread accumulators */

void rb_coview_opts_default(struct rb_coview_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->window = 5;
    o->min_count = 1;
    o->norm = RB_COVIEW_RAW;
    o->max_pairs = 1ull << 25;
    o->backward = 1.0;
}

/*
 * Per event (both [d->nevents]): ew, its type weight (1 unless typed; 0:
 * its type's weight is 0, the event is not counted), and dec, its decay
 * (1 without a half-life). plain: every event with a weight counts 1.
 */
static int event_weights(const struct rb_dataset *d, const struct rb_train_opts *t, const struct rb_coview_opts *o,
                         float **ew, float **dec)
{
    *ew = malloc((d->nevents ? d->nevents : 1) * sizeof(**ew));
    *dec = malloc((d->nevents ? d->nevents : 1) * sizeof(**dec));
    if (!*ew || !*dec)
        return -ENOMEM;
    for (size_t i = 0; i < d->nevents; i++) {
        const struct rb_event *e = &d->events[i];
        float tw = e->type < RB_EVENT_TYPES ? t->weight[e->type] : 0.0f;
        (*ew)[i] = tw > 0 ? (o->typed && !o->plain ? tw : 1.0f) : 0.0f;
        (*dec)[i] = o->plain || o->half_life_days <= 0 ? 1.0f
                                                        : (float)rb_decay(e->ts, d->ts_max, o->half_life_days);
    }
    return 0;
}

/*
 * What WALK visits: every counted pair once, in session order, with its
 * weight pw, the mean of the two events' weights times the later one's
 * decay over the distance (plain: 1 / distance).
 */
struct walk {
    const struct rb_dataset *d;
    const struct rb_sessions *s;
    const uint8_t *skip;
    const float *ew, *dec;
    uint32_t window;
    float backward; /* weight of b -> a for a viewed before b */
};

static inline float pair_weight(const struct walk *k, uint32_t ei, uint32_t ej, uint32_t dist)
{
    return 0.5f * (k->ew[ei] + k->ew[ej]) * k->dec[ej] / (float)dist;
}

/* WALK(k, lo, hi, BODY): BODY runs with A, B (product indices) and pw for
 * each counted pair, both ways, whose A is in [lo, hi). A macro rather than
 * a callback: BODY runs for every pair of every pass (64M times at the
 * reference workload, ops/bench/recbuild.md). */
#define WALK(k, lo, hi, BODY)                                                                                  \
    for (uint32_t si = 0; si < (k)->s->n; si++) {                                                               \
        if ((k)->skip && (k)->skip[si])                                                                         \
            continue;                                                                                            \
        const uint32_t *ev = (k)->s->order + (k)->s->start[si];                                                  \
        uint64_t len = (k)->s->start[si + 1] - (k)->s->start[si];                                               \
        uint64_t pi = 0;                                                                                        \
        for (uint64_t i = 0; i < len; i++) {                                                                    \
            if ((k)->ew[ev[i]] <= 0)                                                                             \
                continue;                                                                                        \
            uint32_t pa = (k)->d->events[ev[i]].product;                                                         \
            uint64_t pj = pi + 1;                                                                               \
            for (uint64_t j = i + 1; j < len && pj - pi <= (k)->window; j++) {                                  \
                if ((k)->ew[ev[j]] <= 0)                                                                         \
                    continue;                                                                                    \
                uint32_t pb = (k)->d->events[ev[j]].product;                                                     \
                uint32_t dist = (uint32_t)(pj - pi);                                                             \
                pj++;                                                                                            \
                if (pa == pb)                                                                                    \
                    continue;                                                                                    \
                float pw = pair_weight((k), ev[i], ev[j], dist);                                                 \
                if (pa >= (lo) && pa < (hi)) {                                                                   \
                    uint32_t A = pa, B = pb;                                                                     \
                    float W = pw;                                                                                \
                    BODY                                                                                         \
                }                                                                                                \
                if (pb >= (lo) && pb < (hi)) {                                                                   \
                    uint32_t A = pb, B = pa;                                                                     \
                    float W = pw * (k)->backward;                                                                \
                    BODY                                                                                         \
                }                                                                                                \
            }                                                                                                    \
            pi++;                                                                                                \
        }                                                                                                        \
    }

struct cand {
    float score;
    uint32_t b;
};

/* Better first: higher score, then lower product index. */
static int better(struct cand x, struct cand y)
{
    return x.score > y.score || (x.score == y.score && x.b < y.b);
}

/* Keep the best n of a stream in heap[0, *len) (a min-heap of the worst kept). */
static void heap_offer(struct cand *heap, uint32_t *len, uint32_t n, struct cand c)
{
    uint32_t i;
    if (*len < n) {
        i = (*len)++;
        while (i && better(heap[(i - 1) / 2], c)) {
            heap[i] = heap[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        heap[i] = c;
        return;
    }
    if (!better(c, heap[0]))
        return;
    i = 0;
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        struct cand mv = c;
        if (l < n && better(mv, heap[l]))
            m = l, mv = heap[l];
        if (r < n && better(mv, heap[r]))
            m = r;
        if (m == i)
            break;
        heap[i] = heap[m];
        i = m;
    }
    heap[i] = c;
}

static int cmp_cand(const void *x, const void *y)
{
    struct cand a = *(const struct cand *)x, b = *(const struct cand *)y;
    return better(a, b) ? -1 : better(b, a) ? 1 : 0;
}

int rb_coview(struct rb_lists *out, struct rb_coview_stats *st, const struct rb_dataset *d,
              const struct rb_sessions *s, const uint8_t *skip, const struct rb_train_opts *t, uint32_t n,
              const struct rb_coview_opts *o, char *err)
{
    rb_lists_release(out);
    memset(st, 0, sizeof(*st));
    if (o->window == 0)
        return rc_fail(err, RC_ERANGE, "the co-view window must be at least 1 position");
    uint32_t np = d->products.n;
    int rc = rb_lists_init(out, np ? np : 1, n);
    if (rc)
        return rc_fail(err, rc, "unable to hold %u co-view lists of %u: %s", np, n, rc_strerror(rc));
    out->n = 0;
    if (np == 0)
        return 0;

    float *ew = NULL, *dec = NULL;
    int erc = event_weights(d, t, o, &ew, &dec);
    uint64_t *cnt = calloc(np + 1, sizeof(*cnt));
    double *rowsum = calloc(np, sizeof(*rowsum));
    uint64_t *indptr = NULL;
    uint32_t *eb = NULL;
    float *ewt = NULL;
    /* One dense accumulator (12 bytes a product) per scoring thread, all of
     * them within ACC_BUDGET: a catalog of 10M products scores on 2 threads. */
    int nthreads = omp_get_max_threads();
    uint64_t fit = ACC_BUDGET / ((uint64_t)np * 12);
    if ((uint64_t)nthreads > fit)
        nthreads = fit > 1 ? (int)fit : 1;
    float *acc = NULL;
    uint32_t *hits = NULL, *touched = NULL;
    struct cand *heaps = NULL;
    if (erc || !cnt || !rowsum) {
        rc = -ENOMEM;
        goto out;
    }
    struct walk k = {d, s, skip, ew, dec, o->window, o->plain ? 1.0f : (float)o->backward};

    /* Pass 0: entries and the row sum of each product. */
    uint32_t first = 0; /* a variable: the range test stays one form */
    WALK(&k, first, np, {
        cnt[A]++;
        rowsum[A] += W;
        (void)B;
    })
    uint64_t maxrow = 0;
    for (uint32_t a = 0; a < np; a++) {
        st->pairs += cnt[a];
        if (cnt[a] > maxrow)
            maxrow = cnt[a];
    }
    uint64_t cap = o->max_pairs > maxrow ? o->max_pairs : maxrow;
    if (cap > st->pairs)
        cap = st->pairs;
    indptr = malloc((np + 1) * sizeof(*indptr));
    eb = malloc((cap ? cap : 1) * sizeof(*eb));
    ewt = malloc((cap ? cap : 1) * sizeof(*ewt));
    acc = calloc((size_t)nthreads * np, sizeof(*acc));
    hits = calloc((size_t)nthreads * np, sizeof(*hits));
    touched = malloc((size_t)nthreads * np * sizeof(*touched));
    heaps = malloc((size_t)nthreads * n * sizeof(*heaps));
    if (!indptr || !eb || !ewt || !acc || !hits || !touched || !heaps) {
        rc = -ENOMEM;
        goto out;
    }

    uint32_t lo = 0;
    while (lo < np) {
        /* The next range [lo, hi) whose entries fit in cap. */
        uint32_t hi = lo;
        uint64_t used = 0;
        while (hi < np && (hi == lo || used + cnt[hi] <= cap))
            used += cnt[hi++];
        uint64_t at = 0;
        for (uint32_t a = lo; a < hi; a++) {
            indptr[a] = at;
            at += cnt[a];
        }
        indptr[hi] = at;
        /* Fill: cursor per row in indptr[a] (restored after). */
        WALK(&k, lo, hi, {
            uint64_t p = indptr[A]++;
            eb[p] = B;
            ewt[p] = W;
        })
        for (uint32_t a = hi; a-- > lo;)
            indptr[a + 1] = indptr[a];
        indptr[lo] = 0;
        st->passes++;

#pragma omp parallel for schedule(dynamic, 64) num_threads(nthreads)
        for (uint32_t a = lo; a < hi; a++) {
            int th = omp_get_thread_num();
            float *ac = acc + (size_t)th * np;
            uint32_t *hc = hits + (size_t)th * np, *tc = touched + (size_t)th * np;
            struct cand *heap = heaps + (size_t)th * n;
            uint32_t nt = 0, hl = 0;
            for (uint64_t p = indptr[a]; p < indptr[a + 1]; p++) {
                uint32_t b = eb[p];
                if (!hc[b]++)
                    tc[nt++] = b;
                ac[b] += ewt[p];
            }
            for (uint32_t i = 0; i < nt; i++) {
                uint32_t b = tc[i];
                float c = ac[b];
                uint32_t ev = hc[b];
                ac[b] = 0;
                hc[b] = 0;
                if (ev < o->min_count || b == a || (d->in_stock && !d->in_stock[b]))
                    continue;
                double sc = c;
                if (!o->plain && o->norm == RB_COVIEW_COSINE)
                    sc = c / sqrt(rowsum[a] * rowsum[b]);
                else if (!o->plain && o->norm == RB_COVIEW_LIFT)
                    sc = c / rowsum[b];
                if (!(sc > 0) || !isfinite(sc))
                    continue;
                heap_offer(heap, &hl, n, (struct cand){(float)sc, b});
            }
            qsort(heap, hl, sizeof(*heap), cmp_cand);
            /* list slot a for now; compacted below */
            uint32_t *it = out->items + (size_t)a * n;
            float *sv = out->scores + (size_t)a * n;
            float top = hl ? heap[0].score : 1.0f;
            for (uint32_t j = 0; j < hl; j++) {
                it[j] = heap[j].b;
                sv[j] = o->plain ? heap[j].score : heap[j].score / top;
            }
            out->len[a] = (uint16_t)hl;
        }
        lo = hi;
    }

    /* Compact to the products with a list, in product order. */
    size_t m = 0;
    for (uint32_t a = 0; a < np; a++) {
        if (!out->len[a])
            continue;
        if (m != a) {
            memcpy(out->items + m * n, out->items + (size_t)a * n, out->len[a] * sizeof(*out->items));
            memcpy(out->scores + m * n, out->scores + (size_t)a * n, out->len[a] * sizeof(*out->scores));
            out->len[m] = out->len[a];
        }
        out->owner_key[m] = d->products.keys[a];
        out->source[m] = RC_SRC_COVIEW;
        m++;
    }
    for (size_t i = m; i < out->cap; i++)
        out->len[i] = 0;
    out->n = m;
    st->lists = (uint32_t)m;
out:
    if (rc) {
        rc_fail(err, rc, "out of memory counting co-views of %u products", np);
        rb_lists_release(out);
    }
    free(ew);
    free(dec);
    free(cnt);
    free(rowsum);
    free(indptr);
    free(eb);
    free(ewt);
    free(acc);
    free(hits);
    free(touched);
    free(heaps);
    return rc;
}

void rb_coview_scale(struct rb_lists *l, float f)
{
    for (size_t i = 0; i < l->n; i++)
        for (size_t j = 0; j < l->len[i]; j++)
            l->scores[i * l->k + j] *= f;
}

void rb_coview_blend(struct rb_lists *l, double w)
{
    if (w < 1) {
        rb_coview_scale(l, (float)(w / (1 - w)));
        return;
    }
    for (size_t i = 0; i < l->n; i++)
        for (size_t j = 0; j < l->len[i]; j++)
            l->scores[i * l->k + j] += 1.0f;
}
