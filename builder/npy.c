/*
 * npy.c - image embeddings: an .npy float32 matrix and its id list into
 * rb_dataset.emb (schemas/inputs.md, "Image embeddings").
 *
 * The .npy header is parsed by hand (format 1.0 or 2.0: magic "\x93NUMPY",
 * major, minor, header length, then a Python dict literal with 'descr',
 * 'fortran_order' and 'shape'); anything but '<f4', C order and a 2-D shape
 * with 1 <= dim <= 4096 is refused with a message saying what was expected.
 *
 * Two passes: the ids file first (row -> product index, or "skip" for a
 * product the catalog does not list), then the matrix, read in chunks of
 * rows and copied, L2-normalised, into d->emb only for rows that are kept.
 * Peak memory is the kept matrix plus one 4 MiB chunk.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "ingest.h"
#include "ingest_int.h"
#include "keys.h"

#define NPY_MAX_DIM 4096
#define NPY_MAX_HEADER (1u << 20)

struct npy_info {
    uint64_t rows, dim;
    uint64_t data_off; /* first byte of the matrix */
};

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* A quoted Python string at p: its contents in [*s, *s + *n); returns the end or NULL. */
static const char *py_string(const char *p, const char *end, const char **s, size_t *n)
{
    if (p >= end || (*p != '\'' && *p != '"'))
        return NULL;
    const char *q = memchr(p + 1, *p, (size_t)(end - p - 1));
    if (!q)
        return NULL;
    *s = p + 1;
    *n = (size_t)(q - p - 1);
    return q + 1;
}

/* Parse the header dict; returns 0 or an error message (static text). */
static const char *npy_dict(const char *p, const char *end, struct npy_info *info)
{
    int have_descr = 0, have_order = 0, have_shape = 0;
    p = skip_ws(p, end);
    if (p >= end || *p++ != '{')
        return "header is not a dict";
    for (;;) {
        p = skip_ws(p, end);
        if (p < end && *p == '}')
            break;
        const char *k;
        size_t kl;
        if (!(p = py_string(p, end, &k, &kl)))
            return "bad key in header dict";
        p = skip_ws(p, end);
        if (p >= end || *p++ != ':')
            return "bad header dict";
        p = skip_ws(p, end);
        if (kl == 5 && memcmp(k, "descr", 5) == 0) {
            const char *v;
            size_t vl;
            if (!(p = py_string(p, end, &v, &vl)))
                return "bad 'descr'";
            if (!(vl == 3 && memcmp(v, "<f4", 3) == 0))
                return "dtype is not '<f4' (expected little-endian float32: X.astype('<f4'))";
            have_descr = 1;
        } else if (kl == 13 && memcmp(k, "fortran_order", 13) == 0) {
            if (end - p >= 5 && memcmp(p, "False", 5) == 0) {
                p += 5;
            } else if (end - p >= 4 && memcmp(p, "True", 4) == 0) {
                return "fortran_order is True (expected a C-order matrix: np.ascontiguousarray(X))";
            } else {
                return "bad 'fortran_order'";
            }
            have_order = 1;
        } else if (kl == 5 && memcmp(k, "shape", 5) == 0) {
            if (p >= end || *p++ != '(')
                return "bad 'shape'";
            uint64_t v[3];
            int nv = 0;
            for (;;) {
                p = skip_ws(p, end);
                if (p < end && *p == ')') {
                    p++;
                    break;
                }
                const char *first = p;
                uint64_t x = 0;
                while (p < end && (unsigned)((unsigned char)*p - '0') <= 9u && p - first < 15)
                    x = x * 10 + (uint64_t)(*p++ - '0');
                if (p == first || nv == 3)
                    return "bad 'shape' (expected (rows, dim))";
                v[nv++] = x;
                p = skip_ws(p, end);
                if (p < end && *p == ',')
                    p++;
            }
            if (nv != 2)
                return "shape is not 2-D (expected (rows, dim))";
            info->rows = v[0];
            info->dim = v[1];
            have_shape = 1;
        } else {
            return "unknown key in header dict (expected descr, fortran_order, shape)";
        }
        p = skip_ws(p, end);
        if (p < end && *p == ',')
            p++;
    }
    if (!have_descr || !have_order || !have_shape)
        return "header lacks 'descr', 'fortran_order' or 'shape'";
    return NULL;
}

/* Read exactly n bytes at the current offset; RC_ETRUNC at a short end. */
static int read_full(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n) {
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -errno;
        if (got == 0)
            return RC_ETRUNC;
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

static int npy_header(int fd, const char *path, uint64_t file_size, struct npy_info *info, char *err)
{
    unsigned char pre[12];
    int rc = read_full(fd, pre, 10);
    if (rc == RC_ETRUNC || (rc == 0 && memcmp(pre, "\x93NUMPY", 6) != 0))
        return rc_fail(err, RC_EFORMAT, "'%s' is not a NumPy .npy file (expected magic \\x93NUMPY)", path);
    if (rc)
        return rc_fail(err, rc, "unable to read '%s': %s", path, rc_strerror(rc));
    uint64_t hlen;
    if (pre[6] == 1 && pre[7] == 0) {
        hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8;
        info->data_off = 10 + hlen;
    } else if (pre[6] == 2 && pre[7] == 0) {
        if ((rc = read_full(fd, pre + 10, 2)) != 0)
            return rc_fail(err, RC_ETRUNC, "'%s': truncated .npy header", path);
        hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8 | (uint64_t)pre[10] << 16 | (uint64_t)pre[11] << 24;
        info->data_off = 12 + hlen;
    } else {
        return rc_fail(err, RC_EFORMAT, "'%s': .npy format version %u.%u (expected 1.0 or 2.0)", path, pre[6],
                       pre[7]);
    }
    if (hlen > NPY_MAX_HEADER)
        return rc_fail(err, RC_EFORMAT, "'%s': .npy header of %" PRIu64 " bytes is implausibly long", path, hlen);
    char *h = malloc(hlen ? hlen : 1);
    if (!h)
        return rc_fail(err, -ENOMEM, "out of memory reading '%s'", path);
    rc = read_full(fd, h, hlen);
    if (rc) {
        free(h);
        return rc_fail(err, rc == RC_ETRUNC ? RC_ETRUNC : rc, "'%s': truncated .npy header", path);
    }
    const char *why = npy_dict(h, h + hlen, info);
    free(h);
    if (why)
        return rc_fail(err, RC_EFORMAT, "'%s': %s", path, why);
    if (info->dim < 1 || info->dim > NPY_MAX_DIM)
        return rc_fail(err, RC_EFORMAT, "'%s': dim %" PRIu64 " out of range (expected 1 to %d)", path, info->dim,
                       NPY_MAX_DIM);
    if (info->rows >= RB_NONE)
        return rc_fail(err, RC_EFORMAT, "'%s': %" PRIu64 " rows is too many", path, info->rows);
    uint64_t want = info->data_off + info->rows * info->dim * 4;
    if (file_size < want)
        return rc_fail(err, RC_ETRUNC, "'%s': %" PRIu64 " bytes, shape (%" PRIu64 ", %" PRIu64 ") needs %" PRIu64,
                       path, file_size, info->rows, info->dim, want);
    if (file_size > want)
        return rc_fail(err, RC_EFORMAT,
                       "'%s': %" PRIu64 " bytes after the matrix (shape (%" PRIu64 ", %" PRIu64 ") ends at byte %" PRIu64
                       ")",
                       path, file_size - want, info->rows, info->dim, want);
    return 0;
}

/*
 * Map each id line to a product index, or RB_NONE when the row is to be
 * skipped (product not in the catalog). Blank lines at the end are ignored.
 */
static int read_ids(struct rb_dataset *d, const char *ids_path, const char *npy_path, uint64_t rows, uint32_t *rowprod,
                    char *err)
{
    struct rb_lines r;
    int rc = rb_lines_open(&r, ids_path, "embedding_ids", NULL, NULL, err);
    if (rc)
        return rc;
    uint64_t n = 0, blank_at = 0;
    const char *line;
    size_t len;
    int too_long;
    while ((rc = rb_lines_next(&r, &line, &len, &too_long, err)) == 1) {
        if (len == 0 && !too_long) {
            if (!blank_at)
                blank_at = r.lineno;
            continue;
        }
        if (blank_at || too_long || len > RC_ID_MAX) {
            rc = rc_fail(err, RC_EFORMAT, "ids file '%s' line %" PRIu64 ": empty or over-long id (1 to %d bytes)",
                         r.name, blank_at ? blank_at : r.lineno, RC_ID_MAX);
            goto out;
        }
        if (n < rows) {
            uint32_t p;
            if (d->have_catalog) {
                p = rb_strtab_find(&d->products, line, len);
                if (p != RB_NONE && !d->in_catalog[p])
                    p = RB_NONE;
                if (p == RB_NONE)
                    d->stats.emb_no_catalog++;
            } else {
                rc = rb_product_intern(d, line, len, &p);
                if (rc == RC_ECOLLISION) {
                    p = RB_NONE;
                    d->stats.emb_bad_values++;
                } else if (rc) {
                    rc_fail(err, rc, "ids file '%s' line %" PRIu64 ": %s", r.name, r.lineno, rc_strerror(rc));
                    goto out;
                }
            }
            rowprod[n] = p;
        }
        n++;
    }
    if (rc < 0)
        goto out;
    rc = 0;
    if (n != rows)
        rc = rc_fail(err, RC_EFORMAT, "ids file '%s' has %" PRIu64 " ids but '%s' has %" PRIu64 " rows", r.name, n,
                     npy_path, rows);
out:
    rb_lines_close(&r);
    return rc;
}

int rb_ingest_embeddings(struct rb_dataset *d, const char *npy_path, const char *ids_path, char *err)
{
    struct npy_info info = {0};
    uint32_t *rowprod = NULL;
    uint8_t *seen = NULL;
    float *chunk = NULL;
    int fd = open(npy_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rc_fail(err, -errno, "unable to open '%s': %s", npy_path, strerror(errno));
    struct stat st;
    int rc;
    if (fstat(fd, &st) != 0) {
        rc = rc_fail(err, -errno, "unable to stat '%s': %s", npy_path, strerror(errno));
        goto out;
    }
    if ((rc = npy_header(fd, npy_path, (uint64_t)st.st_size, &info, err)) != 0)
        goto out;
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

    free(d->emb);
    free(d->emb_product);
    d->emb = NULL;
    d->emb_product = NULL;
    d->emb_rows = 0;
    d->dim = (uint32_t)info.dim;

    rowprod = malloc((info.rows ? info.rows : 1) * sizeof(*rowprod));
    if (!rowprod) {
        rc = rc_fail(err, -ENOMEM, "out of memory reading '%s'", ids_path);
        goto out;
    }
    if ((rc = read_ids(d, ids_path, npy_path, info.rows, rowprod, err)) != 0)
        goto out;
    d->stats.emb_rows += info.rows;

    uint64_t candidates = 0;
    for (uint64_t i = 0; i < info.rows; i++)
        candidates += rowprod[i] != RB_NONE;
    size_t dim = (size_t)info.dim;
    size_t chunk_rows = ((size_t)RB_READ_CHUNK / (dim * 4)) ? (size_t)RB_READ_CHUNK / (dim * 4) : 1;
    d->emb = malloc((candidates ? candidates : 1) * dim * sizeof(float));
    d->emb_product = malloc((candidates ? candidates : 1) * sizeof(uint32_t));
    seen = calloc(d->products.n ? d->products.n : 1, 1);
    chunk = malloc(chunk_rows * dim * sizeof(float));
    if (!d->emb || !d->emb_product || !seen || !chunk) {
        rc = rc_fail(err, -ENOMEM, "out of memory for %" PRIu64 " x %zu embeddings", candidates, dim);
        goto out;
    }

    uint32_t kept = 0;
    for (uint64_t row = 0; row < info.rows;) {
        size_t n = info.rows - row < chunk_rows ? (size_t)(info.rows - row) : chunk_rows;
        rc = read_full(fd, chunk, n * dim * sizeof(float));
        if (rc) {
            rc = rc_fail(err, rc, "unable to read '%s': %s", npy_path, rc_strerror(rc));
            goto out;
        }
        for (size_t j = 0; j < n; j++, row++) {
            uint32_t p = rowprod[row];
            if (p == RB_NONE)
                continue;
            float *x = chunk + j * dim;
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
            for (size_t c = 0; c < dim; c++) {
                uint32_t u;
                memcpy(&u, &x[c], 4);
                u = __builtin_bswap32(u);
                memcpy(&x[c], &u, 4);
            }
#endif
            double ss = 0;
            int finite = 1;
            for (size_t c = 0; c < dim; c++) {
                finite &= isfinite(x[c]) != 0;
                ss += (double)x[c] * x[c];
            }
            if (!finite || ss == 0 || !isfinite(ss)) {
                d->stats.emb_bad_values++;
                continue;
            }
            if (seen[p]) {
                d->stats.emb_duplicates++;
                continue;
            }
            seen[p] = 1;
            double inv = 1.0 / sqrt(ss);
            float *out = d->emb + (size_t)kept * dim;
            for (size_t c = 0; c < dim; c++)
                out[c] = (float)(x[c] * inv);
            d->emb_product[kept++] = p;
        }
    }
    d->emb_rows = kept;
    if (kept < candidates && kept) {
        float *e = realloc(d->emb, (size_t)kept * dim * sizeof(float));
        uint32_t *ep = realloc(d->emb_product, (size_t)kept * sizeof(uint32_t));
        if (e)
            d->emb = e;
        if (ep)
            d->emb_product = ep;
    }
    if (d->have_catalog) {
        uint64_t missing = 0;
        for (uint32_t i = 0; i < d->products.n; i++)
            missing += d->in_catalog[i] && !seen[i];
        d->stats.catalog_no_emb = missing;
    }
    rc = 0;
out:
    if (rc) {
        free(d->emb);
        free(d->emb_product);
        d->emb = NULL;
        d->emb_product = NULL;
        d->emb_rows = 0;
        d->dim = 0;
    }
    free(chunk);
    free(seen);
    free(rowprod);
    close(fd);
    return rc;
}
