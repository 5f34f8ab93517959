#include "overlay_hold.h"
#include "error.h"
#include "layout.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct re_overlay_hold {
    char root[PATH_MAX];
    pthread_mutex_t mu; /* guards cur's pointer and the increment of its refs */
    struct re_overlay_ref *cur; /* atomic loads outside mu */

    /* The checking thread's own. */
    char loaded[RC_VERSION_MAX]; /* id of the loaded overlay, "" for none */
    char refused_id[RC_VERSION_MAX];
    uint32_t count;

    unsigned long long loads, refused; /* atomic */

    pthread_mutex_t retired_mu;
    struct re_overlay_ref *retired;
};

int re_overlay_hold_create(struct re_overlay_hold **out, const char *root, char *err)
{
    struct re_overlay_hold *h = calloc(1, sizeof(*h));
    if (!h)
        return rc_fail(err, -ENOMEM, "out of memory");
    snprintf(h->root, sizeof(h->root), "%s", root);
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_init(&h->retired_mu, NULL);
    *out = h;
    return 0;
}

static void free_retired(struct re_overlay_hold *h)
{
    pthread_mutex_lock(&h->retired_mu);
    struct re_overlay_ref *r = h->retired;
    h->retired = NULL;
    pthread_mutex_unlock(&h->retired_mu);
    while (r) {
        struct re_overlay_ref *next = r->next_retired;
        rc_overlay_free(r->ov);
        free(r);
        r = next;
    }
}

struct re_overlay_ref *re_overlay_acquire(struct re_overlay_hold *h)
{
    if (__builtin_expect(__atomic_load_n(&h->cur, __ATOMIC_ACQUIRE) == NULL, 1))
        return NULL;
    pthread_mutex_lock(&h->mu);
    struct re_overlay_ref *r = h->cur;
    if (r)
        __atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&h->mu);
    return r;
}

void re_overlay_release(struct re_overlay_hold *h, struct re_overlay_ref *r)
{
    if (!r || __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    pthread_mutex_lock(&h->retired_mu);
    r->next_retired = h->retired;
    h->retired = r;
    pthread_mutex_unlock(&h->retired_mu);
}

/* Make r (NULL: none) the loaded overlay; the old one is released. */
static void install(struct re_overlay_hold *h, struct re_overlay_ref *r)
{
    pthread_mutex_lock(&h->mu);
    struct re_overlay_ref *old = h->cur;
    __atomic_store_n(&h->cur, r, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&h->mu);
    re_overlay_release(h, old);
}

/* loaded and count are written here, under mu, and read by info. */
static void set_loaded(struct re_overlay_hold *h, const char *id, uint32_t count)
{
    pthread_mutex_lock(&h->mu);
    snprintf(h->loaded, sizeof(h->loaded), "%s", id);
    h->count = count;
    pthread_mutex_unlock(&h->mu);
}

int re_overlay_hold_check(struct re_overlay_hold *h, int force, char *err)
{
    free_retired(h);
    char id[RC_VERSION_MAX], msg[RC_ERRMSG_MAX];
    int rc = rc_layout_link_read(h->root, RC_OVERLAY_LINK, id, msg);
    if (rc == RC_ENOTFOUND) {
        if (h->loaded[0]) {
            rc_log(RC_LOG_INFO, "overlay", "id=none previous=%s", h->loaded);
            install(h, NULL);
            set_loaded(h, "", 0);
        }
        h->refused_id[0] = 0;
        return 0;
    }
    if (rc)
        snprintf(id, sizeof(id), "?"); /* a link that names no overlay */
    if (strcmp(id, h->loaded) == 0 || (!force && strcmp(id, h->refused_id) == 0))
        return 0;
    struct rc_overlay *ov = NULL;
    if (!rc)
        rc = rc_overlay_load_current(h->root, &ov, msg);
    if (!rc)
        snprintf(id, sizeof(id), "%s", ov->id); /* the link may have moved on since it was read */
    struct re_overlay_ref *r = NULL;
    if (!rc && ov->count && !(r = calloc(1, sizeof(*r)))) {
        rc_overlay_free(ov);
        rc = rc_fail(msg, -ENOMEM, "out of memory");
    }
    if (rc) {
        __atomic_add_fetch(&h->refused, 1, __ATOMIC_RELAXED);
        snprintf(h->refused_id, sizeof(h->refused_id), "%s", id);
        rc_log(RC_LOG_WARN, "overlay_refuse", "id=%s serving=%s reason=\"%s\"", id, h->loaded[0] ? h->loaded : "none",
               msg);
        return rc_fail(err, rc, "%s", msg);
    }
    rc_log(RC_LOG_INFO, "overlay", "id=%s previous=%s count=%u", id, h->loaded[0] ? h->loaded : "none", ov->count);
    if (r) {
        r->ov = ov;
        r->refs = 1; /* the hold's */
    } else {
        rc_overlay_free(ov); /* count 0: nothing to suppress, nothing to hold */
        ov = NULL;
    }
    install(h, r);
    set_loaded(h, id, ov ? ov->count : 0);
    h->refused_id[0] = 0;
    __atomic_add_fetch(&h->loads, 1, __ATOMIC_RELAXED);
    return 0;
}

void re_overlay_hold_info(struct re_overlay_hold *h, struct re_overlay_info *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&h->mu);
    out->loaded = h->loaded[0] != 0;
    snprintf(out->id, sizeof(out->id), "%s", h->loaded);
    out->count = h->count;
    pthread_mutex_unlock(&h->mu);
    out->loads = __atomic_load_n(&h->loads, __ATOMIC_RELAXED);
    out->refused = __atomic_load_n(&h->refused, __ATOMIC_RELAXED);
}

void re_overlay_hold_destroy(struct re_overlay_hold *h)
{
    if (!h)
        return;
    install(h, NULL);
    free_retired(h);
    pthread_mutex_destroy(&h->mu);
    pthread_mutex_destroy(&h->retired_mu);
    free(h);
}
