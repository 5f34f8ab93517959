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
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
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
