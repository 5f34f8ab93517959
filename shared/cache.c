#include "cache.h"
#include "catset.h"
#include "experiment.h"
#include "error.h"
#include "keys.h"
#include "layout.h"
#include "record.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096u
#define NODE_MAX ((PAGE - 16u) / 2u) /* largest node kept inside a leaf page */

void rc_cache_size_add(struct rc_cache_size *s, uint64_t count, size_t value_len)
{
    s->records += count;
    if (8 + 8 + value_len <= NODE_MAX) {
        s->leaf_bytes += count * (8 + 8 + value_len + 2); /* node, plus its slot in the page index */
    } else {
        s->leaf_bytes += count * (8 + 8 + 8 + 2); /* node holding the overflow page number */
        s->overflow_pages += count * ((16 + value_len + PAGE - 1) / PAGE);
    }
}

size_t rc_cache_size_bytes(const struct rc_cache_size *s)
{
    uint64_t leaves = s->leaf_bytes / (PAGE - 16) + 1;
    uint64_t pages = leaves + leaves / 8 + s->overflow_pages + (s->records / RC_CACHE_BATCH + 1) * 16 + 64;
    pages += pages / 4;
    return (size_t)(pages * PAGE);
}

/* Create every DB (a reader opens them in version.c). */
static int create_dbis(MDB_txn *txn, MDB_dbi *dbi, MDB_dbi *meta)
{
    for (int i = 0; i < RC_DB_COUNT; i++) {
        int rc = mdb_dbi_open(txn, rc_db_names[i], MDB_INTEGERKEY | MDB_CREATE, &dbi[i]);
        if (rc)
            return rc;
    }
    return mdb_dbi_open(txn, "meta", MDB_CREATE, meta);
}

int rc_cache_writer_open(struct rc_cache_writer *w, const char *dir, size_t mapsize, char *err)
{
    memset(w, 0, sizeof(*w));
    snprintf(w->build_path, sizeof(w->build_path), "%s/build.mdb", dir);
    snprintf(w->data_path, sizeof(w->data_path), "%s/%s", dir, "data.mdb");
    int rc = rc_lmdb(mdb_env_create(&w->env));
    if (rc)
        return rc_fail(err, rc, "mdb_env_create: %s", rc_strerror(rc));
    (void)mdb_env_set_maxdbs(w->env, RC_DB_COUNT + 1);
    rc = mdb_env_set_mapsize(w->env, mapsize);
    if (!rc)
        rc = mdb_env_open(w->env, w->build_path,
                          MDB_NOSUBDIR | MDB_WRITEMAP | MDB_NOSYNC | MDB_NOMETASYNC | MDB_NOLOCK, 0644);
    if (!rc) {
        /* MDB_WRITEMAP has grown the file to mapsize, sparse: back it now. */
        mdb_filehandle_t fd;
        rc = mdb_env_get_fd(w->env, &fd);
        int e = rc ? 0 : posix_fallocate(fd, 0, (off_t)mapsize);
        if (e) {
            rc_fail(err, -e, "unable to reserve %zu MiB for '%s': %s", (mapsize >> 20) + 1, w->build_path,
                    strerror(e));
            rc_cache_writer_abort(w);
            return -e;
        }
    }
    if (!rc)
        rc = mdb_txn_begin(w->env, NULL, 0, &w->txn);
    if (!rc)
        rc = create_dbis(w->txn, w->dbi, &w->meta);
    rc = rc_lmdb(rc);
    if (rc) {
        rc_fail(err, rc, "unable to create '%s': %s", w->build_path, rc_strerror(rc));
        rc_cache_writer_abort(w);
        return rc;
    }
    return 0;
}

static int writer_commit_batch(struct rc_cache_writer *w)
{
    int rc = mdb_txn_commit(w->txn);
    w->txn = NULL;
    if (!rc)
        rc = mdb_txn_begin(w->env, NULL, 0, &w->txn);
    w->in_txn = 0;
    return rc;
}

int rc_cache_writer_put(struct rc_cache_writer *w, enum rc_db db, uint64_t key, const void *val, size_t len,
                        char *err)
{
    if (!w->txn)
        return rc_fail(err, RC_EINTERNAL, "cache writer is not open");
    if (w->counts[db]) {
        if (key == w->last_key[db])
            return rc_fail(err, RC_ECOLLISION, "two %s ids share key %016llx", rc_db_names[db],
                           (unsigned long long)key);
        if (key < w->last_key[db])
            return rc_fail(err, RC_ERANGE, "%s keys not in ascending order", rc_db_names[db]);
    }
    MDB_val k = {sizeof(key), &key}, v = {len, (void *)val};
    int rc = rc_lmdb(mdb_put(w->txn, w->dbi[db], &k, &v, MDB_APPEND));
    if (rc)
        return rc_fail(err, rc, "unable to write a %s record: %s", rc_db_names[db], rc_strerror(rc));
    w->last_key[db] = key;
    w->counts[db]++;
    if (++w->in_txn >= RC_CACHE_BATCH && (rc = rc_lmdb(writer_commit_batch(w))) != 0)
        return rc_fail(err, rc, "unable to commit: %s", rc_strerror(rc));
    return 0;
}

int rc_cache_writer_meta(struct rc_cache_writer *w, const char *key, const char *val, char *err)
{
    if (!w->txn)
        return rc_fail(err, RC_EINTERNAL, "cache writer is not open");
    MDB_val k = {strlen(key), (void *)key}, v = {strlen(val), (void *)val};
    int rc = rc_lmdb(mdb_put(w->txn, w->meta, &k, &v, 0));
    if (rc)
        return rc_fail(err, rc, "unable to write meta '%s': %s", key, rc_strerror(rc));
    return 0;
}

int rc_cache_writer_finish(struct rc_cache_writer *w, char *err)
{
    int rc = rc_lmdb(mdb_txn_commit(w->txn));
    w->txn = NULL;
    if (rc) {
        rc_fail(err, rc, "unable to commit '%s': %s", w->build_path, rc_strerror(rc));
        goto fail;
    }
    (void)unlink(w->data_path);
    rc = rc_lmdb(mdb_env_copy2(w->env, w->data_path, MDB_CP_COMPACT));
    if (rc) {
        rc_fail(err, rc, "unable to write '%s': %s", w->data_path, rc_strerror(rc));
        (void)unlink(w->data_path);
        goto fail;
    }
    int fd = open(w->data_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        rc = -errno;
        rc_fail(err, rc, "unable to sync '%s': %s", w->data_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        goto fail;
    }
    close(fd);
fail:
    rc_cache_writer_abort(w);
    return rc;
}

void rc_cache_writer_abort(struct rc_cache_writer *w)
{
    if (w->txn)
        mdb_txn_abort(w->txn);
    w->txn = NULL;
    if (w->env)
        mdb_env_close(w->env);
    w->env = NULL;
    if (w->build_path[0]) {
        char lock[sizeof(w->build_path) + 8];
        (void)unlink(w->build_path);
        snprintf(lock, sizeof(lock), "%s-lock", w->build_path);
        (void)unlink(lock);
    }
}

void rc_cache_close(struct rc_cache *c)
{
    if (c->env)
        mdb_env_close(c->env);
    c->env = NULL;
    rc_manifest_release(&c->manifest);
    rc_experiment_free(c->experiment);
    c->experiment = NULL;
}

int rc_cache_get(const struct rc_cache *c, MDB_txn *txn, enum rc_db db, uint64_t key, MDB_val *val)
{
    if (__builtin_expect(c->absent >> db & 1u, 0))
        return MDB_NOTFOUND;
    MDB_val k = {sizeof(key), &key};
    return rc_lmdb(mdb_get(txn, c->dbi[db], &k, val));
}

/* The list source each DB holds (segment also holds the global list). */
static const uint8_t db_source[RC_DB_COUNT] = {
    [RC_DB_COOKIE] = RC_SRC_CF,         [RC_DB_PRODUCT] = RC_SRC_IMAGE,  [RC_DB_SEGMENT] = RC_SRC_SEGMENT,
    [RC_DB_COVIEW] = RC_SRC_COVIEW,     [RC_DB_COOKIE_B] = RC_SRC_CF,    [RC_DB_CATEGORY] = RC_SRC_CATEGORY,
};

struct seen_entry {
    uint64_t key;
    unsigned index;
};

static int cmp_seen_entry(const void *a, const void *b)
{
    const struct seen_entry *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

int rc_cache_check_record(enum rc_db db, const MDB_val *k, const MDB_val *v, uint64_t *entries, char *err)
{
    char why[RC_ERRMSG_MAX];
    uint64_t key;
    if (k->mv_size != sizeof(key))
        return rc_fail(err, RC_EFORMAT, "%s has a %zu-byte key, keys are 8 bytes", rc_db_names[db], k->mv_size);
    memcpy(&key, k->mv_data, sizeof(key));
    if (db == RC_DB_ITEMS) {
        struct rc_item item;
        int rc = rc_item_decode(&item, v->mv_data, v->mv_size, why);
        if (rc)
            return rc_fail(err, rc, "items record %016" PRIx64 ": %s", key, why);
        if (rc_key(item.id, item.id_len) != key)
            return rc_fail(err, RC_EFORMAT, "items record %016" PRIx64 ": key is not the hash of its id '%.*s'", key,
                           (int)item.id_len, item.id);
        return 0;
    }
    if (db == RC_DB_CATSET) {
        int rc = rc_catset_check(v->mv_data, v->mv_size, why);
        if (rc)
            return rc_fail(err, rc, "catset record %016" PRIx64 ": %s", key, why);
        return 0;
    }
    struct rc_list list;
    int rc = rc_list_open(&list, v->mv_data, v->mv_size, RC_DECODE_VERIFY, why);
    if (rc)
        return rc_fail(err, rc, "%s record %016" PRIx64 ": %s", rc_db_names[db], key, why);
    int source_ok = list.source == db_source[db] || (db == RC_DB_SEGMENT && list.source == RC_SRC_GLOBAL);
    if (!source_ok)
        return rc_fail(err, RC_EFORMAT, "%s record %016" PRIx64 ": source '%s' does not belong in this DB",
                       rc_db_names[db], key, rc_source_name(list.source));
    struct rc_entry e;
    struct seen_entry seen[RC_LIST_MAX];
    unsigned n = 0;
    for (unsigned i = 0; rc_list_next(&list, &e); i++) {
        if (rc_key(e.id, e.id_len) != e.key)
            return rc_fail(err, RC_EFORMAT, "%s record %016" PRIx64 ": entry %u key is not the hash of '%.*s'",
                           rc_db_names[db], key, i, (int)e.id_len, e.id);
        if (!isfinite(e.score))
            return rc_fail(err, RC_EFORMAT, "%s record %016" PRIx64 ": entry %u has a score that is not finite",
                           rc_db_names[db], key, i);
        seen[n++] = (struct seen_entry){e.key, i}; /* count <= RC_LIST_MAX: rc_list_open checked it */
        if (entries)
            (*entries)++;
    }
    qsort(seen, n, sizeof(seen[0]), cmp_seen_entry);
    for (unsigned i = 1; i < n; i++)
        if (seen[i].key == seen[i - 1].key)
            return rc_fail(err, RC_EFORMAT, "%s record %016" PRIx64 ": entry %u repeats the product of entry %u",
                           rc_db_names[db], key, seen[i].index, seen[i - 1].index);
    return 0;
}

/* A defect found by rc_cache_check_records: to the caller's report, and
 * into err when it is the first. */
static void check_report(struct rc_cache_check *chk, int *first, int code, const char *why, char *err)
{
    if (chk->on_bad)
        chk->on_bad(chk->ctx, code, why);
    if (!*first) {
        *first = code;
        rc_fail(err, code, "%s", why);
    }
}

int rc_cache_check_records(const struct rc_cache *c, struct rc_cache_check *chk, char *err)
{
    memset(chk->records, 0, sizeof(chk->records));
    chk->entries = chk->bad = 0;
    char why[RC_ERRMSG_MAX];
    int first = 0;
    MDB_txn *txn;
    int rc = rc_lmdb(mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn));
    if (rc) {
        snprintf(why, sizeof(why), "unable to read the cache: %s", rc_strerror(rc));
        check_report(chk, &first, rc, why, err);
        return rc;
    }
    for (int db = 0; db < RC_DB_COUNT && !(first && chk->stop_at_bad); db++) {
        MDB_cursor *cur;
        int grc = c->absent >> db & 1u ? MDB_NOTFOUND : mdb_cursor_open(txn, c->dbi[db], &cur);
        if (!grc) {
            MDB_val k, v;
            int op = MDB_FIRST;
            while ((grc = mdb_cursor_get(cur, &k, &v, op)) == 0) {
                op = MDB_NEXT;
                chk->records[db]++;
                int r = rc_cache_check_record((enum rc_db)db, &k, &v, &chk->entries, why);
                if (r) {
                    chk->bad++;
                    check_report(chk, &first, r, why, err);
                    if (chk->stop_at_bad)
                        break;
                }
            }
            mdb_cursor_close(cur);
        }
        if (first && chk->stop_at_bad)
            break;
        if (grc != MDB_NOTFOUND) {
            rc = rc_lmdb(grc);
            snprintf(why, sizeof(why), "unable to walk the %s DB: %s", rc_db_names[db], rc_strerror(rc));
            check_report(chk, &first, rc, why, err);
            break;
        }
        if (chk->records[db] != c->manifest.counts[db]) {
            snprintf(why, sizeof(why), "%s: walked %" PRIu64 " records, the manifest says %" PRIu64, rc_db_names[db],
                     chk->records[db], c->manifest.counts[db]);
            check_report(chk, &first, RC_EFORMAT, why, err);
        }
    }
    mdb_txn_abort(txn);
    return first;
}
