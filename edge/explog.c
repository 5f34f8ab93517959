#include "explog.h"
#include "error.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

/* How often the writer drains the workers without being asked. */
#define WRITER_TICK_MS 10
/* Most seconds between two warnings about failed writes. */
#define WARN_EVERY_S 10
#define OPEN_SUFFIX ".jsonl.open"

struct re_explog_worker {
    pthread_mutex_t mu;  /* held by a request for one line, by the writer for a swap */
    char *fill;          /* the half requests append to (under mu) */
    size_t fill_len;
    uint64_t fill_lines;
    int kicked;          /* the writer was woken for this fill */
    char *drain;         /* the half the writer writes (writer only) */
    size_t half;         /* bytes of each half */
    uint64_t dropped;    /* buffer_full, under mu; read relaxed */
    struct re_explog *log;
    struct re_explog_worker *next;
};

struct re_explog {
    char dir[PATH_MAX];
    char node[RE_EXPLOG_NODE_MAX + 1];
    double sample_ppm;   /* sample * 1000000, compared as the contract says */
    uint64_t rotate_bytes;
    unsigned rotate_seconds;
    size_t buffer;

    pthread_t thread;
    pthread_mutex_t mu; /* workers list, stop */
    pthread_cond_t cv;  /* CLOCK_MONOTONIC */
    struct re_explog_worker *workers;
    int stop;

    /* The writer's: the open file. */
    int fd;                      /* -1: none open */
    char path[PATH_MAX];         /* its name, ".jsonl.open" */
    uint64_t file_bytes;         /* complete lines written to it */
    struct timespec opened;      /* CLOCK_MONOTONIC */
    unsigned seq;                /* next file's sequence number */
    int torn;                    /* a failed write left a partial line behind */
    time_t warned;               /* last warning about a failed write */

    /* Written by the writer only, read relaxed by scrapes. */
    uint64_t records, dropped_write, files;
};

static inline void bump(uint64_t *p, uint64_t by)
{
    __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + by, __ATOMIC_RELAXED);
}

static inline uint64_t get(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static double elapsed_s(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - since->tv_sec) + (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

/* ---- files ---- */

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > RE_EXPLOG_NODE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return 0;
    }
    return 1;
}

/* Write all of p[0, len) at the file's end, retrying short writes; 0 or -errno. */
static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void warn_write(struct re_explog *log, const char *what, int rc)
{
    time_t now = time(NULL);
    if (now - log->warned < WARN_EVERY_S)
        return;
    log->warned = now;
    rc_log(RC_LOG_WARN, "explog", "action=drop what=%s dir=\"%s\" reason=\"%s\"", what, log->dir, rc_strerror(rc));
}

/* Cut a file back to its last complete line (a crash or failed write left
 * a partial one); 0 or -errno. */
static int cut_to_last_line(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -errno;
    off_t end = st.st_size;
    char block[4096];
    while (end > 0) {
        size_t n = end < (off_t)sizeof(block) ? (size_t)end : sizeof(block);
        ssize_t got = pread(fd, block, n, end - (off_t)n);
        if (got != (ssize_t)n)
            return got < 0 ? -errno : -EIO;
        for (size_t i = n; i > 0; i--)
            if (block[i - 1] == '\n') {
                off_t keep = end - (off_t)n + (off_t)i;
                return keep == st.st_size ? 0 : (ftruncate(fd, keep) == 0 ? 0 : -errno);
            }
        end -= (off_t)n;
    }
    return ftruncate(fd, 0) == 0 ? 0 : -errno;
}

/* "DIR/NAME.jsonl.open" -> "DIR/NAME.jsonl" into out. */
static void closed_name(const char *open_path, char *out, size_t cap)
{
    size_t n = strlen(open_path) - strlen(".open");
    snprintf(out, cap, "%.*s", (int)n, open_path);
}

/* Close a file the last run of this node left open. */
static void recover_stale(struct re_explog *log, const char *name)
{
    char path[PATH_MAX], to[PATH_MAX];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", log->dir, name) >= sizeof(path))
        return;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return;
    int rc = cut_to_last_line(fd);
    struct stat st;
    int empty = fstat(fd, &st) == 0 && st.st_size == 0;
    close(fd);
    closed_name(path, to, sizeof(to));
    if (!rc && empty)
        rc = unlink(path) == 0 ? 0 : -errno;
    else if (!rc)
        rc = rename(path, to) == 0 ? 0 : -errno;
    rc_log(rc ? RC_LOG_WARN : RC_LOG_INFO, "explog", "action=recover file=\"%s\" result=\"%s\"", name,
           rc ? rc_strerror(rc) : (empty ? "removed, empty" : "closed"));
}

/* Whether name is "<node>-<YYYYmmddTHHMMSSZ>-<seq>.jsonl.open" of this
 * node (not of a node whose name merely begins with this one's). */
static int own_open_file(const struct re_explog *log, const char *name)
{
    size_t nlen = strlen(log->node);
    if (strncmp(name, log->node, nlen) != 0 || name[nlen] != '-')
        return 0;
    const char *p = name + nlen + 1;
    static const char shape[] = "ddddddddTddddddZ-";
    for (size_t i = 0; i < sizeof(shape) - 1; i++, p++)
        if (shape[i] == 'd' ? !(*p >= '0' && *p <= '9') : *p != shape[i])
            return 0;
    if (!(*p >= '0' && *p <= '9'))
        return 0;
    while (*p >= '0' && *p <= '9')
        p++;
    return strcmp(p, OPEN_SUFFIX) == 0;
}

static void recover_all(struct re_explog *log)
{
    DIR *d = opendir(log->dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (own_open_file(log, e->d_name))
            recover_stale(log, e->d_name);
    closedir(d);
}

/* Open a new "<node>-<UTC time>-<seq>.jsonl.open" whose closed name is free
 * too; 0 or -errno. */
static int open_file(struct re_explog *log)
{
    char stamp[32], closed[PATH_MAX];
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", gmtime_r(&now, &tm));
    for (int tries = 0; tries < 1000; tries++) {
        unsigned seq = log->seq++;
        if ((size_t)snprintf(log->path, sizeof(log->path), "%s/%s-%s-%u" OPEN_SUFFIX, log->dir, log->node, stamp,
                             seq) >= sizeof(log->path))
            return -ENAMETOOLONG;
        closed_name(log->path, closed, sizeof(closed));
        if (access(closed, F_OK) == 0)
            continue;
        int fd = open(log->path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
            if (errno == EEXIST)
                continue;
            return -errno;
        }
        log->fd = fd;
        log->file_bytes = 0;
        log->torn = 0;
        clock_gettime(CLOCK_MONOTONIC, &log->opened);
        return 0;
    }
    return -EEXIST;
}

/* Flush and rename the open file (an empty one is removed). */
static void close_file(struct re_explog *log)
{
    if (log->fd < 0)
        return;
    if (log->torn)
        (void)cut_to_last_line(log->fd);
    (void)fdatasync(log->fd);
    close(log->fd);
    log->fd = -1;
    char closed[PATH_MAX];
    closed_name(log->path, closed, sizeof(closed));
    if (log->file_bytes == 0) {
        (void)unlink(log->path);
        return;
    }
    if (rename(log->path, closed) != 0) {
        rc_log(RC_LOG_ERROR, "explog", "action=close file=\"%s\" reason=\"rename: %s\"", log->path, strerror(errno));
        return;
    }
    bump(&log->files, 1);
    rc_log(RC_LOG_DEBUG, "explog", "action=close file=\"%s\" bytes=%llu", closed,
           (unsigned long long)log->file_bytes);
}

/* Write one worker's chunk of complete lines (lines of them). */
static void write_chunk(struct re_explog *log, const char *p, size_t len, uint64_t lines)
{
    if (log->fd >= 0 && log->file_bytes > 0 && log->file_bytes + len > log->rotate_bytes)
        close_file(log);
    int rc = log->fd >= 0 ? 0 : open_file(log);
    if (rc) {
        warn_write(log, "open", rc);
        bump(&log->dropped_write, lines);
        return;
    }
    if (log->torn && cut_to_last_line(log->fd) == 0)
        log->torn = 0;
    /* A partial line that could not be cut away ends here, alone. */
    if (log->torn && write_all(log->fd, "\n", 1) == 0)
        log->torn = 0;
    rc = write_all(log->fd, p, len);
    if (rc) {
        warn_write(log, "write", rc);
        bump(&log->dropped_write, lines);
        if (ftruncate(log->fd, (off_t)log->file_bytes) != 0)
            log->torn = 1;
        return;
    }
    log->file_bytes += len;
    bump(&log->records, lines);
}

/* ---- the writer ---- */

/* Swap each worker's halves and write the full one. */
static void drain_all(struct re_explog *log)
{
    pthread_mutex_lock(&log->mu);
    struct re_explog_worker *head = log->workers; /* the list only grows until close */
    pthread_mutex_unlock(&log->mu);
    for (struct re_explog_worker *w = head; w; w = w->next) {
        pthread_mutex_lock(&w->mu);
        char *full = w->fill;
        size_t len = w->fill_len;
        uint64_t lines = w->fill_lines;
        if (len) {
            w->fill = w->drain;
            w->fill_len = 0;
            w->fill_lines = 0;
            w->kicked = 0;
            w->drain = full;
        }
        pthread_mutex_unlock(&w->mu);
        if (len)
            write_chunk(log, full, len, lines);
    }
}

static void *writer(void *arg)
{
    struct re_explog *log = arg;
    pthread_mutex_lock(&log->mu);
    while (!log->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += WRITER_TICK_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        (void)pthread_cond_timedwait(&log->cv, &log->mu, &until);
        pthread_mutex_unlock(&log->mu);
        drain_all(log);
        if (log->fd >= 0 && elapsed_s(&log->opened) >= (double)log->rotate_seconds)
            close_file(log);
        pthread_mutex_lock(&log->mu);
    }
    pthread_mutex_unlock(&log->mu);
    /* Every thread that logs has stopped: one pass takes all that is left
     * (the drain halves are always empty between passes). */
    drain_all(log);
    close_file(log);
    return NULL;
}

/* ---- the API ---- */

int re_explog_open(struct re_explog **out, const struct re_explog_config *cfg, char *err)
{
    *out = NULL;
    if (!(cfg->sample > 0 && cfg->sample <= 1))
        return rc_fail(err, RC_ERANGE, "--exposure-sample: %g is not in (0, 1]", cfg->sample);
    if (cfg->rotate_bytes < 4096)
        return rc_fail(err, RC_ERANGE, "--exposure-rotate-bytes: %llu is below 4096",
                       (unsigned long long)cfg->rotate_bytes);
    if (cfg->rotate_seconds < 1)
        return rc_fail(err, RC_ERANGE, "--exposure-rotate-seconds: must be at least 1");
    if (cfg->buffer < RE_EXPLOG_BUFFER_MIN)
        return rc_fail(err, RC_ERANGE, "--exposure-buffer: %zu is below %d", cfg->buffer, RE_EXPLOG_BUFFER_MIN);
    struct re_explog *log = calloc(1, sizeof(*log));
    if (!log)
        return rc_fail(err, -ENOMEM, "out of memory");
    int rc = 0;
    if ((size_t)snprintf(log->dir, sizeof(log->dir), "%s", cfg->dir) >= sizeof(log->dir)) {
        rc = rc_fail(err, -ENAMETOOLONG, "--exposure-log: '%s' is too long", cfg->dir);
        goto fail;
    }
    if (cfg->node && cfg->node[0]) {
        snprintf(log->node, sizeof(log->node), "%s", cfg->node);
        if (!name_ok(cfg->node)) {
            rc = rc_fail(err, RC_EFORMAT, "--node-name: '%s' is not 1..64 bytes of [A-Za-z0-9._-]", cfg->node);
            goto fail;
        }
    } else {
        char host[256];
        if (gethostname(host, sizeof(host)) != 0) {
            rc = rc_fail(err, -errno, "gethostname: %s", strerror(errno));
            goto fail;
        }
        host[sizeof(host) - 1] = 0;
        host[strcspn(host, ".")] = 0; /* the short name */
        snprintf(log->node, sizeof(log->node), "%s", host);
        if (!name_ok(log->node)) {
            rc = rc_fail(err, RC_EFORMAT, "the host name '%s' is not 1..64 bytes of [A-Za-z0-9._-]; give --node-name",
                         host);
            goto fail;
        }
    }
    if (access(log->dir, W_OK | X_OK) != 0) {
        rc = rc_fail(err, -errno, "--exposure-log: unable to write to '%s': %s", log->dir, strerror(errno));
        goto fail;
    }
    log->sample_ppm = cfg->sample * 1000000.0;
    log->rotate_bytes = cfg->rotate_bytes;
    log->rotate_seconds = cfg->rotate_seconds;
    log->buffer = cfg->buffer;
    log->fd = -1;
    recover_all(log);

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&log->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&log->mu, NULL);
    if ((rc = pthread_create(&log->thread, NULL, writer, log)) != 0) {
        pthread_cond_destroy(&log->cv);
        pthread_mutex_destroy(&log->mu);
        rc = rc_fail(err, -rc, "unable to start the exposure log writer: %s", strerror(rc));
        goto fail;
    }
    rc_log(RC_LOG_INFO, "explog", "action=open dir=\"%s\" node=%s sample=%g rotate_bytes=%llu rotate_seconds=%u "
           "buffer=%zu", log->dir, log->node, cfg->sample, (unsigned long long)log->rotate_bytes,
           log->rotate_seconds, log->buffer);
    *out = log;
    return 0;
fail:
    free(log);
    return rc;
}

struct re_explog_worker *re_explog_worker(struct re_explog *log)
{
    if (!log)
        return NULL;
    struct re_explog_worker *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->half = log->buffer / 2;
    w->fill = malloc(w->half);
    w->drain = malloc(w->half);
    if (!w->fill || !w->drain) {
        free(w->fill);
        free(w->drain);
        free(w);
        return NULL;
    }
    pthread_mutex_init(&w->mu, NULL);
    w->log = log;
    pthread_mutex_lock(&log->mu);
    w->next = log->workers;
    log->workers = w;
    pthread_mutex_unlock(&log->mu);
    return w;
}

int re_explog_sampled(const struct re_explog *log, const char *cookie, size_t cookie_len, const char *rec_id)
{
    if (!log)
        return 0;
    if (log->sample_ppm >= 1000000.0)
        return 1;
    uint64_t h = cookie ? XXH3_64bits(cookie, cookie_len) : XXH3_64bits(rec_id, RE_REC_ID_LEN);
    return (double)(h % 1000000u) < log->sample_ppm;
}

/* "ts":<Unix seconds with 3 decimals> */
static void add_ts(struct rc_buf *b, const struct timespec *ts)
{
    rc_buf_addf(b, ",\"ts\":%lld.%03ld", (long long)ts->tv_sec, ts->tv_nsec / 1000000L);
}

static void add_str(struct rc_buf *b, const char *key, const char *s, size_t n)
{
    rc_buf_adds(b, key);
    rc_buf_json_str(b, s, n);
}

/* The room left in w's fill half, as a fixed buffer (w->mu held). */
static void begin_line(struct re_explog_worker *w, struct rc_buf *b)
{
    rc_buf_fixed(b, w->fill + w->fill_len, w->half - w->fill_len);
}

/* Keep the line in b, or count it dropped (w->mu held); wake the writer
 * when the half passes half full. */
static void end_line(struct re_explog_worker *w, struct rc_buf *b)
{
    rc_buf_adds(b, "}\n");
    if (b->overflow) {
        bump(&w->dropped, 1);
        return;
    }
    w->fill_len += b->len;
    w->fill_lines++;
    if (!w->kicked && w->fill_len > w->half / 2) {
        w->kicked = 1;
        pthread_cond_signal(&w->log->cv);
    }
}

void re_explog_exposure(struct re_explog_worker *w, const char *rec_id, const char *cookie, size_t cookie_len,
                        const char *experiment, const char *arm, const char *route, const char *version,
                        const struct re_recs *recs)
{
    if (!w || !re_explog_sampled(w->log, cookie, cookie_len, rec_id))
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct rc_buf b;
    pthread_mutex_lock(&w->mu);
    begin_line(w, &b);
    rc_buf_adds(&b, "{\"type\":\"exposure\"");
    add_ts(&b, &ts);
    add_str(&b, ",\"rec_id\":", rec_id, RE_REC_ID_LEN);
    if (cookie)
        add_str(&b, ",\"cookie\":", cookie, cookie_len);
    if (experiment && arm) {
        add_str(&b, ",\"experiment\":", experiment, strlen(experiment));
        add_str(&b, ",\"arm\":", arm, strlen(arm));
    }
    add_str(&b, ",\"route\":", route, strlen(route));
    add_str(&b, ",\"version\":", version, strlen(version));
    rc_buf_adds(&b, ",\"items\":[");
    for (unsigned i = 0; i < recs->count; i++) {
        if (i)
            rc_buf_adds(&b, ",");
        rc_buf_json_str(&b, recs->items[i].id, recs->items[i].id_len);
    }
    rc_buf_adds(&b, "]");
    end_line(w, &b);
    pthread_mutex_unlock(&w->mu);
}

void re_explog_event(struct re_explog_worker *w, const char *type, const char *rec_id, const char *product,
                     size_t product_len, const char *cookie, size_t cookie_len)
{
    if (!w)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct rc_buf b;
    pthread_mutex_lock(&w->mu);
    begin_line(w, &b);
    rc_buf_adds(&b, "{\"type\":");
    rc_buf_json_str(&b, type, strlen(type));
    add_ts(&b, &ts);
    add_str(&b, ",\"rec_id\":", rec_id, RE_REC_ID_LEN);
    add_str(&b, ",\"product\":", product, product_len);
    if (cookie)
        add_str(&b, ",\"cookie\":", cookie, cookie_len);
    end_line(w, &b);
    pthread_mutex_unlock(&w->mu);
}

void re_explog_close(struct re_explog *log)
{
    if (!log)
        return;
    pthread_mutex_lock(&log->mu);
    log->stop = 1;
    pthread_cond_signal(&log->cv);
    pthread_mutex_unlock(&log->mu);
    (void)pthread_join(log->thread, NULL);
    struct re_explog_stats st;
    re_explog_stats(log, &st);
    rc_log(RC_LOG_INFO, "explog", "action=stop records=%llu dropped_buffer_full=%llu dropped_write_error=%llu "
           "files=%llu", (unsigned long long)st.records, (unsigned long long)st.dropped_buffer_full,
           (unsigned long long)st.dropped_write_error, (unsigned long long)st.files);
    for (struct re_explog_worker *w = log->workers, *next; w; w = next) {
        next = w->next;
        pthread_mutex_destroy(&w->mu);
        free(w->fill);
        free(w->drain);
        free(w);
    }
    pthread_cond_destroy(&log->cv);
    pthread_mutex_destroy(&log->mu);
    free(log);
}

void re_explog_stats(const struct re_explog *log, struct re_explog_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!log)
        return;
    struct re_explog *l = (struct re_explog *)log; /* the list lock */
    out->records = get(&log->records);
    out->dropped_write_error = get(&log->dropped_write);
    out->files = get(&log->files);
    pthread_mutex_lock(&l->mu);
    for (const struct re_explog_worker *w = log->workers; w; w = w->next)
        out->dropped_buffer_full += get(&w->dropped);
    pthread_mutex_unlock(&l->mu);
}

void re_explog_render(const struct re_explog *log, struct rc_buf *b)
{
    struct re_explog_stats st;
    re_explog_stats(log, &st);
    rc_buf_adds(b, "# HELP edgerec_log_records_total Lines written to the exposure log.\n"
                   "# TYPE edgerec_log_records_total counter\nedgerec_log_records_total ");
    rc_buf_add_u64(b, st.records);
    rc_buf_adds(b, "\n# HELP edgerec_log_dropped_total Exposure log lines dropped, by reason.\n"
                   "# TYPE edgerec_log_dropped_total counter\n"
                   "edgerec_log_dropped_total{reason=\"buffer_full\"} ");
    rc_buf_add_u64(b, st.dropped_buffer_full);
    rc_buf_adds(b, "\nedgerec_log_dropped_total{reason=\"write_error\"} ");
    rc_buf_add_u64(b, st.dropped_write_error);
    rc_buf_adds(b, "\n");
}
