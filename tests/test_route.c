/*
 * test_route.c - edge/route.c: every routing rule of schemas/http.md on a
 * fixture cache written through shared/ code: image merge by best score,
 * CF, segment back-off to global, fill-up across tiers, dedupe, exclusion
 * of the products on screen, n limits, corrupt records, and JSON that stays
 * valid whatever bytes the ids hold; the request filters (category= and
 * exclude=) in every tier, with the overlay and under experiment arms.
 */
#include "cache.h"
#include "catset.h"
#include "experiment.h"
#include "version.h"
#include "fixture.h"
#include "json.h"
#include "query.h"
#include "route.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char root[PATH_MAX];
static struct rc_cache cache;
static MDB_txn *txn;
static struct re_route_scratch scratch;
static struct re_recs recs;

#define E(id, s) {id, 0, s}

/* ---- experiments: an arm's routing policy (experiment.h) ---- */

#define ID64 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._"
/* Arms of 64-byte ids: the longest texts an answer carries. */
#define EXP_LONG                                                                                              \
    "{\"id\":\"" ID64 "\",\"salt\":\"s\",\"arms\":[{\"name\":\"" ID64 "\",\"buckets\":[0,5000]},"                   \
    "{\"name\":\"b\",\"buckets\":[5000,10000]}]}"
#define EXP_POLICIES                                                                                          \
    "{\"id\":\"e1\",\"salt\":\"s\",\"arms\":["                                                               \
    "{\"name\":\"all\",\"buckets\":[0,1000]},"                                                             \
    "{\"name\":\"holdout\",\"buckets\":[1000,2000],\"holdout\":true},"                                     \
    "{\"name\":\"no-cf\",\"buckets\":[2000,3000],\"tiers\":[\"image\",\"segment\",\"global\"]},"              \
    "{\"name\":\"no-image\",\"buckets\":[3000,4000],\"tiers\":[\"cf\",\"segment\",\"global\"]},"              \
    "{\"name\":\"global-only\",\"buckets\":[4000,5000],\"tiers\":[\"global\"]},"                           \
    "{\"name\":\"no-global\",\"buckets\":[5000,6000],\"tiers\":[\"cf\",\"segment\"]},"              \
    "{\"name\":\"cf-b\",\"buckets\":[6000,7000],\"cf\":\"cookie_b\"}]}"

static struct rc_experiment *experiment(const char *text)
{
    struct rc_experiment *x;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_msg(rc_experiment_parse(text, strlen(text), &x, err) == 0, "%s", err);
    return x;
}


/* An item record of id with display field texts (RC_FIELD_COUNT, "" for
 * absent). */
static void fx_item_fields(struct fx *f, const char *id, const char *const *texts)
{
    struct rc_text t[RC_FIELD_COUNT];
    for (int i = 0; i < RC_FIELD_COUNT; i++)
        t[i] = (struct rc_text){texts[i], (uint16_t)strlen(texts[i])};
    unsigned char item[RC_ITEM_HEADER + 2 * RC_ID_MAX + 2 * RC_FIELD_COUNT + RC_FIELDS_TEXT_MAX];
    long len = rc_item_encode_fields(item, sizeof(item), id, strlen(id), "cat", 3, 1, t);
    if (len <= 0)
        abort();
    fx_put(f, RC_DB_ITEMS, rc_key(id, strlen(id)), item, (size_t)len);
}

/* The set record of category cat: ids[0, n) (shared/catset.h). */
static void cat_set(struct fx *f, const char *cat, const char *const *ids, size_t n)
{
    uint64_t keys[32];
    for (size_t i = 0; i < n; i++)
        keys[i] = rc_key(ids[i], strlen(ids[i]));
    n = rc_catset_sort(keys, n);
    unsigned char rec[RC_CATSET_HEADER + 8 * 32];
    long len = rc_catset_encode(rec, sizeof(rec), keys, n);
    if (len <= 0)
        abort();
    fx_put(f, RC_DB_CATSET, rc_key(cat, strlen(cat)), rec, (size_t)len);
}

/* The ranked list of category cat (the category tier). */
static void cat_list(struct fx *f, const char *cat, const struct fx_entry *e, size_t n)
{
    if (fx_list_key(f, RC_DB_CATEGORY, rc_key(cat, strlen(cat)), RC_SRC_CATEGORY, e, n) != 0)
        abort();
}

static void build(void)
{
    const char *tmp = getenv("EDGEREC_TEST_TMP");
    char cmd[PATH_MAX + 16];
    snprintf(root, sizeof(root), "%s/route.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (tmp && *tmp) {
        snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", tmp);
        if (system(cmd) != 0)
            abort();
    }
    if (!mkdtemp(root))
        abort();
    struct fx *f = fx_new();
    /* Display fields (before the lists that name these items): y all of
     * them, z a title, r a price and currency, s none, t a bad record. */
    fx_item_fields(f, "y", (const char *[]){"\"Trail \\\"shoe\\\"\"", "\"https://shop.example/p/y\"", "\"/img/y.png\"",
                                             "59.9", "\"EUR\""});
    fx_item_fields(f, "z", (const char *[]){"\"Zed\"", "", "", "", ""});
    fx_item_fields(f, "r", (const char *[]){"", "", "", "7.50", "\"USD\""});
    fx_put(f, RC_DB_ITEMS, rc_key("t", 1), "ERIT\x09\x00\x01\x00\x01\x00\x00\x00t", 13);
    fx_list(f, RC_DB_PRODUCT, "p1", 0, (struct fx_entry[]){E("a", .9f), E("b", .5f), E("c", .4f), E("p2", .35f)}, 4);
    fx_list(f, RC_DB_PRODUCT, "p2", 0, (struct fx_entry[]){E("b", .95f), E("d", .3f), E("a", .2f)}, 3);
    fx_list(f, RC_DB_PRODUCT, "p3", 0, (struct fx_entry[]){E("e", .7f), E("f", .7f)}, 2);
    fx_list(f, RC_DB_PRODUCT, "p4", 0, (struct fx_entry[]){E("f", .7f), E("g", .7f)}, 2);
    fx_list(f, RC_DB_PRODUCT, "short", 0, (struct fx_entry[]){E("h", .5f)}, 1);
    fx_list(f, RC_DB_PRODUCT, "empty", 0, NULL, 0);
    /* The browsing blend: p5 has both kinds, cv only coview, p6 both with a tie. */
    fx_list(f, RC_DB_PRODUCT, "p5", 0, (struct fx_entry[]){E("a", .9f), E("b", .5f), E("c", .4f), E("p2", .35f)}, 4);
    fx_list(f, RC_DB_COVIEW, "p5", 0, (struct fx_entry[]){E("x", .92f), E("a", .6f), E("p2", .5f)}, 3);
    fx_list(f, RC_DB_COVIEW, "cv", 0, (struct fx_entry[]){E("y", 1), E("z", .5f)}, 2);
    fx_list(f, RC_DB_PRODUCT, "p6", 0, (struct fx_entry[]){E("f", .7f), E("g", .7f)}, 2);
    fx_list(f, RC_DB_COVIEW, "p6", 0, (struct fx_entry[]){E("h", .7f), E("f", .1f)}, 2);
    /* Blend weight 1: image lists set aside (p7's, p8's); coview scores 1 + s. */
    fx_list(f, RC_DB_PRODUCT, "p7", 0, (struct fx_entry[]){E("a", .9f), E("b", .5f)}, 2);
    fx_list(f, RC_DB_COVIEW, "p7", 0, (struct fx_entry[]){E("u", 2), E("v", 1.5f)}, 2);
    fx_list(f, RC_DB_PRODUCT, "p8", 0, (struct fx_entry[]){E("d", .8f)}, 1);
    for (size_t i = 0; i < f->n; i++)
        if (f->recs[i].db == RC_DB_PRODUCT && (f->recs[i].key == rc_key("p7", 2) || f->recs[i].key == rc_key("p8", 2)) &&
            rc_list_set_flags(f->recs[i].val, f->recs[i].len, RC_LIST_ASIDE) != 0)
            abort();
    fx_list(f, RC_DB_COOKIE, "c1", 0, (struct fx_entry[]){E("i", 8), E("a", 7), E("j", 6)}, 3);
    fx_list(f, RC_DB_COOKIE, "c-screen", 0, (struct fx_entry[]){E("p1", 8), E("x", 7)}, 2);
    /* The second CF set's list of c1 (an arm with "cf": "cookie_b"); c-screen has none there. */
    fx_list(f, RC_DB_COOKIE_B, "c1", 0, (struct fx_entry[]){E("y", 9), E("j", 4)}, 2);
    fx_segment(f, "de", "mobile", (struct fx_entry[]){E("k", 50), E("l", 40)}, 2);
    fx_segment(f, "de", "*", (struct fx_entry[]){E("m", 30)}, 1);
    fx_segment(f, "*", "mobile", (struct fx_entry[]){E("o", 20)}, 1);
    fx_segment(f, "*", "tablet", (struct fx_entry[]){E("q", 20)}, 1);
    fx_segment(f, "*", "*", (struct fx_entry[]){E("r", 9), E("s", 8), E("t", 7), E("a", 6), E("k", 5)}, 5);

    /* Categories (request filter category=): the sets, and the lists of
     * the category tier; shoe1 and shoe2 are in no other list. socks has
     * no product; "bad" a set record whose header does not decode. */
    cat_set(f, "shoes", (const char *[]){"a", "b", "e", "i", "r", "x", "y", "shoe1", "shoe2"}, 9);
    cat_set(f, "hats", (const char *[]){"c", "d", "k", "s", "p2"}, 5);
    cat_set(f, "bags", (const char *[]){"j", "t", "m", "z", "h"}, 5);
    cat_set(f, "socks", NULL, 0);
    fx_put(f, RC_DB_CATSET, rc_key("bad", 3), "ERCS\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 16);
    cat_list(f, "shoes", (struct fx_entry[]){E("shoe1", 9), E("x", 8), E("shoe2", 7), E("e", 6)}, 4);
    cat_list(f, "hats", (struct fx_entry[]){E("d", 5), E("c", 4), E("s", 3)}, 3);

    struct fx_entry big[150];
    static char names[150][8];
    for (int i = 0; i < 150; i++) {
        snprintf(names[i], sizeof(names[i]), "b%03d", i);
        big[i] = (struct fx_entry){names[i], 0, 1.0f - (float)i / 1000};
    }
    fx_list(f, RC_DB_PRODUCT, "big", 0, big, 150);
    /* A segment list deeper than RE_FILTER_DEPTH: of category "deep" are
     * d010 (within the depth) and d070 (beyond it), which the deep list
     * also ranks, with dz. */
    struct fx_entry deep[100];
    static char deep_names[100][8];
    for (int i = 0; i < 100; i++) {
        snprintf(deep_names[i], sizeof(deep_names[i]), "d%03d", i);
        deep[i] = (struct fx_entry){deep_names[i], 0, 100.0f - (float)i};
    }
    fx_segment(f, "deeploc", "*", deep, 100);
    cat_set(f, "deep", (const char *[]){"d010", "d070", "dz"}, 3);
    cat_list(f, "deep", (struct fx_entry[]){E("d070", 9), E("dz", 8)}, 2);

    static char longid[RC_ID_MAX];
    memset(longid, 0xff, sizeof(longid));
    struct fx_entry weird[] = {
        {"q\"uote", 0, .9f},      {"back\\slash", 0, .8f}, {"ctl\x01\x1f\n", 0, .7f}, {"\xff\xfe bad", 0, .6f},
        {"nul\0byte", 8, .5f},    {"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 0, .4f},  {longid, RC_ID_MAX, .3f},
        {"\xed\xa0\x80surrogate", 0, .2f}, {"\xc0\xafoverlong", 0, .1f}};
    fx_list(f, RC_DB_PRODUCT, "w", 0, weird, sizeof(weird) / sizeof(weird[0]));

    /* A record that does not decode: skipped and counted. */
    fx_put(f, RC_DB_PRODUCT, rc_key("corrupt", 7), "ERLS\x01\x00\x02\x00\x05\x00", 10);
    /* A record whose header is fine and whose second entry is not (id
     * length 0): the edge decodes lazily, so the first entry is used. */
    unsigned char badtail[64];
    struct rc_entry two[] = {{rc_key("u", 1), .9f, 1, "u", 0}, {rc_key("v", 1), .8f, 1, "v", 0}};
    long badtail_len = rc_list_encode(badtail, sizeof(badtail), RC_SRC_IMAGE, two, 2);
    if (badtail_len <= 0)
        abort();
    badtail[RC_LIST_HEADER + RC_ENTRY_FIXED + 1 + badtail[RC_LIST_HEADER + 14] + 12] = 0; /* past "u" and its score */
    fx_put(f, RC_DB_PRODUCT, rc_key("badtail", 7), badtail, (size_t)badtail_len);

    char err[RC_ERRMSG_MAX];
    if (fx_write(f, root, "20260101T000000Z", 1, err) != 0) {
        fprintf(stderr, "fixture: %s\n", err);
        abort();
    }
    fx_free(f);
}

static void cleanup(void)
{
    (void)rc_remove_tree(root);
}

static void open_cache(void)
{
    char dir[PATH_MAX + 64], err[RC_ERRMSG_MAX];
    snprintf(dir, sizeof(dir), "%s/versions/20260101T000000Z", root);
    ck_assert_msg(rc_version_open(&cache, dir, RC_VERIFY_FILES, err) == 0, "%s", err);
    ck_assert_int_eq(mdb_txn_begin(cache.env, NULL, MDB_RDONLY, &txn), 0);
    re_route_scratch_init(&scratch);
}

static void close_cache(void)
{
    mdb_txn_abort(txn);
    rc_cache_close(&cache);
}

/* Route the raw query string; returns the item ids joined by ','. */
static const char *route(const char *query)
{
    static char joined[4096];
    struct re_query q;
    ck_assert_msg(re_query_parse(&q, query, strlen(query)) == 0, "query '%s' refused", query);
    ck_assert_int_eq(re_route(&cache, txn, &q, &scratch, &recs), 0);
    joined[0] = 0;
    size_t o = 0;
    for (unsigned i = 0; i < recs.count && o + RC_ID_MAX + 2 < sizeof(joined); i++) {
        if (i)
            joined[o++] = ',';
        memcpy(joined + o, recs.items[i].id, recs.items[i].id_len);
        o += recs.items[i].id_len;
        joined[o] = 0;
    }
    return joined;
}

static const char *sources(void)
{
    static char s[1024];
    s[0] = 0;
    for (unsigned i = 0; i < recs.count; i++)
        snprintf(s + strlen(s), sizeof(s) - strlen(s), "%s%s", i ? "," : "", rc_source_name(recs.items[i].source));
    return s;
}

static float score_of(const char *id)
{
    for (unsigned i = 0; i < recs.count; i++)
        if (recs.items[i].id_len == strlen(id) && memcmp(recs.items[i].id, id, strlen(id)) == 0)
            return recs.items[i].score;
    return -1;
}

START_TEST(test_image_merge_best_score)
{
    /* b is in both lists: it keeps 0.95; p2 is on screen and never returned. */
    ck_assert_str_eq(route("products=p1,p2&n=4"), "b,a,c,d");
    ck_assert_int_eq(recs.route, RC_SRC_IMAGE);
    ck_assert_float_eq_tol(score_of("b"), 0.95f, 1e-6);
    ck_assert_float_eq_tol(score_of("a"), 0.9f, 1e-6);
    ck_assert_str_eq(sources(), "image,image,image,image");
}
END_TEST

START_TEST(test_image_single_excludes_on_screen)
{
    ck_assert_str_eq(route("products=p2&n=2"), "b,d");
    ck_assert_str_eq(route("products=p1&n=10&loc=zz"), "a,b,c,p2,r,s,t,k");
    ck_assert_str_eq(route("products=p1,p2&n=10&loc=zz"), "b,a,c,d,r,s,t,k");
}
END_TEST

START_TEST(test_image_ties_keep_product_order)
{
    ck_assert_str_eq(route("products=p3,p4&n=3"), "e,f,g");
    ck_assert_str_eq(route("products=p4,p3&n=3"), "f,g,e");
}
END_TEST

START_TEST(test_blend_coview_and_image)
{
    /* Merged by score: a keeps its image 0.9 over its coview 0.6; b (image
     * 0.5) goes before p2 (coview 0.5): a product's image list first. */
    ck_assert_str_eq(route("products=p5&n=5"), "x,a,b,p2,c");
    ck_assert_str_eq(sources(), "coview,image,image,coview,image");
    ck_assert_int_eq(recs.route, RC_SRC_COVIEW);
    ck_assert_float_eq_tol(score_of("a"), 0.9f, 1e-6);
    ck_assert_float_eq_tol(score_of("p2"), 0.5f, 1e-6);
    /* Two products, four lists. */
    ck_assert_str_eq(route("products=p5,p6&n=6"), "x,a,f,g,h,b");
    ck_assert_str_eq(sources(), "coview,image,image,image,coview,image");
    /* Ties keep the order of the lists: p6's image f, g before its coview h. */
    ck_assert_str_eq(route("products=p6&n=3"), "f,g,h");
    ck_assert_str_eq(sources(), "image,image,coview");
    ck_assert_int_eq(recs.route, RC_SRC_IMAGE);
}
END_TEST

START_TEST(test_blend_image_aside)
{
    /* An image list set aside is not served: p7's coview list alone, then
     * the next tiers. */
    ck_assert_str_eq(route("products=p7&n=4&loc=zz"), "u,v,r,s");
    ck_assert_str_eq(sources(), "coview,coview,global,global");
    ck_assert_int_eq(recs.route, RC_SRC_COVIEW);
    /* A product whose only list is aside adds nothing: the next tiers answer. */
    ck_assert_str_eq(route("products=p8&n=2&loc=zz"), "r,s");
    ck_assert_int_eq(recs.route, RC_SRC_GLOBAL);
    ck_assert_str_eq(route("products=p7,p8&n=3&loc=zz"), "u,v,r");
    /* The flag is per list: p5's image list still merges with the coview lists. */
    ck_assert_str_eq(route("products=p7,p5&n=5"), "u,v,x,a,b");
    ck_assert_str_eq(sources(), "coview,coview,coview,image,image");
}
END_TEST

START_TEST(test_blend_coview_only_and_fallback)
{
    /* A product with only a coview list: its items, then the fallback. */
    ck_assert_str_eq(route("products=cv&n=4&loc=zz"), "y,z,r,s");
    ck_assert_str_eq(sources(), "coview,coview,global,global");
    ck_assert_int_eq(recs.route, RC_SRC_COVIEW);
    static char mem[RE_RECS_JSON_MAX];
    struct rc_buf b;
    rc_buf_fixed(&b, mem, sizeof(mem));
    re_recs_json(&recs, "v1", &b);
    ck_assert_str_eq(rc_buf_cstr(&b), "{\"version\":\"v1\",\"route\":\"coview\",\"items\":["
                                      "{\"product\":\"y\",\"score\":1,\"source\":\"coview\"},"
                                      "{\"product\":\"z\",\"score\":0.5,\"source\":\"coview\"},"
                                      "{\"product\":\"r\",\"score\":9,\"source\":\"global\"},"
                                      "{\"product\":\"s\",\"score\":8,\"source\":\"global\"}]}");
    /* Neither list: as before, the next tiers answer. */
    ck_assert_str_eq(route("products=nolist&n=2"), "r,s");
    ck_assert_int_eq(recs.route, RC_SRC_GLOBAL);
}
END_TEST

/* The JSON of the last route into a RE_RECS_JSON_MAX buffer. */
static const char *json_of(const char *version)
{
    static char mem[RE_RECS_JSON_MAX];
    struct rc_buf b;
    rc_buf_fixed(&b, mem, sizeof(mem));
    re_recs_json(&recs, version, &b);
    ck_assert(!b.overflow);
    return rc_buf_cstr(&b);
}

START_TEST(test_fields)
{
    /* All five: each item gets the keys it has, after "source", in order. */
    ck_assert_str_eq(route("products=cv&n=4&loc=zz&fields=currency,price,image_url,url,title"), "y,z,r,s");
    ck_assert_uint_eq(recs.bad_records, 0);
    ck_assert_str_eq(json_of("v1"), "{\"version\":\"v1\",\"route\":\"coview\",\"items\":["
                                    "{\"product\":\"y\",\"score\":1,\"source\":\"coview\",\"title\":\"Trail \\\"shoe\\\"\","
                                    "\"url\":\"https://shop.example/p/y\",\"image_url\":\"/img/y.png\",\"price\":59.9,"
                                    "\"currency\":\"EUR\"},"
                                    "{\"product\":\"z\",\"score\":0.5,\"source\":\"coview\",\"title\":\"Zed\"},"
                                    "{\"product\":\"r\",\"score\":9,\"source\":\"global\",\"price\":7.50,"
                                    "\"currency\":\"USD\"},"
                                    "{\"product\":\"s\",\"score\":8,\"source\":\"global\"}]}");
    /* A subset: only those keys. */
    route("products=cv&n=4&loc=zz&fields=price,title");
    ck_assert_str_eq(json_of("v1"), "{\"version\":\"v1\",\"route\":\"coview\",\"items\":["
                                    "{\"product\":\"y\",\"score\":1,\"source\":\"coview\",\"title\":\"Trail \\\"shoe\\\"\","
                                    "\"price\":59.9},"
                                    "{\"product\":\"z\",\"score\":0.5,\"source\":\"coview\",\"title\":\"Zed\"},"
                                    "{\"product\":\"r\",\"score\":9,\"source\":\"global\",\"price\":7.50},"
                                    "{\"product\":\"s\",\"score\":8,\"source\":\"global\"}]}");
    /* Without fields: the answer of old (test_blend_coview_only_and_fallback). */
    route("products=cv&n=4&loc=zz");
    ck_assert_uint_eq(recs.fields, 0);
    ck_assert_str_eq(json_of("v1"), "{\"version\":\"v1\",\"route\":\"coview\",\"items\":["
                                    "{\"product\":\"y\",\"score\":1,\"source\":\"coview\"},"
                                    "{\"product\":\"z\",\"score\":0.5,\"source\":\"coview\"},"
                                    "{\"product\":\"r\",\"score\":9,\"source\":\"global\"},"
                                    "{\"product\":\"s\",\"score\":8,\"source\":\"global\"}]}");
    /* t's item record is bad: t is answered without fields, counted once. */
    ck_assert_str_eq(route("n=3&fields=title"), "r,s,t");
    ck_assert_uint_eq(recs.bad_records, 1);
    ck_assert_str_eq(json_of("v1"), "{\"version\":\"v1\",\"route\":\"global\",\"items\":["
                                    "{\"product\":\"r\",\"score\":9,\"source\":\"global\"},"
                                    "{\"product\":\"s\",\"score\":8,\"source\":\"global\"},"
                                    "{\"product\":\"t\",\"score\":7,\"source\":\"global\"}]}");
    ck_assert_str_eq(route("n=3"), "r,s,t");
    ck_assert_uint_eq(recs.bad_records, 0); /* not read without fields */
    /* No items: no lookups, the empty answer. */
    route("products=r,s,t,a,k&fields=title");
    ck_assert_str_eq(json_of("v1"), "{\"version\":\"v1\",\"route\":\"image\",\"short\":true,\"items\":[]}");
}
END_TEST

START_TEST(test_cf)
{
    ck_assert_str_eq(route("cookie=c1&n=3"), "i,a,j");
    ck_assert_int_eq(recs.route, RC_SRC_CF);
    ck_assert_str_eq(sources(), "cf,cf,cf");
    /* A cookie without a list is a new visitor: segment, then global. */
    ck_assert_str_eq(route("cookie=nobody&n=2"), "r,s");
    ck_assert_int_eq(recs.route, RC_SRC_GLOBAL);
}
END_TEST

START_TEST(test_cf_excludes_on_screen)
{
    /* "p1" is in c-screen's list and on screen; products without lists fall to cf. */
    ck_assert_str_eq(route("cookie=c-screen&products=p1&n=6"), "a,b,c,p2,x,r");
    ck_assert_str_eq(route("cookie=c-screen&products=unknown&n=2"), "p1,x");
    ck_assert_int_eq(recs.route, RC_SRC_CF);
    ck_assert_str_eq(route("cookie=c-screen&products=p1,nothing&n=5"), "a,b,c,p2,x");
}
END_TEST

START_TEST(test_segment_backoff)
{
    ck_assert_str_eq(route("loc=de&device=mobile&n=2"), "k,l");
    ck_assert_int_eq(recs.route, RC_SRC_SEGMENT);
    ck_assert_str_eq(route("loc=de&device=desktop&n=1"), "m");         /* (de, *) */
    ck_assert_str_eq(route("loc=fr&device=mobile&n=1"), "o");          /* (*, mobile) */
    ck_assert_str_eq(route("device=tablet&n=1"), "q");                 /* (*, tablet) */
    ck_assert_str_eq(route("loc=de&n=1"), "m");                        /* (de, *) */
    ck_assert_str_eq(route("loc=fr&device=watch&n=2"), "r,s");         /* (*, *) */
    ck_assert_int_eq(recs.route, RC_SRC_GLOBAL);
    ck_assert_str_eq(sources(), "global,global");
    ck_assert_str_eq(route(""), "r,s,t,a,k");
    ck_assert_int_eq(recs.route, RC_SRC_GLOBAL);
}
END_TEST

START_TEST(test_segment_chain_fills_in_order)
{
    ck_assert_str_eq(route("loc=de&device=mobile&n=10"), "k,l,m,o,r,s,t,a");
    ck_assert_str_eq(sources(), "segment,segment,segment,segment,global,global,global,global");
    ck_assert_int_eq(recs.route, RC_SRC_SEGMENT);
}
END_TEST

START_TEST(test_fill_up_across_tiers)
{
    ck_assert_str_eq(route("products=short&cookie=c1&loc=de&device=mobile&n=10"), "h,i,a,j,k,l,m,o,r,s");
    ck_assert_str_eq(sources(), "image,cf,cf,cf,segment,segment,segment,segment,global,global");
    ck_assert_int_eq(recs.route, RC_SRC_IMAGE);
    /* All tiers together hold these 11 distinct products. */
    ck_assert_str_eq(route("products=short&cookie=c1&loc=de&device=mobile&n=100"), "h,i,a,j,k,l,m,o,r,s,t");
}
END_TEST

/* ---- the overlay (schemas/overlay.md): suppressed products are skipped ---- */

static struct rc_overlay *overlay_of(const char *const *ids, size_t n)
{
    size_t lens[16] = {0};
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(ids[i]);
    void *data;
    size_t len;
    struct rc_overlay *o;
    char err[RC_ERRMSG_MAX];
    ck_assert_msg(rc_overlay_encode(ids, lens, n, &data, &len, err) == 0, "%s", err);
    ck_assert_msg(rc_overlay_decode(data, len, &o, err) == 0, "%s", err);
    free(data);
    return o;
}

START_TEST(test_overlay_suppresses)
{
    struct rc_overlay *o = overlay_of((const char *[]){"b", "d", "i", "r"}, 4);
    scratch.suppress = o;
    /* one list: filled from deeper in it (p2 is on screen in the other test, not here) */
    ck_assert_str_eq(route("products=p1&n=3"), "a,c,p2");
    /* the merge of two lists, then the next tiers (global without r) */
    ck_assert_str_eq(route("products=p1,p2&n=4"), "a,c,s,t");
    ck_assert_str_eq(sources(), "image,image,global,global");
    /* cf, then the fill-up from global */
    ck_assert_str_eq(route("cookie=c1&n=3"), "a,j,s");
    ck_assert_str_eq(route("products=short&cookie=c1&n=4"), "h,a,j,s");
    ck_assert_str_eq(route(""), "s,t,a,k");
    /* an experiment arm's path reads the same overlay */
    struct rc_experiment *x = experiment(EXP_POLICIES);
    struct re_query q;
    ck_assert_int_eq(re_query_parse(&q, "cookie=c1&n=3", 13), 0);
    ck_assert_int_eq(re_route_arm(&cache, txn, &q, &x->arms[0], &scratch, &recs), 0);
    ck_assert_int_eq(recs.count, 3);
    for (unsigned i = 0; i < recs.count; i++)
        ck_assert_msg(!rc_overlay_has(o, recs.items[i].key), "item %u is suppressed", i);
    rc_experiment_free(x);
    /* no overlay: the answers are back */
    scratch.suppress = NULL;
    ck_assert_str_eq(route("products=p1,p2&n=4"), "b,a,c,d");
    ck_assert_str_eq(route("cookie=c1&n=3"), "i,a,j");
    rc_overlay_free(o);
}
END_TEST

START_TEST(test_overlay_empty_and_everything)
{
    struct rc_overlay *o = overlay_of(NULL, 0);
    scratch.suppress = o;
    ck_assert_str_eq(route("products=p1,p2&n=4"), "b,a,c,d");
    rc_overlay_free(o);
    /* everything a tier chain holds suppressed: an empty answer, still routed */
    o = overlay_of((const char *[]){"r", "s", "t", "a", "k"}, 5);
    scratch.suppress = o;
    ck_assert_str_eq(route("n=5"), "");
    ck_assert_int_eq(recs.route, RC_SRC_GLOBAL);
    scratch.suppress = NULL;
    rc_overlay_free(o);
}
END_TEST

START_TEST(test_route_of_empty_answer_and_empty_lists)
{
    /* products without lists and no other tier contributing: nothing but global. */
    ck_assert_str_eq(route("products=empty&n=2"), "r,s");
    ck_assert_int_eq(recs.route, RC_SRC_GLOBAL);
    /* All of global on screen: nothing left, the rule's tier is reported. */
    ck_assert_str_eq(route("products=r,s,t,a,k"), "");
    ck_assert_int_eq(recs.route, RC_SRC_IMAGE);
    ck_assert_str_eq(route("cookie=c-screen&products=p1,x,r,s,t,a,k&n=100"), "b,c,p2");
}
END_TEST

START_TEST(test_n_limits)
{
    route("products=big&n=1");
    ck_assert_int_eq(recs.count, 1);
    ck_assert_str_eq(route("products=big&n=3"), "b000,b001,b002");
    route("products=big&n=100");
    ck_assert_int_eq(recs.count, 100);
    ck_assert_int_eq(memcmp(recs.items[99].id, "b099", 4), 0);
    route("products=big");
    ck_assert_int_eq(recs.count, RE_N_DEFAULT);
}
END_TEST

START_TEST(test_duplicate_products_in_query)
{
    ck_assert_str_eq(route("products=p2,p2&n=3"), "b,d,a");
}
END_TEST

START_TEST(test_corrupt_record_skipped)
{
    ck_assert_str_eq(route("products=corrupt&n=2"), "r,s");
    ck_assert_int_eq(recs.bad_records, 1);
    ck_assert_str_eq(route("products=p2&n=1"), "b");
    ck_assert_int_eq(recs.bad_records, 0);
}
END_TEST

/* A list that goes bad after its first entry: that entry is served, the
 * rest of the answer comes from the next tiers, the record is counted. */
START_TEST(test_lazily_found_bad_entry)
{
    ck_assert_str_eq(route("products=badtail&n=3"), "u,r,s");
    ck_assert_str_eq(sources(), "image,global,global");
    ck_assert_int_eq(recs.bad_records, 1);
    /* One list is read no further than the answer needs: for n=1 the
     * defect after the first entry is not reached. */
    ck_assert_str_eq(route("products=badtail&n=1"), "u");
    ck_assert_int_eq(recs.bad_records, 0);
    /* A merge reads one entry ahead of what it takes in every list, so
     * there the defect right after the first entry is met even for n=1. */
    ck_assert_str_eq(route("products=badtail,p3&n=1"), "u");
    ck_assert_int_eq(recs.bad_records, 1);
    ck_assert_str_eq(route("products=p2&n=1"), "b");
    ck_assert_int_eq(recs.bad_records, 0);
}
END_TEST

/* Valid UTF-8, no raw control bytes: what a JSON text must be. */
static int valid_utf8_no_controls(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c < 0x20)
            return 0;
        size_t len = c < 0x80 ? 1 : (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3
                                                             : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
        if (!len || i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
        if (len == 3 && c == 0xed && s[i + 1] >= 0xa0)
            return 0; /* surrogate */
        if (len == 3 && c == 0xe0 && s[i + 1] < 0xa0)
            return 0; /* overlong */
        i += len;
    }
    return 1;
}

START_TEST(test_json_weird_ids)
{
    route("products=w&n=9");
    ck_assert_int_eq(recs.count, 9);
    static char mem[RE_RECS_JSON_MAX];
    struct rc_buf b;
    rc_buf_fixed(&b, mem, sizeof(mem));
    re_recs_json(&recs, cache.manifest.version, &b);
    ck_assert(!b.overflow);
    ck_assert_msg(valid_utf8_no_controls((unsigned char *)b.data, b.len), "output is not clean UTF-8");
    struct rc_json *doc;
    char err[RC_ERRMSG_MAX];
    ck_assert_msg(rc_json_parse(b.data, b.len, &doc, err) == 0, "%s: %.*s", err, (int)b.len, b.data);
    ck_assert_str_eq(rc_json_get_str(doc, "version"), "20260101T000000Z");
    ck_assert_str_eq(rc_json_get_str(doc, "route"), "image");
    const struct rc_json *items = rc_json_get(doc, "items");
    ck_assert_ptr_nonnull(items);
    const struct rc_json *it = items->child;
    ck_assert_str_eq(rc_json_get_str(it, "product"), "q\"uote");
    ck_assert_str_eq(rc_json_get_str(it, "source"), "image");
    double score;
    ck_assert_int_eq(rc_json_get_num(it, "score", &score), 0);
    ck_assert_double_eq_tol(score, 0.9, 1e-6);
    ck_assert_str_eq(rc_json_get_str(it->next, "product"), "back\\slash");
    ck_assert_str_eq(rc_json_get_str(it->next->next, "product"), "ctl\x01\x1f\n");
    ck_assert_str_eq(rc_json_get_str(it->next->next->next, "product"), "\xef\xbf\xbd\xef\xbf\xbd bad");
    const struct rc_json *nul = it->next->next->next->next;
    ck_assert_int_eq(nul->child->str_len, 8); /* "nul\0byte" kept its NUL as \u0000 */
    ck_assert_str_eq(rc_json_get_str(nul->next, "product"), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    rc_json_free(doc);
}
END_TEST

/* Room for a one-entry record of any id. */
#define REC_CAP (RC_LIST_HEADER + RC_ENTRY_FIXED + RC_SCORE_TEXT_MAX + RC_ID_MAX)

/* An item as re_route takes it from a list: (key, id, score) encoded into
 * rec (REC_CAP bytes) as a one-entry record and read back, so that it
 * points into a real entry, score text included. */
static struct re_item item_of(unsigned char *rec, uint64_t key, const char *id, size_t id_len, float score,
                              uint8_t source)
{
    struct rc_entry e = {key, score, (uint16_t)id_len, id, 0};
    long n = rc_list_encode(rec, REC_CAP, RC_SRC_CF, &e, 1);
    ck_assert_int_gt(n, 0);
    struct rc_list l;
    ck_assert_int_eq(rc_list_open(&l, rec, (size_t)n, 0, NULL), 0);
    ck_assert_int_eq(rc_list_next(&l, &e), 1);
    return (struct re_item){key, e.id, score, (uint16_t)id_len, e.score_len, source};
}

START_TEST(test_json_worst_case_fits)
{
    /* 100 items of RC_ID_MAX bytes that each escape to 6 bytes. */
    static char id[RC_ID_MAX];
    memset(id, 0x01, sizeof(id));
    static unsigned char rec[RE_N_MAX][REC_CAP];
    struct rc_experiment *x = experiment(EXP_LONG); /* and the longest rec_id and arm texts */
    static struct re_recs r;
    r = (struct re_recs){.route = RC_SRC_SEGMENT, .count = RE_N_MAX, .rec_id = "ffffffffffffffffffffffffffffffff",
                         .arm = &x->arms[0]};
    for (unsigned i = 0; i < RE_N_MAX; i++)
        r.items[i] = item_of(rec[i], i, id, RC_ID_MAX, -3.4e38f, RC_SRC_SEGMENT);
    static char mem[RE_RECS_JSON_MAX];
    struct rc_buf b;
    rc_buf_fixed(&b, mem, sizeof(mem));
    re_recs_json(&r, "20260101T000000Z-99", &b);
    ck_assert(!b.overflow);
    struct rc_json *doc;
    ck_assert_int_eq(rc_json_parse(b.data, b.len, &doc, NULL), 0);
    rc_json_free(doc);
    rc_experiment_free(x);
}
END_TEST

/* Every field at its longest on 100 items of the longest escaped ids: a
 * RE_RECS_JSON_MAX buffer holds it, and it parses. */
START_TEST(test_json_fields_worst_case_fits)
{
    static char id[RC_ID_MAX], title[RC_TITLE_TEXT_MAX], url[RC_URL_TEXT_MAX];
    memset(id, 0x01, sizeof(id));
    memset(title, 'x', sizeof(title));
    for (size_t i = 1; i + 6 < sizeof(title); i += 6)
        memcpy(title + i, "\\u0001", 6);
    title[0] = title[sizeof(title) - 1] = '"';
    memset(url, 'u', sizeof(url));
    url[0] = url[sizeof(url) - 1] = '"';
    static const char price[] = "123456789012345678901234";
    static unsigned char rec[RE_N_MAX][REC_CAP];
    static struct re_recs r;
    struct rc_experiment *x = experiment(EXP_LONG); /* ids of 64 bytes: the longest arm text */
    r = (struct re_recs){.route = RC_SRC_SEGMENT, .count = RE_N_MAX, .fields = RC_FIELDS_ALL,
                         .rec_id = "ffffffffffffffffffffffffffffffff", .arm = &x->arms[0]};
    for (unsigned i = 0; i < RE_N_MAX; i++) {
        r.items[i] = item_of(rec[i], i, id, RC_ID_MAX, -3.4e38f, RC_SRC_SEGMENT);
        r.texts[i][RC_FIELD_TITLE] = (struct rc_text){title, sizeof(title)};
        r.texts[i][RC_FIELD_URL] = r.texts[i][RC_FIELD_IMAGE_URL] = (struct rc_text){url, sizeof(url)};
        r.texts[i][RC_FIELD_PRICE] = (struct rc_text){price, sizeof(price) - 1};
        r.texts[i][RC_FIELD_CURRENCY] = (struct rc_text){"\"EUR\"", 5};
        ck_assert_int_eq(rc_field_text_check(RC_FIELD_TITLE, title, sizeof(title)), 0);
    }
    static char mem[RE_RECS_JSON_MAX];
    struct rc_buf b;
    rc_buf_fixed(&b, mem, sizeof(mem));
    re_recs_json(&r, "20260101T000000Z-99", &b);
    ck_assert(!b.overflow);
    struct rc_json *doc;
    ck_assert_int_eq(rc_json_parse(b.data, b.len, &doc, NULL), 0);
    rc_json_free(doc);
    rc_experiment_free(x);
}
END_TEST

/* With fields, as test_json_overflow_at_every_cut: every cut overflows,
 * writes a prefix of the answer and nothing past the cut. */
START_TEST(test_json_fields_overflow_at_every_cut)
{
    route("products=cv&n=4&loc=zz&fields=title,url,image_url,price,currency");
    static char want[4096];
    snprintf(want, sizeof(want), "%s", json_of(cache.manifest.version));
    size_t want_len = strlen(want);
    char *mem = malloc(want_len + 64);
    ck_assert_ptr_nonnull(mem);
    for (size_t cap = 0; cap <= want_len + 1; cap++) {
        memset(mem, 0x5a, want_len + 64);
        struct rc_buf b;
        rc_buf_fixed(&b, mem, cap);
        re_recs_json(&recs, cache.manifest.version, &b);
        ck_assert_int_eq(b.overflow, cap <= want_len);
        ck_assert_uint_le(b.len, want_len);
        ck_assert_int_eq(memcmp(mem, want, b.len), 0);
        if (!b.overflow)
            ck_assert_uint_eq(b.len, want_len);
        size_t i = cap;
        while (i < want_len + 64 && (unsigned char)mem[i] == 0x5a)
            i++;
        ck_assert_msg(i == want_len + 64, "cap %zu: byte %zu written", cap, i);
    }
    free(mem);
}
END_TEST

START_TEST(test_json_empty_items)
{
    route("products=r,s,t,a,k");
    static char mem[1024];
    struct rc_buf b;
    rc_buf_fixed(&b, mem, sizeof(mem));
    re_recs_json(&recs, "v1", &b);
    ck_assert_str_eq(rc_buf_cstr(&b), "{\"version\":\"v1\",\"route\":\"image\",\"short\":true,\"items\":[]}");
}
END_TEST

START_TEST(test_scratch_stamp_wraps)
{
    scratch.stamp = UINT32_MAX - 1;
    ck_assert_str_eq(route("products=p1,p2&n=10"), "b,a,c,d,r,s,t,k");
    ck_assert_str_eq(route("products=p1,p2&n=10"), "b,a,c,d,r,s,t,k"); /* stamp wraps to 0 here */
    ck_assert_str_eq(route("products=p1,p2&n=10"), "b,a,c,d,r,s,t,k");
}
END_TEST

/* Scores read as "%.6g" would write them, over the whole float range:
 * written into a record by rc_list_encode, copied from it by
 * re_recs_json. */
START_TEST(test_json_scores_match_printf)
{
    static unsigned char rec[REC_CAP];
    struct re_recs r = {.route = RC_SRC_GLOBAL, .count = 1};
    const float fixed[] = {0, -0.0f, 1, 0.95f, 0.5f, 1e-4f, 9.99999e-5f, 999999.4f, 999999.6f, 1e6f, 123456.5f,
                           -0.0009765625f, 0.1f, 3.4e38f, 1e-38f, INFINITY, NAN};
    srand(7);
    for (int i = 0; i < 200000; i++) {
        float f;
        if (i < (int)(sizeof(fixed) / sizeof(fixed[0])))
            f = fixed[i];
        else if (i % 2)
            f = (float)rand() / (float)RAND_MAX * (rand() % 2 ? 1 : -1);
        else
            f = powf(10, (float)(rand() % 160 - 80) / 10.0f) * ((float)rand() / (float)RAND_MAX);
        r.items[0] = item_of(rec, 1, "x", 1, f, RC_SRC_GLOBAL);
        char mem[256], want[64];
        struct rc_buf b;
        rc_buf_fixed(&b, mem, sizeof(mem));
        re_recs_json(&r, "v", &b);
        rc_buf_cstr(&b);
        if (isfinite(f))
            snprintf(want, sizeof(want), "\"score\":%.6g,", (double)f);
        else
            snprintf(want, sizeof(want), "\"score\":null,");
        ck_assert_msg(strstr(mem, want) != NULL, "%.9g gave %s, expected %s", (double)f, mem, want);
    }
}
END_TEST

/* ---- a reference encoder, written byte by byte from schemas/http.md ---- */

static size_t ref_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len = (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3 : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
    if (!len || len > n)
        return 0;
    for (size_t k = 1; k < len; k++)
        if ((s[k] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0) || (c == 0xf0 && s[1] < 0x90) ||
        (c == 0xf4 && s[1] >= 0x90))
        return 0; /* overlong, surrogate, above U+10FFFF */
    return len;
}

static size_t ref_str(char *o, const char *id, size_t n)
{
    const unsigned char *s = (const unsigned char *)id;
    size_t w = 0;
    o[w++] = '"';
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t ul = c >= 0x80 ? ref_utf8_len(s + i, n - i) : 0;
        if (c == '"' || c == '\\') {
            w += (size_t)sprintf(o + w, "\\%c", c);
        } else if (c < 0x20) {
            w += (size_t)sprintf(o + w, "\\u%04x", c);
        } else if (c < 0x80) {
            o[w++] = (char)c;
        } else if (ul) {
            memcpy(o + w, s + i, ul);
            w += ul;
            i += ul;
            continue;
        } else {
            w += (size_t)sprintf(o + w, "\\ufffd");
        }
        i++;
    }
    o[w++] = '"';
    return w;
}

/* The experiment of the arms the reference tests give their answers. */
static const char *ref_experiment_id = "";

static size_t ref_recs_json(char *o, const struct re_recs *r, const char *version)
{
    size_t w = (size_t)sprintf(o, "{\"version\":");
    w += ref_str(o + w, version, strlen(version));
    w += (size_t)sprintf(o + w, ",\"route\":\"%s\"", rc_source_name(r->route));
    if (r->rec_id)
        w += (size_t)sprintf(o + w, ",\"rec_id\":\"%.32s\"", r->rec_id);
    if (r->arm)
        w += (size_t)sprintf(o + w, ",\"experiment\":\"%s\",\"arm\":\"%s\"", ref_experiment_id, r->arm->name);
    if (r->count < r->n)
        w += (size_t)sprintf(o + w, ",\"short\":true");
    w += (size_t)sprintf(o + w, ",\"items\":[");
    for (unsigned i = 0; i < r->count; i++) {
        const struct re_item *it = &r->items[i];
        w += (size_t)sprintf(o + w, "%s{\"product\":", i ? "," : "");
        w += ref_str(o + w, it->id, it->id_len);
        if (isfinite(it->score))
            w += (size_t)sprintf(o + w, ",\"score\":%.6g", (double)it->score);
        else
            w += (size_t)sprintf(o + w, ",\"score\":null");
        w += (size_t)sprintf(o + w, ",\"source\":\"%s\"}", rc_source_name(it->source));
    }
    w += (size_t)sprintf(o + w, "]}");
    return w;
}

/* re_recs_json writes exactly what the reference writes: random ids
 * (plain, UTF-8, escapes, bytes that are not UTF-8, all lengths), random
 * scores and sources, into a fixed buffer and a growable one. */
START_TEST(test_json_matches_reference)
{
    static char ids[RE_N_MAX][RC_ID_MAX];
    static unsigned char rec[RE_N_MAX][REC_CAP];
    static char got[RE_RECS_JSON_MAX], want[RE_RECS_JSON_MAX];
    static const unsigned char pieces[][4] = {{'a'}, {'Z'}, {'0'}, {'-'}, {' '}, {'"'}, {'\\'}, {0x01}, {0x7f}, {0},
                                              {0xc3, 0xa9}, {0xe2, 0x82, 0xac}, {0xf0, 0x9f, 0x98, 0x80},
                                              {0xff}, {0xc3}, {0xed, 0xa0, 0x80}, {0x80}};
    static const size_t piece_len[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 4, 1, 1, 3, 1};
    static struct re_recs r;
    struct rc_experiment *x = experiment(EXP_LONG);
    ref_experiment_id = x->id;
    srand(11);
    for (int iter = 0; iter < 3000; iter++) {
        r.route = (uint8_t)(rand() % (RC_SRC_LAST + 1));
        r.rec_id = rand() % 2 ? "0123456789abcdef0001000000000007" : NULL;
        r.arm = rand() % 2 ? &x->arms[rand() % (int)x->narms] : NULL;
        r.count = (unsigned)(rand() % (iter % 10 == 0 ? RE_N_MAX + 1 : 21));
        r.n = r.count < RE_N_MAX && rand() % 2 ? r.count + 1 + (unsigned)rand() % (RE_N_MAX - r.count) : r.count;
        for (unsigned i = 0; i < r.count; i++) {
            size_t len = 1 + (size_t)(rand() % (rand() % 8 == 0 ? RC_ID_MAX : 24));
            int plain = rand() % 2;
            for (size_t k = 0; k < len;) {
                size_t p = plain ? (size_t)(rand() % 4) : (size_t)(rand() % 17);
                if (k + piece_len[p] > len)
                    p = 0;
                memcpy(ids[i] + k, pieces[p], piece_len[p]);
                k += piece_len[p];
            }
            float sc;
            switch (rand() % 4) {
            case 0: sc = (float)rand() / (float)RAND_MAX; break;
            case 1: sc = powf(10, (float)(rand() % 120 - 60) / 5.0f) * (rand() % 2 ? 1 : -1); break;
            case 2: sc = (float)(rand() % 2000) / 8.0f; break;
            default: sc = rand() % 20 == 0 ? NAN : (float)rand();
            }
            r.items[i] = item_of(rec[i], (uint64_t)i, ids[i], len, sc, (uint8_t)(rand() % (RC_SRC_LAST + 1)));
        }
        size_t want_len = ref_recs_json(want, &r, "20260101T000000Z");
        struct rc_buf b;
        rc_buf_fixed(&b, got, sizeof(got));
        re_recs_json(&r, "20260101T000000Z", &b);
        ck_assert(!b.overflow);
        ck_assert_msg(b.len == want_len && memcmp(got, want, want_len) == 0, "iteration %d differs:\n%.*s\n%.*s",
                      iter, (int)b.len, got, (int)want_len, want);
        rc_buf_init(&b);
        re_recs_json(&r, "20260101T000000Z", &b);
        ck_assert(b.len == want_len && memcmp(b.data, want, want_len) == 0);
        rc_buf_release(&b);
    }
    rc_experiment_free(x);
}
END_TEST

/* Scores at the edges of the fast path: random bits (NaN and infinities
 * too), the neighbours of each power of ten, six-and-a-half digit values
 * that round up into a new digit; 100 items an answer, against the
 * reference encoder's "%.6g". */
START_TEST(test_json_scores_at_boundaries)
{
    static char got[RE_RECS_JSON_MAX], want[RE_RECS_JSON_MAX];
    static unsigned char rec[RE_N_MAX][REC_CAP];
    struct re_recs r = {0};
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (int iter = 0; iter < 3000; iter++) {
        r.route = RC_SRC_CF;
        r.count = RE_N_MAX;
        for (unsigned i = 0; i < r.count; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            float sc;
            uint32_t bits = (uint32_t)(x >> 32);
            switch (x % 4) {
            case 0: memcpy(&sc, &bits, 4); break; /* any float, NaN and infinities too */
            case 1: { /* a neighbour of 10^k, k in -5..6 */
                float p = powf(10.0f, (float)((int)(x >> 8) % 12 - 5));
                memcpy(&bits, &p, 4);
                bits += (uint32_t)((int)(x >> 20) % 9 - 4);
                memcpy(&sc, &bits, 4);
                break;
            }
            case 2: /* six digits and a half: rounding that carries */
                sc = (float)((double)((x >> 16) % 900000 + 100000) + 0.5) *
                     powf(10.0f, (float)((int)(x >> 40) % 11 - 10));
                break;
            default: sc = (float)((x >> 11) % 100000) / 1000.0f; break;
            }
            r.items[i] = item_of(rec[i], (uint64_t)i, "p1", 2, sc, RC_SRC_CF);
        }
        size_t want_len = ref_recs_json(want, &r, "v");
        struct rc_buf b;
        rc_buf_fixed(&b, got, sizeof(got));
        re_recs_json(&r, "v", &b);
        ck_assert(!b.overflow);
        size_t d = 0; /* the first difference, shown with some context */
        while (d < b.len && d < want_len && got[d] == want[d])
            d++;
        size_t from = d > 40 ? d - 40 : 0;
        ck_assert_msg(d == b.len && d == want_len, "iteration %d differs at byte %zu:\n%.80s\n%.80s", iter, d,
                      got + from, want + from);
    }
}
END_TEST

/* A fixed buffer that ends inside the answer overflows exactly where the
 * text stops fitting: every cut gives overflow, the bytes written are a
 * prefix of the answer, nothing is written past the cut. */
static const char *route_arm(const char *query, const struct rc_experiment_arm *arm);

/* Every cut of a fixed buffer for the answer in recs. */
static void check_every_cut(void)
{
    static char want[RE_RECS_JSON_MAX];
    size_t want_len = ref_recs_json(want, &recs, cache.manifest.version);
    char *mem = malloc(want_len + 64);
    ck_assert_ptr_nonnull(mem);
    for (size_t cap = 0; cap <= want_len + 1; cap++) {
        memset(mem, 0x5a, want_len + 64);
        struct rc_buf b;
        rc_buf_fixed(&b, mem, cap);
        re_recs_json(&recs, cache.manifest.version, &b);
        ck_assert_int_eq(b.overflow, cap <= want_len); /* the text and its NUL need want_len + 1 */
        ck_assert_uint_le(b.len, want_len);
        ck_assert_int_eq(memcmp(mem, want, b.len), 0);
        size_t i = cap;
        while (i < want_len + 64 && (unsigned char)mem[i] == 0x5a)
            i++;
        ck_assert_msg(i == want_len + 64, "cap %zu: byte %zu written", cap, i);
    }
    free(mem);
}

START_TEST(test_json_overflow_at_every_cut)
{
    route("products=w&n=9");
    check_every_cut();
    /* a short answer with an id and an arm: every part of the head */
    struct rc_experiment *x = experiment(EXP_LONG);
    ref_experiment_id = x->id;
    route_arm("products=w&n=12&category=hats", &x->arms[0]);
    recs.rec_id = "0123456789abcdef0001000000000007";
    ck_assert_uint_eq(recs.count, 4);
    check_every_cut();
    rc_experiment_free(x);
}
END_TEST

static const struct rc_experiment_arm *arm_named(const struct rc_experiment *x, const char *name)
{
    for (unsigned i = 0; i < x->narms; i++)
        if (strcmp(x->arms[i].name, name) == 0)
            return &x->arms[i];
    ck_abort_msg("no arm %s", name);
    return NULL;
}

/* route() under an arm. */
static const char *route_arm(const char *query, const struct rc_experiment_arm *arm)
{
    static char joined[4096];
    struct re_query q;
    ck_assert_msg(re_query_parse(&q, query, strlen(query)) == 0, "query '%s' refused", query);
    ck_assert_int_eq(re_route_arm(&cache, txn, &q, arm, &scratch, &recs), 0);
    ck_assert_ptr_eq(recs.arm, arm);
    ck_assert_ptr_null(recs.rec_id);
    joined[0] = 0;
    size_t o = 0;
    for (unsigned i = 0; i < recs.count && o + RC_ID_MAX + 2 < sizeof(joined); i++) {
        if (i)
            joined[o++] = ',';
        memcpy(joined + o, recs.items[i].id, recs.items[i].id_len);
        o += recs.items[i].id_len;
        joined[o] = 0;
    }
    return joined;
}

START_TEST(test_arm_policies)
{
    struct rc_experiment *x = experiment(EXP_POLICIES);
    const char *queries[] = {"cookie=c1&n=3", "products=p1,p2&n=4", "cookie=c1&products=p2&loc=de&device=mobile&n=10",
                             "loc=de&device=mobile&n=6", "cookie=nobody&n=2", "products=w&n=9"};
    /* An arm with every tier answers as re_route does, and NULL is re_route. */
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        char want[4096];
        snprintf(want, sizeof(want), "%s", route(queries[i]));
        unsigned want_route = recs.route;
        ck_assert_ptr_null(recs.arm);
        ck_assert_str_eq(route_arm(queries[i], arm_named(x, "all")), want);
        ck_assert_uint_eq(recs.route, want_route);
        ck_assert_str_eq(route_arm(queries[i], NULL), want);
    }
    /* Holdout: segment and global only, whatever the request carries; the
     * products on screen stay out. */
    const struct rc_experiment_arm *h = arm_named(x, "holdout");
    ck_assert_str_eq(route_arm("cookie=c1&n=3", h), "r,s,t");
    ck_assert_int_eq(recs.route, RC_SRC_GLOBAL);
    ck_assert_str_eq(route_arm("cookie=c1&products=p1,r&loc=de&device=mobile&n=10", h), "k,l,m,o,s,t,a");
    ck_assert_str_eq(sources(), "segment,segment,segment,segment,global,global,global");
    ck_assert_int_eq(recs.route, RC_SRC_SEGMENT);
    /* No cf: the cookie's list is skipped. */
    ck_assert_str_eq(route_arm("cookie=c1&n=3", arm_named(x, "no-cf")), "r,s,t");
    ck_assert_str_eq(route_arm("cookie=c1&products=p2&n=4", arm_named(x, "no-cf")), "b,d,a,r");
    /* No image: the cookie answers though products are on screen, which stay out. */
    ck_assert_str_eq(route_arm("cookie=c1&products=p2&n=3", arm_named(x, "no-image")), "i,a,j");
    ck_assert_int_eq(recs.route, RC_SRC_CF);
    ck_assert_str_eq(route_arm("cookie=c-screen&products=p1&n=3", arm_named(x, "no-image")), "x,r,s");
    /* Only (*, *), even for a segment that has a list. */
    ck_assert_str_eq(route_arm("cookie=c1&products=p1&loc=de&device=mobile&n=3", arm_named(x, "global-only")),
                     "r,s,t");
    ck_assert_int_eq(recs.route, RC_SRC_GLOBAL);
    /* No global: the back-off stops before (*, *); without loc and device
     * the first key is (*, *) itself, which is global. */
    ck_assert_str_eq(route_arm("cookie=c1&loc=de&device=mobile&n=10", arm_named(x, "no-global")), "i,a,j,k,l,m,o");
    ck_assert_str_eq(route_arm("cookie=nobody&n=3", arm_named(x, "no-global")), "");
    ck_assert_int_eq(recs.route, RC_SRC_GLOBAL);
    ck_assert_str_eq(route_arm("loc=de&n=3", arm_named(x, "no-global")), "m");
    ck_assert_int_eq(recs.route, RC_SRC_SEGMENT);
    /* cf from cookie_b: c1's second-set list, filled as usual; a cookie
     * without one there falls through (its cookie list is not read); the
     * arms that read cookie never see cookie_b's. */
    const struct rc_experiment_arm *b = arm_named(x, "cf-b");
    ck_assert_int_eq(b->cf_db, RC_DB_COOKIE_B);
    ck_assert_str_eq(route_arm("cookie=c1&n=4", b), "y,j,r,s");
    ck_assert_str_eq(sources(), "cf,cf,global,global");
    ck_assert_int_eq(recs.route, RC_SRC_CF);
    ck_assert_str_eq(route_arm("cookie=c-screen&n=3", b), "r,s,t");
    ck_assert_int_eq(recs.route, RC_SRC_GLOBAL);
    ck_assert_str_eq(route_arm("cookie=c1&products=p2&n=5", b), "b,d,a,y,j");
    ck_assert_str_eq(route_arm("cookie=c1&n=4", arm_named(x, "all")), "i,a,j,r");
    ck_assert_str_eq(route_arm("cookie=c1&n=4", NULL), "i,a,j,r");
    rc_experiment_free(x);
}
END_TEST

/* The answer's JSON names the id and the arm after "route", before "items". */
START_TEST(test_arm_json)
{
    struct rc_experiment *x = experiment(EXP_POLICIES);
    route_arm("cookie=c1&n=2", arm_named(x, "holdout"));
    recs.rec_id = "0123456789abcdef0002000000000009";
    static char mem[RE_RECS_JSON_MAX];
    struct rc_buf b;
    rc_buf_fixed(&b, mem, sizeof(mem));
    re_recs_json(&recs, "v1", &b);
    ck_assert(!b.overflow);
    ck_assert_str_eq(rc_buf_cstr(&b),
                     "{\"version\":\"v1\",\"route\":\"global\",\"rec_id\":\"0123456789abcdef0002000000000009\","
                     "\"experiment\":\"e1\",\"arm\":\"holdout\",\"items\":[{\"product\":\"r\",\"score\":9,"
                     "\"source\":\"global\"},{\"product\":\"s\",\"score\":8,\"source\":\"global\"}]}");
    /* Without an arm: the id only; without either: as before experiments. */
    route("cookie=c1&n=1");
    recs.rec_id = "0123456789abcdef0002000000000009";
    rc_buf_fixed(&b, mem, sizeof(mem));
    re_recs_json(&recs, "v1", &b);
    ck_assert_str_eq(rc_buf_cstr(&b), "{\"version\":\"v1\",\"route\":\"cf\",\"rec_id\":\"0123456789abcdef0002000000000009\","
                                      "\"items\":[{\"product\":\"i\",\"score\":8,\"source\":\"cf\"}]}");
    route("cookie=c1&n=1");
    rc_buf_fixed(&b, mem, sizeof(mem));
    re_recs_json(&recs, "v1", &b);
    ck_assert_str_eq(rc_buf_cstr(&b),
                     "{\"version\":\"v1\",\"route\":\"cf\",\"items\":[{\"product\":\"i\",\"score\":8,\"source\":\"cf\"}]}");
    /* Every cut of a fixed buffer overflows cleanly with the new fields too. */
    route_arm("cookie=c1&products=w&n=9", arm_named(x, "no-cf"));
    recs.rec_id = "0123456789abcdef0002000000000009";
    ref_experiment_id = x->id;
    static char want[RE_RECS_JSON_MAX];
    size_t want_len = ref_recs_json(want, &recs, "v1");
    for (size_t cap = 0; cap <= want_len + 1; cap++) {
        rc_buf_fixed(&b, mem, cap);
        re_recs_json(&recs, "v1", &b);
        ck_assert_int_eq(b.overflow, cap <= want_len);
        ck_assert_int_eq(memcmp(mem, want, b.len), 0);
    }
    rc_experiment_free(x);
}
END_TEST

/* ---- request filters (schemas/http.md, "Filters") ---- */

/* category=: only products of the asked categories, from every tier, then
 * the category tier in the order asked. */
START_TEST(test_category_filters_every_tier)
{
    /* global filtered to hats (s, k), then the hats list (d; s is taken) */
    ck_assert_str_eq(route("n=3&category=hats"), "s,k,d");
    ck_assert_str_eq(sources(), "global,global,category");
    ck_assert_int_eq(recs.route, RC_SRC_GLOBAL);
    ck_assert_str_eq(route("n=10&category=hats"), "s,k,d,c");
    /* the category tier reads the categories in the order asked */
    ck_assert_str_eq(route("n=10&category=shoes,hats"), "r,s,a,k,shoe1,x,shoe2,e,d,c");
    ck_assert_str_eq(route("n=10&category=hats,shoes"), "r,s,a,k,d,c,shoe1,x,shoe2,e");
    ck_assert_str_eq(route("n=10&category=bags,shoes"), "r,t,a,shoe1,x,shoe2,e"); /* bags has no list */
    ck_assert_str_eq(route("n=10&category=hats,hats"), "s,k,d,c");              /* kept once */
    /* the browsing merge, then global */
    ck_assert_str_eq(route("products=p1,p2&category=hats&n=10"), "c,d,s,k");
    ck_assert_str_eq(sources(), "image,image,global,global");
    ck_assert_int_eq(recs.route, RC_SRC_IMAGE);
    /* one image list: its head is filtered too; p2 is not on screen here */
    ck_assert_str_eq(route("products=p2&category=shoes&n=2"), "b,a");
    ck_assert_str_eq(route("products=p1&category=hats&n=3"), "c,p2,s");
    /* cf, then global; bags has no list */
    ck_assert_str_eq(route("cookie=c1&category=bags&n=3"), "j,t");
    ck_assert_str_eq(sources(), "cf,global");
    /* segments */
    ck_assert_str_eq(route("loc=de&device=mobile&category=bags,hats&n=4"), "k,m,s,t");
    ck_assert_str_eq(sources(), "segment,segment,global,global");
    /* the category tier alone: route names it */
    ck_assert_str_eq(route("category=shoes&exclude=r,a&n=1"), "shoe1");
    ck_assert_int_eq(recs.route, RC_SRC_CATEGORY);
    ck_assert_uint_eq(recs.bad_records, 0);
    /* the plain path answers as before */
    ck_assert_str_eq(route("products=p1,p2&n=4"), "b,a,c,d");
    ck_assert_str_eq(route("n=3"), "r,s,t");
}
END_TEST

/* A category the version does not know has no products; one whose set
 * record is bad neither (and is counted); when none is known no list is
 * read and the answer is empty, still routed. */
START_TEST(test_category_unknown_empty_and_bad)
{
    ck_assert_str_eq(route("n=5&category=nope"), "");
    ck_assert_int_eq(recs.route, RC_SRC_GLOBAL);
    ck_assert_uint_eq(recs.bad_records, 0);
    ck_assert_str_eq(route("products=p1&cookie=c1&loc=de&device=mobile&category=socks&n=10"), "");
    ck_assert_int_eq(recs.route, RC_SRC_IMAGE);
    ck_assert_str_eq(route("cookie=c1&category=nope"), "");
    ck_assert_int_eq(recs.route, RC_SRC_GLOBAL); /* no list was read: the cookie's is not known to be there */
    ck_assert_str_eq(route("loc=de&category=nope"), "");
    ck_assert_int_eq(recs.route, RC_SRC_SEGMENT);
    ck_assert_str_eq(route("category=nope,hats&n=3"), "s,k,d");
    ck_assert_str_eq(route("category=bad&n=3"), "");
    ck_assert_uint_eq(recs.bad_records, 1);
    ck_assert_str_eq(route("category=bad,hats&n=3"), "s,k,d");
    ck_assert_uint_eq(recs.bad_records, 1);
    /* with display fields: an empty answer reads nothing more */
    ck_assert_str_eq(route("category=socks&fields=title"), "");
}
END_TEST

/* exclude=: never answered, like the products on screen, and unlike them
 * they do not select the browsing tier. */
START_TEST(test_exclude)
{
    ck_assert_str_eq(route("n=4&exclude=r,t"), "s,a,k");
    ck_assert_str_eq(route("products=p1&n=3&exclude=a"), "b,c,p2");
    ck_assert_str_eq(route("exclude=p1&n=2"), "r,s");
    ck_assert_int_eq(recs.route, RC_SRC_GLOBAL);
    ck_assert_str_eq(route("products=p1,p2&exclude=b,c&n=4"), "a,d,r,s");
    ck_assert_str_eq(route("cookie=c1&exclude=i&n=3"), "a,j,r");
    /* the fill-up past the first list (the seen-set holds the excluded) */
    ck_assert_str_eq(route("cookie=c1&exclude=r,s&n=5"), "i,a,j,t,k");
    ck_assert_str_eq(route("exclude=nothing-like-it&n=3"), "r,s,t");
    /* with category= */
    ck_assert_str_eq(route("category=hats&exclude=k,d&n=5"), "s,c");
    /* RE_EXCLUDE_MAX ids and RE_PRODUCTS_MAX on screen: the seen-set holds them all */
    char q[4096];
    size_t o = (size_t)snprintf(q, sizeof(q), "n=100&exclude=r");
    for (int i = 1; i < RE_EXCLUDE_MAX; i++)
        o += (size_t)snprintf(q + o, sizeof(q) - o, ",b%03d", i * 2);
    o += (size_t)snprintf(q + o, sizeof(q) - o, "&products=big");
    for (int i = 1; i < RE_PRODUCTS_MAX; i++)
        o += (size_t)snprintf(q + o, sizeof(q) - o, ",b%03d", i * 2 + 1);
    route(q);
    /* big's rest, then s, t, a, k */
    ck_assert_uint_eq(recs.count, 150 - (RE_EXCLUDE_MAX - 1) - (RE_PRODUCTS_MAX - 1) + 4);
    for (unsigned i = 0; i < recs.count; i++) {
        const struct re_item *it = &recs.items[i];
        char id[8] = "";
        if (it->id_len == 4)
            memcpy(id, it->id, 4); /* ids are not NUL-terminated */
        int num = id[0] == 'b' ? atoi(id + 1) : -1;
        ck_assert_msg(!(it->id_len == 1 && it->id[0] == 'r'), "r is excluded");
        ck_assert_msg(num < 0 || !((num % 2 == 0 && num >= 2 && num < 2 * RE_EXCLUDE_MAX) ||
                                   (num % 2 == 1 && num >= 3 && num < 2 * RE_PRODUCTS_MAX)),
                      "item %u (b%03d) is excluded or on screen", i, num);
    }
}
END_TEST

/* Filters and the overlay together; filters under experiment arms (the
 * category tier is on where global is). */
START_TEST(test_filters_with_overlay_and_arms)
{
    struct rc_overlay *o = overlay_of((const char *[]){"s"}, 1);
    scratch.suppress = o;
    ck_assert_str_eq(route("category=hats&n=3"), "k,d,c");
    ck_assert_str_eq(route("category=hats&exclude=k&n=3"), "d,c");
    ck_assert_str_eq(route("exclude=r&n=3"), "t,a,k");
    scratch.suppress = NULL;
    rc_overlay_free(o);

    struct rc_experiment *x = experiment(EXP_POLICIES);
    const char *queries[] = {"category=hats&n=10", "products=p1,p2&category=hats&exclude=d&n=10",
                             "cookie=c1&exclude=i&n=3", "category=nope", "category=shoes,hats&exclude=r&n=20"};
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        char want[4096];
        snprintf(want, sizeof(want), "%s", route(queries[i]));
        unsigned want_route = recs.route;
        ck_assert_str_eq(route_arm(queries[i], arm_named(x, "all")), want);
        ck_assert_uint_eq(recs.route, want_route);
    }
    ck_assert_str_eq(route_arm("cookie=c1&category=hats&n=10", arm_named(x, "global-only")), "s,k,d,c");
    ck_assert_str_eq(route_arm("loc=de&device=mobile&category=hats&n=10", arm_named(x, "no-global")), "k");
    ck_assert_str_eq(route_arm("cookie=c1&exclude=r&n=3", arm_named(x, "holdout")), "s,t,a");
    ck_assert_str_eq(route_arm("cookie=c1&products=p2&category=shoes&n=3", arm_named(x, "holdout")), "r,a,shoe1");
    rc_experiment_free(x);
}
END_TEST

/* "short": true exactly when the answer holds fewer than n items. */
/* Under category=, a list other than a category list is read only
 * RE_FILTER_DEPTH entries deep: d070 comes from the category tier, not
 * from the segment list that ranks it 71st. */
START_TEST(test_category_depth)
{
    ck_assert_int_lt(10, RE_FILTER_DEPTH);
    ck_assert_int_le(RE_FILTER_DEPTH, 70);
    ck_assert_str_eq(route("loc=deeploc&category=deep&n=3"), "d010,d070,dz");
    ck_assert_str_eq(sources(), "segment,category,category");
    /* without the filter the segment list is read as deep as n asks */
    ck_assert_str_eq(route("loc=deeploc&n=2&exclude=d000"), "d001,d002");
}
END_TEST

START_TEST(test_json_short)
{
    route("n=10&category=hats");
    ck_assert_str_eq(json_of("v1"), "{\"version\":\"v1\",\"route\":\"global\",\"short\":true,\"items\":["
                                    "{\"product\":\"s\",\"score\":8,\"source\":\"global\"},"
                                    "{\"product\":\"k\",\"score\":5,\"source\":\"global\"},"
                                    "{\"product\":\"d\",\"score\":5,\"source\":\"category\"},"
                                    "{\"product\":\"c\",\"score\":4,\"source\":\"category\"}]}");
    route("n=4&category=hats");
    ck_assert_str_eq(json_of("v1"), "{\"version\":\"v1\",\"route\":\"global\",\"items\":["
                                    "{\"product\":\"s\",\"score\":8,\"source\":\"global\"},"
                                    "{\"product\":\"k\",\"score\":5,\"source\":\"global\"},"
                                    "{\"product\":\"d\",\"score\":5,\"source\":\"category\"},"
                                    "{\"product\":\"c\",\"score\":4,\"source\":\"category\"}]}");
    /* without a filter too: the global list holds 5 */
    route("n=6");
    ck_assert_ptr_nonnull(strstr(json_of("v1"), "\"route\":\"global\",\"short\":true,\"items\":["));
    route("n=5");
    ck_assert_ptr_null(strstr(json_of("v1"), "short"));
    /* after the id and the arm */
    struct rc_experiment *x = experiment(EXP_POLICIES);
    route_arm("category=socks", arm_named(x, "holdout"));
    recs.rec_id = "0123456789abcdef0002000000000009";
    ck_assert_str_eq(json_of("v1"), "{\"version\":\"v1\",\"route\":\"global\","
                                    "\"rec_id\":\"0123456789abcdef0002000000000009\",\"experiment\":\"e1\","
                                    "\"arm\":\"holdout\",\"short\":true,\"items\":[]}");
    rc_experiment_free(x);
}
END_TEST

static Suite *route_suite(void)
{
    Suite *s = suite_create("route");
    TCase *tc = tcase_create("route");
    tcase_add_unchecked_fixture(tc, build, cleanup);
    tcase_add_checked_fixture(tc, open_cache, close_cache);
    tcase_add_test(tc, test_image_merge_best_score);
    tcase_add_test(tc, test_image_single_excludes_on_screen);
    tcase_add_test(tc, test_image_ties_keep_product_order);
    tcase_add_test(tc, test_blend_coview_and_image);
    tcase_add_test(tc, test_blend_image_aside);
    tcase_add_test(tc, test_blend_coview_only_and_fallback);
    tcase_add_test(tc, test_fields);
    tcase_add_test(tc, test_json_fields_worst_case_fits);
    tcase_add_test(tc, test_json_fields_overflow_at_every_cut);
    tcase_add_test(tc, test_cf);
    tcase_add_test(tc, test_cf_excludes_on_screen);
    tcase_add_test(tc, test_segment_backoff);
    tcase_add_test(tc, test_segment_chain_fills_in_order);
    tcase_add_test(tc, test_fill_up_across_tiers);
    tcase_add_test(tc, test_overlay_suppresses);
    tcase_add_test(tc, test_overlay_empty_and_everything);
    tcase_add_test(tc, test_route_of_empty_answer_and_empty_lists);
    tcase_add_test(tc, test_n_limits);
    tcase_add_test(tc, test_duplicate_products_in_query);
    tcase_add_test(tc, test_corrupt_record_skipped);
    tcase_add_test(tc, test_json_weird_ids);
    tcase_add_test(tc, test_json_worst_case_fits);
    tcase_add_test(tc, test_json_empty_items);
    tcase_add_test(tc, test_scratch_stamp_wraps);
    tcase_add_test(tc, test_json_scores_match_printf);
    tcase_add_test(tc, test_lazily_found_bad_entry);
    tcase_add_test(tc, test_json_matches_reference);
    tcase_add_test(tc, test_json_scores_at_boundaries);
    tcase_add_test(tc, test_json_overflow_at_every_cut);
    tcase_add_test(tc, test_arm_policies);
    tcase_add_test(tc, test_arm_json);
    tcase_add_test(tc, test_category_filters_every_tier);
    tcase_add_test(tc, test_category_unknown_empty_and_bad);
    tcase_add_test(tc, test_exclude);
    tcase_add_test(tc, test_filters_with_overlay_and_arms);
    tcase_add_test(tc, test_json_short);
    tcase_add_test(tc, test_category_depth);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(route_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
