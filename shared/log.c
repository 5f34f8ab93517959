#include "log.h"
#include "error.h"
#include "json.h"

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

    struct rc_buf b;
    if (log_json) {
        rc_buf_fixed(&b, line, sizeof(line));
        rc_buf_addf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":", when, level_names[level]);
        rc_buf_json_str(&b, event, strlen(event));
        rc_buf_adds(&b, ",\"msg\":");
        /* Escaping can grow the message sixfold: cut it until the line
         * fits, so that the line stays one complete JSON object. */
        size_t mark = b.len, n = strlen(msg);
        for (;;) {
            rc_buf_json_str(&b, msg, n);
            rc_buf_add(&b, "}\n", 2);
            if (!b.overflow || n == 0)
                break;
            b.len = mark;
            b.overflow = 0;
            n /= 2;
        }
        if (b.overflow)
            return;
    } else {
        /* One byte kept back for the newline, written whatever fits. */
        rc_buf_fixed(&b, line, sizeof(line) - 1);
        rc_buf_addf(&b, "ts=%s level=%s event=%s", when, level_names[level], event);
        if (msg[0])
            rc_buf_add(&b, " ", 1);
        /* One line per event: control bytes in the message (a newline in an
         * id or an error text) are written as \xHH. */
        for (const char *p = msg; *p && !b.overflow; p++) {
            unsigned char c = (unsigned char)*p;
            if (c < 0x20 || c == 0x7f)
                rc_buf_addf(&b, "\\x%02x", c);
            else
                rc_buf_add(&b, p, 1);
        }
        line[b.len++] = '\n';
    }
    (void)!write(STDERR_FILENO, line, b.len);
}
