/*
 * fuzz_record.c - the record codec (shared/record.h) both ways.
 *
 * Decoding: the input as a list record, opened full, lazy and verified,
 * and as an item record. A record that opens full must also open lazily
 * and give the same entries with no error at the end, the same again after
 * rc_list_rewind, and encode back to the same bytes (the checksum too when
 * it verified). A lazy walk of any record returns only entries inside it.
 *
 * Encoding: the input also describes a list (entries of a length byte, id
 * bytes and a 4-byte score); what rc_list_encode writes must open verified
 * and give those entries back, and a buffer one byte short of it must be
 * refused with -ENOSPC.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fuzz.h"
#include "json.h"
#include "record.h"

static void check_entry_inside(const struct rc_entry *e, const uint8_t *buf, size_t len)
{
    FUZZ_CHECK(e->id_len >= 1 && e->id_len <= RC_ID_MAX);
    FUZZ_CHECK(e->score_len >= 1 && e->score_len <= RC_SCORE_TEXT_MAX);
    FUZZ_CHECK((const uint8_t *)e->id >= buf);
    FUZZ_CHECK((const uint8_t *)e->id + e->id_len + e->score_len <= buf + len);
}

static int same_entry(const struct rc_entry *a, const struct rc_entry *b)
{
    return a->key == b->key && memcmp(&a->score, &b->score, 4) == 0 && a->id_len == b->id_len &&
           a->score_len == b->score_len && memcmp(a->id, b->id, a->id_len) == 0 &&
           memcmp(rc_entry_score_text(a), rc_entry_score_text(b), a->score_len) == 0;
}

static void check_list_decode(const uint8_t *data, size_t size)
{
    char err[RC_ERRMSG_MAX];
    struct rc_list full, lazy, verified;
    int rc_full = rc_list_open(&full, data, size, 0, err);
    int rc_lazy = rc_list_open_lazy(&lazy, data, size);
    int rc_verify = rc_list_open(&verified, data, size, RC_DECODE_VERIFY, err);
    int rc_both = rc_list_open(&verified, data, size, RC_DECODE_VERIFY | RC_DECODE_LAZY, err);
    FUZZ_CHECK(rc_both == rc_verify);
    if (rc_verify == 0)
        FUZZ_CHECK(rc_full == 0);
    if (rc_full == 0)
        FUZZ_CHECK(rc_lazy == 0);
    /* The inline lazy open and the library's agree. */
    struct rc_list slow;
    FUZZ_CHECK(rc_list_open(&slow, data, size, RC_DECODE_LAZY, NULL) == rc_lazy);

    if (rc_lazy == 0) {
        struct rc_entry e;
        unsigned n = 0;
        while (rc_list_next(&lazy, &e)) {
            check_entry_inside(&e, data, size);
            n++;
        }
        FUZZ_CHECK(n <= lazy.count);
        FUZZ_CHECK(lazy.err == 0 || lazy.err == RC_ETRUNC || lazy.err == RC_EFORMAT);
        FUZZ_CHECK(!rc_list_next(&lazy, &e)); /* stays at the end */
        if (n < lazy.count)
            FUZZ_CHECK(lazy.err != 0);
    }
    if (rc_full != 0)
        return;

    struct rc_entry *entries = calloc(full.count ? full.count : 1, sizeof(*entries));
    FUZZ_CHECK(entries);
    size_t ids = 0;
    for (unsigned pass = 0; pass < 2; pass++) {
        rc_list_rewind(&full);
        FUZZ_CHECK(rc_list_open_lazy(&lazy, data, size) == 0);
        struct rc_entry e, le;
        unsigned n = 0;
        while (rc_list_next(&full, &e)) {
            check_entry_inside(&e, data, size);
            FUZZ_CHECK(n < full.count);
            FUZZ_CHECK(rc_list_next(&lazy, &le) && same_entry(&e, &le));
            if (pass == 0) {
                entries[n] = e;
                ids += e.id_len;
            } else {
                FUZZ_CHECK(same_entry(&e, &entries[n]));
            }
            n++;
        }
        FUZZ_CHECK(n == full.count && full.err == 0);
        FUZZ_CHECK(!rc_list_next(&lazy, &le) && lazy.err == 0);
    }

    size_t cap = rc_list_size(full.count, ids);
    uint8_t *out = malloc(cap);
    FUZZ_CHECK(out);
    long len = rc_list_encode(out, cap, (enum rc_source)full.source, entries, full.count);
    FUZZ_CHECK(len == (long)size);
    if (data[7]) /* the header's flags, set apart from the encoding */
        FUZZ_CHECK(rc_list_set_flags(out, (size_t)len, data[7]) == 0);
    FUZZ_CHECK(memcmp(out, data, 12) == 0 && memcmp(out + 16, data + 16, size - 16) == 0);
    if (rc_verify == 0)
        FUZZ_CHECK(memcmp(out, data, size) == 0);
    free(out);
    free(entries);
}

static void check_item_decode(const uint8_t *data, size_t size)
{
    struct rc_item any; /* the lazy decode stays inside the record whatever it holds */
    if (rc_item_decode_lazy(&any, data, size) == 0)
        for (int f = 0; f < RC_FIELD_COUNT; f++)
            FUZZ_CHECK(!any.field[f].len ||
                       ((const uint8_t *)any.field[f].p > data && (const uint8_t *)any.field[f].p + any.field[f].len <= data + size));
    struct rc_item item;
    char err[RC_ERRMSG_MAX];
    if (rc_item_decode(&item, data, size, err) != 0)
        return;
    FUZZ_CHECK(item.id_len >= 1 && item.id_len <= RC_ID_MAX && item.cat_len <= RC_ID_MAX);
    FUZZ_CHECK((const uint8_t *)item.id >= data && (const uint8_t *)item.id + item.id_len <= data + size);
    if (item.cat_len)
        FUZZ_CHECK((const uint8_t *)item.cat >= data && (const uint8_t *)item.cat + item.cat_len <= data + size);
    uint8_t *out = malloc(size);
    FUZZ_CHECK(out);
    long len = rc_item_encode_fields(out, size, item.id, item.id_len, item.cat, item.cat_len,
                                     item.flags & RC_ITEM_IN_STOCK, item.field);
    FUZZ_CHECK(len == (long)size && memcmp(out, data, size) == 0);
    /* The lazy decode accepts what the full one does, with the same texts. */
    struct rc_item lazy;
    FUZZ_CHECK(rc_item_decode_lazy(&lazy, data, size) == 0 && lazy.fields == item.fields);
    for (int f = 0; f < RC_FIELD_COUNT; f++)
        FUZZ_CHECK(lazy.field[f].p == item.field[f].p && lazy.field[f].len == item.field[f].len);
    free(out);
}

/* Entries described by the input: a length byte (0 means 256), that many
 * id bytes, a 4-byte score, as long as the input lasts. */
static void check_list_encode(const uint8_t *data, size_t size)
{
    struct rc_entry entries[64];
    size_t n = 0, ids = 0, pos = 1;
    if (size < 1)
        return;
    enum rc_source source = (enum rc_source)(RC_SRC_CF + data[0] % RC_SRC_LAST);
    while (n < 64 && pos < size) {
        size_t id_len = data[pos] ? data[pos] : 256;
        if (size - pos - 1 < id_len + 4)
            break;
        struct rc_entry *e = &entries[n++];
        e->key = (uint64_t)pos * 0x9e3779b97f4a7c15u;
        e->id = (const char *)data + pos + 1;
        e->id_len = (uint16_t)id_len;
        memcpy(&e->score, data + pos + 1 + id_len, 4);
        e->score_len = 0;
        ids += id_len;
        pos += 1 + id_len + 4;
    }
    size_t cap = rc_list_size(n, ids);
    uint8_t *out = malloc(cap);
    FUZZ_CHECK(out);
    long len = rc_list_encode(out, cap, source, entries, n);
    FUZZ_CHECK(len > 0 && (size_t)len <= cap);

    /* Exactly the bytes it needs is enough; one fewer is refused. */
    uint8_t *tight = malloc((size_t)len);
    FUZZ_CHECK(tight);
    FUZZ_CHECK(rc_list_encode(tight, (size_t)len, source, entries, n) == len);
    FUZZ_CHECK(memcmp(tight, out, (size_t)len) == 0);
    FUZZ_CHECK(rc_list_encode(tight, (size_t)len - 1, source, entries, n) == -ENOSPC);
    free(tight);

    struct rc_list list;
    char err[RC_ERRMSG_MAX];
    FUZZ_CHECK(rc_list_open(&list, out, (size_t)len, RC_DECODE_VERIFY, err) == 0);
    FUZZ_CHECK(list.count == n && list.source == source);
    struct rc_entry e;
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(rc_list_next(&list, &e));
        FUZZ_CHECK(e.key == entries[i].key && e.id_len == entries[i].id_len &&
                   memcmp(e.id, entries[i].id, e.id_len) == 0 && memcmp(&e.score, &entries[i].score, 4) == 0);
        char text[RC_JSON_SCORE_ROOM];
        char *end = rc_json_score_write(text, e.score);
        FUZZ_CHECK((size_t)(end - text) == e.score_len && memcmp(text, rc_entry_score_text(&e), e.score_len) == 0);
    }
    FUZZ_CHECK(!rc_list_next(&list, &e));
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_list_decode(data, size);
    check_item_decode(data, size);
    check_list_encode(data, size);
    return 0;
}
