#include "catset.h"
#include "error.h"
#include "le.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* The header's verdict: 0 or the code of its first defect, with a reason
 * in err (may be NULL). Codes as rc_catset_check's; rc_catset_open folds
 * magic and version into RC_EFORMAT. */
static int check_header(const unsigned char *p, size_t len, uint32_t *count, char *err)
{
    if (len < RC_CATSET_HEADER)
        return rc_fail(err, RC_ETRUNC, "set record of %zu bytes is shorter than its %d-byte header", len,
                       RC_CATSET_HEADER);
    if (memcmp(p, RC_CATSET_MAGIC, 4) != 0)
        return rc_fail(err, RC_EMAGIC, "set record does not begin with \"%s\"", RC_CATSET_MAGIC);
    unsigned version = (unsigned)(p[4] | p[5] << 8);
    if (version != RC_CATSET_VERSION)
        return rc_fail(err, RC_EVERSION, "set record version %u; this build reads version %d", version,
                       RC_CATSET_VERSION);
    if (p[6] || p[7])
        return rc_fail(err, RC_EFORMAT, "set record reserved bytes are not 0");
    uint32_t n = rc_le_get32(p + 8);
    if (n > RC_CATSET_MAX)
        return rc_fail(err, RC_EFORMAT, "set record count %u is over %u", (unsigned)n, RC_CATSET_MAX);
    size_t want = rc_catset_size(n);
    if (len < want)
        return rc_fail(err, RC_ETRUNC, "set record of %u keys needs %zu bytes, has %zu", (unsigned)n, want, len);
    if (len > want)
        return rc_fail(err, RC_EFORMAT, "set record of %u keys has %zu bytes after its last key", (unsigned)n,
                       len - want);
    *count = n;
    return 0;
}

int rc_catset_open(struct rc_catset *s, const void *val, size_t len)
{
    const unsigned char *p = (const unsigned char *)val;
    uint32_t count = 0;
    int rc = check_header(p, len, &count, NULL);
    if (rc == RC_EMAGIC || rc == RC_EVERSION)
        rc = RC_EFORMAT;
    if (rc)
        return rc;
    s->keys = p + RC_CATSET_HEADER;
    s->count = count;
    return 0;
}

uint64_t rc_catset_key(const struct rc_catset *s, uint32_t i)
{
    return rc_le_get64(s->keys + 8 * (size_t)i);
}

int rc_catset_check(const void *val, size_t len, char *err)
{
    const unsigned char *p = (const unsigned char *)val;
    uint32_t count = 0;
    int rc = check_header(p, len, &count, err);
    if (rc)
        return rc;
    const unsigned char *keys = p + RC_CATSET_HEADER;
    for (uint32_t i = 1; i < count; i++) {
        uint64_t a = rc_le_get64(keys + 8 * (size_t)(i - 1)), b = rc_le_get64(keys + 8 * (size_t)i);
        if (a >= b)
            return rc_fail(err, RC_EFORMAT, "set record key %u (%016llx) %s key %u", (unsigned)i,
                           (unsigned long long)b, a == b ? "repeats" : "is below", (unsigned)(i - 1));
    }
    uint32_t check = (uint32_t)XXH3_64bits(keys, len - RC_CATSET_HEADER);
    if (check != rc_le_get32(p + 12))
        return rc_fail(err, RC_ECHECKSUM, "set record checksum %08x does not match its keys' %08x",
                       (unsigned)rc_le_get32(p + 12), (unsigned)check);
    return 0;
}

long rc_catset_encode(void *out, size_t cap, const uint64_t *keys, size_t count)
{
    if (count > RC_CATSET_MAX)
        return RC_ERANGE;
    for (size_t i = 1; i < count; i++)
        if (keys[i - 1] >= keys[i])
            return RC_EFORMAT;
    size_t len = rc_catset_size(count);
    if (len > cap)
        return -ENOSPC;
    unsigned char *p = (unsigned char *)out;
    memcpy(p, RC_CATSET_MAGIC, 4);
    p[4] = RC_CATSET_VERSION;
    p[5] = 0;
    p[6] = p[7] = 0;
    rc_le_put32(p + 8, (uint32_t)count);
    for (size_t i = 0; i < count; i++)
        rc_le_put64(p + RC_CATSET_HEADER + 8 * i, keys[i]);
    rc_le_put32(p + 12, (uint32_t)XXH3_64bits(p + RC_CATSET_HEADER, len - RC_CATSET_HEADER));
    return (long)len;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

size_t rc_catset_sort(uint64_t *keys, size_t count)
{
    if (count < 2)
        return count;
    qsort(keys, count, sizeof *keys, cmp_u64);
    size_t n = 1;
    for (size_t i = 1; i < count; i++)
        if (keys[i] != keys[n - 1])
            keys[n++] = keys[i];
    return n;
}
