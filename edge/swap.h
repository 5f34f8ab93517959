/*
 * swap.h - the cache version recedge serves, swapped without dropping a
 * request, and each worker thread's read transaction on it.
 *
 * A holder watches <root>/current (schemas/cache.md, "Layout"). When the
 * link names a version other than the one loaded, the holder checks it
 * with rc_version_check (version.h) at RC_VERIFY_RECORDS, first fault,
 * expecting the directory's name: manifest, every file's size and XXH3,
 * meta and counts, and every record in full (the request path reads
 * records lazily and copies their score texts into answers as they are);
 * a FIFO, device or symlink in the version is refused without being
 * opened, so a check never blocks. A version that passes replaces the current one; one that
 * fails is refused (logged, counted) and the current one keeps serving. A
 * refused target is not retried until `current` names another version or
 * re_holder_check() is called with force (SIGHUP).
 *
 * Lifetimes. A version is reference-counted: the holder owns one reference
 * while the version is current, and every request owns one from
 * re_holder_acquire() to re_holder_release(). Acquire is a pointer load and
 * an atomic increment under a mutex that guards nothing else (no I/O, no
 * allocation under it). When the last reference goes, the version is
 * retired: with a watcher running it is queued and closed on the watcher
 * thread (an munmap stays off the request threads), otherwise it is closed
 * in re_holder_release() itself.
 *
 * Read transactions. The env is opened MDB_NOTLS, so a reset read txn may be
 * aborted from another thread as long as uses are serialised. Each thread
 * that calls re_holder_txn() gets one slot (created on its first call,
 * owned by the holder until re_holder_destroy) holding one MDB_txn and the
 * generation number of the version it was begun on. A request renews the
 * slot's txn when the generation matches, else aborts it and begins one on
 * the new version; re_holder_txn_done() resets it. Retiring a version
 * aborts every slot's txn of that generation (under the slot's mutex)
 * before the env is closed, so an idle thread never keeps an old version
 * mapped. Generations only grow, so a slot can never mistake a new version
 * for a retired one at the same address.
 *
 * Threads: acquire, release, txn and txn_done are for request threads;
 * re_holder_check is called by one thread at a time (the watcher, or a
 * test); re_holder_destroy runs after every request thread has stopped.
 */
#ifndef RE_SWAP_H
#define RE_SWAP_H

#include <lmdb.h>
#include <stdint.h>

#include "cache.h"
#include "overlay_hold.h"

struct re_holder;

struct re_version {
    struct rc_cache cache; /* open, verified; read-only for everyone */
    uint64_t gen;          /* 1, 2, ... in load order */
    long refs;             /* atomic */
    struct re_version *next_retired;
};

/* What /metrics and /readyz show about the loaded version. */
struct re_cache_info {
    int loaded;
    char version[RC_VERSION_MAX];
    int64_t created_at;
    uint64_t counts[RC_DB_COUNT];
    uint64_t swaps;   /* versions loaded since start-up (the first one included) */
    uint64_t refused; /* versions that failed to open or verify */
    struct re_overlay_info overlay; /* zero when no overlay hold is attached */
};

/*
 * Create a holder for the cache root; loads nothing yet (call
 * re_holder_check or start the watcher). Errors: -ENOMEM, -errno of
 * pthread and eventfd set-up.
 */
int re_holder_create(struct re_holder **out, const char *root, char *err);

/* Stop the watcher if running, close every version and abort every slot's
 * txn, free the holder. No request may be in flight. */
void re_holder_destroy(struct re_holder *h);

/*
 * Read root/current; when it names a version other than the loaded one
 * (and, without force, other than the last refused one), open, verify and
 * swap it in. Returns 0 (swapped, or nothing to do), RC_ENOTFOUND (no
 * `current`; the loaded version keeps serving), or the error that refused
 * the version (message in err).
 */
int re_holder_check(struct re_holder *h, int force, char *err);

/* The current version with a reference taken, or NULL when none is loaded. */
struct re_version *re_holder_acquire(struct re_holder *h);

/* Drop a reference taken by re_holder_acquire. */
void re_holder_release(struct re_holder *h, struct re_version *v);

/*
 * This thread's read txn on v (renewed or begun), into *txn. The caller
 * holds a reference on v and calls re_holder_txn_done before releasing it.
 * Errors: -ENOMEM (first call on a thread), LMDB codes.
 */
int re_holder_txn(struct re_holder *h, struct re_version *v, MDB_txn **txn);
void re_holder_txn_done(MDB_txn *txn);

/* Snapshot for /metrics and /readyz. */
void re_holder_info(struct re_holder *h, struct re_cache_info *out);

/*
 * Start the watcher thread: inotify on the root for `current` being
 * replaced, a readlink poll every poll_ms as a fallback (and to find a root
 * created after start-up), and re_holder_kick. The first check runs at
 * once. Errors: -errno.
 */
int re_watcher_start(struct re_holder *h, unsigned poll_ms, char *err);

/*
 * Attach an overlay hold (overlay_hold.h), before the watcher starts: the
 * watcher then also follows <root>/overlay (inotify on the same root, the
 * same poll, a forced check on a kick) and re_holder_info reports it. The
 * caller still owns oh and destroys it after the holder.
 * re_holder_overlay: the attached hold, or NULL.
 */
void re_holder_set_overlay(struct re_holder *h, struct re_overlay_hold *oh);
struct re_overlay_hold *re_holder_overlay(struct re_holder *h);

/* Ask the watcher for a forced check (SIGHUP). Async-signal-safe. */
void re_holder_kick(struct re_holder *h);

#endif
