/*
 * test_rules.c - builder/rules.c: the rules file's checks (each refusal
 * names its place), and each rule on hand-made lists whose answers are
 * worked out below: exclusion (everywhere, per kind of list, per segment),
 * boost, the MMR rerank over categories and over embeddings, caps, the
 * candidates' cut, and a randomised check that every list stays ranked
 * best first, distinct, within its caps and free of excluded categories.
 */
#include "rules.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "keys.h"

/* ---- a dataset: products p0..p(n-1), categories by name ---- */

static void ds_make(struct rb_dataset *d, uint32_t np, const char *const *cats, uint32_t ncats, const uint32_t *cat_of)
{
    rb_dataset_init(d);
    char id[32];
    for (uint32_t p = 0; p < np; p++) {
        uint32_t idx;
        snprintf(id, sizeof(id), "p%u", p);
        ck_assert_int_eq(rb_strtab_intern(&d->products, id, strlen(id), &idx), 0);
        ck_assert_uint_eq(idx, p);
    }
    for (uint32_t c = 0; c < ncats; c++) {
        uint32_t idx;
        ck_assert_int_eq(rb_strtab_intern(&d->categories, cats[c], strlen(cats[c]), &idx), 0);
    }
    d->category = malloc(sizeof(uint32_t) * (np ? np : 1));
    d->in_stock = malloc(np ? np : 1);
    for (uint32_t p = 0; p < np; p++) {
        d->category[p] = cat_of ? cat_of[p] : RB_NONE;
        d->in_stock[p] = 1;
    }
    static const char *const locs[] = {"DE", "US"}, *const devs[] = {"mobile", "desktop"};
    for (int i = 0; i < 2; i++) {
        uint32_t idx;
        ck_assert_int_eq(rb_strtab_intern(&d->locs, locs[i], strlen(locs[i]), &idx), 0);
        ck_assert_int_eq(rb_strtab_intern(&d->devices, devs[i], strlen(devs[i]), &idx), 0);
    }
}

/* One list per row of items (RB_NONE ends a row), scores 1.0, 0.9, 0.8, ... */
static void lists_make(struct rb_lists *l, size_t n, size_t k, const uint32_t *items, const uint64_t *owners)
{
    ck_assert_int_eq(rb_lists_init(l, n, k), 0);
    for (size_t i = 0; i < n; i++) {
        uint32_t len = 0;
        while (len < k && items[i * k + len] != RB_NONE) {
            l->items[i * k + len] = items[i * k + len];
            l->scores[i * k + len] = 1.0f - 0.1f * (float)len;
            len++;
        }
        l->len[i] = (uint16_t)len;
        l->owner_key[i] = owners ? owners[i] : 100 + i;
    }
}

static struct rb_rules *parse_ok(const char *text)
{
    struct rb_rules *r = NULL;
    char err[RC_ERRMSG_MAX] = "";
    int rc = rb_rules_parse(text, strlen(text), &r, err);
    ck_assert_msg(rc == 0, "'%s': %s", text, err);
    return r;
}

static void parse_refused(const char *text, const char *says)
{
    struct rb_rules *r = (struct rb_rules *)1;
    char err[RC_ERRMSG_MAX] = "";
    int rc = rb_rules_parse(text, strlen(text), &r, err);
    ck_assert_msg(rc == RC_EFORMAT, "'%s' gave %d (%s)", text, rc, err);
    ck_assert_ptr_null(r);
    ck_assert_msg(strstr(err, says), "'%s': message '%s' lacks '%s'", text, err, says);
}

static void apply_ok(const struct rb_rules *r, struct rb_lists *l, int db, uint32_t keep, const struct rb_dataset *d,
                     struct rb_rules_stats *st)
{
    char err[RC_ERRMSG_MAX] = "";
    int rc = rb_rules_apply(r, l, db, keep, d, st, err);
    ck_assert_msg(rc == 0, "apply: %s", err);
}

static void expect_list(const struct rb_lists *l, size_t li, const uint32_t *want, uint32_t n)
{
    ck_assert_uint_eq(l->len[li], n);
    for (uint32_t j = 0; j < n; j++)
        ck_assert_msg(l->items[li * l->k + j] == want[j], "list %zu entry %u: p%u, want p%u", li, j,
                      l->items[li * l->k + j], want[j]);
}

/* ---- parsing ---- */

START_TEST(test_parse_full)
{
    struct rb_rules *r = parse_ok("{\"exclude\": {\"categories\": [\"adult\"], \"lists\": [\"cookie\", \"segment\"]},"
                                  " \"segments\": [{\"location\": \"DE\", \"device\": \"*\", \"exclude\": [\"x\"],"
                                  " \"boost\": {\"shoes\": 2.5}}, {\"boost\": {\"y\": 0.5}}],"
                                  " \"mmr\": {\"weight\": 0.3, \"similarity\": \"categories\"},"
                                  " \"category_cap\": {\"max\": 3, \"lists\": [\"product\"]}}");
    char line[256];
    rb_rules_describe(r, line, sizeof(line));
    ck_assert_str_eq(line, "exclude=1/cookie+segment segments=2 mmr=0.3/categories/cookie+segment+cookie_b "
                           "cap=3/product");
    ck_assert(rb_rules_touch(r, RC_DB_COOKIE));
    ck_assert(rb_rules_touch(r, RC_DB_PRODUCT));       /* the cap */
    ck_assert(rb_rules_touch(r, RC_DB_SEGMENT));
    ck_assert(!rb_rules_touch(r, RC_DB_COVIEW));       /* exclusion on cookie and segment only, no cap there */
    ck_assert(rb_rules_touch(r, RC_DB_COOKIE_B));      /* mmr's default lists */
    ck_assert(!rb_rules_touch(r, RC_DB_ITEMS));
    ck_assert_uint_eq(rb_rules_depth(r, RC_DB_COOKIE, 20), 20 * RB_RULES_DEPTH);
    ck_assert_uint_eq(rb_rules_depth(r, RC_DB_COVIEW, 20), 20);
    ck_assert_uint_eq(rb_rules_depth(r, RC_DB_COOKIE, 900), RC_LIST_MAX);
    ck_assert_uint_eq(rb_rules_depth(NULL, RC_DB_COOKIE, 20), 20);
    rb_rules_free(r);

    /* mmr weight 0 touches nothing: it would reorder nothing */
    r = parse_ok("{\"mmr\": {\"weight\": 0}}");
    for (int db = 0; db < RB_RULES_DBS; db++)
        ck_assert(!rb_rules_touch(r, db));
    rb_rules_free(r);
}
END_TEST

START_TEST(test_parse_refusals)
{
    parse_refused("", "not JSON");
    parse_refused("[]", "expected a JSON object");
    parse_refused("{}", "no rules");
    parse_refused("{\"caps\": {\"max\": 2}}", "unknown key 'caps'");
    parse_refused("{\"mmr\": {\"weight\": 0.1}, \"mmr\": {\"weight\": 0.2}}", "key 'mmr' given twice");
    parse_refused("{\"mmr\": {\"weight\": 0.1, \"lambda\": 1}}", "mmr: unknown key 'lambda'");
    parse_refused("{\"mmr\": {}}", "mmr: lacks a weight");
    parse_refused("{\"mmr\": {\"weight\": 1.5}}", "weight: expected a number within [0, 1]");
    parse_refused("{\"mmr\": {\"weight\": \"0.5\"}}", "weight: expected a number");
    parse_refused("{\"mmr\": {\"weight\": 0.5, \"similarity\": \"cosine\"}}", "'cosine' is not auto");
    parse_refused("{\"category_cap\": {\"max\": 0}}", "max: expected an integer within 1..");
    parse_refused("{\"category_cap\": {\"max\": 2.5}}", "max: expected an integer");
    parse_refused("{\"category_cap\": {\"max\": 2, \"lists\": [\"cookie\", \"cookie\"]}}", "'cookie' listed twice");
    parse_refused("{\"category_cap\": {\"max\": 2, \"lists\": [\"category\"]}}", "a category list holds one");
    parse_refused("{\"mmr\": {\"weight\": 0.2, \"lists\": [\"items\"]}}", "'items' is not a kind of list");
    parse_refused("{\"category_cap\": {\"max\": 2, \"lists\": []}}", "lists: expected a non-empty array");
    parse_refused("{\"exclude\": {\"lists\": [\"cookie\"]}}", "exclude: lacks categories");
    parse_refused("{\"exclude\": {\"categories\": []}}", "categories: expected a non-empty array");
    parse_refused("{\"exclude\": {\"categories\": [\"a\", \"a\"]}}", "category 'a' listed twice");
    parse_refused("{\"exclude\": {\"categories\": [\"\"]}}", "categories[0]: '' is not 1..256 bytes");
    parse_refused("{\"exclude\": {\"categories\": [7]}}", "categories[0]: expected a string");
    parse_refused("{\"segments\": []}", "segments: expected a non-empty array");
    parse_refused("{\"segments\": [{\"location\": \"DE\"}]}", "segments[0]: lacks exclude and boost");
    parse_refused("{\"segments\": [{\"boost\": {\"a\": 2}}, {\"place\": \"DE\", \"boost\": {\"a\": 2}}]}",
                  "segments[1]: unknown key 'place'");
    parse_refused("{\"segments\": [{\"boost\": {\"a\": 0}}]}", "segments[0]: boost: 'a': expected a factor");
    parse_refused("{\"segments\": [{\"boost\": {\"a\": 2, \"a\": 3}}]}", "category 'a' given twice");
    parse_refused("{\"segments\": [{\"exclude\": [\"a\"], \"boost\": {\"a\": 2}}]}", "'a' both excluded and boosted");
    parse_refused("{\"segments\": [{\"device\": \"\", \"boost\": {\"a\": 2}}]}", "segments[0]: device: '' is not");

    /* over the size limit: RC_ETOOLONG before parsing */
    size_t big = RB_RULES_FILE_MAX + 1;
    char *text = malloc(big);
    memset(text, ' ', big);
    struct rb_rules *r = NULL;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_rules_parse(text, big, &r, err), RC_ETOOLONG);
    free(text);
}
END_TEST

START_TEST(test_read_file)
{
    char path[] = "/tmp/test_rules.XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *doc = "{\"category_cap\": {\"max\": 2, \"lists\": [\"cookie\"], \"per\": 1}}";
    ck_assert_int_eq(write(fd, doc, strlen(doc)), (int)strlen(doc));
    close(fd);
    struct rb_rules *r = NULL;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_int_eq(rb_rules_read(path, &r, err), RC_EFORMAT);
    ck_assert_msg(strstr(err, path) && strstr(err, "category_cap: unknown key 'per'"), "%s", err);
    unlink(path);
    ck_assert_int_lt(rb_rules_read(path, &r, err), 0);
    ck_assert_msg(strstr(err, "unable to open"), "%s", err);
    ck_assert_int_eq(rb_rules_read("/tmp", &r, err), RC_EFORMAT);
    ck_assert_msg(strstr(err, "not a regular file"), "%s", err);
}
END_TEST

/* ---- the rules ---- */

/* categories a=0 b=1 c=2; p0..p9: a a a b a b c c a b */
static const char *const cats3[] = {"a", "b", "c"};
static const uint32_t cat10[] = {0, 0, 0, 1, 0, 1, 2, 2, 0, 1};

START_TEST(test_cap)
{
    struct rb_dataset d;
    ds_make(&d, 10, cats3, 3, cat10);
    struct rb_lists l;
    const uint32_t items[] = {0, 1, 2, 3, 4, 5, 6, 7, RB_NONE, RB_NONE};
    lists_make(&l, 1, 10, items, NULL);
    struct rb_rules *r = parse_ok("{\"category_cap\": {\"max\": 2}}");
    struct rb_rules_stats st;
    apply_ok(r, &l, RC_DB_COOKIE, 0, &d, &st);
    /* a a [a] b [a] b c c: the third and fourth a dropped, the order kept */
    const uint32_t want[] = {0, 1, 3, 5, 6, 7};
    expect_list(&l, 0, want, 6);
    /* nothing reordered: every entry keeps its own score */
    const float own[] = {1.0f, 0.9f, 0.7f, 0.5f, 0.4f, 0.3f};
    for (int j = 0; j < 6; j++)
        ck_assert_float_eq_tol(l.scores[j], own[j], 1e-6);
    ck_assert_uint_eq(st.capped, 2);
    ck_assert_uint_eq(st.excluded, 0);
    ck_assert_uint_eq(st.changed, 1);
    ck_assert_uint_eq(st.entries_before, 8);
    ck_assert_uint_eq(st.entries_after, 6);
    ck_assert_uint_eq(st.moved, 4); /* positions 2..5 hold another product */
    rb_lists_release(&l);

    /* a cap on product lists only leaves cookie lists alone (and cuts them to keep) */
    rb_rules_free(r);
    r = parse_ok("{\"category_cap\": {\"max\": 1, \"lists\": [\"product\"]}}");
    lists_make(&l, 1, 10, items, NULL);
    apply_ok(r, &l, RC_DB_COOKIE, 5, &d, &st);
    const uint32_t cut[] = {0, 1, 2, 3, 4};
    expect_list(&l, 0, cut, 5);
    ck_assert_uint_eq(st.capped, 0);
    rb_lists_release(&l);
    rb_rules_free(r);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_exclude_and_keep)
{
    struct rb_dataset d;
    ds_make(&d, 10, cats3, 3, cat10);
    struct rb_lists l;
    const uint32_t items[] = {0, 3, 6, 1, 5, 7, 2, 9, RB_NONE, RB_NONE};
    lists_make(&l, 1, 10, items, NULL);
    struct rb_rules *r = parse_ok("{\"exclude\": {\"categories\": [\"b\", \"not-in-catalog\"], "
                                  "\"lists\": [\"coview\"]}}");
    struct rb_rules_stats st;
    /* the candidates: 8; stored: the first 4 the rules keep */
    apply_ok(r, &l, RC_DB_COVIEW, 4, &d, &st);
    const uint32_t want[] = {0, 6, 1, 7};
    expect_list(&l, 0, want, 4);
    /* kept scores: their own, sorted (1.0 0.8 0.7 0.5) */
    const float own[] = {1.0f, 0.8f, 0.7f, 0.5f};
    for (int j = 0; j < 4; j++)
        ck_assert_float_eq_tol(l.scores[j], own[j], 1e-6);
    ck_assert_uint_eq(st.unknown_categories, 1);
    ck_assert_uint_eq(st.entries_before, 4); /* without rules: the first 4 candidates */
    ck_assert_uint_eq(st.entries_after, 4);
    rb_lists_release(&l);

    /* the same exclusion is not on cookie lists */
    lists_make(&l, 1, 10, items, NULL);
    apply_ok(r, &l, RC_DB_COOKIE, 0, &d, &st);
    expect_list(&l, 0, items, 8);
    ck_assert_uint_eq(st.changed, 0);
    rb_lists_release(&l);

    /* category lists: the exclusion (by default on every kind of list), never a cap */
    rb_rules_free(r);
    r = parse_ok("{\"exclude\": {\"categories\": [\"b\"]}, \"category_cap\": {\"max\": 1}}");
    ck_assert(rb_rules_touch(r, RC_DB_CATEGORY));
    lists_make(&l, 1, 10, items, NULL);
    apply_ok(r, &l, RC_DB_CATEGORY, 0, &d, &st);
    const uint32_t nob[] = {0, 6, 1, 7, 2};
    expect_list(&l, 0, nob, 5);
    ck_assert_uint_eq(st.capped, 0);
    rb_lists_release(&l);
    rb_rules_free(r);
    r = parse_ok("{\"category_cap\": {\"max\": 1}, \"mmr\": {\"weight\": 1}}");
    ck_assert(!rb_rules_touch(r, RC_DB_CATEGORY));

    /* excluding every category empties a list */
    rb_rules_free(r);
    r = parse_ok("{\"exclude\": {\"categories\": [\"a\", \"b\", \"c\"]}}");
    lists_make(&l, 1, 10, items, NULL);
    apply_ok(r, &l, RC_DB_PRODUCT, 0, &d, &st);
    ck_assert_uint_eq(l.len[0], 0);
    ck_assert_uint_eq(st.emptied, 1);
    ck_assert_uint_eq(st.excluded, 8);
    rb_lists_release(&l);
    rb_rules_free(r);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_segments)
{
    struct rb_dataset d;
    ds_make(&d, 10, cats3, 3, cat10);
    /* lists of segments (DE, mobile), (DE, *), (US, mobile), (*, *) */
    const uint64_t owners[] = {rc_segment_key("DE", 2, "mobile", 6), rc_segment_key("DE", 2, "*", 1),
                               rc_segment_key("US", 2, "mobile", 6), rc_segment_key("*", 1, "*", 1)};
    uint32_t items[4 * 10];
    const uint32_t row[] = {0, 3, 6, 1, 5, 7, RB_NONE, RB_NONE, RB_NONE, RB_NONE};
    for (int i = 0; i < 4; i++)
        memcpy(items + i * 10, row, sizeof(row));
    struct rb_lists l;
    lists_make(&l, 4, 10, items, owners);
    /* DE: no c, b boosted x3; desktop anywhere: a excluded (no list is desktop's) */
    struct rb_rules *r = parse_ok("{\"segments\": [{\"location\": \"DE\", \"exclude\": [\"c\"], \"boost\": {\"b\": 3}},"
                                  " {\"device\": \"desktop\", \"exclude\": [\"a\"]}]}");
    struct rb_rules_stats st;
    apply_ok(r, &l, RC_DB_SEGMENT, 0, &d, &st);
    /* DE lists: 0(a,1.0) 3(b,0.9->2.7) 1(a,0.7) 5(b,0.6->1.8): 3 5 0 1 */
    const uint32_t de[] = {3, 5, 0, 1};
    expect_list(&l, 0, de, 4);
    expect_list(&l, 1, de, 4);
    /* the scores: the kept ones' own, sorted: 1.0 0.9 0.7 0.6 */
    const float own[] = {1.0f, 0.9f, 0.7f, 0.6f};
    for (int j = 0; j < 4; j++)
        ck_assert_float_eq_tol(l.scores[j], own[j], 1e-6);
    expect_list(&l, 2, row, 6); /* US */
    expect_list(&l, 3, row, 6); /* global */
    ck_assert_uint_eq(st.changed, 2);
    ck_assert_uint_eq(st.excluded, 4);
    ck_assert_uint_eq(st.unmatched_segments, 1);
    rb_lists_release(&l);

    /* segment rules never touch other kinds of list */
    lists_make(&l, 1, 10, row, owners);
    apply_ok(r, &l, RC_DB_COOKIE, 0, &d, &st);
    expect_list(&l, 0, row, 6);
    rb_lists_release(&l);

    /* a rule with neither side matches every segment list, the global one too */
    rb_rules_free(r);
    r = parse_ok("{\"segments\": [{\"location\": \"*\", \"exclude\": [\"b\"]}]}");
    lists_make(&l, 4, 10, items, owners);
    apply_ok(r, &l, RC_DB_SEGMENT, 0, &d, &st);
    const uint32_t nob[] = {0, 6, 1, 7};
    for (int i = 0; i < 4; i++)
        expect_list(&l, (size_t)i, nob, 4);
    rb_lists_release(&l);
    rb_rules_free(r);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_mmr_categories)
{
    /* p0 p1 p2 in a, p3 p4 in b; scores 1.0 .9 .8 .7 .6, relevance 1 .75 .5 .25 0.
     * w 0.5: p0; then p3 (.125 against p1's -.125); p1 (-.125); p2 (-.25); p4. */
    static const uint32_t cat[] = {0, 0, 0, 1, 1};
    struct rb_dataset d;
    ds_make(&d, 5, cats3, 3, cat);
    const uint32_t items[] = {0, 1, 2, 3, 4};
    struct rb_lists l;
    lists_make(&l, 1, 5, items, NULL);
    struct rb_rules *r = parse_ok("{\"mmr\": {\"weight\": 0.5}}");
    struct rb_rules_stats st;
    apply_ok(r, &l, RC_DB_COOKIE, 0, &d, &st);
    const uint32_t want[] = {0, 3, 1, 2, 4};
    expect_list(&l, 0, want, 5);
    for (int j = 0; j < 5; j++)
        ck_assert_float_eq_tol(l.scores[j], 1.0f - 0.1f * (float)j, 1e-6);
    rb_lists_release(&l);

    /* storing 3 of the 5: the first 3 of the same order (the picks stop there) */
    lists_make(&l, 1, 5, items, NULL);
    apply_ok(r, &l, RC_DB_COOKIE, 3, &d, &st);
    expect_list(&l, 0, want, 3);
    ck_assert_uint_eq(st.entries_before, 3);
    ck_assert_uint_eq(st.moved, 2); /* p3 and p1 where p1 and p2 were */
    rb_lists_release(&l);

    /* weight 1: similarity alone: a, then b, then what is left in order */
    rb_rules_free(r);
    r = parse_ok("{\"mmr\": {\"weight\": 1}}");
    lists_make(&l, 1, 5, items, NULL);
    apply_ok(r, &l, RC_DB_COOKIE, 0, &d, &st);
    const uint32_t w1[] = {0, 3, 1, 2, 4};
    expect_list(&l, 0, w1, 5);
    rb_lists_release(&l);

    /* mmr's default lists leave product lists alone */
    lists_make(&l, 1, 5, items, NULL);
    apply_ok(r, &l, RC_DB_PRODUCT, 0, &d, &st);
    expect_list(&l, 0, items, 5);
    rb_lists_release(&l);
    rb_rules_free(r);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_mmr_embeddings)
{
    /* one category; embeddings: p0 p1 p2 the same direction, p3 orthogonal */
    static const uint32_t cat[] = {0, 0, 0, 0};
    struct rb_dataset d;
    ds_make(&d, 4, cats3, 3, cat);
    d.dim = 2;
    d.emb_rows = 4;
    d.emb = malloc(sizeof(float) * 8);
    d.emb_product = malloc(sizeof(uint32_t) * 4);
    const float e[] = {1, 0, 1, 0, 1, 0, 0, 1};
    memcpy(d.emb, e, sizeof(e));
    for (uint32_t i = 0; i < 4; i++)
        d.emb_product[i] = i;
    const uint32_t items[] = {0, 1, 2, 3};
    struct rb_lists l;
    lists_make(&l, 1, 4, items, NULL);
    /* auto: embeddings, as the build has some. relevance 1 .67 .33 0; w .5:
     * p0; p3 (0) beats p1 (.33 - .5); then p1, p2. By categories all four are
     * alike and the order would stay. */
    struct rb_rules *r = parse_ok("{\"mmr\": {\"weight\": 0.5}}");
    struct rb_rules_stats st;
    apply_ok(r, &l, RC_DB_COOKIE, 0, &d, &st);
    const uint32_t want[] = {0, 3, 1, 2};
    expect_list(&l, 0, want, 4);
    rb_lists_release(&l);
    rb_rules_free(r);
    r = parse_ok("{\"mmr\": {\"weight\": 0.5, \"similarity\": \"categories\"}}");
    lists_make(&l, 1, 4, items, NULL);
    apply_ok(r, &l, RC_DB_COOKIE, 0, &d, &st);
    expect_list(&l, 0, items, 4);
    ck_assert_uint_eq(st.changed, 0);
    rb_lists_release(&l);
    rb_rules_free(r);
    rb_dataset_release(&d);
}
END_TEST

/* Every rule at once on random lists: what must hold of every stored list. */
START_TEST(test_random_lists_hold)
{
    enum { NP = 200, NC = 7, NL = 300, K = 30, KEEP = 12, CAP = 2 };
    static const char *const names[NC] = {"c0", "c1", "c2", "c3", "c4", "c5", "c6"};
    uint32_t cat[NP];
    srand(7);
    for (int p = 0; p < NP; p++)
        cat[p] = p % 11 == 0 ? RB_NONE : (uint32_t)(rand() % NC);
    struct rb_dataset d;
    ds_make(&d, NP, names, NC, cat);
    struct rb_lists l;
    ck_assert_int_eq(rb_lists_init(&l, NL, K), 0);
    const uint64_t seg[3] = {rc_segment_key("DE", 2, "*", 1), rc_segment_key("US", 2, "mobile", 6),
                             rc_segment_key("*", 1, "*", 1)};
    for (int i = 0; i < NL; i++) {
        uint32_t len = (uint32_t)(rand() % (K + 1));
        uint8_t used[NP] = {0};
        float s = 10.0f;
        for (uint32_t j = 0; j < len; j++) {
            uint32_t p;
            do
                p = (uint32_t)(rand() % NP);
            while (used[p]);
            used[p] = 1;
            l.items[(size_t)i * K + j] = p;
            s -= (float)(rand() % 3) * 0.25f; /* ties too */
            l.scores[(size_t)i * K + j] = s;
        }
        l.len[i] = (uint16_t)len;
        l.owner_key[i] = seg[i % 3];
    }
    struct rb_rules *r = parse_ok("{\"exclude\": {\"categories\": [\"c1\"]},"
                                  " \"segments\": [{\"location\": \"DE\", \"exclude\": [\"c2\"],"
                                  "   \"boost\": {\"c3\": 5}},"
                                  "  {\"boost\": {\"c4\": 0.2, \"c5\": 2}}],"
                                  " \"mmr\": {\"weight\": 0.4, \"lists\": [\"segment\"]},"
                                  " \"category_cap\": {\"max\": 2}}");
    struct rb_lists before;
    ck_assert_int_eq(rb_lists_init(&before, NL, K), 0);
    memcpy(before.items, l.items, sizeof(uint32_t) * NL * K);
    memcpy(before.len, l.len, sizeof(uint16_t) * NL);
    struct rb_rules_stats st;
    apply_ok(r, &l, RC_DB_SEGMENT, KEEP, &d, &st);
    uint64_t entries = 0;
    for (int i = 0; i < NL; i++) {
        const uint32_t *it = l.items + (size_t)i * K;
        const float *sc = l.scores + (size_t)i * K;
        ck_assert_uint_le(l.len[i], KEEP);
        int count[NC] = {0};
        for (uint32_t j = 0; j < l.len[i]; j++) {
            if (j)
                ck_assert_msg(sc[j] <= sc[j - 1], "list %d: score %u above the one before", i, j);
            for (uint32_t x = 0; x < j; x++)
                ck_assert_msg(it[x] != it[j], "list %d: p%u twice", i, it[j]);
            int was = 0;
            for (uint32_t x = 0; x < before.len[i]; x++)
                was |= before.items[(size_t)i * K + x] == it[j];
            ck_assert_msg(was, "list %d: p%u was not a candidate", i, it[j]);
            uint32_t c = cat[it[j]];
            if (c == RB_NONE)
                continue;
            ck_assert_msg(c != 1, "list %d: excluded c1 stored", i);
            ck_assert_msg(!(i % 3 == 0 && c == 2), "list %d (DE): excluded c2 stored", i);
            ck_assert_msg(++count[c] <= CAP, "list %d: more than %d of c%u", i, CAP, c);
        }
        entries += l.len[i];
    }
    ck_assert_uint_eq(st.entries_after, entries);
    ck_assert_uint_gt(st.excluded, 0);
    ck_assert_uint_gt(st.capped, 0);
    rb_lists_release(&before);
    rb_lists_release(&l);
    rb_rules_free(r);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_bad_db)
{
    struct rb_dataset d;
    ds_make(&d, 1, cats3, 3, NULL);
    struct rb_lists l;
    const uint32_t items[] = {0};
    lists_make(&l, 1, 1, items, NULL);
    struct rb_rules *r = parse_ok("{\"category_cap\": {\"max\": 1}}");
    struct rb_rules_stats st;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_rules_apply(r, &l, RC_DB_ITEMS, 0, &d, &st, err), RC_ERANGE);
    ck_assert_int_eq(rb_rules_apply(r, &l, -1, 0, &d, &st, err), RC_ERANGE);
    /* products without a category are never capped */
    apply_ok(r, &l, RC_DB_COOKIE, 0, &d, &st);
    expect_list(&l, 0, items, 1);
    rb_lists_release(&l);
    rb_rules_free(r);
    rb_dataset_release(&d);
}
END_TEST

static Suite *rules_suite(void)
{
    Suite *s = suite_create("rules");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_parse_full);
    tcase_add_test(tc, test_parse_refusals);
    tcase_add_test(tc, test_read_file);
    tcase_add_test(tc, test_cap);
    tcase_add_test(tc, test_exclude_and_keep);
    tcase_add_test(tc, test_segments);
    tcase_add_test(tc, test_mmr_categories);
    tcase_add_test(tc, test_mmr_embeddings);
    tcase_add_test(tc, test_random_lists_hold);
    tcase_add_test(tc, test_bad_db);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(rules_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
