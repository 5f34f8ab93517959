/*
 * beacon.h - the parameters of GET and POST /v1/event, parsed strictly
 * (schemas/http.md, "/v1/event").
 *
 * GET carries them in the query string, POST in its body, both in
 * application/x-www-form-urlencoded syntax (whatever the Content-Type:
 * navigator.sendBeacon with a string sends text/plain). Pairs, escapes and
 * ids follow the rules of /v1/recs (query.h: re_pair_next, re_pair_name,
 * re_pct_decode):
 *   - at most RE_BEACON_MAX raw bytes;
 *   - rec_id: required, exactly RE_REC_ID_LEN lowercase hex characters;
 *   - product: required, 1..RC_ID_MAX bytes after decoding;
 *   - type: click (the default), cart or purchase;
 *   - cookie: optional, 1..RC_ID_MAX bytes after decoding;
 *   - an empty value counts as absent; a known parameter given twice is an
 *     error; unknown parameters are ignored once their encoding checks.
 *
 * Decoded ids live in b->store, never NUL-terminated. The parser never
 * allocates and never reads outside raw[0, len).
 */
#ifndef RE_BEACON_H
#define RE_BEACON_H

#include <stddef.h>

#include "explog.h"
#include "keys.h"
#include "query.h"

#define RE_BEACON_MAX 4096 /* bytes of a query string or POST body */

enum re_event_type { RE_EVENT_CLICK, RE_EVENT_CART, RE_EVENT_PURCHASE, RE_EVENT_TYPE_COUNT };

/* Which parameter a parse error is about ("query": the whole text). */
enum re_bparam { RE_BPARAM_QUERY, RE_BPARAM_REC_ID, RE_BPARAM_PRODUCT, RE_BPARAM_TYPE, RE_BPARAM_COOKIE,
                 RE_BPARAM_COUNT };

enum re_berr {
    RE_BERR_NONE,
    RE_BERR_TOO_LARGE, /* more than RE_BEACON_MAX bytes */
    RE_BERR_ENCODING,  /* '%' not followed by two hex digits */
    RE_BERR_TOO_LONG,  /* an id longer than RC_ID_MAX after decoding */
    RE_BERR_MISSING,   /* rec_id or product absent (or empty) */
    RE_BERR_REPEATED,  /* a known parameter given twice */
    RE_BERR_REC_ID,    /* rec_id not RE_REC_ID_LEN lowercase hex characters */
    RE_BERR_TYPE,      /* type not click, cart or purchase */
    RE_BERR_COUNT
};

struct re_beacon {
    char rec_id[RE_REC_ID_LEN]; /* not NUL-terminated */
    struct re_id product, cookie; /* cookie.p NULL when absent */
    enum re_event_type type;
    enum re_berr err; /* set by re_beacon_parse */
    enum re_bparam err_param;
    char store[2 * RC_ID_MAX];
    size_t store_len;
};

/*
 * Parse raw[0, len) into b (no initialisation needed). Returns 0, or
 * RC_EFORMAT with b->err and b->err_param saying why; re_beacon_reason()
 * turns them into the text of the 400 answer.
 */
int re_beacon_parse(struct re_beacon *b, const char *raw, size_t len);

/* "click", "cart", "purchase" ("click" for a value out of range). */
const char *re_event_type_name(enum re_event_type t);

/* Name of a parameter ("rec_id", ..., "query" for RE_BPARAM_QUERY). */
const char *re_bparam_name(enum re_bparam p);

/* A lowercase sentence for the error, written into out (cap bytes,
 * NUL-terminated). Returns out. */
const char *re_beacon_reason(enum re_berr e, enum re_bparam p, char *out, size_t cap);

#endif
