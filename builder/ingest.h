/*
 * ingest.h - events, catalog and embeddings into a struct rb_dataset.
 * Formats: schemas/inputs.md. Call order: rb_ingest_catalog (optional),
 * then rb_ingest_events once per file, then rb_ingest_embeddings
 * (optional). Malformed lines are counted by reason in d->stats with a few
 * samples, never fatal on their own; rb_ingest_check_bad applies the ratio.
 */
#ifndef RB_INGEST_H
#define RB_INGEST_H

#include "dataset.h"

/* Progress: stage name, units done, total (0 when unknown, e.g. stdin). */
typedef void (*rb_progress_fn)(void *ctx, const char *stage, uint64_t done, uint64_t total);

/* Fill o with the canonical column names, event spellings and ratio 0.01. */
void rb_ingest_opts_default(struct rb_ingest_opts *o);

/*
 * Parse "--map" text "cookie=visitorid,product=itemid" and "--map-event"
 * text "cart=addtocart,purchase=transaction" into o (strings borrowed from
 * the argument). Errors: RC_EFORMAT with the offending part in err.
 */
int rb_ingest_parse_map(struct rb_ingest_opts *o, const char *spec, char *err);
int rb_ingest_parse_event_map(struct rb_ingest_opts *o, const char *spec, char *err);

/* Catalog CSV. Errors: -errno, RC_EFORMAT (missing required column), RC_EEMPTY. */
int rb_ingest_catalog(struct rb_dataset *d, const char *path, char *err);

/*
 * One events file, or "-" for standard input. Errors: -errno (unreadable,
 * with the path in err), RC_EFORMAT (header lacks a required column: err
 * names it and lists the header found), RC_EEMPTY (no header).
 */
int rb_ingest_events(struct rb_dataset *d, const char *path, const struct rb_ingest_opts *o, rb_progress_fn progress,
                     void *progress_ctx, char *err);

/*
 * Embeddings: .npy matrix + id list (schemas/inputs.md). Rows with NaN/inf
 * or zero norm, and rows whose product is not in the catalog (when there is
 * one), are skipped and counted; kept rows are L2-normalised.
 * Errors: -errno, RC_EFORMAT (not float32 C-order 2-D npy, id count differs
 * from rows), RC_ETRUNC.
 */
int rb_ingest_embeddings(struct rb_dataset *d, const char *npy_path, const char *ids_path, char *err);

/* RC_EBADLINES when bad lines exceed max_ratio of all lines, RC_EEMPTY when no event was accepted. */
int rb_ingest_check_bad(const struct rb_dataset *d, double max_ratio, char *err);

/* Log the counts by reason and the samples (rc_log lines). */
void rb_ingest_report(const struct rb_dataset *d);

#endif
