#include "log.h"
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum rc_log_level log_min = RC_LOG_INFO;
static int log_json;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int rc_log_parse_level(const char *s, enum rc_log_level *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum rc_log_level)i;
            return 0;
        }
    return RC_ERANGE;
}

void rc_log_setup(enum rc_log_level min_level, int json)
{
    log_min = min_level;
    log_json = json;
}

void rc_log(enum rc_log_level level, const char *event, const char *fmt, ...)
{
    if (level < log_min)
        return;
    char line[2048], msg[1600];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    size_t w = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + w, sizeof(when) - w, ".%03ldZ", ts.tv_nsec / 1000000);

    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    int n;
    if (log_json) {
        char esc[sizeof(msg) * 2];
        size_t o = 0;
        for (const unsigned char *p = (const unsigned char *)msg; *p && o + 7 < sizeof(esc); p++) {
            if (*p == '"' || *p == '\\') {
                esc[o++] = '\\';
                esc[o++] = (char)*p;
            } else if (*p < 0x20) {
                o += (size_t)snprintf(esc + o, sizeof(esc) - o, "\\u%04x", *p);
            } else {
                esc[o++] = (char)*p;
            }
        }
        esc[o] = 0;
        n = snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":\"%s\",\"msg\":\"%s\"}\n",
                     when, level_names[level], event, esc);
    } else {
        n = snprintf(line, sizeof(line), "ts=%s level=%s event=%s%s%s\n", when, level_names[level], event,
                     msg[0] ? " " : "", msg);
    }
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line)) {
        n = sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    (void)!write(STDERR_FILENO, line, (size_t)n);
}
