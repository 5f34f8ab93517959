/*
 * fuzz_overlay.c - the overlay file reader and writer (shared/overlay.h).
 *
 * First byte even: the rest is a file image for rc_overlay_decode. A
 * refused image leaves nothing (*out NULL) and says why; an accepted one
 * keeps every rule of schemas/overlay.md: keys strictly ascending, each id
 * 1..RC_ID_MAX bytes whose key is the key beside it, rc_overlay_has true
 * for every key and re-encoding its ids gives the same bytes.
 * First byte odd: the rest is product ids, one per line, for
 * rc_overlay_encode; ids of a valid length encode, the image decodes to
 * the distinct ones, and each is suppressed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fuzz.h"
#include "keys.h"
#include "overlay.h"
#include "record.h"

static void check_overlay(const struct rc_overlay *o)
{
    for (uint32_t i = 0; i < o->count; i++) {
        const char *id;
        size_t len;
        rc_overlay_id(o, i, &id, &len);
        FUZZ_CHECK(len >= 1 && len <= RC_ID_MAX);
        FUZZ_CHECK(rc_key(id, len) == o->keys[i]);
        FUZZ_CHECK(i == 0 || o->keys[i - 1] < o->keys[i]);
        FUZZ_CHECK(rc_overlay_has(o, o->keys[i]));
    }
}

static void decode_image(const uint8_t *data, size_t size)
{
    struct rc_overlay *o = (struct rc_overlay *)&o;
    char err[RC_ERRMSG_MAX] = "";
    int rc = rc_overlay_decode(data, size, &o, err);
    if (rc != 0) {
        FUZZ_CHECK(rc == RC_EFORMAT || rc == -12 /* -ENOMEM */);
        FUZZ_CHECK(!o);
        FUZZ_CHECK(err[0]);
        return;
    }
    check_overlay(o);
    /* Its own ids encode to the very same image. */
    const char **ids = malloc((o->count ? o->count : 1) * sizeof(*ids));
    size_t *lens = malloc((o->count ? o->count : 1) * sizeof(*lens));
    FUZZ_CHECK(ids && lens);
    for (uint32_t i = 0; i < o->count; i++)
        rc_overlay_id(o, i, &ids[i], &lens[i]);
    void *img;
    size_t len;
    FUZZ_CHECK(rc_overlay_encode(ids, lens, o->count, &img, &len, err) == 0);
    FUZZ_CHECK(len == size && memcmp(img, data, size) == 0);
    free(img);
    free(ids);
    free(lens);
    rc_overlay_free(o);
}

static void encode_lines(const uint8_t *data, size_t size)
{
    const char *ids[256] = {0};
    size_t lens[256] = {0}, n = 0;
    int bad_len = 0;
    const char *p = (const char *)data, *end = p + size;
    while (p < end && n < 256) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((nl ? nl : end) - p);
        ids[n] = p;
        lens[n] = len;
        bad_len |= len < 1 || len > RC_ID_MAX;
        n++;
        p = nl ? nl + 1 : end;
    }
    void *img;
    size_t len;
    char err[RC_ERRMSG_MAX] = "";
    int rc = rc_overlay_encode(ids, lens, n, &img, &len, err);
    if (bad_len) {
        FUZZ_CHECK(rc == RC_ERANGE && err[0]);
        return;
    }
    FUZZ_CHECK(rc == 0);
    struct rc_overlay *o;
    FUZZ_CHECK(rc_overlay_decode(img, len, &o, err) == 0);
    check_overlay(o);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(rc_overlay_has(o, rc_key(ids[i], lens[i])));
    FUZZ_CHECK(o->count <= n);
    rc_overlay_free(o);
    free(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        encode_lines(data + 1, size - 1);
    else
        decode_image(data + 1, size - 1);
    return 0;
}
