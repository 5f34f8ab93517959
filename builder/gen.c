/*
 * gen.c - recgen's generator (contract in gen.h, model in schemas/recgen.md).
 *
 * Layout of this file: PRNG; name tables; buffered output; the model (the
 * catalog structure and the probability tables built once, O(products));
 * writers for the per-product files; the cookie loop that streams events;
 * rb_gen_run() tying them together.
 */
#include "gen.h"

#include "error.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ PRNG */

/* splitmix64's output function: a bijection on 64-bit integers. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Independent seed for (domain, index) under the run's seed. */
static uint64_t derive(uint64_t seed, uint64_t domain, uint64_t index)
{
    return mix64(mix64(seed ^ (domain * 0x9e3779b97f4a7c15ULL)) ^ mix64(index + 0x632be59bd9b4e019ULL));
}

enum {
    DOMAIN_MODEL = 1,   /* catalog structure, boosts, hits */
    DOMAIN_CATALOG,     /* titles and prices */
    DOMAIN_EMB,         /* embedding centroids and rows */
    DOMAIN_WEIGHT,      /* per cookie: activity weight */
    DOMAIN_TIME,        /* per cookie: session sizes and gaps */
    DOMAIN_SLOT,        /* per cookie: session start positions */
    DOMAIN_CONTENT,     /* per cookie: tastes, devices, products, types */
    DOMAIN_COOKIE_ID,   /* key that turns a cookie index into its id */
};

/* xoshiro256** (Blackman, Vigna), seeded through splitmix64. */
struct rng {
    uint64_t s[4];
};

static void rng_seed(struct rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        seed += 0x9e3779b97f4a7c15ULL;
        r->s[i] = mix64(seed);
    }
}

static inline uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return out;
}

/* Uniform in [0, 1). */
static inline double rng_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform in [0, n), n >= 1. */
static inline uint32_t rng_below(struct rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Exponential with mean 1. */
static inline double rng_exp(struct rng *r)
{
    return -log1p(-rng_unit(r));
}

/* Standard normal (Marsaglia's polar method, one value per call). */
static double rng_normal(struct rng *r)
{
    for (;;) {
        double u = 2.0 * rng_unit(r) - 1.0, v = 2.0 * rng_unit(r) - 1.0;
        double s = u * u + v * v;
        if (s > 0.0 && s < 1.0)
            return u * sqrt(-2.0 * log(s) / s);
    }
}

/* ----------------------------------------------------------- name tables */

#define CATEGORY_NAMES 40
static const char *const category_names[CATEGORY_NAMES] = {
    "womens-shoes", "mens-shoes", "sneakers",   "handbags",    "watches",     "jewelry",      "sunglasses",
    "dresses",      "jeans",      "t-shirts",   "jackets",     "sportswear",  "laptops",      "smartphones",
    "headphones",   "cameras",    "tv-audio",   "gaming",      "smart-home",  "kitchen",      "cookware",
    "furniture",    "bedding",    "lighting",   "garden",      "tools",       "toys",         "baby",
    "books",        "beauty",     "skincare",   "fragrance",   "pet-supplies", "groceries",   "coffee-tea",
    "wine",         "bikes",      "outdoor",    "fitness",     "office",
};

/* Ordered by traffic: location l gets a share proportional to 1/(l+1). */
static const char *const location_codes[RB_GEN_MAX_LOCATIONS] = {
    "US", "DE", "GB", "FR", "JP", "CA", "BR", "IN", "IT", "ES", "NL", "AU", "SE", "PL",
    "MX", "KR", "CH", "BE", "AT", "DK", "NO", "FI", "IE", "PT", "CZ", "TR", "AR", "CL",
    "CO", "ZA", "SG", "NZ", "IL", "AE", "SA", "TH", "ID", "MY", "PH", "VN",
};

static const char *const device_names[RB_GEN_DEVICES] = {"mobile", "desktop", "tablet"};
static const double device_primary_share[RB_GEN_DEVICES] = {0.55, 0.35, 0.10};
static const uint32_t device_boost_count[RB_GEN_DEVICES] = {2, 2, 1};

static const char *const title_adjectives[16] = {
    "Classic", "Urban", "Pro", "Essential", "Premium", "Compact", "Vintage", "Smart",
    "Everyday", "Deluxe", "Nordic", "Studio", "Active", "Soft", "Bold", "Eco",
};

/* ------------------------------------------------------ model constants */

#define CATEGORY_POPULARITY_ZIPF 0.8 /* prior over categories */
#define CATEGORY_SIZE_ZIPF 0.6       /* how unevenly products spread over categories */
#define LOCATION_BOOST 5.0           /* weight factor of a location's categories */
#define DEVICE_BOOST 2.5             /* weight factor of a device's categories */
#define LOCATION_BOOSTED 2U          /* categories boosted per location */
#define SESSION_DEVICE_STICKY 0.85   /* a session uses the cookie's device */
#define ACTIVITY_ALPHA 1.5           /* Lomax tail of cookie activity */
#define ACTIVITY_CAP 50.0            /* heaviest cookie / typical cookie */
#define SESSION_MAX 40U              /* events per session at most */
#define SESSION_MEAN_EXTRA 4.5       /* 1 + floor(Exp * this) events */
#define GAP_MIN_S 5.0                /* seconds between events in a session */
#define GAP_MEAN_S 40.0
#define GAP_MAX_S 1800.0
#define P_FOCUS_TASTE 0.9            /* session focus is a favourite category */
#define P_VIEW_HIT 0.05              /* a view of a local hit product */
#define P_VIEW_REVISIT 0.20          /* a view of a product already seen */
#define P_VIEW_EXPLORE 0.10          /* a view outside the focus category */
#define P_BUYER_CONVERT 0.35         /* a buyer's session ends in carts */
#define P_BUYER_ABANDON 0.10         /* ... or in an abandoned cart */
#define P_BROWSER_ABANDON 0.08       /* a non-buyer's session has a cart */
#define P_CART_PURCHASED 0.6
#define P_PURCHASE_OF_CART 0.9       /* else another product viewed in the session */

#define PF_IN_STOCK 1u
#define PF_NEW 2u

#define CAT_NAME_MAX 32
#define PID_STRIDE 16 /* lets the event writer copy ids as fixed 16-byte blocks */

struct model {
    const struct rb_gen_config *cfg;
    uint32_t P, K, Q, L;
    uint64_t C, N;
    int64_t start_ts;

    /* products, indexed 0..P-1; id "p" + zero-padded index+1 */
    uint32_t *cat;            /* category */
    uint8_t *cluster;         /* cluster within the category, < Q */
    uint8_t *flags;           /* PF_* */
    uint32_t *within;         /* rank within the category, 0 = most popular */
    uint32_t *rank;           /* global rank by expected share, 1-based */
    double *share;            /* expected share of views */
    char *pid;                /* P * PID_STRIDE bytes, each id NUL-padded */
    uint32_t pid_len;         /* 7 .. 10 */
    uint32_t new_count, oos_count;

    /* categories */
    char (*cat_name)[CAT_NAME_MAX];
    uint32_t *cat_off;        /* [K+1]: products of k are cat_prods[off[k], off[k+1]) */
    uint32_t *cat_prods;      /* [P], within each category by within-rank */
    float *alias_prob;        /* [P], Vose alias table per category slice */
    uint32_t *alias_idx;      /* [P], slot index within the slice */
    double *cat_prior;        /* [K], sums to 1 */
    double *cat_mix;          /* [K], expected share of category draws */

    /* segments */
    double loc_share[RB_GEN_MAX_LOCATIONS];
    double loc_cdf[RB_GEN_MAX_LOCATIONS];
    double dev_session_share[RB_GEN_DEVICES];
    uint32_t loc_boost[RB_GEN_MAX_LOCATIONS][LOCATION_BOOSTED];
    uint32_t n_loc_boost;
    uint32_t dev_boost[RB_GEN_DEVICES][2];
    uint32_t hits[RB_GEN_MAX_LOCATIONS][RB_GEN_HITS_PER_LOCATION];
    uint32_t n_hits;
    double *seg_cdf;          /* [L][DEVICES][K] cumulative category weights, last = 1 */
};

/* ------------------------------------------------------ buffered output */

#define OUT_BUF_SIZE (4u << 20)
#define OUT_LINE_MAX 4096 /* every line written at once fits in this */

struct out {
    int fd;
    size_t len;
    char *buf;
    char path[PATH_MAX];
    char tmp[PATH_MAX];
};

static void out_init(struct out *o)
{
    o->fd = -1;
    o->len = 0;
    o->buf = NULL;
    o->path[0] = o->tmp[0] = 0;
}

static int out_open(struct out *o, const char *dir, const char *name, char *err)
{
    out_init(o);
    int n1 = snprintf(o->path, sizeof(o->path), "%s/%s", dir, name);
    int n2 = snprintf(o->tmp, sizeof(o->tmp), "%s/%s.tmp", dir, name);
    if (n1 < 0 || n2 < 0 || (size_t)n2 >= sizeof(o->tmp))
        return rc_fail(err, -ENAMETOOLONG, "output path too long: '%s/%s'", dir, name);
    o->buf = malloc(OUT_BUF_SIZE);
    if (!o->buf)
        return rc_fail(err, -ENOMEM, "out of memory for the buffer of '%s'", o->path);
    o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (o->fd < 0) {
        int e = errno;
        free(o->buf);
        o->buf = NULL;
        return rc_fail(err, -e, "unable to create '%s': %s", o->tmp, strerror(e));
    }
    return 0;
}

static int out_flush(struct out *o, char *err)
{
    size_t off = 0;
    while (off < o->len) {
        ssize_t n = write(o->fd, o->buf + off, o->len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            return rc_fail(err, -e, "unable to write '%s': %s", o->path, strerror(e));
        }
        off += (size_t)n;
    }
    o->len = 0;
    return 0;
}

/* Make room for `need` (<= OUT_BUF_SIZE) more bytes; returns 0 or -errno. */
static inline int out_room(struct out *o, size_t need, char *err)
{
    if (o->len + need > OUT_BUF_SIZE)
        return out_flush(o, err);
    return 0;
}

static int out_bytes(struct out *o, const void *p, size_t n, char *err)
{
    while (n) {
        if (o->len == OUT_BUF_SIZE) {
            int rc = out_flush(o, err);
            if (rc)
                return rc;
        }
        size_t take = OUT_BUF_SIZE - o->len < n ? OUT_BUF_SIZE - o->len : n;
        memcpy(o->buf + o->len, p, take);
        o->len += take;
        p = (const char *)p + take;
        n -= take;
    }
    return 0;
}

/* For the small, per-product or per-segment lines only; events never
 * go through printf. A line longer than OUT_LINE_MAX is an internal error. */
static int out_printf(struct out *o, char *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int out_printf(struct out *o, char *err, const char *fmt, ...)
{
    int rc = out_room(o, OUT_LINE_MAX, err);
    if (rc)
        return rc;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, OUT_LINE_MAX, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= OUT_LINE_MAX)
        return rc_fail(err, RC_EINTERNAL, "line too long for '%s'", o->path);
    o->len += (size_t)n;
    return 0;
}

/* Flush, close and rename into place; the struct is released either way. */
static int out_commit(struct out *o, char *err)
{
    int rc = out_flush(o, err);
    if (rc == 0 && close(o->fd) != 0) {
        int e = errno;
        rc = rc_fail(err, -e, "unable to write '%s': %s", o->path, strerror(e));
    } else if (rc) {
        (void)close(o->fd);
    }
    o->fd = -1;
    if (rc == 0 && rename(o->tmp, o->path) != 0) {
        int e = errno;
        rc = rc_fail(err, -e, "unable to rename '%s' to '%s': %s", o->tmp, o->path, strerror(e));
    }
    if (rc)
        (void)unlink(o->tmp);
    free(o->buf);
    o->buf = NULL;
    return rc;
}

/* Abandon a file: close and remove the temporary. Safe on an unopened out. */
static void out_discard(struct out *o)
{
    if (o->fd >= 0) {
        (void)close(o->fd);
        (void)unlink(o->tmp);
    }
    o->fd = -1;
    free(o->buf);
    o->buf = NULL;
}

/* The end of a file: committed when rc is 0, discarded (and rc returned)
 * otherwise. */
static int out_finish(struct out *o, int rc, char *err)
{
    if (rc) {
        out_discard(o);
        return rc;
    }
    return out_commit(o, err);
}

/* ----------------------------------------------------------- formatting */

static inline char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static inline char *put_mem(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

static inline char *put_str(char *p, const char *s)
{
    return put_mem(p, s, strlen(s));
}

/* v in [0, 1] with three decimals: "0.712". */
static char *put_milli(char *p, double v)
{
    long m = lround(v * 1000.0);
    if (m < 0)
        m = 0;
    *p++ = (char)('0' + m / 1000);
    *p++ = '.';
    *p++ = (char)('0' + m / 100 % 10);
    *p++ = (char)('0' + m / 10 % 10);
    *p++ = (char)('0' + m % 10);
    return p;
}

static void hex16(char *dst, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        dst[i] = digits[v & 15];
        v >>= 4;
    }
}

static inline const char *product_id(const struct model *m, uint32_t j)
{
    return m->pid + (size_t)j * PID_STRIDE;
}

/* ---------------------------------------------------------------- config */

void rb_gen_defaults(struct rb_gen_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->out_dir = NULL;
    cfg->seed = 1;
    cfg->events = 200000;
    cfg->cookies = 0;
    cfg->products = 5000;
    cfg->categories = 20;
    cfg->clusters = 3;
    cfg->dim = 64;
    cfg->days = 14;
    cfg->locations = 10;
    cfg->end_ts = 1767225600; /* 2026-01-01T00:00:00Z */
    cfg->zipf = 1.0;
    cfg->buyers = 0.3;
    cfg->out_of_stock = 0.07;
    cfg->new_products = 0.02;
    cfg->noise = 0.5;
}

static uint64_t effective_cookies(const struct rb_gen_config *cfg)
{
    if (cfg->cookies)
        return cfg->cookies;
    return cfg->events / 10 ? cfg->events / 10 : 1;
}

int rb_gen_check(const struct rb_gen_config *cfg, char *err)
{
    if (!cfg->out_dir || !cfg->out_dir[0])
        return rc_fail(err, RC_ERANGE, "--out is required");
    if (cfg->events < 1 || cfg->events > RB_GEN_MAX_EVENTS)
        return rc_fail(err, RC_ERANGE, "--events must be from 1 to %llu", (unsigned long long)RB_GEN_MAX_EVENTS);
    uint64_t cookies = effective_cookies(cfg);
    if (cookies > cfg->events)
        return rc_fail(err, RC_ERANGE, "--cookies (%llu) must be at most --events (%llu): every cookie has an event",
                       (unsigned long long)cookies, (unsigned long long)cfg->events);
    if (cfg->categories < 1 || cfg->categories > RB_GEN_MAX_CATEGORIES)
        return rc_fail(err, RC_ERANGE, "--categories must be from 1 to %u", RB_GEN_MAX_CATEGORIES);
    if (cfg->products < cfg->categories || cfg->products > RB_GEN_MAX_PRODUCTS)
        return rc_fail(err, RC_ERANGE, "--products must be from --categories (%u) to %u", cfg->categories,
                       RB_GEN_MAX_PRODUCTS);
    if (cfg->clusters < 1 || cfg->clusters > RB_GEN_MAX_CLUSTERS)
        return rc_fail(err, RC_ERANGE, "--clusters must be from 1 to %u", RB_GEN_MAX_CLUSTERS);
    if (cfg->dim < 1 || cfg->dim > RB_GEN_MAX_DIM)
        return rc_fail(err, RC_ERANGE, "--dim must be from 1 to %u", RB_GEN_MAX_DIM);
    uint64_t centroid_floats = ((uint64_t)cfg->categories * (cfg->clusters + 1) + 1) * cfg->dim;
    if (centroid_floats > (64ULL << 20))
        return rc_fail(err, RC_ERANGE,
                       "--categories * (--clusters + 1) * --dim is %llu, at most %llu (embedding centroids in memory)",
                       (unsigned long long)centroid_floats, 64ULL << 20);
    if (cfg->days < 1 || cfg->days > RB_GEN_MAX_DAYS)
        return rc_fail(err, RC_ERANGE, "--days must be from 1 to %u", RB_GEN_MAX_DAYS);
    if (cfg->end_ts < (int64_t)cfg->days * 86400 || cfg->end_ts > 32503680000LL)
        return rc_fail(err, RC_ERANGE, "--end must be from --days*86400 to 32503680000 (year 3000)");
    if (cfg->locations < 1 || cfg->locations > RB_GEN_MAX_LOCATIONS)
        return rc_fail(err, RC_ERANGE, "--locations must be from 1 to %u", RB_GEN_MAX_LOCATIONS);
    if (!(cfg->zipf >= 0.0 && cfg->zipf <= 3.0))
        return rc_fail(err, RC_ERANGE, "--zipf must be from 0 to 3");
    if (!(cfg->buyers >= 0.0 && cfg->buyers <= 1.0))
        return rc_fail(err, RC_ERANGE, "--buyers must be from 0 to 1");
    if (!(cfg->out_of_stock >= 0.0 && cfg->out_of_stock <= 1.0))
        return rc_fail(err, RC_ERANGE, "--out-of-stock must be from 0 to 1");
    if (!(cfg->new_products >= 0.0 && cfg->new_products <= 0.9))
        return rc_fail(err, RC_ERANGE, "--new-products must be from 0 to 0.9");
    if (!(cfg->noise >= 0.0 && cfg->noise <= 100.0))
        return rc_fail(err, RC_ERANGE, "--noise must be from 0 to 100");
    return 0;
}

/* ----------------------------------------------------------------- model */

static void model_free(struct model *m)
{
    free(m->cat);
    free(m->cluster);
    free(m->flags);
    free(m->within);
    free(m->rank);
    free(m->share);
    free(m->pid);
    free(m->cat_name);
    free(m->cat_off);
    free(m->cat_prods);
    free(m->alias_prob);
    free(m->alias_idx);
    free(m->cat_prior);
    free(m->cat_mix);
    free(m->seg_cdf);
    memset(m, 0, sizeof(*m));
}

static void shuffle_u32(struct rng *r, uint32_t *a, uint32_t n)
{
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = rng_below(r, i);
        uint32_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* Index of the first cdf[i] > u, cdf non-decreasing with cdf[n-1] = 1. */
static inline uint32_t cdf_pick(const double *cdf, uint32_t n, double u)
{
    uint32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Turn w[0..n) (non-negative, positive sum) into a cumulative table. */
static void make_cdf(double *w, uint32_t n)
{
    double total = 0.0;
    for (uint32_t i = 0; i < n; i++)
        total += w[i];
    double acc = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        acc += w[i];
        w[i] = acc / total;
    }
    w[n - 1] = 1.0;
}

/* Vose's alias method over w[0..n) (sum > 0), into prob/alias. The work
 * arrays small/large hold n entries each. */
static void alias_build(const double *w, uint32_t n, float *prob, uint32_t *alias, double *scaled,
                        uint32_t *small, uint32_t *large)
{
    double total = 0.0;
    for (uint32_t i = 0; i < n; i++)
        total += w[i];
    uint32_t ns = 0, nl = 0;
    for (uint32_t i = 0; i < n; i++) {
        scaled[i] = w[i] * n / total;
        if (scaled[i] < 1.0)
            small[ns++] = i;
        else
            large[nl++] = i;
    }
    while (ns && nl) {
        uint32_t s = small[--ns], l = large[nl - 1];
        prob[s] = (float)scaled[s];
        alias[s] = l;
        scaled[l] = (scaled[l] + scaled[s]) - 1.0;
        if (scaled[l] < 1.0) {
            nl--;
            small[ns++] = l;
        }
    }
    while (nl) {
        uint32_t l = large[--nl];
        prob[l] = 1.0f;
        alias[l] = l;
    }
    while (ns) { /* only from rounding */
        uint32_t s = small[--ns];
        prob[s] = 1.0f;
        alias[s] = s;
    }
}

static inline uint32_t draw_product(const struct model *m, struct rng *r, uint32_t k)
{
    uint32_t off = m->cat_off[k], n = m->cat_off[k + 1] - off;
    uint64_t x = rng_next(r);
    uint32_t slot = (uint32_t)(((x >> 32) * (uint64_t)n) >> 32);
    float frac = (float)((double)(x & 0xffffffffu) * 0x1.0p-32);
    if (frac >= m->alias_prob[off + slot])
        slot = m->alias_idx[off + slot];
    return m->cat_prods[off + slot];
}

static inline const double *seg_cdf_of(const struct model *m, uint32_t loc, uint32_t dev)
{
    return m->seg_cdf + ((size_t)loc * RB_GEN_DEVICES + dev) * m->K;
}

static inline uint32_t draw_category(const struct model *m, struct rng *r, uint32_t loc, uint32_t dev)
{
    return cdf_pick(seg_cdf_of(m, loc, dev), m->K, rng_unit(r));
}

static double product_weight(const struct model *m, uint32_t j)
{
    if (m->flags[j] & PF_NEW)
        return 0.0;
    return pow((double)m->within[j] + 1.0, -m->cfg->zipf);
}

static int is_hit(const struct model *m, uint32_t loc, uint32_t j)
{
    for (uint32_t h = 0; h < m->n_hits; h++)
        if (m->hits[loc][h] == j)
            return 1;
    return 0;
}

struct ranked {
    double share;
    uint32_t j;
};

static int ranked_cmp(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->share != y->share)
        return x->share > y->share ? -1 : 1;
    return x->j < y->j ? -1 : x->j > y->j;
}

/* Build everything that does not depend on a cookie. */
static int model_build(struct model *m, const struct rb_gen_config *cfg, char *err)
{
    memset(m, 0, sizeof(*m));
    m->cfg = cfg;
    m->P = cfg->products;
    m->K = cfg->categories;
    m->Q = cfg->clusters;
    m->L = cfg->locations;
    m->N = cfg->events;
    m->C = effective_cookies(cfg);
    m->start_ts = cfg->end_ts - (int64_t)cfg->days * 86400;
    uint32_t P = m->P, K = m->K;

    m->pid_len = 1 + 6;
    for (uint32_t v = P / 1000000; v; v /= 10)
        m->pid_len++;

    m->cat = malloc(sizeof(*m->cat) * P);
    m->cluster = malloc(sizeof(*m->cluster) * P);
    m->flags = malloc(sizeof(*m->flags) * P);
    m->within = malloc(sizeof(*m->within) * P);
    m->rank = malloc(sizeof(*m->rank) * P);
    m->share = malloc(sizeof(*m->share) * P);
    m->pid = calloc(P, PID_STRIDE);
    m->cat_name = malloc(sizeof(*m->cat_name) * K);
    m->cat_off = calloc((size_t)K + 1, sizeof(*m->cat_off));
    m->cat_prods = malloc(sizeof(*m->cat_prods) * P);
    m->alias_prob = malloc(sizeof(*m->alias_prob) * P);
    m->alias_idx = malloc(sizeof(*m->alias_idx) * P);
    m->cat_prior = malloc(sizeof(*m->cat_prior) * K);
    m->cat_mix = calloc(K, sizeof(*m->cat_mix));
    m->seg_cdf = malloc(sizeof(*m->seg_cdf) * K * m->L * RB_GEN_DEVICES);
    uint32_t *perm = malloc(sizeof(*perm) * P);
    double *work = malloc(sizeof(*work) * (P > K ? P : K));
    double *cdf = malloc(sizeof(*cdf) * K);
    struct ranked *order = malloc(sizeof(*order) * P);
    int rc = 0;
    if (!m->cat || !m->cluster || !m->flags || !m->within || !m->rank || !m->share || !m->pid || !m->cat_name ||
        !m->cat_off || !m->cat_prods || !m->alias_prob || !m->alias_idx || !m->cat_prior || !m->cat_mix ||
        !m->seg_cdf || !perm || !work || !cdf || !order) {
        rc = rc_fail(err, -ENOMEM, "out of memory for the model of %u products", P);
        goto done;
    }

    struct rng r;
    rng_seed(&r, derive(cfg->seed, DOMAIN_MODEL, 0));

    for (uint32_t k = 0; k < K; k++) {
        if (k < CATEGORY_NAMES)
            snprintf(m->cat_name[k], CAT_NAME_MAX, "%s", category_names[k]);
        else
            snprintf(m->cat_name[k], CAT_NAME_MAX, "%s-%u", category_names[k % CATEGORY_NAMES],
                     k / CATEGORY_NAMES + 1);
    }
    for (uint32_t j = 0; j < P; j++) {
        char *p = m->pid + (size_t)j * PID_STRIDE;
        p[0] = 'p';
        uint32_t v = j + 1;
        for (uint32_t i = m->pid_len - 1; i >= 1; i--) {
            p[i] = (char)('0' + v % 10);
            v /= 10;
        }
    }

    /* Category sizes: uneven (Zipf over a random order), each at least one
     * product. perm[t] for t < K founds category t and is its top product. */
    for (uint32_t k = 0; k < K; k++)
        perm[k] = k;
    shuffle_u32(&r, perm, K);
    for (uint32_t k = 0; k < K; k++)
        cdf[perm[k]] = pow((double)k + 1.0, -CATEGORY_SIZE_ZIPF);
    make_cdf(cdf, K);
    for (uint32_t j = 0; j < P; j++)
        perm[j] = j;
    shuffle_u32(&r, perm, P);
    for (uint32_t t = 0; t < P; t++) {
        uint32_t k = t < K ? t : cdf_pick(cdf, K, rng_unit(&r));
        m->cat[perm[t]] = k;
        m->within[perm[t]] = m->cat_off[k + 1]++; /* count, turned into offsets below */
    }
    for (uint32_t k = 0; k < K; k++)
        m->cat_off[k + 1] += m->cat_off[k];
    for (uint32_t j = 0; j < P; j++)
        m->cat_prods[m->cat_off[m->cat[j]] + m->within[j]] = j;

    /* Per product, in id order: cluster, new (never a category's top
     * product, so every category can be drawn from), out of stock. */
    for (uint32_t j = 0; j < P; j++) {
        m->cluster[j] = (uint8_t)rng_below(&r, m->Q);
        m->flags[j] = PF_IN_STOCK;
        if (m->within[j] > 0 && rng_unit(&r) < cfg->new_products) {
            m->flags[j] |= PF_NEW;
            m->new_count++;
        } else if (rng_unit(&r) < cfg->out_of_stock) {
            m->flags[j] &= (uint8_t)~PF_IN_STOCK;
            m->oos_count++;
        }
    }

    /* Within-category popularity: Zipf over the within-rank, as alias tables. */
    {
        uint32_t maxn = 0;
        for (uint32_t k = 0; k < K; k++)
            if (m->cat_off[k + 1] - m->cat_off[k] > maxn)
                maxn = m->cat_off[k + 1] - m->cat_off[k];
        double *scaled = malloc(sizeof(*scaled) * maxn);
        uint32_t *small = malloc(sizeof(*small) * maxn), *large = malloc(sizeof(*large) * maxn);
        if (!scaled || !small || !large) {
            free(scaled);
            free(small);
            free(large);
            rc = rc_fail(err, -ENOMEM, "out of memory for the alias tables");
            goto done;
        }
        for (uint32_t k = 0; k < K; k++) {
            uint32_t off = m->cat_off[k], n = m->cat_off[k + 1] - off;
            for (uint32_t i = 0; i < n; i++)
                work[off + i] = product_weight(m, m->cat_prods[off + i]);
            alias_build(work + off, n, m->alias_prob + off, m->alias_idx + off, scaled, small, large);
        }
        free(scaled);
        free(small);
        free(large);
    }

    /* Category popularity prior: Zipf over an order independent of size. */
    for (uint32_t k = 0; k < K; k++)
        perm[k] = k;
    shuffle_u32(&r, perm, K);
    {
        double total = 0.0;
        for (uint32_t k = 0; k < K; k++)
            total += m->cat_prior[perm[k]] = pow((double)k + 1.0, -CATEGORY_POPULARITY_ZIPF);
        for (uint32_t k = 0; k < K; k++)
            m->cat_prior[k] /= total;
    }

    /* Locations: traffic 1/(l+1); each boosts LOCATION_BOOSTED categories. */
    {
        double total = 0.0;
        for (uint32_t l = 0; l < m->L; l++)
            total += m->loc_share[l] = 1.0 / (l + 1.0);
        double acc = 0.0;
        for (uint32_t l = 0; l < m->L; l++) {
            m->loc_share[l] /= total;
            acc += m->loc_share[l];
            m->loc_cdf[l] = acc;
        }
        m->loc_cdf[m->L - 1] = 1.0;
    }
    m->n_loc_boost = K < LOCATION_BOOSTED ? K : LOCATION_BOOSTED;
    for (uint32_t l = 0; l < m->L; l++)
        for (uint32_t b = 0; b < m->n_loc_boost; b++) {
            uint32_t k;
            int dup;
            do {
                k = rng_below(&r, K);
                dup = 0;
                for (uint32_t c = 0; c < b; c++)
                    dup |= m->loc_boost[l][c] == k;
            } while (dup);
            m->loc_boost[l][b] = k;
        }
    for (uint32_t d = 0; d < RB_GEN_DEVICES; d++)
        for (uint32_t b = 0; b < device_boost_count[d]; b++)
            m->dev_boost[d][b] = rng_below(&r, K);

    /* Segment category tables: prior * location boost * device boost. */
    for (uint32_t l = 0; l < m->L; l++)
        for (uint32_t d = 0; d < RB_GEN_DEVICES; d++) {
            double *c = m->seg_cdf + ((size_t)l * RB_GEN_DEVICES + d) * K;
            for (uint32_t k = 0; k < K; k++)
                c[k] = m->cat_prior[k];
            for (uint32_t b = 0; b < m->n_loc_boost; b++)
                c[m->loc_boost[l][b]] *= LOCATION_BOOST;
            for (uint32_t b = 0; b < device_boost_count[d] && b < K; b++)
                c[m->dev_boost[d][b]] *= DEVICE_BOOST; /* a repeated pick boosts twice */
            make_cdf(c, K);
        }

    /* Local hits: a few products each location favours whatever the
     * category. Drawn among products that have events, distinct. */
    m->n_hits = P - m->new_count < RB_GEN_HITS_PER_LOCATION ? P - m->new_count : RB_GEN_HITS_PER_LOCATION;
    for (uint32_t l = 0; l < m->L; l++)
        for (uint32_t h = 0; h < m->n_hits; h++) {
            uint32_t j = rng_below(&r, P);
            for (uint32_t tries = 0;; tries++) {
                int bad = (m->flags[j] & PF_NEW) != 0;
                for (uint32_t c = 0; c < h && !bad; c++)
                    bad = m->hits[l][c] == j;
                if (!bad)
                    break;
                j = tries < 64 ? rng_below(&r, P) : (j + 1) % P;
            }
            m->hits[l][h] = j;
        }

    /* Session devices: the cookie's own with SESSION_DEVICE_STICKY, else
     * one of the other two. */
    for (uint32_t d = 0; d < RB_GEN_DEVICES; d++) {
        m->dev_session_share[d] = 0.0;
        for (uint32_t p = 0; p < RB_GEN_DEVICES; p++)
            m->dev_session_share[d] +=
                device_primary_share[p] * (p == d ? SESSION_DEVICE_STICKY : (1.0 - SESSION_DEVICE_STICKY) / 2.0);
    }

    /* Expected shares of views: (1 - hit) * segment category mix * within-
     * category share, plus the hit mass (schemas/recgen.md). */
    for (uint32_t l = 0; l < m->L; l++)
        for (uint32_t d = 0; d < RB_GEN_DEVICES; d++) {
            const double *c = seg_cdf_of(m, l, d);
            double w = m->loc_share[l] * m->dev_session_share[d];
            for (uint32_t k = 0; k < K; k++)
                m->cat_mix[k] += w * (c[k] - (k ? c[k - 1] : 0.0));
        }
    double p_hit = m->n_hits ? P_VIEW_HIT : 0.0;
    for (uint32_t k = 0; k < K; k++) {
        uint32_t off = m->cat_off[k], n = m->cat_off[k + 1] - off;
        double total = 0.0;
        for (uint32_t i = 0; i < n; i++)
            total += product_weight(m, m->cat_prods[off + i]);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t j = m->cat_prods[off + i];
            m->share[j] = (1.0 - p_hit) * m->cat_mix[k] * product_weight(m, j) / total;
        }
    }
    for (uint32_t l = 0; l < m->L; l++)
        for (uint32_t h = 0; h < m->n_hits; h++)
            m->share[m->hits[l][h]] += p_hit * m->loc_share[l] / m->n_hits;
    for (uint32_t j = 0; j < P; j++) {
        order[j].share = m->share[j];
        order[j].j = j;
    }
    qsort(order, P, sizeof(*order), ranked_cmp);
    for (uint32_t i = 0; i < P; i++)
        m->rank[order[i].j] = i + 1;

done:
    free(perm);
    free(work);
    free(cdf);
    free(order);
    if (rc)
        model_free(m);
    return rc;
}

/* --------------------------------------------------- per-product files */

static int write_catalog(const struct model *m, const char *dir, char *err)
{
    struct out o;
    int rc = out_open(&o, dir, "catalog.csv", err);
    if (rc)
        return rc;
    struct rng r;
    rng_seed(&r, derive(m->cfg->seed, DOMAIN_CATALOG, 0));
    /* Price level per category: e^U(2.5, 6) ~ 12 .. 400 */
    double *base = malloc(sizeof(*base) * m->K);
    char(*noun)[CAT_NAME_MAX] = malloc(sizeof(*noun) * m->K);
    if (!base || !noun) {
        free(base);
        free(noun);
        out_discard(&o);
        return rc_fail(err, -ENOMEM, "out of memory for the catalog");
    }
    for (uint32_t k = 0; k < m->K; k++) {
        base[k] = exp(2.5 + 3.5 * rng_unit(&r));
        snprintf(noun[k], CAT_NAME_MAX, "%s", m->cat_name[k]);
        for (char *c = noun[k]; *c; c++)
            if (*c == '-')
                *c = ' ';
    }
    rc = out_bytes(&o, "product,category,in_stock,title,price\n", 38, err);
    for (uint32_t j = 0; j < m->P && rc == 0; j++) {
        rc = out_room(&o, OUT_LINE_MAX, err);
        if (rc)
            break;
        uint32_t k = m->cat[j];
        uint64_t cents = (uint64_t)llround(base[k] * exp(0.35 * rng_normal(&r)) * 100.0);
        if (cents < 99)
            cents = 99;
        cents = cents / 100 * 100 + 99; /* prices end in .99 */
        char *p = o.buf + o.len;
        p = put_mem(p, product_id(m, j), m->pid_len);
        *p++ = ',';
        p = put_str(p, m->cat_name[k]);
        *p++ = ',';
        *p++ = (m->flags[j] & PF_IN_STOCK) ? '1' : '0';
        *p++ = ',';
        p = put_str(p, title_adjectives[rng_below(&r, 16)]);
        *p++ = ' ';
        p = put_str(p, noun[k]);
        *p++ = ' ';
        p = put_mem(p, product_id(m, j) + 1, m->pid_len - 1);
        *p++ = ',';
        p = put_u64(p, cents / 100);
        *p++ = '.';
        *p++ = (char)('0' + cents % 100 / 10);
        *p++ = (char)('0' + cents % 10);
        *p++ = '\n';
        o.len = (size_t)(p - o.buf);
    }
    free(base);
    free(noun);
    return out_finish(&o, rc, err);
}

static int write_emb_ids(const struct model *m, const char *dir, char *err)
{
    struct out o;
    int rc = out_open(&o, dir, "emb_ids.txt", err);
    for (uint32_t j = 0; j < m->P && rc == 0; j++) {
        rc = out_room(&o, m->pid_len + 1, err);
        if (rc == 0) {
            memcpy(o.buf + o.len, product_id(m, j), m->pid_len);
            o.buf[o.len + m->pid_len] = '\n';
            o.len += m->pid_len + 1;
        }
    }
    return out_finish(&o, rc, err);
}

/* NumPy format 1.0: magic, version, u16 LE header length, then a Python
 * dict literal padded with spaces and a newline so the data starts at a
 * multiple of 64 bytes. Rows are float32 little-endian, C order. */
static int write_emb(const struct model *m, const char *dir, char *err)
{
    uint32_t D = m->cfg->dim, K = m->K, Q = m->Q;
    struct out o;
    int rc = out_open(&o, dir, "emb.npy", err);
    if (rc)
        return rc;

    char header[256];
    int n = snprintf(header + 10, sizeof(header) - 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (%u, %u), }",
                     m->P, D);
    size_t total = 10 + (size_t)n + 1;
    size_t padded = (total + 63) / 64 * 64;
    memcpy(header, "\x93NUMPY\x01\x00", 8);
    header[8] = (char)((padded - 10) & 0xff);
    header[9] = (char)((padded - 10) >> 8);
    memset(header + 10 + n, ' ', padded - total);
    header[padded - 1] = '\n';
    rc = out_bytes(&o, header, padded, err);

    /* Vectors have norm ~1 per component: common direction g (weight 0.3),
     * category centroid (1), cluster offset (0.55), product noise. */
    float *cent = malloc(sizeof(*cent) * ((size_t)K * (Q + 1) + 1) * D);
    float *row = malloc(sizeof(*row) * D);
    if (!cent || !row) {
        free(cent);
        free(row);
        out_discard(&o);
        return rc_fail(err, -ENOMEM, "out of memory for the embedding centroids");
    }
    struct rng r;
    rng_seed(&r, derive(m->cfg->seed, DOMAIN_EMB, 0));
    double unit = 1.0 / sqrt((double)D);
    for (size_t i = 0; i < ((size_t)K * (Q + 1) + 1) * D; i++)
        cent[i] = (float)(rng_normal(&r) * unit);
    const float *common = cent;
    const float *cat_c = cent + D;
    const float *clu_c = cent + D + (size_t)K * D;
    double noise = m->cfg->noise * unit;
    for (uint32_t j = 0; j < m->P && rc == 0; j++) {
        const float *a = cat_c + (size_t)m->cat[j] * D;
        const float *b = clu_c + ((size_t)m->cat[j] * Q + m->cluster[j]) * D;
        for (uint32_t i = 0; i < D; i++)
            row[i] = (float)(0.3 * common[i] + a[i] + 0.55 * b[i] + noise * rng_normal(&r));
        rc = out_room(&o, (size_t)D * 4, err);
        if (rc)
            break;
        unsigned char *p = (unsigned char *)o.buf + o.len;
        for (uint32_t i = 0; i < D; i++) {
            uint32_t bits;
            memcpy(&bits, &row[i], 4);
            p[4 * i] = (unsigned char)bits;
            p[4 * i + 1] = (unsigned char)(bits >> 8);
            p[4 * i + 2] = (unsigned char)(bits >> 16);
            p[4 * i + 3] = (unsigned char)(bits >> 24);
        }
        o.len += (size_t)D * 4;
    }
    free(cent);
    free(row);
    return out_finish(&o, rc, err);
}

static int write_truth_products(const struct model *m, const char *dir, char *err)
{
    struct out o;
    int rc = out_open(&o, dir, "truth_products.csv", err);
    if (rc)
        return rc;
    rc = out_printf(&o, err, "product,category,cluster,popularity_rank,expected_share,in_stock,new\n");
    for (uint32_t j = 0; j < m->P && rc == 0; j++)
        rc = out_printf(&o, err, "%.*s,%s,%u,%u,%.6e,%d,%d\n", (int)m->pid_len, product_id(m, j),
                        m->cat_name[m->cat[j]], m->cluster[j], m->rank[j], m->share[j],
                        (m->flags[j] & PF_IN_STOCK) != 0, (m->flags[j] & PF_NEW) != 0);
    return out_finish(&o, rc, err);
}

static int write_truth_categories(const struct model *m, const char *dir, char *err)
{
    struct out o;
    int rc = out_open(&o, dir, "truth_categories.csv", err);
    if (rc)
        return rc;
    rc = out_printf(&o, err, "category,prior,expected_share,products,new_products,out_of_stock\n");
    for (uint32_t k = 0; k < m->K && rc == 0; k++) {
        uint32_t off = m->cat_off[k], n = m->cat_off[k + 1] - off, nnew = 0, noos = 0;
        double share = 0.0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t j = m->cat_prods[off + i];
            share += m->share[j];
            nnew += (m->flags[j] & PF_NEW) != 0;
            noos += (m->flags[j] & PF_IN_STOCK) == 0;
        }
        rc = out_printf(&o, err, "%s,%.6e,%.6e,%u,%u,%u\n", m->cat_name[k], m->cat_prior[k], share, n, nnew, noos);
    }
    return out_finish(&o, rc, err);
}

/* One line per (location, device): the planted boosts and the expected top
 * products there. Candidates for the top are each category's first
 * RB_GEN_TOP_PER_SEGMENT products with events and the location's hits. */
static int write_truth_segments(const struct model *m, const char *dir, char *err)
{
    enum { T = RB_GEN_TOP_PER_SEGMENT };
    struct out o;
    int rc = out_open(&o, dir, "truth_segments.csv", err);
    if (rc)
        return rc;
    rc = out_printf(&o, err,
                    "location,device,event_share,location_categories,device_categories,hit_products,expected_top\n");
    double p_hit = m->n_hits ? P_VIEW_HIT : 0.0;
    for (uint32_t l = 0; l < m->L && rc == 0; l++)
        for (uint32_t d = 0; d < RB_GEN_DEVICES && rc == 0; d++) {
            const double *c = seg_cdf_of(m, l, d);
            struct ranked top[T];
            uint32_t ntop = 0;
            for (uint32_t k = 0; k < m->K; k++) {
                uint32_t off = m->cat_off[k], n = m->cat_off[k + 1] - off;
                double total = 0.0;
                for (uint32_t i = 0; i < n; i++)
                    total += product_weight(m, m->cat_prods[off + i]);
                double pk = c[k] - (k ? c[k - 1] : 0.0);
                /* Weights fall with the within-rank, so the category's
                 * first T products that are neither new nor hits suffice. */
                for (uint32_t i = 0, taken = 0; i < n && taken < T; i++) {
                    uint32_t j = m->cat_prods[off + i];
                    if ((m->flags[j] & PF_NEW) || is_hit(m, l, j))
                        continue; /* hits are scored below with their hit mass */
                    taken++;
                    struct ranked cand = {(1.0 - p_hit) * pk * product_weight(m, j) / total, j};
                    if (ntop == T && ranked_cmp(&cand, &top[T - 1]) >= 0)
                        continue;
                    uint32_t pos = ntop < T ? ntop++ : T - 1;
                    while (pos > 0 && ranked_cmp(&cand, &top[pos - 1]) < 0) {
                        top[pos] = top[pos - 1];
                        pos--;
                    }
                    top[pos] = cand;
                }
            }
            for (uint32_t h = 0; h < m->n_hits; h++) {
                uint32_t j = m->hits[l][h], k = m->cat[j], off = m->cat_off[k], n = m->cat_off[k + 1] - off;
                double total = 0.0;
                for (uint32_t i = 0; i < n; i++)
                    total += product_weight(m, m->cat_prods[off + i]);
                double pk = c[k] - (k ? c[k - 1] : 0.0);
                struct ranked cand = {(1.0 - p_hit) * pk * product_weight(m, j) / total + p_hit / m->n_hits, j};
                if (ntop == T && ranked_cmp(&cand, &top[T - 1]) >= 0)
                    continue;
                uint32_t pos = ntop < T ? ntop++ : T - 1;
                while (pos > 0 && ranked_cmp(&cand, &top[pos - 1]) < 0) {
                    top[pos] = top[pos - 1];
                    pos--;
                }
                top[pos] = cand;
            }

            rc = out_room(&o, OUT_LINE_MAX, err);
            if (rc)
                break;
            char *p = o.buf + o.len;
            p = put_str(p, location_codes[l]);
            *p++ = ',';
            p = put_str(p, device_names[d]);
            *p++ = ',';
            p += snprintf(p, 32, "%.6f", m->loc_share[l] * m->dev_session_share[d]);
            *p++ = ',';
            for (uint32_t b = 0; b < m->n_loc_boost; b++) {
                if (b)
                    *p++ = '|';
                p = put_str(p, m->cat_name[m->loc_boost[l][b]]);
            }
            *p++ = ',';
            for (uint32_t b = 0; b < device_boost_count[d] && b < m->K; b++) {
                if (b)
                    *p++ = '|';
                p = put_str(p, m->cat_name[m->dev_boost[d][b]]);
            }
            *p++ = ',';
            for (uint32_t h = 0; h < m->n_hits; h++) {
                if (h)
                    *p++ = '|';
                p = put_mem(p, product_id(m, m->hits[l][h]), m->pid_len);
            }
            *p++ = ',';
            for (uint32_t t = 0; t < ntop; t++) {
                if (t)
                    *p++ = '|';
                p = put_mem(p, product_id(m, top[t].j), m->pid_len);
            }
            *p++ = '\n';
            o.len = (size_t)(p - o.buf);
        }
    return out_finish(&o, rc, err);
}

/* ---------------------------------------------------------------- cookies */

enum ev_type { EV_VIEW, EV_CART, EV_PURCHASE };
/* Padded to 16 bytes so they are copied as fixed blocks; see emit_cookie. */
static const char ev_word[3][16] = {"view,", "cart,", "purchase,"};
static const size_t ev_word_len[] = {5, 5, 9};

struct cookie {
    char id[16];
    uint32_t loc, dev;
    uint32_t ntaste;
    uint32_t taste[3];
    double taste_w[3];
    int buyer;
    uint64_t events, sessions, views, carts, purchases;
};

/* Heavy-tailed activity weight of cookie i (Lomax, capped), > 0. */
static double cookie_weight(uint64_t seed, uint64_t i)
{
    double u = (double)(mix64(derive(seed, DOMAIN_WEIGHT, i)) >> 11) * 0x1.0p-53;
    double w = pow(1.0 - u, -1.0 / ACTIVITY_ALPHA) - 1.0;
    return (w < ACTIVITY_CAP ? w : ACTIVITY_CAP) + 0.01;
}

static inline uint32_t session_size(struct rng *t, uint64_t left)
{
    uint32_t n = 1 + (uint32_t)(rng_exp(t) * SESSION_MEAN_EXTRA);
    if (n > SESSION_MAX)
        n = SESSION_MAX;
    return n < left ? n : (uint32_t)left;
}

static inline double session_gap(struct rng *t)
{
    double g = GAP_MIN_S + rng_exp(t) * GAP_MEAN_S;
    return g < GAP_MAX_S ? g : GAP_MAX_S;
}

/* Latent traits of a cookie, from its content stream. */
static void cookie_traits(const struct model *m, struct rng *c, struct cookie *ck)
{
    ck->loc = cdf_pick(m->loc_cdf, m->L, rng_unit(c));
    double u = rng_unit(c);
    ck->dev = u < device_primary_share[0] ? 0 : u < device_primary_share[0] + device_primary_share[1] ? 1 : 2;
    ck->buyer = rng_unit(c) < m->cfg->buyers;
    u = rng_unit(c);
    uint32_t want = u < 0.6 ? 1 : u < 0.95 ? 2 : 3;
    if (want > m->K)
        want = m->K;
    ck->ntaste = 0;
    for (uint32_t tries = 0; ck->ntaste < want && tries < 64; tries++) {
        uint32_t k = draw_category(m, c, ck->loc, ck->dev);
        int dup = 0;
        for (uint32_t i = 0; i < ck->ntaste; i++)
            dup |= ck->taste[i] == k;
        if (!dup)
            ck->taste[ck->ntaste++] = k;
    }
    if (ck->ntaste == 1) {
        ck->taste_w[0] = 1.0;
    } else if (ck->ntaste == 2) {
        ck->taste_w[0] = 0.55 + 0.3 * rng_unit(c);
        ck->taste_w[1] = 1.0 - ck->taste_w[0];
    } else {
        ck->taste_w[0] = 0.45 + 0.2 * rng_unit(c);
        ck->taste_w[1] = (1.0 - ck->taste_w[0]) * (0.55 + 0.25 * rng_unit(c));
        ck->taste_w[2] = 1.0 - ck->taste_w[0] - ck->taste_w[1];
    }
}

struct session_plan {
    uint32_t n;
    uint32_t prod[SESSION_MAX];
    uint8_t type[SESSION_MAX];
};

/* Fill plan->prod/type for a session of plan->n events: views, then carts
 * of viewed products, then purchases of carted (or viewed) products. */
static void plan_session(const struct model *m, struct rng *c, const struct cookie *ck, uint32_t dev,
                         struct session_plan *plan)
{
    uint32_t n = plan->n, carts = 0, buys = 0;
    double u = rng_unit(c);
    uint32_t focus;
    if (u < P_FOCUS_TASTE) {
        double v = rng_unit(c);
        uint32_t i = 0;
        while (i + 1 < ck->ntaste && v >= ck->taste_w[i]) {
            v -= ck->taste_w[i];
            i++;
        }
        focus = ck->taste[i];
    } else {
        focus = draw_category(m, c, ck->loc, dev);
    }

    if (n >= 2) {
        u = rng_unit(c);
        if (ck->buyer && u < P_BUYER_CONVERT) {
            carts = 1 + (n >= 6 && rng_unit(c) < 0.35) + (n >= 10 && rng_unit(c) < 0.25);
            for (uint32_t i = 0; i < carts; i++)
                buys += rng_unit(c) < P_CART_PURCHASED;
        } else if (u < (ck->buyer ? P_BUYER_CONVERT + P_BUYER_ABANDON : P_BROWSER_ABANDON)) {
            carts = 1;
        }
        while (carts + buys >= n) {
            if (buys)
                buys--;
            else
                carts--;
        }
    }
    uint32_t views = n - carts - buys;

    uint32_t seen[SESSION_MAX], nseen = 0;
    for (uint32_t i = 0; i < views; i++) {
        double r = rng_unit(c);
        uint32_t j;
        if (m->n_hits && r < P_VIEW_HIT)
            j = m->hits[ck->loc][rng_below(c, m->n_hits)];
        else if (nseen && r < P_VIEW_HIT + P_VIEW_REVISIT)
            j = seen[rng_below(c, nseen)];
        else if (r < P_VIEW_HIT + P_VIEW_REVISIT + P_VIEW_EXPLORE)
            j = draw_product(m, c, draw_category(m, c, ck->loc, dev));
        else
            j = draw_product(m, c, focus);
        plan->prod[i] = j;
        plan->type[i] = EV_VIEW;
        uint32_t s = 0;
        while (s < nseen && seen[s] != j)
            s++;
        if (s == nseen)
            seen[nseen++] = j;
    }
    /* Carts: distinct viewed products while there are any, then repeats
     * (a second cart of the same product is a quantity change). */
    for (uint32_t i = 0; i < carts; i++) {
        uint32_t j;
        if (i < nseen) {
            uint32_t pick = i + rng_below(c, nseen - i);
            j = seen[pick];
            seen[pick] = seen[i];
            seen[i] = j;
        } else {
            j = seen[rng_below(c, nseen)];
        }
        plan->prod[views + i] = j;
        plan->type[views + i] = EV_CART;
    }
    for (uint32_t i = 0; i < buys; i++) {
        uint32_t j = plan->prod[views + i];
        if (rng_unit(c) >= P_PURCHASE_OF_CART)
            j = seen[rng_below(c, nseen)];
        plan->prod[views + carts + i] = j;
        plan->type[views + carts + i] = EV_PURCHASE;
    }
}

struct cookie_outs {
    struct out *events;
    struct out *truth;
};

/* Generate and write cookie `index` with `nev` events. */
static int emit_cookie(const struct model *m, uint64_t index, uint64_t nev, uint64_t id_key,
                       const struct cookie_outs *outs, struct rb_gen_stats *st, char *err)
{
    const struct rb_gen_config *cfg = m->cfg;
    struct cookie ck;
    memset(&ck, 0, sizeof(ck));
    hex16(ck.id, mix64(index ^ id_key));
    struct rng content, slot, time0;
    rng_seed(&content, derive(cfg->seed, DOMAIN_CONTENT, index));
    rng_seed(&slot, derive(cfg->seed, DOMAIN_SLOT, index));
    rng_seed(&time0, derive(cfg->seed, DOMAIN_TIME, index));
    cookie_traits(m, &content, &ck);

    /* Pass 1 over the time stream: how many sessions, how long they last. */
    struct rng t = time0;
    uint64_t left = nev, nsessions = 0;
    double busy = 0.0;
    while (left) {
        uint32_t n = session_size(&t, left);
        for (uint32_t e = 1; e < n; e++)
            busy += session_gap(&t);
        left -= n;
        nsessions++;
    }
    /* Sessions use at most half the window; the rest is idle time, spread
     * by nsessions sorted uniform start positions. */
    double window = (double)cfg->days * 86400.0;
    double scale = busy > window / 2 ? window / 2 / busy : 1.0;
    double idle = window - 1.0 - busy * scale;

    /* Pass 2: the same time stream again, now writing. */
    t = time0;
    left = nev;
    double x = 0.0, busy_before = 0.0;
    int64_t last_ts = m->start_ts;
    struct session_plan plan;
    char suffix[32] = "";
    for (uint64_t s = 0; s < nsessions; s++) {
        double v = 1.0 - rng_unit(&slot); /* (0, 1] */
        x += (1.0 - x) * (1.0 - exp(log(v) / (double)(nsessions - s)));
        double when = (double)m->start_ts + x * idle + busy_before * scale;
        plan.n = session_size(&t, left);
        left -= plan.n;

        uint32_t dev = ck.dev;
        if (rng_unit(&content) >= SESSION_DEVICE_STICKY)
            dev = (ck.dev + 1 + rng_below(&content, 2)) % RB_GEN_DEVICES;
        plan_session(m, &content, &ck, dev, &plan);

        char *q = suffix;
        q = put_str(q, location_codes[ck.loc]);
        *q++ = ',';
        q = put_str(q, device_names[dev]);
        *q++ = '\n';
        size_t suffix_len = (size_t)(q - suffix);

        for (uint32_t e = 0; e < plan.n; e++) {
            if (e) {
                double g = session_gap(&t);
                busy_before += g;
                when += g * scale;
            }
            int64_t ts = (int64_t)when;
            if (ts < last_ts)
                ts = last_ts;
            last_ts = ts;
            /* A row is at most 20 + 1 + 16 + 1 + 9 + 10 + 1 + 11 bytes; the
             * variable parts are copied as fixed 16-byte blocks (inlined,
             * no libc call) and the cursor advanced by their length. */
            int rc = out_room(outs->events, 128, err);
            if (rc)
                return rc;
            struct out *o = outs->events;
            char *p = o->buf + o->len;
            p = put_u64(p, (uint64_t)ts);
            *p++ = ',';
            memcpy(p, ck.id, 16);
            p[16] = ',';
            p += 17;
            memcpy(p, ev_word[plan.type[e]], 16);
            p += ev_word_len[plan.type[e]];
            memcpy(p, product_id(m, plan.prod[e]), 16);
            p[m->pid_len] = ',';
            p += m->pid_len + 1;
            memcpy(p, suffix, 16);
            p += suffix_len;
            o->len = (size_t)(p - o->buf);
            ck.views += plan.type[e] == EV_VIEW;
            ck.carts += plan.type[e] == EV_CART;
            ck.purchases += plan.type[e] == EV_PURCHASE;
        }
        ck.events += plan.n;
        ck.sessions++;
    }

    int rc = out_room(outs->truth, OUT_LINE_MAX, err);
    if (rc)
        return rc;
    struct out *o = outs->truth;
    char *p = o->buf + o->len;
    p = put_mem(p, ck.id, 16);
    *p++ = ',';
    p = put_str(p, location_codes[ck.loc]);
    *p++ = ',';
    p = put_str(p, device_names[ck.dev]);
    *p++ = ',';
    for (uint32_t i = 0; i < ck.ntaste; i++) {
        if (i)
            *p++ = '|';
        p = put_str(p, m->cat_name[ck.taste[i]]);
    }
    *p++ = ',';
    for (uint32_t i = 0; i < ck.ntaste; i++) {
        if (i)
            *p++ = '|';
        p = put_milli(p, ck.taste_w[i]);
    }
    *p++ = ',';
    *p++ = ck.buyer ? '1' : '0';
    *p++ = ',';
    *p++ = ck.purchases ? '1' : '0';
    uint64_t counts[5] = {ck.sessions, ck.events, ck.views, ck.carts, ck.purchases};
    for (int i = 0; i < 5; i++) {
        *p++ = ',';
        p = put_u64(p, counts[i]);
    }
    *p++ = '\n';
    o->len = (size_t)(p - o->buf);

    st->events += ck.events;
    st->views += ck.views;
    st->carts += ck.carts;
    st->purchases += ck.purchases;
    st->sessions += ck.sessions;
    st->cookies++;
    st->purchasers += ck.purchases > 0;
    st->one_session_cookies += ck.sessions == 1;
    if (ck.events > st->max_cookie_events)
        st->max_cookie_events = ck.events;
    return 0;
}


static int write_cookies(const struct model *m, const char *dir, struct rb_gen_stats *st, char *err)
{
    const struct rb_gen_config *cfg = m->cfg;
    struct out ev, tr;
    int rc = out_open(&ev, dir, "events.csv", err);
    if (rc)
        return rc;
    rc = out_open(&tr, dir, "truth_cookies.csv", err);
    if (rc) {
        out_discard(&ev);
        return rc;
    }
    static const char ev_head[] = "ts,cookie,event,product,location,device\n";
    static const char tr_head[] =
        "cookie,location,device,categories,weights,buyer,purchaser,sessions,events,views,carts,purchases\n";
    rc = out_bytes(&ev, ev_head, sizeof(ev_head) - 1, err);
    if (rc == 0)
        rc = out_bytes(&tr, tr_head, sizeof(tr_head) - 1, err);

    /* Events per cookie: 1 + its share of the other N - C by activity
     * weight, rounded along the cumulative sum so the total is exactly N.
     * The weights are recomputed rather than stored: memory stays O(1). */
    double wsum = 0.0;
    for (uint64_t i = 0; i < m->C; i++)
        wsum += cookie_weight(cfg->seed, i);
    uint64_t extra = m->N - m->C, prev = 0;
    double cum = 0.0;
    uint64_t id_key = derive(cfg->seed, DOMAIN_COOKIE_ID, 0);
    uint64_t step = m->N / 10 ? m->N / 10 : 1, next_log = step;
    struct cookie_outs outs = {&ev, &tr};
    for (uint64_t i = 0; i < m->C && rc == 0; i++) {
        cum += cookie_weight(cfg->seed, i);
        uint64_t upto = i + 1 == m->C ? extra : (uint64_t)((double)extra * (cum / wsum));
        if (upto > extra)
            upto = extra;
        if (upto < prev)
            upto = prev;
        uint64_t nev = 1 + upto - prev;
        prev = upto;
        rc = emit_cookie(m, i, nev, id_key, &outs, st, err);
        if (rc == 0 && st->events >= next_log) {
            rc_log(RC_LOG_DEBUG, "progress", "events=%llu cookies=%llu", (unsigned long long)st->events,
                   (unsigned long long)st->cookies);
            next_log += step;
        }
    }
    if (rc == 0 && (st->events != m->N || st->cookies != m->C))
        rc = rc_fail(err, RC_EINTERNAL, "wrote %llu events for %llu cookies, expected %llu and %llu",
                     (unsigned long long)st->events, (unsigned long long)st->cookies, (unsigned long long)m->N,
                     (unsigned long long)m->C);
    if (rc) {
        out_discard(&ev);
        out_discard(&tr);
        return rc;
    }
    rc = out_commit(&ev, err);
    if (rc) {
        out_discard(&tr);
        return rc;
    }
    return out_commit(&tr, err);
}

/* Shortest of %.15g / %.17g that reads back as v (JSON number). */
static const char *json_double(char buf[32], double v)
{
    snprintf(buf, 32, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, 32, "%.17g", v);
    return buf;
}

/* recgen.json: the parameters and counts of the run; written last. */
static int write_manifest(const struct model *m, const char *dir, const struct rb_gen_stats *st, char *err)
{
    const struct rb_gen_config *cfg = m->cfg;
    struct out o;
    char d[5][32];
    int rc = out_open(&o, dir, "recgen.json", err);
    if (rc)
        return rc;
    rc = out_printf(&o, err,
                    "{\n  \"generator\": \"recgen\",\n  \"format\": 1,\n  \"params\": {\n"
                    "    \"seed\": %llu,\n    \"events\": %llu,\n    \"cookies\": %llu,\n    \"products\": %u,\n"
                    "    \"categories\": %u,\n    \"clusters\": %u,\n    \"dim\": %u,\n    \"days\": %u,\n"
                    "    \"locations\": %u,\n    \"start_ts\": %lld,\n    \"end_ts\": %lld,\n    \"zipf\": %s,\n"
                    "    \"buyers\": %s,\n    \"out_of_stock\": %s,\n    \"new_products\": %s,\n"
                    "    \"noise\": %s\n  },\n",
                    (unsigned long long)cfg->seed, (unsigned long long)m->N, (unsigned long long)m->C, m->P, m->K,
                    m->Q, cfg->dim, cfg->days, m->L, (long long)m->start_ts, (long long)cfg->end_ts,
                    json_double(d[0], cfg->zipf), json_double(d[1], cfg->buyers),
                    json_double(d[2], cfg->out_of_stock), json_double(d[3], cfg->new_products),
                    json_double(d[4], cfg->noise));
    if (rc == 0)
        rc = out_printf(&o, err,
                        "  \"counts\": {\n    \"events\": %llu,\n    \"views\": %llu,\n    \"carts\": %llu,\n"
                        "    \"purchases\": %llu,\n    \"cookies\": %llu,\n    \"sessions\": %llu,\n"
                        "    \"purchasers\": %llu,\n    \"one_session_cookies\": %llu,\n"
                        "    \"max_cookie_events\": %llu,\n    \"products\": %u,\n    \"out_of_stock\": %u,\n"
                        "    \"new_products\": %u\n  },\n",
                        (unsigned long long)st->events, (unsigned long long)st->views,
                        (unsigned long long)st->carts, (unsigned long long)st->purchases,
                        (unsigned long long)st->cookies, (unsigned long long)st->sessions,
                        (unsigned long long)st->purchasers, (unsigned long long)st->one_session_cookies,
                        (unsigned long long)st->max_cookie_events, st->products, st->out_of_stock,
                        st->new_products);
    if (rc == 0)
        rc = out_printf(&o, err,
                        "  \"files\": [\"events.csv\", \"catalog.csv\", \"emb.npy\", \"emb_ids.txt\", "
                        "\"truth_cookies.csv\", \"truth_products.csv\", \"truth_categories.csv\", "
                        "\"truth_segments.csv\"]\n}\n");
    return out_finish(&o, rc, err);
}

/* mkdir -p: every missing component, 0755. */
static int make_dirs(const char *dir, char *err)
{
    char path[PATH_MAX];
    size_t n = strlen(dir);
    if (n >= sizeof(path))
        return rc_fail(err, -ENAMETOOLONG, "output path too long: '%s'", dir);
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != 0)
            continue;
        char c = path[i];
        path[i] = 0;
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            return rc_fail(err, -e, "unable to create directory '%s': %s", path, strerror(e));
        }
        path[i] = c;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        int e = errno;
        return rc_fail(err, -e, "unable to use directory '%s': %s", dir, strerror(e));
    }
    if (!S_ISDIR(sb.st_mode))
        return rc_fail(err, -ENOTDIR, "unable to use directory '%s': %s", dir, strerror(ENOTDIR));
    return 0;
}

int rb_gen_run(const struct rb_gen_config *cfg, struct rb_gen_stats *stats, char *err)
{
    struct rb_gen_stats local;
    struct rb_gen_stats *st = stats ? stats : &local;
    memset(st, 0, sizeof(*st));
    int rc = rb_gen_check(cfg, err);
    if (rc)
        return rc;
    rc = make_dirs(cfg->out_dir, err);
    if (rc)
        return rc;
    /* A recgen.json from an earlier run would vouch for a half-new set. */
    char manifest[PATH_MAX];
    if (snprintf(manifest, sizeof(manifest), "%s/recgen.json", cfg->out_dir) >= (int)sizeof(manifest))
        return rc_fail(err, -ENAMETOOLONG, "output path too long: '%s'", cfg->out_dir);
    if (unlink(manifest) != 0 && errno != ENOENT) {
        int e = errno;
        return rc_fail(err, -e, "unable to remove '%s': %s", manifest, strerror(e));
    }

    struct model m;
    rc = model_build(&m, cfg, err);
    if (rc)
        return rc;
    st->products = m.P;
    st->out_of_stock = m.oos_count;
    st->new_products = m.new_count;
    rc_log(RC_LOG_INFO, "model", "products=%u categories=%u new=%u out_of_stock=%u", m.P, m.K, m.new_count,
           m.oos_count);

    const char *dir = cfg->out_dir;
    if (rc == 0)
        rc = write_catalog(&m, dir, err);
    if (rc == 0)
        rc = write_emb_ids(&m, dir, err);
    if (rc == 0)
        rc = write_emb(&m, dir, err);
    if (rc == 0)
        rc = write_truth_products(&m, dir, err);
    if (rc == 0)
        rc = write_truth_categories(&m, dir, err);
    if (rc == 0)
        rc = write_truth_segments(&m, dir, err);
    if (rc == 0)
        rc = write_cookies(&m, dir, st, err);
    if (rc == 0)
        rc = write_manifest(&m, dir, st, err);
    model_free(&m);
    return rc;
}
