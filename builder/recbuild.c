/*
 * recbuild - the batch job: event logs, catalog and image embeddings in, one
 * new published cache version out (schemas/cache.md, schemas/manifest.md).
 *
 *   ingest -> train matrix -> ALS -> CF scoring -> image kNN
 *          -> sessions -> coview (+ next-item evaluation, blend weight) -> popularity
 *          -> (holdout evaluation) -> write + manifest -> publish, flip, prune
 *
 * Everything the run can be told lives in struct rb_config, filled from the
 * option table below (which also prints --help), checked once by
 * check_config, then passed as const. Exit codes: see EXIT_* and --help.
 */
#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include "als.h"
#include "coview.h"
#include "dataset.h"
#include "error.h"
#include "eval.h"
#include "gpu.h"
#include "ingest.h"
#include "json.h"
#include "knn.h"
#include "layout.h"
#include "log.h"
#include "output.h"
#include "popularity.h"
#include "progress.h"
#include "score.h"
#include "session.h"
#include "train.h"
#include "tune.h"

enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,    /* the build failed (message logged); current unchanged */
    EXIT_USAGE = 2,     /* bad command line */
    EXIT_BAD_INPUT = 3, /* input unusable: bad lines past --max-bad-ratio, empty, wrong format */
};

#define MAX_EVENT_FILES 64

enum device { DEVICE_AUTO, DEVICE_CPU, DEVICE_GPU };
enum tune_mode { TUNE_AUTO, TUNE_OFF, TUNE_BUDGET };
enum log_format { LOG_LOGFMT, LOG_JSON };

struct rb_config {
    const char *events[MAX_EVENT_FILES];
    size_t nevents;
    const char *catalog;
    const char *embeddings;
    const char *embedding_ids; /* NULL: derived from embeddings */
    const char *out;

    struct rb_ingest_opts ingest; /* holds pointers into itself: never copied */
    struct rb_train_opts train;
    struct rb_als_opts als;
    struct rb_knn_opts knn;
    struct rb_coview_opts coview;
    double session_gap_min;       /* --session-gap, minutes */
    double blend_weight;          /* --blend-weight; < 0: auto */
    int score_method;             /* enum rb_score_method */
    uint32_t n;
    int keep_bought;
    uint32_t eval_k;
    uint32_t keep;
    int no_flip;
    int device;                   /* enum device */
    int log_level;                /* enum rc_log_level */
    int log_format;               /* enum log_format */
    int progress;                 /* enum rb_progress_mode */
    int help;
    int tune;                     /* enum tune_mode */
    double tune_budget;           /* seconds: --tune N, or --tune auto's safety limit */
    uint32_t tune_configs;        /* configurations at the search's first rung */
    int tune_only;
    const char *tune_out, *params;
    unsigned given;               /* enum rb_param bits set by a flag on the command line */
    unsigned from_file;           /* ... set by --params */
    double cf_half_life_days;     /* --params' half-life-days: CF's only (popularity keeps train.half_life_days) */

    char ids_path[PATH_MAX];      /* derived --embedding-ids */
    const char *map_spec, *map_event_spec, *preset; /* as given, for the manifest */
};

static void config_default(struct rb_config *c)
{
    memset(c, 0, sizeof(*c));
    rb_ingest_opts_default(&c->ingest);
    rb_train_opts_default(&c->train);
    rb_als_opts_default(&c->als);
    rb_knn_opts_default(&c->knn);
    rb_coview_opts_default(&c->coview);
    c->session_gap_min = RB_SESSION_GAP_MIN_DEFAULT;
    c->blend_weight = -1;
    c->score_method = RB_SCORE_AUTO;
    c->n = 20;
    c->eval_k = 10;
    c->keep = 5;
    c->device = DEVICE_AUTO;
    c->log_level = RC_LOG_INFO;
    c->progress = RB_PROGRESS_AUTO;
    c->tune = TUNE_AUTO;
    c->tune_budget = 300.0; /* --tune auto: a safety limit the search's plan stays far below */
    c->tune_configs = 18;
}

/* ---- the option table ---- */

enum opt_type {
    OPT_PATH, OPT_EVENTS, OPT_U32, OPT_U64, OPT_INT, OPT_F32, OPT_F64, OPT_FLAG, OPT_CHOICE, OPT_MAP, OPT_PRESET,
    OPT_TUNE, OPT_BLEND
};

static const char *const device_names[] = {"auto", "cpu", "gpu", NULL};
static const char *const score_names[] = {"auto", "faiss", "gemm", NULL};
static const char *const knn_names[] = {"exact", "ivf", "hnsw", NULL};
static const char *const ts_unit_names[] = {"auto", "s", "ms", "us", NULL}; /* enum rb_ts_unit */
static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};
static const char *const format_names[] = {"logfmt", "json", NULL};
static const char *const progress_names[] = {"auto", "always", "never", NULL};
static const char *const split_names[] = {"temporal", "random", NULL}; /* enum rb_split */
static const char *const coview_norm_names[] = {"raw", "cosine", "lift", NULL}; /* enum rb_coview_norm */

struct opt {
    const char *name;      /* long option, without "--"; NULL ends the table */
    const char *arg;       /* metavar; NULL for flags */
    enum opt_type type;
    size_t off;            /* into struct rb_config */
    double min, max;       /* numeric options */
    const char *const *choices;
    const char *help;
    const char *section;   /* starts a --help section when set */
};

#define C(field) offsetof(struct rb_config, field)

static const struct opt options[] = {
    {"events", "FILE", OPT_EVENTS, C(events), 0, 0, NULL,
     "events CSV/TSV (schemas/inputs.md); repeatable, \"-\" reads standard input (once)", "Inputs"},
    {"catalog", "FILE", OPT_PATH, C(catalog), 0, 0, NULL,
     "catalog CSV (product, category, in_stock); without it every product seen is in stock", NULL},
    {"embeddings", "FILE", OPT_PATH, C(embeddings), 0, 0, NULL,
     "image embeddings, float32 .npy (rows, dim); without it no image-similarity lists (warning)", NULL},
    {"embedding-ids", "FILE", OPT_PATH, C(embedding_ids), 0, 0, NULL,
     "product id per embedding row (default: the .npy path with .npy replaced by _ids.txt)", NULL},
    {"preset", "NAME", OPT_PRESET, C(ingest), 0, 0, NULL,
     "read a public log layout as published: retailrocket (events.csv: timestamp in ms, visitorid, "
     "event view/addtocart/transaction, itemid) or rees46 (event_time, event_type, product_id, user_id, "
     "user_session); sets --map, --map-event and --ts-unit, which override it when given later "
     "(schemas/inputs.md)", NULL},
    {"map", "COL=NAME,...", OPT_MAP, C(ingest), 0, 0, NULL,
     "read event columns under other names, e.g. cookie=visitorid,product=itemid,ts=timestamp", NULL},
    {"map-event", "TYPE=NAME,...", OPT_MAP, C(ingest), 1, 0, NULL,
     "accept other event names, e.g. cart=addtocart,purchase=transaction", NULL},
    {"ts-unit", "auto|s|ms|us", OPT_CHOICE, C(ingest.ts_unit), 0, 0, ts_unit_names,
     "unit of numeric timestamps; auto decides per value: >= 1e14 microseconds, >= 1e11 milliseconds, "
     "else seconds (ISO-8601 text is read as it is)", NULL},
    {"max-bad-ratio", "R", OPT_F64, C(ingest.max_bad_ratio), 0, 1, NULL,
     "fail (exit 3) when more than this share of event lines is malformed or of an unknown event type", NULL},

    {"weight-view", "W", OPT_F32, C(train.weight[RB_VIEW]), 0, 1e6, NULL, "weight of a view event", "Training data"},
    {"weight-cart", "W", OPT_F32, C(train.weight[RB_CART]), 0, 1e6, NULL, "weight of an add-to-cart event", NULL},
    {"weight-purchase", "W", OPT_F32, C(train.weight[RB_PURCHASE]), 0, 1e6, NULL, "weight of a purchase event", NULL},
    {"half-life-days", "D", OPT_F64, C(train.half_life_days), 0, 36500, NULL,
     "an event's weight halves every D days back from the newest event (0: no decay); also for popularity", NULL},
    {"window-days", "D", OPT_F64, C(train.window_days), 0, 36500, NULL,
     "ignore events older than D days before the newest (0: all); also for popularity", NULL},
    {"min-events", "N", OPT_U32, C(train.min_events), 0, 1e9, NULL,
     "a cookie trains with at least N events ...", NULL},
    {"active-days", "D", OPT_F64, C(train.active_days), 0, 36500, NULL,
     "... within the last D days (0: the whole window)", NULL},
    {"min-purchases", "N", OPT_U32, C(train.min_purchases), 0, 1e9, NULL,
     "a cookie gets a CF list with at least N purchases", NULL},

    {"factors", "F", OPT_U32, C(als.factors), 1, 1024, NULL, "ALS latent factors", "Collaborative filtering (ALS)"},
    {"reg", "L", OPT_F32, C(als.reg), 0, 1e6, NULL,
     "ALS L2 regularisation per observed entry: a row with n entries gets reg * n", NULL},
    {"alpha", "A", OPT_F32, C(als.alpha), 0, 1e6, NULL, "ALS confidence scale: c = 1 + alpha * weight", NULL},
    {"iterations", "N", OPT_U32, C(als.iterations), 1, 1000, NULL, "ALS iterations", NULL},
    {"cg-steps", "N", OPT_U32, C(als.cg_steps), 0, 100, NULL,
     "conjugate-gradient steps per row solve (0: exact Cholesky solve)", NULL},
    {"seed", "S", OPT_U64, C(als.seed), 0, 1.8e19, NULL,
     "random seed (same inputs, seed and --threads: same lists)", NULL},
    {"threads", "T", OPT_INT, C(als.threads), 0, 4096, NULL, "worker threads (0: all cores)", NULL},
    {"score-method", "auto|faiss|gemm", OPT_CHOICE, C(score_method), 0, 0, score_names,
     "how CF lists are scored (same lists; auto picks the faster)", NULL},

    {"tune", "auto|off|SECONDS", OPT_TUNE, C(tune), 0, 1e6, NULL,
     "choose --factors, --reg, --alpha, --iterations, the event weights and --half-life-days from the events "
     "(successive halving on a validation split, best NDCG@--eval-k; schemas/params.md): SECONDS searches "
     "every one not given as a flag or by --params within that budget; auto runs the whole search (it stops "
     "only past 300 s) when none of them is given and there is no --params; off never", "Parameters"},
    {"params", "FILE", OPT_PATH, C(params), 0, 0, NULL,
     "read those parameters from FILE (written by --tune-out; flags given on the command line win)", NULL},
    {"tune-out", "FILE", OPT_PATH, C(tune_out), 0, 0, NULL,
     "write the parameters the build used, with the search's table when it tuned, to FILE", NULL},
    {"tune-configs", "N", OPT_U32, C(tune_configs), 3, 60, NULL,
     "configurations the search starts with; the best third goes on at each rung (a wider daily search: 54)", NULL},
    {"tune-only", NULL, OPT_FLAG, C(tune_only), 0, 0, NULL,
     "tune (as --tune; auto: the whole search), write --tune-out and stop: no version is built", NULL},

    {"session-gap", "MINUTES", OPT_F64, C(session_gap_min), 0.01, 1e6, NULL,
     "events without a session id (no session column, or an empty field) are cut into sessions per cookie "
     "where more than MINUTES pass without an event (schemas/inputs.md)", "Co-view (browsing route)"},
    {"coview-window", "N", OPT_U32, C(coview.window), 1, 100, NULL,
     "count two events of a session as co-viewed when at most N positions apart (weight 1/distance)", NULL},
    {"coview-min", "N", OPT_U32, C(coview.min_count), 1, 1e9, NULL,
     "a co-viewed product is listed with at least N co-occurrences", NULL},
    {"coview-typed", NULL, OPT_FLAG, C(coview.typed), 0, 0, NULL,
     "weigh co-viewed pairs by the events' --weight-view/-cart/-purchase (default: every event 1)", NULL},
    {"coview-half-life-days", "D", OPT_F64, C(coview.half_life_days), 0, 36500, NULL,
     "a co-viewed pair's weight halves every D days back from the newest event (0: no decay)", NULL},
    {"coview-backward", "B", OPT_F64, C(coview.backward), 0, 1, NULL,
     "weight of a co-view in the order opposite to the events' (b viewed after a counts 1 for a -> b and B "
     "for b -> a)", NULL},
    {"coview-norm", "raw|cosine|lift", OPT_CHOICE, C(coview.norm), 0, 0, coview_norm_names,
     "co-view score: the weighted count, count / sqrt(both products' counts), or count / the listed product's "
     "count", NULL},
    {"blend-weight", "auto|W", OPT_BLEND, C(blend_weight), 0, 1, NULL,
     "the browsing route ranks co-view against image similarity as W x coview (1 for a list's best) vs "
     "(1 - W) x cosine (1: coview first, then image); auto chooses W on the next-item holdout with "
     "--holdout, else 0.5 (schemas/cache.md)", NULL},

    {"knn", "exact|ivf|hnsw", OPT_CHOICE, C(knn.method), 0, 0, knn_names,
     "image-similarity search: exact, or approximate (recall measured on a sample)", "Image similarity"},
    {"knn-nlist", "N", OPT_U32, C(knn.ivf_nlist), 0, 1e7, NULL, "IVF lists (0: about 4 sqrt(rows))", NULL},
    {"knn-nprobe", "N", OPT_U32, C(knn.ivf_nprobe), 1, 1e7, NULL, "IVF lists probed per query", NULL},
    {"knn-m", "M", OPT_U32, C(knn.hnsw_m), 2, 1024, NULL, "HNSW links per node", NULL},
    {"knn-ef", "N", OPT_U32, C(knn.hnsw_ef), 1, 1e6, NULL, "HNSW search breadth", NULL},
    {"knn-recall-sample", "N", OPT_U32, C(knn.recall_sample), 0, 1e7, NULL,
     "products checked against exact search to measure recall", NULL},

    {"n", "N", OPT_U32, C(n), 1, RC_LIST_MAX, NULL, "entries per list", "Lists and evaluation"},
    {"keep-bought", NULL, OPT_FLAG, C(keep_bought), 0, 0, NULL,
     "let CF lists hold products the cookie bought (default: excluded)", NULL},
    {"holdout", "K", OPT_U32, C(train.holdout), 0, 1000, NULL,
     "evaluate: hold out each purchasing cookie's last K purchases from training, report HR, Recall, NDCG and "
     "precision of CF vs most-popular, CF's lift, coverage, popularity bias and whether the model is degenerate "
     "(logged and in the manifest; the published lists are then trained without them; 0: off)", NULL},
    {"eval-k", "K", OPT_U32, C(eval_k), 1, RC_LIST_MAX, NULL, "cut-off of the evaluation metrics (at most --n)", NULL},
    {"holdout-split", "temporal|random", OPT_CHOICE, C(train.holdout_split), 0, 0, split_names,
     "which purchases --holdout (and the tuner's validation) hold out: each cookie's latest, or random ones "
     "(seeded by --seed)", NULL},

    {"out", "ROOT", OPT_PATH, C(out), 0, 0, NULL, "cache root: versions/, current, .staging/ (created)", "Output"},
    {"keep", "K", OPT_U32, C(keep), 0, 1e6, NULL, "versions kept under versions/ (0: keep all); current always stays",
     NULL},
    {"no-flip", NULL, OPT_FLAG, C(no_flip), 0, 0, NULL,
     "publish the version but leave current as it is (a rollout job verifies, then flips)", NULL},
    {"device", "auto|cpu|gpu", OPT_CHOICE, C(device), 0, 0, device_names,
     "where ALS, CF scoring and exact kNN run; gpu fails (exit 1) without CUDA or a device; auto uses cpu then",
     NULL},

    {"log-level", "debug|info|warn|error", OPT_CHOICE, C(log_level), 0, 0, level_names, "least level logged",
     "Logging"},
    {"log-format", "logfmt|json", OPT_CHOICE, C(log_format), 0, 0, format_names, "log line format (stderr)", NULL},
    {"progress", "auto|always|never", OPT_CHOICE, C(progress), 0, 0, progress_names,
     "progress display: a redrawn line on a terminal (auto), or log lines every few seconds", NULL},
    {"help", NULL, OPT_FLAG, C(help), 0, 0, NULL, "print this help and exit", NULL},
    {NULL, NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

#define FIELD(c, o, type) ((type *)((char *)(c) + (o)->off))

/* The value a field holds now, for --help's defaults. Empty when none. */
static void format_value(const struct rb_config *c, const struct opt *o, char *out, size_t cap)
{
    struct rb_config *m = (struct rb_config *)c;
    out[0] = 0;
    switch (o->type) {
    case OPT_U32:
        snprintf(out, cap, "%" PRIu32, *FIELD(m, o, uint32_t));
        break;
    case OPT_U64:
        snprintf(out, cap, "%" PRIu64, *FIELD(m, o, uint64_t));
        break;
    case OPT_INT:
        snprintf(out, cap, "%d", *FIELD(m, o, int));
        break;
    case OPT_F32:
        snprintf(out, cap, "%g", (double)*FIELD(m, o, float));
        break;
    case OPT_F64:
        snprintf(out, cap, "%g", *FIELD(m, o, double));
        break;
    case OPT_CHOICE:
        snprintf(out, cap, "%s", o->choices[*FIELD(m, o, int)]);
        break;
    case OPT_TUNE:
        snprintf(out, cap, "%s", c->tune == TUNE_AUTO ? "auto" : c->tune == TUNE_OFF ? "off" : "");
        break;
    case OPT_BLEND:
        if (c->blend_weight < 0)
            snprintf(out, cap, "auto");
        else
            snprintf(out, cap, "%g", c->blend_weight);
        break;
    default:
        break;
    }
}

static void usage(FILE *f)
{
    struct rb_config def;
    config_default(&def);
    fprintf(f, "usage: recbuild --events FILE [--events FILE ...] --out ROOT [options]\n"
               "\n"
               "Build a new version of the recommendation cache from event logs, the product catalog\n"
               "and image embeddings: collaborative filtering (implicit ALS) per cookie, image\n"
               "similarity and co-view (viewed in the same sessions) per product, popularity per\n"
               "location x device segment. The version is\n"
               "written under ROOT/.staging, verified, renamed into ROOT/versions/<id> and ROOT/current\n"
               "is flipped to it. On any failure or interruption current is left as it was.\n"
               "stdout gets the new version id (with --tune-only: the parameter file's path); logs and the\n"
               "summary go to stderr.\n");
    for (const struct opt *o = options; o->name; o++) {
        if (o->section)
            fprintf(f, "\n%s:\n", o->section);
        char head[64], val[64];
        snprintf(head, sizeof(head), "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        format_value(&def, o, val, sizeof(val));
        if (strlen(head) > 26)
            fprintf(f, "  %s\n  %-26s ", head, "");
        else
            fprintf(f, "  %-26s ", head);
        /* Wrap the help text at about 100 columns. */
        const char *h = o->help;
        size_t col = 0;
        while (*h) {
            size_t w = strcspn(h, " ");
            if (col && col + 1 + w > 70) {
                fprintf(f, "\n  %-26s ", "");
                col = 0;
            } else if (col) {
                fputc(' ', f);
                col++;
            }
            fwrite(h, 1, w, f);
            col += w;
            h += w;
            while (*h == ' ')
                h++;
        }
        if (val[0])
            fprintf(f, " [%s]", val);
        fputc('\n', f);
    }
    fprintf(f, "\nExit status:\n"
               "  0  the version was published (and current flipped unless --no-flip)\n"
               "  1  the build failed or was interrupted (SIGINT, SIGTERM); nothing was published\n"
               "  2  bad command line or --params file\n"
               "  3  unusable input: more malformed or unknown-type event lines than --max-bad-ratio, no usable rows,\n"
               "     an input not in the format of schemas/inputs.md, or no cookie passing the\n"
               "     training thresholds\n");
}

static int parse_number(const char *s, double min, double max, int integer, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || v < min || v > max || (integer && v != floor(v)))
        return -1;
    *out = v;
    return 0;
}

static int set_option(struct rb_config *c, const struct opt *o, const char *arg, char *err)
{
    double v;
    switch (o->type) {
    case OPT_PATH:
        if (!*arg)
            return rc_fail(err, RC_EFORMAT, "--%s needs a non-empty value", o->name);
        *FIELD(c, o, const char *) = arg;
        return 0;
    case OPT_EVENTS:
        if (!*arg)
            return rc_fail(err, RC_EFORMAT, "--events needs a non-empty value");
        if (c->nevents == MAX_EVENT_FILES)
            return rc_fail(err, RC_ERANGE, "at most %d --events files", MAX_EVENT_FILES);
        c->events[c->nevents++] = arg;
        return 0;
    case OPT_FLAG:
        *FIELD(c, o, int) = 1;
        return 0;
    case OPT_TUNE:
        if (strcmp(arg, "auto") == 0 || strcmp(arg, "off") == 0) {
            c->tune = arg[0] == 'a' ? TUNE_AUTO : TUNE_OFF;
            return 0;
        }
        if (parse_number(arg, 1, o->max, 0, &v) != 0)
            return rc_fail(err, RC_ERANGE, "--tune '%s': expected auto, off or seconds from 1 to %g", arg, o->max);
        c->tune = TUNE_BUDGET;
        c->tune_budget = v;
        return 0;
    case OPT_BLEND:
        if (strcmp(arg, "auto") == 0) {
            c->blend_weight = -1;
            return 0;
        }
        if (parse_number(arg, o->min, o->max, 0, &v) != 0)
            return rc_fail(err, RC_ERANGE, "--%s '%s': expected auto or a number from %g to %g", o->name, arg,
                           o->min, o->max);
        c->blend_weight = v;
        return 0;
    case OPT_CHOICE:
        for (int i = 0; o->choices[i]; i++)
            if (strcmp(arg, o->choices[i]) == 0) {
                *FIELD(c, o, int) = i;
                return 0;
            }
        return rc_fail(err, RC_ERANGE, "--%s '%s': expected %s", o->name, arg, o->arg);
    case OPT_MAP:
        if (o->min == 0) {
            c->map_spec = arg;
            return rb_ingest_parse_map(&c->ingest, arg, err);
        }
        c->map_event_spec = arg;
        return rb_ingest_parse_event_map(&c->ingest, arg, err);
    case OPT_PRESET:
        c->preset = arg;
        return rb_ingest_preset(&c->ingest, arg, err);
    default:
        break;
    }
    int integer = o->type == OPT_U32 || o->type == OPT_U64 || o->type == OPT_INT;
    if (parse_number(arg, o->min, o->max, integer, &v) != 0)
        return rc_fail(err, RC_ERANGE, "--%s '%s': expected %s from %g to %g", o->name, arg,
                       integer ? "an integer" : "a number", o->min, o->max);
    switch (o->type) {
    case OPT_U32:
        *FIELD(c, o, uint32_t) = (uint32_t)v;
        break;
    case OPT_U64:
        /* Through strtoull: a double cannot hold every 64-bit seed. */
        *FIELD(c, o, uint64_t) = strtoull(arg, NULL, 10);
        break;
    case OPT_INT:
        *FIELD(c, o, int) = (int)v;
        break;
    case OPT_F32:
        *FIELD(c, o, float) = (float)v;
        break;
    case OPT_F64:
        *FIELD(c, o, double) = v;
        break;
    default:
        break;
    }
    return 0;
}

/* The options the tuner chooses (tune.h), which --params may set. */
static const struct {
    size_t off;
    unsigned bit;
} tunable[] = {
    {C(als.factors), RB_PARAM_FACTORS},
    {C(als.reg), RB_PARAM_REG},
    {C(als.alpha), RB_PARAM_ALPHA},
    {C(als.iterations), RB_PARAM_ITERATIONS},
    {C(train.weight[RB_VIEW]), RB_PARAM_WEIGHT_VIEW},
    {C(train.weight[RB_CART]), RB_PARAM_WEIGHT_CART},
    {C(train.weight[RB_PURCHASE]), RB_PARAM_WEIGHT_PURCHASE},
    {C(train.half_life_days), RB_PARAM_HALF_LIFE},
};

/* The RB_PARAM_* bit of an option, 0 when the tuner does not choose it. */
static unsigned tunable_bit(const struct opt *o)
{
    for (size_t i = 0; i < sizeof(tunable) / sizeof(tunable[0]); i++)
        if (o->type != OPT_MAP && o->type != OPT_PRESET && o->off == tunable[i].off)
            return tunable[i].bit;
    return 0;
}

/*
 * --params FILE (schemas/params.md): "name = value" lines naming tunable
 * options, '#' comments, blank lines. A parameter given as a flag wins.
 * The values go through set_option, so the flags' ranges apply.
 */
static int read_params(struct rb_config *c, char *err)
{
    FILE *f = fopen(c->params, "r");
    if (!f)
        return rc_fail(err, -errno, "unable to open --params '%s': %s", c->params, rc_strerror(-errno));
    char line[512];
    unsigned lineno = 0;
    int rc = 0;
    while (!rc && fgets(line, sizeof(line), f)) {
        lineno++;
        char *p = line + strspn(line, " \t");
        p[strcspn(p, "#\r\n")] = 0;
        if (!*p)
            continue;
        char *eq = strchr(p, '=');
        if (!eq) {
            rc = rc_fail(err, RC_EFORMAT, "%s:%u: expected 'name = value'", c->params, lineno);
            break;
        }
        char *name = p, *value = eq + 1, *e = eq;
        while (e > name && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        *e = 0;
        value += strspn(value, " \t");
        for (e = value + strlen(value); e > value && (e[-1] == ' ' || e[-1] == '\t');)
            *--e = 0;
        const struct opt *o = options;
        while (o->name && strcmp(o->name, name) != 0)
            o++;
        unsigned bit = o->name ? tunable_bit(o) : 0;
        if (!bit) {
            rc = rc_fail(err, RC_EFORMAT, "%s:%u: '%s' is not a tunable parameter", c->params, lineno, name);
            break;
        }
        if (c->given & bit)
            continue;
        /* The file's half-life is CF's, as the tuner's is: popularity keeps --half-life-days. */
        double popularity_half_life = c->train.half_life_days;
        if ((rc = set_option(c, o, value, err)) != 0) {
            char inner[RC_ERRMSG_MAX];
            snprintf(inner, sizeof(inner), "%s", err);
            rc = rc_fail(err, rc, "%s:%u: %s", c->params, lineno, inner);
            break;
        }
        c->from_file |= bit;
        if (bit == RB_PARAM_HALF_LIFE) {
            c->cf_half_life_days = c->train.half_life_days;
            c->train.half_life_days = popularity_half_life;
        }
    }
    if (!rc && ferror(f))
        rc = rc_fail(err, -EIO, "error reading --params '%s'", c->params);
    fclose(f);
    return rc;
}

static int parse_args(struct rb_config *c, int argc, char **argv, char *err)
{
    enum { NOPT = sizeof(options) / sizeof(options[0]) };
    struct option longopts[NOPT + 1];
    int n = 0;
    for (const struct opt *o = options; o->name; o++, n++)
        longopts[n] = (struct option){o->name, o->arg ? required_argument : no_argument, NULL, 256 + n};
    longopts[n] = (struct option){NULL, 0, NULL, 0};
    opterr = 0;
    optind = 1;
    for (;;) {
        int prev = optind;
        int ch = getopt_long(argc, argv, ":h", longopts, NULL);
        if (ch == -1)
            break;
        if (ch == 'h') {
            c->help = 1;
            continue;
        }
        if (ch == ':')
            return rc_fail(err, RC_EFORMAT, "option '%s' needs a value", argv[optind - 1]);
        if (ch == '?')
            return rc_fail(err, RC_EFORMAT, "unknown option '%s'", argv[prev < argc ? prev : argc - 1]);
        int rc = set_option(c, &options[ch - 256], optarg, err);
        if (rc)
            return rc;
        c->given |= tunable_bit(&options[ch - 256]);
    }
    if (optind < argc)
        return rc_fail(err, RC_EFORMAT, "unexpected argument '%s'", argv[optind]);
    return 0;
}

/* Everything that can be said about the options before reading any input. */
static int check_config(struct rb_config *c, char *err)
{
    if (c->help)
        return 0;
    if (!c->nevents)
        return rc_fail(err, RC_EFORMAT, "--events is required");
    if (!c->out && !c->tune_only)
        return rc_fail(err, RC_EFORMAT, "--out is required");
    if (c->params) {
        int rc = read_params(c, err);
        if (rc)
            return rc;
    }
    int stdin_uses = 0;
    for (size_t i = 0; i < c->nevents; i++)
        stdin_uses += strcmp(c->events[i], "-") == 0;
    if (stdin_uses > 1)
        return rc_fail(err, RC_EFORMAT, "standard input ('-') can be read only once");
    if (c->embedding_ids && !c->embeddings)
        return rc_fail(err, RC_EFORMAT, "--embedding-ids needs --embeddings");
    if (c->embeddings && !c->embedding_ids) {
        size_t len = strlen(c->embeddings);
        size_t stem = len >= 4 && strcmp(c->embeddings + len - 4, ".npy") == 0 ? len - 4 : len;
        if (snprintf(c->ids_path, sizeof(c->ids_path), "%.*s_ids.txt", (int)stem, c->embeddings) >=
            (int)sizeof(c->ids_path))
            return rc_fail(err, RC_ETOOLONG, "--embeddings path is too long");
        c->embedding_ids = c->ids_path;
    }
    if (c->train.weight[RB_VIEW] + c->train.weight[RB_CART] + c->train.weight[RB_PURCHASE] <= 0)
        return rc_fail(err, RC_ERANGE, "at least one of --weight-view, --weight-cart, --weight-purchase must be above 0");
    if (c->train.holdout > 0 && c->eval_k > c->n)
        return rc_fail(err, RC_ERANGE, "--eval-k %u is larger than the list length --n %u", c->eval_k, c->n);
    if (c->tune_only && !c->tune_out)
        return rc_fail(err, RC_EFORMAT, "--tune-only needs --tune-out FILE");
    if (c->tune_only && c->tune == TUNE_OFF)
        return rc_fail(err, RC_EFORMAT, "--tune-only with --tune off has nothing to do");
    if (c->tune_only && (c->given | c->from_file) == RB_PARAM_ALL)
        return rc_fail(err, RC_EFORMAT, "--tune-only: flags and --params fix every parameter, nothing is left to "
                       "search (a daily search reads no --params)");
    c->train.split_seed = c->als.seed;
    return 0;
}

/* ---- signals ---- */

/*
 * The only mutable globals: a signal handler can reach nothing else.
 * Before the output stage has begun there is nothing on disk to undo, so a
 * signal ends the process at once (_exit is async-signal-safe); after, it
 * sets `cancel`, which output checks between batches, and the staging dir
 * is removed on the way out.
 */
static volatile sig_atomic_t cancel_signal;
static volatile sig_atomic_t output_begun;

static void on_signal(int sig)
{
    if (!output_begun) {
        static const char msg[] = "recbuild: interrupted before writing; nothing to clean up\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
        (void)w;
        _exit(EXIT_FAILED);
    }
    cancel_signal = sig;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* ---- device ---- */

/* 0 when a CUDA device can be used (its name and memory logged), else an
 * error (RC_ENOGPU when there is none) with the reason in err. */
static int probe_gpu(char *err)
{
#ifdef RB_HAVE_CUDA
    char name[256];
    uint64_t free_b = 0, total_b = 0;
    int rc = rb_gpu_info(name, &free_b, &total_b, err);
    if (rc == 0)
        rc_log(RC_LOG_INFO, "device", "device=gpu name=\"%s\" free_mib=%" PRIu64 " total_mib=%" PRIu64, name,
               free_b >> 20, total_b >> 20);
    return rc;
#else
    return rc_fail(err, RC_ENOGPU, "this recbuild was built without CUDA");
#endif
}

/* ---- the build ---- */

struct input {
    const char *role, *path;
    uint64_t bytes, rows, xxh3;
    int have_bytes, have_xxh3;
};

struct build {
    const struct rb_config *cfg;
    struct rb_progress progress;
    const char *device;            /* "cpu" or "gpu" */
    struct rb_dataset d;
    struct rb_train t;
    struct rb_als_model model;
    struct rb_lists cf, image, segments, coview;
    struct rb_sessions sessions;
    struct rb_coview_stats coview_stats;
    struct rb_next_eval next;
    double blend_weight;           /* the w the coview scores were scaled for */
    uint64_t sessions_held;
    struct rb_knn_stats knn_stats;
    struct rb_params params;       /* the CF parameters this build uses: flags, --params, or tuned */
    struct rb_tune_result tune;
    struct rb_eval eval;
    struct rb_health health;
    int have_eval, have_image, have_cf, have_tune, have_next;
    struct rb_output out;
    struct input inputs[MAX_EVENT_FILES + 3];
    size_t ninputs;
    double t_start;
    double ms_checksum;
};

static void build_release(struct build *b)
{
    rb_output_release(&b->out);
    rb_lists_release(&b->cf);
    rb_lists_release(&b->image);
    rb_lists_release(&b->segments);
    rb_lists_release(&b->coview);
    rb_sessions_release(&b->sessions);
    rb_als_release(&b->model);
    rb_train_release(&b->t);
    rb_dataset_release(&b->d);
}

static int is_input_error(int rc)
{
    return rc == RC_EBADLINES || rc == RC_EEMPTY || rc == RC_EFORMAT || rc == RC_ETRUNC || rc == RC_ETOOLONG;
}

static void stage(struct build *b, const char *name, const char *unit)
{
    rb_progress_stage(&b->progress, name, unit);
}

static double stage_end(struct build *b)
{
    return rb_progress_stage_end(&b->progress);
}

static struct input *add_input(struct build *b, const char *role, const char *path)
{
    struct input *in = &b->inputs[b->ninputs++];
    memset(in, 0, sizeof(*in));
    in->role = role;
    in->path = path;
    return in;
}

/* Ingest every input; *bad_input set when the error is the input's fault. */
static int run_ingest(struct build *b, int *bad_input, char *err)
{
    const struct rb_config *c = b->cfg;
    struct rb_dataset *d = &b->d;
    int rc;
    *bad_input = 0;
    if (c->catalog) {
        stage(b, "catalog", NULL);
        if ((rc = rb_ingest_catalog(d, c->catalog, err)) != 0)
            goto fail;
        struct input *in = add_input(b, "catalog", c->catalog);
        in->rows = d->stats.catalog_rows;
        stage_end(b);
    }
    stage(b, "events", "bytes");
    for (size_t i = 0; i < c->nevents; i++) {
        uint64_t before = d->stats.lines;
        if ((rc = rb_ingest_events(d, c->events[i], &c->ingest, rb_progress_update, &b->progress, err)) != 0)
            goto fail;
        struct input *in = add_input(b, "events", c->events[i]);
        in->rows = d->stats.lines - before;
        if (strcmp(c->events[i], "-") == 0) {
            /* The reader's last progress call, at end of file, is the bytes it read. */
            in->bytes = __atomic_load_n(&b->progress.done, __ATOMIC_RELAXED);
            in->have_bytes = 1;
        }
    }
    stage_end(b);
    if ((rc = rb_ingest_check_bad(d, c->ingest.max_bad_ratio, err)) != 0)
        goto fail;
    if (c->embeddings) {
        stage(b, "embeddings", NULL);
        if ((rc = rb_ingest_embeddings(d, c->embeddings, c->embedding_ids, err)) != 0)
            goto fail;
        struct input *in = add_input(b, "embeddings", c->embeddings);
        in->rows = d->stats.emb_rows;
        in = add_input(b, "embedding_ids", c->embedding_ids);
        in->rows = d->stats.emb_rows;
        stage_end(b);
    } else {
        if (!c->tune_only)
            rc_log(RC_LOG_WARN, "embeddings", "msg=\"no --embeddings given: image-similarity lists are skipped\"");
    }
    return 0;
fail:
    *bad_input = is_input_error(rc);
    return rc;
}

/* Size and XXH3 of every input file (standard input: bytes read only). */
static int checksum_inputs(struct build *b, char *err)
{
    double t0 = rb_now_ms();
    for (size_t i = 0; i < b->ninputs; i++) {
        struct input *in = &b->inputs[i];
        if (strcmp(in->path, "-") == 0)
            continue;
        int rc = rc_file_xxh3(in->path, &in->bytes, &in->xxh3);
        if (rc)
            return rc_fail(err, rc, "unable to checksum '%s': %s", in->path, rc_strerror(rc));
        in->have_bytes = in->have_xxh3 = 1;
    }
    b->ms_checksum = rb_now_ms() - t0;
    return 0;
}

/* Where the CF parameters came from, for the log and the manifest. */
static const char *params_source(const struct build *b)
{
    const struct rb_config *c = b->cfg;
    if (b->have_tune)
        return "tuned";
    if (c->from_file)
        return "params-file";
    return c->given ? "flags" : "defaults";
}

/* The tuner's pinned parameters, or -1 when this run does not tune. */
static int tune_plan(const struct rb_config *c, unsigned *pinned)
{
    *pinned = c->given | c->from_file;
    if (c->tune == TUNE_OFF)
        return -1;
    if (c->tune == TUNE_AUTO && !c->tune_only && (c->given || c->params))
        return -1;
    return *pinned == RB_PARAM_ALL ? -1 : 0;
}

/* Search the CF parameters (--tune); b->params takes the best. */
static int run_tune(struct build *b, int *bad_input, char *err)
{
    const struct rb_config *c = b->cfg;
    unsigned pinned;
    if (tune_plan(c, &pinned) != 0)
        return 0;
    struct rb_tune_opts o;
    rb_tune_opts_default(&o);
    o.budget_s = c->tune_budget;
    o.configs = c->tune_configs;
    o.k = c->eval_k;
    o.skip = c->train.holdout;
    o.split = c->train.holdout_split;
    o.seed = c->als.seed;
    o.pinned = pinned;
    o.exclude_bought = !c->keep_bought;
    stage(b, "tune", NULL);
    int rc = rb_tune(&b->tune, &b->d, &b->params, &o, err);
    if (rc == RC_EEMPTY && !c->tune_only) {
        rc_log(RC_LOG_WARN, "tune", "msg=\"not tuned, the %s parameters build: %s\"", params_source(b), err);
        err[0] = 0;
        return 0;
    }
    if (rc) {
        *bad_input = rc == RC_EEMPTY;
        return rc;
    }
    stage_end(b);
    b->have_tune = 1;
    b->params.train.weight[RB_VIEW] = b->tune.best.train.weight[RB_VIEW];
    b->params.train.weight[RB_CART] = b->tune.best.train.weight[RB_CART];
    b->params.train.weight[RB_PURCHASE] = b->tune.best.train.weight[RB_PURCHASE];
    b->params.train.half_life_days = b->tune.best.train.half_life_days;
    b->params.als.factors = b->tune.best.als.factors;
    b->params.als.reg = b->tune.best.als.reg;
    b->params.als.alpha = b->tune.best.als.alpha;
    b->params.als.iterations = b->tune.best.als.iterations;
    const struct rb_tune_result *t = &b->tune;
    const struct rb_params *p = &b->params;
    rc_log(t->best_ndcg > t->pop_ndcg ? RC_LOG_INFO : RC_LOG_WARN, "tune.best",
           "factors=%u reg=%g alpha=%g iterations=%u weight_view=%g weight_cart=%g weight_purchase=%g "
           "half_life_days=%g ndcg=%.4f hr=%.4f pop_ndcg=%.4f pop_hr=%.4f users=%" PRIu64 " cookies=%u trials=%u "
           "seconds=%.1f budget_hit=%d kept_base=%d gain=%.4f gain_se=%.4f",
           p->als.factors, (double)p->als.reg, (double)p->als.alpha, p->als.iterations,
           (double)p->train.weight[RB_VIEW], (double)p->train.weight[RB_CART], (double)p->train.weight[RB_PURCHASE],
           p->train.half_life_days, t->best_ndcg, t->best_hr, t->pop_ndcg, t->pop_hr, t->users, t->cookies,
           t->ntrials, t->seconds, t->budget_hit, t->kept_base, t->gain, t->gain_se);
    return 0;
}

/* Warn loudly about a CF model that learned nothing usable or loses to most-popular. */
static void report_quality(const struct build *b)
{
    const struct rb_health *h = &b->health;
    if (h->degenerate)
        rc_log(RC_LOG_ERROR, "quality", "degenerate=1 reason=\"%s\" cold_share=%.3f factor_norm=%.3g spread=%.3g "
               "msg=\"the CF model is degenerate; ops/rebuild.sh refuses to publish it\"",
               h->reason, h->cold_share, h->factor_norm, h->spread);
    if (b->have_eval && b->eval.users > 0 && b->eval.ndcg < b->eval.pop_ndcg)
        rc_log(RC_LOG_ERROR, "quality", "lift=%.3f ndcg=%.4f pop_ndcg=%.4f msg=\"CF loses to the most-popular "
               "list on the holdout; ops/rebuild.sh refuses it below --min-lift\"",
               rb_eval_lift(&b->eval), b->eval.ndcg, b->eval.pop_ndcg);
}

/* The blend weights the next-item holdout tries (--blend-weight auto). */
static const double blend_grid[] = {0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 1};

/* Sessions and the co-view lists; with --holdout, the next-item evaluation
 * (the lists then learn without the held-out sessions) and the blend
 * weight; last, the co-view scores are scaled for recedge's merge. */
static int run_coview(struct build *b, char *err)
{
    const struct rb_config *c = b->cfg;
    const struct rb_dataset *d = &b->d;
    uint8_t *held = NULL;
    struct rb_lists base;
    struct rb_coview_stats base_stats;
    memset(&base, 0, sizeof(base));
    int rc;
    int64_t since = c->train.window_days > 0 ? d->ts_max - (int64_t)(c->train.window_days * 86400.0) : INT64_MIN;
    stage(b, "coview", NULL);
    if ((rc = rb_sessions_build(&b->sessions, d, since, c->session_gap_min * 60.0, err)) != 0)
        goto out;
    if (c->train.holdout > 0) {
        if (!(held = malloc(b->sessions.n ? b->sessions.n : 1))) {
            rc = rc_fail(err, -ENOMEM, "out of memory holding out sessions");
            goto out;
        }
        if ((rc = rb_sessions_holdout(&b->sessions, d->cookies.n, held, &b->sessions_held)) != 0) {
            rc_fail(err, rc, "out of memory holding out sessions");
            goto out;
        }
    }
    /* The configured type weights, as popularity: the tuner chooses CF's. */
    if ((rc = rb_coview(&b->coview, &b->coview_stats, d, &b->sessions, held, &c->train, c->n, &c->coview, err)) != 0)
        goto out;
    rc_log(RC_LOG_INFO, "coview", "sessions=%" PRIu32 " from_column=%d held_out=%" PRIu64 " pairs=%" PRIu64
           " passes=%" PRIu32 " lists=%" PRIu32 " norm=%s", b->sessions.n, b->sessions.from_column,
           b->sessions_held, b->coview_stats.pairs, b->coview_stats.passes, b->coview_stats.lists,
           coview_norm_names[c->coview.norm]);
    double w = c->blend_weight >= 0 ? c->blend_weight : 0.5;
    if (held && b->sessions_held) {
        struct rb_coview_opts plain = c->coview;
        plain.plain = 1;
        plain.min_count = 1;
        plain.norm = RB_COVIEW_RAW;
        if ((rc = rb_coview(&base, &base_stats, d, &b->sessions, held, &c->train, c->n, &plain, err)) != 0)
            goto out;
        const double *grid = c->blend_weight >= 0 ? &c->blend_weight : blend_grid;
        uint32_t ngrid = c->blend_weight >= 0 ? 1 : (uint32_t)(sizeof(blend_grid) / sizeof(blend_grid[0]));
        if ((rc = rb_eval_next_item(&b->next, &b->coview, b->have_image ? &b->image : NULL, &base, &b->sessions,
                                    held, d, c->eval_k, grid, ngrid, err)) != 0)
            goto out;
        b->have_next = 1;
        if (b->have_image)
            w = b->next.weight;
    }
    /* recedge merges by score: w x coview (1 for a list's best) against
     * (1 - w) x cosine ranks as coview x w / (1 - w) against the cosine,
     * which image lists keep as they are. */
    b->blend_weight = b->have_image ? w : -1;
    if (b->have_image)
        rb_coview_blend(&b->coview, w);
    stage_end(b);
out:
    free(held);
    rb_lists_release(&base);
    rb_sessions_release(&b->sessions);
    return rc;
}

static int run_models(struct build *b, int *bad_input, char *err)
{
    const struct rb_config *c = b->cfg;
    int rc;
    *bad_input = 0;

    if ((rc = run_tune(b, bad_input, err)) != 0 || c->tune_only)
        return rc;
    rc_log(RC_LOG_INFO, "params", "source=%s factors=%u reg=%g alpha=%g iterations=%u weight_view=%g "
           "weight_cart=%g weight_purchase=%g half_life_days=%g", params_source(b), b->params.als.factors,
           (double)b->params.als.reg, (double)b->params.als.alpha, b->params.als.iterations,
           (double)b->params.train.weight[RB_VIEW], (double)b->params.train.weight[RB_CART],
           (double)b->params.train.weight[RB_PURCHASE], b->params.train.half_life_days);

    stage(b, "train", NULL);
    rc = rb_train_build(&b->t, &b->d, &b->params.train, err);
    if (rc) {
        *bad_input = rc == RC_EEMPTY;
        return rc;
    }
    stage_end(b);
    rc_log(RC_LOG_INFO, "train", "rows=%" PRIu32 " products=%" PRIu32 " nnz=%" PRIu64, b->t.ui.rows, b->t.ui.cols,
           b->t.ui.nnz);

    stage(b, "als", NULL);
#ifdef RB_HAVE_CUDA
    if (strcmp(b->device, "gpu") == 0)
        rc = rb_als_train_gpu(&b->model, &b->t, &b->params.als, err);
    else
#endif
        rc = rb_als_train_cpu(&b->model, &b->t, &b->params.als, err);
    if (rc)
        return rc;
    stage_end(b);

    stage(b, "score", NULL);
#ifdef RB_HAVE_CUDA
    if (strcmp(b->device, "gpu") == 0)
        rc = rb_score_cf_gpu(&b->cf, &b->model, &b->t, &b->d, c->n, !c->keep_bought, err);
    else
#endif
        rc = rb_score_cf(&b->cf, &b->model, &b->t, &b->d, c->n, !c->keep_bought,
                         (enum rb_score_method)c->score_method, err);
    if (rc)
        return rc;
    b->have_cf = 1;
    stage_end(b);
    if ((rc = rb_eval_health(&b->health, &b->cf, &b->model, &b->t, err)) != 0)
        return rc;
    rb_als_release(&b->model);

    if (b->d.emb_rows > 0) {
        stage(b, "knn", NULL);
#ifdef RB_HAVE_CUDA
        if (strcmp(b->device, "gpu") == 0)
            rc = rb_knn_image_gpu(&b->image, &b->knn_stats, &b->d, c->n, &c->knn, err);
        else
#endif
            rc = rb_knn_image(&b->image, &b->knn_stats, &b->d, c->n, &c->knn, err);
        if (rc)
            return rc;
        b->have_image = 1;
        stage_end(b);
    } else if (c->embeddings) {
        rc_log(RC_LOG_WARN, "knn", "msg=\"no usable embedding rows: image-similarity lists are skipped\"");
    }

    if ((rc = run_coview(b, err)) != 0)
        return rc;

    /* Popularity keeps the configured half-life: the tuner chooses CF's. */
    stage(b, "popularity", NULL);
    if ((rc = rb_popularity(&b->segments, &b->d, &c->train, c->n, err)) != 0)
        return rc;
    stage_end(b);

    if (c->train.holdout > 0) {
        stage(b, "eval", NULL);
        if ((rc = rb_eval_holdout(&b->eval, &b->cf, &b->t, &b->d, c->eval_k, !c->keep_bought, err)) != 0)
            return rc;
        b->have_eval = 1;
        stage_end(b);
    }
    report_quality(b);
    rb_train_release(&b->t);
    return 0;
}

static uint64_t peak_rss_bytes(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_maxrss * 1024;
}

static double stage_ms(const struct build *b, const char *name)
{
    for (int i = 0; i < b->progress.nstages; i++)
        if (strcmp(b->progress.stages[i].name, name) == 0)
            return b->progress.stages[i].ms;
    return 0;
}

static void json_key(struct rc_buf *j, const char *k, int *first)
{
    if (!*first)
        rc_buf_adds(j, ", ");
    *first = 0;
    rc_buf_json_str(j, k, strlen(k));
    rc_buf_adds(j, ": ");
}

static void json_u64(struct rc_buf *j, const char *k, uint64_t v, int *first)
{
    json_key(j, k, first);
    rc_buf_add_u64(j, v);
}

static void json_num(struct rc_buf *j, const char *k, double v, int *first)
{
    json_key(j, k, first);
    rc_buf_add_float(j, v);
}

static void json_str(struct rc_buf *j, const char *k, const char *v, int *first)
{
    json_key(j, k, first);
    if (v)
        rc_buf_json_str(j, v, strlen(v));
    else
        rc_buf_adds(j, "null");
}

/* The manifest's descriptive members (schemas/manifest.md, "recbuild"). */
static void manifest_extra(struct build *b, struct rc_buf *j)
{
    const struct rb_config *c = b->cfg;
    const struct rb_ingest_stats *st = &b->d.stats;
    const struct rb_params *p = &b->params;
    int first;

    rc_buf_adds(j, "\"device\": ");
    rc_buf_json_str(j, b->device, strlen(b->device));

    rc_buf_adds(j, ",\n  \"inputs\": [");
    for (size_t i = 0; i < b->ninputs; i++) {
        const struct input *in = &b->inputs[i];
        const char *base = strcmp(in->path, "-") == 0 ? "-" : strrchr(in->path, '/');
        base = base && base[0] == '/' ? base + 1 : (base ? base : in->path);
        rc_buf_adds(j, i ? ",\n    {" : "\n    {");
        first = 1;
        json_str(j, "role", in->role, &first);
        json_str(j, "name", base, &first);
        if (in->have_bytes)
            json_u64(j, "bytes", in->bytes, &first);
        if (in->have_xxh3) {
            char hex[17];
            snprintf(hex, sizeof(hex), "%016" PRIx64, in->xxh3);
            json_str(j, "xxh3", hex, &first);
        }
        json_u64(j, "rows", in->rows, &first);
        rc_buf_adds(j, "}");
    }
    rc_buf_adds(j, "\n  ]");

    rc_buf_adds(j, ",\n  \"parameters\": {");
    first = 1;
    json_u64(j, "n", c->n, &first);
    json_key(j, "exclude_bought", &first);
    rc_buf_adds(j, c->keep_bought ? "false" : "true");
    json_str(j, "source", params_source(b), &first);
    if (c->params) {
        const char *pb = strrchr(c->params, '/');
        json_str(j, "params_file", pb ? pb + 1 : c->params, &first);
    }
    json_key(j, "weights", &first);
    {
        int f2 = 1;
        rc_buf_adds(j, "{");
        json_num(j, "view", p->train.weight[RB_VIEW], &f2);
        json_num(j, "cart", p->train.weight[RB_CART], &f2);
        json_num(j, "purchase", p->train.weight[RB_PURCHASE], &f2);
        rc_buf_adds(j, "}");
    }
    json_num(j, "half_life_days", p->train.half_life_days, &first);
    json_num(j, "popularity_half_life_days", c->train.half_life_days, &first);
    json_num(j, "window_days", c->train.window_days, &first);
    json_u64(j, "min_events", c->train.min_events, &first);
    json_num(j, "active_days", c->train.active_days, &first);
    json_u64(j, "min_purchases", c->train.min_purchases, &first);
    json_u64(j, "holdout", c->train.holdout, &first);
    json_str(j, "holdout_split", split_names[c->train.holdout_split], &first);
    json_u64(j, "eval_k", c->eval_k, &first);
    json_u64(j, "factors", p->als.factors, &first);
    json_num(j, "reg", p->als.reg, &first);
    json_num(j, "alpha", p->als.alpha, &first);
    json_u64(j, "iterations", p->als.iterations, &first);
    json_u64(j, "cg_steps", c->als.cg_steps, &first);
    json_key(j, "seed", &first);
    rc_buf_add_u64(j, c->als.seed);
    json_u64(j, "threads", (uint64_t)(c->als.threads > 0 ? c->als.threads : omp_get_max_threads()), &first);
    json_str(j, "score_method", score_names[c->score_method], &first);
    json_str(j, "knn", knn_names[c->knn.method], &first);
    if (c->knn.method == RB_KNN_IVF) {
        json_u64(j, "knn_nlist", c->knn.ivf_nlist, &first);
        json_u64(j, "knn_nprobe", c->knn.ivf_nprobe, &first);
    } else if (c->knn.method == RB_KNN_HNSW) {
        json_u64(j, "knn_m", c->knn.hnsw_m, &first);
        json_u64(j, "knn_ef", c->knn.hnsw_ef, &first);
    }
    json_num(j, "session_gap_minutes", c->session_gap_min, &first);
    json_u64(j, "coview_window", c->coview.window, &first);
    json_u64(j, "coview_min", c->coview.min_count, &first);
    json_str(j, "coview_norm", coview_norm_names[c->coview.norm], &first);
    json_key(j, "coview_typed", &first);
    rc_buf_adds(j, c->coview.typed ? "true" : "false");
    json_num(j, "coview_half_life_days", c->coview.half_life_days, &first);
    json_num(j, "coview_backward", c->coview.backward, &first);
    json_key(j, "blend_weight", &first);
    if (b->blend_weight >= 0)
        rc_buf_add_float(j, b->blend_weight);
    else
        rc_buf_adds(j, "null");
    json_str(j, "blend_weight_source", !b->have_image ? "none" : c->blend_weight >= 0 ? "flag"
                                       : b->have_next ? "holdout" : "default", &first);
    json_num(j, "max_bad_ratio", c->ingest.max_bad_ratio, &first);
    json_str(j, "ts_unit", ts_unit_names[c->ingest.ts_unit], &first);
    if (c->preset)
        json_str(j, "preset", c->preset, &first);
    if (c->map_spec)
        json_str(j, "map", c->map_spec, &first);
    if (c->map_event_spec)
        json_str(j, "map_event", c->map_event_spec, &first);
    rc_buf_adds(j, "}");

    if (b->have_tune) {
        const struct rb_tune_result *t = &b->tune;
        rc_buf_adds(j, ",\n  \"tuning\": {");
        first = 1;
        json_num(j, "budget_s", c->tune_budget, &first);
        json_num(j, "seconds", t->seconds, &first);
        json_key(j, "budget_hit", &first);
        rc_buf_adds(j, t->budget_hit ? "true" : "false");
        json_str(j, "split", split_names[c->train.holdout_split], &first);
        json_u64(j, "k", c->eval_k, &first);
        json_u64(j, "users", t->users, &first);
        json_u64(j, "cookies", t->cookies, &first);
        json_u64(j, "trials", t->ntrials, &first);
        json_num(j, "ndcg", t->best_ndcg, &first);
        json_num(j, "hr", t->best_hr, &first);
        json_num(j, "pop_ndcg", t->pop_ndcg, &first);
        json_num(j, "pop_hr", t->pop_hr, &first);
        json_key(j, "kept_base", &first);
        rc_buf_adds(j, t->kept_base ? "true" : "false");
        json_num(j, "gain", t->gain, &first);
        json_num(j, "gain_se", t->gain_se, &first);
        rc_buf_adds(j, "}");
    }

    rc_buf_adds(j, ",\n  \"counts_dropped\": {");
    first = 1;
    uint64_t bad = 0, coll = 0, empty = 0;
    for (int i = 0; i < RB_BAD_REASONS; i++)
        bad += st->bad[i];
    for (int i = 0; i < RC_DB_COUNT; i++)
        coll += b->out.collisions[i], empty += b->out.empty[i];
    json_u64(j, "bad_lines", bad, &first);
    json_key(j, "bad_lines_by_reason", &first);
    {
        int f2 = 1;
        rc_buf_adds(j, "{");
        for (int i = 0; i < RB_BAD_REASONS; i++)
            json_u64(j, rb_bad_reason_names[i], st->bad[i], &f2);
        rc_buf_adds(j, "}");
    }
    json_u64(j, "collisions", coll, &first);
    json_key(j, "collisions_by_db", &first);
    {
        int f2 = 1;
        rc_buf_adds(j, "{");
        for (int i = 0; i < RB_OUTPUT_LISTS; i++)
            json_u64(j, rc_db_names[i], b->out.collisions[i], &f2);
        rc_buf_adds(j, "}");
    }
    json_u64(j, "empty_lists", empty, &first);
    json_u64(j, "catalog_bad_rows", st->catalog_bad, &first);
    json_u64(j, "events_unknown_type", st->events_unknown_type, &first);
    json_u64(j, "event_products_not_in_catalog", st->event_products_not_in_catalog, &first);
    json_u64(j, "embedding_bad_values", st->emb_bad_values, &first);
    json_u64(j, "embedding_not_in_catalog", st->emb_no_catalog, &first);
    json_u64(j, "embedding_duplicates", st->emb_duplicates, &first);
    json_u64(j, "catalog_without_embedding", st->catalog_no_emb, &first);
    rc_buf_adds(j, "}");

    rc_buf_adds(j, ",\n  \"timings_ms\": {");
    first = 1;
    for (int i = 0; i < b->progress.nstages; i++)
        json_u64(j, b->progress.stages[i].name, (uint64_t)llround(b->progress.stages[i].ms), &first);
    json_u64(j, "checksum_inputs", (uint64_t)llround(b->ms_checksum), &first);
    json_u64(j, "sort", (uint64_t)llround(b->out.sort_ms), &first);
    json_u64(j, "lmdb_write", (uint64_t)llround(b->out.write_ms), &first);
    json_u64(j, "lmdb_write_cpu", (uint64_t)llround(b->out.write_cpu_ms), &first);
    json_u64(j, "lmdb_compact", (uint64_t)llround(b->out.compact_ms), &first);
    json_u64(j, "total_before_publish", (uint64_t)llround(rb_now_ms() - b->t_start), &first);
    rc_buf_adds(j, "}");

    double ev_ms = stage_ms(b, "events");
    rc_buf_adds(j, ",\n  \"throughput\": {");
    first = 1;
    json_num(j, "ingest_events_per_s", ev_ms > 0 ? (double)st->events / (ev_ms / 1e3) : 0, &first);
    json_num(j, "lmdb_records_per_s", b->out.write_ms > 0 ? (double)b->out.records / (b->out.write_ms / 1e3) : 0,
             &first);
    json_num(j, "lmdb_records_per_cpu_s",
             b->out.write_cpu_ms > 0 ? (double)b->out.records / (b->out.write_cpu_ms / 1e3) : 0, &first);
    json_u64(j, "peak_rss_bytes", peak_rss_bytes(), &first);
    rc_buf_adds(j, "}");

    rc_buf_adds(j, ",\n  \"evaluation\": {");
    first = 1;
    if (b->have_eval) {
        const struct rb_eval *e = &b->eval;
        json_u64(j, "k", e->k, &first);
        json_u64(j, "users", e->users, &first);
        json_num(j, "hr", e->hr, &first);
        json_num(j, "recall", e->recall, &first);
        json_num(j, "ndcg", e->ndcg, &first);
        json_num(j, "precision", e->precision, &first);
        json_num(j, "pop_hr", e->pop_hr, &first);
        json_num(j, "pop_recall", e->pop_recall, &first);
        json_num(j, "pop_ndcg", e->pop_ndcg, &first);
        json_num(j, "pop_precision", e->pop_precision, &first);
        if (e->pop_ndcg > 0)
            json_num(j, "lift", rb_eval_lift(e), &first);
        json_str(j, "split", split_names[c->train.holdout_split], &first);
        json_num(j, "coverage", e->coverage, &first);
        json_num(j, "pop_bias", e->pop_bias, &first);
    }
    if (b->have_cf) {
        const struct rb_health *h = &b->health;
        json_key(j, "degenerate", &first);
        rc_buf_adds(j, h->degenerate ? "true" : "false");
        if (h->degenerate)
            json_str(j, "degenerate_reason", h->reason, &first);
        json_num(j, "cold_share", h->cold_share, &first);
        json_num(j, "factor_norm", h->factor_norm, &first);
        json_num(j, "score_spread", h->spread, &first);
    }
    if (b->have_image) {
        json_num(j, "knn_recall", b->knn_stats.recall, &first);
        json_u64(j, "knn_recall_sampled", b->knn_stats.sampled, &first);
    }
    if (b->have_next) {
        const struct rb_next_eval *n = &b->next;
        json_key(j, "next_item", &first);
        int f2 = 1;
        rc_buf_adds(j, "{");
        json_u64(j, "k", n->k, &f2);
        json_u64(j, "sessions", n->sessions, &f2);
        json_u64(j, "steps", n->steps, &f2);
        for (int i = 0; i < RB_NEXT_KINDS; i++) {
            if (!n->have[i])
                continue;
            char name[32];
            snprintf(name, sizeof(name), "%s_hr", rb_next_kind_names[i]);
            json_num(j, name, n->hr[i], &f2);
            snprintf(name, sizeof(name), "%s_mrr", rb_next_kind_names[i]);
            json_num(j, name, n->mrr[i], &f2);
        }
        if (b->have_image && n->ngrid > 1) {
            json_key(j, "blend_grid", &f2);
            rc_buf_adds(j, "[");
            for (uint32_t g = 0; g < n->ngrid; g++) {
                int f3 = 1;
                rc_buf_adds(j, g ? ", {" : "{");
                json_num(j, "w", n->grid_w[g], &f3);
                json_num(j, "hr", n->grid_hr[g], &f3);
                json_num(j, "mrr", n->grid_mrr[g], &f3);
                rc_buf_adds(j, "}");
            }
            rc_buf_adds(j, "]");
        }
        rc_buf_adds(j, "}");
    }
    rc_buf_adds(j, "}");
}

/* --tune-out: the parameters this build uses, in --params form, with the search's trials as comments. */
static int write_params(const struct build *b, char *err)
{
    const struct rb_config *c = b->cfg;
    const struct rb_params *p = &b->params;
    const struct rb_tune_result *t = &b->tune;
    struct rc_buf f;
    rc_buf_init(&f);
    rc_buf_addf(&f, "# recbuild parameters (schemas/params.md); source: %s\n", params_source(b));
    if (b->have_tune) {
        rc_buf_addf(&f, "# tuned on %" PRIu64 " events: %s split, %" PRIu64 " validation cookies, NDCG@%u %.4f "
                    "(most popular %.4f), %u trials in %.1f s%s\n# chosen: trial %u%s (gain over the base %.4f, "
                    "standard error %.4f)\n", b->d.stats.events, split_names[c->train.holdout_split], t->users,
                    c->eval_k, t->best_ndcg, t->pop_ndcg, t->ntrials, t->seconds,
                    t->budget_hit ? " (budget reached)" : "", t->best_trial,
                    t->kept_base ? ", the base: the best was not one standard error better" : "", t->gain,
                    t->gain_se);
    }
    rc_buf_addf(&f, "factors = %u\nreg = %g\nalpha = %g\niterations = %u\nweight-view = %g\nweight-cart = %g\n"
                "weight-purchase = %g\nhalf-life-days = %g\n", p->als.factors, (double)p->als.reg,
                (double)p->als.alpha, p->als.iterations, (double)p->train.weight[RB_VIEW],
                (double)p->train.weight[RB_CART], (double)p->train.weight[RB_PURCHASE], p->train.half_life_days);
    if (b->have_tune) {
        rc_buf_adds(&f, "#\n# trials: config rung iterations factors reg alpha weight-view weight-cart "
                        "weight-purchase half-life-days ndcg hr seconds\n");
        for (uint32_t i = 0; i < t->ntrials; i++) {
            const struct rb_trial *tr = &t->trials[i];
            rc_buf_addf(&f, "# %u %u %u %u %g %g %g %g %g %g %.4f %.4f %.2f\n", tr->config, tr->rung,
                        tr->p.als.iterations, tr->p.als.factors, (double)tr->p.als.reg, (double)tr->p.als.alpha,
                        (double)tr->p.train.weight[RB_VIEW], (double)tr->p.train.weight[RB_CART],
                        (double)tr->p.train.weight[RB_PURCHASE], tr->p.train.half_life_days, tr->ndcg, tr->hr,
                        tr->seconds);
        }
    }
    int rc = f.overflow ? -ENOMEM : rc_write_file_atomic(c->tune_out, f.data, f.len);
    rc_buf_release(&f);
    if (rc)
        return rc_fail(err, rc, "unable to write --tune-out '%s': %s", c->tune_out, rc_strerror(rc));
    rc_log(RC_LOG_INFO, "params_written", "path=%s source=%s", c->tune_out, params_source(b));
    return 0;
}

static int run_output(struct build *b, char *err)
{
    const struct rb_config *c = b->cfg;
    int rc;
    output_begun = 1; /* from here a signal cancels instead of ending the process */
    stage(b, "write", "records");
    struct rb_output_opts oo = {.root = c->out,
                                .cancel = &cancel_signal,
                                .progress = rb_progress_update,
                                .progress_ctx = &b->progress};
    if ((rc = rb_output_begin(&b->out, &oo, time(NULL), err)) != 0)
        return rc;
    const struct rb_lists *lists[RB_OUTPUT_LISTS] = {
        [RC_DB_COOKIE] = b->have_cf ? &b->cf : NULL,
        [RC_DB_PRODUCT] = b->have_image ? &b->image : NULL,
        [RC_DB_SEGMENT] = &b->segments,
        [RC_DB_COVIEW] = &b->coview,
    };
    if ((rc = rb_output_write(&b->out, &b->d, lists, err)) != 0)
        return rc;
    stage_end(b);

    struct rc_buf j;
    rc_buf_init(&j);
    manifest_extra(b, &j);
    if (j.overflow) {
        rc_buf_release(&j);
        return rc_fail(err, -ENOMEM, "out of memory rendering the manifest");
    }
    rc = rb_output_manifest(&b->out, rc_buf_cstr(&j), err);
    rc_buf_release(&j);
    if (rc)
        return rc;

    stage(b, "publish", NULL);
    if ((rc = rb_output_publish(&b->out, !c->no_flip, c->keep, err)) != 0)
        return rc;
    stage_end(b);
    return 0;
}

static void summary(struct build *b)
{
    const struct rb_dataset *d = &b->d;
    const struct rb_output *o = &b->out;
    rb_progress_clear(&b->progress);
    rb_ingest_report(d);
    rc_log(RC_LOG_INFO, "summary",
           "events=%" PRIu64 " cookies=%" PRIu32 " products=%" PRIu32 " locations=%" PRIu32 " devices=%" PRIu32
           " lists_cookie=%" PRIu64 " lists_product=%" PRIu64 " lists_segment=%" PRIu64 " lists_coview=%" PRIu64
           " items=%" PRIu64
           " collisions=%" PRIu64 " empty_lists=%" PRIu64,
           d->stats.events, d->cookies.n, d->products.n, d->locs.n, d->devices.n, o->manifest.counts[RC_DB_COOKIE],
           o->manifest.counts[RC_DB_PRODUCT], o->manifest.counts[RC_DB_SEGMENT], o->manifest.counts[RC_DB_COVIEW],
           o->manifest.counts[RC_DB_ITEMS], o->collisions[0] + o->collisions[1] + o->collisions[2] + o->collisions[3],
           o->empty[0] + o->empty[1] + o->empty[2] + o->empty[3]);
    char line[1024];
    size_t len = 0;
    for (int i = 0; i < b->progress.nstages && len < sizeof(line); i++)
        len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s_ms=%.0f", i ? " " : "",
                                b->progress.stages[i].name, b->progress.stages[i].ms);
    rc_log(RC_LOG_INFO, "timings", "%s lmdb_write_ms=%.0f lmdb_compact_ms=%.0f total_ms=%.0f", line, o->write_ms,
           o->compact_ms, rb_now_ms() - b->t_start);
    double ev_ms = stage_ms(b, "events");
    rc_log(RC_LOG_INFO, "throughput", "ingest_events_per_s=%.0f lmdb_records=%" PRIu64 " lmdb_records_per_s=%.0f "
           "lmdb_records_per_cpu_s=%.0f data_bytes=%" PRIu64 " peak_rss_mb=%.1f",
           ev_ms > 0 ? (double)d->stats.events / (ev_ms / 1e3) : 0.0, o->records,
           o->write_ms > 0 ? (double)o->records / (o->write_ms / 1e3) : 0.0,
           o->write_cpu_ms > 0 ? (double)o->records / (o->write_cpu_ms / 1e3) : 0.0, o->data_bytes,
           (double)peak_rss_bytes() / (1 << 20));
    if (b->have_eval) {
        const struct rb_eval *e = &b->eval;
        rc_log(RC_LOG_INFO, "evaluation",
               "k=%u split=%s users=%" PRIu64 " hr=%.4f pop_hr=%.4f ndcg=%.4f pop_ndcg=%.4f precision=%.4f "
               "pop_precision=%.4f recall=%.4f pop_recall=%.4f lift=%.3f coverage=%.4f pop_bias=%.4f degenerate=%d",
               e->k, split_names[b->cfg->train.holdout_split], e->users, e->hr, e->pop_hr, e->ndcg, e->pop_ndcg,
               e->precision, e->pop_precision, e->recall, e->pop_recall, rb_eval_lift(e), e->coverage, e->pop_bias,
               b->health.degenerate);
    }
    if (b->have_next) {
        const struct rb_next_eval *n = &b->next;
        rc_log(RC_LOG_INFO, "evaluation.next_item",
               "k=%u sessions=%" PRIu64 " steps=%" PRIu64 " blend_hr=%.4f blend_mrr=%.4f blend_weight=%g coview_hr=%.4f "
               "coview_mrr=%.4f image_hr=%.4f image_mrr=%.4f baseline_hr=%.4f baseline_mrr=%.4f pop_hr=%.4f "
               "pop_mrr=%.4f", n->k, n->sessions, n->steps, n->hr[RB_NEXT_BLEND], n->mrr[RB_NEXT_BLEND],
               b->blend_weight, n->hr[RB_NEXT_COVIEW], n->mrr[RB_NEXT_COVIEW], n->hr[RB_NEXT_IMAGE],
               n->mrr[RB_NEXT_IMAGE], n->hr[RB_NEXT_BASELINE], n->mrr[RB_NEXT_BASELINE], n->hr[RB_NEXT_POP],
               n->mrr[RB_NEXT_POP]);
    }
    rc_log(RC_LOG_INFO, "published", "version=%s path=%s current=%s pruned=%d device=%s", o->version, o->published,
           o->flipped ? "flipped" : "unchanged", o->pruned, b->device);
}

/*
 * OpenBLAS 0.3.21 does not recognise some newer CPUs and falls back to its
 * generic "Prescott" kernels, 3-4x slower for ALS, scoring and FAISS. It
 * reads OPENBLAS_CORETYPE only when it loads, so the choice can be changed
 * only for a fresh image of this program: on an AVX2 (or AVX-512) CPU left
 * on the generic kernels, set it and exec ourselves once. An explicit
 * OPENBLAS_CORETYPE is respected; if the exec fails we go on as we are.
 */
static void pick_blas_kernels(char **argv)
{
    if (getenv("OPENBLAS_CORETYPE"))
        return;
    const char *core = openblas_get_corename();
    if (!core || strcasecmp(core, "prescott") != 0 || !__builtin_cpu_supports("avx2"))
        return;
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl");
    if (setenv("OPENBLAS_CORETYPE", avx512 ? "SkylakeX" : "Haswell", 1) != 0)
        return;
    execv("/proc/self/exe", argv);
}

int main(int argc, char **argv)
{
    struct rb_config cfg; /* filled once, then read-only through c */
    char err[RC_ERRMSG_MAX] = "";
    pick_blas_kernels(argv);
    config_default(&cfg);
    int rc = parse_args(&cfg, argc, argv, err);
    if (!rc)
        rc = check_config(&cfg, err);
    if (rc) {
        fprintf(stderr, "recbuild: %s\nTry 'recbuild --help' for the options.\n", err);
        return EXIT_USAGE;
    }
    if (cfg.help) {
        usage(stdout);
        return EXIT_OK;
    }
    const struct rb_config *c = &cfg;
    rc_log_setup((enum rc_log_level)c->log_level, c->log_format == LOG_JSON);
    if (c->als.threads > 0)
        omp_set_num_threads(c->als.threads);

    struct build b;
    memset(&b, 0, sizeof(b)); /* every release is a no-op until filled */
    b.cfg = c;
    b.params.train = c->train;
    b.params.als = c->als;
    if (c->from_file & RB_PARAM_HALF_LIFE)
        b.params.train.half_life_days = c->cf_half_life_days;
    b.t_start = rb_now_ms();
    rb_dataset_init(&b.d);
    install_signals();

    /* Device. */
    b.device = "cpu";
    if (c->device != DEVICE_CPU) {
        int g = probe_gpu(err);
        if (g == 0) {
            b.device = "gpu";
        } else if (c->device == DEVICE_GPU) {
            rc_log(RC_LOG_ERROR, "device", "msg=\"--device gpu: %s\" code=%d", err, g);
            return EXIT_FAILED;
        } else {
            rc_log(RC_LOG_INFO, "device", "device=cpu reason=\"%s\"", err);
        }
    }
    rc_log(RC_LOG_INFO, "start", "events_files=%zu out=%s device=%s threads=%d", c->nevents, c->out ? c->out : "-",
           b.device,
           c->als.threads > 0 ? c->als.threads : omp_get_max_threads());

    int prc = rb_progress_start(&b.progress, (enum rb_progress_mode)c->progress);
    if (prc)
        rc_log(RC_LOG_WARN, "progress", "msg=\"no progress display: %s\"", rc_strerror(prc));

    int bad_input = 0, code = EXIT_OK;
    err[0] = 0;
    rc = run_ingest(&b, &bad_input, err);
    if (!rc)
        rc = checksum_inputs(&b, err);
    if (!rc)
        rc = run_models(&b, &bad_input, err);
    if (!rc && c->tune_out)
        rc = write_params(&b, err);
    if (!rc && !c->tune_only)
        rc = run_output(&b, err);
    rb_progress_stop(&b.progress);

    if (rc) {
        if (cancel_signal) {
            rc_log(RC_LOG_ERROR, "interrupted", "signal=%d msg=\"build interrupted; nothing published, current "
                   "unchanged\"", (int)cancel_signal);
        } else {
            if (b.d.stats.lines)
                rb_ingest_report(&b.d);
            rc_log(RC_LOG_ERROR, "failed", "code=%d error=\"%s\" msg=\"%s\"", rc, rc_strerror(rc), err);
        }
        code = bad_input && !cancel_signal ? EXIT_BAD_INPUT : EXIT_FAILED;
    } else if (c->tune_only) {
        rb_progress_clear(&b.progress);
        printf("%s\n", c->tune_out);
        if (fflush(stdout) != 0)
            code = EXIT_FAILED;
    } else {
        summary(&b);
        printf("%s\n", b.out.version);
        if (fflush(stdout) != 0)
            code = EXIT_FAILED;
    }
    build_release(&b);
    return code;
}
