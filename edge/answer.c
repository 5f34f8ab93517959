#include "answer.h"
#include "record.h"

#include <string.h>

/* Fixed text by source, written with constant-length copies of the whole
 * array (the room for it is reserved) and advanced by len. */
struct fixed_text {
    char text[31]; /* with len: 32 bytes, a power of two to index by */
    uint8_t len;
};
#define TEXT(s) {s, sizeof(s) - 1}
#define ROUTE(name) TEXT(",\"route\":\"" name "\"")
#define TAIL(name) TEXT(",\"source\":\"" name "\"}")
static const struct fixed_text route_text[] = {ROUTE("unknown"), ROUTE("cf"),     ROUTE("image"),   ROUTE("segment"),
                                               ROUTE("global"),  ROUTE("coview"), ROUTE("category")};
static const struct fixed_text item_tail[] = {TAIL("unknown"), TAIL("cf"),     TAIL("image"),   TAIL("segment"),
                                              TAIL("global"),  TAIL("coview"), TAIL("category")};
_Static_assert(sizeof(item_tail) / sizeof(item_tail[0]) == RC_SRC_LAST + 1, "a text for every source");
#undef TAIL
#undef ROUTE
#undef TEXT

static const struct fixed_text *by_source(const struct fixed_text *table, unsigned source)
{
    return &table[source <= RC_SRC_LAST ? source : 0]; /* 0: "unknown", as rc_source_name */
}

/* Most bytes of one item but its id: the head (written as 16), the id's
 * quotes, the middle (written as 16), the score text (written as 16), the
 * tail (written as 32). */
#define ITEM_FIXED_MAX (16 + 2 + 16 + 16 + 32)
/* The most one item can take, whatever its id. */
#define ITEM_MAX (ITEM_FIXED_MAX + RC_JSON_STR_MAX(RC_ID_MAX))

/* One item the exact way, for a fixed buffer too full for the worst case. */
static void item_exact(struct rc_buf *b, const struct re_item *it, const struct fixed_text *tail)
{
    rc_buf_add(b, ",{\"product\":", 12);
    rc_buf_json_str(b, it->id, it->id_len);
    rc_buf_add(b, ",\"score\":", 9);
    rc_buf_add(b, it->id + it->id_len, it->score_len);
    rc_buf_add(b, tail->text, tail->len);
}

/* An item's score text at o, which has room for 16 bytes; returns the end.
 * The 16 bytes that end where the text ends are loaded as two words and
 * shifted down past what precedes the text: no copy of variable length,
 * and no read past the entry (it holds at least 15 + 1 + 1 bytes). */
static inline __attribute__((always_inline)) char *score_copy(char *o, const struct re_item *it)
{
    const char *end = it->id + it->id_len + it->score_len;
#if defined(__SIZEOF_INT128__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t lo, hi;
    memcpy(&lo, end - 16, 8);
    memcpy(&hi, end - 8, 8);
    unsigned __int128 w = ((unsigned __int128)hi << 64 | lo) >> (8 * (16 - it->score_len)); /* score_len >= 1 */
    lo = (uint64_t)w;
    hi = (uint64_t)(w >> 64);
    memcpy(o, &lo, 8);
    memcpy(o + 8, &hi, 8);
#else
    memcpy(o, end - it->score_len, it->score_len);
#endif
    return o + it->score_len;
}

/* The text before an item's id and between its id and its score, as whole
 * 16-byte copies. Every item begins with a comma: re_recs_json turns the
 * first one into the array's '['. */
static const char item_head[16] = ",{\"product\":\"";
static const char item_mid[16] = "\",\"score\":";

/* One item at o, which has room for ITEM_FIXED_MAX + RC_JSON_STR_MAX(id
 * length) bytes; returns the end. The head ends with the id's opening
 * quote and the middle starts with its closing one: a plain id is copied
 * between them, any other is written quoted over them. */
static inline __attribute__((always_inline)) char *item_write(char *o, const struct re_item *it,
                                                             const struct fixed_text *tail)
{
    memcpy(o, item_head, 16);
    o += 13;
    char *q = rc_json_plain_write(o, it->id, it->id_len);
    if (__builtin_expect(!q, 0))
        q = rc_json_str_write_any(o - 1, it->id, it->id_len) - 1;
    memcpy(q, item_mid, 16);
    o = score_copy(q + 10, it);
    memcpy(o, tail->text, sizeof(tail->text));
    return o + tail->len;
}

/* The keys of the display fields, in enum rc_field order. */
static const struct fixed_text field_key[RC_FIELD_COUNT] = {
    {",\"title\":", 9}, {",\"url\":", 7}, {",\"image_url\":", 13}, {",\"price\":", 9}, {",\"currency\":", 12}};
_Static_assert(RC_FIELD_COUNT * 16 >= 9 + 7 + 13 + 9 + 12, "RE_ITEM_FIELDS_JSON_MAX holds the keys");

/* Bytes the display fields asked for add to item i, exactly. */
static size_t fields_len(const struct re_recs *r, unsigned i)
{
    size_t n = 0;
    for (int f = 0; f < RC_FIELD_COUNT; f++)
        if ((r->fields & (1u << f)) && r->texts[i][f].len)
            n += field_key[f].len + r->texts[i][f].len;
    return n;
}

/* The display fields of item i at o, which has room for fields_len(r, i)
 * bytes; returns the end. */
static char *fields_write(char *o, const struct re_recs *r, unsigned i)
{
    for (int f = 0; f < RC_FIELD_COUNT; f++) {
        const struct rc_text *t = &r->texts[i][f];
        if (!(r->fields & (1u << f)) || !t->len)
            continue;
        memcpy(o, field_key[f].text, field_key[f].len);
        memcpy(o + field_key[f].len, t->p, t->len);
        o += field_key[f].len + t->len;
    }
    return o;
}

/* The items with their display fields: one reservation per item, its
 * worst case without fields plus its fields exactly, else the exact way.
 * An item is written whole, then its closing brace moves past the fields. */
static void items_with_fields(const struct re_recs *r, struct rc_buf *b)
{
    for (unsigned i = 0; i < r->count; i++) {
        const struct re_item *it = &r->items[i];
        const struct fixed_text *tail = by_source(item_tail, it->source);
        size_t extra = fields_len(r, i);
        char *o = rc_buf_try_reserve(b, ITEM_FIXED_MAX + RC_JSON_STR_MAX(it->id_len) + extra);
        if (o) {
            o = item_write(o, it, tail) - 1;
            o = fields_write(o, r, i);
            *o++ = '}';
            rc_buf_commit(b, o);
            continue;
        }
        item_exact(b, it, tail);
        if (b->overflow)
            return;
        b->len--; /* the '}' */
        for (int f = 0; f < RC_FIELD_COUNT; f++)
            if ((r->fields & (1u << f)) && r->texts[i][f].len) {
                rc_buf_add(b, field_key[f].text, field_key[f].len);
                rc_buf_add(b, r->texts[i][f].p, r->texts[i][f].len);
            }
        rc_buf_add(b, "}", 1);
    }
}

/* ,"rec_id":"<32 hex>" */
#define REC_ID_JSON (11 + RE_REC_ID_LEN + 1)
#define SHORT_JSON ",\"short\":true"
#define SHORT_LEN (sizeof(SHORT_JSON) - 1)
#define ITEMS_KEY ",\"items\":" /* the '[' comes with the items */

/* The head, at its longest (a version id escaped byte by byte, the longest
 * arm), stays within the fixed text RE_RECS_JSON_MAX allows besides the items. */
_Static_assert(11 + RC_JSON_STR_MAX(RC_VERSION_MAX) + 32 + REC_ID_JSON + sizeof(((struct rc_experiment_arm *)0)->json) +
                       SHORT_LEN + 9 + 2 <= 1024,
               "RE_RECS_JSON_MAX holds the head");

/* The fields between "route" and "items": the recommendation id, the arm
 * and "short", those that r has, at o (room for REC_ID_JSON +
 * sizeof(arm->json) + SHORT_LEN bytes); returns the end. */
static char *head_ids(char *o, const struct re_recs *r)
{
    if (r->rec_id) {
        memcpy(o, ",\"rec_id\":\"", 11);
        memcpy(o + 11, r->rec_id, RE_REC_ID_LEN);
        o[11 + RE_REC_ID_LEN] = '"';
        o += REC_ID_JSON;
    }
    if (r->arm) {
        memcpy(o, r->arm->json, r->arm->json_len);
        o += r->arm->json_len;
    }
    if (r->count < r->n) {
        memcpy(o, SHORT_JSON, SHORT_LEN);
        o += SHORT_LEN;
    }
    return o;
}

void re_recs_json(const struct re_recs *r, const char *version, struct rc_buf *b)
{
    size_t vlen = strlen(version);
    const struct fixed_text *rt = by_source(route_text, r->route);
    /* The head in one reservation:
     * {"version":"V","route":"R","rec_id":"I","experiment":"E","arm":"A","short":true,"items": */
    char *o = rc_buf_try_reserve(b, 11 + RC_JSON_STR_MAX(vlen) + sizeof(rt->text) + REC_ID_JSON +
                                        sizeof(r->arm->json) + SHORT_LEN + 9);
    if (o) {
        memcpy(o, "{\"version\":", 11);
        o = rc_json_str_write(o + 11, version, vlen);
        memcpy(o, rt->text, sizeof(rt->text));
        o = head_ids(o + rt->len, r);
        memcpy(o, ITEMS_KEY, 9);
        rc_buf_commit(b, o + 9);
    } else {
        char ids[REC_ID_JSON + sizeof(r->arm->json) + SHORT_LEN];
        rc_buf_add(b, "{\"version\":", 11);
        rc_buf_json_str(b, version, vlen);
        rc_buf_add(b, rt->text, rt->len);
        rc_buf_add(b, ids, (size_t)(head_ids(ids, r) - ids));
        rc_buf_add(b, ITEMS_KEY, 9);
    }
    /* The items: one reservation for all of them when the worst case of
     * any ids fits (a RE_RECS_JSON_MAX buffer holds it for about 98
     * items), else one per item, else the exact way. The tail text is
     * looked up again only where the source changes. */
    size_t items_at = b->len;
    unsigned source = r->count ? r->items[0].source : 0;
    const struct fixed_text *tail = by_source(item_tail, source);
    o = r->count && !r->fields ? rc_buf_try_reserve(b, (size_t)r->count * ITEM_MAX) : NULL;
    if (r->fields) {
        items_with_fields(r, b);
    } else if (o) {
        for (unsigned i = 0; i < r->count; i++) {
            const struct re_item *it = &r->items[i];
            if (__builtin_expect(it->source != source, 0))
                tail = by_source(item_tail, source = it->source);
            o = item_write(o, it, tail);
        }
        rc_buf_commit(b, o);
    } else {
        for (unsigned i = 0; i < r->count; i++) {
            const struct re_item *it = &r->items[i];
            tail = by_source(item_tail, it->source);
            o = rc_buf_try_reserve(b, ITEM_FIXED_MAX + RC_JSON_STR_MAX(it->id_len));
            if (o)
                rc_buf_commit(b, item_write(o, it, tail));
            else
                item_exact(b, it, tail);
        }
    }
    /* the first item's comma, if one was written, opens the array */
    if (b->len > items_at)
        b->data[items_at] = '[';
    else
        rc_buf_add(b, "[", 1);
    rc_buf_add(b, "]}", 2);
}
