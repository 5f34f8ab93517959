/*
 * cache.h - one cache version's LMDB env: the writer that version.h's
 * writer drives, the reader handle, and the record checks.
 *
 * The env is one file, versions/<v>/data.mdb (MDB_NOSUBDIR), with the named
 * DBs "cookie", "product", "segment", "coview", "cookie_b", "category",
 * "items", "catset" (MDB_INTEGERKEY, 8-byte native-endian XXH3 keys, values
 * as in record.h; catset's as in catset.h) and "meta" (string keys and
 * values: "format" = RC_CACHE_FORMAT, "version" = the version id).
 *
 * Writer: keys of each DB must be put in strictly ascending order (they are
 * appended with MDB_APPEND); an equal key is a hash collision and returns
 * RC_ECOLLISION without writing. Puts are committed in batches; nothing is
 * visible to anyone until rc_cache_writer_finish() has written the compacted
 * data.mdb. The writer is used by one thread.
 *
 * Reader: opened by version.h (rc_version_open) MDB_RDONLY | MDB_NOLOCK |
 * MDB_NOSUBDIR | MDB_NORDAHEAD, which is safe only because a published
 * version is never written again.
 * A reader handle is shared by threads; each thread owns its own MDB_txn
 * (begin once, then mdb_txn_reset / mdb_txn_renew per request).
 */
#ifndef RC_CACHE_H
#define RC_CACHE_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "manifest.h"

#define RC_CACHE_FORMAT "edgerec-cache/2" /* list records of version 2 (record.h) */
#define RC_CACHE_BATCH 65536 /* puts per write transaction */

struct rc_cache_writer {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi[RC_DB_COUNT], meta;
    uint64_t counts[RC_DB_COUNT];
    uint64_t last_key[RC_DB_COUNT];
    uint64_t in_txn;
    char build_path[4096];
    char data_path[4096];
};

/*
 * Sizing a writer's map, record by record. LMDB keeps a value inside its
 * leaf page while the node (8-byte header, 8-byte key, value) fits in half
 * a page less the page header; a larger value takes whole overflow pages
 * (a 4.2 KB value takes two), so sizes are counted per record, not from a
 * total. Leaves written with MDB_APPEND end up full.
 */
struct rc_cache_size {
    uint64_t records;
    uint64_t leaf_bytes;     /* of leaf pages holding values inline */
    uint64_t overflow_pages;
};

/* Count `count` records whose values are value_len bytes each. */
void rc_cache_size_add(struct rc_cache_size *s, uint64_t count, size_t value_len);

/* Map size for what was counted: leaf, branch and overflow pages, the pages
 * each batch commit copies on write, and a quarter to spare; a multiple of
 * the page size. */
size_t rc_cache_size_bytes(const struct rc_cache_size *s);

/*
 * Create a writer that builds dir/build.mdb in a map of mapsize bytes
 * (rc_cache_size_bytes). The whole extent is allocated up front: the
 * writer maps the file (MDB_WRITEMAP), and a page the file system cannot
 * back when first written would kill the process with SIGBUS, so a full disk
 * is reported here instead. Errors: -ENOSPC (with the size in err), other
 * -errno, LMDB codes.
 */
int rc_cache_writer_open(struct rc_cache_writer *w, const char *dir, size_t mapsize, char *err);

/*
 * Append (key, value) to db. Errors: RC_ECOLLISION (key equal to the
 * previous one), RC_ERANGE (key smaller than the previous one: a bug in the
 * caller), MDB_MAP_FULL, other LMDB codes.
 */
int rc_cache_writer_put(struct rc_cache_writer *w, enum rc_db db, uint64_t key, const void *val, size_t len,
                        char *err);

/* Store a meta string (key up to 511 bytes). */
int rc_cache_writer_meta(struct rc_cache_writer *w, const char *key, const char *val, char *err);

/*
 * Commit, write the compacted dir/data.mdb, fsync it, and remove the build
 * file. The writer is closed afterwards whether or not this succeeds.
 */
int rc_cache_writer_finish(struct rc_cache_writer *w, char *err);

/* Close and remove the build file; safe after a failed finish or on a
 * half-written writer. */
void rc_cache_writer_abort(struct rc_cache_writer *w);

struct rc_experiment;

struct rc_cache {
    MDB_env *env;
    MDB_dbi dbi[RC_DB_COUNT], meta;
    unsigned absent; /* bit 1 << db: an optional DB (RC_DB_OPTIONAL) the version lacks; it reads as empty
                      * (rc_cache_get: MDB_NOTFOUND; no records to check); its dbi is not valid */
    struct rc_manifest manifest;
    /* The version's experiments.json, parsed and checked by rc_version_check
     * (experiment.h); NULL when the version runs no experiment. Owned:
     * rc_cache_close frees it. Read-only, shared by every thread. */
    struct rc_experiment *experiment;
    char dir[4096];
};

/* A reader's handle is opened, and the version checked, by rc_version_open
 * / rc_version_check (version.h). Closes the env and frees the manifest
 * and the experiment. */
void rc_cache_close(struct rc_cache *c);

/*
 * Check one record of db completely: an 8-byte key; a list record that
 * decodes in full with its checksum (score texts included), whose source
 * belongs to db and whose entries' keys are the hashes of their ids with
 * finite scores, each product once (recedge relies on it: it does not
 * dedupe the entries of one list against each other); an item record
 * whose key is the hash of its id; or (catset) a set record that passes
 * rc_catset_check (catset.h). Adds a list's entries to *entries (may be
 * NULL; a set's keys are not counted). Returns 0 or a negative code with
 * err set.
 */
int rc_cache_check_record(enum rc_db db, const MDB_val *k, const MDB_val *v, uint64_t *entries, char *err);

/* What rc_cache_check_records found, and how it reports. */
struct rc_cache_check {
    int stop_at_bad;                               /* in: stop at the first bad record */
    void (*on_bad)(void *ctx, int code, const char *why); /* in, may be NULL: called for each defect */
    void *ctx;
    uint64_t records[RC_DB_COUNT], entries, bad;   /* out */
};

/*
 * Check every record of every DB of an open version with
 * rc_cache_check_record, and that each DB holds the manifest's count
 * (chk holds the options; its counts are set here). Every defect goes to
 * chk->on_bad: a bad record, a DB whose count differs, an LMDB error
 * (which ends the walk). Returns 0, or the first defect's code with its
 * reason in err.
 */
int rc_cache_check_records(const struct rc_cache *c, struct rc_cache_check *chk, char *err);

/* Look up key in db within txn; *val points into the map (valid until the
 * txn is reset). Returns 0, MDB_NOTFOUND or another LMDB code. */
int rc_cache_get(const struct rc_cache *c, MDB_txn *txn, enum rc_db db, uint64_t key, MDB_val *val);

#endif
