/*
 * answer.h - the answer of GET /v1/recs (schemas/http.md, "200"): the
 * items routing chose (route.h fills them) and their JSON.
 *
 * Items point into the LMDB map: they are valid, and the JSON must be
 * written, before the read transaction they came from is reset. No
 * allocation, no globals; a struct re_recs belongs to one thread at a time.
 */
#ifndef RE_ANSWER_H
#define RE_ANSWER_H

#include <stdint.h>

#include "experiment.h"
#include "json.h"
#include "keys.h"
#include "query.h"
#include "record.h"

/* Most JSON the display fields add to one item: every field at its
 * longest text (record.h) and its key, ',"image_url":' the longest. */
#define RE_ITEM_FIELDS_JSON_MAX (RC_FIELD_COUNT * 16 + RC_FIELDS_TEXT_MAX)

/* Worst-case JSON of one answer: every id RC_ID_MAX bytes, each escaped as
 * \ufffd (6 bytes per byte), every display field at its longest, plus the
 * fixed text around them. */
#define RE_RECS_JSON_MAX (1024 + RE_N_MAX * (64 + 6 * RC_ID_MAX + RE_ITEM_FIELDS_JSON_MAX))

/* One item of an answer, as its list entry holds it (record.h). */
struct re_item {
    uint64_t key;
    const char *id; /* into the LMDB map; not NUL-terminated */
    float score;
    uint16_t id_len;
    uint8_t score_len; /* the score text: the score_len bytes after the id */
    uint8_t source;    /* enum rc_source */
};

struct re_recs {
    /* The arm the visitor is in (its JSON text: shared/experiment.h), NULL
     * when none; re_route sets it. The recommendation id, RE_REC_ID_LEN
     * lowercase hex digits, NULL when the answer has none (re_route sets
     * NULL; recedge sets it before writing the JSON). */
    const struct rc_experiment_arm *arm;
    const char *rec_id;
    uint8_t route; /* enum rc_source */
    unsigned count;
    unsigned n; /* items asked for (re_query.n): count < n makes the answer short */
    unsigned bad_records;
    struct re_item items[RE_N_MAX];
    /* Display fields asked for (re_query.fields; 0: none, and texts is not
     * read) and, per item, the texts of those its item record holds (a
     * length of 0: the item lacks the field), into the LMDB map. */
    unsigned fields;
    struct rc_text texts[RE_N_MAX][RC_FIELD_COUNT];
};

/* A recommendation id: 32 lowercase hex digits (schemas/http.md). */
#define RE_REC_ID_LEN 32

/*
 * Append {"version":..,"route":..,"rec_id":..,"experiment":..,"arm":..,
 * "short":true,"items":[{"product":..,"score":..,"source":..},..]} to b:
 * "rec_id" when r->rec_id is set, "experiment" and "arm" when r->arm is,
 * "short" (always true when present) when r->count < r->n. With r->fields, each item also gets the keys of
 * the fields asked for that it has, after "source", in enum rc_field order,
 * their values the texts of its item record, copied. Ids are escaped with rc_buf_json_str, so the text
 * is valid JSON whatever bytes they hold; scores are their entries' score
 * texts, copied (a version's every record is checked when it is loaded).
 * An item's 16 bytes that end where its score text ends are read (in a
 * record, all of them are its entry's). A fixed buffer of RE_RECS_JSON_MAX
 * bytes never overflows.
 */
void re_recs_json(const struct re_recs *r, const char *version, struct rc_buf *b);

#endif
