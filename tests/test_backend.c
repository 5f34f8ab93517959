/*
 * test_backend.c - builder/backend.c: the CPU table is the CPU stages
 * themselves, and the GPU table is handed out only when a device answers
 * (without one, or without CUDA in the build: RC_ENOGPU, a reason, and the
 * caller's choice left as it was). Runs with or without a GPU.
 */
#include "backend.h"

#include <check.h>
#include <string.h>

#include "error.h"

START_TEST(test_cpu_table)
{
    ck_assert_str_eq(rb_backend_cpu.name, "cpu");
    ck_assert(rb_backend_cpu.als_train == rb_als_train_cpu);
    ck_assert(rb_backend_cpu.score_cf == rb_score_cf_all);
    ck_assert(rb_backend_cpu.knn_image == rb_knn_image);
}
END_TEST

START_TEST(test_gpu_open)
{
    const struct rb_backend *b = &rb_backend_cpu;
    char err[RC_ERRMSG_MAX] = "";
    int rc = rb_backend_gpu_open(&b, err);
    if (rc == 0) {
        ck_assert_str_eq(b->name, "gpu");
        ck_assert(b->als_train && b->score_cf && b->knn_image);
        return;
    }
    ck_assert_int_eq(rc, RC_ENOGPU);
    ck_assert_ptr_eq(b, &rb_backend_cpu);
    ck_assert_msg(err[0] != '\0', "no reason given");
#ifndef RB_HAVE_CUDA
    ck_assert_str_eq(err, "this recbuild was built without CUDA");
#endif
}
END_TEST

static Suite *backend_suite(void)
{
    Suite *s = suite_create("backend");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_cpu_table);
    tcase_add_test(tc, test_gpu_open);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(backend_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
