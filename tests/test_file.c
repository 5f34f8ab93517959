/*
 * test_file.c - shared/file.c: mkdir -p, files that appear under their
 * name only complete (committed, aborted, failing to write), and small
 * files read whole, on real directories.
 *
 * Each test works in its own directory under $EDGEREC_TEST_TMP (or /tmp)
 * and removes it at the end.
 */
#include "error.h"
#include "file.h"
#include "scratch.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[PATH_MAX];

static void setup(void)
{
    scratch_make(dir, sizeof(dir), "file");
}

static void teardown(void)
{
    scratch_remove(dir);
}

/* The whole content of path, NUL-terminated, into buf. */
static void read_all(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = 0;
    fclose(f);
}

/* Entries of d other than "." and "..": temporaries left show here. */
static int entries(const char *d)
{
    DIR *dh = opendir(d);
    ck_assert_ptr_nonnull(dh);
    int n = 0;
    for (struct dirent *e; (e = readdir(dh)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(dh);
    return n;
}

START_TEST(test_mkdir_p)
{
    char path[PATH_MAX + 32], file[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/a/b/c", dir);
    ck_assert_int_eq(rc_mkdir_p(path), 0);
    ck_assert_int_eq(rc_mkdir_p(path), 0); /* already there */
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert(S_ISDIR(sb.st_mode));
    snprintf(path, sizeof(path), "%s/a/b/d/", dir); /* a trailing slash */
    ck_assert_int_eq(rc_mkdir_p(path), 0);

    snprintf(file, sizeof(file), "%s/plain", dir);
    ck_assert_int_eq(rc_write_file_atomic(file, "x", 1), 0);
    ck_assert_int_eq(rc_mkdir_p(file), -ENOTDIR);
    snprintf(path, sizeof(path), "%s/plain/sub", dir);
    ck_assert_int_eq(rc_mkdir_p(path), -ENOTDIR);
}
END_TEST

/* Nothing under the name before commit; the content, and no temporary,
 * after. */
START_TEST(test_commit)
{
    char path[PATH_MAX + 32], buf[64];
    snprintf(path, sizeof(path), "%s/out.csv", dir);
    for (unsigned flags = 0; flags <= RC_FILE_DURABLE; flags++) {
        struct rc_file f;
        char err[RC_ERRMSG_MAX] = "";
        ck_assert_int_eq(rc_file_open(&f, path, flags, err), 0);
        ck_assert_int_eq(rc_file_write(&f, "a,b\n", 4, err), 0);
        ck_assert_int_eq(rc_file_write(&f, flags ? "2\n" : "1\n", 2, err), 0);
        if (flags == 0)
            ck_assert_int_ne(access(path, F_OK), 0);
        ck_assert_int_eq(rc_file_commit(&f, err), 0);
        read_all(path, buf, sizeof(buf));
        ck_assert_str_eq(buf, flags ? "a,b\n2\n" : "a,b\n1\n");
        ck_assert_int_eq(entries(dir), 1);
        rc_file_abort(&f); /* harmless once committed */
        ck_assert_int_eq(entries(dir), 1);
    }
}
END_TEST

/* An aborted file leaves the old one as it was and no temporary. */
START_TEST(test_abort_keeps_old)
{
    char path[PATH_MAX + 32], buf[64];
    snprintf(path, sizeof(path), "%s/keep.txt", dir);
    ck_assert_int_eq(rc_write_file_atomic(path, "old", 3), 0);
    struct rc_file f;
    ck_assert_int_eq(rc_file_open(&f, path, 0, NULL), 0);
    ck_assert_int_eq(rc_file_write(&f, "new", 3, NULL), 0);
    ck_assert_int_eq(entries(dir), 2);
    rc_file_abort(&f);
    rc_file_abort(&f);
    read_all(path, buf, sizeof(buf));
    ck_assert_str_eq(buf, "old");
    ck_assert_int_eq(entries(dir), 1);
}
END_TEST

/* Failures name the file and say why; an open failure leaves f safe to
 * abort. */
START_TEST(test_errors_name_file)
{
    char path[PATH_MAX + 32], tmp[PATH_MAX + 64];
    char err[RC_ERRMSG_MAX] = "";
    struct rc_file f;
    snprintf(path, sizeof(path), "%s/missing/x.csv", dir);
    ck_assert_int_eq(rc_file_open(&f, path, 0, err), -ENOENT);
    ck_assert_msg(strstr(err, "x.csv") && strstr(err, strerror(ENOENT)), "message: '%s'", err);
    rc_file_abort(&f);

    if (access("/dev/full", W_OK) != 0)
        return; /* nothing to provoke ENOSPC with */
    snprintf(path, sizeof(path), "%s/full.csv", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    ck_assert_int_eq(symlink("/dev/full", tmp), 0);
    ck_assert_int_eq(rc_file_open(&f, path, 0, err), 0);
    ck_assert_int_eq(rc_file_write(&f, "x", 1, err), -ENOSPC);
    ck_assert_msg(strstr(err, path) && strstr(err, strerror(ENOSPC)), "message: '%s'", err);
    rc_file_abort(&f);
    ck_assert_int_ne(access(tmp, F_OK), 0);
    ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

/* A small file whole; what is refused, without blocking on a FIFO. */
START_TEST(test_read_small)
{
    char path[PATH_MAX + 32], err[RC_ERRMSG_MAX] = "";
    char *buf = (char *)1;
    size_t len = 7;
    snprintf(path, sizeof(path), "%s/r.json", dir);
    ck_assert_int_eq(rc_write_file_atomic(path, "{\"a\":1}", 7), 0);
    ck_assert_int_eq(rc_read_small_file(path, 7, "a test file", &buf, &len, err), 0);
    ck_assert_uint_eq(len, 7);
    ck_assert_str_eq(buf, "{\"a\":1}"); /* NUL after the bytes */
    free(buf);
    /* one byte over */
    ck_assert_int_eq(rc_read_small_file(path, 6, "a test file", &buf, &len, err), RC_ETOOLONG);
    ck_assert_ptr_null(buf);
    ck_assert_msg(strstr(err, "is 7 bytes, more than the 6 a test file may take"), "message: '%s'", err);
    /* an empty file is read, as 0 bytes */
    snprintf(path, sizeof(path), "%s/empty", dir);
    ck_assert_int_eq(rc_write_file_atomic(path, "", 0), 0);
    ck_assert_int_eq(rc_read_small_file(path, 10, "a test file", &buf, &len, err), 0);
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(buf, "");
    free(buf);
    /* a FIFO nobody writes: refused at once */
    snprintf(path, sizeof(path), "%s/fifo", dir);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    ck_assert_int_eq(rc_read_small_file(path, 10, "a test file", &buf, &len, err), RC_EFORMAT);
    ck_assert_msg(strstr(err, "is not a regular file"), "message: '%s'", err);
    ck_assert_ptr_null(buf);
    /* a directory, and nothing */
    ck_assert_int_eq(rc_read_small_file(dir, 10, "a test file", &buf, &len, err), RC_EFORMAT);
    snprintf(path, sizeof(path), "%s/missing", dir);
    ck_assert_int_eq(rc_read_small_file(path, 10, "a test file", &buf, &len, err), -ENOENT);
    ck_assert_msg(strstr(err, "missing"), "message: '%s'", err);
}
END_TEST

static Suite *file_suite(void)
{
    Suite *s = suite_create("file");
    TCase *tc = tcase_create("file");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_mkdir_p);
    tcase_add_test(tc, test_commit);
    tcase_add_test(tc, test_abort_keeps_old);
    tcase_add_test(tc, test_errors_name_file);
    tcase_add_test(tc, test_read_small);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(file_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
