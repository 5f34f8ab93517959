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

/* Fill o with the canonical column names, event spellings, --ts-unit auto and ratio 0.01. */
void rb_ingest_opts_default(struct rb_ingest_opts *o);

/*
 * Parse "--map" text "cookie=visitorid,product=itemid" and "--map-event"
 * text "cart=addtocart,purchase=transaction" into o. The names are copied
 * into o->names_buf (see struct rb_ingest_opts: keep o in place). A mapped
 * column (ts, cookie, event, product, location, device, session) replaces
 * the canonical name; a mapped event value is accepted besides the
 * canonical one (at most 2 extra spellings per type), and is taken away
 * from any other type that had it (the latest mapping wins; spellings
 * compare ignoring ASCII case). Parts before a bad one stay applied.
 * Errors: RC_EFORMAT with the offending part in err (not name=value,
 * unknown column or event type, value over RC_ID_MAX bytes, too many
 * names).
 */
int rb_ingest_parse_map(struct rb_ingest_opts *o, const char *spec, char *err);
int rb_ingest_parse_event_map(struct rb_ingest_opts *o, const char *spec, char *err);

/*
 * --preset NAME: the column and event mappings and the timestamp unit of a
 * public log layout (schemas/inputs.md, "Presets"), applied to o as
 * rb_ingest_parse_map / rb_ingest_parse_event_map would and setting
 * o->ts_unit; whatever is set later overrides it. Names: "retailrocket",
 * "rees46". Errors: RC_EFORMAT (unknown name, listing the known ones; or
 * earlier mappings left no room, as rb_ingest_parse_map).
 */
int rb_ingest_preset(struct rb_ingest_opts *o, const char *name, char *err);

/*
 * Catalog CSV (TSV when the header holds a tab). From the first catalog on,
 * d->have_catalog is set and only listed products can be in stock; bad rows
 * (catalog.c says which) are counted in stats.catalog_bad and skipped.
 * Optional display columns (title, url, image_url, price, currency) go to
 * d->display as the item record's JSON texts; a value that breaks its rule
 * is counted in stats.catalog_bad_values and dropped, its row kept.
 * An optional created_at column goes to d->created (a bad value counted
 * the same way).
 * Errors: -errno, RC_EFORMAT (missing required column), RC_EEMPTY (no
 * header, or no usable row), -ENOMEM.
 */
int rb_ingest_catalog(struct rb_dataset *d, const char *path, char *err);

/*
 * One events file, or "-" for standard input; o NULL means the defaults.
 * Events are appended to d (several files accumulate); progress, when not
 * NULL, is called with bytes read and the file size about every 64 MiB and
 * at the end. Blank lines are skipped; lines of more than RB_LINE_MAX bytes
 * are bad (RB_BAD_LONG). A location, device or session column, when the
 * header has one, is needed on every line like the others (a mapped one the
 * header lacks is logged and read without). Event values match their
 * spellings ignoring ASCII case; a non-empty value that matches none is
 * skipped and counted in stats.events_unknown_type (an empty one is
 * RB_BAD_EVENT). With a session column, d->event_session is kept for every
 * event from then on (dataset.h).
 * Errors: -errno (unreadable, with the path in err), RC_EFORMAT (header
 * lacks a required column: err names it and lists the header found; header
 * over RB_LINE_MAX), RC_EEMPTY (no header, or a header and no data line),
 * RC_ERANGE (more than 2^31-1 cookies, products or sessions), -ENOMEM.
 */
int rb_ingest_events(struct rb_dataset *d, const char *path, const struct rb_ingest_opts *o, rb_progress_fn progress,
                     void *progress_ctx, char *err);

/*
 * Embeddings: .npy matrix + id list (schemas/inputs.md). Rows with NaN/inf
 * or zero norm, and rows whose product is not in the catalog (when there is
 * one), are skipped and counted; kept rows are L2-normalised.
 * A second row for a product already kept is skipped (stats.emb_duplicates).
 * Without a catalog, the ids are interned as products. Blank lines at the
 * end of the ids file are ignored; an empty or over-long id elsewhere is an
 * error. On failure d has no embeddings.
 * Errors: -errno, RC_EFORMAT (not float32 C-order 2-D npy, dim outside
 * 1..4096, bytes after the matrix, bad id, id count differs from rows),
 * RC_ETRUNC (file shorter than its shape), -ENOMEM.
 */
int rb_ingest_embeddings(struct rb_dataset *d, const char *npy_path, const char *ids_path, char *err);

/* RC_EBADLINES when bad lines and lines of an unknown event type together
 * exceed max_ratio of all lines (err names the commonest reason and one
 * sample), RC_EEMPTY when no event was accepted. */
int rb_ingest_check_bad(const struct rb_dataset *d, double max_ratio, char *err);

/* Log the counts by reason, the unknown event values, and the samples (rc_log lines). */
void rb_ingest_report(const struct rb_dataset *d);

#endif
