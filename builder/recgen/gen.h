/*
 * gen.h - recgen's generator: deterministic demo data with planted truth.
 *
 * rb_gen_run() writes the inputs recbuild reads (schemas/inputs.md:
 * events.csv, catalog.csv, emb.npy, emb_ids.txt) plus the truth files and
 * recgen.json described in schemas/recgen.md, all into cfg->out_dir.
 *
 * Invariants and contracts:
 *   - Determinism: the bytes of every file are a function of the config
 *     alone (seed included) on a given build: no clock, no rand(), no
 *     thread timing. Each cookie draws from its own PRNG streams seeded from
 *     (seed, cookie index), so a cookie's rows do not depend on the others.
 *   - Memory is O(products + categories * locations), independent of the
 *     number of events and cookies: cookies are generated one at a time and
 *     their rows (and their truth_cookies.csv line) written as they are made.
 *   - Exactly cfg->events event rows and cfg->cookies cookies; every cookie
 *     has at least one event. Rows are grouped by cookie; within a cookie
 *     timestamps never decrease (sessions do not overlap), within a session
 *     they increase by at least 5 s unless the cookie has so many events
 *     that its sessions are squeezed into half the window.
 *   - Every file is written under a temporary name and renamed into place
 *     once complete (shared/file.h, not fsync'ed); recgen.json is written
 *     last, so its presence means the set is complete. On failure the
 *     temporary file is removed; files finished before the failure stay.
 *
 * Thread rules: no shared state; rb_gen_run() may run concurrently on
 * different output directories. It logs progress through rc_log().
 */
#ifndef RB_GEN_H
#define RB_GEN_H

#include <stdint.h>

/* Limits checked by rb_gen_check() (schemas/recgen.md, "Flags"). */
#define RB_GEN_MAX_EVENTS 10000000000ULL    /* 1e10 rows, ~550 GB of CSV */
#define RB_GEN_MAX_PRODUCTS 100000000U
#define RB_GEN_MAX_CATEGORIES 10000U
#define RB_GEN_MAX_CLUSTERS 64U
#define RB_GEN_MAX_DIM 4096U                /* schemas/inputs.md */
#define RB_GEN_MAX_DAYS 3650U
#define RB_GEN_MAX_LOCATIONS 40U            /* size of the country-code table */
#define RB_GEN_DEVICES 3U                   /* mobile, desktop, tablet */
#define RB_GEN_HITS_PER_LOCATION 5U         /* locally boosted products */
#define RB_GEN_TOP_PER_SEGMENT 10U          /* expected_top in truth_segments */

struct rb_gen_config {
    const char *out_dir;    /* created (with parents) if missing */
    uint64_t seed;
    uint64_t events;        /* event rows, >= cookies */
    uint64_t cookies;       /* 0: events / 10, at least 1 */
    uint32_t products;      /* >= categories */
    uint32_t categories;
    uint32_t clusters;      /* embedding clusters per category */
    uint32_t dim;           /* embedding dimension */
    uint32_t days;          /* length of the event window */
    uint32_t locations;     /* how many country codes are used */
    int64_t end_ts;         /* window is [end_ts - days*86400, end_ts), Unix s */
    double zipf;            /* product popularity exponent within a category */
    double buyers;          /* fraction of cookies that may purchase, [0,1] */
    double out_of_stock;    /* fraction of products with in_stock=0, [0,1] */
    double new_products;    /* fraction of products without events, [0,0.9] */
    double noise;           /* embedding noise relative to centroid norm */
};

/* What a run wrote; filled by rb_gen_run() (also on failure, partially). */
struct rb_gen_stats {
    uint64_t events, views, carts, purchases;
    uint64_t cookies, sessions;
    uint64_t purchasers;            /* cookies with at least one purchase */
    uint64_t one_session_cookies;
    uint64_t max_cookie_events;
    uint32_t products, out_of_stock, new_products;
};

/* The documented defaults (schemas/recgen.md); out_dir is set to NULL. */
void rb_gen_defaults(struct rb_gen_config *cfg);

/* Check every field against its range and the fields against each other.
 * Returns 0, or RC_ERANGE with a message in err naming the flag
 * ("--cookies must be at most --events (...)"). */
int rb_gen_check(const struct rb_gen_config *cfg, char *err);

/* Generate everything into cfg->out_dir. cfg must pass rb_gen_check().
 * stats may be NULL. Returns 0; RC_ERANGE for a config that fails the
 * check; -errno for a failure to create the directory or to write, close or
 * rename a file, with err naming the file ("unable to write 'd/events.csv':
 * No space left on device"); -ENOMEM. */
int rb_gen_run(const struct rb_gen_config *cfg, struct rb_gen_stats *stats, char *err);

#endif
