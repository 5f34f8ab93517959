/*
 * progress.h - what recbuild is doing, while it does it.
 *
 * Two displays, chosen once at start:
 *   - line: on a terminal (stderr is a tty and --progress auto, or
 *     --progress always), one line redrawn in place about five times a
 *     second: stage, rows done, rows/s, and the ETA when the total is known.
 *   - log: otherwise, an rc_log "progress" line every RB_PROGRESS_LOG_S
 *     seconds while a stage runs (stage, rows, rate, elapsed).
 *   - off: --progress never.
 * Either way rb_progress_stage_end logs one "stage" line per finished stage
 * with its duration, and the durations are kept for the summary and the
 * manifest (timings_ms).
 *
 * Thread rules: rb_progress_update (also usable as an rb_progress_fn) may be
 * called from any thread, often: it stores two counters and returns. A
 * background thread draws. Stage begin/end come from the main thread.
 * Ownership: rb_progress_start creates the thread, rb_progress_stop joins
 * it; stop is safe on a display that never started.
 */
#ifndef RB_PROGRESS_H
#define RB_PROGRESS_H

#include <pthread.h>
#include <stdint.h>

#define RB_PROGRESS_STAGES 24
#define RB_PROGRESS_LOG_S 5

enum rb_progress_mode { RB_PROGRESS_AUTO, RB_PROGRESS_ALWAYS, RB_PROGRESS_NEVER };

struct rb_stage_time {
    char name[24];
    double ms;
    uint64_t done;               /* the counter at the end, in the stage's unit */
    char unit[16];
};

struct rb_progress {
    int display;                 /* 0 off, 1 log lines, 2 terminal line */
    pthread_t thread;
    int running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    /* current stage, under mu (counters written lock-free, read by the drawer) */
    char stage[24];
    char unit[16];
    double stage_t0;             /* ms, monotonic */
    uint64_t done, total;        /* __atomic, relaxed */
    int drawn;                   /* the terminal line holds text */
    double last_log;
    /* finished stages, in order */
    struct rb_stage_time stages[RB_PROGRESS_STAGES];
    int nstages;
    double t0;                   /* rb_progress_start */
};

/* Parse "auto|always|never". 0 or RC_ERANGE. */
int rb_progress_parse_mode(const char *s, enum rb_progress_mode *out);

/* Decide the display (isatty(2) for auto) and start the drawing thread.
 * Errors: -errno from pthread_create (then the display is off). */
int rb_progress_start(struct rb_progress *p, enum rb_progress_mode mode);
void rb_progress_stop(struct rb_progress *p);

/* A stage starts: counters reset, total 0 (unknown). unit names what the
 * counters count ("bytes" is shown as MB, anything else as a plain count);
 * NULL when the stage reports nothing. */
void rb_progress_stage(struct rb_progress *p, const char *stage, const char *unit);
/* The stage ends: its time is recorded and logged; returns it in ms. */
double rb_progress_stage_end(struct rb_progress *p);

/* Counters of the current stage; an rb_progress_fn (ctx = the struct rb_progress). */
void rb_progress_update(void *ctx, const char *stage, uint64_t done, uint64_t total);

/* Clear the terminal line before printing something else; a no-op otherwise. */
void rb_progress_clear(struct rb_progress *p);

/* Milliseconds since rb_progress_start. */
double rb_progress_elapsed(const struct rb_progress *p);

/* Monotonic milliseconds. */
double rb_now_ms(void);

#endif
