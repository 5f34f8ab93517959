/*
 * test_error.c - shared/error.c: one text for every code (ours, LMDB's,
 * -errno) and rc_fail()'s message buffer.
 *
 * The pattern every suite follows: one Suite builder named after the
 * module, a main that runs it with CK_ENV verbosity (tests/CMakeLists.txt
 * sets CK_VERBOSITY=normal, so ctest logs show the "Checks: N" summary) and
 * exits 0 only when nothing failed.
 */
#include "error.h"

#include <check.h>
#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_success)
{
    ck_assert_str_eq(rc_strerror(RC_OK), "success");
}
END_TEST

/* Every code we define has its own text, not the fallback. */
START_TEST(test_own_codes)
{
    for (int code = RC_EFORMAT; code <= RC_EMISMATCH; code++) {
        const char *msg = rc_strerror(code);
        ck_assert_ptr_nonnull(msg);
        ck_assert_msg(msg[0] != '\0', "empty text for %d", code);
        ck_assert_msg(strcmp(msg, "unknown edgerec error") != 0, "no text for %d", code);
        for (int other = RC_EFORMAT; other < code; other++)
            ck_assert_msg(strcmp(msg, rc_strerror(other)) != 0, "codes %d and %d share the text '%s'", other,
                          code, msg);
    }
    ck_assert_str_eq(rc_strerror(RC_ENOTFOUND), "not found");
    ck_assert_str_eq(rc_strerror(RC_EVERSION), "unsupported format version");
}
END_TEST

/* A code inside our reserved range that names nothing yet. */
START_TEST(test_own_range_unassigned)
{
    ck_assert_str_eq(rc_strerror(RC_ERR_LAST), "unknown edgerec error");
    ck_assert_str_eq(rc_strerror(RC_EMISMATCH + 1), "unknown edgerec error");
}
END_TEST

/* LMDB's codes read as mdb_strerror() has them. */
START_TEST(test_lmdb_codes)
{
    ck_assert_str_eq(rc_strerror(MDB_NOTFOUND), mdb_strerror(MDB_NOTFOUND));
    ck_assert_ptr_nonnull(strstr(rc_strerror(MDB_NOTFOUND), "MDB_NOTFOUND"));
    ck_assert_str_eq(rc_strerror(MDB_KEYEXIST), mdb_strerror(MDB_KEYEXIST));
    ck_assert_str_eq(rc_strerror(MDB_MAP_FULL), mdb_strerror(MDB_MAP_FULL));
    ck_assert_str_eq(rc_strerror(MDB_LAST_ERRCODE), mdb_strerror(MDB_LAST_ERRCODE));
}
END_TEST

/* -errno reads as strerror(errno). */
START_TEST(test_errno_codes)
{
    char want[256];
    strncpy(want, strerror(ENOENT), sizeof(want) - 1);
    want[sizeof(want) - 1] = '\0';
    ck_assert_str_eq(rc_strerror(-ENOENT), want);
    strncpy(want, strerror(ENOSPC), sizeof(want) - 1);
    ck_assert_str_eq(rc_strerror(-ENOSPC), want);
}
END_TEST

/* LMDB returns system errors as positive errno values; they are explained
 * as errno, and rc_lmdb() turns them into our -errno convention. */
START_TEST(test_positive_errno)
{
    ck_assert_str_eq(rc_strerror(ENOENT), strerror(ENOENT));
    ck_assert_str_eq(rc_strerror(-ENOSPC), strerror(ENOSPC));
    ck_assert_int_eq(rc_lmdb(ENOENT), -ENOENT);
    ck_assert_int_eq(rc_lmdb(0), 0);
    ck_assert_int_eq(rc_lmdb(MDB_NOTFOUND), MDB_NOTFOUND);
}
END_TEST

/* "Never NULL" holds across our range, LMDB's and errno's neighbours. */
START_TEST(test_never_null)
{
    for (int code = RC_ERR_FIRST - 50; code <= 50; code++)
        ck_assert_msg(rc_strerror(code) != NULL, "NULL text for %d", code);
}
END_TEST

START_TEST(test_fail_writes_message)
{
    char err[RC_ERRMSG_MAX];
    memset(err, 'x', sizeof(err));
    int rc = rc_fail(err, RC_ETRUNC, "unable to read '%s': %d bytes short", "events.csv", 12);
    ck_assert_int_eq(rc, RC_ETRUNC);
    ck_assert_str_eq(err, "unable to read 'events.csv': 12 bytes short");

    rc = rc_fail(err, -ENOENT, "unable to open '%s'", "emb.npy");
    ck_assert_int_eq(rc, -ENOENT);
    ck_assert_str_eq(err, "unable to open 'emb.npy'");
}
END_TEST

START_TEST(test_fail_null_err)
{
    ck_assert_int_eq(rc_fail(NULL, RC_EMAGIC, "list record magic is not '%s'", "ERLS"), RC_EMAGIC);
    ck_assert_int_eq(rc_fail(NULL, MDB_NOTFOUND, "no key"), MDB_NOTFOUND);
}
END_TEST

/* A message longer than the buffer is cut and stays NUL-terminated. */
START_TEST(test_fail_truncates)
{
    char *err = malloc(RC_ERRMSG_MAX + 16);
    ck_assert_ptr_nonnull(err);
    memset(err, 'x', RC_ERRMSG_MAX + 16);
    char *big = malloc(2 * RC_ERRMSG_MAX);
    ck_assert_ptr_nonnull(big);
    memset(big, 'a', 2 * RC_ERRMSG_MAX - 1);
    big[2 * RC_ERRMSG_MAX - 1] = '\0';

    ck_assert_int_eq(rc_fail(err, RC_ETOOLONG, "id '%s'", big), RC_ETOOLONG);
    ck_assert_uint_eq(strlen(err), RC_ERRMSG_MAX - 1);
    ck_assert_int_eq(err[RC_ERRMSG_MAX], 'x'); /* nothing written past the buffer */
    free(big);
    free(err);
}
END_TEST

static Suite *error_suite(void)
{
    Suite *s = suite_create("error");

    TCase *tc = tcase_create("strerror");
    tcase_add_test(tc, test_success);
    tcase_add_test(tc, test_own_codes);
    tcase_add_test(tc, test_own_range_unassigned);
    tcase_add_test(tc, test_lmdb_codes);
    tcase_add_test(tc, test_errno_codes);
    tcase_add_test(tc, test_positive_errno);
    tcase_add_test(tc, test_never_null);
    suite_add_tcase(s, tc);

    tc = tcase_create("fail");
    tcase_add_test(tc, test_fail_writes_message);
    tcase_add_test(tc, test_fail_null_err);
    tcase_add_test(tc, test_fail_truncates);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(error_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
