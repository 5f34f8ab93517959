/*
 * explog.h - the exposure log: what recedge answered (/v1/recs) and the
 * beacons it received (/v1/event), as JSON Lines in rotated files
 * (schemas/exposure.md).
 *
 * Threads and ownership:
 *   - One struct re_explog per process, opened at start-up
 *     (re_explog_open), closed at shutdown after the HTTP server has
 *     stopped (re_explog_close), which flushes every buffered line and
 *     closes (renames) the file.
 *   - Each HTTP worker thread has its own struct re_explog_worker
 *     (re_explog_worker, called once per thread, e.g. from http.c's
 *     worker_get). The log owns it; it is freed by re_explog_close. A
 *     worker handle is used by one thread at a time.
 *   - A worker's buffer is split in two halves: requests append lines to
 *     one, the writer thread swaps the halves and writes the full one. The
 *     worker's mutex is held by a request only while its line is encoded
 *     into the half (no I/O, no allocation) and by the writer only for the
 *     swap: a request never waits behind a write().
 *   - One writer thread, started by re_explog_open, wakes every 10 ms (or
 *     when a worker's half is half full), writes every worker's full half
 *     with one write() each, rotates the file by size and age, and closes
 *     it when it has been open --exposure-rotate-seconds even without
 *     traffic.
 *
 * Drops (never a blocked request): a line that does not fit its worker's
 * half is dropped and counted as buffer_full; the lines of a chunk whose
 * write fails (ENOSPC, EIO, EFBIG, ...) are dropped and counted as
 * write_error, and the file is cut back to the last complete line. A line
 * is counted in records once it is written.
 *
 * Every function accepts a NULL log or worker (the log is off) and then
 * does nothing, so callers need no test of their own.
 */
#ifndef RE_EXPLOG_H
#define RE_EXPLOG_H

#include <stddef.h>
#include <stdint.h>

#include "answer.h"
#include "json.h"

#define RE_REC_ID_LEN 32 /* 32 lowercase hex characters */

#define RE_EXPLOG_NODE_MAX 64 /* bytes of the node name, NUL excluded */
#define RE_EXPLOG_BUFFER_MIN 65536

struct re_explog_config {
    const char *dir;         /* where files go; must exist and be writable */
    const char *node;        /* file name prefix; NULL or "": gethostname() */
    double sample;           /* 0 < sample <= 1: share of visitors logged */
    uint64_t rotate_bytes;   /* close a file once it holds this many bytes */
    unsigned rotate_seconds; /* close a file this long after it was opened */
    size_t buffer;           /* bytes per worker (two halves of buffer / 2) */
};

struct re_explog_stats {
    uint64_t records;             /* lines written */
    uint64_t dropped_buffer_full; /* lines refused by a full worker buffer */
    uint64_t dropped_write_error; /* lines of chunks whose write failed */
    uint64_t files;               /* files closed (renamed to .jsonl) */
};

struct re_explog;
struct re_explog_worker;

/*
 * Check cfg, close stale "<node>-*.jsonl.open" files a crash left in the
 * directory (cut to their last complete line, then renamed), and start
 * the writer thread. No file is opened until the first line is written.
 * Errors: RC_ERANGE (sample, rotate_bytes, rotate_seconds or buffer out of
 * range), RC_EFORMAT (a node name that is not 1..64 bytes of
 * [A-Za-z0-9._-]), -errno (the directory cannot be written, gethostname,
 * the thread), -ENOMEM; err says which.
 */
int re_explog_open(struct re_explog **out, const struct re_explog_config *cfg, char *err);

/*
 * A new worker buffer (cfg->buffer bytes), registered with the writer.
 * Call once per HTTP worker thread. Returns NULL when log is NULL or
 * memory runs out (that worker's lines are then not logged; the
 * functions below accept NULL).
 */
struct re_explog_worker *re_explog_worker(struct re_explog *log);

/*
 * Whether an answer is in the sample: by XXH3_64bits(cookie) % 1000000
 * < sample * 1000000 when there is a cookie, else by the same hash of the
 * rec_id's 32 characters. 0 when log is NULL.
 */
int re_explog_sampled(const struct re_explog *log, const char *cookie, size_t cookie_len, const char *rec_id);

/*
 * Log one /v1/recs answer (when it is in the sample) as
 *   {"type":"exposure","ts":..,"rec_id":..,"cookie":..,"experiment":..,
 *    "arm":..,"route":..,"version":..,"items":[..]}
 * rec_id: RE_REC_ID_LEN characters (need not be NUL-terminated). cookie:
 * cookie_len bytes, NULL when the request had none. experiment, arm: NUL-
 * terminated, NULL when the answer is in no arm (both are then left out).
 * route: rc_source_name() of the answer's route; version: the version
 * id. recs: the items of the answer; their ids point into the LMDB map, so
 * call this before the read transaction is reset. Never blocks on I/O and
 * never allocates; a line that does not fit is dropped and counted.
 */
void re_explog_exposure(struct re_explog_worker *w, const char *rec_id, const char *cookie, size_t cookie_len,
                        const char *experiment, const char *arm, const char *route, const char *version,
                        const struct re_recs *recs);

/*
 * Log one beacon (not sampled: a click is rare and cheap, and its
 * exposure decides whether it is counted) as
 *   {"type":..,"ts":..,"rec_id":..,"product":..,"cookie":..}
 * type: "click", "cart" or "purchase". product: product_len bytes. cookie
 * as for re_explog_exposure.
 */
void re_explog_event(struct re_explog_worker *w, const char *type, const char *rec_id, const char *product,
                     size_t product_len, const char *cookie, size_t cookie_len);

/*
 * Stop the writer after it has written everything buffered, close (rename)
 * the open file and free the log with its workers. Call after every thread
 * that logs has stopped. NULL is accepted.
 */
void re_explog_close(struct re_explog *log);

/* The counters so far (all 0 when log is NULL). */
void re_explog_stats(const struct re_explog *log, struct re_explog_stats *out);

/*
 * Append edgerec_log_records_total and edgerec_log_dropped_total{reason}
 * in the Prometheus text format (zeros when log is NULL) to b.
 */
void re_explog_render(const struct re_explog *log, struct rc_buf *b);

#endif
