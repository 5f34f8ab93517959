/*
 * ingest_int.h - pieces ingest.c, catalog.c and npy.c share; not part of
 * recbuild's contract (that is ingest.h).
 *
 * struct rb_lines reads a text file (or standard input) in large read(2)
 * chunks and hands out one line at a time without copying or allocating:
 * a returned line points into the reader's buffer and stays valid until the
 * next call. Line terminators ("\n", "\r\n") are stripped, a UTF-8 byte
 * order mark before the first line is dropped, the last line need not end
 * with a newline. A line longer than RB_LINE_MAX is returned once with
 * *too_long set and only its first bytes (for a sample); the rest of it is
 * skipped, however long it is.
 */
#ifndef RB_INGEST_INT_H
#define RB_INGEST_INT_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "ingest.h"

#define RB_READ_CHUNK (4u << 20) /* bytes per read(2) */
#define RB_HEADER_FIELDS 1024    /* header columns looked at */

struct rb_lines {
    int fd;
    int own_fd;             /* close fd at rb_lines_close (not for stdin) */
    const char *name;       /* path for messages, "<stdin>" for "-" */
    char *buf;
    size_t cap, start, end; /* unread bytes are buf[start, end) */
    uint64_t lineno;        /* 1-based number of the line last returned */
    uint64_t bytes, total;  /* bytes read; file size (0 when unknown) */
    uint64_t reported;      /* bytes at the last progress call */
    int eof, skipping;
    rb_progress_fn progress;
    void *progress_ctx;
    const char *stage;
};

/* Open path ("-": standard input). Errors: -errno with the path in err, -ENOMEM. */
int rb_lines_open(struct rb_lines *r, const char *path, const char *stage, rb_progress_fn progress, void *ctx,
                  char *err);
/* 1 with a line, 0 at the end, -errno on a read error (message in err). */
int rb_lines_next(struct rb_lines *r, const char **line, size_t *len, int *too_long, char *err);
void rb_lines_close(struct rb_lines *r);

struct rb_field {
    const char *p;
    size_t len;
};

/*
 * Split line[0, len) at delim into at most nf fields (the rest of the line
 * is not looked at). With csv_quotes, a field may be quoted (RFC 4180, ""
 * for one "); unquoted copies land in scratch (at least len bytes).
 * Returns the number of fields found (<= nf), or -1 on bad quoting: an
 * unterminated quote, a quote inside an unquoted field, or text after a
 * closing quote.
 */
int rb_split(const char *line, size_t len, char delim, int csv_quotes, struct rb_field *f, int nf, char *scratch);

/* Header field cleaned for name matching: surrounding blanks trimmed. */
void rb_trim(struct rb_field *f);

/*
 * A timestamp in any form the events' ts column takes (schemas/inputs.md,
 * "Timestamps"), s[0, n), numbers in unit (an enum rb_ts_unit), as whole
 * Unix seconds into *out. Returns 0, or -1 when s is not one.
 */
int rb_parse_ts(const char *s, size_t n, int unit, int64_t *out);

/* Count a bad line for reason why and keep it as a sample while there is room. */
void rb_bad_line(struct rb_ingest_stats *st, enum rb_bad_reason why, const char *name, uint64_t lineno,
                 const char *line, size_t len);

/*
 * Intern a product id and keep the per-product arrays (in_stock,
 * in_catalog, category) sized to products.cap; new slots get in_stock =
 * !have_catalog, in_catalog 0, category RB_NONE. Errors as
 * rb_strtab_intern.
 */
int rb_product_intern(struct rb_dataset *d, const char *s, size_t len, uint32_t *idx);

/* Append e to d->events (with its session, RB_NONE for none, when the
 * dataset keeps sessions), counting it in stats.events and moving
 * ts_min/ts_max. Errors: -ENOMEM (d unchanged). */
int rb_event_append(struct rb_dataset *d, const struct rb_event *e, uint32_t session);

#endif
