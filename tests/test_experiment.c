/*
 * test_experiment.c - shared/experiment.c: experiments.json parsed and
 * refused as schemas/experiments.md says, assignment by the contract's
 * formula, arm shares over 100,000 cookies within binomial tolerance,
 * determinism; and the version's check (shared/version.c) carrying,
 * refusing or ignoring the file.
 */
#include "error.h"
#include "experiment.h"
#include "fixture.h"
#include "scratch.h"
#include "version.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#define EXAMPLE                                                                                                \
    "{\"id\": \"cf-2026-12\", \"salt\": \"s1\", \"arms\": ["                                                   \
    "{\"name\": \"control\", \"buckets\": [0, 4900], \"control\": true},"                                      \
    "{\"name\": \"treatment\", \"buckets\": [4900, 9800], \"tiers\": [\"image\", \"cf\", \"segment\", "       \
    "\"global\"]},"                                                                                            \
    "{\"name\": \"holdout\", \"buckets\": [9800, 10000], \"holdout\": true}]}"

static struct rc_experiment *parse_ok(const char *text)
{
    struct rc_experiment *x = NULL;
    char err[RC_ERRMSG_MAX] = "";
    int rc = rc_experiment_parse(text, strlen(text), &x, err);
    ck_assert_msg(rc == 0, "refused: %s (%s)", err, text);
    ck_assert_ptr_nonnull(x);
    return x;
}

START_TEST(test_parse_example)
{
    struct rc_experiment *x = parse_ok(EXAMPLE);
    ck_assert_str_eq(x->id, "cf-2026-12");
    ck_assert_str_eq(x->salt, "s1");
    ck_assert_uint_eq(x->seed, XXH3_64bits("s1", 2));
    ck_assert_uint_eq(x->narms, 3);
    ck_assert_uint_eq(x->control, 0);
    ck_assert_str_eq(x->arms[1].name, "treatment");
    ck_assert_uint_eq(x->arms[1].from, 4900);
    ck_assert_uint_eq(x->arms[1].to, 9800);
    ck_assert_uint_eq(x->arms[0].tiers, RC_TIER_ALL);
    ck_assert_uint_eq(x->arms[1].tiers, RC_TIER_ALL);
    ck_assert_uint_eq(x->arms[2].tiers, RC_TIER_SEGMENT | RC_TIER_GLOBAL);
    ck_assert_int_eq(x->arms[2].holdout, 1);
    ck_assert_int_eq(x->arms[0].control, 1);
    ck_assert_int_eq(x->arms[1].control, 0);
    ck_assert_int_eq(x->arms[1].cf_db, RC_DB_COOKIE);
    ck_assert_str_eq(x->arms[1].json, ",\"experiment\":\"cf-2026-12\",\"arm\":\"treatment\"");
    ck_assert_uint_eq(x->arms[1].json_len, strlen(x->arms[1].json));
    ck_assert_str_eq(x->arms[2].label, "cf-2026-12/holdout");
    rc_experiment_free(x);
}
END_TEST

START_TEST(test_parse_defaults)
{
    /* No control named: the first arm is. Tiers in any order; cf "cookie". */
    struct rc_experiment *x = parse_ok("{\"arms\":[{\"name\":\"a\",\"buckets\":[100,200]},"
                                       "{\"name\":\"b.2_X\",\"buckets\":[0,100],\"tiers\":[\"global\",\"cf\"],"
                                       "\"cf\":\"cookie\",\"control\":false,\"holdout\":false}],"
                                       "\"salt\":\"x\",\"id\":\"e\"}");
    ck_assert_uint_eq(x->control, 0);
    ck_assert_int_eq(x->arms[0].control, 1);
    ck_assert_uint_eq(x->arms[1].tiers, RC_TIER_GLOBAL | RC_TIER_CF);
    ck_assert_int_eq(x->arms[0].cf_db, RC_DB_COOKIE);
    ck_assert_int_eq(x->arms[1].cf_db, RC_DB_COOKIE);
    rc_experiment_free(x);
    /* "cf": "cookie_b": the second CF parameter set's lists. */
    x = parse_ok("{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,50]},"
                 "{\"name\":\"b\",\"buckets\":[50,100],\"cf\":\"cookie_b\",\"tiers\":[\"cf\",\"global\"]}]}");
    ck_assert_int_eq(x->arms[0].cf_db, RC_DB_COOKIE);
    ck_assert_int_eq(x->arms[1].cf_db, RC_DB_COOKIE_B);
    ck_assert_uint_eq(x->arms[1].tiers, RC_TIER_CF | RC_TIER_GLOBAL);
    rc_experiment_free(x);
    /* The control may be any arm; ids of exactly 64 bytes. */
    char text[1024];
    char id64[65];
    memset(id64, 'z', 64);
    id64[64] = 0;
    snprintf(text, sizeof(text),
             "{\"id\":\"%s\",\"salt\":\"%s\",\"arms\":[{\"name\":\"%s\",\"buckets\":[0,1]},"
             "{\"name\":\"c\",\"buckets\":[1,10000],\"control\":true}]}",
             id64, id64, id64);
    x = parse_ok(text);
    ck_assert_uint_eq(x->control, 1);
    ck_assert_int_eq(x->arms[0].control, 0);
    ck_assert_str_eq(x->arms[0].name, id64);
    rc_experiment_free(x);
}
END_TEST

struct refusal {
    const char *text;
    const char *says; /* a part of the message */
};

START_TEST(test_describe)
{
    struct rc_experiment *x = parse_ok("{\"id\":\"d\",\"salt\":\"s\",\"arms\":["
                                       "{\"name\":\"control\",\"buckets\":[0,49]},"
                                       "{\"name\":\"b\",\"buckets\":[49,98],\"cf\":\"cookie_b\"},"
                                       "{\"name\":\"h\",\"buckets\":[9800,10000],\"holdout\":true}]}");
    char out[256];
    ck_assert_uint_eq(rc_experiment_describe(x, out, sizeof(out)), 298);
    ck_assert_str_eq(out, "control:0.49%,b:0.49%(cookie_b),h:2.00%(holdout)");
    char small[12];
    rc_experiment_describe(x, small, sizeof(small)); /* cut, still terminated */
    ck_assert_str_eq(small, "control:0.4");
    rc_experiment_free(x);
}
END_TEST

START_TEST(test_parse_refusals)
{
    static const struct refusal cases[] = {
        {"", "not JSON"},
        {"{\"id\":\"e\",", "not JSON"},
        {"[]", "expected a JSON object"},
        {"{\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,1]}]}", "lacks an id"},
        {"{\"id\":\"e\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,1]}]}", "lacks a salt"},
        {"{\"id\":\"e\",\"salt\":\"s\"}", "lacks arms"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":[]}", "arms: empty"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":{}}", "arms: expected an array"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,1]}],\"note\":1}",
         "unknown key 'note'"},
        {"{\"id\":\"e\",\"id\":\"f\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,1]}]}",
         "key 'id' given twice"},
        {"{\"id\":\"e f\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,1]}]}",
         "id: 'e f' is not 1..64 bytes"},
        {"{\"id\":\"\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,1]}]}", "id: '' is not"},
        {"{\"id\":\"e\",\"salt\":\"s/1\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,1]}]}", "salt: 's/1' is not"},
        {"{\"id\":7,\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,1]}]}", "id: expected a string"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,1],\"teirs\":[\"cf\"]}]}",
         "arms[0] ('a'): unknown key 'teirs'"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"buckets\":[0,1]}]}", "arms[0]: lacks a name"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":[7]}", "arms[0]: expected an object"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\"}]}", "arms[0] ('a'): lacks buckets"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[5,5]}]}", "buckets: [5, 5] is not"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[-1,5]}]}", "buckets: [-1, 5] is not"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,10001]}]}",
         "buckets: [0, 10001] is not"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0.5,5]}]}", "integers"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,5,6]}]}",
         "buckets: expected [from, to]"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[\"0\",5]}]}",
         "buckets: expected [from, to]"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,50]},{\"name\":\"b\",\"buckets\":[49,"
         "60]}]}",
         "arms[1] ('b'): buckets [49, 60) overlap arms[0] ('a') [0, 50)"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,50]},{\"name\":\"a\",\"buckets\":[50,"
         "60]}]}",
         "arms[1]: name 'a' is also arms[0]'s"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,50],\"control\":true},{\"name\":\"b\","
         "\"buckets\":[50,60],\"control\":true}]}",
         "a second control"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,50],\"control\":1}]}",
         "control: expected true or false"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,50],\"holdout\":true,\"tiers\":["
         "\"global\"]}]}",
         "holdout and tiers together"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,50],\"tiers\":[]}]}", "tiers: empty"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,50],\"tiers\":[\"cf\",\"cf\"]}]}",
         "tiers: 'cf' listed twice"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,50],\"tiers\":[\"coview\"]}]}",
         "tiers: 'coview' is not a tier"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,50],\"tiers\":\"cf\"}]}",
         "tiers: expected an array"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,50],\"cf\":\"cookie_c\"}]}",
         "cf: 'cookie_c' is not a CF list ('cookie' or 'cookie_b')"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,50],\"cf\":[\"cookie_b\"]}]}",
         "cf: expected a string"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,50],\"cf\":\"als\"}]}",
         "cf: 'als' is not a CF list"},
        {"{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,1]},{\"name\":\"b\",\"buckets\":[1,2]},"
         "{\"name\":\"c\",\"buckets\":[2,3]},{\"name\":\"d\",\"buckets\":[3,4]},{\"name\":\"e\",\"buckets\":[4,5]},"
         "{\"name\":\"f\",\"buckets\":[5,6]},{\"name\":\"g\",\"buckets\":[6,7]},{\"name\":\"h\",\"buckets\":[7,8]},"
         "{\"name\":\"i\",\"buckets\":[8,9]}]}",
         "more than 8 arms"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rc_experiment *x = (struct rc_experiment *)1;
        char err[RC_ERRMSG_MAX] = "";
        int rc = rc_experiment_parse(cases[i].text, strlen(cases[i].text), &x, err);
        ck_assert_msg(rc == RC_EFORMAT, "case %zu accepted or wrong code %d: %s", i, rc, cases[i].text);
        ck_assert_ptr_null(x);
        ck_assert_msg(strstr(err, cases[i].says), "case %zu: message '%s' lacks '%s'", i, err, cases[i].says);
        /* git style: lowercase start, no full stop */
        ck_assert_msg(err[0] && err[strlen(err) - 1] != '.', "case %zu: '%s'", i, err);
    }
    /* Too long to read at all. */
    size_t big = RC_EXPERIMENT_FILE_MAX + 1;
    char *text = malloc(big);
    memset(text, ' ', big);
    struct rc_experiment *x;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rc_experiment_parse(text, big, &x, err), RC_ETOOLONG);
    free(text);
}
END_TEST

START_TEST(test_assign_formula)
{
    struct rc_experiment *x = parse_ok(EXAMPLE);
    ck_assert_int_eq(rc_experiment_assign(x, "", 0), -1); /* no cookie, no arm */
    char cookie[32];
    for (int i = 0; i < 2000; i++) {
        int n = snprintf(cookie, sizeof(cookie), "c%d", i);
        uint64_t h = XXH3_64bits_withSeed(cookie, (size_t)n, XXH3_64bits("s1", 2));
        unsigned bucket = (unsigned)(h % 10000);
        ck_assert_uint_eq(rc_experiment_bucket(x, cookie, (size_t)n), bucket);
        int want = bucket < 4900 ? 0 : bucket < 9800 ? 1 : 2;
        ck_assert_int_eq(rc_experiment_assign(x, cookie, (size_t)n), want);
    }
    /* Bytes, not strings: a NUL inside the cookie counts. */
    ck_assert_uint_eq(rc_experiment_bucket(x, "a\0b", 3),
                      (unsigned)(XXH3_64bits_withSeed("a\0b", 3, XXH3_64bits("s1", 2)) % 10000));
    rc_experiment_free(x);
}
END_TEST

/* Shares over 100,000 distinct cookies against the configured bucket
 * shares: each arm's count within 4.5 binomial sigma of n * share (the
 * chance that a correct assignment fails one arm is below 1e-5), and a gap
 * gets its share of no-arm cookies. */
START_TEST(test_assign_shares)
{
    struct rc_experiment *x = parse_ok("{\"id\":\"shares\",\"salt\":\"2026-12-03\",\"arms\":["
                                       "{\"name\":\"control\",\"buckets\":[0,4500]},"
                                       "{\"name\":\"t1\",\"buckets\":[4500,9000]},"
                                       "{\"name\":\"small\",\"buckets\":[9000,9100]},"
                                       "{\"name\":\"holdout\",\"buckets\":[9800,10000],\"holdout\":true}]}");
    enum { N = 100000 };
    unsigned long counts[RC_EXPERIMENT_ARMS_MAX + 1] = {0}; /* last: no arm */
    char cookie[48];
    for (int i = 0; i < N; i++) {
        int n = snprintf(cookie, sizeof(cookie), "visitor-%08d", i);
        int arm = rc_experiment_assign(x, cookie, (size_t)n);
        counts[arm < 0 ? RC_EXPERIMENT_ARMS_MAX : arm]++;
    }
    double gap = 1.0;
    for (unsigned a = 0; a <= x->narms; a++) {
        double p;
        if (a < x->narms) {
            p = (x->arms[a].to - x->arms[a].from) / 10000.0;
            gap -= p;
        } else {
            p = gap;
        }
        unsigned long got = counts[a < x->narms ? a : RC_EXPERIMENT_ARMS_MAX];
        double sigma = sqrt(N * p * (1 - p));
        ck_assert_msg(fabs((double)got - N * p) <= 4.5 * sigma, "arm %u: %lu of %d, expected %.0f +- %.0f", a, got,
                      N, N * p, 4.5 * sigma);
    }
    rc_experiment_free(x);
}
END_TEST

/* The same cookie gets the same arm: twice, in reverse order, from a
 * second parse of the same text; another salt reshuffles. */
START_TEST(test_assign_deterministic)
{
    struct rc_experiment *x = parse_ok(EXAMPLE), *y = parse_ok(EXAMPLE);
    enum { N = 20000 };
    static signed char first[N];
    char cookie[32];
    for (int i = 0; i < N; i++) {
        int n = snprintf(cookie, sizeof(cookie), "k%d", i);
        first[i] = (signed char)rc_experiment_assign(x, cookie, (size_t)n);
    }
    unsigned moved = 0;
    for (int i = N - 1; i >= 0; i--) {
        int n = snprintf(cookie, sizeof(cookie), "k%d", i);
        ck_assert_int_eq(rc_experiment_assign(x, cookie, (size_t)n), first[i]);
        ck_assert_int_eq(rc_experiment_assign(y, cookie, (size_t)n), first[i]);
    }
    /* Another salt: about half the cookies change arms. */
    struct rc_experiment *z = parse_ok("{\"id\":\"cf-2026-12\",\"salt\":\"s2\",\"arms\":["
                                       "{\"name\":\"control\",\"buckets\":[0,4900],\"control\":true},"
                                       "{\"name\":\"treatment\",\"buckets\":[4900,9800]},"
                                       "{\"name\":\"holdout\",\"buckets\":[9800,10000],\"holdout\":true}]}");
    for (int i = 0; i < N; i++) {
        int n = snprintf(cookie, sizeof(cookie), "k%d", i);
        moved += rc_experiment_assign(z, cookie, (size_t)n) != first[i];
    }
    ck_assert_msg(moved > N / 3 && moved < 2 * N / 3, "%u of %d moved", moved, N);
    rc_experiment_free(x);
    rc_experiment_free(y);
    rc_experiment_free(z);
}
END_TEST

/* ---- the version's check ---- */

static struct fx *small_version(void)
{
    struct fx *f = fx_new();
    ck_assert_int_eq(fx_segment(f, "*", "*", (struct fx_entry[]){{"p1", 0, 1.0f}, {"p2", 0, 0.5f}}, 2), 0);
    return f;
}

START_TEST(test_version_carries)
{
    char root[PATH_MAX], dir[PATH_MAX + 64], err[RC_ERRMSG_MAX] = "";
    scratch_make(root, sizeof(root), "experiment");
    struct fx *f = small_version();
    f->experiments = EXAMPLE;
    ck_assert_msg(fx_write(f, root, "v1", 1, err) == 0, "%s", err);
    f->experiments = NULL;
    ck_assert_msg(fx_write(f, root, "v2", 0, err) == 0, "%s", err);
    fx_free(f);

    snprintf(dir, sizeof(dir), "%s/versions/v1", root);
    struct rc_manifest m;
    ck_assert_int_eq(rc_manifest_read(dir, &m, err), 0);
    ck_assert_uint_eq(m.nfiles, 2);
    ck_assert_str_eq(m.files[1].name, "experiments.json");
    ck_assert_uint_eq(m.files[1].bytes, strlen(EXAMPLE));
    rc_manifest_release(&m);
    for (int level = RC_VERIFY_OPEN; level <= RC_VERIFY_RECORDS; level++) {
        struct rc_cache c;
        ck_assert_msg(rc_version_open(&c, dir, (enum rc_verify_level)level, err) == 0, "%s", err);
        ck_assert_ptr_nonnull(c.experiment);
        ck_assert_str_eq(c.experiment->id, "cf-2026-12");
        ck_assert_uint_eq(c.experiment->narms, 3);
        rc_cache_close(&c);
        ck_assert_ptr_null(c.experiment);
    }
    /* Without the file: no experiment. An unlisted file of that name is never read. */
    snprintf(dir, sizeof(dir), "%s/versions/v2", root);
    char path[PATH_MAX + 96];
    snprintf(path, sizeof(path), "%s/experiments.json", dir);
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fputs("not json", fp);
    fclose(fp);
    struct rc_cache c;
    ck_assert_msg(rc_version_open(&c, dir, RC_VERIFY_RECORDS, err) == 0, "%s", err);
    ck_assert_ptr_null(c.experiment);
    rc_cache_close(&c);
    ck_assert_int_eq(unlink(path), 0);
    scratch_remove(root);
}
END_TEST

/* Replace the version's experiments.json with text and list it with its
 * true size and hash, as a builder with a bug would. */
static void replace_experiments(const char *dir, const char *text)
{
    char path[PATH_MAX + 96], err[RC_ERRMSG_MAX];
    snprintf(path, sizeof(path), "%s/experiments.json", dir);
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fputs(text, fp);
    fclose(fp);
    struct rc_manifest m;
    ck_assert_int_eq(rc_manifest_read(dir, &m, err), 0);
    for (unsigned i = 0; i < m.nfiles; i++)
        if (strcmp(m.files[i].name, "experiments.json") == 0)
            ck_assert_int_eq(rc_file_xxh3(path, &m.files[i].bytes, &m.files[i].xxh3), 0);
    ck_assert_int_eq(rc_manifest_write(dir, &m, NULL, err), 0);
    rc_manifest_release(&m);
}

static void count_fault(void *ctx, int code, const char *why)
{
    (void)code;
    if (strstr(why, "experiments.json"))
        ++*(int *)ctx;
}

START_TEST(test_version_refuses)
{
    char root[PATH_MAX], dir[PATH_MAX + 64], err[RC_ERRMSG_MAX] = "";
    scratch_make(root, sizeof(root), "experiment");
    struct fx *f = small_version();
    f->experiments = EXAMPLE;
    ck_assert_msg(fx_write(f, root, "v1", 1, err) == 0, "%s", err);
    fx_free(f);
    snprintf(dir, sizeof(dir), "%s/versions/v1", root);

    /* A listed file that breaks a rule: refused at every level, naming it. */
    replace_experiments(dir, "{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,10],\"teirs\":[]}]}");
    for (int level = RC_VERIFY_OPEN; level <= RC_VERIFY_RECORDS; level++) {
        struct rc_cache c;
        int rc = rc_version_open(&c, dir, (enum rc_verify_level)level, err);
        ck_assert_int_eq(rc, RC_EFORMAT);
        ck_assert_msg(strstr(err, "experiments.json': arms[0] ('a'): unknown key 'teirs'"), "%s", err);
        ck_assert_ptr_null(c.experiment);
        ck_assert_ptr_null(c.env);
    }
    /* recctl verify's way: every fault, this one among them. */
    int seen = 0;
    struct rc_verify v = {.level = RC_VERIFY_RECORDS, .all_faults = 1, .on_fault = count_fault, .ctx = &seen};
    ck_assert_int_eq(rc_version_check(NULL, dir, &v, err), RC_EFORMAT);
    ck_assert_int_eq(seen, 1);
    ck_assert_uint_eq(v.faults, 1);

    /* Bytes that differ from the manifest's hash: a checksum fault first. */
    replace_experiments(dir, EXAMPLE);
    char path[PATH_MAX + 96];
    snprintf(path, sizeof(path), "%s/experiments.json", dir);
    FILE *fp = fopen(path, "r+");
    ck_assert_ptr_nonnull(fp);
    fputc('[', fp);
    fclose(fp);
    struct rc_cache c;
    ck_assert_int_eq(rc_version_open(&c, dir, RC_VERIFY_FILES, err), RC_ECHECKSUM);
    /* Without hashing, the parse still refuses it. */
    ck_assert_int_eq(rc_version_open(&c, dir, RC_VERIFY_OPEN, err), RC_EFORMAT);
    scratch_remove(root);
}
END_TEST

/* An arm on cookie_b needs the version to hold cookie_b lists. */
#define EXP_COOKIE_B                                                                                          \
    "{\"id\":\"e\",\"salt\":\"s\",\"arms\":[{\"name\":\"a\",\"buckets\":[0,5000]},"                                   \
    "{\"name\":\"second\",\"buckets\":[5000,10000],\"cf\":\"cookie_b\"}]}"

START_TEST(test_version_cookie_b)
{
    char root[PATH_MAX], dir[PATH_MAX + 64], err[RC_ERRMSG_MAX] = "";
    scratch_make(root, sizeof(root), "experiment");
    struct fx *f = small_version();
    f->experiments = EXAMPLE; /* the writer's own check would refuse EXP_COOKIE_B here */
    ck_assert_msg(fx_write(f, root, "v1", 1, err) == 0, "%s", err);
    f->experiments = EXP_COOKIE_B;
    ck_assert_int_eq(fx_list(f, RC_DB_COOKIE_B, "c1", 0, (struct fx_entry[]){{"p2", 0, 1.0f}}, 1), 0);
    ck_assert_msg(fx_write(f, root, "v2", 0, err) == 0, "%s", err);
    fx_free(f);

    /* No cookie_b lists: refused at every level, saying which arm and why. */
    snprintf(dir, sizeof(dir), "%s/versions/v1", root);
    replace_experiments(dir, EXP_COOKIE_B);
    for (int level = RC_VERIFY_OPEN; level <= RC_VERIFY_RECORDS; level++) {
        struct rc_cache c;
        ck_assert_int_eq(rc_version_open(&c, dir, (enum rc_verify_level)level, err), RC_EFORMAT);
        ck_assert_msg(strstr(err, "experiments.json': arms[1] ('second') reads its cf tier from cookie_b, but the "
                                  "version holds no cookie_b lists"), "%s", err);
        ck_assert_ptr_null(c.env);
    }
    int seen = 0;
    struct rc_verify v = {.level = RC_VERIFY_RECORDS, .all_faults = 1, .on_fault = count_fault, .ctx = &seen};
    ck_assert_int_eq(rc_version_check(NULL, dir, &v, err), RC_EFORMAT);
    ck_assert_int_eq(seen, 1);

    /* With them: verified, and the arm reads cookie_b. */
    snprintf(dir, sizeof(dir), "%s/versions/v2", root);
    struct rc_cache c;
    ck_assert_msg(rc_version_open(&c, dir, RC_VERIFY_RECORDS, err) == 0, "%s", err);
    ck_assert_uint_eq(c.manifest.counts[RC_DB_COOKIE_B], 1);
    ck_assert_int_eq(c.experiment->arms[1].cf_db, RC_DB_COOKIE_B);
    rc_cache_close(&c);
    scratch_remove(root);
}
END_TEST

/* The writer: only experiments.json, once, between finish and commit. */
START_TEST(test_writer_add_file)
{
    char root[PATH_MAX], err[RC_ERRMSG_MAX] = "";
    scratch_make(root, sizeof(root), "experiment");
    struct rc_version_opts opts = {.root = root, .version = "w1"};
    struct rc_version_writer vw;
    ck_assert_int_eq(rc_version_begin(&vw, &opts, err), 0);
    ck_assert_int_eq(rc_version_add_file(&vw, "experiments.json", "{}", 2, err), RC_EINTERNAL); /* too early */
    rc_version_release(&vw);

    ck_assert_int_eq(rc_version_begin(&vw, &opts, err), 0);
    ck_assert_int_eq(rc_version_reserve(&vw, 1 << 20, err), 0);
    ck_assert_int_eq(rc_version_finish(&vw, err), 0);
    ck_assert_int_eq(rc_version_add_file(&vw, "other.json", "{}", 2, err), RC_EFORMAT);
    ck_assert_int_eq(rc_version_add_file(&vw, "experiments.json", EXAMPLE, strlen(EXAMPLE), err), 0);
    ck_assert_int_eq(rc_version_add_file(&vw, "experiments.json", EXAMPLE, strlen(EXAMPLE), err), RC_EFORMAT);
    rc_version_release(&vw); /* removes the staging dir with the file in it */
    char staging[PATH_MAX + 32];
    snprintf(staging, sizeof(staging), "%s/.staging", root);
    ck_assert_int_eq(rmdir(staging), 0); /* empty: release removed the version's staging dir */
    scratch_remove(root);
}
END_TEST

static Suite *experiment_suite(void)
{
    Suite *s = suite_create("experiment");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_parse_example);
    tcase_add_test(tc, test_parse_defaults);
    tcase_add_test(tc, test_parse_refusals);
    tcase_add_test(tc, test_describe);
    suite_add_tcase(s, tc);
    tc = tcase_create("assign");
    tcase_add_test(tc, test_assign_formula);
    tcase_add_test(tc, test_assign_shares);
    tcase_add_test(tc, test_assign_deterministic);
    suite_add_tcase(s, tc);
    tc = tcase_create("version");
    tcase_add_test(tc, test_version_carries);
    tcase_add_test(tc, test_version_refuses);
    tcase_add_test(tc, test_version_cookie_b);
    tcase_add_test(tc, test_writer_add_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(experiment_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
