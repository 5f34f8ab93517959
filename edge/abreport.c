/*
 * abreport.c - recctl ab-report (contract in abreport.h). Steps: read the
 * definition, the catalog's prices and the log (exposures and beacons);
 * attribute beacons and the shop's events to exposures; count per visitor
 * and per arm; test; render as text, JSON or an HTML page.
 *
 * The shop's events and catalog are read by shopcsv.h, a small reader of
 * the canonical columns, not by recbuild's ingest (shopcsv.h says why).
 */
#include "abreport.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "error.h"
#include "experiment.h"
#include "report.h"
#include "shopcsv.h"
#include "stats.h"

#define NONE UINT32_MAX
#define SKIPPED (UINT32_MAX - 1) /* rec_exp of an exposure read but not counted */
#define AB_LEVEL 0.95     /* confidence of every interval */
#define AB_ALPHA 0.05     /* "significant" below this p */
#define AB_SRM_ALPHA 0.001 /* sample-ratio mismatch below this p */
#define AB_ARMS RC_EXPERIMENT_ARMS_MAX

enum { F_CLICK = 1, F_CART = 2, F_PURCHASE = 4 };
enum { T_CLICK, T_CART, T_PURCHASE };
#define NEW_ANY 0x8000u /* ab.new_seen: shown new in any exposure read (bits 0..AB_ARMS-1: in that arm) */
#define AB_EXPLORE_AGE_DAYS 14.0 /* recbuild's --explore-age-days default (builder/explore.h) */
_Static_assert(AB_ARMS < 16, "ab.new_seen holds a bit per arm beside NEW_ANY");

int re_ab_paths_push(struct re_ab_paths *p, const char *value, char *err)
{
    if (p->n >= RE_AB_MAX_PATHS)
        return rc_fail(err, RC_ERANGE, "at most %d paths at '%s' (give a directory instead)", RE_AB_MAX_PATHS, value);
    p->v[p->n++] = value;
    return 0;
}

int re_ab_paths_add(void *cfg, const struct rc_opt *o, const char *value, char *err)
{
    return re_ab_paths_push((struct re_ab_paths *)((char *)cfg + o->off), value, err);
}

/* ---- growing arrays and interned strings ---- */

/*
 * Room for `need` elements of `elem` bytes in the array whose pointer is
 * at pp (the address of any object pointer; copied with memcpy, so no
 * pointer is accessed through another type), capacity *cap, doubling.
 * 0 or -ENOMEM (the array is left as it was).
 */
static int grow(void *pp, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *old, *q;
    memcpy(&old, pp, sizeof(old));
    if (c > SIZE_MAX / elem || !(q = realloc(old, c * elem)))
        return -ENOMEM;
    memcpy(pp, &q, sizeof(q));
    *cap = c;
    return 0;
}

#define GROW(arr, cap, need) grow(&(arr), &(cap), (need), sizeof(*(arr)))

/* id -> dense index 0, 1, 2, ... in first-seen order (open addressing on
 * XXH3; the bytes are compared, so distinct ids never merge). */
struct strmap {
    uint32_t n;
    size_t cap;
    uint64_t *hash, *off;
    uint32_t *len;
    char *arena;
    size_t alen, acap;
    uint32_t *slots; /* index + 1; 0 is free */
    uint32_t nslots; /* a power of two */
};

static uint32_t strmap_find_h(const struct strmap *m, const char *s, size_t n, uint64_t h)
{
    if (!m->nslots)
        return NONE;
    for (uint32_t j = (uint32_t)h & (m->nslots - 1); m->slots[j]; j = (j + 1) & (m->nslots - 1)) {
        uint32_t i = m->slots[j] - 1;
        if (m->hash[i] == h && m->len[i] == n && memcmp(m->arena + m->off[i], s, n) == 0)
            return i;
    }
    return NONE;
}

static uint32_t strmap_find(const struct strmap *m, const char *s, size_t n)
{
    return strmap_find_h(m, s, n, XXH3_64bits(s, n));
}

static int strmap_rehash(struct strmap *m)
{
    uint32_t ns = m->nslots ? m->nslots * 2 : 1024;
    uint32_t *slots = calloc(ns, sizeof(*slots));
    if (!slots)
        return -ENOMEM;
    for (uint32_t i = 0; i < m->n; i++) {
        uint32_t j = (uint32_t)m->hash[i] & (ns - 1);
        while (slots[j])
            j = (j + 1) & (ns - 1);
        slots[j] = i + 1;
    }
    free(m->slots);
    m->slots = slots;
    m->nslots = ns;
    return 0;
}

/* The index of s[0, n), added when new (*added set). */
static int strmap_intern(struct strmap *m, const char *s, size_t n, uint32_t *idx, int *added)
{
    uint64_t h = XXH3_64bits(s, n);
    uint32_t i = strmap_find_h(m, s, n, h);
    *added = i == NONE;
    if (i != NONE) {
        *idx = i;
        return 0;
    }
    if (m->n == NONE - 1)
        return RC_ERANGE;
    if (m->n + 1 > m->cap) { /* hash, off and len share one capacity */
        size_t c1 = m->cap, c2 = m->cap, c3 = m->cap;
        if (GROW(m->hash, c1, m->n + 1) || GROW(m->off, c2, m->n + 1) || GROW(m->len, c3, m->n + 1))
            return -ENOMEM;
        m->cap = c1;
    }
    if (GROW(m->arena, m->acap, m->alen + n + 1))
        return -ENOMEM;
    if ((size_t)(m->n + 1) * 2 > m->nslots && strmap_rehash(m))
        return -ENOMEM;
    i = m->n++;
    m->hash[i] = h;
    m->off[i] = m->alen;
    m->len[i] = (uint32_t)n;
    memcpy(m->arena + m->alen, s, n);
    m->arena[m->alen + n] = '\0';
    m->alen += n + 1;
    uint32_t j = (uint32_t)h & (m->nslots - 1);
    while (m->slots[j])
        j = (j + 1) & (m->nslots - 1);
    m->slots[j] = i + 1;
    *idx = i;
    return 0;
}

static void strmap_release(struct strmap *m)
{
    free(m->hash);
    free(m->off);
    free(m->len);
    free(m->arena);
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

/* ---- what is read and what is counted ---- */

struct ab_visitor {
    int8_t arm;
    uint8_t flags; /* F_* */
    double revenue;
};

struct ab_exposure {
    uint32_t visitor;
    int arm;
    int64_t ts; /* ms */
    uint32_t items, nitems; /* product indices at ab.items[items, items + nitems) */
};

struct ab_beacon {
    uint32_t rec, product;
    int type; /* T_* */
    int64_t ts; /* ms */
};

struct ab_shown {
    uint32_t visitor, product;
    int64_t ts; /* ms */
};

struct ab_arm {
    uint64_t visitors, exposures, clicks;
    uint64_t clickers, carters, purchasers, purchases;
    double revenue, rev_mean, rev_var;
};

struct ab_cmp {
    struct rc_stats_lift click, cart, purchase, revenue;
};

struct ab_skip {
    uint64_t no_arm;           /* exposures without experiment, arm or cookie */
    uint64_t other_experiment; /* exposures of another experiment id */
    uint64_t unknown_arm;      /* an arm the definition does not have */
    uint64_t duplicate;        /* a rec_id seen before */
    uint64_t arm_conflicts;    /* a cookie's exposure in a second arm */
    uint64_t other_type;       /* log lines of a type this report does not know */
    uint64_t unknown_rec;      /* beacons whose rec_id no exposure read has */
    uint64_t skipped_exposure; /* beacons of an exposure skipped above */
    uint64_t not_shown;        /* beacons on a product the exposure did not show */
    uint64_t outside_window;   /* cart / purchase beacons after the window */
    uint64_t beacons_unused;   /* cart / purchase beacons while events are given */
    uint64_t no_price;         /* attributed purchases of a product without a price */
};

struct ab {
    const struct re_ab_opts *o;
    struct rc_experiment *x;
    int64_t window_ms;
    struct strmap cookies, recs, products;
    struct ab_visitor *vis;
    size_t vis_cap;
    uint32_t *rec_exp; /* per rec: its exposure, or NONE */
    size_t rec_cap;
    double *price; /* per product: NAN when unknown */
    size_t price_cap;
    struct ab_exposure *exp;
    size_t nexp, exp_cap;
    uint32_t *items;
    size_t nitems, items_cap;
    struct ab_beacon *bea;
    size_t nbea, bea_cap;
    struct ab_shown *shown;
    size_t nshown;

    struct {
        uint64_t files, lines, malformed, exposures, beacons;
        char sample[200]; /* the first malformed line's place */
    } log;
    struct {
        uint64_t files, lines, bad, carts, purchases;
        char sample[200];
    } ev;
    uint64_t catalog_rows, prices;
    int have_prices, from_events;
    /* New products (the catalog's created_at less than explore_age_days
     * before an exposure): how many were shown, in how many impressions. */
    int64_t *created;   /* per product: created_at, Unix seconds; INT64_MIN: none */
    size_t created_cap;
    uint16_t *new_seen; /* per product: NEW_ANY, and bit k when shown new in arm k */
    size_t new_seen_cap;
    struct {
        int have; /* the catalog has a created_at column */
        uint64_t created, impressions, new_impressions, shown; /* every exposure read, in an arm or not */
        uint64_t arm_impressions[AB_ARMS], arm_new_impressions[AB_ARMS], arm_shown[AB_ARMS];
    } nw;
    struct ab_skip skip;
    struct ab_arm arm[AB_ARMS];
    struct ab_cmp cmp[AB_ARMS];
    int srm_ok;
    double srm_chi2, srm_p;
};

static void ab_release(struct ab *a)
{
    rc_experiment_free(a->x);
    strmap_release(&a->cookies);
    strmap_release(&a->recs);
    strmap_release(&a->products);
    free(a->vis);
    free(a->rec_exp);
    free(a->price);
    free(a->created);
    free(a->new_seen);
    free(a->exp);
    free(a->items);
    free(a->bea);
    free(a->shown);
}

/* A product's index, with the per-product arrays kept as long as the map. */
static int product_intern(struct ab *a, const char *s, size_t n, uint32_t *idx)
{
    int added;
    int rc = strmap_intern(&a->products, s, n, idx, &added);
    if (rc || !added)
        return rc;
    if (GROW(a->price, a->price_cap, a->products.n) || GROW(a->created, a->created_cap, a->products.n) ||
        GROW(a->new_seen, a->new_seen_cap, a->products.n))
        return -ENOMEM;
    a->price[*idx] = NAN;
    a->created[*idx] = INT64_MIN;
    a->new_seen[*idx] = 0;
    return 0;
}

static int rec_intern(struct ab *a, const char *s, size_t n, uint32_t *idx)
{
    int added;
    int rc = strmap_intern(&a->recs, s, n, idx, &added);
    if (rc || !added)
        return rc;
    if (GROW(a->rec_exp, a->rec_cap, a->recs.n))
        return -ENOMEM;
    a->rec_exp[*idx] = NONE;
    return 0;
}

/* ---- the definition ---- */

static int read_experiment(struct ab *a, char *err)
{
    const char *path = a->o->experiments;
    char file[PATH_MAX];
    struct stat st;
    if (!path || !*path)
        return rc_fail(err, RC_ENOTFOUND, "--experiments FILE|VERSION_DIR is required");
    if (stat(path, &st) != 0)
        return rc_fail(err, -errno, "unable to read '%s': %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        if (snprintf(file, sizeof(file), "%s/%s", path, RC_EXPERIMENT_FILE) >= (int)sizeof(file))
            return rc_fail(err, -ENAMETOOLONG, "path '%s' is too long", path);
        if (access(file, F_OK) != 0)
            return rc_fail(err, RC_ENOTFOUND, "version '%s' has no %s: it runs no experiment", path,
                           RC_EXPERIMENT_FILE);
        path = file;
    }
    return rc_experiment_read(path, &a->x, err);
}

/* ---- the catalog: prices, and created_at for new products ---- */

/* A created_at field (blanks around it trimmed) into *out: 0, or -1. */
static int created_at(const char *s, size_t n, int64_t *out)
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return n ? re_csv_ts(s, n, out) : -1;
}

static int read_catalog(struct ab *a, char *err)
{
    static const char *const names[] = {"product", "price", "created_at"};
    int col[3];
    struct re_csv c;
    int rc = re_csv_open(&c, a->o->catalog, names, 3, col, err);
    if (!rc && (col[0] < 0 || (col[1] < 0 && col[2] < 0)))
        rc = rc_fail(err, RC_EFORMAT, "catalog '%s' lacks a %s column", a->o->catalog,
                     col[0] < 0 ? "product" : "price or created_at");
    int need = 0, nf;
    for (int i = 0; i < 3; i++)
        if (col[i] + 1 > need)
            need = col[i] + 1;
    a->nw.have = !rc && col[2] >= 0;
    while (!rc && (nf = re_csv_next(&c, need)) != -2) {
        a->catalog_rows++;
        double p;
        int64_t t;
        uint32_t idx;
        if (nf < need || c.len[col[0]] == 0)
            continue;
        /* Both are optional per row: no price leaves the product out of revenue, no created_at never makes it new. */
        int priced = col[1] >= 0 && re_csv_price(c.field[col[1]], c.len[col[1]], &p) == 0;
        int dated = col[2] >= 0 && created_at(c.field[col[2]], c.len[col[2]], &t) == 0;
        if (!priced && !dated)
            continue;
        rc = product_intern(a, c.field[col[0]], c.len[col[0]], &idx);
        if (!rc && priced) {
            a->price[idx] = p;
            a->prices++;
        }
        if (!rc && dated) {
            a->created[idx] = t;
            a->nw.created++;
        }
    }
    re_csv_close(&c);
    a->have_prices = a->prices > 0;
    return rc;
}

/* ---- the exposure log ---- */

static size_t chomp(const char *line, size_t n)
{
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    return n;
}

static void log_malformed(struct ab *a, const char *file, uint64_t lineno, const char *why)
{
    if (!a->log.malformed++)
        snprintf(a->log.sample, sizeof(a->log.sample), "%s:%" PRIu64 ": %s", file, lineno, why);
}

/* A Unix time in seconds that milliseconds hold without overflow. */
static int ts_ok(double ts)
{
    return ts >= 0 && ts < 1e13;
}

static int arm_index(const struct rc_experiment *x, const char *name)
{
    for (unsigned i = 0; i < x->narms; i++)
        if (strcmp(x->arms[i].name, name) == 0)
            return (int)i;
    return -1;
}

static double explore_age_days(const struct ab *a)
{
    return a->o->explore_age_days > 0 ? a->o->explore_age_days : AB_EXPLORE_AGE_DAYS;
}

/* Was product p (NONE: not in the catalog) new at ts_ms? */
static int new_at(const struct ab *a, uint32_t p, int64_t ts_ms)
{
    return p != NONE && a->created[p] != INT64_MIN &&
           (double)ts_ms - (double)a->created[p] * 1000 < explore_age_days(a) * 86400 * 1000;
}

/* Count the new products among an exposure's items: every exposure read
 * (arm < 0; items by id), then once more for the arm it counts in. */
static void count_new(struct ab *a, const struct rc_json *items, const struct ab_exposure *e, int arm, int64_t ts_ms)
{
    if (!a->nw.have)
        return;
    if (arm < 0) {
        for (const struct rc_json *it = items->child; it; it = it->next) {
            uint32_t p = strmap_find(&a->products, it->str, it->str_len);
            a->nw.impressions++;
            if (!new_at(a, p, ts_ms))
                continue;
            a->nw.new_impressions++;
            a->nw.shown += !(a->new_seen[p] & NEW_ANY);
            a->new_seen[p] |= NEW_ANY;
        }
        return;
    }
    for (uint32_t i = e->items; i < e->items + e->nitems; i++) {
        uint32_t p = a->items[i];
        a->nw.arm_impressions[arm]++;
        if (!new_at(a, p, ts_ms))
            continue;
        a->nw.arm_new_impressions[arm]++;
        a->nw.arm_shown[arm] += !(a->new_seen[p] & (1u << arm));
        a->new_seen[p] |= (uint16_t)(1u << arm);
    }
}

static int log_exposure(struct ab *a, const struct rc_json *j, const char *file, uint64_t lineno)
{
    const char *rec = rc_json_get_str(j, "rec_id");
    const struct rc_json *items = rc_json_get(j, "items");
    double ts;
    if (!rec || rc_json_get_num(j, "ts", &ts) != 0 || !ts_ok(ts) || !items || items->type != RC_JSON_ARR) {
        log_malformed(a, file, lineno, "an exposure without rec_id, ts or items");
        return 0;
    }
    for (const struct rc_json *it = items->child; it; it = it->next)
        if (it->type != RC_JSON_STR || it->str_len == 0) {
            log_malformed(a, file, lineno, "an item that is not a product id");
            return 0;
        }
    a->log.exposures++;
    uint32_t r, v;
    int added, rc = rec_intern(a, rec, strlen(rec), &r);
    if (rc)
        return rc;
    if (a->rec_exp[r] != NONE) {
        a->skip.duplicate++;
        return 0;
    }
    a->rec_exp[r] = SKIPPED; /* until it counts: its beacons are not "unknown" */
    count_new(a, items, NULL, -1, llround(ts * 1000));
    const char *xid = rc_json_get_str(j, "experiment"), *arm = rc_json_get_str(j, "arm");
    const char *cookie = rc_json_get_str(j, "cookie");
    if (!xid || !arm || !cookie || !*cookie) {
        a->skip.no_arm++;
        return 0;
    }
    if (strcmp(xid, a->x->id) != 0) {
        a->skip.other_experiment++;
        return 0;
    }
    int ai = arm_index(a->x, arm);
    if (ai < 0) {
        a->skip.unknown_arm++;
        return 0;
    }
    if ((rc = strmap_intern(&a->cookies, cookie, strlen(cookie), &v, &added)) != 0)
        return rc;
    if (added) {
        if (GROW(a->vis, a->vis_cap, a->cookies.n))
            return -ENOMEM;
        a->vis[v] = (struct ab_visitor){.arm = (int8_t)ai};
    } else if (a->vis[v].arm != ai) {
        a->skip.arm_conflicts++;
        return 0;
    }
    if (GROW(a->exp, a->exp_cap, a->nexp + 1))
        return -ENOMEM;
    struct ab_exposure *e = &a->exp[a->nexp];
    *e = (struct ab_exposure){.visitor = v, .arm = ai, .ts = llround(ts * 1000), .items = (uint32_t)a->nitems};
    for (const struct rc_json *it = items->child; it; it = it->next) {
        uint32_t p;
        if ((rc = product_intern(a, it->str, it->str_len, &p)) != 0 || GROW(a->items, a->items_cap, a->nitems + 1))
            return rc ? rc : -ENOMEM;
        a->items[a->nitems++] = p;
        e->nitems++;
    }
    a->rec_exp[r] = (uint32_t)a->nexp++;
    a->arm[ai].exposures++;
    count_new(a, items, e, ai, e->ts);
    return 0;
}

static int log_beacon(struct ab *a, const struct rc_json *j, int type, const char *file, uint64_t lineno)
{
    const char *rec = rc_json_get_str(j, "rec_id"), *product = rc_json_get_str(j, "product");
    double ts;
    if (!rec || !product || !*product || rc_json_get_num(j, "ts", &ts) != 0 || !ts_ok(ts)) {
        log_malformed(a, file, lineno, "a beacon without rec_id, product or ts");
        return 0;
    }
    a->log.beacons++;
    uint32_t r, p;
    int rc = rec_intern(a, rec, strlen(rec), &r);
    if (!rc)
        rc = product_intern(a, product, strlen(product), &p);
    if (!rc && GROW(a->bea, a->bea_cap, a->nbea + 1))
        rc = -ENOMEM;
    if (!rc)
        a->bea[a->nbea++] = (struct ab_beacon){.rec = r, .product = p, .type = type, .ts = llround(ts * 1000)};
    return rc;
}

static int log_line(struct ab *a, const char *line, size_t len, const char *file, uint64_t lineno)
{
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i == len)
        return 0;
    a->log.lines++;
    struct rc_json *j = NULL;
    char perr[RC_ERRMSG_MAX];
    int rc = rc_json_parse(line, len, &j, perr);
    if (rc == -ENOMEM)
        return rc;
    if (rc || j->type != RC_JSON_OBJ) {
        log_malformed(a, file, lineno, rc ? "not JSON" : "not a JSON object");
        rc_json_free(j);
        return 0;
    }
    const char *type = rc_json_get_str(j, "type");
    if (!type)
        log_malformed(a, file, lineno, "no type");
    else if (strcmp(type, "exposure") == 0)
        rc = log_exposure(a, j, file, lineno);
    else if (strcmp(type, "click") == 0)
        rc = log_beacon(a, j, T_CLICK, file, lineno);
    else if (strcmp(type, "cart") == 0)
        rc = log_beacon(a, j, T_CART, file, lineno);
    else if (strcmp(type, "purchase") == 0)
        rc = log_beacon(a, j, T_PURCHASE, file, lineno);
    else
        a->skip.other_type++;
    rc_json_free(j);
    return rc;
}

static int read_log_file(struct ab *a, const char *path, char *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return rc_fail(err, -errno, "unable to open '%s': %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t lineno = 0;
    int rc = 0;
    a->log.files++;
    while (!rc && (n = getline(&line, &cap, f)) >= 0)
        rc = log_line(a, line, chomp(line, (size_t)n), path, ++lineno);
    if (!rc && ferror(f))
        rc = rc_fail(err, -EIO, "unable to read '%s'", path);
    else if (rc)
        rc = rc_fail(err, rc, "reading '%s': %s", path, rc_strerror(rc));
    free(line);
    fclose(f);
    return rc;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}

/* Every closed *.jsonl under dir (recursively, by name), read. Hidden
 * entries and the open files (*.jsonl.open) are left alone. */
static int read_log_dir(struct ab *a, const char *dir, int depth, char *err)
{
    if (depth > 8)
        return 0;
    DIR *d = opendir(dir);
    if (!d)
        return rc_fail(err, -errno, "unable to open '%s': %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *s = strdup(de->d_name);
        if (!s || GROW(names, cap, n + 1)) {
            free(s);
            rc = -ENOMEM;
            break;
        }
        names[n++] = s;
    }
    closedir(d);
    if (!rc && n) /* qsort's base may not be NULL */
        qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n && !rc; i++) {
        char path[PATH_MAX];
        struct stat st;
        if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= (int)sizeof(path))
            rc = rc_fail(err, -ENAMETOOLONG, "path '%s/%s' is too long", dir, names[i]);
        else if (stat(path, &st) != 0)
            continue; /* removed while we looked (a collector at work) */
        else if (S_ISDIR(st.st_mode))
            rc = read_log_dir(a, path, depth + 1, err);
        else if (S_ISREG(st.st_mode) && ends_with(names[i], ".jsonl"))
            rc = read_log_file(a, path, err);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

static int read_logs(struct ab *a, char *err)
{
    if (a->o->logs.n == 0)
        return rc_fail(err, RC_EEMPTY, "no --log PATH given");
    for (int i = 0; i < a->o->logs.n; i++) {
        const char *p = a->o->logs.v[i];
        struct stat st;
        if (stat(p, &st) != 0)
            return rc_fail(err, -errno, "unable to read '%s': %s", p, strerror(errno));
        int rc = S_ISDIR(st.st_mode) ? read_log_dir(a, p, 0, err) : read_log_file(a, p, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- attribution ---- */

static int cmp_shown(const void *x, const void *y)
{
    const struct ab_shown *p = x, *q = y;
    if (p->visitor != q->visitor)
        return p->visitor < q->visitor ? -1 : 1;
    if (p->product != q->product)
        return p->product < q->product ? -1 : 1;
    return p->ts < q->ts ? -1 : p->ts > q->ts;
}

/* Every (visitor, product, time) an exposure showed, sorted. */
static int build_shown(struct ab *a)
{
    a->shown = malloc((a->nitems ? a->nitems : 1) * sizeof(*a->shown));
    if (!a->shown)
        return -ENOMEM;
    for (size_t e = 0; e < a->nexp; e++)
        for (uint32_t i = 0; i < a->exp[e].nitems; i++)
            a->shown[a->nshown++] = (struct ab_shown){a->exp[e].visitor, a->items[a->exp[e].items + i], a->exp[e].ts};
    qsort(a->shown, a->nshown, sizeof(*a->shown), cmp_shown);
    return 0;
}

/*
 * 1 when an exposure showed product to visitor at a time ts_e with
 * ts_e <= hi and lo - ts_e <= window: the event happened in [lo, hi]
 * (an event of the shop's, in whole seconds, spans its second).
 */
static int shown_within(const struct ab *a, uint32_t visitor, uint32_t product, int64_t lo, int64_t hi)
{
    struct ab_shown key = {visitor, product, hi};
    size_t l = 0, r = a->nshown; /* first entry > key */
    while (l < r) {
        size_t m = l + (r - l) / 2;
        if (cmp_shown(&a->shown[m], &key) <= 0)
            l = m + 1;
        else
            r = m;
    }
    if (l == 0)
        return 0;
    const struct ab_shown *s = &a->shown[l - 1];
    return s->visitor == visitor && s->product == product && lo - s->ts <= a->window_ms;
}

static void add_purchase(struct ab *a, uint32_t visitor, uint32_t product)
{
    struct ab_visitor *v = &a->vis[visitor];
    v->flags |= F_PURCHASE;
    a->arm[v->arm].purchases++;
    if (isnan(a->price[product]))
        a->skip.no_price++;
    else
        v->revenue += a->price[product];
}

static void attribute_beacons(struct ab *a)
{
    for (size_t i = 0; i < a->nbea; i++) {
        const struct ab_beacon *b = &a->bea[i];
        uint32_t ei = a->rec_exp[b->rec];
        if (ei == NONE || ei == SKIPPED) {
            ei == NONE ? a->skip.unknown_rec++ : a->skip.skipped_exposure++;
            continue;
        }
        const struct ab_exposure *e = &a->exp[ei];
        int shown = 0;
        for (uint32_t k = 0; k < e->nitems && !shown; k++)
            shown = a->items[e->items + k] == b->product;
        if (!shown) {
            a->skip.not_shown++;
            continue;
        }
        struct ab_visitor *v = &a->vis[e->visitor];
        if (b->type == T_CLICK) {
            a->arm[e->arm].clicks++;
            v->flags |= F_CLICK;
        } else if (a->from_events) {
            a->skip.beacons_unused++;
        } else if (!shown_within(a, e->visitor, b->product, b->ts, b->ts)) {
            a->skip.outside_window++;
        } else if (b->type == T_CART) {
            v->flags |= F_CART;
        } else {
            add_purchase(a, e->visitor, b->product);
        }
    }
}

static void ev_bad(struct ab *a, const struct re_csv *c, const char *why)
{
    if (!a->ev.bad++)
        snprintf(a->ev.sample, sizeof(a->ev.sample), "%s:%" PRIu64 ": %s", c->path, c->lineno, why);
}

/* The shop's carts and purchases of products shown to exposed visitors. */
static int read_events_file(struct ab *a, const char *path, char *err)
{
    static const char *const names[] = {"ts", "cookie", "event", "product"};
    int col[4], need = 0, nf;
    struct re_csv c;
    int rc = re_csv_open(&c, path, names, 4, col, err);
    for (int i = 0; !rc && i < 4; i++) {
        if (col[i] < 0)
            rc = rc_fail(err, RC_EFORMAT, "events '%s' lack the '%s' column (schemas/inputs.md)", path, names[i]);
        else if (col[i] + 1 > need)
            need = col[i] + 1;
    }
    a->ev.files += !rc;
    while (!rc && (nf = re_csv_next(&c, need)) != -2) {
        a->ev.lines++;
        if (nf < need) {
            ev_bad(a, &c, nf < 0 ? "bad quoting" : "too few fields");
            continue;
        }
        const char *ev = c.field[col[2]];
        size_t evl = c.len[col[2]];
        int purchase = evl == 8 && strncasecmp(ev, "purchase", 8) == 0;
        if (!purchase && !(evl == 4 && strncasecmp(ev, "cart", 4) == 0))
            continue; /* views and other types say nothing here */
        int64_t ts;
        if (re_csv_ts(c.field[col[0]], c.len[col[0]], &ts) != 0) {
            ev_bad(a, &c, "bad timestamp");
            continue;
        }
        uint32_t v = strmap_find(&a->cookies, c.field[col[1]], c.len[col[1]]);
        uint32_t p = strmap_find(&a->products, c.field[col[3]], c.len[col[3]]);
        if (v == NONE || p == NONE || !shown_within(a, v, p, ts * 1000, ts * 1000 + 999))
            continue;
        if (purchase) {
            a->ev.purchases++;
            add_purchase(a, v, p);
        } else {
            a->ev.carts++;
            a->vis[v].flags |= F_CART;
        }
    }
    re_csv_close(&c);
    return rc;
}

/* ---- counting and testing ---- */

static void aggregate(struct ab *a)
{
    for (uint32_t i = 0; i < a->cookies.n; i++) {
        const struct ab_visitor *v = &a->vis[i];
        struct ab_arm *m = &a->arm[v->arm];
        m->visitors++;
        m->clickers += (v->flags & F_CLICK) != 0;
        m->carters += (v->flags & (F_CART | F_PURCHASE)) != 0; /* a purchase is carted first, whatever was logged */
        m->purchasers += (v->flags & F_PURCHASE) != 0;
        m->revenue += v->revenue;
    }
    for (unsigned k = 0; k < a->x->narms; k++)
        a->arm[k].rev_mean = a->arm[k].visitors ? a->arm[k].revenue / (double)a->arm[k].visitors : NAN;
    for (uint32_t i = 0; i < a->cookies.n; i++) {
        struct ab_arm *m = &a->arm[a->vis[i].arm];
        double d = a->vis[i].revenue - m->rev_mean;
        m->rev_var += d * d;
    }
    for (unsigned k = 0; k < a->x->narms; k++)
        a->arm[k].rev_var = a->arm[k].visitors > 1 ? a->arm[k].rev_var / (double)(a->arm[k].visitors - 1) : NAN;

    const struct ab_arm *c = &a->arm[a->x->control];
    for (unsigned k = 0; k < a->x->narms; k++) {
        const struct ab_arm *t = &a->arm[k];
        struct ab_cmp *r = &a->cmp[k];
        rc_stats_two_prop(t->clickers, t->visitors, c->clickers, c->visitors, AB_LEVEL, &r->click);
        rc_stats_two_prop(t->carters, t->visitors, c->carters, c->visitors, AB_LEVEL, &r->cart);
        rc_stats_two_prop(t->purchasers, t->visitors, c->purchasers, c->visitors, AB_LEVEL, &r->purchase);
        rc_stats_welch(t->rev_mean, t->rev_var, t->visitors, c->rev_mean, c->rev_var, c->visitors, AB_LEVEL,
                       &r->revenue);
    }

    uint64_t obs[AB_ARMS];
    double share[AB_ARMS];
    for (unsigned k = 0; k < a->x->narms; k++) {
        obs[k] = a->arm[k].visitors;
        share[k] = (double)(a->x->arms[k].to - a->x->arms[k].from);
    }
    a->srm_ok = rc_stats_srm(obs, share, a->x->narms, &a->srm_chi2, &a->srm_p) == 0;
}

static int ab_compute(struct ab *a, char *err)
{
    a->window_ms = (int64_t)llround((a->o->window_hours > 0 ? a->o->window_hours : 24) * 3600 * 1000);
    int rc = read_experiment(a, err);
    if (!rc && a->o->catalog)
        rc = read_catalog(a, err);
    if (!rc)
        rc = read_logs(a, err);
    if (!rc && (rc = build_shown(a)) != 0)
        rc_fail(err, rc, "out of memory");
    if (rc)
        return rc;
    a->from_events = a->o->events.n > 0;
    attribute_beacons(a);
    for (int i = 0; i < a->o->events.n && !rc; i++)
        rc = read_events_file(a, a->o->events.v[i], err);
    if (!rc)
        aggregate(a);
    return rc;
}

/* ---- the metrics, as the outputs name them ---- */

enum { M_CLICK, M_CART, M_PURCHASE, M_REVENUE, M_COUNT };
static const char *const metric_key[M_COUNT] = {"click_rate", "cart_rate", "purchase_rate", "revenue_per_visitor"};
static const char *const metric_label[M_COUNT] = {"click rate", "cart rate", "purchase rate", "revenue / visitor"};

static const struct rc_stats_lift *cmp_metric(const struct ab_cmp *c, int m)
{
    return m == M_CLICK ? &c->click : m == M_CART ? &c->cart : m == M_PURCHASE ? &c->purchase : &c->revenue;
}

static int metric_known(const struct ab *a, int m)
{
    return m != M_REVENUE || a->have_prices;
}

/* An arm's value of metric m and its own 95 % interval (Wald for a rate,
 * normal for the mean revenue). */
static void arm_metric(const struct ab *a, unsigned k, int m, double *v, double *lo, double *hi)
{
    const struct ab_arm *r = &a->arm[k];
    double z = rc_stats_norm_quantile(0.5 + AB_LEVEL / 2), n = (double)r->visitors, se;
    if (m == M_REVENUE) {
        *v = r->rev_mean;
        se = r->visitors > 1 ? sqrt(r->rev_var / n) : NAN;
    } else {
        uint64_t x = m == M_CLICK ? r->clickers : m == M_CART ? r->carters : r->purchasers;
        *v = r->visitors ? (double)x / n : NAN;
        se = r->visitors ? sqrt(*v * (1 - *v) / n) : NAN;
    }
    *lo = *v - z * se;
    *hi = *v + z * se;
    if (*lo < 0)
        *lo = 0;
}

static int srm_flagged(const struct ab *a)
{
    return a->srm_ok && a->srm_p < AB_SRM_ALPHA;
}

/* ---- JSON ---- */

static void jnum(struct rc_buf *b, const char *key, double v)
{
    rc_buf_addf(b, "\"%s\":", key);
    rc_buf_add_double(b, v);
}

static void jpair(struct rc_buf *b, const char *key, double lo, double hi)
{
    rc_buf_addf(b, "\"%s\":[", key);
    rc_buf_add_double(b, lo);
    rc_buf_adds(b, ",");
    rc_buf_add_double(b, hi);
    rc_buf_adds(b, "]");
}

static void json_str(struct rc_buf *b, const char *s)
{
    rc_buf_json_str(b, s, strlen(s));
}

static void json_arm(struct rc_buf *b, const struct ab *a, unsigned k)
{
    const struct rc_experiment_arm *d = &a->x->arms[k];
    const struct ab_arm *r = &a->arm[k];
    rc_buf_adds(b, "{\"name\":");
    json_str(b, d->name);
    rc_buf_addf(b, ",\"control\":%s,\"holdout\":%s,\"buckets\":[%u,%u],", k == a->x->control ? "true" : "false",
                d->holdout ? "true" : "false", d->from, d->to);
    jnum(b, "share", (double)(d->to - d->from) / RC_EXPERIMENT_BUCKETS);
    rc_buf_addf(b, ",\"visitors\":%" PRIu64 ",\"exposures\":%" PRIu64 ",\"clicks\":%" PRIu64 ",", r->visitors,
                r->exposures, r->clicks);
    jnum(b, "ctr", r->exposures ? (double)r->clicks / (double)r->exposures : NAN);
    rc_buf_addf(b, ",\"clickers\":%" PRIu64 ",\"carters\":%" PRIu64 ",\"purchasers\":%" PRIu64
                   ",\"purchases\":%" PRIu64,
                r->clickers, r->carters, r->purchasers, r->purchases);
    for (int m = 0; m < M_COUNT; m++) {
        double v, lo, hi;
        arm_metric(a, k, m, &v, &lo, &hi);
        if (!metric_known(a, m))
            v = lo = hi = NAN;
        rc_buf_adds(b, ",");
        jnum(b, metric_key[m], v);
        char key[64];
        snprintf(key, sizeof(key), "%s_ci", metric_key[m]);
        rc_buf_adds(b, ",");
        jpair(b, key, lo, hi);
    }
    rc_buf_adds(b, ",");
    jnum(b, "revenue", a->have_prices ? r->revenue : NAN);
    rc_buf_adds(b, ",");
    jnum(b, "revenue_sd", a->have_prices ? sqrt(r->rev_var) : NAN);
    rc_buf_adds(b, "}");
}

static void json_lift(struct rc_buf *b, const struct rc_stats_lift *l, int welch, int known)
{
    struct rc_stats_lift n = {NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, 0, NAN};
    if (!known)
        l = &n;
    jnum(b, "treatment", l->t);
    rc_buf_adds(b, ",");
    jnum(b, "control", l->c);
    rc_buf_adds(b, ",");
    jnum(b, "diff", l->diff);
    rc_buf_adds(b, ",");
    jpair(b, "diff_ci", l->diff_lo, l->diff_hi);
    rc_buf_adds(b, ",");
    jnum(b, "relative", l->rel);
    rc_buf_adds(b, ",");
    jpair(b, "relative_ci", l->rel_lo, l->rel_hi);
    rc_buf_adds(b, ",");
    jnum(b, welch ? "t" : "z", l->stat);
    if (welch) {
        rc_buf_adds(b, ",");
        jnum(b, "df", known ? l->df : NAN);
    }
    rc_buf_adds(b, ",");
    jnum(b, "p", l->p);
    rc_buf_addf(b, ",\"significant\":%s", l->p < AB_ALPHA ? "true" : "false");
}

/* "new_products": null without a created_at column in the catalog. */
static void json_new(struct rc_buf *b, const struct ab *a)
{
    rc_buf_adds(b, ",\"new_products\":");
    if (!a->nw.have) {
        rc_buf_adds(b, "null");
        return;
    }
    rc_buf_adds(b, "{");
    jnum(b, "age_days", explore_age_days(a));
    rc_buf_addf(b, ",\"catalog_created_at\":%" PRIu64 ",\"shown\":%" PRIu64 ",\"impressions\":%" PRIu64
                ",\"all_impressions\":%" PRIu64 ",\"arms\":[",
                a->nw.created, a->nw.shown, a->nw.new_impressions, a->nw.impressions);
    for (unsigned k = 0; k < a->x->narms; k++) {
        rc_buf_adds(b, k ? ",{\"name\":" : "{\"name\":");
        json_str(b, a->x->arms[k].name);
        rc_buf_addf(b, ",\"shown\":%" PRIu64 ",\"impressions\":%" PRIu64 ",\"all_impressions\":%" PRIu64 "}",
                    a->nw.arm_shown[k], a->nw.arm_new_impressions[k], a->nw.arm_impressions[k]);
    }
    rc_buf_adds(b, "]}");
}

static void render_json(struct rc_buf *b, const struct ab *a)
{
    const struct rc_experiment *x = a->x;
    rc_buf_adds(b, "{\"experiment\":");
    json_str(b, x->id);
    rc_buf_adds(b, ",\"control\":");
    json_str(b, x->arms[x->control].name);
    rc_buf_adds(b, ",");
    jnum(b, "window_hours", (double)a->window_ms / 3600000.0);
    rc_buf_adds(b, ",");
    jnum(b, "confidence", AB_LEVEL);
    rc_buf_addf(b, ",\"outcomes_from\":\"%s\",", a->from_events ? "events" : "beacons");
    rc_buf_addf(b,
                "\"inputs\":{\"log_files\":%" PRIu64 ",\"log_lines\":%" PRIu64 ",\"malformed_lines\":%" PRIu64
                ",\"exposures\":%" PRIu64 ",\"beacons\":%" PRIu64 ",\"event_files\":%" PRIu64
                ",\"event_lines\":%" PRIu64 ",\"event_bad_lines\":%" PRIu64 ",\"event_carts\":%" PRIu64
                ",\"event_purchases\":%" PRIu64
                ",\"catalog_rows\":%" PRIu64 ",\"prices\":%" PRIu64 ",\"malformed_sample\":",
                a->log.files, a->log.lines, a->log.malformed, a->log.exposures, a->log.beacons, a->ev.files,
                a->ev.lines, a->ev.bad, a->ev.carts, a->ev.purchases, a->catalog_rows, a->prices);
    json_str(b, a->log.sample);
    rc_buf_adds(b, ",\"event_bad_sample\":");
    json_str(b, a->ev.sample);
    const struct ab_skip *s = &a->skip;
    rc_buf_addf(b,
                "},\"skipped\":{\"exposures_without_arm\":%" PRIu64 ",\"exposures_other_experiment\":%" PRIu64
                ",\"exposures_unknown_arm\":%" PRIu64 ",\"exposures_duplicate\":%" PRIu64
                ",\"arm_conflicts\":%" PRIu64 ",\"lines_other_type\":%" PRIu64 ",\"beacons_unknown_rec_id\":%" PRIu64
                ",\"beacons_skipped_exposure\":%" PRIu64 ",\"beacons_not_shown\":%" PRIu64
                ",\"beacons_outside_window\":%" PRIu64
                ",\"beacons_unused\":%" PRIu64 ",\"purchases_without_price\":%" PRIu64 "},\"arms\":[",
                s->no_arm, s->other_experiment, s->unknown_arm, s->duplicate, s->arm_conflicts, s->other_type,
                s->unknown_rec, s->skipped_exposure, s->not_shown, s->outside_window, s->beacons_unused,
                s->no_price);
    for (unsigned k = 0; k < x->narms; k++) {
        if (k)
            rc_buf_adds(b, ",");
        json_arm(b, a, k);
    }
    rc_buf_adds(b, "],\"comparisons\":[");
    int first = 1;
    for (unsigned k = 0; k < x->narms; k++) {
        if (k == x->control)
            continue;
        rc_buf_adds(b, first ? "{\"arm\":" : ",{\"arm\":");
        first = 0;
        json_str(b, x->arms[k].name);
        rc_buf_adds(b, ",\"control\":");
        json_str(b, x->arms[x->control].name);
        for (int m = 0; m < M_COUNT; m++) {
            rc_buf_addf(b, ",\"%s\":{", metric_key[m]);
            json_lift(b, cmp_metric(&a->cmp[k], m), m == M_REVENUE, metric_known(a, m));
            rc_buf_adds(b, "}");
        }
        rc_buf_adds(b, "}");
    }
    rc_buf_adds(b, "],\"srm\":{");
    jnum(b, "chi2", a->srm_ok ? a->srm_chi2 : NAN);
    rc_buf_addf(b, ",\"df\":%u,", x->narms - 1);
    jnum(b, "p", a->srm_ok ? a->srm_p : NAN);
    rc_buf_adds(b, ",");
    jnum(b, "threshold", AB_SRM_ALPHA);
    rc_buf_addf(b, ",\"mismatch\":%s,\"observed\":[", srm_flagged(a) ? "true" : "false");
    uint64_t total = 0;
    for (unsigned k = 0; k < x->narms; k++) {
        rc_buf_addf(b, "%s%" PRIu64, k ? "," : "", a->arm[k].visitors);
        total += a->arm[k].visitors;
    }
    rc_buf_adds(b, "],\"expected\":[");
    unsigned width = 0;
    for (unsigned k = 0; k < x->narms; k++)
        width += x->arms[k].to - x->arms[k].from;
    for (unsigned k = 0; k < x->narms; k++) {
        if (k)
            rc_buf_adds(b, ",");
        rc_buf_add_double(b, (double)total * (x->arms[k].to - x->arms[k].from) / width);
    }
    rc_buf_adds(b, "]}");
    json_new(b, a);
    rc_buf_adds(b, "}\n");
}

/* ---- text ---- */

static void text_pct(struct rc_buf *b, double v)
{
    if (isfinite(v))
        rc_buf_addf(b, "%+.2f%%", 100 * v);
    else
        rc_buf_adds(b, "-");
}

static void text_num(struct rc_buf *b, const char *fmt, double v)
{
    if (isfinite(v))
        rc_buf_addf(b, fmt, v);
    else
        rc_buf_adds(b, "-");
}

static void render_text(struct rc_buf *b, const struct ab *a)
{
    const struct rc_experiment *x = a->x;
    rc_buf_addf(b, "experiment %s, control '%s', window %g h, %.0f %% intervals\n", x->id, x->arms[x->control].name,
                (double)a->window_ms / 3600000.0, AB_LEVEL * 100);
    rc_buf_addf(b, "log: %" PRIu64 " files, %" PRIu64 " lines, %" PRIu64 " malformed%s%s%s\n", a->log.files,
                a->log.lines, a->log.malformed, a->log.malformed ? " (first: " : "", a->log.sample,
                a->log.malformed ? ")" : "");
    if (a->from_events)
        rc_buf_addf(b, "events: %" PRIu64 " files, %" PRIu64 " lines, %" PRIu64 " bad; attributed %" PRIu64
                       " carts, %" PRIu64 " purchases\n",
                    a->ev.files, a->ev.lines, a->ev.bad, a->ev.carts, a->ev.purchases);
    else
        rc_buf_adds(b, "events: none given; carts and purchases from the log's beacons\n");
    if (a->o->catalog)
        rc_buf_addf(b, "catalog: %" PRIu64 " prices%s\n\n", a->prices, a->have_prices ? "" : " (no revenue)");
    else
        rc_buf_adds(b, "catalog: none given (--catalog), no revenue\n\n");

    rc_buf_addf(b, "%-16s %10s %10s %8s %8s %11s %11s %11s %11s\n", "arm", "visitors", "exposures", "clicks", "ctr",
                "click/vis", "cart/vis", "purch/vis", "revenue/vis");
    for (unsigned k = 0; k < x->narms; k++) {
        const struct ab_arm *r = &a->arm[k];
        char name[80];
        snprintf(name, sizeof(name), "%s%s", x->arms[k].name, k == x->control ? "*" : "");
        rc_buf_addf(b, "%-16s %10" PRIu64 " %10" PRIu64 " %8" PRIu64 " ", name, r->visitors, r->exposures, r->clicks);
        text_num(b, "%8.4f", r->exposures ? (double)r->clicks / (double)r->exposures : NAN);
        for (int m = 0; m < M_COUNT; m++) {
            double v, lo, hi;
            arm_metric(a, k, m, &v, &lo, &hi);
            rc_buf_adds(b, " ");
            text_num(b, m == M_REVENUE ? "%11.3f" : "%11.4f", metric_known(a, m) ? v : NAN);
        }
        rc_buf_adds(b, "\n");
    }
    rc_buf_adds(b, "(* control)\n");
    for (unsigned k = 0; k < x->narms; k++) {
        if (k == x->control)
            continue;
        rc_buf_addf(b, "\n%s vs %s:\n", x->arms[k].name, x->arms[x->control].name);
        for (int m = 0; m < M_COUNT; m++) {
            const struct rc_stats_lift *l = cmp_metric(&a->cmp[k], m);
            rc_buf_addf(b, "  %-18s", metric_label[m]);
            if (!metric_known(a, m)) {
                rc_buf_adds(b, a->o->catalog ? "no prices in the catalog\n" : "no --catalog given\n");
                continue;
            }
            rc_buf_adds(b, "diff ");
            text_num(b, "%+.5g", l->diff);
            rc_buf_adds(b, " [");
            text_num(b, "%+.5g", l->diff_lo);
            rc_buf_adds(b, ", ");
            text_num(b, "%+.5g", l->diff_hi);
            rc_buf_adds(b, "]  lift ");
            text_pct(b, l->rel);
            rc_buf_adds(b, " [");
            text_pct(b, l->rel_lo);
            rc_buf_adds(b, ", ");
            text_pct(b, l->rel_hi);
            rc_buf_addf(b, "]  %s ", m == M_REVENUE ? "t" : "z");
            text_num(b, "%.3f", l->stat);
            rc_buf_adds(b, "  p ");
            text_num(b, "%.4g", l->p);
            rc_buf_adds(b, l->p < AB_ALPHA ? "  significant\n" : "\n");
        }
    }
    rc_buf_adds(b, "\nsample ratio: ");
    if (!a->srm_ok) {
        rc_buf_adds(b, "not tested (no visitors, or a single arm)\n");
    } else {
        rc_buf_addf(b, "chi2 %.3f, df %u, p %.4g: %s\n", a->srm_chi2, x->narms - 1, a->srm_p,
                    srm_flagged(a) ? "MISMATCH (p < 0.001): the arms' sizes do not match their buckets; "
                                     "do not trust the lifts until the cause is found"
                                   : "ok");
    }
    const struct ab_skip *s = &a->skip;
    rc_buf_addf(b,
                "skipped: %" PRIu64 " exposures without an arm, %" PRIu64 " of another experiment, %" PRIu64
                " of an unknown arm, %" PRIu64 " duplicate rec_ids, %" PRIu64 " arm conflicts; beacons: %" PRIu64
                " unknown rec_id, %" PRIu64 " of a skipped exposure, %" PRIu64 " product not shown, %" PRIu64 " outside the window, %" PRIu64
                " unused; %" PRIu64 " purchases without a price\n",
                s->no_arm, s->other_experiment, s->unknown_arm, s->duplicate, s->arm_conflicts, s->unknown_rec,
                s->skipped_exposure, s->not_shown, s->outside_window, s->beacons_unused, s->no_price);
    if (!a->nw.have)
        return;
    rc_buf_addf(b, "new products (catalog created_at under %g days before the exposure): %" PRIu64 " shown, in %" PRIu64
                " of %" PRIu64 " impressions of every exposure read; by arm:", explore_age_days(a), a->nw.shown,
                a->nw.new_impressions, a->nw.impressions);
    for (unsigned k = 0; k < a->x->narms; k++)
        rc_buf_addf(b, "%s %s %" PRIu64 " shown, %" PRIu64 " of %" PRIu64, k ? ";" : "", a->x->arms[k].name,
                    a->nw.arm_shown[k], a->nw.arm_new_impressions[k], a->nw.arm_impressions[k]);
    rc_buf_adds(b, "\n");
}

/* ---- HTML ---- */

static const char *const arm_colors[] = {"#555f6d", "#1a5fd0", "#d0621a", "#2a9d4b", "#9b2fae", "#c23b3b",
                                         "#1a8fa0", "#8a6d1a"};

static void html_cell(struct rc_buf *b, const char *name, const char *fmt, double v)
{
    rc_buf_adds(b, "<td class=\"n\" data-m=\"");
    re_report_html_text(b, name);
    rc_buf_adds(b, "\">");
    if (isfinite(v))
        rc_buf_addf(b, fmt, v);
    else
        rc_buf_adds(b, "-");
    rc_buf_adds(b, "</td>");
}

/* One bar per arm with its interval as a whisker (640 x 220). */
static void svg_ci_bars(struct rc_buf *b, const struct ab *a, int m)
{
    const double W = 640, H = 220, L = 64, R = 16, T = 14, B = 34;
    double pw = W - L - R, ph = H - T - B, max = 0;
    unsigned n = a->x->narms;
    double v[AB_ARMS], lo[AB_ARMS], hi[AB_ARMS];
    for (unsigned k = 0; k < n; k++) {
        arm_metric(a, k, m, &v[k], &lo[k], &hi[k]);
        if (isfinite(hi[k]) && hi[k] > max)
            max = hi[k];
        if (isfinite(v[k]) && v[k] > max)
            max = v[k];
    }
    max = max > 0 ? max * 1.1 : 1;
#define SY(y) (T + ph - (y) / max * ph)
    rc_buf_addf(b, "<svg class=\"chart\" role=\"img\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\"><title>",
                W, H, W, H);
    re_report_html_text(b, metric_label[m]);
    rc_buf_adds(b, " per arm, with 95 % intervals</title>");
    for (int i = 0; i <= 4; i++) {
        double gy = max * i / 4;
        rc_buf_addf(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", L, SY(gy), L + pw,
                    SY(gy));
        rc_buf_addf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>", L - 6, SY(gy) + 4, gy);
    }
    rc_buf_addf(b, "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>", L, T, pw, ph);
    double slot = pw / n, bw = slot * 0.5;
    for (unsigned k = 0; k < n; k++) {
        double cx = L + slot * (k + 0.5), val = isfinite(v[k]) ? v[k] : 0;
        rc_buf_addf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>", cx - bw / 2,
                    SY(val), bw, T + ph - SY(val), arm_colors[k % 8]);
        re_report_html_text(b, a->x->arms[k].name);
        rc_buf_addf(b, ": %.6g [%.6g, %.6g]</title></rect>", v[k], lo[k], hi[k]);
        if (isfinite(lo[k]) && isfinite(hi[k]))
            rc_buf_addf(b,
                        "<line class=\"ci\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                        "<line class=\"ci\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                        "<line class=\"ci\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>",
                        cx, SY(lo[k]), cx, SY(hi[k]), cx - 8, SY(lo[k]), cx + 8, SY(lo[k]), cx - 8, SY(hi[k]), cx + 8,
                        SY(hi[k]));
        rc_buf_addf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", cx, T + ph + 16);
        re_report_html_text(b, a->x->arms[k].name);
        rc_buf_addf(b, " (%.4g)</text>", v[k]);
    }
    rc_buf_addf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", L + pw / 2, H - 2);
    re_report_html_text(b, metric_label[m]);
    rc_buf_adds(b, "</text></svg>\n");
#undef SY
}

static void html_arms(struct rc_buf *b, const struct ab *a)
{
    const struct rc_experiment *x = a->x;
    rc_buf_adds(b, "<table><tr><th>arm</th><th>buckets</th><th>visitors</th><th>exposures</th><th>clicks</th>"
                   "<th>ctr</th><th>click rate</th><th>cart rate</th><th>purchase rate</th><th>revenue / visitor</th>"
                   "</tr>\n");
    for (unsigned k = 0; k < x->narms; k++) {
        const struct ab_arm *r = &a->arm[k];
        char name[160];
        rc_buf_adds(b, "<tr><td>");
        re_report_html_text(b, x->arms[k].name);
        rc_buf_addf(b, "%s%s</td><td>%u-%u</td>", k == x->control ? " (control)" : "",
                    x->arms[k].holdout ? " (holdout)" : "", x->arms[k].from, x->arms[k].to);
        snprintf(name, sizeof(name), "arms.%s.visitors", x->arms[k].name);
        html_cell(b, name, "%.0f", (double)r->visitors);
        snprintf(name, sizeof(name), "arms.%s.exposures", x->arms[k].name);
        html_cell(b, name, "%.0f", (double)r->exposures);
        snprintf(name, sizeof(name), "arms.%s.clicks", x->arms[k].name);
        html_cell(b, name, "%.0f", (double)r->clicks);
        snprintf(name, sizeof(name), "arms.%s.ctr", x->arms[k].name);
        html_cell(b, name, "%.4f", r->exposures ? (double)r->clicks / (double)r->exposures : NAN);
        for (int m = 0; m < M_COUNT; m++) {
            double v, lo, hi;
            arm_metric(a, k, m, &v, &lo, &hi);
            snprintf(name, sizeof(name), "arms.%s.%s", x->arms[k].name, metric_key[m]);
            html_cell(b, name, m == M_REVENUE ? "%.3f" : "%.4f", metric_known(a, m) ? v : NAN);
        }
        rc_buf_adds(b, "</tr>\n");
    }
    rc_buf_adds(b, "</table>\n");
}

static void html_comparisons(struct rc_buf *b, const struct ab *a)
{
    const struct rc_experiment *x = a->x;
    rc_buf_adds(b, "<table><tr><th>arm</th><th>metric</th><th>arm's value</th><th>control's</th><th>difference</th>"
                   "<th>95 % interval</th><th>lift</th><th>95 % interval</th><th>p</th></tr>\n");
    for (unsigned k = 0; k < x->narms; k++) {
        if (k == x->control)
            continue;
        for (int m = 0; m < M_COUNT; m++) {
            if (!metric_known(a, m))
                continue;
            const struct rc_stats_lift *l = cmp_metric(&a->cmp[k], m);
            char name[160], pre[128];
            snprintf(pre, sizeof(pre), "comparisons.%s.%s", x->arms[k].name, metric_key[m]);
            rc_buf_adds(b, "<tr><td>");
            re_report_html_text(b, x->arms[k].name);
            rc_buf_addf(b, "</td><td>%s</td>", metric_label[m]);
            snprintf(name, sizeof(name), "%s.treatment", pre);
            html_cell(b, name, "%.4g", l->t);
            snprintf(name, sizeof(name), "%s.control", pre);
            html_cell(b, name, "%.4g", l->c);
            snprintf(name, sizeof(name), "%s.diff", pre);
            html_cell(b, name, "%+.3g", l->diff);
            rc_buf_addf(b, "<td class=\"n\">[%+.3g, %+.3g]</td>", l->diff_lo, l->diff_hi);
            snprintf(name, sizeof(name), "%s.relative", pre);
            rc_buf_addf(b, "<td class=\"n %s\" data-m=\"", l->p < AB_ALPHA ? (l->rel > 0 ? "up" : "down") : "");
            re_report_html_text(b, name);
            if (isfinite(l->rel))
                rc_buf_addf(b, "\">%+.1f %%</td>", 100 * l->rel);
            else
                rc_buf_adds(b, "\">-</td>");
            if (isfinite(l->rel_lo))
                rc_buf_addf(b, "<td class=\"n\">[%+.1f %%, %+.1f %%]</td>", 100 * l->rel_lo, 100 * l->rel_hi);
            else
                rc_buf_adds(b, "<td class=\"n\">-</td>");
            snprintf(name, sizeof(name), "%s.p", pre);
            html_cell(b, name, "%.3g", l->p);
            rc_buf_adds(b, "</tr>\n");
        }
    }
    rc_buf_adds(b, "</table>\n");
}

static void render_html(struct rc_buf *b, const struct ab *a)
{
    const struct rc_experiment *x = a->x;
    rc_buf_adds(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
                   "<title>edgerec experiment ");
    re_report_html_text(b, x->id);
    rc_buf_addf(b, "</title>\n<style>%s.ci{stroke:#1d2430;stroke-width:1.5}.warn{color:#b3261e;font-weight:bold}"
                   "td.n{white-space:nowrap}"
                   "</style>\n</head>\n<body>\n<h1>edgerec experiment <span data-m=\"experiment\">",
                re_report_style);
    re_report_html_text(b, x->id);
    rc_buf_adds(b, "</span></h1>\n<section id=\"ab\">\n<h2>A/B report</h2>\n<p>Control arm: <span data-m=\"control\">");
    re_report_html_text(b, x->arms[x->control].name);
    rc_buf_addf(b, "</span>; outcomes within <span data-m=\"window_hours\">%g</span> h of an exposure that showed the "
                   "product; carts and purchases from the %s. Intervals are 95 %%.</p>\n",
                (double)a->window_ms / 3600000.0, a->from_events ? "shop's events" : "log's beacons");
    rc_buf_adds(b, "<p");
    if (srm_flagged(a))
        rc_buf_adds(b, " class=\"warn\"");
    rc_buf_adds(b, ">Sample ratio: ");
    if (a->srm_ok)
        rc_buf_addf(b,
                    "chi-square <span data-m=\"srm.chi2\">%.3f</span> (df %u), p <span data-m=\"srm.p\">%.4g</span>: "
                       "<span data-m=\"srm.mismatch\">%s</span>",
                    a->srm_chi2, x->narms - 1, a->srm_p,
                    srm_flagged(a) ? "MISMATCH: the arms' sizes do not match their buckets; do not trust the lifts"
                                   : "ok");
    else
        rc_buf_adds(b, "not tested");
    rc_buf_adds(b, ".</p>\n<h3>Arms</h3>\n");
    html_arms(b, a);
    rc_buf_adds(b, "<h3>Against control</h3>\n");
    html_comparisons(b, a);
    for (int m = 0; m < M_COUNT; m++)
        if (metric_known(a, m)) {
            rc_buf_addf(b, "<h3>%s</h3>\n", metric_label[m]);
            svg_ci_bars(b, a, m);
        }
    if (a->nw.have)
        rc_buf_addf(b, "<p>New products (catalog created_at under %g days before the exposure): "
                       "<span data-m=\"new_products.shown\">%" PRIu64 "</span> shown, in "
                       "<span data-m=\"new_products.impressions\">%" PRIu64 "</span> of %" PRIu64
                       " impressions.</p>\n",
                    explore_age_days(a), a->nw.shown, a->nw.new_impressions, a->nw.impressions);
    const struct ab_skip *s = &a->skip;
    rc_buf_addf(b,
                "<p class=\"note\">Log: %" PRIu64 " files, %" PRIu64
                " lines, <span data-m=\"inputs.malformed_lines\">%" PRIu64 "</span> malformed. Skipped: %" PRIu64
                " exposures without an arm, %" PRIu64 " of another experiment, %" PRIu64 " duplicate, %" PRIu64
                " arm conflicts; %" PRIu64 " beacons with an unknown rec_id, %" PRIu64
                " on a product not shown.</p>\n</section>\n</body>\n</html>\n",
                a->log.files, a->log.lines, a->log.malformed, s->no_arm, s->other_experiment, s->duplicate,
                s->arm_conflicts, s->unknown_rec, s->not_shown);
}

/* ---- entry points ---- */

int re_ab_report_render(struct rc_buf *b, const struct re_ab_opts *o, char *err)
{
    struct ab *a = calloc(1, sizeof(*a));
    if (!a)
        return rc_fail(err, -ENOMEM, "out of memory");
    a->o = o;
    int rc = ab_compute(a, err);
    if (!rc) {
        if (o->format == RE_AB_JSON)
            render_json(b, a);
        else if (o->format == RE_AB_HTML)
            render_html(b, a);
        else
            render_text(b, a);
        if (b->overflow)
            rc = rc_fail(err, -ENOMEM, "out of memory formatting the report");
    }
    ab_release(a);
    free(a);
    return rc;
}

int re_ab_report_write(const struct re_ab_opts *o, char *err)
{
    struct rc_buf b;
    rc_buf_init(&b);
    int rc = re_ab_report_render(&b, o, err);
    if (!rc)
        rc = re_report_output(&b, o->out, err);
    rc_buf_release(&b);
    return rc;
}
