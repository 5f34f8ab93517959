/*
 * output.h - recbuild's lists and items written into a new cache version
 * through the version writer (shared/version.h), which owns the version's
 * life: staging dir, sorted MDB_APPEND puts, compacted data.mdb,
 * manifest.json, the check before publishing, the atomic rename into
 * versions/, the flip of `current`, pruning. This module adds what is
 * recbuild's: the order of the records, the encoding of recbuild's lists,
 * the space check, cancellation and progress, and the figures the manifest
 * reports (counts dropped, timings).
 *
 * Lifecycle (one struct rb_output per build, used by one thread):
 *
 *   rb_output_begin     rc_version_begin: pick the version id, create
 *                       <root>/.staging/<v>.<pid>/
 *   rb_output_write     data.mdb into the staging dir: every list sorted by
 *                       owner key, every product into `items`, `meta`;
 *                       fills counts, drops and timings in the struct
 *   rb_output_experiments  optional: experiments.json (rc_version_add_file)
 *   rb_output_manifest  rc_version_commit: manifest.json with recbuild's
 *                       sections (struct rc_manifest_info)
 *   rb_output_publish   rc_version_publish at RB_OUTPUT_VERIFY: check the
 *                       staged version as readers will, rename it into
 *                       versions/, flip `current` unless asked not to,
 *                       prune to `keep`
 *   rb_output_release   always last: removes the staging dir when the
 *                       version was not published; a no-op otherwise
 *
 * The steps must run in this order; a step after a failed one returns
 * RC_EINTERNAL. Nothing under versions/ or `current` changes before
 * rb_output_publish, so a build that fails or is interrupted earlier leaves
 * the cache root as it was (plus nothing: release removes the staging dir;
 * a SIGKILL'ed build's staging dir is removed by the next rb_output_begin).
 *
 * Cancellation: when `cancel` is non-NULL, rb_output_write checks *cancel
 * between batches of records and rb_output_publish checks it before the
 * rename; a set flag makes them return -EINTR ("interrupted"). A signal
 * handler may set it (it is read, never written, here).
 *
 * Records (schemas/cache.md): list i of lists[db] goes to DB db under
 * owner_key[i]. Lists with equal owner keys (distinct ids with one hash):
 * the first in list order is written, the others dropped and counted in
 * collisions[db]. Empty lists (len 0) are not written (counted in
 * empty[db]): a reader then falls through to the next tier. Entry ids and
 * keys come from d->products; every product of d->products goes to
 * `items` with its category and stock flag. When d has categories, each
 * category that names a product goes to `catset` under the category's key
 * (d->categories.keys) as the set of its products' keys, in stock or not
 * (shared/catset.h); its ranked list is the caller's, lists[RC_DB_CATEGORY]
 * (rb_popularity_categories).
 */
#ifndef RB_OUTPUT_H
#define RB_OUTPUT_H

#include <limits.h>
#include <signal.h>
#include <time.h>

#include "dataset.h"
#include "ingest.h"
#include "manifest.h"
#include "version.h"

/* Which lists go where: indices RC_DB_COOKIE, RC_DB_PRODUCT, RC_DB_SEGMENT, RC_DB_COVIEW,
 * RC_DB_COOKIE_B, RC_DB_CATEGORY (the list DBs, enum rc_db). */
#define RB_OUTPUT_LISTS (RC_DB_CATEGORY + 1)

/* How far the staged version is checked before it is published: as far
 * as recedge checks it, so that recbuild never publishes a version the
 * edge would refuse. */
#define RB_OUTPUT_VERIFY RC_VERIFY_RECORDS

struct rb_output_opts {
    const char *root;                     /* cache root; created when missing */
    const volatile sig_atomic_t *cancel;  /* may be NULL */
    rb_progress_fn progress;              /* may be NULL; stage "write", done/total in records */
    void *progress_ctx;
};

struct rb_output {
    struct rb_output_opts opts;
    struct rc_version_writer vw;          /* version, staging, published, flipped, pruned, and the
                                           * manifest's counts and files once written */

    /* Filled by rb_output_write. */
    uint64_t collisions[RC_DB_COUNT];     /* lists dropped for a repeated owner key */
    uint64_t empty[RC_DB_COUNT];          /* empty lists not written */
    uint64_t records;                     /* records put, all DBs (meta excluded) */
    uint64_t value_bytes;                 /* bytes of encoded values */
    uint64_t data_bytes;                  /* size of the compacted data.mdb */
    double sort_ms;                       /* ordering keys */
    double write_ms;                      /* encoding + MDB_APPEND puts: the records/s figure */
    double write_cpu_ms;                  /* the same, CPU time of the writing thread */
    double compact_ms;                    /* commit, compacted copy, fsync */

    /* Filled by rb_output_publish. */
    double publish_ms;                    /* verify + rename + flip + prune */
};

/*
 * Start a build: choose the version id for `now` (rc_layout_new_version)
 * and create its staging dir. o is zeroed first, so rb_output_release is
 * safe after any return. Errors: -errno with the path in err.
 */
int rb_output_begin(struct rb_output *o, const struct rb_output_opts *opts, time_t now, char *err);

/*
 * Write data.mdb into the staging dir. lists[db] may be NULL (no lists of
 * that kind); lists must index d->products. Checks the free space of the
 * staging filesystem first (about twice the data: the build file and its
 * compacted copy exist together for a moment).
 * Errors: -ENOSPC (not enough free space, or a write ran out of it),
 * -EINTR (cancelled), RC_ERANGE / RC_ETOOLONG (a list longer than
 * RC_LIST_MAX or an id the codec refuses: a bug upstream), -ENOMEM, LMDB
 * codes (MDB_MAP_FULL: the size estimate was wrong; a bug), -errno.
 */
int rb_output_write(struct rb_output *o, const struct rb_dataset *d, const struct rb_lists *const lists[RB_OUTPUT_LISTS],
                    char *err);

/*
 * Write text[0, len) as the version's experiments.json, listed in the
 * manifest (rc_version_add_file); after rb_output_write, before
 * rb_output_manifest. The caller checked it (rc_experiment_read); publish
 * checks it again as every reader does. Errors: -errno, RC_EINTERNAL (out
 * of order).
 */
int rb_output_experiments(struct rb_output *o, const char *text, size_t len, char *err);

/*
 * Write manifest.json into the staging dir with recbuild's sections (info,
 * rendered by rc_manifest_write). Errors: -errno, -ENOMEM.
 */
int rb_output_manifest(struct rb_output *o, const struct rc_manifest_info *info, char *err);

/*
 * Check the staged version (rc_version_check at RB_OUTPUT_VERIFY), publish it as
 * root/versions/<version>, flip `current` to it when flip is set, and prune
 * to the newest `keep` versions (never the current one; keep 0 = no
 * pruning). Errors: the check's (RC_ECHECKSUM, RC_EFORMAT, ...),
 * -EINTR (cancelled before the rename), -EEXIST, -errno. A failure to flip
 * leaves the version published (complete and verified) and `current`
 * unchanged, and is returned; a failure to prune is only logged (warning):
 * the new version is in place either way.
 */
int rb_output_publish(struct rb_output *o, int flip, size_t keep, char *err);

/* Remove the staging dir unless the version was published. Idempotent. */
void rb_output_release(struct rb_output *o);

#endif
