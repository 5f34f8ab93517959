/*
 * shopcsv.c - the shop's CSV files as recctl ab-report reads them
 * (contract in shopcsv.h).
 */
#include "shopcsv.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "error.h"

/*
 * Split line[0, len) at delim into at most nf fields, unquoting in place
 * when quotes (RFC 4180). Returns the number of fields, or -1 on bad
 * quoting.
 */
static int csv_split(char *line, size_t len, char delim, int quotes, char **f, size_t *fl, int nf)
{
    size_t i = 0;
    int k = 0;
    for (;;) {
        if (k == nf)
            return k;
        if (quotes && i < len && line[i] == '"') {
            char *w = line + i, *start = w;
            i++;
            for (;;) {
                if (i >= len)
                    return -1;
                if (line[i] == '"') {
                    if (i + 1 < len && line[i + 1] == '"') {
                        *w++ = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                *w++ = line[i++];
            }
            if (i < len && line[i] != delim)
                return -1;
            f[k] = start;
            fl[k++] = (size_t)(w - start);
        } else {
            size_t s = i;
            while (i < len && line[i] != delim) {
                if (quotes && line[i] == '"')
                    return -1;
                i++;
            }
            f[k] = line + s;
            fl[k++] = i - s;
        }
        if (i >= len)
            return k;
        i++; /* the delimiter */
    }
}

static size_t chomp(char *line, size_t n)
{
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    return n;
}

/* Open path and read its header; col[i] gets the column of names[i], or
 * -1. Errors: -errno, RC_EEMPTY (no header). */
int re_csv_open(struct re_csv *c, const char *path, const char *const *names, int nnames, int *col, char *err)
{
    memset(c, 0, sizeof(*c));
    c->path = path;
    c->f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!c->f)
        return rc_fail(err, -errno, "unable to open '%s': %s", path, strerror(errno));
    ssize_t n = getline(&c->line, &c->cap, c->f);
    if (n <= 0)
        return rc_fail(err, RC_EEMPTY, "'%s' has no header line", path);
    c->lineno = 1;
    size_t len = chomp(c->line, (size_t)n);
    char *s = c->line;
    if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) { /* a UTF-8 byte order mark */
        s += 3;
        len -= 3;
    }
    c->delim = memchr(s, '\t', len) ? '\t' : ',';
    c->quotes = c->delim == ',';
    int nf = csv_split(s, len, c->delim, c->quotes, c->field, c->len, RE_CSV_MAX_COLS);
    for (int i = 0; i < nnames; i++) {
        col[i] = -1;
        for (int k = 0; k < nf; k++)
            if (c->len[k] == strlen(names[i]) && memcmp(c->field[k], names[i], c->len[k]) == 0)
                col[i] = k;
    }
    return 0;
}

/* The next non-blank line split into fields: the count (-1 bad quoting),
 * or -2 at the end. */
int re_csv_next(struct re_csv *c, int need)
{
    for (;;) {
        ssize_t n = getline(&c->line, &c->cap, c->f);
        if (n < 0)
            return -2;
        c->lineno++;
        size_t len = chomp(c->line, (size_t)n);
        if (len == 0)
            continue;
        return csv_split(c->line, len, c->delim, c->quotes, c->field, c->len, need);
    }
}

void re_csv_close(struct re_csv *c)
{
    if (c->f && c->f != stdin)
        fclose(c->f);
    free(c->line);
}

/* n digits at s as a number, or -1. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* ISO-8601 date and time with an optional zone (schemas/inputs.md). */
static int parse_iso(const char *s, size_t n, int64_t *out)
{
    if (n < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
        s[16] != ':')
        return -1;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2), h = digits(s + 11, 2), mi = digits(s + 14, 2),
        se = digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 60)
        return -1;
    size_t i = 19;
    if (i < n && s[i] == '.') {
        i++;
        size_t f = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == f)
            return -1;
    }
    if (i < n && s[i] == ' ')
        i++;
    int64_t off = 0;
    if (i < n) {
        const char *z = s + i;
        size_t zl = n - i;
        if (zl == 1 && z[0] == 'Z') {
        } else if (zl == 3 && memcmp(z, "UTC", 3) == 0) {
        } else if ((z[0] == '+' || z[0] == '-') && (zl == 3 || zl == 5 || zl == 6)) {
            int zh = digits(z + 1, 2), zm = zl == 3 ? 0 : digits(z + (zl == 6 ? 4 : 3), 2);
            if (zh < 0 || zm < 0 || (zl == 6 && z[3] != ':'))
                return -1;
            off = (z[0] == '+' ? 1 : -1) * (int64_t)(zh * 3600 + zm * 60);
        } else {
            return -1;
        }
    }
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = se};
    *out = (int64_t)timegm(&tm) - off;
    return 0;
}

/* Whole Unix seconds from a number (s, ms or us by magnitude) or ISO-8601. */
int re_csv_ts(const char *s, size_t n, int64_t *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof(buf))
        return -1;
    if (n >= 19 && s[4] == '-')
        return parse_iso(s, n, out);
    size_t i = s[0] == '-' || s[0] == '+', dig = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        dig++;
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            ;
    if (i != n || dig == 0 || dig > 18)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    double v = strtod(buf, NULL), m = fabs(v);
    if (m >= 1e14)
        v /= 1e6;
    else if (m >= 1e11)
        v /= 1e3;
    *out = (int64_t)floor(v);
    return 0;
}

int re_csv_price(const char *s, size_t n, double *out)
{
    char buf[64];
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    double v = strtod(buf, &end);
    if (*end || !(v >= 0) || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

