/*
 * test_beacon.c - edge/beacon.c: the parameters of GET and POST /v1/event
 * (schemas/http.md, "/v1/event"): required and optional parameters, the
 * event types, the rec_id's form, the id and size limits, escapes,
 * repeated and unknown parameters, and the 400 reasons.
 */
#include "beacon.h"
#include "error.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define R "0123456789abcdef0123456789abcdef"

static struct re_beacon b;

static int parse(const char *s)
{
    return re_beacon_parse(&b, s, strlen(s));
}

static void assert_refused(const char *s, enum re_berr e, enum re_bparam p)
{
    ck_assert_msg(parse(s) == RC_EFORMAT, "'%s' was accepted", s);
    ck_assert_msg(b.err == e && b.err_param == p, "'%s': err %d param %d, expected %d %d", s, b.err, b.err_param, e,
                  p);
}

static int id_is(struct re_id id, const char *want)
{
    size_t len = strlen(want);
    return id.len == len && (len == 0 || memcmp(id.p, want, len) == 0);
}

START_TEST(accepts_a_click)
{
    ck_assert_int_eq(parse("rec_id=" R "&product=p1"), 0);
    ck_assert_int_eq(memcmp(b.rec_id, R, 32), 0);
    ck_assert(id_is(b.product, "p1"));
    ck_assert_ptr_null(b.cookie.p);
    ck_assert_int_eq(b.type, RE_EVENT_CLICK);
    /* Any order, escapes, '+', unknown parameters, an empty type and cookie. */
    ck_assert_int_eq(parse("utm=%41&cookie=c+1%2F2&type=purchase&product=p%2C1&rec_id=" R), 0);
    ck_assert(id_is(b.cookie, "c 1/2"));
    ck_assert(id_is(b.product, "p,1"));
    ck_assert_int_eq(b.type, RE_EVENT_PURCHASE);
    ck_assert_int_eq(parse("rec_id=" R "&product=p1&type=&cookie=&&"), 0);
    ck_assert_int_eq(b.type, RE_EVENT_CLICK);
    ck_assert_ptr_null(b.cookie.p);
    ck_assert_int_eq(parse("rec_id=" R "&product=p1&type=cart"), 0);
    ck_assert_int_eq(b.type, RE_EVENT_CART);
    /* %00 is a byte like any other in an id */
    ck_assert_int_eq(parse("rec_id=" R "&product=a%00b"), 0);
    ck_assert_int_eq(b.product.len, 3);
    ck_assert_str_eq(re_event_type_name(RE_EVENT_CART), "cart");
}
END_TEST

START_TEST(refuses_bad_beacons)
{
    assert_refused("", RE_BERR_MISSING, RE_BPARAM_REC_ID);
    assert_refused("product=p1", RE_BERR_MISSING, RE_BPARAM_REC_ID);
    assert_refused("rec_id=" R, RE_BERR_MISSING, RE_BPARAM_PRODUCT);
    assert_refused("rec_id=" R "&product=", RE_BERR_MISSING, RE_BPARAM_PRODUCT);
    assert_refused("rec_id=0123456789ABCDEF0123456789abcdef&product=p", RE_BERR_REC_ID, RE_BPARAM_REC_ID);
    assert_refused("rec_id=0123456789abcdef0123456789abcde&product=p", RE_BERR_REC_ID, RE_BPARAM_REC_ID);
    assert_refused("rec_id=" R "0&product=p", RE_BERR_REC_ID, RE_BPARAM_REC_ID);
    assert_refused("rec_id=0123456789abcdef0123456789abcdeg&product=p", RE_BERR_REC_ID, RE_BPARAM_REC_ID);
    assert_refused("rec_id=" R "&product=p&type=view", RE_BERR_TYPE, RE_BPARAM_TYPE);
    assert_refused("rec_id=" R "&product=p&type=clickclickclickclick", RE_BERR_TYPE, RE_BPARAM_TYPE);
    assert_refused("rec_id=" R "&product=p&type=%zz", RE_BERR_ENCODING, RE_BPARAM_TYPE);
    assert_refused("rec_id=" R "&product=p%4", RE_BERR_ENCODING, RE_BPARAM_PRODUCT);
    assert_refused("rec_id=" R "&product=p&x=%", RE_BERR_ENCODING, RE_BPARAM_QUERY);
    assert_refused("rec_id=" R "&product=p&%zz=1", RE_BERR_ENCODING, RE_BPARAM_QUERY);
    assert_refused("rec_id=" R "&product=p&product=q", RE_BERR_REPEATED, RE_BPARAM_PRODUCT);
    assert_refused("rec_id=" R "&rec_id=" R "&product=p", RE_BERR_REPEATED, RE_BPARAM_REC_ID);
    assert_refused("rec_id=" R "&product=p&cookie=a&cookie=b", RE_BERR_REPEATED, RE_BPARAM_COOKIE);

    char text[RE_BEACON_MAX + 64];
    int n = snprintf(text, sizeof(text), "rec_id=" R "&product=");
    memset(text + n, 'p', RC_ID_MAX + 1);
    text[n + RC_ID_MAX + 1] = 0;
    assert_refused(text, RE_BERR_TOO_LONG, RE_BPARAM_PRODUCT);
    text[n + RC_ID_MAX] = 0; /* exactly RC_ID_MAX */
    ck_assert_int_eq(parse(text), 0);

    n = snprintf(text, sizeof(text), "rec_id=" R "&product=p&pad=");
    memset(text + n, 'z', RE_BEACON_MAX - (size_t)n);
    text[RE_BEACON_MAX] = 0;
    ck_assert_int_eq(parse(text), 0); /* exactly RE_BEACON_MAX */
    text[RE_BEACON_MAX] = 'z';
    text[RE_BEACON_MAX + 1] = 0;
    assert_refused(text, RE_BERR_TOO_LARGE, RE_BPARAM_QUERY);
}
END_TEST

START_TEST(reasons)
{
    char out[160];
    ck_assert_str_eq(re_beacon_reason(RE_BERR_MISSING, RE_BPARAM_PRODUCT, out, sizeof(out)),
                     "'product' is required");
    ck_assert_str_eq(re_beacon_reason(RE_BERR_REC_ID, RE_BPARAM_REC_ID, out, sizeof(out)),
                     "'rec_id' must be 32 lowercase hex characters");
    ck_assert_str_eq(re_beacon_reason(RE_BERR_TYPE, RE_BPARAM_TYPE, out, sizeof(out)),
                     "'type' must be click, cart or purchase");
    ck_assert_str_eq(re_beacon_reason(RE_BERR_ENCODING, RE_BPARAM_QUERY, out, sizeof(out)),
                     "bad percent-encoding in the parameters");
    for (int e = 0; e < RE_BERR_COUNT; e++)
        for (int p = 0; p < RE_BPARAM_COUNT; p++)
            ck_assert_uint_gt(strlen(re_beacon_reason((enum re_berr)e, (enum re_bparam)p, out, sizeof(out))), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("beacon");
    TCase *tc = tcase_create("beacon");
    tcase_add_test(tc, accepts_a_click);
    tcase_add_test(tc, refuses_bad_beacons);
    tcase_add_test(tc, reasons);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
