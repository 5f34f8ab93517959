/*
 * test_version.c - shared/version.c: the writer's round trip, the one
 * check at each level in first-fault and all-faults modes, each fault it
 * finds, and file safety: a FIFO, a device symlink or a symlink out of the
 * version is refused without being opened, promptly.
 */
#include "error.h"
#include "fixture.h"
#include "scratch.h"
#include "version.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define V1 "20260101T000000Z"

static char root[PATH_MAX], dir[PATH_MAX + 64];

static void setup(void)
{
    scratch_make(root, sizeof(root), "test_version");
    snprintf(dir, sizeof(dir), "%s/versions/%s", root, V1);
}

static void teardown(void)
{
    scratch_remove(root);
}

/* V1: two product lists (one with a bad record checksum when bad), a segment. */
static void write_v1(int bad)
{
    struct fx *f = fx_new();
    struct fx_entry e[] = {{"p2", 0, 0.9f}, {"p3", 0, 0.5f}};
    ck_assert_int_eq(fx_list(f, RC_DB_PRODUCT, "p1", 0, e, 2), 0);
    ck_assert_int_eq(fx_list(f, RC_DB_PRODUCT, "p2", 0, e + 1, 1), 0);
    ck_assert_int_eq(fx_segment(f, "*", "*", e, 2), 0);
    if (bad)
        for (size_t i = 0; i < f->n; i++)
            if (f->recs[i].db == RC_DB_PRODUCT)
                f->recs[i].val[12] ^= 0x5a; /* the record checksum */
    char err[RC_ERRMSG_MAX];
    ck_assert_msg(fx_write(f, root, V1, 1, err) == 0, "%s", err);
    fx_free(f);
}

struct faults {
    int n;
    int codes[16];
};

static void on_fault(void *ctx, int code, const char *why)
{
    struct faults *f = ctx;
    ck_assert_ptr_nonnull(why);
    if (f->n < 16)
        f->codes[f->n] = code;
    f->n++;
}

/* Check dir at level in both modes: the same first code, and the number of
 * faults the all-faults mode reports (first-fault mode reports one). */
static int check_both(const char *d, enum rc_verify_level level, const char *expect, int *nall)
{
    char e1[RC_ERRMSG_MAX] = "", e2[RC_ERRMSG_MAX] = "";
    struct faults f1 = {0}, f2 = {0};
    struct rc_verify v1 = {.level = level, .expect = expect, .on_fault = on_fault, .ctx = &f1};
    struct rc_verify v2 = {.level = level, .expect = expect, .all_faults = 1, .on_fault = on_fault, .ctx = &f2};
    int rc1 = rc_version_check(NULL, d, &v1, e1);
    int rc2 = rc_version_check(NULL, d, &v2, e2);
    ck_assert_int_eq(rc1, rc2);
    ck_assert_str_eq(e1, e2); /* err holds the first fault either way */
    ck_assert_int_eq(f1.n, rc1 ? 1 : 0);
    ck_assert_uint_eq(v1.faults, (uint64_t)f1.n);
    ck_assert_uint_eq(v2.faults, (uint64_t)f2.n);
    if (rc1)
        ck_assert_int_eq(f1.codes[0], rc1);
    *nall = f2.n;
    return rc1;
}

/* Rewrite dir's manifest with data.mdb listed as `bytes` bytes of hash. */
static void relist(const char *name, uint64_t bytes, uint64_t hash)
{
    struct rc_manifest m;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rc_manifest_read(dir, &m, err), 0);
    unsigned i = 0;
    while (i < m.nfiles && strcmp(m.files[i].name, name) != 0)
        i++;
    if (i == m.nfiles)
        snprintf(m.files[m.nfiles++].name, sizeof(m.files[0].name), "%s", name);
    m.files[i].bytes = bytes;
    m.files[i].xxh3 = hash;
    ck_assert_int_eq(rc_manifest_write(dir, &m, NULL, err), 0);
    rc_manifest_release(&m);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Every level refuses dir with `want`, in both modes, within a second. */
static void refused_everywhere(int want, const char *what)
{
    for (int level = RC_VERIFY_OPEN; level <= RC_VERIFY_RECORDS; level++) {
        double t0 = now_s();
        int nall;
        int rc = check_both(dir, (enum rc_verify_level)level, V1, &nall);
        ck_assert_msg(rc == want, "%s at level %d: %d (%s), want %d", what, level, rc, rc_strerror(rc), want);
        ck_assert_msg(now_s() - t0 < 1.0, "%s took %.1f s", what, now_s() - t0);
    }
}

START_TEST(test_round_trip)
{
    struct rc_version_opts opts = {.root = root, .id_time = 1767225600, .created_at = 1767225601};
    struct rc_version_writer vw;
    char err[RC_ERRMSG_MAX];
    ck_assert_msg(rc_version_begin(&vw, &opts, err) == 0, "%s", err);
    ck_assert_str_eq(vw.version, V1);
    ck_assert(access(vw.staging, F_OK) == 0);
    ck_assert_int_eq(rc_version_commit(&vw, NULL, err), RC_EINTERNAL); /* out of order ends it */
    rc_version_release(&vw);
    ck_assert(access(vw.staging, F_OK) != 0);

    ck_assert_int_eq(rc_version_begin(&vw, &opts, err), 0);
    ck_assert_int_eq(rc_version_reserve(&vw, 1 << 20, err), 0);
    unsigned char item[RC_ITEM_HEADER + 64];
    uint64_t keys[2] = {rc_key("a", 1), rc_key("b", 1)};
    const char *ids[2] = {"a", "b"};
    if (keys[0] > keys[1]) {
        uint64_t k = keys[0];
        keys[0] = keys[1];
        keys[1] = k;
        ids[0] = "b";
        ids[1] = "a";
    }
    for (int i = 0; i < 2; i++) {
        long n = rc_item_encode(item, sizeof(item), ids[i], 1, "c", 1, 1);
        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(rc_version_put(&vw, RC_DB_ITEMS, keys[i], item, (size_t)n, err), 0);
    }
    ck_assert_int_eq(rc_version_put(&vw, RC_DB_ITEMS, keys[0], item, 4, err), RC_ERANGE);
    ck_assert_int_eq(rc_version_finish(&vw, err), 0);
    ck_assert_uint_eq(vw.manifest.counts[RC_DB_ITEMS], 2);
    ck_assert_int_eq(vw.manifest.created_at, 1767225601);
    ck_assert_uint_gt(vw.data_bytes, 0);
    struct rc_manifest_eval eval = {.holdout = RC_HOLDOUT_SUMMARY, .k = 10, .hr = 0.25, .ndcg = 0.125};
    struct rc_manifest_info info = {.device = "test", .eval = &eval};
    ck_assert_int_eq(rc_version_commit(&vw, &info, err), 0);
    ck_assert_msg(rc_version_publish(&vw, RC_VERIFY_RECORDS, 1, 0, err) == 0, "%s", err);
    ck_assert(vw.flipped);
    ck_assert_str_eq(vw.published, dir);
    rc_version_release(&vw);

    struct rc_cache c;
    struct rc_verify v = {.level = RC_VERIFY_RECORDS, .expect = V1};
    ck_assert_msg(rc_version_check(&c, dir, &v, err) == 0, "%s", err);
    ck_assert_str_eq(v.version, V1);
    ck_assert_uint_eq(v.records[RC_DB_ITEMS], 2);
    ck_assert_uint_eq(v.bytes, vw.data_bytes);
    ck_assert_str_eq(rc_json_get_str(c.manifest.doc, "device"), "test");
    const struct rc_json *ev = rc_json_get(c.manifest.doc, "evaluation");
    double hr = 0, k = 0;
    ck_assert_int_eq(rc_json_get_num(ev, "hr", &hr), 0);
    ck_assert_int_eq(rc_json_get_num(ev, "k", &k), 0);
    ck_assert_double_eq(hr, 0.25);
    ck_assert_double_eq(k, 10);
    ck_assert_ptr_null(rc_json_get(ev, "users")); /* a summary only */
    rc_cache_close(&c);

    /* The same id again: refused, nothing changes. */
    ck_assert_int_eq(rc_version_begin(&vw, &opts, err), 0);
    ck_assert_str_eq(vw.version, V1 "-2"); /* a fresh id */
    rc_version_release(&vw);
    opts.version = "-x";
    ck_assert_int_eq(rc_version_begin(&vw, &opts, err), RC_EFORMAT);
    rc_version_release(&vw);
}
END_TEST

START_TEST(test_good_and_faults)
{
    int nall;
    write_v1(0);
    for (int level = RC_VERIFY_OPEN; level <= RC_VERIFY_RECORDS; level++)
        ck_assert_int_eq(check_both(dir, (enum rc_verify_level)level, V1, &nall), 0);
    /* The name: a fault at every level; all-faults goes on and finds nothing else. */
    ck_assert_int_eq(check_both(dir, RC_VERIFY_RECORDS, "20270101T000000Z", &nall), RC_EMANIFEST);
    ck_assert_int_eq(nall, 1);

    /* One flipped byte: FILES and up. */
    char path[PATH_MAX + 80];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    char b;
    ck_assert_int_eq(pread(fd, &b, 1, 100), 1);
    b ^= 0x01;
    ck_assert_int_eq(pwrite(fd, &b, 1, 100), 1);
    ck_assert_int_eq(check_both(dir, RC_VERIFY_FILES, V1, &nall), RC_ECHECKSUM);
    ck_assert_int_eq(check_both(dir, RC_VERIFY_RECORDS, "other", &nall), RC_EMANIFEST);
    ck_assert_int_eq(nall, 2); /* the name and the checksum */
    b ^= 0x01;
    ck_assert_int_eq(pwrite(fd, &b, 1, 100), 1);
    /* Truncated: every level (the size is checked before a byte is read). */
    ck_assert_int_eq(ftruncate(fd, 8192), 0);
    close(fd);
    refused_everywhere(RC_ETRUNC, "truncated");
}
END_TEST

START_TEST(test_bad_records)
{
    int nall;
    write_v1(1);
    ck_assert_int_eq(check_both(dir, RC_VERIFY_FILES, V1, &nall), 0); /* the files match the manifest */
    int rc = check_both(dir, RC_VERIFY_RECORDS, V1, &nall);
    ck_assert_int_eq(rc, RC_ECHECKSUM);
    ck_assert_int_eq(nall, 2); /* both bad product records */
    struct rc_verify v = {.level = RC_VERIFY_RECORDS, .all_faults = 1};
    ck_assert_int_eq(rc_version_check(NULL, dir, &v, NULL), RC_ECHECKSUM);
    ck_assert_uint_eq(v.bad, 2);
    ck_assert_uint_eq(v.records[RC_DB_PRODUCT], 2);
    ck_assert_uint_eq(v.records[RC_DB_SEGMENT], 1); /* the walk went on */
}
END_TEST

/* data.mdb replaced by a FIFO (fifo) or a link to /dev/zero, listed as the
 * 0 bytes they measure: refused before any open(2) that could block or any
 * read that would never end, at every level; err says what it is. */
static void unsafe_data(int fifo, const char *says)
{
    write_v1(0);
    char path[PATH_MAX + 80];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(fifo ? mkfifo(path, 0644) : symlink("/dev/zero", path), 0);
    relist(RC_DATA_NAME, 0, 0x2d06800538d394c2ull); /* XXH3-64 of nothing */
    refused_everywhere(RC_EFORMAT, says);
    char err[RC_ERRMSG_MAX];
    struct rc_cache c;
    ck_assert_int_eq(rc_version_open(&c, dir, RC_VERIFY_OPEN, err), RC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err, says));
}

START_TEST(test_fifo_data)
{
    unsafe_data(1, "a FIFO");
}
END_TEST

START_TEST(test_device_link)
{
    unsafe_data(0, "a symlink");
}
END_TEST

/* A listed file that links out of the version, with the right size and
 * hash: refused; and a version directory that is itself a symlink. */
START_TEST(test_symlink_out)
{
    write_v1(0);
    char outside[PATH_MAX + 16], path[PATH_MAX + 80], err[RC_ERRMSG_MAX];
    snprintf(outside, sizeof(outside), "%s/secret", root);
    ck_assert_int_eq(rc_write_file_atomic(outside, "secret\n", 7), 0);
    uint64_t bytes, hash;
    ck_assert_int_eq(rc_file_xxh3(outside, &bytes, &hash), 0);
    snprintf(path, sizeof(path), "%s/notes", dir);
    ck_assert_int_eq(symlink(outside, path), 0);
    relist("notes", bytes, hash);
    int nall;
    ck_assert_int_eq(check_both(dir, RC_VERIFY_FILES, V1, &nall), RC_EFORMAT);
    ck_assert_int_eq(nall, 1);
    ck_assert_int_eq(check_both(dir, RC_VERIFY_RECORDS, V1, &nall), RC_EFORMAT);
    ck_assert_int_eq(rc_version_check_files(dir, &(struct rc_manifest){.nfiles = 1, .files = {{"notes", 7, 0}}}, err),
                     RC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err, "symlink"));

    /* versions/<id> -> a directory elsewhere. */
    char real[PATH_MAX + 16], link[PATH_MAX + 64];
    ck_assert_int_eq(unlink(path), 0);
    relist("notes", 7, hash);
    ck_assert_int_eq(rc_write_file_atomic(path, "secret\n", 7), 0);
    ck_assert_int_eq(check_both(dir, RC_VERIFY_RECORDS, V1, &nall), 0);
    snprintf(real, sizeof(real), "%s/elsewhere", root);
    ck_assert_int_eq(rename(dir, real), 0);
    snprintf(link, sizeof(link), "%s/versions/%s", root, V1);
    ck_assert_int_eq(symlink(real, link), 0);
    ck_assert_int_eq(check_both(link, RC_VERIFY_OPEN, V1, &nall), RC_EFORMAT);
}
END_TEST

/* Publishing a staging dir holding a FIFO: refused, never opened for sync. */
START_TEST(test_publish_refuses_fifo)
{
    char staging[PATH_MAX], path[PATH_MAX + 16], err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rc_layout_staging_create(root, V1, staging, sizeof(staging), err), 0);
    snprintf(path, sizeof(path), "%s/pipe", staging);
    ck_assert_int_eq(mkfifo(path, 0644), 0);
    double t0 = now_s();
    ck_assert_int_eq(rc_layout_publish(root, staging, V1, err), RC_EFORMAT);
    ck_assert(now_s() - t0 < 1.0);
    ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
}
END_TEST

static Suite *version_suite(void)
{
    Suite *s = suite_create("version");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_good_and_faults);
    tcase_add_test(tc, test_bad_records);
    tcase_add_test(tc, test_fifo_data);
    tcase_add_test(tc, test_device_link);
    tcase_add_test(tc, test_symlink_out);
    tcase_add_test(tc, test_publish_refuses_fifo);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(version_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
