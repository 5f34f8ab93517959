/*
 * test_layout.c - shared/layout.c: version ids, the staging -> versions ->
 * current life cycle, listing order, pruning, stale staging clean-up and
 * atomic file writes, on real directories.
 *
 * Each test works in its own directory under $EDGEREC_TEST_TMP (or /tmp)
 * and removes it at the end.
 */
#include "error.h"
#include "layout.h"
#include "scratch.h"
#include "version.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char root[PATH_MAX];

static void mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            (void)mkdir(buf, 0755);
            *p = '/';
        }
    (void)mkdir(buf, 0755);
}

static void setup(void)
{
    scratch_make(root, sizeof(root), "test_layout");
}

static void teardown(void)
{
    scratch_remove(root);
}

static int exists(const char *fmt, const char *arg)
{
    char path[PATH_MAX], rel[PATH_MAX];
    struct stat st;
    snprintf(rel, sizeof(rel), fmt, arg);
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    return lstat(path, &st) == 0;
}

static void make_version(const char *v)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/versions/%s", root, v);
    mkdir_p(path);
}

/* A version edgerec would write: data.mdb and a manifest naming v. */
static void make_owned_version(const char *v)
{
    char dir[PATH_MAX], path[PATH_MAX + 16], err[RC_ERRMSG_MAX];
    snprintf(dir, sizeof(dir), "%s/versions/%s", root, v);
    mkdir_p(dir);
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    ck_assert_int_eq(rc_write_file_atomic(path, "payload", 7), 0);
    struct rc_manifest m = {0};
    snprintf(m.version, sizeof(m.version), "%s", v);
    ck_assert_int_eq(rc_manifest_add_file(&m, dir, "data.mdb", err), 0);
    ck_assert_msg(rc_manifest_write(dir, &m, NULL, err) == 0, "%s", err);
}

/* Entries of dir whose name contains `part`. */
static int count_entries(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strstr(de->d_name, part))
            n++;
    closedir(d);
    return n;
}

START_TEST(test_version_valid)
{
    const char *good[] = {"20261122T173000Z", "20261122T173000Z-2", "a", "A-b_c.d", "v1.2.3", "x-", "0"};
    /* An id starting with '-' would read as an option to recctl (--help). */
    const char *bad[] = {"", ".hidden", ".", "..", "a/b", "/a", "a b", "a\n", "caf\xc3\xa9", "a:b", "a*", "a\\b",
                         "-x", "--help", "-", "--"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_msg(rc_version_valid(good[i]) == 1, "'%s' refused", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(rc_version_valid(bad[i]) == 0, "'%s' accepted", bad[i]);
    char v[RC_VERSION_MAX + 1];
    memset(v, 'x', sizeof(v));
    v[RC_VERSION_MAX - 1] = 0; /* 63 bytes */
    ck_assert_int_eq(rc_version_valid(v), 1);
    v[RC_VERSION_MAX - 1] = 'x';
    v[RC_VERSION_MAX] = 0; /* 64 bytes */
    ck_assert_int_eq(rc_version_valid(v), 0);
}
END_TEST

START_TEST(test_new_version)
{
    char v[RC_VERSION_MAX], err[RC_ERRMSG_MAX];
    time_t t = 1795455000; /* 2026-11-23T17:30:00Z */
    ck_assert_int_eq(rc_layout_init(root, err), 0);
    ck_assert_int_eq(rc_layout_new_version(root, t, v, err), 0);
    ck_assert_str_eq(v, "20261123T173000Z");
    make_version(v);
    ck_assert_int_eq(rc_layout_new_version(root, t, v, err), 0);
    ck_assert_str_eq(v, "20261123T173000Z-2");
    make_version(v);
    ck_assert_int_eq(rc_layout_new_version(root, t, v, err), 0);
    ck_assert_str_eq(v, "20261123T173000Z-3");
    /* A file of that name takes the id as well. */
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/versions/%s", root, v);
    ck_assert_int_eq(rc_write_file_atomic(path, "x", 1), 0);
    ck_assert_int_eq(rc_layout_new_version(root, t, v, err), 0);
    ck_assert_str_eq(v, "20261123T173000Z-4");
    ck_assert_int_eq(rc_layout_new_version(root, t + 1, v, err), 0);
    ck_assert_str_eq(v, "20261123T173001Z");
    ck_assert_int_eq(rc_version_valid(v), 1);
}
END_TEST

START_TEST(test_stage_publish_flip)
{
    char staging[PATH_MAX], err[RC_ERRMSG_MAX], cur[RC_VERSION_MAX], path[PATH_MAX];
    ck_assert_int_eq(rc_layout_current(root, cur, err), RC_ENOTFOUND);

    ck_assert_int_eq(rc_layout_staging_create(root, "v1", staging, sizeof(staging), err), 0);
    char want[PATH_MAX];
    snprintf(want, sizeof(want), "%s/.staging/v1.%ld", root, (long)getpid());
    ck_assert_str_eq(staging, want);
    struct stat st;
    ck_assert_int_eq(stat(staging, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert(exists("versions", NULL));
    snprintf(path, sizeof(path), "%s/data.mdb", staging);
    ck_assert_int_eq(rc_write_file_atomic(path, "payload", 7), 0);

    ck_assert_int_eq(rc_layout_publish(root, staging, "v1", err), 0);
    ck_assert_int_ne(stat(staging, &st), 0);
    ck_assert(exists("versions/%s/data.mdb", "v1"));
    ck_assert(!exists("current", NULL)); /* publish does not flip */

    /* A second build of the same id is refused and its staging kept. */
    ck_assert_int_eq(rc_layout_staging_create(root, "v1", staging, sizeof(staging), err), 0);
    ck_assert_int_eq(rc_layout_publish(root, staging, "v1", err), -EEXIST);
    ck_assert_ptr_nonnull(strstr(err, "v1"));
    ck_assert_int_eq(stat(staging, &st), 0);
    ck_assert_int_eq(rc_layout_publish(root, staging, "../evil", err), RC_EFORMAT);
    ck_assert_int_eq(rc_layout_publish(root, staging, "v2", err), 0);

    ck_assert_int_eq(rc_layout_flip(root, "v1", err), 0);
    ck_assert_int_eq(rc_layout_current(root, cur, err), 0);
    ck_assert_str_eq(cur, "v1");
    /* current is a relative symlink into versions/. */
    char target[PATH_MAX];
    snprintf(path, sizeof(path), "%s/current", root);
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    ck_assert_int_gt(n, 0);
    target[n] = 0;
    ck_assert_str_eq(target, "versions/v1");
    snprintf(path, sizeof(path), "%s/current/data.mdb", root);
    ck_assert_int_eq(stat(path, &st), 0);

    ck_assert_int_eq(rc_layout_flip(root, "v2", err), 0);
    ck_assert_int_eq(rc_layout_current(root, cur, err), 0);
    ck_assert_str_eq(cur, "v2");

    /* Flipping to a missing or invalid version leaves current alone. */
    ck_assert_int_eq(rc_layout_flip(root, "v9", err), RC_ENOTFOUND);
    ck_assert_int_eq(rc_layout_flip(root, "../versions/v1", err), RC_EFORMAT);
    ck_assert_int_eq(rc_layout_current(root, cur, err), 0);
    ck_assert_str_eq(cur, "v2");
    /* A plain file under versions/ is not a version to flip to. */
    snprintf(path, sizeof(path), "%s/versions/file", root);
    ck_assert_int_eq(rc_write_file_atomic(path, "x", 1), 0);
    ck_assert_int_eq(rc_layout_flip(root, "file", err), RC_ENOTFOUND);
    ck_assert_int_eq(rc_layout_current(root, cur, err), 0);
    ck_assert_str_eq(cur, "v2");
    /* No temporary link left behind. */
    ck_assert_int_eq(count_entries(root, "tmp"), 0);
}
END_TEST

START_TEST(test_current_bad_target)
{
    char cur[RC_VERSION_MAX], path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/current", root);
    ck_assert_int_eq(symlink("versions/.hidden", path), 0);
    ck_assert_int_eq(rc_layout_current(root, cur, NULL), RC_EFORMAT);
}
END_TEST

START_TEST(test_list_order)
{
    char (*v)[RC_VERSION_MAX] = NULL;
    size_t n = 99;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rc_layout_list(root, &v, &n, err), 0); /* no versions/ yet */
    ck_assert_uint_eq(n, 0);
    free(v);
    const char *made[] = {"20261122T173000Z-10", "20261122T173001Z", "20261122T173000Z", "20261121T235959Z",
                          "20261122T173000Z-2", "20261122T173000Z-3", ".hidden"};
    for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++)
        make_version(made[i]);
    ck_assert_int_eq(rc_layout_list(root, &v, &n, err), 0);
    const char *want[] = {"20261121T235959Z", "20261122T173000Z", "20261122T173000Z-2", "20261122T173000Z-3",
                          "20261122T173000Z-10", "20261122T173001Z"};
    ck_assert_uint_eq(n, 6);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(strcmp(v[i], want[i]) == 0, "position %zu: %s, want %s", i, v[i], want[i]);
    free(v);

    /* More than the initial allocation. */
    for (int i = 0; i < 40; i++) {
        char id[RC_VERSION_MAX];
        snprintf(id, sizeof(id), "20250101T0000%02dZ", i);
        make_version(id);
    }
    ck_assert_int_eq(rc_layout_list(root, &v, &n, err), 0);
    ck_assert_uint_eq(n, 46);
    ck_assert_str_eq(v[0], "20250101T000000Z");
    ck_assert_str_eq(v[39], "20250101T000039Z");
    ck_assert_str_eq(v[45], "20261122T173001Z");
    free(v);
}
END_TEST

START_TEST(test_prune)
{
    char err[RC_ERRMSG_MAX];
    const char *ids[] = {"20261101T000000Z", "20261102T000000Z", "20261103T000000Z", "20261103T000000Z-2",
                         "20261104T000000Z"};
    for (int i = 0; i < 5; i++)
        make_owned_version(ids[i]);
    /* Not a marked root: nothing is removed. */
    ck_assert_int_eq(rc_layout_prune(root, 1, err), RC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err, "not an edgerec cache root"));
    for (int i = 0; i < 5; i++)
        ck_assert(exists("versions/%s", ids[i]));
    ck_assert_int_eq(rc_layout_init(root, err), 0);
    ck_assert(exists(RC_ROOT_MARKER, NULL));
    ck_assert_int_eq(rc_layout_check_root(root, err), 0);

    ck_assert_int_eq(rc_layout_prune(root, 10, err), 0);
    ck_assert_int_eq(rc_layout_flip(root, ids[1], err), 0);
    /* Keep the newest 2: removes [0] and [2], never current [1]. */
    ck_assert_int_eq(rc_layout_prune(root, 2, err), 2);
    ck_assert(!exists("versions/%s", ids[0]));
    ck_assert(exists("versions/%s", ids[1]));
    ck_assert(!exists("versions/%s", ids[2]));
    ck_assert(exists("versions/%s", ids[3]));
    ck_assert(exists("versions/%s", ids[4]));
    /* Keep 0: everything but current goes. */
    ck_assert_int_eq(rc_layout_prune(root, 0, err), 2);
    char (*v)[RC_VERSION_MAX];
    size_t n;
    ck_assert_int_eq(rc_layout_list(root, &v, &n, err), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(v[0], ids[1]);
    free(v);
    char cur[RC_VERSION_MAX];
    ck_assert_int_eq(rc_layout_current(root, cur, err), 0);
    ck_assert_str_eq(cur, ids[1]);
}
END_TEST

/* Prune removes only what is provably edgerec's. */
START_TEST(test_prune_only_ours)
{
    char err[RC_ERRMSG_MAX], path[PATH_MAX + 64], outside[PATH_MAX + 64];
    ck_assert_int_eq(rc_layout_init(root, err), 0);
    /* Another application's directory that looks like a version: no manifest. */
    make_version("20261101T000000Z");
    snprintf(path, sizeof(path), "%s/versions/20261101T000000Z/precious", root);
    ck_assert_int_eq(rc_write_file_atomic(path, "x", 1), 0);
    make_owned_version("20261102T000000Z");
    make_owned_version("20261103T000000Z");
    ck_assert_int_eq(rc_layout_prune(root, 1, err), RC_EMANIFEST);
    ck_assert(exists("versions/%s/precious", "20261101T000000Z"));

    /* A manifest naming another version: left too. */
    ck_assert_int_eq(rc_remove_tree(path), 0);
    snprintf(path, sizeof(path), "%s/versions/20261101T000000Z", root);
    ck_assert_int_eq(rc_remove_tree(path), 0);
    make_owned_version("20261101T000000Z");
    snprintf(path, sizeof(path), "%s/versions/20261102T000000Z/manifest.json", root);
    snprintf(outside, sizeof(outside), "%s/versions/20261101T000000Z/manifest.json", root);
    ck_assert_int_eq(rename(outside, path), 0); /* 02 now holds 01's manifest */
    ck_assert_int_eq(rc_version_remove(root, "20261102T000000Z", err), RC_EMANIFEST);
    ck_assert(exists("versions/%s/data.mdb", "20261102T000000Z"));

    /* A listed file that is a symlink goes; what it points at stays. A file
     * the manifest does not list stays, and so does the directory. */
    make_owned_version("20261104T000000Z");
    snprintf(outside, sizeof(outside), "%s/outside", root);
    ck_assert_int_eq(rc_write_file_atomic(outside, "keep", 4), 0);
    snprintf(path, sizeof(path), "%s/versions/20261104T000000Z/data.mdb", root);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(symlink(outside, path), 0);
    snprintf(path, sizeof(path), "%s/versions/20261104T000000Z/unlisted", root);
    ck_assert_int_eq(rc_write_file_atomic(path, "u", 1), 0);
    ck_assert_int_eq(rc_version_remove(root, "20261104T000000Z", err), -ENOTEMPTY);
    ck_assert(exists("outside", NULL));
    ck_assert(exists("versions/%s/unlisted", "20261104T000000Z"));
    ck_assert(!exists("versions/%s/data.mdb", "20261104T000000Z"));
    ck_assert(!exists("versions/%s/manifest.json", "20261104T000000Z"));

    /* A whole version removed. */
    ck_assert_int_eq(rc_version_remove(root, "20261103T000000Z", err), 0);
    ck_assert(!exists("versions/%s", "20261103T000000Z"));
    ck_assert_int_eq(rc_version_remove(root, "-x", err), RC_EFORMAT);
}
END_TEST

START_TEST(test_clean_staging)
{
    char err[RC_ERRMSG_MAX], path[PATH_MAX];
    /* A root without the marker: its .staging is left alone. */
    snprintf(path, sizeof(path), "%s/.staging/v0.2147483646", root);
    mkdir_p(path);
    ck_assert_int_eq(rc_layout_clean_staging(root, err), RC_EFORMAT);
    ck_assert(exists(".staging/%s", "v0.2147483646"));
    ck_assert_int_eq(rc_layout_init(root, err), 0);
    /* A pid that existed and is gone: a child we reaped. */
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0)
        _exit(0);
    ck_assert_int_eq(waitpid(child, NULL, 0), child);
    char dead[64], live[64], foreign[64];
    snprintf(dead, sizeof(dead), "v1.%ld", (long)child);
    snprintf(live, sizeof(live), "v2.%ld", (long)getpid());
    snprintf(foreign, sizeof(foreign), "v5.%ld", (long)child);
    snprintf(path, sizeof(path), "%s/.staging/%s/build.mdb", root, dead);
    mkdir_p(path);
    ck_assert_int_eq(rmdir(path), 0);
    ck_assert_int_eq(rc_write_file_atomic(path, "x", 1), 0);
    snprintf(path, sizeof(path), "%s/.staging/%s/data.mdb", root, dead);
    ck_assert_int_eq(rc_write_file_atomic(path, "x", 1), 0);
    snprintf(path, sizeof(path), "%s/.staging/%s", root, live);
    mkdir_p(path);
    /* A dead one holding something no writer makes: left as it is. */
    snprintf(path, sizeof(path), "%s/.staging/%s/sub/f", root, foreign);
    mkdir_p(path);
    ck_assert_int_eq(rc_layout_clean_staging(root, err), 2); /* dead and v0 */
    ck_assert(!exists(".staging/%s", dead));
    ck_assert(!exists(".staging/%s", "v0.2147483646"));
    ck_assert(exists(".staging/%s", live));
    ck_assert(exists(".staging/%s/sub/f", foreign));
    ck_assert_int_eq(rc_layout_clean_staging(root, err), 0);
    snprintf(path, sizeof(path), "%s/.staging/%s", root, foreign);
    ck_assert_int_eq(rc_remove_tree(path), 0);

    /* staging_create cleans too, and keeps the caller's own. */
    snprintf(path, sizeof(path), "%s/.staging/v3.%ld", root, (long)child);
    mkdir_p(path);
    char staging[PATH_MAX];
    ck_assert_int_eq(rc_layout_staging_create(root, "v4", staging, sizeof(staging), err), 0);
    char v3[64];
    snprintf(v3, sizeof(v3), "v3.%ld", (long)child);
    ck_assert(!exists(".staging/%s", v3));
    ck_assert_int_eq(count_entries(staging, ""), 0);
    snprintf(path, sizeof(path), "%s/.staging", root);
    ck_assert_int_eq(count_entries(path, ""), 2); /* v2.<pid> and v4.<pid> */

    /* No .staging at all is not an error. */
    ck_assert_int_eq(rc_layout_clean_staging("/nonexistent-edgerec-root", err), 0);
}
END_TEST

START_TEST(test_write_file_atomic)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/file.json", root);
    ck_assert_int_eq(rc_write_file_atomic(path, "first version", 13), 0);
    ck_assert_int_eq(rc_write_file_atomic(path, "second", 6), 0);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char buf[64];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    ck_assert_uint_eq(n, 6);
    ck_assert_mem_eq(buf, "second", 6);
    ck_assert_int_eq(rc_write_file_atomic(path, "", 0), 0);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, 0);
    ck_assert_int_eq(count_entries(root, ".tmp"), 0);
    ck_assert_int_eq(count_entries(root, ""), 1);

    /* A missing directory fails cleanly. */
    snprintf(path, sizeof(path), "%s/missing/file", root);
    ck_assert_int_eq(rc_write_file_atomic(path, "x", 1), -ENOENT);
    /* A directory in the way: rename fails, the temporary file is removed. */
    snprintf(path, sizeof(path), "%s/adir", root);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/adir/inner", root);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/adir", root);
    ck_assert_int_lt(rc_write_file_atomic(path, "x", 1), 0);
    ck_assert_int_eq(count_entries(root, ".tmp"), 0);
}
END_TEST

/* rc_remove_tree removes a symlink, never what it points at. */
START_TEST(test_remove_tree)
{
    char keep[PATH_MAX], tree[PATH_MAX], path[PATH_MAX];
    snprintf(keep, sizeof(keep), "%s/keep", root);
    mkdir_p(keep);
    snprintf(path, sizeof(path), "%s/keep/precious", root);
    ck_assert_int_eq(rc_write_file_atomic(path, "x", 1), 0);
    snprintf(tree, sizeof(tree), "%s/tree/a/b", root);
    mkdir_p(tree);
    snprintf(path, sizeof(path), "%s/tree/a/b/f", root);
    ck_assert_int_eq(rc_write_file_atomic(path, "x", 1), 0);
    snprintf(path, sizeof(path), "%s/tree/a/link", root);
    ck_assert_int_eq(symlink(keep, path), 0);
    snprintf(tree, sizeof(tree), "%s/tree", root);
    ck_assert_int_eq(rc_remove_tree(tree), 0);
    ck_assert(!exists("tree", NULL));
    ck_assert(exists("keep/precious", NULL));
    ck_assert_int_eq(rc_remove_tree(tree), 0); /* already gone */
}
END_TEST

static Suite *layout_suite(void)
{
    Suite *s = suite_create("layout");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_version_valid);
    tcase_add_test(tc, test_new_version);
    tcase_add_test(tc, test_stage_publish_flip);
    tcase_add_test(tc, test_current_bad_target);
    tcase_add_test(tc, test_list_order);
    tcase_add_test(tc, test_prune);
    tcase_add_test(tc, test_prune_only_ours);
    tcase_add_test(tc, test_clean_staging);
    tcase_add_test(tc, test_write_file_atomic);
    tcase_add_test(tc, test_remove_tree);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(layout_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
