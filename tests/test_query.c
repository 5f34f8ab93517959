/*
 * test_query.c - edge/query.c: the strict parser of /v1/recs query strings
 * (schemas/http.md, "Parameters"): percent-decoding, limits, repeated and
 * unknown parameters, the filters category= and exclude=, and the 400
 * reasons.
 */
#include "error.h"
#include "keys.h"
#include "query.h"
#include "record.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct re_query q;

static int parse(const char *s)
{
    return re_query_parse(&q, s, strlen(s));
}

static void assert_refused(const char *s, enum re_qerr e, enum re_param p)
{
    ck_assert_msg(parse(s) == RC_EFORMAT, "'%s' was accepted", s);
    ck_assert_msg(q.err == e && q.err_param == p, "'%s': err %d param %d, expected %d %d", s, q.err, q.err_param, e,
                  p);
}

static int id_is(struct re_id id, const char *want, size_t len)
{
    return id.len == len && (len == 0 || memcmp(id.p, want, len) == 0);
}

START_TEST(test_empty_and_defaults)
{
    ck_assert_int_eq(parse(""), 0);
    ck_assert_int_eq(q.n, RE_N_DEFAULT);
    ck_assert_int_eq(q.nproducts, 0);
    ck_assert_ptr_null(q.cookie.p);
    ck_assert_int_eq(q.loc.len, 0);
    ck_assert_int_eq(parse("&&&"), 0);
    /* empty values are absent */
    ck_assert_int_eq(parse("cookie=&loc=&device=&products="), 0);
    ck_assert_ptr_null(q.cookie.p);
    ck_assert_ptr_null(q.loc.p);
    ck_assert_int_eq(q.nproducts, 0);
}
END_TEST

START_TEST(test_all_parameters)
{
    ck_assert_int_eq(parse("cookie=abc&products=p1,p2&loc=de&device=mobile&n=25"), 0);
    ck_assert(id_is(q.cookie, "abc", 3));
    ck_assert(id_is(q.loc, "de", 2));
    ck_assert(id_is(q.device, "mobile", 6));
    ck_assert_int_eq(q.nproducts, 2);
    ck_assert(id_is(q.products[0], "p1", 2));
    ck_assert(id_is(q.products[1], "p2", 2));
    ck_assert_int_eq(q.n, 25);
}
END_TEST

START_TEST(test_percent_decoding)
{
    ck_assert_int_eq(parse("cookie=a%20b%2Fc%2fd+e&products=x%2Cy,z%00w,%FF"), 0);
    ck_assert(id_is(q.cookie, "a b/c/d e", 9));
    ck_assert_int_eq(q.nproducts, 3);
    ck_assert(id_is(q.products[0], "x,y", 3)); /* an encoded comma stays inside the id */
    ck_assert(id_is(q.products[1], "z\0w", 3));
    ck_assert(id_is(q.products[2], "\xff", 1));
    /* encoded names are names too */
    ck_assert_int_eq(parse("%6Eoo=1&%6E=7&c%6Fokie=k"), 0);
    ck_assert_int_eq(q.n, 7);
    ck_assert(id_is(q.cookie, "k", 1));
}
END_TEST

START_TEST(test_bad_percent_encoding)
{
    assert_refused("cookie=%", RE_QERR_ENCODING, RE_PARAM_COOKIE);
    assert_refused("cookie=%4", RE_QERR_ENCODING, RE_PARAM_COOKIE);
    assert_refused("cookie=%zz", RE_QERR_ENCODING, RE_PARAM_COOKIE);
    assert_refused("cookie=ab%g1", RE_QERR_ENCODING, RE_PARAM_COOKIE);
    assert_refused("products=a,%2", RE_QERR_ENCODING, RE_PARAM_PRODUCTS);
    assert_refused("loc=%%41", RE_QERR_ENCODING, RE_PARAM_LOC);
    assert_refused("device=x%", RE_QERR_ENCODING, RE_PARAM_DEVICE);
    assert_refused("n=1%", RE_QERR_ENCODING, RE_PARAM_N);
    /* unknown parameters and names are checked too */
    assert_refused("x=%zz", RE_QERR_ENCODING, RE_PARAM_QUERY);
    assert_refused("%zz=1", RE_QERR_ENCODING, RE_PARAM_QUERY);
    /* names of any length: 16 bytes and more are longer than every known
     * name, and were once let through unchecked */
    assert_refused("abcdefghijklmno%zz=1", RE_QERR_ENCODING, RE_PARAM_QUERY);
    assert_refused("abcdefghijklmnopq%zz=1", RE_QERR_ENCODING, RE_PARAM_QUERY);
    assert_refused("abcdefghijklmnopqrstuvwxyz0123456789%4=1", RE_QERR_ENCODING, RE_PARAM_QUERY);
    assert_refused("abcdefghijklmnopqrstuvwxyz%", RE_QERR_ENCODING, RE_PARAM_QUERY);
    ck_assert_int_eq(parse("abcdefghijklmnopqrstuvwxyz%41=1"), 0);
}
END_TEST

START_TEST(test_nul_bytes)
{
    /* %00 is a byte like any other: it ends neither a value nor the query */
    ck_assert_int_eq(parse("cookie=a%00b&n=2"), 0);
    ck_assert(id_is(q.cookie, "a\0b", 3));
    ck_assert_uint_eq(q.n, 2);
    assert_refused("cookie=a%00&cookie=b", RE_QERR_REPEATED, RE_PARAM_COOKIE);
    assert_refused("x=%00&n=1&n=2", RE_QERR_REPEATED, RE_PARAM_N);
    assert_refused("n=1%00", RE_QERR_BAD_N, RE_PARAM_N);
    assert_refused("n=1%00&n=2", RE_QERR_BAD_N, RE_PARAM_N); /* the first broken rule is reported */
    ck_assert_int_eq(parse("products=p%001,p1"), 0);
    ck_assert_uint_eq(q.nproducts, 2);
}
END_TEST

START_TEST(test_pct_decode_function)
{
    char out[8];
    ck_assert_int_eq(re_pct_decode(out, sizeof(out), "a%41+", 5), 3);
    ck_assert_int_eq(memcmp(out, "aA ", 3), 0);
    ck_assert_int_eq(re_pct_decode(out, 2, "abc", 3), RC_ETOOLONG);
    ck_assert_int_eq(re_pct_decode(out, sizeof(out), "%4", 2), RC_EFORMAT);
    ck_assert_int_eq(re_pct_decode(NULL, SIZE_MAX, "%41%42", 6), 2);
    /* never reads past len: "%4" followed by a hex digit outside the range */
    ck_assert_int_eq(re_pct_decode(out, sizeof(out), "%41", 2), RC_EFORMAT);
}
END_TEST

START_TEST(test_id_lengths)
{
    char buf[4 * RC_ID_MAX];
    memset(buf, 0, sizeof(buf));
    strcpy(buf, "cookie=");
    memset(buf + 7, 'c', RC_ID_MAX);
    ck_assert_int_eq(parse(buf), 0);
    ck_assert_int_eq(q.cookie.len, RC_ID_MAX);
    buf[7 + RC_ID_MAX] = 'c';
    assert_refused(buf, RE_QERR_TOO_LONG, RE_PARAM_COOKIE);

    /* 256 bytes after decoding, 768 on the wire: fine */
    strcpy(buf, "loc=");
    for (int i = 0; i < RC_ID_MAX; i++)
        memcpy(buf + 4 + 3 * i, "%41", 3);
    buf[4 + 3 * RC_ID_MAX] = 0;
    ck_assert_int_eq(parse(buf), 0);
    ck_assert_int_eq(q.loc.len, RC_ID_MAX);

    strcpy(buf, "products=a,");
    memset(buf + 11, 'p', RC_ID_MAX + 1);
    buf[11 + RC_ID_MAX + 1] = 0;
    assert_refused(buf, RE_QERR_TOO_LONG, RE_PARAM_PRODUCTS);
}
END_TEST

START_TEST(test_products_limits)
{
    char buf[1024];
    strcpy(buf, "products=");
    for (int i = 0; i < RE_PRODUCTS_MAX; i++)
        sprintf(buf + strlen(buf), "%sp%d", i ? "," : "", i);
    ck_assert_int_eq(parse(buf), 0);
    ck_assert_int_eq(q.nproducts, RE_PRODUCTS_MAX);
    strcat(buf, ",one-more");
    assert_refused(buf, RE_QERR_TOO_MANY, RE_PARAM_PRODUCTS);

    assert_refused("products=a,,b", RE_QERR_EMPTY_ID, RE_PARAM_PRODUCTS);
    assert_refused("products=,a", RE_QERR_EMPTY_ID, RE_PARAM_PRODUCTS);
    assert_refused("products=a,", RE_QERR_EMPTY_ID, RE_PARAM_PRODUCTS);
    assert_refused("products=,", RE_QERR_EMPTY_ID, RE_PARAM_PRODUCTS);

    /* repeated ids are kept once */
    ck_assert_int_eq(parse("products=a,b,a,b,c"), 0);
    ck_assert_int_eq(q.nproducts, 3);
    ck_assert(id_is(q.products[2], "c", 1));
}
END_TEST

START_TEST(test_all_ids_at_their_maximum)
{
    /* Every known parameter at its limit fits the store. */
    static char buf[RE_QUERY_MAX + 1];
    size_t o = 0;
    const char *names[] = {"cookie=", "loc=", "device="};
    for (int k = 0; k < 3; k++) {
        o += (size_t)sprintf(buf + o, "%s%s", k ? "&" : "", names[k]);
        memset(buf + o, 'a' + k, RC_ID_MAX);
        o += RC_ID_MAX;
    }
    o += (size_t)sprintf(buf + o, "&products=");
    for (int i = 0; i < RE_PRODUCTS_MAX; i++) {
        if (i)
            buf[o++] = ',';
        memset(buf + o, 'A' + i, RC_ID_MAX);
        o += RC_ID_MAX;
    }
    buf[o] = 0;
    ck_assert_int_eq(re_query_parse(&q, buf, o), 0);
    ck_assert_int_eq(q.nproducts, RE_PRODUCTS_MAX);
    ck_assert_int_eq(q.products[19].len, RC_ID_MAX);
    ck_assert_int_eq((unsigned char)q.products[19].p[RC_ID_MAX - 1], 'A' + 19);
    ck_assert_int_eq((unsigned char)q.cookie.p[0], 'a');
}
END_TEST

START_TEST(test_n)
{
    ck_assert_int_eq(parse("n=1"), 0);
    ck_assert_int_eq(q.n, 1);
    ck_assert_int_eq(parse("n=100"), 0);
    ck_assert_int_eq(q.n, 100);
    ck_assert_int_eq(parse("n=007"), 0);
    ck_assert_int_eq(q.n, 7);
    ck_assert_int_eq(parse("n=%35"), 0);
    ck_assert_int_eq(q.n, 5);
    const char *bad[] = {"n=0", "n=101", "n=1000", "n=-1", "n=+1", "n=1.5", "n=abc", "n=", "n", "n=1e2",
                         "n=%201", "n=99999999999999999999", "n=0100"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_refused(bad[i], RE_QERR_BAD_N, RE_PARAM_N);
}
END_TEST

START_TEST(test_repeated_and_unknown)
{
    assert_refused("cookie=a&cookie=b", RE_QERR_REPEATED, RE_PARAM_COOKIE);
    assert_refused("n=1&n=1", RE_QERR_REPEATED, RE_PARAM_N);
    assert_refused("products=a&products=b", RE_QERR_REPEATED, RE_PARAM_PRODUCTS);
    assert_refused("loc=a&loc=", RE_QERR_REPEATED, RE_PARAM_LOC);
    ck_assert_int_eq(parse("_=123&utm_source=x&cb&Cookie=upper&n=3"), 0);
    ck_assert_int_eq(q.n, 3);
    ck_assert_ptr_null(q.cookie.p); /* names are case-sensitive */
}
END_TEST

START_TEST(test_query_too_long)
{
    static char buf[RE_QUERY_MAX + 2];
    memset(buf, 'x', sizeof(buf) - 1);
    buf[sizeof(buf) - 1] = 0;
    memcpy(buf, "x=", 2);
    ck_assert_int_eq(re_query_parse(&q, buf, RE_QUERY_MAX), 0);
    ck_assert_int_eq(re_query_parse(&q, buf, RE_QUERY_MAX + 1), RC_EFORMAT);
    ck_assert_int_eq(q.err, RE_QERR_QUERY_TOO_LONG);
}
END_TEST

START_TEST(test_fields)
{
    ck_assert_int_eq(parse("cookie=c"), 0);
    ck_assert_uint_eq(q.fields, 0); /* absent: no display fields */
    ck_assert_int_eq(parse("fields=title"), 0);
    ck_assert_uint_eq(q.fields, 1u << RC_FIELD_TITLE);
    ck_assert_int_eq(parse("fields=title,image_url,price,url"), 0);
    ck_assert_uint_eq(q.fields, 1u << RC_FIELD_TITLE | 1u << RC_FIELD_IMAGE_URL | 1u << RC_FIELD_PRICE |
                                    1u << RC_FIELD_URL);
    ck_assert_int_eq(parse("n=3&fields=currency,price,image_url,url,title&cookie=x"), 0);
    ck_assert_uint_eq(q.fields, RC_FIELDS_ALL);
    ck_assert_uint_eq(q.n, 3);
    /* the widget's request, with an encoded comma-free name */
    ck_assert_int_eq(parse("fields=title,image_%75rl,price,currency,url"), 0);
    ck_assert_uint_eq(q.fields, RC_FIELDS_ALL);
    /* empty: absent, as for the other parameters */
    ck_assert_int_eq(parse("fields="), 0);
    ck_assert_uint_eq(q.fields, 0);
    ck_assert_int_eq(parse("fields"), 0);
    ck_assert_uint_eq(q.fields, 0);
    /* unknown, empty names and other spellings */
    assert_refused("fields=title,colour", RE_QERR_BAD_FIELD, RE_PARAM_FIELDS);
    assert_refused("fields=Title", RE_QERR_BAD_FIELD, RE_PARAM_FIELDS);
    assert_refused("fields=title,", RE_QERR_BAD_FIELD, RE_PARAM_FIELDS);
    assert_refused("fields=,title", RE_QERR_BAD_FIELD, RE_PARAM_FIELDS);
    assert_refused("fields=title,,url", RE_QERR_BAD_FIELD, RE_PARAM_FIELDS);
    assert_refused("fields=title%2Curl", RE_QERR_BAD_FIELD, RE_PARAM_FIELDS); /* an encoded comma is no separator */
    assert_refused("fields=title+", RE_QERR_BAD_FIELD, RE_PARAM_FIELDS);
    assert_refused("fields=product", RE_QERR_BAD_FIELD, RE_PARAM_FIELDS);
    assert_refused("fields=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", RE_QERR_BAD_FIELD, RE_PARAM_FIELDS);
    assert_refused("fields=title%00", RE_QERR_BAD_FIELD, RE_PARAM_FIELDS);
    /* repeated names, repeated parameter, bad encoding anywhere */
    assert_refused("fields=price,title,price", RE_QERR_FIELD_REPEATED, RE_PARAM_FIELDS);
    assert_refused("fields=url,u%72l", RE_QERR_FIELD_REPEATED, RE_PARAM_FIELDS);
    assert_refused("fields=title&fields=url", RE_QERR_REPEATED, RE_PARAM_FIELDS);
    assert_refused("fields=&fields=url", RE_QERR_REPEATED, RE_PARAM_FIELDS);
    assert_refused("fields=title,%zz", RE_QERR_ENCODING, RE_PARAM_FIELDS);
    assert_refused("fields=aaaaaaaaaaaaaaaaaaaaaaaaaaaa%zz", RE_QERR_ENCODING, RE_PARAM_FIELDS);
    /* a refusal leaves nothing half-set for the next parse */
    ck_assert_int_eq(parse("cookie=c"), 0);
    ck_assert_uint_eq(q.fields, 0);
}
END_TEST

static uint64_t key_of(const char *id, size_t len)
{
    return rc_key(id, len);
}

START_TEST(test_filters)
{
    ck_assert_int_eq(parse("n=3"), 0);
    ck_assert_uint_eq(q.ncategories, 0);
    ck_assert_uint_eq(q.nexclude, 0);
    ck_assert_int_eq(re_query_filtered(&q), 0);
    /* empty values are absent */
    ck_assert_int_eq(parse("category=&exclude="), 0);
    ck_assert_int_eq(re_query_filtered(&q), 0);
    ck_assert_int_eq(parse("category&exclude"), 0);
    ck_assert_int_eq(re_query_filtered(&q), 0);
    /* keys of the decoded names, in the order given, repeats kept once */
    ck_assert_int_eq(parse("category=shoes,Hats+%26+caps,a%2Cb,shoes&exclude=p1,p%001,p1"), 0);
    ck_assert_int_eq(re_query_filtered(&q), 1);
    ck_assert_uint_eq(q.ncategories, 3);
    ck_assert(q.categories[0] == key_of("shoes", 5));
    ck_assert(q.categories[1] == key_of("Hats & caps", 11));
    ck_assert(q.categories[2] == key_of("a,b", 3)); /* an encoded comma stays inside the name */
    ck_assert_uint_eq(q.nexclude, 2);
    ck_assert(q.exclude[0] == key_of("p1", 2));
    ck_assert(q.exclude[1] == key_of("p\0" "1", 3));
    ck_assert_int_eq(parse("exclude=x"), 0);
    ck_assert_int_eq(re_query_filtered(&q), 1);
    ck_assert_uint_eq(q.ncategories, 0);
    /* exclude is not products: nothing is on screen */
    ck_assert_uint_eq(q.nproducts, 0);
    /* the store is left to cookie, loc, device and products */
    ck_assert_int_eq(parse("category=c&exclude=e&products=p"), 0);
    ck_assert_uint_eq(q.store_len, 1);
}
END_TEST

START_TEST(test_filter_limits)
{
    static char buf[RE_QUERY_MAX + 1];
    /* RE_CATEGORIES_MAX names of RC_ID_MAX bytes, RE_EXCLUDE_MAX ids */
    size_t o = (size_t)sprintf(buf, "category=");
    for (int i = 0; i < RE_CATEGORIES_MAX; i++) {
        if (i)
            buf[o++] = ',';
        memset(buf + o, 'A' + i, RC_ID_MAX);
        o += RC_ID_MAX;
    }
    o += (size_t)sprintf(buf + o, "&exclude=");
    for (int i = 0; i < RE_EXCLUDE_MAX; i++)
        o += (size_t)sprintf(buf + o, "%se%d", i ? "," : "", i);
    buf[o] = 0;
    ck_assert_int_eq(parse(buf), 0);
    ck_assert_uint_eq(q.ncategories, RE_CATEGORIES_MAX);
    ck_assert_uint_eq(q.nexclude, RE_EXCLUDE_MAX);
    char last[RC_ID_MAX];
    memset(last, 'A' + RE_CATEGORIES_MAX - 1, sizeof(last));
    ck_assert(q.categories[RE_CATEGORIES_MAX - 1] == key_of(last, sizeof(last)));
    ck_assert(q.exclude[RE_EXCLUDE_MAX - 1] == key_of("e49", 3));
    /* one more of each */
    strcpy(buf + o, ",e50");
    assert_refused(buf, RE_QERR_TOO_MANY, RE_PARAM_EXCLUDE);
    strcpy(buf, "category=");
    for (int i = 0; i <= RE_CATEGORIES_MAX; i++)
        sprintf(buf + strlen(buf), "%sc%d", i ? "," : "", i);
    assert_refused(buf, RE_QERR_TOO_MANY, RE_PARAM_CATEGORY);
    /* repeats do not count */
    strcpy(buf, "exclude=");
    for (int i = 0; i < 3 * RE_EXCLUDE_MAX; i++)
        sprintf(buf + strlen(buf), "%se%d", i ? "," : "", i % RE_EXCLUDE_MAX);
    ck_assert_int_eq(parse(buf), 0);
    ck_assert_uint_eq(q.nexclude, RE_EXCLUDE_MAX);
    /* too long, after decoding */
    strcpy(buf, "category=a,");
    memset(buf + 11, 'c', RC_ID_MAX + 1);
    buf[11 + RC_ID_MAX + 1] = 0;
    assert_refused(buf, RE_QERR_TOO_LONG, RE_PARAM_CATEGORY);
    strcpy(buf, "exclude=");
    for (int i = 0; i <= RC_ID_MAX; i++)
        strcat(buf, "%41");
    assert_refused(buf, RE_QERR_TOO_LONG, RE_PARAM_EXCLUDE);
    buf[strlen(buf) - 3] = 0; /* RC_ID_MAX bytes: fine */
    ck_assert_int_eq(parse(buf), 0);
    /* empty elements, bad encoding, repeated parameters */
    const char *empty[] = {"a,,b", ",a", "a,", ","};
    for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
        snprintf(buf, sizeof(buf), "category=%s", empty[i]);
        assert_refused(buf, RE_QERR_EMPTY_ID, RE_PARAM_CATEGORY);
        snprintf(buf, sizeof(buf), "exclude=%s", empty[i]);
        assert_refused(buf, RE_QERR_EMPTY_ID, RE_PARAM_EXCLUDE);
    }
    assert_refused("category=a%2", RE_QERR_ENCODING, RE_PARAM_CATEGORY);
    assert_refused("exclude=a,%zz", RE_QERR_ENCODING, RE_PARAM_EXCLUDE);
    assert_refused("category=a&category=b", RE_QERR_REPEATED, RE_PARAM_CATEGORY);
    assert_refused("exclude=&exclude=b", RE_QERR_REPEATED, RE_PARAM_EXCLUDE);
    assert_refused("c%61tegory=a&category=b", RE_QERR_REPEATED, RE_PARAM_CATEGORY);
    /* a refusal leaves nothing half-set for the next parse */
    ck_assert_int_eq(parse("cookie=c"), 0);
    ck_assert_int_eq(re_query_filtered(&q), 0);
}
END_TEST

START_TEST(test_head_origin)
{
    const char *v;
    size_t len;
    /* The rest of a long request line, then the headers. */
    const char *h = "aaaa HTTP/1.1\r\nHost: a\r\norigin:  https://b.example \r\n\r\n";
    ck_assert_int_eq(re_head_origin(h, strlen(h), &v, &len), 1);
    ck_assert_uint_eq(len, strlen("https://b.example"));
    ck_assert(memcmp(v, "https://b.example", len) == 0);
    const char *lf = "x HTTP/1.1\nOrigin:https://a.example\n\n";
    ck_assert_int_eq(re_head_origin(lf, strlen(lf), &v, &len), 1);
    ck_assert_uint_eq(len, strlen("https://a.example"));
    /* Not there: in the request line, after the head, a longer name, cut off. */
    const char *in_line = "Origin: x HTTP/1.1\r\nHost: a\r\n\r\n";
    ck_assert_int_eq(re_head_origin(in_line, strlen(in_line), &v, &len), 0);
    const char *after = "a HTTP/1.1\r\nHost: a\r\n\r\nOrigin: x\r\n";
    ck_assert_int_eq(re_head_origin(after, strlen(after), &v, &len), 0);
    const char *other = "a HTTP/1.1\r\nX-Origin: x\r\n\r\n";
    ck_assert_int_eq(re_head_origin(other, strlen(other), &v, &len), 0);
    const char *cut = "a HTTP/1.1\r\nOrigin: https://b.exa";
    ck_assert_int_eq(re_head_origin(cut, strlen(cut), &v, &len), 0);
    ck_assert_int_eq(re_head_origin("", 0, &v, &len), 0);
}
END_TEST

START_TEST(test_reasons)
{
    char r[160];
    ck_assert_str_eq(re_query_reason(RE_QERR_ENCODING, RE_PARAM_PRODUCTS, r, sizeof(r)),
                     "bad percent-encoding in 'products'");
    ck_assert_str_eq(re_query_reason(RE_QERR_BAD_N, RE_PARAM_N, r, sizeof(r)), "'n' must be an integer from 1 to 100");
    ck_assert_str_eq(re_query_reason(RE_QERR_BAD_FIELD, RE_PARAM_FIELDS, r, sizeof(r)),
                     "'fields' must list field names from title, url, image_url, price, currency");
    ck_assert_str_eq(re_query_reason(RE_QERR_FIELD_REPEATED, RE_PARAM_FIELDS, r, sizeof(r)),
                     "'fields' names a field more than once");
    ck_assert_str_eq(re_query_reason(RE_QERR_TOO_MANY, RE_PARAM_PRODUCTS, r, sizeof(r)),
                     "'products' holds more than 20 ids");
    ck_assert_str_eq(re_query_reason(RE_QERR_TOO_MANY, RE_PARAM_CATEGORY, r, sizeof(r)),
                     "'category' holds more than 10 names");
    ck_assert_str_eq(re_query_reason(RE_QERR_TOO_MANY, RE_PARAM_EXCLUDE, r, sizeof(r)),
                     "'exclude' holds more than 50 ids");
    ck_assert_str_eq(re_query_reason(RE_QERR_EMPTY_ID, RE_PARAM_CATEGORY, r, sizeof(r)),
                     "'category' holds an empty name");
    ck_assert_str_eq(re_query_reason(RE_QERR_TOO_LONG, RE_PARAM_CATEGORY, r, sizeof(r)),
                     "a name in 'category' is longer than 256 bytes");
    ck_assert_str_eq(re_query_reason(RE_QERR_TOO_LONG, RE_PARAM_EXCLUDE, r, sizeof(r)),
                     "an id in 'exclude' is longer than 256 bytes");
    ck_assert_str_eq(re_query_reason(RE_QERR_REPEATED, RE_PARAM_EXCLUDE, r, sizeof(r)),
                     "'exclude' is given more than once");
    for (int e = 0; e < RE_QERR_COUNT; e++)
        for (int p = 0; p < RE_PARAM_COUNT; p++) {
            re_query_reason((enum re_qerr)e, (enum re_param)p, r, sizeof(r));
            ck_assert(r[0] != 0 && strchr(r, '"') == NULL);
        }
}
END_TEST

static Suite *query_suite(void)
{
    Suite *s = suite_create("query");
    TCase *tc = tcase_create("query");
    tcase_add_test(tc, test_empty_and_defaults);
    tcase_add_test(tc, test_all_parameters);
    tcase_add_test(tc, test_percent_decoding);
    tcase_add_test(tc, test_bad_percent_encoding);
    tcase_add_test(tc, test_nul_bytes);
    tcase_add_test(tc, test_pct_decode_function);
    tcase_add_test(tc, test_id_lengths);
    tcase_add_test(tc, test_products_limits);
    tcase_add_test(tc, test_all_ids_at_their_maximum);
    tcase_add_test(tc, test_n);
    tcase_add_test(tc, test_repeated_and_unknown);
    tcase_add_test(tc, test_query_too_long);
    tcase_add_test(tc, test_fields);
    tcase_add_test(tc, test_filters);
    tcase_add_test(tc, test_filter_limits);
    tcase_add_test(tc, test_reasons);
    tcase_add_test(tc, test_head_origin);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(query_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
