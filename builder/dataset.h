/*
 * dataset.h - the data recbuild's stages hand to each other.
 *
 *   ingest (ingest.c, catalog.c, npy.c)  -> struct rb_dataset
 *   train  (train.c)                     -> struct rb_train   (train.h: weights, decay, window, activity, holdout)
 *   models (als_cpu.c, score.c, knn.c, popularity.c) -> struct rb_lists
 *   output (output.c)                    -> a published cache version
 *
 * Ids are interned once into dense uint32 indices (struct rb_strtab); every
 * later stage works on indices and looks strings up only when writing.
 * Ownership: each struct owns its arrays and has an _init/_release pair;
 * release on a zeroed struct is a no-op. Nothing here is thread-safe unless
 * a function says so; stages parallelise inside themselves.
 */
#ifndef RB_DATASET_H
#define RB_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

#define RB_NONE UINT32_MAX
#define RB_NONE16 UINT16_MAX

/* ---- interned ids ---- */

/*
 * Open-addressing table id -> dense index, keyed by the id's cache key
 * (rc_key). Strings live in one arena. Indices are assigned 0, 1, 2, ... in
 * first-seen order, so ingest is deterministic for a given input.
 */
struct rb_strtab {
    uint32_t n;          /* ids interned */
    uint32_t cap;        /* capacity of keys/offs/lens */
    uint64_t *keys;      /* [n] rc_key of each id */
    uint64_t *offs;      /* [n] offset of each id in arena */
    uint16_t *lens;      /* [n] length of each id, 1..RC_ID_MAX */
    char *arena;
    size_t arena_len, arena_cap;
    uint32_t *slots;     /* [nslots] index + 1, 0 = empty */
    uint32_t nslots;     /* power of two */
};

int rb_strtab_init(struct rb_strtab *t, uint32_t expect);
void rb_strtab_release(struct rb_strtab *t);
/*
 * Index of id s[0, len), adding it when new. Errors: RC_ETOOLONG (len 0 or
 * > RC_ID_MAX), RC_ECOLLISION (another id has the same key: the caller
 * counts the line as bad), -ENOMEM, RC_ERANGE (more than 2^31-1 ids).
 */
int rb_strtab_intern(struct rb_strtab *t, const char *s, size_t len, uint32_t *idx);
/* Index of id, or RB_NONE. */
uint32_t rb_strtab_find(const struct rb_strtab *t, const char *s, size_t len);
static inline const char *rb_strtab_str(const struct rb_strtab *t, uint32_t i, size_t *len)
{
    *len = t->lens[i];
    return t->arena + t->offs[i];
}

/* ---- events ---- */

/*
 * Event types. An events file spells the first RB_FILE_EVENT_TYPES (view,
 * cart, purchase: schemas/inputs.md); RB_CLICK, a click on a recommended
 * item, comes only from recbuild --clicks (clicks.h: the beacon lines of
 * recedge's exposure log), with its own weight (--weight-click).
 */
enum rb_event_type { RB_VIEW = 0, RB_CART = 1, RB_PURCHASE = 2, RB_CLICK = 3, RB_EVENT_TYPES = 4 };
#define RB_FILE_EVENT_TYPES 3

struct rb_event {
    int64_t ts;       /* Unix seconds */
    uint32_t cookie;  /* index into dataset.cookies */
    uint32_t product; /* index into dataset.products */
    uint16_t loc;     /* index into dataset.locs, RB_NONE16 when absent */
    uint16_t device;  /* index into dataset.devices, RB_NONE16 when absent */
    uint8_t type;     /* enum rb_event_type */
};

/* Why a line was skipped; counted per reason. */
enum rb_bad_reason {
    RB_BAD_FIELDS,    /* fewer fields than the header needs */
    RB_BAD_TS,        /* unparsable timestamp */
    RB_BAD_EVENT,     /* empty event value (a value no mapping knows is not malformed: see
                         rb_ingest_stats.events_unknown_type) */
    RB_BAD_ID,        /* empty or over-long id, or a key collision */
    RB_BAD_QUOTE,     /* bad CSV quoting */
    RB_BAD_LOCDEV,    /* more than 65534 distinct locations or devices */
    RB_BAD_LONG,      /* line longer than RB_LINE_MAX bytes (never split or truncated) */
    RB_BAD_REASONS
};
extern const char *const rb_bad_reason_names[RB_BAD_REASONS];

#define RB_BAD_SAMPLES 3
#define RB_TYPE_SAMPLE 40 /* bytes of an unknown event value kept for the report */
#define RB_LINE_MAX (64 * 1024) /* longest input line, terminator excluded */

struct rb_ingest_stats {
    uint64_t lines;                        /* data lines read (excl. headers) */
    uint64_t events;                       /* accepted */
    uint64_t bad[RB_BAD_REASONS];
    char samples[RB_BAD_REASONS][RB_BAD_SAMPLES][160]; /* "file:line: text" */
    uint64_t catalog_rows, catalog_bad;
    /* Display values (title, url, ...) a catalog row gave that break their
     * rules (catalog.c): dropped, the row kept without them. */
    uint64_t catalog_bad_values;
    uint64_t catalog_with_fields; /* rows that kept at least one display field */
    uint64_t emb_rows, emb_bad_values, emb_no_catalog, catalog_no_emb;
    uint64_t emb_duplicates;               /* rows whose product already had a row (first kept) */
    uint64_t event_products_not_in_catalog;
    /* Lines skipped because their event value (non-empty) matches no accepted
     * spelling, e.g. REES46's remove_from_cart. Not in bad[], but counted
     * toward --max-bad-ratio with them (rb_ingest_check_bad). */
    uint64_t events_unknown_type;
    char unknown_types[RB_BAD_SAMPLES][RB_TYPE_SAMPLE + 1];  /* first distinct values, "" unused */
    char unknown_type_samples[RB_BAD_SAMPLES][160];          /* "file:line: text", a line with each */
};

/*
 * Unit of numeric timestamps (--ts-unit). AUTO decides per value by its
 * magnitude |v|: >= 1e14 microseconds, >= 1e11 milliseconds, else seconds
 * (so seconds up to the year 5138, milliseconds and microseconds from
 * 1973-03-03 on). ISO-8601 text is never scaled.
 */
enum rb_ts_unit { RB_TS_AUTO = 0, RB_TS_S = 1, RB_TS_MS = 2, RB_TS_US = 3 };

/*
 * Column and value mapping, from --preset / --map / --map-event / --ts-unit.
 * Mapped names are copied into names_buf and the pointers above point there,
 * so a struct that went through rb_ingest_parse_map must stay where it is
 * (pass it by pointer; a copy keeps pointing into the original).
 */
struct rb_ingest_opts {
    const char *col_ts, *col_cookie, *col_event, *col_product, *col_location, *col_device;
    const char *col_session;  /* optional, like location and device */
    const char *event_names[RB_EVENT_TYPES][4]; /* accepted spellings per type (any case), NULL-terminated;
                                                 * RB_CLICK's stay NULL (files do not spell it) */
    int ts_unit;          /* enum rb_ts_unit */
    double max_bad_ratio; /* fail past this share of bad lines (default 0.01) */
    char names_buf[1024]; /* storage for mapped names */
    size_t names_len;
};

struct rb_dataset {
    struct rb_strtab cookies, products, locs, devices, categories;
    struct rb_event *events;
    size_t nevents, events_cap;
    /* Session ids, when an events file has a session column: NULL while no
     * file had one; else [events_cap], event_session[i] belongs to events[i]
     * and is an index into sessions, RB_NONE for an empty field (or an
     * event from a file without the column). */
    struct rb_strtab sessions;
    uint32_t *event_session;
    int64_t ts_min, ts_max;

    /* Per product index, sized products.cap; products from the catalog and
     * from the events share one table. */
    uint8_t *in_stock;    /* 1 when recommendable (in catalog and in stock, or no catalog) */
    uint8_t *in_catalog;
    uint32_t *category;   /* index into categories, RB_NONE when unknown */
    int have_catalog;
    /* Display fields of the catalog products that have any, in catalog
     * order, a product at most once: the JSON texts the item record stores
     * (shared/record.h), each len[f] bytes (0: absent), packed in field
     * order from display_text + at. */
    struct rb_display {
        uint32_t product;
        uint16_t len[RC_FIELD_COUNT];
        uint64_t at;
    } *display;
    size_t display_n, display_cap;
    char *display_text;
    size_t display_text_len, display_text_cap;
    /* The catalog's created_at (schemas/inputs.md), for the catalog products
     * whose row gave a readable one, in catalog order, a product at most
     * once: Unix seconds. Product age for exploration (explore.h). */
    struct rb_created {
        uint32_t product;
        int64_t ts;
    } *created;
    size_t created_n, created_cap;

    /* Image embeddings, rows kept after validation, L2-normalised. */
    float *emb;           /* [emb_rows][dim] */
    uint32_t *emb_product;/* [emb_rows] product index */
    uint32_t emb_rows, dim;

    struct rb_ingest_stats stats;
};

/* Zeroes d (empty tables, no catalog, no embeddings; ts_min/ts_max are
 * meaningful once nevents > 0). Cannot fail: tables allocate on first use. */
void rb_dataset_init(struct rb_dataset *d);
void rb_dataset_release(struct rb_dataset *d);

/* ---- training matrix ---- */

/* Compressed sparse rows; indices sorted within a row. */
struct rb_csr {
    uint32_t rows, cols;
    uint64_t nnz;
    uint64_t *indptr;  /* [rows + 1] */
    uint32_t *indices; /* [nnz] */
    float *values;     /* [nnz] */
};
void rb_csr_release(struct rb_csr *m);

struct rb_train_opts {
    float weight[RB_EVENT_TYPES]; /* view 1, cart 3, purchase 10, click 1 */
    double half_life_days;        /* decay measured back from ds.ts_max; 0 = no decay */
    double window_days;           /* events older than ts_max - window are ignored; 0 = all */
    uint32_t min_events;          /* a cookie trains with >= min_events events ... */
    double active_days;           /* ... within the last active_days (0 = whole window) */
    uint32_t min_purchases;       /* a cookie gets a CF list with >= this many purchases (default 1) */
    uint32_t holdout;             /* hold out each purchasing cookie's last `holdout` purchases (0 = off) */
    uint32_t holdout_skip;        /* before the holdout, drop the first `holdout_skip` products of that order
                                   * entirely (the tuner validates on data the evaluation never sees) */
    int holdout_split;            /* enum rb_split: which purchases are "last" */
    uint64_t split_seed;          /* RB_SPLIT_RANDOM: the order is a hash of (seed, cookie, product) */
    double sample;                /* keep a cookie with this probability (hash of seed and cookie); 0 or 1: all */
};

/* How the holdout picks a cookie's held-out products: its latest purchases
 * (temporal, the default), or a seeded random order of its purchased products. */
enum rb_split { RB_SPLIT_TEMPORAL = 0, RB_SPLIT_RANDOM = 1 };

/* ---- model output ---- */

/*
 * n ranked lists of at most k products each: list i belongs to owner_key[i]
 * (the cache key of a cookie, product or segment) and holds len[i] entries
 * items[i*k + j], scores[i*k + j], best first; source[i] is its rc_source.
 */
struct rb_lists {
    size_t n, cap, k;
    uint64_t *owner_key;
    uint32_t *items;
    float *scores;
    uint16_t *len;
    uint8_t *source;
    uint8_t flags;      /* record flags of every list (RC_LIST_SOLE: record.h); 0 by rb_lists_init */
};
/*
 * Room for n lists of k entries: n = cap = n, every list empty (len 0,
 * owner_key 0, source 0); a producer that fills fewer lowers n. Errors:
 * RC_ERANGE (k is 0 or above RC_LIST_MAX, or n * k overflows), -ENOMEM.
 */
int rb_lists_init(struct rb_lists *l, size_t n, size_t k);
void rb_lists_release(struct rb_lists *l);

#endif
