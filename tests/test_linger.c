/*
 * test_linger.c - edge/linger.c, the lingering close, on real loopback TCP
 * connections: the case it exists for (an answer written while the client
 * is still sending a request larger than the socket buffers) and how it
 * ends (the client's close, the time and byte limits, the limit of
 * sockets at once, stop).
 */
#include "linger.h"
#include "loopback.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ANSWER "HTTP/1.1 414 URI Too Long\r\nContent-Length: 0\r\n\r\n"
#define REQUEST_BYTES (6 * 1024 * 1024) /* beyond loopback's socket buffers */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* What the server does when it refuses a request it has read part of:
 * the answer, the end of its sending side, and the close of its own
 * descriptor; with l, a second descriptor lingers. */
static void refuse(struct re_linger *l, int server)
{
    ck_assert_int_eq(send(server, ANSWER, strlen(ANSWER), MSG_NOSIGNAL), (ssize_t)strlen(ANSWER));
    int keep = l ? fcntl(server, F_DUPFD_CLOEXEC, 0) : -1;
    ck_assert_int_eq(shutdown(server, SHUT_WR), 0);
    close(server);
    if (l)
        re_linger_add(l, keep);
}

struct sender {
    int fd;
    size_t sent;
    int err; /* errno of a failed send, 0 */
};

/* The client sends its whole request, as a browser does before it reads. */
static void *send_request(void *arg)
{
    struct sender *c = arg;
    static char chunk[65536];
    memset(chunk, 'a', sizeof(chunk));
    while (c->sent < REQUEST_BYTES) {
        ssize_t n = send(c->fd, chunk, sizeof(chunk), MSG_NOSIGNAL);
        if (n < 0) {
            c->err = errno;
            return NULL;
        }
        c->sent += (size_t)n;
    }
    return NULL;
}

/* The answer the client reads after sending, or "" on a reset. */
static void client_exchange(struct re_linger *l, char *got, size_t cap, struct sender *c)
{
    int client, server;
    loopback_pair(&client, &server);
    char head[1024];
    memset(head, 'a', sizeof(head));
    ck_assert_int_eq(send(client, head, sizeof(head), 0), (ssize_t)sizeof(head));
    ck_assert_int_eq(recv(server, head, sizeof(head), MSG_WAITALL), (ssize_t)sizeof(head)); /* the part read */
    *c = (struct sender){client, 0, 0};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, send_request, c), 0);
    sleep_ms(50); /* the client is sending when the answer goes out */
    refuse(l, server);
    pthread_join(t, NULL);
    size_t have = 0;
    got[0] = 0;
    for (;;) {
        ssize_t n = recv(client, got + have, cap - 1 - have, 0);
        if (n <= 0)
            break;
        have += (size_t)n;
    }
    got[have] = 0;
    close(client);
}

START_TEST(test_answer_survives_a_client_still_sending)
{
    struct re_linger *l;
    ck_assert_int_eq(re_linger_start(&l, RE_LINGER_MS, RE_LINGER_BYTES, RE_LINGER_MAX), 0);
    char got[256];
    struct sender c;
    client_exchange(l, got, sizeof(got), &c);
    ck_assert_int_eq(c.err, 0);
    ck_assert_uint_eq(c.sent, REQUEST_BYTES);
    ck_assert_str_eq(got, ANSWER);
    /* The client has closed: the socket is closed within a moment. */
    for (int i = 0; i < 100 && re_linger_active(l); i++)
        sleep_ms(20);
    ck_assert_uint_eq(re_linger_active(l), 0);
    re_linger_stop(l);
}
END_TEST

/* Without the lingering close the same exchange loses: the client's
 * sending fails on the reset (the reason for edge/linger.c). */
START_TEST(test_plain_close_resets_the_client)
{
    char got[256];
    struct sender c;
    client_exchange(NULL, got, sizeof(got), &c);
    ck_assert(c.err == ECONNRESET || c.err == EPIPE);
    ck_assert_uint_lt(c.sent, REQUEST_BYTES);
}
END_TEST

/* 1 when the server's socket is closed: a byte sent to a closed socket
 * is answered with a reset, and the next send fails. 0 while it lingers
 * (the bytes are taken). */
static int closed_by_server(int client)
{
    for (int i = 0; i < 2; i++) {
        if (send(client, "x", 1, MSG_NOSIGNAL) < 0)
            return errno == EPIPE || errno == ECONNRESET;
        sleep_ms(50);
    }
    return 0;
}

#define MAX 64 /* a limit the test's descriptors fit under any ulimit */

START_TEST(test_limit_and_stop)
{
    struct re_linger *l;
    ck_assert_int_eq(re_linger_start(&l, RE_LINGER_MS, RE_LINGER_BYTES, 0), -EINVAL);
    ck_assert_int_eq(re_linger_start(&l, RE_LINGER_MS, RE_LINGER_BYTES, RE_LINGER_MAX + 1), -EINVAL);
    ck_assert_int_eq(re_linger_start(&l, RE_LINGER_MS, RE_LINGER_BYTES, MAX), 0);
    int clients[MAX + 1];
    for (int i = 0; i <= MAX; i++) {
        int server;
        loopback_pair(&clients[i], &server);
        refuse(l, server);
    }
    /* MAX linger; the one beyond was closed at once. */
    ck_assert_uint_eq(re_linger_active(l), MAX);
    ck_assert_int_eq(closed_by_server(clients[MAX]), 1);
    ck_assert_int_eq(closed_by_server(clients[0]), 0);
    ck_assert_int_eq(closed_by_server(clients[MAX - 1]), 0);
    /* Stop closes them all. */
    re_linger_stop(l);
    ck_assert_int_eq(closed_by_server(clients[0]), 1);
    ck_assert_int_eq(closed_by_server(clients[MAX - 1]), 1);
    for (int i = 0; i <= MAX; i++)
        close(clients[i]);
    re_linger_add(NULL, -1);
}
END_TEST

START_TEST(test_time_limit)
{
    struct re_linger *l;
    ck_assert_int_eq(re_linger_start(&l, 300, RE_LINGER_BYTES, RE_LINGER_MAX), 0);
    int client, server;
    loopback_pair(&client, &server);
    refuse(l, server);
    ck_assert_int_eq(closed_by_server(client), 0); /* a client that never closes */
    for (int i = 0; i < 100 && re_linger_active(l); i++)
        sleep_ms(20);
    ck_assert_uint_eq(re_linger_active(l), 0);
    ck_assert_int_eq(closed_by_server(client), 1);
    close(client);
    re_linger_stop(l);
}
END_TEST

START_TEST(test_byte_limit)
{
    struct re_linger *l;
    ck_assert_int_eq(re_linger_start(&l, RE_LINGER_MS, 256 * 1024, RE_LINGER_MAX), 0);
    char got[256];
    struct sender c;
    client_exchange(l, got, sizeof(got), &c); /* sends 6 MB: the socket is closed after 256 KB */
    ck_assert(c.err == ECONNRESET || c.err == EPIPE);
    ck_assert_uint_eq(re_linger_active(l), 0);
    re_linger_stop(l);
}
END_TEST

static Suite *linger_suite(void)
{
    Suite *s = suite_create("linger");
    TCase *tc = tcase_create("linger");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_answer_survives_a_client_still_sending);
    tcase_add_test(tc, test_plain_close_resets_the_client);
    tcase_add_test(tc, test_limit_and_stop);
    tcase_add_test(tc, test_time_limit);
    tcase_add_test(tc, test_byte_limit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    SRunner *sr = srunner_create(linger_suite());
    srunner_run_all(sr, CK_ENV);
    int failures = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failures ? 1 : 0;
}
