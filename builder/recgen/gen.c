/*
 * gen.c - recgen's generator: the config, and rb_gen_run() tying the model
 * and the writers together (contract in gen.h, model in schemas/recgen.md).
 *
 * The pieces: gen_rng.h (the random streams), gen_model.c (the catalog's
 * structure and the probability tables), gen_catalog.c (catalog and
 * embeddings), gen_truth.c (the planted truth), gen_events.c (cookies,
 * events), gen_out.c (the output files). recgen.json is written here.
 */
#include "gen.h"
#include "gen_files.h"
#include "gen_model.h"
#include "gen_out.h"

#include "error.h"
#include "file.h"
#include "json.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void rb_gen_defaults(struct rb_gen_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->out_dir = NULL;
    cfg->seed = 1;
    cfg->events = 200000;
    cfg->cookies = 0;
    cfg->products = 5000;
    cfg->categories = 20;
    cfg->clusters = 3;
    cfg->dim = 64;
    cfg->days = 14;
    cfg->locations = 10;
    cfg->end_ts = 1767225600; /* 2026-01-01T00:00:00Z */
    cfg->zipf = 1.0;
    cfg->buyers = 0.3;
    cfg->out_of_stock = 0.07;
    cfg->new_products = 0.02;
    cfg->noise = 0.5;
}

/* The sizes: events, cookies, products, categories, clusters, dim. */
static int check_sizes(const struct rb_gen_config *cfg, char *err)
{
    if (cfg->events < 1 || cfg->events > RB_GEN_MAX_EVENTS)
        return rc_fail(err, RC_ERANGE, "--events must be from 1 to %llu", (unsigned long long)RB_GEN_MAX_EVENTS);
    uint64_t cookies = rb_gen_effective_cookies(cfg);
    if (cookies > cfg->events)
        return rc_fail(err, RC_ERANGE, "--cookies (%llu) must be at most --events (%llu): every cookie has an event",
                       (unsigned long long)cookies, (unsigned long long)cfg->events);
    if (cfg->categories < 1 || cfg->categories > RB_GEN_MAX_CATEGORIES)
        return rc_fail(err, RC_ERANGE, "--categories must be from 1 to %u", RB_GEN_MAX_CATEGORIES);
    if (cfg->products < cfg->categories || cfg->products > RB_GEN_MAX_PRODUCTS)
        return rc_fail(err, RC_ERANGE, "--products must be from --categories (%u) to %u", cfg->categories,
                       RB_GEN_MAX_PRODUCTS);
    if (cfg->clusters < 1 || cfg->clusters > RB_GEN_MAX_CLUSTERS)
        return rc_fail(err, RC_ERANGE, "--clusters must be from 1 to %u", RB_GEN_MAX_CLUSTERS);
    if (cfg->dim < 1 || cfg->dim > RB_GEN_MAX_DIM)
        return rc_fail(err, RC_ERANGE, "--dim must be from 1 to %u", RB_GEN_MAX_DIM);
    uint64_t centroid_floats = ((uint64_t)cfg->categories * (cfg->clusters + 1) + 1) * cfg->dim;
    if (centroid_floats > (64ULL << 20))
        return rc_fail(err, RC_ERANGE,
                       "--categories * (--clusters + 1) * --dim is %llu, at most %llu (embedding centroids in memory)",
                       (unsigned long long)centroid_floats, 64ULL << 20);
    return 0;
}

/* The window and the segments: days, end, locations. */
static int check_window(const struct rb_gen_config *cfg, char *err)
{
    if (cfg->days < 1 || cfg->days > RB_GEN_MAX_DAYS)
        return rc_fail(err, RC_ERANGE, "--days must be from 1 to %u", RB_GEN_MAX_DAYS);
    if (cfg->end_ts < (int64_t)cfg->days * 86400 || cfg->end_ts > 32503680000LL)
        return rc_fail(err, RC_ERANGE, "--end must be from --days*86400 to 32503680000 (year 3000)");
    if (cfg->locations < 1 || cfg->locations > RB_GEN_MAX_LOCATIONS)
        return rc_fail(err, RC_ERANGE, "--locations must be from 1 to %u", RB_GEN_MAX_LOCATIONS);
    return 0;
}

/* The shape parameters, each within its range (NaN fails every one). */
static int check_shape(const struct rb_gen_config *cfg, char *err)
{
    static const struct {
        const char *flag;
        size_t offset;
        double lo, hi;
    } ranges[] = {
        {"--zipf", offsetof(struct rb_gen_config, zipf), 0.0, 3.0},
        {"--buyers", offsetof(struct rb_gen_config, buyers), 0.0, 1.0},
        {"--out-of-stock", offsetof(struct rb_gen_config, out_of_stock), 0.0, 1.0},
        {"--new-products", offsetof(struct rb_gen_config, new_products), 0.0, 0.9},
        {"--noise", offsetof(struct rb_gen_config, noise), 0.0, 100.0},
    };
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        double v;
        memcpy(&v, (const char *)cfg + ranges[i].offset, sizeof(v));
        if (!(v >= ranges[i].lo && v <= ranges[i].hi))
            return rc_fail(err, RC_ERANGE, "%s must be from %g to %g", ranges[i].flag, ranges[i].lo, ranges[i].hi);
    }
    return 0;
}

int rb_gen_check(const struct rb_gen_config *cfg, char *err)
{
    if (!cfg->out_dir || !cfg->out_dir[0])
        return rc_fail(err, RC_ERANGE, "--out is required");
    int rc = check_sizes(cfg, err);
    if (rc == 0)
        rc = check_window(cfg, err);
    if (rc == 0)
        rc = check_shape(cfg, err);
    return rc;
}

/* recgen.json's "params": the config as the run used it. */
static void manifest_params(struct rc_buf *b, const struct model *m)
{
    const struct rb_gen_config *cfg = m->cfg;
    rc_buf_addf(b,
                "  \"params\": {\n    \"seed\": %llu,\n    \"events\": %llu,\n    \"cookies\": %llu,\n"
                "    \"products\": %u,\n    \"categories\": %u,\n    \"clusters\": %u,\n    \"dim\": %u,\n"
                "    \"days\": %u,\n    \"locations\": %u,\n    \"start_ts\": %lld,\n    \"end_ts\": %lld,\n",
                (unsigned long long)cfg->seed, (unsigned long long)m->N, (unsigned long long)m->C, m->P, m->K, m->Q,
                cfg->dim, cfg->days, m->L, (long long)m->start_ts, (long long)cfg->end_ts);
    const struct {
        const char *name;
        double v;
    } shape[] = {
        {"zipf", cfg->zipf},
        {"buyers", cfg->buyers},
        {"out_of_stock", cfg->out_of_stock},
        {"new_products", cfg->new_products},
        {"noise", cfg->noise},
    };
    size_t n = sizeof(shape) / sizeof(shape[0]);
    for (size_t i = 0; i < n; i++) {
        rc_buf_addf(b, "    \"%s\": ", shape[i].name);
        rc_buf_add_double(b, shape[i].v);
        rc_buf_adds(b, i + 1 < n ? ",\n" : "\n  },\n");
    }
}

/* recgen.json's "counts": what the run wrote. */
static void manifest_counts(struct rc_buf *b, const struct rb_gen_stats *st)
{
    rc_buf_addf(b,
                "  \"counts\": {\n    \"events\": %llu,\n    \"views\": %llu,\n    \"carts\": %llu,\n"
                "    \"purchases\": %llu,\n    \"cookies\": %llu,\n    \"sessions\": %llu,\n"
                "    \"purchasers\": %llu,\n    \"one_session_cookies\": %llu,\n"
                "    \"max_cookie_events\": %llu,\n    \"products\": %u,\n    \"out_of_stock\": %u,\n"
                "    \"new_products\": %u\n  },\n",
                (unsigned long long)st->events, (unsigned long long)st->views, (unsigned long long)st->carts,
                (unsigned long long)st->purchases, (unsigned long long)st->cookies, (unsigned long long)st->sessions,
                (unsigned long long)st->purchasers, (unsigned long long)st->one_session_cookies,
                (unsigned long long)st->max_cookie_events, st->products, st->out_of_stock, st->new_products);
}

/* recgen.json: the parameters and counts of the run; written last. */
static int write_manifest(const struct model *m, const char *dir, const struct rb_gen_stats *st, char *err)
{
    struct rc_buf b;
    rc_buf_init(&b);
    rc_buf_adds(&b, "{\n  \"generator\": \"recgen\",\n  \"format\": 1,\n");
    manifest_params(&b, m);
    manifest_counts(&b, st);
    rc_buf_adds(&b, "  \"files\": [\"events.csv\", \"catalog.csv\", \"emb.npy\", \"emb_ids.txt\", "
                    "\"truth_cookies.csv\", \"truth_products.csv\", \"truth_categories.csv\", "
                    "\"truth_segments.csv\"]\n}\n");
    struct rb_gen_out o;
    int rc = b.overflow ? rc_fail(err, -ENOMEM, "out of memory for recgen.json")
                        : rb_gen_out_start(&o, dir, "recgen.json", rc_buf_cstr(&b), err);
    if (rc == 0)
        rc = rb_gen_out_commit(&o, err);
    rc_buf_release(&b);
    return rc;
}

/* The output directory, without a recgen.json from an earlier run (it
 * would vouch for a half-new set). */
static int prepare_dir(const char *dir, char *err)
{
    int rc = rc_mkdir_p(dir);
    if (rc)
        return rc_fail(err, rc, "unable to create directory '%s': %s", dir, rc_strerror(rc));
    char manifest[PATH_MAX];
    if (snprintf(manifest, sizeof(manifest), "%s/recgen.json", dir) >= (int)sizeof(manifest))
        return rc_fail(err, -ENAMETOOLONG, "output path too long: '%s'", dir);
    if (unlink(manifest) != 0 && errno != ENOENT) {
        int e = errno;
        return rc_fail(err, -e, "unable to remove '%s': %s", manifest, strerror(e));
    }
    return 0;
}

/* Every file but recgen.json, in this order (each from its own streams). */
static int write_files(const struct model *m, const char *dir, struct rb_gen_stats *st, char *err)
{
    int (*const per_model[])(const struct model *, const char *, char *) = {
        rb_gen_write_catalog,         rb_gen_write_emb_ids,           rb_gen_write_emb,
        rb_gen_write_truth_products,  rb_gen_write_truth_categories,  rb_gen_write_truth_segments,
    };
    for (size_t i = 0; i < sizeof(per_model) / sizeof(per_model[0]); i++) {
        int rc = per_model[i](m, dir, err);
        if (rc)
            return rc;
    }
    return rb_gen_write_cookies(m, dir, st, err);
}

int rb_gen_run(const struct rb_gen_config *cfg, struct rb_gen_stats *stats, char *err)
{
    struct rb_gen_stats local;
    struct rb_gen_stats *st = stats ? stats : &local;
    memset(st, 0, sizeof(*st));
    int rc = rb_gen_check(cfg, err);
    if (rc == 0)
        rc = prepare_dir(cfg->out_dir, err);
    if (rc)
        return rc;

    struct model m;
    rc = rb_gen_model_build(&m, cfg, err);
    if (rc)
        return rc;
    st->products = m.P;
    st->out_of_stock = m.oos_count;
    st->new_products = m.new_count;
    rc_log(RC_LOG_INFO, "model", "products=%u categories=%u new=%u out_of_stock=%u", m.P, m.K, m.new_count,
           m.oos_count);
    rc = write_files(&m, cfg->out_dir, st, err);
    if (rc == 0)
        rc = write_manifest(&m, cfg->out_dir, st, err);
    rb_gen_model_free(&m);
    return rc;
}
