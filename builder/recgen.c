/*
 * recgen - write deterministic demo inputs for recbuild, with planted truth.
 *
 *   recgen --out DIR [--seed N] [--events N] [--cookies N] [--products N] ...
 *
 * The flags, the files and the model behind them are documented in
 * schemas/recgen.md; the generator itself is builder/gen.c.
 *
 * Exit status: 0 done; 1 the run failed (I/O, memory); 2 bad usage.
 */
#include "error.h"
#include "gen.h"
#include "log.h"

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
    const char *log_level;
    int log_json;
    int help;
};

enum opt_kind { OPT_STR, OPT_U64, OPT_U32, OPT_I64, OPT_F64, OPT_FLAG };

struct opt {
    const char *name;   /* without the leading "--" */
    const char *arg;    /* placeholder in --help; NULL for a flag */
    enum opt_kind kind;
    size_t offset;      /* into struct recgen_config */
    const char *help;
};

#define GEN(field) (offsetof(struct recgen_config, gen) + offsetof(struct rb_gen_config, field))
#define OWN(field) offsetof(struct recgen_config, field)

static const struct opt options[] = {
    {"out", "DIR", OPT_STR, GEN(out_dir), "output directory, created if missing (required)"},
    {"seed", "N", OPT_U64, GEN(seed), "PRNG seed; the same seed and flags give the same bytes"},
    {"events", "N", OPT_U64, GEN(events), "event rows to write"},
    {"cookies", "N", OPT_U64, GEN(cookies), "distinct cookies, at most --events (default: events/10)"},
    {"products", "N", OPT_U32, GEN(products), "catalog products, at least --categories"},
    {"categories", "N", OPT_U32, GEN(categories), "product categories"},
    {"clusters", "N", OPT_U32, GEN(clusters), "embedding clusters per category"},
    {"dim", "N", OPT_U32, GEN(dim), "embedding dimension"},
    {"days", "N", OPT_U32, GEN(days), "length of the event window in days"},
    {"end", "TS", OPT_I64, GEN(end_ts), "end of the window, Unix seconds (exclusive)"},
    {"locations", "N", OPT_U32, GEN(locations), "country codes used, 1 to 40 (US, DE, GB, FR, ...)"},
    {"zipf", "S", OPT_F64, GEN(zipf), "popularity exponent of products within a category"},
    {"buyers", "F", OPT_F64, GEN(buyers), "fraction of cookies that may purchase"},
    {"out-of-stock", "F", OPT_F64, GEN(out_of_stock), "fraction of products with in_stock=0"},
    {"new-products", "F", OPT_F64, GEN(new_products), "fraction of products with no events"},
    {"noise", "F", OPT_F64, GEN(noise), "embedding noise relative to the category centroid"},
    {"log-level", "LEVEL", OPT_STR, OWN(log_level), "debug, info, warn or error"},
    {"log-json", NULL, OPT_FLAG, OWN(log_json), "log JSON lines instead of logfmt"},
    {"help", NULL, OPT_FLAG, OWN(help), "print this help and exit"},
};
#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

static void default_text(const struct opt *o, const struct recgen_config *d, char *buf, size_t n)
{
    const char *p = (const char *)d + o->offset;
    buf[0] = 0;
    switch (o->kind) {
    case OPT_STR:
        if (*(const char *const *)p)
            snprintf(buf, n, "%s", *(const char *const *)p);
        break;
    case OPT_U64:
        if (*(const uint64_t *)p)
            snprintf(buf, n, "%llu", (unsigned long long)*(const uint64_t *)p);
        break;
    case OPT_U32:
        snprintf(buf, n, "%u", *(const uint32_t *)p);
        break;
    case OPT_I64:
        snprintf(buf, n, "%lld", (long long)*(const int64_t *)p);
        break;
    case OPT_F64:
        snprintf(buf, n, "%g", *(const double *)p);
        break;
    case OPT_FLAG:
        break;
    }
}

static void defaults(struct recgen_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    rb_gen_defaults(&cfg->gen);
    cfg->log_level = "info";
}

static void usage(FILE *f)
{
    struct recgen_config d;
    defaults(&d);
    fprintf(f, "usage: recgen --out DIR [options]\n\n"
               "Write deterministic demo inputs for recbuild (events.csv, catalog.csv,\n"
               "emb.npy, emb_ids.txt) and the planted truth (truth_*.csv, recgen.json).\n"
               "See schemas/recgen.md.\n\noptions:\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct opt *o = &options[i];
        char left[48], def[64];
        snprintf(left, sizeof(left), "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        default_text(o, &d, def, sizeof(def));
        fprintf(f, "  %-22s %s%s%s%s\n", left, o->help, def[0] ? " [" : "", def, def[0] ? "]" : "");
    }
}

/* Parse one value into its field; 0 or RC_EFORMAT with a message. */
static int set_value(const struct opt *o, const char *v, struct recgen_config *cfg, char *err)
{
    char *p = (char *)cfg + o->offset;
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case OPT_STR:
        if (!*v)
            return rc_fail(err, RC_EFORMAT, "empty value for --%s", o->name);
        *(const char **)p = v;
        return 0;
    case OPT_U64:
    case OPT_U32: {
        if (*v < '0' || *v > '9')
            return rc_fail(err, RC_EFORMAT, "invalid value '%s' for --%s: expected a non-negative integer", v,
                           o->name);
        unsigned long long x = strtoull(v, &end, 10);
        if (*end)
            return rc_fail(err, RC_EFORMAT, "invalid value '%s' for --%s: expected a non-negative integer", v,
                           o->name);
        if (errno == ERANGE || (o->kind == OPT_U32 && x > UINT32_MAX))
            return rc_fail(err, RC_EFORMAT, "invalid value '%s' for --%s: too large (at most %s)", v, o->name,
                           o->kind == OPT_U32 ? "4294967295" : "18446744073709551615");
        if (o->kind == OPT_U64)
            *(uint64_t *)p = x;
        else
            *(uint32_t *)p = (uint32_t)x;
        return 0;
    }
    case OPT_I64: {
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || errno == ERANGE || (*v != '-' && (*v < '0' || *v > '9')))
            return rc_fail(err, RC_EFORMAT, "invalid value '%s' for --%s: expected an integer", v, o->name);
        *(int64_t *)p = x;
        return 0;
    }
    case OPT_F64: {
        double x = strtod(v, &end);
        if (!*v || *end || errno == ERANGE || x != x)
            return rc_fail(err, RC_EFORMAT, "invalid value '%s' for --%s: expected a number", v, o->name);
        *(double *)p = x;
        return 0;
    }
    case OPT_FLAG:
        *(int *)p = 1;
        return 0;
    }
    return rc_fail(err, RC_EINTERNAL, "option --%s has no parser", o->name);
}

/* --name VALUE, --name=VALUE, --flag; -h for --help. */
static int parse_args(int argc, char **argv, struct recgen_config *cfg, char *err)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0) {
            cfg->help = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0)
            return rc_fail(err, RC_EFORMAT, "unexpected argument '%s'", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct opt *o = NULL;
        for (size_t k = 0; k < N_OPTIONS; k++)
            if (strlen(options[k].name) == len && strncmp(options[k].name, name, len) == 0)
                o = &options[k];
        if (!o)
            return rc_fail(err, RC_EFORMAT, "unknown option '--%.*s'", (int)len, name);
        const char *value;
        if (o->kind == OPT_FLAG) {
            if (eq)
                return rc_fail(err, RC_EFORMAT, "option --%s takes no value", o->name);
            value = "";
        } else if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            return rc_fail(err, RC_EFORMAT, "option --%s needs a value (%s)", o->name, o->arg);
        }
        int rc = set_value(o, value, cfg, err);
        if (rc)
            return rc;
    }
    return 0;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) * 1e-9;
}

int main(int argc, char **argv)
{
    struct recgen_config cfg;
    char err[RC_ERRMSG_MAX] = "";
    defaults(&cfg);
    if (parse_args(argc, argv, &cfg, err) != 0) {
        fprintf(stderr, "recgen: %s\n\n", err);
        usage(stderr);
        return 2;
    }
    if (cfg.help) {
        usage(stdout);
        return 0;
    }
    enum rc_log_level level;
    if (rc_log_parse_level(cfg.log_level, &level) != 0) {
        fprintf(stderr, "recgen: invalid value '%s' for --log-level: expected debug, info, warn or error\n\n",
                cfg.log_level);
        usage(stderr);
        return 2;
    }
    rc_log_setup(level, cfg.log_json);
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
