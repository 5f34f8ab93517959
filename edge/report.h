/*
 * report.h - one cache version as a self-contained HTML page (recctl
 * report; schemas/recctl.md, "report").
 *
 * The page is built from the version's manifest (evaluation against most
 * popular, next-item, tuning, stage timings, inputs, counts) and from a
 * walk of every list record (popularity bias, catalog coverage, list
 * lengths); given a second version, also what changed between the two
 * (counts, metrics, lists added, removed and changed per DB).
 *
 * The page holds no script, no font, no style sheet or picture from
 * elsewhere: CSS and SVG are inline. It is well-formed XML as well as
 * HTML (void elements are closed, text is escaped), so tools can parse it.
 * Every number of the tables and text (copied from the manifest or
 * computed from the lists) sits in an element whose data-m attribute
 * names it ("evaluation.hr",
 * "lists.all.coverage", "bias.all.10", ...), for tests and scrapers.
 *
 * Versions are opened read-only with their files checked against the
 * manifest (size and XXH3) first, since every record is read. Nothing is
 * written inside a version. Single-threaded; no global state.
 */
#ifndef RE_REPORT_H
#define RE_REPORT_H

#include "json.h"

/*
 * Render the report of the version in dir into b (appended), comparing it
 * with the version in compare_dir when that is not NULL ("what changed
 * from compare_dir to dir"). Returns 0, or a negative code (version.h's
 * rc_version_open errors, LMDB codes, -ENOMEM) with a message in err.
 */
int re_report_render(struct rc_buf *b, const char *dir, const char *compare_dir, char *err);

/*
 * re_report_render into the file out_path (written beside it and renamed
 * into place, so a reader never sees half a page), or to standard output
 * when out_path is NULL or "-". Returns 0 or a negative code with err set.
 */
int re_report_write(const char *dir, const char *compare_dir, const char *out_path, char *err);

/* Write a rendered page (this one, or another in the same look) to
 * out_path (rc_write_file_atomic: written beside it, fsynced and renamed
 * into place) or to standard output when out_path is NULL or "-". Returns
 * 0 or a negative code with err set. */
int re_report_output(const struct rc_buf *b, const char *out_path, char *err);

/* The page's style sheet and its text escaping (the five XML specials as
 * entities, control bytes as U+FFFD), for other pages in the same look
 * (edge/abreport.c). */
extern const char re_report_style[];
void re_report_html_text(struct rc_buf *b, const char *s);

#endif
