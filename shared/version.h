/*
 * version.h - one cache version's whole life: writing it, verifying it,
 * publishing it, removing it. Every program that writes a version
 * (recbuild, the test fixtures) and every one that reads or trusts one
 * (recedge, recctl and through it the rollout, recbuild's own publish)
 * goes through this module; schemas/cache.md ("Versions") is its prose.
 *
 * What a version is. A directory <root>/versions/<id>/ (layout.h) holding
 * manifest.json (manifest.h, schemas/manifest.md) and the files that
 * manifest lists, among them data.mdb (cache.h). It appears under
 * versions/ complete, by one rename, and is never written again.
 *
 * What "verified" means. rc_version_check() is the only definition; the
 * level says how far it goes, each level including the ones before:
 *
 *   RC_VERIFY_OPEN     the directory is a directory, not a symlink; its
 *                      manifest reads (a regular file, format, fields); the
 *                      manifest's version is `expect` when one is given;
 *                      data.mdb is a regular file of the size the manifest
 *                      lists (when it lists it); the LMDB env opens; `meta`
 *                      names RC_CACHE_FORMAT and the manifest's version;
 *                      every DB holds the manifest's count.
 *                      When the manifest lists experiments.json
 *                      (experiment.h), it parses and passes every rule of
 *                      schemas/experiments.md, and the open cache carries it
 *                      (rc_cache.experiment); unlisted, it is never read.
 *   RC_VERIFY_FILES    the manifest lists data.mdb, and every listed file
 *                      has its listed size and XXH3-64 (experiments.json's
 *                      bytes are hashed again as they are parsed).
 *   RC_VERIFY_RECORDS  every record of every DB passes
 *                      rc_cache_check_record and each walk meets the count.
 *
 * File safety, at every level and for every reader. Nothing in a version
 * is opened unless it is a regular file directly inside the version
 * directory: symlinks are never followed (O_NOFOLLOW, and an lstat first),
 * FIFOs, sockets and devices are refused before any open(2) that could
 * block, and a file's size is compared with the manifest's before a byte
 * of it is read. Hashing reads exactly the listed number of bytes, so the
 * time a verification takes is bounded by the sizes the manifest lists.
 * The LMDB env is opened on the very file that was checked (through its
 * descriptor), never by a second lookup of its path.
 *
 * Faults. With all_faults 0 the check stops at the first fault and returns
 * it (recedge, recbuild). With all_faults 1 it reports every fault it can
 * still reach through on_fault (recctl): each listed file is checked, the
 * name and every record too; the env is not opened over files that failed
 * their checks. The return value is the first fault's code either way, and
 * err holds its message.
 *
 * Writing. One writer per version, used by one thread, in this order:
 *
 *   rc_version_begin    initialise the root (layout.h: directories and the
 *                       root marker), pick the id, create the staging dir
 *                       <root>/.staging/<id>.<pid>/
 *   rc_version_reserve  open the LMDB writer with a map of mapsize bytes
 *   rc_version_put      records, keys ascending per DB (cache.h)
 *   rc_version_finish   meta, the compacted data.mdb, counts and files
 *   rc_version_add_file optional: experiments.json, listed in the manifest
 *   rc_version_commit   manifest.json, with the builder's sections
 *   rc_version_publish  rc_version_check the staged version at the level
 *                       asked, rename it into versions/, flip `current`
 *                       when asked, prune to keep
 *   rc_version_release  always last: removes the staging dir unless the
 *                       version was published
 *
 * A step out of order returns RC_EINTERNAL. Nothing under versions/ or
 * `current` changes before rc_version_publish.
 */
#ifndef RC_VERSION_H
#define RC_VERSION_H

#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "cache.h"
#include "manifest.h"

enum rc_verify_level { RC_VERIFY_OPEN, RC_VERIFY_FILES, RC_VERIFY_RECORDS };

/* A check's options (in) and what it found (out). */
struct rc_verify {
    enum rc_verify_level level;                        /* in */
    int all_faults;                                    /* in: go on past the first fault */
    const char *expect;                                /* in, may be NULL: the id the manifest must name */
    void (*on_fault)(void *ctx, int code, const char *why); /* in, may be NULL: each fault, in order */
    void *ctx;

    char version[RC_VERSION_MAX];      /* out: the manifest's version, "" when it did not read */
    uint64_t bytes;                    /* out: bytes hashed (RC_VERIFY_FILES) */
    uint64_t records[RC_DB_COUNT];     /* out: records walked per DB (RC_VERIFY_RECORDS) */
    uint64_t entries;                  /* out: list entries decoded */
    uint64_t bad;                      /* out: records that failed */
    uint64_t faults;                   /* out: faults reported */
    double ms;                         /* out: wall time of the check */
};

/*
 * Check the version in dir (see "verified" above). When c is not NULL and
 * the check passes, c is left open (rc_cache_close it); otherwise nothing
 * is left open (and c, when given, is zeroed). v may be NULL for a first-fault check at RC_VERIFY_OPEN.
 * Errors: the first fault's code: -errno (ENOENT, EACCES, ...),
 * RC_EFORMAT (a symlink, FIFO, device or anything else that is not a
 * regular file or, for dir, a directory; a foreign meta; counts that
 * differ; a bad record; an experiments.json that breaks a rule), RC_ETOOLONG
 * (experiments.json over RC_EXPERIMENT_FILE_MAX), RC_ETRUNC (size differs), RC_ECHECKSUM, RC_EMANIFEST (manifest
 * unreadable or inconsistent, data.mdb unlisted, version not `expect`),
 * RC_EVERSION, LMDB codes.
 */
int rc_version_check(struct rc_cache *c, const char *dir, struct rc_verify *v, char *err);

/* rc_version_check with first-fault options at `level` and no name check. */
int rc_version_open(struct rc_cache *c, const char *dir, enum rc_verify_level level, char *err);

/*
 * Every file m lists against dir, first fault only: regular file, size,
 * XXH3-64 (RC_VERIFY_FILES without the env). Errors as rc_version_check.
 */
int rc_version_check_files(const char *dir, const struct rc_manifest *m, char *err);

/*
 * Open dir/name (dirfd is dir opened O_DIRECTORY) for reading only if it is
 * a regular file: lstat first (a symlink, FIFO, socket or device is refused
 * without being opened), then openat with O_NOFOLLOW | O_NONBLOCK and an
 * fstat that must show the same file. want_bytes is the size it must have,
 * or UINT64_MAX for any. *fd is the open descriptor (close it), *st its
 * fstat. Errors: -errno, RC_EFORMAT (not a regular file), RC_ETRUNC (size).
 */
int rc_version_open_file(int dirfd, const char *dir, const char *name, uint64_t want_bytes, int *fd, struct stat *st,
                         char *err);

/* ---- writing ---- */

struct rc_version_opts {
    const char *root;                    /* cache root; initialised when needed */
    const char *version;                 /* NULL: a fresh id for id_time (rc_layout_new_version) */
    time_t id_time;
    int64_t created_at;                  /* 0: the time rc_version_finish runs */
    const volatile sig_atomic_t *cancel; /* may be NULL: a set flag makes publish return -EINTR before the rename */
};

struct rc_version_writer {
    struct rc_version_opts opts;
    char root[PATH_MAX];
    char version[RC_VERSION_MAX];
    char staging[PATH_MAX];
    char published[PATH_MAX];   /* root/versions/<version>, once published */
    struct rc_cache_writer w;
    struct rc_manifest manifest; /* version, created_at, counts, files: set by finish */
    uint64_t data_bytes;        /* size of data.mdb, set by finish */
    int state;                  /* private */
    int flipped;                /* publish: `current` names this version */
    int pruned;                 /* publish: versions removed */
};

/*
 * Start a version. vw is zeroed first, so rc_version_release is safe after
 * any return. Errors: RC_EFORMAT (opts->version not a valid id), -errno
 * with the path in err, RC_EFORMAT for a root that is not a cache root
 * (layout.h, rc_layout_init).
 */
int rc_version_begin(struct rc_version_writer *vw, const struct rc_version_opts *opts, char *err);

/* Open the LMDB writer in the staging dir (rc_cache_writer_open: mapsize
 * from rc_cache_size_bytes). Errors: -ENOSPC, -errno, LMDB codes. */
int rc_version_reserve(struct rc_version_writer *vw, size_t mapsize, char *err);

/* Append one record (rc_cache_writer_put). Errors: RC_ECOLLISION,
 * RC_ERANGE (keys out of order), MDB_MAP_FULL, LMDB codes. */
int rc_version_put(struct rc_version_writer *vw, enum rc_db db, uint64_t key, const void *val, size_t len,
                   char *err);

/* meta ("format", "version", "created_at"), the compacted data.mdb, the
 * manifest's counts and files. Errors: -errno, LMDB codes. */
int rc_version_finish(struct rc_version_writer *vw, char *err);

/*
 * Write data[0, len) as staging/<name> and list it in the manifest, after
 * rc_version_finish and before rc_version_commit. Only RC_EXPERIMENT_FILE
 * may be added, once; the caller has checked its content
 * (rc_experiment_parse), and publish checks it again. Errors: RC_EFORMAT
 * (another name, or added twice), RC_ERANGE (too many files), -errno.
 */
int rc_version_add_file(struct rc_version_writer *vw, const char *name, const void *data, size_t len, char *err);

/* Write manifest.json into the staging dir; info may be NULL (no builder
 * sections). Errors: -errno, -ENOMEM. */
int rc_version_commit(struct rc_version_writer *vw, const struct rc_manifest_info *info, char *err);

/*
 * rc_version_check the staged version at level (first fault, expecting
 * its id), rename it into versions/, flip `current` when flip is set, and
 * prune to the newest keep (0: no pruning; never `current`). Errors: the
 * check's, -EINTR (cancelled before the rename), -EEXIST, -errno. A failed
 * flip leaves the version published and `current` as it was; a failed prune
 * is not an error (pruned stays 0 and err is untouched).
 */
int rc_version_publish(struct rc_version_writer *vw, enum rc_verify_level level, int flip, size_t keep, char *err);

/* Abort the writer and remove the staging dir unless published. Idempotent. */
void rc_version_release(struct rc_version_writer *vw);

/* ---- removing ---- */

/*
 * Remove root/versions/<id>, but only what is provably edgerec's: the root
 * carries the marker (rc_layout_check_root), the version's manifest reads
 * and names <id>, and only the files it lists and the manifest are
 * unlinked (never through a symlink) before the directory is removed.
 * Errors: RC_EMANIFEST (no valid manifest naming id: nothing removed),
 * -ENOTEMPTY (files the manifest does not list: they are left), -errno.
 */
int rc_version_remove(const char *root, const char *id, char *err);

/* The same for a version directory anywhere (an incoming copy): its
 * manifest must read and, when id is not NULL, name id; no root check. */
int rc_version_remove_dir(const char *dir, const char *id, char *err);

#endif
