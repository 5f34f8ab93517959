#include "keys.h"

#include <string.h>
/* XXH3 compiled in here rather than called in libxxhash: the edge hashes
 * every id of every request. Same function, same keys. */
#define XXH_INLINE_ALL
#include <xxhash.h>

uint64_t rc_key(const char *id, size_t len)
{
    return XXH3_64bits(id, len);
}

uint64_t rc_segment_key(const char *loc, size_t loc_len, const char *dev, size_t dev_len)
{
    char buf[2 * RC_ID_MAX + 1];
    if (loc_len > RC_ID_MAX)
        loc_len = RC_ID_MAX;
    if (dev_len > RC_ID_MAX)
        dev_len = RC_ID_MAX;
    memcpy(buf, loc, loc_len);
    buf[loc_len] = RC_SEGMENT_SEP;
    memcpy(buf + loc_len + 1, dev, dev_len);
    return XXH3_64bits(buf, loc_len + 1 + dev_len);
}
