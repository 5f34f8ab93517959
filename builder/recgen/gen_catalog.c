/*
 * gen_catalog.c - recgen's per-product input files: catalog.csv,
 * emb_ids.txt and emb.npy (contract in gen_files.h).
 */
#include "gen_files.h"
#include "gen_out.h"

#include "error.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Price level per category, e^U(2.5, 6) ~ 12 .. 400, and the category's
 * name with spaces for titles. */
struct catalog_style {
    double *base;
    char (*noun)[CAT_NAME_MAX];
};

static int catalog_style_init(struct catalog_style *cs, const struct model *m, struct rng *r, char *err)
{
    cs->base = malloc(sizeof(*cs->base) * m->K);
    cs->noun = malloc(sizeof(*cs->noun) * m->K);
    if (!cs->base || !cs->noun)
        return rc_fail(err, -ENOMEM, "out of memory for the catalog");
    for (uint32_t k = 0; k < m->K; k++) {
        cs->base[k] = exp(2.5 + 3.5 * rng_unit(r));
        snprintf(cs->noun[k], CAT_NAME_MAX, "%s", m->cat_name[k]);
        for (char *c = cs->noun[k]; *c; c++)
            if (*c == '-')
                *c = ' ';
    }
    return 0;
}

static void catalog_style_release(struct catalog_style *cs)
{
    free(cs->base);
    free(cs->noun);
}

/* One catalog line for product j at p; returns the end. */
static char *catalog_line(char *p, const struct model *m, const struct catalog_style *cs, struct rng *r, uint32_t j)
{
    uint32_t k = m->cat[j];
    uint64_t cents = (uint64_t)llround(cs->base[k] * exp(0.35 * rng_normal(r)) * 100.0);
    if (cents < 99)
        cents = 99;
    cents = cents / 100 * 100 + 99; /* prices end in .99 */
    p = put_mem(p, product_id(m, j), m->pid_len);
    *p++ = ',';
    p = put_str(p, m->cat_name[k]);
    *p++ = ',';
    *p++ = (m->flags[j] & PF_IN_STOCK) ? '1' : '0';
    *p++ = ',';
    p = put_str(p, rb_gen_title_adjectives[rng_below(r, RB_GEN_TITLE_ADJECTIVES)]);
    *p++ = ' ';
    p = put_str(p, cs->noun[k]);
    *p++ = ' ';
    p = put_mem(p, product_id(m, j) + 1, m->pid_len - 1);
    *p++ = ',';
    p = put_u64(p, cents / 100);
    *p++ = '.';
    *p++ = (char)('0' + cents % 100 / 10);
    *p++ = (char)('0' + cents % 10);
    *p++ = '\n';
    return p;
}

int rb_gen_write_catalog(const struct model *m, const char *dir, char *err)
{
    struct rb_gen_out o;
    int rc = rb_gen_out_start(&o, dir, "catalog.csv", "product,category,in_stock,title,price\n", err);
    if (rc)
        return rc;
    struct rng r;
    rng_seed_for(&r, m->cfg->seed, DOMAIN_CATALOG, 0);
    struct catalog_style cs;
    rc = catalog_style_init(&cs, m, &r, err);
    for (uint32_t j = 0; j < m->P && rc == 0; j++) {
        rc = rb_gen_out_room(&o, OUT_LINE_MAX, err);
        if (rc == 0)
            o.len = (size_t)(catalog_line(o.buf + o.len, m, &cs, &r, j) - o.buf);
    }
    catalog_style_release(&cs);
    return rb_gen_out_finish(&o, rc, err);
}

int rb_gen_write_emb_ids(const struct model *m, const char *dir, char *err)
{
    struct rb_gen_out o;
    int rc = rb_gen_out_open(&o, dir, "emb_ids.txt", err);
    for (uint32_t j = 0; j < m->P && rc == 0; j++) {
        rc = rb_gen_out_room(&o, m->pid_len + 1, err);
        if (rc == 0) {
            memcpy(o.buf + o.len, product_id(m, j), m->pid_len);
            o.buf[o.len + m->pid_len] = '\n';
            o.len += m->pid_len + 1;
        }
    }
    return rb_gen_out_finish(&o, rc, err);
}

/* NumPy format 1.0: magic, version, u16 LE header length, then a Python
 * dict literal padded with spaces and a newline so the data starts at a
 * multiple of 64 bytes. Rows are float32 little-endian, C order. */
static int write_npy_header(struct rb_gen_out *o, uint32_t rows, uint32_t cols, char *err)
{
    char header[256];
    int n = snprintf(header + 10, sizeof(header) - 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (%u, %u), }",
                     rows, cols);
    size_t total = 10 + (size_t)n + 1;
    size_t padded = (total + 63) / 64 * 64;
    memcpy(header, "\x93NUMPY\x01\x00", 8);
    header[8] = (char)((padded - 10) & 0xff);
    header[9] = (char)((padded - 10) >> 8);
    memset(header + 10 + n, ' ', padded - total);
    header[padded - 1] = '\n';
    return rb_gen_out_bytes(o, header, padded, err);
}

/* Append row[0, D) as little-endian float32. */
static int write_f32_row(struct rb_gen_out *o, const float *row, uint32_t D, char *err)
{
    int rc = rb_gen_out_room(o, (size_t)D * 4, err);
    if (rc)
        return rc;
    unsigned char *p = (unsigned char *)o->buf + o->len;
    for (uint32_t i = 0; i < D; i++) {
        uint32_t bits;
        memcpy(&bits, &row[i], 4);
        p[4 * i] = (unsigned char)bits;
        p[4 * i + 1] = (unsigned char)(bits >> 8);
        p[4 * i + 2] = (unsigned char)(bits >> 16);
        p[4 * i + 3] = (unsigned char)(bits >> 24);
    }
    o->len += (size_t)D * 4;
    return 0;
}

/* Vectors have norm ~1 per component: common direction (weight 0.3),
 * category centroid (1), cluster offset (0.55), product noise. The
 * centroids are [1 + K + K*Q][D]: common, per category, per (category,
 * cluster). */
int rb_gen_write_emb(const struct model *m, const char *dir, char *err)
{
    uint32_t D = m->cfg->dim, K = m->K, Q = m->Q;
    struct rb_gen_out o;
    int rc = rb_gen_out_open(&o, dir, "emb.npy", err);
    if (rc)
        return rc;
    rc = write_npy_header(&o, m->P, D, err);
    size_t ncent = ((size_t)K * (Q + 1) + 1) * D;
    float *cent = malloc(sizeof(*cent) * ncent);
    float *row = malloc(sizeof(*row) * D);
    if (!cent || !row) {
        free(cent);
        free(row);
        rb_gen_out_discard(&o);
        return rc_fail(err, -ENOMEM, "out of memory for the embedding centroids");
    }
    struct rng r;
    rng_seed_for(&r, m->cfg->seed, DOMAIN_EMB, 0);
    double unit = 1.0 / sqrt((double)D);
    for (size_t i = 0; i < ncent; i++)
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
        rc = write_f32_row(&o, row, D, err);
    }
    free(cent);
    free(row);
    return rb_gen_out_finish(&o, rc, err);
}
