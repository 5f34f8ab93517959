/*
 * ingest.c - events files into struct rb_dataset (schemas/inputs.md), the
 * ingest options and bad-line accounting, and the chunked line reader and
 * CSV splitter that catalog.c and npy.c share (ingest_int.h).
 *
 * Hot path, per data line: one memchr for the newline (inside the reader),
 * one for a quote, one per needed field for the delimiter, hand-written
 * timestamp parsing, a case-folding compare against at most 12 event
 * spellings, and a hash-table lookup per id (cookie and session lookups are
 * skipped while the id repeats, as it does in logs grouped by visitor).
 * Nothing is allocated per line; events land in one growing array (and
 * session indices in a parallel one).
 */
#include "ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "ingest_int.h"
#include "keys.h"
#include "log.h"

#define PROGRESS_EVERY (64u << 20) /* bytes between progress calls */
#define SAMPLE_TEXT 100            /* bytes of a too-long line kept for its sample */

/* ---- line reader ---- */

/*
 * The reader's buffer: a chunk, plus room for the unfinished line carried
 * over from the last one (at most RB_LINE_MAX + "\r"), plus a spare byte.
 * A regular file smaller than that gets a buffer of its size + 2 instead
 * (a fuzzer opens thousands of small files a second, and 4 MiB each cost
 * it most of its time); should the file grow past that while it is read,
 * the buffer grows to the full size the first time it is full, so what is
 * read never depends on the size it started with.
 */
#define LINES_FULL_CAP ((size_t)RB_READ_CHUNK + RB_LINE_MAX + 2)

int rb_lines_open(struct rb_lines *r, const char *path, const char *stage, rb_progress_fn progress, void *ctx,
                  char *err)
{
    memset(r, 0, sizeof(*r));
    r->progress = progress;
    r->progress_ctx = ctx;
    r->stage = stage;
    if (strcmp(path, "-") == 0) {
        r->fd = STDIN_FILENO;
        r->name = "<stdin>";
    } else {
        r->name = path;
        r->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (r->fd < 0)
            return rc_fail(err, -errno, "unable to open '%s': %s", path, strerror(errno));
        r->own_fd = 1;
    }
    r->cap = LINES_FULL_CAP;
    struct stat st;
    if (fstat(r->fd, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            rb_lines_close(r);
            return rc_fail(err, -EISDIR, "unable to read '%s': %s", path, strerror(EISDIR));
        }
        if (S_ISREG(st.st_mode)) {
            r->total = (uint64_t)st.st_size;
            (void)posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
            /* A smaller file fits whole, with room to see the end: the first
             * read(2) takes all of it, as the full buffer's would. */
            if (r->total < LINES_FULL_CAP - 2)
                r->cap = (size_t)r->total + 2;
        }
    }
    r->buf = malloc(r->cap);
    if (!r->buf) {
        rb_lines_close(r);
        return rc_fail(err, -ENOMEM, "out of memory reading '%s'", path);
    }
    return 0;
}

void rb_lines_close(struct rb_lines *r)
{
    if (r->own_fd && r->fd >= 0)
        close(r->fd);
    free(r->buf);
    r->buf = NULL;
    r->own_fd = 0;
    r->fd = -1;
}

/* Append what read(2) gives to buf[end, cap). */
static int lines_fill(struct rb_lines *r, char *err)
{
    ssize_t got;
    do
        got = read(r->fd, r->buf + r->end, r->cap - r->end);
    while (got < 0 && errno == EINTR);
    if (got < 0)
        return rc_fail(err, -errno, "unable to read '%s': %s", r->name, strerror(errno));
    if (got == 0)
        r->eof = 1;
    r->end += (size_t)got;
    r->bytes += (uint64_t)got;
    if (r->progress && (r->eof || r->bytes - r->reported >= PROGRESS_EVERY)) {
        r->reported = r->bytes;
        r->progress(r->progress_ctx, r->stage, r->bytes, r->total);
    }
    return 0;
}

static int lines_emit(struct rb_lines *r, const char *p, size_t n, const char **line, size_t *len, int *too_long)
{
    r->lineno++;
    if (n && p[n - 1] == '\r')
        n--;
    if (r->lineno == 1 && n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
        p += 3;
        n -= 3;
    }
    if (n > RB_LINE_MAX) {
        *too_long = 1;
        n = SAMPLE_TEXT;
    }
    *line = p;
    *len = n;
    return 1;
}

int rb_lines_next(struct rb_lines *r, const char **line, size_t *len, int *too_long, char *err)
{
    *too_long = 0;
    for (;;) {
        char *p = r->buf + r->start;
        size_t avail = r->end - r->start;
        char *nl = avail ? memchr(p, '\n', avail) : NULL;
        if (r->skipping) {
            /* Inside a too-long line: drop bytes up to its newline. */
            if (nl) {
                r->start = (size_t)(nl + 1 - r->buf);
                r->skipping = 0;
                continue;
            }
            r->start = r->end = 0;
        } else if (nl) {
            r->start += (size_t)(nl - p) + 1;
            return lines_emit(r, p, (size_t)(nl - p), line, len, too_long);
        } else if (avail > RB_LINE_MAX + 1) {
            /* No newline within RB_LINE_MAX (+ "\r") bytes: report and skip. */
            r->skipping = 1;
            r->lineno++;
            *too_long = 1;
            *line = p;
            *len = SAMPLE_TEXT;
            return 1;
        } else if (r->eof) {
            if (!avail)
                return 0;
            r->start = r->end;
            return lines_emit(r, p, avail, line, len, too_long);
        } else {
            memmove(r->buf, p, avail);
            r->start = 0;
            r->end = avail;
        }
        if (r->eof)
            return 0;
        if (r->end == r->cap && r->cap < LINES_FULL_CAP) {
            /* The file grew after rb_lines_open sized the buffer. */
            char *buf = realloc(r->buf, LINES_FULL_CAP);
            if (!buf)
                return rc_fail(err, -ENOMEM, "out of memory reading '%s'", r->name);
            r->buf = buf;
            r->cap = LINES_FULL_CAP;
        }
        int rc = lines_fill(r, err);
        if (rc)
            return rc;
    }
}

/* ---- fields ---- */

int rb_split(const char *line, size_t len, char delim, int csv_quotes, struct rb_field *f, int nf, char *scratch)
{
    const char *p = line, *end = line + len;
    int i = 0;
    if (nf <= 0)
        return 0;
    if (!csv_quotes || !memchr(line, '"', len)) {
        for (;;) {
            const char *q = memchr(p, delim, (size_t)(end - p));
            if (!q)
                q = end;
            f[i].p = p;
            f[i].len = (size_t)(q - p);
            i++;
            if (q == end || i == nf)
                return i;
            p = q + 1;
        }
    }
    char *o = scratch;
    for (;;) {
        if (p < end && *p == '"') {
            char *start = o;
            p++;
            for (;;) {
                const char *q = memchr(p, '"', (size_t)(end - p));
                if (!q)
                    return -1;
                memcpy(o, p, (size_t)(q - p));
                o += q - p;
                p = q + 1;
                if (p < end && *p == '"') {
                    *o++ = '"';
                    p++;
                    continue;
                }
                break;
            }
            f[i].p = start;
            f[i].len = (size_t)(o - start);
            i++;
            if (p == end || i == nf)
                return p == end || *p == delim ? i : -1;
            if (*p != delim)
                return -1;
            p++;
        } else {
            const char *q = memchr(p, delim, (size_t)(end - p));
            if (!q)
                q = end;
            if (memchr(p, '"', (size_t)(q - p)))
                return -1;
            f[i].p = p;
            f[i].len = (size_t)(q - p);
            i++;
            if (q == end || i == nf)
                return i;
            p = q + 1;
        }
    }
}

void rb_trim(struct rb_field *f)
{
    while (f->len && (f->p[0] == ' ' || f->p[0] == '\t')) {
        f->p++;
        f->len--;
    }
    while (f->len && (f->p[f->len - 1] == ' ' || f->p[f->len - 1] == '\t'))
        f->len--;
}

/* "file:line: text" into out[cap], control bytes as '?', "..." when cut. */
static void format_sample(char *out, size_t cap, const char *name, uint64_t lineno, const char *line, size_t len)
{
    int w = snprintf(out, cap, "%.80s:%" PRIu64 ": ", name, lineno);
    size_t o = w < 0 ? 0 : (size_t)w;
    if (o >= cap)
        o = cap - 1;
    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)line[i];
        if (o + 4 >= cap && i + 1 < len) {
            memcpy(out + o, "...", 3); /* the text goes on: say so */
            o += 3;
            break;
        }
        out[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    out[o] = '\0';
}

void rb_bad_line(struct rb_ingest_stats *st, enum rb_bad_reason why, const char *name, uint64_t lineno,
                 const char *line, size_t len)
{
    uint64_t k = st->bad[why]++;
    if (k < RB_BAD_SAMPLES)
        format_sample(st->samples[why][k], sizeof(st->samples[why][k]), name, lineno, line, len);
}

/* Count a line whose event value v[0, vlen) is unknown; keep the first few distinct values with a line each. */
static void unknown_type(struct rb_ingest_stats *st, const char *v, size_t vlen, const char *name, uint64_t lineno,
                         const char *line, size_t len)
{
    st->events_unknown_type++;
    for (int k = 0; k < RB_BAD_SAMPLES; k++) {
        char *kept = st->unknown_types[k];
        if (!kept[0]) {
            size_t n = vlen < RB_TYPE_SAMPLE ? vlen : RB_TYPE_SAMPLE;
            for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)v[i];
                kept[i] = c < 0x20 || c == 0x7f || c == '"' || c == '\\' ? '?' : (char)c;
            }
            kept[n] = '\0';
            format_sample(st->unknown_type_samples[k], sizeof(st->unknown_type_samples[k]), name, lineno, line, len);
            return;
        }
        if (vlen <= RB_TYPE_SAMPLE && strlen(kept) == vlen && memcmp(kept, v, vlen) == 0)
            return; /* a value already kept (values with bytes shown as '?' may take a slot more than once) */
    }
}

int rb_product_intern(struct rb_dataset *d, const char *s, size_t len, uint32_t *idx)
{
    uint32_t old_cap = d->products.cap;
    int rc = rb_strtab_intern(&d->products, s, len, idx);
    if (rc || d->products.cap == old_cap)
        return rc;
    uint32_t cap = d->products.cap;
    uint8_t *in_stock = realloc(d->in_stock, cap);
    if (in_stock)
        d->in_stock = in_stock;
    uint8_t *in_catalog = realloc(d->in_catalog, cap);
    if (in_catalog)
        d->in_catalog = in_catalog;
    uint32_t *category = realloc(d->category, (size_t)cap * sizeof(*category));
    if (category)
        d->category = category;
    if (!in_stock || !in_catalog || !category)
        return -ENOMEM; /* the id stays interned; the caller gives up on the dataset */
    memset(d->in_stock + old_cap, d->have_catalog ? 0 : 1, cap - old_cap);
    memset(d->in_catalog + old_cap, 0, cap - old_cap);
    memset(d->category + old_cap, 0xff, (size_t)(cap - old_cap) * sizeof(*category)); /* RB_NONE */
    return 0;
}

/* ---- options ---- */

static const char *const canonical_events[RB_FILE_EVENT_TYPES] = {"view", "cart", "purchase"};

void rb_ingest_opts_default(struct rb_ingest_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->col_ts = "ts";
    o->col_cookie = "cookie";
    o->col_event = "event";
    o->col_product = "product";
    o->col_location = "location";
    o->col_device = "device";
    o->col_session = "session";
    for (int t = 0; t < RB_FILE_EVENT_TYPES; t++)
        o->event_names[t][0] = canonical_events[t];
    o->ts_unit = RB_TS_AUTO;
    o->max_bad_ratio = 0.01;
}

/* Copy s[0, len) into o->names_buf; NULL when full. */
static const char *opts_store(struct rb_ingest_opts *o, const char *s, size_t len)
{
    if (o->names_len + len + 1 > sizeof(o->names_buf))
        return NULL;
    char *p = o->names_buf + o->names_len;
    memcpy(p, s, len);
    p[len] = '\0';
    o->names_len += len + 1;
    return p;
}

/*
 * Walk "key=value,key=value": calls set(o, key, klen, value, vlen) for each
 * pair; set returns 0 or an error message (static text).
 */
typedef const char *(*pair_fn)(struct rb_ingest_opts *o, const char *k, size_t kl, const char *v, size_t vl);

static int parse_pairs(struct rb_ingest_opts *o, const char *spec, const char *what, pair_fn set, char *err)
{
    const char *p = spec;
    if (!*p)
        return rc_fail(err, RC_EFORMAT, "empty %s", what);
    for (;;) {
        size_t n = strcspn(p, ",");
        const char *eq = memchr(p, '=', n);
        if (!eq || eq == p || eq + 1 == p + n)
            return rc_fail(err, RC_EFORMAT, "%s part '%.*s' is not name=value", what, (int)n, p);
        size_t kl = (size_t)(eq - p), vl = n - kl - 1;
        if (vl > RC_ID_MAX)
            return rc_fail(err, RC_EFORMAT, "%s part '%.*s': value longer than %d bytes", what, (int)n, p, RC_ID_MAX);
        const char *why = set(o, p, kl, eq + 1, vl);
        if (why)
            return rc_fail(err, RC_EFORMAT, "%s part '%.*s': %s", what, (int)n, p, why);
        if (!p[n])
            return 0;
        p += n + 1;
    }
}

static int name_is(const char *k, size_t kl, const char *name)
{
    return strlen(name) == kl && memcmp(k, name, kl) == 0;
}

/* a[0, n) and b[0, n) are equal when ASCII letters are folded to one case. */
static int ascii_ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x != y && ((x | 0x20) != (y | 0x20) || (x | 0x20) - 'a' > 25u))
            return 0;
    }
    return 1;
}

static const char *set_column(struct rb_ingest_opts *o, const char *k, size_t kl, const char *v, size_t vl)
{
    const char **slot = name_is(k, kl, "ts")         ? &o->col_ts
                        : name_is(k, kl, "cookie")   ? &o->col_cookie
                        : name_is(k, kl, "event")    ? &o->col_event
                        : name_is(k, kl, "product")  ? &o->col_product
                        : name_is(k, kl, "location") ? &o->col_location
                        : name_is(k, kl, "device")   ? &o->col_device
                        : name_is(k, kl, "session")  ? &o->col_session
                                                     : NULL;
    if (!slot)
        return "unknown column (expected ts, cookie, event, product, location, device or session)";
    const char *s = opts_store(o, v, vl);
    if (!s)
        return "too many mapped names";
    *slot = s;
    return NULL;
}

static const char *set_event(struct rb_ingest_opts *o, const char *k, size_t kl, const char *v, size_t vl)
{
    int t = -1;
    for (int i = 0; i < RB_FILE_EVENT_TYPES; i++)
        if (name_is(k, kl, canonical_events[i]))
            t = i;
    if (t < 0)
        return "unknown event type (expected view, cart or purchase)";
    /* A spelling belongs to one type: the latest mapping takes it from any other. */
    for (int u = 0; u < RB_FILE_EVENT_TYPES; u++) {
        const char **names = o->event_names[u];
        for (int i = 0; i < 4 && names[i];) {
            if (u != t && strlen(names[i]) == vl && ascii_ieq(names[i], v, vl)) {
                memmove(&names[i], &names[i + 1], (size_t)(3 - i) * sizeof(*names));
                names[3] = NULL;
            } else {
                i++;
            }
        }
    }
    int n = 0;
    while (n < 4 && o->event_names[t][n])
        n++;
    if (n >= 3)
        return "too many spellings for one event type (at most 2 besides the canonical one)";
    const char *s = opts_store(o, v, vl);
    if (!s)
        return "too many mapped names";
    o->event_names[t][n] = s;
    o->event_names[t][n + 1] = NULL;
    return NULL;
}

int rb_ingest_parse_map(struct rb_ingest_opts *o, const char *spec, char *err)
{
    return parse_pairs(o, spec, "--map", set_column, err);
}

int rb_ingest_parse_event_map(struct rb_ingest_opts *o, const char *spec, char *err)
{
    return parse_pairs(o, spec, "--map-event", set_event, err);
}

/* Public log layouts (schemas/inputs.md, "Presets"). */
static const struct preset {
    const char *name, *map, *map_event;
    int ts_unit;
} presets[] = {
    /* RetailRocket events.csv: timestamp (ms),visitorid,event,itemid,transactionid */
    {"retailrocket", "ts=timestamp,cookie=visitorid,event=event,product=itemid", "cart=addtocart,purchase=transaction",
     RB_TS_MS},
    /* REES46 (Kaggle "eCommerce behavior data"): event_time (ISO, " UTC"),event_type,product_id,category_id,
     * category_code,brand,price,user_id,user_session; event types view, cart, purchase (remove_from_cart is
     * an unknown type) */
    {"rees46", "ts=event_time,cookie=user_id,event=event_type,product=product_id,session=user_session", NULL,
     RB_TS_AUTO},
};

int rb_ingest_preset(struct rb_ingest_opts *o, const char *name, char *err)
{
    for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++) {
        const struct preset *p = &presets[i];
        if (strcmp(name, p->name) != 0)
            continue;
        char why[RC_ERRMSG_MAX];
        int rc = rb_ingest_parse_map(o, p->map, why);
        if (rc == 0 && p->map_event)
            rc = rb_ingest_parse_event_map(o, p->map_event, why);
        if (rc) /* only when earlier options filled names_buf or a type's spellings */
            return rc_fail(err, rc, "--preset %s: %s", name, why);
        o->ts_unit = p->ts_unit;
        return 0;
    }
    return rc_fail(err, RC_EFORMAT, "unknown preset '%s' (expected retailrocket or rees46)", name);
}

/* ---- timestamps ---- */

static int digits(const char *p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        unsigned d = (unsigned char)p[i] - '0';
        if (d > 9)
            return -1;
        v = v * 10 + (int)d;
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1..12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 ? 28 + leap : dm[m - 1];
}

/*
 * YYYY-MM-DD[T ]HH:MM:SS[.f+][zone] -> Unix seconds (fraction dropped).
 * zone: none (UTC), or, right after the time or one space: Z, UTC, ±HH,
 * ±HHMM or ±HH:MM.
 */
static int parse_iso(const char *s, size_t n, int64_t *out)
{
    int Y, M, D, h, mi, sec;
    if (n < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
        s[16] != ':')
        return -1;
    if (digits(s, 4, &Y) || digits(s + 5, 2, &M) || digits(s + 8, 2, &D) || digits(s + 11, 2, &h) ||
        digits(s + 14, 2, &mi) || digits(s + 17, 2, &sec))
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > days_in_month(Y, M) || h > 23 || mi > 59 || sec > 60)
        return -1;
    size_t p = 19;
    if (p < n && s[p] == '.') {
        size_t f = ++p;
        while (p < n && (unsigned)((unsigned char)s[p] - '0') <= 9u)
            p++;
        if (p == f)
            return -1;
    }
    int off = 0;
    if (p < n && s[p] == ' ' && ++p == n)
        return -1; /* a space with no zone after it */
    if (p < n && (s[p] == 'Z' || s[p] == 'z')) {
        p++;
    } else if (n - p == 3 && memcmp(s + p, "UTC", 3) == 0) {
        p = n;
    } else if (p < n && (s[p] == '+' || s[p] == '-')) {
        int sign = s[p] == '-' ? -1 : 1, oh, om = 0;
        if (p + 3 > n || digits(s + p + 1, 2, &oh))
            return -1;
        p += 3;
        if (p < n && s[p] == ':' && ++p == n)
            return -1; /* "+02:" */
        if (p < n) {
            if (p + 2 > n || digits(s + p, 2, &om))
                return -1;
            p += 2;
        }
        if (oh > 23 || om > 59)
            return -1;
        off = sign * (oh * 3600 + om * 60);
    }
    if (p != n)
        return -1;
    *out = days_from_civil(Y, M, D) * 86400 + h * 3600 + mi * 60 + sec - off;
    return 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

#define TS_MS_FROM 100000000000LL    /* 1e11: |v| from here is milliseconds under RB_TS_AUTO */
#define TS_US_FROM 100000000000000LL /* 1e14: ... and from here microseconds */

/* Unix time (integer or decimal, in unit, an enum rb_ts_unit) or ISO-8601 -> seconds. */
static int parse_ts(const char *s, size_t n, int unit, int64_t *out)
{
    if (n >= 19 && s[4] == '-')
        return parse_iso(s, n, out);
    size_t p = 0;
    int neg = 0;
    if (p < n && (s[p] == '-' || s[p] == '+'))
        neg = s[p++] == '-';
    size_t first = p;
    int64_t v = 0;
    while (p < n) {
        unsigned d = (unsigned char)s[p] - '0';
        if (d > 9)
            break;
        if (p - first == 18) /* a 19th digit: refused before it could overflow v */
            return -1;
        v = v * 10 + d;
        p++;
    }
    if (p == first)
        return -1;
    int frac = 0;
    if (p < n && s[p] == '.') {
        size_t f = ++p;
        while (p < n && (unsigned)((unsigned char)s[p] - '0') <= 9u)
            frac |= s[p++] != '0';
        if (p == f)
            return -1;
    }
    if (p != n)
        return -1;
    if (unit == RB_TS_AUTO)
        unit = v >= TS_US_FROM ? RB_TS_US : v >= TS_MS_FROM ? RB_TS_MS : RB_TS_S;
    if (neg)
        v = frac ? -v - 1 : -v; /* floor */
    *out = unit == RB_TS_US ? floor_div(v, 1000000) : unit == RB_TS_MS ? floor_div(v, 1000) : v;
    return 0;
}

int rb_parse_ts(const char *s, size_t n, int unit, int64_t *out)
{
    return parse_ts(s, n, unit, out);
}

/* ---- events ---- */

enum role { ROLE_TS, ROLE_COOKIE, ROLE_EVENT, ROLE_PRODUCT, ROLE_LOC, ROLE_DEV, ROLE_SESSION, ROLES };

struct event_name {
    const char *s;
    size_t len;
    uint8_t type;
};

static int header_columns(struct rb_lines *r, const struct rb_ingest_opts *o, const char *line, size_t len,
                          char *delim, int col[ROLES], char *scratch, char *err)
{
    static const char *const canon[ROLES] = {"ts", "cookie", "event", "product", "location", "device", "session"};
    const char *names[ROLES] = {o->col_ts,       o->col_cookie, o->col_event,  o->col_product,
                                o->col_location, o->col_device, o->col_session};
    *delim = memchr(line, '\t', len) ? '\t' : ',';
    struct rb_field *f = malloc(RB_HEADER_FIELDS * sizeof(*f));
    if (!f)
        return rc_fail(err, -ENOMEM, "out of memory reading '%s'", r->name);
    int nf = rb_split(line, len, *delim, *delim == ',', f, RB_HEADER_FIELDS, scratch);
    if (nf < 0) {
        free(f);
        return rc_fail(err, RC_EFORMAT, "events file '%s': bad quoting in the header '%.*s'", r->name,
                       (int)(len < 200 ? len : 200), line);
    }
    for (int role = 0; role < ROLES; role++) {
        col[role] = -1;
        size_t nl = names[role] ? strlen(names[role]) : 0;
        for (int i = 0; i < nf && nl; i++) {
            struct rb_field h = f[i];
            rb_trim(&h);
            if (h.len == nl && memcmp(h.p, names[role], nl) == 0) {
                col[role] = i;
                break;
            }
        }
        if (col[role] < 0 && role <= ROLE_PRODUCT) {
            const char *want = names[role] ? names[role] : canon[role];
            int mapped = strcmp(want, canon[role]) != 0;
            int rc = rc_fail(err, RC_EFORMAT, "events file '%s' has no column '%s'%s%s%s (header: '%.*s')", r->name,
                             want, mapped ? " (mapped from '" : "", mapped ? canon[role] : "", mapped ? "')" : "",
                             (int)(len < 200 ? len : 200), line);
            free(f);
            return rc;
        }
        if (col[role] < 0 && names[role] && strcmp(names[role], canon[role]) != 0)
            rc_log(RC_LOG_WARN, "events_column", "file=\"%s\" column=%s mapped_from=%s msg=\"optional column not in "
                   "the header: read without it\"", r->name, names[role], canon[role]);
    }
    free(f);
    return 0;
}

/* Double d->events, and d->event_session with it when there is one. */
static int events_grow(struct rb_dataset *d)
{
    size_t cap = d->events_cap ? d->events_cap * 2 : (size_t)1 << 16;
    struct rb_event *ev = realloc(d->events, cap * sizeof(*ev));
    if (!ev)
        return -ENOMEM;
    d->events = ev;
    if (d->event_session) {
        uint32_t *es = realloc(d->event_session, cap * sizeof(*es));
        if (!es)
            return -ENOMEM; /* events_cap stays: both arrays still hold it */
        d->event_session = es;
    }
    d->events_cap = cap;
    return 0;
}

/* The first file with a session column: event_session for the events so far, all RB_NONE. */
static int sessions_start(struct rb_dataset *d)
{
    if (d->event_session)
        return 0;
    if (!d->events_cap && events_grow(d))
        return -ENOMEM;
    d->event_session = malloc(d->events_cap * sizeof(*d->event_session));
    if (!d->event_session)
        return -ENOMEM;
    memset(d->event_session, 0xff, d->events_cap * sizeof(*d->event_session)); /* RB_NONE */
    return 0;
}

/* Index of a location or device; RB_NONE16 for an empty field; <0 error or bad reason via *why. */
static int intern_small(struct rb_strtab *t, const struct rb_field *f, uint16_t *last, uint16_t *out, int *why)
{
    if (f->len == 0) {
        *out = RB_NONE16;
        return 0;
    }
    if (*last != RB_NONE16 && t->lens[*last] == f->len && memcmp(t->arena + t->offs[*last], f->p, f->len) == 0) {
        *out = *last;
        return 0;
    }
    uint32_t i = rb_strtab_find(t, f->p, f->len);
    if (i == RB_NONE) {
        if (t->n >= RB_NONE16) {
            *why = RB_BAD_LOCDEV;
            return 1;
        }
        int rc = rb_strtab_intern(t, f->p, f->len, &i);
        if (rc == RC_ETOOLONG || rc == RC_ECOLLISION) {
            *why = RB_BAD_ID;
            return 1;
        }
        if (rc)
            return rc;
    }
    *out = *last = (uint16_t)i;
    return 0;
}

/* One events file being read: its reader, columns and event spellings, and
 * the ids of the line before (lookups are skipped while an id repeats). */
struct events_file {
    struct rb_lines r;
    const char *line;   /* the line at hand, valid until the next read */
    size_t len;
    char delim;
    int csv;            /* comma-delimited: fields may be quoted */
    int col[ROLES];     /* field of each role, -1 when absent */
    int need;           /* fields a line must have: the last needed column + 1 */
    int ts_unit;        /* enum rb_ts_unit */
    struct event_name names[RB_FILE_EVENT_TYPES * 4];
    int nnames;
    uint32_t last_cookie, last_session; /* RB_NONE: none yet */
    uint16_t last_loc, last_dev;        /* RB_NONE16: none yet */
    char *scratch;      /* RB_LINE_MAX + 1 bytes for rb_split */
    struct rb_field f[RB_HEADER_FIELDS];
};

/* The fields of one data line, by role; absent optional columns read as empty. */
struct event_fields {
    const struct rb_field *ts, *cookie, *event, *product, *loc, *dev, *session;
};

static int events_file_open(struct events_file *ef, const char *path, const struct rb_ingest_opts *o,
                            rb_progress_fn progress, void *progress_ctx, char *err)
{
    memset(ef, 0, sizeof(*ef));
    ef->ts_unit = o->ts_unit;
    for (int t = 0; t < RB_FILE_EVENT_TYPES; t++)
        for (int i = 0; i < 4 && o->event_names[t][i]; i++)
            ef->names[ef->nnames++] =
                (struct event_name){o->event_names[t][i], strlen(o->event_names[t][i]), (uint8_t)t};
    ef->last_cookie = ef->last_session = RB_NONE;
    ef->last_loc = ef->last_dev = RB_NONE16;
    int rc = rb_lines_open(&ef->r, path, "events", progress, progress_ctx, err);
    if (rc)
        return rc;
    if (!(ef->scratch = malloc(RB_LINE_MAX + 1))) {
        rb_lines_close(&ef->r);
        return rc_fail(err, -ENOMEM, "out of memory reading '%s'", ef->r.name);
    }
    return 0;
}

static void events_file_close(struct events_file *ef)
{
    free(ef->scratch);
    rb_lines_close(&ef->r);
}

/* The header, the first line that is not blank: the delimiter and the columns. */
static int read_header(struct events_file *ef, struct rb_dataset *d, const struct rb_ingest_opts *o, char *err)
{
    int rc, too_long;
    do
        rc = rb_lines_next(&ef->r, &ef->line, &ef->len, &too_long, err);
    while (rc == 1 && ef->len == 0 && !too_long);
    if (rc == 0)
        return rc_fail(err, RC_EEMPTY, "events file '%s' is empty (expected a header line)", ef->r.name);
    if (rc < 0)
        return rc;
    if (too_long)
        return rc_fail(err, RC_EFORMAT, "events file '%s': header line longer than %d bytes", ef->r.name,
                       RB_LINE_MAX);
    if ((rc = header_columns(&ef->r, o, ef->line, ef->len, &ef->delim, ef->col, ef->scratch, err)) != 0)
        return rc;
    for (int role = 0; role < ROLES; role++)
        if (ef->col[role] + 1 > ef->need)
            ef->need = ef->col[role] + 1;
    ef->csv = ef->delim == ',';
    if (ef->col[ROLE_SESSION] >= 0 && (rc = sessions_start(d)) != 0)
        return rc_fail(err, rc, "out of memory reading '%s'", ef->r.name);
    return 0;
}

/* Count the line at hand as bad for reason why; returns 1, "skip the line". */
static int bad_line(struct events_file *ef, struct rb_ingest_stats *st, enum rb_bad_reason why)
{
    rb_bad_line(st, why, ef->r.name, ef->r.lineno, ef->line, ef->len);
    return 1;
}

/* Split the line at hand into its fields: 0, or 1 when it is bad (counted). */
static int split_event(struct events_file *ef, struct rb_ingest_stats *st, struct event_fields *x)
{
    static const struct rb_field empty = {"", 0};
    int nf = rb_split(ef->line, ef->len, ef->delim, ef->csv, ef->f, ef->need, ef->scratch);
    if (nf < ef->need)
        return bad_line(ef, st, nf < 0 ? RB_BAD_QUOTE : RB_BAD_FIELDS);
    const int *col = ef->col;
    x->ts = &ef->f[col[ROLE_TS]];
    x->cookie = &ef->f[col[ROLE_COOKIE]];
    x->event = &ef->f[col[ROLE_EVENT]];
    x->product = &ef->f[col[ROLE_PRODUCT]];
    x->loc = col[ROLE_LOC] >= 0 ? &ef->f[col[ROLE_LOC]] : &empty;
    x->dev = col[ROLE_DEV] >= 0 ? &ef->f[col[ROLE_DEV]] : &empty;
    x->session = col[ROLE_SESSION] >= 0 ? &ef->f[col[ROLE_SESSION]] : &empty;
    return 0;
}

/* The event type of value f (any case), or -1 when no spelling matches. */
static int event_type(const struct events_file *ef, const struct rb_field *f)
{
    for (int i = 0; i < ef->nnames; i++)
        if (ef->names[i].len == f->len && ascii_ieq(ef->names[i].s, f->p, f->len))
            return ef->names[i].type;
    return -1;
}

/* The timestamp and type into e, the ids' lengths checked: 0, or 1 when the line is bad (counted). */
static int check_values(struct events_file *ef, struct rb_ingest_stats *st, const struct event_fields *x,
                        struct rb_event *e)
{
    if (parse_ts(x->ts->p, x->ts->len, ef->ts_unit, &e->ts))
        return bad_line(ef, st, RB_BAD_TS);
    int type = event_type(ef, x->event);
    if (type < 0) {
        if (x->event->len == 0)
            return bad_line(ef, st, RB_BAD_EVENT);
        unknown_type(st, x->event->p, x->event->len, ef->r.name, ef->r.lineno, ef->line, ef->len);
        return 1;
    }
    e->type = (uint8_t)type;
    if (x->cookie->len == 0 || x->cookie->len > RC_ID_MAX || x->product->len == 0 || x->product->len > RC_ID_MAX ||
        x->loc->len > RC_ID_MAX || x->dev->len > RC_ID_MAX || x->session->len > RC_ID_MAX)
        return bad_line(ef, st, RB_BAD_ID);
    return 0;
}

/* Index of the non-empty id f in t, reusing *last when the line before had the same id; *last follows. Errors as
 * rb_strtab_intern. */
static int intern_repeated(struct rb_strtab *t, const struct rb_field *f, uint32_t *last, uint32_t *out)
{
    if (*last != RB_NONE && t->lens[*last] == f->len && memcmp(t->arena + t->offs[*last], f->p, f->len) == 0) {
        *out = *last;
        return 0;
    }
    int rc = rb_strtab_intern(t, f->p, f->len, out);
    if (rc == 0)
        *last = *out;
    return rc;
}

/*
 * The line's ids as indices into e and *session: location and device, then
 * the session (a collision there must not leave a cookie or product without
 * events), the cookie and the product. 0, 1 when the line is bad (counted),
 * or a fatal error (-ENOMEM, RC_ERANGE).
 */
static int intern_ids(struct events_file *ef, struct rb_dataset *d, const struct event_fields *x, struct rb_event *e,
                      uint32_t *session)
{
    struct rb_ingest_stats *st = &d->stats;
    int why = 0;
    int rc = intern_small(&d->locs, x->loc, &ef->last_loc, &e->loc, &why);
    if (rc == 0)
        rc = intern_small(&d->devices, x->dev, &ef->last_dev, &e->device, &why);
    if (rc == 1)
        return bad_line(ef, st, (enum rb_bad_reason)why);
    if (rc)
        return rc;

    *session = RB_NONE;
    if (x->session->len && (rc = intern_repeated(&d->sessions, x->session, &ef->last_session, session)) != 0)
        return rc == RC_ECOLLISION ? bad_line(ef, st, RB_BAD_ID) : rc;
    if ((rc = intern_repeated(&d->cookies, x->cookie, &ef->last_cookie, &e->cookie)) != 0)
        return rc == RC_ECOLLISION ? bad_line(ef, st, RB_BAD_ID) : rc;
    uint32_t before = d->products.n;
    if ((rc = rb_product_intern(d, x->product->p, x->product->len, &e->product)) != 0)
        return rc == RC_ECOLLISION ? bad_line(ef, st, RB_BAD_ID) : rc;
    if (d->products.n != before && d->have_catalog)
        st->event_products_not_in_catalog++;
    return 0;
}

int rb_event_append(struct rb_dataset *d, const struct rb_event *e, uint32_t session)
{
    if (d->nevents == d->events_cap && events_grow(d) != 0)
        return -ENOMEM;
    if (d->event_session)
        d->event_session[d->nevents] = session;
    d->events[d->nevents] = *e;
    if (d->nevents == 0 || e->ts < d->ts_min)
        d->ts_min = e->ts;
    if (d->nevents == 0 || e->ts > d->ts_max)
        d->ts_max = e->ts;
    d->nevents++;
    d->stats.events++;
    return 0;
}

/* The data lines after the header, each an event or a counted bad line. */
static int read_events(struct events_file *ef, struct rb_dataset *d, char *err)
{
    struct rb_ingest_stats *st = &d->stats;
    uint64_t file_lines = 0;
    int rc, too_long;
    while ((rc = rb_lines_next(&ef->r, &ef->line, &ef->len, &too_long, err)) == 1) {
        if (!too_long && ef->len == 0)
            continue; /* blank line */
        st->lines++;
        file_lines++;
        if (too_long) {
            bad_line(ef, st, RB_BAD_LONG);
            continue;
        }
        struct event_fields x;
        struct rb_event e;
        uint32_t session;
        if (split_event(ef, st, &x) || check_values(ef, st, &x, &e))
            continue;
        if ((rc = intern_ids(ef, d, &x, &e, &session)) == 1)
            continue;
        if (rc == 0)
            rc = rb_event_append(d, &e, session);
        if (rc == -ENOMEM)
            return rc_fail(err, rc, "out of memory at line %" PRIu64 " of '%s'", ef->r.lineno, ef->r.name);
        if (rc)
            return rc_fail(err, rc, "'%s' line %" PRIu64 ": %s", ef->r.name, ef->r.lineno, rc_strerror(rc));
    }
    if (rc < 0)
        return rc;
    if (file_lines == 0)
        return rc_fail(err, RC_EEMPTY, "events file '%s' has a header but no data lines", ef->r.name);
    return 0;
}

int rb_ingest_events(struct rb_dataset *d, const char *path, const struct rb_ingest_opts *o, rb_progress_fn progress,
                     void *progress_ctx, char *err)
{
    struct rb_ingest_opts defaults;
    if (!o) {
        rb_ingest_opts_default(&defaults);
        o = &defaults;
    }
    struct events_file ef;
    int rc = events_file_open(&ef, path, o, progress, progress_ctx, err);
    if (rc)
        return rc;
    if ((rc = read_header(&ef, d, o, err)) == 0)
        rc = read_events(&ef, d, err);
    events_file_close(&ef);
    return rc;
}

/* ---- checks and report ---- */

int rb_ingest_check_bad(const struct rb_dataset *d, double max_ratio, char *err)
{
    const struct rb_ingest_stats *st = &d->stats;
    uint64_t bad = st->events_unknown_type;
    int worst = 0;
    for (int i = 0; i < RB_BAD_REASONS; i++) {
        bad += st->bad[i];
        if (st->bad[i] > st->bad[worst])
            worst = i;
    }
    if (max_ratio < 0)
        max_ratio = 0;
    if (bad && (double)bad > max_ratio * (double)st->lines) {
        int unknown = st->events_unknown_type > st->bad[worst];
        return rc_fail(err, RC_EBADLINES,
                       "%" PRIu64 " of %" PRIu64 " event lines are malformed or of an unknown event type (%.3g%%, "
                       "more than the allowed %.3g%%); most for reason '%s'%s%s%s, e.g. %s",
                       bad, st->lines, 100.0 * (double)bad / (double)(st->lines ? st->lines : 1), 100.0 * max_ratio,
                       unknown ? "unknown_event_type" : rb_bad_reason_names[worst], unknown ? " (value '" : "",
                       unknown ? st->unknown_types[0] : "",
                       unknown ? "': --map-event if it spells view, cart or purchase, else a higher --max-bad-ratio "
                                 "skips it)"
                               : "",
                       unknown ? st->unknown_type_samples[0] : st->samples[worst][0]);
    }
    if (st->events == 0)
        return rc_fail(err, RC_EEMPTY, "no event was accepted (%" PRIu64 " lines read)", st->lines);
    return 0;
}

/* logfmt-safe copy of a sample: quotes and backslashes escaped. */
static void escape(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    for (; *s && o + 3 < cap; s++) {
        if (*s == '"' || *s == '\\')
            out[o++] = '\\';
        out[o++] = *s;
    }
    out[o] = '\0';
}

void rb_ingest_report(const struct rb_dataset *d)
{
    const struct rb_ingest_stats *st = &d->stats;
    uint64_t bad = 0;
    for (int i = 0; i < RB_BAD_REASONS; i++)
        bad += st->bad[i];
    rc_log(RC_LOG_INFO, "ingest",
           "lines=%" PRIu64 " events=%" PRIu64 " bad=%" PRIu64 " unknown_event_type=%" PRIu64
           " cookies=%u products=%u locations=%u devices=%u sessions=%u ts_min=%" PRId64 " ts_max=%" PRId64,
           st->lines, st->events, bad, st->events_unknown_type, d->cookies.n, d->products.n, d->locs.n, d->devices.n,
           d->sessions.n, d->ts_min, d->ts_max);
    if (st->events_unknown_type) {
        char values[RB_BAD_SAMPLES * (RB_TYPE_SAMPLE + 1)] = "";
        for (int k = 0; k < RB_BAD_SAMPLES && st->unknown_types[k][0]; k++)
            snprintf(values + strlen(values), sizeof(values) - strlen(values), "%s%s", k ? "," : "",
                     st->unknown_types[k]);
        rc_log(RC_LOG_WARN, "unknown_event_types",
               "count=%" PRIu64 " values=\"%s\" msg=\"skipped; counted toward --max-bad-ratio\"",
               st->events_unknown_type, values);
        for (int k = 0; k < RB_BAD_SAMPLES && st->unknown_types[k][0]; k++) {
            char esc[2 * sizeof(st->unknown_type_samples[k])];
            escape(esc, sizeof(esc), st->unknown_type_samples[k]);
            rc_log(RC_LOG_WARN, "unknown_event_type", "value=\"%s\" sample=\"%s\"", st->unknown_types[k], esc);
        }
    }
    for (int i = 0; i < RB_BAD_REASONS; i++) {
        if (!st->bad[i])
            continue;
        rc_log(RC_LOG_WARN, "bad_lines", "reason=%s count=%" PRIu64, rb_bad_reason_names[i], st->bad[i]);
        for (uint64_t k = 0; k < st->bad[i] && k < RB_BAD_SAMPLES; k++) {
            char esc[2 * sizeof(st->samples[i][k])];
            escape(esc, sizeof(esc), st->samples[i][k]);
            rc_log(RC_LOG_WARN, "bad_line", "reason=%s sample=\"%s\"", rb_bad_reason_names[i], esc);
        }
    }
    if (d->have_catalog)
        rc_log(RC_LOG_INFO, "catalog",
               "rows=%" PRIu64 " bad=%" PRIu64 " event_products_not_in_catalog=%" PRIu64, st->catalog_rows,
               st->catalog_bad, st->event_products_not_in_catalog);
    if (d->emb || st->emb_rows)
        rc_log(RC_LOG_INFO, "embeddings",
               "rows=%" PRIu64 " kept=%u dim=%u bad_values=%" PRIu64 " not_in_catalog=%" PRIu64
               " duplicates=%" PRIu64 " catalog_without_row=%" PRIu64,
               st->emb_rows, d->emb_rows, d->dim, st->emb_bad_values, st->emb_no_catalog, st->emb_duplicates,
               st->catalog_no_emb);
}
