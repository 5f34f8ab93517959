/*
 * test_session.c - builder/session.c: sessions cut by the inactivity gap
 * (a gap equal to the limit does not cut), sessions from the session
 * column (interleaved sessions of one cookie kept apart, events without an
 * id cut by the gap), the numbering by first event and the order inside a
 * session, `since`, the next-item holdout, and the errors.
 */
#include "session.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static uint32_t intern(struct rb_strtab *t, const char *s)
{
    uint32_t idx;
    ck_assert_int_eq(rb_strtab_intern(t, s, strlen(s), &idx), 0);
    return idx;
}

/* Append an event (cookie and product by name). */
static void add(struct rb_dataset *d, const char *cookie, const char *product, int64_t ts)
{
    if (d->nevents == d->events_cap) {
        d->events_cap = d->events_cap ? 2 * d->events_cap : 16;
        d->events = realloc(d->events, d->events_cap * sizeof(*d->events));
        ck_assert_ptr_nonnull(d->events);
    }
    struct rb_event *e = &d->events[d->nevents++];
    memset(e, 0, sizeof(*e));
    e->ts = ts;
    e->cookie = intern(&d->cookies, cookie);
    e->product = intern(&d->products, product);
    e->type = RB_VIEW;
    if (d->nevents == 1 || ts > d->ts_max)
        d->ts_max = ts;
}

/* The events of session i as product indices. */
static size_t session_products(const struct rb_sessions *s, const struct rb_dataset *d, uint32_t i, uint32_t *out)
{
    size_t n = 0;
    for (uint64_t j = s->start[i]; j < s->start[i + 1]; j++)
        out[n++] = d->events[s->order[j]].product;
    return n;
}

START_TEST(test_gap)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    add(&d, "c0", "a", 1000);
    add(&d, "c1", "x", 1500);
    add(&d, "c0", "b", 1000 + 1800);        /* exactly the gap: same session */
    add(&d, "c0", "c", 1000 + 1800 + 1801); /* past it: a new one */
    add(&d, "c0", "d", 1000 + 1800 + 1801); /* same time: input order */
    add(&d, "c1", "y", 10);                 /* before since */
    struct rb_sessions s;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_sessions_build(&s, &d, 100, 1800.0, err), 0);
    ck_assert_uint_eq(s.n, 3);
    ck_assert_uint_eq(s.nevents, 5);
    ck_assert_int_eq(s.from_column, 0);
    uint32_t p[8];
    /* numbered by first event: c0 (1000), c1 (1500), c0 (4601) */
    ck_assert_uint_eq(session_products(&s, &d, 0, p), 2);
    ck_assert_uint_eq(p[0], 0);
    ck_assert_uint_eq(p[1], 2);
    ck_assert_uint_eq(s.cookie[0], 0);
    ck_assert_uint_eq(session_products(&s, &d, 1, p), 1);
    ck_assert_uint_eq(p[0], 1);
    ck_assert_uint_eq(s.cookie[1], 1);
    ck_assert_uint_eq(session_products(&s, &d, 2, p), 2);
    ck_assert_uint_eq(p[0], 3);
    ck_assert_uint_eq(p[1], 4);

    /* The holdout: c0's last session (2 events); c1 has one session. */
    uint8_t held[3];
    uint64_t nheld;
    ck_assert_int_eq(rb_sessions_holdout(&s, d.cookies.n, held, &nheld), 0);
    ck_assert_uint_eq(nheld, 1);
    ck_assert_uint_eq(held[0], 0);
    ck_assert_uint_eq(held[1], 0);
    ck_assert_uint_eq(held[2], 1);
    rb_sessions_release(&s);
    rb_sessions_release(&s); /* twice is harmless */

    /* A longer gap joins them. */
    ck_assert_int_eq(rb_sessions_build(&s, &d, 100, 3600.0, err), 0);
    ck_assert_uint_eq(s.n, 2);
    rb_sessions_release(&s);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_column)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    add(&d, "c0", "a", 100); /* session s1 */
    add(&d, "c0", "b", 110); /* session s2, interleaved with s1 */
    add(&d, "c0", "c", 120); /* s1 */
    add(&d, "c0", "d", 100000); /* no id: cut by the gap, after a long pause */
    add(&d, "c0", "e", 100010); /* no id */
    add(&d, "c1", "f", 50);  /* s1 too: ids are global, not per cookie */
    d.event_session = malloc(d.events_cap * sizeof(uint32_t));
    uint32_t s1 = intern(&d.sessions, "s1"), s2 = intern(&d.sessions, "s2");
    uint32_t ids[] = {s1, s2, s1, RB_NONE, RB_NONE, s1};
    memcpy(d.event_session, ids, sizeof(ids));
    struct rb_sessions s;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_sessions_build(&s, &d, INT64_MIN, 60.0, err), 0);
    ck_assert_int_eq(s.from_column, 1);
    ck_assert_uint_eq(s.n, 3);
    uint32_t p[8];
    /* s1 starts first (50, by c1): f, a, c */
    ck_assert_uint_eq(session_products(&s, &d, 0, p), 3);
    ck_assert_uint_eq(p[0], 5);
    ck_assert_uint_eq(p[1], 0);
    ck_assert_uint_eq(p[2], 2);
    ck_assert_uint_eq(s.cookie[0], 1);
    ck_assert_uint_eq(session_products(&s, &d, 1, p), 1);
    ck_assert_uint_eq(p[0], 1);
    ck_assert_uint_eq(session_products(&s, &d, 2, p), 2);
    ck_assert_uint_eq(p[0], 3);
    ck_assert_uint_eq(p[1], 4);
    rb_sessions_release(&s);
    rb_dataset_release(&d);
}
END_TEST

START_TEST(test_empty_and_errors)
{
    struct rb_dataset d;
    rb_dataset_init(&d);
    struct rb_sessions s;
    char err[RC_ERRMSG_MAX];
    ck_assert_int_eq(rb_sessions_build(&s, &d, INT64_MIN, 1800.0, err), 0);
    ck_assert_uint_eq(s.n, 0);
    ck_assert_uint_eq(s.start[0], 0);
    rb_sessions_release(&s);
    ck_assert_int_eq(rb_sessions_build(&s, &d, INT64_MIN, 0.0, err), RC_ERANGE);
    ck_assert_ptr_nonnull(strstr(err, "session gap"));
    ck_assert_ptr_null(s.order);
    rb_dataset_release(&d);
}
END_TEST

static Suite *session_suite(void)
{
    Suite *s = suite_create("session");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_gap);
    tcase_add_test(tc, test_column);
    tcase_add_test(tc, test_empty_and_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(session_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
