/*
 * manifest.h - versions/<id>/manifest.json: what a cache version is, what it
 * was built from, and the checksums that let a reader trust it.
 * The document is specified in schemas/manifest.md.
 *
 * The required fields live in struct rc_manifest. The builder's
 * descriptive sections (inputs, parameters, timings, evaluation, ...) are
 * filled into struct rc_manifest_info and rendered here, by
 * rc_manifest_write, in the order and form schemas/manifest.md gives; they
 * come back from rc_manifest_read as the parsed document `doc` for tools
 * to read.
 *
 * Checking the files a manifest lists is version.h's (rc_version_check);
 * a reader never trusts a file that the manifest does not list.
 */
#ifndef RC_MANIFEST_H
#define RC_MANIFEST_H

#include <stdint.h>
#include <time.h>

#include "json.h"

#define RC_MANIFEST_NAME "manifest.json"
#define RC_MANIFEST_FORMAT "edgerec-manifest"
#define RC_MANIFEST_VERSION 1
#define RC_VERSION_MAX 64
#define RC_MANIFEST_FILES_MAX 8

/* The list DBs come first (RC_DB_COOKIE..RC_DB_CATEGORY), then items, then
 * the set DB catset (catset.h). */
enum rc_db { RC_DB_COOKIE, RC_DB_PRODUCT, RC_DB_SEGMENT, RC_DB_COVIEW, RC_DB_COOKIE_B, RC_DB_CATEGORY, RC_DB_ITEMS,
             RC_DB_CATSET, RC_DB_COUNT };

/* Does db hold list records (record.h)? */
#define RC_DB_IS_LIST(db) ((db) < RC_DB_ITEMS)

/* "cookie", "product", "segment", "coview", "cookie_b", "category",
 * "items", "catset": the LMDB names and manifest count keys. "coview",
 * "cookie_b" (CF lists from a second parameter set, recbuild
 * --cf-b-params, read by an experiment arm with "cf": "cookie_b"),
 * "category" (each category's most popular products, the fill tier of a
 * category-filtered request) and "catset" (each category's products, the
 * filter's membership test) came later within cache format 2: a manifest
 * without their counts reads them as 0 (rc_manifest_read) and a version
 * without the DB opens with it empty (rc_version_open). */
#define RC_DB_OPTIONAL(db) \
    ((db) == RC_DB_COVIEW || (db) == RC_DB_COOKIE_B || (db) == RC_DB_CATEGORY || (db) == RC_DB_CATSET)
extern const char *const rc_db_names[RC_DB_COUNT];

struct rc_manifest_file {
    char name[64];
    uint64_t bytes;
    uint64_t xxh3;
};

struct rc_manifest {
    char version[RC_VERSION_MAX];
    int64_t created_at; /* Unix seconds, UTC */
    uint64_t counts[RC_DB_COUNT];
    struct rc_manifest_file files[RC_MANIFEST_FILES_MAX];
    unsigned nfiles;
    struct rc_json *doc; /* set by rc_manifest_read; owned; NULL otherwise */
};

/* ---- recbuild's sections (schemas/manifest.md, "recbuild's sections") ----
 * Strings are borrowed; NULL strings are written as null unless said
 * otherwise. A section whose pointer is NULL is left out. */

struct rc_manifest_input {
    const char *role, *name; /* name: a base name, "-" for standard input */
    uint64_t bytes, xxh3, rows;
    int have_bytes, have_xxh3;
};

struct rc_manifest_params {
    uint64_t n;
    uint64_t segment_n;      /* recbuild --segment-n; 0: not written (an older writer) */
    int exclude_bought;
    const char *source;
    const char *params_file; /* NULL: not written */
    double weight_view, weight_cart, weight_purchase;
    double weight_click;     /* recbuild --weight-click (clicks read with --clicks) */
    double half_life_days, popularity_half_life_days, window_days;
    uint64_t min_events;
    double active_days;
    uint64_t min_purchases, holdout;
    const char *holdout_split;
    uint64_t eval_k, factors;
    double reg, alpha;
    uint64_t iterations, cg_steps, seed, threads;
    const char *score_method, *knn;
    const char *score_used;  /* the CF scorer --score-method resolved to; NULL: not written (no CF lists) */
    int score_ivf;           /* score_nlist, score_nprobe, score_recall_target written */
    uint64_t score_nlist, score_nprobe;
    double score_recall_target;
    const char *knn_used;    /* the image search --knn resolved to; NULL: not written (no image lists) */
    int knn_ivf, knn_hnsw;   /* which pair below is written */
    uint64_t knn_nlist, knn_nprobe, knn_m, knn_ef;
    double session_gap_minutes;
    uint64_t coview_window, coview_min;
    const char *coview_norm;
    int coview_typed;
    double coview_half_life_days, coview_backward;
    double blend_weight;     /* < 0: null */
    const char *blend_weight_source;
    double max_bad_ratio;
    const char *ts_unit;
    const char *preset, *map, *map_event; /* NULL: not written */
};

struct rc_manifest_tuning {
    double budget_s, seconds;
    int budget_hit;
    const char *split;
    uint64_t k, users, cookies, trials;
    double ndcg, hr, pop_ndcg, pop_hr;
    int kept_base;
    double gain, gain_se;
};

#define RC_MANIFEST_BAD_REASONS 7
#define RC_MANIFEST_LIST_DBS 6 /* RC_DB_COOKIE..RC_DB_CATEGORY */

struct rc_manifest_dropped {
    const char *bad_reason_names[RC_MANIFEST_BAD_REASONS];
    uint64_t bad_by_reason[RC_MANIFEST_BAD_REASONS]; /* bad_lines is their sum */
    uint64_t collisions_by_db[RC_MANIFEST_LIST_DBS];  /* collisions is their sum */
    uint64_t empty_lists, catalog_bad_rows, events_unknown_type, event_products_not_in_catalog;
    uint64_t catalog_bad_values; /* display values dropped, their rows kept */
    uint64_t embedding_bad_values, embedding_not_in_catalog, embedding_duplicates, catalog_without_embedding;
};

#define RC_MANIFEST_TIMINGS_MAX 32

struct rc_manifest_timing {
    const char *name;
    double ms; /* written rounded to a whole millisecond */
};

struct rc_manifest_throughput {
    double ingest_events_per_s, lmdb_records_per_s, lmdb_records_per_cpu_s;
    uint64_t peak_rss_bytes;
};

/* evaluation.holdout: what the members k.. are. SUMMARY writes k, hr and
 * ndcg only (a tool that scored the version elsewhere); FULL all of
 * recbuild's, lift when have_lift. */
enum rc_manifest_holdout { RC_HOLDOUT_NONE, RC_HOLDOUT_SUMMARY, RC_HOLDOUT_FULL };

#define RC_MANIFEST_NEXT_KINDS 5
#define RC_MANIFEST_GRID_MAX 16

struct rc_manifest_eval {
    enum rc_manifest_holdout holdout;
    uint64_t k, users;
    double hr, recall, ndcg, precision, pop_hr, pop_recall, pop_ndcg, pop_precision, coverage, pop_bias;
    int have_lift; /* FULL: lift (ndcg / pop_ndcg, the builder's figure) is written */
    double lift;
    const char *split;

    int have_health; /* degenerate .. score_spread */
    int degenerate;
    const char *degenerate_reason; /* written when degenerate */
    double cold_share, factor_norm, score_spread;

    int have_cf_recall; /* cf_recall, cf_recall_sampled: the approximate CF scorer's */
    double cf_recall;
    uint64_t cf_recall_sampled;

    int have_knn;
    double knn_recall;
    uint64_t knn_recall_sampled;

    int have_next; /* next_item */
    uint64_t next_k, next_sessions, next_steps;
    const char *next_kind_names[RC_MANIFEST_NEXT_KINDS];
    int next_have[RC_MANIFEST_NEXT_KINDS];
    double next_hr[RC_MANIFEST_NEXT_KINDS], next_mrr[RC_MANIFEST_NEXT_KINDS];
    unsigned ngrid; /* blend_grid written when > 1 */
    double grid_w[RC_MANIFEST_GRID_MAX], grid_hr[RC_MANIFEST_GRID_MAX], grid_mrr[RC_MANIFEST_GRID_MAX];
};

/* cf_b: the second CF parameter set (recbuild --cf-b-params) whose lists
 * are in cookie_b. eval: its holdout figures and health, rendered as
 * "evaluation" is (holdout NONE: no holdout ran; knn and next-item never). */
struct rc_manifest_cf_b {
    const char *params_file; /* base name */
    double weight_view, weight_cart, weight_purchase, half_life_days;
    uint64_t factors, iterations;
    double reg, alpha;
    struct rc_manifest_eval eval;
};

/* rules: recbuild --rules FILE (schemas/rules.md). Figures in pairs,
 * [0] without the rules and [1] with them; NaN is written as null. */
#define RC_MANIFEST_RULES_DBS 6 /* RC_DB_COOKIE..RC_DB_CATEGORY: the lists rules touch */
struct rc_manifest_rules_list {
    int have;              /* the build had lists of this kind */
    uint64_t lists, changed, emptied, entries_before, entries_after, excluded, capped, moved;
    double coverage[2], ild_category[2], ild_embedding[2]; /* @k, builder/eval.h rb_eval_diversity */
};
struct rc_manifest_rules {
    const char *file;      /* base name */
    const char *rules;     /* one line: which rules the file holds */
    uint64_t k, unknown_categories, unmatched_segments;
    int have_holdout;      /* hr, ndcg (cookie lists on the held-out purchases) are written */
    uint64_t users;
    double hr[2], ndcg[2];
    struct rc_manifest_rules_list lists[RC_MANIFEST_RULES_DBS];
};

/* exploration: recbuild's new-product exploration (builder/explore.h). */
struct rc_manifest_explore {
    double age_days, share;
    int64_t now; /* ages are measured back from here (the newest event) */
    int first_event_used;
    uint64_t age_created_at, age_first_event, age_unknown;
    uint64_t new_products, new_with_slot, slots, slots_added, lists, lists_changed;
};

struct rc_manifest_info {
    const char *device; /* NULL: not written */
    const struct rc_manifest_input *inputs;
    size_t ninputs;
    int have_inputs;
    const struct rc_manifest_params *params;
    const struct rc_manifest_tuning *tuning;
    const struct rc_manifest_dropped *dropped;
    struct rc_manifest_timing timings[RC_MANIFEST_TIMINGS_MAX];
    size_t ntimings;
    int have_timings;
    const struct rc_manifest_throughput *throughput;
    const struct rc_manifest_eval *eval;
    const struct rc_manifest_cf_b *cf_b;
    const struct rc_manifest_explore *explore; /* recbuild's exploration, when it ran */
    const struct rc_manifest_rules *rules; /* recbuild --rules */
};

/*
 * Size and XXH3-64 of the file at path. Returns 0 or -errno.
 */
int rc_file_xxh3(const char *path, uint64_t *bytes, uint64_t *hash);

/*
 * Add dir/name to m->files with its size and checksum.
 * Errors: RC_ERANGE (too many files), -errno.
 */
int rc_manifest_add_file(struct rc_manifest *m, const char *dir, const char *name, char *err);

/*
 * Write dir/manifest.json atomically (temporary file, fsync, rename): the
 * required members from m, then info's sections (info may be NULL), each
 * on its own line. Returns 0, -ENOMEM or -errno.
 */
int rc_manifest_write(const char *dir, const struct rc_manifest *m, const struct rc_manifest_info *info, char *err);

/*
 * Read and check dir/manifest.json: format name, format version, version id,
 * counts, files. The manifest is opened only as a regular file
 * (rc_version_open_file: no symlink, FIFO or device) of at most 16 MiB.
 * Errors: -errno (unreadable; -ELOOP a symlink), RC_EFORMAT (not a regular
 * file), RC_ETOOLONG, RC_EMANIFEST (not a manifest or missing a field),
 * RC_EVERSION (a newer format version). On success the caller owns m and
 * calls rc_manifest_release.
 */
int rc_manifest_read(const char *dir, struct rc_manifest *m, char *err);

/* rc_manifest_read on a directory already open (dirfd, O_DIRECTORY); dir
 * names it in messages. */
int rc_manifest_read_at(int dirfd, const char *dir, struct rc_manifest *m, char *err);
void rc_manifest_release(struct rc_manifest *m);

#endif
