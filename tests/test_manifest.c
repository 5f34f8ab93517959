/*
 * test_manifest.c - shared/manifest.c: write -> read round trip, file
 * checksums, verification of damaged files, and refusal of manifests that
 * break schemas/manifest.md.
 *
 * Refusals start from one valid document (`base` below) and change one
 * thing each, so every refusal is known to come from that change. Expected
 * checksums come from `xxhsum -H3` (XXH3-64, seed 0).
 */
#include "error.h"
#include "layout.h"
#include "manifest.h"
#include "version.h"
#include "scratch.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

static char dir[PATH_MAX];

static void setup(void)
{
    scratch_make(dir, sizeof(dir), "test_manifest");
}

static void teardown(void)
{
    scratch_remove(dir);
}

static void write_in_dir(const char *name, const void *data, size_t len)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    ck_assert_int_eq(rc_write_file_atomic(path, data, len), 0);
}

/* A valid manifest for a data.mdb holding "p1" (2 bytes, xxh3 cc49fdcc510be364). */
static const char base[] =
    "{\"format\": \"edgerec-manifest\", \"format_version\": 1, \"version\": \"20261123T173000Z\",\n"
    " \"created_at\": 1795455000, \"counts\": {\"cookie\": 3, \"product\": 2, \"segment\": 1, \"items\": 0},\n"
    " \"files\": [{\"name\": \"data.mdb\", \"bytes\": 2, \"xxh3\": \"cc49fdcc510be364\"}]}\n";

/* base with its one occurrence of `from` replaced by `to`. */
static char *with(const char *from, const char *to)
{
    const char *at = strstr(base, from);
    ck_assert_msg(at != NULL, "'%s' not in the base manifest", from);
    size_t n = strlen(base) - strlen(from) + strlen(to);
    char *s = malloc(n + 1);
    size_t pre = (size_t)(at - base);
    memcpy(s, base, pre);
    strcpy(s + pre, to);
    strcat(s, at + strlen(from));
    return s;
}

static int read_doc(const char *text, struct rc_manifest *m, char *err)
{
    write_in_dir(RC_MANIFEST_NAME, text, strlen(text));
    return rc_manifest_read(dir, m, err);
}

/* Reading base with `from` replaced by `to` gives `want`. */
static void refused(const char *from, const char *to, int want)
{
    char *text = with(from, to);
    struct rc_manifest m;
    char err[RC_ERRMSG_MAX] = "";
    int rc = read_doc(text, &m, err);
    ck_assert_msg(rc == want, "'%s' -> '%s': got %d (%s), want %d", from, to, rc, err, want);
    ck_assert_ptr_null(m.doc);
    ck_assert_msg(strstr(err, RC_MANIFEST_NAME) != NULL, "message does not name the file: %s", err);
    free(text);
}

START_TEST(test_file_xxh3)
{
    uint64_t bytes, hash;
    write_in_dir("p1", "p1", 2);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/p1", dir);
    ck_assert_int_eq(rc_file_xxh3(path, &bytes, &hash), 0);
    ck_assert_uint_eq(bytes, 2);
    ck_assert_uint_eq(hash, 0xcc49fdcc510be364ull);
    write_in_dir("empty", "", 0);
    snprintf(path, sizeof(path), "%s/empty", dir);
    ck_assert_int_eq(rc_file_xxh3(path, &bytes, &hash), 0);
    ck_assert_uint_eq(bytes, 0);
    ck_assert_uint_eq(hash, 0x2d06800538d394c2ull);
    /* Larger than the 1 MiB read buffer: streamed hash equals one-shot. */
    size_t n = (3u << 20) + 12345;
    unsigned char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (unsigned char)(i * 2654435761u >> 13);
    write_in_dir("big", big, n);
    snprintf(path, sizeof(path), "%s/big", dir);
    ck_assert_int_eq(rc_file_xxh3(path, &bytes, &hash), 0);
    ck_assert_uint_eq(bytes, n);
    ck_assert_uint_eq(hash, XXH3_64bits(big, n));
    free(big);
    snprintf(path, sizeof(path), "%s/missing", dir);
    ck_assert_int_eq(rc_file_xxh3(path, &bytes, &hash), -ENOENT);
}
END_TEST

START_TEST(test_round_trip)
{
    char err[RC_ERRMSG_MAX] = "";
    write_in_dir("data.mdb", "p1", 2);
    write_in_dir("extra.bin", "", 0);
    struct rc_manifest m;
    memset(&m, 0, sizeof(m));
    snprintf(m.version, sizeof(m.version), "20261123T173000Z-2");
    m.created_at = 1795455000;
    m.counts[RC_DB_COOKIE] = 812345;
    m.counts[RC_DB_PRODUCT] = 99120;
    m.counts[RC_DB_SEGMENT] = 64;
    m.counts[RC_DB_COOKIE_B] = 812000;
    m.counts[RC_DB_ITEMS] = 0;
    ck_assert_int_eq(rc_manifest_add_file(&m, dir, "data.mdb", err), 0);
    ck_assert_int_eq(rc_manifest_add_file(&m, dir, "extra.bin", err), 0);
    ck_assert_uint_eq(m.nfiles, 2);
    ck_assert_uint_eq(m.files[0].bytes, 2);
    ck_assert_uint_eq(m.files[0].xxh3, 0xcc49fdcc510be364ull);
    struct rc_manifest_params params = {.factors = 64, .segment_n = 200, .params_file = "a \"q\"", .blend_weight = -1};
    struct rc_manifest_cf_b cf_b = {.params_file = "b.conf", .factors = 32, .reg = 1, .weight_view = 2,
                                    .eval = {.holdout = RC_HOLDOUT_FULL, .k = 10, .ndcg = 0.25, .have_health = 1}};
    struct rc_manifest_explore explore = {.age_days = 14, .share = 0.1, .now = 1795368600, .new_products = 7,
                                          .new_with_slot = 5, .slots = 40, .slots_added = 31};
    struct rc_manifest_info info = {.device = "cpu", .params = &params, .cf_b = &cf_b, .explore = &explore};
    ck_assert_int_eq(rc_manifest_write(dir, &m, &info, err), 0);

    /* The text has the documented shape: 16 lowercase hex digits, ISO time. */
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, RC_MANIFEST_NAME);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char text[4096];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = 0;
    ck_assert_ptr_nonnull(strstr(text, "\"xxh3\": \"cc49fdcc510be364\""));
    ck_assert_ptr_nonnull(strstr(text, "\"xxh3\": \"2d06800538d394c2\""));
    ck_assert_ptr_nonnull(strstr(text, "\"created_at_iso\": \"2026-11-23T17:30:00Z\""));
    ck_assert_ptr_nonnull(strstr(text, "\"format\": \"edgerec-manifest\""));
    ck_assert_ptr_nonnull(strstr(text, "\"format_version\": 1"));

    struct rc_manifest r;
    ck_assert_int_eq(rc_manifest_read(dir, &r, err), 0);
    ck_assert_str_eq(r.version, "20261123T173000Z-2");
    ck_assert_int_eq(r.created_at, 1795455000);
    for (int i = 0; i < RC_DB_COUNT; i++)
        ck_assert_uint_eq(r.counts[i], m.counts[i]);
    ck_assert_uint_eq(r.nfiles, 2);
    for (unsigned i = 0; i < 2; i++) {
        ck_assert_str_eq(r.files[i].name, m.files[i].name);
        ck_assert_uint_eq(r.files[i].bytes, m.files[i].bytes);
        ck_assert_uint_eq(r.files[i].xxh3, m.files[i].xxh3);
    }
    ck_assert_ptr_nonnull(r.doc);
    ck_assert_str_eq(rc_json_get_str(r.doc, "device"), "cpu");
    ck_assert_str_eq(rc_json_get_str(r.doc, "created_at_iso"), "2026-11-23T17:30:00Z");
    double factors;
    ck_assert_int_eq(rc_json_get_num(rc_json_get(r.doc, "parameters"), "factors", &factors), 0);
    ck_assert_double_eq(factors, 64.0);
    ck_assert_str_eq(rc_json_get_str(rc_json_get(r.doc, "parameters"), "params_file"), "a \"q\"");
    ck_assert_ptr_null(rc_json_get(rc_json_get(r.doc, "parameters"), "preset")); /* NULL: not written */
    ck_assert_int_eq(rc_json_get_num(rc_json_get(r.doc, "parameters"), "segment_n", &factors), 0);
    ck_assert_double_eq(factors, 200.0);
    ck_assert_int_eq(rc_json_get(rc_json_get(r.doc, "parameters"), "blend_weight")->type, RC_JSON_NULL);
    /* The second CF set, with its evaluation as "evaluation" is written. */
    const struct rc_json *b = rc_json_get(r.doc, "cf_b"), *be = rc_json_get(b, "evaluation");
    double v;
    ck_assert_str_eq(rc_json_get_str(b, "db"), "cookie_b");
    ck_assert_str_eq(rc_json_get_str(b, "params_file"), "b.conf");
    ck_assert_int_eq(rc_json_get_num(b, "factors", &v), 0);
    ck_assert_double_eq(v, 32.0);
    ck_assert_int_eq(rc_json_get_num(rc_json_get(b, "weights"), "view", &v), 0);
    ck_assert_double_eq(v, 2.0);
    ck_assert_int_eq(rc_json_get_num(be, "ndcg", &v), 0);
    ck_assert_double_eq(v, 0.25);
    ck_assert_int_eq(rc_json_get(be, "degenerate")->type, RC_JSON_BOOL);
    ck_assert_ptr_null(rc_json_get(be, "knn_recall"));
    /* New-product exploration. */
    const struct rc_json *x = rc_json_get(r.doc, "exploration");
    ck_assert_int_eq(rc_json_get_num(x, "share", &v), 0);
    ck_assert_double_eq(v, 0.1);
    ck_assert_int_eq(rc_json_get_num(x, "now", &v), 0);
    ck_assert_double_eq(v, 1795368600.0);
    ck_assert_int_eq(rc_json_get_num(x, "new_with_slot", &v), 0);
    ck_assert_double_eq(v, 5.0);
    ck_assert_int_eq(rc_json_get_num(x, "slots_added", &v), 0);
    ck_assert_double_eq(v, 31.0);
    ck_assert_int_eq(rc_json_get(x, "first_event_used")->type, RC_JSON_BOOL);
    ck_assert_int_eq(rc_version_check_files(dir, &r, err), 0);
    rc_manifest_release(&r);
    ck_assert_ptr_null(r.doc);
    rc_manifest_release(&r); /* twice is harmless */

    /* No extra members, and a negative created_at. */
    m.created_at = -1;
    ck_assert_int_eq(rc_manifest_write(dir, &m, NULL, err), 0);
    ck_assert_int_eq(rc_manifest_read(dir, &r, err), 0);
    ck_assert_int_eq(r.created_at, -1);
    ck_assert_ptr_null(rc_json_get(r.doc, "device"));
    rc_manifest_release(&r);
    /* Only data.mdb, extra.bin and the manifest: no temporary file left. */
    snprintf(path, sizeof(path), "%s/%s.tmp.%ld", dir, RC_MANIFEST_NAME, (long)getpid());
    ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

START_TEST(test_verify_damage)
{
    char err[RC_ERRMSG_MAX];
    unsigned char data[4096];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 7);
    write_in_dir("data.mdb", data, sizeof(data));
    struct rc_manifest m;
    memset(&m, 0, sizeof(m));
    snprintf(m.version, sizeof(m.version), "v1");
    ck_assert_int_eq(rc_manifest_add_file(&m, dir, "data.mdb", err), 0);
    ck_assert_int_eq(rc_version_check_files(dir, &m, err), 0);

    /* Truncated by one byte. */
    write_in_dir("data.mdb", data, sizeof(data) - 1);
    ck_assert_int_eq(rc_version_check_files(dir, &m, err), RC_ETRUNC);
    ck_assert_ptr_nonnull(strstr(err, "data.mdb"));
    /* Grown by one byte. */
    unsigned char grown[sizeof(data) + 1];
    memcpy(grown, data, sizeof(data));
    grown[sizeof(data)] = 0;
    write_in_dir("data.mdb", grown, sizeof(grown));
    ck_assert_int_eq(rc_version_check_files(dir, &m, err), RC_ETRUNC);
    /* One flipped bit anywhere. */
    size_t offsets[] = {0, 1000, sizeof(data) - 1};
    for (size_t i = 0; i < 3; i++) {
        data[offsets[i]] ^= 0x10;
        write_in_dir("data.mdb", data, sizeof(data));
        ck_assert_int_eq(rc_version_check_files(dir, &m, err), RC_ECHECKSUM);
        data[offsets[i]] ^= 0x10;
    }
    write_in_dir("data.mdb", data, sizeof(data));
    ck_assert_int_eq(rc_version_check_files(dir, &m, err), 0);
    /* Missing. */
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rc_version_check_files(dir, &m, err), -ENOENT);
}
END_TEST

START_TEST(test_add_file_limits)
{
    char err[RC_ERRMSG_MAX];
    struct rc_manifest m;
    memset(&m, 0, sizeof(m));
    write_in_dir("f", "x", 1);
    ck_assert_int_eq(rc_manifest_add_file(&m, dir, "missing", err), -ENOENT);
    ck_assert_uint_eq(m.nfiles, 0);
    char longname[80];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    ck_assert_int_eq(rc_manifest_add_file(&m, dir, longname, err), RC_ERANGE);
    for (int i = 0; i < RC_MANIFEST_FILES_MAX; i++)
        ck_assert_int_eq(rc_manifest_add_file(&m, dir, "f", err), 0);
    ck_assert_int_eq(rc_manifest_add_file(&m, dir, "f", err), RC_ERANGE);
    ck_assert_uint_eq(m.nfiles, RC_MANIFEST_FILES_MAX);
    /* Writing into a directory that does not exist fails. */
    char missing[PATH_MAX];
    snprintf(missing, sizeof(missing), "%s/nope", dir);
    snprintf(m.version, sizeof(m.version), "v1");
    ck_assert_int_eq(rc_manifest_write(missing, &m, NULL, err), -ENOENT);
}
END_TEST

START_TEST(test_read_base)
{
    struct rc_manifest m;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(read_doc(base, &m, err), 0);
    ck_assert_str_eq(m.version, "20261123T173000Z");
    ck_assert_uint_eq(m.counts[RC_DB_COOKIE], 3);
    ck_assert_uint_eq(m.counts[RC_DB_ITEMS], 0);
    ck_assert_uint_eq(m.counts[RC_DB_COVIEW], 0);   /* optional DBs: absent counts read 0 */
    ck_assert_uint_eq(m.counts[RC_DB_COOKIE_B], 0);
    ck_assert_uint_eq(m.counts[RC_DB_CATEGORY], 0);
    ck_assert_uint_eq(m.counts[RC_DB_CATSET], 0);
    ck_assert_uint_eq(m.files[0].xxh3, 0xcc49fdcc510be364ull);
    write_in_dir("data.mdb", "p1", 2);
    ck_assert_int_eq(rc_version_check_files(dir, &m, err), 0);
    rc_manifest_release(&m);
}
END_TEST

START_TEST(test_read_missing)
{
    struct rc_manifest m;
    char err[RC_ERRMSG_MAX] = "";
    ck_assert_int_eq(rc_manifest_read(dir, &m, err), -ENOENT);
    ck_assert_ptr_nonnull(strstr(err, RC_MANIFEST_NAME));
    ck_assert_ptr_null(m.doc);
}
END_TEST

START_TEST(test_read_versions)
{
    refused("\"format_version\": 1", "\"format_version\": 2", RC_EVERSION);
    refused("\"format_version\": 1", "\"format_version\": 1000", RC_EVERSION);
    refused("\"format_version\": 1", "\"format_version\": 0", RC_EMANIFEST);
    refused("\"format_version\": 1", "\"format_version\": -1", RC_EMANIFEST);
    refused("\"format_version\": 1", "\"format_version\": 1.5", RC_EMANIFEST);
    refused("\"format_version\": 1", "\"format_version\": 1e300", RC_EMANIFEST);
    refused("\"format_version\": 1", "\"format_version\": \"1\"", RC_EMANIFEST);
    refused("\"format_version\": 1, ", "", RC_EMANIFEST);
    /* The message says what was expected. */
    char *text = with("\"format_version\": 1", "\"format_version\": 2");
    struct rc_manifest m;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(read_doc(text, &m, err), RC_EVERSION);
    ck_assert_ptr_nonnull(strstr(err, "format_version 2"));
    free(text);
}
END_TEST

START_TEST(test_read_refusals)
{
    /* format */
    refused("\"edgerec-manifest\"", "\"edgerec-manifest2\"", RC_EMANIFEST);
    refused("\"edgerec-manifest\"", "\"other\"", RC_EMANIFEST);
    refused("\"edgerec-manifest\"", "1", RC_EMANIFEST);
    refused("\"format\": \"edgerec-manifest\", ", "", RC_EMANIFEST);
    /* not JSON, not an object */
    refused("{", "", RC_EMANIFEST);
    refused("]}\n", "]}\n}", RC_EMANIFEST);
    refused("]}\n", "]} trailing", RC_EMANIFEST);
    refused("\"created_at\": 1795455000", "\"created_at\": 17954', ", RC_EMANIFEST);
    /* version */
    refused("\"20261123T173000Z\"", "\".hidden\"", RC_EMANIFEST);
    refused("\"20261123T173000Z\"", "\"a/b\"", RC_EMANIFEST);
    refused("\"20261123T173000Z\"", "\"\"", RC_EMANIFEST);
    refused("\"20261123T173000Z\"", "20261123", RC_EMANIFEST);
    refused("\"version\": \"20261123T173000Z\",", "", RC_EMANIFEST);
    /* created_at */
    refused("\"created_at\": 1795455000, ", "", RC_EMANIFEST);
    refused("1795455000", "\"1795455000\"", RC_EMANIFEST);
    refused("1795455000", "1795455000.5", RC_EMANIFEST);
    refused("1795455000", "1e300", RC_EMANIFEST);
    /* counts */
    refused("\"counts\": {\"cookie\": 3, \"product\": 2, \"segment\": 1, \"items\": 0},", "", RC_EMANIFEST);
    refused("\"cookie\": 3", "\"cookie\": -3", RC_EMANIFEST);
    refused("\"cookie\": 3", "\"cookie\": 3.5", RC_EMANIFEST);
    refused("\"cookie\": 3", "\"cookie\": 1e30", RC_EMANIFEST);
    refused("\"cookie\": 3", "\"cookie\": \"3\"", RC_EMANIFEST);
    refused("\"items\": 0", "\"itemz\": 0", RC_EMANIFEST);
    /* files */
    refused("[{\"name\": \"data.mdb\", \"bytes\": 2, \"xxh3\": \"cc49fdcc510be364\"}]", "[]", RC_EMANIFEST);
    refused("[{\"name\": \"data.mdb\", \"bytes\": 2, \"xxh3\": \"cc49fdcc510be364\"}]", "{}", RC_EMANIFEST);
    refused("\"files\": [{\"name\": \"data.mdb\", \"bytes\": 2, \"xxh3\": \"cc49fdcc510be364\"}]", "\"files\": 1",
            RC_EMANIFEST);
    refused("\"data.mdb\"", "\"\"", RC_EMANIFEST);
    refused("\"data.mdb\"", "\"sub/data.mdb\"", RC_EMANIFEST);
    refused("\"data.mdb\"", "\"..\"", RC_EMANIFEST);
    refused("\"data.mdb\"", "\".\"", RC_EMANIFEST);
    refused("\"name\": \"data.mdb\", ", "", RC_EMANIFEST);
    refused("\"bytes\": 2", "\"bytes\": -2", RC_EMANIFEST);
    refused("\"bytes\": 2", "\"bytes\": 2.5", RC_EMANIFEST);
    refused("\"bytes\": 2, ", "", RC_EMANIFEST);
    refused("\"cc49fdcc510be364\"", "\"CC49FDCC510BE364\"", RC_EMANIFEST);
    refused("\"cc49fdcc510be364\"", "\"cc49fdcc510be36\"", RC_EMANIFEST);
    refused("\"cc49fdcc510be364\"", "\"cc49fdcc510be3644\"", RC_EMANIFEST);
    refused("\"cc49fdcc510be364\"", "\"0xc49fdcc510be364\"", RC_EMANIFEST);
    refused("\"cc49fdcc510be364\"", "\" c49fdcc510be364\"", RC_EMANIFEST);
    refused("\"cc49fdcc510be364\"", "\"-c49fdcc510be364\"", RC_EMANIFEST);
    refused("\"cc49fdcc510be364\"", "\"cc49fdcc510be36g\"", RC_EMANIFEST);
    refused("\"cc49fdcc510be364\"", "14720373440000000000", RC_EMANIFEST);
    /* more files than RC_MANIFEST_FILES_MAX */
    char many[2048] = "[";
    for (int i = 0; i <= RC_MANIFEST_FILES_MAX; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s{\"name\": \"f%d\", \"bytes\": 1, \"xxh3\": "
                 "\"0000000000000000\"}", i ? "," : "", i);
    strcat(many, "]");
    refused("[{\"name\": \"data.mdb\", \"bytes\": 2, \"xxh3\": \"cc49fdcc510be364\"}]", many, RC_EMANIFEST);
    /* Empty manifest file. */
    struct rc_manifest m;
    char err[RC_ERRMSG_MAX];
    write_in_dir(RC_MANIFEST_NAME, "", 0);
    ck_assert_int_eq(rc_manifest_read(dir, &m, err), RC_EMANIFEST);
}
END_TEST

/* Unknown members are kept for tools and ignored by the checks. */
START_TEST(test_read_unknown_members)
{
    char *text = with("\"created_at\"", "\"future\": {\"x\": [1, 2]}, \"created_at\"");
    struct rc_manifest m;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(read_doc(text, &m, err), 0);
    ck_assert_ptr_nonnull(rc_json_get(m.doc, "future"));
    rc_manifest_release(&m);
    free(text);
}
END_TEST

/* The rules section (recbuild --rules): pairs, kinds of list the build had
 * only, NaN as null, the holdout figures only with a holdout. */
START_TEST(test_rules_section)
{
    char err[RC_ERRMSG_MAX] = "";
    struct rc_manifest m;
    memset(&m, 0, sizeof(m));
    snprintf(m.version, sizeof(m.version), "20261203T210000Z");
    write_in_dir("data.mdb", "p1", 2);
    ck_assert_int_eq(rc_manifest_add_file(&m, dir, "data.mdb", err), 0);
    struct rc_manifest_rules rules = {.file = "rules.json", .rules = "exclude=1 segments=0 mmr=none cap=3", .k = 10,
                                      .unknown_categories = 2, .have_holdout = 1, .users = 74,
                                      .hr = {0.25, 0.2}, .ndcg = {0.15, 0.125}};
    rules.lists[RC_DB_COOKIE] = (struct rc_manifest_rules_list){
        .have = 1, .lists = 5, .changed = 4, .entries_before = 100, .entries_after = 80, .capped = 20,
        .coverage = {0.5, 0.25}, .ild_category = {0.25, 0.75}, .ild_embedding = {NAN, NAN}};
    rules.lists[RC_DB_CATEGORY] = (struct rc_manifest_rules_list){.have = 1, .lists = 3, .excluded = 7};
    struct rc_manifest_info info = {.rules = &rules};
    ck_assert_int_eq(rc_manifest_write(dir, &m, &info, err), 0);
    struct rc_manifest r;
    ck_assert_int_eq(rc_manifest_read(dir, &r, err), 0);
    const struct rc_json *x = rc_json_get(r.doc, "rules"), *e = rc_json_get(x, "evaluation"),
                         *l = rc_json_get(x, "lists");
    double v;
    ck_assert_str_eq(rc_json_get_str(x, "file"), "rules.json");
    ck_assert_str_eq(rc_json_get_str(x, "rules"), "exclude=1 segments=0 mmr=none cap=3");
    ck_assert_int_eq(rc_json_get_num(x, "unknown_categories", &v), 0);
    ck_assert_double_eq(v, 2.0);
    ck_assert_int_eq(rc_json_get_num(rc_json_get(e, "ndcg"), "without", &v), 0);
    ck_assert_double_eq(v, 0.15);
    ck_assert_int_eq(rc_json_get_num(rc_json_get(e, "ndcg"), "with", &v), 0);
    ck_assert_double_eq(v, 0.125);
    ck_assert_int_eq(rc_json_get_num(rc_json_get(e, "ild_category"), "with", &v), 0);
    ck_assert_double_eq(v, 0.75);
    ck_assert_int_eq(rc_json_get(rc_json_get(e, "ild_embedding"), "with")->type, RC_JSON_NULL);
    ck_assert_int_eq(rc_json_get_num(rc_json_get(l, "cookie"), "capped", &v), 0);
    ck_assert_double_eq(v, 20.0);
    ck_assert_int_eq(rc_json_get_num(rc_json_get(l, "category"), "excluded", &v), 0);
    ck_assert_double_eq(v, 7.0);
    ck_assert_ptr_null(rc_json_get(l, "product")); /* not in the build */
    rc_manifest_release(&r);

    /* without a holdout: no users, hr, ndcg; the diversity pairs stay */
    rules.have_holdout = 0;
    ck_assert_int_eq(rc_manifest_write(dir, &m, &info, err), 0);
    ck_assert_int_eq(rc_manifest_read(dir, &r, err), 0);
    e = rc_json_get(rc_json_get(r.doc, "rules"), "evaluation");
    ck_assert_ptr_null(rc_json_get(e, "ndcg"));
    ck_assert_ptr_null(rc_json_get(e, "users"));
    ck_assert_ptr_nonnull(rc_json_get(e, "coverage"));
    rc_manifest_release(&r);
}
END_TEST

static Suite *manifest_suite(void)
{
    Suite *s = suite_create("manifest");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_file_xxh3);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_verify_damage);
    tcase_add_test(tc, test_add_file_limits);
    tcase_add_test(tc, test_read_base);
    tcase_add_test(tc, test_read_missing);
    tcase_add_test(tc, test_read_versions);
    tcase_add_test(tc, test_read_refusals);
    tcase_add_test(tc, test_read_unknown_members);
    tcase_add_test(tc, test_rules_section);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(manifest_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
