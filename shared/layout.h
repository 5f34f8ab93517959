/*
 * layout.h - the cache root on disk (schemas/cache.md, "Layout").
 *
 *   <root>/versions/<version>/data.mdb       one LMDB file (MDB_NOSUBDIR)
 *   <root>/versions/<version>/manifest.json
 *   <root>/current -> versions/<version>     relative symlink
 *   <root>/.staging/<version>.<pid>/         builds in progress
 *
 * Invariants: a directory appears under versions/ only complete (renamed
 * from .staging in one step, after its files were fsync'ed) and is never
 * written again. `current` changes only by rename(2) of a fresh symlink over
 * it, so a reader sees the old or the new target, never neither.
 * Version ids are 1..63 bytes of [A-Za-z0-9._-], not starting with '.',
 * and sort by time: YYYYMMDDTHHMMSSZ with an optional -N suffix.
 */
#ifndef RC_LAYOUT_H
#define RC_LAYOUT_H

#include <stddef.h>
#include <time.h>

#include "manifest.h"

#define RC_DATA_NAME "data.mdb"

/* 1 if v is a well-formed version id, else 0. */
int rc_version_valid(const char *v);

/* Write data to path through path.tmp.<pid>, fsync, rename, fsync the
 * directory. Returns 0 or -errno; leaves no temporary file behind. */
int rc_write_file_atomic(const char *path, const void *data, size_t len);

/* fsync a directory. 0 or -errno. */
int rc_fsync_dir(const char *dir);

/* mkdir -p root/versions and root/.staging. 0 or -errno. */
int rc_layout_init(const char *root, char *err);

/*
 * A fresh version id for time t that does not exist under root/versions
 * yet (YYYYMMDDTHHMMSSZ, then -2, -3, ... on a clash). 0 or -errno.
 */
int rc_layout_new_version(const char *root, time_t t, char out[RC_VERSION_MAX], char *err);

/*
 * Create root/.staging/<version>.<pid>/ and write its path to out.
 * Removes staging directories left by dead processes first.
 */
int rc_layout_staging_create(const char *root, const char *version, char *out, size_t cap, char *err);

/* Remove staging directories whose owning process is gone. Returns how many were removed, or -errno. */
int rc_layout_clean_staging(const char *root);

/*
 * Publish a complete staging directory as root/versions/<version>: fsync its
 * files and the directory, then rename. Fails with -EEXIST if the version
 * exists. Does not touch `current`.
 */
int rc_layout_publish(const char *root, const char *staging, const char *version, char *err);

/*
 * Point root/current at versions/<version> atomically (symlink to a
 * temporary name, rename over `current`, fsync root). The version must exist.
 * Errors: RC_ENOTFOUND, -errno.
 */
int rc_layout_flip(const char *root, const char *version, char *err);

/* Version `current` points at, into out. RC_ENOTFOUND when there is none. */
int rc_layout_current(const char *root, char out[RC_VERSION_MAX], char *err);

/*
 * Version ids under root/versions, sorted oldest first, as one malloc'ed
 * array of RC_VERSION_MAX-byte slots (*out, free() it). 0 or -errno.
 */
int rc_layout_list(const char *root, char (**out)[RC_VERSION_MAX], size_t *n, char *err);

/*
 * Remove versions beyond the newest `keep`, never the current one.
 * Returns the number removed or a negative code.
 */
int rc_layout_prune(const char *root, size_t keep, char *err);

/* rm -r of one directory tree (no symlinks followed). 0 or -errno. */
int rc_remove_tree(const char *path);

#endif
