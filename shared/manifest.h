/*
 * manifest.h - versions/<id>/manifest.json: what a cache version is, what it
 * was built from, and the checksums that let a reader trust it.
 * The document is specified in schemas/manifest.md.
 *
 * The required fields live in struct rc_manifest. The builder's
 * descriptive sections (inputs, parameters, timings, evaluation, ...) are
 * passed to rc_manifest_write as pre-rendered JSON members and come back
 * from rc_manifest_read as the parsed document `doc` for tools to read.
 *
 * rc_manifest_verify() recomputes every listed file's size and XXH3-64 and
 * refuses a version whose files differ; it never trusts a file that the
 * manifest does not list.
 */
#ifndef RC_MANIFEST_H
#define RC_MANIFEST_H

#include <stdint.h>
#include <time.h>

#include "json.h"

#define RC_MANIFEST_NAME "manifest.json"
#define RC_MANIFEST_FORMAT "edgerec-manifest"
#define RC_MANIFEST_VERSION 1
#define RC_VERSION_MAX 64
#define RC_MANIFEST_FILES_MAX 8

/* The list DBs come first (RC_DB_COOKIE..RC_DB_COVIEW), then items. */
enum rc_db { RC_DB_COOKIE, RC_DB_PRODUCT, RC_DB_SEGMENT, RC_DB_COVIEW, RC_DB_ITEMS, RC_DB_COUNT };

/* "cookie", "product", "segment", "coview", "items": the LMDB names and
 * manifest count keys. "coview" came later within cache format 2: a
 * manifest without counts.coview reads as 0 (rc_manifest_read) and a
 * version without the DB opens with it empty (rc_cache_open). */
#define RC_DB_OPTIONAL(db) ((db) == RC_DB_COVIEW)
extern const char *const rc_db_names[RC_DB_COUNT];

struct rc_manifest_file {
    char name[64];
    uint64_t bytes;
    uint64_t xxh3;
};

struct rc_manifest {
    char version[RC_VERSION_MAX];
    int64_t created_at; /* Unix seconds, UTC */
    uint64_t counts[RC_DB_COUNT];
    struct rc_manifest_file files[RC_MANIFEST_FILES_MAX];
    unsigned nfiles;
    struct rc_json *doc; /* set by rc_manifest_read; owned; NULL otherwise */
};

/*
 * Size and XXH3-64 of the file at path. Returns 0 or -errno.
 */
int rc_file_xxh3(const char *path, uint64_t *bytes, uint64_t *hash);

/*
 * Add dir/name to m->files with its size and checksum.
 * Errors: RC_ERANGE (too many files), -errno.
 */
int rc_manifest_add_file(struct rc_manifest *m, const char *dir, const char *name, char *err);

/*
 * Write dir/manifest.json atomically (temporary file, fsync, rename).
 * `extra` is NULL or a string of JSON members without surrounding braces,
 * e.g. "\"parameters\":{...},\"timings_ms\":{...}", placed after the
 * required members. Returns 0 or -errno.
 */
int rc_manifest_write(const char *dir, const struct rc_manifest *m, const char *extra, char *err);

/*
 * Read and check dir/manifest.json: format name, format version, version id,
 * counts, files. Errors: -errno (unreadable), RC_EMANIFEST (not a manifest
 * or missing a field), RC_EVERSION (a newer format version). On success the
 * caller owns m and calls rc_manifest_release.
 */
int rc_manifest_read(const char *dir, struct rc_manifest *m, char *err);
void rc_manifest_release(struct rc_manifest *m);

/*
 * Check every file listed in m against dir: size and XXH3-64.
 * Errors: RC_ETRUNC (size differs), RC_ECHECKSUM, -errno.
 */
int rc_manifest_verify(const char *dir, const struct rc_manifest *m, char *err);

#endif
