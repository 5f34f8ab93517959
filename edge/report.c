/*
 * report.c - recctl report: one version as a self-contained HTML page
 * (report.h). Three steps: walk the lists (lists_walk), compare with a
 * second version (compare_walk), render (render_*).
 */
#include "report.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "error.h"
#include "file.h"
#include "manifest.h"
#include "record.h"
#include "version.h"

/* ---- what the walk of one version's lists finds ---- */

/* Slots per product: open addressing on the 64-bit key (0 marks a free
 * cell; the key 0 is counted apart). */
struct slot_map {
    uint64_t *keys;
    uint64_t *counts;
    size_t cap, used;
    uint64_t zero_count;
    int have_zero;
};

#define REPORT_LEN_BARS 25        /* list-length histogram: at most this many bars */
#define REPORT_BIAS_POINTS 12
static const double bias_percents[REPORT_BIAS_POINTS] = {1, 2, 5, 10, 20, 30, 40, 50, 60, 70, 80, 100};

/* One list DB, or all of them together (index RC_MANIFEST_LIST_DBS). */
struct list_stats {
    uint64_t lists, slots, max_len;
    uint64_t len_hist[RC_LIST_MAX + 1];
    struct slot_map products;
    double bias[REPORT_BIAS_POINTS]; /* share of slots taken by the top bias_percents[i] % of products */
    double coverage;                 /* distinct products listed / catalog size */
    uint64_t distinct;
};

struct version_stats {
    struct rc_cache cache;
    int open;
    uint64_t catalog; /* products in the catalog: the items DB, or the distinct products listed if more */
    struct list_stats db[RC_MANIFEST_LIST_DBS + 1];
};

#define ALL RC_MANIFEST_LIST_DBS

static int slot_map_grow(struct slot_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    uint64_t *keys = calloc(cap, sizeof(*keys)), *counts = calloc(cap, sizeof(*counts));
    if (!keys || !counts) {
        free(keys);
        free(counts);
        return -ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = (size_t)(m->keys[i] * 0x9E3779B97F4A7C15ull) & (cap - 1);
        while (keys[j])
            j = (j + 1) & (cap - 1);
        keys[j] = m->keys[i];
        counts[j] = m->counts[i];
    }
    free(m->keys);
    free(m->counts);
    m->keys = keys;
    m->counts = counts;
    m->cap = cap;
    return 0;
}

static int slot_map_add(struct slot_map *m, uint64_t key)
{
    if (key == 0) {
        m->zero_count++;
        m->have_zero = 1;
        return 0;
    }
    if ((m->used + 1) * 2 > m->cap) {
        int rc = slot_map_grow(m);
        if (rc)
            return rc;
    }
    size_t j = (size_t)(key * 0x9E3779B97F4A7C15ull) & (m->cap - 1);
    while (m->keys[j] && m->keys[j] != key)
        j = (j + 1) & (m->cap - 1);
    if (!m->keys[j]) {
        m->keys[j] = key;
        m->used++;
    }
    m->counts[j]++;
    return 0;
}

static void slot_map_release(struct slot_map *m)
{
    free(m->keys);
    free(m->counts);
    memset(m, 0, sizeof(*m));
}

static int cmp_desc_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x > y ? -1 : x < y;
}

/* The popularity-bias curve and coverage of s over a catalog of n products
 * (products never listed take no slots). */
static int list_stats_finish(struct list_stats *s, uint64_t catalog)
{
    const struct slot_map *m = &s->products;
    s->distinct = m->used + (uint64_t)m->have_zero;
    uint64_t n = catalog > s->distinct ? catalog : s->distinct;
    s->coverage = n ? (double)s->distinct / (double)n : 0;
    uint64_t *counts = malloc((s->distinct ? s->distinct : 1) * sizeof(*counts));
    if (!counts)
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i])
            counts[k++] = m->counts[i];
    if (m->have_zero)
        counts[k++] = m->zero_count;
    qsort(counts, k, sizeof(*counts), cmp_desc_u64);
    for (int p = 0; p < REPORT_BIAS_POINTS; p++) {
        uint64_t top = (uint64_t)ceil(bias_percents[p] / 100.0 * (double)n), sum = 0;
        for (size_t i = 0; i < k && i < top; i++)
            sum += counts[i];
        s->bias[p] = s->slots ? (double)sum / (double)s->slots : 0;
    }
    free(counts);
    return 0;
}

/* Every list of one DB into its stats and the overall ones. */
static int lists_walk_db(struct version_stats *v, MDB_txn *txn, int db, char *err)
{
    if (v->cache.absent >> db & 1u)
        return 0;
    MDB_cursor *cur;
    int rc = rc_lmdb(mdb_cursor_open(txn, v->cache.dbi[db], &cur));
    if (rc)
        return rc_fail(err, rc, "unable to read the %s lists: %s", rc_db_names[db], rc_strerror(rc));
    struct list_stats *s = &v->db[db], *all = &v->db[ALL];
    char why[RC_ERRMSG_MAX] = "out of memory";
    MDB_val k, val;
    int got = mdb_cursor_get(cur, &k, &val, MDB_FIRST);
    for (; got == 0; got = mdb_cursor_get(cur, &k, &val, MDB_NEXT)) {
        struct rc_list l;
        if ((rc = rc_list_open(&l, val.mv_data, val.mv_size, 0, why)) != 0)
            break;
        s->lists++;
        all->lists++;
        s->len_hist[l.count]++;
        all->len_hist[l.count]++;
        if (l.count > s->max_len)
            s->max_len = l.count;
        if (l.count > all->max_len)
            all->max_len = l.count;
        struct rc_entry e;
        while (rc_list_next(&l, &e)) {
            s->slots++;
            all->slots++;
            if ((rc = slot_map_add(&s->products, e.key)) != 0 || (rc = slot_map_add(&all->products, e.key)) != 0)
                break;
        }
        if (rc)
            break;
    }
    mdb_cursor_close(cur);
    if (rc)
        return rc_fail(err, rc, "a %s list: %s", rc_db_names[db], why);
    if (got != MDB_NOTFOUND)
        return rc_fail(err, rc_lmdb(got), "unable to read the %s lists: %s", rc_db_names[db],
                       rc_strerror(rc_lmdb(got)));
    return 0;
}

static int lists_walk(struct version_stats *v, char *err)
{
    MDB_txn *txn;
    int rc = rc_lmdb(mdb_txn_begin(v->cache.env, NULL, MDB_RDONLY, &txn));
    if (rc)
        return rc_fail(err, rc, "unable to read '%s': %s", v->cache.dir, rc_strerror(rc));
    for (int db = 0; db < RC_MANIFEST_LIST_DBS && !rc; db++)
        rc = lists_walk_db(v, txn, db, err);
    mdb_txn_abort(txn);
    if (rc)
        return rc;
    v->catalog = v->cache.manifest.counts[RC_DB_ITEMS];
    for (int db = 0; db <= ALL && !rc; db++)
        rc = list_stats_finish(&v->db[db], v->catalog);
    return rc ? rc_fail(err, rc, "out of memory") : 0;
}

static int version_load(struct version_stats *v, const char *dir, char *err)
{
    memset(v, 0, sizeof(*v));
    /* Every record is read: check the files against the manifest first, since
     * LMDB trusts its pages. */
    int rc = rc_version_open(&v->cache, dir, RC_VERIFY_FILES, err);
    if (rc)
        return rc;
    v->open = 1;
    return lists_walk(v, err);
}

static void version_release(struct version_stats *v)
{
    for (int db = 0; db <= ALL; db++)
        slot_map_release(&v->db[db].products);
    if (v->open)
        rc_cache_close(&v->cache);
    v->open = 0;
}

/* ---- comparing two versions: lists added, removed, changed per DB ---- */

struct db_change {
    uint64_t from, to, added, removed, changed, unchanged;
};

static int compare_db(struct version_stats *a, MDB_txn *ta, struct version_stats *b, MDB_txn *tb, int db,
                      struct db_change *d)
{
    MDB_cursor *ka = NULL, *kb = NULL; /* NULL: the version lacks this optional DB */
    int rc = 0;
    if (!(a->cache.absent >> db & 1u))
        rc = rc_lmdb(mdb_cursor_open(ta, a->cache.dbi[db], &ka));
    if (!rc && !(b->cache.absent >> db & 1u))
        rc = rc_lmdb(mdb_cursor_open(tb, b->cache.dbi[db], &kb));
    MDB_val ak, av, bk, bv;
    int ra = ka ? mdb_cursor_get(ka, &ak, &av, MDB_FIRST) : MDB_NOTFOUND;
    int rb = kb ? mdb_cursor_get(kb, &bk, &bv, MDB_FIRST) : MDB_NOTFOUND;
    while (!rc && (ra == 0 || rb == 0)) {
        uint64_t x = 0, y = 0;
        if (ra == 0)
            memcpy(&x, ak.mv_data, sizeof(x));
        if (rb == 0)
            memcpy(&y, bk.mv_data, sizeof(y));
        if (rb != 0 || (ra == 0 && x < y)) {
            d->from++;
            d->removed++;
            ra = mdb_cursor_get(ka, &ak, &av, MDB_NEXT);
        } else if (ra != 0 || y < x) {
            d->to++;
            d->added++;
            rb = mdb_cursor_get(kb, &bk, &bv, MDB_NEXT);
        } else {
            d->from++;
            d->to++;
            if (av.mv_size == bv.mv_size && memcmp(av.mv_data, bv.mv_data, av.mv_size) == 0)
                d->unchanged++;
            else
                d->changed++;
            ra = mdb_cursor_get(ka, &ak, &av, MDB_NEXT);
            rb = mdb_cursor_get(kb, &bk, &bv, MDB_NEXT);
        }
    }
    if (ka)
        mdb_cursor_close(ka);
    if (kb)
        mdb_cursor_close(kb);
    if (!rc && ra != MDB_NOTFOUND)
        rc = rc_lmdb(ra);
    if (!rc && rb != MDB_NOTFOUND)
        rc = rc_lmdb(rb);
    return rc;
}

static int compare_walk(struct version_stats *from, struct version_stats *to, struct db_change ch[RC_DB_COUNT],
                        char *err)
{
    MDB_txn *ta = NULL, *tb = NULL;
    memset(ch, 0, sizeof(*ch) * RC_DB_COUNT);
    int rc = rc_lmdb(mdb_txn_begin(from->cache.env, NULL, MDB_RDONLY, &ta));
    if (!rc)
        rc = rc_lmdb(mdb_txn_begin(to->cache.env, NULL, MDB_RDONLY, &tb));
    for (int db = 0; db < RC_DB_COUNT && !rc; db++)
        rc = compare_db(from, ta, to, tb, db, &ch[db]);
    if (ta)
        mdb_txn_abort(ta);
    if (tb)
        mdb_txn_abort(tb);
    return rc ? rc_fail(err, rc, "unable to compare '%s' and '%s': %s", from->cache.dir, to->cache.dir,
                        rc_strerror(rc))
              : 0;
}

/* ---- HTML and SVG output ---- */

static void html_text(struct rc_buf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': rc_buf_adds(b, "&lt;"); break;
        case '>': rc_buf_adds(b, "&gt;"); break;
        case '&': rc_buf_adds(b, "&amp;"); break;
        case '"': rc_buf_adds(b, "&quot;"); break;
        case '\'': rc_buf_adds(b, "&#39;"); break;
        default:
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
                rc_buf_adds(b, "\xef\xbf\xbd"); /* XML has no place for control bytes */
            else
                rc_buf_add(b, s, 1);
        }
    }
}

void re_report_html_text(struct rc_buf *b, const char *s)
{
    html_text(b, s);
}

/* A number the way manifest.json writes it (%g with 6 digits), in a cell
 * named `name` for readers of the page. */
static void num_cell(struct rc_buf *b, const char *name, double v)
{
    rc_buf_adds(b, "<td class=\"n\" data-m=\"");
    html_text(b, name);
    if (isfinite(v) && v == floor(v) && fabs(v) < 1e15) /* counts and bytes in full */
        rc_buf_addf(b, "\">%.0f</td>", v);
    else if (isfinite(v))
        rc_buf_addf(b, "\">%.6g</td>", v);
    else
        rc_buf_adds(b, "\">-</td>");
}

static void count_cell(struct rc_buf *b, const char *name, uint64_t v)
{
    rc_buf_adds(b, "<td class=\"n\" data-m=\"");
    html_text(b, name);
    rc_buf_addf(b, "\">%" PRIu64 "</td>", v);
}

static const char *const colors[] = {"#1a5fd0", "#d0621a", "#2a9d4b", "#9b2fae", "#555f6d", "#c23b3b"};

struct series {
    const char *name;
    const double *x, *y;
    size_t n;
};

/*
 * A line chart of up to 6 series over x in [0, xmax] and y in [0, ymax]
 * (640 x 300), with the diagonal y = x when `diagonal` (a uniform share).
 */
static void svg_lines(struct rc_buf *b, const char *label, const char *xlabel, const char *ylabel,
                      const struct series *s, size_t ns, double xmax, double ymax, int diagonal)
{
    const double W = 640, H = 300, L = 56, R = 150, T = 16, B = 44;
    double pw = W - L - R, ph = H - T - B;
#define SX(v) (L + (v) / xmax * pw)
#define SY(v) (T + ph - (v) / ymax * ph)
    rc_buf_addf(b, "<svg class=\"chart\" role=\"img\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">", W, H,
                W, H);
    rc_buf_adds(b, "<title>");
    html_text(b, label);
    rc_buf_adds(b, "</title>");
    for (int i = 0; i <= 4; i++) {
        double gy = ymax * i / 4, gx = xmax * i / 4;
        rc_buf_addf(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", L, SY(gy), L + pw,
                    SY(gy));
        rc_buf_addf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>", L - 6, SY(gy) + 4, gy);
        rc_buf_addf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.3g</text>", SX(gx), T + ph + 16, gx);
    }
    rc_buf_addf(b, "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>", L, T, pw, ph);
    rc_buf_addf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", L + pw / 2, H - 6);
    html_text(b, xlabel);
    rc_buf_addf(b, "</text><text x=\"12\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 12 %.1f)\">",
                T + ph / 2, T + ph / 2);
    html_text(b, ylabel);
    rc_buf_adds(b, "</text>");
    if (diagonal)
        rc_buf_addf(b, "<line class=\"diag\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", SX(0), SY(0),
                    SX(xmax), SY(xmax < ymax ? xmax : ymax));
    for (size_t k = 0; k < ns && k < 6; k++) {
        rc_buf_addf(b, "<polyline class=\"series\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
                    colors[k]);
        for (size_t i = 0; i < s[k].n; i++)
            rc_buf_addf(b, "%s%.1f,%.1f", i ? " " : "", SX(s[k].x[i]), SY(s[k].y[i]));
        rc_buf_adds(b, "\"/>");
        for (size_t i = 0; i < s[k].n; i++)
            rc_buf_addf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>", SX(s[k].x[i]), SY(s[k].y[i]),
                        colors[k]);
        rc_buf_addf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/><text x=\"%.1f\" y=\"%.1f\">",
                    L + pw + 14, T + 4 + 20 * (double)k, colors[k], L + pw + 32, T + 14 + 20 * (double)k);
        html_text(b, s[k].name);
        rc_buf_adds(b, "</text>");
    }
    rc_buf_adds(b, "</svg>\n");
#undef SX
#undef SY
}

/* A bar chart: n labelled bars, vertical (histograms) or horizontal (timings). */
static void svg_bars(struct rc_buf *b, const char *label, const char *const *names, const double *v, size_t n,
                     int horizontal, const char *unit)
{
    double max = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] > max)
            max = v[i];
    if (max <= 0)
        max = 1;
    if (horizontal) {
        const double W = 640, L = 170, R = 80, row = 18;
        double H = 12 + row * (double)n, pw = W - L - R;
        rc_buf_addf(b, "<svg class=\"chart\" role=\"img\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\"><title>",
                    W, H, W, H);
        html_text(b, label);
        rc_buf_adds(b, "</title>");
        for (size_t i = 0; i < n; i++) {
            double y = 6 + row * (double)i, w = v[i] / max * pw;
            rc_buf_addf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", L - 6, y + 12);
            html_text(b, names[i]);
            rc_buf_addf(b, "</text><rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>"
                           "<text x=\"%.1f\" y=\"%.1f\">%.6g %s</text>",
                        L, y + 2, w < 1 && v[i] > 0 ? 1 : w, row - 4, L + w + 4, y + 12, v[i], unit);
        }
        rc_buf_adds(b, "</svg>\n");
        return;
    }
    const double W = 640, H = 240, L = 56, T = 12, B = 40;
    double pw = W - L - 16, ph = H - T - B, bw = pw / (double)(n ? n : 1);
    rc_buf_addf(b, "<svg class=\"chart\" role=\"img\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\"><title>", W,
                H, W, H);
    html_text(b, label);
    rc_buf_adds(b, "</title>");
    rc_buf_addf(b, "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>", L, T, pw, ph);
    rc_buf_addf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.6g</text><text x=\"%.1f\" y=\"%.1f\" "
                   "text-anchor=\"end\">0</text>",
                L - 6, T + 10, max, L - 6, T + ph);
    for (size_t i = 0; i < n; i++) {
        double h = v[i] / max * ph, x = L + bw * (double)i;
        rc_buf_addf(b, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"><title>", x + 1,
                    T + ph - h, bw > 3 ? bw - 2 : bw, h);
        html_text(b, names[i]);
        rc_buf_addf(b, ": %.6g</title></rect>", v[i]);
        if (n <= 12 || i % ((n + 11) / 12) == 0) {
            rc_buf_addf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", x + bw / 2, T + ph + 16);
            html_text(b, names[i]);
            rc_buf_adds(b, "</text>");
        }
    }
    rc_buf_addf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", L + pw / 2, H - 4);
    html_text(b, unit);
    rc_buf_adds(b, "</text></svg>\n");
}

static const char *list_db_label(int db)
{
    static const char *const labels[RC_MANIFEST_LIST_DBS + 1] = {
        "cookie (cf)", "product (image)", "segment (popular)", "coview", "cookie_b (cf, second set)",
        "category (popular)", "all lists"};
    _Static_assert(RC_MANIFEST_LIST_DBS == 6, "a label for every list DB");
    return labels[db];
}

/* ---- the page's sections ---- */

const char re_report_style[] =
    "body{font:14px/1.45 system-ui,sans-serif;color:#1d2430;max-width:1000px;margin:0 auto;padding:16px 24px}"
    "h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #d8dde4}"
    "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #d8dde4;padding:3px 8px;text-align:left}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f2f4f7}"
    ".note{color:#5b6573}.chart{display:block;margin:8px 0;font-size:11px}"
    ".chart text{fill:#1d2430}.grid{stroke:#e3e7ec}.frame{fill:none;stroke:#9aa3ae}"
    ".diag{stroke:#9aa3ae;stroke-dasharray:4 4}.bar{fill:#1a5fd0}.up{color:#1f7a3a}.down{color:#b3261e}";

static void section_counts(struct rc_buf *b, const struct version_stats *v)
{
    const struct rc_manifest *m = &v->cache.manifest;
    rc_buf_adds(b, "<h2 id=\"counts\">Records per DB</h2>\n<table><tr><th>DB</th><th>records</th></tr>");
    for (int db = 0; db < RC_DB_COUNT; db++) {
        char name[64];
        snprintf(name, sizeof(name), "counts.%s", rc_db_names[db]);
        rc_buf_addf(b, "<tr><td>%s</td>", rc_db_names[db]);
        count_cell(b, name, m->counts[db]);
        rc_buf_adds(b, "</tr>");
    }
    rc_buf_adds(b, "</table>\n");
    const struct rc_json *inputs = rc_json_get(m->doc, "inputs");
    if (!inputs || inputs->type != RC_JSON_ARR)
        return;
    rc_buf_adds(b, "<h3>Inputs</h3><table><tr><th>role</th><th>file</th><th>rows</th><th>bytes</th></tr>");
    int i = 0;
    for (const struct rc_json *in = inputs->child; in; in = in->next, i++) {
        double rows = NAN, bytes = NAN;
        (void)rc_json_get_num(in, "rows", &rows);
        (void)rc_json_get_num(in, "bytes", &bytes);
        char name[64];
        rc_buf_adds(b, "<tr><td>");
        html_text(b, rc_json_get_str(in, "role"));
        rc_buf_adds(b, "</td><td>");
        html_text(b, rc_json_get_str(in, "name"));
        rc_buf_adds(b, "</td>");
        snprintf(name, sizeof(name), "inputs.%d.rows", i);
        num_cell(b, name, rows);
        snprintf(name, sizeof(name), "inputs.%d.bytes", i);
        num_cell(b, name, bytes);
        rc_buf_adds(b, "</tr>");
    }
    rc_buf_adds(b, "</table>\n");
}

/* The evaluation against the most-popular baseline: rows hr, recall,
 * ndcg, precision with their pop_ counterparts. */
static void section_evaluation(struct rc_buf *b, const struct rc_json *doc)
{
    const struct rc_json *e = rc_json_get(doc, "evaluation");
    rc_buf_adds(b, "<h2 id=\"evaluation\">Holdout evaluation</h2>\n");
    if (!e || e->type != RC_JSON_OBJ) {
        rc_buf_adds(b, "<p class=\"note\">The manifest holds no evaluation (recbuild ran without a holdout).</p>\n");
        return;
    }
    double k = NAN, users = NAN, lift = NAN;
    (void)rc_json_get_num(e, "k", &k);
    (void)rc_json_get_num(e, "users", &users);
    rc_buf_adds(b, "<p>Split: ");
    html_text(b, rc_json_get_str(e, "split") ? rc_json_get_str(e, "split") : "not given");
    rc_buf_addf(b, "; k = <span data-m=\"evaluation.k\">%.6g</span>, <span data-m=\"evaluation.users\">%.6g</span> "
                   "held-out users.</p>\n",
                k, users);
    static const char *const metrics[] = {"hr", "recall", "ndcg", "precision"};
    rc_buf_adds(b, "<table><tr><th>metric</th><th>model</th><th>most popular</th><th>model / popular</th></tr>");
    for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
        double mv = NAN, pv = NAN;
        char pop[32], name[64];
        snprintf(pop, sizeof(pop), "pop_%s", metrics[i]);
        if (rc_json_get_num(e, metrics[i], &mv) != 0)
            continue;
        (void)rc_json_get_num(e, pop, &pv);
        rc_buf_addf(b, "<tr><td>%s@k</td>", metrics[i]);
        snprintf(name, sizeof(name), "evaluation.%s", metrics[i]);
        num_cell(b, name, mv);
        snprintf(name, sizeof(name), "evaluation.%s", pop);
        num_cell(b, name, pv);
        if (pv > 0)
            rc_buf_addf(b, "<td class=\"n\">%.3g</td></tr>", mv / pv);
        else
            rc_buf_adds(b, "<td class=\"n\">-</td></tr>");
    }
    rc_buf_adds(b, "</table>\n<table><tr><th>health</th><th>value</th></tr>");
    static const char *const health[] = {"lift", "coverage", "pop_bias", "cold_share", "factor_norm", "score_spread",
                                         "knn_recall"};
    for (size_t i = 0; i < sizeof(health) / sizeof(health[0]); i++) {
        char name[64];
        if (rc_json_get_num(e, health[i], &lift) != 0)
            continue;
        snprintf(name, sizeof(name), "evaluation.%s", health[i]);
        rc_buf_addf(b, "<tr><td>%s</td>", health[i]);
        num_cell(b, name, lift);
        rc_buf_adds(b, "</tr>");
    }
    const struct rc_json *deg = rc_json_get(e, "degenerate");
    if (deg && deg->type == RC_JSON_BOOL)
        rc_buf_addf(b, "<tr><td>degenerate</td><td data-m=\"evaluation.degenerate\">%s</td></tr>",
                    deg->num ? "true" : "false");
    rc_buf_adds(b, "</table>\n<p class=\"note\">evaluation.coverage is recbuild's, over the held-out users' lists; "
                   "the coverage under <a href=\"#lists\">Lists</a> is over every list in the cache.</p>\n");
}

static void section_next_item(struct rc_buf *b, const struct rc_json *doc)
{
    const struct rc_json *n = rc_json_get(rc_json_get(doc, "evaluation"), "next_item");
    rc_buf_adds(b, "<h2 id=\"next-item\">Next item (browsing)</h2>\n");
    if (!n || n->type != RC_JSON_OBJ) {
        rc_buf_adds(b, "<p class=\"note\">The manifest holds no next-item evaluation.</p>\n");
        return;
    }
    double k = NAN, sessions = NAN, steps = NAN;
    (void)rc_json_get_num(n, "k", &k);
    (void)rc_json_get_num(n, "sessions", &sessions);
    (void)rc_json_get_num(n, "steps", &steps);
    rc_buf_addf(b, "<p>k = <span data-m=\"evaluation.next_item.k\">%.6g</span>, "
                   "<span data-m=\"evaluation.next_item.sessions\">%.6g</span> sessions, "
                   "<span data-m=\"evaluation.next_item.steps\">%.6g</span> steps.</p>\n",
                k, sessions, steps);
    static const char *const kinds[] = {"blend", "coview", "image", "baseline", "pop"};
    rc_buf_adds(b, "<table><tr><th>list</th><th>hr@k</th><th>mrr@k</th></tr>");
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        char hr[32], mrr[32], name[64];
        double h = NAN, r = NAN;
        snprintf(hr, sizeof(hr), "%s_hr", kinds[i]);
        snprintf(mrr, sizeof(mrr), "%s_mrr", kinds[i]);
        if (rc_json_get_num(n, hr, &h) != 0)
            continue;
        (void)rc_json_get_num(n, mrr, &r);
        rc_buf_addf(b, "<tr><td>%s</td>", kinds[i]);
        snprintf(name, sizeof(name), "evaluation.next_item.%s", hr);
        num_cell(b, name, h);
        snprintf(name, sizeof(name), "evaluation.next_item.%s", mrr);
        num_cell(b, name, r);
        rc_buf_adds(b, "</tr>");
    }
    rc_buf_adds(b, "</table>\n");
    const struct rc_json *grid = rc_json_get(n, "blend_grid");
    if (!grid || grid->type != RC_JSON_ARR)
        return;
    double w[64], h[64], r[64], ymax = 0;
    size_t g = 0;
    for (const struct rc_json *p = grid->child; p && g < 64; p = p->next) {
        if (rc_json_get_num(p, "w", &w[g]) || rc_json_get_num(p, "hr", &h[g]) || rc_json_get_num(p, "mrr", &r[g]))
            continue;
        ymax = fmax(ymax, fmax(h[g], r[g]));
        g++;
    }
    if (g < 2)
        return;
    struct series s[2] = {{"hr@k", w, h, g}, {"mrr@k", w, r, g}};
    rc_buf_adds(b, "<h3>Blend weight</h3>");
    svg_lines(b, "next-item hr and mrr by blend weight", "coview weight w", "hr / mrr", s, 2, 1,
              ymax > 0 ? ymax * 1.1 : 1, 0);
}

static void section_tuning(struct rc_buf *b, const struct rc_json *doc)
{
    const struct rc_json *t = rc_json_get(doc, "tuning");
    rc_buf_adds(b, "<h2 id=\"tuning\">Tuning</h2>\n");
    if (!t || t->type != RC_JSON_OBJ) {
        rc_buf_adds(b, "<p class=\"note\">The manifest holds no tuning section (parameters were given, not tuned).</p>\n");
        return;
    }
    rc_buf_adds(b, "<table><tr><th>field</th><th>value</th></tr>");
    for (const struct rc_json *m = t->child; m; m = m->next) {
        char name[96];
        rc_buf_adds(b, "<tr><td>");
        html_text(b, m->key);
        rc_buf_adds(b, "</td>");
        if (m->type == RC_JSON_NUM) {
            snprintf(name, sizeof(name), "tuning.%s", m->key);
            num_cell(b, name, m->num);
        } else {
            rc_buf_adds(b, "<td>");
            html_text(b, m->type == RC_JSON_STR ? m->str : m->type == RC_JSON_BOOL ? (m->num ? "true" : "false") : "-");
            rc_buf_adds(b, "</td>");
        }
        rc_buf_adds(b, "</tr>");
    }
    rc_buf_adds(b, "</table>\n");
}

static void section_timings(struct rc_buf *b, const struct rc_json *doc)
{
    const struct rc_json *t = rc_json_get(doc, "timings_ms");
    rc_buf_adds(b, "<h2 id=\"timings\">Stage timings</h2>\n");
    if (!t || t->type != RC_JSON_OBJ) {
        rc_buf_adds(b, "<p class=\"note\">The manifest holds no timings.</p>\n");
        return;
    }
    const char *names[RC_MANIFEST_TIMINGS_MAX];
    double ms[RC_MANIFEST_TIMINGS_MAX];
    size_t n = 0;
    rc_buf_adds(b, "<table><tr><th>stage</th><th>ms</th></tr>");
    for (const struct rc_json *m = t->child; m && n < RC_MANIFEST_TIMINGS_MAX; m = m->next) {
        if (m->type != RC_JSON_NUM)
            continue;
        char name[96];
        snprintf(name, sizeof(name), "timings_ms.%s", m->key);
        rc_buf_adds(b, "<tr><td>");
        html_text(b, m->key);
        rc_buf_adds(b, "</td>");
        num_cell(b, name, m->num);
        rc_buf_adds(b, "</tr>");
        names[n] = m->key;
        ms[n++] = m->num;
    }
    rc_buf_adds(b, "</table>\n");
    svg_bars(b, "stage timings", names, ms, n, 1, "ms");
}

static void section_lists(struct rc_buf *b, const struct version_stats *v)
{
    rc_buf_adds(b, "<h2 id=\"lists\">Lists</h2>\n<table><tr><th>DB</th><th>lists</th><th>slots</th>"
                   "<th>distinct products</th><th>catalog coverage</th><th>longest</th></tr>");
    for (int db = 0; db <= ALL; db++) {
        const struct list_stats *s = &v->db[db];
        const char *key = db == ALL ? "all" : rc_db_names[db];
        char name[64];
        rc_buf_addf(b, "<tr><td>%s</td>", list_db_label(db));
        snprintf(name, sizeof(name), "lists.%s.lists", key);
        count_cell(b, name, s->lists);
        snprintf(name, sizeof(name), "lists.%s.slots", key);
        count_cell(b, name, s->slots);
        snprintf(name, sizeof(name), "lists.%s.distinct", key);
        count_cell(b, name, s->distinct);
        snprintf(name, sizeof(name), "lists.%s.coverage", key);
        num_cell(b, name, s->coverage);
        snprintf(name, sizeof(name), "lists.%s.max_len", key);
        count_cell(b, name, s->max_len);
        rc_buf_adds(b, "</tr>");
    }
    rc_buf_addf(b, "</table>\n<p class=\"note\">Catalog coverage: the share of the <span data-m=\"lists.catalog\">%" PRIu64
                   "</span> catalog products that appear in at least one list.</p>\n",
                v->catalog);

    rc_buf_adds(b, "<h3 id=\"bias\">Popularity bias</h3>\n<p>The share of all recommendation slots taken by the "
                   "most recommended 1 %, 5 %, 10 % … 100 % of catalog products; the dashed diagonal is an even "
                   "spread.</p>\n");
    struct series s[RC_MANIFEST_LIST_DBS + 1];
    size_t ns = 0;
    for (int db = ALL; db >= 0; db--) {
        if (!v->db[db].slots)
            continue;
        s[ns++] = (struct series){list_db_label(db), bias_percents, v->db[db].bias, REPORT_BIAS_POINTS};
    }
    double ys[RC_MANIFEST_LIST_DBS + 1][REPORT_BIAS_POINTS];
    for (size_t k = 0; k < ns; k++) { /* the chart is in percent */
        for (int p = 0; p < REPORT_BIAS_POINTS; p++)
            ys[k][p] = s[k].y[p] * 100;
        s[k].y = ys[k];
    }
    svg_lines(b, "popularity bias", "top % of catalog products", "% of slots", s, ns, 100, 100, 1);
    rc_buf_adds(b, "<table><tr><th>top % of products</th>");
    for (int p = 0; p < REPORT_BIAS_POINTS; p++)
        rc_buf_addf(b, "<th>%g %%</th>", bias_percents[p]);
    rc_buf_adds(b, "</tr>");
    for (int db = ALL; db >= 0; db--) {
        if (!v->db[db].slots)
            continue;
        rc_buf_addf(b, "<tr><td>%s</td>", list_db_label(db));
        for (int p = 0; p < REPORT_BIAS_POINTS; p++) {
            char name[64];
            snprintf(name, sizeof(name), "bias.%s.%g", db == ALL ? "all" : rc_db_names[db], bias_percents[p]);
            num_cell(b, name, v->db[db].bias[p]);
        }
        rc_buf_adds(b, "</tr>");
    }
    rc_buf_adds(b, "</table>\n<h3 id=\"lengths\">List lengths</h3>\n");
    for (int db = 0; db < ALL; db++) {
        const struct list_stats *st = &v->db[db];
        if (!st->lists)
            continue;
        uint64_t width = (st->max_len + REPORT_LEN_BARS) / REPORT_LEN_BARS; /* lengths per bar */
        size_t nbars = (size_t)(st->max_len / width + 1);
        char labels[REPORT_LEN_BARS + 1][24];
        const char *names[REPORT_LEN_BARS + 1];
        double counts[REPORT_LEN_BARS + 1] = {0};
        for (size_t i = 0; i < nbars; i++) {
            if (width == 1)
                snprintf(labels[i], sizeof(labels[i]), "%zu", i);
            else
                snprintf(labels[i], sizeof(labels[i]), "%" PRIu64 "-%" PRIu64, i * width, i * width + width - 1);
            names[i] = labels[i];
        }
        for (uint64_t len = 0; len <= st->max_len; len++)
            counts[len / width] += (double)st->len_hist[len];
        rc_buf_addf(b, "<h4>%s</h4>", list_db_label(db));
        svg_bars(b, list_db_label(db), names, counts, nbars, 0, "entries per list");
    }
}

static void section_segments(struct rc_buf *b, const struct rc_json *doc)
{
    const struct rc_json *e = rc_json_get(doc, "evaluation");
    const struct rc_json *loc = rc_json_get(e, "by_location"), *dev = rc_json_get(e, "by_device");
    rc_buf_adds(b, "<h2 id=\"segments\">By location and device</h2>\n");
    if (!loc && !dev) {
        rc_buf_adds(b, "<p class=\"note\" data-m=\"segments.absent\">The manifest holds no metrics by location or by "
                       "device: recbuild does not evaluate per segment. The segment DB's lists are counted under "
                       "<a href=\"#lists\">Lists</a>.</p>\n");
        return;
    }
    const struct rc_json *parts[2] = {loc, dev};
    const char *titles[2] = {"by location", "by device"}, *keys[2] = {"by_location", "by_device"};
    for (int i = 0; i < 2; i++) {
        if (!parts[i] || parts[i]->type != RC_JSON_OBJ)
            continue;
        rc_buf_addf(b, "<h3>%s</h3><table><tr><th>segment</th><th>metric</th><th>value</th></tr>", titles[i]);
        for (const struct rc_json *seg = parts[i]->child; seg; seg = seg->next)
            for (const struct rc_json *m = seg->child; m; m = m->next) {
                if (m->type != RC_JSON_NUM)
                    continue;
                char name[192];
                snprintf(name, sizeof(name), "evaluation.%s.%s.%s", keys[i], seg->key, m->key);
                rc_buf_adds(b, "<tr><td>");
                html_text(b, seg->key);
                rc_buf_adds(b, "</td><td>");
                html_text(b, m->key);
                rc_buf_adds(b, "</td>");
                num_cell(b, name, m->num);
                rc_buf_adds(b, "</tr>");
            }
        rc_buf_adds(b, "</table>\n");
    }
}

static void delta_cell(struct rc_buf *b, double from, double to)
{
    double d = to - from;
    rc_buf_addf(b, "<td class=\"n %s\">%+.4g</td>", d > 0 ? "up" : d < 0 ? "down" : "", d);
}

static void section_compare(struct rc_buf *b, const struct version_stats *from, const struct version_stats *to,
                            const struct db_change ch[RC_DB_COUNT])
{
    rc_buf_adds(b, "<h2 id=\"changes\">Changes from ");
    html_text(b, from->cache.manifest.version);
    rc_buf_adds(b, "</h2>\n<table><tr><th>DB</th><th>from</th><th>to</th><th>added</th><th>removed</th>"
                   "<th>changed</th><th>unchanged</th><th>share of lists changed</th></tr>");
    for (int db = 0; db < RC_DB_COUNT; db++) {
        const struct db_change *d = &ch[db];
        char name[64];
        rc_buf_addf(b, "<tr><td>%s</td>", rc_db_names[db]);
        static const char *const cols[] = {"from", "to", "added", "removed", "changed", "unchanged"};
        const uint64_t vals[] = {d->from, d->to, d->added, d->removed, d->changed, d->unchanged};
        for (int i = 0; i < 6; i++) {
            snprintf(name, sizeof(name), "diff.%s.%s", rc_db_names[db], cols[i]);
            count_cell(b, name, vals[i]);
        }
        uint64_t common = d->changed + d->unchanged;
        snprintf(name, sizeof(name), "diff.%s.changed_share", rc_db_names[db]);
        num_cell(b, name, common ? (double)d->changed / (double)common : NAN);
        rc_buf_adds(b, "</tr>");
    }
    rc_buf_adds(b, "</table>\n<p class=\"note\">Changed: keys in both versions whose record differs in any byte "
                   "(products or scores); the share is over the keys both versions hold "
                   "(<code>recctl diff</code> gives list overlaps).</p>\n");

    const struct rc_json *e1 = rc_json_get(from->cache.manifest.doc, "evaluation");
    const struct rc_json *e2 = rc_json_get(to->cache.manifest.doc, "evaluation");
    rc_buf_adds(b, "<h3>Metrics</h3><table><tr><th>metric</th><th>from</th><th>to</th><th>change</th></tr>");
    int any = 0;
    for (const struct rc_json *m = e1 ? e1->child : NULL; m; m = m->next) {
        double y;
        if (m->type != RC_JSON_NUM || rc_json_get_num(e2, m->key, &y) != 0)
            continue;
        char name[96];
        rc_buf_adds(b, "<tr><td>");
        html_text(b, m->key);
        rc_buf_adds(b, "</td>");
        snprintf(name, sizeof(name), "compare.evaluation.%s", m->key);
        num_cell(b, name, m->num);
        snprintf(name, sizeof(name), "evaluation.%s", m->key);
        num_cell(b, name, y);
        delta_cell(b, m->num, y);
        rc_buf_adds(b, "</tr>");
        any = 1;
    }
    rc_buf_adds(b, "</table>\n");
    if (!any)
        rc_buf_adds(b, "<p class=\"note\">No evaluation metric is in both manifests.</p>\n");

    rc_buf_adds(b, "<h3>Lists</h3><table><tr><th>lists</th><th>coverage from</th><th>coverage to</th><th>change</th>"
                   "<th>top 10 % share from</th><th>top 10 % share to</th><th>change</th></tr>");
    for (int db = ALL; db >= 0; db--) {
        const struct list_stats *a = &from->db[db], *c = &to->db[db];
        if (!a->slots && !c->slots)
            continue;
        char name[64];
        const char *key = db == ALL ? "all" : rc_db_names[db];
        rc_buf_addf(b, "<tr><td>%s</td>", list_db_label(db));
        snprintf(name, sizeof(name), "compare.lists.%s.coverage", key);
        num_cell(b, name, a->coverage);
        snprintf(name, sizeof(name), "lists.%s.coverage", key);
        num_cell(b, name, c->coverage);
        delta_cell(b, a->coverage, c->coverage);
        snprintf(name, sizeof(name), "compare.bias.%s.10", key);
        num_cell(b, name, a->bias[3]);
        snprintf(name, sizeof(name), "bias.%s.10", key);
        num_cell(b, name, c->bias[3]);
        delta_cell(b, a->bias[3], c->bias[3]);
        rc_buf_adds(b, "</tr>");
    }
    rc_buf_adds(b, "</table>\n");
}

static void render_page(struct rc_buf *b, const struct version_stats *v, const struct version_stats *from,
                        const struct db_change *ch)
{
    const struct rc_manifest *m = &v->cache.manifest;
    char created[32] = "";
    time_t t = (time_t)m->created_at;
    struct tm tm;
    if (gmtime_r(&t, &tm))
        strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
    rc_buf_adds(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<title>edgerec version ");
    html_text(b, m->version);
    rc_buf_addf(b, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>edgerec version <span data-m=\"version\">",
                re_report_style);
    html_text(b, m->version);
    rc_buf_adds(b, "</span></h1>\n<p>Created <span data-m=\"created_at_iso\">");
    html_text(b, created);
    rc_buf_adds(b, "</span>");
    const char *device = rc_json_get_str(m->doc, "device");
    if (device) {
        rc_buf_adds(b, " on <span data-m=\"device\">");
        html_text(b, device);
        rc_buf_adds(b, "</span>");
    }
    if (from) {
        rc_buf_adds(b, "; compared with <span data-m=\"compare.version\">");
        html_text(b, from->cache.manifest.version);
        rc_buf_adds(b, "</span>");
    }
    rc_buf_adds(b, ".</p>\n<p class=\"note\">Sections: <a href=\"#counts\">records</a>, <a href=\"#evaluation\">"
                   "evaluation</a>, <a href=\"#next-item\">next item</a>, <a href=\"#lists\">lists</a>, "
                   "<a href=\"#segments\">by location and device</a>, <a href=\"#tuning\">tuning</a>, "
                   "<a href=\"#timings\">timings</a>");
    rc_buf_adds(b, from ? ", <a href=\"#changes\">changes</a>.</p>\n" : ".</p>\n");
    if (from)
        section_compare(b, from, v, ch);
    section_counts(b, v);
    section_evaluation(b, m->doc);
    section_next_item(b, m->doc);
    section_lists(b, v);
    section_segments(b, m->doc);
    section_tuning(b, m->doc);
    section_timings(b, m->doc);
    rc_buf_adds(b, "</body>\n</html>\n");
}

int re_report_render(struct rc_buf *b, const char *dir, const char *compare_dir, char *err)
{
    struct version_stats *v = calloc(compare_dir ? 2 : 1, sizeof(*v));
    if (!v)
        return rc_fail(err, -ENOMEM, "out of memory");
    struct db_change ch[RC_DB_COUNT];
    int rc = version_load(&v[0], dir, err);
    if (!rc && compare_dir)
        rc = version_load(&v[1], compare_dir, err);
    if (!rc && compare_dir)
        rc = compare_walk(&v[1], &v[0], ch, err);
    if (!rc) {
        render_page(b, &v[0], compare_dir ? &v[1] : NULL, ch);
        if (b->overflow)
            rc = rc_fail(err, -ENOMEM, "out of memory formatting the report");
    }
    version_release(&v[0]);
    if (compare_dir)
        version_release(&v[1]);
    free(v);
    return rc;
}

int re_report_output(const struct rc_buf *b, const char *out_path, char *err)
{
    if (!out_path || strcmp(out_path, "-") == 0) {
        if (fwrite(b->data, 1, b->len, stdout) != b->len || fflush(stdout) != 0)
            return rc_fail(err, -EIO, "unable to write the report to standard output");
        return 0;
    }
    int rc = rc_write_file_atomic(out_path, b->data, b->len);
    if (rc)
        return rc_fail(err, rc, "unable to write '%s': %s", out_path, strerror(-rc));
    return 0;
}

int re_report_write(const char *dir, const char *compare_dir, const char *out_path, char *err)
{
    struct rc_buf b;
    rc_buf_init(&b);
    int rc = re_report_render(&b, dir, compare_dir, err);
    if (!rc)
        rc = re_report_output(&b, out_path, err);
    rc_buf_release(&b);
    return rc;
}
