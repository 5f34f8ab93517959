/*
 * fuzz_beacon.c - re_beacon_parse (edge/beacon.h), the parameters of
 * GET and POST /v1/event, on any bytes. Besides the sanitizers, it checks
 * the header's promises on every accepted beacon: a rec_id of 32
 * lowercase hex characters, a product of 1..RC_ID_MAX bytes and a cookie
 * absent or of 1..RC_ID_MAX bytes, both inside b->store, a known type, and
 * a text that is itself well percent-encoded and at most RE_BEACON_MAX
 * bytes; on every refused one, an error and a parameter in range with a
 * reason text. The exposure log's line for an accepted beacon must parse
 * as JSON with the same fields.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "beacon.h"
#include "error.h"
#include "fuzz.h"
#include "json.h"

static void check_id(const struct re_beacon *b, const struct re_id *id)
{
    FUZZ_CHECK(id->len >= 1 && id->len <= RC_ID_MAX);
    FUZZ_CHECK(id->p >= b->store && id->p + id->len <= b->store + b->store_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *raw = (const char *)data;
    struct re_beacon b;
    int rc = re_beacon_parse(&b, raw, size);
    char reason[256];
    re_beacon_reason(b.err, b.err_param, reason, sizeof(reason));
    FUZZ_CHECK(reason[0] != 0);
    if (rc != 0) {
        FUZZ_CHECK(rc == RC_EFORMAT);
        FUZZ_CHECK(b.err > RE_BERR_NONE && b.err < RE_BERR_COUNT);
        FUZZ_CHECK(b.err_param < RE_BPARAM_COUNT);
        if (b.err == RE_BERR_TOO_LARGE)
            FUZZ_CHECK(size > RE_BEACON_MAX);
        return 0;
    }
    FUZZ_CHECK(b.err == RE_BERR_NONE);
    FUZZ_CHECK(size <= RE_BEACON_MAX);
    FUZZ_CHECK(re_pct_decode(NULL, SIZE_MAX, raw, size) >= 0);
    for (int i = 0; i < RE_REC_ID_LEN; i++)
        FUZZ_CHECK((b.rec_id[i] >= '0' && b.rec_id[i] <= '9') || (b.rec_id[i] >= 'a' && b.rec_id[i] <= 'f'));
    check_id(&b, &b.product);
    if (b.cookie.p)
        check_id(&b, &b.cookie);
    else
        FUZZ_CHECK(b.cookie.len == 0);
    FUZZ_CHECK((unsigned)b.type < RE_EVENT_TYPE_COUNT);
    FUZZ_CHECK(b.store_len <= sizeof(b.store));

    /* The fields as the exposure log writes them, read back. */
    struct rc_buf out;
    rc_buf_init(&out);
    rc_buf_adds(&out, "{\"type\":");
    rc_buf_json_str(&out, re_event_type_name(b.type), strlen(re_event_type_name(b.type)));
    rc_buf_adds(&out, ",\"rec_id\":");
    rc_buf_json_str(&out, b.rec_id, RE_REC_ID_LEN);
    rc_buf_adds(&out, ",\"product\":");
    rc_buf_json_str(&out, b.product.p, b.product.len);
    rc_buf_adds(&out, "}");
    struct rc_json *j = NULL;
    FUZZ_CHECK(!out.overflow && rc_json_parse(out.data, out.len, &j, NULL) == 0);
    const char *rec_id = rc_json_get_str(j, "rec_id");
    FUZZ_CHECK(rec_id && strlen(rec_id) == RE_REC_ID_LEN && memcmp(rec_id, b.rec_id, RE_REC_ID_LEN) == 0);
    FUZZ_CHECK(rc_json_get_str(j, "product"));
    rc_json_free(j);
    rc_buf_release(&out);
    return 0;
}
