/*
 * http.h - recedge's HTTP front: libmicrohttpd on an internal thread pool
 * over epoll, the endpoints of schemas/http.md, and their responses.
 *
 * Request path (one worker thread per connection, no blocking):
 *   1. URI log callback: takes a request struct from the thread's free list
 *      (allocated only when the thread's concurrency exceeds its past peak),
 *      stamps the start time and parses the raw query with re_query_parse
 *      (libmicrohttpd decodes arguments in place right after this callback
 *      and is lenient about bad escapes, so the raw text is read here).
 *   2. Access handler. Its first call (the headers are complete) tells
 *      the deadline guard (guard.h) the request is in, picks the answer set
 *      of the request's Origin, and checks the request line and headers
 *      (schemas/http.md, "Limits"): refused ones are answered at once
 *      (400, 414, 431, JSON) and their connection closed; one whose head
 *      leaves no room in the connection memory for an answer's header
 *      block gets its 431 written to the socket directly. The endpoint
 *      comes from the raw request target (decoded strictly: a %00 stays in
 *      the path). Then it answers GET, HEAD and OPTIONS on the call that
 *      follows the complete request (libmicrohttpd closes the connection
 *      when the answer is queued on the first call, which would cost
 *      keep-alive), other methods at once (405 or 404; the connection then
 *      closes, so an unread body is never taken for a request). POST is
 *      read on /v1/event only: a Content-Length over RE_BEACON_MAX gets 413
 *      at once, else the body is copied into the request's buffer
 *      (allocated on its first bytes) and answered after its last byte.
 *      /v1/event (beacon.h) answers 204 from a built response, counts the
 *      beacon in the thread's metrics shard and appends its line to the
 *      thread's exposure log buffer (explog.h), which /v1/recs also does
 *      for every answer. /v1/recs takes a
 *      reference on the current version, renews the thread's read txn,
 *      routes into the thread's scratch, writes JSON into the thread's
 *      RE_RECS_JSON_MAX buffer, resets the txn, drops the reference, and
 *      queues a copy of the buffer. Every fixed answer (400 per reason,
 *      414, 431, 404, 405, 500, 503, OPTIONS, /healthz, /readyz) is a
 *      response built once at start-up per CORS outcome (one set, or with
 *      an allow-list of k origins k + 1 sets) and queued again and again.
 *   3. Completion callback: tells the guard the connection waits again,
 *      counts the request in the thread's metrics shard (endpoint, route,
 *      status, latency), writes the access log line when enabled, and
 *      returns the struct to the free list.
 *
 * Headers: Content-Type on every body; Access-Control-Allow-Origin (the
 * configured "*" or origin, or the request's Origin when it is in the
 * allow-list, then with Vary: Origin) and Timing-Allow-Origin (when
 * configured) on every answer; the configured Cache-Control on successful
 * /v1 answers, "no-store" on errors and operational endpoints.
 *
 * libmicrohttpd: --max-per-ip is its per-address connection limit; its
 * strictness stays at the default (level 1 would refuse a missing Host
 * itself, with an HTML body and its header block written twice); its
 * warnings go through warns.h, rate-limited.
 */
#ifndef RE_HTTP_H
#define RE_HTTP_H

#include "config.h"
#include "explog.h"
#include "metrics.h"
#include "swap.h"

struct re_server;

/*
 * Build the fixed responses, start the deadline guard and listen on
 * cfg->bind:cfg->port. cfg, h, m and log (the exposure log, NULL when
 * off; each worker thread takes its buffer with re_explog_worker) must
 * outlive the server. Errors:
 * RC_EFORMAT (bind is not a numeric address), RC_ERANGE (--conn-memory
 * leaves no room for a request beside the answer's headers), -ENOMEM,
 * -errno (the guard's thread), RC_EINTERNAL (libmicrohttpd refused to
 * start; its reason is logged).
 */
int re_server_start(struct re_server **out, const struct re_config *cfg, struct re_holder *h, struct re_metrics *m,
                    struct re_explog *log, char *err);

/* The port actually bound (useful with port 0). */
unsigned re_server_port(const struct re_server *s);

/*
 * Stop accepting (MHD_quiesce_daemon), wait up to cfg->drain_ms for
 * in-flight requests to finish, then stop the daemon and free everything.
 */
void re_server_stop(struct re_server *s);

#endif
