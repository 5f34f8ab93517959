/*
 * recgen - write deterministic demo inputs for recbuild, with planted truth.
 *
 *   recgen --out DIR [--seed N] [--events N] [--cookies N] [--products N] ...
 *   recgen experiment --out DIR ...   a simulated A/B experiment (recgen_experiment.c)
 *
 * The flags, the files and the model behind them are documented in
 * schemas/recgen.md; the generator itself is gen.h (a library of its own,
 * beside the pipeline, not part of it).
 *
 * Exit status: 0 done; 1 the run failed (I/O, memory); 2 bad usage.
 */
#include "error.h"
#include "gen.h"
#include "log.h"
#include "opt.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The binary's one config: the generator's plus logging. */
struct recgen_config {
    struct rb_gen_config gen;
    int log_level;  /* enum rc_log_level */
    int log_format; /* 0 logfmt, 1 json */
    int help;
};

static const char *const level_names[] = {"debug", "info", "warn", "error", NULL}; /* enum rc_log_level */
static const char *const format_names[] = {"logfmt", "json", NULL};

#define GEN(field) (offsetof(struct recgen_config, gen) + offsetof(struct rb_gen_config, field))
#define OWN(field) offsetof(struct recgen_config, field)

/* Ranges are rb_gen_check's (schemas/recgen.md); here only the types. */
static const struct rc_opt options[] = {
    {.name = "out", .arg = "DIR", .type = RC_OPT_STR, .off = GEN(out_dir),
     .help = "output directory, created if missing (required)"},
    {.name = "seed", .arg = "N", .type = RC_OPT_U64, .off = GEN(seed),
     .help = "PRNG seed; the same seed and flags give the same bytes"},
    {.name = "events", .arg = "N", .type = RC_OPT_U64, .off = GEN(events), .help = "event rows to write"},
    {.name = "cookies", .arg = "N", .type = RC_OPT_U64, .off = GEN(cookies),
     .help = "distinct cookies, at most --events (0: events/10)"},
    {.name = "products", .arg = "N", .type = RC_OPT_U32, .off = GEN(products),
     .help = "catalog products, at least --categories"},
    {.name = "categories", .arg = "N", .type = RC_OPT_U32, .off = GEN(categories), .help = "product categories"},
    {.name = "clusters", .arg = "N", .type = RC_OPT_U32, .off = GEN(clusters),
     .help = "embedding clusters per category"},
    {.name = "dim", .arg = "N", .type = RC_OPT_U32, .off = GEN(dim), .help = "embedding dimension"},
    {.name = "days", .arg = "N", .type = RC_OPT_U32, .off = GEN(days), .help = "length of the event window in days"},
    {.name = "end", .arg = "TS", .type = RC_OPT_I64, .off = GEN(end_ts),
     .help = "end of the window, Unix seconds (exclusive)"},
    {.name = "locations", .arg = "N", .type = RC_OPT_U32, .off = GEN(locations),
     .help = "country codes used, 1 to 40 (US, DE, GB, FR, ...)"},
    {.name = "zipf", .arg = "S", .type = RC_OPT_F64, .off = GEN(zipf),
     .help = "popularity exponent of products within a category"},
    {.name = "buyers", .arg = "F", .type = RC_OPT_F64, .off = GEN(buyers), .help = "fraction of cookies that may purchase"},
    {.name = "out-of-stock", .arg = "F", .type = RC_OPT_F64, .off = GEN(out_of_stock),
     .help = "fraction of products with in_stock=0"},
    {.name = "new-products", .arg = "F", .type = RC_OPT_F64, .off = GEN(new_products),
     .help = "fraction of products with no events"},
    {.name = "noise", .arg = "F", .type = RC_OPT_F64, .off = GEN(noise),
     .help = "embedding noise relative to the category centroid"},
    {.name = "log-level", .arg = "debug|info|warn|error", .type = RC_OPT_CHOICE, .off = OWN(log_level),
     .choices = level_names, .help = "least level logged"},
    {.name = "log-format", .arg = "logfmt|json", .type = RC_OPT_CHOICE, .off = OWN(log_format),
     .choices = format_names, .help = "log line format (stderr)"},
    {.name = "log-json", .alias = "log-format", .alias_value = "json"},
    {.name = "help", .type = RC_OPT_FLAG, .off = OWN(help), .help = "print this help and exit"},
    {0},
};

static void defaults(struct recgen_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    rb_gen_defaults(&cfg->gen);
    cfg->log_level = RC_LOG_INFO;
}

static void usage(FILE *f)
{
    struct recgen_config d;
    defaults(&d);
    fprintf(f, "usage: recgen --out DIR [options]\n\n"
               "Write deterministic demo inputs for recbuild (events.csv, catalog.csv,\n"
               "emb.npy, emb_ids.txt) and the planted truth (truth_*.csv, recgen.json).\n"
               "`recgen experiment --help`: a simulated A/B experiment instead.\n"
               "See schemas/recgen.md.\n\noptions:\n");
    rc_opt_usage(f, options, &d, 0, 99);
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) * 1e-9;
}

int rb_genx_main(int argc, char **argv); /* recgen_experiment.c */

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "experiment") == 0)
        return rb_genx_main(argc - 1, argv + 1);
    struct recgen_config cfg;
    char err[RC_ERRMSG_MAX] = "";
    defaults(&cfg);
    struct rc_opt_state ost = {0};
    if (rc_opt_parse(options, &cfg, argc, argv, &ost, err) != 0) {
        fprintf(stderr, "recgen: %s\n\n", err);
        usage(stderr);
        return 2;
    }
    if (cfg.help) {
        usage(stdout);
        return 0;
    }
    rc_log_setup((enum rc_log_level)cfg.log_level, cfg.log_format == 1);
    if (rb_gen_check(&cfg.gen, err) != 0) {
        fprintf(stderr, "recgen: %s\n\n", err);
        usage(stderr);
        return 2;
    }

    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct rb_gen_stats st;
    int rc = rb_gen_run(&cfg.gen, &st, err);
    if (rc != 0) {
        fprintf(stderr, "recgen: %s\n", err[0] ? err : rc_strerror(rc));
        return 1;
    }
    double secs = seconds_since(&t0);
    rc_log(RC_LOG_INFO, "done",
           "out=%s events=%llu views=%llu carts=%llu purchases=%llu cookies=%llu purchasers=%llu sessions=%llu "
           "products=%u seconds=%.2f events_per_s=%.0f",
           cfg.gen.out_dir, (unsigned long long)st.events, (unsigned long long)st.views,
           (unsigned long long)st.carts, (unsigned long long)st.purchases, (unsigned long long)st.cookies,
           (unsigned long long)st.purchasers, (unsigned long long)st.sessions, st.products, secs,
           secs > 0 ? (double)st.events / secs : 0.0);
    return 0;
}
