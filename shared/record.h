/*
 * record.h - the versioned binary records stored as LMDB values.
 * The byte layout is specified in schemas/cache.md; this is its codec.
 *
 * List record (cookie, product, segment, coview, cookie_b and category DBs): a
 * ranked list of products. (The catset DB holds set records: catset.h.)
 *
 *   off size field
 *   0   4    magic      "ERLS" (0x45 0x52 0x4c 0x53)
 *   4   2    version    RC_LIST_VERSION (2), little-endian
 *   6   1    source     enum rc_source
 *   7   1    flags      RC_LIST_ASIDE (bit 0, image lists only) or 0;
 *                       readers refuse other bits
 *   8   2    count      number of entries, 0..RC_LIST_MAX
 *   10  2    reserved   0
 *   12  4    check      low 32 bits of XXH3_64 over bytes [16, end)
 *   16  ...  count entries, packed, no padding:
 *            u64 product key, f32 score, u16 id_len (1..RC_ID_MAX),
 *            u8 score_len (1..RC_SCORE_TEXT_MAX), id bytes, score text
 *
 * The score text is the score as a JSON number, exactly what
 * rc_json_score_write (json.h) writes for it: "%.6g", or null when it is
 * not finite. It is written once per list by the builder so that the edge
 * copies it into every answer rather than formats it.
 *
 * Item record (items DB): one catalog product.
 *
 *   0   4    magic      "ERIT"
 *   4   2    version    1 (RC_ITEM_VERSION_PLAIN): no display fields, or
 *                       2 (RC_ITEM_VERSION): display fields follow
 *   6   1    flags      bit 0: in stock; other bits 0
 *   7   1    fields     version 1: 0 (reserved); version 2: which display
 *                       fields follow, bit i for enum rc_field i, at least
 *                       one, other bits 0
 *   8   2    id_len     1..RC_ID_MAX
 *   10  2    cat_len    0..RC_ID_MAX
 *   12  ...  id bytes, then category bytes, then (version 2) for each field
 *            present, in enum order: u16 text_len, then text_len bytes of
 *            the field's JSON text (rc_field_text_max bounds it)
 *
 * A display field's text is the JSON value the edge answers with, written
 * once by the builder: title, url, image_url and currency are JSON strings
 * with their quotes (currency "[A-Z]{3}"), price a non-negative JSON
 * number. The encoder writes version 1 exactly when no field is given, so
 * a catalog without display columns builds the bytes it always did; both
 * versions are read, others refused. A full decode (rc_item_decode) checks
 * each text's JSON syntax; the lazy one (rc_item_decode_lazy, the edge)
 * checks lengths only and relies on the full check made at load, as lists
 * do.
 *
 * All multi-byte fields are little-endian; values need not be aligned (LMDB
 * gives no alignment guarantee), so the codec reads them with memcpy.
 *
 * Decoding never reads outside [buf, buf+len), in either of two modes:
 *   - full (the default): rc_list_open() walks every entry once and refuses
 *     a record whose entries do not end exactly at len or whose score text
 *     is not its score's; after a successful open, rc_list_next() cannot
 *     fail (recctl, recbuild, recedge when it loads a version, tests);
 *   - lazy (RC_DECODE_LAZY, the edge): rc_list_open() checks the header
 *     only, and rc_list_next() checks each entry as it reaches it. A
 *     malformed entry, or bytes left after the last one, ends the iteration
 *     (rc_list_next returns 0) with list->err set to RC_ETRUNC or
 *     RC_EFORMAT; the entries returned before it were well-formed. A reader
 *     that stops early never looks at the rest of the record, so a defect
 *     there goes unnoticed: the edge reads only the head of most lists and
 *     relies on the full check of every record it made when the version
 *     was loaded. Lazy mode checks an entry's lengths, not its bytes.
 * The checksum is checked only when RC_DECODE_VERIFY is passed (recctl
 * verify, tests); it needs the whole record, so it implies full decoding.
 */
#ifndef RC_RECORD_H
#define RC_RECORD_H

#include "error.h"
#include "keys.h"
#include "le.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RC_LIST_MAGIC "ERLS"
#define RC_ITEM_MAGIC "ERIT"
#define RC_LIST_VERSION 2
#define RC_ITEM_VERSION 2       /* an item with display fields */
#define RC_ITEM_VERSION_PLAIN 1 /* an item without them */
#define RC_LIST_HEADER 16
#define RC_ENTRY_FIXED 15 /* key + score + id_len + score_len */
#define RC_SCORE_TEXT_MAX 12 /* RC_JSON_SCORE_MAX */
#define RC_LIST_MAX 1000
#define RC_ITEM_HEADER 12
#define RC_ITEM_IN_STOCK 0x01

/* List flags. RC_LIST_ASIDE: an image list the browsing route does not
 * serve (recbuild's blend weight 1: coview lists alone, schemas/cache.md);
 * tools still read it. */
#define RC_LIST_ASIDE 0x01
#define RC_LIST_FLAGS RC_LIST_ASIDE /* every flag a reader knows */

#define RC_DECODE_VERIFY 0x01 /* check the record's checksum (full decoding) */
#define RC_DECODE_LAZY 0x02   /* check entries in rc_list_next, not in rc_list_open */

enum rc_source { RC_SRC_CF = 1, RC_SRC_IMAGE = 2, RC_SRC_SEGMENT = 3, RC_SRC_GLOBAL = 4, RC_SRC_COVIEW = 5,
                 RC_SRC_CATEGORY = 6 };
#define RC_SRC_LAST RC_SRC_CATEGORY /* sources are RC_SRC_CF..RC_SRC_LAST */

/* "cf", "image", "segment", "global", "coview", "category"; "unknown"
 * otherwise. */
const char *rc_source_name(int source);

struct rc_entry {
    uint64_t key;
    float score;
    uint16_t id_len;
    const char *id;    /* points into the record; not NUL-terminated */
    uint8_t score_len; /* of the score text, which follows the id (read only) */
};

/* The score text of an entry read from a record (rc_list_next): the
 * score_len bytes after its id. */
static inline const char *rc_entry_score_text(const struct rc_entry *e)
{
    return e->id + e->id_len;
}

/* An opened list record; borrows the buffer it was opened on. */
struct rc_list {
    const unsigned char *buf;
    const unsigned char *next; /* the next entry */
    const unsigned char *end;  /* buf + the record's length */
    uint16_t count;
    uint16_t index; /* entries returned so far */
    uint8_t source;
    uint8_t flags;  /* RC_LIST_* */
    int err;        /* 0, or why rc_list_next stopped early (lazy mode only) */
};

/*
 * Most bytes needed to encode `count` entries whose id lengths sum to
 * ids_total (each score text counted at its longest; rc_list_encode returns
 * the exact length).
 */
size_t rc_list_size(size_t count, size_t ids_total);

/*
 * Encode a list into out (capacity cap). Entries are written in the order
 * given; the caller ranks them. Each entry's score text is written here
 * from its score (score_len is ignored). Returns the encoded length (> 0), or
 * RC_ERANGE (count > RC_LIST_MAX, bad source), RC_ETOOLONG (an id is empty
 * or longer than RC_ID_MAX), -ENOSPC (cap too small).
 */
long rc_list_encode(void *out, size_t cap, enum rc_source source, const struct rc_entry *entries, size_t count);

/*
 * Set the flags of a list record rc_list_encode wrote (rec[0, len)); the
 * header is outside the checksum, so nothing else changes. Errors:
 * RC_ERANGE (an unknown flag, or RC_LIST_ASIDE on a list whose source is
 * not RC_SRC_IMAGE), RC_ETRUNC (len shorter than the header).
 */
int rc_list_set_flags(void *rec, size_t len, unsigned flags);

/*
 * Validate buf[0, len) as a list record and prepare iteration. flags:
 * RC_DECODE_VERIFY, RC_DECODE_LAZY (ignored together with VERIFY).
 * Errors: RC_ETRUNC (shorter than its header or, not lazy, its entries),
 * RC_EMAGIC, RC_EVERSION (with the version found in *err), RC_EFORMAT (bad
 * flags, reserved, source, count, or, not lazy, an id length or trailing
 * bytes), RC_ECHECKSUM (only with RC_DECODE_VERIFY). err may be NULL.
 */
int rc_list_open(struct rc_list *list, const void *buf, size_t len, int flags, char *err);

/* Set up the iteration of a record whose header was checked (rc_list_open). */
static inline int rc_list_start(struct rc_list *list, const unsigned char *p, size_t len, uint16_t count)
{
    list->buf = p;
    list->next = p + RC_LIST_HEADER;
    list->end = p + len;
    list->count = count;
    list->index = 0;
    list->source = p[6];
    list->flags = p[7];
    list->err = 0;
    return 0;
}

/*
 * rc_list_open(list, buf, len, RC_DECODE_LAZY, NULL), inline for the edge,
 * which opens a list or more per request: a header that is plainly good
 * opens here, anything else goes to rc_list_open, which finds the defect
 * and returns its code.
 */
static inline int rc_list_open_lazy(struct rc_list *list, const void *buf, size_t len)
{
    const unsigned char *p = (const unsigned char *)buf;
    unsigned count = len >= RC_LIST_HEADER ? (unsigned)(p[8] | p[9] << 8) : 0;
    int good = len >= RC_LIST_HEADER && memcmp(p, RC_LIST_MAGIC, 4) == 0 && (p[4] | p[5] << 8) == RC_LIST_VERSION &&
               (unsigned)p[6] - RC_SRC_CF <= RC_SRC_LAST - RC_SRC_CF &&
               (p[7] == 0 || (p[7] == RC_LIST_ASIDE && p[6] == RC_SRC_IMAGE)) && p[10] == 0 && p[11] == 0 &&
               count <= RC_LIST_MAX;
    if (__builtin_expect(good, 1))
        return rc_list_start(list, p, len, (uint16_t)count);
    return rc_list_open(list, buf, len, RC_DECODE_LAZY, NULL);
}

/* End the iteration with list->err = code (rc_list_next's slow path); returns 0. */
int rc_list_stop(struct rc_list *list, int code);

/*
 * Next entry; returns 1 and fills *e, or 0 at the end. Lazy mode: also 0
 * at a malformed entry or at bytes after the last entry, with list->err
 * RC_ETRUNC or RC_EFORMAT (it stays 0 at a clean end); every later call
 * returns 0 too. Never reads outside the record. Inline: the edge calls it
 * for every entry it serves. The checks are those of rc_list_open for this
 * entry's lengths (not its score text's bytes): after a full open they
 * always pass, so they cost a few compares, never a second walk.
 */
static inline int rc_list_next(struct rc_list *list, struct rc_entry *e)
{
    const unsigned char *q = list->next;
    size_t left = (size_t)(list->end - q);
    if (list->index >= list->count) {
        if (left && !list->err)
            rc_list_stop(list, RC_EFORMAT); /* trailing bytes */
        return 0;
    }
    if (__builtin_expect(left < RC_ENTRY_FIXED, 0)) {
        rc_list_stop(list, RC_ETRUNC);
        return 0;
    }
    unsigned id_len = rc_le_get16(q + 12), score_len = q[14];
    /* n - 1 wraps for 0: one compare for 1..MAX */
    int bad_len = id_len - 1 >= RC_ID_MAX || score_len - 1 >= RC_SCORE_TEXT_MAX;
    if (__builtin_expect(bad_len || left - RC_ENTRY_FIXED < id_len + score_len, 0)) {
        rc_list_stop(list, bad_len ? RC_EFORMAT : RC_ETRUNC);
        return 0;
    }
    e->key = rc_le_get64(q);
    uint32_t bits = rc_le_get32(q + 8);
    memcpy(&e->score, &bits, 4);
    e->id_len = (uint16_t)id_len;
    e->score_len = (uint8_t)score_len;
    e->id = (const char *)q + RC_ENTRY_FIXED;
    list->next = q + RC_ENTRY_FIXED + id_len + score_len;
    list->index++;
    return 1;
}

/* Rewind to the first entry (list->err is kept; a defect is met again). */
void rc_list_rewind(struct rc_list *list);

/* The display fields of an item, in their stored order; their names are
 * those of the API's `fields` parameter and item keys (rc_field_name). */
enum rc_field { RC_FIELD_TITLE, RC_FIELD_URL, RC_FIELD_IMAGE_URL, RC_FIELD_PRICE, RC_FIELD_CURRENCY,
                RC_FIELD_COUNT };
#define RC_FIELDS_ALL ((1u << RC_FIELD_COUNT) - 1)

/* Bounds of the values a catalog gives (builder/catalog.c) and of the texts
 * stored for them: a title is escaped (RC_JSON_STR_MAX), a url is stored
 * plain, the currency is a 3-letter code. */
#define RC_TITLE_MAX 200
#define RC_URL_MAX 1000
#define RC_TITLE_TEXT_MAX (2 + 6 * RC_TITLE_MAX)
#define RC_URL_TEXT_MAX (2 + RC_URL_MAX)
#define RC_PRICE_TEXT_MAX 24
#define RC_CURRENCY_TEXT_LEN 5
/* The most the texts of all fields of one item take together. */
#define RC_FIELDS_TEXT_MAX (RC_TITLE_TEXT_MAX + 2 * RC_URL_TEXT_MAX + RC_PRICE_TEXT_MAX + RC_CURRENCY_TEXT_LEN)

/* "title", "url", "image_url", "price", "currency"; NULL otherwise. */
const char *rc_field_name(int field);
/* Most bytes of a field's text; 0 for an unknown field. */
size_t rc_field_text_max(int field);
/* 0 when text[0, len) is a valid text of the field (syntax and length as
 * above), else RC_ETOOLONG (too long) or RC_EFORMAT. */
int rc_field_text_check(int field, const char *text, size_t len);

struct rc_text {
    const char *p; /* into the record; NULL when absent */
    uint16_t len;  /* 0 when absent */
};

struct rc_item {
    uint8_t flags;
    uint8_t fields; /* bit i set: field[i] is present */
    uint16_t id_len, cat_len;
    const char *id;  /* into the record */
    const char *cat; /* into the record */
    struct rc_text field[RC_FIELD_COUNT];
};

/*
 * Encode an item into out (capacity cap). fields: RC_FIELD_COUNT texts, a
 * text of length 0 being absent, or NULL for none; without any the record
 * is version 1. Returns the length (> 0), or RC_ETOOLONG (an id empty or
 * over RC_ID_MAX, a category over RC_ID_MAX, a text over its bound),
 * RC_EFORMAT (a text that is not its field's JSON), -ENOSPC (cap too small).
 */
long rc_item_encode_fields(void *out, size_t cap, const char *id, size_t id_len, const char *cat, size_t cat_len,
                           int in_stock, const struct rc_text *fields);
/* rc_item_encode_fields without display fields (a version 1 record). */
long rc_item_encode(void *out, size_t cap, const char *id, size_t id_len, const char *cat, size_t cat_len,
                    int in_stock);
/*
 * Decode buf[0, len) as an item record, checking everything (every text's
 * syntax too). Errors: RC_ETRUNC (shorter than its header or what its
 * header announces), RC_EMAGIC, RC_EVERSION (not 1 or 2), RC_EFORMAT (bad
 * flags, fields, lengths, a bad text, trailing bytes). err may be NULL.
 */
int rc_item_decode(struct rc_item *item, const void *buf, size_t len, char *err);
/* rc_item_decode checking the header and every length, not the texts'
 * bytes (the edge, on records checked whole when the version was loaded). */
int rc_item_decode_lazy(struct rc_item *item, const void *buf, size_t len);

#endif
