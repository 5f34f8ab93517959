/*
 * catalog.c - catalog.csv into struct rb_dataset (schemas/inputs.md,
 * "Catalog"): product, category and in_stock columns in any order, extra
 * columns ignored; tab-separated when the header holds a tab.
 *
 * Loading a catalog switches the dataset to "catalog mode": from then on a
 * product is recommendable only when the catalog lists it in stock. Products
 * the events named before the catalog was loaded lose their default in-stock
 * flag and are counted in event_products_not_in_catalog. A catalog row is
 * bad (counted in catalog_bad, the first few logged) when it has too few
 * fields or bad quoting, an empty or over-long product id, an over-long
 * category, an in_stock value other than 1/0/true/false/yes/no (any case), or
 * repeats a product already listed (the first row wins).
 *
 * Optional display columns, named in the header: title, url, image_url,
 * price, currency. A value is trimmed of surrounding blanks; empty means
 * absent. One that breaks its rule (below, and schemas/inputs.md) is bad:
 * counted in catalog_bad_values, the first few logged, and dropped, while
 * the row and its other values are kept (a product stays recommendable
 * whatever its title). Kept values are stored as the JSON texts of the
 * item record (shared/record.h): escaped here, once, so the edge copies
 * bytes.
 *   title      1..RC_TITLE_MAX bytes, any bytes (escaped as JSON)
 *   url,       1..RC_URL_MAX bytes of printable ASCII without space, '"',
 *   image_url  '\', '<' or '>', starting with http://, https:// or '/'
 *   price      digits with an optional '.' and digits; leading zeros are
 *              dropped; at most RC_PRICE_TEXT_MAX bytes then
 *   currency   3 ASCII letters, stored in upper case
 *
 * Optional column created_at: when the product was listed, a timestamp in
 * any form the events' ts column takes (numbers by magnitude, as
 * --ts-unit auto), kept in d->created for exploration's product age
 * (explore.h). Empty means not given; an unreadable one is a bad value
 * like a display value's (counted, logged, dropped, the row kept).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "json.h"
#include "ingest.h"
#include "ingest_int.h"
#include "keys.h"
#include "log.h"

#define CATALOG_LOGGED_BAD 3

static int parse_in_stock(const struct rb_field *f, uint8_t *out)
{
    static const struct {
        const char *s;
        uint8_t v;
    } words[] = {{"1", 1}, {"0", 0}, {"true", 1}, {"false", 0}, {"yes", 1}, {"no", 0}};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strlen(words[i].s) == f->len && strncasecmp(words[i].s, f->p, f->len) == 0) {
            *out = words[i].v;
            return 0;
        }
    return -1;
}

static void catalog_bad_value(struct rb_dataset *d, const struct rb_lines *r, const char *column, const char *why,
                              const struct rb_field *v)
{
    if (d->stats.catalog_bad_values++ < CATALOG_LOGGED_BAD)
        rc_log(RC_LOG_WARN, "catalog_bad_value", "file=\"%s\" line=%" PRIu64 " column=%s reason=\"%s\" text=\"%.*s\"",
               r->name, r->lineno, column, why, (int)(v->len < 100 ? v->len : 100), v->p);
}

static int url_ok(const struct rb_field *v)
{
    if (v->len > RC_URL_MAX)
        return 0;
    for (size_t i = 0; i < v->len; i++) {
        unsigned char c = (unsigned char)v->p[i];
        if (c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>')
            return 0;
    }
    return (v->len > 7 && strncasecmp(v->p, "http://", 7) == 0) ||
           (v->len > 8 && strncasecmp(v->p, "https://", 8) == 0) || v->p[0] == '/';
}

/* A catalog price (digits, optionally '.' and digits) as its JSON number at
 * out, leading zeros dropped: its length, or 0 with *why set. */
static size_t price_text(const struct rb_field *v, char *out, const char **why)
{
    size_t dot = v->len; /* where the '.' is; len when there is none */
    for (size_t k = 0; k < v->len; k++) {
        if (v->p[k] == '.' && dot == v->len && k > 0 && k + 1 < v->len) {
            dot = k;
        } else if (v->p[k] < '0' || v->p[k] > '9') {
            *why = "price is not a non-negative decimal number";
            return 0;
        }
    }
    size_t i = 0;
    while (i + 1 < dot && v->p[i] == '0')
        i++; /* JSON has no leading zeros */
    if (v->len - i > RC_PRICE_TEXT_MAX) {
        *why = "price longer than 24 bytes";
        return 0;
    }
    memcpy(out, v->p + i, v->len - i);
    return v->len - i;
}

/*
 * The JSON text of display field `field` from the catalog value v (not
 * empty) into out (room for rc_field_text_max(field) bytes): its length,
 * or 0 with *why set when v breaks the field's rule.
 */
static size_t render_field(int field, const struct rb_field *v, char *out, const char **why)
{
    switch (field) {
    case RC_FIELD_TITLE:
        if (v->len > RC_TITLE_MAX) {
            *why = "title longer than 200 bytes";
            return 0;
        }
        return (size_t)(rc_json_str_write(out, v->p, v->len) - out);
    case RC_FIELD_URL:
    case RC_FIELD_IMAGE_URL:
        if (!url_ok(v)) {
            *why = "not an http(s) or '/' url of at most 1000 printable ASCII bytes";
            return 0;
        }
        out[0] = '"';
        memcpy(out + 1, v->p, v->len);
        out[v->len + 1] = '"';
        return v->len + 2;
    case RC_FIELD_PRICE:
        return price_text(v, out, why);
    case RC_FIELD_CURRENCY:
        out[0] = out[4] = '"';
        for (size_t k = 0; k < 3 && v->len == 3; k++) {
            unsigned char c = (unsigned char)v->p[k] & (unsigned char)~0x20; /* upper case */
            if (c < 'A' || c > 'Z')
                break;
            out[k + 1] = (char)c;
            if (k == 2)
                return RC_CURRENCY_TEXT_LEN;
        }
        *why = "currency is not a 3-letter code";
        return 0;
    default: return 0;
    }
}

/* Append room for n more bytes of display text; NULL when out of memory. */
static char *display_text_room(struct rb_dataset *d, size_t n)
{
    if (d->display_text_cap - d->display_text_len < n) {
        size_t cap = d->display_text_cap ? d->display_text_cap * 2 : 64 * 1024;
        while (cap - d->display_text_len < n)
            cap *= 2;
        char *t = realloc(d->display_text, cap);
        if (!t)
            return NULL;
        d->display_text = t;
        d->display_text_cap = cap;
    }
    return d->display_text + d->display_text_len;
}

/* Render the display values of one kept row (product) into d->display. */
static int add_display(struct rb_dataset *d, const struct rb_lines *r, uint32_t product, const struct rb_field *f,
                       const int *fcol)
{
    struct rb_display e = {.product = product, .at = d->display_text_len};
    size_t total = 0;
    for (int k = 0; k < RC_FIELD_COUNT; k++) {
        if (fcol[k] < 0)
            continue;
        struct rb_field v = f[fcol[k]];
        rb_trim(&v);
        if (!v.len)
            continue;
        char *o = display_text_room(d, total + rc_field_text_max(k));
        if (!o)
            return -ENOMEM;
        const char *why = NULL;
        size_t n = render_field(k, &v, o + total, &why);
        if (!n) {
            catalog_bad_value(d, r, rc_field_name(k), why, &v);
            continue;
        }
        e.len[k] = (uint16_t)n;
        total += n;
    }
    if (!total)
        return 0;
    if (d->display_n == d->display_cap) {
        size_t cap = d->display_cap ? d->display_cap * 2 : 1024;
        struct rb_display *t = realloc(d->display, cap * sizeof(*t));
        if (!t)
            return -ENOMEM;
        d->display = t;
        d->display_cap = cap;
    }
    d->display[d->display_n++] = e;
    d->display_text_len += total;
    d->stats.catalog_with_fields++;
    return 0;
}

/* The created_at value of one kept row (product), when it has one. */
static int add_created(struct rb_dataset *d, const struct rb_lines *r, uint32_t product, const struct rb_field *f,
                       int ccol)
{
    if (ccol < 0)
        return 0;
    struct rb_field v = f[ccol];
    rb_trim(&v);
    int64_t ts;
    if (!v.len)
        return 0;
    if (rb_parse_ts(v.p, v.len, RB_TS_AUTO, &ts) != 0) {
        catalog_bad_value(d, r, "created_at", "not a timestamp in a form the events take", &v);
        return 0;
    }
    if (d->created_n == d->created_cap) {
        size_t cap = d->created_cap ? d->created_cap * 2 : 1024;
        struct rb_created *t = realloc(d->created, cap * sizeof(*t));
        if (!t)
            return -ENOMEM;
        d->created = t;
        d->created_cap = cap;
    }
    d->created[d->created_n++] = (struct rb_created){.product = product, .ts = ts};
    return 0;
}

static void catalog_bad(struct rb_dataset *d, const struct rb_lines *r, const char *why, const char *line, size_t len)
{
    if (d->stats.catalog_bad++ < CATALOG_LOGGED_BAD)
        rc_log(RC_LOG_WARN, "catalog_bad_row", "file=\"%s\" line=%" PRIu64 " reason=\"%s\" text=\"%.*s\"", r->name,
               r->lineno, why, (int)(len < 100 ? len : 100), line);
}

int rb_ingest_catalog(struct rb_dataset *d, const char *path, char *err)
{
    static const char *const cols[3] = {"product", "category", "in_stock"};
    struct rb_lines r;
    int rc = rb_lines_open(&r, path, "catalog", NULL, NULL, err);
    if (rc)
        return rc;
    char *scratch = malloc(RB_LINE_MAX + 1);
    struct rb_field *f = malloc(RB_HEADER_FIELDS * sizeof(*f));
    if (!scratch || !f) {
        rc = rc_fail(err, -ENOMEM, "out of memory reading '%s'", r.name);
        goto out;
    }
    const char *line;
    size_t len;
    int too_long;
    do
        rc = rb_lines_next(&r, &line, &len, &too_long, err);
    while (rc == 1 && len == 0 && !too_long);
    if (rc == 0)
        rc = rc_fail(err, RC_EEMPTY, "catalog '%s' is empty (expected a header line)", r.name);
    if (rc <= 0)
        goto out;
    if (too_long) {
        rc = rc_fail(err, RC_EFORMAT, "catalog '%s': header line longer than %d bytes", r.name, RB_LINE_MAX);
        goto out;
    }
    char delim = memchr(line, '\t', len) ? '\t' : ',';
    int csv = delim == ',';
    int nf = rb_split(line, len, delim, csv, f, RB_HEADER_FIELDS, scratch);
    if (nf < 0) {
        rc = rc_fail(err, RC_EFORMAT, "catalog '%s': bad quoting in the header '%.*s'", r.name,
                     (int)(len < 200 ? len : 200), line);
        goto out;
    }
    int col[3], need = 0;
    for (int c = 0; c < 3; c++) {
        col[c] = -1;
        for (int i = 0; i < nf && col[c] < 0; i++) {
            struct rb_field h = f[i];
            rb_trim(&h);
            if (h.len == strlen(cols[c]) && memcmp(h.p, cols[c], h.len) == 0)
                col[c] = i;
        }
        if (col[c] < 0) {
            rc = rc_fail(err, RC_EFORMAT, "catalog '%s' has no column '%s' (header: '%.*s')", r.name, cols[c],
                         (int)(len < 200 ? len : 200), line);
            goto out;
        }
        if (col[c] + 1 > need)
            need = col[c] + 1;
    }
    int fcol[RC_FIELD_COUNT];
    for (int k = 0; k < RC_FIELD_COUNT; k++) {
        fcol[k] = -1;
        const char *name = rc_field_name(k);
        for (int i = 0; i < nf && fcol[k] < 0; i++) {
            struct rb_field h = f[i];
            rb_trim(&h);
            if (h.len == strlen(name) && memcmp(h.p, name, h.len) == 0)
                fcol[k] = i;
        }
        if (fcol[k] + 1 > need)
            need = fcol[k] + 1;
    }
    int ccol = -1; /* created_at */
    for (int i = 0; i < nf && ccol < 0; i++) {
        struct rb_field h = f[i];
        rb_trim(&h);
        if (h.len == strlen("created_at") && memcmp(h.p, "created_at", h.len) == 0)
            ccol = i;
    }
    if (ccol + 1 > need)
        need = ccol + 1;

    if (!d->have_catalog) {
        d->have_catalog = 1;
        /* Products seen in events so far are not recommendable until listed. */
        if (d->products.n)
            memset(d->in_stock, 0, d->products.n);
    }
    uint64_t rows = 0;
    while ((rc = rb_lines_next(&r, &line, &len, &too_long, err)) == 1) {
        if (too_long) {
            catalog_bad(d, &r, "line too long", line, len);
            continue;
        }
        if (len == 0)
            continue;
        nf = rb_split(line, len, delim, csv, f, need, scratch);
        if (nf < 0) {
            catalog_bad(d, &r, "bad quoting", line, len);
            continue;
        }
        if (nf < need) {
            catalog_bad(d, &r, "too few fields", line, len);
            continue;
        }
        const struct rb_field *fp = &f[col[0]], *fc = &f[col[1]], *fs = &f[col[2]];
        uint8_t in_stock;
        if (fp->len == 0 || fp->len > RC_ID_MAX || fc->len > RC_ID_MAX) {
            catalog_bad(d, &r, "empty or over-long id", line, len);
            continue;
        }
        if (parse_in_stock(fs, &in_stock)) {
            catalog_bad(d, &r, "in_stock is not 1/0/true/false/yes/no", line, len);
            continue;
        }
        uint32_t cat = RB_NONE, product;
        if (fc->len) {
            rc = rb_strtab_intern(&d->categories, fc->p, fc->len, &cat);
            if (rc == RC_ECOLLISION) {
                catalog_bad(d, &r, "category key collision", line, len);
                continue;
            }
            if (rc)
                goto fatal;
        }
        rc = rb_product_intern(d, fp->p, fp->len, &product);
        if (rc == RC_ECOLLISION) {
            catalog_bad(d, &r, "product key collision", line, len);
            continue;
        }
        if (rc)
            goto fatal;
        if (d->in_catalog[product]) {
            catalog_bad(d, &r, "duplicate product", line, len);
            continue;
        }
        d->in_catalog[product] = 1;
        d->in_stock[product] = in_stock;
        d->category[product] = cat;
        if ((rc = add_display(d, &r, product, f, fcol)) != 0 || (rc = add_created(d, &r, product, f, ccol)) != 0)
            goto fatal;
        d->stats.catalog_rows++;
        rows++;
    }
    if (rc < 0)
        goto out;
    rc = 0;
    if (rows == 0) {
        rc = rc_fail(err, RC_EEMPTY, "catalog '%s' has no usable product rows (%" PRIu64 " bad)", r.name,
                     d->stats.catalog_bad);
        goto out;
    }
    if (d->stats.catalog_with_fields || d->stats.catalog_bad_values)
        rc_log(RC_LOG_INFO, "catalog_fields", "file=\"%s\" with_fields=%" PRIu64 " bad_values=%" PRIu64, r.name,
               d->stats.catalog_with_fields, d->stats.catalog_bad_values);
    if (d->nevents) {
        /* Events came first: count their products the catalog does not list. */
        uint64_t missing = 0;
        for (uint32_t i = 0; i < d->products.n; i++)
            missing += !d->in_catalog[i];
        d->stats.event_products_not_in_catalog = missing;
    }
    goto out;

fatal:
    rc_fail(err, rc, "'%s' line %" PRIu64 ": %s", r.name, r.lineno, rc_strerror(rc));
out:
    free(f);
    free(scratch);
    rb_lines_close(&r);
    return rc;
}
