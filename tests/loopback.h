/*
 * loopback.h - connected TCP pairs on 127.0.0.1 for the Check suites that
 * need the kernel's real sockets (edge/guard.c reads TCP_INFO, edge/linger.c
 * depends on what a close does to unread bytes).
 *
 *   int client, server;
 *   loopback_pair(&client, &server);
 *
 * One listening socket per process, opened on first use. Fails the running
 * test on error.
 */
#ifndef EDGEREC_TESTS_LOOPBACK_H
#define EDGEREC_TESTS_LOOPBACK_H

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static inline void loopback_pair(int *client, int *server)
{
    static int listener = -1;
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    if (listener < 0) {
        listener = socket(AF_INET, SOCK_STREAM, 0);
        memset(&a, 0, sizeof(a));
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ck_assert_int_eq(bind(listener, (struct sockaddr *)&a, sizeof(a)), 0);
        ck_assert_int_eq(listen(listener, 128), 0);
    }
    ck_assert_int_eq(getsockname(listener, (struct sockaddr *)&a, &len), 0);
    *client = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(*client, (struct sockaddr *)&a, sizeof(a)), 0);
    *server = accept(listener, NULL, NULL);
    ck_assert_int_ge(*server, 0);
}

#endif
