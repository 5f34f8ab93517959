#include "record.h"
#include "error.h"
#include "json.h"
#include "keys.h"
#include "le.h"

#include <errno.h>
#include <string.h>
#include <xxhash.h>

const char *rc_source_name(int source)
{
    switch (source) {
    case RC_SRC_CF: return "cf";
    case RC_SRC_IMAGE: return "image";
    case RC_SRC_SEGMENT: return "segment";
    case RC_SRC_GLOBAL: return "global";
    case RC_SRC_COVIEW: return "coview";
    case RC_SRC_CATEGORY: return "category";
    default: return "unknown";
    }
}

_Static_assert(RC_SCORE_TEXT_MAX == RC_JSON_SCORE_MAX, "a score text field holds any score's text");

size_t rc_list_size(size_t count, size_t ids_total)
{
    return RC_LIST_HEADER + count * (RC_ENTRY_FIXED + RC_SCORE_TEXT_MAX) + ids_total;
}

/* The score text of f into text (RC_JSON_SCORE_ROOM bytes); its length. */
static unsigned score_text(char *text, float f)
{
    return (unsigned)(rc_json_score_write(text, f) - text);
}

long rc_list_encode(void *out, size_t cap, enum rc_source source, const struct rc_entry *entries, size_t count)
{
    if (count > RC_LIST_MAX || source < RC_SRC_CF || source > RC_SRC_LAST)
        return RC_ERANGE;
    size_t ids = 0;
    char text[RC_JSON_SCORE_ROOM];
    for (size_t i = 0; i < count; i++) {
        if (entries[i].id_len == 0 || entries[i].id_len > RC_ID_MAX)
            return RC_ETOOLONG;
        ids += entries[i].id_len;
    }
    /* The scores are formatted once, while writing, when the longest texts
     * would fit (recbuild sizes its buffer so); only a tighter cap needs
     * the exact size first, so that a list that does not fit writes
     * nothing. */
    if (rc_list_size(count, ids) > cap) {
        size_t need = RC_LIST_HEADER + count * RC_ENTRY_FIXED + ids;
        for (size_t i = 0; i < count && need <= cap; i++)
            need += score_text(text, entries[i].score);
        if (need > cap)
            return -ENOSPC;
    }
    unsigned char *p = out;
    memcpy(p, RC_LIST_MAGIC, 4);
    rc_le_put16(p + 4, RC_LIST_VERSION);
    p[6] = (unsigned char)source;
    p[7] = 0;
    rc_le_put16(p + 8, (uint16_t)count);
    rc_le_put16(p + 10, 0);
    unsigned char *q = p + RC_LIST_HEADER;
    for (size_t i = 0; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, &entries[i].score, 4);
        rc_le_put64(q, entries[i].key);
        rc_le_put32(q + 8, bits);
        rc_le_put16(q + 12, entries[i].id_len);
        unsigned text_len = score_text(text, entries[i].score);
        q[14] = (unsigned char)text_len;
        memcpy(q + RC_ENTRY_FIXED, entries[i].id, entries[i].id_len);
        memcpy(q + RC_ENTRY_FIXED + entries[i].id_len, text, text_len);
        q += RC_ENTRY_FIXED + entries[i].id_len + text_len;
    }
    size_t len = (size_t)(q - p);
    rc_le_put32(p + 12, (uint32_t)XXH3_64bits(p + RC_LIST_HEADER, len - RC_LIST_HEADER));
    return (long)len;
}

int rc_list_set_flags(void *rec, size_t len, unsigned flags)
{
    unsigned char *p = rec;
    if (len < RC_LIST_HEADER)
        return RC_ETRUNC;
    if ((flags & ~(unsigned)RC_LIST_FLAGS) != 0 || ((flags & RC_LIST_ASIDE) && p[6] != RC_SRC_IMAGE))
        return RC_ERANGE;
    p[7] = (unsigned char)flags;
    return 0;
}

int rc_list_open(struct rc_list *list, const void *buf, size_t len, int flags, char *err)
{
    const unsigned char *p = buf;
    if (len < RC_LIST_HEADER)
        return rc_fail(err, RC_ETRUNC, "list record of %zu bytes is shorter than its %d-byte header", len,
                       RC_LIST_HEADER);
    if (memcmp(p, RC_LIST_MAGIC, 4) != 0)
        return rc_fail(err, RC_EMAGIC, "list record magic is not '%s'", RC_LIST_MAGIC);
    uint16_t version = rc_le_get16(p + 4);
    if (version != RC_LIST_VERSION)
        return rc_fail(err, RC_EVERSION, "list record version %u, this build reads version %d", version,
                       RC_LIST_VERSION);
    if (p[6] < RC_SRC_CF || p[6] > RC_SRC_LAST || (p[7] & ~RC_LIST_FLAGS) != 0 ||
        (p[7] == RC_LIST_ASIDE && p[6] != RC_SRC_IMAGE) || rc_le_get16(p + 10) != 0)
        return rc_fail(err, RC_EFORMAT, "list record has bad source, flags or reserved bytes");
    uint16_t count = rc_le_get16(p + 8);
    if (count > RC_LIST_MAX)
        return rc_fail(err, RC_EFORMAT, "list record count %u exceeds %d", count, RC_LIST_MAX);
    if ((flags & RC_DECODE_LAZY) && !(flags & RC_DECODE_VERIFY))
        return rc_list_start(list, p, len, count); /* rc_list_next checks each entry */
    size_t pos = RC_LIST_HEADER;
    for (uint16_t i = 0; i < count; i++) {
        if (len - pos < RC_ENTRY_FIXED)
            return rc_fail(err, RC_ETRUNC, "list record truncated in entry %u", i);
        uint16_t id_len = rc_le_get16(p + pos + 12);
        unsigned text_len = p[pos + 14];
        if (id_len == 0 || id_len > RC_ID_MAX)
            return rc_fail(err, RC_EFORMAT, "list entry %u has id length %u", i, id_len);
        if (text_len == 0 || text_len > RC_SCORE_TEXT_MAX)
            return rc_fail(err, RC_EFORMAT, "list entry %u has score text length %u", i, text_len);
        if (len - pos - RC_ENTRY_FIXED < (size_t)id_len + text_len)
            return rc_fail(err, RC_ETRUNC, "list record truncated in entry %u id or score text", i);
        float score;
        uint32_t bits = rc_le_get32(p + pos + 8);
        memcpy(&score, &bits, 4);
        char text[RC_JSON_SCORE_ROOM];
        if (score_text(text, score) != text_len || memcmp(text, p + pos + RC_ENTRY_FIXED + id_len, text_len) != 0)
            return rc_fail(err, RC_EFORMAT, "list entry %u has a score text that is not its score's ('%.*s')", i,
                           (int)(score_text(text, score)), text);
        pos += RC_ENTRY_FIXED + id_len + text_len;
    }
    if (pos != len)
        return rc_fail(err, RC_EFORMAT, "list record has %zu trailing bytes", len - pos);
    if ((flags & RC_DECODE_VERIFY) && (uint32_t)XXH3_64bits(p + RC_LIST_HEADER, len - RC_LIST_HEADER) != rc_le_get32(p + 12))
        return rc_fail(err, RC_ECHECKSUM, "list record checksum mismatch");
    return rc_list_start(list, p, len, count);
}

/* Stop the iteration of a lazily opened list at a defect. */
int rc_list_stop(struct rc_list *list, int code)
{
    list->err = code;
    list->index = list->count;
    list->next = list->end;
    return 0;
}

void rc_list_rewind(struct rc_list *list)
{
    list->next = list->buf + RC_LIST_HEADER;
    list->index = 0;
}

static const char *const field_names[RC_FIELD_COUNT] = {"title", "url", "image_url", "price", "currency"};

const char *rc_field_name(int field)
{
    return (unsigned)field < RC_FIELD_COUNT ? field_names[field] : NULL;
}

size_t rc_field_text_max(int field)
{
    switch (field) {
    case RC_FIELD_TITLE: return RC_TITLE_TEXT_MAX;
    case RC_FIELD_URL:
    case RC_FIELD_IMAGE_URL: return RC_URL_TEXT_MAX;
    case RC_FIELD_PRICE: return RC_PRICE_TEXT_MAX;
    case RC_FIELD_CURRENCY: return RC_CURRENCY_TEXT_LEN;
    default: return 0;
    }
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* A JSON string with its quotes: no raw control byte, '"' or '\' inside
 * but in a valid escape (UTF-8 is not checked: the builder writes it
 * with rc_json_str_write, which writes only valid UTF-8). */
static int json_string_ok(const unsigned char *s, size_t len)
{
    if (len < 2 || s[0] != '"' || s[len - 1] != '"')
        return 0;
    for (size_t i = 1; i < len - 1; i++) {
        if (s[i] < 0x20 || s[i] == '"')
            return 0;
        if (s[i] != '\\')
            continue;
        if (++i >= len - 1)
            return 0;
        if (s[i] == 'u') {
            if (len - 1 - i <= 4)
                return 0;
            for (int k = 1; k <= 4; k++)
                if (rc_hexval(s[i + k]) < 0)
                    return 0;
            i += 4;
        } else if (!strchr("\"\\/bfnrt", s[i])) {
            return 0;
        }
    }
    return 1;
}

/* A non-negative JSON number: int [frac] [exp], int "0" or no leading 0. */
static int json_price_ok(const unsigned char *s, size_t len)
{
    size_t i = 0;
    if (i < len && s[i] == '0')
        i++;
    else if (i < len && is_digit(s[i]))
        while (i < len && is_digit(s[i]))
            i++;
    else
        return 0;
    if (i < len && s[i] == '.') {
        size_t from = ++i;
        while (i < len && is_digit(s[i]))
            i++;
        if (i == from)
            return 0;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t from = i;
        while (i < len && is_digit(s[i]))
            i++;
        if (i == from)
            return 0;
    }
    return i == len;
}

int rc_field_text_check(int field, const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t max = rc_field_text_max(field);
    if (!max)
        return RC_EFORMAT;
    if (len > max)
        return RC_ETOOLONG;
    int ok;
    switch (field) {
    case RC_FIELD_PRICE: ok = json_price_ok(s, len); break;
    case RC_FIELD_CURRENCY:
        ok = len == RC_CURRENCY_TEXT_LEN && s[0] == '"' && s[4] == '"';
        for (int i = 1; i < 4 && ok; i++)
            ok = s[i] >= 'A' && s[i] <= 'Z';
        break;
    default: ok = json_string_ok(s, len); break;
    }
    return ok ? 0 : RC_EFORMAT;
}

long rc_item_encode_fields(void *out, size_t cap, const char *id, size_t id_len, const char *cat, size_t cat_len,
                           int in_stock, const struct rc_text *fields)
{
    if (id_len == 0 || id_len > RC_ID_MAX || cat_len > RC_ID_MAX)
        return RC_ETOOLONG;
    size_t need = RC_ITEM_HEADER + id_len + cat_len;
    unsigned mask = 0;
    for (int f = 0; fields && f < RC_FIELD_COUNT; f++) {
        if (!fields[f].len)
            continue;
        int rc = rc_field_text_check(f, fields[f].p, fields[f].len);
        if (rc)
            return rc;
        mask |= 1u << f;
        need += 2 + fields[f].len;
    }
    if (need > cap)
        return -ENOSPC;
    unsigned char *p = out;
    memcpy(p, RC_ITEM_MAGIC, 4);
    rc_le_put16(p + 4, mask ? RC_ITEM_VERSION : RC_ITEM_VERSION_PLAIN);
    p[6] = in_stock ? RC_ITEM_IN_STOCK : 0;
    p[7] = (unsigned char)mask;
    rc_le_put16(p + 8, (uint16_t)id_len);
    rc_le_put16(p + 10, (uint16_t)cat_len);
    unsigned char *q = p + RC_ITEM_HEADER;
    memcpy(q, id, id_len);
    q += id_len;
    if (cat_len)
        memcpy(q, cat, cat_len);
    q += cat_len;
    for (int f = 0; f < RC_FIELD_COUNT; f++) {
        if (!(mask & (1u << f)))
            continue;
        rc_le_put16(q, fields[f].len);
        memcpy(q + 2, fields[f].p, fields[f].len);
        q += 2 + fields[f].len;
    }
    return (long)need;
}

long rc_item_encode(void *out, size_t cap, const char *id, size_t id_len, const char *cat, size_t cat_len,
                    int in_stock)
{
    return rc_item_encode_fields(out, cap, id, id_len, cat, cat_len, in_stock, NULL);
}

/* Both decoders: full checks every text, else only lengths. */
static int item_decode(struct rc_item *item, const void *buf, size_t len, int full, char *err)
{
    const unsigned char *p = buf;
    if (len < RC_ITEM_HEADER)
        return rc_fail(err, RC_ETRUNC, "item record of %zu bytes is shorter than its header", len);
    if (memcmp(p, RC_ITEM_MAGIC, 4) != 0)
        return rc_fail(err, RC_EMAGIC, "item record magic is not '%s'", RC_ITEM_MAGIC);
    uint16_t version = rc_le_get16(p + 4);
    if (version != RC_ITEM_VERSION && version != RC_ITEM_VERSION_PLAIN)
        return rc_fail(err, RC_EVERSION, "item record version %u, this build reads versions %d and %d", version,
                       RC_ITEM_VERSION_PLAIN, RC_ITEM_VERSION);
    if ((p[6] & ~RC_ITEM_IN_STOCK) != 0)
        return rc_fail(err, RC_EFORMAT, "item record has unknown flags");
    unsigned mask = p[7];
    if (version == RC_ITEM_VERSION_PLAIN ? mask != 0 : mask == 0 || (mask & ~RC_FIELDS_ALL) != 0)
        return rc_fail(err, RC_EFORMAT, "item record version %u has display field bits 0x%02x", version, mask);
    uint16_t id_len = rc_le_get16(p + 8), cat_len = rc_le_get16(p + 10);
    if (id_len == 0 || id_len > RC_ID_MAX || cat_len > RC_ID_MAX)
        return rc_fail(err, RC_EFORMAT, "item record has bad id or category length");
    size_t pos = (size_t)RC_ITEM_HEADER + id_len + cat_len;
    if (pos > len)
        return rc_fail(err, RC_ETRUNC, "item record length %zu does not match its header", len);
    for (int f = 0; f < RC_FIELD_COUNT; f++) {
        item->field[f] = (struct rc_text){NULL, 0};
        if (!(mask & (1u << f)))
            continue;
        if (len - pos < 2)
            return rc_fail(err, RC_ETRUNC, "item record truncated before its %s", field_names[f]);
        uint16_t text_len = rc_le_get16(p + pos);
        if (text_len == 0 || text_len > rc_field_text_max(f))
            return rc_fail(err, RC_EFORMAT, "item record has a %s of %u bytes", field_names[f], text_len);
        if (len - pos - 2 < text_len)
            return rc_fail(err, RC_ETRUNC, "item record truncated in its %s", field_names[f]);
        const char *text = (const char *)p + pos + 2;
        if (full && rc_field_text_check(f, text, text_len) != 0)
            return rc_fail(err, RC_EFORMAT, "item record has a %s that is not valid: '%.*s'", field_names[f],
                           (int)(text_len < 100 ? text_len : 100), text);
        item->field[f] = (struct rc_text){text, text_len};
        pos += 2 + (size_t)text_len;
    }
    if (pos != len)
        return rc_fail(err, RC_EFORMAT, "item record length %zu does not match its header", len);
    item->flags = p[6];
    item->fields = (uint8_t)mask;
    item->id_len = id_len;
    item->cat_len = cat_len;
    item->id = (const char *)p + RC_ITEM_HEADER;
    item->cat = item->id + id_len;
    return 0;
}

int rc_item_decode(struct rc_item *item, const void *buf, size_t len, char *err)
{
    return item_decode(item, buf, len, 1, err);
}

int rc_item_decode_lazy(struct rc_item *item, const void *buf, size_t len)
{
    return item_decode(item, buf, len, 0, NULL);
}
