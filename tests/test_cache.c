/*
 * test_cache.c - shared/cache.c: building a version through
 * rc_cache_writer, opening it read-only with verification, looking records
 * up, and refusing versions whose manifest, meta or file disagree.
 *
 * Fixtures are built the way recbuild builds them: sorted XXH3 keys of
 * real ids, list records in cookie/product/segment, item records in items,
 * meta format + version, then manifest.json listing data.mdb. Every failed
 * open is also checked to leave no env, manifest document or file
 * descriptor behind.
 */
#include "cache.h"
#include "catset.h"
#include "error.h"
#include "keys.h"
#include "layout.h"
#include "manifest.h"
#include "record.h"
#include "scratch.h"
#include "version.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[PATH_MAX];

static void setup(void)
{
    scratch_make(dir, sizeof(dir), "test_cache");
}

static void teardown(void)
{
    scratch_remove(dir);
}

/* One record of the fixture: its id, key and encoded value. */
struct rec {
    uint64_t key;
    char id[32];
    unsigned char val[128];
    size_t len;
};

/* Map size for `records` values of at most value_len bytes. */
static size_t test_mapsize_for(uint64_t records, size_t value_len)
{
    struct rc_cache_size size = {0};
    rc_cache_size_add(&size, records, value_len);
    return rc_cache_size_bytes(&size);
}

static int cmp_rec(const void *a, const void *b)
{
    uint64_t x = ((const struct rec *)a)->key, y = ((const struct rec *)b)->key;
    return x < y ? -1 : x > y;
}

#define PER_DB 50
static struct rec recs[RC_DB_COUNT][PER_DB];

/* Records for every DB, sorted by key as the writer needs them. */
static void make_records(void)
{
    static const char *prefix[RC_DB_COUNT] = {
        [RC_DB_COOKIE] = "cookie-", [RC_DB_PRODUCT] = "prod-",   [RC_DB_SEGMENT] = "US\x1f", [RC_DB_COVIEW] = "cov-",
        [RC_DB_COOKIE_B] = "cookieb-", [RC_DB_CATEGORY] = "cat-", [RC_DB_ITEMS] = "sku-",    [RC_DB_CATSET] = "set-"};
    for (int db = 0; db < RC_DB_COUNT; db++) {
        for (int i = 0; i < PER_DB; i++) {
            struct rec *r = &recs[db][i];
            int n = snprintf(r->id, sizeof(r->id), "%s%d", prefix[db], i);
            r->key = rc_key(r->id, (size_t)n);
            long len;
            if (db == RC_DB_ITEMS) {
                len = rc_item_encode(r->val, sizeof(r->val), r->id, (size_t)n, "cat", 3, i % 2);
            } else if (db == RC_DB_CATSET) {
                uint64_t members[2] = {(uint64_t)i, r->key}; /* its own key and another, ascending */
                int two = r->key > (uint64_t)i;
                len = rc_catset_encode(r->val, sizeof(r->val), members + !two, two ? 2 : 1);
            } else {
                struct rc_entry e = {r->key, (float)i, (uint16_t)n, r->id, 0}; /* the list names its own id */
                enum rc_source src = db == RC_DB_COOKIE || db == RC_DB_COOKIE_B ? RC_SRC_CF
                                     : db == RC_DB_PRODUCT ? RC_SRC_IMAGE
                                     : db == RC_DB_COVIEW  ? RC_SRC_COVIEW
                                     : db == RC_DB_CATEGORY ? RC_SRC_CATEGORY
                                                           : RC_SRC_SEGMENT;
                len = rc_list_encode(r->val, sizeof(r->val), src, &e, 1);
            }
            ck_assert_int_gt(len, 0);
            r->len = (size_t)len;
        }
        qsort(recs[db], PER_DB, sizeof(struct rec), cmp_rec);
    }
}

/* Build dir/data.mdb holding `recs` with meta (format, meta_version). */
static void write_env(const char *format, const char *meta_version)
{
    struct rc_cache_writer w;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_msg(rc_cache_writer_open(&w, dir, test_mapsize_for(RC_DB_COUNT * PER_DB, 128), err) == 0, "%s",
                  err);
    for (int db = 0; db < RC_DB_COUNT; db++)
        for (int i = 0; i < PER_DB; i++)
            ck_assert_int_eq(rc_cache_writer_put(&w, (enum rc_db)db, recs[db][i].key, recs[db][i].val,
                                                 recs[db][i].len, err),
                             0);
    if (format)
        ck_assert_int_eq(rc_cache_writer_meta(&w, "format", format, err), 0);
    if (meta_version)
        ck_assert_int_eq(rc_cache_writer_meta(&w, "version", meta_version, err), 0);
    ck_assert_int_eq(rc_cache_writer_meta(&w, "created_at", "1795455000", err), 0);
    ck_assert_msg(rc_cache_writer_finish(&w, err) == 0, "%s", err);
}

/* Write the manifest for dir: version, counts (PER_DB each unless
 * count_delta shifts cookie's), data.mdb listed or not. */
static void write_manifest(const char *version, int count_delta, int list_data)
{
    struct rc_manifest m;
    char err[RC_ERRMSG_MAX];
    memset(&m, 0, sizeof(m));
    snprintf(m.version, sizeof(m.version), "%s", version);
    m.created_at = 1795455000;
    for (int db = 0; db < RC_DB_COUNT; db++)
        m.counts[db] = PER_DB;
    m.counts[RC_DB_COOKIE] = (uint64_t)(PER_DB + count_delta);
    if (list_data) {
        ck_assert_int_eq(rc_manifest_add_file(&m, dir, RC_DATA_NAME, err), 0);
    } else {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/other.bin", dir);
        ck_assert_int_eq(rc_write_file_atomic(path, "x", 1), 0);
        ck_assert_int_eq(rc_manifest_add_file(&m, dir, "other.bin", err), 0);
    }
    ck_assert_int_eq(rc_manifest_write(dir, &m, NULL, err), 0);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* rc_version_open must fail with `want` and leave nothing open. */
static void open_fails(enum rc_verify_level level, int want)
{
    struct rc_cache c;
    char err[RC_ERRMSG_MAX] = "";
    int fds = count_fds();
    int rc = rc_version_open(&c, dir, level, err);
    ck_assert_msg(rc == want, "rc_version_open gave %d (%s), want %d", rc, err, want);
    ck_assert_msg(err[0] != '\0', "no message for %d", rc);
    ck_assert_ptr_null(c.env);
    ck_assert_ptr_null(c.manifest.doc);
    ck_assert_int_eq(count_fds(), fds);
}

static void corrupt_byte(const char *name, long off)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, off, SEEK_SET), 0);
    int c = fgetc(f);
    ck_assert_int_ne(c, EOF);
    ck_assert_int_eq(fseek(f, off, SEEK_SET), 0);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

START_TEST(test_write_open_get)
{
    make_records();
    write_env(RC_CACHE_FORMAT, "v1");
    write_manifest("v1", 0, 1);
    /* Only data.mdb and the manifest remain: the build file is gone. */
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/build.mdb", dir);
    ck_assert_int_ne(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/build.mdb-lock", dir);
    ck_assert_int_ne(access(path, F_OK), 0);

    struct rc_cache c;
    char err[RC_ERRMSG_MAX] = "";
    int fds = count_fds();
    ck_assert_msg(rc_version_open(&c, dir, RC_VERIFY_FILES, err) == 0, "%s", err);
    ck_assert_str_eq(c.manifest.version, "v1");
    ck_assert_ptr_nonnull(c.manifest.doc);
    MDB_txn *txn;
    ck_assert_int_eq(mdb_txn_begin(c.env, NULL, MDB_RDONLY, &txn), 0);
    for (int round = 0; round < 2; round++) {
        for (int db = 0; db < RC_DB_COUNT; db++)
            for (int i = 0; i < PER_DB; i++) {
                MDB_val v;
                ck_assert_int_eq(rc_cache_get(&c, txn, (enum rc_db)db, recs[db][i].key, &v), 0);
                ck_assert_uint_eq(v.mv_size, recs[db][i].len);
                ck_assert_mem_eq(v.mv_data, recs[db][i].val, v.mv_size);
                if (db == RC_DB_ITEMS) {
                    struct rc_item it;
                    ck_assert_int_eq(rc_item_decode(&it, v.mv_data, v.mv_size, NULL), 0);
                    ck_assert_mem_eq(it.id, recs[db][i].id, it.id_len);
                } else if (db == RC_DB_CATSET) {
                    struct rc_catset set;
                    ck_assert_int_eq(rc_catset_check(v.mv_data, v.mv_size, NULL), 0);
                    ck_assert_int_eq(rc_catset_open(&set, v.mv_data, v.mv_size), 0);
                    ck_assert_int_eq(rc_catset_has(&set, recs[db][i].key), 1);
                } else {
                    struct rc_list l;
                    struct rc_entry e;
                    ck_assert_int_eq(rc_list_open(&l, v.mv_data, v.mv_size, RC_DECODE_VERIFY, NULL), 0);
                    ck_assert_int_eq(rc_list_next(&l, &e), 1);
                    ck_assert_mem_eq(e.id, recs[db][i].id, e.id_len);
                }
            }
        /* Keys that are not there, including one DB's key in another. */
        MDB_val v;
        ck_assert_int_eq(rc_cache_get(&c, txn, RC_DB_COOKIE, rc_key("nobody", 6), &v), MDB_NOTFOUND);
        ck_assert_int_eq(rc_cache_get(&c, txn, RC_DB_COOKIE, 0, &v), MDB_NOTFOUND);
        ck_assert_int_eq(rc_cache_get(&c, txn, RC_DB_COOKIE, UINT64_MAX, &v), MDB_NOTFOUND);
        ck_assert_int_eq(rc_cache_get(&c, txn, RC_DB_PRODUCT, recs[RC_DB_COOKIE][0].key, &v), MDB_NOTFOUND);
        ck_assert_int_eq(rc_cache_get(&c, txn, RC_DB_SEGMENT, rc_segment_key("US", 2, "0", 1), &v), 0);
        /* The per-request pattern: reset, renew. */
        mdb_txn_reset(txn);
        ck_assert_int_eq(mdb_txn_renew(txn), 0);
    }
    mdb_txn_abort(txn);
    rc_cache_close(&c);
    ck_assert_ptr_null(c.env);
    ck_assert_ptr_null(c.manifest.doc);
    ck_assert_int_eq(count_fds(), fds);
    /* Opening did not write: the file still verifies, also without VERIFY. */
    ck_assert_int_eq(rc_version_open(&c, dir, RC_VERIFY_FILES, err), 0);
    rc_cache_close(&c);
    ck_assert_int_eq(rc_version_open(&c, dir, RC_VERIFY_OPEN, err), 0);
    rc_cache_close(&c);
}
END_TEST

START_TEST(test_writer_order)
{
    struct rc_cache_writer w;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_int_eq(rc_cache_writer_open(&w, dir, test_mapsize_for(10, 100), err), 0);
    ck_assert_int_eq(rc_cache_writer_put(&w, RC_DB_COOKIE, 100, "a", 1, err), 0);
    /* Equal key: a collision, not written. */
    err[0] = 0;
    ck_assert_int_eq(rc_cache_writer_put(&w, RC_DB_COOKIE, 100, "b", 1, err), RC_ECOLLISION);
    ck_assert_ptr_nonnull(strstr(err, "cookie"));
    /* Smaller key: the caller's bug. */
    ck_assert_int_eq(rc_cache_writer_put(&w, RC_DB_COOKIE, 99, "c", 1, err), RC_ERANGE);
    ck_assert_int_eq(rc_cache_writer_put(&w, RC_DB_COOKIE, 0, "c", 1, err), RC_ERANGE);
    /* Each DB has its own order; key 0 is a valid first key. */
    ck_assert_int_eq(rc_cache_writer_put(&w, RC_DB_PRODUCT, 0, "d", 1, err), 0);
    ck_assert_int_eq(rc_cache_writer_put(&w, RC_DB_PRODUCT, 5, "e", 1, err), 0);
    ck_assert_int_eq(rc_cache_writer_put(&w, RC_DB_COOKIE, 101, "f", 1, err), 0);
    ck_assert_int_eq(rc_cache_writer_put(&w, RC_DB_COOKIE, UINT64_MAX, "g", 1, err), 0);
    ck_assert_int_eq(rc_cache_writer_put(&w, RC_DB_COOKIE, UINT64_MAX, "h", 1, err), RC_ECOLLISION);
    ck_assert_uint_eq(w.counts[RC_DB_COOKIE], 3);
    ck_assert_uint_eq(w.counts[RC_DB_PRODUCT], 2);
    ck_assert_int_eq(rc_cache_writer_meta(&w, "format", RC_CACHE_FORMAT, err), 0);
    ck_assert_int_eq(rc_cache_writer_meta(&w, "version", "v1", err), 0);
    ck_assert_int_eq(rc_cache_writer_finish(&w, err), 0);
    /* A finished writer refuses more work instead of crashing. */
    ck_assert_int_eq(rc_cache_writer_put(&w, RC_DB_COOKIE, UINT64_MAX, "x", 1, err), RC_EINTERNAL);
    ck_assert_int_eq(rc_cache_writer_meta(&w, "k", "v", err), RC_EINTERNAL);
    rc_cache_writer_abort(&w); /* harmless after finish */

    struct rc_manifest m;
    memset(&m, 0, sizeof(m));
    snprintf(m.version, sizeof(m.version), "v1");
    m.counts[RC_DB_COOKIE] = 3;
    m.counts[RC_DB_PRODUCT] = 2;
    ck_assert_int_eq(rc_manifest_add_file(&m, dir, RC_DATA_NAME, err), 0);
    ck_assert_int_eq(rc_manifest_write(dir, &m, NULL, err), 0);
    struct rc_cache c;
    ck_assert_msg(rc_version_open(&c, dir, RC_VERIFY_FILES, err) == 0, "%s", err);
    MDB_txn *txn;
    MDB_val v;
    ck_assert_int_eq(mdb_txn_begin(c.env, NULL, MDB_RDONLY, &txn), 0);
    ck_assert_int_eq(rc_cache_get(&c, txn, RC_DB_COOKIE, 100, &v), 0);
    ck_assert_mem_eq(v.mv_data, "a", 1); /* the first of the colliding pair */
    ck_assert_int_eq(rc_cache_get(&c, txn, RC_DB_COOKIE, 99, &v), MDB_NOTFOUND);
    ck_assert_int_eq(rc_cache_get(&c, txn, RC_DB_COOKIE, UINT64_MAX, &v), 0);
    ck_assert_mem_eq(v.mv_data, "g", 1);
    ck_assert_int_eq(rc_cache_get(&c, txn, RC_DB_PRODUCT, 0, &v), 0);
    ck_assert_mem_eq(v.mv_data, "d", 1);
    mdb_txn_abort(txn);
    rc_cache_close(&c);
}
END_TEST

/* More puts than one write transaction holds: batches commit on the way. */
START_TEST(test_writer_batches)
{
    const uint64_t n = RC_CACHE_BATCH * 2 + 17;
    struct rc_cache_writer w;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_int_eq(rc_cache_writer_open(&w, dir, test_mapsize_for(n, 8), err), 0);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t val = i ^ 0xabcdef;
        ck_assert_int_eq(rc_cache_writer_put(&w, RC_DB_COOKIE, i * 3 + 1, &val, sizeof(val), err), 0);
        ck_assert_uint_lt(w.in_txn, RC_CACHE_BATCH);
    }
    ck_assert_int_eq(rc_cache_writer_meta(&w, "format", RC_CACHE_FORMAT, err), 0);
    ck_assert_int_eq(rc_cache_writer_meta(&w, "version", "big", err), 0);
    ck_assert_int_eq(rc_cache_writer_finish(&w, err), 0);

    struct rc_manifest m;
    memset(&m, 0, sizeof(m));
    snprintf(m.version, sizeof(m.version), "big");
    m.counts[RC_DB_COOKIE] = n;
    ck_assert_int_eq(rc_manifest_add_file(&m, dir, RC_DATA_NAME, err), 0);
    ck_assert_int_eq(rc_manifest_write(dir, &m, NULL, err), 0);
    struct rc_cache c;
    ck_assert_msg(rc_version_open(&c, dir, RC_VERIFY_FILES, err) == 0, "%s", err);
    MDB_txn *txn;
    ck_assert_int_eq(mdb_txn_begin(c.env, NULL, MDB_RDONLY, &txn), 0);
    uint64_t probes[] = {0, 1, RC_CACHE_BATCH - 1, RC_CACHE_BATCH, RC_CACHE_BATCH + 1, 2 * RC_CACHE_BATCH, n - 1};
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        MDB_val v;
        uint64_t want = probes[i] ^ 0xabcdef, got;
        ck_assert_int_eq(rc_cache_get(&c, txn, RC_DB_COOKIE, probes[i] * 3 + 1, &v), 0);
        ck_assert_uint_eq(v.mv_size, 8);
        memcpy(&got, v.mv_data, 8);
        ck_assert_uint_eq(got, want);
        ck_assert_int_eq(rc_cache_get(&c, txn, RC_DB_COOKIE, probes[i] * 3 + 2, &v), MDB_NOTFOUND);
    }
    mdb_txn_abort(txn);
    rc_cache_close(&c);
}
END_TEST

START_TEST(test_writer_abort)
{
    struct rc_cache_writer w;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rc_cache_writer_open(&w, dir, test_mapsize_for(10, 10), err), 0);
    ck_assert_int_eq(rc_cache_writer_put(&w, RC_DB_ITEMS, 1, "x", 1, err), 0);
    rc_cache_writer_abort(&w);
    rc_cache_writer_abort(&w);
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    ck_assert_int_eq(n, 0);
    /* A directory that does not exist. */
    char missing[PATH_MAX];
    snprintf(missing, sizeof(missing), "%s/nope", dir);
    int fds = count_fds();
    ck_assert_int_lt(rc_cache_writer_open(&w, missing, test_mapsize_for(10, 10), err), 0);
    ck_assert_ptr_null(w.env);
    ck_assert_int_eq(count_fds(), fds);
}
END_TEST

START_TEST(test_mapsize)
{
    struct rc_cache_size none = {0}, small = {0}, more = {0}, big = {0};
    rc_cache_size_add(&small, 1000000, 500);
    more = small;
    rc_cache_size_add(&more, 1, 500);
    size_t a = rc_cache_size_bytes(&none), b = rc_cache_size_bytes(&small);
    ck_assert_uint_eq(a % 4096, 0);
    ck_assert_uint_eq(b % 4096, 0);
    ck_assert_uint_gt(b, 500000000 + 1000000 * 16);
    ck_assert_uint_ge(rc_cache_size_bytes(&more), b);
    /* A value too big for a leaf takes whole overflow pages: 1000 values of
     * 4200 bytes need two pages each, not 4200 bytes each. */
    rc_cache_size_add(&big, 1000, 4200);
    ck_assert_uint_eq(big.overflow_pages, 2000);
    ck_assert_uint_ge(rc_cache_size_bytes(&big), 2000u * 4096);
}
END_TEST


START_TEST(test_refuse_counts)
{
    make_records();
    write_env(RC_CACHE_FORMAT, "v1");
    write_manifest("v1", 1, 1);
    open_fails(RC_VERIFY_FILES, RC_EFORMAT);
    open_fails(RC_VERIFY_OPEN, RC_EFORMAT);
    write_manifest("v1", -1, 1);
    open_fails(RC_VERIFY_OPEN, RC_EFORMAT);
}
END_TEST

/* rc_cache_check_records walks every record: a clean version passes with
 * its counts; two bad records (a flipped id byte: the record checksum; a
 * score text that is not its score's) are each reported, the first one's
 * code returned, and stop_at_bad ends the walk at the first. */
static void count_bad(void *ctx, int code, const char *why)
{
    ck_assert_ptr_nonnull(why);
    ck_assert_int_lt(code, 0);
    (*(int *)ctx)++;
}

START_TEST(test_check_records)
{
    make_records();
    write_env(RC_CACHE_FORMAT, "v1");
    write_manifest("v1", 0, 1);
    struct rc_cache c;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_int_eq(rc_version_open(&c, dir, RC_VERIFY_FILES, err), 0);
    int reported = 0;
    struct rc_cache_check chk = {.on_bad = count_bad, .ctx = &reported};
    ck_assert_msg(rc_cache_check_records(&c, &chk, err) == 0, "%s", err);
    for (int db = 0; db < RC_DB_COUNT; db++)
        ck_assert_uint_eq(chk.records[db], PER_DB);
    ck_assert_uint_eq(chk.entries, RC_MANIFEST_LIST_DBS * PER_DB); /* one entry per list; sets count none */
    ck_assert_uint_eq(chk.bad, 0);
    ck_assert_int_eq(reported, 0);
    rc_cache_close(&c);

    struct rec *cookie = &recs[RC_DB_COOKIE][7], *product = &recs[RC_DB_PRODUCT][3];
    cookie->val[RC_LIST_HEADER + RC_ENTRY_FIXED] ^= 0x01; /* its id */
    size_t text = RC_LIST_HEADER + RC_ENTRY_FIXED + product->val[RC_LIST_HEADER + 12];
    product->val[text] = product->val[text] == '9' ? '8' : '9';
    write_env(RC_CACHE_FORMAT, "v1");
    write_manifest("v1", 0, 1);
    ck_assert_int_eq(rc_version_open(&c, dir, RC_VERIFY_FILES, err), 0); /* the files match the manifest */
    ck_assert_int_eq(rc_cache_check_records(&c, &chk, err), RC_ECHECKSUM); /* the cookie DB is walked first */
    ck_assert_msg(strstr(err, "cookie record"), "%s", err);
    ck_assert_uint_eq(chk.bad, 2);
    ck_assert_int_eq(reported, 2);
    ck_assert_uint_eq(chk.records[RC_DB_ITEMS], PER_DB);

    reported = 0;
    chk.stop_at_bad = 1;
    ck_assert_int_eq(rc_cache_check_records(&c, &chk, err), RC_ECHECKSUM);
    ck_assert_uint_eq(chk.bad, 1);
    ck_assert_int_eq(reported, 1);
    ck_assert_uint_eq(chk.records[RC_DB_COOKIE], 8); /* up to the bad one */
    ck_assert_uint_eq(chk.records[RC_DB_PRODUCT], 0);
    rc_cache_close(&c);
}
END_TEST

/* A version written before the coview, cookie_b, category and catset DBs
 * existed (same format, none of them, no counts of them) opens with them
 * empty and checks clean. */
START_TEST(test_open_without_coview)
{
    char err[RC_ERRMSG_MAX] = "";
    make_records();
    write_env(RC_CACHE_FORMAT, "v1");
    /* Drop the DB from the file, as an older recbuild wrote it. */
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, RC_DATA_NAME);
    MDB_env *env;
    MDB_txn *t;
    MDB_dbi dbi;
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, RC_DB_COUNT + 1), 0);
    ck_assert_int_eq(mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOLOCK, 0644), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &t), 0);
    const char *const dropped[] = {"coview", "cookie_b", "category", "catset"};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(mdb_dbi_open(t, dropped[i], 0, &dbi), 0);
        ck_assert_int_eq(mdb_drop(t, dbi, 1), 0);
    }
    ck_assert_int_eq(mdb_txn_commit(t), 0);
    mdb_env_close(env);
    /* The manifest without counts.coview. */
    write_manifest("v1", 0, 1);
    char mpath[PATH_MAX];
    snprintf(mpath, sizeof(mpath), "%s/%s", dir, RC_MANIFEST_NAME);
    FILE *f = fopen(mpath, "r");
    ck_assert_ptr_nonnull(f);
    static char text[65536];
    size_t len = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[len] = 0;
    char *at = strstr(text, "\"coview\": 50, ");
    ck_assert_ptr_nonnull(at);
    memmove(at, at + 14, strlen(at + 14) + 1);
    at = strstr(text, "\"cookie_b\": 50, ");
    ck_assert_ptr_nonnull(at);
    memmove(at, at + 16, strlen(at + 16) + 1);
    at = strstr(text, "\"category\": 50, ");
    ck_assert_ptr_nonnull(at);
    memmove(at, at + 16, strlen(at + 16) + 1);
    at = strstr(text, ", \"catset\": 50");
    ck_assert_ptr_nonnull(at);
    memmove(at, at + 14, strlen(at + 14) + 1);
    ck_assert_int_eq(rc_write_file_atomic(mpath, text, strlen(text)), 0);

    struct rc_cache c;
    ck_assert_msg(rc_version_open(&c, dir, RC_VERIFY_FILES, err) == 0, "%s", err);
    ck_assert_uint_eq(c.absent, 1u << RC_DB_COVIEW | 1u << RC_DB_COOKIE_B | 1u << RC_DB_CATEGORY | 1u << RC_DB_CATSET);
    ck_assert_uint_eq(c.manifest.counts[RC_DB_CATEGORY], 0);
    ck_assert_uint_eq(c.manifest.counts[RC_DB_CATSET], 0);
    ck_assert_uint_eq(c.manifest.counts[RC_DB_COVIEW], 0);
    ck_assert_uint_eq(c.manifest.counts[RC_DB_COOKIE_B], 0);
    ck_assert_uint_eq(c.manifest.counts[RC_DB_PRODUCT], PER_DB);
    struct rc_cache_check chk = {0};
    ck_assert_msg(rc_cache_check_records(&c, &chk, err) == 0, "%s", err);
    ck_assert_uint_eq(chk.records[RC_DB_COVIEW], 0);
    ck_assert_uint_eq(chk.records[RC_DB_COOKIE_B], 0);
    ck_assert_uint_eq(chk.records[RC_DB_ITEMS], PER_DB);
    MDB_val v;
    ck_assert_int_eq(mdb_txn_begin(c.env, NULL, MDB_RDONLY, &t), 0);
    ck_assert_int_eq(rc_cache_get(&c, t, RC_DB_COVIEW, recs[RC_DB_COVIEW][0].key, &v), MDB_NOTFOUND);
    ck_assert_int_eq(rc_cache_get(&c, t, RC_DB_COOKIE_B, recs[RC_DB_COOKIE_B][0].key, &v), MDB_NOTFOUND);
    ck_assert_int_eq(rc_cache_get(&c, t, RC_DB_CATEGORY, recs[RC_DB_CATEGORY][0].key, &v), MDB_NOTFOUND);
    ck_assert_int_eq(rc_cache_get(&c, t, RC_DB_CATSET, recs[RC_DB_CATSET][0].key, &v), MDB_NOTFOUND);
    ck_assert_int_eq(rc_cache_get(&c, t, RC_DB_PRODUCT, recs[RC_DB_PRODUCT][0].key, &v), 0);
    mdb_txn_abort(t);
    rc_cache_close(&c);

    /* A DB that is required is still required. */
    write_env(RC_CACHE_FORMAT, "v1");
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, RC_DB_COUNT + 1), 0);
    ck_assert_int_eq(mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOLOCK, 0644), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &t), 0);
    ck_assert_int_eq(mdb_dbi_open(t, "segment", 0, &dbi), 0);
    ck_assert_int_eq(mdb_drop(t, dbi, 1), 0);
    ck_assert_int_eq(mdb_txn_commit(t), 0);
    mdb_env_close(env);
    write_manifest("v1", 0, 1);
    ck_assert_int_eq(rc_version_open(&c, dir, RC_VERIFY_FILES, err), MDB_NOTFOUND);
}
END_TEST

START_TEST(test_refuse_meta)
{
    make_records();
    write_env(RC_CACHE_FORMAT, "v2");
    write_manifest("v1", 0, 1); /* meta says v2 */
    open_fails(RC_VERIFY_FILES, RC_EFORMAT);
    open_fails(RC_VERIFY_OPEN, RC_EFORMAT);
    write_manifest("v2", 0, 1);
    struct rc_cache c;
    ck_assert_int_eq(rc_version_open(&c, dir, RC_VERIFY_FILES, NULL), 0);
    rc_cache_close(&c);
    write_manifest("v", 0, 1); /* a prefix of the meta version */
    open_fails(RC_VERIFY_OPEN, RC_EFORMAT);

    /* another format: the one before (lists without score texts), or a
     * later one; the message names what was found */
    const char *formats[] = {"edgerec-cache/1", "edgerec-cache/3"};
    for (int i = 0; i < 2; i++) {
        write_env(formats[i], "v1");
        write_manifest("v1", 0, 1);
        open_fails(RC_VERIFY_FILES, RC_EFORMAT);
        char err[RC_ERRMSG_MAX] = "";
        ck_assert_int_eq(rc_version_open(&c, dir, RC_VERIFY_OPEN, err), RC_EFORMAT);
        ck_assert_msg(strstr(err, formats[i]) && strstr(err, RC_CACHE_FORMAT), "%s", err);
    }
    write_env(NULL, "v1");
    write_manifest("v1", 0, 1);
    open_fails(RC_VERIFY_FILES, RC_EFORMAT);
    write_env(RC_CACHE_FORMAT, NULL);
    write_manifest("v1", 0, 1);
    open_fails(RC_VERIFY_FILES, RC_EFORMAT);
}
END_TEST

START_TEST(test_refuse_damage)
{
    make_records();
    write_env(RC_CACHE_FORMAT, "v1");
    write_manifest("v1", 0, 1);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, RC_DATA_NAME);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    corrupt_byte(RC_DATA_NAME, (long)st.st_size / 2);
    open_fails(RC_VERIFY_FILES, RC_ECHECKSUM);
    corrupt_byte(RC_DATA_NAME, (long)st.st_size / 2); /* back as it was */
    struct rc_cache c;
    ck_assert_int_eq(rc_version_open(&c, dir, RC_VERIFY_FILES, NULL), 0);
    rc_cache_close(&c);
    ck_assert_int_eq(truncate(path, st.st_size - 4096), 0);
    open_fails(RC_VERIFY_FILES, RC_ETRUNC);
}
END_TEST

/* With RC_VERIFY_FILES, a data.mdb the manifest does not list is refused. */
START_TEST(test_refuse_unlisted)
{
    make_records();
    write_env(RC_CACHE_FORMAT, "v1");
    write_manifest("v1", 0, 0);
    open_fails(RC_VERIFY_FILES, RC_EMANIFEST);
}
END_TEST

START_TEST(test_refuse_missing)
{
    open_fails(RC_VERIFY_OPEN, -ENOENT); /* no manifest */
    make_records();
    write_env(RC_CACHE_FORMAT, "v1");
    write_manifest("v1", 0, 1);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, RC_DATA_NAME);
    ck_assert_int_eq(unlink(path), 0);
    open_fails(RC_VERIFY_OPEN, -ENOENT);
    open_fails(RC_VERIFY_FILES, -ENOENT);
    /* Not an LMDB file at all (not verified: LMDB itself refuses it). */
    ck_assert_int_eq(rc_write_file_atomic(path, "this is not an lmdb file, not at all", 36), 0);
    struct rc_cache c;
    char err[RC_ERRMSG_MAX] = "";
    int fds = count_fds();
    ck_assert_int_ne(rc_version_open(&c, dir, RC_VERIFY_OPEN, err), 0);
    ck_assert_ptr_null(c.env);
    ck_assert_ptr_null(c.manifest.doc);
    ck_assert_int_eq(count_fds(), fds);
}
END_TEST

static Suite *cache_suite(void)
{
    Suite *s = suite_create("cache");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_write_open_get);
    tcase_add_test(tc, test_writer_order);
    tcase_add_test(tc, test_writer_batches);
    tcase_add_test(tc, test_writer_abort);
    tcase_add_test(tc, test_mapsize);
    tcase_add_test(tc, test_refuse_counts);
    tcase_add_test(tc, test_check_records);
    tcase_add_test(tc, test_open_without_coview);
    tcase_add_test(tc, test_refuse_meta);
    tcase_add_test(tc, test_refuse_damage);
    tcase_add_test(tc, test_refuse_unlisted);
    tcase_add_test(tc, test_refuse_missing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cache_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
