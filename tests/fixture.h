/*
 * fixture.h - small cache versions for tests, written through the version
 * writer (shared/version.h) exactly as recbuild writes one: staging
 * directory, data.mdb, manifest.json, the check before publishing, and
 * optionally a flip of `current`.
 *
 *   struct fx *f = fx_new();
 *   fx_list(f, RC_DB_PRODUCT, "p1", 0, (struct fx_entry[]){{"p2", 0, 0.9f}}, 1);
 *   fx_segment(f, "de", "mobile", entries, n);
 *   fx_category(f, "shoes", entries, n);            (the category DB's list)
 *   fx_catset(f, "shoes", (const char *[]){"p1", "p2"}, 2);  (the catset DB's set)
 *   fx_write(f, root, "20260101T000000Z", 1, err);
 *   fx_free(f);
 *
 * Lengths of 0 mean strlen(), so ids with NUL bytes pass an explicit length.
 * Every product id that appears in a list gets an items record unless one
 * was put first (fx_item). f->experiments, when set, becomes the version's
 * experiments.json (rc_version_add_file). Header-only (static functions) so that each
 * tests/test_*.c and tests/mkcache.c use it without extra build rules.
 * Tests only: aborts on out-of-memory.
 */
#ifndef EDGEREC_TESTS_FIXTURE_H
#define EDGEREC_TESTS_FIXTURE_H

#include "cache.h"
#include "catset.h"
#include "error.h"
#include "keys.h"
#include "layout.h"
#include "manifest.h"
#include "record.h"
#include "version.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct fx_entry {
    const char *id;
    size_t len; /* 0: strlen(id) */
    float score;
};

struct fx_record {
    enum rc_db db;
    uint64_t key;
    unsigned char *val;
    size_t len;
};

struct fx {
    struct fx_record *recs;
    size_t n, cap;
    const char *experiments; /* NULL, or the text of the version's experiments.json (borrowed) */
};

static inline struct fx *fx_new(void)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f)
        abort();
    return f;
}

static inline void fx_free(struct fx *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        free(f->recs[i].val);
    free(f->recs);
    free(f);
}

/* Add (or replace) the record of key in db. */
static inline void fx_put(struct fx *f, enum rc_db db, uint64_t key, const void *val, size_t len)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->recs[i].db == db && f->recs[i].key == key) {
            free(f->recs[i].val);
            f->recs[i].val = malloc(len ? len : 1);
            memcpy(f->recs[i].val, val, len);
            f->recs[i].len = len;
            return;
        }
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 64;
        f->recs = realloc(f->recs, f->cap * sizeof(*f->recs));
        if (!f->recs)
            abort();
    }
    struct fx_record *r = &f->recs[f->n++];
    r->db = db;
    r->key = key;
    r->val = malloc(len ? len : 1);
    if (!r->val)
        abort();
    memcpy(r->val, val, len);
    r->len = len;
}

static inline int fx_has(const struct fx *f, enum rc_db db, uint64_t key)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->recs[i].db == db && f->recs[i].key == key)
            return 1;
    return 0;
}

/* A list record under an explicit key with an explicit source byte. */
static inline int fx_list_key(struct fx *f, enum rc_db db, uint64_t key, enum rc_source src,
                              const struct fx_entry *e, size_t n)
{
    struct rc_entry *ents = calloc(n ? n : 1, sizeof(*ents));
    size_t ids = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = e[i].len ? e[i].len : strlen(e[i].id);
        ents[i].id = e[i].id;
        ents[i].id_len = (uint16_t)len;
        ents[i].key = rc_key(e[i].id, len);
        ents[i].score = e[i].score;
        ids += len;
    }
    size_t cap = rc_list_size(n, ids);
    void *buf = malloc(cap);
    long len = rc_list_encode(buf, cap, src, ents, n);
    if (len > 0) {
        fx_put(f, db, key, buf, (size_t)len);
        for (size_t i = 0; i < n; i++) {
            if (fx_has(f, RC_DB_ITEMS, ents[i].key))
                continue;
            unsigned char item[RC_ITEM_HEADER + RC_ID_MAX + 8];
            long il = rc_item_encode(item, sizeof(item), ents[i].id, ents[i].id_len, "cat", 3, 1);
            if (il > 0)
                fx_put(f, RC_DB_ITEMS, ents[i].key, item, (size_t)il);
        }
    }
    free(buf);
    free(ents);
    return len > 0 ? 0 : (int)len;
}

/* The list of a cookie (db RC_DB_COOKIE or RC_DB_COOKIE_B, source cf), a
 * product (RC_DB_PRODUCT, source image; RC_DB_COVIEW, source coview) or a
 * category (RC_DB_CATEGORY, source category). */
static inline int fx_list(struct fx *f, enum rc_db db, const char *id, size_t id_len, const struct fx_entry *e,
                          size_t n)
{
    size_t len = id_len ? id_len : strlen(id);
    enum rc_source src = db == RC_DB_COOKIE || db == RC_DB_COOKIE_B ? RC_SRC_CF
                         : db == RC_DB_COVIEW                        ? RC_SRC_COVIEW
                         : db == RC_DB_CATEGORY                      ? RC_SRC_CATEGORY
                                                                     : RC_SRC_IMAGE;
    return fx_list_key(f, db, rc_key(id, len), src, e, n);
}

/* The list of segment (loc, dev), "*" for any; (*, *) is the global list. */
static inline int fx_segment(struct fx *f, const char *loc, const char *dev, const struct fx_entry *e, size_t n)
{
    int global = strcmp(loc, RC_WILDCARD) == 0 && strcmp(dev, RC_WILDCARD) == 0;
    return fx_list_key(f, RC_DB_SEGMENT, rc_segment_key(loc, strlen(loc), dev, strlen(dev)),
                       global ? RC_SRC_GLOBAL : RC_SRC_SEGMENT, e, n);
}

/* The category DB's list of category name (its most popular products). */
static inline int fx_category(struct fx *f, const char *name, const struct fx_entry *e, size_t n)
{
    return fx_list_key(f, RC_DB_CATEGORY, rc_key(name, strlen(name)), RC_SRC_CATEGORY, e, n);
}

/* The catset DB's set of category name: the products ids[0, n) (any
 * order; a repeat is kept once). Puts no items records. */
static inline int fx_catset(struct fx *f, const char *name, const char *const *ids, size_t n)
{
    uint64_t *keys = calloc(n ? n : 1, sizeof(*keys));
    if (!keys)
        abort();
    for (size_t i = 0; i < n; i++)
        keys[i] = rc_key(ids[i], strlen(ids[i]));
    size_t k = rc_catset_sort(keys, n);
    size_t cap = rc_catset_size(k);
    void *buf = malloc(cap);
    if (!buf)
        abort();
    long len = rc_catset_encode(buf, cap, keys, k);
    if (len > 0)
        fx_put(f, RC_DB_CATSET, rc_key(name, strlen(name)), buf, (size_t)len);
    free(buf);
    free(keys);
    return len > 0 ? 0 : (int)len;
}

/* An items record for id (before the lists that name it, to set its
 * category and stock flag). */
static inline int fx_item(struct fx *f, const char *id, const char *cat, int in_stock)
{
    unsigned char item[RC_ITEM_HEADER + 2 * RC_ID_MAX];
    long len = rc_item_encode(item, sizeof(item), id, strlen(id), cat, strlen(cat), in_stock);
    if (len > 0)
        fx_put(f, RC_DB_ITEMS, rc_key(id, strlen(id)), item, (size_t)len);
    return len > 0 ? 0 : (int)len;
}

static inline int fx_cmp(const void *a, const void *b)
{
    const struct fx_record *x = a, *y = b;
    if (x->db != y->db)
        return x->db < y->db ? -1 : 1;
    return x->key < y->key ? -1 : x->key > y->key;
}

/*
 * Write the records as a version (rc_version_begin .. rc_version_publish,
 * checked at RC_VERIFY_FILES: a fixture may hold bad records on purpose),
 * with info's manifest sections, and point `current` at it when flip. The
 * version id is in vw->version afterwards. Returns 0 or the first error
 * (message in err).
 */
static inline int fx_write_version(struct fx *f, const struct rc_version_opts *opts,
                                   const struct rc_manifest_info *info, int flip, struct rc_version_writer *vw,
                                   char *err)
{
    qsort(f->recs, f->n, sizeof(*f->recs), fx_cmp);
    struct rc_cache_size size = {0};
    for (size_t i = 0; i < f->n; i++)
        rc_cache_size_add(&size, 1, f->recs[i].len);
    int rc = rc_version_begin(vw, opts, err);
    if (!rc)
        rc = rc_version_reserve(vw, rc_cache_size_bytes(&size), err);
    for (size_t i = 0; i < f->n && !rc; i++)
        rc = rc_version_put(vw, f->recs[i].db, f->recs[i].key, f->recs[i].val, f->recs[i].len, err);
    if (!rc)
        rc = rc_version_finish(vw, err);
    if (!rc && f->experiments)
        rc = rc_version_add_file(vw, "experiments.json", f->experiments, strlen(f->experiments), err);
    if (!rc)
        rc = rc_version_commit(vw, info, err);
    if (!rc)
        rc = rc_version_publish(vw, RC_VERIFY_FILES, flip, 0, err);
    rc_version_release(vw);
    return rc;
}

/* fx_write_version under root as `version`, with a manifest saying device "cpu". */
static inline int fx_write(struct fx *f, const char *root, const char *version, int flip, char *err)
{
    struct rc_version_opts opts = {.root = root, .version = version};
    struct rc_manifest_info info = {.device = "cpu"};
    struct rc_version_writer vw;
    return fx_write_version(f, &opts, &info, flip, &vw, err);
}

#endif
