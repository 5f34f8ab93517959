/*
 * overlay.h - the overlay: products suppressed from every answer until the
 * next overlay, changed in seconds without a cache build (schemas/overlay.md).
 *
 *   <root>/overlays/<id>/overlay.bin   one file, written once, never changed
 *   <root>/overlay -> overlays/<id>    relative symlink, flipped like `current`
 *
 * Ids follow the version id rules (layout.h) and sort by time. A file is
 * "EROV", format version RC_OVERLAY_FORMAT, the count, the XXH3-64
 * checksum of the body, then the body: the products' 64-bit keys
 * (keys.h: rc_key of the id) ascending and distinct, then each product id
 * (u16 length + bytes) in key order. Integers are little-endian. count 0
 * is a valid overlay that suppresses nothing.
 *
 * A reader verifies everything before it hands an overlay out: magic,
 * format version, sizes, checksum, keys strictly ascending, every id
 * 1..RC_ID_MAX bytes whose key is the key beside it. An overlay that fails
 * any check is refused whole (RC_EFORMAT, the message says what was
 * expected); nothing of it is used.
 *
 * Ownership: an rc_overlay is one malloc'ed block (rc_overlay_free). It is
 * immutable once read, so any number of threads may call rc_overlay_has on
 * it at once.
 */
#ifndef RC_OVERLAY_H
#define RC_OVERLAY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "manifest.h" /* RC_VERSION_MAX */

#define RC_OVERLAY_MAGIC "EROV"
#define RC_OVERLAY_FORMAT 1u
#define RC_OVERLAY_HEADER 24      /* magic 4, format 4, count 4, ids_len 4, checksum 8 */
#define RC_OVERLAY_MAX 1000000u   /* products in one overlay */
#define RC_OVERLAY_FILE "overlay.bin"
#define RC_OVERLAY_LINK "overlay"
#define RC_OVERLAY_DIR "overlays"

struct rc_overlay {
    char id[RC_VERSION_MAX]; /* the directory's name; "" when read from a bare file */
    uint32_t count;
    const uint64_t *keys;    /* count keys, strictly ascending */
    const char *ids;         /* the id block: count x (u16 length, bytes), in key order */
    size_t ids_len;
};

/* 1 when key is suppressed: a binary search without branches on the
 * keys (log2(count) steps, each a compare and a conditional move), run
 * once per candidate entry on the request path, where a branchy search
 * mispredicts about every other step (catset.h does the same). */
static inline int rc_overlay_has(const struct rc_overlay *o, uint64_t key)
{
    size_t n = o->count;
    if (n == 0)
        return 0;
    const uint64_t *base = o->keys; /* the last key <= key, if any, is in [base, base + n) */
    while (n > 1) {
        size_t half = n / 2;
        base = base[half] <= key ? base + half : base;
        n -= half;
    }
    return *base == key;
}

/* The i-th product id (i < count) into *id, *len. */
void rc_overlay_id(const struct rc_overlay *o, uint32_t i, const char **id, size_t *len);

/*
 * Encode products (n ids, each 1..RC_ID_MAX bytes; duplicates dropped)
 * into a malloc'ed file image *out of *len bytes. Errors: RC_ERANGE (an
 * id's length, more than RC_OVERLAY_MAX), -ENOMEM.
 */
int rc_overlay_encode(const char *const *ids, const size_t *lens, size_t n, void **out, size_t *len, char *err);

/*
 * Verify a file image and make an overlay of it (copied: data may go
 * afterwards). Errors: RC_EFORMAT with what was expected, -ENOMEM; *out
 * is then NULL.
 */
int rc_overlay_decode(const void *data, size_t len, struct rc_overlay **out, char *err);

/* Read and decode one file (a regular file, opened without blocking and
 * without following a symlink as its last component). Errors: as
 * rc_overlay_decode, -errno (-ELOOP for a symlink), RC_EFORMAT for a
 * non-regular file. */
int rc_overlay_read(const char *path, struct rc_overlay **out, char *err);

/*
 * The overlay root/overlay points at, read and verified, its id set.
 * Errors: RC_ENOTFOUND when there is no link, else as rc_overlay_read.
 */
int rc_overlay_load_current(const char *root, struct rc_overlay **out, char *err);

/*
 * Write products as a new overlay under root/overlays (a fresh id for time
 * t, into id_out; written in a temporary directory, fsync'ed, renamed),
 * flip root/overlay to it, then prune overlays beyond the newest keep
 * (never the one linked). The root must carry its marker. Errors: as
 * rc_overlay_encode, RC_EFORMAT (no marker), -errno.
 */
int rc_overlay_publish(const char *root, const char *const *ids, const size_t *lens, size_t n, time_t t,
                       size_t keep, char id_out[RC_VERSION_MAX], char *err);

/* Remove overlays beyond the newest keep, never the linked one, each only
 * when it holds nothing but overlay.bin. Returns how many, RC_EFORMAT for
 * a root without its marker (nothing removed), or -errno. */
int rc_overlay_prune(const char *root, size_t keep, char *err);

void rc_overlay_free(struct rc_overlay *o);

#endif
