/*
 * keys.h - the 64-bit keys of the cache (schemas/cache.md, "Keys").
 *
 * A key is XXH3_64bits (seed 0) of the id's bytes, exactly as they appear in
 * the input (no case folding, no trimming). A segment key hashes
 * loc + RC_SEGMENT_SEP + device, where either side may be RC_WILDCARD ("*").
 * Keys are stored native-endian under MDB_INTEGERKEY.
 *
 * Ids are 1..RC_ID_MAX bytes; callers check lengths before hashing.
 */
#ifndef RC_KEYS_H
#define RC_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define RC_ID_MAX 256
#define RC_SEGMENT_SEP '\x1f'
#define RC_WILDCARD "*"

uint64_t rc_key(const char *id, size_t len);

/* Key of segment (loc, device); loc_len and dev_len are at most RC_ID_MAX. */
uint64_t rc_segment_key(const char *loc, size_t loc_len, const char *dev, size_t dev_len);

#endif
