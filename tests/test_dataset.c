/*
 * test_dataset.c - builder/dataset.c: the interned id table (indices in
 * first-seen order, length limits, growth, collisions detected rather than
 * merged) and the init/release pairs of the dataset structs.
 */
#include "dataset.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "keys.h"

static uint32_t intern_ok(struct rb_strtab *t, const char *s)
{
    uint32_t idx = 12345;
    int rc = rb_strtab_intern(t, s, strlen(s), &idx);
    ck_assert_msg(rc == 0, "intern '%s': %s", s, rc_strerror(rc));
    return idx;
}

START_TEST(test_intern_first_seen_order)
{
    struct rb_strtab t;
    ck_assert_int_eq(rb_strtab_init(&t, 4), 0);
    ck_assert_uint_eq(intern_ok(&t, "apple"), 0);
    ck_assert_uint_eq(intern_ok(&t, "banana"), 1);
    ck_assert_uint_eq(intern_ok(&t, "apple"), 0);
    ck_assert_uint_eq(intern_ok(&t, "Apple"), 2); /* bytes compared as they are */
    ck_assert_uint_eq(intern_ok(&t, "apple "), 3);
    ck_assert_uint_eq(t.n, 4);
    size_t len;
    const char *s = rb_strtab_str(&t, 1, &len);
    ck_assert_uint_eq(len, 6);
    ck_assert_int_eq(memcmp(s, "banana", 6), 0);
    ck_assert_uint_eq(t.keys[1], rc_key("banana", 6));
    ck_assert_uint_eq(rb_strtab_find(&t, "banana", 6), 1);
    ck_assert_uint_eq(rb_strtab_find(&t, "banan", 5), RB_NONE);
    ck_assert_uint_eq(rb_strtab_find(&t, "cherry", 6), RB_NONE);
    ck_assert_uint_eq(rb_strtab_find(&t, "", 0), RB_NONE);
    ck_assert_uint_eq(t.n, 4); /* find never adds */
    rb_strtab_release(&t);
    ck_assert_ptr_null(t.keys);
    ck_assert_uint_eq(t.n, 0);
}
END_TEST

START_TEST(test_intern_length_limits)
{
    struct rb_strtab t;
    memset(&t, 0, sizeof(t)); /* a zeroed table works without init */
    char id[RC_ID_MAX + 2];
    memset(id, 'x', sizeof(id));
    uint32_t idx;
    ck_assert_int_eq(rb_strtab_intern(&t, id, RC_ID_MAX, &idx), 0);
    ck_assert_uint_eq(idx, 0);
    ck_assert_uint_eq(t.lens[0], RC_ID_MAX);
    ck_assert_int_eq(rb_strtab_intern(&t, id, RC_ID_MAX + 1, &idx), RC_ETOOLONG);
    ck_assert_int_eq(rb_strtab_intern(&t, id, 0, &idx), RC_ETOOLONG);
    ck_assert_uint_eq(t.n, 1);
    ck_assert_uint_eq(rb_strtab_find(&t, id, RC_ID_MAX + 1), RB_NONE);
    rb_strtab_release(&t);
}
END_TEST

/* Growth rehashes: every id keeps its index and stays findable. */
START_TEST(test_intern_growth)
{
    struct rb_strtab t;
    ck_assert_int_eq(rb_strtab_init(&t, 0), 0);
    char buf[32];
    const uint32_t n = 200000;
    for (uint32_t i = 0; i < n; i++) {
        int len = snprintf(buf, sizeof(buf), "id-%u", i);
        uint32_t idx;
        ck_assert_int_eq(rb_strtab_intern(&t, buf, (size_t)len, &idx), 0);
        ck_assert_uint_eq(idx, i);
    }
    ck_assert_uint_eq(t.n, n);
    ck_assert_uint_ge(t.cap, n);
    ck_assert_uint_ge(t.nslots, 2 * t.n); /* at most half full */
    for (uint32_t i = 0; i < n; i += 7) {
        int len = snprintf(buf, sizeof(buf), "id-%u", i);
        ck_assert_uint_eq(rb_strtab_find(&t, buf, (size_t)len), i);
        size_t sl;
        const char *s = rb_strtab_str(&t, i, &sl);
        ck_assert_uint_eq(sl, (size_t)len);
        ck_assert_int_eq(memcmp(s, buf, sl), 0);
    }
    rb_strtab_release(&t);
}
END_TEST

/*
 * Two distinct ids with one key must be refused, not merged. XXH3 gives no
 * practical collision, so make one: store "a" under the key of "b".
 */
START_TEST(test_intern_collision)
{
    struct rb_strtab t;
    ck_assert_int_eq(rb_strtab_init(&t, 16), 0);
    uint32_t b = intern_ok(&t, "b");
    t.arena[t.offs[b]] = 'a'; /* the table now holds id "a" with key rc_key("b") */
    uint32_t idx = 99;
    ck_assert_int_eq(rb_strtab_intern(&t, "b", 1, &idx), RC_ECOLLISION);
    ck_assert_uint_eq(idx, 99);
    ck_assert_uint_eq(rb_strtab_find(&t, "b", 1), RB_NONE);
    ck_assert_uint_eq(t.n, 1);
    rb_strtab_release(&t);
}
END_TEST

START_TEST(test_dataset_lifecycle)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    ck_assert_uint_eq(d.nevents, 0);
    ck_assert_ptr_null(d.events);
    ck_assert_int_eq(d.have_catalog, 0);
    uint32_t idx;
    ck_assert_int_eq(rb_strtab_intern(&d.cookies, "c", 1, &idx), 0);
    rb_dataset_release(&d);
    ck_assert_uint_eq(d.cookies.n, 0);
    rb_dataset_release(&d); /* twice is a no-op */

    struct rb_csr m;
    memset(&m, 0, sizeof(m));
    rb_csr_release(&m);
}
END_TEST

START_TEST(test_lists)
{
    struct rb_lists l;
    ck_assert_int_eq(rb_lists_init(&l, 5, 10), 0);
    ck_assert_uint_eq(l.n, 5);
    ck_assert_uint_eq(l.cap, 5);
    ck_assert_uint_eq(l.k, 10);
    for (size_t i = 0; i < 5; i++) {
        ck_assert_uint_eq(l.len[i], 0);
        ck_assert_uint_eq(l.owner_key[i], 0);
        ck_assert_uint_eq(l.source[i], 0);
    }
    l.items[5 * 10 - 1] = 7; /* the last slot is writable */
    l.scores[5 * 10 - 1] = 1.0f;
    rb_lists_release(&l);
    ck_assert_ptr_null(l.items);
    rb_lists_release(&l);

    ck_assert_int_eq(rb_lists_init(&l, 0, 10), 0);
    ck_assert_uint_eq(l.n, 0);
    rb_lists_release(&l);
    ck_assert_int_eq(rb_lists_init(&l, 5, 0), RC_ERANGE);
    ck_assert_int_eq(rb_lists_init(&l, 5, RC_LIST_MAX + 1), RC_ERANGE);
    ck_assert_int_eq(rb_lists_init(&l, SIZE_MAX / 2, 100), RC_ERANGE);
}
END_TEST

START_TEST(test_bad_reason_names)
{
    for (int i = 0; i < RB_BAD_REASONS; i++) {
        ck_assert_ptr_nonnull(rb_bad_reason_names[i]);
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(rb_bad_reason_names[i], rb_bad_reason_names[j]);
    }
    ck_assert_str_eq(rb_bad_reason_names[RB_BAD_TS], "timestamp");
    ck_assert_uint_eq(sizeof(struct rb_event), 24);
}
END_TEST

static Suite *dataset_suite(void)
{
    Suite *s = suite_create("dataset");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_intern_first_seen_order);
    tcase_add_test(tc, test_intern_length_limits);
    tcase_add_test(tc, test_intern_growth);
    tcase_add_test(tc, test_intern_collision);
    tcase_add_test(tc, test_dataset_lifecycle);
    tcase_add_test(tc, test_lists);
    tcase_add_test(tc, test_bad_reason_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(dataset_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
