#include "beacon.h"
#include "error.h"

#include <stdio.h>
#include <string.h>

static const char *const bparam_names[RE_BPARAM_COUNT] = {"query", "rec_id", "product", "type", "cookie"};
static const char *const type_names[RE_EVENT_TYPE_COUNT] = {"click", "cart", "purchase"};

const char *re_event_type_name(enum re_event_type t)
{
    return (unsigned)t < RE_EVENT_TYPE_COUNT ? type_names[t] : "click";
}

const char *re_bparam_name(enum re_bparam p)
{
    return (unsigned)p < RE_BPARAM_COUNT ? bparam_names[p] : "query";
}

const char *re_beacon_reason(enum re_berr e, enum re_bparam p, char *out, size_t cap)
{
    const char *name = re_bparam_name(p);
    switch (e) {
    case RE_BERR_NONE:
        snprintf(out, cap, "no error");
        break;
    case RE_BERR_TOO_LARGE:
        snprintf(out, cap, "parameters longer than %d bytes", RE_BEACON_MAX);
        break;
    case RE_BERR_ENCODING:
        if (p == RE_BPARAM_QUERY)
            snprintf(out, cap, "bad percent-encoding in the parameters");
        else
            snprintf(out, cap, "bad percent-encoding in '%s'", name);
        break;
    case RE_BERR_TOO_LONG:
        snprintf(out, cap, "'%s' is longer than %d bytes", name, RC_ID_MAX);
        break;
    case RE_BERR_MISSING:
        snprintf(out, cap, "'%s' is required", name);
        break;
    case RE_BERR_REPEATED:
        snprintf(out, cap, "'%s' is given more than once", name);
        break;
    case RE_BERR_REC_ID:
        snprintf(out, cap, "'%s' must be %d lowercase hex characters", name, RE_REC_ID_LEN);
        break;
    case RE_BERR_TYPE:
        snprintf(out, cap, "'%s' must be click, cart or purchase", name);
        break;
    default:
        snprintf(out, cap, "bad request");
        break;
    }
    return out;
}

static int fail(struct re_beacon *b, enum re_berr e, enum re_bparam p)
{
    b->err = e;
    b->err_param = p;
    return RC_EFORMAT;
}

/* An id of 0..RC_ID_MAX bytes into the store (0: absent). */
static int decode_id(struct re_beacon *b, enum re_bparam p, const char *s, size_t len, struct re_id *out)
{
    char *dst = b->store + b->store_len;
    long n = re_pct_decode(dst, RC_ID_MAX, s, len);
    if (n == RC_EFORMAT)
        return fail(b, RE_BERR_ENCODING, p);
    if (n < 0)
        return fail(b, RE_BERR_TOO_LONG, p);
    *out = (struct re_id){n ? dst : NULL, (uint16_t)n};
    b->store_len += (size_t)n;
    return 0;
}

static int parse_rec_id(struct re_beacon *b, const char *s, size_t len, int *present)
{
    char dec[RE_REC_ID_LEN];
    long n = re_pct_decode(dec, sizeof(dec), s, len);
    if (n == RC_EFORMAT)
        return fail(b, RE_BERR_ENCODING, RE_BPARAM_REC_ID);
    if (n == 0)
        return 0; /* empty: absent */
    if (n != RE_REC_ID_LEN)
        return fail(b, RE_BERR_REC_ID, RE_BPARAM_REC_ID);
    for (int i = 0; i < RE_REC_ID_LEN; i++)
        if (!((dec[i] >= '0' && dec[i] <= '9') || (dec[i] >= 'a' && dec[i] <= 'f')))
            return fail(b, RE_BERR_REC_ID, RE_BPARAM_REC_ID);
    memcpy(b->rec_id, dec, sizeof(dec));
    *present = 1;
    return 0;
}

static int parse_type(struct re_beacon *b, const char *s, size_t len)
{
    char dec[16];
    long n = re_pct_decode(dec, sizeof(dec), s, len);
    if (n == RC_EFORMAT || (n < 0 && re_pct_decode(NULL, SIZE_MAX, s, len) < 0))
        return fail(b, RE_BERR_ENCODING, RE_BPARAM_TYPE);
    if (n == 0)
        return 0; /* empty: the default */
    for (int t = 0; n > 0 && t < RE_EVENT_TYPE_COUNT; t++)
        if (strlen(type_names[t]) == (size_t)n && memcmp(type_names[t], dec, (size_t)n) == 0) {
            b->type = (enum re_event_type)t;
            return 0;
        }
    return fail(b, RE_BERR_TYPE, RE_BPARAM_TYPE);
}

int re_beacon_parse(struct re_beacon *b, const char *raw, size_t len)
{
    b->product = b->cookie = (struct re_id){NULL, 0};
    b->type = RE_EVENT_CLICK;
    b->err = RE_BERR_NONE;
    b->err_param = RE_BPARAM_QUERY;
    b->store_len = 0;
    if (len > RE_BEACON_MAX)
        return fail(b, RE_BERR_TOO_LARGE, RE_BPARAM_QUERY);
    unsigned seen = 0;
    int has_rec_id = 0;
    size_t pos = 0;
    struct re_pair pair;
    while (re_pair_next(raw, len, &pos, &pair)) {
        int known = re_pair_name(pair.name, pair.name_len, bparam_names + 1, RE_BPARAM_COUNT - 1);
        if (known == RC_EFORMAT)
            return fail(b, RE_BERR_ENCODING, RE_BPARAM_QUERY);
        if (known < 0) {
            if (re_pct_decode(NULL, SIZE_MAX, pair.value, pair.value_len) < 0)
                return fail(b, RE_BERR_ENCODING, RE_BPARAM_QUERY);
            continue;
        }
        enum re_bparam p = (enum re_bparam)(known + 1);
        if (seen & (1u << p))
            return fail(b, RE_BERR_REPEATED, p);
        seen |= 1u << p;
        int rc = 0;
        switch (p) {
        case RE_BPARAM_REC_ID:
            rc = parse_rec_id(b, pair.value, pair.value_len, &has_rec_id);
            break;
        case RE_BPARAM_PRODUCT:
            rc = decode_id(b, p, pair.value, pair.value_len, &b->product);
            break;
        case RE_BPARAM_TYPE:
            rc = parse_type(b, pair.value, pair.value_len);
            break;
        case RE_BPARAM_COOKIE:
            rc = decode_id(b, p, pair.value, pair.value_len, &b->cookie);
            break;
        default:
            break;
        }
        if (rc)
            return rc;
    }
    if (!has_rec_id)
        return fail(b, RE_BERR_MISSING, RE_BPARAM_REC_ID);
    if (!b->product.p)
        return fail(b, RE_BERR_MISSING, RE_BPARAM_PRODUCT);
    return 0;
}
