/*
 * progress.c - the progress display (progress.h).
 *
 * The terminal line is drawn as "\033[K<text>\r": clear, text, cursor back
 * to column 0. A log line that another thread writes meanwhile then starts
 * at column 0 and overwrites the progress text instead of following it.
 */
#include "progress.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "log.h"

#define DRAW_MS 200

double rb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int rb_progress_parse_mode(const char *s, enum rb_progress_mode *out)
{
    if (strcmp(s, "auto") == 0)
        *out = RB_PROGRESS_AUTO;
    else if (strcmp(s, "always") == 0)
        *out = RB_PROGRESS_ALWAYS;
    else if (strcmp(s, "never") == 0)
        *out = RB_PROGRESS_NEVER;
    else
        return RC_ERANGE;
    return 0;
}

/* "12.3M" style counts; bytes as MB. */
static void human(char *out, size_t cap, double v, int bytes)
{
    if (bytes) {
        snprintf(out, cap, "%.1fMB", v / 1e6);
        return;
    }
    if (v >= 1e9)
        snprintf(out, cap, "%.2fG", v / 1e9);
    else if (v >= 1e6)
        snprintf(out, cap, "%.2fM", v / 1e6);
    else if (v >= 1e4)
        snprintf(out, cap, "%.1fk", v / 1e3);
    else
        snprintf(out, cap, "%.0f", v);
}

static void write_all(const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* Draw or log the current stage; called with p->mu held. */
static void draw(struct rb_progress *p, double now)
{
    if (!p->stage[0] || (p->display == 1 && !p->unit[0]))
        return; /* log lines only for stages that count something */
    double secs = (now - p->stage_t0) / 1e3;
    uint64_t done = __atomic_load_n(&p->done, __ATOMIC_RELAXED), total = __atomic_load_n(&p->total, __ATOMIC_RELAXED);
    double rate = secs > 0 ? done / secs : 0;
    int bytes = strcmp(p->unit, "bytes") == 0;
    const char *unit = bytes ? "" : p->unit;
    char d[24], t[24], r[24];
    human(d, sizeof(d), (double)done, bytes);
    human(t, sizeof(t), (double)total, bytes);
    human(r, sizeof(r), rate, bytes);
    if (p->display == 2) {
        char line[256];
        int n;
        if (done == 0)
            n = snprintf(line, sizeof(line), "\033[K%-10s %6.1fs\r", p->stage, secs);
        else if (total > 0 && rate > 0 && done <= total)
            n = snprintf(line, sizeof(line), "\033[K%-10s %s/%s %s  %s %s/s  %3.0f%%  eta %.0fs  %6.1fs\r",
                         p->stage, d, t, unit, r, unit, 100.0 * done / total, (total - done) / rate, secs);
        else
            n = snprintf(line, sizeof(line), "\033[K%-10s %s %s  %s %s/s  %6.1fs\r", p->stage, d, unit, r, unit,
                         secs);
        if (n > 0)
            write_all(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
        p->drawn = 1;
    } else if (p->display == 1 && now - p->last_log >= RB_PROGRESS_LOG_S * 1e3) {
        p->last_log = now;
        if (total)
            rc_log(RC_LOG_INFO, "progress", "stage=%s %s=%llu total=%llu rate=%.0f elapsed_s=%.1f", p->stage,
                   p->unit, (unsigned long long)done, (unsigned long long)total, rate, secs);
        else
            rc_log(RC_LOG_INFO, "progress", "stage=%s %s=%llu rate=%.0f elapsed_s=%.1f", p->stage, p->unit,
                   (unsigned long long)done, rate, secs);
    }
}

static void *drawer(void *arg)
{
    struct rb_progress *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += DRAW_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
        if (!p->stop)
            draw(p, rb_now_ms());
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int rb_progress_start(struct rb_progress *p, enum rb_progress_mode mode)
{
    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->t0 = rb_now_ms();
    if (mode == RB_PROGRESS_NEVER)
        p->display = 0;
    else if (mode == RB_PROGRESS_ALWAYS || isatty(STDERR_FILENO))
        p->display = 2;
    else
        p->display = 1;
    if (!p->display)
        return 0;
    int rc = pthread_create(&p->thread, NULL, drawer, p);
    if (rc) {
        p->display = 0;
        return -rc;
    }
    p->running = 1;
    return 0;
}

void rb_progress_stop(struct rb_progress *p)
{
    if (p->running) {
        pthread_mutex_lock(&p->mu);
        p->stop = 1;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);
        p->running = 0;
    }
    rb_progress_clear(p);
}

void rb_progress_clear(struct rb_progress *p)
{
    if (p->display != 2)
        return;
    pthread_mutex_lock(&p->mu);
    if (p->drawn)
        write_all("\033[K", 3);
    p->drawn = 0;
    pthread_mutex_unlock(&p->mu);
}

void rb_progress_stage(struct rb_progress *p, const char *stage, const char *unit)
{
    pthread_mutex_lock(&p->mu);
    snprintf(p->stage, sizeof(p->stage), "%s", stage);
    snprintf(p->unit, sizeof(p->unit), "%s", unit ? unit : "");
    p->stage_t0 = rb_now_ms();
    p->last_log = p->stage_t0;
    __atomic_store_n(&p->done, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&p->total, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&p->mu);
}

double rb_progress_stage_end(struct rb_progress *p)
{
    pthread_mutex_lock(&p->mu);
    double ms = rb_now_ms() - p->stage_t0;
    char name[sizeof(p->stage)], unit[sizeof(p->unit)];
    memcpy(name, p->stage, sizeof(name));
    memcpy(unit, p->unit, sizeof(unit));
    uint64_t done = __atomic_load_n(&p->done, __ATOMIC_RELAXED);
    if (p->nstages < RB_PROGRESS_STAGES) {
        memcpy(p->stages[p->nstages].name, p->stage, sizeof(p->stages[0].name));
        memcpy(p->stages[p->nstages].unit, p->unit, sizeof(p->stages[0].unit));
        p->stages[p->nstages].ms = ms;
        p->stages[p->nstages].done = done;
        p->nstages++;
    }
    p->stage[0] = 0;
    if (p->display == 2 && p->drawn)
        write_all("\033[K", 3);
    p->drawn = 0;
    pthread_mutex_unlock(&p->mu);
    /* memory: resident now and the process's peak so far (a stage that
     * raised the peak shows it against the line before) */
    struct rusage ru;
    long peak_mib = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss / 1024 : -1;
    long rss_mib = -1, pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%*s %ld", &pages) == 1)
            rss_mib = (long)((double)pages * (double)sysconf(_SC_PAGESIZE) / 1048576.0);
        fclose(f);
    }
    if (done && unit[0])
        rc_log(RC_LOG_INFO, "stage", "stage=%s ms=%.0f %s=%llu %s_per_s=%.0f rss_mib=%ld peak_rss_mib=%ld", name, ms,
               unit, (unsigned long long)done, unit, ms > 0 ? done / (ms / 1e3) : 0.0, rss_mib, peak_mib);
    else
        rc_log(RC_LOG_INFO, "stage", "stage=%s ms=%.0f rss_mib=%ld peak_rss_mib=%ld", name, ms, rss_mib, peak_mib);
    return ms;
}

void rb_progress_update(void *ctx, const char *stage, uint64_t done, uint64_t total)
{
    struct rb_progress *p = ctx;
    (void)stage; /* the caller's sub-stage name; the display shows recbuild's stage */
    __atomic_store_n(&p->done, done, __ATOMIC_RELAXED);
    __atomic_store_n(&p->total, total, __ATOMIC_RELAXED);
}

double rb_progress_elapsed(const struct rb_progress *p)
{
    return rb_now_ms() - p->t0;
}
