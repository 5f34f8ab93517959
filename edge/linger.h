/*
 * linger.h - closing a connection recedge has answered itself without
 * losing the answer (schemas/http.md, "Limits").
 *
 * When recedge writes a refusal straight to a socket (edge/http.c,
 * in_place), the client may still be sending the rest of its request: a
 * 40 KB request target of which the connection memory took 12 KB. If the
 * socket is closed with those bytes unread, the kernel answers them with a
 * reset, and a reset that reaches the client before it has read the answer
 * can make it drop the answer. The usual cure is a lingering close: after
 * the answer, end the sending side (the client sees end-of-file), then read
 * and drop what still arrives until the client closes.
 *
 * re_linger_add takes a second descriptor of such a socket (dup(2)), so
 * that libmicrohttpd's close of its own leaves the socket open. A thread
 * reads and drops what arrives and closes the descriptor when the client
 * closes, on an error, after a number of bytes, or a time after it was
 * added (recedge: RE_LINGER_BYTES, RE_LINGER_MS). At most a set number
 * of sockets linger at once (recedge: RE_LINGER_MAX, which its descriptor
 * limit makes room for); beyond that one is closed at once (the plain
 * close of before).
 *
 * Thread rules: re_linger_add may be called from any thread; it takes a
 * lock that the thread holds only to look at its list, never while it
 * reads.
 */
#ifndef RE_LINGER_H
#define RE_LINGER_H

#define RE_LINGER_MS 5000
#define RE_LINGER_BYTES (8 * 1024 * 1024)
#define RE_LINGER_MAX 1024

#include <stddef.h>

struct re_linger;

/* Start the lingering thread: a socket is closed at the latest ms
 * milliseconds after it was added or once bytes have arrived; at most max
 * (1 to RE_LINGER_MAX) linger at once. Errors: -EINVAL, -ENOMEM, -errno
 * of pipe2 or pthread_create. */
int re_linger_start(struct re_linger **out, unsigned ms, size_t bytes, unsigned max);

/* Stop the thread and close every lingering socket. NULL is allowed. */
void re_linger_stop(struct re_linger *l);

/* Take fd (its answer written, its sending side shut down) and close it
 * once the client is done; l NULL or full: closed at once. */
void re_linger_add(struct re_linger *l, int fd);

/* Sockets lingering now (for tests and /metrics). */
unsigned re_linger_active(struct re_linger *l);

#endif
