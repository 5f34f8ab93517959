/*
 * scratch.h - a fresh directory per test case, for the Check suites.
 *
 * scratch_make creates <base>/<name>.XXXXXX, where base is
 * $EDGEREC_TEST_TMP (tests/CMakeLists.txt sets it inside the build tree;
 * created when missing) or /tmp; scratch_remove deletes it and everything
 * in it. Both fail the running test on error.
 */
#ifndef EDGEREC_TESTS_SCRATCH_H
#define EDGEREC_TESTS_SCRATCH_H

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "layout.h"

static inline void scratch_make(char *dir, size_t cap, const char *name)
{
    const char *base = getenv("EDGEREC_TEST_TMP");
    if (!base || !*base)
        base = "/tmp";
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", base);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            (void)mkdir(buf, 0755);
            *p = '/';
        }
    (void)mkdir(buf, 0755);
    ck_assert_int_lt(snprintf(dir, cap, "%s/%s.XXXXXX", base, name), (int)cap);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static inline void scratch_remove(const char *dir)
{
    ck_assert_int_eq(rc_remove_tree(dir), 0);
}

#endif
