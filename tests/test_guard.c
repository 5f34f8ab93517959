/*
 * test_guard.c - edge/guard.c: the deadline for a whole request, on real
 * loopback TCP connections (the guard reads the kernel's byte counts):
 * a trickled request is cut off with the late answer, a silent connection
 * is left alone, a request whose headers completed in time is not touched,
 * and a kept-alive connection's next request has its own deadline.
 */
#include "guard.h"
#include "loopback.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LATE "HTTP/1.1 408 Request Timeout\r\n\r\n"

static size_t late(void *arg, char *out, size_t cap)
{
    (void)arg;
    ck_assert_uint_ge(cap, sizeof(LATE));
    memcpy(out, LATE, sizeof(LATE) - 1);
    return sizeof(LATE) - 1;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Send one byte every 200 ms for ms milliseconds, or until the server
 * answers; returns what it answered ("" when nothing). */
static const char *trickle(int client, long ms, char *buf, size_t cap)
{
    buf[0] = 0;
    for (long t = 0; t < ms; t += 200) {
        (void)send(client, "x", 1, MSG_NOSIGNAL);
        struct pollfd p = {client, POLLIN, 0};
        if (poll(&p, 1, 200) == 1) {
            ssize_t n = recv(client, buf, cap - 1, 0);
            buf[n > 0 ? n : 0] = 0;
            return buf;
        }
    }
    return buf;
}

START_TEST(test_trickled_request_is_cut_off)
{
    struct re_guard *g;
    ck_assert_int_eq(re_guard_start(&g, 1, late, NULL, NULL), 0);
    int client, server;
    loopback_pair(&client, &server);
    struct re_guard_conn *c = re_guard_open(g, server);
    ck_assert_ptr_nonnull(c);
    char buf[256];
    ck_assert_str_eq(trickle(client, 6000, buf, sizeof(buf)), LATE);
    ck_assert_uint_eq(re_guard_timeouts(g), 1);
    ck_assert_int_eq(re_guard_busy(c), -ETIMEDOUT); /* the request's headers came too late */
    /* Shut down: after the bytes already received, end of file for the
     * server (the guard shuts down just after it sends the answer, so
     * wait for it a little). */
    ssize_t n;
    struct pollfd p = {server, POLLIN, 0};
    do {
        ck_assert_int_eq(poll(&p, 1, 5000), 1);
        n = recv(server, buf, sizeof(buf), MSG_DONTWAIT);
    } while (n > 0);
    ck_assert_int_eq(n, 0);
    re_guard_close(g, c);
    close(client);
    close(server);
    re_guard_stop(g);
}
END_TEST

START_TEST(test_silent_and_busy_connections_are_left_alone)
{
    struct re_guard *g;
    ck_assert_int_eq(re_guard_start(&g, 1, late, NULL, NULL), 0);
    int silent_client, silent_server, busy_client, busy_server;
    loopback_pair(&silent_client, &silent_server);
    loopback_pair(&busy_client, &busy_server);
    struct re_guard_conn *silent = re_guard_open(g, silent_server);
    struct re_guard_conn *busy = re_guard_open(g, busy_server);
    ck_assert_int_eq(send(busy_client, "GET / HTTP/1.1\r\n\r\n", 18, 0), 18);
    ck_assert_int_eq(re_guard_busy(busy), 0); /* its headers are in: being answered */
    sleep_ms(3500);
    ck_assert_uint_eq(re_guard_timeouts(g), 0);
    struct pollfd p[2] = {{silent_client, POLLIN, 0}, {busy_client, POLLIN, 0}};
    ck_assert_int_eq(poll(p, 2, 0), 0);
    re_guard_close(g, silent);
    re_guard_close(g, busy);
    close(silent_client);
    close(silent_server);
    close(busy_client);
    close(busy_server);
    re_guard_stop(g);
}
END_TEST

START_TEST(test_kept_alive_connection_gets_a_new_deadline)
{
    struct re_guard *g;
    /* 2 s: room for a loaded machine to stretch the 0.8 s trickle below */
    ck_assert_int_eq(re_guard_start(&g, 2, late, NULL, NULL), 0);
    int client, server;
    loopback_pair(&client, &server);
    struct re_guard_conn *c = re_guard_open(g, server);
    char buf[256];
    /* A first request that takes 0.8 s to send is within the deadline. */
    ck_assert_str_eq(trickle(client, 800, buf, sizeof(buf)), "");
    ck_assert_int_eq(re_guard_busy(c), 0);
    sleep_ms(1500); /* being answered: no deadline */
    re_guard_waiting(c);
    sleep_ms(1500); /* kept alive, silent */
    ck_assert_uint_eq(re_guard_timeouts(g), 0);
    /* The next request trickles: cut off. */
    ck_assert_str_eq(trickle(client, 6000, buf, sizeof(buf)), LATE);
    ck_assert_uint_eq(re_guard_timeouts(g), 1);
    re_guard_close(g, c);
    close(client);
    close(server);
    re_guard_stop(g);
}
END_TEST

START_TEST(test_no_deadline)
{
    struct re_guard *g;
    ck_assert_int_eq(re_guard_start(&g, 0, late, NULL, NULL), 0);
    ck_assert_ptr_null(re_guard_open(g, 0)); /* nothing is watched */
    ck_assert_int_eq(re_guard_busy(NULL), 0);
    re_guard_waiting(NULL);
    re_guard_close(g, NULL);
    re_guard_stop(g);
    re_guard_stop(NULL);
}
END_TEST

static Suite *guard_suite(void)
{
    Suite *s = suite_create("guard");
    TCase *tc = tcase_create("guard");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_trickled_request_is_cut_off);
    tcase_add_test(tc, test_silent_and_busy_connections_are_left_alone);
    tcase_add_test(tc, test_kept_alive_connection_gets_a_new_deadline);
    tcase_add_test(tc, test_no_deadline);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(guard_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
