#include "swap.h"
#include "error.h"
#include "experiment.h"
#include "layout.h"
#include "log.h"
#include "version.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

struct re_slot {
    pthread_mutex_t mu; /* guards txn and gen */
    MDB_txn *txn;
    uint64_t gen;
    struct re_slot *next;
};

struct re_holder {
    char root[PATH_MAX];

    pthread_mutex_t mu; /* guards cur (and the increment of its refs) */
    struct re_version *cur;

    /* Only the checking thread touches these (check_mu). */
    pthread_mutex_t check_mu;
    uint64_t next_gen;
    char loaded[RC_VERSION_MAX];
    char refused_id[RC_VERSION_MAX];
    int missing_logged;

    unsigned long long swaps, refused; /* atomic */

    pthread_key_t slot_key;
    pthread_mutex_t slots_mu;
    struct re_slot *slots;

    pthread_mutex_t retired_mu;
    struct re_version *retired;

    int efd;      /* eventfd: kicks and retirements wake the watcher */
    int watching; /* set before the watcher starts, cleared after it stops */
    int stop, force; /* atomic */
    unsigned poll_ms;
    pthread_t thread;
    struct re_overlay_hold *overlay; /* attached before the watcher starts; may be NULL */
};

void re_holder_set_overlay(struct re_holder *h, struct re_overlay_hold *oh)
{
    h->overlay = oh;
}

struct re_overlay_hold *re_holder_overlay(struct re_holder *h)
{
    return h->overlay;
}

int re_holder_create(struct re_holder **out, const char *root, char *err)
{
    struct re_holder *h = calloc(1, sizeof(*h));
    if (!h)
        return rc_fail(err, -ENOMEM, "out of memory");
    snprintf(h->root, sizeof(h->root), "%s", root);
    h->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (h->efd < 0) {
        int e = errno;
        free(h);
        return rc_fail(err, -e, "eventfd: %s", strerror(e));
    }
    int rc = pthread_key_create(&h->slot_key, NULL);
    if (rc) {
        close(h->efd);
        free(h);
        return rc_fail(err, -rc, "pthread_key_create: %s", strerror(rc));
    }
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_init(&h->check_mu, NULL);
    pthread_mutex_init(&h->slots_mu, NULL);
    pthread_mutex_init(&h->retired_mu, NULL);
    *out = h;
    return 0;
}

/* Abort every slot's txn on v, close v. No reference to v remains. */
static void version_close(struct re_holder *h, struct re_version *v)
{
    pthread_mutex_lock(&h->slots_mu);
    for (struct re_slot *s = h->slots; s; s = s->next) {
        pthread_mutex_lock(&s->mu);
        if (s->txn && s->gen == v->gen) {
            mdb_txn_abort(s->txn);
            s->txn = NULL;
            s->gen = 0;
        }
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&h->slots_mu);
    rc_log(RC_LOG_INFO, "close", "version=%s gen=%llu", v->cache.manifest.version, (unsigned long long)v->gen);
    rc_cache_close(&v->cache);
    free(v);
}

static void close_retired(struct re_holder *h)
{
    pthread_mutex_lock(&h->retired_mu);
    struct re_version *v = h->retired;
    h->retired = NULL;
    pthread_mutex_unlock(&h->retired_mu);
    while (v) {
        struct re_version *next = v->next_retired;
        version_close(h, v);
        v = next;
    }
}

static void wake(struct re_holder *h)
{
    uint64_t one = 1;
    (void)!write(h->efd, &one, sizeof(one));
}

void re_holder_release(struct re_holder *h, struct re_version *v)
{
    if (__atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    if (!__atomic_load_n(&h->watching, __ATOMIC_ACQUIRE)) {
        version_close(h, v);
        return;
    }
    pthread_mutex_lock(&h->retired_mu);
    v->next_retired = h->retired;
    h->retired = v;
    pthread_mutex_unlock(&h->retired_mu);
    wake(h);
}

struct re_version *re_holder_acquire(struct re_holder *h)
{
    pthread_mutex_lock(&h->mu);
    struct re_version *v = h->cur;
    if (v)
        __atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&h->mu);
    return v;
}

int re_holder_txn(struct re_holder *h, struct re_version *v, MDB_txn **txn)
{
    struct re_slot *s = pthread_getspecific(h->slot_key);
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return -ENOMEM;
        pthread_mutex_init(&s->mu, NULL);
        pthread_mutex_lock(&h->slots_mu);
        s->next = h->slots;
        h->slots = s;
        pthread_mutex_unlock(&h->slots_mu);
        (void)pthread_setspecific(h->slot_key, s);
    }
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    if (s->txn && s->gen == v->gen) {
        rc = mdb_txn_renew(s->txn);
        if (rc) {
            mdb_txn_abort(s->txn);
            s->txn = NULL;
        }
    } else if (s->txn) {
        /* Begun on an older version: let it go before its version can. */
        mdb_txn_abort(s->txn);
        s->txn = NULL;
    }
    if (!s->txn) {
        rc = mdb_txn_begin(v->cache.env, NULL, MDB_RDONLY, &s->txn);
        if (rc)
            s->txn = NULL;
        s->gen = rc ? 0 : v->gen;
    }
    *txn = s->txn;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void re_holder_txn_done(MDB_txn *txn)
{
    if (txn)
        mdb_txn_reset(txn);
}

void re_holder_info(struct re_holder *h, struct re_cache_info *out)
{
    memset(out, 0, sizeof(*out));
    struct re_version *v = re_holder_acquire(h);
    if (v) {
        out->loaded = 1;
        snprintf(out->version, sizeof(out->version), "%s", v->cache.manifest.version);
        out->created_at = v->cache.manifest.created_at;
        memcpy(out->counts, v->cache.manifest.counts, sizeof(out->counts));
        re_holder_release(h, v);
    }
    out->swaps = __atomic_load_n(&h->swaps, __ATOMIC_RELAXED);
    out->refused = __atomic_load_n(&h->refused, __ATOMIC_RELAXED);
    if (h->overlay)
        re_overlay_hold_info(h->overlay, &out->overlay);
}

static int load(struct re_holder *h, const char *id, char *err)
{
    char dir[PATH_MAX + 80];
    snprintf(dir, sizeof(dir), "%s/versions/%s", h->root, id);
    struct re_version *v = calloc(1, sizeof(*v));
    if (!v)
        return rc_fail(err, -ENOMEM, "out of memory");
    struct rc_verify chk = {.level = RC_VERIFY_RECORDS, .expect = id};
    int rc = rc_version_check(&v->cache, dir, &chk, err);
    if (rc) {
        free(v);
        return rc;
    }
    v->gen = ++h->next_gen;
    v->refs = 1; /* the holder's */
    pthread_mutex_lock(&h->mu);
    struct re_version *old = h->cur;
    h->cur = v;
    pthread_mutex_unlock(&h->mu);
    __atomic_add_fetch(&h->swaps, 1, __ATOMIC_RELAXED);
    /* every DB's record count, named as in the manifest */
    char counts[RC_DB_COUNT * 40] = "";
    size_t used = 0;
    for (int db = 0; db < RC_DB_COUNT && used < sizeof(counts); db++)
        used += (size_t)snprintf(counts + used, sizeof(counts) - used, " %s=%llu", rc_db_names[db],
                                 (unsigned long long)v->cache.manifest.counts[db]);
    rc_log(RC_LOG_INFO, "swap", "version=%s previous=%s gen=%llu check_ms=%.0f created_at=%lld%s", id,
           old ? old->cache.manifest.version : "none", (unsigned long long)v->gen, chk.ms,
           (long long)v->cache.manifest.created_at, counts);
    if (v->cache.experiment) {
        char arms[RC_EXPERIMENT_ARMS_MAX * (RC_EXPERIMENT_ID_MAX + 32)];
        unsigned covered = rc_experiment_describe(v->cache.experiment, arms, sizeof(arms));
        rc_log(RC_LOG_INFO, "experiment", "version=%s id=%s arms=\"%s\" covered=%u.%02u%%", id,
               v->cache.experiment->id, arms, covered / 100, covered % 100);
    } else {
        rc_log(RC_LOG_INFO, "experiment", "version=%s id=none", id);
    }
    if (old)
        re_holder_release(h, old);
    return 0;
}

int re_holder_check(struct re_holder *h, int force, char *err)
{
    char id[RC_VERSION_MAX], msg[RC_ERRMSG_MAX];
    pthread_mutex_lock(&h->check_mu);
    int rc = rc_layout_current(h->root, id, msg);
    if (rc) {
        if (!h->missing_logged)
            rc_log(h->loaded[0] ? RC_LOG_WARN : RC_LOG_INFO, "no_current", "root=\"%s\" reason=\"%s\"", h->root,
                   msg);
        h->missing_logged = 1;
        pthread_mutex_unlock(&h->check_mu);
        return rc_fail(err, rc, "%s", msg);
    }
    h->missing_logged = 0;
    if (strcmp(id, h->loaded) == 0)
        h->refused_id[0] = 0; /* moved back: a later flip to the refused one is a new attempt */
    if (strcmp(id, h->loaded) == 0 || (!force && strcmp(id, h->refused_id) == 0)) {
        pthread_mutex_unlock(&h->check_mu);
        return 0;
    }
    rc = load(h, id, msg);
    if (rc) {
        __atomic_add_fetch(&h->refused, 1, __ATOMIC_RELAXED);
        snprintf(h->refused_id, sizeof(h->refused_id), "%s", id);
        rc_log(RC_LOG_WARN, "refuse", "version=%s serving=%s reason=\"%s\"", id, h->loaded[0] ? h->loaded : "none",
               msg);
        rc_fail(err, rc, "%s", msg);
    } else {
        snprintf(h->loaded, sizeof(h->loaded), "%s", id);
        h->refused_id[0] = 0;
    }
    pthread_mutex_unlock(&h->check_mu);
    return rc;
}

static void *watch_main(void *arg)
{
    struct re_holder *h = arg;
    int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    int wd = -1;
    if (ifd < 0)
        rc_log(RC_LOG_WARN, "watch", "inotify=off reason=\"%s\" poll_ms=%u", strerror(errno), h->poll_ms);
    int check = 1, check_overlay = 1;
    while (!__atomic_load_n(&h->stop, __ATOMIC_ACQUIRE)) {
        if (ifd >= 0 && wd < 0) {
            /* `current` is replaced by rename(2): IN_MOVED_TO names it. */
            wd = inotify_add_watch(ifd, h->root, IN_MOVED_TO | IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF);
        }
        close_retired(h);
        int force = __atomic_exchange_n(&h->force, 0, __ATOMIC_ACQ_REL);
        if (check || force)
            (void)re_holder_check(h, force, NULL);
        if (h->overlay && (check_overlay || force))
            (void)re_overlay_hold_check(h->overlay, force, NULL);
        check = check_overlay = 0;

        struct pollfd pfd[2] = {{h->efd, POLLIN, 0}, {ifd, POLLIN, 0}};
        int n = poll(pfd, ifd >= 0 ? 2 : 1, (int)h->poll_ms);
        if (n == 0) {
            check = check_overlay = 1; /* the periodic readlink */
            continue;
        }
        if (n < 0)
            continue;
        if (pfd[0].revents & POLLIN) {
            uint64_t count;
            (void)!read(h->efd, &count, sizeof(count));
        }
        if (ifd >= 0 && (pfd[1].revents & POLLIN)) {
            char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
            ssize_t len;
            while ((len = read(ifd, buf, sizeof(buf))) > 0) {
                for (char *p = buf; p < buf + len;) {
                    struct inotify_event *ev = (struct inotify_event *)p;
                    if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
                        if (wd >= 0)
                            (void)inotify_rm_watch(ifd, wd);
                        wd = -1; /* the root went away: watch it again when it is back */
                    }
                    if (ev->len && strcmp(ev->name, "current") == 0)
                        check = 1;
                    if (ev->len && strcmp(ev->name, RC_OVERLAY_LINK) == 0)
                        check_overlay = 1;
                    p += sizeof(*ev) + ev->len;
                }
            }
        }
    }
    if (ifd >= 0)
        close(ifd);
    return NULL;
}

int re_watcher_start(struct re_holder *h, unsigned poll_ms, char *err)
{
    h->poll_ms = poll_ms ? poll_ms : 1000;
    __atomic_store_n(&h->watching, 1, __ATOMIC_RELEASE);
    int rc = pthread_create(&h->thread, NULL, watch_main, h);
    if (rc) {
        __atomic_store_n(&h->watching, 0, __ATOMIC_RELEASE);
        return rc_fail(err, -rc, "unable to start the watcher: %s", strerror(rc));
    }
    return 0;
}

void re_holder_kick(struct re_holder *h)
{
    __atomic_store_n(&h->force, 1, __ATOMIC_RELEASE);
    wake(h);
}

void re_holder_destroy(struct re_holder *h)
{
    if (!h)
        return;
    if (__atomic_load_n(&h->watching, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&h->stop, 1, __ATOMIC_RELEASE);
        wake(h);
        (void)pthread_join(h->thread, NULL);
        __atomic_store_n(&h->watching, 0, __ATOMIC_RELEASE);
    }
    close_retired(h);
    pthread_mutex_lock(&h->mu);
    struct re_version *v = h->cur;
    h->cur = NULL;
    pthread_mutex_unlock(&h->mu);
    if (v)
        re_holder_release(h, v); /* closes it: no request is in flight */
    for (struct re_slot *s = h->slots, *next; s; s = next) {
        next = s->next;
        if (s->txn)
            mdb_txn_abort(s->txn); /* only possible for a version still referenced: a caller's bug */
        pthread_mutex_destroy(&s->mu);
        free(s);
    }
    (void)pthread_key_delete(h->slot_key);
    close(h->efd);
    pthread_mutex_destroy(&h->mu);
    pthread_mutex_destroy(&h->check_mu);
    pthread_mutex_destroy(&h->slots_mu);
    pthread_mutex_destroy(&h->retired_mu);
    free(h);
}
