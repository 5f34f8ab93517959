/*
 * guard.h - the deadline for receiving a whole request (schemas/http.md,
 * "Limits"): libmicrohttpd 0.9.75 only has an idle timeout, which every
 * received byte restarts, so a client trickling one header byte at a time
 * would hold its connection for ever.
 *
 * The guard keeps one record per open connection and a thread that looks
 * at every waiting connection once per RE_GUARD_TICK_MS:
 *
 *   waiting  accepted, or its last answer was handed over. The guard reads
 *            the kernel's count of bytes received on the socket (TCP_INFO):
 *            once it is above 0 (a new connection) or above the count the
 *            guard read when it first saw the connection waiting again (a
 *            kept-alive one), a request has begun, and it must reach the
 *            end of its headers within the timeout;
 *   busy     the request's headers are complete (re_guard_busy); answered
 *            at once, so no deadline applies.
 *
 * A connection past its deadline gets a 408 answer written to its socket, then shutdown(2): libmicrohttpd sees end-of-file and closes
 * it. The deadline is accurate to a tick (two for a kept-alive connection,
 * whose baseline is read on the first tick after its answer); a connection
 * that sends nothing is left to the idle timeout. One getsockopt(2) per
 * waiting connection per tick: with 10,000 idle connections, 4 % of a core
 * at a 250 ms tick, hence one second.
 *
 * Thread rules: re_guard_open/re_guard_close run on libmicrohttpd's threads
 * (its connection notifications) and take the guard's lock; re_guard_busy
 * and re_guard_waiting run on the connection's own thread without a lock
 * (one atomic word). A record is freed in re_guard_close, which
 * libmicrohttpd calls before it closes the socket, so the guard thread
 * never touches a socket number that has been reused.
 */
#ifndef RE_GUARD_H
#define RE_GUARD_H

#include <stddef.h>

#define RE_GUARD_TICK_MS 1000

struct re_guard;
struct re_guard_conn;

/*
 * Start the guard thread. timeout_s is the deadline (0: no deadline, and no
 * thread unless tick is given; the other calls then do nothing). late(arg,
 * out, cap) writes the answer for a connection that misses it into out and
 * returns its length (0: none). tick(arg), when tick is not NULL, is
 * called by the guard thread about once a second (periodic work such as
 * flushing rate-limited log lines). Errors: -ENOMEM, -errno of
 * pthread_create.
 */
int re_guard_start(struct re_guard **out, unsigned timeout_s, size_t (*late)(void *arg, char *out, size_t cap),
                   void (*tick)(void *arg), void *arg);

/* Stop the thread and free every record. NULL is allowed. */
void re_guard_stop(struct re_guard *g);

/* A connection was accepted on socket fd: its record, or NULL (no
 * deadline, or out of memory: the connection is then not watched). */
struct re_guard_conn *re_guard_open(struct re_guard *g, int fd);

/* The connection is being closed; c may be NULL. */
void re_guard_close(struct re_guard *g, struct re_guard_conn *c);

/* The request's headers are complete. Returns 0, or -ETIMEDOUT when the
 * guard has already answered 408 (the caller then closes). c may be NULL. */
int re_guard_busy(struct re_guard_conn *c);

/* The answer was handed over: the connection waits for its next request. */
void re_guard_waiting(struct re_guard_conn *c);

/* Connections closed for missing the deadline since start-up. */
unsigned long re_guard_timeouts(const struct re_guard *g);

#endif
