/*
 * fuzz_query.c - re_query_parse and re_pct_decode (edge/query.h) on any
 * bytes. Besides the sanitizers, it checks the header's promises on every
 * accepted query: ids inside q->store with 1..RC_ID_MAX bytes, no product
 * twice, no category or excluded key twice and none past its bound, n
 * within RE_N_MIN..RE_N_MAX, and a raw query that is itself well
 * percent-encoded and at most RE_QUERY_MAX bytes. The same bytes as a
 * fragment of a request head go to re_head_origin: a value found lies
 * inside them, on one line, without blanks at either end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fuzz.h"
#include "query.h"
#include "record.h"

static void check_id(const struct re_query *q, const struct re_id *id, int present_required)
{
    if (!id->p) {
        FUZZ_CHECK(id->len == 0 && !present_required);
        return;
    }
    FUZZ_CHECK(id->len >= 1 && id->len <= RC_ID_MAX);
    FUZZ_CHECK(id->p >= q->store && id->p + id->len <= q->store + q->store_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *raw = (const char *)data;
    struct re_query q;
    int rc = re_query_parse(&q, raw, size);
    char reason[256];
    re_query_reason(q.err, q.err_param, reason, sizeof(reason));
    FUZZ_CHECK(reason[0] != 0);

    const char *origin;
    size_t origin_len;
    if (re_head_origin(raw, size, &origin, &origin_len)) {
        FUZZ_CHECK(origin >= raw && origin + origin_len <= raw + size);
        FUZZ_CHECK(!memchr(origin, '\n', origin_len));
        FUZZ_CHECK(!origin_len || (origin[0] != ' ' && origin[0] != '\t' && origin[origin_len - 1] != ' ' &&
                                   origin[origin_len - 1] != '\t'));
    }

    long decoded = re_pct_decode(NULL, SIZE_MAX, raw, size);
    if (rc == 0) {
        FUZZ_CHECK(q.err == RE_QERR_NONE);
        FUZZ_CHECK(size <= RE_QUERY_MAX);
        FUZZ_CHECK(decoded >= 0);
        FUZZ_CHECK(q.store_len <= sizeof(q.store));
        FUZZ_CHECK(q.n >= RE_N_MIN && q.n <= RE_N_MAX);
        FUZZ_CHECK(q.nproducts <= RE_PRODUCTS_MAX);
        FUZZ_CHECK(q.ncategories <= RE_CATEGORIES_MAX && q.nexclude <= RE_EXCLUDE_MAX);
        for (unsigned i = 0; i < q.ncategories; i++)
            for (unsigned j = 0; j < i; j++)
                FUZZ_CHECK(q.categories[j] != q.categories[i]);
        for (unsigned i = 0; i < q.nexclude; i++)
            for (unsigned j = 0; j < i; j++)
                FUZZ_CHECK(q.exclude[j] != q.exclude[i]);
        FUZZ_CHECK((q.fields & ~RC_FIELDS_ALL) == 0);
        check_id(&q, &q.cookie, 0);
        check_id(&q, &q.loc, 0);
        check_id(&q, &q.device, 0);
        for (unsigned i = 0; i < q.nproducts; i++) {
            check_id(&q, &q.products[i], 1);
            for (unsigned j = 0; j < i; j++)
                FUZZ_CHECK(q.products[j].len != q.products[i].len ||
                           memcmp(q.products[j].p, q.products[i].p, q.products[i].len) != 0);
        }
    } else {
        FUZZ_CHECK(rc == RC_EFORMAT);
        FUZZ_CHECK(q.err > RE_QERR_NONE && q.err < RE_QERR_COUNT);
        FUZZ_CHECK(q.err_param < RE_PARAM_COUNT);
        if (q.err == RE_QERR_ENCODING)
            FUZZ_CHECK(decoded == RC_EFORMAT);
    }

    /* Decoding into exactly as much room as the input can need, and into
     * one byte less than the result: the bound must hold both ways. */
    if (decoded >= 0) {
        char *dst = malloc(size ? size : 1);
        FUZZ_CHECK(dst);
        FUZZ_CHECK(re_pct_decode(dst, size, raw, size) == decoded);
        FUZZ_CHECK((size_t)decoded <= size);
        if (decoded > 0) {
            char *tight = malloc((size_t)decoded - 1 ? (size_t)decoded - 1 : 1);
            FUZZ_CHECK(tight);
            FUZZ_CHECK(re_pct_decode(tight, (size_t)decoded - 1, raw, size) == RC_ETOOLONG);
            free(tight);
        }
        free(dst);
    } else {
        FUZZ_CHECK(decoded == RC_EFORMAT);
    }
    return 0;
}
