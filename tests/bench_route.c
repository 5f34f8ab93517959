/*
 * bench_route - in-process microbenchmark of the /v1/recs hot path against
 * a bare LMDB lookup of the same keys (ops/bench/edge.sh runs it; results
 * in ops/bench/edge.md).
 *
 *   bench_route VERSION_DIR LISTS_DIR [REQUESTS [ROUNDS]]
 *
 * VERSION_DIR is one cache version (ROOT/versions/<id>, opened with
 * rc_version_open at RC_VERIFY_OPEN); LISTS_DIR holds the id lists of
 * ops/bench/edge_mixed.lua, and the REQUESTS (default 200000) query strings
 * are drawn from the same mix as that wrk script (seeded, so every run uses
 * the same requests).
 *
 * What is timed, per request, all with one read txn that is renewed before
 * and reset after each request exactly as recedge does (mdb_txn_renew /
 * mdb_txn_reset):
 *   route    re_route() + re_recs_json() into a fixed RE_RECS_JSON_MAX
 *            buffer, from an already parsed struct re_query;
 *   r-only   re_route() alone (to split route from encode; not a target);
 *   get-all  mdb_get of exactly the (DB, key) pairs that re_route looked up
 *            for that request (recorded in an untimed pass by wrapping
 *            rc_cache_get, see tests/bench.cmake), keys precomputed;
 *   get-read the same gets, each followed by one pass over its value's
 *            bytes (what an answer must at least read; not a target);
 *   get-one  mdb_get of the first of those keys only (one get per request);
 *   txn      renew + reset alone;
 *   parse    re_query_parse of the raw query string (reported apart: it is
 *            not part of route.h, recedge runs it before routing; here it
 *            runs untimed in batches of BATCH queries just before they are
 *            routed).
 * Two variables change what is measured (ops/bench/edge.sh, "browsing
 * route"): BENCH_MIX=browse draws only the mix's products= queries, without
 * a cookie (the browsing route: each product's image and coview lists);
 * BENCH_LISTS=image serves the version as if it had no coview DB (one list
 * kind per product, as before coview lists existed). BENCH_FIELDS=LIST
 * adds "&fields=LIST" to every query (display fields, schemas/http.md):
 * re_route then also gets each answered item's items-DB record, and those
 * gets are recorded, so get-all holds them too. BENCH_N=N asks every
 * query for N items (RE_N_MIN..RE_N_MAX) instead of the mix's 10 or 20.
 * BENCH_OVERLAY=N routes with an overlay (schemas/overlay.md) suppressing N
 * products drawn uniformly from products.txt (seeded). BENCH_FILTER=category,
 * exclude or both adds request filters (schemas/http.md) to every query:
 * "&category=" one category drawn Zipf-ish from LISTS_DIR/categories.txt
 * (most products first), "&exclude=" five products drawn Zipf-ish. Both
 * draw from a second generator, so the queries are otherwise the same
 * as without them.
 * Rounds alternate the kinds so that a change in machine load hits all of
 * them; the best round of each is reported with every round listed, and
 * the median of each round's own route/get-all ratio (its kinds ran back to
 * back, so it moves less with the machine's load).
 * Exit status: 0, 1 on a failure (message on stderr), 2 on bad usage.
 */
#include "cache.h"
#include "version.h"
#include "error.h"
#include "json.h"
#include "keys.h"
#include "query.h"
#include "route.h"

#include <lmdb.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Queries parsed (untimed) ahead of a timed stretch: few enough that the
 * parsed queries are still in the first-level cache when they are routed,
 * as in recedge, which routes a query right after parsing it (1024 parsed
 * queries, 6 MiB of struct re_query, were routed from the L2 cache and
 * their parse pushed LMDB's pages out before every stretch). */
#define BATCH 64
#define MAX_ROUNDS 64

struct lookup {
    uint64_t key;
    uint32_t db;
};

/* The lookup recorder behind -Wl,--wrap=rc_cache_get: NULL outside the
 * recording pass. The only mutable global, needed because the wrap cannot
 * take a context argument. */
static struct recorder {
    struct lookup *v;
    size_t len, cap;
} *recording;

int __real_rc_cache_get(const struct rc_cache *c, MDB_txn *txn, enum rc_db db, uint64_t key, MDB_val *val);

int __wrap_rc_cache_get(const struct rc_cache *c, MDB_txn *txn, enum rc_db db, uint64_t key, MDB_val *val)
{
    if (recording && !(c->absent >> db & 1u)) { /* a DB the version lacks is never read (BENCH_LISTS) */
        if (recording->len == recording->cap) {
            recording->cap = recording->cap ? 2 * recording->cap : 1 << 20;
            recording->v = realloc(recording->v, recording->cap * sizeof(*recording->v));
            if (!recording->v) {
                fprintf(stderr, "bench_route: out of memory\n");
                exit(1);
            }
        }
        recording->v[recording->len++] = (struct lookup){key, (uint32_t)db};
    }
    return __real_rc_cache_get(c, txn, db, key, val);
}

/* ---- inputs ---- */

struct lines {
    char *mem;
    char **line;
    size_t count;
};

static int lines_read(struct lines *l, const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench_route: unable to open '%s'\n", path);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    l->mem = malloc((size_t)size + 1);
    l->line = malloc(((size_t)size / 2 + 1) * sizeof(char *));
    if (!l->mem || !l->line || fread(l->mem, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "bench_route: unable to read '%s'\n", path);
        fclose(f);
        return -1;
    }
    fclose(f);
    l->mem[size] = '\n';
    l->count = 0;
    for (char *p = l->mem, *end = l->mem + size; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end + 1 - p));
        *nl = '\0';
        if (nl > p)
            l->line[l->count++] = p;
        p = nl + 1;
    }
    if (!l->count) {
        fprintf(stderr, "bench_route: '%s' is empty\n", path);
        return -1;
    }
    return 0;
}

/* ---- the request mix of ops/bench/edge_mixed.lua ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static double rng_unit(void)
{
    return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0);
}

/* The second generator (overlay and filters), so that they leave the mix's
 * draws alone. */
static uint64_t rng2_state = 0x2545f4914f6cdd1du;

static uint64_t rng2_next(void)
{
    uint64_t z = (rng2_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static const char *zipf2(const struct lines *l)
{
    double u = (double)(rng2_next() >> 11) * (1.0 / 9007199254740992.0);
    size_t i = (size_t)floor(exp(u * log((double)l->count + 1)));
    if (i < 1)
        i = 1;
    if (i > l->count)
        i = l->count;
    return l->line[i - 1];
}

/* Rank floor((n+1)^u), 1..n: P(rank <= k) = log k / log(n+1). */
static const char *zipf(const struct lines *l)
{
    size_t i = (size_t)floor(exp(rng_unit() * log((double)l->count + 1)));
    if (i < 1)
        i = 1;
    if (i > l->count)
        i = l->count;
    return l->line[i - 1];
}

static int add_product(char *out, size_t cap, const struct lines *products)
{
    if (rng_unit() < 0.02)
        return snprintf(out, cap, "p9%07u", (unsigned)(rng_next() % 10000000u)); /* not in the catalog */
    return snprintf(out, cap, "%s", zipf(products));
}

/* A "cookie loc device" line of a known cookie, as "cookie=..&loc=..&device=..". */
static int add_known_cookie(char *out, size_t cap, const struct lines *cf, const struct lines *plain)
{
    const char *line = rng_unit() < 0.85 ? zipf(cf) : zipf(plain);
    char c[300], l[300], d[300];
    if (sscanf(line, "%299s %299s %299s", c, l, d) != 3)
        return snprintf(out, cap, "cookie=%s", line);
    return snprintf(out, cap, "cookie=%s&loc=%s&device=%s", c, l, d);
}

static const char *const devices[10] = {"mobile",  "mobile",  "mobile",  "mobile", "mobile",
                                        "mobile",  "desktop", "desktop", "desktop", "tablet"};

/* One raw query string (without '?') into out; browse: products= queries
 * only, without a cookie; fields: a fields= value to add, or NULL. */
static void draw_query(char *out, size_t cap, const struct lines *products, const struct lines *cf,
                       const struct lines *plain, const struct lines *locations, int browse, const char *fields,
                       unsigned fixed_n)
{
    double u = browse ? 0 : rng_unit();
    unsigned n = rng_unit() < 0.1 ? 20 : 10;
    if (fixed_n)
        n = fixed_n; /* the draw above still happens: the same requests otherwise */
    int o = 0;
    if (u < 0.5) {
        double k = rng_unit();
        o += snprintf(out + o, cap - o, "products=");
        o += add_product(out + o, cap - o, products);
        if (k >= 0.6) {
            o += snprintf(out + o, cap - o, ",");
            o += add_product(out + o, cap - o, products);
        }
        if (k >= 0.9) {
            o += snprintf(out + o, cap - o, ",");
            o += add_product(out + o, cap - o, products);
        }
        if (!browse && rng_unit() < 0.5) {
            o += snprintf(out + o, cap - o, "&");
            o += add_known_cookie(out + o, cap - o, cf, plain);
        }
    } else if (u < 0.8) {
        o += add_known_cookie(out + o, cap - o, cf, plain);
    } else {
        o += snprintf(out + o, cap - o, "cookie=%016llx&loc=%s&device=%s", (unsigned long long)rng_next(),
                      zipf(locations), devices[rng_next() % 10]);
    }
    o += snprintf(out + o, cap - o, "&n=%u", n);
    if (fields)
        snprintf(out + o, cap - o, "&fields=%s", fields);
}

/* BENCH_FILTER: append "&category=.." (categories non-NULL) and/or
 * "&exclude=" five products (exclude) to the query in out. */
static void add_filter(char *out, size_t cap, const struct lines *categories, int exclude,
                       const struct lines *products)
{
    size_t o = strlen(out);
    if (categories)
        o += (size_t)snprintf(out + o, cap - o, "&category=%s", zipf2(categories));
    if (exclude)
        for (int i = 0; i < 5; i++)
            o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "," : "&exclude=", zipf2(products));
}

/* BENCH_OVERLAY: an overlay of n products drawn uniformly (without
 * repeats) from products, decoded as recedge holds one. */
static struct rc_overlay *draw_overlay(const struct lines *products, size_t n)
{
    if (n > products->count)
        n = products->count;
    size_t *pick = malloc(products->count * sizeof(*pick));
    const char **ids = malloc((n ? n : 1) * sizeof(*ids));
    size_t *lens = malloc((n ? n : 1) * sizeof(*lens));
    if (!pick || !ids || !lens) {
        fprintf(stderr, "bench_route: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < products->count; i++)
        pick[i] = i;
    for (size_t i = 0; i < n; i++) { /* a partial Fisher-Yates shuffle */
        size_t j = i + (size_t)(rng2_next() % (products->count - i)), t = pick[i];
        pick[i] = pick[j];
        pick[j] = t;
        ids[i] = products->line[pick[i]];
        lens[i] = strlen(ids[i]);
    }
    void *bytes;
    size_t len;
    struct rc_overlay *ov = NULL;
    char err[RC_ERRMSG_MAX];
    if (rc_overlay_encode(ids, lens, n, &bytes, &len, err) != 0 || rc_overlay_decode(bytes, len, &ov, err) != 0) {
        fprintf(stderr, "bench_route: overlay: %s\n", err);
        exit(1);
    }
    free(bytes);
    free(pick);
    free(ids);
    free(lens);
    return ov;
}

/* ---- timing ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int lmdb_check(int rc, const char *what)
{
    if (rc && rc != MDB_NOTFOUND) {
        fprintf(stderr, "bench_route: %s: %s\n", what, mdb_strerror(rc));
        return -1;
    }
    return 0;
}

/* ---- the timed kinds ----
 * One function each, never inlined, so that `valgrind --tool=callgrind`
 * gives each kind's instruction count as the inclusive cost of its
 * function (ops/bench/edge_callgrind.sh divides it by the requests). */

struct bench {
    const struct rc_cache *cache;
    MDB_txn *txn;
    struct re_route_scratch *scratch;
    struct re_recs *recs;
    char *out; /* RE_RECS_JSON_MAX bytes */
    const struct lookup *look;
    const size_t *look_off; /* lookups of request i: look[look_off[i] .. look_off[i+1]) */
    uint64_t sink;
};

/* re_query_parse of requests base..base+m into qs[0..m) */
static __attribute__((noinline)) void kind_parse(struct re_query *qs, const char *raw, const size_t *raw_off,
                                                 size_t base, size_t m)
{
    for (size_t j = 0; j < m; j++) {
        size_t i = base + j;
        (void)re_query_parse(&qs[j], raw + raw_off[i], raw_off[i + 1] - raw_off[i] - 1);
    }
}

static __attribute__((noinline)) void kind_route(struct bench *bn, const struct re_query *qs, size_t m)
{
    for (size_t j = 0; j < m; j++) {
        (void)mdb_txn_renew(bn->txn);
        (void)re_route(bn->cache, bn->txn, &qs[j], bn->scratch, bn->recs);
        struct rc_buf b;
        rc_buf_fixed(&b, bn->out, RE_RECS_JSON_MAX);
        re_recs_json(bn->recs, bn->cache->manifest.version, &b);
        mdb_txn_reset(bn->txn);
        bn->sink += b.len;
    }
}

static __attribute__((noinline)) void kind_ronly(struct bench *bn, const struct re_query *qs, size_t m)
{
    for (size_t j = 0; j < m; j++) {
        (void)mdb_txn_renew(bn->txn);
        (void)re_route(bn->cache, bn->txn, &qs[j], bn->scratch, bn->recs);
        mdb_txn_reset(bn->txn);
        bn->sink += bn->recs->count;
    }
}

/* the same lookups, bare */
static __attribute__((noinline)) void kind_get_all(struct bench *bn, size_t nreq)
{
    for (size_t i = 0; i < nreq; i++) {
        (void)mdb_txn_renew(bn->txn);
        for (size_t k = bn->look_off[i]; k < bn->look_off[i + 1]; k++) {
            MDB_val key = {sizeof(uint64_t), (void *)&bn->look[k].key}, val;
            if (mdb_get(bn->txn, bn->cache->dbi[bn->look[k].db], &key, &val) == 0)
                bn->sink += val.mv_size;
        }
        mdb_txn_reset(bn->txn);
    }
}

/* the same lookups, each followed by one pass over its value's bytes (what
 * an answer must at least read; not a target, it splits routing's own work
 * from the memory it has to touch) */
static __attribute__((noinline)) void kind_get_read(struct bench *bn, size_t nreq)
{
    for (size_t i = 0; i < nreq; i++) {
        (void)mdb_txn_renew(bn->txn);
        for (size_t k = bn->look_off[i]; k < bn->look_off[i + 1]; k++) {
            MDB_val key = {sizeof(uint64_t), (void *)&bn->look[k].key}, val;
            if (mdb_get(bn->txn, bn->cache->dbi[bn->look[k].db], &key, &val) == 0) {
                const unsigned char *p = val.mv_data;
                uint64_t x = 0, w;
                size_t j = 0;
                for (; j + 8 <= val.mv_size; j += 8) {
                    memcpy(&w, p + j, 8);
                    x ^= w;
                }
                for (; j < val.mv_size; j++)
                    x ^= p[j];
                bn->sink += x;
            }
        }
        mdb_txn_reset(bn->txn);
    }
}

/* one get per request */
static __attribute__((noinline)) void kind_get_one(struct bench *bn, size_t nreq)
{
    for (size_t i = 0; i < nreq; i++) {
        (void)mdb_txn_renew(bn->txn);
        if (bn->look_off[i + 1] > bn->look_off[i]) {
            size_t k = bn->look_off[i];
            MDB_val key = {sizeof(uint64_t), (void *)&bn->look[k].key}, val;
            if (mdb_get(bn->txn, bn->cache->dbi[bn->look[k].db], &key, &val) == 0)
                bn->sink += val.mv_size;
        }
        mdb_txn_reset(bn->txn);
    }
}

/* renew + reset alone */
static __attribute__((noinline)) void kind_txn(struct bench *bn, size_t nreq)
{
    for (size_t i = 0; i < nreq; i++) {
        (void)mdb_txn_renew(bn->txn);
        mdb_txn_reset(bn->txn);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: bench_route VERSION_DIR LISTS_DIR [REQUESTS [ROUNDS]]\n");
        return 2;
    }
    size_t nreq = argc > 3 ? strtoul(argv[3], NULL, 10) : 200000;
    int rounds = argc > 4 ? atoi(argv[4]) : 5;
    if (nreq < 1 || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "bench_route: REQUESTS must be >= 1 and ROUNDS 1..%d\n", MAX_ROUNDS);
        return 2;
    }

    static struct rc_cache cache;
    char err[RC_ERRMSG_MAX];
    int rc = rc_version_open(&cache, argv[1], RC_VERIFY_OPEN, err);
    if (rc) {
        fprintf(stderr, "bench_route: %s\n", err);
        return 1;
    }
    const char *mix = getenv("BENCH_MIX"), *kinds = getenv("BENCH_LISTS"), *fields = getenv("BENCH_FIELDS");
    if (fields && !*fields)
        fields = NULL;
    const char *n_env = getenv("BENCH_N");
    unsigned fixed_n = n_env && *n_env ? (unsigned)strtoul(n_env, NULL, 10) : 0;
    if (n_env && *n_env && (fixed_n < RE_N_MIN || fixed_n > RE_N_MAX)) {
        fprintf(stderr, "bench_route: BENCH_N must be %d..%d\n", RE_N_MIN, RE_N_MAX);
        return 2;
    }
    const char *ov_env = getenv("BENCH_OVERLAY"), *filter = getenv("BENCH_FILTER");
    size_t ov_n = ov_env && *ov_env ? (size_t)strtoull(ov_env, NULL, 10) : 0;
    if (filter && !*filter)
        filter = NULL;
    int f_category = filter && (strcmp(filter, "category") == 0 || strcmp(filter, "both") == 0);
    int f_exclude = filter && (strcmp(filter, "exclude") == 0 || strcmp(filter, "both") == 0);
    if (filter && !f_category && !f_exclude) {
        fprintf(stderr, "bench_route: BENCH_FILTER must be category, exclude or both\n");
        return 2;
    }
    int browse = mix && strcmp(mix, "browse") == 0;
    if (kinds && strcmp(kinds, "image") == 0)
        cache.absent |= 1u << RC_DB_COVIEW; /* one list kind: as a version without coview lists */
    struct lines products, cf, plain, locations;
    if (lines_read(&products, argv[2], "products.txt") || lines_read(&cf, argv[2], "cookies_cf.txt") ||
        lines_read(&plain, argv[2], "cookies_plain.txt") || lines_read(&locations, argv[2], "locations.txt"))
        return 1;
    struct lines categories;
    if (f_category && lines_read(&categories, argv[2], "categories.txt"))
        return 1;

    /* The raw queries, NUL-separated. */
    size_t raw_cap = nreq * 256, raw_len = 0;
    char *raw = malloc(raw_cap);
    size_t *raw_off = malloc((nreq + 1) * sizeof(size_t));
    struct re_query *qs = malloc(BATCH * sizeof(*qs));
    /* lookups of request i: look[look_off[i] .. look_off[i+1]) */
    size_t *look_off = malloc((nreq + 1) * sizeof(size_t));
    static struct re_route_scratch scratch;
    static struct re_recs recs;
    static char out[RE_RECS_JSON_MAX];
    if (!raw || !raw_off || !qs || !look_off) {
        fprintf(stderr, "bench_route: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < nreq; i++) {
        char q[2048];
        draw_query(q, sizeof(q), &products, &cf, &plain, &locations, browse, fields, fixed_n);
        if (filter)
            add_filter(q, sizeof(q), f_category ? &categories : NULL, f_exclude, &products);
        size_t len = strlen(q) + 1;
        raw_off[i] = raw_len;
        memcpy(raw + raw_len, q, len);
        raw_len += len;
    }
    raw_off[nreq] = raw_len;
    (void)raw_cap;
    re_route_scratch_init(&scratch);
    struct rc_overlay *ov = ov_n ? draw_overlay(&products, ov_n) : NULL;
    scratch.suppress = ov;

    MDB_txn *txn;
    if (lmdb_check(mdb_txn_begin(cache.env, NULL, MDB_RDONLY, &txn), "mdb_txn_begin"))
        return 1;
    mdb_txn_reset(txn);

    /* Untimed pass: parse, route and record the lookups; count answers. */
    struct recorder rec = {0};
    uint64_t answer_bytes = 0, items = 0, routes[RC_SRC_LAST + 1] = {0}, parse_errors = 0, short_answers = 0;
    for (size_t i = 0; i < nreq; i++) {
        struct re_query *q = &qs[0];
        if (re_query_parse(q, raw + raw_off[i], raw_off[i + 1] - raw_off[i] - 1) != 0)
            parse_errors++;
        look_off[i] = rec.len;
        if (lmdb_check(mdb_txn_renew(txn), "mdb_txn_renew"))
            return 1;
        recording = &rec;
        rc = re_route(&cache, txn, q, &scratch, &recs);
        recording = NULL;
        struct rc_buf b;
        rc_buf_fixed(&b, out, sizeof(out));
        re_recs_json(&recs, cache.manifest.version, &b);
        mdb_txn_reset(txn);
        if (rc) {
            fprintf(stderr, "bench_route: re_route: %s\n", rc_strerror(rc));
            return 1;
        }
        answer_bytes += b.len;
        items += recs.count;
        short_answers += recs.count < q->n;
        routes[recs.route <= RC_SRC_LAST ? recs.route : 0]++;
    }
    look_off[nreq] = rec.len;
    size_t with_lookup = 0;
    for (size_t i = 0; i < nreq; i++)
        with_lookup += look_off[i + 1] > look_off[i];

    struct bench bn = {&cache, txn, &scratch, &recs, out, rec.v, look_off, 0};
    double t_ronly[MAX_ROUNDS], t_route[MAX_ROUNDS], t_all[MAX_ROUNDS], t_read[MAX_ROUNDS], t_one[MAX_ROUNDS],
        t_txn[MAX_ROUNDS], t_parse[MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        /* route + encode, parsing done in untimed batches */
        double route_s = 0, parse_s = 0;
        for (size_t base = 0; base < nreq; base += BATCH) {
            size_t m = nreq - base < BATCH ? nreq - base : BATCH;
            double t0 = now_s();
            kind_parse(qs, raw, raw_off, base, m);
            double t1 = now_s();
            kind_route(&bn, qs, m);
            double t2 = now_s();
            parse_s += t1 - t0;
            route_s += t2 - t1;
        }
        t_route[r] = route_s;
        t_parse[r] = parse_s;

        /* re_route alone */
        double ronly_s = 0;
        for (size_t base = 0; base < nreq; base += BATCH) {
            size_t m = nreq - base < BATCH ? nreq - base : BATCH;
            kind_parse(qs, raw, raw_off, base, m);
            double t1 = now_s();
            kind_ronly(&bn, qs, m);
            ronly_s += now_s() - t1;
        }
        t_ronly[r] = ronly_s;

        double t0 = now_s();
        kind_get_all(&bn, nreq);
        t_all[r] = now_s() - t0;
        t0 = now_s();
        kind_get_read(&bn, nreq);
        t_read[r] = now_s() - t0;
        t0 = now_s();
        kind_get_one(&bn, nreq);
        t_one[r] = now_s() - t0;
        t0 = now_s();
        kind_txn(&bn, nreq);
        t_txn[r] = now_s() - t0;
    }
    uint64_t sink = bn.sink;

    double ns = 1e9 / (double)nreq;
    printf("# bench_route: version %s, %zu requests (%s of ops/bench/edge_mixed.lua), %d rounds, browsing lists: %s\n",
           cache.manifest.version, nreq, browse ? "the products= queries" : "mix", rounds,
           cache.absent >> RC_DB_COVIEW & 1u ? "image" : "image+coview");
    printf("# display fields: %s; n: %s; overlay: %zu products; filter: %s\n", fields ? fields : "none",
           fixed_n ? n_env : "the mix's", ov ? (size_t)ov->count : 0, filter ? filter : "none");
    printf("# cache counts: cookie %llu, product %llu, segment %llu, coview %llu\n",
           (unsigned long long)cache.manifest.counts[RC_DB_COOKIE],
           (unsigned long long)cache.manifest.counts[RC_DB_PRODUCT],
           (unsigned long long)cache.manifest.counts[RC_DB_SEGMENT],
           (unsigned long long)cache.manifest.counts[RC_DB_COVIEW]);
    printf("# answers: mean %.0f bytes, mean %.2f items; route image %llu, coview %llu, cf %llu, segment %llu, "
           "global %llu, category %llu; parse errors %llu; short answers %llu\n",
           (double)answer_bytes / (double)nreq, (double)items / (double)nreq, (unsigned long long)routes[RC_SRC_IMAGE],
           (unsigned long long)routes[RC_SRC_COVIEW], (unsigned long long)routes[RC_SRC_CF],
           (unsigned long long)routes[RC_SRC_SEGMENT], (unsigned long long)routes[RC_SRC_GLOBAL],
           (unsigned long long)routes[RC_SRC_CATEGORY],
           (unsigned long long)parse_errors, (unsigned long long)short_answers);
    printf("# lookups by re_route: %zu in all, %.3f per request (%zu requests with at least one)\n", rec.len,
           (double)rec.len / (double)nreq, with_lookup);
    /* Each round's kinds run back to back, so the ratio within a round is
     * less exposed to a change in machine load than a ratio of best rounds. */
    double ratio_r[MAX_ROUNDS];
    printf("# ns/request per round (route | r-only | get-all | get-read | get-one | txn | parse; route/get-all):\n");
    for (int r = 0; r < rounds; r++) {
        ratio_r[r] = t_route[r] / t_all[r];
        printf("#   round %d: %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f; %.3f\n", r + 1, t_route[r] * ns,
               t_ronly[r] * ns, t_all[r] * ns, t_read[r] * ns, t_one[r] * ns, t_txn[r] * ns, t_parse[r] * ns,
               ratio_r[r]);
    }
    qsort(ratio_r, (size_t)rounds, sizeof(double), cmp_double);
    double ratio_median = rounds % 2 ? ratio_r[rounds / 2] : (ratio_r[rounds / 2 - 1] + ratio_r[rounds / 2]) / 2;
    qsort(t_route, (size_t)rounds, sizeof(double), cmp_double);
    qsort(t_ronly, (size_t)rounds, sizeof(double), cmp_double);
    qsort(t_all, (size_t)rounds, sizeof(double), cmp_double);
    qsort(t_read, (size_t)rounds, sizeof(double), cmp_double);
    qsort(t_one, (size_t)rounds, sizeof(double), cmp_double);
    qsort(t_txn, (size_t)rounds, sizeof(double), cmp_double);
    qsort(t_parse, (size_t)rounds, sizeof(double), cmp_double);
    printf("route+encode (renew, re_route, re_recs_json, reset)   %8.0f ns/request (best round)\n", t_route[0] * ns);
    printf("re_route alone (renew, re_route, reset)               %8.0f ns/request\n", t_ronly[0] * ns);
    printf("bare mdb_get, the same %.3f lookups/request (+txn)   %8.0f ns/request\n", (double)rec.len / (double)nreq,
           t_all[0] * ns);
    printf("bare mdb_get + one pass over each value (same lookups) %7.0f ns/request\n", t_read[0] * ns);
    printf("bare mdb_get, one lookup/request (+txn)               %8.0f ns/request\n", t_one[0] * ns);
    printf("txn renew + reset alone                               %8.0f ns/request\n", t_txn[0] * ns);
    printf("re_query_parse (not in the ratio)                     %8.0f ns/request\n", t_parse[0] * ns);
    printf("RATIO route+encode / bare get (same lookups) = %.2f  (target <= 1.5)\n", t_route[0] / t_all[0]);
    printf("RATIO route+encode / bare get (same lookups), median of the rounds' own ratios = %.2f\n", ratio_median);
    printf("RATIO route+encode / bare get (one lookup)   = %.2f\n", t_route[0] / t_one[0]);
    printf("RATIO re_route alone / bare get (same lookups) = %.2f\n", t_ronly[0] / t_all[0]);
    printf("RATIO route+encode / bare get + value pass = %.2f\n", t_route[0] / t_read[0]);
    fprintf(stderr, "(sink %llu)\n", (unsigned long long)sink);

    mdb_txn_abort(txn);
    rc_cache_close(&cache);
    rc_overlay_free(ov);
    free(rec.v);
    free(raw);
    free(raw_off);
    free(qs);
    free(look_off);
    return 0;
}
