/*
 * stages.c - the files between recbuild's stages (stages.h,
 * schemas/stages.md): the factors as .npy, train.txt, and the shard files.
 */
#include "stages.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "error.h"
#include "file.h"
#include "le.h"
#include "log.h"
#include "manifest.h"

const char *const rb_stage_names[] = {"all", "train", "score", "merge", NULL};

#define TRAIN_FILE "train.txt"
#define TRAIN_MAGIC "edgerec-stage-train 1"
#define FACTORS_USER "factors_user.npy"
#define FACTORS_ITEM "factors_item.npy"
#define SHARD_MAGIC "ERSH"
#define SHARD_VERSION 2
#define SHARD_HEADER 80
#define SHARD_SUMMED 72 /* header bytes under the checksum (before it) */

/* ---- options ---- */

int rb_stage_parse_shard(struct rb_stage_opts *o, const char *arg, char *err)
{
    char *end;
    errno = 0;
    unsigned long i = strtoul(arg, &end, 10);
    if (end == arg || *end != '/' || errno || arg[0] == '-')
        return rc_fail(err, RC_EFORMAT, "--shard '%s': expected I/N, e.g. 0/4", arg);
    const char *ns = end + 1;
    unsigned long n = strtoul(ns, &end, 10);
    if (end == ns || *end || errno || ns[0] == '-')
        return rc_fail(err, RC_EFORMAT, "--shard '%s': expected I/N, e.g. 0/4", arg);
    if (n < 1 || n > RB_SHARDS_MAX || i >= n)
        return rc_fail(err, RC_ERANGE, "--shard '%s': expected 0 <= I < N <= %u", arg, RB_SHARDS_MAX);
    o->shard = (uint32_t)i;
    o->shards = (uint32_t)n;
    o->have_shard = 1;
    return 0;
}

int rb_stage_check(const struct rb_stage_opts *o, char *err)
{
    if (o->stage == RB_STAGE_ALL) {
        if (o->work || o->have_shard || o->shards)
            return rc_fail(err, RC_EFORMAT, "--work, --shard and --shards need --stage train|score|merge");
        return 0;
    }
    const char *name = rb_stage_names[o->stage];
    if (!o->work || !*o->work)
        return rc_fail(err, RC_EFORMAT, "--stage %s needs --work DIR (the folder the stages share)", name);
    if (o->stage == RB_STAGE_SCORE && !o->have_shard)
        return rc_fail(err, RC_EFORMAT, "--stage score needs --shard I/N");
    if (o->stage != RB_STAGE_SCORE && o->have_shard)
        return rc_fail(err, RC_EFORMAT, "--shard is for --stage score only");
    if (o->stage == RB_STAGE_MERGE && !o->shards)
        return rc_fail(err, RC_EFORMAT, "--stage merge needs --shards N (how many shards the score stage wrote)");
    if (o->stage == RB_STAGE_TRAIN && o->shards)
        return rc_fail(err, RC_EFORMAT, "--shards is for --stage merge only");
    return 0;
}

/* ---- paths and the fingerprint ---- */

static int work_path(char *out, size_t cap, const struct rb_stage_opts *o, const char *name, char *err)
{
    if ((size_t)snprintf(out, cap, "%s/%s", o->work, name) >= cap)
        return rc_fail(err, RC_ETOOLONG, "--work path '%s' is too long", o->work);
    return 0;
}

/* The two kinds of shard: the cookies' CF lists and the products' image lists. */
enum shard_kind { SHARD_CF, SHARD_IMAGE };
static const char *const shard_file[] = {"shard", "image"};   /* file name prefix */
static const char *const shard_what[] = {"shard", "image shard"}; /* in messages */

static int shard_path(char *out, size_t cap, const struct rb_stage_opts *o, enum shard_kind kind, uint32_t i,
                      uint32_t n, char *err)
{
    char name[64];
    snprintf(name, sizeof(name), "%s-%u-of-%u.bin", shard_file[kind], i, n);
    return work_path(out, cap, o, name, err);
}

static void hash_csr(XXH3_state_t *h, const struct rb_csr *m)
{
    XXH3_64bits_update(h, &m->rows, sizeof(m->rows));
    XXH3_64bits_update(h, &m->cols, sizeof(m->cols));
    XXH3_64bits_update(h, &m->nnz, sizeof(m->nnz));
    if (m->indptr)
        XXH3_64bits_update(h, m->indptr, sizeof(uint64_t) * ((size_t)m->rows + 1));
    if (m->nnz && m->indices)
        XXH3_64bits_update(h, m->indices, sizeof(uint32_t) * m->nnz);
    if (m->nnz && m->values)
        XXH3_64bits_update(h, m->values, sizeof(float) * m->nnz);
}

/* What must be the same in every stage: the flags (o->flags), the ids
 * (cookies and products, in index order), the catalog's stock and
 * categories, the embeddings and the training matrix. */
static uint64_t fingerprint(const struct rb_stage_opts *o, const struct rb_train *t, const struct rb_dataset *d)
{
    XXH3_state_t *h = XXH3_createState();
    if (!h)
        return 0;
    XXH3_64bits_reset(h);
    XXH3_64bits_update(h, &o->flags, sizeof(o->flags));
    XXH3_64bits_update(h, &d->cookies.n, sizeof(d->cookies.n));
    if (d->cookies.n)
        XXH3_64bits_update(h, d->cookies.keys, sizeof(uint64_t) * d->cookies.n);
    XXH3_64bits_update(h, &d->products.n, sizeof(d->products.n));
    if (d->products.n)
        XXH3_64bits_update(h, d->products.keys, sizeof(uint64_t) * d->products.n);
    if (d->products.n && d->in_stock)
        XXH3_64bits_update(h, d->in_stock, d->products.n);
    if (d->products.n && d->category)
        XXH3_64bits_update(h, d->category, sizeof(uint32_t) * d->products.n);
    XXH3_64bits_update(h, &d->emb_rows, sizeof(d->emb_rows));
    XXH3_64bits_update(h, &d->dim, sizeof(d->dim));
    if (d->emb_rows && d->emb) {
        XXH3_64bits_update(h, d->emb, sizeof(float) * (size_t)d->emb_rows * d->dim);
        XXH3_64bits_update(h, d->emb_product, sizeof(uint32_t) * d->emb_rows);
    }
    hash_csr(h, &t->ui);
    hash_csr(h, &t->bought);
    hash_csr(h, &t->heldout);
    if (t->ui.rows) {
        XXH3_64bits_update(h, t->row_cookie, sizeof(uint32_t) * t->ui.rows);
        XXH3_64bits_update(h, t->row_wants_list, t->ui.rows);
    }
    uint64_t v = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return v;
}

/* What a shard is scored from: the fingerprint and the factors. A shard
 * of other factors (a train stage run again with other parameters) is of
 * another run. */
static uint64_t run_key(const struct rb_stage_opts *o, const struct rb_train *t, const struct rb_dataset *d, const struct rb_als_model *m)
{
    uint64_t fp = fingerprint(o, t, d);
    uint64_t u = m->U ? XXH3_64bits(m->U, sizeof(float) * m->users * (size_t)m->f) : 0;
    uint64_t v = m->V ? XXH3_64bits(m->V, sizeof(float) * m->items * (size_t)m->f) : 0;
    uint64_t k[4] = {fp, u, v, m->f};
    return XXH3_64bits(k, sizeof(k));
}

/* ---- .npy (float32, C order, 2-D) ---- */

static int npy_header(char *hdr, size_t cap, uint32_t rows, uint32_t cols, size_t *len)
{
    char dict[128];
    int dn = snprintf(dict, sizeof(dict), "{'descr': '<f4', 'fortran_order': False, 'shape': (%u, %u), }", rows,
                      cols);
    size_t total = 10 + (size_t)dn + 1; /* magic 6, version 2, header length 2, dict, '\n' */
    size_t padded = (total + 63) / 64 * 64;
    if (padded > cap)
        return RC_EINTERNAL;
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    uint16_t hl = (uint16_t)(padded - 10);
    hdr[8] = (char)(hl & 0xff);
    hdr[9] = (char)(hl >> 8);
    memcpy(hdr + 10, dict, (size_t)dn);
    memset(hdr + 10 + dn, ' ', padded - total);
    hdr[padded - 1] = '\n';
    *len = padded;
    return 0;
}

static int npy_write(const char *path, const float *a, uint32_t rows, uint32_t cols, char *err)
{
    char hdr[256];
    size_t hlen;
    struct rc_file f;
    if (npy_header(hdr, sizeof(hdr), rows, cols, &hlen) != 0)
        return rc_fail(err, RC_EINTERNAL, "npy header of %s does not fit", path);
    int rc = rc_file_open(&f, path, 0, err);
    if (rc)
        return rc;
    if ((rc = rc_file_write(&f, hdr, hlen, err)) != 0 ||
        (rows && cols && (rc = rc_file_write(&f, a, sizeof(float) * rows * (size_t)cols, err)) != 0)) {
        rc_file_abort(&f);
        return rc;
    }
    return rc_file_commit(&f, err);
}

/* The whole file, checked against the header this program writes. */
static int npy_read(const char *path, uint32_t rows, uint32_t cols, float **out, char *err)
{
    char want[256];
    size_t hlen;
    *out = NULL;
    if (npy_header(want, sizeof(want), rows, cols, &hlen) != 0)
        return rc_fail(err, RC_EINTERNAL, "npy header of %s does not fit", path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return rc_fail(err, errno == ENOENT ? RC_ENOTFOUND : -errno, "unable to open '%s': %s", path,
                       strerror(errno));
    char got[256];
    size_t body = sizeof(float) * rows * (size_t)cols;
    float *a = malloc(body + 1);
    int rc = 0;
    if (!a)
        rc = rc_fail(err, -ENOMEM, "out of memory reading '%s'", path);
    else if (fread(got, 1, hlen, f) != hlen || memcmp(got, want, hlen) != 0)
        rc = rc_fail(err, RC_EFORMAT, "'%s' is not the (%u, %u) float32 matrix train.txt names", path, rows, cols);
    else if (fread(a, 1, body, f) != body || fgetc(f) != EOF)
        rc = rc_fail(err, RC_ETRUNC, "'%s' is not %zu bytes of factors after its header", path, body);
    fclose(f);
    if (rc) {
        free(a);
        return rc;
    }
    *out = a;
    return 0;
}

/* ---- train.txt ---- */

static const char *const param_names[] = {"factors",     "reg",         "alpha",           "iterations",
                                          "weight-view", "weight-cart", "weight-purchase", "half-life-days"};

/* parameters.source's values (schemas/manifest.md) */
static int source_valid(const char *s)
{
    static const char *const sources[] = {"defaults", "flags", "params-file", "tuned"};
    for (size_t i = 0; s && i < sizeof(sources) / sizeof(sources[0]); i++)
        if (strcmp(s, sources[i]) == 0)
            return 1;
    return 0;
}

int rb_stage_write_train(const struct rb_stage_opts *o, const struct rb_params *p, const char *source,
                         const struct rb_train *t, const struct rb_dataset *d, const struct rb_als_model *m,
                         char *err)
{
    char path[PATH_MAX], upath[PATH_MAX], ipath[PATH_MAX];
    if (!source_valid(source))
        return rc_fail(err, RC_EINTERNAL, "train.txt: parameter source '%s' unknown", source ? source : "(null)");
    int rc = rc_mkdir_p(o->work);
    if (rc)
        return rc_fail(err, rc, "unable to create --work '%s': %s", o->work, rc_strerror(rc));
    if ((rc = work_path(path, sizeof(path), o, TRAIN_FILE, err)) != 0 ||
        (rc = work_path(upath, sizeof(upath), o, FACTORS_USER, err)) != 0 ||
        (rc = work_path(ipath, sizeof(ipath), o, FACTORS_ITEM, err)) != 0)
        return rc;
    /* A train stage run again invalidates what it wrote before first: a
     * shard of the old factors must not merge with the new ones. */
    if (unlink(path) != 0 && errno != ENOENT)
        return rc_fail(err, -errno, "unable to remove the old '%s': %s", path, strerror(errno));
    if ((rc = npy_write(upath, m->U, m->users, m->f, err)) != 0 ||
        (rc = npy_write(ipath, m->V, m->items, m->f, err)) != 0)
        return rc;
    uint64_t ub, uh, ib, ih;
    if ((rc = rc_file_xxh3(upath, &ub, &uh)) != 0 || (rc = rc_file_xxh3(ipath, &ib, &ih)) != 0)
        return rc_fail(err, rc, "unable to checksum the factors in '%s': %s", o->work, rc_strerror(rc));
    char text[2048];
    int len = snprintf(text, sizeof(text),
                       TRAIN_MAGIC "\n# recbuild --stage train (schemas/stages.md); the later stages read it\n"
                       "fingerprint = %016" PRIx64 "\nusers = %u\nitems = %u\nf = %u\n"
                       FACTORS_USER " = %" PRIu64 " %016" PRIx64 "\n" FACTORS_ITEM " = %" PRIu64 " %016" PRIx64 "\n"
                       "factors = %u\nreg = %.9g\nalpha = %.9g\niterations = %u\nweight-view = %.9g\n"
                       "weight-cart = %.9g\nweight-purchase = %.9g\nhalf-life-days = %.17g\nsource = %s\n",
                       fingerprint(o, t, d), m->users, m->items, m->f, ub, uh, ib, ih, p->als.factors,
                       (double)p->als.reg, (double)p->als.alpha, p->als.iterations,
                       (double)p->train.weight[RB_VIEW], (double)p->train.weight[RB_CART],
                       (double)p->train.weight[RB_PURCHASE], p->train.half_life_days, source);
    if (len < 0 || (size_t)len >= sizeof(text))
        return rc_fail(err, RC_EINTERNAL, "train.txt does not fit");
    if ((rc = rc_write_file_atomic(path, text, (size_t)len)) != 0)
        return rc_fail(err, rc, "unable to write '%s': %s", path, rc_strerror(rc));
    rc_log(RC_LOG_INFO, "stage.train", "work=%s users=%u items=%u f=%u fingerprint=%016" PRIx64, o->work, m->users,
           m->items, m->f, fingerprint(o, t, d));
    return 0;
}

struct train_file {
    uint64_t fingerprint;
    uint32_t users, items, f;
    uint64_t bytes[2], xxh3[2];
    char values[8][64];
    char source[RB_STAGE_SOURCE_MAX];
};

static int read_train(const struct rb_stage_opts *o, struct train_file *tf, char *err)
{
    char path[PATH_MAX];
    int rc = work_path(path, sizeof(path), o, TRAIN_FILE, err);
    if (rc)
        return rc;
    memset(tf, 0, sizeof(*tf));
    FILE *f = fopen(path, "r");
    if (!f)
        return rc_fail(err, errno == ENOENT ? RC_ENOTFOUND : -errno,
                       "'%s' %s: run recbuild --stage train with --work %s first", path,
                       errno == ENOENT ? "does not exist" : strerror(errno), o->work);
    char line[512];
    unsigned seen = 0, lineno = 0;
    while (!rc && fgets(line, sizeof(line), f)) {
        lineno++;
        line[strcspn(line, "\n")] = 0;
        if (lineno == 1) {
            if (strcmp(line, TRAIN_MAGIC) != 0)
                rc = rc_fail(err, RC_EFORMAT, "'%s' is not a train stage file (first line '%s')", path, line);
            continue;
        }
        if (line[0] == '#' || !line[0])
            continue;
        char *eq = strstr(line, " = ");
        if (!eq) {
            rc = rc_fail(err, RC_EFORMAT, "%s:%u: expected 'name = value'", path, lineno);
            break;
        }
        *eq = 0;
        const char *k = line, *v = eq + 3;
        int ok = 1;
        if (strcmp(k, "fingerprint") == 0)
            ok = sscanf(v, "%" SCNx64, &tf->fingerprint) == 1, seen |= 1;
        else if (strcmp(k, "users") == 0)
            ok = sscanf(v, "%u", &tf->users) == 1, seen |= 2;
        else if (strcmp(k, "items") == 0)
            ok = sscanf(v, "%u", &tf->items) == 1, seen |= 4;
        else if (strcmp(k, "f") == 0)
            ok = sscanf(v, "%u", &tf->f) == 1, seen |= 8;
        else if (strcmp(k, FACTORS_USER) == 0)
            ok = sscanf(v, "%" SCNu64 " %" SCNx64, &tf->bytes[0], &tf->xxh3[0]) == 2, seen |= 16;
        else if (strcmp(k, FACTORS_ITEM) == 0)
            ok = sscanf(v, "%" SCNu64 " %" SCNx64, &tf->bytes[1], &tf->xxh3[1]) == 2, seen |= 32;
        else if (strcmp(k, "source") == 0) {
            ok = source_valid(v), seen |= 64u << 8;
            if (ok)
                snprintf(tf->source, sizeof(tf->source), "%s", v);
        } else {
            int found = 0;
            for (int i = 0; i < 8; i++)
                if (strcmp(k, param_names[i]) == 0) {
                    snprintf(tf->values[i], sizeof(tf->values[i]), "%s", v);
                    seen |= 64u << i;
                    found = 1;
                }
            ok = found;
        }
        if (!ok)
            rc = rc_fail(err, RC_EFORMAT, "%s:%u: bad value for '%s'", path, lineno, k);
    }
    fclose(f);
    if (!rc && seen != (64u << 9) - 1)
        rc = rc_fail(err, RC_EFORMAT, "'%s' is incomplete (lines missing); run the train stage again", path);
    return rc;
}

int rb_stage_read_params(const struct rb_stage_opts *o, struct rb_params *p, char source[RB_STAGE_SOURCE_MAX],
                         char *err)
{
    struct train_file tf;
    int rc = read_train(o, &tf, err);
    if (rc)
        return rc;
    memcpy(source, tf.source, RB_STAGE_SOURCE_MAX);
    char *end;
    p->als.factors = (uint32_t)strtoul(tf.values[0], &end, 10);
    p->als.reg = strtof(tf.values[1], &end);
    p->als.alpha = strtof(tf.values[2], &end);
    p->als.iterations = (uint32_t)strtoul(tf.values[3], &end, 10);
    p->train.weight[RB_VIEW] = strtof(tf.values[4], &end);
    p->train.weight[RB_CART] = strtof(tf.values[5], &end);
    p->train.weight[RB_PURCHASE] = strtof(tf.values[6], &end);
    p->train.half_life_days = strtod(tf.values[7], &end);
    return 0;
}

int rb_stage_read_factors(const struct rb_stage_opts *o, const struct rb_train *t, const struct rb_dataset *d,
                          struct rb_als_model *m, char *err)
{
    struct train_file tf;
    int rc = read_train(o, &tf, err);
    if (rc)
        return rc;
    uint64_t fp = fingerprint(o, t, d);
    if (fp != tf.fingerprint)
        return rc_fail(err, RC_EMISMATCH, "the inputs or flags differ from the train stage's in '%s' (fingerprint "
                       "%016" PRIx64 ", train wrote %016" PRIx64 "): give every stage the same inputs and flags",
                       o->work, fp, tf.fingerprint);
    if (tf.users != t->ui.rows || tf.items != t->ui.cols || tf.f == 0)
        return rc_fail(err, RC_EMISMATCH, "'%s/" TRAIN_FILE "' names %u x %u factors for %u x %u training rows",
                       o->work, tf.users, tf.items, t->ui.rows, t->ui.cols);
    const char *names[2] = {FACTORS_USER, FACTORS_ITEM};
    uint32_t rows[2] = {tf.users, tf.items};
    float *a[2] = {NULL, NULL};
    for (int i = 0; i < 2 && !rc; i++) {
        char path[PATH_MAX];
        uint64_t bytes, h;
        if ((rc = work_path(path, sizeof(path), o, names[i], err)) != 0)
            break;
        if ((rc = rc_file_xxh3(path, &bytes, &h)) != 0) {
            rc = rc_fail(err, rc == -ENOENT ? RC_ENOTFOUND : rc, "unable to read '%s': %s", path, rc_strerror(rc));
            break;
        }
        if (bytes != tf.bytes[i] || h != tf.xxh3[i]) {
            rc = rc_fail(err, RC_ECHECKSUM, "'%s' is not the file the train stage wrote (checksum): run the train "
                         "stage again", path);
            break;
        }
        rc = npy_read(path, rows[i], tf.f, &a[i], err);
    }
    if (rc) {
        free(a[0]);
        free(a[1]);
        return rc;
    }
    rb_als_release(m);
    m->users = tf.users;
    m->items = tf.items;
    m->f = tf.f;
    m->U = a[0];
    m->V = a[1];
    return 0;
}

/* ---- shards ---- */

/* Shard i of n: positions [*from, *to) of the rows that get a list. */
static void shard_range(size_t nrows, size_t unit, uint32_t i, uint32_t n, size_t *from, size_t *to)
{
    uint64_t units = (nrows + unit - 1) / unit;
    uint64_t u0 = units * i / n, u1 = units * (i + 1) / n;
    *from = (size_t)(u0 * unit < nrows ? u0 * unit : nrows);
    *to = (size_t)(u1 * unit < nrows ? u1 * unit : nrows);
}

/*
 * A shard file (schemas/stages.md): an 80-byte header, then per list:
 * u64 owner key, u16 length, u8 source, u8 0, then length x (u32 product
 * index, f32 score), all little-endian. Header: "ERSH", u16 version 2,
 * u16 0, u32 shard, u32 shards, u64 run key, u64 from, u64 to, u64 rows
 * (all that get a list), u32 n, u32 unit, u32 method (enum
 * rb_score_method or rb_knn_method, resolved), u32 nlist, u32 nprobe
 * (approximate search; else 0), u32 0, u64 XXH3-64 of the header's first
 * 72 bytes and the body. The image shards (image-I-of-N.bin) are alike.
 */
struct shard_head {
    uint64_t run;
    size_t from, to, rows;
    uint32_t n, unit, method, nlist, nprobe;
};

static int write_shard(const struct rb_stage_opts *o, enum shard_kind kind, const struct shard_head *sh,
                       const struct rb_lists *l, char *path, size_t path_cap, char *err)
{
    size_t body = 0;
    for (size_t li = 0; li < l->n; li++)
        body += 12 + 8 * (size_t)l->len[li];
    unsigned char *buf = malloc(SHARD_HEADER + body);
    if (!buf)
        return rc_fail(err, -ENOMEM, "out of memory for %s %u/%u", shard_what[kind], o->shard, o->shards);
    unsigned char *h = buf, *p = buf + SHARD_HEADER;
    memset(h, 0, SHARD_HEADER);
    memcpy(h, SHARD_MAGIC, 4);
    rc_le_put16(h + 4, SHARD_VERSION);
    rc_le_put32(h + 8, o->shard);
    rc_le_put32(h + 12, o->shards);
    rc_le_put64(h + 16, sh->run);
    rc_le_put64(h + 24, sh->from);
    rc_le_put64(h + 32, sh->to);
    rc_le_put64(h + 40, sh->rows);
    rc_le_put32(h + 48, sh->n);
    rc_le_put32(h + 52, sh->unit);
    rc_le_put32(h + 56, sh->method);
    rc_le_put32(h + 60, sh->nlist);
    rc_le_put32(h + 64, sh->nprobe);
    for (size_t li = 0; li < l->n; li++) {
        rc_le_put64(p, l->owner_key[li]);
        rc_le_put16(p + 8, l->len[li]);
        p[10] = l->source[li];
        p[11] = 0;
        p += 12;
        for (uint16_t j = 0; j < l->len[li]; j++) {
            uint32_t sb;
            memcpy(&sb, &l->scores[li * l->k + j], 4);
            rc_le_put32(p, l->items[li * l->k + j]);
            rc_le_put32(p + 4, sb);
            p += 8;
        }
    }
    int rc = 0;
    XXH3_state_t *hs = XXH3_createState();
    if (!hs) {
        free(buf);
        return rc_fail(err, -ENOMEM, "out of memory for a checksum");
    }
    XXH3_64bits_reset(hs);
    XXH3_64bits_update(hs, buf, SHARD_SUMMED);
    XXH3_64bits_update(hs, buf + SHARD_HEADER, body);
    rc_le_put64(h + SHARD_SUMMED, XXH3_64bits_digest(hs));
    XXH3_freeState(hs);
    if ((rc = rc_mkdir_p(o->work)) != 0)
        rc = rc_fail(err, rc, "unable to create --work '%s': %s", o->work, rc_strerror(rc));
    else if ((rc = shard_path(path, path_cap, o, kind, o->shard, o->shards, err)) == 0 &&
             (rc = rc_write_file_atomic(path, buf, SHARD_HEADER + body)) != 0)
        rc = rc_fail(err, rc, "unable to write '%s': %s", path, rc_strerror(rc));
    if (!rc)
        rc_log(RC_LOG_INFO, kind == SHARD_CF ? "stage.score" : "stage.score_image",
               "shard=%u/%u rows=%zu-%zu of=%zu lists=%zu bytes=%zu path=%s", o->shard, o->shards, sh->from, sh->to,
               sh->rows, l->n, SHARD_HEADER + body, path);
    free(buf);
    return rc;
}

int rb_stage_score(const struct rb_stage_opts *o, const struct rb_als_model *m, const struct rb_train *t,
                   const struct rb_dataset *d, uint32_t n, int exclude_bought, const struct rb_score_opts *so,
                   const char **path_out, char *err)
{
    static char path[PATH_MAX];
    enum rb_score_method method = rb_score_cf_method(so, m, t, d);
    struct shard_head sh = {.rows = rb_score_cf_rows(t), .unit = (uint32_t)rb_score_cf_unit(method), .n = n};
    shard_range(sh.rows, sh.unit, o->shard, o->shards, &sh.from, &sh.to);
    struct rb_lists l;
    struct rb_score_stats st;
    int rc = rb_score_cf_with(&l, &st, m, t, d, n, exclude_bought, so, sh.from, sh.to, err);
    if (rc)
        return rc;
    sh.run = run_key(o, t, d, m);
    sh.method = (uint32_t)st.method;
    sh.nlist = st.nlist;
    sh.nprobe = st.nprobe;
    rc = write_shard(o, SHARD_CF, &sh, &l, path, sizeof(path), err);
    if (!rc)
        *path_out = path;
    rb_lists_release(&l);
    return rc;
}

/* An image shard's run: the fingerprint alone (the lists use no factors). */
static uint64_t image_run_key(const struct rb_stage_opts *o, const struct rb_train *t, const struct rb_dataset *d)
{
    struct rb_als_model none;
    memset(&none, 0, sizeof(none));
    return run_key(o, t, d, &none);
}

int rb_stage_score_image(const struct rb_stage_opts *o, const struct rb_train *t, const struct rb_dataset *d,
                         uint32_t n, const struct rb_knn_opts *ko, char *err)
{
    char path[PATH_MAX];
    uint32_t nq = rb_knn_queries(d);
    if (nq == UINT32_MAX)
        return rc_fail(err, -ENOMEM, "out of memory counting the image queries");
    struct shard_head sh = {.rows = nq, .unit = RB_KNN_BATCH, .n = n};
    shard_range(sh.rows, sh.unit, o->shard, o->shards, &sh.from, &sh.to);
    struct rb_lists l;
    struct rb_knn_stats st;
    int rc = rb_knn_image_range(&l, &st, d, n, ko, (uint32_t)sh.from, (uint32_t)sh.to, err);
    if (rc)
        return rc;
    sh.run = image_run_key(o, t, d);
    sh.method = (uint32_t)st.method;
    sh.nlist = st.nlist;
    sh.nprobe = st.nprobe;
    rc = write_shard(o, SHARD_IMAGE, &sh, &l, path, sizeof(path), err);
    rb_lists_release(&l);
    return rc;
}

/* Shard i's file into buf (malloc'd), checked whole; *len its size. */
static int read_shard(const struct rb_stage_opts *o, enum shard_kind kind, uint32_t i, uint64_t fp, size_t nrows,
                      uint32_t n, size_t unit, unsigned char **buf_out, size_t *len_out, char *err)
{
    char path[PATH_MAX];
    const char *what = shard_what[kind];
    int rc = shard_path(path, sizeof(path), o, kind, i, o->shards, err);
    if (rc)
        return rc;
    *buf_out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return rc_fail(err, RC_ENOTFOUND, "%s %u of %u is missing: '%s' does not exist (run recbuild --stage "
                           "score --shard %u/%u); nothing was published", what, i, o->shards, path, i, o->shards);
        return rc_fail(err, -errno, "unable to open shard '%s': %s", path, strerror(errno));
    }
    struct stat st;
    unsigned char *buf = NULL;
    if (fstat(fd, &st) != 0) {
        rc = rc_fail(err, -errno, "unable to stat shard '%s': %s", path, strerror(errno));
        goto out;
    }
    size_t len = (size_t)st.st_size;
    if (len < SHARD_HEADER) {
        rc = rc_fail(err, RC_ETRUNC, "%s %u of %u is damaged: '%s' is %zu bytes, shorter than its header; run "
                     "its score stage again; nothing was published", what, i, o->shards, path, len);
        goto out;
    }
    if (!(buf = malloc(len))) {
        rc = rc_fail(err, -ENOMEM, "out of memory reading shard '%s'", path);
        goto out;
    }
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = rc_fail(err, r < 0 ? -errno : RC_ETRUNC, "unable to read shard '%s'", path);
            goto out;
        }
        got += (size_t)r;
    }
    if (memcmp(buf, SHARD_MAGIC, 4) != 0 || rc_le_get16(buf + 4) != SHARD_VERSION) {
        rc = rc_fail(err, RC_EFORMAT, "%s %u of %u is damaged: '%s' is not a version %u shard file; nothing was published", what, i, o->shards,
                     path, SHARD_VERSION);
        goto out;
    }
    XXH3_state_t *hs = XXH3_createState();
    if (!hs) {
        rc = rc_fail(err, -ENOMEM, "out of memory for a checksum");
        goto out;
    }
    XXH3_64bits_reset(hs);
    XXH3_64bits_update(hs, buf, SHARD_SUMMED);
    XXH3_64bits_update(hs, buf + SHARD_HEADER, len - SHARD_HEADER);
    uint64_t sum = XXH3_64bits_digest(hs);
    XXH3_freeState(hs);
    if (sum != rc_le_get64(buf + SHARD_SUMMED)) {
        rc = rc_fail(err, RC_ECHECKSUM, "%s %u of %u is damaged: '%s' fails its checksum; run recbuild --stage "
                     "score --shard %u/%u again; nothing was published", what, i, o->shards, path, i, o->shards);
        goto out;
    }
    size_t from, to;
    shard_range(nrows, unit, i, o->shards, &from, &to);
    if (rc_le_get32(buf + 8) != i || rc_le_get32(buf + 12) != o->shards || rc_le_get64(buf + 16) != fp || rc_le_get64(buf + 24) != from ||
        rc_le_get64(buf + 32) != to || rc_le_get64(buf + 40) != nrows || rc_le_get32(buf + 48) != n || rc_le_get32(buf + 52) != unit) {
        rc = rc_fail(err, RC_EMISMATCH, "%s %u of %u ('%s') is of another run: it holds shard %u/%u, rows %" PRIu64
                     "-%" PRIu64 " of %" PRIu64 ", %u entries a list, run %016" PRIx64 "; this merge expects "
                     "rows %zu-%zu of %zu, %u entries, run %016" PRIx64 " (%s; same inputs and flags in every "
                     "stage); nothing was published", what, i, o->shards, path, rc_le_get32(buf + 8),
                     rc_le_get32(buf + 12), rc_le_get64(buf + 24), rc_le_get64(buf + 32), rc_le_get64(buf + 40), rc_le_get32(buf + 48),
                     rc_le_get64(buf + 16), from, to, nrows, n, fp,
                     kind == SHARD_CF ? "the train stage's factors" : "the inputs' fingerprint");
        goto out;
    }
    *buf_out = buf;
    *len_out = len;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return rc;
}

/*
 * Every shard of one kind read and checked, then put side by side into
 * out; method: the scorer they must all have used, or UINT32_MAX (any,
 * the same for all); *nlist, *nprobe: shard 0's, which all must share.
 */
static int merge_kind(const struct rb_stage_opts *o, enum shard_kind kind, uint64_t fp, size_t nrows, uint32_t n,
                      size_t unit, uint32_t *method, uint32_t *nlist, uint32_t *nprobe, const struct rb_dataset *d,
                      struct rb_lists *out, char *err)
{
    const char *what = shard_what[kind];
    unsigned char **bufs = calloc(o->shards, sizeof(*bufs));
    size_t *lens = calloc(o->shards, sizeof(*lens));
    int rc = 0;
    memset(out, 0, sizeof(*out));
    if (!bufs || !lens) {
        rc = rc_fail(err, -ENOMEM, "out of memory for %u shards", o->shards);
        goto out;
    }
    /* Every shard checked before any is used. */
    for (uint32_t i = 0; i < o->shards && !rc; i++)
        rc = read_shard(o, kind, i, fp, nrows, n, unit, &bufs[i], &lens[i], err);
    if (rc)
        goto out;
    /* One scorer for every shard, with one nlist and nprobe (the
     * calibration is of a sample of all the rows, so alike). */
    uint32_t want = *method == UINT32_MAX ? rc_le_get32(bufs[0] + 56) : *method;
    *method = want;
    *nlist = rc_le_get32(bufs[0] + 60);
    *nprobe = rc_le_get32(bufs[0] + 64);
    for (uint32_t i = 0; i < o->shards && !rc; i++)
        if (rc_le_get32(bufs[i] + 56) != want || rc_le_get32(bufs[i] + 60) != *nlist || rc_le_get32(bufs[i] + 64) != *nprobe)
            rc = rc_fail(err, RC_EMISMATCH, "%s %u of %u is of another run: scored with method %u, nlist %u, "
                         "nprobe %u; this merge expects method %u, nlist %u, nprobe %u; nothing was published",
                         what, i, o->shards, rc_le_get32(bufs[i] + 56), rc_le_get32(bufs[i] + 60), rc_le_get32(bufs[i] + 64), want,
                         *nlist, *nprobe);
    if (rc)
        goto out;
    if ((rc = rb_lists_init(out, nrows, n)) != 0) {
        rc = rc_fail(err, rc, "unable to allocate %zu lists of %u", nrows, n);
        goto out;
    }
    out->n = nrows;
    size_t li = 0;
    for (uint32_t i = 0; i < o->shards && !rc; i++) {
        const unsigned char *p = bufs[i] + SHARD_HEADER, *end = bufs[i] + lens[i];
        size_t to = (size_t)rc_le_get64(bufs[i] + 32);
        for (; li < to; li++) {
            uint16_t len = end - p >= 12 ? rc_le_get16(p + 8) : 0;
            if (end - p < 12 || len > n || (size_t)(end - p - 12) < 8 * (size_t)len) {
                rc = rc_fail(err, RC_ETRUNC, "%s %u of %u is damaged: its lists end early or overrun; nothing was "
                             "published", what, i, o->shards);
                break;
            }
            out->owner_key[li] = rc_le_get64(p);
            out->len[li] = len;
            out->source[li] = p[10];
            p += 12;
            for (uint16_t j = 0; j < len; j++, p += 8) {
                uint32_t item = rc_le_get32(p), sb = rc_le_get32(p + 4);
                if (item >= d->products.n) {
                    rc = rc_fail(err, RC_EFORMAT, "%s %u of %u is damaged: product index %u of %u; nothing was "
                                 "published", what, i, o->shards, item, d->products.n);
                    break;
                }
                out->items[li * out->k + j] = item;
                memcpy(&out->scores[li * out->k + j], &sb, 4);
            }
            if (rc)
                break;
        }
        if (!rc && p != end)
            rc = rc_fail(err, RC_EFORMAT, "%s %u of %u is damaged: %td bytes after its last list; nothing was "
                         "published", what, i, o->shards, end - p);
    }
    if (!rc && li != nrows)
        rc = rc_fail(err, RC_EINTERNAL, "the %ss hold %zu of %zu lists", what, li, nrows);
    if (!rc)
        rc_log(RC_LOG_INFO, kind == SHARD_CF ? "stage.merge" : "stage.merge_image", "shards=%u lists=%zu work=%s",
               o->shards, nrows, o->work);
out:
    if (bufs)
        for (uint32_t i = 0; i < o->shards; i++)
            free(bufs[i]);
    free(bufs);
    free(lens);
    if (rc)
        rb_lists_release(out);
    return rc;
}

int rb_stage_merge_shards(const struct rb_stage_opts *o, const struct rb_als_model *m, const struct rb_train *t,
                          const struct rb_dataset *d, uint32_t n, const struct rb_score_opts *so,
                          struct rb_score_stats *stats, struct rb_lists *out, char *err)
{
    enum rb_score_method method = rb_score_cf_method(so, m, t, d);
    uint32_t got = (uint32_t)method;
    memset(stats, 0, sizeof(*stats));
    stats->recall = 1.0;
    stats->method = method;
    return merge_kind(o, SHARD_CF, run_key(o, t, d, m), rb_score_cf_rows(t), n, rb_score_cf_unit(method), &got,
                      &stats->nlist, &stats->nprobe, d, out, err);
}

int rb_stage_merge_image(const struct rb_stage_opts *o, const struct rb_train *t, const struct rb_dataset *d,
                         uint32_t n, const struct rb_knn_opts *ko, struct rb_knn_stats *stats, struct rb_lists *out,
                         char *err)
{
    uint32_t nq = rb_knn_queries(d), method = ko->method == RB_KNN_AUTO ? UINT32_MAX : (uint32_t)ko->method,
             nlist, nprobe;
    if (nq == UINT32_MAX)
        return rc_fail(err, -ENOMEM, "out of memory counting the image queries");
    memset(stats, 0, sizeof(*stats));
    stats->recall = 1.0;
    int rc = merge_kind(o, SHARD_IMAGE, image_run_key(o, t, d), nq, n, RB_KNN_BATCH, &method, &nlist, &nprobe, d, out,
                        err);
    stats->method = (enum rb_knn_method)method;
    stats->nlist = nlist;
    stats->nprobe = nprobe;
    return rc;
}
