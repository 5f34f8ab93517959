/*
 * log.h - one line per event on stderr, logfmt or JSON.
 *
 *   rc_log(RC_LOG_INFO, "swap", "version=%s records=%zu", v, n);
 *   -> ts=2026-11-22T17:30:00.123Z level=info event=swap version=... records=...
 *
 * In JSON mode the same call prints {"ts":..,"level":..,"event":..,"msg":".."}
 * with the formatted fields as one escaped "msg" string. The fields after the
 * event are the caller's: keep them key=value. Thread-safe: each line is
 * written with a single write(2). Level and format are process-wide settings
 * made once at start-up by main() before threads start.
 */
#ifndef RC_LOG_H
#define RC_LOG_H

enum rc_log_level { RC_LOG_DEBUG, RC_LOG_INFO, RC_LOG_WARN, RC_LOG_ERROR };

/* Parse "debug|info|warn|error"; returns 0 or RC_ERANGE. */
int rc_log_parse_level(const char *s, enum rc_log_level *out);
void rc_log_setup(enum rc_log_level min_level, int json);

void rc_log(enum rc_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
