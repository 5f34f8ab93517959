/*
 * gen_out.h - recgen's buffered output files and the formatting its hot
 * loops use.
 *
 * struct rb_gen_out is a 4 MiB buffer in front of a shared/file.h file: written
 * under a temporary name and renamed into place by rb_gen_out_commit() (not
 * fsync'ed: demo data is regenerated, not recovered). The writers format
 * straight into the buffer: rb_gen_out_room() makes room for a line, the put_*
 * helpers write at a cursor, and the caller sets o->len to the cursor.
 * Every line written at once is at most OUT_LINE_MAX bytes.
 *
 * Errors: every function that can fail returns 0 or a negative code with
 * a message in err naming the file (shared/file.h).
 */
#ifndef RB_GEN_OUT_H
#define RB_GEN_OUT_H

#include "file.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define OUT_BUF_SIZE (4u << 20)
#define OUT_LINE_MAX 4096

struct rb_gen_out {
    struct rc_file file;
    size_t len;
    char *buf;      /* OUT_BUF_SIZE bytes; NULL when closed */
};

/* Start dir/name. 0, -ENOMEM, or rc_file_open's errors. */
int rb_gen_out_open(struct rb_gen_out *o, const char *dir, const char *name, char *err);

/* Write the buffer out and empty it. */
int rb_gen_out_flush(struct rb_gen_out *o, char *err);

/* Make room for `need` (<= OUT_BUF_SIZE) more bytes. */
static inline int rb_gen_out_room(struct rb_gen_out *o, size_t need, char *err)
{
    if (o->len + need > OUT_BUF_SIZE)
        return rb_gen_out_flush(o, err);
    return 0;
}

/* Append n bytes of any length. */
int rb_gen_out_bytes(struct rb_gen_out *o, const void *p, size_t n, char *err);

/* One small line through printf (never for events); a line longer than
 * OUT_LINE_MAX is RC_EINTERNAL. */
int rb_gen_out_printf(struct rb_gen_out *o, char *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* rb_gen_out_open, then `head` (the header line with its "\n", or a whole
 * small file); on failure nothing is left open. */
int rb_gen_out_start(struct rb_gen_out *o, const char *dir, const char *name, const char *head, char *err);

/* Flush and rename into place; the out is closed either way. */
int rb_gen_out_commit(struct rb_gen_out *o, char *err);

/* Abandon the file: its temporary is removed. Safe on a closed out. */
void rb_gen_out_discard(struct rb_gen_out *o);

/* The end of a file: committed when rc is 0, else discarded and rc
 * returned. */
int rb_gen_out_finish(struct rb_gen_out *o, int rc, char *err);

/* Decimal v at p; returns the end. */
static inline char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static inline char *put_mem(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

static inline char *put_str(char *p, const char *s)
{
    return put_mem(p, s, strlen(s));
}

/* v in [0, 1] with three decimals: "0.712". */
static inline char *put_milli(char *p, double v)
{
    long m = lround(v * 1000.0);
    if (m < 0)
        m = 0;
    *p++ = (char)('0' + m / 1000);
    *p++ = '.';
    *p++ = (char)('0' + m / 100 % 10);
    *p++ = (char)('0' + m / 10 % 10);
    *p++ = (char)('0' + m % 10);
    return p;
}

/* v as 16 lowercase hex digits at dst (no NUL). */
static inline void put_hex16(char *dst, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        dst[i] = digits[v & 15];
        v >>= 4;
    }
}

#endif
