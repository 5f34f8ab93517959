/*
 * overlay_hold.h - the overlay recedge applies to every answer
 * (schemas/overlay.md), swapped without blocking a request.
 *
 * A hold follows <root>/overlay. re_overlay_hold_check reads the link; when
 * it names an overlay other than the loaded one (and, without force, other
 * than the last refused one) the file is read and verified whole
 * (rc_overlay_load_current: magic, format, checksum, sorted keys, ids) and,
 * when it passes, replaces the loaded one; when it fails it is refused
 * (logged, counted) and the loaded one keeps serving. A link that goes away
 * unloads the overlay (nothing suppressed), as does an overlay of count 0.
 *
 * Lifetimes. Overlays are reference-counted: the hold owns one reference
 * while an overlay is loaded, each request one from re_overlay_acquire to
 * re_overlay_release. With none loaded, acquire is one atomic load and one
 * branch; with one, a mutex that guards only the pointer and the
 * increment. An overlay whose last reference goes is queued and freed by
 * the next check (the watcher's thread), never on a request thread.
 *
 * Threads: acquire and release from request threads; check from one thread
 * at a time (the watcher in swap.c, or a test); destroy after every
 * request thread has stopped.
 */
#ifndef RE_OVERLAY_HOLD_H
#define RE_OVERLAY_HOLD_H

#include <stdint.h>

#include "overlay.h"

struct re_overlay_hold;

struct re_overlay_ref {
    struct rc_overlay *ov; /* verified, immutable */
    long refs;             /* atomic */
    struct re_overlay_ref *next_retired;
};

/* What /metrics shows. */
struct re_overlay_info {
    int loaded;
    char id[RC_VERSION_MAX];
    uint32_t count;
    uint64_t loads;   /* overlays loaded since start-up */
    uint64_t refused; /* overlays that failed to read or verify */
};

/* Create a hold for root; loads nothing yet. Errors: -ENOMEM. */
int re_overlay_hold_create(struct re_overlay_hold **out, const char *root, char *err);

/* Free the loaded and retired overlays and the hold. No request in flight. */
void re_overlay_hold_destroy(struct re_overlay_hold *h);

/*
 * Follow root/overlay (see above); also frees retired overlays. Returns 0
 * (swapped, unloaded, or nothing to do) or the error that refused the
 * overlay (message in err; the loaded one stays).
 */
int re_overlay_hold_check(struct re_overlay_hold *h, int force, char *err);

/* The loaded overlay with a reference taken, or NULL when none is loaded
 * (or it suppresses nothing). */
struct re_overlay_ref *re_overlay_acquire(struct re_overlay_hold *h);

/* Drop a reference taken by re_overlay_acquire; r may be NULL. */
void re_overlay_release(struct re_overlay_hold *h, struct re_overlay_ref *r);

void re_overlay_hold_info(struct re_overlay_hold *h, struct re_overlay_info *out);

#endif
