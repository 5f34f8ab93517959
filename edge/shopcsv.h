/*
 * shopcsv.h - the shop's CSV files (events.csv, catalog.csv;
 * schemas/inputs.md) as recctl ab-report reads them: a header naming the
 * columns, then one record a line.
 *
 * The same rules as recbuild's ingest (builder/ingest.c), for the
 * canonical column names only (no --map, no presets): the delimiter is a
 * tab when the header line holds one, else a comma; comma-separated
 * fields may be quoted (RFC 4180, "" for one "), quoted fields do not span
 * lines; a UTF-8 byte order mark before the header is dropped; "\n" and
 * "\r\n" both end a line; blank lines are skipped. recbuild's ingest is
 * not linked here: it lives in the pipeline's library (FAISS, OpenBLAS,
 * OpenMP) and interns every event, where the report wants a few columns of
 * a few lines.
 *
 * A struct re_csv is used by one thread; fields point into its line buffer
 * and are valid until the next re_csv_next.
 */
#ifndef RE_SHOPCSV_H
#define RE_SHOPCSV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define RE_CSV_MAX_COLS 256 /* header columns looked at */

struct re_csv {
    FILE *f;
    const char *path;  /* for messages */
    char *line;
    size_t cap;
    uint64_t lineno;   /* 1-based number of the line last read */
    char delim;
    int quotes;        /* comma-separated: quoting allowed */
    char *field[RE_CSV_MAX_COLS];
    size_t len[RE_CSV_MAX_COLS];
};

/*
 * Open path ("-": standard input) and read its header: col[i] gets the
 * column index of names[i] (exact, case-sensitive), or -1 when the header
 * lacks it. Errors: -errno (unreadable; err names the path), RC_EEMPTY (no
 * header line). re_csv_close is needed after a failure too.
 */
int re_csv_open(struct re_csv *c, const char *path, const char *const *names, int nnames, int *col, char *err);

/*
 * Split the next non-blank line into at most `need` fields (c->field,
 * c->len; unquoted in place). Returns the number of fields found (fewer
 * than need: the line is short), -1 on bad quoting (an unterminated quote,
 * a quote inside an unquoted field, text after a closing quote), or -2 at
 * the end of the file.
 */
int re_csv_next(struct re_csv *c, int need);

void re_csv_close(struct re_csv *c);

/*
 * A timestamp as inputs.md's "Timestamps" has it, into whole Unix seconds
 * (rounded down): a number, optionally signed and with decimals (at most
 * 18 digits before the point), in seconds below 1e11, milliseconds below
 * 1e14, microseconds above; or ISO-8601 "YYYY-MM-DD[T|t| ]HH:MM:SS[.f...]"
 * with an optional zone after it or one space: Z, UTC, +-HH, +-HHMM,
 * +-HH:MM (none: UTC). Returns 0, or -1 for anything else.
 */
int re_csv_ts(const char *s, size_t n, int64_t *out);

/* A non-negative decimal price (blanks around it trimmed): 0, or -1. */
int re_csv_price(const char *s, size_t n, double *out);

#endif
