/*
 * layout.h - the cache root on disk (schemas/cache.md, "Layout").
 *
 *   <root>/versions/<version>/data.mdb       one LMDB file (MDB_NOSUBDIR)
 *   <root>/versions/<version>/manifest.json
 *   <root>/current -> versions/<version>     relative symlink
 *   <root>/.staging/<version>.<pid>/         builds in progress
 *   <root>/.edgerec-root                     the root marker: "edgerec-root 1\n"
 *
 * A root is edgerec's when it carries the marker (schemas/cache.md,
 * "Layout"); whoever initialises a root (rc_layout_init: recbuild, recctl
 * publish, the fixtures) writes it. Nothing is ever deleted under a root
 * without it, and then only what is provably edgerec's: a version whose
 * manifest names it (rc_version_remove) or a dead build's staging dir
 * holding only the files a writer makes (rc_layout_remove_staging).
 *
 * Invariants: a directory appears under versions/ only complete (renamed
 * from .staging in one step, after its files were fsync'ed) and is never
 * written again. `current` changes only by rename(2) of a fresh symlink over
 * it, so a reader sees the old or the new target, never neither.
 * Version ids are 1..63 bytes of [A-Za-z0-9._-], not starting with '.' or
 * '-' (an id is never mistaken for a path component or an option), and
 * sort by time: YYYYMMDDTHHMMSSZ with an optional -N suffix.
 */
#ifndef RC_LAYOUT_H
#define RC_LAYOUT_H

#include <stddef.h>
#include <time.h>

#include "file.h" /* rc_write_file_atomic, rc_fsync_dir, rc_mkdir_p */
#include "manifest.h"

#define RC_DATA_NAME "data.mdb"
#define RC_ROOT_MARKER ".edgerec-root"
#define RC_ROOT_MAGIC "edgerec-root 1\n"

/* 1 if v is a well-formed version id, else 0. */
int rc_version_valid(const char *v);

/* mkdir -p root/versions and root/.staging, and write the root marker when
 * it is missing. Errors: -errno; RC_EFORMAT when root holds something else
 * under the marker's name. */
int rc_layout_init(const char *root, char *err);

/* 0 when root carries a valid marker, else RC_EFORMAT with a message that
 * says what is missing. */
int rc_layout_check_root(const char *root, char *err);

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

/*
 * Remove staging directories named <version>.<pid> whose process is gone,
 * each with rc_layout_remove_staging. Returns how many were removed: 0 when
 * there is no .staging; RC_EFORMAT when root is not a marked root.
 */
int rc_layout_clean_staging(const char *root, char *err);

/* Remove one staging dir if it holds only what a writer makes (build.mdb,
 * build.mdb-lock, data.mdb, manifest.json, experiments.json and their temporary files; regular
 * files, or symlinks unlinked without being followed). Anything else is
 * left, and so is the directory: -ENOTEMPTY. 0 when removed or absent. */
int rc_layout_remove_staging(const char *dir);

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
 * Remove versions beyond the newest `keep`, never the current one, each
 * with rc_version_remove. Returns the number removed or a negative code:
 * RC_EFORMAT for a root without the marker (nothing removed), the first
 * version that is not provably edgerec's (RC_EMANIFEST, -ENOTEMPTY).
 */
int rc_layout_prune(const char *root, size_t keep, char *err);

/*
 * The same operations for any id-named directory under root (sub, e.g.
 * "overlays") and a link beside it (link, e.g. "overlay"): the functions
 * above are these with "versions" and "current". Ids follow the version id
 * rules. rc_layout_new_id: a fresh id for time t not yet under root/sub.
 * rc_layout_link_flip: root/link -> sub/id by rename(2) of a fresh symlink
 * (RC_ENOTFOUND when root/sub/id is not a directory, -errno).
 * rc_layout_link_read: the id root/link points at (RC_ENOTFOUND when there
 * is no link, RC_EFORMAT when it names no id). rc_layout_list_ids: the
 * ids under root/sub, oldest first, as rc_layout_list.
 */
int rc_layout_new_id(const char *root, const char *sub, time_t t, char out[RC_VERSION_MAX], char *err);
int rc_layout_link_flip(const char *root, const char *link, const char *sub, const char *id, char *err);
int rc_layout_link_read(const char *root, const char *link, char out[RC_VERSION_MAX], char *err);
int rc_layout_list_ids(const char *root, const char *sub, char (**out)[RC_VERSION_MAX], size_t *n, char *err);

/* rm -r of one directory tree (no symlinks followed). For the tests'
 * scratch directories: nothing under a cache root is removed this way. */
int rc_remove_tree(const char *path);

#endif
