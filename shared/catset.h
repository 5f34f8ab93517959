/*
 * catset.h - the set record of the catset DB (schemas/cache.md, "Set
 * record"): every catalog product of one category, in stock or not, as
 * ascending product keys. The edge asks it "is this product in category
 * C?" (request filter category=); the category DB holds the ranked list
 * that fills such a request.
 *
 *   off size field
 *   0   4    magic      "ERCS" (0x45 0x52 0x43 0x53)
 *   4   2    version    RC_CATSET_VERSION (1), little-endian
 *   6   2    reserved   0
 *   8   4    count      number of keys, 0..RC_CATSET_MAX
 *   12  4    check      low 32 bits of XXH3_64 over bytes [16, end)
 *   16  ...  count little-endian u64 product keys (rc_key of the id),
 *            strictly ascending; the record ends exactly after the last
 *
 * Values need not be aligned (LMDB gives no alignment guarantee), so keys
 * are read with memcpy. Nothing here reads outside [val, val+len).
 *
 * Two checks, as for lists (record.h): rc_catset_open checks the header
 * and the length only (the edge, per request, on records checked whole
 * when the version was loaded); rc_catset_check checks everything,
 * order and checksum included (rc_cache_check_record, recctl verify,
 * tests). rc_catset_has on a set that only passed rc_catset_open never
 * reads out of bounds; on a set whose keys are out of order it may miss a
 * key that is there, nothing worse.
 *
 * Thread rules: none; a struct rc_catset borrows its buffer and is read
 * only.
 */
#ifndef RC_CATSET_H
#define RC_CATSET_H

#include "error.h"
#include "le.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RC_CATSET_MAGIC "ERCS"
#define RC_CATSET_VERSION 1
#define RC_CATSET_HEADER 16
/* Most keys in one set: 2^24 products (a 128 MiB record); far above any
 * catalog's category, low enough that a size never overflows. */
#define RC_CATSET_MAX (1u << 24)

/* An opened set; borrows the record it was opened on. */
struct rc_catset {
    const unsigned char *keys; /* count unaligned little-endian u64, ascending */
    uint32_t count;
};

/* Bytes of a set record of count keys: RC_CATSET_HEADER + 8 * count. */
static inline size_t rc_catset_size(size_t count)
{
    return RC_CATSET_HEADER + 8 * count;
}

/*
 * Open val[0, len) as a set record, checking its header and length only.
 * Returns 0, RC_ETRUNC (shorter than the header, or than the keys its
 * count announces) or RC_EFORMAT (a foreign magic or version, reserved
 * bytes not 0, a count over RC_CATSET_MAX, bytes after the last key).
 * *s is set only on success.
 */
int rc_catset_open(struct rc_catset *s, const void *val, size_t len);

/*
 * 1 when key is in the opened set, else 0. A binary search without
 * branches on the keys (the compare picks the next half with a
 * conditional move): on the edge's request path, under category=, it
 * runs once per candidate entry, and a branchy search mispredicts about
 * every other step (it took 65 % of a filtered request's route time).
 * Inline for the same reason.
 */
static inline int rc_catset_has(const struct rc_catset *s, uint64_t key)
{
    uint32_t n = s->count;
    if (n == 0)
        return 0;
    const unsigned char *base = s->keys; /* the last key <= key, if any, is in [base, base + 8n) */
    while (n > 1) {
        uint32_t half = n / 2;
        base = rc_le_get64(base + 8 * (size_t)half) <= key ? base + 8 * (size_t)half : base;
        n -= half;
    }
    return rc_le_get64(base) == key;
}

/* The i-th key (i < s->count). */
uint64_t rc_catset_key(const struct rc_catset *s, uint32_t i);

/*
 * Check val[0, len) as a set record completely: header, length, keys
 * strictly ascending, checksum. Returns 0, RC_ETRUNC, RC_EMAGIC,
 * RC_EVERSION, RC_EFORMAT (reserved bytes, count, trailing bytes, keys out
 * of order or repeated) or RC_ECHECKSUM, with the reason in err (may be
 * NULL).
 */
int rc_catset_check(const void *val, size_t len, char *err);

/*
 * Encode keys[0, count) into out (capacity cap). The keys must be strictly
 * ascending (rc_catset_sort makes them so). Returns the record's length
 * (rc_catset_size(count), > 0), or RC_ERANGE (count over RC_CATSET_MAX),
 * RC_EFORMAT (keys not strictly ascending), -ENOSPC (cap too small);
 * nothing is written on error.
 */
long rc_catset_encode(void *out, size_t cap, const uint64_t *keys, size_t count);

/* Sort keys[0, count) ascending and drop repeats, in place; returns the
 * number of keys left. */
size_t rc_catset_sort(uint64_t *keys, size_t count);

#endif
