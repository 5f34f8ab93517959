/*
 * clicks.c - recbuild --clicks (clicks.h): beacon lines of the exposure log
 * (schemas/exposure.md) into events.
 *
 * recedge accepts a beacon for any product (it cannot know what the page
 * showed), so a beacon is trusted only when the exposure it names says the
 * product was shown. Pass 1 reads every file and keeps each beacon aside
 * (its rec_id, ts, type, product and cookie) in a table keyed by rec_id;
 * exposure lines are skipped without parsing (the writer starts each one
 * with {"type":"exposure"). Only when beacons were kept, pass 2 reads the
 * files again for the exposures of their rec_ids only: the first exposure
 * of a rec_id gives it its cookie and marks which of its beacons' products
 * its items hold. Memory follows the beacons, not the exposures. Then the
 * kept beacons become events in the order read, or are skipped and counted
 * by reason.
 */
#include "clicks.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "ingest_int.h"
#include "json.h"
#include "keys.h"
#include "log.h"

#define EXPOSURE_PREFIX "{\"type\":\"exposure\""
#define TS_MAX 253402300800.0 /* 10000-01-01: a beacon's ts is Unix seconds */

/* ---- the files ---- */

struct file_list {
    char **path;
    size_t n, cap;
};

static void files_release(struct file_list *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->path[i]);
    free(f->path);
    memset(f, 0, sizeof(*f));
}

static int files_add(struct file_list *f, const char *dir, const char *name)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 64;
        char **p = realloc(f->path, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        f->path = p;
        f->cap = cap;
    }
    size_t len = (dir ? strlen(dir) + 1 : 0) + strlen(name) + 1;
    char *s = malloc(len);
    if (!s)
        return -ENOMEM;
    snprintf(s, len, "%s%s%s", dir ? dir : "", dir ? "/" : "", name);
    f->path[f->n++] = s;
    return 0;
}

static int ends_with_jsonl(const char *name)
{
    size_t n = strlen(name);
    return n > 6 && strcmp(name + n - 6, ".jsonl") == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.jsonl regular files of dir, and (depth 0) of its subdirectories, added to f. */
static int files_from_dir(struct file_list *f, const char *dir, int depth, char *err)
{
    DIR *dh = opendir(dir);
    if (!dh)
        return rc_fail(err, -errno, "unable to list '%s': %s", dir, strerror(errno));
    struct dirent *de;
    struct file_list sub = {0};
    size_t first = f->n;
    int rc = 0;
    while (rc == 0 && (errno = 0, de = readdir(dh)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096];
        if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
            continue;
        struct stat st;
        if (stat(path, &st) != 0)
            continue; /* gone since the listing (a file being collected) */
        if (S_ISREG(st.st_mode) && ends_with_jsonl(de->d_name))
            rc = files_add(f, dir, de->d_name);
        else if (S_ISDIR(st.st_mode) && depth == 0)
            rc = files_add(&sub, dir, de->d_name);
    }
    if (rc == 0 && errno != 0)
        rc = rc_fail(err, -errno, "unable to list '%s': %s", dir, strerror(errno));
    else if (rc)
        rc = rc_fail(err, rc, "out of memory listing '%s'", dir);
    closedir(dh);
    if (rc == 0) {
        /* qsort's base may not be NULL, even for no elements */
        if (f->n > first)
            qsort(f->path + first, f->n - first, sizeof(*f->path), cmp_str);
        if (sub.n)
            qsort(sub.path, sub.n, sizeof(*sub.path), cmp_str);
        for (size_t i = 0; i < sub.n && rc == 0; i++)
            rc = files_from_dir(f, sub.path[i], 1, err);
    }
    files_release(&sub);
    return rc;
}

static int files_from_paths(struct file_list *f, const char *const *paths, size_t n, char *err)
{
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0)
            return rc_fail(err, -errno, "unable to read --clicks '%s': %s", paths[i], strerror(errno));
        int rc = S_ISDIR(st.st_mode) ? files_from_dir(f, paths[i], 0, err) : files_add(f, NULL, paths[i]);
        if (rc == -ENOMEM)
            return rc_fail(err, rc, "out of memory listing --clicks");
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- one line ---- */

/* A beacon line's fields; strings point into the parsed tree. */
struct beacon {
    int type;                 /* enum rb_event_type, or -1: not a beacon */
    int exposure;             /* an exposure line */
    const char *cookie, *product, *rec;
    size_t cookie_len, product_len, rec_len;
    double ts;
};

static int id_ok(const char *s, size_t n)
{
    return s && n > 0 && n <= RC_ID_MAX;
}

/* 32 lowercase hex digits into hi, lo; 0, or -1 when s is not a rec_id. */
static int rec_parse(const char *s, size_t n, uint64_t *hi, uint64_t *lo)
{
    if (!s || n != 32)
        return -1;
    uint64_t v[2] = {0, 0};
    for (size_t i = 0; i < 32; i++) {
        unsigned char c = (unsigned char)s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        v[i / 16] = v[i / 16] << 4 | (uint64_t)d;
    }
    *hi = v[0];
    *lo = v[1];
    return 0;
}

static const char *str_member(const struct rc_json *j, const char *key, size_t *len)
{
    const struct rc_json *m = rc_json_get(j, key);
    if (!m || m->type != RC_JSON_STR)
        return NULL;
    *len = m->str_len;
    return m->str;
}

/*
 * What line j says: b->type for a click, cart or purchase beacon (with its
 * fields checked), b->exposure for an exposure. Returns NULL, or why the
 * line is bad.
 */
static const char *read_line(const struct rc_json *j, struct beacon *b)
{
    memset(b, 0, sizeof(*b));
    b->type = -1;
    if (j->type != RC_JSON_OBJ)
        return "not a JSON object";
    size_t tl = 0;
    const char *type = str_member(j, "type", &tl);
    if (!type)
        return "no \"type\"";
    b->cookie = str_member(j, "cookie", &b->cookie_len);
    b->rec = str_member(j, "rec_id", &b->rec_len);
    if (strcmp(type, "exposure") == 0) {
        b->exposure = 1;
        return NULL;
    }
    b->type = strcmp(type, "click") == 0 ? RB_CLICK : strcmp(type, "cart") == 0 ? RB_CART
            : strcmp(type, "purchase") == 0 ? RB_PURCHASE : -1;
    if (b->type < 0)
        return NULL; /* another kind of line: not ours */
    b->product = str_member(j, "product", &b->product_len);
    if (!id_ok(b->product, b->product_len))
        return "no \"product\", or an empty or over-long one";
    if (rc_json_get_num(j, "ts", &b->ts) != 0 || !isfinite(b->ts) || b->ts < 0 || b->ts >= TS_MAX)
        return "no \"ts\" in Unix seconds";
    if (rc_json_get(j, "cookie") && !id_ok(b->cookie, b->cookie_len))
        return "an empty, over-long or non-string \"cookie\"";
    uint64_t hi, lo;
    if (rec_parse(b->rec, b->rec_len, &hi, &lo) != 0)
        return "no \"rec_id\" of 32 lowercase hex digits";
    return NULL;
}

/* ---- the beacons, and their exposures ---- */

struct pending {
    int64_t ts;
    uint32_t rec;         /* index into recs */
    uint32_t next;        /* the next beacon of the same rec_id: index + 1, 0 none */
    uint32_t file;        /* index into the file list, for messages */
    uint8_t type;
    uint8_t shown;        /* the exposure's items hold the product (pass 2) */
    uint16_t product_len;
    uint16_t cookie_len;  /* the beacon's own cookie; 0: none */
    size_t product_at;    /* product id in text */
    size_t cookie_at;     /* the beacon's cookie in text, when cookie_len > 0 */
    uint64_t lineno;
};

struct rec {
    uint64_t hi, lo;
    uint32_t first;       /* its first beacon: index + 1 */
    uint32_t last;        /* its last beacon: index + 1 */
    uint8_t seen;         /* an exposure line of this rec_id was read (pass 2) */
    uint16_t cookie_len;  /* the exposure's cookie; 0: none */
    size_t cookie_at;     /* the exposure's cookie in text, when cookie_len > 0 */
};

struct resolver {
    struct pending *p;
    size_t np, pcap;
    struct rec *recs;
    size_t nrecs, rcap;
    uint32_t *slots;      /* rec index + 1, 0 empty; nslots a power of two */
    size_t nslots;
    char *text;
    size_t tlen, tcap;
};

static void resolver_release(struct resolver *r)
{
    free(r->p);
    free(r->recs);
    free(r->slots);
    free(r->text);
    memset(r, 0, sizeof(*r));
}

static int text_add(struct resolver *r, const char *s, size_t n, size_t *at)
{
    if (r->tlen + n > r->tcap) {
        size_t cap = r->tcap ? r->tcap : 4096;
        while (cap < r->tlen + n)
            cap *= 2;
        char *t = realloc(r->text, cap);
        if (!t)
            return -ENOMEM;
        r->text = t;
        r->tcap = cap;
    }
    memcpy(r->text + r->tlen, s, n);
    *at = r->tlen;
    r->tlen += n;
    return 0;
}

static size_t rec_hash(uint64_t hi, uint64_t lo)
{
    uint64_t h = hi * 0x9E3779B97F4A7C15u ^ lo;
    return (size_t)(h ^ h >> 29);
}

/* The slot of rec_id (hi, lo): holding it, or the empty one it would take. */
static size_t rec_slot(const struct resolver *r, uint64_t hi, uint64_t lo)
{
    size_t mask = r->nslots - 1, s = rec_hash(hi, lo) & mask;
    while (r->slots[s] && (r->recs[r->slots[s] - 1].hi != hi || r->recs[r->slots[s] - 1].lo != lo))
        s = (s + 1) & mask;
    return s;
}

/* The rec_id (hi, lo) kept for a beacon, or NULL. */
static struct rec *rec_find(struct resolver *r, uint64_t hi, uint64_t lo)
{
    if (!r->nslots)
        return NULL;
    uint32_t i = r->slots[rec_slot(r, hi, lo)];
    return i ? &r->recs[i - 1] : NULL;
}

static int rec_grow(struct resolver *r)
{
    size_t n = r->nslots ? r->nslots * 2 : 1024;
    uint32_t *slots = calloc(n, sizeof(*slots));
    if (!slots)
        return -ENOMEM;
    free(r->slots);
    r->slots = slots;
    r->nslots = n;
    for (size_t i = 0; i < r->nrecs; i++)
        r->slots[rec_slot(r, r->recs[i].hi, r->recs[i].lo)] = (uint32_t)i + 1;
    return 0;
}

/*
 * Keep beacon b, read at line lineno of file number file, aside until its
 * exposure is known. Errors: -ENOMEM, RC_ERANGE (2^32-1 beacons or rec_ids).
 */
static int pending_add(struct resolver *r, const struct beacon *b, uint32_t file, uint64_t lineno)
{
    uint64_t hi = 0, lo = 0;
    (void)rec_parse(b->rec, b->rec_len, &hi, &lo); /* checked by read_line */
    if (r->np >= UINT32_MAX - 1)
        return RC_ERANGE;
    if ((r->nrecs + 1) * 2 > r->nslots && rec_grow(r))
        return -ENOMEM;
    size_t s = rec_slot(r, hi, lo);
    if (!r->slots[s]) {
        if (r->nrecs >= UINT32_MAX - 1)
            return RC_ERANGE;
        if (r->nrecs == r->rcap) {
            size_t cap = r->rcap ? r->rcap * 2 : 256;
            struct rec *recs = realloc(r->recs, cap * sizeof(*recs));
            if (!recs)
                return -ENOMEM;
            r->recs = recs;
            r->rcap = cap;
        }
        r->recs[r->nrecs] = (struct rec){.hi = hi, .lo = lo};
        r->slots[s] = (uint32_t)++r->nrecs;
    }
    if (r->np == r->pcap) {
        size_t cap = r->pcap ? r->pcap * 2 : 256;
        struct pending *p = realloc(r->p, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        r->p = p;
        r->pcap = cap;
    }
    struct pending *p = &r->p[r->np];
    *p = (struct pending){.ts = (int64_t)floor(b->ts), .rec = r->slots[s] - 1, .file = file,
                          .type = (uint8_t)b->type, .product_len = (uint16_t)b->product_len,
                          .cookie_len = (uint16_t)b->cookie_len, .lineno = lineno};
    if (text_add(r, b->product, b->product_len, &p->product_at) ||
        (b->cookie && text_add(r, b->cookie, b->cookie_len, &p->cookie_at)))
        return -ENOMEM;
    struct rec *x = &r->recs[p->rec];
    uint32_t self = (uint32_t)++r->np;
    if (x->last)
        r->p[x->last - 1].next = self;
    else
        x->first = self;
    x->last = self;
    return 0;
}

/* Whether the exposure's items (a JSON array, or NULL) hold the product (s, n). */
static int items_hold(const struct rc_json *items, const char *s, size_t n)
{
    if (!items || items->type != RC_JSON_ARR)
        return 0;
    for (const struct rc_json *it = items->child; it; it = it->next)
        if (it->type == RC_JSON_STR && it->str_len == n && memcmp(it->str, s, n) == 0)
            return 1;
    return 0;
}

/*
 * Pass 2, before parsing: whether an exposure line (one that starts with
 * EXPOSURE_PREFIX) may be of a kept rec_id, so that the exposures nobody
 * sent a beacon for are not parsed. The writer puts "rec_id" among the
 * first keys and escapes every '"' inside a string, so the first
 * "rec_id":" is that key. 1 (parse it) when that is not found in the first
 * 256 bytes or not followed by 32 hex digits: this only ever skips lines
 * whose rec_id no beacon named.
 */
static int exposure_wanted(struct resolver *r, const char *line, size_t len)
{
    static const char key[] = "\"rec_id\":\"";
    const size_t klen = sizeof(key) - 1;
    size_t limit = len < 256 ? len : 256;
    for (size_t i = 0; i + klen + 32 <= len && i < limit; i++)
        if (memcmp(line + i, key, klen) == 0) {
            uint64_t hi, lo;
            if (rec_parse(line + i + klen, 32, &hi, &lo) != 0)
                return 1;
            return rec_find(r, hi, lo) != NULL;
        }
    return 1;
}

/*
 * Pass 2, an exposure line: when its rec_id is kept and no exposure of it
 * was read yet, its cookie, and which of the rec_id's beacons it showed.
 * Later exposures of the same rec_id (recedge writes one) change nothing.
 */
static int exposure_seen(struct resolver *r, const struct rc_json *j, const struct beacon *b)
{
    uint64_t hi, lo;
    if (rec_parse(b->rec, b->rec_len, &hi, &lo))
        return 0;
    struct rec *x = rec_find(r, hi, lo);
    if (!x || x->seen)
        return 0;
    x->seen = 1;
    if (id_ok(b->cookie, b->cookie_len)) {
        if (text_add(r, b->cookie, b->cookie_len, &x->cookie_at))
            return -ENOMEM;
        x->cookie_len = (uint16_t)b->cookie_len;
    }
    const struct rc_json *items = rc_json_get(j, "items");
    for (uint32_t i = x->first; i; i = r->p[i - 1].next) {
        struct pending *p = &r->p[i - 1];
        p->shown = (uint8_t)items_hold(items, r->text + p->product_at, p->product_len);
    }
    return 0;
}

/* ---- events ---- */

/* Beacon (cookie, product) at ts as an event of type. 0, 1 when skipped as bad (a key collision), or an error. */
static int add_event(struct rb_dataset *d, const char *cookie, size_t clen, const char *product, size_t plen,
                     int64_t ts, int type)
{
    struct rb_event e = {.ts = ts, .loc = RB_NONE16, .device = RB_NONE16, .type = (uint8_t)type};
    int rc = rb_strtab_intern(&d->cookies, cookie, clen, &e.cookie);
    if (rc == RC_ECOLLISION)
        return 1;
    if (rc)
        return rc;
    uint32_t before = d->products.n;
    if ((rc = rb_product_intern(d, product, plen, &e.product)) == RC_ECOLLISION)
        return 1;
    if (rc)
        return rc;
    if (d->products.n != before && d->have_catalog)
        d->stats.event_products_not_in_catalog++;
    return rb_event_append(d, &e, RB_NONE);
}

static void bad(struct rb_clicks_stats *st, const char *name, uint64_t lineno, const char *why)
{
    if (!st->bad++)
        snprintf(st->bad_sample, sizeof(st->bad_sample), "%.100s:%" PRIu64 ": %s", name, lineno, why);
}

/*
 * One pass over one file, number file in the list: pass 1 keeps its beacons
 * aside, pass 2 reads its exposures for them.
 */
static int read_file(struct resolver *r, const char *path, uint32_t file, int pass, struct rb_clicks_stats *st,
                     char *err)
{
    struct rb_lines lr;
    int rc = rb_lines_open(&lr, path, "clicks", NULL, NULL, err);
    if (rc)
        return rc;
    const char *line;
    size_t len;
    int too_long;
    char why[RC_ERRMSG_MAX];
    while ((rc = rb_lines_next(&lr, &line, &len, &too_long, err)) == 1) {
        if (!too_long && len == 0)
            continue;
        if (pass == 1)
            st->lines++;
        if (too_long) {
            if (pass == 1)
                bad(st, lr.name, lr.lineno, "line too long");
            continue;
        }
        if (len >= sizeof(EXPOSURE_PREFIX) - 1 && memcmp(line, EXPOSURE_PREFIX, sizeof(EXPOSURE_PREFIX) - 1) == 0) {
            if (pass == 1) {
                st->other++;
                continue;
            }
            if (!exposure_wanted(r, line, len))
                continue;
        }
        struct rc_json *j = NULL;
        if ((rc = rc_json_parse(line, len, &j, why)) != 0) {
            if (rc == -ENOMEM)
                break;
            if (pass == 1)
                bad(st, lr.name, lr.lineno, "not JSON");
            rc = 0;
            continue;
        }
        struct beacon b;
        const char *fault = read_line(j, &b);
        if (pass == 2) {
            if (!fault && b.exposure)
                rc = exposure_seen(r, j, &b);
        } else if (fault) {
            bad(st, lr.name, lr.lineno, fault);
        } else if (b.type < 0) {
            st->other++;
        } else {
            rc = pending_add(r, &b, file, lr.lineno);
        }
        rc_json_free(j);
        if (rc)
            break;
    }
    rb_lines_close(&lr);
    if (rc == -ENOMEM)
        return rc_fail(err, rc, "out of memory reading '%s'", path);
    if (rc == RC_ERANGE)
        return rc_fail(err, rc, "'%s': too many beacons, cookies, products or rec_ids", path);
    return rc < 0 ? rc : 0;
}

/*
 * The kept beacons, in the order read, as events of d: those whose exposure
 * was read and showed their product, with the exposure's cookie (else their
 * own); the others counted in st.
 */
static int add_beacons(struct rb_dataset *d, const struct resolver *r, const struct file_list *files,
                       struct rb_clicks_stats *st, char *err)
{
    for (size_t i = 0; i < r->np; i++) {
        const struct pending *p = &r->p[i];
        const struct rec *x = &r->recs[p->rec];
        if (!x->seen) {
            st->no_exposure++;
            continue;
        }
        if (!p->shown) {
            st->not_shown++;
            continue;
        }
        const char *cookie = r->text + x->cookie_at;
        size_t clen = x->cookie_len;
        int from_exposure = 0, replaced = 0;
        if (!clen && !p->cookie_len) {
            st->no_cookie++;
            continue;
        }
        if (!clen) {
            cookie = r->text + p->cookie_at; /* an answer without a cookie: the page's own */
            clen = p->cookie_len;
        } else if (!p->cookie_len) {
            from_exposure = 1;
        } else if (p->cookie_len != clen || memcmp(r->text + p->cookie_at, cookie, clen) != 0) {
            replaced = 1;
        }
        int rc = add_event(d, cookie, clen, r->text + p->product_at, p->product_len, p->ts, p->type);
        if (rc == 1) {
            bad(st, files->path[p->file], p->lineno, "id key collision");
        } else if (rc == 0) {
            st->events[p->type]++;
            st->cookie_from_exposure += (uint64_t)from_exposure;
            st->cookie_replaced += (uint64_t)replaced;
        } else {
            return rc_fail(err, rc, "adding clicks: %s", rc_strerror(rc));
        }
    }
    return 0;
}

int rb_ingest_clicks(struct rb_dataset *d, const char *const *paths, size_t npaths, struct rb_clicks_stats *st,
                     char *err)
{
    memset(st, 0, sizeof(*st));
    struct file_list files = {0};
    struct resolver r = {0};
    int rc = files_from_paths(&files, paths, npaths, err);
    st->files = files.n;
    if (rc == 0 && files.n > UINT32_MAX)
        rc = rc_fail(err, RC_ERANGE, "--clicks: more than %" PRIu32 " files", UINT32_MAX);
    for (size_t i = 0; rc == 0 && i < files.n; i++)
        rc = read_file(&r, files.path[i], (uint32_t)i, 1, st, err);
    if (rc == 0 && r.np) {
        for (size_t i = 0; rc == 0 && i < files.n; i++)
            rc = read_file(&r, files.path[i], (uint32_t)i, 2, st, err);
        if (rc == 0)
            rc = add_beacons(d, &r, &files, st, err);
    }
    resolver_release(&r);
    files_release(&files);
    return rc;
}

void rb_clicks_report(const struct rb_clicks_stats *st)
{
    rc_log(RC_LOG_INFO, "clicks",
           "files=%" PRIu64 " lines=%" PRIu64 " clicks=%" PRIu64 " carts=%" PRIu64 " purchases=%" PRIu64
           " cookie_from_exposure=%" PRIu64 " cookie_replaced=%" PRIu64 " skipped_no_exposure=%" PRIu64
           " skipped_not_shown=%" PRIu64 " skipped_no_cookie=%" PRIu64 " other=%" PRIu64 " bad=%" PRIu64,
           st->files, st->lines, st->events[RB_CLICK], st->events[RB_CART], st->events[RB_PURCHASE],
           st->cookie_from_exposure, st->cookie_replaced, st->no_exposure, st->not_shown, st->no_cookie,
           st->other, st->bad);
    if (st->bad)
        rc_log(RC_LOG_WARN, "clicks_bad_lines", "count=%" PRIu64 " sample=\"%s\" msg=\"skipped\"", st->bad,
               st->bad_sample);
    if (st->no_exposure)
        rc_log(RC_LOG_WARN, "clicks_no_exposure",
               "count=%" PRIu64 " msg=\"beacons whose rec_id has no exposure in the files read (not collected, "
               "sampled out with --exposure-sample, or forged); skipped\"",
               st->no_exposure);
    if (st->not_shown)
        rc_log(RC_LOG_WARN, "clicks_not_shown",
               "count=%" PRIu64 " msg=\"beacons for a product their rec_id's exposure did not show; skipped\"",
               st->not_shown);
    if (st->cookie_replaced)
        rc_log(RC_LOG_WARN, "clicks_cookie_replaced",
               "count=%" PRIu64 " msg=\"beacons whose cookie differs from their exposure's; counted for the "
               "exposure's cookie\"",
               st->cookie_replaced);
    if (st->no_cookie)
        rc_log(RC_LOG_WARN, "clicks_no_cookie",
               "count=%" PRIu64 " msg=\"beacons without a cookie whose exposure has none either; skipped\"",
               st->no_cookie);
    if (!st->files)
        rc_log(RC_LOG_WARN, "clicks_no_files", "msg=\"--clicks named no *.jsonl file\"");
}
