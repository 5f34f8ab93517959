/*
 * output.c - the lists and items of one build into a published cache
 * version (output.h). The write stage is one tight loop per DB: keys are
 * ordered first (a stable radix sort of (key, index) pairs), then each
 * record is encoded into one reused buffer and appended with MDB_APPEND.
 */
#include "output.h"
#include "experiment.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cache.h"
#include "catset.h"
#include "error.h"
#include "keys.h"
#include "log.h"
#include "progress.h"

/* Records between cancellation checks and progress reports. */
#define CHECK_EVERY 65536
/* Lists prefetched ahead of the one being encoded. */
#define PREFETCH_AHEAD 8

/* CPU time of this thread: the write stage's cost on a machine shared with other work. */
static double thread_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cancelled(const struct rb_output *o)
{
    return o->opts.cancel && *o->opts.cancel;
}

/* ---- ordering ---- */

struct keyed {
    uint64_t key;
    uint32_t idx;
};

/*
 * out[r] = (key, index) of the r-th smallest key; equal keys keep their
 * index order (LSD radix sort on 16-bit digits is stable), so "the first
 * list wins a collision" means the lowest index. Passes whose digit is the
 * same for every key are skipped. *out is malloc'ed (NULL when n is 0).
 * Returns 0 or -ENOMEM.
 */
static int sort_keys(uint64_t (*key_of)(const void *, size_t), const void *src, size_t n, struct keyed **out)
{
    *out = NULL;
    if (n == 0)
        return 0;
    struct keyed *a = malloc(n * sizeof(*a)), *b = malloc(n * sizeof(*b));
    size_t(*hist)[65536] = calloc(4, sizeof(*hist));
    if (!a || !b || !hist) {
        free(a);
        free(b);
        free(hist);
        return -ENOMEM;
    }
    int sorted = 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t k = key_of(src, i);
        a[i].key = k;
        a[i].idx = (uint32_t)i;
        if (i && k < a[i - 1].key)
            sorted = 0;
        for (int p = 0; p < 4; p++)
            hist[p][(k >> (16 * p)) & 0xffff]++;
    }
    for (int p = 0; p < 4 && !sorted; p++) {
        size_t *h = hist[p];
        if (h[(a[0].key >> (16 * p)) & 0xffff] == n)
            continue; /* one digit value for all: nothing moves */
        size_t sum = 0;
        for (size_t v = 0; v < 65536; v++) {
            size_t c = h[v];
            h[v] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            b[h[(a[i].key >> (16 * p)) & 0xffff]++] = a[i];
        struct keyed *t = a;
        a = b;
        b = t;
    }
    free(b);
    free(hist);
    *out = a;
    return 0;
}

static uint64_t list_key(const void *src, size_t i)
{
    return ((const struct rb_lists *)src)->owner_key[i];
}

static uint64_t product_key(const void *src, size_t i)
{
    return ((const struct rb_strtab *)src)->keys[i];
}

/* ---- category sets ---- */

/* Every category's products, grouped: category c's product keys are
 * keys[start[c] .. start[c + 1]), ascending. */
struct catsets {
    uint32_t n;      /* categories */
    size_t *start;   /* [n + 1] */
    uint64_t *keys;  /* [start[n]] */
    size_t max;      /* most products of one category */
};

static void catsets_release(struct catsets *s)
{
    free(s->start);
    free(s->keys);
}

/* Group d's products by category (none without categories). -ENOMEM. */
static int catsets_build(struct catsets *s, const struct rb_dataset *d)
{
    memset(s, 0, sizeof(*s));
    const struct rb_strtab *p = &d->products;
    if (!d->category || d->categories.n == 0)
        return 0;
    uint32_t n = d->categories.n;
    if (!(s->start = calloc((size_t)n + 2, sizeof(*s->start))))
        return -ENOMEM;
    s->n = n;
    for (uint32_t i = 0; i < p->n; i++)
        if (d->category[i] < n)
            s->start[d->category[i] + 2]++;
    for (uint32_t c = 0; c < n; c++) {
        if (s->start[c + 2] > s->max)
            s->max = s->start[c + 2];
        s->start[c + 2] += s->start[c + 1];
    }
    if (!(s->keys = malloc((s->start[n + 1] ? s->start[n + 1] : 1) * sizeof(*s->keys))))
        return -ENOMEM;
    for (uint32_t i = 0; i < p->n; i++) /* start[c + 1] advances to c's end, which is start[c + 1] after */
        if (d->category[i] < n)
            s->keys[s->start[d->category[i] + 1]++] = p->keys[i];
    for (uint32_t c = 0; c < n; c++) /* product keys are distinct (the table refuses a collision) */
        (void)rc_catset_sort(s->keys + s->start[c], s->start[c + 1] - s->start[c]);
    return 0;
}

/* ---- lifecycle ---- */

int rb_output_begin(struct rb_output *o, const struct rb_output_opts *opts, time_t now, char *err)
{
    memset(o, 0, sizeof(*o));
    o->opts = *opts;
    struct rc_version_opts vo = {.root = opts->root, .id_time = now, .cancel = opts->cancel};
    return rc_version_begin(&o->vw, &vo, err);
}

void rb_output_release(struct rb_output *o)
{
    rc_version_release(&o->vw);
}

/* ---- writing ---- */

/* Also checks every entry names a product: RC_EINTERNAL (a bug upstream) otherwise. */
static int est_lists(struct rc_cache_size *e, enum rc_db db, const struct rb_lists *l, const struct rb_strtab *products,
                     char *err)
{
    for (size_t i = 0; i < l->n; i++) {
        size_t len = l->len[i];
        if (!len)
            continue;
        if (len > l->k)
            return rc_fail(err, RC_EINTERNAL, "%s list %zu holds %zu entries, room for %zu", rc_db_names[db], i, len,
                           l->k);
        const uint32_t *it = l->items + i * l->k;
        size_t ids = 0;
        for (size_t j = 0; j < len; j++) {
            if (it[j] >= products->n)
                return rc_fail(err, RC_EINTERNAL, "%s list %zu names product %u of %u", rc_db_names[db], i, it[j],
                               products->n);
            ids += products->lens[it[j]];
        }
        rc_cache_size_add(e, 1, rc_list_size(len, ids));
    }
    return 0;
}

static int check_space(const char *dir, uint64_t need, char *err)
{
    struct statvfs vfs;
    if (statvfs(dir, &vfs) != 0)
        return 0; /* cannot tell; the writes will say */
    uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    if (avail < need)
        return rc_fail(err, -ENOSPC, "not enough space for the cache in '%s': need about %" PRIu64 " MiB, %" PRIu64
                       " MiB free", dir, (need >> 20) + 1, avail >> 20);
    return 0;
}

struct writer_ctx {
    struct rb_output *o;
    uint64_t done, total;
};

/* Write one record, count its bytes and, every CHECK_EVERY records, stop
 * on a signal and report progress. */
static int put(struct writer_ctx *c, enum rc_db db, uint64_t key, const unsigned char *buf, size_t n, char *err)
{
    int rc = rc_version_put(&c->o->vw, db, key, buf, n, err);
    if (rc)
        return rc;
    c->o->value_bytes += (uint64_t)n;
    if (++c->done % CHECK_EVERY)
        return 0;
    if (cancelled(c->o))
        return rc_fail(err, -EINTR, "interrupted while writing '%s'", c->o->vw.staging);
    if (c->o->opts.progress)
        c->o->opts.progress(c->o->opts.progress_ctx, "write", c->done, c->total);
    return 0;
}

static int write_lists(struct writer_ctx *c, enum rc_db db, const struct rb_lists *l, const struct keyed *order,
                       const struct rb_strtab *products, unsigned char *buf, size_t cap, struct rc_entry *entries,
                       char *err)
{
    uint64_t prev = 0;
    for (size_t r = 0; r < l->n; r++) {
        /* Lists are visited in key order, i.e. at random in memory: fetch
         * the ones a few steps ahead while this one is encoded. */
        if (r + PREFETCH_AHEAD < l->n) {
            size_t a = order[r + PREFETCH_AHEAD].idx;
            __builtin_prefetch(&l->len[a]);
            for (size_t off = 0; off < l->k; off += 16) {
                __builtin_prefetch(l->items + a * l->k + off);
                __builtin_prefetch(l->scores + a * l->k + off);
            }
        }
        size_t i = order[r].idx;
        uint64_t key = order[r].key;
        if (r && key == prev) {
            c->o->collisions[db]++;
            continue;
        }
        prev = key;
        size_t len = l->len[i];
        if (!len) {
            c->o->empty[db]++;
            continue;
        }
        const uint32_t *it = l->items + i * l->k;
        const float *sc = l->scores + i * l->k;
        for (size_t j = 0; j < len; j++) {
            size_t id_len;
            entries[j].id = rb_strtab_str(products, it[j], &id_len);
            entries[j].id_len = (uint16_t)id_len;
            entries[j].key = products->keys[it[j]];
            entries[j].score = sc[j];
        }
        long n = rc_list_encode(buf, cap, (enum rc_source)l->source[i], entries, len);
        int frc = n >= 0 && l->flags ? rc_list_set_flags(buf, (size_t)n, l->flags) : 0;
        if (frc)
            n = frc;
        if (n < 0)
            return rc_fail(err, (int)n, "unable to encode the %s list of key %016" PRIx64 ": %s", rc_db_names[db],
                           key, rc_strerror((int)n));
        int rc = put(c, db, key, buf, (size_t)n, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* The display fields of product i (none when display is NULL or holds
 * RB_NONE for it) as record texts. */
static const struct rc_text *item_fields(const struct rb_dataset *d, const uint32_t *display, uint32_t i,
                                         struct rc_text *out)
{
    if (!display || display[i] == RB_NONE)
        return NULL;
    const struct rb_display *e = &d->display[display[i]];
    const char *t = d->display_text + e->at;
    for (int f = 0; f < RC_FIELD_COUNT; f++) {
        out[f] = (struct rc_text){t, e->len[f]};
        t += e->len[f];
    }
    return out;
}

static int write_items(struct writer_ctx *c, const struct rb_dataset *d, const struct keyed *order,
                       const uint32_t *display, unsigned char *buf, size_t cap, char *err)
{
    const struct rb_strtab *p = &d->products;
    struct rc_text texts[RC_FIELD_COUNT];
    for (uint32_t r = 0; r < p->n; r++) {
        uint32_t i = order[r].idx;
        size_t id_len, cat_len = 0;
        const char *id = rb_strtab_str(p, i, &id_len);
        const char *cat = "";
        if (d->category && d->category[i] != RB_NONE)
            cat = rb_strtab_str(&d->categories, d->category[i], &cat_len);
        int in_stock = d->in_stock ? d->in_stock[i] != 0 : 1;
        long n = rc_item_encode_fields(buf, cap, id, id_len, cat, cat_len, in_stock,
                                       item_fields(d, display, i, texts));
        if (n < 0)
            return rc_fail(err, (int)n, "unable to encode the item '%.*s': %s", (int)id_len, id,
                           rc_strerror((int)n));
        int rc = put(c, RC_DB_ITEMS, p->keys[i], buf, (size_t)n, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int write_catsets(struct writer_ctx *c, const struct rb_dataset *d, const struct catsets *s,
                         const struct keyed *order, unsigned char *buf, size_t cap, char *err)
{
    for (uint32_t r = 0; r < s->n; r++) {
        uint32_t cat = order[r].idx;
        size_t count = s->start[cat + 1] - s->start[cat];
        if (!count)
            continue; /* a category no product kept: unknown to readers, as it should be */
        long n = rc_catset_encode(buf, cap, s->keys + s->start[cat], count);
        if (n < 0) {
            size_t len;
            const char *name = rb_strtab_str(&d->categories, cat, &len);
            return rc_fail(err, (int)n, "unable to encode the product set of category '%.*s': %s", (int)len, name,
                           rc_strerror((int)n));
        }
        int rc = put(c, RC_DB_CATSET, order[r].key, buf, (size_t)n, err);
        if (rc)
            return rc;
    }
    return 0;
}

int rb_output_write(struct rb_output *o, const struct rb_dataset *d, const struct rb_lists *const lists[RB_OUTPUT_LISTS],
                    char *err)
{
    const struct rb_strtab *products = &d->products;
    struct keyed *order[RB_OUTPUT_LISTS + 2] = {0}; /* the lists', the products', the categories' */
    struct catsets sets;
    unsigned char *buf = NULL;
    struct rc_entry *entries = NULL;
    uint32_t *display = NULL; /* per product: its index in d->display, or RB_NONE */
    int rc = 0;
    _Static_assert(RB_OUTPUT_LISTS == RC_DB_ITEMS, "the list DBs come first");

    /* Size everything first: the map, the space check, the progress total. */
    struct rc_cache_size est = {0};
    size_t kmax = 1;
    if (catsets_build(&sets, d) != 0) {
        rc = rc_fail(err, -ENOMEM, "out of memory grouping %" PRIu32 " products by category", products->n);
        goto out;
    }
    for (uint32_t cat = 0; cat < sets.n; cat++)
        if (sets.start[cat + 1] > sets.start[cat])
            rc_cache_size_add(&est, 1, rc_catset_size(sets.start[cat + 1] - sets.start[cat]));
    if (sets.max > RC_CATSET_MAX) {
        rc = rc_fail(err, RC_ERANGE, "a category of %zu products exceeds the cache's limit of %u", sets.max,
                     RC_CATSET_MAX);
        goto out;
    }
    for (int db = 0; db < RB_OUTPUT_LISTS; db++) {
        const struct rb_lists *l = lists[db];
        if (!l || !l->n)
            continue;
        if (l->n >= UINT32_MAX || l->k > RC_LIST_MAX) {
            rc = rc_fail(err, RC_ERANGE, "%zu %s lists of %zu entries exceed the cache's limits", l->n,
                         rc_db_names[db], l->k);
            goto out;
        }
        if ((rc = est_lists(&est, (enum rc_db)db, l, products, err)) != 0)
            goto out;
        if (l->k > kmax)
            kmax = l->k;
    }
    if (d->display_n) {
        if (!(display = malloc((size_t)products->n * sizeof(*display)))) {
            rc = rc_fail(err, -ENOMEM, "out of memory indexing %zu display records", d->display_n);
            goto out;
        }
        memset(display, 0xff, (size_t)products->n * sizeof(*display)); /* RB_NONE */
        for (size_t k = 0; k < d->display_n; k++)
            display[d->display[k].product] = (uint32_t)k;
    }
    for (uint32_t i = 0; i < products->n; i++) {
        uint32_t c = d->category ? d->category[i] : RB_NONE;
        size_t len = RC_ITEM_HEADER + products->lens[i] + (c != RB_NONE ? d->categories.lens[c] : 0);
        for (int f = 0; display && display[i] != RB_NONE && f < RC_FIELD_COUNT; f++)
            len += d->display[display[i]].len[f] ? 2 + (size_t)d->display[display[i]].len[f] : 0;
        rc_cache_size_add(&est, 1, len);
    }
    /* The build file (its whole map, allocated when the writer opens) and
     * its compacted copy (about the map less the spare quarter) exist
     * together until the build file is removed: check before sorting. */
    uint64_t reserve = rc_cache_size_bytes(&est);
    if ((rc = check_space(o->vw.staging, reserve + reserve * 4 / 5, err)) != 0)
        goto out;

    double t0 = rb_now_ms();
    for (int db = 0; db < RB_OUTPUT_LISTS; db++) {
        const struct rb_lists *l = lists[db];
        if (!l || !l->n)
            continue;
        if (sort_keys(list_key, l, l->n, &order[db]) != 0) {
            rc = rc_fail(err, -ENOMEM, "out of memory sorting %zu %s lists", l->n, rc_db_names[db]);
            goto out;
        }
    }
    if (sort_keys(product_key, products, products->n, &order[RB_OUTPUT_LISTS]) != 0) {
        rc = rc_fail(err, -ENOMEM, "out of memory sorting %" PRIu32 " products", products->n);
        goto out;
    }
    if (sort_keys(product_key, &d->categories, sets.n, &order[RB_OUTPUT_LISTS + 1]) != 0) {
        rc = rc_fail(err, -ENOMEM, "out of memory sorting %" PRIu32 " categories", sets.n);
        goto out;
    }
    double t1 = rb_now_ms();
    o->sort_ms = t1 - t0;
    double cpu1 = thread_cpu_ms();

    size_t cap = rc_list_size(kmax, kmax * RC_ID_MAX);
    if (cap < RC_ITEM_HEADER + 2 * RC_ID_MAX + 2 * RC_FIELD_COUNT + RC_FIELDS_TEXT_MAX)
        cap = RC_ITEM_HEADER + 2 * RC_ID_MAX + 2 * RC_FIELD_COUNT + RC_FIELDS_TEXT_MAX;
    if (cap < rc_catset_size(sets.max))
        cap = rc_catset_size(sets.max);
    buf = malloc(cap);
    entries = malloc(kmax * sizeof(*entries));
    if (!buf || !entries) {
        rc = rc_fail(err, -ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = rc_version_reserve(&o->vw, reserve, err)) != 0)
        goto out;

    struct writer_ctx c = {.o = o, .total = est.records};
    for (int db = 0; db < RB_OUTPUT_LISTS && !rc; db++)
        if (lists[db] && lists[db]->n)
            rc = write_lists(&c, (enum rc_db)db, lists[db], order[db], products, buf, cap, entries, err);
    if (!rc)
        rc = write_items(&c, d, order[RB_OUTPUT_LISTS], display, buf, cap, err);
    if (!rc)
        rc = write_catsets(&c, d, &sets, order[RB_OUTPUT_LISTS + 1], buf, cap, err);
    if (rc)
        goto out;
    o->records = c.done;
    double t2 = rb_now_ms();
    o->write_ms = t2 - t1;
    o->write_cpu_ms = thread_cpu_ms() - cpu1;
    if (o->opts.progress)
        o->opts.progress(o->opts.progress_ctx, "write", c.done, c.total);

    /* meta, then the compacted copy. */
    if (cancelled(o)) {
        rc = rc_fail(err, -EINTR, "interrupted while writing '%s'", o->vw.staging);
        goto out;
    }
    if ((rc = rc_version_finish(&o->vw, err)) != 0)
        goto out;
    o->data_bytes = o->vw.data_bytes;
    /* How good the estimate was: the compacted file holds the pages used. */
    rc_log(o->data_bytes > reserve ? RC_LOG_WARN : RC_LOG_DEBUG, "write",
           "records=%" PRIu64 " value_bytes=%" PRIu64 " data_bytes=%" PRIu64 " reserved=%" PRIu64, o->records,
           o->value_bytes, o->data_bytes, reserve);
    o->compact_ms = rb_now_ms() - t2;

out:
    for (int i = 0; i < RB_OUTPUT_LISTS + 2; i++)
        free(order[i]);
    catsets_release(&sets);
    free(buf);
    free(entries);
    free(display);
    return rc;
}

int rb_output_experiments(struct rb_output *o, const char *text, size_t len, char *err)
{
    return rc_version_add_file(&o->vw, RC_EXPERIMENT_FILE, text, len, err);
}

int rb_output_manifest(struct rb_output *o, const struct rc_manifest_info *info, char *err)
{
    return rc_version_commit(&o->vw, info, err);
}

int rb_output_publish(struct rb_output *o, int flip, size_t keep, char *err)
{
    double t0 = rb_now_ms();
    int rc = rc_version_publish(&o->vw, RB_OUTPUT_VERIFY, flip, keep, err);
    o->publish_ms = rb_now_ms() - t0;
    return rc;
}
