/*
 * test_gen.c - builder/recgen/: recgen's files are deterministic, parse as
 * schemas/inputs.md and schemas/recgen.md say, and carry the structure the
 * truth files claim (popularity skew, category tastes, segment boosts,
 * clustered embeddings, views before carts before purchases).
 *
 * Each test generates a small data set into its own folder under
 * $EDGEREC_TEST_TMP (created if needed; a mkdtemp folder in /tmp without it)
 * and removes it when the test passes.
 */
#include "error.h"
#include "gen.h"
#include "log.h"
#include "scratch.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ helpers */

static const char *const all_files[] = {
    "events.csv",         "catalog.csv",          "emb.npy",            "emb_ids.txt", "truth_cookies.csv",
    "truth_products.csv", "truth_categories.csv", "truth_segments.csv", "recgen.json",
};
#define N_FILES (sizeof(all_files) / sizeof(all_files[0]))

/* The configuration most tests use: small but large enough for statistics. */
static void small_config(struct rb_gen_config *cfg, const char *dir, uint64_t seed)
{
    rb_gen_defaults(cfg);
    cfg->out_dir = dir;
    cfg->seed = seed;
    cfg->events = 40000;
    cfg->cookies = 3000;
    cfg->products = 1500;
    cfg->categories = 12;
    cfg->clusters = 3;
    cfg->dim = 32;
    cfg->days = 7;
    cfg->locations = 6;
}

static void generate(const struct rb_gen_config *cfg, struct rb_gen_stats *st)
{
    char err[RC_ERRMSG_MAX] = "";
    int rc = rb_gen_run(cfg, st, err);
    ck_assert_msg(rc == 0, "rb_gen_run: %s (%s)", err, rc_strerror(rc));
}

static char *read_file(const char *dir, const char *name, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open '%s': %s", path, strerror(errno));
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* A text file as lines (terminators replaced by NUL). */
struct text {
    char *buf;
    char **line;
    size_t n;
};

static void text_load(struct text *t, const char *dir, const char *name)
{
    size_t len;
    t->buf = read_file(dir, name, &len);
    ck_assert_msg(len > 0 && t->buf[len - 1] == '\n', "%s does not end with a newline", name);
    t->n = 0;
    for (size_t i = 0; i < len; i++)
        t->n += t->buf[i] == '\n';
    t->line = malloc(sizeof(*t->line) * t->n);
    ck_assert_ptr_nonnull(t->line);
    char *p = t->buf;
    for (size_t i = 0; i < t->n; i++) {
        t->line[i] = p;
        p = strchr(p, '\n');
        *p++ = 0;
        ck_assert_msg(strchr(t->line[i], '\r') == NULL, "%s line %zu has a CR", name, i + 1);
    }
}

static void text_free(struct text *t)
{
    free(t->buf);
    free(t->line);
}

/* Split s in place at sep; returns the number of fields (at most max). */
static size_t split(char *s, char sep, char **f, size_t max)
{
    size_t n = 0;
    f[n++] = s;
    for (char *p = s; *p; p++)
        if (*p == sep) {
            *p = 0;
            if (n == max)
                return max + 1;
            f[n++] = p + 1;
        }
    return n;
}

/* "p000123" -> 122; -1 when not a product id of this generator. */
static long product_index(const char *id, long products)
{
    if (id[0] != 'p' || strlen(id) < 7)
        return -1;
    char *end;
    long v = strtol(id + 1, &end, 10);
    if (*end || v < 1 || v > products)
        return -1;
    return v - 1;
}

static int is_hex16(const char *s)
{
    if (strlen(s) != 16)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

static int cmp_long_desc(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return x > y ? -1 : x < y;
}

/* Names from a table (categories, locations) as indices. */
struct names {
    char *name[256];
    size_t n;
};

static size_t name_index(struct names *t, const char *s)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->name[i], s) == 0)
            return i;
    ck_assert_msg(t->n < 256, "too many distinct names");
    t->name[t->n] = strdup(s);
    return t->n++;
}

static void names_free(struct names *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->name[i]);
    t->n = 0;
}

/* Category index of each product, from catalog.csv. */
static size_t *load_categories(const char *dir, long products, struct names *cats)
{
    struct text t;
    text_load(&t, dir, "catalog.csv");
    ck_assert_uint_eq(t.n, (size_t)products + 1);
    size_t *cat = malloc(sizeof(*cat) * (size_t)products);
    ck_assert_ptr_nonnull(cat);
    for (size_t i = 1; i < t.n; i++) {
        char *f[8];
        ck_assert_uint_eq(split(t.line[i], ',', f, 8), 5);
        long j = product_index(f[0], products);
        ck_assert_int_eq(j, (long)i - 1);
        cat[j] = name_index(cats, f[1]);
    }
    text_free(&t);
    return cat;
}

/* -------------------------------------------------------- determinism */

START_TEST(test_same_seed_same_bytes)
{
    char a[4096], b[4096], c[4096];
    scratch_make(a, sizeof(a), "gen-det-a");
    scratch_make(b, sizeof(b), "gen-det-b");
    scratch_make(c, sizeof(c), "gen-det-c");
    struct rb_gen_config ca, cb, cc;
    small_config(&ca, a, 42);
    small_config(&cb, b, 42);
    small_config(&cc, c, 43);
    generate(&ca, NULL);
    generate(&cb, NULL);
    generate(&cc, NULL);
    for (size_t i = 0; i < N_FILES; i++) {
        size_t la, lb, lc;
        char *fa = read_file(a, all_files[i], &la), *fb = read_file(b, all_files[i], &lb);
        char *fc = read_file(c, all_files[i], &lc);
        ck_assert_msg(la == lb && memcmp(fa, fb, la) == 0, "%s differs between two runs with seed 42",
                      all_files[i]);
        /* Another seed changes every file but the id list (p000001...). */
        if (strcmp(all_files[i], "emb_ids.txt") != 0)
            ck_assert_msg(la != lc || memcmp(fa, fc, la) != 0, "%s is the same for seeds 42 and 43",
                          all_files[i]);
        free(fa);
        free(fb);
        free(fc);
    }
    scratch_remove(a);
    scratch_remove(b);
    scratch_remove(c);
}
END_TEST

/* A cookie's rows depend on its index and the seed only: with more
 * cookies and events, the first cookies' ids are unchanged. */
START_TEST(test_cookie_ids_stable)
{
    char a[4096], b[4096];
    scratch_make(a, sizeof(a), "gen-ids-a");
    scratch_make(b, sizeof(b), "gen-ids-b");
    struct rb_gen_config ca, cb;
    small_config(&ca, a, 5);
    small_config(&cb, b, 5);
    cb.events *= 2;
    cb.cookies *= 2;
    generate(&ca, NULL);
    generate(&cb, NULL);
    struct text ta, tb;
    text_load(&ta, a, "truth_cookies.csv");
    text_load(&tb, b, "truth_cookies.csv");
    ck_assert_uint_eq(ta.n, ca.cookies + 1);
    ck_assert_uint_eq(tb.n, cb.cookies + 1);
    for (size_t i = 1; i < ta.n; i++)
        ck_assert_int_eq(strncmp(ta.line[i], tb.line[i], 16), 0);
    text_free(&ta);
    text_free(&tb);
    scratch_remove(a);
    scratch_remove(b);
}
END_TEST

/* ------------------------------------------------------------ parsing */

START_TEST(test_events_parse)
{
    char dir[4096];
    scratch_make(dir, sizeof(dir), "gen-events");
    struct rb_gen_config cfg;
    struct rb_gen_stats st;
    small_config(&cfg, dir, 7);
    generate(&cfg, &st);
    ck_assert_uint_eq(st.events, cfg.events);
    ck_assert_uint_eq(st.cookies, cfg.cookies);

    struct text ev, tc;
    text_load(&ev, dir, "events.csv");
    text_load(&tc, dir, "truth_cookies.csv");
    ck_assert_str_eq(ev.line[0], "ts,cookie,event,product,location,device");
    ck_assert_uint_eq(ev.n, cfg.events + 1);
    ck_assert_str_eq(tc.line[0],
                     "cookie,location,device,categories,weights,buyer,purchaser,sessions,events,views,carts,purchases");
    ck_assert_uint_eq(tc.n, cfg.cookies + 1);

    long long start = cfg.end_ts - (long long)cfg.days * 86400;
    size_t cookie_row = 0; /* truth_cookies line of the current cookie */
    long long last_ts = 0, run = 0, views = 0, carts = 0, buys = 0;
    char cur[17] = "";
    uint64_t tv = 0, tcarts = 0, tbuys = 0;
    for (size_t i = 1; i <= ev.n; i++) {
        char *f[8];
        int end = i == ev.n;
        if (!end) {
            ck_assert_msg(split(ev.line[i], ',', f, 8) == 6, "events.csv line %zu has not 6 fields", i + 1);
        }
        if (end || strcmp(f[1], cur) != 0) {
            if (cur[0]) { /* close the previous cookie against its truth line */
                char *g[16];
                char copy[1024];
                snprintf(copy, sizeof(copy), "%s", tc.line[cookie_row]);
                ck_assert_uint_eq(split(copy, ',', g, 16), 12);
                ck_assert_str_eq(g[0], cur);
                ck_assert_int_eq(atoll(g[8]), run);
                ck_assert_int_eq(atoll(g[9]), views);
                ck_assert_int_eq(atoll(g[10]), carts);
                ck_assert_int_eq(atoll(g[11]), buys);
                ck_assert_int_eq(atoi(g[6]), buys > 0);
            }
            if (end)
                break;
            /* Rows are grouped by cookie, in truth_cookies order. */
            cookie_row++;
            ck_assert_msg(cookie_row < tc.n, "more cookies in events.csv than in truth_cookies.csv");
            snprintf(cur, sizeof(cur), "%s", f[1]);
            run = views = carts = buys = 0;
            last_ts = 0;
        }
        char *e;
        long long ts = strtoll(f[0], &e, 10);
        ck_assert_msg(*e == 0 && ts >= start && ts < cfg.end_ts, "line %zu: ts '%s' outside the window", i + 1, f[0]);
        ck_assert_msg(ts >= last_ts, "line %zu: time goes back within cookie %s", i + 1, f[1]);
        last_ts = ts;
        ck_assert_msg(is_hex16(f[1]), "line %zu: cookie '%s' is not 16 hex digits", i + 1, f[1]);
        if (strcmp(f[2], "view") == 0)
            views++;
        else if (strcmp(f[2], "cart") == 0)
            carts++;
        else if (strcmp(f[2], "purchase") == 0)
            buys++;
        else
            ck_abort_msg("line %zu: event '%s'", i + 1, f[2]);
        ck_assert_msg(product_index(f[3], cfg.products) >= 0, "line %zu: product '%s'", i + 1, f[3]);
        ck_assert_msg(strlen(f[4]) == 2 && f[4][0] >= 'A' && f[4][0] <= 'Z', "line %zu: location '%s'", i + 1,
                      f[4]);
        ck_assert_msg(!strcmp(f[5], "mobile") || !strcmp(f[5], "desktop") || !strcmp(f[5], "tablet"),
                      "line %zu: device '%s'", i + 1, f[5]);
        run++;
        tv += strcmp(f[2], "view") == 0;
        tcarts += strcmp(f[2], "cart") == 0;
        tbuys += strcmp(f[2], "purchase") == 0;
    }
    ck_assert_uint_eq(cookie_row, cfg.cookies);
    ck_assert_uint_eq(tv, st.views);
    ck_assert_uint_eq(tcarts, st.carts);
    ck_assert_uint_eq(tbuys, st.purchases);
    /* views >> carts > purchases > 0 */
    ck_assert_msg(tv > 10 * tcarts && tcarts > tbuys && tbuys > 0, "views %llu carts %llu purchases %llu",
                  (unsigned long long)tv, (unsigned long long)tcarts, (unsigned long long)tbuys);
    text_free(&ev);
    text_free(&tc);
    scratch_remove(dir);
}
END_TEST

START_TEST(test_catalog_and_truth_parse)
{
    char dir[4096];
    scratch_make(dir, sizeof(dir), "gen-catalog");
    struct rb_gen_config cfg;
    struct rb_gen_stats st;
    small_config(&cfg, dir, 8);
    generate(&cfg, &st);

    struct text cat, ids, tp, tcat, ts;
    text_load(&cat, dir, "catalog.csv");
    text_load(&ids, dir, "emb_ids.txt");
    text_load(&tp, dir, "truth_products.csv");
    text_load(&tcat, dir, "truth_categories.csv");
    text_load(&ts, dir, "truth_segments.csv");
    ck_assert_str_eq(cat.line[0], "product,category,in_stock,title,price");
    ck_assert_uint_eq(cat.n, cfg.products + 1);
    ck_assert_uint_eq(ids.n, cfg.products);
    ck_assert_str_eq(tp.line[0], "product,category,cluster,popularity_rank,expected_share,in_stock,new");
    ck_assert_uint_eq(tp.n, cfg.products + 1);
    ck_assert_uint_eq(tcat.n, cfg.categories + 1);
    ck_assert_str_eq(ts.line[0],
                     "location,device,event_share,location_categories,device_categories,hit_products,expected_top");
    ck_assert_uint_eq(ts.n, cfg.locations * 3 + 1);

    struct names cats = {0};
    char *seen_rank = calloc(cfg.products + 1, 1);
    ck_assert_ptr_nonnull(seen_rank);
    long oos = 0, fresh = 0;
    for (size_t i = 1; i < cat.n; i++) {
        char *f[8], *g[8];
        ck_assert_uint_eq(split(cat.line[i], ',', f, 8), 5);
        ck_assert_uint_eq(split(tp.line[i], ',', g, 8), 7);
        ck_assert_int_eq(product_index(f[0], cfg.products), (long)i - 1);
        ck_assert_str_eq(f[0], ids.line[i - 1]); /* row i-1 of emb.npy is this product */
        ck_assert_str_eq(f[0], g[0]);
        ck_assert_str_eq(f[1], g[1]);
        ck_assert_str_eq(f[2], g[5]);
        ck_assert(!strcmp(f[2], "0") || !strcmp(f[2], "1"));
        ck_assert(strlen(f[3]) > 0);
        char *e;
        double price = strtod(f[4], &e);
        ck_assert_msg(*e == 0 && price > 0, "price '%s'", f[4]);
        (void)name_index(&cats, f[1]);
        long rank = atol(g[3]);
        ck_assert(rank >= 1 && rank <= (long)cfg.products && !seen_rank[rank]);
        seen_rank[rank] = 1;
        ck_assert(atol(g[2]) >= 0 && atol(g[2]) < (long)cfg.clusters);
        oos += f[2][0] == '0';
        fresh += g[6][0] == '1';
    }
    ck_assert_uint_eq(cats.n, cfg.categories);
    ck_assert_int_eq(oos, st.out_of_stock);
    ck_assert_int_eq(fresh, st.new_products);
    /* ~7 % out of stock, ~2 % new */
    ck_assert_msg(oos > 0.03 * cfg.products && oos < 0.12 * cfg.products, "%ld out of stock", oos);
    ck_assert_msg(fresh > 0 && fresh < 0.06 * cfg.products, "%ld new", fresh);

    double total = 0.0;
    for (size_t i = 1; i < ts.n; i++) {
        char *f[8];
        ck_assert_uint_eq(split(ts.line[i], ',', f, 8), 7);
        total += atof(f[2]);
        char *h[16], *top[16];
        ck_assert_uint_eq(split(f[5], '|', h, 16), RB_GEN_HITS_PER_LOCATION);
        ck_assert_uint_eq(split(f[6], '|', top, 16), RB_GEN_TOP_PER_SEGMENT);
        for (size_t k = 0; k < RB_GEN_TOP_PER_SEGMENT; k++)
            ck_assert(product_index(top[k], cfg.products) >= 0);
    }
    ck_assert_double_eq_tol(total, 1.0, 1e-4);
    free(seen_rank);
    names_free(&cats);
    text_free(&cat);
    text_free(&ids);
    text_free(&tp);
    text_free(&tcat);
    text_free(&ts);
    scratch_remove(dir);
}
END_TEST

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Rows of emb.npy as doubles; checks the header on the way. */
static double *load_npy(const char *dir, uint32_t rows, uint32_t dim)
{
    size_t len;
    unsigned char *b = (unsigned char *)read_file(dir, "emb.npy", &len);
    ck_assert_uint_ge(len, 10);
    ck_assert_int_eq(memcmp(b, "\x93NUMPY\x01\x00", 8), 0);
    size_t hl = (size_t)b[8] | (size_t)b[9] << 8;
    ck_assert_uint_eq((10 + hl) % 64, 0);
    ck_assert_int_eq(b[10 + hl - 1], '\n');
    char header[1024];
    ck_assert_uint_lt(hl, sizeof(header));
    memcpy(header, b + 10, hl);
    header[hl] = 0;
    ck_assert_ptr_nonnull(strstr(header, "'descr': '<f4'"));
    ck_assert_ptr_nonnull(strstr(header, "'fortran_order': False"));
    char shape[64];
    snprintf(shape, sizeof(shape), "'shape': (%u, %u)", rows, dim);
    ck_assert_msg(strstr(header, shape) != NULL, "header '%s' lacks %s", header, shape);
    ck_assert_uint_eq(len, 10 + hl + (size_t)rows * dim * 4);
    double *x = malloc(sizeof(*x) * rows * dim);
    ck_assert_ptr_nonnull(x);
    for (size_t i = 0; i < (size_t)rows * dim; i++) {
        uint32_t bits = le32(b + 10 + hl + 4 * i);
        float f;
        memcpy(&f, &bits, 4);
        ck_assert(isfinite(f));
        x[i] = f;
    }
    free(b);
    return x;
}

START_TEST(test_npy_header_and_shape)
{
    char dir[4096];
    scratch_make(dir, sizeof(dir), "gen-npy");
    struct rb_gen_config cfg;
    small_config(&cfg, dir, 9);
    /* a dimension whose header needs different padding than the default */
    cfg.dim = 1000;
    cfg.products = 123;
    cfg.categories = 7;
    cfg.events = 500;
    cfg.cookies = 50;
    generate(&cfg, NULL);
    double *x = load_npy(dir, cfg.products, cfg.dim);
    for (uint32_t i = 0; i < cfg.products; i++) {
        double n = 0;
        for (uint32_t k = 0; k < cfg.dim; k++)
            n += x[(size_t)i * cfg.dim + k] * x[(size_t)i * cfg.dim + k];
        ck_assert_msg(n > 0.1, "row %u has norm^2 %g", i, n);
    }
    free(x);
    scratch_remove(dir);
}
END_TEST

/* Smallest everything: one cookie, one product, one dimension. */
START_TEST(test_tiny)
{
    char dir[4096];
    scratch_make(dir, sizeof(dir), "gen-tiny");
    struct rb_gen_config cfg;
    rb_gen_defaults(&cfg);
    cfg.out_dir = dir;
    cfg.events = 3;
    cfg.cookies = 1;
    cfg.products = 1;
    cfg.categories = 1;
    cfg.clusters = 1;
    cfg.dim = 1;
    cfg.days = 1;
    cfg.locations = 1;
    struct rb_gen_stats st;
    generate(&cfg, &st);
    ck_assert_uint_eq(st.events, 3);
    ck_assert_uint_eq(st.cookies, 1);
    struct text ev;
    text_load(&ev, dir, "events.csv");
    ck_assert_uint_eq(ev.n, 4);
    for (size_t i = 1; i < ev.n; i++)
        ck_assert_ptr_nonnull(strstr(ev.line[i], ",p000001,US,"));
    text_free(&ev);
    double *x = load_npy(dir, 1, 1);
    free(x);
    scratch_remove(dir);
}
END_TEST

/* ------------------------------------------------------ planted truth */

/* Zipf-like popularity: the top products get far more events than the
 * median product, and truth's top ranks are the observed top. */
START_TEST(test_popularity_skew)
{
    char dir[4096];
    scratch_make(dir, sizeof(dir), "gen-pop");
    struct rb_gen_config cfg;
    small_config(&cfg, dir, 11);
    generate(&cfg, NULL);
    long P = cfg.products;
    long *count = calloc((size_t)P, sizeof(*count));
    long *sorted = malloc(sizeof(*sorted) * (size_t)P);
    ck_assert(count && sorted);
    struct text ev, tp;
    text_load(&ev, dir, "events.csv");
    for (size_t i = 1; i < ev.n; i++) {
        char *f[8];
        split(ev.line[i], ',', f, 8);
        count[product_index(f[3], P)]++;
    }
    memcpy(sorted, count, sizeof(*sorted) * (size_t)P);
    qsort(sorted, (size_t)P, sizeof(*sorted), cmp_long_desc);
    long top10 = 0;
    for (int i = 0; i < 10; i++)
        top10 += sorted[i];
    long median = sorted[P / 2];
    ck_assert_msg(sorted[0] >= 20 * (median > 0 ? median : 1), "top %ld vs median %ld", sorted[0], median);
    ck_assert_msg(top10 >= 0.05 * (double)cfg.events, "top 10 products hold only %ld of %llu events", top10,
                  (unsigned long long)cfg.events);

    /* The 10 products truth ranks highest are all in the observed top 5 %;
     * new products have no events at all; out-of-stock products still
     * appear in the events. */
    text_load(&tp, dir, "truth_products.csv");
    long cut = sorted[P / 20], oos_seen = 0;
    for (size_t i = 1; i < tp.n; i++) {
        char *g[8];
        ck_assert_uint_eq(split(tp.line[i], ',', g, 8), 7);
        long j = product_index(g[0], P);
        if (atol(g[3]) <= 10)
            ck_assert_msg(count[j] >= cut, "truth rank %s product %s has %ld events, top 5%% starts at %ld", g[3],
                          g[0], count[j], cut);
        if (g[6][0] == '1')
            ck_assert_msg(count[j] == 0, "new product %s has %ld events", g[0], count[j]);
        if (g[5][0] == '0')
            oos_seen += count[j] > 0;
    }
    ck_assert_msg(oos_seen > 0, "no out-of-stock product has an event");
    text_free(&ev);
    text_free(&tp);
    free(count);
    free(sorted);
    scratch_remove(dir);
}
END_TEST

/* Carts and purchases come after a view of the same product by the same
 * cookie; most purchases follow a cart of the same product. */
START_TEST(test_funnel_order)
{
    char dir[4096];
    scratch_make(dir, sizeof(dir), "gen-funnel");
    struct rb_gen_config cfg;
    small_config(&cfg, dir, 12);
    cfg.buyers = 0.8;
    generate(&cfg, NULL);
    long P = cfg.products;
    /* per product: 1 viewed, 2 carted, by the current cookie */
    unsigned char *state = calloc((size_t)P, 1);
    long *touched = malloc(sizeof(*touched) * (cfg.events + 1));
    ck_assert(state && touched);
    size_t ntouched = 0;
    struct text ev;
    text_load(&ev, dir, "events.csv");
    char cur[17] = "";
    long purchases = 0, after_cart = 0, carts = 0;
    for (size_t i = 1; i < ev.n; i++) {
        char *f[8];
        split(ev.line[i], ',', f, 8);
        if (strcmp(cur, f[1]) != 0) {
            for (size_t k = 0; k < ntouched; k++)
                state[touched[k]] = 0;
            ntouched = 0;
            snprintf(cur, sizeof(cur), "%s", f[1]);
        }
        long j = product_index(f[3], P);
        if (f[2][0] == 'v') {
            state[j] |= 1;
            touched[ntouched++] = j;
        } else if (f[2][0] == 'c') {
            ck_assert_msg(state[j] & 1, "line %zu: cart of %s without an earlier view by %s", i + 1, f[3], f[1]);
            state[j] |= 2;
            carts++;
        } else {
            ck_assert_msg(state[j] & 1, "line %zu: purchase of %s without an earlier view by %s", i + 1, f[3],
                          f[1]);
            purchases++;
            after_cart += (state[j] & 2) != 0;
        }
    }
    ck_assert_msg(purchases > 100, "only %ld purchases", purchases);
    ck_assert_msg(after_cart >= 0.8 * purchases, "%ld of %ld purchases follow a cart", after_cart, purchases);
    ck_assert_msg(carts > purchases, "%ld carts, %ld purchases", carts, purchases);
    text_free(&ev);
    free(state);
    free(touched);
    scratch_remove(dir);
}
END_TEST

/* Cookies view mostly their favourite categories: far more than they
 * view another cookie's favourites. */
START_TEST(test_cookie_tastes)
{
    char dir[4096];
    scratch_make(dir, sizeof(dir), "gen-taste");
    struct rb_gen_config cfg;
    small_config(&cfg, dir, 13);
    cfg.categories = 20;
    generate(&cfg, NULL);
    struct names cats = {0};
    size_t *cat = load_categories(dir, cfg.products, &cats);
    struct text ev, tc;
    text_load(&ev, dir, "events.csv");
    text_load(&tc, dir, "truth_cookies.csv");
    /* favourite category sets per cookie, as bitmasks over cats */
    uint64_t *fav = calloc(tc.n, sizeof(*fav));
    ck_assert_ptr_nonnull(fav);
    for (size_t i = 1; i < tc.n; i++) {
        char *f[16], *c[4];
        split(tc.line[i], ',', f, 16);
        size_t n = split(f[3], '|', c, 4);
        ck_assert(n >= 1 && n <= 3);
        for (size_t k = 0; k < n; k++)
            fav[i] |= 1ULL << name_index(&cats, c[k]);
    }
    ck_assert_uint_eq(cats.n, cfg.categories);
    size_t row = 0;
    char cur[17] = "";
    double own = 0, other = 0;
    long own_hits = 0, other_hits = 0, n = 0, cookies = 0;
    for (size_t i = 1; i <= ev.n; i++) {
        char *f[8];
        int end = i == ev.n;
        if (!end)
            split(ev.line[i], ',', f, 8);
        if (end || strcmp(cur, f[1]) != 0) {
            if (n >= 8) {
                own += (double)own_hits / n;
                other += (double)other_hits / n;
                cookies++;
            }
            if (end)
                break;
            row++;
            snprintf(cur, sizeof(cur), "%s", f[1]);
            own_hits = other_hits = n = 0;
        }
        if (f[2][0] != 'v')
            continue;
        size_t k = cat[product_index(f[3], cfg.products)];
        size_t another = row % (tc.n - 1) + 1; /* the next cookie */
        own_hits += (fav[row] >> k) & 1;
        other_hits += (fav[another] >> k) & 1;
        n++;
    }
    ck_assert_msg(cookies > 100, "only %ld cookies with 8 views", cookies);
    own /= cookies;
    other /= cookies;
    ck_assert_msg(own >= 0.65, "cookies view their favourite categories %.2f of the time", own);
    ck_assert_msg(own >= other + 0.3, "own favourites %.2f vs another cookie's %.2f", own, other);
    free(fav);
    free(cat);
    names_free(&cats);
    text_free(&ev);
    text_free(&tc);
    scratch_remove(dir);
}
END_TEST

/* Heavy-tailed activity: many one-session cookies, a few heavy ones, and
 * a fraction of cookies that purchase. */
START_TEST(test_activity_tail)
{
    char dir[4096];
    scratch_make(dir, sizeof(dir), "gen-tail");
    struct rb_gen_config cfg;
    small_config(&cfg, dir, 14);
    struct rb_gen_stats st;
    generate(&cfg, &st);
    double mean = (double)cfg.events / (double)cfg.cookies;
    ck_assert_msg(st.one_session_cookies >= 0.3 * cfg.cookies, "%llu one-session cookies of %llu",
                  (unsigned long long)st.one_session_cookies, (unsigned long long)cfg.cookies);
    ck_assert_msg(st.max_cookie_events >= 10 * mean, "heaviest cookie has %llu events, mean %.1f",
                  (unsigned long long)st.max_cookie_events, mean);
    ck_assert_msg(st.purchasers > 0 && st.purchasers <= cfg.buyers * cfg.cookies * 1.2,
                  "%llu purchasers of %llu cookies", (unsigned long long)st.purchasers,
                  (unsigned long long)cfg.cookies);
    /* buyers = 0: nobody purchases */
    cfg.buyers = 0.0;
    generate(&cfg, &st);
    ck_assert_uint_eq(st.purchases, 0);
    ck_assert_uint_gt(st.carts, 0); /* abandoned carts still happen */
    scratch_remove(dir);
}
END_TEST

/* Each location's boosted categories and hit products are far more
 * popular there than where they are not boosted; each device's categories
 * more on that device than on the other. */
START_TEST(test_segment_boosts)
{
    enum { L = 4, D = 3, K = 16 };
    char dir[4096];
    scratch_make(dir, sizeof(dir), "gen-seg");
    struct rb_gen_config cfg;
    small_config(&cfg, dir, 15);
    cfg.events = 80000;
    cfg.cookies = 6000;
    cfg.locations = L;
    cfg.categories = K;
    generate(&cfg, NULL);
    long P = cfg.products;
    struct names cats = {0}, locs = {0}, devs = {0};
    size_t *cat = load_categories(dir, P, &cats);
    ck_assert_uint_eq(cats.n, K);
    static const char *const dev_names[D] = {"mobile", "desktop", "tablet"};
    for (int d = 0; d < D; d++)
        (void)name_index(&devs, dev_names[d]);

    /* The planted boosts, from truth_segments.csv. */
    int loc_boost[L][K] = {{0}}, dev_boost[D][K] = {{0}};
    long hits[L][RB_GEN_HITS_PER_LOCATION], expected_top[L][D][RB_GEN_TOP_PER_SEGMENT];
    struct text ts;
    text_load(&ts, dir, "truth_segments.csv");
    ck_assert_uint_eq(ts.n, L * D + 1);
    for (size_t i = 1; i < ts.n; i++) {
        char *f[8], *c[4], *h[8];
        ck_assert_uint_eq(split(ts.line[i], ',', f, 8), 7);
        size_t l = name_index(&locs, f[0]), d = name_index(&devs, f[1]);
        ck_assert(l < L && d < D);
        size_t n = split(f[3], '|', c, 4);
        for (size_t b = 0; b < n; b++)
            loc_boost[l][name_index(&cats, c[b])] = 1;
        n = split(f[4], '|', c, 4);
        for (size_t b = 0; b < n; b++)
            dev_boost[d][name_index(&cats, c[b])] = 1;
        ck_assert_uint_eq(split(f[5], '|', h, 8), RB_GEN_HITS_PER_LOCATION);
        for (size_t b = 0; b < RB_GEN_HITS_PER_LOCATION; b++)
            hits[l][b] = product_index(h[b], P);
        char *t[16];
        ck_assert_uint_eq(split(f[6], '|', t, 16), RB_GEN_TOP_PER_SEGMENT);
        for (size_t b = 0; b < RB_GEN_TOP_PER_SEGMENT; b++)
            expected_top[l][d][b] = product_index(t[b], P);
    }
    ck_assert_uint_eq(cats.n, K);

    /* Events by (location, category), (device, category), (location, product). */
    static long lc[L][K], dc[D][K], lt[L], dt[D];
    memset(lc, 0, sizeof(lc));
    memset(dc, 0, sizeof(dc));
    memset(lt, 0, sizeof(lt));
    memset(dt, 0, sizeof(dt));
    long *lp = calloc((size_t)L * P, sizeof(*lp));
    long *views = calloc((size_t)L * D * P, sizeof(*views)); /* views by (location, device, product) */
    ck_assert(lp && views);
    struct text ev;
    text_load(&ev, dir, "events.csv");
    for (size_t i = 1; i < ev.n; i++) {
        char *f[8] = {0};
        split(ev.line[i], ',', f, 8);
        size_t l = name_index(&locs, f[4]), d = name_index(&devs, f[5]);
        ck_assert(l < L && d < D);
        long j = product_index(f[3], P);
        lc[l][cat[j]]++;
        dc[d][cat[j]]++;
        lt[l]++;
        dt[d]++;
        lp[l * P + j]++;
        if (f[2][0] == 'v')
            views[(l * D + d) * P + j]++;
    }

    /* Most of each segment's expected top 10 are among its 20 most viewed. */
    long *sorted = malloc(sizeof(*sorted) * (size_t)P);
    ck_assert_ptr_nonnull(sorted);
    for (int l = 0; l < L; l++)
        for (int d = 0; d < D; d++) {
            const long *v = views + (size_t)(l * D + d) * P;
            memcpy(sorted, v, sizeof(*sorted) * (size_t)P);
            qsort(sorted, (size_t)P, sizeof(*sorted), cmp_long_desc);
            int found = 0;
            for (int b = 0; b < (int)RB_GEN_TOP_PER_SEGMENT; b++)
                found += v[expected_top[l][d][b]] >= sorted[19] && v[expected_top[l][d][b]] > 0;
            ck_assert_msg(found >= 7, "%s/%s: %d of the expected top 10 in the observed top 20", locs.name[l],
                          dev_names[d], found);
        }
    free(sorted);

    /* Lift of category k in location l: its share there over its share in
     * the other locations that do not boost it. Single lifts are noisy
     * (a category's share rests on the few cookies that favour it), so
     * the test holds the mean lift of boosted pairs against the others. */
    double lift_b = 0, lift_u = 0;
    int nb = 0, nu = 0;
    for (int l = 0; l < L; l++)
        for (int k = 0; k < K; k++) {
            long there = 0, there_total = 0;
            for (int o = 0; o < L; o++)
                if (o != l && !loc_boost[o][k]) {
                    there += lc[o][k];
                    there_total += lt[o];
                }
            if (!there || !lt[l])
                continue;
            double lift = ((double)lc[l][k] / lt[l]) / ((double)there / there_total);
            if (loc_boost[l][k]) {
                lift_b += lift;
                nb++;
            } else {
                lift_u += lift;
                nu++;
            }
        }
    ck_assert(nb > 0 && nu > 0);
    lift_b /= nb;
    lift_u /= nu;
    ck_assert_msg(lift_b >= 2.5 && lift_u <= 1.5, "location lift of boosted categories %.2f, of others %.2f", lift_b,
                  lift_u);

    for (int l = 0; l < L; l++)
        for (int b = 0; b < (int)RB_GEN_HITS_PER_LOCATION; b++) {
            long j = hits[l][b], there = 0, there_total = 0;
            for (int o = 0; o < L; o++) {
                int hit_there = 0;
                for (int c = 0; c < (int)RB_GEN_HITS_PER_LOCATION; c++)
                    hit_there |= hits[o][c] == j;
                if (!hit_there) {
                    there += lp[o * P + j];
                    there_total += lt[o];
                }
            }
            if (!there_total)
                continue;
            double here_share = (double)lp[l * P + j] / lt[l], there_share = (double)there / there_total;
            ck_assert_msg(here_share >= 3 * there_share, "%s: hit p%06ld share %.4f vs %.4f elsewhere",
                          locs.name[l], j + 1, here_share, there_share);
        }
    /* Device lift: share on mobile over share on desktop and back. */
    lift_b = lift_u = 0;
    nb = nu = 0;
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < K; k++) {
            if (!dc[1 - d][k] || (dev_boost[d][k] && dev_boost[1 - d][k]))
                continue;
            double lift = ((double)dc[d][k] / dt[d]) / ((double)dc[1 - d][k] / dt[1 - d]);
            if (dev_boost[d][k]) {
                lift_b += lift;
                nb++;
            } else if (!dev_boost[1 - d][k]) {
                lift_u += lift;
                nu++;
            }
        }
    ck_assert(nb > 0 && nu > 0);
    lift_b /= nb;
    lift_u /= nu;
    ck_assert_msg(lift_b >= 1.5 && lift_u <= 1.25, "device lift of boosted categories %.2f, of others %.2f", lift_b,
                  lift_u);
    free(lp);
    free(views);
    free(cat);
    names_free(&cats);
    names_free(&locs);
    names_free(&devs);
    text_free(&ev);
    text_free(&ts);
    scratch_remove(dir);
}
END_TEST

/* Embeddings cluster by category: same-category cosine clearly above
 * cross-category, and nearest neighbours mostly share the category. */
START_TEST(test_embedding_clusters)
{
    char dir[4096];
    scratch_make(dir, sizeof(dir), "gen-emb");
    struct rb_gen_config cfg;
    small_config(&cfg, dir, 16);
    cfg.products = 800;
    cfg.dim = 48;
    generate(&cfg, NULL);
    uint32_t P = cfg.products, D = cfg.dim;
    struct names cats = {0};
    size_t *cat = load_categories(dir, P, &cats);
    double *x = load_npy(dir, P, D);
    for (uint32_t i = 0; i < P; i++) {
        double n = 0;
        for (uint32_t k = 0; k < D; k++)
            n += x[(size_t)i * D + k] * x[(size_t)i * D + k];
        n = sqrt(n);
        for (uint32_t k = 0; k < D; k++)
            x[(size_t)i * D + k] /= n;
    }
    double within = 0, across = 0;
    long nw = 0, na = 0, nn_same = 0;
    for (uint32_t i = 0; i < P; i++) {
        double best = -2;
        uint32_t arg = i;
        for (uint32_t j = 0; j < P; j++) {
            if (j == i)
                continue;
            double c = 0;
            for (uint32_t k = 0; k < D; k++)
                c += x[(size_t)i * D + k] * x[(size_t)j * D + k];
            if (cat[i] == cat[j]) {
                within += c;
                nw++;
            } else {
                across += c;
                na++;
            }
            if (c > best) {
                best = c;
                arg = j;
            }
        }
        nn_same += cat[arg] == cat[i];
    }
    within /= nw;
    across /= na;
    ck_assert_msg(within >= across + 0.3, "mean cosine within categories %.3f, across %.3f", within, across);
    ck_assert_msg(nn_same >= 0.8 * P, "%ld of %u nearest neighbours share the category", nn_same, P);
    free(x);
    free(cat);
    names_free(&cats);
    scratch_remove(dir);
}
END_TEST

/* ------------------------------------------------------------- errors */

START_TEST(test_check_rejects)
{
    struct rb_gen_config cfg;
    char err[RC_ERRMSG_MAX];
    small_config(&cfg, "/nonexistent-unused", 1);
    ck_assert_int_eq(rb_gen_check(&cfg, err), 0);

    static const char *const flags[] = {"--out",       "--cookies", "--products", "--dim",
                                        "--locations", "--events",  "--buyers",   "--days"};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        small_config(&cfg, "/nonexistent-unused", 1);
        switch (i) {
        case 0: cfg.out_dir = NULL; break;
        case 1: cfg.cookies = cfg.events + 1; break;
        case 2: cfg.products = cfg.categories - 1; break;
        case 3: cfg.dim = 0; break;
        case 4: cfg.locations = RB_GEN_MAX_LOCATIONS + 1; break;
        case 5: cfg.events = 0; break;
        case 6: cfg.buyers = 1.5; break;
        case 7: cfg.days = 0; break;
        }
        err[0] = 0;
        ck_assert_int_eq(rb_gen_check(&cfg, err), RC_ERANGE);
        ck_assert_msg(strstr(err, flags[i]) != NULL, "message '%s' does not name %s", err, flags[i]);
        ck_assert_int_eq(rb_gen_run(&cfg, NULL, err), RC_ERANGE);
    }
    /* cookies default to events / 10: 5 events -> 1 cookie is fine */
    small_config(&cfg, "/nonexistent-unused", 1);
    cfg.events = 5;
    cfg.cookies = 0;
    ck_assert_int_eq(rb_gen_check(&cfg, err), 0);
}
END_TEST

/* A full disk while writing events.csv: the error names the file and says
 * why; the partial file is removed and no recgen.json (not even an earlier
 * run's) claims the set is complete. */
START_TEST(test_write_error_names_file)
{
    if (access("/dev/full", W_OK) != 0)
        return; /* nothing to provoke ENOSPC with */
    char dir[4096], link[4200], path[4200];
    scratch_make(dir, sizeof(dir), "gen-full");
    snprintf(link, sizeof(link), "%s/events.csv.tmp.%ld", dir, (long)getpid()); /* shared/file.h */
    ck_assert_int_eq(symlink("/dev/full", link), 0);
    snprintf(path, sizeof(path), "%s/recgen.json", dir); /* a stale one from an earlier run */
    FILE *stale = fopen(path, "w");
    ck_assert_ptr_nonnull(stale);
    fclose(stale);
    struct rb_gen_config cfg;
    small_config(&cfg, dir, 17);
    char err[RC_ERRMSG_MAX] = "";
    int rc = rb_gen_run(&cfg, NULL, err);
    ck_assert_int_eq(rc, -ENOSPC);
    ck_assert_msg(strstr(err, "events.csv") && strstr(err, strerror(ENOSPC)), "message: '%s'", err);
    snprintf(path, sizeof(path), "%s/recgen.json", dir);
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_assert_int_ne(access(link, F_OK), 0);
    snprintf(path, sizeof(path), "%s/catalog.csv", dir); /* finished before the failure */
    ck_assert_int_eq(access(path, F_OK), 0);
    scratch_remove(dir);

    /* --out naming a regular file */
    scratch_make(dir, sizeof(dir), "gen-notdir");
    snprintf(path, sizeof(path), "%s/file", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    small_config(&cfg, path, 17);
    err[0] = 0;
    rc = rb_gen_run(&cfg, NULL, err);
    ck_assert_msg(rc == -ENOTDIR || rc == -EEXIST, "rc %d (%s)", rc, rc_strerror(rc));
    ck_assert_msg(strstr(err, path) != NULL, "message '%s' does not name '%s'", err, path);
    scratch_remove(dir);
}
END_TEST

static Suite *gen_suite(void)
{
    Suite *s = suite_create("gen");

    TCase *tc = tcase_create("determinism");
    tcase_add_test(tc, test_same_seed_same_bytes);
    tcase_add_test(tc, test_cookie_ids_stable);
    suite_add_tcase(s, tc);

    tc = tcase_create("formats");
    tcase_add_test(tc, test_events_parse);
    tcase_add_test(tc, test_catalog_and_truth_parse);
    tcase_add_test(tc, test_npy_header_and_shape);
    tcase_add_test(tc, test_tiny);
    suite_add_tcase(s, tc);

    tc = tcase_create("structure");
    tcase_add_test(tc, test_popularity_skew);
    tcase_add_test(tc, test_funnel_order);
    tcase_add_test(tc, test_cookie_tastes);
    tcase_add_test(tc, test_activity_tail);
    tcase_add_test(tc, test_segment_boosts);
    tcase_add_test(tc, test_embedding_clusters);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, test_check_rejects);
    tcase_add_test(tc, test_write_error_names_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    rc_log_setup(RC_LOG_WARN, 0); /* the generator's progress lines are noise here */
    SRunner *sr = srunner_create(gen_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
