/*
 * mkcache - write a small, deterministic cache version through shared/
 * (rc_cache_writer, rc_manifest_write, rc_layout_publish) for the
 * end-to-end tests of recctl, the rebuild job and the rollout, so they do
 * not depend on recbuild's models.
 *
 *   mkcache --root R [--version V] [--products N] [--cookies N] [--shift K]
 *           [--hr X] [--ndcg X] [--created T] [--bad-record] [--dup-entry] [--flip]
 *
 * Products are "p0".."p<N-1>" in category "c<i%7>"; product p<i> is similar
 * to p<i+1+shift>.. (10 entries, wrapping); cookie "u<j>" gets 10 products
 * starting at p<(3j+shift) % N>; segments are {US,DE} x {mobile,desktop}
 * with every back-off key. --shift changes every list, so two versions
 * differ in a known way. --bad-record stores one product list with a wrong
 * record checksum (the manifest still matches the file): only a record walk
 * finds it. --dup-entry stores one cookie list whose second entry repeats
 * its first (checksum right): only a record walk finds that too. Prints
 * the version id on stdout. Exit 0 ok, 1 failure, 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "error.h"
#include "keys.h"
#include "layout.h"
#include "manifest.h"
#include "record.h"

#define LIST_LEN 10

struct mk_config {
    const char *root, *version;
    long products, cookies, shift;
    double hr, ndcg;
    long long created;
    int bad_record, dup_entry, flip;
};

struct mk_rec {
    uint64_t key;
    unsigned char *val;
    size_t len;
};

static int cmp_rec(const void *a, const void *b)
{
    uint64_t x = ((const struct mk_rec *)a)->key, y = ((const struct mk_rec *)b)->key;
    return x < y ? -1 : x > y;
}

static char ids[4096][16]; /* product ids, "p<i>" */

static struct mk_rec make_list(uint64_t key, enum rc_source src, long start, long step, long n, long count, int dup)
{
    struct rc_entry e[LIST_LEN];
    for (long i = 0; i < count; i++) {
        long p = (start + (dup && i == 1 ? 0 : i) * step) % n; /* dup: entry 1 repeats entry 0 */
        e[i].id = ids[p];
        e[i].id_len = (uint16_t)strlen(ids[p]);
        e[i].key = rc_key(ids[p], e[i].id_len);
        e[i].score = 1.0f - 0.05f * (float)i;
    }
    struct mk_rec r = {key, malloc(rc_list_size(LIST_LEN, LIST_LEN * 16)), 0};
    long len = rc_list_encode(r.val, rc_list_size(LIST_LEN, LIST_LEN * 16), src, e, (size_t)count);
    if (len < 0) {
        fprintf(stderr, "mkcache: encode failed: %s\n", rc_strerror((int)len));
        exit(1);
    }
    r.len = (size_t)len;
    return r;
}

static int put_all(struct rc_cache_writer *w, enum rc_db db, struct mk_rec *r, size_t n, char *err)
{
    qsort(r, n, sizeof(*r), cmp_rec);
    for (size_t i = 0; i < n; i++) {
        int rc = rc_cache_writer_put(w, db, r[i].key, r[i].val, r[i].len, err);
        free(r[i].val);
        if (rc)
            return rc;
    }
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: mkcache --root R [--version V] [--products N] [--cookies N] [--shift K] [--hr X] "
                    "[--ndcg X] [--created T] [--bad-record] [--dup-entry] [--flip]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct mk_config cfg = {.products = 50, .cookies = 20, .hr = 0.3, .ndcg = 0.2, .created = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--bad-record") == 0) {
            cfg.bad_record = 1;
            continue;
        }
        if (strcmp(a, "--dup-entry") == 0) {
            cfg.dup_entry = 1;
            continue;
        }
        if (strcmp(a, "--flip") == 0) {
            cfg.flip = 1;
            continue;
        }
        if (!v)
            return usage();
        i++;
        if (strcmp(a, "--root") == 0)
            cfg.root = v;
        else if (strcmp(a, "--version") == 0)
            cfg.version = v;
        else if (strcmp(a, "--products") == 0)
            cfg.products = strtol(v, NULL, 10);
        else if (strcmp(a, "--cookies") == 0)
            cfg.cookies = strtol(v, NULL, 10);
        else if (strcmp(a, "--shift") == 0)
            cfg.shift = strtol(v, NULL, 10);
        else if (strcmp(a, "--hr") == 0)
            cfg.hr = strtod(v, NULL);
        else if (strcmp(a, "--ndcg") == 0)
            cfg.ndcg = strtod(v, NULL);
        else if (strcmp(a, "--created") == 0)
            cfg.created = strtoll(v, NULL, 10);
        else
            return usage();
    }
    if (!cfg.root || cfg.products < LIST_LEN + 2 || cfg.products > 4096 || cfg.cookies < 0 || cfg.cookies > 100000 ||
        cfg.shift < 0)
        return usage();

    char err[RC_ERRMSG_MAX], version[RC_VERSION_MAX], staging[PATH_MAX];
    time_t now = cfg.created >= 0 ? (time_t)cfg.created : time(NULL);
    if (cfg.version)
        snprintf(version, sizeof(version), "%s", cfg.version);
    else if (rc_layout_new_version(cfg.root, now, version, err))
        goto fail;
    if (rc_layout_staging_create(cfg.root, version, staging, sizeof(staging), err))
        goto fail;

    long np = cfg.products, nc = cfg.cookies;
    for (long i = 0; i < np; i++)
        snprintf(ids[i], sizeof(ids[i]), "p%ld", i);
    struct rc_cache_writer w;
    struct rc_cache_size size = {0}; /* every record here is well under 512 bytes */
    rc_cache_size_add(&size, (uint64_t)(np * 2 + nc + 16), 512);
    if (rc_cache_writer_open(&w, staging, rc_cache_size_bytes(&size), err))
        goto fail;

    size_t cap = (size_t)(np > nc ? np : nc) + 16;
    struct mk_rec *r = calloc(cap, sizeof(*r));
    size_t n = 0;
    /* cookie: u<j> */
    for (long j = 0; j < nc; j++) {
        char id[32];
        snprintf(id, sizeof(id), "u%ld", j);
        r[n++] = make_list(rc_key(id, strlen(id)), RC_SRC_CF, 3 * j + cfg.shift, 1, np, LIST_LEN,
                           cfg.dup_entry && j == nc / 2);
    }
    if (put_all(&w, RC_DB_COOKIE, r, n, err))
        goto fail_writer;
    /* product: p<i> -> p<i+1+shift>, ... */
    n = 0;
    for (long i = 0; i < np; i++) {
        r[n] = make_list(rc_key(ids[i], strlen(ids[i])), RC_SRC_IMAGE, i + 1 + cfg.shift, 1, np, LIST_LEN, 0);
        if (cfg.bad_record && i == np / 2)
            r[n].val[12] ^= 0x5a; /* the record checksum field */
        n++;
    }
    if (put_all(&w, RC_DB_PRODUCT, r, n, err))
        goto fail_writer;
    /* segment: every back-off key of {US,DE} x {mobile,desktop} */
    const char *locs[] = {"US", "DE", "*"}, *devs[] = {"mobile", "desktop", "*"};
    n = 0;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            uint64_t key = rc_segment_key(locs[a], strlen(locs[a]), devs[b], strlen(devs[b]));
            int global = a == 2 && b == 2;
            r[n++] = make_list(key, global ? RC_SRC_GLOBAL : RC_SRC_SEGMENT, a * 5 + b + cfg.shift, 2, np, LIST_LEN, 0);
        }
    if (put_all(&w, RC_DB_SEGMENT, r, n, err))
        goto fail_writer;
    /* items */
    n = 0;
    for (long i = 0; i < np; i++) {
        char cat[16];
        snprintf(cat, sizeof(cat), "c%ld", i % 7);
        r[n].key = rc_key(ids[i], strlen(ids[i]));
        r[n].val = malloc(RC_ITEM_HEADER + 32);
        r[n].len = (size_t)rc_item_encode(r[n].val, RC_ITEM_HEADER + 32, ids[i], strlen(ids[i]), cat, strlen(cat),
                                          i % 5 != 4);
        n++;
    }
    if (put_all(&w, RC_DB_ITEMS, r, n, err))
        goto fail_writer;
    free(r);

    char created[32];
    snprintf(created, sizeof(created), "%lld", (long long)now);
    struct rc_manifest m;
    memset(&m, 0, sizeof(m));
    snprintf(m.version, sizeof(m.version), "%s", version);
    m.created_at = (int64_t)now;
    memcpy(m.counts, w.counts, sizeof(m.counts));
    if (rc_cache_writer_meta(&w, "format", RC_CACHE_FORMAT, err) || rc_cache_writer_meta(&w, "version", version, err) ||
        rc_cache_writer_meta(&w, "created_at", created, err))
        goto fail_writer;
    if (rc_cache_writer_finish(&w, err))
        goto fail;
    if (rc_manifest_add_file(&m, staging, RC_DATA_NAME, err))
        goto fail;
    char extra[256];
    snprintf(extra, sizeof(extra), "\"device\": \"fixture\",\n  \"evaluation\": {\"k\": 10, \"hr\": %.6f, \"ndcg\": %.6f}",
             cfg.hr, cfg.ndcg);
    if (rc_manifest_write(staging, &m, extra, err))
        goto fail;
    if (rc_layout_publish(cfg.root, staging, version, err))
        goto fail;
    if (cfg.flip && rc_layout_flip(cfg.root, version, err))
        goto fail;
    printf("%s\n", version);
    return 0;

fail_writer:
    rc_cache_writer_abort(&w);
fail:
    fprintf(stderr, "mkcache: %s\n", err);
    return 1;
}
