/*
 * le.h - little-endian integers in byte buffers: the one definition that
 * every binary format of edgerec uses (list and item records, set records,
 * overlay files, recbuild's shard files). Buffers need no alignment (LMDB
 * gives none), so whole words go through memcpy; on a little-endian
 * machine each call is one load or store.
 *
 * Thread rules: none.
 */
#ifndef RC_LE_H
#define RC_LE_H

#include <stdint.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define RC_LE_SWAP16(v) __builtin_bswap16(v)
#define RC_LE_SWAP32(v) __builtin_bswap32(v)
#define RC_LE_SWAP64(v) __builtin_bswap64(v)
#else
#define RC_LE_SWAP16(v) (v)
#define RC_LE_SWAP32(v) (v)
#define RC_LE_SWAP64(v) (v)
#endif

static inline void rc_le_put16(unsigned char *p, uint16_t v)
{
    v = RC_LE_SWAP16(v);
    memcpy(p, &v, 2);
}

static inline void rc_le_put32(unsigned char *p, uint32_t v)
{
    v = RC_LE_SWAP32(v);
    memcpy(p, &v, 4);
}

static inline void rc_le_put64(unsigned char *p, uint64_t v)
{
    v = RC_LE_SWAP64(v);
    memcpy(p, &v, 8);
}

static inline uint16_t rc_le_get16(const unsigned char *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return RC_LE_SWAP16(v);
}

static inline uint32_t rc_le_get32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return RC_LE_SWAP32(v);
}

static inline uint64_t rc_le_get64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return RC_LE_SWAP64(v);
}

#endif
