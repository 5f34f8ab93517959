/*
 * gen_out.c - recgen's buffered output files (contract in gen_out.h).
 */
#include "gen_out.h"

#include "error.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rb_gen_out_open(struct rb_gen_out *o, const char *dir, const char *name, char *err)
{
    o->file.fd = -1;
    o->len = 0;
    o->buf = NULL;
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        return rc_fail(err, -ENAMETOOLONG, "output path too long: '%s/%s'", dir, name);
    o->buf = malloc(OUT_BUF_SIZE);
    if (!o->buf)
        return rc_fail(err, -ENOMEM, "out of memory for the buffer of '%s'", path);
    int rc = rc_file_open(&o->file, path, 0, err);
    if (rc) {
        free(o->buf);
        o->buf = NULL;
    }
    return rc;
}

int rb_gen_out_start(struct rb_gen_out *o, const char *dir, const char *name, const char *head, char *err)
{
    int rc = rb_gen_out_open(o, dir, name, err);
    if (rc == 0)
        rc = rb_gen_out_bytes(o, head, strlen(head), err);
    if (rc)
        rb_gen_out_discard(o);
    return rc;
}

int rb_gen_out_flush(struct rb_gen_out *o, char *err)
{
    int rc = rc_file_write(&o->file, o->buf, o->len, err);
    if (rc == 0)
        o->len = 0;
    return rc;
}

int rb_gen_out_bytes(struct rb_gen_out *o, const void *p, size_t n, char *err)
{
    while (n) {
        if (o->len == OUT_BUF_SIZE) {
            int rc = rb_gen_out_flush(o, err);
            if (rc)
                return rc;
        }
        size_t take = OUT_BUF_SIZE - o->len < n ? OUT_BUF_SIZE - o->len : n;
        memcpy(o->buf + o->len, p, take);
        o->len += take;
        p = (const char *)p + take;
        n -= take;
    }
    return 0;
}

int rb_gen_out_printf(struct rb_gen_out *o, char *err, const char *fmt, ...)
{
    int rc = rb_gen_out_room(o, OUT_LINE_MAX, err);
    if (rc)
        return rc;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, OUT_LINE_MAX, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= OUT_LINE_MAX)
        return rc_fail(err, RC_EINTERNAL, "line too long for '%s'", o->file.path);
    o->len += (size_t)n;
    return 0;
}

int rb_gen_out_commit(struct rb_gen_out *o, char *err)
{
    int rc = rb_gen_out_flush(o, err);
    if (rc)
        rc_file_abort(&o->file);
    else
        rc = rc_file_commit(&o->file, err);
    free(o->buf);
    o->buf = NULL;
    return rc;
}

void rb_gen_out_discard(struct rb_gen_out *o)
{
    rc_file_abort(&o->file);
    free(o->buf);
    o->buf = NULL;
}

int rb_gen_out_finish(struct rb_gen_out *o, int rc, char *err)
{
    if (rc) {
        rb_gen_out_discard(o);
        return rc;
    }
    return rb_gen_out_commit(o, err);
}
